//! Replaying a call recording through the live path: decode, VAD, windows,
//! the anger model, smoothing, and the engine on a virtual clock.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::driver::{CallerId, Logged, VirtualCall};
use crate::audio::{
    AngerScorer, AudioError, ChannelPick, KeywordDecider, KeywordWindow, KeywordWindows, Recording,
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
        let calibration = self
            .model
            .calibration()
            .map_err(|e| self.model_error(path, e))?;
        let mut listener = Listener {
            replay: self,
            path,
            anger_windows: VoicedWindows::new(
                manifest.window_samples(),
                manifest.hop_samples(),
                VadConfig::default(),
            ),
            anger: AngerScorer::new(calibration.clone(), self.smoothing),
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

/// The audio front end of one replayed call: anger windows and keyword
/// windows cut as the audio streams, scored in batches, and turned into the
/// engine's inputs in time order.
struct Listener<'r, 'a> {
    replay: &'r RecordingReplay<'a>,
    path: &'r Path,
    anger_windows: VoicedWindows,
    anger: AngerScorer,
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

    /// Scores what is pending and feeds the results to the call, oldest first.
    fn flush_into(&mut self, call: &mut VirtualCall) -> Result<(), RecordingError> {
        let mut inputs = self.anger_inputs()?;
        inputs.extend(self.keyword_inputs()?);
        inputs.sort_by_key(|(at, _)| *at);
        for (at, input) in inputs {
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
        let rows = self
            .replay
            .model
            .rows(&windows)
            .map_err(|source| self.replay.model_error(self.path, source))?;
        Ok(self
            .pending_anger
            .drain(..)
            .zip(rows)
            .map(|(window, row)| {
                (
                    window.at,
                    Input::Anger {
                        score: self.anger.push(&row),
                    },
                )
            })
            .collect())
    }

    fn keyword_inputs(&mut self) -> Result<Vec<(Duration, Input)>, RecordingError> {
        let (Some(keywords), Some(decider)) = (self.replay.keywords, self.decider.as_mut()) else {
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
        let mut inputs = Vec::new();
        for window in self.pending_keywords.drain(..) {
            match window {
                KeywordWindow::Quiet(_) => decider.quiet(),
                KeywordWindow::Score(window) => {
                    let logits = rows.next().unwrap_or_default();
                    if let Some(hit) = decider.push(window.at, &logits) {
                        inputs.push((
                            hit.at,
                            Input::Keyword {
                                word: hit.word,
                                confidence: hit.confidence,
                            },
                        ));
                    }
                }
            }
        }
        Ok(inputs)
    }
}
