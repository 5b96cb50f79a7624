//! The call core: everything one call decides, sans-IO, shared by every
//! driver. Timestamped inputs in ([`CallCore::handle_input`],
//! [`CallCore::handle_audio`], [`CallCore::handle_timeout`]), outputs out
//! ([`CallCore::poll_output`]): windows to score, typed call events, and
//! commands for signalling. Inside: the audio front end, the engine, prompt
//! scheduling (with barge-in decided by the engine), the hand-over to a human,
//! hold, the dead-line rule and the call's summary. No clock, socket or model:
//! `replay` runs it on a virtual clock with synchronous inference, `serve` on
//! tokio with inference threads.
//!
//! ```text
//!   replay (virtual clock) ─┐                 ┌─> Score jobs ──> models
//!   serve  (tokio, RTP)  ───┼─> CallCore ─────┼─> CallEvents ──> sinks (JSON Lines, …)
//!   call   (test caller)    │   front end     └─> Commands ───> SIP user agent
//!                           │   engine, prompts, hand-off
//! ```

mod events;
mod front;
mod handoff;
mod prompts;
mod sink;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use events::{json_event, CallEvent, CallSummary, EndedBy, EventKind, TransferOutcome, Via};
pub use front::{AngerSetup, FrontEnd, KeywordSetup, Model, ScoreJob, MAX_PENDING};
pub use handoff::{
    agent_page_queue, announcement_prompts, Command, HandoffReport, HandoffSettings, AGENT_PAGE,
};
pub use prompts::{PromptFrame, FRAME};
pub use sink::{Collect, EventSink, JsonLines, Sinks};

use crate::engine::{Action, Call, EngineConfig, Input};
use crate::menu::Menu;
use handoff::{Handoff, HandoffAction, WaitIn};
use prompts::{Asker, PromptSchedule};

/// Who is calling, as the INVITE says.
#[derive(Debug, Clone, PartialEq)]
pub struct CallerId {
    pub caller: String,
    pub dialed: String,
    /// Calls from this caller lately (caller memory).
    pub recent_calls: u32,
    /// Asserted by a trusted source (see [`Input::Started`]).
    pub verified: bool,
}

impl Default for CallerId {
    fn default() -> Self {
        CallerId {
            caller: "anonymous".into(),
            dialed: "ivr".into(),
            recent_calls: 0,
            verified: false,
        }
    }
}

/// What one call runs with.
pub struct CoreSetup {
    pub engine: Arc<EngineConfig>,
    /// `None`: no menu, only listening for escalations.
    pub menu: Option<Arc<Menu>>,
    pub caller: CallerId,
    /// Wall-clock time of the answer; call time 0 is this instant.
    pub started: SystemTime,
    /// How long each prompt plays (unknown prompts take no time).
    pub prompt_lengths: Arc<HashMap<String, Duration>>,
    /// Queue name → Refer-To URI.
    pub queues: Arc<HashMap<String, String>>,
    pub handoff: HandoffSettings,
    /// A line without a packet from the caller this long is dead; `None`
    /// where there is no line (replay: transfers are decided, not carried out).
    pub inactivity: Option<Duration>,
    /// Played before anything else: that the call is recorded.
    pub notice: Option<String>,
}

/// Something a driver observed.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreInput {
    /// An engine input given as such (a script's scores and words).
    Engine(Input),
    /// A packet arrived from the caller: the line is alive.
    CallerPacket,
    /// A model's answer for a [`ScoreJob`]; `None` if the model failed.
    Scored {
        token: u64,
        row: Option<Vec<f32>>,
    },
    Dtmf(char),
    /// The caller put the call on hold (true) or resumed it.
    Hold(bool),
    Handoff(HandoffReport),
    /// Signalling ended the call (BYE, CANCEL, session expiry, …).
    Ended(EndedBy),
}

