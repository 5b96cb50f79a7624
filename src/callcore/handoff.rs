//! The hand-over of a call to a human, with time passed in: REFER the
//! caller's phone to the queue (RFC 3515), wait for its final NOTIFY; if the
//! phone refuses or the transfer fails, call the agent and bridge the two; if
//! no agent answers, keep the caller queued and try again.

use std::time::Duration;

use super::events::Via;
use crate::engine::Priority;
use crate::queues::Place;

/// How the hand-over waits and retries.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffSettings {
    /// Played to a caller no agent could be reached for.
    pub sorry_prompt: String,
    /// Between attempts to reach the agent for a queued caller.
    pub retry: Duration,
    /// How long a REFER the phone accepted may go without a final NOTIFY
    /// before voicegate takes the transfer as done and leaves the call.
    pub notify_wait: Duration,
    /// Tell a waiting caller their place and expected wait when it changes.
    pub announce_place: bool,
}

impl Default for HandoffSettings {
    fn default() -> Self {
        HandoffSettings {
            sorry_prompt: "agents_busy".into(),
            retry: Duration::from_secs(15),
            notify_wait: Duration::from_secs(10),
            announce_place: true,
        }
    }
}

/// What the signalling side reports about the hand-over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffReport {
    /// The phone answered the REFER 202.
    ReferAccepted,
    /// The phone answered the REFER with this failure code.
    ReferRefused(u16),
    /// The phone's final NOTIFY: the status line of the transfer (sipfrag).
    ReferCompleted(u16),
    /// The agent answered voicegate's INVITE.
    AgentAnswered,
    /// The agent could not be reached (its final response, or 0 when no
    /// call could be placed at all).
    AgentFailed(u16),
    AgentHungUp,
    /// The caller's place in the line of callers waiting for an agent.
    Place(Place),
}

/// What signalling or media must do for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Refer {
        uri: String,
    },
    CallAgent {
        uri: String,
    },
    /// Relay audio between the caller and the agent who answered.
    Bridge,
    /// Let an agent go (one who answered when nobody was waiting for one).
    HangUpAgent,
    /// End the caller's leg (BYE).
    HangUp,
    /// Wait in this queue's line: no agent could be reached.
    JoinQueue {
        queue: String,
        priority: Priority,
    },
    /// An agent took the caller: out of the line.
    LeaveQueue,
}

/// The line a caller waits in when no agent can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitIn {
    pub queue: String,
    pub priority: Priority,
}

/// What the hand-over needs done.
#[derive(Debug, Clone, PartialEq)]
pub enum HandoffAction {
    Signal(Command),
    /// Play the sorry prompt to the queued caller.
    Sorry {
        prompt: String,
        retry_s: f64,
    },
    /// Tell the caller these prompts: their place and expected wait.
    Announce {
        place: Place,
        prompts: Vec<String>,
    },
    /// The caller was handed over (or the agent left): the call is over.
    Leave {
        by_agent: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Idle,
    Referring { accepted_at: Option<Duration> },
    CallingAgent,
    Bridged,
    Queued { retry_at: Duration },
    Done,
}

#[derive(Debug)]
pub struct Handoff {
    settings: HandoffSettings,
    state: State,
    uri: String,
    via: Option<Via>,
    wait_in: Option<WaitIn>,
    in_line: bool,
    /// In the line of waiting callers; `None` until the line tells (or
    /// where there is none, as in replay: then the caller retries alone).
    position: Option<usize>,
    actions: Vec<HandoffAction>,
}

impl Handoff {
    pub fn new(settings: HandoffSettings) -> Handoff {
        Handoff {
            settings,
            state: State::Idle,
            uri: String::new(),
            via: None,
            wait_in: None,
            in_line: false,
            position: None,
            actions: Vec::new(),
        }
    }

    /// Hands the call to `uri`, by REFER first (an agent page, which no
    /// phone can be referred to, is called and bridged at once); waits in
    /// `wait_in` if no agent can be reached.
    pub fn start(&mut self, uri: String, wait_in: WaitIn) {
        if self.state != State::Idle {
            return;
        }
        self.uri = uri;
        self.wait_in = Some(wait_in);
        if agent_page_queue(&self.uri).is_some() {
            self.via = Some(Via::Bridge);
            return self.call_agent();
        }
        self.state = State::Referring { accepted_at: None };
        self.via = Some(Via::Refer);
        self.signal(Command::Refer {
            uri: self.uri.clone(),
        });
    }

    pub fn is_started(&self) -> bool {
        self.state != State::Idle
    }

    pub fn is_bridged(&self) -> bool {
        self.state == State::Bridged
    }

    /// How the transfer was carried out so far.
    pub fn via(&self) -> Option<Via> {
        self.via
    }

