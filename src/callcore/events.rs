//! A call's typed events, and their one serialisation: the JSON Lines
//! contract of `replay --json` and `serve` (`{"t":seconds,"event":KIND,...}`).

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::engine::{Action, Evidence, Fact, Input, MenuStep, Transfer};

/// One thing that happened on a call, `at` seconds after its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    pub at: Duration,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// Something the caller (or the audio front end) did.
    Heard(Input),
    /// Something the engine decided.
    Did(Action),
    /// No agent could be reached: the caller hears `prompt` and waits.
    Queued { prompt: String, retry_s: f64 },
    /// The waiting caller's place in the line, told when it changes.
    QueuePlace {
        position: usize,
        expected_wait_s: f64,
    },
    /// The call is over; always the last event.
    Ended(Box<CallSummary>),
}

/// How a transfer was carried out on a live call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The caller's phone took the REFER (RFC 3515).
    Refer,
    /// voicegate called the agent and relays the audio.
    Bridge,
    /// No agent reachable yet: the caller waits in the queue.
    Queued,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Refer => "refer",
            Via::Bridge => "bridge",
            Via::Queued => "queued",
        }
    }
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    Caller,
    Gateway,
    Agent,
    /// No RTP from the caller for `rtp.inactivity_s`.
    Timeout,
    /// Signalling's own reason (cancelled, rejected, no ACK, session expired).
    Signalling(&'static str),
}

impl EndedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::Caller => "caller",
            EndedBy::Gateway => "gateway",
            EndedBy::Agent => "agent",
            EndedBy::Timeout => "timeout",
            EndedBy::Signalling(reason) => reason,
        }
    }
}

/// A transfer as the call's summary reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferOutcome {
    pub at: Duration,
    pub transfer: Transfer,
    /// The queue's Refer-To URI, where the configuration names one.
    pub uri: Option<String>,
    pub via: Option<Via>,
}

/// The outcome of one call: the one summary shape of replay, `serve`'s call
/// line and every later record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallSummary {
    pub caller: String,
    pub dialed: String,
    /// Wall-clock time of the answer.
    pub started: Option<SystemTime>,
    pub duration: Duration,
    /// The most choices made at once on the way to a node or an action.
    pub hops: u32,
    /// `None` when no anger score was seen.
    pub max_anger: Option<f32>,
    pub transfer: Option<TransferOutcome>,
    /// The words heard, in order.
    pub keywords: Vec<String>,
    /// The menu actions reached, in order.
    pub reached: Vec<String>,
    pub ended_by: Option<EndedBy>,
}

impl CallSummary {
    /// Folds one event into the summary (the core keeps no event log).
    pub fn record(&mut self, event: &CallEvent) {
        match &event.kind {
            EventKind::Heard(Input::Started { caller, dialed, .. }) => {
                self.caller = caller.clone();
                self.dialed = dialed.clone();
            }
            EventKind::Heard(Input::Anger { score }) => {
                self.max_anger = Some(self.max_anger.map_or(*score, |max| max.max(*score)));
            }
            EventKind::Heard(Input::Keyword { word, .. }) => self.keywords.push(word.clone()),
            EventKind::Did(Action::Menu(MenuStep::Entered { hops, .. })) => {
                self.hops = self.hops.max(*hops)
            }
            EventKind::Did(Action::Menu(MenuStep::Reached { action, hops })) => {
                self.hops = self.hops.max(*hops);
                self.reached.push(action.clone());
            }
            EventKind::Did(Action::Transfer(transfer)) if self.transfer.is_none() => {
                self.transfer = Some(TransferOutcome {
                    at: event.at,
                    transfer: transfer.clone(),
                    uri: None,
                    via: None,
                });
            }
            _ => {}
        }
    }

    /// The summary of a whole event log (replay, tests).
    pub fn of(events: &[CallEvent]) -> CallSummary {
        if let Some(EventKind::Ended(summary)) = events.last().map(|event| &event.kind) {
            return summary.as_ref().clone();
        }
        let mut summary = CallSummary::default();
        for event in events {
            summary.record(event);
        }
        summary.duration = events.last().map(|event| event.at).unwrap_or_default();
        summary
    }
}