#[derive(Debug, Clone, PartialEq)]
pub enum CoreOutput {
    Score(ScoreJob),
    Event(CallEvent),
    Command(Command),
}

pub struct CallCore {
    engine: Call,
    front: Option<FrontEnd>,
    prompts: PromptSchedule,
    handoff: Handoff,
    queues: Arc<HashMap<String, String>>,
    inactivity: Option<Duration>,
    now: Duration,
    on_hold: bool,
    last_packet: Duration,
    ended_by: Option<EndedBy>,
    finished: bool,
    summary: CallSummary,
    outputs: VecDeque<CoreOutput>,
}

impl CallCore {
    /// Answers the call at call time 0. Without a front end, the call hears
    /// only what [`CoreInput::Engine`] gives it.
    pub fn new(setup: CoreSetup, front: Option<FrontEnd>) -> CallCore {
        let mut core = CallCore {
            engine: Call::new(setup.engine, setup.menu),
            front,
            prompts: PromptSchedule::new(setup.prompt_lengths),
            handoff: Handoff::new(setup.handoff),
            queues: setup.queues,
            inactivity: setup.inactivity,
            now: Duration::ZERO,
            on_hold: false,
            last_packet: Duration::ZERO,
            ended_by: None,
            finished: false,
            summary: CallSummary {
                started: Some(setup.started),
                ..CallSummary::default()
            },
            outputs: VecDeque::new(),
        };
        if let Some(notice) = setup.notice {
            core.prompts.queue(Duration::ZERO, notice, Asker::Gateway);
        }
        let started = Input::Started {
            caller: setup.caller.caller,
            dialed: setup.caller.dialed,
            recent_calls: setup.caller.recent_calls,
            verified: setup.caller.verified,
        };
        core.deliver(Duration::ZERO, started, true);
        core
    }

    /// Caller audio played out at `now`: heard unless the call is on hold or
    /// handed over.
    pub fn handle_audio(&mut self, now: Duration, samples: &[f32]) {
        let listening = !self.on_hold && !self.handoff.is_started() && self.ended_by.is_none();
        if let (true, Some(front)) = (listening, self.front.as_mut()) {
            front.hear(now, samples);
        }
        self.pump();
    }

    pub fn handle_input(&mut self, now: Duration, input: CoreInput) {
        if self.finished {
            return;
        }
        if let CoreInput::Scored { token, row } = input {
            // An answer does not move the clock: its input is stamped with
            // the audio's time, or the call's time if that has moved on.
            if let Some(front) = self.front.as_mut() {
                front.answer(token, row);
            }
            self.pump();
            return;
        }
        let now = self.clock(now);
        match input {
            CoreInput::Engine(Input::HungUp) => self.on_ended(now, EndedBy::Caller),
            CoreInput::Engine(input) => self.deliver_at(now, input),
            CoreInput::CallerPacket => self.last_packet = now,
            CoreInput::Scored { .. } => {}
            CoreInput::Dtmf(digit) => self.deliver_at(now, Input::Dtmf(digit)),
            CoreInput::Hold(on_hold) => self.on_hold = on_hold,
            CoreInput::Handoff(report) => {
                self.advance_to(now);
                self.handoff.report(now, report);
                self.run_handoff(now);
            }
            CoreInput::Ended(by) => self.on_ended(now, by),
        }
        self.pump();
    }

