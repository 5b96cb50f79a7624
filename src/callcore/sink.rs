//! Where a call's events go. The call code publishes to a [`Sinks`] fan-out
//! and knows no sink: stdout JSON Lines is one, the records, metrics and
//! dashboard add theirs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use super::events::{json_event, CallEvent};

/// Receives the events of every call it is given, as they happen.
pub trait EventSink: Send + Sync {
    /// `call_id` is `None` for a replayed call.
    fn publish(&self, call_id: Option<&str>, event: &CallEvent);
}

/// The events of one call, handed to every sink.
#[derive(Clone, Default)]
pub struct Sinks {
    call_id: Option<String>,
    sinks: Vec<Arc<dyn EventSink>>,
}

impl Sinks {
    pub fn new(call_id: Option<String>, sinks: Vec<Arc<dyn EventSink>>) -> Sinks {
        Sinks { call_id, sinks }
    }

    pub fn publish(&self, event: &CallEvent) {
        for sink in &self.sinks {
            sink.publish(self.call_id.as_deref(), event);
        }
    }
}

/// JSON Lines on a writer (stdout for `serve`), one whole line at a time
/// even with many calls writing.
pub struct JsonLines<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonLines<W> {
    pub fn new(out: W) -> JsonLines<W> {
        JsonLines {
            out: Mutex::new(out),
        }
    }
}

impl<W: Write + Send> EventSink for JsonLines<W> {
    fn publish(&self, call_id: Option<&str>, event: &CallEvent) {
        let Some(line) = json_event(event, call_id) else {
            return;
        };
        if let Ok(mut out) = self.out.lock() {
            // A closed stdout must not end the calls: the other sinks still get them.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// Keeps every event (replay, tests).
#[derive(Default)]
pub struct Collect {
    events: Mutex<Vec<CallEvent>>,
}

impl Collect {
    pub fn take(&self) -> Vec<CallEvent> {
        self.events
            .lock()
            .map(|mut events| std::mem::take(&mut *events))
            .unwrap_or_default()
    }
}

impl EventSink for Collect {
    fn publish(&self, _call_id: Option<&str>, event: &CallEvent) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event.clone());
        }
    }
}
