//! Model manifests (`models/NAME.toml`): what the model file must be, what it
//! takes and gives, and how its output maps to a 0-100 score.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::InferError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    /// The model file, relative to the manifest.
    pub file: PathBuf,
    pub sha256: String,
    pub sample_rate: u32,
    pub window_s: f64,
    pub hop_s: f64,
    pub input: TensorSpec,
    pub output: OutputSpec,
    pub calibration: Calibration,
    #[serde(default)]
    pub training: toml::Table,
    #[serde(default)]
    pub evaluation: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    /// -1 marks a dynamic axis (the batch).
    pub shape: Vec<i64>,
    pub dtype: String,
    #[serde(default)]
    pub range: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub name: String,
    pub shape: Vec<i64>,
    pub meaning: String,
}

/// A monotone piecewise-linear map from the raw output to 0-100.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub kind: String,
    pub logit: Vec<f32>,
    pub score: Vec<f32>,
}

impl Calibration {
    /// The score for a raw output, clamped to the table's ends.
    pub fn score(&self, raw: f32) -> f32 {
        let points = self.logit.iter().zip(&self.score);
        let mut previous: Option<(f32, f32)> = None;
        for (&x, &y) in points {
            if raw <= x {
                return match previous {
                    Some((x0, y0)) if x > x0 => y0 + (y - y0) * (raw - x0) / (x - x0),
                    _ => y,
                };
            }
            previous = Some((x, y));
        }
        previous.map_or(0.0, |(_, y)| y).clamp(0.0, 100.0)
    }

    fn problem(&self) -> Option<String> {
        if self.kind != "piecewise_linear" {
            return Some(format!(
                "calibration.kind {:?} is not supported: use \"piecewise_linear\"",
                self.kind
            ));
        }
        if self.logit.len() != self.score.len() || self.logit.len() < 2 {
            return Some(
                "calibration.logit and calibration.score need the same length, at least 2".into(),
            );
        }
        let ascending = |v: &[f32]| v.windows(2).all(|w| w[0] <= w[1]);
        if !ascending(&self.logit) || !ascending(&self.score) {
            return Some("calibration.logit and calibration.score must both ascend".into());
        }
        if self.score.iter().any(|s| !(0.0..=100.0).contains(s)) {
            return Some("calibration.score values must lie within 0..=100".into());
        }
        None
    }
}

impl Manifest {
    /// Reads a manifest and checks its model file against it.
    pub fn load(path: &Path) -> Result<(Manifest, PathBuf), InferError> {
        let text = std::fs::read_to_string(path).map_err(|source| InferError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let manifest: Manifest = toml::from_str(&text).map_err(|error| {
            let (line, message) = crate::source::toml_problem(&text, &error);
            InferError::Manifest {
                path: path.to_path_buf(),
                line,
                message,
            }
        })?;
        if let Some(message) = manifest.problem() {
            return Err(InferError::Manifest {
                path: path.to_path_buf(),
                line: 1,
                message,
            });
        }
        let model_path = path.parent().unwrap_or(Path::new(".")).join(&manifest.file);
        manifest.verify_file(&model_path, path)?;
        Ok((manifest, model_path))
    }

    /// Samples in one input window.
    pub fn window_samples(&self) -> usize {
        (self.window_s * self.sample_rate as f64).round() as usize
    }

    /// Samples between the starts of two windows.
    pub fn hop_samples(&self) -> usize {
        (self.hop_s * self.sample_rate as f64).round() as usize
    }

    fn problem(&self) -> Option<String> {
        if let Some(problem) = self.calibration.problem() {
            return Some(problem);
        }
        let shape_ok = self.input.shape.len() == 2
            && self.input.shape[1] == self.window_samples() as i64
            && self.input.dtype == "float32";
        if !shape_ok {
            return Some(format!(
                "input must be float32 [-1, {}] (window_s x sample_rate), not {} {:?}",
                self.window_samples(),
                self.input.dtype,
                self.input.shape
            ));
        }
        if self.hop_samples() == 0 || self.window_samples() == 0 {
            return Some("window_s and hop_s must be positive".into());
        }
        None
    }

    fn verify_file(&self, model_path: &Path, manifest_path: &Path) -> Result<(), InferError> {
        let bytes = std::fs::read(model_path).map_err(|source| InferError::Read {
            path: model_path.to_path_buf(),
            source,
        })?;
        let actual = hex(&Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(self.sha256.trim()) {
            return Err(InferError::Checksum {
                model: model_path.to_path_buf(),
                manifest: manifest_path.to_path_buf(),
                expected: self.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