    pub fn report(&mut self, now: Duration, report: HandoffReport) {
        match (report, &self.state) {
            (HandoffReport::ReferAccepted, State::Referring { .. }) => {
                self.state = State::Referring {
                    accepted_at: Some(now),
                }
            }
            (HandoffReport::ReferCompleted(code), State::Referring { .. })
                if (200..300).contains(&code) =>
            {
                self.finish(false)
            }
            (
                HandoffReport::ReferCompleted(_) | HandoffReport::ReferRefused(_),
                State::Referring { .. },
            ) => self.call_agent(),
            (HandoffReport::AgentAnswered, State::CallingAgent) => {
                self.state = State::Bridged;
                self.via = Some(Via::Bridge);
                self.signal(Command::Bridge);
                self.leave_line();
            }
            (HandoffReport::AgentAnswered, _) => self.signal(Command::HangUpAgent),
            (HandoffReport::AgentFailed(_), State::CallingAgent) => self.queue(now),
            (HandoffReport::AgentHungUp, State::Bridged) => self.finish(true),
            (HandoffReport::Place(place), State::Queued { .. } | State::CallingAgent)
                if self.in_line =>
            {
                self.take_place(place)
            }
            _ => {}
        }
    }

    /// When [`Self::handle_timeout`] must run if nothing else happens.
    pub fn next_timeout(&self) -> Option<Duration> {
        match self.state {
            State::Referring {
                accepted_at: Some(at),
            } => Some(at + self.settings.notify_wait),
            State::Queued { retry_at } if self.at_head() => Some(retry_at),
            _ => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Duration) {
        if self.next_timeout().map_or(true, |due| now < due) {
            return;
        }
        match self.state {
            // No final NOTIFY: phones that never send one have transferred anyway.
            State::Referring { .. } => self.finish(false),
            State::Queued { .. } => self.call_agent(),
            _ => {}
        }
    }

    pub fn poll_action(&mut self) -> Option<HandoffAction> {
        if self.actions.is_empty() {
            return None;
        }
        Some(self.actions.remove(0))
    }

    fn call_agent(&mut self) {
        self.state = State::CallingAgent;
        if self.via == Some(Via::Refer) {
            self.via = Some(Via::Bridge);
        }
        self.signal(Command::CallAgent {
            uri: self.uri.clone(),
        });
    }

    fn queue(&mut self, now: Duration) {
        self.state = State::Queued {
            retry_at: now + self.settings.retry,
        };
        self.via = Some(Via::Queued);
        self.actions.push(HandoffAction::Sorry {
            prompt: self.settings.sorry_prompt.clone(),
            retry_s: self.settings.retry.as_secs_f64(),
        });
        if !self.in_line {
            if let Some(WaitIn { queue, priority }) = self.wait_in.clone() {
                self.in_line = true;
                self.signal(Command::JoinQueue { queue, priority });
            }
        }
    }

    /// Only the head of the line tries the agent: the others wait their turn.
    fn at_head(&self) -> bool {
        self.position.map_or(true, |position| position <= 1)
    }

    fn take_place(&mut self, place: Place) {
        let reached_head = place.position == 1 && !self.at_head();
        self.position = Some(place.position);
        if self.settings.announce_place {
            let prompts = announcement(place);
            self.actions
                .push(HandoffAction::Announce { place, prompts });
        }
        if reached_head && matches!(self.state, State::Queued { .. }) {
            self.call_agent();
        }
    }

    fn leave_line(&mut self) {
        if self.in_line {
            self.in_line = false;
            self.position = None;
            self.signal(Command::LeaveQueue);
        }
    }

    fn finish(&mut self, by_agent: bool) {
        self.state = State::Done;
        self.actions.push(HandoffAction::Leave { by_agent });
    }

    fn signal(&mut self, command: Command) {
        self.actions.push(HandoffAction::Signal(command));
    }
}

/// The prefix of a queue target that is the browser agent page
/// (`/agent?queue=NAME`) rather than a SIP URI.
pub const AGENT_PAGE: &str = "/agent?queue=";

/// The agent page's queue name, if `uri` names an agent page.
pub fn agent_page_queue(uri: &str) -> Option<&str> {
    uri.strip_prefix(AGENT_PAGE)
}

/// The prompts that tell a waiting caller their place ("queue_position_1"
/// to "_9", then "queue_position_more") and expected wait in whole minutes
/// ("queue_wait_1" to "_5", then "queue_wait_more").
pub fn announcement(place: Place) -> Vec<String> {
    let position = match place.position {
        1..=9 => place.position.to_string(),
        _ => "more".to_string(),
    };
    let minutes = place.expected_wait.as_secs().div_ceil(60).max(1);
    let wait = match minutes {
        1..=5 => minutes.to_string(),
        _ => "more".to_string(),
    };
    vec![
        format!("queue_position_{position}"),
        format!("queue_wait_{wait}"),
    ]
}

/// Every prompt [`announcement`] can name, for loading at start-up.
pub fn announcement_prompts() -> Vec<String> {
    let numbered = |stem: &'static str, last: usize| {
        (1..=last)
            .map(|n| n.to_string())
            .chain(["more".to_string()])
            .map(move |n| format!("{stem}_{n}"))
    };
    numbered("queue_position", 9)
        .chain(numbered("queue_wait", 5))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn drain(handoff: &mut Handoff) -> Vec<HandoffAction> {
        std::iter::from_fn(|| handoff.poll_action()).collect()
    }

