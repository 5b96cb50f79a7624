//! Replaying a call recording through the call core: decoded, cut into
//! 20 ms frames on a virtual clock, scored in batches, with the caller's key
//! presses at their times.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::driver::{Scorers, VirtualCall, BATCH};
use crate::audio::{AudioError, ChannelPick, Recording, CALL_RATE, FRAME_SAMPLES};
use crate::callcore::{
    AngerSetup, CallEvent, CallerId, CoreInput, CoreSetup, FrontEnd, KeywordSetup,
};
use crate::engine::EngineConfig;
use crate::infer::{InferError, KeywordModel, WindowModel};
use crate::menu::Menu;

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
    /// Queue name → Refer-To URI, for the summary.
    pub queues: Arc<HashMap<String, String>>,
    /// Keys the caller presses, at seconds of the recording, in time order.
    pub dtmf: Vec<(Duration, char)>,
    /// The recording notice a live call plays first, if any.
    pub notice: Option<String>,
}

impl RecordingReplay<'_> {
    /// The call's events, as a live call with this audio would have them.
    pub fn run(&self, path: &Path) -> Result<Vec<CallEvent>, RecordingError> {
        let mut recording = Recording::open(path, self.pick)?;
        let mut call = VirtualCall::start(self.setup(), Some(self.front_end()?));
        let mut keys = self.dtmf.iter().copied().peekable();
        let mut frames = Frames::default();
        let model_error = |source| RecordingError::Model {
            path: path.display().to_string(),
            source,
        };
        while let Some(block) = recording.next_block()? {
            for (at, frame) in frames.cut(&block) {
                while let Some((key_at, key)) = keys.next_if(|(key_at, _)| *key_at < at) {
                    call.score(self.scorers()).map_err(model_error)?;
                    call.feed(key_at, CoreInput::Dtmf(key));
                }
                call.hear(at, &frame);
                if call.pending() >= BATCH {
                    call.score(self.scorers()).map_err(model_error)?;
                }
            }
        }
        call.score(self.scorers()).map_err(model_error)?;
        if frames.heard == 0 {
            return Err(RecordingError::Empty(path.display().to_string()));
        }
        for (key_at, key) in keys {
            call.feed(key_at, CoreInput::Dtmf(key));
        }
        Ok(call.finish(frames.at()))
    }

    fn setup(&self) -> CoreSetup {
        CoreSetup {
            prompt_lengths: self.prompt_lengths.clone(),
            queues: self.queues.clone(),
            notice: self.notice.clone(),
            ..super::replay_setup(self.config.clone(), self.menu.clone(), CallerId::default())
        }
    }

    fn front_end(&self) -> Result<FrontEnd, RecordingError> {
        let anger = AngerSetup::of_model(self.model, self.smoothing).map_err(|source| {
            RecordingError::Model {
                path: self.model.manifest().name.clone(),
                source,
            }
        })?;
        let keywords = self.keywords.map(KeywordSetup::of_model);
        Ok(FrontEnd::new(anger, keywords))
    }

    fn scorers(&self) -> Scorers<'_> {
        Scorers {
            anger: self.model,
            keywords: self.keywords.map(|k| k.model().as_ref()),
        }
    }
}

/// Regroups decoded blocks into 20 ms frames stamped with the time of their
/// last sample.
#[derive(Default)]
struct Frames {
    partial: Vec<f32>,
    heard: u64,
}

impl Frames {
    fn cut(&mut self, block: &[f32]) -> Vec<(Duration, Vec<f32>)> {
        let mut frames = Vec::new();
        for &sample in block {
            self.partial.push(sample);
            self.heard += 1;
            if self.partial.len() == FRAME_SAMPLES {
                let frame = std::mem::take(&mut self.partial);
                frames.push((self.at(), frame));
            }
        }
        frames
    }

    /// Time of the last sample heard.
    fn at(&self) -> Duration {
        Duration::from_secs_f64(self.heard as f64 / f64::from(CALL_RATE))
    }
}
