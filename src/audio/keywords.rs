//! Streaming keyword spotting around a keyword model, sans-IO: the windows
//! to score (the last second of audio, every hop, skipped when it holds no
//! speech-level frame, and cut after a pause that speech follows) and the decision that turns window scores into
//! keywords (smoothing, per-word thresholds, a refractory time and re-arming
//! so one word is one event and noise cannot cause a storm, and, for a model
//! with a second stage, a verifier that must agree with each candidate). Replay and live calls run
//! exactly this; the model's training evaluation replicates it.

use std::collections::VecDeque;
use std::time::Duration;

use super::vad::level_db;
use super::windows::{Framer, Window};
use super::{CALL_RATE, FRAME_SAMPLES};
use crate::infer::Detection;
use crate::menu::normalize_phrase;

/// Windows for the keyword model: the last `window` samples of all audio
/// (zeros before the call started), every `hop` samples. When speech follows
/// a pause inside the window, what came before the pause is replaced by the
/// pause's own line sound: the model hears only what was said since, so a
/// word said again after a pause is heard as a new word, not as the tail of
/// the last one still in the window.
pub struct KeywordWindows {
    window: usize,
    hop: usize,
    /// A frame this loud (dBFS) or louder may hold a word; a window of only
    /// quieter frames is not scored (silence, a dead line).
    speech_level_db: f32,
    pause: Pause,
    audio: VecDeque<f32>,
    /// Level (dBFS) of every 20 ms frame in `audio`.
    levels: VecDeque<f32>,
    framer: Framer,
    since_last: usize,
    position: u64,
}

/// What counts as a pause between words: at least `frames` 20 ms frames
/// below the speech level or `drop_db` under the window's loudest frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pause {
    pub frames: usize,
    pub drop_db: f32,
}

/// What to do with one hop: score this window, or nothing to hear.
#[derive(Debug, Clone, PartialEq)]
pub enum KeywordWindow {
    Score(Window),
    Quiet(Duration),
}

impl KeywordWindows {
    pub fn new(window: usize, hop: usize, speech_level_db: f32, pause: Pause) -> KeywordWindows {
        let frames = window.div_ceil(FRAME_SAMPLES);
        KeywordWindows {
            window,
            hop: hop.max(1),
            speech_level_db,
            pause,
            audio: vec![0.0; window].into(),
            levels: vec![level_db(&[0.0]); frames].into(),
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
        self.levels.push_back(level_db(frame));
        self.levels.pop_front();
        self.since_last += frame.len();
        if self.since_last < self.hop {
            return None;
        }
        self.since_last = 0;
        let at = Duration::from_secs_f64(self.position as f64 / f64::from(CALL_RATE));
        if !self
            .levels
            .iter()
            .any(|level| *level >= self.speech_level_db)
        {
            return Some(KeywordWindow::Quiet(at));
        }
        let mut samples: Vec<f32> = self.audio.iter().copied().collect();
        let levels: Vec<f32> = self.levels.iter().copied().collect();
        if let Some((first, speech_from)) = last_pause(&levels, self.speech_level_db, self.pause) {
            let (start, end) = (first * FRAME_SAMPLES, speech_from * FRAME_SAMPLES);
            for index in 0..start {
                samples[index] = samples[start + index % (end - start)];
            }
        }
        Some(KeywordWindow::Score(Window { at, samples }))
    }
}

/// The first frame of the window's last pause that speech follows, and the
/// frame where that speech starts: `levels` are the window's frame levels
/// (dBFS); quiet is below `speech_level_db` or `pause.drop_db` under the
/// loudest frame.
fn last_pause(levels: &[f32], speech_level_db: f32, pause: Pause) -> Option<(usize, usize)> {
    let loudest = levels.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let quiet_below = speech_level_db.max(loudest - pause.drop_db);
    let quiet: Vec<bool> = levels.iter().map(|level| *level < quiet_below).collect();
    let mut speech_from = None;
    for frame in (0..quiet.len()).rev() {
        if !quiet[frame] {
            speech_from = Some(frame);
        } else if let Some(next) = speech_from.filter(|next| next - frame == pause.frames) {
            let first = quiet[..frame].iter().rposition(|q| !q).map_or(0, |i| i + 1);
            return Some((first, next));
        }
    }
    None
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
    /// Per listened word: the verifier's threshold; empty without a verifier.
    verify: Vec<f32>,
    /// Per word: acts only while a menu waits for a choice (digits, yes/no,
    /// menu phrases), so it is heard only then.
    menu_only: Vec<bool>,
    menu_waiting: bool,
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
        let verify = (0..detection.words.len())
            .map(|index| detection.verifier_thresholds.get(index).copied());
        let (words, verify): (Vec<(usize, f32)>, Vec<Option<f32>>) = detection
            .words
            .iter()
            .zip(&detection.thresholds)
            .zip(verify)
            .filter(|((word, _), _)| listen.contains(word))
            .filter_map(|((word, threshold), verify)| {
                Some((
                    (classes.iter().position(|c| c == word)?, *threshold),
                    verify,
                ))
            })
            .unzip();
        KeywordDecider {
            classes: classes.to_vec(),
            verify: verify.into_iter().flatten().collect(),
            armed: vec![true; words.len()],
            menu_only: vec![false; words.len()],
            menu_waiting: true,
            words,
            smoothing: detection.smoothing_windows.max(1),
            refractory: Duration::from_secs_f64(detection.refractory_s),
            recent: VecDeque::new(),
            quiet_until: None,
        }
    }

