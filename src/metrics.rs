//! Prometheus metrics of live calls: a sink of the calls' typed events
//! that counts them, rendered in the text exposition format (version
//! 0.0.4) for `GET /metrics`. Counters only go up; rates are Prometheus's
//! to take (`deploy/prometheus/voicegate-rules.yml` has the three health
//! rates and their alarms).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::callcore::{CallEvent, EventKind, EventSink};
use crate::engine::{Action, Input, Reason};
use crate::rtp::JitterStats;
use crate::store::Outcome;

/// Upper bounds of the anger histogram's buckets (scores 0-100).
const ANGER_BUCKETS: &[f64] = &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0];
/// Seconds one batch of windows takes in a model.
const INFERENCE_BUCKETS: &[f64] = &[0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0];
/// Seconds a caller waited in voicegate's queue (no agent reachable).
const QUEUE_WAIT_BUCKETS: &[f64] = &[5.0, 10.0, 30.0, 60.0, 90.0, 180.0, 300.0, 600.0];
/// Around 20 ms, fine enough to read 20 ± 2 ms at p99.
const RTP_SEND_INTERVAL_BUCKETS: &[f64] = &[
    0.010, 0.015, 0.018, 0.019, 0.0195, 0.020, 0.0205, 0.021, 0.022, 0.025, 0.030, 0.040, 0.060,
    0.100,
];

pub struct Metrics {
    answered: AtomicU64,
    answered_ended: AtomicU64,
    /// Answered calls whose caller had called within the repeat window.
    repeat_callers: AtomicU64,
    ended: Mutex<BTreeMap<&'static str, u64>>,
    transfers: Mutex<BTreeMap<&'static str, u64>>,
    keywords: AtomicU64,
    /// Callers in voicegate's lines waiting for an agent now.
    waiting: AtomicU64,
    anger: Mutex<Histogram>,
    inference: Mutex<Histogram>,
    queue_wait: Mutex<Histogram>,
    rtp_send_interval: Mutex<Histogram>,
    /// Packet times of callers' audio given to the scorer: received, concealed or paused.
    caller_frames: Mutex<BTreeMap<&'static str, u64>>,
    /// Callers' packets dropped for coming after their turn, or twice.
    caller_drops: Mutex<BTreeMap<&'static str, u64>>,
    /// Failures no call was dropped for (`skipped_window`, `store_write`, `recording`).
    errors: Mutex<BTreeMap<&'static str, u64>>,
}

