//! One ONNX model behind its manifest: a session built once, run on batches
//! of windows, with the calibrated score for each; for a keyword model with
//! a verifier, a second session run only on the detector's candidates.

use std::path::Path;
use std::sync::Mutex;

use ort::session::Session;
use ort::value::Tensor;

use super::manifest::{Calibration, Manifest, OutputSpec};
use super::{runtime, InferError};

/// A window scorer: raw output and 0-100 score per window.
/// Windows per model run at most: large enough to amortise the call, small
/// enough that a replay's memory stays flat on an 8-hour file.
pub const BATCH: usize = 16;

pub struct WindowModel {
    manifest: Manifest,
    session: Mutex<Session>,
    /// A keyword model's second stage (its own graph: ONNX Runtime runs
    /// every node of a graph whatever outputs are asked for).
    verifier: Option<Mutex<Session>>,
}

impl WindowModel {
    /// Loads the model named by a manifest (and its verifier, if any),
    /// checking their sha256 first.
    pub fn load(manifest_path: &Path) -> Result<WindowModel, InferError> {
        let (manifest, model_path) = Manifest::load(manifest_path)?;
        let session = open(&model_path, &manifest, &manifest.output)?;
        let verifier = match (&manifest.verifier, manifest.verifier_path(manifest_path)) {
            (Some(spec), Some(path)) => Some(open(&path, &manifest, &spec.output)?),
            _ => None,
        };
        Ok(WindowModel {
            manifest,
            session,
            verifier,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Raw outputs for a batch of windows, each exactly `window_samples` long.
    pub fn run(&self, windows: &[&[f32]]) -> Result<Vec<f32>, InferError> {
        run_session(
            &self.session,
            &self.manifest,
            &self.manifest.output,
            windows,
        )
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

    /// One output row per window (a keyword model's logits over its
    /// classes), followed, for a model with a verifier, by the verifier's
    /// logits on the windows whose detector top class is a word.
    pub fn rows(&self, windows: &[&[f32]]) -> Result<Vec<Vec<f32>>, InferError> {
        let mut rows = split_rows(self.run(windows)?, windows.len());
        if let Some(verifier) = &self.verifier {
            self.verify_candidates(verifier, windows, &mut rows)?;
        }
        Ok(rows)
    }

    fn verify_candidates(
        &self,
        verifier: &Mutex<Session>,
        windows: &[&[f32]],
        rows: &mut [Vec<f32>],
    ) -> Result<(), InferError> {
        let (Some(detection), Some(spec)) = (&self.manifest.detection, &self.manifest.verifier)
        else {
            return Ok(());
        };
        let candidates: Vec<usize> = (0..rows.len())
            .filter(|&index| detection.is_candidate(&self.manifest.classes, &rows[index]))
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let heard: Vec<&[f32]> = candidates.iter().map(|&index| windows[index]).collect();
        let verified = run_session(verifier, &self.manifest, &spec.output, &heard)?;
        let verified = split_rows(verified, heard.len());
        for (index, logits) in candidates.into_iter().zip(verified) {
            rows[index].extend(logits);
        }
        Ok(())
    }
}

/// A session of one graph, checked to take the manifest's input and give `output`.
fn open(
    path: &Path,
    manifest: &Manifest,
    output: &OutputSpec,
) -> Result<Mutex<Session>, InferError> {
    let environment = runtime::environment()?;
    let session = Session::builder(environment)
        .and_then(|mut builder| {
            // Calls are many and windows small: one thread per run, parallel across calls.
            builder = builder.with_intra_threads(1)?;
            builder.commit_from_file(path)
        })
        .map_err(|error| InferError::Session {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
    let has_input = session
        .inputs()
        .iter()
        .any(|i| i.name() == manifest.input.name);
    let has_output = session.outputs().iter().any(|o| o.name() == output.name);
    if has_input && has_output {
        return Ok(Mutex::new(session));
    }
    Err(InferError::Session {
        path: path.to_path_buf(),
        message: format!(
            "the model has no input {:?} or no output {:?} as its manifest says: fix the manifest or re-export the model",
            manifest.input.name, output.name
        ),
    })
}

/// `output` of one session for a batch of windows, each exactly the
/// manifest's `window_samples` long.
fn run_session(
    session: &Mutex<Session>,
    manifest: &Manifest,
    output: &OutputSpec,
    windows: &[&[f32]],
) -> Result<Vec<f32>, InferError> {
    let width = manifest.window_samples();
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
    let mut session = session.lock().map_err(|_| InferError::Poisoned)?;
    let outputs = session
        .run(ort::inputs![manifest.input.name.as_str() => input])
        .map_err(run_error)?;
    let (_, values) = outputs[output.name.as_str()]
        .try_extract_tensor::<f32>()
        .map_err(run_error)?;
    Ok(values.to_vec())
}

/// A batch's outputs as one row per window; none if they do not divide evenly.
fn split_rows(raw: Vec<f32>, windows: usize) -> Vec<Vec<f32>> {
    if windows == 0 || raw.len() % windows != 0 {
        return Vec::new();
    }
    raw.chunks(raw.len() / windows)
        .map(<[f32]>::to_vec)
        .collect()
}

fn run_error(error: ort::Error) -> InferError {
    InferError::Run(error.to_string())
}
