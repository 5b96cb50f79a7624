//! `voicegate call`, the test caller: against `voicegate serve` (the live
//! decision, and replay of the same audio agreeing with it) and against
//! SIPp's built-in `uas` scenario, a peer we did not write.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use voicegate::audio::g711::{mulaw_decode, mulaw_encode, to_f32, to_i16};
use voicegate::audio::{ChannelPick, Recording};

use super::harness::{call_wav, sipp_binary, Gateway, Running};
use super::{sipp_test, EXIT_LIMIT};
use crate::{json_lines, json_output, repo_path, voicegate_in};

const ANGRY: &str = "fixtures/calls/angry_mid_call/call.flac";
/// Where anger starts in that recording (fixtures/calls/angry_mid_call/README).
const ANGER_ONSET_S: f64 = 14.15;

/// Runs `voicegate call` to `target` and returns its JSON Lines; the last is the summary.
fn place_call(dir: &Path, target: &str, play: &Path, extra: &[&str]) -> Vec<Value> {
    let output = voicegate_in(dir)
        .arg("call")
        .arg(target)
        .arg("--play")
        .arg(play)
        .arg("--json")
        .args(extra)
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    let lines = json_lines(&output.stdout);
    assert!(
        output.status.success(),
        "voicegate call exited with {}: {}\n{lines:?}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(lines.last().unwrap()["event"], "summary", "{lines:?}");
    lines
}

#[test]
fn the_test_caller_is_referred_for_anger_and_replay_with_the_menu_agrees() {
    let (ports, dir) = sipp_test(20);
    let mut gateway = Gateway::start(dir.path(), ports, 0.0, Some(1));
    let target = format!("sip:800@127.0.0.1:{}", ports.sip);
    let lines = place_call(dir.path(), &target, &repo_path(ANGRY), &["--dtmf", "1@4.0"]);
    let summary = lines.last().unwrap();
    assert_eq!(summary["answered"], true, "{lines:?}");
    assert_eq!(
        summary["refer_to"],
        ports.queue_uri("priority"),
        "{lines:?}"
    );
    let refer_at = summary["refer_at"].as_f64().unwrap();
    assert!(
        (ANGER_ONSET_S..ANGER_ONSET_S + 6.0).contains(&refer_at),
        "REFER at {refer_at} s, anger from {ANGER_ONSET_S} s"
    );
    assert_eq!(
        summary["ended_by"], "gateway",
        "after the NOTIFY the gateway leaves"
    );
    assert!(
        summary["prompt_audio_s"].as_f64().unwrap() > 1.0,
        "the caller heard the menu: {summary}"
    );
    assert!(lines
        .iter()
        .any(|l| l["event"] == "dtmf" && l["digit"] == "1"));
    let call = gateway.wait_call(Duration::from_secs(10));
    assert_eq!(call["transfer"]["reason"], "anger", "{call}");
    assert_eq!(call["transfer"]["via"], "refer", "{call}");
    let live: Vec<Value> = gateway.events_of(call["call_id"].as_str().unwrap());
    gateway.assert_exits_by_itself(EXIT_LIMIT);

    let replayed = replay_as_heard(dir.path(), "1@4.0");
    assert_same_decisions(&live, &call, &replayed);
}

/// `voicegate replay --menu` of the recording as the gateway heard it
/// (through μ-law), with the same key at the same time.
fn replay_as_heard(dir: &Path, dtmf: &str) -> Vec<Value> {
    let wav = dir.join("heard.wav");
    let mut writer = call_wav(&wav);
    let mut recording = Recording::open(&repo_path(ANGRY), ChannelPick::Mix).unwrap();
    while let Some(block) = recording.next_block().unwrap() {
        for sample in block {
            let heard = to_f32(mulaw_decode(mulaw_encode(to_i16(sample))));
            writer.write_sample(to_i16(heard)).unwrap();
        }
    }
    writer.finalize().unwrap();
    json_output(
        voicegate_in(dir)
            .arg("replay")
            .arg("--json")
            .arg("--config")
            .arg(dir.join("gateway.toml"))
            .arg("--menu")
            .arg(repo_path("sip-config/menus/main.toml"))
            .arg("--dtmf")
            .arg(dtmf)
            .arg(&wav),
    )
}

/// DESIGN: same audio and keys ⇒ same decisions. Menu nodes, keywords and
/// the transfer match; window scores within 0.2; the transfer within 1 s.
fn assert_same_decisions(live: &[Value], call: &Value, replayed: &[Value]) {
    let steps = |events: &[Value], kind: &str, field: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["event"] == kind)
            .map(|e| e[field].clone())
            .collect()
    };
    for (kind, field) in [
        ("menu", "node"),
        ("menu", "action"),
        ("keyword", "word"),
        ("dtmf", "digit"),
    ] {
        assert_eq!(
            steps(live, kind, field),
            steps(replayed, kind, field),
            "{kind} {field}: live vs replay"
        );
    }
    let (live_scores, replay_scores) = (
        steps(live, "anger", "score"),
        steps(replayed, "anger", "score"),
    );
    assert!(live_scores.len() >= 3, "{live_scores:?}");
    assert_eq!(
        live_scores.len(),
        replay_scores.len(),
        "live {live_scores:?}\nreplay {replay_scores:?}"
    );
    for (a, b) in live_scores.iter().zip(&replay_scores) {
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        assert!(
            (a - b).abs() <= 0.2,
            "live {live_scores:?}\nreplay {replay_scores:?}"
        );
    }
    let summary = replayed.last().unwrap();
    let (live_transfer, replay_transfer) = (&call["transfer"], &summary["transfer"]);
    assert_eq!(live_transfer["reason"], replay_transfer["reason"]);
    assert_eq!(live_transfer["target"], replay_transfer["target"]);
    let gap = live_transfer["t"].as_f64().unwrap() - replay_transfer["t"].as_f64().unwrap();
    assert!(
        gap.abs() < 1.0,
        "live {live_transfer}\nreplay {replay_transfer}"
    );
}

