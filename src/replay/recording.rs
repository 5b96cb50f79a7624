//! Replaying a call recording through the live path: decode, VAD, windows,
//! the anger model, smoothing, and the engine on a virtual clock.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::driver::{CallerId, Logged, VirtualCall};
use crate::audio::{
    AudioError, ChannelPick, KeywordDecider, KeywordWindow, KeywordWindows, Recording, Smoother,
    VadConfig, VoicedWindows, Window,
};
use crate::engine::{EngineConfig, Input};
use crate::infer::{InferError, KeywordModel, WindowModel};
use crate::menu::Menu;

/// Windows scored per model run: large enough to amortise the call, small
/// enough that memory stays flat on an 8-hour file.
const BATCH: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("{path}: {source}")]
    Model { path: String, source: InferError },
    #[error("{0}: contains no audio")]
    Empty(String),
}

/// What the replay of one recording needs besides the file.
pub struct RecordingReplay<'a> {
    pub config: Arc<EngineConfig>,
    pub menu: Option<Arc<Menu>>,
    pub model: &'a WindowModel,
    /// The keyword spotter; without one, no words are heard.
    pub keywords: Option<&'a KeywordModel>,
    pub pick: ChannelPick,
    pub smoothing: f32,
    /// How long each prompt plays, so menu timers run as on a live call.
    pub prompt_lengths: Arc<HashMap<String, Duration>>,
}

impl RecordingReplay<'_> {
    /// The call's log, as a live call with this audio would have it.
    pub fn run(&self, path: &Path) -> Result<Vec<Logged>, RecordingError> {
        let mut recording = Recording::open(path, self.pick)?;
        let manifest = self.model.manifest();
        let mut listener = Listener {
            replay: self,
            path,
            anger_windows: VoicedWindows::new(
                manifest.window_samples(),
                manifest.hop_samples(),
                VadConfig::default(),
            ),
            smoother: Smoother::new(self.smoothing),
            keyword_windows: self.keywords.map(KeywordModel::windows),
            decider: self.keywords.map(KeywordModel::decider),
            pending_anger: Vec::new(),
            pending_keywords: Vec::new(),
        };
        let mut call = VirtualCall::start(
            self.config.clone(),
            self.menu.clone(),
            CallerId::default(),
            self.prompt_lengths.clone(),
        );
        let mut heard_any = false;
        while let Some(block) = recording.next_block()? {
            heard_any |= !block.is_empty();
            listener.push(&block);
            if listener.is_full() {
                listener.flush_into(&mut call)?;
            }
        }
        listener.flush_into(&mut call)?;
        if !heard_any {
            return Err(RecordingError::Empty(path.display().to_string()));
        }
        Ok(call.finish(listener.anger_windows.elapsed()))
    }

    fn model_error(&self, path: &Path, source: InferError) -> RecordingError {
        RecordingError::Model {
            path: path.display().to_string(),
            source,
        }
    }
}

/// A keyword window's end and the model's logits for it (`None`: too quiet to score).
type ScoredWindow = (Duration, Option<Vec<f32>>);

/// The audio front end of one replayed call: anger windows and keyword
/// windows cut as the audio streams, scored in batches, and turned into the
/// engine's inputs in time order.
struct Listener<'r, 'a> {
    replay: &'r RecordingReplay<'a>,
    path: &'r Path,
    anger_windows: VoicedWindows,
    smoother: Smoother,
    keyword_windows: Option<KeywordWindows>,
    decider: Option<KeywordDecider>,
    pending_anger: Vec<Window>,
    pending_keywords: Vec<KeywordWindow>,
}

impl Listener<'_, '_> {
    fn push(&mut self, block: &[f32]) {
        self.pending_anger.extend(self.anger_windows.push(block));
        if let Some(windows) = self.keyword_windows.as_mut() {
            self.pending_keywords.extend(windows.push(block));
        }
    }

    fn is_full(&self) -> bool {
        self.pending_anger.len() >= BATCH || self.pending_keywords.len() >= BATCH
    }

    /// Scores what is pending and feeds the results to the call, oldest
    /// first; each keyword window is decided in the state the call is in by
    /// then (digits and menu phrases count only while a menu waits).
    fn flush_into(&mut self, call: &mut VirtualCall) -> Result<(), RecordingError> {
        let mut anger = self.anger_inputs()?.into_iter().peekable();
        for (at, logits) in self.keyword_scores()? {
            while let Some((when, input)) = anger.next_if(|(when, _)| *when <= at) {
                call.feed(when, input);
            }
            if let Some((when, input)) = self.decide(call, at, logits) {
                call.feed(when, input);
            }
        }
        for (at, input) in anger {
            call.feed(at, input);
        }
        Ok(())
    }

    fn anger_inputs(&mut self) -> Result<Vec<(Duration, Input)>, RecordingError> {
        if self.pending_anger.is_empty() {
            return Ok(Vec::new());
        }
        let windows: Vec<&[f32]> = self
            .pending_anger
            .iter()
            .map(|w| w.samples.as_slice())
            .collect();
        let scores = self
            .replay
            .model
            .scores(&windows)
            .map_err(|source| self.replay.model_error(self.path, source))?;
        Ok(self
            .pending_anger
            .drain(..)
            .zip(scores)
            .map(|(window, score)| {
                (
                    window.at,
                    Input::Anger {
                        score: self.smoother.push(score),
                    },
                )
            })
            .collect())
    }

    /// The pending keyword windows with their logits.
    fn keyword_scores(&mut self) -> Result<Vec<ScoredWindow>, RecordingError> {
        let Some(keywords) = self.replay.keywords else {
            return Ok(Vec::new());
        };
        let scored: Vec<&[f32]> = self
            .pending_keywords
            .iter()
            .filter_map(|w| match w {
                KeywordWindow::Score(window) => Some(window.samples.as_slice()),
                KeywordWindow::Quiet(_) => None,
            })
            .collect();
        let mut rows = keywords
            .model()
            .rows(&scored)
            .map_err(|source| self.replay.model_error(self.path, source))?
            .into_iter();
        Ok(self
            .pending_keywords
            .drain(..)
            .map(|window| match window {
                KeywordWindow::Quiet(at) => (at, None),
                KeywordWindow::Score(window) => (window.at, Some(rows.next().unwrap_or_default())),
            })
            .collect())
    }

    fn decide(
        &mut self,
        call: &mut VirtualCall,
        at: Duration,
        logits: Option<Vec<f32>>,
    ) -> Option<(Duration, Input)> {
        let decider = self.decider.as_mut()?;
        decider.set_menu_waiting(call.awaits_choice(at));
        let Some(logits) = logits else {
            decider.quiet();
            return None;
        };
        let hit = decider.push(at, &logits)?;
        Some((
            hit.at,
            Input::Keyword {
                word: hit.word,
                confidence: hit.confidence,
            },
        ))
    }
}