    fn started() -> Handoff {
        let mut handoff = Handoff::new(HandoffSettings::default());
        handoff.start(
            "sip:priority@pbx".into(),
            WaitIn {
                queue: "priority".into(),
                priority: Priority::High,
            },
        );
        handoff
    }

    #[test]
    fn an_accepted_refer_ends_the_call_on_the_final_notify() {
        let mut handoff = started();
        assert_eq!(
            drain(&mut handoff),
            [HandoffAction::Signal(Command::Refer {
                uri: "sip:priority@pbx".into()
            })]
        );
        handoff.report(secs(1.0), HandoffReport::ReferAccepted);
        handoff.report(secs(2.0), HandoffReport::ReferCompleted(200));
        assert_eq!(
            drain(&mut handoff),
            [HandoffAction::Leave { by_agent: false }]
        );
        assert_eq!(handoff.via(), Some(Via::Refer));
    }

    #[test]
    fn without_a_final_notify_the_gateway_leaves_after_the_wait() {
        let mut handoff = started();
        drain(&mut handoff);
        handoff.report(secs(1.0), HandoffReport::ReferAccepted);
        assert_eq!(handoff.next_timeout(), Some(secs(11.0)));
        handoff.handle_timeout(secs(10.9));
        assert!(drain(&mut handoff).is_empty());
        handoff.handle_timeout(secs(11.0));
        assert_eq!(
            drain(&mut handoff),
            [HandoffAction::Leave { by_agent: false }]
        );
        assert_eq!(handoff.next_timeout(), None);
    }

    #[test]
    fn a_refused_refer_calls_the_agent_and_bridges_when_it_answers() {
        let mut handoff = started();
        drain(&mut handoff);
        handoff.report(secs(1.0), HandoffReport::ReferRefused(403));
        assert_eq!(
            drain(&mut handoff),
            [HandoffAction::Signal(Command::CallAgent {
                uri: "sip:priority@pbx".into()
            })]
        );
        handoff.report(secs(2.0), HandoffReport::AgentAnswered);
        assert_eq!(
            drain(&mut handoff),
            [HandoffAction::Signal(Command::Bridge)]
        );
        assert!(handoff.is_bridged());
        assert_eq!(handoff.via(), Some(Via::Bridge));
        handoff.report(secs(30.0), HandoffReport::AgentHungUp);
        assert_eq!(
            drain(&mut handoff),
            [HandoffAction::Leave { by_agent: true }]
        );
    }

    #[test]
    fn an_agent_page_is_called_and_bridged_without_a_refer() {
        let mut handoff = Handoff::new(HandoffSettings::default());
        let wait_in = WaitIn {
            queue: "priority".into(),
            priority: Priority::High,
        };
        handoff.start("/agent?queue=desk".into(), wait_in);
        assert_eq!(
            drain(&mut handoff),
            [HandoffAction::Signal(Command::CallAgent {
                uri: "/agent?queue=desk".into()
            })]
        );
        assert_eq!(handoff.via(), Some(Via::Bridge));
        handoff.report(secs(1.0), HandoffReport::AgentAnswered);
        assert_eq!(
            drain(&mut handoff),
            [HandoffAction::Signal(Command::Bridge)]
        );
        assert!(handoff.is_bridged());
    }

    #[test]
    fn a_failed_transfer_notify_also_falls_back_to_the_bridge() {
        let mut handoff = started();
        drain(&mut handoff);
        handoff.report(secs(1.0), HandoffReport::ReferAccepted);
        handoff.report(secs(3.0), HandoffReport::ReferCompleted(486));
        assert!(matches!(
            drain(&mut handoff)[..],
            [HandoffAction::Signal(Command::CallAgent { .. })]
        ));
    }

