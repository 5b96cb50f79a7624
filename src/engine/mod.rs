//! The sans-IO call engine: one state machine per call.
//!
//! Drivers feed timestamped [`Input`]s with [`Call::handle`], execute what
//! [`Call::poll_action`] returns, and send [`Input::Tick`] at
//! [`Call::next_deadline`]. The engine never reads a clock, a socket, a file or
//! a model, so the live gateway and `voicegate replay` make the same decisions
//! from the same inputs.

mod policy;
mod types;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

pub use policy::{base_priority, EngineConfig, Policy, Routing, Vip};
pub use types::{
    Action, Evidence, Fact, HangUpReason, Input, MenuStep, Priority, Reason, Transfer,
};

use crate::menu::{normalize_phrase, Menu, MenuAction, MenuOption, Target, INVALID_OPTION_PROMPT};

/// Deadlines are "more than N seconds": they fire this long after the limit.
const TIME_RESOLUTION: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    NotStarted,
    /// At a menu node, waiting for a choice.
    Menu {
        node: String,
    },
    /// Playing a self-service flow; returns to the entry node when done.
    SelfService,
    /// No menu configured: only listening for escalations.
    Listening,
    Transferred,
    Ended,
}

/// One call's state.
#[derive(Debug)]
pub struct Call {
    config: Arc<EngineConfig>,
    menu: Option<Arc<Menu>>,
    phase: Phase,
    actions: VecDeque<Action>,
    caller: String,
    recent_calls: u32,
    /// Start of the current wait to be served (call start or end of a flow).
    waiting_since: Duration,
    hops: u32,
    visits: HashMap<String, u32>,
    no_input_deadline: Option<Duration>,
    unanswered_prompts: u32,
    human_requests: Vec<Evidence>,
    anger_streak: Vec<Evidence>,
    last_anger: f32,
    /// Prompts asked for and not yet reported done: what a barge-in cuts.
    prompts_playing: u32,
}

impl Call {
    /// A call that will run `menu`, or only listen for escalations without one.
    pub fn new(config: Arc<EngineConfig>, menu: Option<Arc<Menu>>) -> Call {
        Call {
            config,
            menu,
            phase: Phase::NotStarted,
            actions: VecDeque::new(),
            caller: String::new(),
            recent_calls: 0,
            waiting_since: Duration::ZERO,
            hops: 0,
            visits: HashMap::new(),
            no_input_deadline: None,
            unanswered_prompts: 0,
            human_requests: Vec::new(),
            anger_streak: Vec::new(),
            last_anger: 0.0,
            prompts_playing: 0,
        }
    }

    /// Feeds one input that happened at `at` (time since the call started).
    /// Deadlines that fell due before `at` fire first, at their own time.
    pub fn handle(&mut self, at: Duration, input: Input) {
        if self.phase == Phase::Ended {
            return;
        }
        self.fire_deadlines(at);
        match input {
            Input::Started {
                caller,
                dialed: _,
                recent_calls,
                verified,
            } => self.on_started(at, caller, recent_calls, verified),
            _ if self.phase == Phase::NotStarted => {}
            Input::HungUp => self.end(),
            _ if self.phase == Phase::Transferred || self.phase == Phase::Ended => {}
            Input::Dtmf(digit) => {
                self.barge_in();
                self.on_dtmf(at, digit)
            }
            Input::Keyword { word, confidence } => {
                self.barge_in();
                self.on_keyword(at, word, confidence)
            }
            Input::Anger { score } => self.on_anger(at, score),
            Input::PromptDone => self.on_prompt_done(at),
            Input::Vip { .. } => self.send_vip_to_experts(at),
            Input::Tick => {}
        }
    }

