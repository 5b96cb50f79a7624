//! Replaying a call recording through the live path: decode, VAD, windows,
//! the anger model, smoothing, and the engine on a virtual clock.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::driver::{CallerId, Logged, VirtualCall};
use crate::audio::{
    AudioError, ChannelPick, Recording, Smoother, VadConfig, VoicedWindows, Window,
};
use crate::engine::{EngineConfig, Input};
use crate::infer::{InferError, WindowModel};
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
        let mut cutter = VoicedWindows::new(
            manifest.window_samples(),
            manifest.hop_samples(),
            VadConfig::default(),
        );
        let mut smoother = Smoother::new(self.smoothing);
        let mut call = VirtualCall::start(
            self.config.clone(),
            self.menu.clone(),
            CallerId::default(),
            self.prompt_lengths.clone(),
        );
        let mut pending: Vec<Window> = Vec::new();
        let mut heard_any = false;
        while let Some(block) = recording.next_block()? {
            heard_any |= !block.is_empty();
            pending.extend(cutter.push(&block));
            if pending.len() >= BATCH {
                self.score_into(path, &mut pending, &mut smoother, &mut call)?;
            }
        }
        self.score_into(path, &mut pending, &mut smoother, &mut call)?;
        if !heard_any {
            return Err(RecordingError::Empty(path.display().to_string()));
        }
        Ok(call.finish(cutter.elapsed()))
    }

    fn score_into(
        &self,
        path: &Path,
        pending: &mut Vec<Window>,
        smoother: &mut Smoother,
        call: &mut VirtualCall,
    ) -> Result<(), RecordingError> {
        if pending.is_empty() {
            return Ok(());
        }
        let windows: Vec<&[f32]> = pending.iter().map(|w| w.samples.as_slice()).collect();
        let scores = self
            .model
            .scores(&windows)
            .map_err(|source| RecordingError::Model {
                path: path.display().to_string(),
                source,
            })?;
        for (window, score) in pending.drain(..).zip(scores) {
            let score = smoother.push(score);
            call.feed(window.at, Input::Anger { score });
        }
        Ok(())
    }
}
