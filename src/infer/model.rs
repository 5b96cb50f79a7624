//! One ONNX model behind its manifest: a session built once, run on batches
//! of windows, with the calibrated score for each; for a keyword model, a
//! gate run on every window before the detector runs on those it hears a
//! word in, and a verifier run only on the detector's candidates.

use std::path::Path;
use std::sync::Mutex;

use ort::session::Session;
use ort::value::Tensor;

use super::manifest::{Calibration, Manifest, OutputSpec, StageSpec};
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
    /// A keyword model's gate: the cheap graph every window goes through.
    gate: Option<Mutex<Session>>,
}

impl WindowModel {
    /// Loads the model named by a manifest (and its verifier and gate, if
    /// any), checking their sha256 first.
    pub fn load(manifest_path: &Path) -> Result<WindowModel, InferError> {
        let (manifest, model_path) = Manifest::load(manifest_path)?;
        let session = open(&model_path, &manifest, &manifest.output)?;
        let stage = |spec: &Option<StageSpec>| -> Result<Option<Mutex<Session>>, InferError> {
            spec.as_ref()
                .map(|spec| {
                    open(
                        &Manifest::stage_path(manifest_path, spec),
                        &manifest,
                        &spec.output,
                    )
                })
                .transpose()
        };
        let (verifier, gate) = (stage(&manifest.verifier)?, stage(&manifest.gate)?);
        Ok(WindowModel {
            manifest,
            session,
            verifier,
            gate,
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
    /// classes: the detector's, or the gate's where the gate hears no
    /// word), followed, for a model with a verifier, by the verifier's
    /// logits on the windows whose detector top class is a word.
    pub fn rows(&self, windows: &[&[f32]]) -> Result<Vec<Vec<f32>>, InferError> {
        let manifest = &self.manifest;
        let (detection, classes) = (&manifest.detection, &manifest.classes);
        let mut rows = match (&self.gate, &manifest.gate, detection) {
            (Some(gate), Some(spec), Some(detection)) => {
                let gated = run_session(gate, manifest, &spec.output, windows)?;
                let mut rows = split_rows(gated, windows.len());
                let bar = spec.bar.unwrap_or(0.0);
                let heard = |row: &[f32]| detection.gate_hears(classes, row, bar);
                let replace = |row: &mut Vec<f32>, logits| *row = logits;
                self.run_where(
                    &self.session,
                    &manifest.output,
                    windows,
                    &mut rows,
                    heard,
                    replace,
                )?;
                rows
            }
            _ => split_rows(self.run(windows)?, windows.len()),
        };
        if let (Some(verifier), Some(spec), Some(detection)) =
            (&self.verifier, &manifest.verifier, detection)
        {
            let candidate = |row: &[f32]| detection.is_candidate(classes, row);
            let append = |row: &mut Vec<f32>, logits: Vec<f32>| row.extend(logits);
            self.run_where(
                verifier,
                &spec.output,
                windows,
                &mut rows,
                candidate,
                append,
            )?;
        }
        Ok(rows)
    }

    /// Runs `session` on the windows whose row passes `test`, and gives
    /// each such row that session's logits for its window through `apply`.
    fn run_where(
        &self,
        session: &Mutex<Session>,
        output: &OutputSpec,
        windows: &[&[f32]],
        rows: &mut [Vec<f32>],
        test: impl Fn(&[f32]) -> bool,
        apply: impl Fn(&mut Vec<f32>, Vec<f32>),
    ) -> Result<(), InferError> {
        let chosen: Vec<usize> = (0..rows.len())
            .filter(|&index| test(&rows[index]))
            .collect();
        if chosen.is_empty() {
            return Ok(());
        }
        let heard: Vec<&[f32]> = chosen.iter().map(|&index| windows[index]).collect();
        let logits = split_rows(
            run_session(session, &self.manifest, output, &heard)?,
            heard.len(),
        );
        for (index, logits) in chosen.into_iter().zip(logits) {
            apply(&mut rows[index], logits);
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