#[test]
fn the_test_caller_completes_a_call_with_sipps_own_uas() {
    let (ports, dir) = sipp_test(21);
    let sipp = Command::new(sipp_binary())
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p"])
        .arg(ports.agent.to_string())
        .args(["-m", "1", "-cp"])
        .arg(ports.agent_control.to_string())
        .args([
            "-timeout",
            "60s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp");
    let mut sipp = Running::new(sipp);
    std::thread::sleep(Duration::from_millis(300));
    let short = dir.path().join("hello.wav");
    let mut writer = call_wav(&short);
    for n in 0..8000 * 2 {
        let tone = (n as f32 * 2.0 * std::f32::consts::PI * 440.0 / 8000.0).sin() * 0.3;
        writer.write_sample(to_i16(tone)).unwrap();
    }
    writer.finalize().unwrap();
    let target = format!("sip:service@127.0.0.1:{}", ports.agent);
    let lines = place_call(dir.path(), &target, &short, &["--dtmf", "5@0.5"]);
    let summary = lines.last().unwrap();
    assert_eq!(summary["answered"], true, "{lines:?}");
    assert_eq!(summary["refer_to"], Value::Null);
    assert_eq!(
        summary["ended_by"], "caller",
        "we hang up when the recording ends"
    );
    let status = sipp.wait_for(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIPp's uas saw INVITE, ACK and BYE as RFC 3261 has them: {status:?}"
    );
}

#[test]
fn the_test_caller_says_what_is_wrong_with_its_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let failing = |args: &[&str]| {
        let output = voicegate_in(dir.path()).args(args).output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let play = repo_path(ANGRY);
    let play = play.to_str().unwrap();
    let (code, stderr) = failing(&["call", "sip:800@pbx.example", "--play", play]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("sip:800@127.0.0.1:5060"), "{stderr}");
    let (code, stderr) = failing(&["call", "sip:800@127.0.0.1:9", "--play", "missing.wav"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("missing.wav"), "{stderr}");
    let (code, stderr) = failing(&[
        "call",
        "sip:800@127.0.0.1:9",
        "--play",
        play,
        "--dtmf",
        "1@4,x@5",
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("KEY@SECONDS"), "{stderr}");
}

#[test]
fn the_test_caller_calls_over_tcp_and_is_referred_when_it_asks_for_a_person() {
    let (ports, dir) = sipp_test(25);
    let mut gateway = Gateway::start(dir.path(), ports, 0.0, Some(1));
    let target = format!("sip:800@127.0.0.1:{}", ports.sip);
    let play = repo_path("fixtures/calls/kws_human_x3/call.flac");
    let lines = place_call(dir.path(), &target, &play, &["--transport", "tcp"]);
    let summary = lines.last().unwrap();
    assert_eq!(
        summary["refer_to"],
        ports.queue_uri("priority"),
        "{lines:?}"
    );
    let call = gateway.wait_call(Duration::from_secs(10));
    assert_eq!(call["transfer"]["reason"], "human_request", "{call}");
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}
