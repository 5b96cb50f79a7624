//! The engine's vocabulary: what goes in, what comes out, and why.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Something that happened on the call, as observed by a driver (live or replay).
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The call was answered. `recent_calls` is how often this caller rang lately
    /// (from the caller memory), which raises the priority of their transfer.
    Started {
        caller: String,
        dialed: String,
        recent_calls: u32,
        /// The caller ID is asserted by a trusted source (a trunk's
        /// P-Asserted-Identity, or a tester's script): only then can it make
        /// the caller a VIP. A From header is anyone's to write.
        verified: bool,
    },
    /// A DTMF digit (0-9, *, #, A-D).
    Dtmf(char),
    /// A spotted word or phrase.
    Keyword { word: String, confidence: f32 },
    /// The caller's anger, 0..=100, after calibration and smoothing.
    Anger { score: f32 },
    /// The prompt the engine asked for last has finished playing.
    PromptDone,
    /// Nothing happened; time passed. Drivers send it at [`super::Call::next_deadline`].
    Tick,
    /// The caller hung up.
    HungUp,
    /// A directory (`source`, e.g. the CRM) says the verified caller is a
    /// VIP: one still in the IVR goes to the expert seat.
    Vip { source: String },
}

/// What the driver must do (or record) next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    StartRecording,
    StopRecording,
    /// Play a prompt by name (a file stem in `sip-config/prompts/`), after
    /// those already playing.
    Play(String),
    /// Barge-in: the caller pressed a key or spoke a word while prompts were
    /// playing; stop them (no [`Input::PromptDone`] is owed for them).
    StopPrompts,
    /// The menu position changed: entered `node`, or reached a menu `action`.
    /// Drivers log it; there is nothing to execute.
    Menu(MenuStep),
    Transfer(Transfer),
    HangUp {
        reason: HangUpReason,
    },
}

/// A change of menu position, for the call log.
#[derive(Debug, Clone, PartialEq)]
pub enum MenuStep {
    Entered { node: String, hops: u32 },
    Reached { action: String, hops: u32 },
}

/// A decision to hand the call to a human.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    /// A queue name from `[queues]` in gateway.toml.
    pub target: String,
    pub reason: Reason,
    pub priority: Priority,
    /// The observations that made the decision, oldest first.
    pub evidence: Vec<Evidence>,
}

/// Why a call was handed to a human. The string forms are part of the replay
/// and call-record contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Sustained anger above the threshold.
    Anger,
    /// The caller asked for a person repeatedly (words or the human DTMF key).
    HumanRequest,
    /// A complaint or refund word.
    ComplaintKeyword,
    /// Too many choices without reaching an action, or a node presented too often.
    HopLimit,
    /// Waited in the IVR longer than allowed without being served.
    WaitTimeout,
    /// The caller is on the VIP list.
    Vip,
    /// The caller chose a menu option whose action is a transfer. Not in the
    /// original five escalation triggers: it is the menu doing its job, and
    /// records must tell it apart from an escalation.
    MenuChoice,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::Anger,
        Reason::HumanRequest,
        Reason::ComplaintKeyword,
        Reason::HopLimit,
        Reason::WaitTimeout,
        Reason::Vip,
        Reason::MenuChoice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Anger => "anger",
            Reason::HumanRequest => "human_request",
            Reason::ComplaintKeyword => "complaint_keyword",
            Reason::HopLimit => "hop_limit",
            Reason::WaitTimeout => "wait_timeout",
            Reason::Vip => "vip",
            Reason::MenuChoice => "menu_choice",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Queue priority of a transfer; agents' queues serve higher first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// One step up, saturating at `Urgent`.
    pub fn raised(self) -> Priority {
        match self {
            Priority::Normal => Priority::High,
            Priority::High | Priority::Urgent => Priority::Urgent,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the gateway itself ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangUpReason {
    /// The caller stayed silent through every re-prompt: the line is dead.
    NoInput,
}

impl HangUpReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HangUpReason::NoInput => "no_input",
        }
    }
}

/// One observation behind a decision, with the call time it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub at: Duration,
    pub fact: Fact,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Anger {
        score: f32,
    },
    Keyword {
        word: String,
        confidence: f32,
    },
    Dtmf {
        digit: char,
    },
    /// Waited this long without being served.
    Waited {
        seconds: f64,
    },
    /// Made this many choices, or saw this node this many times, without an action.
    Stuck {
        node: String,
        hops: u32,
        visits: u32,
    },
    Vip {
        caller: String,
    },
    MenuChoice {
        node: String,
        action: String,
    },
}