/// A Prometheus histogram: counts per bucket (not yet cumulative), count, sum.
struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Mutex<Histogram> {
        Mutex::new(Histogram {
            bounds,
            buckets: vec![0; bounds.len()],
            count: 0,
            sum: 0.0,
        })
    }

    fn observe(&mut self, value: f64) {
        if let Some(bucket) = self.bounds.iter().position(|bound| value <= *bound) {
            self.buckets[bucket] += 1;
        }
        self.count += 1;
        self.sum += value;
    }

    fn render(&self, text: &mut String, name: &str, help: &str) {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.buckets) {
            cumulative += count;
            let _ = writeln!(text, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(text, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(text, "{name}_sum {}\n{name}_count {}", self.sum, self.count);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            answered: AtomicU64::default(),
            answered_ended: AtomicU64::default(),
            repeat_callers: AtomicU64::default(),
            ended: Mutex::default(),
            transfers: Mutex::default(),
            keywords: AtomicU64::default(),
            waiting: AtomicU64::default(),
            anger: Histogram::new(ANGER_BUCKETS),
            inference: Histogram::new(INFERENCE_BUCKETS),
            queue_wait: Histogram::new(QUEUE_WAIT_BUCKETS),
            rtp_send_interval: Histogram::new(RTP_SEND_INTERVAL_BUCKETS),
            caller_frames: Mutex::default(),
            caller_drops: Mutex::default(),
            errors: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Counts one more failure of a kind.
    pub fn count_error(&self, kind: &'static str) {
        Metrics::bump(&self.errors, kind);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let answered = self.answered.load(Ordering::Relaxed);
        let up = answered.saturating_sub(self.answered_ended.load(Ordering::Relaxed));
        counter(
            &mut text,
            "voicegate_calls_answered_total",
            "Calls answered.",
            answered,
        );
        let _ = writeln!(text, "# HELP voicegate_calls_active Calls up now.\n# TYPE voicegate_calls_active gauge\nvoicegate_calls_active {up}");
        let waiting = self.waiting.load(Ordering::Relaxed);
        let _ = writeln!(text, "# HELP voicegate_callers_waiting Callers waiting in voicegate's queues for an agent now.\n# TYPE voicegate_callers_waiting gauge\nvoicegate_callers_waiting {waiting}");
        counter(
            &mut text,
            "voicegate_repeat_callers_total",
            "Answered calls from a caller who called within the repeat window.",
            self.repeat_callers.load(Ordering::Relaxed),
        );
        let outcomes = [
            Outcome::Abandoned,
            Outcome::Failed,
            Outcome::SelfServed,
            Outcome::Transferred,
        ]
        .map(Outcome::as_str);
        labelled(
            &mut text,
            ("voicegate_calls_ended_total", "Calls ended, by outcome."),
            "outcome",
            &outcomes,
            &self.ended,
        );
        let reasons = Reason::ALL.map(Reason::as_str);
        labelled(
            &mut text,
            (
                "voicegate_transfers_total",
                "Transfers to a person, by reason.",
            ),
            "reason",
            &reasons,
            &self.transfers,
        );
        counter(
            &mut text,
            "voicegate_keywords_total",
            "Keywords heard.",
            self.keywords.load(Ordering::Relaxed),
        );
        self.render_histograms(&mut text);
        self.render_caller_audio(&mut text);
        let kinds = ["recording", "skipped_window", "store_write"];
        labelled(
            &mut text,
            (
                "voicegate_errors_total",
                "Failures no call was dropped for, by kind.",
            ),
            "kind",
            &kinds,
            &self.errors,
        );
        text
    }

    /// Callers waiting in voicegate's queues now.
    pub fn set_waiting(&self, callers: usize) {
        self.waiting.store(callers as u64, Ordering::Relaxed);
    }

    /// The time between two RTP packets a call sent (20 ms is on time).
    pub fn observe_rtp_send_interval(&self, seconds: f64) {
        if let Ok(mut histogram) = self.rtp_send_interval.lock() {
            histogram.observe(seconds);
        }
    }

    /// One batch through a model took `seconds`.
    pub fn observe_inference(&self, seconds: f64) {
        if let Ok(mut histogram) = self.inference.lock() {
            histogram.observe(seconds);
        }
    }

    /// A call ended: what its caller's jitter buffer did.
    pub fn observe_caller_jitter(&self, stats: JitterStats) {
        for (map, key, count) in [
            (&self.caller_frames, "received", stats.played),
            (&self.caller_frames, "concealed", stats.concealed),
            (&self.caller_frames, "paused", stats.paused),
            (&self.caller_drops, "late", stats.late),
            (&self.caller_drops, "duplicate", stats.duplicates),
        ] {
            Metrics::add(map, key, count);
        }
    }

    fn render_caller_audio(&self, text: &mut String) {
        labelled(
            text,
            (
                "voicegate_caller_frames_total",
                "Packet times of callers' audio scored: as received, concealed (a packet lost or late) or paused (nothing came: silence suppression or a sender behind), counted when each call ends.",
            ),
            "kind",
            &["concealed", "paused", "received"],
            &self.caller_frames,
        );
        labelled(
            text,
            (
                "voicegate_caller_packets_dropped_total",
                "Callers' RTP packets dropped for coming after their turn or twice, counted when each call ends.",
            ),
            "reason",
            &["duplicate", "late"],
            &self.caller_drops,
        );
    }

    fn render_histograms(&self, text: &mut String) {
        for (histogram, name, help) in [
            (
                &self.anger,
                "voicegate_anger_score",
                "Callers' anger scores (0-100).",
            ),
            (
                &self.inference,
                "voicegate_inference_seconds",
                "Time one batch of windows took in a model.",
            ),
            (
                &self.queue_wait,
                "voicegate_queue_wait_seconds",
                "Time callers waited in voicegate's queue for an agent.",
            ),
            (
                &self.rtp_send_interval,
                "voicegate_rtp_send_interval_seconds",
                "Time between two RTP packets a call sent (20 ms is on time).",
            ),
        ] {
            if let Ok(histogram) = histogram.lock() {
                histogram.render(text, name, help);
            }
        }
    }

    fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str) {
        Metrics::add(map, key, 1);
    }

    fn add(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str, count: u64) {
        if let Ok(mut map) = map.lock() {
            *map.entry(key).or_insert(0) += count;
        }
    }
}

impl EventSink for Metrics {
    fn publish(&self, call_id: Option<&str>, event: &CallEvent) {
        if call_id.is_none() {
            return; // replayed calls are not the gateway's
        }
        match &event.kind {
            EventKind::Heard(Input::Started { recent_calls, .. }) => {
                self.answered.fetch_add(1, Ordering::Relaxed);
                if *recent_calls > 0 {
                    self.repeat_callers.fetch_add(1, Ordering::Relaxed);
                }
            }
            EventKind::Heard(Input::Anger { score }) => {
                if let Ok(mut anger) = self.anger.lock() {
                    anger.observe(f64::from(*score));
                }
            }
            EventKind::Heard(Input::Keyword { .. }) => {
                self.keywords.fetch_add(1, Ordering::Relaxed);
            }
            EventKind::Did(Action::Transfer(transfer)) => {
                Metrics::bump(&self.transfers, transfer.reason.as_str());
            }
            EventKind::Ended(summary) => {
                if let Some(waited) = queue_wait(summary) {
                    if let Ok(mut histogram) = self.queue_wait.lock() {
                        histogram.observe(waited);
                    }
                }
                Metrics::bump(&self.ended, Outcome::of(summary).as_str());
                if summary.started.is_some() {
                    self.answered_ended.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
}

/// Seconds a caller left waiting in the queue waited: from the transfer to the call's end.
fn queue_wait(summary: &crate::callcore::CallSummary) -> Option<f64> {
    let transfer = summary.transfer.as_ref()?;
    (transfer.via == Some(crate::callcore::Via::Queued))
        .then(|| summary.duration.saturating_sub(transfer.at).as_secs_f64())
}

fn counter(text: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        text,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

/// A counter with one label: every `known` value (0 until seen), then any other seen.
fn labelled(
    text: &mut String,
    (name, help): (&str, &str),
    label: &str,
    known: &[&'static str],
    values: &Mutex<BTreeMap<&'static str, u64>>,
) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} counter");
    let Ok(values) = values.lock() else {
        return;
    };
    let mut keys: Vec<&str> = known.to_vec();
    keys.extend(values.keys().copied());
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let value = values.get(key).copied().unwrap_or(0);
        let _ = writeln!(text, "{name}{{{label}=\"{key}\"}} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callcore::{CallSummary, EndedBy, TransferOutcome};
    use crate::engine::{Priority, Transfer};
    use std::time::{Duration, SystemTime};

    fn event(kind: EventKind) -> CallEvent {
        CallEvent {
            at: Duration::from_secs(1),
            kind,
        }
    }

    #[test]
    fn a_transferred_angry_call_is_counted_by_outcome_reason_and_score() {
        let metrics = Metrics::default();
        let transfer = Transfer {
            target: "priority".into(),
            reason: Reason::Anger,
            priority: Priority::Urgent,
            evidence: Vec::new(),
        };
        let summary = CallSummary {
            started: Some(SystemTime::now()),
            transfer: Some(TransferOutcome {
                at: Duration::from_secs(1),
                transfer: transfer.clone(),
                uri: None,
                via: None,
            }),
            ended_by: Some(EndedBy::Gateway),
            ..CallSummary::default()
        };
        let started = Input::Started {
            caller: "1".into(),
            dialed: "800".into(),
            recent_calls: 2,
            verified: false,
        };
        for kind in [
            EventKind::Heard(started),
            EventKind::Heard(Input::Anger { score: 85.0 }),
            EventKind::Heard(Input::Anger { score: 15.0 }),
        ] {
            metrics.publish(Some("c1"), &event(kind));
        }
        let during = metrics.render();
        assert!(during.contains("voicegate_calls_active 1\n"), "{during}");
        metrics.publish(
            Some("c1"),
            &event(EventKind::Did(Action::Transfer(transfer))),
        );
        metrics.publish(Some("c1"), &event(EventKind::Ended(Box::new(summary))));
        metrics.publish(None, &event(EventKind::Heard(Input::Anger { score: 99.0 })));
        metrics.count_error("store_write");
        metrics.observe_inference(0.003);
        let text = metrics.render();
        for line in [
            "voicegate_calls_answered_total 1",
            "voicegate_calls_active 0",
            "voicegate_repeat_callers_total 1",
            "voicegate_calls_ended_total{outcome=\"transferred\"} 1",
            "voicegate_calls_ended_total{outcome=\"abandoned\"} 0",
            "voicegate_transfers_total{reason=\"anger\"} 1",
            "voicegate_transfers_total{reason=\"vip\"} 0",
            "voicegate_anger_score_bucket{le=\"20\"} 1",
            "voicegate_anger_score_bucket{le=\"90\"} 2",
            "voicegate_anger_score_count 2",
            "voicegate_inference_seconds_bucket{le=\"0.002\"} 0",
            "voicegate_inference_seconds_bucket{le=\"0.005\"} 1",
            "voicegate_inference_seconds_count 1",
            "voicegate_queue_wait_seconds_count 0",
            "voicegate_errors_total{kind=\"store_write\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
