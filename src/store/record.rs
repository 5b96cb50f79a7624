//! What the store keeps of one call, and how a call's outcome is classed.

use serde::Serialize;

use crate::callcore::{CallSummary, EndedBy};

/// How a call ended, for the records and the health rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The caller reached a menu action and no transfer was needed.
    SelfServed,
    /// Handed to a person (REFER, bridge or queue).
    Transferred,
    /// The caller hung up inside the IVR before an action or a transfer.
    Abandoned,
    /// Anything else: a dead line, the no-input limit, a signalling failure.
    Failed,
}

impl Outcome {
    pub fn of(summary: &CallSummary) -> Outcome {
        if summary.transfer.is_some() {
            Outcome::Transferred
        } else if !summary.reached.is_empty() {
            Outcome::SelfServed
        } else if matches!(summary.ended_by, Some(EndedBy::Caller) | None) {
            Outcome::Abandoned
        } else {
            Outcome::Failed
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::SelfServed => "self_served",
            Outcome::Transferred => "transferred",
            Outcome::Abandoned => "abandoned",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        [
            Outcome::SelfServed,
            Outcome::Transferred,
            Outcome::Abandoned,
            Outcome::Failed,
        ]
        .into_iter()
        .find(|outcome| outcome.as_str() == text)
    }
}

/// Transfer reasons a QA reviewer must look at within the review window.
pub const REVIEWED_REASONS: [&str; 4] = ["anger", "complaint_keyword", "hop_limit", "wait_timeout"];

/// One call as the store has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    pub id: String,
    pub caller: String,
    pub dialed: String,
    /// The answer, UTC, RFC 3339.
    pub started: String,
    /// `None` while the call is up (or if the gateway stopped under it).
    pub ended: Option<String>,
    pub duration_s: Option<f64>,
    pub hops: Option<u32>,
    pub max_anger: Option<f64>,
    /// Seconds the caller's anger stayed above the transfer threshold.
    pub anger_above_s: f64,
    pub outcome: Option<Outcome>,
    pub transfer_reason: Option<String>,
    pub transfer_target: Option<String>,
    pub transfer_uri: Option<String>,
    pub transfer_via: Option<String>,
    pub transfer_at_s: Option<f64>,
    pub ended_by: Option<String>,
    pub keywords: Vec<String>,
    pub recording: Option<String>,
    /// When QA must have looked at it (UTC, RFC 3339), if it needs review.
    pub review_due: Option<String>,
    /// `ok` or `flagged` once reviewed.
    pub review: Option<String>,
    pub review_note: Option<String>,
}

/// A row of `calls` as either database hands it over.
pub(super) trait CallRow {
    type Error;
    fn text(&self, column: &str) -> Result<Option<String>, Self::Error>;
    fn number(&self, column: &str) -> Result<Option<f64>, Self::Error>;
    fn integer(&self, column: &str) -> Result<Option<i64>, Self::Error>;
}

impl CallRecord {
    /// The record in a row of `calls` (the same columns in both databases).
    pub(super) fn from_row<R: CallRow>(row: &R) -> Result<CallRecord, R::Error> {
        let text = |column| row.text(column);
        let required = |column| Ok(row.text(column)?.unwrap_or_default());
        let keywords = required("keywords")?;
        Ok(CallRecord {
            id: required("id")?,
            caller: required("caller")?,
            dialed: required("dialed")?,
            started: required("started")?,
            ended: text("ended")?,
            duration_s: row.number("duration_s")?,
            hops: row
                .integer("hops")?
                .and_then(|hops| u32::try_from(hops).ok()),
            max_anger: row.number("max_anger")?,
            anger_above_s: row.number("anger_above_s")?.unwrap_or(0.0),
            outcome: text("outcome")?.as_deref().and_then(Outcome::parse),
            transfer_reason: text("transfer_reason")?,
            transfer_target: text("transfer_target")?,
            transfer_uri: text("transfer_uri")?,
            transfer_via: text("transfer_via")?,
            transfer_at_s: row.number("transfer_at_s")?,
            ended_by: text("ended_by")?,
            keywords: serde_json::from_str(&keywords).unwrap_or_default(),
            recording: text("recording")?,
            review_due: text("review_due")?,
            review: text("review")?,
            review_note: text("review_note")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callcore::TransferOutcome;
    use crate::engine::{Priority, Reason, Transfer};
    use std::time::Duration;

    #[test]
    fn a_call_is_transferred_self_served_abandoned_or_failed() {
        let transferred = CallSummary {
            transfer: Some(TransferOutcome {
                at: Duration::from_secs(3),
                transfer: Transfer {
                    target: "priority".into(),
                    reason: Reason::Anger,
                    priority: Priority::High,
                    evidence: Vec::new(),
                },
                uri: None,
                via: None,
            }),
            ended_by: Some(EndedBy::Gateway),
            ..CallSummary::default()
        };
        let served = CallSummary {
            reached: vec!["balance".into()],
            ended_by: Some(EndedBy::Caller),
            ..CallSummary::default()
        };
        let abandoned = CallSummary {
            ended_by: Some(EndedBy::Caller),
            ..CallSummary::default()
        };
        let dead_line = CallSummary {
            ended_by: Some(EndedBy::Timeout),
            ..CallSummary::default()
        };
        let outcomes: Vec<Outcome> = [transferred, served, abandoned, dead_line]
            .iter()
            .map(Outcome::of)
            .collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Transferred,
                Outcome::SelfServed,
                Outcome::Abandoned,
                Outcome::Failed
            ]
        );
        for outcome in outcomes {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
    }
}
