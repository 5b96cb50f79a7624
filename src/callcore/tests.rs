//! The call core driven in simulated time: what a caller on a live line
//! would get, without a socket, a clock or a model.

use std::path::Path;

use super::*;
use crate::audio::FRAME_SAMPLES;
use crate::engine::{Action, Reason};
use crate::infer::Calibration;
use crate::menu::parse_menu;
use crate::queues::Place;

const MENU: &str = r#"
entry = "main"
[nodes.main]
prompt = "welcome"
options = [ { key = "1", goto = "billing" } ]
[nodes.billing]
prompt = "billing"
options = [ { key = "1", action = "flow:balance" } ]
"#;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn setup(menu: bool) -> CoreSetup {
    let lengths = HashMap::from([
        ("welcome".to_string(), secs(3.0)),
        ("billing".to_string(), secs(2.0)),
        ("agents_busy".to_string(), secs(1.0)),
        ("recording_notice".to_string(), secs(2.0)),
    ]);
    let menu = menu.then(|| Arc::new(parse_menu(MENU, Path::new("menu.toml")).unwrap()));
    CoreSetup {
        engine: Arc::new(EngineConfig::default()),
        menu,
        caller: CallerId::default(),
        started: SystemTime::UNIX_EPOCH,
        prompt_lengths: Arc::new(lengths),
        queues: Arc::new(HashMap::from([(
            "priority".to_string(),
            "sip:priority@pbx".to_string(),
        )])),
        handoff: HandoffSettings::default(),
        inactivity: Some(secs(5.0)),
        notice: None,
    }
}

/// Raw model output r scores 50 + 5 r.
fn front_end() -> FrontEnd {
    let anger = AngerSetup {
        window: 1600,
        hop: 800,
        calibration: Calibration {
            kind: "piecewise_linear".into(),
            logit: vec![-10.0, 10.0],
            score: vec![0.0, 100.0],
            adapt_weight: 0.0,
            baseline_shift: 0.0,
            baseline_prior_logit: 0.0,
            baseline_prior_windows: 1.0,
        },
        smoothing: 1.0,
    };
    FrontEnd::new(anger, None)
}

/// Syllables of a 180 Hz voice, four a second.
fn speech(n: usize) -> f32 {
    let t = n as f32 / 8000.0;
    let syllable = ((t * 4.0).fract() < 0.7) as u8 as f32;
    0.2 * syllable * (2.0 * std::f32::consts::PI * 180.0 * t).sin()
}

/// A core and everything it put out, split by kind.
struct Driven {
    core: CallCore,
    events: Vec<CallEvent>,
    commands: Vec<Command>,
    jobs: Vec<ScoreJob>,
}

impl Driven {
    fn new(setup: CoreSetup) -> Driven {
        let mut driven = Driven {
            core: CallCore::new(setup, Some(front_end())),
            events: Vec::new(),
            commands: Vec::new(),
            jobs: Vec::new(),
        };
        driven.collect();
        driven
    }

    fn input(&mut self, at: f64, input: CoreInput) {
        self.core.handle_input(secs(at), input);
        self.collect();
    }

    fn timeout(&mut self, at: f64) {
        self.core.handle_timeout(secs(at));
        self.collect();
    }

    /// Talk from `from` to `to` seconds, in 20 ms frames, as replay feeds
    /// it: the clock moves only with what the audio makes happen.
    fn talk(&mut self, from: f64, to: f64) {
        let frames = ((to - from) * 50.0).round() as usize;
        let first = (from * 8000.0).round() as usize;
        for frame in 1..=frames {
            let at = secs(from + frame as f64 * 0.02);
            let start = first + (frame - 1) * FRAME_SAMPLES;
            let samples: Vec<f32> = (start..start + FRAME_SAMPLES).map(speech).collect();
            self.core.handle_audio(at, &samples);
            self.collect();
        }
    }

    /// Answers every job asked for so far with raw output `raw` (score 50 + 5 raw).
    fn answer_all(&mut self, at: f64, raw: f32) {
        for job in std::mem::take(&mut self.jobs) {
            self.input(
                at,
                CoreInput::Scored {
                    token: job.token,
                    row: Some(vec![raw]),
                },
            );
        }
    }

