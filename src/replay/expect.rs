//! Regression fixtures: `fixtures/calls/<name>/` holds a call (`call.jsonl`
//! or a recording) and `expected.toml` with its outcome; `replay --check`
//! compares.

use std::path::Path;

use serde::Deserialize;

use crate::callcore::{CallSummary, TransferOutcome};

/// Why an expected.toml could not be read.
pub type ExpectError = crate::source::FileError;

/// What a fixture call must do.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Whether the call must be transferred.
    pub transfer: bool,
    /// The transfer's reason (`anger`, `human_request`, …), when `transfer`.
    pub reason: Option<String>,
    /// The transfer's queue, if it matters.
    pub target: Option<String>,
    /// The transfer must happen at or after this many seconds…
    pub after_s: Option<f64>,
    /// …and at or before this many.
    pub before_s: Option<f64>,
    /// Run the configured menu (recordings run without one otherwise).
    #[serde(default)]
    pub menu: bool,
    /// Exactly these words must be heard, in this order.
    pub keywords: Option<Vec<String>>,
    /// This menu action must be reached.
    pub reached: Option<String>,
}

pub fn load_expected(path: &Path) -> Result<Expected, ExpectError> {
    let text = crate::source::read_text(
        path,
        "expected outcome",
        "each fixture directory needs an expected.toml",
    )?;
    toml::from_str(&text).map_err(|error| ExpectError::toml(path, &text, &error))
}

/// The differences between the expected and the actual outcome; empty when it matches.
pub fn differences(expected: &Expected, actual: &CallSummary) -> Vec<String> {
    let mut diffs = Vec::new();
    match (&actual.transfer, expected.transfer) {
        (None, true) => diffs.push("expected a transfer, got none".to_string()),
        (Some(TransferOutcome { transfer, .. }), false) => diffs.push(format!(
            "expected no transfer, got one to {} (reason {})",
            transfer.target, transfer.reason
        )),
        (Some(TransferOutcome { at, transfer, .. }), true) => {
            let at = at.as_secs_f64();
            if let Some(reason) = expected
                .reason
                .as_deref()
                .filter(|r| *r != transfer.reason.as_str())
            {
                diffs.push(format!("expected reason {reason}, got {}", transfer.reason));
            }
            if let Some(target) = expected.target.as_deref().filter(|t| *t != transfer.target) {
                diffs.push(format!("expected target {target}, got {}", transfer.target));
            }
            if expected.after_s.is_some_and(|after| at < after)
                || expected.before_s.is_some_and(|before| at > before)
            {
                diffs.push(format!(
                    "transfer at {at:.3} s is outside {}..{} s",
                    expected.after_s.map_or("".into(), |a| a.to_string()),
                    expected.before_s.map_or("".into(), |b| b.to_string())
                ));
            }
        }
        (None, false) => {}
    }
    if let Some(words) = expected
        .keywords
        .as_ref()
        .filter(|w| **w != actual.keywords)
    {
        diffs.push(format!(
            "expected the words {words:?}, heard {:?}",
            actual.keywords
        ));
    }
    if let Some(action) = expected
        .reached
        .as_ref()
        .filter(|a| !actual.reached.contains(a))
    {
        diffs.push(format!(
            "expected to reach {action}, reached {:?}",
            actual.reached
        ));
    }
    diffs
}
