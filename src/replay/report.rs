//! What replay prints for people: a timeline, one line per step, then the
//! summary. (The JSON Lines are the call core's one serialisation.)

use std::fmt::Write;

use serde_json::Value;

use crate::callcore::{json_event, CallEvent, CallSummary, EventKind};
use crate::engine::{Action, Evidence, Fact, Input, MenuStep, Transfer};

/// The JSON Lines of a replayed call, its summary last.
pub fn json_lines(events: &[CallEvent]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|event| json_event(event, None))
        .collect()
}

/// The timeline for people: one line per step, then the summary.
pub fn timeline(events: &[CallEvent]) -> String {
    let mut out = String::new();
    for event in events {
        if let Some((kind, detail)) = describe(&event.kind) {
            let _ = writeln!(out, "{:>9.3}  {kind:<9} {detail}", event.at.as_secs_f64());
        }
    }
    let _ = writeln!(out, "{}", summary_line(&CallSummary::of(events)));
    out
}

fn describe(kind: &EventKind) -> Option<(&'static str, String)> {
    Some(match kind {
        EventKind::Heard(Input::Started {
            caller,
            dialed,
            recent_calls,
            ..
        }) => (
            "call",
            format!("from {caller} to {dialed} ({recent_calls} recent calls)"),
        ),
        EventKind::Heard(Input::Dtmf(digit)) => ("dtmf", digit.to_string()),
        EventKind::Heard(Input::Keyword { word, confidence }) => {
            ("keyword", format!("{word:?} ({confidence:.2})"))
        }
        EventKind::Heard(Input::Anger { score }) => ("anger", format!("{score:.1}")),
        EventKind::Heard(Input::HungUp) => ("hangup", "by the caller".into()),
        EventKind::Heard(Input::Vip { source }) => ("vip", format!("a VIP, says the {source}")),
        EventKind::Did(Action::Play(prompt)) => ("prompt", prompt.clone()),
        EventKind::Did(Action::Menu(MenuStep::Entered { node, hops })) => {
            ("menu", format!("at {node} after {hops} choices"))
        }
        EventKind::Did(Action::Menu(MenuStep::Reached { action, hops })) => {
            ("menu", format!("reached {action} after {hops} choices"))
        }
        EventKind::Did(Action::Transfer(transfer)) => ("TRANSFER", transfer_line(transfer)),
        EventKind::Did(Action::HangUp { reason }) => {
            ("hangup", format!("by the gateway ({})", reason.as_str()))
        }
        EventKind::Did(Action::StartRecording) => ("record", "started".into()),
        EventKind::Did(Action::StopRecording) => ("record", "stopped".into()),
        EventKind::Queued { prompt, retry_s } => (
            "queued",
            format!("no agent free: {prompt}, again in {retry_s} s"),
        ),
        EventKind::QueuePlace {
            position,
            expected_wait_s,
        } => (
            "queued",
            format!("place {position} in line, about {expected_wait_s:.0} s to wait"),
        ),
        EventKind::Heard(Input::PromptDone | Input::Tick)
        | EventKind::Did(Action::StopPrompts)
        | EventKind::Ended(_) => return None,
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
pub fn summary_line(summary: &CallSummary) -> String {
    let anger = summary
        .max_anger
        .map_or("none".to_string(), |score| format!("{score:.1}"));
    let outcome = match &summary.transfer {
        Some(outcome) => format!(
            "transferred to {} at {:.3} s (reason {}, priority {})",
            outcome.transfer.target,
            outcome.at.as_secs_f64(),
            outcome.transfer.reason,
            outcome.transfer.priority
        ),
        None => "no transfer".to_string(),
    };
    format!(
        "summary: {:.3} s, max anger {anger}, {outcome}",
        summary.duration.as_secs_f64()
    )
}
