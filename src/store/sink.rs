//! The store as a sink of live calls' events. Calls never wait on the
//! disk: events go down a channel to one writer thread, which writes what
//! has arrived in one transaction and commits it, so a crash loses at most
//! what was still on its way (well under a second). A write that fails (a
//! full disk, a PostgreSQL restart) is counted and logged once in a while;
//! the calls go on, and a call's record is written whole when it ends even
//! if its start was lost.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::record::{CallRecord, Outcome, REVIEWED_REASONS};
use super::{recording_path, rfc3339, Backend, StoreError, StoreUrl};
use crate::callcore::{json_event, CallEvent, CallSummary, EventKind, EventSink};
use crate::engine::Input;

/// What the records need beyond the events.
#[derive(Debug, Clone)]
pub struct RecordSettings {
    /// Anger above this counts toward a call's time above the threshold.
    pub anger_threshold: f32,
    /// How long QA has to review a questionable transfer.
    pub review_within: Duration,
    /// Where recordings are written, if they are.
    pub recordings: Option<PathBuf>,
}

enum Write {
    Event {
        call: String,
        event: CallEvent,
    },
    /// Answered once everything sent before it is committed.
    Flush(Sender<()>),
}

/// Sends every live call's events to the writer thread.
pub struct StoreSink {
    writes: Mutex<Sender<Write>>,
    failures: Arc<AtomicU64>,
}

impl StoreSink {
    /// Opens the store (failing early on a bad one) and starts its writer;
    /// `on_failure` runs for every write that fails.
    pub fn start(
        url: &StoreUrl,
        settings: RecordSettings,
        on_failure: Box<dyn Fn() + Send>,
    ) -> Result<StoreSink, StoreError> {
        let (writes, queue) = mpsc::channel();
        let failures = Arc::new(AtomicU64::new(0));
        let counted = failures.clone();
        url.open_on_thread("store-writer", move |database| {
            let mut writer = Writer {
                database,
                settings,
                calls: HashMap::new(),
                failures: counted,
                on_failure,
            };
            writer.run(&queue);
        })?;
        Ok(StoreSink {
            writes: Mutex::new(writes),
            failures,
        })
    }

    /// Waits until everything published so far is committed (serve's exit, tests).
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.send(Write::Flush(done)) {
            let _ = wait.recv_timeout(Duration::from_secs(10));
        }
    }

    /// Writes that failed so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn send(&self, write: Write) -> bool {
        self.writes
            .lock()
            .map(|writes| writes.send(write).is_ok())
            .unwrap_or(false)
    }
}

impl EventSink for StoreSink {
    fn publish(&self, call_id: Option<&str>, event: &CallEvent) {
        // Replayed calls (no Call-ID) are not records.
        if let Some(call) = call_id {
            self.send(Write::Event {
                call: call.to_string(),
                event: event.clone(),
            });
        }
    }
}

/// What the writer keeps of a call still up.
#[derive(Debug, Default)]
struct CallState {
    seq: u64,
    started: bool,
    /// The last anger score and its time; the time above the threshold so far.
    last_anger: Option<(Duration, f32)>,
    anger_above: Duration,
}

struct Writer {
    database: Box<dyn Backend>,
    settings: RecordSettings,
    calls: HashMap<String, CallState>,
    failures: Arc<AtomicU64>,
    on_failure: Box<dyn Fn() + Send>,
}

impl Writer {
    fn run(&mut self, queue: &Receiver<Write>) {
        while let Ok(first) = queue.recv() {
            // The whole batch is taken off the queue, so that a flush is
            // answered after everything before it was tried, written or not.
            let mut flushed = Vec::new();
            let mut events = Vec::new();
            for write in std::iter::once(first).chain(queue.try_iter()) {
                match write {
                    Write::Event { call, event } => events.push((call, event)),
                    Write::Flush(done) => flushed.push(done),
                }
            }
            let result = self.database.begin().and_then(|()| {
                for (call, event) in &events {
                    self.write(call, event)?;
                }
                self.database.commit()
            });
            if let Err(error) = result {
                self.failed(&error);
                let _ = self.database.commit();
            }
            for done in flushed {
                let _ = done.send(());
            }
        }
    }

