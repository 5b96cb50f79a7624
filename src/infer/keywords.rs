//! The keyword model with the words a configuration listens for: what the
//! streaming spotter of every call (and replay) is built from.

use std::sync::Arc;

use super::{Detection, InferError, WindowModel};

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

    /// The words listened for, each a class of the model.
    pub fn listen(&self) -> &[String] {
        &self.listen
    }

    /// The words heard in every state of the call (the rest only in a menu).
    pub fn escalation(&self) -> &[String] {
        &self.escalation
    }

    /// How window outputs become words (checked present in [`Self::new`]).
    pub fn detection(&self) -> &Detection {
        self.model
            .manifest()
            .detection
            .as_ref()
            .expect("checked in KeywordModel::new")
    }
}
