//! One ONNX model behind its manifest: a session built once, run on batches
//! of windows, with the calibrated score for each.

use std::path::Path;
use std::sync::Mutex;

use ort::session::Session;
use ort::value::Tensor;

use super::manifest::{Calibration, Manifest};
use super::{runtime, InferError};

/// A window scorer: raw output and 0-100 score per window.
/// Windows per model run at most: large enough to amortise the call, small
/// enough that a replay's memory stays flat on an 8-hour file.
pub const BATCH: usize = 16;

pub struct WindowModel {
    manifest: Manifest,
    session: Mutex<Session>,
}

impl WindowModel {
    /// Loads the model named by a manifest, checking its sha256 first.
    pub fn load(manifest_path: &Path) -> Result<WindowModel, InferError> {
        let (manifest, model_path) = Manifest::load(manifest_path)?;
        let environment = runtime::environment()?;
        let session = Session::builder(environment)
            .and_then(|mut builder| {
                // Calls are many and windows small: one thread per run, parallel across calls.
                builder = builder.with_intra_threads(1)?;
                builder.commit_from_file(&model_path)
            })
            .map_err(|error| InferError::Session {
                path: model_path.clone(),
                message: error.to_string(),
            })?;
        let model = WindowModel {
            manifest,
            session: Mutex::new(session),
        };
        model.check_io(&model_path)?;
        Ok(model)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn check_io(&self, model_path: &Path) -> Result<(), InferError> {
        let session = self.session.lock().map_err(|_| InferError::Poisoned)?;
        let has_input = session
            .inputs()
            .iter()
            .any(|i| i.name() == self.manifest.input.name);
        let has_output = session
            .outputs()
            .iter()
            .any(|o| o.name() == self.manifest.output.name);
        if has_input && has_output {
            return Ok(());
        }
        Err(InferError::Session {
            path: model_path.to_path_buf(),
            message: format!(
                "the model has no input {:?} or no output {:?} as its manifest says: fix the manifest or re-export the model",
                self.manifest.input.name, self.manifest.output.name
            ),
        })
    }

    /// Raw outputs for a batch of windows, each exactly `window_samples` long.
    pub fn run(&self, windows: &[&[f32]]) -> Result<Vec<f32>, InferError> {
        let width = self.manifest.window_samples();
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let mut batch = Vec::with_capacity(windows.len() * width);
        for window in windows {
            if window.len() != width {
                return Err(InferError::WindowLength {
                    expected: width,
                    actual: window.len(),
                });
            }
            batch.extend_from_slice(window);
        }
        let input = Tensor::from_array(([windows.len(), width], batch)).map_err(run_error)?;
        let mut session = self.session.lock().map_err(|_| InferError::Poisoned)?;
        let outputs = session
            .run(ort::inputs![self.manifest.input.name.as_str() => input])
            .map_err(run_error)?;
        let (_, values) = outputs[self.manifest.output.name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(run_error)?;
        Ok(values.to_vec())
    }

    /// A scoring model's map from raw output to 0-100.
    pub fn calibration(&self) -> Result<&Calibration, InferError> {
        self.manifest.calibration.as_ref().ok_or_else(|| {
            InferError::Run(format!(
                "model {:?} has no [calibration]: it is not a scoring model",
                self.manifest.name
            ))
        })
    }

    /// Calibrated 0-100 scores for a batch of windows, each on its own (a
    /// scoring model; a call's scores come from `audio::AngerScorer`).
    pub fn scores(&self, windows: &[&[f32]]) -> Result<Vec<f32>, InferError> {
        let calibration = self.calibration()?;
        let raw = self.run(windows)?;
        Ok(raw.into_iter().map(|r| calibration.score(r)).collect())
    }

    /// One output row per window (a keyword model's logits over its classes).
    pub fn rows(&self, windows: &[&[f32]]) -> Result<Vec<Vec<f32>>, InferError> {
        let raw = self.run(windows)?;
        if windows.is_empty() || raw.len() % windows.len() != 0 {
            return Ok(Vec::new());
        }
        Ok(raw
            .chunks(raw.len() / windows.len())
            .map(<[f32]>::to_vec)
            .collect())
    }
}

fn run_error(error: ort::Error) -> InferError {
    InferError::Run(error.to_string())
}