    fn failed(&self, error: &StoreError) {
        (self.on_failure)();
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures % 100 == 1 {
            tracing::error!(%error, failures, "call records could not be written");
        }
    }

    fn write(&mut self, call: &str, event: &CallEvent) -> Result<(), StoreError> {
        let state = self.calls.entry(call.to_string()).or_default();
        if let EventKind::Heard(Input::Started { caller, dialed, .. }) = &event.kind {
            state.started = true;
            self.database
                .start_call(call, caller, dialed, true, &rfc3339(SystemTime::now()))?;
        }
        if let EventKind::Heard(Input::Anger { score }) = &event.kind {
            let threshold = self.settings.anger_threshold;
            // A score holds until the next one: above the threshold, that time counts.
            if let Some((at, _)) = state.last_anger.filter(|(_, last)| *last > threshold) {
                state.anger_above += event.at.saturating_sub(at);
            }
            state.last_anger = Some((event.at, *score));
        }
        state.seq += 1;
        let seq = state.seq;
        if let Some(line) = json_event(event, Some(call)) {
            self.database
                .add_event(call, seq, event.at.as_secs_f64(), &line.to_string())?;
        }
        if let EventKind::Ended(summary) = &event.kind {
            let state = self.calls.remove(call).unwrap_or_default();
            let record = self.record(call, summary, &state);
            // A call never answered (cancelled, refused) is logged all the
            // same; and the row of an answered one comes back whole if the
            // store lost it (a PostgreSQL restart mid-call): the insert is
            // a no-op for a row already there.
            let started = match record.started.as_str() {
                "" => rfc3339(SystemTime::now()),
                started => started.to_string(),
            };
            self.database.start_call(
                call,
                &summary.caller,
                &summary.dialed,
                state.started,
                &started,
            )?;
            self.database.end_call(&record)?;
        }
        Ok(())
    }

    fn record(&self, call: &str, summary: &CallSummary, state: &CallState) -> CallRecord {
        let ended = SystemTime::now();
        let transfer = summary.transfer.as_ref();
        let reason = transfer.map(|t| t.transfer.reason.as_str().to_string());
        let review_due = reason
            .as_deref()
            .filter(|reason| REVIEWED_REASONS.contains(reason))
            .map(|_| rfc3339(ended + self.settings.review_within));
        let recording = self
            .settings
            .recordings
            .as_ref()
            .map(|dir| recording_path(dir, call))
            .filter(|path| path.exists())
            .map(|path| {
                std::path::absolute(&path)
                    .unwrap_or(path)
                    .display()
                    .to_string()
            });
        CallRecord {
            id: call.to_string(),
            caller: summary.caller.clone(),
            dialed: summary.dialed.clone(),
            started: summary.started.map(rfc3339).unwrap_or_default(),
            ended: Some(rfc3339(ended)),
            duration_s: Some(rounded(summary.duration.as_secs_f64(), 1000.0)),
            hops: Some(summary.hops),
            max_anger: summary.max_anger.map(|max| rounded(f64::from(max), 10.0)),
            anger_above_s: rounded(state.anger_above.as_secs_f64(), 1000.0),
            outcome: Some(Outcome::of(summary)),
            transfer_reason: reason,
            transfer_target: transfer.map(|t| t.transfer.target.clone()),
            transfer_uri: transfer.and_then(|t| t.uri.clone()),
            transfer_via: transfer
                .and_then(|t| t.via)
                .map(|via| via.as_str().to_string()),
            transfer_at_s: transfer.map(|t| t.at.as_secs_f64()),
            ended_by: summary.ended_by.map(|by| by.as_str().to_string()),
            keywords: summary.keywords.clone(),
            recording,
            review_due,
            review: None,
            review_note: None,
        }
    }
}

/// `value` to the nearest 1/`per`: records carry the precision the JSON lines do.
fn rounded(value: f64, per: f64) -> f64 {
    (value * per).round() / per
}