    fn collect(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                CoreOutput::Score(job) => self.jobs.push(job),
                CoreOutput::Event(event) => self.events.push(event),
                CoreOutput::Command(command) => self.commands.push(command),
            }
        }
    }

    fn angers(&self) -> Vec<(Duration, f32)> {
        self.events
            .iter()
            .filter_map(|event| match event.kind {
                EventKind::Heard(Input::Anger { score }) => Some((event.at, score)),
                _ => None,
            })
            .collect()
    }

    fn summary(&self) -> &CallSummary {
        match &self.events.last().expect("events").kind {
            EventKind::Ended(summary) => summary,
            other => panic!("the last event is {other:?}, not the summary"),
        }
    }

    /// Angry talk until the engine transfers.
    fn get_transferred(&mut self) {
        self.talk(0.0, 1.0);
        self.answer_all(1.0, 8.0);
    }
}

#[test]
fn scores_reach_the_engine_in_audio_order_whatever_order_the_model_answers_in() {
    let mut call = Driven::new(setup(false));
    call.talk(0.0, 1.5);
    let jobs = std::mem::take(&mut call.jobs);
    assert!(jobs.len() >= 3, "{} windows from 1.5 s of talk", jobs.len());
    for (job, raw) in jobs.iter().zip([2.0, 4.0, 6.0]).rev() {
        call.input(
            1.5,
            CoreInput::Scored {
                token: job.token,
                row: Some(vec![raw]),
            },
        );
    }
    let scores: Vec<f32> = call.angers().iter().map(|(_, score)| *score).collect();
    assert_eq!(scores, [60.0, 70.0, 80.0]);
    let times: Vec<Duration> = call.angers().iter().map(|(at, _)| *at).collect();
    assert!(times.windows(2).all(|pair| pair[0] < pair[1]), "{times:?}");
}

#[test]
fn an_answer_is_stamped_with_its_audio_time_until_the_call_moved_on() {
    let mut call = Driven::new(setup(false));
    call.talk(0.0, 1.0);
    let asked_at = call.core.next_timeout();
    call.answer_all(1.0, 0.0);
    let (at, _) = call.angers()[0];
    assert!(
        at < secs(1.0),
        "replay's answer keeps the audio time: {at:?}"
    );
    call.talk(1.0, 1.5);
    call.timeout(3.0);
    call.answer_all(3.0, 0.0);
    let (late, _) = *call.angers().last().unwrap();
    assert_eq!(
        late,
        secs(3.0),
        "a live answer after the clock moved on ({asked_at:?})"
    );
}

#[test]
fn sustained_anger_refers_the_caller_to_the_queue_uri() {
    let mut call = Driven::new(setup(false));
    call.get_transferred();
    assert_eq!(
        call.commands,
        [Command::Refer {
            uri: "sip:priority@pbx".into()
        }]
    );
    call.input(1.2, CoreInput::Handoff(HandoffReport::ReferAccepted));
    call.input(1.5, CoreInput::Handoff(HandoffReport::ReferCompleted(200)));
    assert_eq!(call.commands.last(), Some(&Command::HangUp));
    assert!(call.core.is_over());
    call.core.finish(secs(1.6));
    call.collect();
    let summary = call.summary();
    let outcome = summary.transfer.as_ref().unwrap();
    assert_eq!(outcome.transfer.reason, Reason::Anger);
    assert_eq!(outcome.uri.as_deref(), Some("sip:priority@pbx"));
    assert_eq!(outcome.via, Some(Via::Refer));
    assert_eq!(summary.ended_by, Some(EndedBy::Gateway));
}