    /// The next action for the driver, oldest first.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When the driver must send [`Input::Tick`] if nothing else happens first.
    pub fn next_deadline(&self) -> Option<Duration> {
        let waiting = self.is_waiting().then(|| self.wait_deadline());
        match (waiting, self.no_input_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True while a menu waits for a choice: only then can a spoken digit,
    /// yes/no or a menu phrase do anything; outside a menu, only the words
    /// that escalate (the policy's human and complaint words) are heard. The
    /// keyword decision asks this before every window it decides
    /// ([`crate::audio::KeywordDecider::set_menu_waiting`]).
    pub fn awaits_choice(&self) -> bool {
        matches!(self.phase, Phase::Menu { .. })
    }

    /// True once the call was transferred or ended; later inputs change nothing.
    pub fn is_settled(&self) -> bool {
        matches!(self.phase, Phase::Transferred | Phase::Ended)
    }

    /// True once the call ended (hung up by either side); the record is closed.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    fn policy(&self) -> &Policy {
        &self.config.policy
    }

    fn is_waiting(&self) -> bool {
        matches!(self.phase, Phase::Menu { .. } | Phase::Listening)
    }

    fn wait_deadline(&self) -> Duration {
        self.waiting_since + Duration::from_secs_f64(self.policy().max_wait_s) + TIME_RESOLUTION
    }

    /// Fires every deadline due by `now`, earliest first, each at its own time.
    fn fire_deadlines(&mut self, now: Duration) {
        while let Some(due) = self.next_deadline().filter(|due| *due <= now) {
            if self.is_waiting() && self.wait_deadline() == due {
                self.wait_timed_out(due);
            } else {
                self.on_no_input();
            }
        }
    }

    fn wait_timed_out(&mut self, at: Duration) {
        let seconds = (at - self.waiting_since).as_secs_f64();
        let evidence = vec![Evidence {
            at,
            fact: Fact::Waited { seconds },
        }];
        self.escalate(Reason::WaitTimeout, evidence);
    }

    fn on_started(&mut self, at: Duration, caller: String, recent_calls: u32, verified: bool) {
        if self.phase != Phase::NotStarted {
            return;
        }
        self.actions.push_back(Action::StartRecording);
        self.waiting_since = at;
        self.recent_calls = recent_calls;
        self.caller = caller;
        if verified && self.config.vip_callers.contains(&self.caller) {
            self.send_vip_to_experts(at);
            return;
        }
        match self.menu.clone() {
            Some(menu) => self.enter(at, &menu.entry),
            None => self.phase = Phase::Listening,
        }
    }

    /// A VIP skips (the rest of) the menu to the expert seat.
    fn send_vip_to_experts(&mut self, at: Duration) {
        let evidence = vec![Evidence {
            at,
            fact: Fact::Vip {
                caller: self.caller.clone(),
            },
        }];
        self.escalate(Reason::Vip, evidence);
    }

    fn on_dtmf(&mut self, at: Duration, digit: char) {
        let evidence = Evidence {
            at,
            fact: Fact::Dtmf { digit },
        };
        self.on_key(at, digit, evidence);
    }

    /// A key, pressed or spoken: the node's option for it, the key asking for
    /// a person, or an invalid choice.
    fn on_key(&mut self, at: Duration, digit: char, evidence: Evidence) {
        self.caller_responded();
        if let Some(option) = self.current_option(|node| node.option_for_key(digit).cloned()) {
            self.human_requests.clear();
            self.choose(at, option, evidence);
        } else if digit == self.policy().human_dtmf {
            self.human_requested(evidence);
        } else {
            self.human_requests.clear();
            if matches!(self.phase, Phase::Menu { .. }) {
                self.invalid_choice(at, evidence);
            }
        }
    }

    fn on_keyword(&mut self, at: Duration, word: String, confidence: f32) {
        self.caller_responded();
        let phrase = normalize_phrase(&word);
        let evidence = Evidence {
            at,
            fact: Fact::Keyword { word, confidence },
        };
        if is_listed(&self.policy().complaint_words, &phrase) {
            self.escalate(Reason::ComplaintKeyword, vec![evidence]);
        } else if let Some(option) =
            self.current_option(|node| node.option_for_phrase(&phrase).cloned())
        {
            self.human_requests.clear();
            self.choose(at, option, evidence);
        } else if let Some(digit) = spoken_digit(&phrase) {
            // A digit said instead of pressed: "four" or "四" is key 4.
            self.on_key(at, digit, evidence);
        } else if is_listed(&self.policy().human_words, &phrase) {
            self.human_requested(evidence);
        } else {
            // Other speech between two requests breaks the "in a row".
            self.human_requests.clear();
        }
    }

    fn on_anger(&mut self, at: Duration, score: f32) {
        self.last_anger = score;
        if score > self.policy().anger_threshold {
            self.anger_streak.push(Evidence {
                at,
                fact: Fact::Anger { score },
            });
            if self.anger_streak.len() >= self.policy().anger_sustain as usize {
                let evidence = std::mem::take(&mut self.anger_streak);
                self.escalate(Reason::Anger, evidence);
            }
        } else {
            self.anger_streak.clear();
        }
    }

    /// A key or a word from the caller cuts the playing prompts short.
    fn barge_in(&mut self) {
        if self.prompts_playing > 0 {
            self.prompts_playing = 0;
            self.actions.push_back(Action::StopPrompts);
        }
    }

    fn play(&mut self, prompt: String) {
        self.prompts_playing += 1;
        self.actions.push_back(Action::Play(prompt));
    }

    fn on_prompt_done(&mut self, at: Duration) {
        self.prompts_playing = self.prompts_playing.saturating_sub(1);
        match &self.phase {
            Phase::Menu { .. } => {
                self.no_input_deadline =
                    Some(at + Duration::from_secs_f64(self.policy().no_input_s))
            }
            Phase::SelfService => self.served(at),
            _ => {}
        }
    }

    fn on_no_input(&mut self) {
        self.no_input_deadline = None;
        self.unanswered_prompts += 1;
        if self.unanswered_prompts >= self.policy().max_no_input {
            self.actions.push_back(Action::HangUp {
                reason: HangUpReason::NoInput,
            });
            self.end();
            return;
        }
        if let Phase::Menu { node } = &self.phase {
            let prompt = self.prompt_of(node);
            self.play(prompt);
        }
    }

    /// The caller finished a self-service flow: the wait and hop counts restart.
    fn served(&mut self, at: Duration) {
        self.waiting_since = at;
        self.hops = 0;
        self.visits.clear();
        if let Some(menu) = self.menu.clone() {
            self.enter(at, &menu.entry);
        }
    }

    fn caller_responded(&mut self) {
        self.unanswered_prompts = 0;
        self.no_input_deadline = None;
    }

    fn human_requested(&mut self, evidence: Evidence) {
        self.human_requests.push(evidence);
        if self.human_requests.len() >= self.policy().human_repeats as usize {
            let evidence = std::mem::take(&mut self.human_requests);
            self.escalate(Reason::HumanRequest, evidence);
        }
    }

    /// Looks up an option at the current menu node.
    fn current_option(
        &self,
        find: impl Fn(&crate::menu::Node) -> Option<MenuOption>,
    ) -> Option<MenuOption> {
        let Phase::Menu { node } = &self.phase else {
            return None;
        };
        self.menu.as_ref()?.node(node).and_then(find)
    }

    fn choose(&mut self, at: Duration, option: MenuOption, evidence: Evidence) {
        self.hops += 1;
        match option.target {
            Target::Action(action) => self.reach_action(at, action, evidence),
            Target::Goto(next) if self.hops > self.max_hops() => self.stuck(at, &next, evidence),
            Target::Goto(next) => self.enter(at, &next),
        }
    }

    fn invalid_choice(&mut self, at: Duration, evidence: Evidence) {
        self.hops += 1;
        let Phase::Menu { node } = self.phase.clone() else {
            return;
        };
        if self.hops > self.max_hops() {
            self.stuck(at, &node, evidence);
            return;
        }
        self.play(INVALID_OPTION_PROMPT.to_string());
        self.enter(at, &node);
    }

    fn enter(&mut self, at: Duration, node: &str) {
        let visits = self.visits.entry(node.to_string()).or_insert(0);
        *visits += 1;
        if *visits > self.policy().max_node_visits {
            self.stuck_at(at, node, Vec::new());
            return;
        }
        self.phase = Phase::Menu {
            node: node.to_string(),
        };
        self.actions.push_back(Action::Menu(MenuStep::Entered {
            node: node.to_string(),
            hops: self.hops,
        }));
        let prompt = self.prompt_of(node);
        self.play(prompt);
    }

    fn reach_action(&mut self, at: Duration, action: MenuAction, evidence: Evidence) {
        let node = match &self.phase {
            Phase::Menu { node } => node.clone(),
            _ => String::new(),
        };
        self.actions.push_back(Action::Menu(MenuStep::Reached {
            action: action.to_string(),
            hops: self.hops,
        }));
        match action {
            MenuAction::Transfer(queue) => {
                let choice = Evidence {
                    at,
                    fact: Fact::MenuChoice {
                        node,
                        action: format!("transfer:{queue}"),
                    },
                };
                self.transfer(queue, Reason::MenuChoice, vec![evidence, choice]);
            }
            MenuAction::Flow(name) => {
                self.phase = Phase::SelfService;
                self.play(name);
            }
        }
    }

    fn stuck(&mut self, at: Duration, node: &str, trigger: Evidence) {
        self.stuck_at(at, node, vec![trigger]);
    }

    fn stuck_at(&mut self, at: Duration, node: &str, mut evidence: Vec<Evidence>) {
        evidence.push(Evidence {
            at,
            fact: Fact::Stuck {
                node: node.to_string(),
                hops: self.hops,
                visits: self.visits.get(node).copied().unwrap_or(0),
            },
        });
        self.escalate(Reason::HopLimit, evidence);
    }

    fn escalate(&mut self, reason: Reason, evidence: Vec<Evidence>) {
        let queue = self
            .config
            .routing
            .queue(reason)
            .unwrap_or_default()
            .to_string();
        self.transfer(queue, reason, evidence);
    }

    fn transfer(&mut self, target: String, reason: Reason, evidence: Vec<Evidence>) {
        let priority = self.priority(reason);
        self.actions.push_back(Action::Transfer(Transfer {
            target,
            reason,
            priority,
            evidence,
        }));
        self.phase = Phase::Transferred;
        self.no_input_deadline = None;
    }

    /// Dynamic priority: the reason's base, one step up for a caller who is
    /// angry right now, one more for a caller who keeps calling back.
    fn priority(&self, reason: Reason) -> Priority {
        let mut priority = base_priority(reason);
        if self.last_anger >= self.policy().priority_anger {
            priority = priority.raised();
        }
        if self.recent_calls >= self.policy().repeat_caller_calls {
            priority = priority.raised();
        }
        priority
    }

    fn end(&mut self) {
        self.actions.push_back(Action::StopRecording);
        self.phase = Phase::Ended;
        self.no_input_deadline = None;
    }

    fn max_hops(&self) -> u32 {
        self.menu
            .as_ref()
            .and_then(|menu| menu.max_hops)
            .unwrap_or(self.policy().max_hops)
    }

    fn prompt_of(&self, node: &str) -> String {
        self.menu
            .as_ref()
            .and_then(|menu| menu.node(node))
            .map(|node| node.prompt.clone())
            .unwrap_or_default()
    }
}

/// The key of a spoken digit, English or Mandarin.
fn spoken_digit(phrase: &str) -> Option<char> {
    const ENGLISH: [&str; 10] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    const MANDARIN: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    let index = ENGLISH
        .iter()
        .position(|word| *word == phrase)
        .or_else(|| MANDARIN.iter().position(|word| *word == phrase))?;
    char::from_digit(index as u32, 10)
}

fn is_listed(list: &[String], phrase: &str) -> bool {
    list.iter().any(|entry| normalize_phrase(entry) == phrase)
}
