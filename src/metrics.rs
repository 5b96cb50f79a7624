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
use crate::store::Outcome;

/// Upper bounds of the anger histogram's buckets (scores 0-100).
const ANGER_BUCKETS: [f64; 10] = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0];

#[derive(Default)]
pub struct Metrics {
    answered: AtomicU64,
    answered_ended: AtomicU64,
    /// Answered calls whose caller had called within the repeat window.
    repeat_callers: AtomicU64,
    ended: Mutex<BTreeMap<&'static str, u64>>,
    transfers: Mutex<BTreeMap<&'static str, u64>>,
    keywords: AtomicU64,
    anger: Mutex<Histogram>,
    /// Failures no call was dropped for (`skipped_window`, `store_write`, `recording`).
    errors: Mutex<BTreeMap<&'static str, u64>>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; ANGER_BUCKETS.len()],
    count: u64,
    sum: f64,
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
        self.render_anger(&mut text);
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

    fn render_anger(&self, text: &mut String) {
        let Ok(anger) = self.anger.lock() else {
            return;
        };
        let _ = writeln!(text, "# HELP voicegate_anger_score Callers' anger scores (0-100).\n# TYPE voicegate_anger_score histogram");
        let mut cumulative = 0;
        for (bound, count) in ANGER_BUCKETS.iter().zip(anger.buckets) {
            cumulative += count;
            let _ = writeln!(
                text,
                "voicegate_anger_score_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            text,
            "voicegate_anger_score_bucket{{le=\"+Inf\"}} {}",
            anger.count
        );
        let _ = writeln!(text, "voicegate_anger_score_sum {}", anger.sum);
        let _ = writeln!(text, "voicegate_anger_score_count {}", anger.count);
    }

    fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str) {
        if let Ok(mut map) = map.lock() {
            *map.entry(key).or_insert(0) += 1;
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
                    let bucket = ANGER_BUCKETS
                        .iter()
                        .position(|bound| f64::from(*score) <= *bound)
                        .unwrap_or(ANGER_BUCKETS.len() - 1);
                    anger.buckets[bucket] += 1;
                    anger.count += 1;
                    anger.sum += f64::from(*score);
                }
            }
            EventKind::Heard(Input::Keyword { .. }) => {
                self.keywords.fetch_add(1, Ordering::Relaxed);
            }
            EventKind::Did(Action::Transfer(transfer)) => {
                Metrics::bump(&self.transfers, transfer.reason.as_str());
            }
            EventKind::Ended(summary) => {
                Metrics::bump(&self.ended, Outcome::of(summary).as_str());
                if summary.started.is_some() {
                    self.answered_ended.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
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
            "voicegate_errors_total{kind=\"store_write\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