#[test]
fn the_last_engine_actions_are_kept_when_the_gateway_ended_the_call() {
    let mut call = Driven::new(setup(false));
    call.get_transferred();
    call.input(1.2, CoreInput::Handoff(HandoffReport::ReferCompleted(200)));
    call.core.finish(secs(1.3));
    call.collect();
    let kinds: Vec<&EventKind> = call.events.iter().map(|e| &e.kind).collect();
    let n = kinds.len();
    assert_eq!(kinds[n - 2], &EventKind::Did(Action::StopRecording));
    assert!(
        !kinds.contains(&&EventKind::Heard(Input::HungUp)),
        "the caller did not hang up"
    );
}

#[test]
fn a_phone_that_never_sends_the_final_notify_is_left_after_the_wait() {
    let mut call = Driven::new(CoreSetup {
        inactivity: None,
        ..setup(false)
    });
    call.get_transferred();
    call.input(1.1, CoreInput::Handoff(HandoffReport::ReferAccepted));
    assert_eq!(call.core.next_timeout(), Some(secs(11.1)));
    call.timeout(11.0);
    assert!(!call.core.is_over());
    call.timeout(11.1);
    assert_eq!(call.commands.last(), Some(&Command::HangUp));
}

#[test]
fn a_refused_refer_bridges_to_the_agent_and_a_busy_agent_queues_the_caller() {
    let mut call = Driven::new(CoreSetup {
        inactivity: Some(secs(20.0)),
        ..setup(false)
    });
    call.get_transferred();
    call.input(1.1, CoreInput::Handoff(HandoffReport::ReferRefused(403)));
    assert_eq!(
        call.commands.last(),
        Some(&Command::CallAgent {
            uri: "sip:priority@pbx".into()
        })
    );
    call.input(1.5, CoreInput::Handoff(HandoffReport::AgentFailed(486)));
    let queued = call.events.iter().find_map(|event| match &event.kind {
        EventKind::Queued { prompt, retry_s } => Some((event.at, prompt.clone(), *retry_s)),
        _ => None,
    });
    assert_eq!(queued, Some((secs(1.5), "agents_busy".to_string(), 15.0)));
    let frame = call.core.prompt_frame(secs(1.52)).unwrap();
    assert_eq!((frame.prompt, frame.index), ("agents_busy", 1));
    call.timeout(16.5);
    assert_eq!(
        call.commands
            .iter()
            .filter(|c| matches!(c, Command::CallAgent { .. }))
            .count(),
        2,
        "tried again after transfer.retry_s"
    );
    assert!(
        call.commands
            .iter()
            .any(|c| matches!(c, Command::JoinQueue { queue, .. } if queue == "priority")),
        "{:?}",
        call.commands
    );
    call.input(
        16.6,
        CoreInput::Handoff(HandoffReport::Place(Place {
            position: 2,
            expected_wait: secs(100.0),
        })),
    );
    let place = call
        .events
        .last()
        .map(|event| (event.at, event.kind.clone()));
    assert_eq!(
        place,
        Some((
            secs(16.6),
            EventKind::QueuePlace {
                position: 2,
                expected_wait_s: 100.0
            }
        ))
    );
    call.input(17.0, CoreInput::Handoff(HandoffReport::AgentAnswered));
    assert_eq!(
        call.commands[call.commands.len() - 2..],
        [Command::Bridge, Command::LeaveQueue],
        "the agent took the caller: out of the line"
    );
    assert!(call.core.is_bridged());
    call.timeout(60.0);
    assert!(!call.core.is_over(), "a bridged call is not a dead line");
    call.input(70.0, CoreInput::Handoff(HandoffReport::AgentHungUp));
    call.core.finish(secs(70.0));
    call.collect();
    assert_eq!(call.summary().ended_by, Some(EndedBy::Agent));
    assert_eq!(
        call.summary().transfer.as_ref().unwrap().via,
        Some(Via::Bridge)
    );
}

#[test]
fn on_hold_nothing_is_scored_and_answers_already_asked_for_still_count() {
    let mut call = Driven::new(setup(false));
    call.talk(0.0, 1.0);
    let asked = call.jobs.len();
    assert!(asked > 0);
    call.input(1.0, CoreInput::Hold(true));
    call.talk(1.0, 2.0);
    assert_eq!(call.jobs.len(), asked, "hold music is not scored");
    call.answer_all(2.0, 0.0);
    assert_eq!(call.angers().len(), asked, "answers during hold are kept");
    call.input(2.0, CoreInput::Hold(false));
    call.talk(2.0, 3.0);
    assert!(!call.jobs.is_empty(), "scoring resumes after the hold");
}

