//! Spoken words in `voicegate replay` of a recording, with a stand-in keyword
//! model whose "words" are tones (tests/data/tone_keywords.toml: 700 Hz is
//! "agent", 1100 Hz "人工"), so the audio's words are known exactly; and the
//! start-up checks of the words a configuration acts on.

use std::path::{Path, PathBuf};

use predicates::str::contains;
use serde_json::Value;

use super::{json_output, repo_path, voicegate_in, write};

const RATE: f64 = 8000.0;

/// A gateway.toml using the tone model; `policy` lines are added to [policy].
fn config(dir: &Path, words: &str, policy: &str) -> PathBuf {
    let text = format!(
        "[keywords]\nmodel = {model:?}\nwords = {words}\n\n[policy]\n{policy}\n\n[scoring]\nanger_model = {anger:?}\n\n\
         [queues.priority]\nuri = \"sip:priority@127.0.0.1\"\n[queues.complaints]\nuri = \"sip:complaints@127.0.0.1\"\n\
         [queues.agents]\nuri = \"sip:agents@127.0.0.1\"\n[queues.experts]\nuri = \"sip:experts@127.0.0.1\"\n",
        model = repo_path("tests/data/tone_keywords.toml"),
        anger = repo_path("models/anger.toml"),
    );
    write(dir, "gateway.toml", &text)
}

/// A call recording: silence with tones of `hz` at the given start times (0.4 s each).
fn tones(dir: &Path, seconds: f64, beeps: &[(f64, f64)]) -> PathBuf {
    let path = dir.join("call.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE as u32,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&path, spec).unwrap();
    for n in 0..(seconds * RATE) as usize {
        let t = n as f64 / RATE;
        let sample = beeps
            .iter()
            .filter(|(start, _)| (*start..start + 0.4).contains(&t))
            .map(|(_, hz)| 0.3 * (2.0 * std::f64::consts::PI * hz * t).sin())
            .sum::<f64>();
        writer.write_sample((sample * 32767.0) as i16).unwrap();
    }
    writer.finalize().unwrap();
    path
}

fn replay_json(dir: &Path, config: &Path, call: &Path) -> Vec<Value> {
    json_output(
        voicegate_in(dir)
            .args(["replay", "--json", "--config"])
            .arg(config)
            .arg(call),
    )
}

fn keywords(events: &[Value]) -> Vec<(f64, String)> {
    events
        .iter()
        .filter(|e| e["event"] == "keyword")
        .map(|e| {
            (
                e["t"].as_f64().unwrap(),
                e["word"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `replay` of a short recording with `config`, which must fail with exit 2.
fn replay_refuses(dir: &Path, config: &Path) -> assert_cmd::assert::Assert {
    let call = tones(dir, 2.0, &[]);
    voicegate_in(dir)
        .args(["replay", "--config"])
        .arg(config)
        .arg(&call)
        .assert()
        .code(2)
}

const LISTEN_BOTH: &str = r#"["agent", "人工"]"#;
const POLICY: &str = "human_words = [\"人工\"]\ncomplaint_words = [\"agent\"]";

#[test]
fn three_requests_for_a_person_in_a_row_go_to_the_priority_queue() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), LISTEN_BOTH, POLICY);
    let call = tones(
        dir.path(),
        9.0,
        &[(1.0, 1100.0), (3.0, 1100.0), (5.0, 1100.0)],
    );
    let events = replay_json(dir.path(), &config, &call);
    let heard = keywords(&events);
    assert_eq!(
        heard.len(),
        3,
        "one event per word, however long it lasts: {heard:?}"
    );
    for ((t, word), start) in heard.iter().zip([1.0, 3.0, 5.0]) {
        assert_eq!(word, "人工");
        let latency = t - (start + 0.4);
        assert!(
            (-0.4..=0.3).contains(&latency),
            "heard at {t} s, the word ended at {} s",
            start + 0.4
        );
    }
    let summary = events.last().unwrap();
    assert_eq!(summary["transfer"]["reason"], "human_request", "{summary}");
    assert_eq!(summary["transfer"]["target"], "priority", "{summary}");
}

#[test]
fn a_complaint_word_goes_to_the_complaint_desk_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), LISTEN_BOTH, POLICY);
    let call = tones(dir.path(), 5.0, &[(2.0, 700.0)]);
    let summary = replay_json(dir.path(), &config, &call).pop().unwrap();
    assert_eq!(
        summary["transfer"]["reason"], "complaint_keyword",
        "{summary}"
    );
    let t = summary["transfer"]["t"].as_f64().unwrap();
    assert!((2.0..=2.7).contains(&t), "{summary}");
}

#[test]
fn silence_and_other_sounds_are_no_words() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), LISTEN_BOTH, POLICY);
    // 400 Hz and 2 kHz are nobody's word in the stand-in.
    let call = tones(dir.path(), 8.0, &[(1.0, 400.0), (3.0, 2000.0)]);
    let events = replay_json(dir.path(), &config, &call);
    assert_eq!(keywords(&events), vec![]);
    assert_eq!(events.last().unwrap()["transfer"], Value::Null);
}

#[test]
fn a_word_the_model_cannot_hear_is_an_error_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), r#"["agent", "人工", "refund"]"#, POLICY);
    replay_refuses(dir.path(), &config)
        .stderr(contains(
            "gateway.toml:3: keywords.words has \"refund\", which the keyword model",
        ))
        .stderr(contains(
            "has no class for: remove it, or retrain the model with it",
        ));
}

#[test]
fn a_policy_word_voicegate_does_not_listen_for_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), r#"["人工"]"#, POLICY);
    replay_refuses(dir.path(), &config)
        .stderr(contains("gateway.toml:7: policy.complaint_words has \"agent\", which voicegate does not listen for: add it to keywords.words"));
}
