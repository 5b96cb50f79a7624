//! The audio front end of one call, sans-IO: the caller's frames in; scoring
//! jobs out, each with a token; the models' answers in, in any order; the
//! engine's inputs out in audio order (anger scores and spotted words).
//! Replay scores the jobs synchronously in batches, a live call on the
//! inference threads: the decisions are the same.

use std::collections::VecDeque;
use std::time::Duration;

use crate::audio::{
    AngerScorer, KeywordDecider, KeywordWindow, KeywordWindows, Pause, VadConfig, VoicedWindows,
    FRAME_SAMPLES,
};
use crate::engine::Input;
use crate::infer::{Calibration, InferError, KeywordModel, WindowModel};

/// Windows waiting for an answer at most; past that the oldest is given up
/// (a stalled inference thread must not grow a call without bound).
pub const MAX_PENDING: usize = 256;

/// Which model a job is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Anger,
    Keyword,
}

/// A window to score; its answer comes back with the same token.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreJob {
    pub token: u64,
    pub model: Model,
    pub samples: Vec<f32>,
}

/// How the anger model's windows are cut and its output read.
#[derive(Debug, Clone)]
pub struct AngerSetup {
    pub window: usize,
    pub hop: usize,
    pub calibration: Calibration,
    /// Share of each new window score in the smoothed score (1 = none).
    pub smoothing: f32,
}

impl AngerSetup {
    /// The windows and calibration of an anger model's manifest.
    pub fn of_model(model: &WindowModel, smoothing: f32) -> Result<AngerSetup, InferError> {
        let manifest = model.manifest();
        Ok(AngerSetup {
            window: manifest.window_samples(),
            hop: manifest.hop_samples(),
            calibration: model.calibration()?.clone(),
            smoothing,
        })
    }
}

/// The keyword spotter of one call.
pub struct KeywordSetup {
    pub windows: KeywordWindows,
    pub decider: KeywordDecider,
}

impl KeywordSetup {
    /// A new call's windows and decision, as the keyword model's manifest
    /// and the configured words say.
    pub fn of_model(model: &KeywordModel) -> KeywordSetup {
        let manifest = model.model().manifest();
        let detection = model.detection();
        let frame_s = FRAME_SAMPLES as f64 / f64::from(manifest.sample_rate);
        let pause = Pause {
            frames: (detection.pause_s / frame_s).round() as usize,
            drop_db: detection.pause_drop_db,
        };
        KeywordSetup {
            windows: KeywordWindows::new(
                manifest.window_samples(),
                manifest.hop_samples(),
                detection.vad_floor_dbfs,
                pause,
            ),
            decider: KeywordDecider::new(&manifest.classes, detection, model.listen())
                .with_escalation_words(model.escalation()),
        }
    }
}

#[derive(Debug)]
enum Slot {
    Anger,
    Keyword,
    /// A keyword window too quiet to score: the decision still hears it, in order.
    Quiet,
}

#[derive(Debug)]
struct Pending {
    token: Option<u64>,
    at: Duration,
    slot: Slot,
    /// `Some(None)`: answered, but the model failed.
    answer: Option<Option<Vec<f32>>>,
}

pub struct FrontEnd {
    anger_windows: VoicedWindows,
    /// Model row → the caller's 0-100 score (adaptation, calibration, smoothing).
    anger: AngerScorer,
    keywords: Option<KeywordSetup>,
    next_token: u64,
    pending: VecDeque<Pending>,
    jobs: VecDeque<ScoreJob>,
    given_up: u64,
}

impl FrontEnd {
    /// Without `keywords`, no words are heard.
    pub fn new(anger: AngerSetup, keywords: Option<KeywordSetup>) -> FrontEnd {
        FrontEnd {
            anger_windows: VoicedWindows::new(anger.window, anger.hop, VadConfig::default()),
            anger: AngerScorer::new(anger.calibration, anger.smoothing),
            keywords,
            next_token: 0,
            pending: VecDeque::new(),
            jobs: VecDeque::new(),
            given_up: 0,
        }
    }

