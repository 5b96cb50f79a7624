//! The live view of the calls up, for the dashboard and `GET /api/calls`:
//! a sink of the calls' typed events (the call code knows no dashboard),
//! keeping per call what a supervisor watches, and passing every event on
//! to the live event streams.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::callcore::{json_event, CallEvent, EventKind, EventSink};
use crate::engine::{Action, Input, MenuStep};

/// Anger scores kept per call for its sparkline (a minute at two a second).
const SPARKLINE: usize = 120;
/// Events held for a slow event stream before it skips ahead.
const STREAM_BACKLOG: usize = 1024;

#[derive(Debug, Default)]
struct Watched {
    /// `None` for SIP, the usual front door.
    transport: Option<&'static str>,
    caller: String,
    dialed: String,
    started: String,
    at: f64,
    node: Option<String>,
    anger: VecDeque<f32>,
    keywords: Vec<String>,
    transfer: Option<Value>,
    place: Option<Value>,
}

impl Watched {
    fn json(&self, id: &str) -> Value {
        json!({
            "id": id,
            "caller": self.caller,
            "dialed": self.dialed,
            "transport": self.transport.unwrap_or("sip"),
            "started": self.started,
            "seconds": (self.at * 100.0).round() / 100.0,
            "node": self.node,
            "anger": self.anger.back(),
            "anger_history": self.anger,
            "keywords": self.keywords,
            "transfer": self.transfer,
            "queue": self.place,
        })
    }

    fn update(&mut self, event: &CallEvent) {
        self.at = event.at.as_secs_f64();
        match &event.kind {
            EventKind::Heard(Input::Started { caller, dialed, .. }) => {
                self.caller = caller.clone();
                self.dialed = dialed.clone();
                self.started = crate::store::rfc3339(std::time::SystemTime::now());
            }
            EventKind::Heard(Input::Anger { score }) => {
                if self.anger.len() == SPARKLINE {
                    self.anger.pop_front();
                }
                self.anger.push_back(*score);
            }
            EventKind::Heard(Input::Keyword { word, .. }) => self.keywords.push(word.clone()),
            EventKind::Did(Action::Menu(MenuStep::Entered { node, .. })) => {
                self.node = Some(node.clone())
            }
            EventKind::Did(Action::Transfer(transfer)) => {
                self.transfer = Some(json!({
                    "target": transfer.target,
                    "reason": transfer.reason.as_str(),
                    "priority": transfer.priority.as_str(),
                }))
            }
            EventKind::QueuePlace {
                position,
                expected_wait_s,
            } => {
                self.place = Some(json!({"position": position, "expected_wait_s": expected_wait_s}))
            }
            _ => {}
        }
    }
}

pub struct LiveCalls {
    calls: Mutex<BTreeMap<String, Watched>>,
    stream: broadcast::Sender<String>,
}

impl Default for LiveCalls {
    fn default() -> Self {
        LiveCalls {
            calls: Mutex::default(),
            stream: broadcast::channel(STREAM_BACKLOG).0,
        }
    }
}

impl LiveCalls {
    /// The calls up, oldest first.
    pub fn json(&self) -> Value {
        let calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        Value::Array(calls.iter().map(|(id, call)| call.json(id)).collect())
    }

    /// One call up, as [`Self::json`] lists it.
    pub fn call(&self, call_id: &str) -> Option<Value> {
        let calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls.get(call_id).map(|call| call.json(call_id))
    }

    /// Marks a call about to start as one from another front door than SIP.
    pub fn expect(&self, call_id: &str, transport: &'static str) {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls.entry(call_id.to_string()).or_default().transport = Some(transport);
    }

    /// Every call event from now on, one JSON line each; a reader that
    /// falls [`STREAM_BACKLOG`] behind skips ahead.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.stream.subscribe()
    }
}

impl EventSink for LiveCalls {
    fn publish(&self, call_id: Option<&str>, event: &CallEvent) {
        // Replayed calls have no Call-ID and are not live.
        let Some(id) = call_id else {
            return;
        };
        {
            let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
            if matches!(event.kind, EventKind::Ended(_)) {
                calls.remove(id);
            } else {
                calls.entry(id.to_string()).or_default().update(event);
            }
        }
        if let Some(line) = json_event(event, Some(id)) {
            // Nobody listening is no error.
            let _ = self.stream.send(line.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn event(at: f64, kind: EventKind) -> CallEvent {
        CallEvent {
            at: Duration::from_secs_f64(at),
            kind,
        }
    }

    #[test]
    fn a_call_is_listed_with_its_menu_node_anger_and_words_until_it_ends() {
        let live = LiveCalls::default();
        let mut events = live.subscribe();
        let started = Input::Started {
            caller: "+15550100123".into(),
            dialed: "800".into(),
            recent_calls: 0,
            verified: false,
        };
        let steps = [
            event(0.0, EventKind::Heard(started)),
            event(
                0.0,
                EventKind::Did(Action::Menu(MenuStep::Entered {
                    node: "main".into(),
                    hops: 0,
                })),
            ),
            event(2.5, EventKind::Heard(Input::Anger { score: 40.0 })),
            event(
                3.0,
                EventKind::Heard(Input::Keyword {
                    word: "agent".into(),
                    confidence: 0.9,
                }),
            ),
            event(3.0, EventKind::Heard(Input::Anger { score: 85.5 })),
        ];
        for step in &steps {
            live.publish(Some("a@host"), step);
        }
        live.publish(None, &steps[2]);
        live.expect("b@browser", "webrtc");
        live.publish(Some("b@browser"), &steps[0]);
        let browser = live.json();
        assert_eq!(browser[1]["transport"], "webrtc", "{browser}");
        live.publish(
            Some("b@browser"),
            &event(1.0, EventKind::Ended(Box::default())),
        );
        let listed = live.json();
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
        let call = &listed[0];
        assert_eq!(call["id"], "a@host");
        assert_eq!(call["caller"], "+15550100123");
        assert_eq!(call["transport"], "sip");
        assert_eq!(call["node"], "main");
        assert_eq!(call["anger"], 85.5);
        assert_eq!(call["anger_history"], json!([40.0, 85.5]));
        assert_eq!(call["keywords"], json!(["agent"]));
        assert_eq!(call["seconds"], 3.0);
        let first: Value = serde_json::from_str(&events.try_recv().unwrap()).unwrap();
        assert_eq!(first["call_id"], "a@host");
        live.publish(
            Some("a@host"),
            &event(4.0, EventKind::Ended(Box::default())),
        );
        assert_eq!(live.json(), json!([]));
    }
}
