//! `voicegate replay --script` as a tester runs it, and configuration errors.

use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value;

use super::{json_lines, json_output, repo_path, voicegate_in, write};

fn replay_json(dir: &std::path::Path, script: &str, extra: &[&str]) -> Vec<Value> {
    let path = write(dir, "call.jsonl", script);
    json_output(
        voicegate_in(dir)
            .args(["replay", "--json", "--script"])
            .arg(&path)
            .args(extra),
    )
}

#[test]
fn the_sample_call_ends_in_an_anger_transfer() {
    let output = voicegate_in(&repo_path("."))
        .args([
            "replay",
            "--json",
            "--script",
            "fixtures/scripts/angry_caller.jsonl",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let lines = json_lines(&output.stdout);
    for line in &lines[..lines.len() - 1] {
        assert!(line["t"].is_number() && line["event"].is_string(), "{line}");
    }
    let transfer = lines
        .iter()
        .find(|l| l["event"] == "transfer")
        .expect("transfer line");
    assert_eq!(transfer["reason"], "anger");
    assert_eq!(transfer["target"], "priority");
    assert_eq!(transfer["t"], 11.0);
    assert_eq!(transfer["evidence"].as_array().unwrap().len(), 3);
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["duration"], 14.0);
    assert_eq!(summary["max_anger"], 91.0);
    assert_eq!(summary["transfer"]["reason"], "anger");
}

#[test]
fn the_timeline_is_readable_and_runs_on_embedded_defaults_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let script = std::fs::read_to_string(repo_path("fixtures/scripts/angry_caller.jsonl")).unwrap();
    let path = write(dir.path(), "call.jsonl", &script);
    voicegate_in(dir.path())
        .args(["replay", "--script"])
        .arg(&path)
        .assert()
        .success()
        .stdout(contains("TRANSFER  to priority, reason anger"))
        .stdout(contains(
            "summary: 14.000 s, max anger 91.0, transferred to priority at 11.000 s",
        ));
}

#[test]
fn complaint_keyword_goes_to_the_complaint_desk() {
    let dir = tempfile::tempdir().unwrap();
    let lines = replay_json(
        dir.path(),
        "{\"t\":2,\"keyword\":\"投诉\",\"confidence\":0.93}\n{\"t\":5,\"hangup\":true}\n",
        &[],
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["transfer"]["reason"], "complaint_keyword");
    assert_eq!(summary["transfer"]["target"], "complaints");
    assert_eq!(summary["max_anger"], Value::Null);
}

#[test]
fn a_caller_who_waits_past_90_seconds_is_transferred_at_90_001() {
    let dir = tempfile::tempdir().unwrap();
    let lines = replay_json(dir.path(), "{\"t\":95,\"hangup\":true}\n", &["--no-menu"]);
    let summary = lines.last().unwrap();
    assert_eq!(summary["transfer"]["reason"], "wait_timeout");
    assert_eq!(summary["transfer"]["t"], 90.001);
}

#[test]
fn a_vip_caller_goes_to_the_experts() {
    let dir = tempfile::tempdir().unwrap();
    let script = "{\"t\":0,\"start\":{\"caller\":\"+15550100999\"}}\n{\"t\":3,\"hangup\":true}\n";
    let lines = replay_json(dir.path(), script, &[]);
    assert_eq!(lines.last().unwrap()["transfer"]["reason"], "vip");
    assert!(!lines.iter().any(|l| l["event"] == "prompt"));
}

