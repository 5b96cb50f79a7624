//! Menu trees: the TOML format, validation (`check`), flattening of deep legacy
//! trees, and the outline shown by `voicegate menu show`.
//!
//! A hop is one choice: a key press or a spoken option. Every action must be
//! reachable within `max_hops` choices from the entry node.

mod check;
mod conflicts;
mod flatten;
mod outline;
mod parse;
mod prompts;
mod write;

use std::fmt;

pub use check::{check, CheckOptions, Problem, ProblemKind};
pub use conflicts::{resolve_phrase_conflicts, PhraseConflict};
pub use flatten::{deepest_action, flatten, FlattenReport};
pub use outline::outline;
pub use parse::{load_menu, parse_menu, MenuError};
pub use prompts::prompt_texts;
pub use write::to_toml;

/// The most keys a node may offer: 1-9, keeping 0, * and # free for the
/// escape hatches every caller knows.
pub const KEYS_PER_NODE: usize = 9;

/// The prompt played before re-presenting a node after an invalid choice.
pub const INVALID_OPTION_PROMPT: &str = "invalid_option";

/// A validated-shape menu tree (parsing checks types; [`check`] checks the graph).
#[derive(Debug, Clone, PartialEq)]
pub struct Menu {
    pub entry: String,
    /// Line of the `entry` key; 0 for built trees.
    pub entry_line: usize,
    /// Overrides the policy's `max_hops` for this menu.
    pub max_hops: Option<u32>,
    /// In file order.
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    /// Prompt name: a file stem in `sip-config/prompts/`.
    pub prompt: String,
    /// What the prompt says, for recording it or rendering it with TTS.
    pub text: Option<String>,
    pub options: Vec<MenuOption>,
    /// 1-based line of the node's table in its file; 0 for built trees.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MenuOption {
    /// The DTMF key, if the option has one; spoken-only shortcuts have none.
    pub key: Option<char>,
    /// Spoken phrases that choose this option.
    pub say: Vec<String>,
    pub target: Target,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Goto(String),
    Action(MenuAction),
}

/// What a menu leads to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MenuAction {
    /// Hand the call to a queue from `[queues]`.
    Transfer(String),
    /// A self-service flow; in this version it plays the prompt of that name and
    /// returns to the entry node.
    Flow(String),
}

impl MenuAction {
    /// Parses `transfer:QUEUE` or `flow:NAME`.
    pub fn parse(text: &str) -> Option<MenuAction> {
        let (kind, name) = text.split_once(':')?;
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || "_-.".contains(c));
        match kind {
            "transfer" if valid_name => Some(MenuAction::Transfer(name.to_string())),
            "flow" if valid_name => Some(MenuAction::Flow(name.to_string())),
            _ => None,
        }
    }
}

impl fmt::Display for MenuAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MenuAction::Transfer(queue) => write!(f, "transfer:{queue}"),
            MenuAction::Flow(name) => write!(f, "flow:{name}"),
        }
    }
}

impl Menu {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|node| node.name == name)
    }

    /// Every action string in the tree, with duplicates.
    pub fn actions(&self) -> impl Iterator<Item = &MenuAction> {
        self.nodes
            .iter()
            .flat_map(|node| node.options.iter())
            .filter_map(|option| match &option.target {
                Target::Action(action) => Some(action),
                Target::Goto(_) => None,
            })
    }
}

impl Node {
    /// The option bound to a DTMF key.
    pub fn option_for_key(&self, key: char) -> Option<&MenuOption> {
        self.options.iter().find(|option| option.key == Some(key))
    }

    /// The option a spoken phrase chooses (case-insensitive).
    pub fn option_for_phrase(&self, phrase: &str) -> Option<&MenuOption> {
        let wanted = normalize_phrase(phrase);
        self.options
            .iter()
            .find(|option| option.say.iter().any(|say| normalize_phrase(say) == wanted))
    }
}

/// The form in which spoken phrases are compared: trimmed, lower case.
pub fn normalize_phrase(phrase: &str) -> String {
    phrase.trim().to_lowercase()
}
