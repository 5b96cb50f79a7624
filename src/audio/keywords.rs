//! Streaming keyword spotting around a keyword model, sans-IO: the windows
//! to score (the last second of audio, every hop, skipped when it holds no
//! speech-level frame) and the decision that turns window scores into
//! keywords (smoothing, per-word thresholds, a refractory time and re-arming
//! so one word is one event and noise cannot cause a storm). Replay and live calls run
//! exactly this; the model's training evaluation replicates it.

use std::collections::VecDeque;
use std::time::Duration;

use super::vad::level_db;
use super::windows::{Framer, Window};
use super::{CALL_RATE, FRAME_SAMPLES};
use crate::infer::Detection;

/// Windows for the keyword model: the last `window` samples of all audio
/// (zeros before the call started), every `hop` samples.
pub struct KeywordWindows {
    window: usize,
    hop: usize,
    /// A frame this loud (dBFS) or louder may hold a word; a window of only
    /// quieter frames is not scored (silence, a dead line).
    speech_level_db: f32,
    audio: VecDeque<f32>,
    /// Per 20 ms frame in `audio`: loud enough to be speech?
    loud: VecDeque<bool>,
    framer: Framer,
    since_last: usize,
    position: u64,
}

/// What to do with one hop: score this window, or nothing to hear.
#[derive(Debug, Clone, PartialEq)]
pub enum KeywordWindow {
    Score(Window),
    Quiet(Duration),
}

impl KeywordWindows {
    pub fn new(window: usize, hop: usize, speech_level_db: f32) -> KeywordWindows {
        let frames = window.div_ceil(FRAME_SAMPLES);
        KeywordWindows {
            window,
            hop: hop.max(1),
            speech_level_db,
            audio: vec![0.0; window].into(),
            loud: vec![false; frames].into(),
            framer: Framer::default(),
            since_last: 0,
            position: 0,
        }
    }

    /// Feeds samples at the call rate; returns one entry per hop completed.
    pub fn push(&mut self, samples: &[f32]) -> Vec<KeywordWindow> {
        let frames = self.framer.push(samples);
        frames
            .iter()
            .filter_map(|frame| self.push_frame(frame))
            .collect()
    }

    fn push_frame(&mut self, frame: &[f32]) -> Option<KeywordWindow> {
        self.position += frame.len() as u64;
        self.audio.extend(frame.iter().copied());
        let excess = self.audio.len().saturating_sub(self.window);
        self.audio.drain(..excess);
        self.loud.push_back(level_db(frame) >= self.speech_level_db);
        self.loud.pop_front();
        self.since_last += frame.len();
        if self.since_last < self.hop {
            return None;
        }
        self.since_last = 0;
        let at = Duration::from_secs_f64(self.position as f64 / f64::from(CALL_RATE));
        if !self.loud.iter().any(|loud| *loud) {
            return Some(KeywordWindow::Quiet(at));
        }
        Some(KeywordWindow::Score(Window {
            at,
            samples: self.audio.iter().copied().collect(),
        }))
    }
}

/// A spotted word.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub at: Duration,
    pub word: String,
    /// The smoothed probability that fired it.
    pub confidence: f32,
}

/// Turns window outputs into keywords, as the model's manifest says.
pub struct KeywordDecider {
    classes: Vec<String>,
    /// (class index, threshold) of every word listened for.
    words: Vec<(usize, f32)>,
    smoothing: usize,
    refractory: Duration,
    /// Probabilities of the listened-for words in the latest windows.
    recent: VecDeque<Vec<f32>>,
    quiet_until: Option<Duration>,
    /// Per word: may fire. A word that fired fires again only after a window
    /// where it was not the top class: a word stays in the sliding window for
    /// up to a window's length, and that tail must not count as a repeat.
    armed: Vec<bool>,
}

impl KeywordDecider {
    /// Listens for `listen` (each a class of the model; others are ignored).
    pub fn new(classes: &[String], detection: &Detection, listen: &[String]) -> KeywordDecider {
        let words: Vec<(usize, f32)> = detection
            .words
            .iter()
            .zip(&detection.thresholds)
            .filter(|(word, _)| listen.contains(word))
            .filter_map(|(word, threshold)| {
                Some((classes.iter().position(|c| c == word)?, *threshold))
            })
            .collect();
        KeywordDecider {
            classes: classes.to_vec(),
            armed: vec![true; words.len()],
            words,
            smoothing: detection.smoothing_windows.max(1),
            refractory: Duration::from_secs_f64(detection.refractory_s),
            recent: VecDeque::new(),
            quiet_until: None,
        }
    }

    /// A window too quiet to score: no word in it.
    pub fn quiet(&mut self) {
        self.remember(vec![0.0; self.words.len()]);
        self.armed.fill(true);
    }

    /// The model's logits for the window ending at `at`.
    pub fn push(&mut self, at: Duration, logits: &[f32]) -> Option<Hit> {
        let probabilities = softmax(logits);
        let top_class = argmax(&probabilities)?;
        self.remember(
            self.words
                .iter()
                .map(|(class, _)| probabilities.get(*class).copied().unwrap_or(0.0))
                .collect(),
        );
        for (armed, (class, _)) in self.armed.iter_mut().zip(&self.words) {
            *armed |= *class != top_class;
        }
        if self.quiet_until.is_some_and(|until| at < until) {
            return None;
        }
        let (best, smoothed) = (0..self.words.len())
            .map(|index| (index, self.smoothed(index)))
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        let (class, threshold) = self.words[best];
        if smoothed < threshold || class != top_class || !self.armed[best] {
            return None;
        }
        self.armed[best] = false;
        self.quiet_until = Some(at + self.refractory);
        Some(Hit {
            at,
            word: self.classes[class].clone(),
            confidence: smoothed,
        })
    }