    /// Caller audio whose last sample plays at `at` (call time).
    pub fn hear(&mut self, at: Duration, samples: &[f32]) {
        for window in self.anger_windows.push(samples) {
            self.submit(at, Slot::Anger, window.samples);
        }
        let Some(keywords) = self.keywords.as_mut() else {
            return;
        };
        for window in keywords.windows.push(samples) {
            match window {
                KeywordWindow::Score(window) => self.submit(at, Slot::Keyword, window.samples),
                KeywordWindow::Quiet(_) => self.pending.push_back(Pending {
                    token: None,
                    at,
                    slot: Slot::Quiet,
                    answer: None,
                }),
            }
        }
        self.bound_pending();
    }

    /// The next window to score.
    pub fn poll_job(&mut self) -> Option<ScoreJob> {
        self.jobs.pop_front()
    }

    /// A model's answer for the job with `token`; `None` if the model failed.
    pub fn answer(&mut self, token: u64, row: Option<Vec<f32>>) {
        if let Some(pending) = self.pending.iter_mut().find(|p| p.token == Some(token)) {
            pending.answer = Some(row);
        }
    }

    /// The call time of the oldest window, once it and every window before
    /// it can be decided (answered, or too quiet to score).
    pub fn next_ready(&self) -> Option<Duration> {
        let head = self.pending.front()?;
        (head.token.is_none() || head.answer.is_some()).then_some(head.at)
    }

    /// Decides the oldest window, in the call's state at its time: while no
    /// menu waits for a choice, spoken digits and menu phrases are not
    /// listened for. Its engine input, if it makes one.
    pub fn decide_next(&mut self, menu_waiting: bool) -> Option<(Duration, Input)> {
        self.next_ready()?;
        let head = self.pending.pop_front()?;
        if let Some(keywords) = self.keywords.as_mut() {
            keywords.decider.set_menu_waiting(menu_waiting);
        }
        self.decide(head)
    }

    /// Windows given up unanswered so far.
    pub fn given_up(&self) -> u64 {
        self.given_up
    }

    /// Voiced audio heard so far.
    pub fn voiced(&self) -> Duration {
        self.anger_windows.elapsed()
    }

    fn submit(&mut self, at: Duration, slot: Slot, samples: Vec<f32>) {
        let token = self.next_token;
        self.next_token += 1;
        let model = match slot {
            Slot::Anger => Model::Anger,
            _ => Model::Keyword,
        };
        self.jobs.push_back(ScoreJob {
            token,
            model,
            samples,
        });
        self.pending.push_back(Pending {
            token: Some(token),
            at,
            slot,
            answer: None,
        });
    }

    /// Gives up the oldest unanswered windows beyond [`MAX_PENDING`]; the
    /// next [`Self::poll_input`] passes over them.
    fn bound_pending(&mut self) {
        let excess = self.pending.len().saturating_sub(MAX_PENDING);
        for pending in self
            .pending
            .iter_mut()
            .filter(|p| p.token.is_some() && p.answer.is_none())
            .take(excess)
        {
            pending.answer = Some(None);
            self.given_up += 1;
        }
    }

    fn decide(&mut self, pending: Pending) -> Option<(Duration, Input)> {
        let row = pending.answer.flatten();
        match pending.slot {
            Slot::Anger => {
                let score = self.anger.push(&row?);
                Some((pending.at, Input::Anger { score }))
            }
            Slot::Keyword => {
                let keywords = self.keywords.as_mut()?;
                let hit = keywords.decider.push(pending.at, &row?)?;
                Some((
                    hit.at,
                    Input::Keyword {
                        word: hit.word,
                        confidence: hit.confidence,
                    },
                ))
            }
            Slot::Quiet => {
                self.keywords.as_mut()?.decider.quiet();
                None
            }
        }
    }
}
