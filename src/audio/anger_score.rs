//! From the anger model's output row to the 0-100 score the engine gets,
//! for one call: the caller-adaptive step, the manifest's calibration, then
//! smoothing. Replay and live calls both score through this one type, and
//! `tools/train/anger/calls.py` mirrors it for the evaluation (the vectors
//! in `fixtures/anger_scorer.toml` hold the two together).

use super::Smoother;
use crate::infer::Calibration;

/// A call's anger score, one model window at a time.
#[derive(Debug, Clone)]
pub struct AngerScorer {
    calibration: Calibration,
    baseline: Baseline,
    smoother: Smoother,
}

impl AngerScorer {
    /// `smoothing` is `[scoring] smoothing`: the share of each new score.
    pub fn new(calibration: Calibration, smoothing: f32) -> Self {
        let baseline = Baseline::new(
            calibration.baseline_prior_logit,
            calibration.baseline_prior_windows,
        );
        AngerScorer {
            calibration,
            baseline,
            smoother: Smoother::new(smoothing),
        }
    }

    /// The smoothed score after one more window; `row` is the model's output
    /// for it (its first value the anger logit).
    pub fn push(&mut self, row: &[f32]) -> f32 {
        let logit = row
            .first()
            .copied()
            .filter(|l| !l.is_nan())
            .unwrap_or(f32::NEG_INFINITY);
        let adapted = self.adapt(logit);
        self.smoother.push(self.calibration.score(adapted))
    }

    /// The logit against the caller's own baseline: a share of its change
    /// from the baseline is added (the same caller turning angry counts
    /// extra), and a share of the baseline's rise above the calm prior is
    /// taken off (a voice that sounds tense all call long, from its line,
    /// language or manner, is moved down). The baseline starts at the calm
    /// prior, so a caller angry from the first word is measured against
    /// calm speech and still scores high.
    fn adapt(&mut self, logit: f32) -> f32 {
        if !logit.is_finite() {
            return logit;
        }
        let baseline = self.baseline.mean();
        self.baseline.add(logit);
        let prior = self.calibration.baseline_prior_logit;
        logit + self.calibration.adapt_weight * (logit - baseline)
            - self.calibration.baseline_shift * (baseline - prior)
    }
}

/// The mean of the call's logits so far, with a prior counted as
/// `prior_windows` windows.
#[derive(Debug, Clone)]
struct Baseline {
    total: f64,
    weight: f64,
}

impl Baseline {
    fn new(prior_logit: f32, prior_windows: f32) -> Baseline {
        let weight = f64::from(prior_windows.max(f32::MIN_POSITIVE));
        Baseline {
            total: f64::from(prior_logit) * weight,
            weight,
        }
    }

    fn mean(&self) -> f32 {
        (self.total / self.weight) as f32
    }

    fn add(&mut self, logit: f32) {
        self.total += f64::from(logit);
        self.weight += 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibration(adapt_weight: f32, baseline_shift: f32) -> Calibration {
        Calibration {
            kind: "piecewise_linear".into(),
            logit: vec![-4.0, -1.0, 1.0, 2.0, 3.0],
            score: vec![0.0, 20.0, 80.0, 95.0, 100.0],
            adapt_weight,
            baseline_shift,
            baseline_prior_logit: -1.0,
            baseline_prior_windows: 4.0,
        }
    }

    fn scores(scorer: &mut AngerScorer, logits: &[f32]) -> Vec<f32> {
        logits.iter().map(|&l| scorer.push(&[l])).collect()
    }

    #[test]
    fn without_adaptation_it_is_calibration_then_smoothing() {
        let mut scorer = AngerScorer::new(calibration(0.0, 0.0), 1.0);
        assert_eq!(
            scores(&mut scorer, &[-1.0, 1.0, 2.0]),
            vec![20.0, 80.0, 95.0]
        );
    }

    #[test]
    fn a_caller_angry_from_the_first_word_scores_high_at_once() {
        let mut scorer = AngerScorer::new(calibration(0.5, 0.5), 1.0);
        let first = scorer.push(&[1.5]);
        assert!(first > 95.0, "{first}");
    }

    #[test]
    fn a_voice_tense_all_call_long_is_moved_down_as_its_baseline_forms() {
        let mut scorer = AngerScorer::new(calibration(0.0, 1.0), 1.0);
        let scores = scores(&mut scorer, &[1.2; 30]);
        assert!(scores[0] > 80.0, "first window on its own: {scores:?}");
        assert!(scores[29] < 40.0, "after 30 windows: {scores:?}");
    }

    #[test]
    fn a_steadily_tense_voice_rises_less_than_a_change_to_anger() {
        let tense: Vec<f32> = std::iter::repeat(0.6).take(30).collect();
        let mut steady = AngerScorer::new(calibration(0.5, 0.5), 1.0);
        let late_steady = *scores(&mut steady, &tense).last().unwrap();
        let mut turning = AngerScorer::new(calibration(0.5, 0.5), 1.0);
        let calm_then_tense: Vec<f32> = [vec![-1.5; 20], tense].concat();
        let late_turning = scores(&mut turning, &calm_then_tense)[20];
        assert!(
            late_turning > late_steady + 5.0,
            "{late_turning} vs {late_steady}"
        );
    }

    #[test]
    fn an_empty_or_broken_row_scores_zero_and_leaves_the_baseline() {
        let mut scorer = AngerScorer::new(calibration(0.5, 0.5), 1.0);
        assert_eq!(scorer.push(&[]), 0.0);
        assert_eq!(scorer.push(&[f32::NAN]), 0.0);
        assert_eq!(scorer.push(&[-1.0]), 20.0);
    }

    /// Sequences scored by `tools/train/anger/calls.py` with the shipped
    /// calibration: Rust and the evaluation must agree.
    #[test]
    fn agrees_with_the_python_evaluation() {
        let vectors: toml::Table =
            toml::from_str(include_str!("../../fixtures/anger_scorer.toml")).unwrap();
        let calibration: Calibration = vectors["calibration"].clone().try_into().unwrap();
        let smoothing = vectors["smoothing"].as_float().unwrap() as f32;
        let calls = vectors["call"].as_array().unwrap();
        assert!(!calls.is_empty());
        for call in calls {
            let floats = |key: &str| -> Vec<f32> {
                call[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_float().unwrap() as f32)
                    .collect()
            };
            let mut scorer = AngerScorer::new(calibration.clone(), smoothing);
            let got = scores(&mut scorer, &floats("logits"));
            for (i, (g, want)) in got.iter().zip(floats("scores")).enumerate() {
                assert!(
                    (g - want).abs() < 0.01,
                    "window {i}: Rust {g}, Python {want}"
                );
            }
        }
    }
}