    /// Runs everything due by `now`: prompt ends, engine deadlines, the
    /// hand-over's waits, the dead-line rule.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.finished {
            return;
        }
        let now = self.clock(now);
        self.advance_to(now);
        self.pump();
    }

    /// When [`Self::handle_timeout`] must run if nothing else happens first.
    pub fn next_timeout(&self) -> Option<Duration> {
        if self.finished {
            return None;
        }
        [
            self.engine.next_deadline(),
            self.prompts.next_end(),
            self.handoff.next_timeout(),
            self.dead_line_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn poll_output(&mut self) -> Option<CoreOutput> {
        self.outputs.pop_front()
    }

    /// The prompt frame to send at `at`, if a prompt is playing.
    pub fn prompt_frame(&self, at: Duration) -> Option<PromptFrame<'_>> {
        self.prompts.frame_at(at)
    }

    /// True once the call was hung up by either side: the driver ends it
    /// with [`Self::finish`] when signalling is done.
    pub fn is_over(&self) -> bool {
        self.ended_by.is_some()
    }

    pub fn is_bridged(&self) -> bool {
        self.handoff.is_bridged()
    }

    /// Voiced caller audio heard so far.
    pub fn voiced(&self) -> Duration {
        self.front
            .as_ref()
            .map(FrontEnd::voiced)
            .unwrap_or_default()
    }

    /// Ends the call at `now` (the caller hangs up unless someone already
    /// did): the engine's last actions, then the summary, are the last events.
    pub fn finish(&mut self, now: Duration) {
        if self.finished {
            return;
        }
        self.handle_timeout(now);
        let now = self.now;
        if self.ended_by.is_none() {
            self.on_ended(now, EndedBy::Caller);
        } else if !self.engine.is_ended() {
            // The gateway or the agent ended it: the engine still closes the
            // record, but the caller did not hang up.
            self.deliver(now, Input::HungUp, false);
        }
        self.finished = true;
        let mut summary = self.summary.clone();
        summary.duration = now;
        summary.ended_by = self.ended_by;
        if let Some(outcome) = summary.transfer.as_mut() {
            // Replay has no line: the transfer was decided, not carried out.
            outcome.via = self.inactivity.and(self.handoff.via());
        }
        self.emit(now, EventKind::Ended(Box::new(summary)));
    }

    fn clock(&mut self, now: Duration) -> Duration {
        self.now = self.now.max(now);
        self.now
    }

    /// Moves the front end's jobs out and its decisions into the engine,
    /// each window decided in the state the call is in at its time.
    fn pump(&mut self) {
        loop {
            let Some(front) = self.front.as_mut() else {
                return;
            };
            while let Some(job) = front.poll_job() {
                self.outputs.push_back(CoreOutput::Score(job));
            }
            let Some(at) = front.next_ready() else {
                return;
            };
            self.advance_to(at.max(self.now));
            let menu_waiting = self.engine.awaits_choice();
            let Some((at, input)) = self
                .front
                .as_mut()
                .and_then(|f| f.decide_next(menu_waiting))
            else {
                continue;
            };
            self.deliver_at(at, input);
        }
    }

    /// Delivers an input at `at`, or now if the call has moved past it (a
    /// model answering late on a live call).
    fn deliver_at(&mut self, at: Duration, input: Input) {
        let at = at.max(self.now);
        self.advance_to(at);
        self.deliver(at, input, true);
    }

    /// Runs what falls due by `at`, in time order; a prompt ending at the
    /// same time as an engine deadline ends first.
    fn advance_to(&mut self, at: Duration) {
        loop {
            let prompt_end = self.prompts.next_end().filter(|end| *end <= at);
            let deadline = self.engine.next_deadline().filter(|due| *due <= at);
            let handoff = self.handoff.next_timeout().filter(|due| *due <= at);
            let dead_line = self.dead_line_at().filter(|due| *due <= at);
            match (prompt_end, deadline, handoff, dead_line) {
                (Some(end), deadline, _, _) if deadline.map_or(true, |d| end <= d) => {
                    self.finish_prompt(end)
                }
                (_, Some(due), _, _) => self.deliver(due, Input::Tick, false),
                (_, _, Some(due), _) => {
                    self.handoff.handle_timeout(due);
                    self.run_handoff(due);
                }
                (_, _, _, Some(due)) => {
                    tracing::warn!(
                        seconds = (due - self.last_packet).as_secs_f64(),
                        "no RTP from the caller: hanging up"
                    );
                    self.hang_up(EndedBy::Timeout);
                }
                _ => break,
            }
        }
        self.now = self.now.max(at);
    }

    fn finish_prompt(&mut self, at: Duration) {
        if self.prompts.finish_current() == Some(Asker::Engine) {
            self.deliver(at, Input::PromptDone, false);
        }
    }

    /// When the line counts as dead, if it can.
    fn dead_line_at(&self) -> Option<Duration> {
        let limit = self.inactivity?;
        let can_die = !self.on_hold && !self.handoff.is_bridged() && self.ended_by.is_none();
        can_die.then(|| self.last_packet + limit)
    }

    fn deliver(&mut self, at: Duration, input: Input, logged: bool) {
        self.now = self.now.max(at);
        if logged && !matches!(input, Input::Tick | Input::PromptDone) {
            self.emit(at, EventKind::Heard(input.clone()));
        }
        self.engine.handle(at, input);
        while let Some(action) = self.engine.poll_action() {
            self.emit(at, EventKind::Did(action.clone()));
            self.execute(at, action);
        }
    }

    fn execute(&mut self, at: Duration, action: Action) {
        match action {
            Action::Play(prompt) => self.prompts.queue(at, prompt, Asker::Engine),
            Action::StopPrompts => self.prompts.stop(),
            Action::Transfer(transfer) => {
                let uri = self.queues.get(&transfer.target).cloned();
                if let Some(outcome) = self.summary.transfer.as_mut() {
                    outcome.uri = uri.clone();
                }
                self.prompts.stop();
                let wait_in = WaitIn {
                    queue: transfer.target.clone(),
                    priority: transfer.priority,
                };
                self.handoff
                    .start(uri.unwrap_or_else(|| transfer.target.clone()), wait_in);
                self.run_handoff(at);
            }
            Action::HangUp { .. } => self.hang_up(EndedBy::Gateway),
            Action::Menu(_) | Action::StartRecording | Action::StopRecording => {}
        }
    }

    fn run_handoff(&mut self, at: Duration) {
        while let Some(action) = self.handoff.poll_action() {
            match action {
                HandoffAction::Signal(command) => {
                    if command == Command::Bridge {
                        self.prompts.stop();
                    }
                    self.outputs.push_back(CoreOutput::Command(command));
                }
                HandoffAction::Sorry { prompt, retry_s } => {
                    self.prompts.stop();
                    self.prompts.queue(at, prompt.clone(), Asker::Handoff);
                    self.emit(at, EventKind::Queued { prompt, retry_s });
                }
                HandoffAction::Announce { place, prompts } => {
                    for prompt in prompts {
                        self.prompts.queue(at, prompt, Asker::Handoff);
                    }
                    let kind = EventKind::QueuePlace {
                        position: place.position,
                        expected_wait_s: place.expected_wait.as_secs_f64().round(),
                    };
                    self.emit(at, kind);
                }
                HandoffAction::Leave { by_agent } => self.hang_up(if by_agent {
                    EndedBy::Agent
                } else {
                    EndedBy::Gateway
                }),
            }
        }
    }

    fn hang_up(&mut self, by: EndedBy) {
        if self.ended_by.is_none() {
            self.ended_by = Some(by);
            self.prompts.stop();
            self.outputs.push_back(CoreOutput::Command(Command::HangUp));
        }
    }

    fn on_ended(&mut self, now: Duration, by: EndedBy) {
        if self.ended_by.is_some() {
            return;
        }
        self.advance_to(now);
        self.ended_by = Some(by);
        self.prompts.stop();
        self.deliver(now, Input::HungUp, by == EndedBy::Caller);
    }

    fn emit(&mut self, at: Duration, kind: EventKind) {
        let event = CallEvent { at, kind };
        self.summary.record(&event);
        self.outputs.push_back(CoreOutput::Event(event));
    }
}
