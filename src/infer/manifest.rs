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
    /// A keyword model's second stage, a graph of its own: run only on the
    /// windows whose detector top class is a word.
    #[serde(default)]
    pub verifier: Option<StageSpec>,
    /// A keyword model's gate, a graph of its own run on every window: the
    /// detector runs only where it hears a word ([`Detection::gate_hears`]).
    #[serde(default)]
    pub gate: Option<StageSpec>,
    /// A scoring model (anger): its raw output mapped to 0-100.
    #[serde(default)]
    pub calibration: Option<Calibration>,
    /// A keyword model: the class of each output column…
    #[serde(default)]
    pub classes: Vec<String>,
    /// …and the streaming decision that turns them into keywords.
    #[serde(default)]
    pub detection: Option<Detection>,
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

/// A keyword model's verifier or gate: its file (relative to the manifest),
/// which takes the same input as the detector and gives `output`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub file: PathBuf,
    pub sha256: String,
    pub output: OutputSpec,
    /// A gate's: the least P of a word (its own softmax) at which the
    /// detector runs on a window whose top class is not a word.
    #[serde(default)]
    pub bar: Option<f32>,
}

/// A monotone piecewise-linear map from the raw output to 0-100, applied to
/// the logit after the caller-adaptive step (`src/audio/anger_score.rs`):
/// `logit + adapt_weight * (logit - baseline) - baseline_shift * (baseline -
/// baseline_prior_logit)`, where the baseline is the mean of the call's
/// earlier logits with `baseline_prior_logit` counted as
/// `baseline_prior_windows` windows of it. With both weights 0 (the
/// default) every window is scored on its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub kind: String,
    pub logit: Vec<f32>,
    pub score: Vec<f32>,
    #[serde(default)]
    pub adapt_weight: f32,
    #[serde(default)]
    pub baseline_shift: f32,
    #[serde(default)]
    pub baseline_prior_logit: f32,
    #[serde(default = "default_prior_windows")]
    pub baseline_prior_windows: f32,
}

fn default_prior_windows() -> f32 {
    1.0
}

/// How a keyword model's window outputs become detections: P(word)
/// averaged over `smoothing_windows` windows must reach the word's threshold
/// while the word is the latest window's top class; then nothing fires for
/// `refractory_s`. Speech after a pause of `pause_s` (frames below the VAD
/// floor or `pause_drop_db` under the window's loudest) is scored without
/// what came before the pause. With `verifier_thresholds`, the model has a
/// second stage (the manifest's `[verifier]`): its logits over the same
/// classes for the same window follow the detector's in a window's row, and
/// a word the detector finds fires only if the verifier's P of it (its own
/// softmax) also reaches the word's verifier threshold. Rows carry them only
/// where the detector's top class is a word ([`Detection::is_candidate`]),
/// which every window a word fires on is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detection {
    pub smoothing_windows: usize,
    pub refractory_s: f64,
    /// A window is scored only if one of its frames is at least this loud (dBFS)…
    #[serde(default = "default_vad_floor_dbfs")]
    pub vad_floor_dbfs: f32,
    /// …in frames of this length, which must be the call's 20 ms packets.
    #[serde(default = "default_vad_frame_s")]
    pub vad_frame_s: f64,
    #[serde(default = "default_pause_s")]
    pub pause_s: f64,
    #[serde(default = "default_pause_drop_db")]
    pub pause_drop_db: f32,
    pub words: Vec<String>,
    pub thresholds: Vec<f32>,
    /// Per word of `words`; empty for a model without a verifier.
    #[serde(default)]
    pub verifier_thresholds: Vec<f32>,
    /// The words the evaluation's targets were set for (information only).
    #[serde(default)]
    pub trigger_words: Vec<String>,
}

fn default_vad_floor_dbfs() -> f32 {
    -45.0
}

fn default_vad_frame_s() -> f64 {
    0.02
}

fn default_pause_s() -> f64 {
    0.2
}

fn default_pause_drop_db() -> f32 {
    30.0
}

