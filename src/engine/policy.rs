//! Escalation thresholds and routing, as read from `[policy]`, `[routing]` and
//! `[vip]` in gateway.toml. Defaults are the product rules.

use std::collections::HashSet;

use serde::Deserialize;

use super::types::{Priority, Reason};

/// Thresholds of the escalation rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Anger scores strictly above this count toward a transfer.
    pub anger_threshold: f32,
    /// This many consecutive scores above the threshold transfer the call.
    pub anger_sustain: u32,
    /// Words that ask for a person.
    pub human_words: Vec<String>,
    /// The DTMF key that asks for a person, where the current menu node does not bind it.
    pub human_dtmf: char,
    /// Requests for a person in a row (words or key) that transfer the call.
    pub human_repeats: u32,
    /// Words that send the call to the complaint desk at once.
    pub complaint_words: Vec<String>,
    /// Choices allowed without reaching an action.
    pub max_hops: u32,
    /// How often one node may be presented (first visit and re-prompts after an
    /// invalid choice) before the caller is considered stuck.
    pub max_node_visits: u32,
    /// Seconds in the IVR without being served before an overflow transfer.
    pub max_wait_s: f64,
    /// Seconds of silence after a menu prompt before it is repeated.
    pub no_input_s: f64,
    /// Unanswered menu prompts in a row before the gateway hangs up a dead line.
    pub max_no_input: u32,
    /// Live anger at or above this raises a transfer's priority one step.
    pub priority_anger: f32,
    /// Callers with at least this many recent calls get one step more priority.
    pub repeat_caller_calls: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            anger_threshold: 80.0,
            anger_sustain: 3,
            human_words: words(&["agent", "representative", "operator", "人工", "转人工"]),
            human_dtmf: '0',
            human_repeats: 3,
            complaint_words: words(&["complaint", "refund", "投诉", "赔偿"]),
            max_hops: 3,
            max_node_visits: 2,
            max_wait_s: 90.0,
            no_input_s: 8.0,
            max_no_input: 3,
            priority_anger: 60.0,
            repeat_caller_calls: 2,
        }
    }
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| w.to_string()).collect()
}

/// The queue each escalation reason transfers to (names from `[queues]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Routing {
    pub anger: String,
    pub human_request: String,
    pub complaint_keyword: String,
    pub hop_limit: String,
    pub wait_timeout: String,
    pub vip: String,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            anger: "priority".into(),
            human_request: "priority".into(),
            complaint_keyword: "complaints".into(),
            hop_limit: "agents".into(),
            wait_timeout: "agents".into(),
            vip: "experts".into(),
        }
    }
}

impl Routing {
    /// The queue for an escalation; `None` for a menu choice, whose target the menu names.
    pub fn queue(&self, reason: Reason) -> Option<&str> {
        let queue = match reason {
            Reason::Anger => &self.anger,
            Reason::HumanRequest => &self.human_request,
            Reason::ComplaintKeyword => &self.complaint_keyword,
            Reason::HopLimit => &self.hop_limit,
            Reason::WaitTimeout => &self.wait_timeout,
            Reason::Vip => &self.vip,
            Reason::MenuChoice => return None,
        };
        Some(queue)
    }

    /// Every (reason, queue) pair, for validating queue names against `[queues]`.
    pub fn entries(&self) -> impl Iterator<Item = (Reason, &str)> {
        Reason::ALL
            .into_iter()
            .filter_map(|reason| self.queue(reason).map(|queue| (reason, queue)))
    }
}

/// Callers who skip the menu to an expert seat.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Vip {
    pub callers: Vec<String>,
}

/// Everything the engine needs besides the menu, shared by all calls.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    pub policy: Policy,
    pub routing: Routing,
    pub vip_callers: HashSet<String>,
}

/// The priority a transfer starts from, before boosts for live anger and
/// repeat contact.
pub fn base_priority(reason: Reason) -> Priority {
    match reason {
        Reason::Vip => Priority::Urgent,
        Reason::Anger | Reason::HumanRequest | Reason::ComplaintKeyword => Priority::High,
        Reason::HopLimit | Reason::WaitTimeout | Reason::MenuChoice => Priority::Normal,
    }
}