fn replay_fails_with(script: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "call.jsonl", script);
    voicegate_in(dir.path())
        .args(["replay", "--script"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(contains(expected))
        .stderr(contains("panicked").not());
}

#[test]
fn bad_scripts_name_the_line_and_exit_2() {
    replay_fails_with(
        "{\"t\":1,\"dtmf\":\"1\"}\nnot json\n",
        "call.jsonl:2: not a script event",
    );
    replay_fails_with(
        "{\"t\":5,\"dtmf\":\"1\"}\n{\"t\":3,\"dtmf\":\"2\"}\n",
        "call.jsonl:2: time goes backwards: t = 3 after t = 5",
    );
    replay_fails_with(
        "{\"t\":1,\"dtmf\":\"1\",\"anger\":3}\n",
        "call.jsonl:1: each line needs exactly one of",
    );
    replay_fails_with(
        "{\"t\":1,\"shout\":true}\n",
        "call.jsonl:1: not a script event: unknown field `shout`",
    );
    replay_fails_with(
        "{\"t\":1,\"anger\":130}\n",
        "call.jsonl:1: anger 130 is outside 0..=100",
    );
    replay_fails_with(
        "{\"t\":-1,\"dtmf\":\"1\"}\n",
        "call.jsonl:1: t = -1 is not a time",
    );
    replay_fails_with(
        "{\"t\":1e308,\"hangup\":true}\n",
        "call.jsonl:1: t = 1e308 is past the longest call voicegate replays (86400 s)",
    );
}

#[test]
fn a_missing_script_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    voicegate_in(dir.path())
        .args(["replay", "--script", "nope.jsonl"])
        .assert()
        .code(2)
        .stderr(contains("nope.jsonl: cannot read script"));
}

/// Queues for the default routing, after the section under test.
const QUEUES: &str = "[queues.agents]\nuri = \"sip:agents@127.0.0.1\"\n[queues.priority]\nuri = \"sip:priority@127.0.0.1\"\n[queues.complaints]\nuri = \"sip:complaints@127.0.0.1\"\n[queues.experts]\nuri = \"sip:experts@127.0.0.1\"\n";

/// Replays a one-line script with `config` as gateway.toml; expects exit 2 and `expected` on stderr.
fn replay_with_config_fails_with(config: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config_path = write(dir.path(), "gateway.toml", config);
    let script = write(dir.path(), "call.jsonl", "{\"t\":1,\"hangup\":true}\n");
    voicegate_in(dir.path())
        .args(["replay", "--no-menu", "--script"])
        .arg(&script)
        .arg("--config")
        .arg(&config_path)
        .assert()
        .code(2)
        .stderr(contains(expected))
        .stderr(contains("panicked").not());
}

fn config_fails_with(section: &str, expected: &str) {
    replay_with_config_fails_with(&format!("{section}{QUEUES}"), expected);
}

#[test]
fn bad_configurations_name_the_line_and_exit_2() {
    config_fails_with("[policy]\nanger_threshold = \n", "gateway.toml:2:");
    config_fails_with(
        "[policy]\nanger_treshold = 80\n",
        "gateway.toml:2: unknown field `anger_treshold`",
    );
    config_fails_with(
        "[policy]\nmax_hops = \"three\"\n",
        "gateway.toml:2: invalid type",
    );
    config_fails_with(
        "[policy]\nanger_threshold = 180\n",
        "gateway.toml:2: policy.anger_threshold must be within 0..=100",
    );
    config_fails_with(
        "[policy]\nmax_wait_s = 1e308\n",
        "gateway.toml:2: policy.max_wait_s must be a number of seconds above 0, at most 86400",
    );
    config_fails_with(
        "[routing]\nanger = \"angry-desk\"\n",
        "gateway.toml:2: routing.anger names queue \"angry-desk\", which is not defined",
    );
}

#[test]
fn a_configuration_without_the_routed_queues_says_which_to_add() {
    replay_with_config_fails_with(
        "[policy]\nmax_hops = 3\n",
        "routing.anger names queue \"priority\", which is not defined: add [queues.priority] with a uri",
    );
}

#[test]
fn the_shipped_configuration_loads_with_its_menu_and_prompts() {
    voicegate_in(&repo_path("."))
        .args([
            "replay",
            "--script",
            "fixtures/scripts/angry_caller.jsonl",
            "--config",
            "sip-config/gateway.toml",
        ])
        .assert()
        .success();
}