impl Detection {
    fn problem(&self, classes: &[String]) -> Option<String> {
        if self.smoothing_windows == 0 || !(0.0..=60.0).contains(&self.refractory_s) {
            return Some("detection.smoothing_windows must be at least 1 and detection.refractory_s within 0..=60".into());
        }
        if (self.vad_frame_s - 0.02).abs() > 1e-9 || !(-120.0..=0.0).contains(&self.vad_floor_dbfs)
        {
            return Some("detection.vad_frame_s must be 0.02 (the call's 20 ms packets) and detection.vad_floor_dbfs within -120..=0".into());
        }
        if !(0.02..=1.0).contains(&self.pause_s) || !(0.0..=120.0).contains(&self.pause_drop_db) {
            return Some(
                "detection.pause_s must be within 0.02..=1 and detection.pause_drop_db within 0..=120"
                    .into(),
            );
        }
        if self.words.len() != self.thresholds.len() {
            return Some("detection.words and detection.thresholds need the same length".into());
        }
        if let Some(word) = self.words.iter().find(|w| !classes.contains(w)) {
            return Some(format!(
                "detection.words has {word:?}, which is not in classes"
            ));
        }
        if self.thresholds.iter().any(|t| !(*t > 0.0 && *t <= 1.0)) {
            return Some("detection.thresholds are probabilities: each within (0, 1]".into());
        }
        if self.has_verifier() && self.verifier_thresholds.len() != self.words.len() {
            return Some(
                "detection.verifier_thresholds, if any, need one per word of detection.words"
                    .into(),
            );
        }
        if self
            .verifier_thresholds
            .iter()
            .any(|t| !(*t > 0.0 && *t <= 1.0))
        {
            return Some(
                "detection.verifier_thresholds are probabilities: each within (0, 1]".into(),
            );
        }
        None
    }

    /// Whether the model has a verifier, whose logits follow the detector's.
    pub fn has_verifier(&self) -> bool {
        !self.verifier_thresholds.is_empty()
    }

    /// Whether the verifier must hear a window: the detector's top class
    /// (`logits` over `classes`) is one of `words`. A word fires only on a
    /// window where it is the detector's top class, so the verifier is
    /// never asked about any other.
    pub fn is_candidate(&self, classes: &[String], logits: &[f32]) -> bool {
        let top = (logits.iter().enumerate())
            .filter(|(_, logit)| logit.is_finite())
            .max_by(|a, b| a.1.total_cmp(b.1))
            .and_then(|(index, _)| classes.get(index));
        top.is_some_and(|class| self.words.contains(class))
    }

    /// Whether the detector must hear a window the gate gave `logits`: a
    /// word is the gate's top class, or the gate's P of some word (softmax
    /// over `classes`) reaches `bar`. Any other window cannot fire: every
    /// threshold is far above a gate's bar.
    pub fn gate_hears(&self, classes: &[String], logits: &[f32], bar: f32) -> bool {
        if self.is_candidate(classes, logits) {
            return true;
        }
        let finite = || logits.iter().copied().filter(|logit| logit.is_finite());
        let top = finite().fold(f32::NEG_INFINITY, f32::max);
        let total: f32 = finite().map(|logit| (logit - top).exp()).sum();
        (classes.iter().zip(logits))
            .filter(|(class, logit)| self.words.contains(class) && logit.is_finite())
            .any(|(_, logit)| (logit - top).exp() / total >= bar)
    }
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
        let weights = [self.adapt_weight, self.baseline_shift];
        if !weights.iter().all(|w| (0.0..=4.0).contains(w))
            || !self.baseline_prior_windows.is_finite()
            || self.baseline_prior_windows <= 0.0
            || !self.baseline_prior_logit.is_finite()
        {
            return Some("calibration.adapt_weight and baseline_shift must lie within 0..=4, baseline_prior_windows be above 0 and baseline_prior_logit finite".into());
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
        let model_path = beside(path, &manifest.file);
        manifest.verify_file(&model_path, &manifest.sha256, path)?;
        for stage in [&manifest.verifier, &manifest.gate].into_iter().flatten() {
            manifest.verify_file(&beside(path, &stage.file), &stage.sha256, path)?;
        }
        Ok((manifest, model_path))
    }

