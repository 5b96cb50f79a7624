//! Model loading and inference through ONNX Runtime, with a tiny model whose
//! output is known: the log of the window's mean power.

use std::path::Path;

use voicegate::audio::{ChannelPick, Recording};
use voicegate::infer::{InferError, WindowModel};

use super::{repo_path, write};

fn sine(amplitude: f32) -> Vec<f32> {
    (0..16000)
        .map(|n| amplitude * (n as f32 * 2.0 * std::f32::consts::PI * 440.0 / 8000.0).sin())
        .collect()
}

#[test]
fn a_batch_of_windows_gives_one_raw_output_and_score_each() {
    let model = WindowModel::load(&repo_path("tests/data/loudness.toml")).expect("model loads");
    let quiet = sine(0.01);
    let loud = sine(0.5);
    let raw = model.run(&[&quiet, &loud]).unwrap();
    let expected = [(0.01f32 * 0.01 / 2.0).ln(), (0.5f32 * 0.5 / 2.0).ln()];
    for (got, want) in raw.iter().zip(expected) {
        assert!((got - want).abs() < 1e-3, "got {got}, want {want}");
    }
    // The manifest maps log power -10 → 0 and -2 → 100, linearly between.
    let scores = model.scores(&[&quiet, &loud]).unwrap();
    for (score, raw) in scores.iter().zip(expected) {
        assert!(
            (score - 100.0 * (raw + 10.0) / 8.0).abs() < 0.1,
            "{scores:?}"
        );
    }
    let silence = vec![0.0; 16000];
    assert_eq!(
        model.scores(&[&silence]).unwrap(),
        vec![0.0],
        "clamped below the table"
    );
}

#[test]
fn a_window_of_the_wrong_length_is_refused() {
    let model = WindowModel::load(&repo_path("tests/data/loudness.toml")).unwrap();
    let short = vec![0.0; 100];
    assert!(matches!(
        model.run(&[&short]),
        Err(InferError::WindowLength {
            expected: 16000,
            actual: 100
        })
    ));
}

fn copy_model_with_manifest(dir: &Path, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    std::fs::copy(
        repo_path("tests/data/loudness.onnx"),
        dir.join("loudness.onnx"),
    )
    .unwrap();
    let manifest = std::fs::read_to_string(repo_path("tests/data/loudness.toml")).unwrap();
    write(dir, "loudness.toml", &edit(manifest))
}

/// Why loading the model of `manifest` is refused.
fn load_error(manifest: &Path) -> String {
    WindowModel::load(manifest)
        .err()
        .expect("refused")
        .to_string()
}

#[test]
fn a_model_that_does_not_match_its_sha256_is_refused_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = copy_model_with_manifest(dir.path(), |m| m.replace("a4136c35", "00000000"));
    let error = WindowModel::load(&manifest)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("loudness.onnx: sha256 is a4136c35"),
        "{error}"
    );
    assert!(error.contains("loudness.toml says 00000000"), "{error}");
}

#[test]
fn a_bad_manifest_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = copy_model_with_manifest(dir.path(), |m| {
        m.replace("window_s = 2.0", "window_s = \"two\"")
    });
    let error = WindowModel::load(&manifest)
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("loudness.toml:6: invalid type"), "{error}");
    let manifest = copy_model_with_manifest(dir.path(), |m| {
        m.replace("score = [0.0, 100.0]", "score = [100.0, 0.0]")
    });
    let error = WindowModel::load(&manifest)
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("must both ascend"), "{error}");
}

