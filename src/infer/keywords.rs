//! The keyword model with the words a configuration listens for: what the
//! streaming spotter of every call (and replay) is built from.

use std::sync::Arc;

use super::{InferError, WindowModel};
use crate::audio::{KeywordDecider, KeywordWindows};

pub struct KeywordModel {
    model: Arc<WindowModel>,
    listen: Vec<String>,
}

impl KeywordModel {
    /// `listen` must be classes of the model (the configuration checks that,
    /// naming its own line); the model must have a `[detection]` section.
    pub fn new(model: WindowModel, listen: Vec<String>) -> Result<KeywordModel, InferError> {
        if model.manifest().detection.is_none() {
            return Err(InferError::Run(format!(
                "model {:?} has no [detection]: it is not a keyword model",
                model.manifest().name
            )));
        }
        Ok(KeywordModel {
            model: Arc::new(model),
            listen,
        })
    }

    pub fn model(&self) -> &Arc<WindowModel> {
        &self.model
    }

    /// A new stream's windows.
    pub fn windows(&self) -> KeywordWindows {
        let manifest = self.model.manifest();
        let detection = manifest.detection.as_ref().expect("checked in new");
        KeywordWindows::new(
            manifest.window_samples(),
            manifest.hop_samples(),
            detection.vad_floor_dbfs,
        )
    }

    /// A new stream's decision.
    pub fn decider(&self) -> KeywordDecider {
        let manifest = self.model.manifest();
        let detection = manifest.detection.as_ref().expect("checked in new");
        KeywordDecider::new(&manifest.classes, detection, &self.listen)
    }
}