/// Seconds rounded to the millisecond (as the timeline shows them), as JSON numbers.
fn seconds(at: Duration) -> Value {
    json!((at.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Scores are shown to one decimal.
fn score_value(score: f32) -> Value {
    json!((f64::from(score) * 10.0).round() / 10.0)
}

/// The JSON line of an event, tagged with the call's id on a gateway that
/// runs many; `None` for events that are not part of the contract. The
/// summary is tagged `summary` in replay and `call` on a live gateway.
pub fn json_event(event: &CallEvent, call_id: Option<&str>) -> Option<Value> {
    let mut value = match &event.kind {
        EventKind::Ended(summary) => summary_value(summary, call_id),
        kind => step_value(event.at, kind)?,
    };
    if let (Some(id), Some(object)) = (call_id, value.as_object_mut()) {
        object.insert("call_id".into(), json!(id));
    }
    Some(value)
}

fn step_value(at: Duration, kind: &EventKind) -> Option<Value> {
    let t = seconds(at);
    Some(match kind {
        EventKind::Heard(Input::Anger { score }) => {
            json!({"t": t, "event": "anger", "score": score_value(*score)})
        }
        EventKind::Heard(Input::Keyword { word, confidence }) => {
            // Three decimals: one decimal of a percentage.
            let confidence = score_value(*confidence * 100.0).as_f64().map(|c| c / 100.0);
            json!({"t": t, "event": "keyword", "word": word, "confidence": confidence})
        }
        EventKind::Heard(Input::Dtmf(digit)) => {
            json!({"t": t, "event": "dtmf", "digit": digit.to_string()})
        }
        EventKind::Heard(Input::HungUp) => json!({"t": t, "event": "hangup", "by": "caller"}),
        EventKind::Heard(Input::Vip { source }) => {
            json!({"t": t, "event": "vip", "source": source})
        }
        EventKind::Did(Action::HangUp { reason }) => {
            json!({"t": t, "event": "hangup", "by": "gateway", "reason": reason.as_str()})
        }
        EventKind::Did(Action::Menu(MenuStep::Entered { node, hops })) => {
            json!({"t": t, "event": "menu", "node": node, "hops": hops})
        }
        EventKind::Did(Action::Menu(MenuStep::Reached { action, hops })) => {
            json!({"t": t, "event": "menu", "action": action, "hops": hops})
        }
        EventKind::Did(Action::Play(prompt)) => {
            json!({"t": t, "event": "prompt", "prompt": prompt})
        }
        EventKind::Did(Action::Transfer(transfer)) => {
            let mut value = transfer_value(at, transfer);
            value["event"] = json!("transfer");
            value["evidence"] = transfer.evidence.iter().map(evidence_value).collect();
            value
        }
        EventKind::Queued { prompt, retry_s } => {
            json!({"t": t, "event": "queued", "prompt": prompt, "retry_s": retry_s})
        }
        EventKind::QueuePlace {
            position,
            expected_wait_s,
        } => {
            json!({"t": t, "event": "queue_place", "position": position, "expected_wait_s": expected_wait_s})
        }
        _ => return None,
    })
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

fn summary_value(summary: &CallSummary, call_id: Option<&str>) -> Value {
    let transfer = summary.transfer.as_ref().map(|outcome| {
        let mut value = transfer_value(outcome.at, &outcome.transfer);
        if let Some(uri) = &outcome.uri {
            value["uri"] = json!(uri);
        }
        if let Some(via) = outcome.via {
            value["via"] = json!(via.as_str());
        }
        value
    });
    json!({
        "event": if call_id.is_some() { "call" } else { "summary" },
        "caller": summary.caller,
        "dialed": summary.dialed,
        "started": summary.started.map(|at| humantime::format_rfc3339_millis(at).to_string()),
        "duration": seconds(summary.duration),
        "hops": summary.hops,
        "max_anger": summary.max_anger.map(score_value),
        "transfer": transfer,
        "ended": summary.ended_by.unwrap_or(EndedBy::Caller).as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Priority, Reason};

    fn transfer_event(at: f64) -> CallEvent {
        CallEvent {
            at: Duration::from_secs_f64(at),
            kind: EventKind::Did(Action::Transfer(Transfer {
                target: "priority".into(),
                reason: Reason::Anger,
                priority: Priority::High,
                evidence: vec![Evidence {
                    at: Duration::from_secs_f64(at),
                    fact: Fact::Anger { score: 91.04 },
                }],
            })),
        }
    }

    #[test]
    fn a_transfer_line_has_its_evidence_and_the_call_id_on_a_gateway() {
        let line = json_event(&transfer_event(11.0), Some("abc@host")).unwrap();
        assert_eq!(line["event"], "transfer");
        assert_eq!(line["t"], 11.0);
        assert_eq!(line["reason"], "anger");
        assert_eq!(line["evidence"][0]["anger"], 91.0);
        assert_eq!(line["call_id"], "abc@host");
    }

    #[test]
    fn the_summary_is_tagged_by_where_the_call_ran() {
        let mut summary = CallSummary::default();
        summary.record(&transfer_event(3.5));
        let ended = CallEvent {
            at: Duration::from_secs(9),
            kind: EventKind::Ended(Box::new(summary)),
        };
        let replayed = json_event(&ended, None).unwrap();
        assert_eq!(replayed["event"], "summary");
        assert_eq!(replayed["transfer"]["t"], 3.5);
        assert!(replayed.get("call_id").is_none());
        let live = json_event(&ended, Some("x")).unwrap();
        assert_eq!(live["event"], "call");
        assert_eq!(live["ended"], "caller");
    }

    #[test]
    fn the_start_is_written_in_utc() {
        let summary = CallSummary {
            started: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_153_731_250)),
            ..CallSummary::default()
        };
        let ended = CallEvent {
            at: Duration::ZERO,
            kind: EventKind::Ended(Box::new(summary)),
        };
        let line = json_event(&ended, None).unwrap();
        assert_eq!(line["started"], "2026-12-01T19:35:31.250Z");
    }
}