#[test]
fn a_scoring_manifest_with_several_outputs_or_a_bad_adaptive_weight_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let refused =
        |edit: &dyn Fn(String) -> String| load_error(&copy_model_with_manifest(dir.path(), edit));
    let error = refused(&|m| m.replace("shape = [-1]\n", "shape = [-1, 3]\n"));
    assert!(error.contains("output must be [-1] or [-1, 1]"), "{error}");
    let error = refused(&|m| m + "adapt_weight = -1.0\n");
    assert!(
        error.contains("adapt_weight and baseline_shift must lie within 0..=4"),
        "{error}"
    );
    let manifest = copy_model_with_manifest(dir.path(), |m| {
        m + "adapt_weight = 1.5\nbaseline_prior_logit = -1.0\nbaseline_prior_windows = 4.0\n"
    });
    let model = WindowModel::load(&manifest).expect("an adaptive calibration loads");
    assert_eq!(model.calibration().unwrap().adapt_weight, 1.5);
}

#[test]
fn a_missing_model_file_says_how_to_restore_it() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = copy_model_with_manifest(dir.path(), |m| m);
    std::fs::remove_file(dir.path().join("loudness.onnx")).unwrap();
    let error = WindowModel::load(&manifest)
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("loudness.onnx: cannot read"), "{error}");
}

#[test]
fn the_shipped_anger_model_loads_and_scores_within_0_to_100() {
    let model = WindowModel::load(&repo_path("models/anger.toml")).expect("shipped model loads");
    assert_eq!(model.manifest().window_samples(), 16000);
    assert_eq!(model.manifest().hop_samples(), 4000);
    let tone = sine(0.3);
    let hiss: Vec<f32> = (0..16000)
        .map(|n| ((n * 7919 % 2003) as f32 / 2003.0 - 0.5) * 0.01)
        .collect();
    let scores = model.scores(&[&tone, &hiss]).unwrap();
    assert_eq!(scores.len(), 2);
    assert!(
        scores.iter().all(|s| (0.0..=100.0).contains(s)),
        "{scores:?}"
    );
}

/// The shipped keyword model (detector, verifier and gate) and its manifest
/// in `dir`, the manifest edited.
fn copy_keyword_model(dir: &Path, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    for file in ["kws.onnx", "kws-verifier.onnx", "kws-gate.onnx"] {
        std::fs::copy(repo_path(&format!("models/{file}")), dir.join(file)).unwrap();
    }
    let manifest = std::fs::read_to_string(repo_path("models/kws.toml")).unwrap();
    write(dir, "kws.toml", &edit(manifest))
}

/// A fixture call's audio at the call rate.
fn fixture_audio(call: &str) -> Vec<f32> {
    let path = repo_path(&format!("fixtures/calls/{call}/call.flac"));
    Recording::read_all(&path, ChannelPick::Mix).expect("the fixture decodes")
}

#[test]
fn the_shipped_keyword_model_runs_its_verifier_only_where_the_detector_hears_a_word() {
    let model = WindowModel::load(&repo_path("models/kws.toml")).expect("shipped model loads");
    let manifest = model.manifest();
    let detection = manifest.detection.as_ref().expect("a keyword model");
    assert!(detection.has_verifier());
    let audio = fixture_audio("kws_agent_x3_quick");
    let windows: Vec<&[f32]> = audio.windows(8000).step_by(800).collect();
    let rows = model.rows(&windows).unwrap();
    assert_eq!(rows.len(), windows.len());
    let classes = manifest.classes.len();
    let mut verified = 0;
    for row in &rows {
        let candidate = detection.is_candidate(&manifest.classes, &row[..classes]);
        let expected = if candidate { 2 * classes } else { classes };
        assert_eq!(
            row.len(),
            expected,
            "the verifier's logits follow the detector's on candidates only"
        );
        verified += usize::from(candidate);
    }
    assert!(
        verified > 0 && verified < rows.len(),
        "\"agent\" ×3 has windows of the word and others: {verified} of {}",
        rows.len()
    );
}

/// The load error of the shipped keyword model with its manifest edited.
fn refused(edit: impl Fn(String) -> String) -> String {
    let dir = tempfile::tempdir().unwrap();
    load_error(&copy_keyword_model(dir.path(), edit))
}