#[test]
fn an_invalid_menu_stops_replay_with_its_first_problem() {
    voicegate_in(&repo_path("."))
        .args([
            "replay",
            "--script",
            "fixtures/scripts/angry_caller.jsonl",
            "--menu",
            "fixtures/menus/legacy_bank.toml",
        ])
        .assert()
        .code(2)
        .stderr(
            contains("legacy_bank.toml:24: cycle").or(contains("legacy_bank.toml:44: too deep")),
        );
}

#[test]
fn check_passes_on_the_shipped_fixtures() {
    voicegate_in(&repo_path("."))
        .args(["replay", "--check", "fixtures/calls"])
        .assert()
        .success()
        .stdout(contains("ok    scripted_angry"))
        .stdout(contains("differ").and(contains(", 0 differ, 0 unreadable")));
}

/// A fixture whose call says "refund" at 2 s, with the given expected.toml.
fn refund_fixture(dir: &std::path::Path, name: &str, expected: &str) {
    write(
        dir,
        &format!("calls/{name}/call.jsonl"),
        "{\"t\":2,\"keyword\":\"refund\"}\n",
    );
    write(dir, &format!("calls/{name}/expected.toml"), expected);
}

#[test]
fn check_exits_1_when_an_outcome_differs_and_says_how() {
    let dir = tempfile::tempdir().unwrap();
    refund_fixture(dir.path(), "calm", "transfer = false\n");
    refund_fixture(
        dir.path(),
        "late",
        "transfer = true\nreason = \"anger\"\nafter_s = 5.0\n",
    );
    voicegate_in(dir.path())
        .args(["replay", "--no-menu", "--check", "calls"])
        .assert()
        .code(1)
        .stdout(contains("DIFF  calm"))
        .stdout(contains(
            "expected no transfer, got one to complaints (reason complaint_keyword)",
        ))
        .stdout(contains(
            "expected reason anger, got complaint_keyword; transfer at 2.000 s is outside 5..",
        ));
}

#[test]
fn check_exits_2_on_an_unreadable_fixture() {
    let dir = tempfile::tempdir().unwrap();
    refund_fixture(dir.path(), "bad", "transfer = maybe\n");
    voicegate_in(dir.path())
        .args(["replay", "--no-menu", "--check", "calls"])
        .assert()
        .code(2)
        .stdout(contains("ERROR bad"))
        .stdout(contains("expected.toml:1:"));
}

#[test]
fn a_recording_replays_through_the_model_with_the_json_contract() {
    let lines = json_output(voicegate_in(&repo_path(".")).args([
        "replay",
        "--json",
        "fixtures/calls/angry_mid_call/call.flac",
    ]));
    let scores: Vec<(f64, f64)> = lines
        .iter()
        .filter(|l| l["event"] == "anger")
        .map(|l| (l["t"].as_f64().unwrap(), l["score"].as_f64().unwrap()))
        .collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["transfer"]["reason"], "anger");
    let transferred_at = summary["transfer"]["t"].as_f64().unwrap();
    // A score every 0.5 s of voiced audio until the caller is handed over
    // (as on a live call): the last three are the transfer's evidence.
    assert!(scores.len() > 8, "{} scores", scores.len());
    assert_eq!(scores.last().map(|(t, _)| *t), Some(transferred_at));
    let transfer = lines.iter().find(|l| l["event"] == "transfer").unwrap();
    let evidence: Vec<f64> = transfer["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["t"].as_f64().unwrap())
        .collect();
    let last_three: Vec<f64> = scores[scores.len() - 3..].iter().map(|(t, _)| *t).collect();
    assert_eq!(evidence, last_three);
    assert!(scores.iter().all(|(_, s)| (0.0..=100.0).contains(s)));
    assert_eq!(
        summary["max_anger"].as_f64(),
        scores.iter().map(|(_, s)| *s).reduce(f64::max)
    );
    assert_eq!(summary["duration"].as_f64(), Some(31.428));
    assert!(
        summary["started"].as_str().unwrap().ends_with('Z'),
        "UTC start"
    );
}

