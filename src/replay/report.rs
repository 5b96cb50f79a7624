//! What replay prints: a human-readable timeline, or JSON Lines whose shape is
//! a contract (`{"t":seconds,"event":KIND,...}`, then one `summary` line).

use std::fmt::Write;
use std::time::Duration;

use serde_json::{json, Value};

use super::driver::{Logged, Step};
use crate::engine::{Action, Evidence, Fact, Input, MenuStep, Transfer};

/// The outcome of one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub duration: Duration,
    /// `None` when no anger score was seen (no voiced audio, or a script without scores).
    pub max_anger: Option<f32>,
    pub transfer: Option<(Duration, Transfer)>,
    /// The words heard, in order.
    pub keywords: Vec<String>,
    /// The menu actions reached, in order.
    pub reached: Vec<String>,
}

pub fn summarize(log: &[Logged]) -> Summary {
    let duration = log.last().map(|entry| entry.at).unwrap_or_default();
    let max_anger = log
        .iter()
        .filter_map(|entry| match entry.step {
            Step::Heard(Input::Anger { score }) => Some(score),
            _ => None,
        })
        .reduce(f32::max);
    let transfer = log.iter().find_map(|entry| match &entry.step {
        Step::Did(Action::Transfer(transfer)) => Some((entry.at, transfer.clone())),
        _ => None,
    });
    let keywords = log
        .iter()
        .filter_map(|entry| match &entry.step {
            Step::Heard(Input::Keyword { word, .. }) => Some(word.clone()),
            _ => None,
        })
        .collect();
    let reached = log
        .iter()
        .filter_map(|entry| match &entry.step {
            Step::Did(Action::Menu(MenuStep::Reached { action, .. })) => Some(action.clone()),
            _ => None,
        })
        .collect();
    Summary {
        duration,
        max_anger,
        transfer,
        keywords,
        reached,
    }
}

