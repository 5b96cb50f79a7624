//! The three health rates of the product rules, from the records:
//! - session break = abandoned calls / answered calls;
//! - repeat contact = calls from a caller who had called within the
//!   repeat window before / answered calls;
//! - forced transfer = transfers for a reason other than `menu_choice` or
//!   `vip` / answered calls.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::record::{CallRecord, Outcome};
use super::{ListFilter, Store, StoreError};

/// The alarm thresholds (the product rules' 15 %, 25 % and 40 %).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub session_break: f64,
    pub repeat_contact: f64,
    pub forced_transfer: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            session_break: 0.15,
            repeat_contact: 0.25,
            forced_transfer: 0.40,
        }
    }
}

/// One rate against its threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub count: usize,
    /// `count` / answered calls; 0 with no calls.
    pub value: f64,
    pub threshold: f64,
}

impl Rate {
    fn of(count: usize, calls: usize, threshold: f64) -> Rate {
        let value = if calls == 0 {
            0.0
        } else {
            count as f64 / calls as f64
        };
        Rate {
            count,
            value,
            threshold,
        }
    }

    /// The alarm: the rate is above its threshold.
    pub fn alarm(&self) -> bool {
        self.value > self.threshold
    }

    fn json(&self) -> Value {
        json!({
            "value": (self.value * 10_000.0).round() / 10_000.0,
            "count": self.count,
            "threshold": self.threshold,
            "alarm": self.alarm(),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    pub calls: usize,
    pub session_break: Rate,
    pub repeat_contact: Rate,
    pub forced_transfer: Rate,
    /// Calls QA flagged as the AI's misjudgement.
    pub flagged: usize,
    /// Questionable transfers whose review is still open.
    pub review_open: usize,
}

impl HealthReport {
    /// The rates over the calls that started at or after `since`;
    /// `history` holds those calls and the ones up to `repeat_window`
    /// before them, in the order they started.
    pub fn of(
        history: &[CallRecord],
        since: SystemTime,
        repeat_window: Duration,
        thresholds: Thresholds,
    ) -> HealthReport {
        let since_text = super::rfc3339(since);
        let window: Vec<&CallRecord> = history
            .iter()
            .filter(|call| call.started >= since_text)
            .collect();
        let count = |keep: &dyn Fn(&CallRecord) -> bool| window.iter().filter(|c| keep(c)).count();
        let abandoned = count(&|call| call.outcome == Some(Outcome::Abandoned));
        let forced = count(&|call| {
            call.transfer_reason
                .as_deref()
                .is_some_and(|reason| reason != "menu_choice" && reason != "vip")
        });
        let repeats = history
            .iter()
            .enumerate()
            .filter(|(index, call)| {
                call.started >= since_text && called_before(&history[..*index], call, repeat_window)
            })
            .count();
        HealthReport {
            calls: window.len(),
            session_break: Rate::of(abandoned, window.len(), thresholds.session_break),
            repeat_contact: Rate::of(repeats, window.len(), thresholds.repeat_contact),
            forced_transfer: Rate::of(forced, window.len(), thresholds.forced_transfer),
            flagged: count(&|call| call.review.as_deref() == Some("flagged")),
            review_open: count(&|call| call.review_due.is_some() && call.review.is_none()),
        }
    }

    /// The rates over the calls of the last `period`, read from `store`
    /// with the calls a repeat window before them.
    pub fn recent(
        store: &Store,
        period: Duration,
        repeat_window: Duration,
        thresholds: Thresholds,
    ) -> Result<HealthReport, StoreError> {
        let ago = |age: Duration| {
            SystemTime::now()
                .checked_sub(age)
                .unwrap_or(SystemTime::UNIX_EPOCH)
        };
        let history = ListFilter {
            since: super::rfc3339(ago(period + repeat_window)),
            ..ListFilter::default()
        };
        let calls = store.list(&history)?;
        Ok(HealthReport::of(
            &calls,
            ago(period),
            repeat_window,
            thresholds,
        ))
    }

    /// `voicegate report --json`.
    pub fn json(&self) -> Value {
        json!({
            "calls": self.calls,
            "session_break_rate": self.session_break.json(),
            "repeat_contact_rate": self.repeat_contact.json(),
            "forced_transfer_rate": self.forced_transfer.json(),
            "flagged_misjudgements": self.flagged,
            "reviews_open": self.review_open,
        })
    }

    /// The table for people, a mark on each rate past its threshold.
    pub fn table(&self) -> String {
        let mut text = format!("{} answered calls\n", self.calls);
        text.push_str(&format!(
            "{:<22} {:>7} {:>7} {:>10}\n",
            "rate", "calls", "value", "threshold"
        ));
        for (name, rate) in [
            ("session break", &self.session_break),
            ("repeat contact", &self.repeat_contact),
            ("forced transfer", &self.forced_transfer),
        ] {
            let mark = if rate.alarm() {
                "  ALARM: above threshold"
            } else {
                ""
            };
            text.push_str(&format!(
                "{name:<22} {:>7} {:>6.1}% {:>9.0}%{mark}\n",
                rate.count,
                rate.value * 100.0,
                rate.threshold * 100.0
            ));
        }
        text.push_str(&format!(
            "AI misjudgements flagged by QA: {}; reviews open: {}\n",
            self.flagged, self.review_open
        ));
        text
    }
}

/// Whether `call`'s caller has a call among `earlier` (the calls listed
/// before it) in the window before it.
fn called_before(earlier: &[CallRecord], call: &CallRecord, window: Duration) -> bool {
    let Ok(started) = humantime::parse_rfc3339(&call.started) else {
        return false;
    };
    let from = super::rfc3339(
        started
            .checked_sub(window)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    );
    earlier
        .iter()
        .any(|before| before.caller == call.caller && before.started >= from)
}
