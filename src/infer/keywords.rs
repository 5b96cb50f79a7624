//! The keyword model with the words a configuration listens for: what the
//! streaming spotter of every call (and replay) is built from.

use std::sync::Arc;

use super::{InferError, WindowModel};
use crate::audio::{KeywordDecider, KeywordWindows, Pause, FRAME_SAMPLES};

pub struct KeywordModel {
    model: Arc<WindowModel>,
    listen: Vec<String>,
    /// Heard whether or not a menu waits for a choice; the other listened
    /// words only while one does.
    escalation: Vec<String>,
}

impl KeywordModel {
    /// `listen` must be classes of the model (the configuration checks that,
    /// naming its own line); the model must have a `[detection]` section.
    /// `escalation` (the policy's human and complaint words) are heard in
    /// every state of the call, the rest of `listen` only in a menu.
    pub fn new(
        model: WindowModel,
        listen: Vec<String>,
        escalation: Vec<String>,
    ) -> Result<KeywordModel, InferError> {
        if model.manifest().detection.is_none() {
            return Err(InferError::Run(format!(
                "model {:?} has no [detection]: it is not a keyword model",
                model.manifest().name
            )));
        }
        Ok(KeywordModel {
            model: Arc::new(model),
            listen,
            escalation,
        })
    }

    pub fn model(&self) -> &Arc<WindowModel> {
        &self.model
    }

    /// A new stream's windows.
    pub fn windows(&self) -> KeywordWindows {
        let manifest = self.model.manifest();
        let detection = manifest.detection.as_ref().expect("checked in new");
        let frame_s = FRAME_SAMPLES as f64 / f64::from(manifest.sample_rate);
        KeywordWindows::new(
            manifest.window_samples(),
            manifest.hop_samples(),
            detection.vad_floor_dbfs,
            Pause {
                frames: (detection.pause_s / frame_s).round() as usize,
                drop_db: detection.pause_drop_db,
            },
        )
    }

    /// A new stream's decision.
    pub fn decider(&self) -> KeywordDecider {
        let manifest = self.model.manifest();
        let detection = manifest.detection.as_ref().expect("checked in new");
        KeywordDecider::new(&manifest.classes, detection, &self.listen)
            .with_escalation_words(&self.escalation)
    }
}