/// Seconds rounded to the millisecond (as the timeline shows them), as JSON numbers.
fn seconds(at: Duration) -> Value {
    json!((at.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Scores are shown to one decimal.
fn score_value(score: f32) -> Value {
    json!((score as f64 * 10.0).round() / 10.0)
}

/// The JSON Lines of a call, ending with the summary.
pub fn json_lines(log: &[Logged], summary: &Summary) -> Vec<Value> {
    let mut lines: Vec<Value> = log.iter().filter_map(json_event).collect();
    lines.push(json_summary(summary));
    lines
}

pub fn json_event(entry: &Logged) -> Option<Value> {
    let t = seconds(entry.at);
    let value = match &entry.step {
        Step::Heard(Input::Anger { score }) => {
            json!({"t": t, "event": "anger", "score": score_value(*score)})
        }
        Step::Heard(Input::Keyword { word, confidence }) => {
            json!({"t": t, "event": "keyword", "word": word, "confidence": score_value(*confidence * 100.0).as_f64().map(|c| c / 100.0)})
        }
        Step::Heard(Input::Dtmf(digit)) => {
            json!({"t": t, "event": "dtmf", "digit": digit.to_string()})
        }
        Step::Heard(Input::HungUp) => json!({"t": t, "event": "hangup", "by": "caller"}),
        Step::Did(Action::HangUp { reason }) => {
            json!({"t": t, "event": "hangup", "by": "gateway", "reason": reason.as_str()})
        }
        Step::Did(Action::Menu(MenuStep::Entered { node, hops })) => {
            json!({"t": t, "event": "menu", "node": node, "hops": hops})
        }
        Step::Did(Action::Menu(MenuStep::Reached { action, hops })) => {
            json!({"t": t, "event": "menu", "action": action, "hops": hops})
        }
        Step::Did(Action::Play(prompt)) => json!({"t": t, "event": "prompt", "prompt": prompt}),
        Step::Did(Action::Transfer(transfer)) => {
            let mut value = transfer_value(entry.at, transfer);
            value["event"] = json!("transfer");
            value["evidence"] = transfer.evidence.iter().map(evidence_value).collect();
            value
        }
        _ => return None,
    };
    Some(value)
}

fn transfer_value(at: Duration, transfer: &Transfer) -> Value {
    json!({
        "t": seconds(at),
        "target": transfer.target,
        "reason": transfer.reason.as_str(),
        "priority": transfer.priority.as_str(),
    })
}

fn evidence_value(evidence: &Evidence) -> Value {
    let t = seconds(evidence.at);
    match &evidence.fact {
        Fact::Anger { score } => json!({"t": t, "anger": score_value(*score)}),
        Fact::Keyword { word, confidence } => {
            json!({"t": t, "keyword": word, "confidence": confidence})
        }
        Fact::Dtmf { digit } => json!({"t": t, "dtmf": digit.to_string()}),
        Fact::Waited { seconds } => {
            json!({"t": t, "waited_s": (seconds * 1000.0).round() / 1000.0})
        }
        Fact::Stuck { node, hops, visits } => {
            json!({"t": t, "stuck_at": node, "hops": hops, "visits": visits})
        }
        Fact::Vip { caller } => json!({"t": t, "vip": caller}),
        Fact::MenuChoice { node, action } => json!({"t": t, "menu_node": node, "action": action}),
    }
}

fn json_summary(summary: &Summary) -> Value {
    json!({
        "event": "summary",
        "duration": seconds(summary.duration),
        "max_anger": summary.max_anger.map(score_value),
        "transfer": summary.transfer.as_ref().map(|(at, transfer)| transfer_value(*at, transfer)),
    })
}

/// The timeline for people: one line per step, then the summary.
pub fn timeline(log: &[Logged], summary: &Summary) -> String {
    let mut out = String::new();
    for entry in log {
        if let Some((kind, detail)) = describe(&entry.step) {
            let _ = writeln!(out, "{:>9.3}  {kind:<9} {detail}", entry.at.as_secs_f64());
        }
    }
    let _ = writeln!(out, "{}", summary_line(summary));
    out
}

fn describe(step: &Step) -> Option<(&'static str, String)> {
    Some(match step {
        Step::Heard(Input::Started {
            caller,
            dialed,
            recent_calls,
        }) => (
            "call",
            format!("from {caller} to {dialed} ({recent_calls} recent calls)"),
        ),
        Step::Heard(Input::Dtmf(digit)) => ("dtmf", digit.to_string()),
        Step::Heard(Input::Keyword { word, confidence }) => {
            ("keyword", format!("{word:?} ({confidence:.2})"))
        }
        Step::Heard(Input::Anger { score }) => ("anger", format!("{score:.1}")),
        Step::Heard(Input::HungUp) => ("hangup", "by the caller".into()),
        Step::Did(Action::Play(prompt)) => ("prompt", prompt.clone()),
        Step::Did(Action::Menu(MenuStep::Entered { node, hops })) => {
            ("menu", format!("at {node} after {hops} choices"))
        }
        Step::Did(Action::Menu(MenuStep::Reached { action, hops })) => {
            ("menu", format!("reached {action} after {hops} choices"))
        }
        Step::Did(Action::Transfer(transfer)) => ("TRANSFER", transfer_line(transfer)),
        Step::Did(Action::HangUp { reason }) => {
            ("hangup", format!("by the gateway ({})", reason.as_str()))
        }
        Step::Did(Action::StartRecording) => ("record", "started".into()),
        Step::Did(Action::StopRecording) => ("record", "stopped".into()),
        Step::Heard(Input::PromptDone | Input::Tick) => return None,
    })
}

fn transfer_line(transfer: &Transfer) -> String {
    let evidence: Vec<String> = transfer.evidence.iter().map(describe_evidence).collect();
    format!(
        "to {}, reason {}, priority {}; evidence: {}",
        transfer.target,
        transfer.reason,
        transfer.priority,
        evidence.join(", ")
    )
}

fn describe_evidence(evidence: &Evidence) -> String {
    let fact = match &evidence.fact {
        Fact::Anger { score } => format!("anger {score:.1}"),
        Fact::Keyword { word, .. } => format!("said {word:?}"),
        Fact::Dtmf { digit } => format!("pressed {digit}"),
        Fact::Waited { seconds } => format!("waited {seconds:.1} s"),
        Fact::Stuck { node, hops, visits } => {
            format!("stuck at {node} ({hops} choices, {visits} visits)")
        }
        Fact::Vip { caller } => format!("VIP caller {caller}"),
        Fact::MenuChoice { node, action } => format!("chose {action} at {node}"),
    };
    format!("{fact} @{:.1}s", evidence.at.as_secs_f64())
}

/// One line: duration, max anger, and the transfer if any.
pub fn summary_line(summary: &Summary) -> String {
    let anger = summary
        .max_anger
        .map_or("none".to_string(), |score| format!("{score:.1}"));
    let outcome = match &summary.transfer {
        Some((at, transfer)) => format!(
            "transferred to {} at {:.3} s (reason {}, priority {})",
            transfer.target,
            at.as_secs_f64(),
            transfer.reason,
            transfer.priority
        ),
        None => "no transfer".to_string(),
    };
    format!(
        "summary: {:.3} s, max anger {anger}, {outcome}",
        summary.duration.as_secs_f64()
    )
}