    fn remember(&mut self, probabilities: Vec<f32>) {
        self.recent.push_back(probabilities);
        while self.recent.len() > self.smoothing {
            self.recent.pop_front();
        }
    }

    fn smoothed(&self, word: usize) -> f32 {
        let sum: f32 = self.recent.iter().map(|p| p[word]).sum();
        sum / self.smoothing as f32
    }
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let total: f32 = exps.iter().sum();
    exps.iter().map(|e| e / total).collect()
}

fn argmax(values: &[f32]) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn detection() -> Detection {
        Detection {
            smoothing_windows: 3,
            refractory_s: 1.0,
            words: vec!["agent".into(), "人工".into()],
            thresholds: vec![0.7, 0.6],
            vad_floor_dbfs: -45.0,
            vad_frame_s: 0.02,
            trigger_words: Vec::new(),
        }
    }

    fn classes() -> Vec<String> {
        ["_silence_", "_unknown_", "agent", "人工"]
            .map(String::from)
            .to_vec()
    }

    /// Logits whose softmax puts `p` on class `class` and the rest on `_unknown_`.
    fn logits(class: usize, p: f32) -> Vec<f32> {
        let mut l = vec![-30.0; 4];
        l[class] = p.ln();
        l[1] = (1.0 - p).max(1e-6).ln();
        l
    }

    fn decider() -> KeywordDecider {
        let listen: Vec<String> = ["agent", "人工"].map(String::from).to_vec();
        KeywordDecider::new(&classes(), &detection(), &listen)
    }

    #[test]
    fn a_word_fires_once_its_smoothed_probability_reaches_the_threshold() {
        let mut d = decider();
        assert_eq!(d.push(ms(100), &logits(2, 0.9)), None, "0.9 / 3 windows");
        assert_eq!(d.push(ms(200), &logits(2, 0.9)), None, "1.8 / 3");
        let hit = d
            .push(ms(300), &logits(2, 0.9))
            .expect("2.7 / 3 = 0.9 >= 0.7");
        assert_eq!((hit.word.as_str(), hit.at), ("agent", ms(300)));
        assert!((hit.confidence - 0.9).abs() < 1e-4);
    }

    #[test]
    fn a_held_word_is_one_event_and_a_repeat_needs_a_break() {
        let mut d = decider();
        let hits: Vec<Duration> = (1..=25)
            .filter_map(|n| d.push(ms(100 * n), &logits(3, 0.95)))
            .map(|h| h.at)
            .collect();
        // 人工's threshold 0.6 is reached by the second window (2 × 0.95 / 3).
        assert_eq!(hits, [ms(200)], "the word never left the window");
        assert_eq!(
            d.push(ms(2600), &logits(1, 0.9)),
            None,
            "other speech re-arms it"
        );
        let again: Vec<Duration> = (27..=30)
            .filter_map(|n| d.push(ms(100 * n), &logits(3, 0.95)))
            .map(|h| h.at)
            .collect();
        assert_eq!(again, [ms(2700)], "(0.95 + 0 + 0.95) / 3 >= 0.6");
    }

    #[test]
    fn the_refractory_time_keeps_other_words_quiet_too() {
        let mut d = decider();
        assert!((1..=3).any(|n| d.push(ms(100 * n), &logits(2, 0.95)).is_some()));
        let other: Vec<Duration> = (4..=15)
            .filter_map(|n| d.push(ms(100 * n), &logits(3, 0.99)))
            .map(|h| h.at)
            .collect();
        assert_eq!(other, [ms(1300)], "人工 waits until a second after agent");
    }

    #[test]
    fn a_word_that_is_not_the_top_class_does_not_fire() {
        let mut d = decider();
        let mut mixed = logits(2, 0.45);
        mixed[1] = 0.55f32.ln();
        for n in 1..=5 {
            assert_eq!(d.push(ms(100 * n), &mixed), None, "unknown speech wins");
        }
    }

    #[test]
    fn quiet_windows_count_as_nothing_heard() {
        let mut d = decider();
        d.push(ms(100), &logits(2, 0.99));
        d.quiet();
        assert_eq!(
            d.push(ms(300), &logits(2, 0.99)),
            None,
            "(0.99 + 0 + 0.99) / 3 = 0.66 < 0.7"
        );
        assert_eq!(
            d.push(ms(400), &logits(2, 0.99)),
            None,
            "the quiet window still counts"
        );
        assert!(
            d.push(ms(500), &logits(2, 0.99)).is_some(),
            "three loud windows in a row"
        );
    }

    #[test]
    fn words_not_listened_for_are_ignored() {
        let listen = vec!["人工".to_string()];
        let mut d = KeywordDecider::new(&classes(), &detection(), &listen);
        assert!((1..=5).all(|n| d.push(ms(100 * n), &logits(2, 0.99)).is_none()));
    }

    #[test]
    fn windows_come_every_hop_and_silence_is_not_scored() {
        let mut windows = KeywordWindows::new(8000, 800, -45.0);
        let silence = windows.push(&vec![0.0; 8000]);
        assert_eq!(silence.len(), 10);
        assert!(silence.iter().all(|w| matches!(w, KeywordWindow::Quiet(_))));
        let tone: Vec<f32> = (0..1600).map(|i| (i as f32 * 0.3).sin() * 0.3).collect();
        let spoken = windows.push(&tone);
        match &spoken[..] {
            [KeywordWindow::Score(a), KeywordWindow::Score(b)] => {
                assert_eq!((a.at, b.at), (ms(1100), ms(1200)));
                assert_eq!(b.samples.len(), 8000);
                assert_eq!(
                    &b.samples[6400..],
                    &tone[..],
                    "the last second, newest last"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