    #[test]
    fn a_busy_agent_queues_the_caller_and_retries_every_retry_period() {
        let mut handoff = started();
        handoff.report(secs(1.0), HandoffReport::ReferRefused(501));
        handoff.report(secs(1.5), HandoffReport::AgentFailed(486));
        let actions = drain(&mut handoff);
        assert_eq!(
            actions[actions.len() - 2..],
            [
                HandoffAction::Sorry {
                    prompt: "agents_busy".into(),
                    retry_s: 15.0
                },
                HandoffAction::Signal(Command::JoinQueue {
                    queue: "priority".into(),
                    priority: Priority::High
                })
            ]
        );
        assert_eq!(handoff.via(), Some(Via::Queued));
        assert_eq!(handoff.next_timeout(), Some(secs(16.5)));
        handoff.handle_timeout(secs(16.5));
        assert!(matches!(
            drain(&mut handoff)[..],
            [HandoffAction::Signal(Command::CallAgent { .. })]
        ));
        handoff.report(secs(17.0), HandoffReport::AgentFailed(486));
        assert_eq!(handoff.next_timeout(), Some(secs(32.0)));
    }

    fn waiting_behind_others() -> Handoff {
        let mut handoff = started();
        handoff.report(secs(1.0), HandoffReport::ReferRefused(501));
        handoff.report(secs(1.5), HandoffReport::AgentFailed(486));
        drain(&mut handoff);
        handoff.report(secs(1.5), HandoffReport::Place(place(3, 180)));
        handoff
    }

    fn place(position: usize, wait_s: u64) -> Place {
        Place {
            position,
            expected_wait: Duration::from_secs(wait_s),
        }
    }

    #[test]
    fn a_caller_behind_others_hears_their_place_and_waits_without_trying_the_agent() {
        let mut handoff = waiting_behind_others();
        assert_eq!(
            drain(&mut handoff),
            [HandoffAction::Announce {
                place: place(3, 180),
                prompts: vec!["queue_position_3".into(), "queue_wait_3".into()]
            }]
        );
        assert_eq!(
            handoff.next_timeout(),
            None,
            "only the head of the line retries"
        );
        handoff.handle_timeout(secs(100.0));
        assert!(drain(&mut handoff).is_empty());
    }

    #[test]
    fn reaching_the_head_of_the_line_tries_the_agent_at_once_and_an_answer_leaves_the_line() {
        let mut handoff = waiting_behind_others();
        drain(&mut handoff);
        handoff.report(secs(40.0), HandoffReport::Place(place(1, 60)));
        let actions = drain(&mut handoff);
        assert!(
            matches!(
                &actions[..],
                [
                    HandoffAction::Announce { .. },
                    HandoffAction::Signal(Command::CallAgent { .. })
                ]
            ),
            "{actions:?}"
        );
        handoff.report(secs(41.0), HandoffReport::AgentAnswered);
        assert_eq!(
            drain(&mut handoff),
            [
                HandoffAction::Signal(Command::Bridge),
                HandoffAction::Signal(Command::LeaveQueue)
            ]
        );
        handoff.report(secs(42.0), HandoffReport::Place(place(1, 60)));
        assert!(
            drain(&mut handoff).is_empty(),
            "out of the line: no more places"
        );
    }

    #[test]
    fn the_announcement_names_places_to_nine_and_waits_to_five_minutes() {
        assert_eq!(
            announcement(place(1, 0)),
            ["queue_position_1", "queue_wait_1"]
        );
        assert_eq!(
            announcement(place(9, 61)),
            ["queue_position_9", "queue_wait_2"]
        );
        assert_eq!(
            announcement(place(10, 301)),
            ["queue_position_more", "queue_wait_more"]
        );
        let every = announcement_prompts();
        assert_eq!(every.len(), 16);
        for (position, wait) in [(1, 0), (4, 200), (12, 9_000)] {
            for prompt in announcement(place(position, wait)) {
                assert!(every.contains(&prompt), "{prompt} is loaded at start-up");
            }
        }
    }

    #[test]
    fn an_agent_answering_late_is_let_go() {
        let mut handoff = started();
        handoff.report(secs(1.0), HandoffReport::ReferRefused(403));
        handoff.report(secs(1.5), HandoffReport::AgentFailed(408));
        drain(&mut handoff);
        handoff.report(secs(2.0), HandoffReport::AgentAnswered);
        assert_eq!(
            drain(&mut handoff),
            [HandoffAction::Signal(Command::HangUpAgent)]
        );
        assert!(!handoff.is_bridged());
    }

    #[test]
    fn reports_before_the_transfer_change_nothing() {
        let mut handoff = Handoff::new(HandoffSettings::default());
        handoff.report(secs(1.0), HandoffReport::ReferCompleted(200));
        handoff.report(secs(1.0), HandoffReport::AgentHungUp);
        assert!(drain(&mut handoff).is_empty());
        assert!(!handoff.is_started());
    }
}
