//! Drives a [`Call`] on a virtual clock: inputs at their timestamps, engine
//! deadlines and prompt completions in between, every step logged.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{Action, Call, EngineConfig, Input};
use crate::menu::Menu;

/// Who is calling, as a live call's INVITE would say.
#[derive(Debug, Clone, PartialEq)]
pub struct CallerId {
    pub caller: String,
    pub dialed: String,
    pub recent_calls: u32,
}

impl Default for CallerId {
    fn default() -> Self {
        CallerId {
            caller: "anonymous".into(),
            dialed: "ivr".into(),
            recent_calls: 0,
        }
    }
}

/// One logged step of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Something the caller (or the audio front end) did.
    Heard(Input),
    /// Something the engine decided.
    Did(Action),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub at: Duration,
    pub step: Step,
}

/// A call run on a virtual clock.
pub struct VirtualCall {
    call: Call,
    now: Duration,
    log: Vec<Logged>,
    prompt_lengths: Arc<HashMap<String, Duration>>,
    /// Prompts asked for and not yet finished, in play order.
    playing: VecDeque<String>,
    /// When the first prompt in `playing` finishes.
    prompt_ends: Option<Duration>,
}

impl VirtualCall {
    /// Answers the call at time zero. Prompts last as long as `prompt_lengths`
    /// says (zero when unknown, as in scripted replay).
    pub fn start(
        config: Arc<EngineConfig>,
        menu: Option<Arc<Menu>>,
        caller: CallerId,
        prompt_lengths: Arc<HashMap<String, Duration>>,
    ) -> VirtualCall {
        let mut virtual_call = VirtualCall {
            call: Call::new(config, menu),
            now: Duration::ZERO,
            log: Vec::new(),
            prompt_lengths,
            playing: VecDeque::new(),
            prompt_ends: None,
        };
        let started = Input::Started {
            caller: caller.caller,
            dialed: caller.dialed,
            recent_calls: caller.recent_calls,
        };
        virtual_call.deliver(Duration::ZERO, started);
        virtual_call
    }

    /// Feeds an input at `at`, first running everything due before it.
    pub fn feed(&mut self, at: Duration, input: Input) {
        self.advance_to(at);
        if matches!(input, Input::Dtmf(_) | Input::Keyword { .. }) {
            // Barge-in: the caller's choice cuts the prompt short, as on a live call.
            self.playing.clear();
            self.prompt_ends = None;
        }
        self.deliver(at, input);
    }

    /// Whether a menu waits for a choice at `at` (prompts and deadlines due
    /// by then have run).
    pub fn awaits_choice(&mut self, at: Duration) -> bool {
        self.advance_to(at);
        self.call.awaits_choice()
    }

    /// Ends the call at `at` with the caller hanging up (unless it ended before),
    /// and returns the log.
    pub fn finish(mut self, at: Duration) -> Vec<Logged> {
        self.advance_to(at);
        if !self.has_ended() {
            self.deliver(at.max(self.now), Input::HungUp);
        }
        self.log
    }

    /// The log so far.
    pub fn log(&self) -> &[Logged] {
        &self.log
    }

    fn has_ended(&self) -> bool {
        self.log.iter().any(|entry| {
            matches!(
                entry.step,
                Step::Heard(Input::HungUp) | Step::Did(Action::HangUp { .. })
            )
        })
    }

    /// Runs prompt completions and engine deadlines due by `at`, in time order.
    fn advance_to(&mut self, at: Duration) {
        loop {
            let deadline = self.call.next_deadline().filter(|d| *d <= at);
            let prompt_end = self.prompt_ends.filter(|end| *end <= at);
            match (prompt_end, deadline) {
                (Some(end), Some(deadline)) if deadline < end => {
                    self.deliver(deadline, Input::Tick)
                }
                (Some(end), _) => self.finish_prompt(end),
                (None, Some(deadline)) => self.deliver(deadline, Input::Tick),
                (None, None) => break,
            }
        }
        self.now = self.now.max(at);
    }

    fn finish_prompt(&mut self, at: Duration) {
        self.playing.pop_front();
        self.prompt_ends = self.playing.front().map(|next| at + self.length_of(next));
        self.deliver(at, Input::PromptDone);
    }

    fn deliver(&mut self, at: Duration, input: Input) {
        self.now = self.now.max(at);
        if !matches!(input, Input::Tick | Input::PromptDone) {
            self.log.push(Logged {
                at,
                step: Step::Heard(input.clone()),
            });
        }
        tracing::debug!(at = at.as_secs_f64(), ?input, "engine input");
        self.call.handle(at, input);
        while let Some(action) = self.call.poll_action() {
            tracing::debug!(at = at.as_secs_f64(), ?action, "engine action");
            if let Action::Play(prompt) = &action {
                self.queue_prompt(at, prompt.clone());
            }
            self.log.push(Logged {
                at,
                step: Step::Did(action),
            });
        }
    }

    fn queue_prompt(&mut self, at: Duration, prompt: String) {
        if self.playing.is_empty() {
            self.prompt_ends = Some(at + self.length_of(&prompt));
        }
        self.playing.push_back(prompt);
    }

    fn length_of(&self, prompt: &str) -> Duration {
        self.prompt_lengths.get(prompt).copied().unwrap_or_default()
    }
}