#[test]
fn a_silent_line_is_hung_up_after_the_inactivity_limit_but_not_on_hold() {
    let mut call = Driven::new(setup(false));
    call.input(1.0, CoreInput::CallerPacket);
    call.timeout(5.9);
    assert!(!call.core.is_over());
    call.timeout(6.0);
    assert_eq!(call.commands, [Command::HangUp]);
    let mut held = Driven::new(setup(false));
    held.input(1.0, CoreInput::Hold(true));
    held.timeout(60.0);
    assert!(!held.core.is_over(), "on hold the caller sends no RTP");
}

#[test]
fn prompts_play_in_turn_and_a_key_cuts_them_short() {
    let mut call = Driven::new(setup(true));
    let frame = call.core.prompt_frame(secs(1.0)).unwrap();
    assert_eq!((frame.prompt, frame.index), ("welcome", 50));
    call.input(1.0, CoreInput::Dtmf('1'));
    assert!(call
        .events
        .iter()
        .any(|e| e.kind == EventKind::Did(Action::StopPrompts)));
    let frame = call.core.prompt_frame(secs(1.0)).unwrap();
    assert_eq!(
        (frame.prompt, frame.index),
        ("billing", 0),
        "the next node's prompt starts at once"
    );
    call.timeout(3.0);
    assert!(
        call.core.prompt_frame(secs(3.0)).is_none(),
        "billing ended at 3.0 s"
    );
}

#[test]
fn the_recording_notice_plays_before_the_menu_and_the_menu_waits_for_it() {
    let mut call = Driven::new(CoreSetup {
        notice: Some("recording_notice".into()),
        inactivity: None,
        ..setup(true)
    });
    let frame = call.core.prompt_frame(secs(1.0)).unwrap();
    assert_eq!((frame.prompt, frame.index), ("recording_notice", 50));
    call.timeout(2.0);
    let frame = call.core.prompt_frame(secs(2.5)).unwrap();
    assert_eq!(
        (frame.prompt, frame.index),
        ("welcome", 25),
        "welcome from 2.0 s"
    );
    call.timeout(5.0);
    assert!(
        call.core.prompt_frame(secs(5.0)).is_none(),
        "welcome ended at 5.0 s"
    );
    assert_eq!(
        call.core.next_timeout(),
        Some(secs(5.0 + 8.0)),
        "the no-input wait (8 s) starts when welcome ends, not the notice"
    );
}

#[test]
fn a_caller_hanging_up_ends_the_call_once() {
    let mut call = Driven::new(setup(true));
    call.input(2.0, CoreInput::Ended(EndedBy::Caller));
    call.input(2.5, CoreInput::Ended(EndedBy::Gateway));
    call.core.finish(secs(3.0));
    call.collect();
    let hangups = call
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Heard(Input::HungUp))
        .count();
    assert_eq!(hangups, 1);
    assert_eq!(call.summary().ended_by, Some(EndedBy::Caller));
    assert_eq!(call.summary().duration, secs(3.0));
}

#[test]
fn windows_skipped_under_inference_overload_are_passed_over_and_the_call_goes_on() {
    let mut call = Driven::new(setup(false));
    call.talk(0.0, 2.0);
    // The scorer had room for every third window only.
    for (n, job) in std::mem::take(&mut call.jobs).into_iter().enumerate() {
        let row = (n % 3 == 0).then(|| vec![8.0]);
        call.input(
            2.0,
            CoreInput::Scored {
                token: job.token,
                row,
            },
        );
    }
    let scored = call.angers().len();
    assert!(scored >= 2, "{scored} windows scored");
    assert_eq!(
        call.commands,
        [Command::Refer {
            uri: "sip:priority@pbx".into()
        }],
        "the scored windows still decide"
    );
}