    /// Only `escalation` words (the policy's human and complaint words) are
    /// heard while no menu waits for a choice; every other word only while
    /// one does (see [`KeywordDecider::set_menu_waiting`]).
    pub fn with_escalation_words(mut self, escalation: &[String]) -> KeywordDecider {
        let escalation: Vec<String> = escalation.iter().map(|w| normalize_phrase(w)).collect();
        self.menu_only = self
            .words
            .iter()
            .map(|(class, _)| !escalation.contains(&normalize_phrase(&self.classes[*class])))
            .collect();
        self
    }

    /// Whether a menu waits for a choice now ([`crate::engine::Call::awaits_choice`]);
    /// asked before every window is decided. A new decider assumes one does.
    pub fn set_menu_waiting(&mut self, waiting: bool) {
        self.menu_waiting = waiting;
    }

    /// A window too quiet to score: no word in it.
    pub fn quiet(&mut self) {
        self.remember(vec![0.0; self.words.len()]);
        self.armed.fill(true);
    }

    /// The model's logits for the window ending at `at`: the detector's over
    /// the classes, then, for a model with a verifier, the verifier's (a
    /// model gives them only where the detector's top class is a word:
    /// [`crate::infer::Detection::is_candidate`]).
    pub fn push(&mut self, at: Duration, logits: &[f32]) -> Option<Hit> {
        let (detector, verifier) = logits.split_at(self.classes.len().min(logits.len()));
        let probabilities = softmax(detector);
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
            .filter(|index| self.menu_waiting || !self.menu_only[*index])
            .map(|index| (index, self.smoothed(index)))
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        let (class, threshold) = self.words[best];
        if smoothed < threshold || class != top_class || !self.armed[best] {
            return None;
        }
        // A candidate the verifier turns down changes nothing: the next
        // window may still fire.
        if !self.verified(best, verifier) {
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

    /// Whether the verifier agrees that listened word `word` is in the
    /// window (always, for a model without one; never, for a window without
    /// the verifier's logits).
    fn verified(&self, word: usize, verifier: &[f32]) -> bool {
        let Some(threshold) = self.verify.get(word) else {
            return true;
        };
        let class = self.words[word].0;
        softmax(verifier).get(class).is_some_and(|p| p >= threshold)
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

    const PAUSE: Pause = Pause {
        frames: 10,
        drop_db: 30.0,
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A 0.3-amplitude 700 Hz "word" of `n` samples.
    fn word(n: usize) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.55).sin() * 0.3).collect()
    }

    /// The last scored window after pushing `audio` into fresh windows.
    fn last_scored(audio: &[f32]) -> Vec<f32> {
        let mut windows = KeywordWindows::new(8000, 800, -45.0, PAUSE);
        match windows.push(audio).pop() {
            Some(KeywordWindow::Score(window)) => window.samples,
            other => panic!("{other:?}"),
        }
    }

    fn detection() -> Detection {
        Detection {
            smoothing_windows: 3,
            refractory_s: 1.0,
            words: vec!["agent".into(), "人工".into()],
            thresholds: vec![0.7, 0.6],
            vad_floor_dbfs: -45.0,
            vad_frame_s: 0.02,
            pause_s: 0.2,
            pause_drop_db: 30.0,
            verifier_thresholds: Vec::new(),
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

    /// A decider for a two-stage model whose verifier needs P >= 0.5.
    fn verified_decider() -> KeywordDecider {
        let detection = Detection {
            verifier_thresholds: vec![0.5, 0.5],
            ..detection()
        };
        KeywordDecider::new(&classes(), &detection, &detection.words)
    }

    /// Both stages' logits: the detector puts `p` on `class`, the verifier `verified`.
    fn two_stage(class: usize, p: f32, verified: f32) -> Vec<f32> {
        [logits(class, p), logits(class, verified)].concat()
    }

    #[test]
    fn a_word_fires_only_where_the_verifier_agrees() {
        let mut d = verified_decider();
        assert_eq!(d.push(ms(100), &two_stage(2, 0.9, 0.9)), None, "0.3 < 0.7");
        assert_eq!(d.push(ms(200), &two_stage(2, 0.9, 0.9)), None, "0.6 < 0.7");
        assert_eq!(
            d.push(ms(300), &two_stage(2, 0.9, 0.2)),
            None,
            "the detector's candidate, turned down by the verifier"
        );
        let hit = d
            .push(ms(400), &two_stage(2, 0.9, 0.6))
            .expect("the turned-down window left the word armed, with no refractory time");
        assert_eq!((hit.word.as_str(), hit.at), ("agent", ms(400)));
        assert!((hit.confidence - 0.9).abs() < 1e-4, "the detector's P");
    }

    #[test]
    fn a_window_without_the_verifiers_logits_fires_no_word_of_a_two_stage_model() {
        let mut d = verified_decider();
        let heard = (1..=5)
            .filter_map(|n| d.push(ms(100 * n), &logits(2, 0.99)))
            .count();
        assert_eq!(heard, 0);
        assert!(
            d.push(ms(600), &two_stage(2, 0.99, 0.9)).is_some(),
            "the word was left armed"
        );
    }

    #[test]
    fn a_verifier_that_never_agrees_silences_a_word_the_detector_hears() {
        let mut d = verified_decider();
        let hits = (1..=20)
            .filter_map(|n| d.push(ms(100 * n), &two_stage(3, 0.99, 0.3)))
            .count();
        assert_eq!(hits, 0);
        let mut alone = decider();
        let heard = (1..=20)
            .filter_map(|n| alone.push(ms(100 * n), &logits(3, 0.99)))
            .count();
        assert_eq!(heard, 1, "the detector alone hears it once");
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
    fn speech_after_a_pause_is_scored_without_what_came_before() {
        // word 0.4 s, pause 0.3 s of faint hiss, the word again (0.2 s so far).
        let hiss: Vec<f32> = (0..2400).map(|i| (i as f32 * 2.3).sin() * 1e-3).collect();
        let audio = [word(3200), hiss.clone(), word(1600)].concat();
        let window = last_scored(&audio);
        assert_eq!(window.len(), 8000);
        assert_eq!(&window[6400..], &word(1600)[..], "the new speech is kept");
        assert_eq!(&window[4000..6400], &hiss[..], "so is the pause");
        assert!(
            window[..4000].iter().all(|s| s.abs() <= 1e-3),
            "the first word is gone: the pause's hiss stands in for it"
        );
        assert_eq!(
            &window[..2400],
            &hiss[..],
            "repeated from the pause's start"
        );
    }

    #[test]
    fn a_short_gap_inside_a_word_and_a_long_word_are_not_cut() {
        let closure = vec![0.0; 1200]; // 150 ms: a stop consonant, not a pause
        let audio = [word(3200), closure, word(3600)].concat();
        let window = last_scored(&audio);
        assert_eq!(&window[..], &audio[..], "all of the last second");
        let long = word(12000);
        assert_eq!(&last_scored(&long)[..], &long[4000..], "one long word");
    }

    #[test]
    fn a_pause_at_the_end_of_the_window_keeps_the_word_before_it() {
        // The word just ended: the decision still has to hear it.
        let audio = [word(3200), vec![0.0; 2400]].concat();
        let window = last_scored(&audio);
        assert_eq!(&window[2400..5600], &word(3200)[..]);
    }

    /// tests/data/keyword_decisions.json: the training evaluation's decisions
    /// (tools/train/kws/decisions.py) from the model's logits on held-out
    /// synthetic calls; this decider must make the same ones.
    fn vectors() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/data/keyword_decisions.json"))
            .expect("valid vectors")
    }

    fn strings(value: &serde_json::Value) -> Vec<String> {
        let items = value.as_array().expect("a list");
        items
            .iter()
            .map(|v| v.as_str().expect("a string").to_string())
            .collect()
    }

    /// A list of numbers; none where the vectors have no such list.
    fn numbers(value: &serde_json::Value) -> Vec<f32> {
        let items = value.as_array().map_or(&[][..], Vec::as_slice);
        items
            .iter()
            .map(|t| t.as_f64().expect("a number") as f32)
            .collect()
    }

    /// (ms, word, confidence) of every event this decider makes in a case.
    fn decided(vectors: &serde_json::Value, case: &serde_json::Value) -> Vec<(u64, String, f32)> {
        let detection = Detection {
            smoothing_windows: vectors["smoothing_windows"].as_u64().expect("count") as usize,
            refractory_s: vectors["refractory_s"].as_f64().expect("seconds"),
            words: strings(&vectors["words"]),
            thresholds: numbers(&vectors["thresholds"]),
            verifier_thresholds: numbers(&vectors["verifier_thresholds"]),
            ..detection()
        };
        let mut decider =
            KeywordDecider::new(&strings(&vectors["classes"]), &detection, &detection.words)
                .with_escalation_words(&strings(&vectors["escalation"]));
        decider.set_menu_waiting(!case["escalation_only"].as_bool().expect("a flag"));
        let mut events = Vec::new();
        for window in case["windows"].as_array().expect("windows") {
            let at = ms(window[0].as_u64().expect("ms"));
            let Some(logits) = window[1].as_array() else {
                decider.quiet();
                continue;
            };
            let logits: Vec<f32> = logits
                .iter()
                .map(|l| l.as_f64().expect("a logit") as f32)
                .collect();
            if let Some(hit) = decider.push(at, &logits) {
                events.push((hit.at.as_millis() as u64, hit.word, hit.confidence));
            }
        }
        events
    }

    fn words_heard(name_starts: &str) -> Vec<String> {
        let vectors = vectors();
        let cases = vectors["cases"].as_array().expect("cases");
        let case = cases
            .iter()
            .find(|c| {
                c["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(name_starts))
            })
            .expect("a case of that name");
        decided(&vectors, case)
            .into_iter()
            .map(|(_, word, _)| word)
            .collect()
    }

    #[test]
    fn decides_what_the_training_evaluation_decides() {
        let vectors = vectors();
        for case in vectors["cases"].as_array().expect("cases") {
            let expected: Vec<(u64, String, f32)> =
                (case["events"].as_array().expect("events").iter())
                    .map(|e| {
                        let word = e[1].as_str().expect("a word").to_string();
                        (
                            e[0].as_u64().expect("ms"),
                            word,
                            e[2].as_f64().expect("p") as f32,
                        )
                    })
                    .collect();
            let actual = decided(&vectors, case);
            let same = actual.len() == expected.len()
                && actual
                    .iter()
                    .zip(&expected)
                    .all(|(a, e)| a.0 == e.0 && a.1 == e.1 && (a.2 - e.2).abs() < 1e-3);
            assert!(same, "{}: {actual:?} != {expected:?}", case["name"]);
        }
    }

    #[test]
    fn finds_the_pauses_the_training_evaluation_finds() {
        let vectors = vectors();
        let pause = Pause {
            frames: vectors["pause_frames"].as_u64().expect("frames") as usize,
            drop_db: vectors["pause_drop_db"].as_f64().expect("dB") as f32,
        };
        let floor = vectors["speech_level_db"].as_f64().expect("dBFS") as f32;
        for entry in vectors["pauses"].as_array().expect("pauses") {
            let levels: Vec<f32> = (entry["levels"].as_array().expect("levels").iter())
                .map(|l| l.as_f64().expect("dB") as f32)
                .collect();
            let expected = entry["pause"].as_array().map(|p| {
                (
                    p[0].as_u64().expect("frame") as usize,
                    p[1].as_u64().expect("frame") as usize,
                )
            });
            assert_eq!(last_pause(&levels, floor, pause), expected, "{levels:?}");
        }
    }

    #[test]
    fn a_word_said_three_times_at_a_natural_pace_is_three_events() {
        assert_eq!(words_heard("agent ×3, 0.3 s"), ["agent"; 3]);
        assert_eq!(words_heard("人工 ×3, 0.3 s"), ["人工"; 3]);
        assert_eq!(words_heard("人工 ×3, 0.5 s"), ["人工"; 3]);
    }

    #[test]
    fn one_long_word_is_one_event() {
        assert_eq!(words_heard("one long agent"), ["agent"]);
        assert_eq!(words_heard("operator in a sentence"), ["operator"]);
    }

    #[test]
    fn spoken_digits_count_only_while_a_menu_waits() {
        // The verifier turns this call's "four" down;
        // the fixture kws_menu_digit hears both.
        assert_eq!(words_heard("four, one in a menu"), ["one"]);
        assert!(words_heard("four, one with no menu").is_empty());
    }

    #[test]
    fn windows_come_every_hop_and_silence_is_not_scored() {
        let mut windows = KeywordWindows::new(8000, 800, -45.0, PAUSE);
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