#[test]
fn a_directory_replays_every_recording_and_names_each_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["calm_caller", "silent_line"] {
        std::fs::copy(
            repo_path(&format!("fixtures/calls/{name}/call.flac")),
            dir.path().join(format!("{name}.flac")),
        )
        .unwrap();
    }
    write(dir.path(), "notes.txt", "not audio");
    write(dir.path(), "empty.wav", "");
    write(dir.path(), "cut.flac", "fLaC\0\0\0\"");
    voicegate_in(&repo_path("."))
        .arg("replay")
        .arg(dir.path())
        .assert()
        .code(2)
        .stdout(contains("calm_caller.flac").and(contains("no transfer")))
        .stdout(contains("silent_line.flac").and(contains("max anger     -")))
        .stdout(contains("5 files: 2 replayed, 3 unreadable"))
        .stderr(contains("notes.txt: not a recording voicegate can read"))
        .stderr(contains(
            "empty.wav: not a recording voicegate can read (the file is empty, 0 bytes)",
        ))
        .stderr(contains("cut.flac:"))
        .stderr(contains("panicked").not());
}

#[test]
fn a_bad_channel_or_a_missing_model_is_a_usage_error() {
    voicegate_in(&repo_path("."))
        .args([
            "replay",
            "--channel",
            "middle",
            "fixtures/calls/calm_caller/call.flac",
        ])
        .assert()
        .code(2)
        .stderr(contains("\"middle\" is not a channel"));
    voicegate_in(&repo_path("."))
        .args([
            "replay",
            "--channel",
            "3",
            "fixtures/calls/calm_caller/call.flac",
        ])
        .assert()
        .code(2)
        .stderr(contains("has 1 channel(s), so channel 3 does not exist"));
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[scoring]\nanger_model = \"nowhere/anger.toml\"\n{QUEUES}");
    let config_path = write(dir.path(), "gateway.toml", &config);
    voicegate_in(&repo_path("."))
        .args(["replay", "fixtures/calls/calm_caller/call.flac", "--config"])
        .arg(&config_path)
        .assert()
        .code(2)
        .stderr(contains("nowhere/anger.toml: cannot read"));
}

#[test]
fn plot_draws_the_threshold_and_the_transfer_as_svg_or_png() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("angry.svg");
    let png = dir.path().join("angry.png");
    for out in [&svg, &png] {
        voicegate_in(&repo_path("."))
            .args([
                "replay",
                "fixtures/calls/angry_mid_call/call.flac",
                "--plot",
            ])
            .arg(out)
            .assert()
            .success();
    }
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg_text.contains("transfer threshold 80"),
        "threshold legend"
    );
    assert!(
        svg_text.contains("(anger)"),
        "transfer legend with its reason"
    );
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
    voicegate_in(&repo_path("."))
        .args([
            "replay",
            "fixtures/calls/angry_mid_call/call.flac",
            "--plot",
            "out.pdf",
        ])
        .assert()
        .code(2)
        .stderr(contains("must end in .svg or .png"));
}

#[test]
fn a_missing_onnx_runtime_library_names_the_fix() {
    voicegate_in(&repo_path("."))
        .env("VOICEGATE_ORT_LIB", "/nonexistent/libonnxruntime.so")
        .args(["replay", "fixtures/calls/calm_caller/call.flac"])
        .assert()
        .code(2)
        .stderr(contains("VOICEGATE_ORT_LIB=/nonexistent/libonnxruntime.so is not a file: point it at libonnxruntime.so or unset it"));
}

#[test]
fn with_a_menu_prompts_take_their_real_length_before_the_no_input_timer() {
    let prompts: Vec<f64> = json_output(voicegate_in(&repo_path(".")).args([
        "replay",
        "--json",
        "fixtures/calls/calm_caller/call.flac",
        "--menu",
        "sip-config/menus/main.toml",
    ]))
    .iter()
    .filter(|l| l["event"] == "prompt")
    .map(|l| l["t"].as_f64().unwrap())
    .collect();
    // main.wav plays 793 frames of 20 ms (15.86 s), as a live call sends it;
    // then 8 s of silence from the caller re-prompts.
    assert_eq!(prompts, vec![0.0, 23.86]);
}