/// The load error of the shipped keyword model with one of its files
/// replaced by other bytes.
fn refused_with_a_wrong(file: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let manifest = copy_keyword_model(dir.path(), |m| m);
    std::fs::write(dir.path().join(file), b"not the model").unwrap();
    load_error(&manifest)
}

#[test]
fn a_keyword_manifest_whose_verifier_does_not_match_its_words_or_file_is_refused() {
    let without = |m: String, starts: &str| {
        m.lines()
            .filter(|line| !line.starts_with(starts))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let error = refused(|m| without(m, "verifier_thresholds"));
    assert!(
        error.contains("[verifier] needs detection.verifier_thresholds"),
        "{error}"
    );
    let error = refused(|m| without_table(&m, "[verifier]"));
    assert!(
        error.contains("detection.verifier_thresholds need a [verifier]"),
        "{error}"
    );
    let error = refused(|m| m.replace("verifier_thresholds = [", "verifier_thresholds = [0.5, "));
    assert!(error.contains("need one per word"), "{error}");
    let error = refused_with_a_wrong("kws-verifier.onnx");
    assert!(error.contains("kws-verifier.onnx: sha256 is"), "{error}");
}

/// A keyword manifest without one of its tables (`[verifier]`, `[gate]`).
fn without_table(manifest: &str, table: &str) -> String {
    let (before, after) = manifest.split_once(table).expect("the table");
    let (_, rest) = after.split_once("\n\n").expect("a line after the table");
    format!("{before}{rest}")
}

#[test]
fn the_shipped_keyword_model_runs_its_detector_only_where_its_gate_hears_a_word() {
    let gated = WindowModel::load(&repo_path("models/kws.toml")).expect("shipped model loads");
    let manifest = gated.manifest();
    let detection = manifest.detection.as_ref().expect("a keyword model");
    let bar = manifest
        .gate
        .as_ref()
        .and_then(|gate| gate.bar)
        .expect("a [gate] with its bar");
    let dir = tempfile::tempdir().unwrap();
    let everywhere = copy_keyword_model(dir.path(), |m| without_table(&m, "[gate]"));
    let ungated = WindowModel::load(&everywhere).expect("the model without its gate loads");
    let mut audio = fixture_audio("kws_agent_x3_quick");
    audio.extend(fixture_audio("kws_phone_sentence"));
    let windows: Vec<&[f32]> = audio.windows(8000).step_by(800).collect();
    let (rows, detector_rows) = (
        gated.rows(&windows).unwrap(),
        ungated.rows(&windows).unwrap(),
    );
    let classes = manifest.classes.len();
    let same = |a: &[f32], b: &[f32]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-3)
    };
    let mut detected = 0;
    for (row, detector_row) in rows.iter().zip(&detector_rows) {
        if same(row, detector_row) {
            detected += 1;
            continue;
        }
        // The gate's own logits: it heard no word, so nothing more ran.
        assert_eq!(
            row.len(),
            classes,
            "no verifier where the gate heard nothing"
        );
        assert!(
            !detection.gate_hears(&manifest.classes, row, bar),
            "the detector did not run on a window the gate heard a word in"
        );
    }
    assert!(
        detected > 0 && detected < rows.len(),
        "\"agent\" ×3 and a sentence have windows the gate hears a word in and others: {detected} of {}",
        rows.len()
    );
}

#[test]
fn a_keyword_manifest_whose_gate_has_no_bar_or_a_wrong_file_is_refused() {
    let error = refused(|m| m.replace("\nbar = ", "\n# bar = "));
    assert!(error.contains("gate.bar must be a probability"), "{error}");
    let error = refused(|m| m.replace("\nbar = ", "\nbar = 1.5\n# was "));
    assert!(error.contains("gate.bar must be a probability"), "{error}");
    let error = refused_with_a_wrong("kws-gate.onnx");
    assert!(error.contains("kws-gate.onnx: sha256 is"), "{error}");
}