    /// A verifier's or gate's file, beside the manifest.
    pub fn stage_path(manifest_path: &Path, stage: &StageSpec) -> PathBuf {
        beside(manifest_path, &stage.file)
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
        match (&self.calibration, &self.detection) {
            (Some(calibration), None) => {
                if let Some(problem) = calibration.problem() {
                    return Some(problem);
                }
                if self.verifier.is_some() || self.gate.is_some() {
                    return Some("a scoring model has no [verifier] or [gate]: those are a keyword model's stages".into());
                }
                if !matches!(self.output.shape.as_slice(), [-1] | [-1, 1]) {
                    return Some(format!(
                        "a scoring model's output must be [-1] or [-1, 1] (one logit per window), not {:?}",
                        self.output.shape
                    ));
                }
            }
            (None, Some(detection)) => {
                if let Some(problem) = detection.problem(&self.classes) {
                    return Some(problem);
                }
                if let Some(problem) = self.stages_problem(detection) {
                    return Some(problem);
                }
            }
            _ => {
                return Some(
                    "a manifest has either [calibration] (a 0-100 score) or classes with [detection] (keywords), not both or neither".into(),
                )
            }
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

    /// A keyword model's outputs: one logit per class from the detector and
    /// from the verifier, which comes with its thresholds or not at all.
    fn stages_problem(&self, detection: &Detection) -> Option<String> {
        let width = [-1, self.classes.len() as i64];
        if self.output.shape != width {
            return Some(format!(
                "output must be {width:?} (one logit per class), not {:?}",
                self.output.shape
            ));
        }
        if let Some(problem) = self
            .gate
            .as_ref()
            .and_then(|gate| gate_problem(gate, width))
        {
            return Some(problem);
        }
        match &self.verifier {
            Some(verifier) if verifier.output.shape != width => Some(format!(
                "verifier.output must be {width:?} (one logit per class), not {:?}",
                verifier.output.shape
            )),
            Some(verifier) if verifier.bar.is_some() => {
                Some("verifier.bar is a gate's: remove it from [verifier]".into())
            }
            Some(_) if !detection.has_verifier() => Some(
                "[verifier] needs detection.verifier_thresholds, one per word of detection.words"
                    .into(),
            ),
            None if detection.has_verifier() => Some(
                "detection.verifier_thresholds need a [verifier] (its file, sha256 and output)"
                    .into(),
            ),
            _ => None,
        }
    }

    fn verify_file(
        &self,
        model_path: &Path,
        expected: &str,
        manifest_path: &Path,
    ) -> Result<(), InferError> {
        let bytes = std::fs::read(model_path).map_err(|source| InferError::Read {
            path: model_path.to_path_buf(),
            source,
        })?;
        let actual = hex(&Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            return Err(InferError::Checksum {
                model: model_path.to_path_buf(),
                manifest: manifest_path.to_path_buf(),
                expected: expected.to_string(),
                actual,
            });
        }
        Ok(())
    }
}

fn gate_problem(gate: &StageSpec, width: [i64; 2]) -> Option<String> {
    if gate.output.shape != width {
        return Some(format!(
            "gate.output must be {width:?} (one logit per class), not {:?}",
            gate.output.shape
        ));
    }
    match gate.bar {
        Some(bar) if bar > 0.0 && bar < 1.0 => None,
        _ => Some("gate.bar must be a probability within (0, 1): the least P of a word at which the detector runs".into()),
    }
}

/// A file named in a manifest: relative to the manifest's directory.
fn beside(manifest_path: &Path, file: &Path) -> PathBuf {
    manifest_path.parent().unwrap_or(Path::new(".")).join(file)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four classes, and a decision that listens for "agent" alone.
    fn listening_for_agent() -> (Vec<String>, Detection) {
        let classes = ["_silence_", "_unknown_", "agent", "refund"].map(String::from);
        let detection = toml::from_str(
            "smoothing_windows = 2\nrefractory_s = 0.5\nwords = [\"agent\"]\nthresholds = [0.5]",
        )
        .unwrap();
        (classes.to_vec(), detection)
    }

    #[test]
    fn the_verifier_hears_a_window_only_where_the_detectors_top_class_is_a_word() {
        let (classes, detection) = listening_for_agent();
        let candidate = |logits: &[f32]| detection.is_candidate(&classes, logits);
        assert!(candidate(&[0.0, 1.0, 2.0, -1.0]), "agent on top");
        assert!(!candidate(&[0.0, 3.0, 2.0, -1.0]), "_unknown_ on top");
        assert!(
            !candidate(&[0.0, 1.0, 2.0, 5.0]),
            "a class not listened for"
        );
        assert!(
            candidate(&[0.0, f32::NAN, 2.0, -1.0]),
            "NaN is never the top class"
        );
        assert!(!candidate(&[]), "no logits");
    }

    #[test]
    fn the_gate_hears_a_word_on_top_or_one_whose_probability_reaches_the_bar() {
        let (classes, detection) = listening_for_agent();
        let hears = |logits: &[f32], bar| detection.gate_hears(&classes, logits, bar);
        // P(agent) = e^0 / (e^0 + e^2.2 + e^0) is about 0.09.
        let unknown_on_top = [f32::NEG_INFINITY, 2.2, 0.0, 0.0];
        assert!(hears(&unknown_on_top, 0.05));
        assert!(!hears(&unknown_on_top, 0.2));
        assert!(hears(&[0.0, 1.0, 2.0, -1.0], 0.99), "agent on top");
        assert!(
            !hears(&[-9.0, -9.0, -9.0, 9.0], 0.05),
            "a class not listened for, however likely"
        );
        assert!(!hears(&[], 0.05), "no logits");
    }
}
