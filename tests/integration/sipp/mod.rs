//! Interoperability with SIPp: `voicegate serve` takes real SIP calls over
//! UDP from SIPp (the caller, tests/sipp/caller_*.xml), hears RTP that SIPp
//! replays from pcaps written here (pcap.rs: a recording through voicegate's
//! own decoder as PCMU, DTMF as RFC 4733 events), and transfers with REFER,
//! or bridges to a SIPp agent (tests/sipp/agent_uas.xml) when the caller
//! refuses the REFER. Each test asserts SIPp's verdict (exit 0: every message
//! came as the scenario expects) and what serve reports on stdout.
//!
//! Needs `sipp` on PATH (`scripts/setup_interop.sh`); without it the tests fail
//! and say so. Raw sockets for pcap play need root, as in CI. Everything is
//! on 127.0.0.1; each test has its own ports (harness::Ports), and every
//! process is killed by its PID when the test ends, however it ends.

mod baresip;
mod browser;
mod dashboard;
mod faults;
mod harness;
mod hostile;
mod kamailio;
mod load;
mod pcap;
mod queues;
mod records;
mod sipvicious;
mod test_caller;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rtp_rs::RtpReader;
use serde_json::Value;
use tempfile::TempDir;
use voicegate::audio::g711::mulaw_decode;

use crate::{json_output, repo_path, voicegate_in};
use harness::{
    call_wav, gateway_toml, regex_literal, scenario, sip_exchange, sipp_binary, Arrival, Gateway,
    Ports, RtpSink, Sipp,
};
use pcap::{decode_presses, read_pcap, CallerMedia, Press, PT_PCMU};

/// Longest a caller scenario may run here (SIPp's own -timeout is 60 s).
const CALLER_LIMIT: Duration = Duration::from_secs(90);
/// How long serve has to print the call line once the caller is done.
const CALL_LINE_LIMIT: Duration = Duration::from_secs(10);
/// How long serve --calls has to exit once its last call ended.
const EXIT_LIMIT: Duration = Duration::from_secs(10);

/// A SIPp test's ports (its own `block`) and a fresh directory; first fails,
/// saying how to install it, if sipp is missing.
fn sipp_test(block: u16) -> (Ports, TempDir) {
    sipp_binary();
    (Ports::block(block), tempfile::tempdir().unwrap())
}

/// The one call line, checked for what every call line has.
fn the_call(gateway: &Gateway) -> Value {
    let call = gateway.wait_call(CALL_LINE_LIMIT);
    let context = || format!("call line {call}\n{}", gateway.report());
    assert!(
        call["call_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{}",
        context()
    );
    assert!(
        call["caller"]
            .as_str()
            .is_some_and(|c| c.contains("15550100123")),
        "the caller is +15550100123 (From of the INVITE): {}",
        context()
    );
    assert!(
        call["duration"].as_f64().is_some_and(|d| d >= 0.0),
        "{}",
        context()
    );
    call
}

fn fail(message: &str, call: &Value, gateway: &Gateway) -> ! {
    panic!("{message}\ncall line: {call}\n{}", gateway.report())
}

/// The per-step events of `call` (each with its call_id), for assertions.
fn steps(gateway: &Gateway, call: &Value) -> Vec<Value> {
    gateway.events_of(call["call_id"].as_str().unwrap())
}

/// Whether one of `steps` is an `event` whose `field` is `value`.
fn has_event(steps: &[Value], event: &str, field: &str, value: &str) -> bool {
    steps
        .iter()
        .any(|e| e["event"] == event && e[field] == value)
}

fn digits(steps: &[Value]) -> String {
    steps
        .iter()
        .filter(|e| e["event"] == "dtmf")
        .filter_map(|e| e["digit"].as_str())
        .collect()
}

/// μ-law bytes as linear samples.
fn samples_of(payload: &[u8]) -> Vec<i16> {
    payload.iter().map(|&b| mulaw_decode(b)).collect()
}

/// Caller scenarios that expect a REFER: the queue URI as a regexp.
fn refer_to(ports: Ports, queue_user: &str) -> String {
    regex_literal(&ports.queue_uri(queue_user))
}

/// What the caller sends, written as `dir/caller.pcap` for SIPp to play.
fn caller_pcap(dir: &Path, media: &CallerMedia) -> PathBuf {
    let pcap = dir.join("caller.pcap");
    media.write_pcap(&pcap).unwrap();
    pcap
}

/// One call: starts serve for it (answering after `ring_s`), runs caller
/// scenario `template` with `values` until SIPp passes it, and returns serve
/// with its call line.
fn one_call(
    dir: &Path,
    ports: Ports,
    ring_s: f64,
    template: &str,
    values: &[(&str, String)],
) -> (Gateway, Value) {
    let gateway = Gateway::start(dir, ports, ring_s, Some(1));
    let xml = scenario(dir, template, values);
    Sipp::caller(dir, ports, &xml).assert_success(CALLER_LIMIT, Some(&gateway));
    let call = the_call(&gateway);
    (gateway, call)
}

/// A call that plays `media` and expects a REFER to the priority queue
/// within `refer_timeout_ms` of the answer (caller_referred.xml).
fn referred_call(
    dir: &Path,
    ports: Ports,
    media: &CallerMedia,
    refer_timeout_ms: u32,
) -> (Gateway, Value) {
    let pcap = caller_pcap(dir, media);
    let values = refer_values(ports, &pcap, refer_timeout_ms);
    one_call(dir, ports, 0.0, "caller_referred.xml", &values)
}

/// The values of a caller scenario that plays `pcap` and expects a REFER to
/// the priority queue within `refer_timeout_ms` of the answer.
fn refer_values(ports: Ports, pcap: &Path, refer_timeout_ms: u32) -> Vec<(&'static str, String)> {
    vec![
        ("PCAP", pcap.display().to_string()),
        ("QUEUE", refer_to(ports, "priority")),
        ("REFER_TIMEOUT_MS", refer_timeout_ms.to_string()),
    ]
}

/// The agent's SIPp, running `template` with `values`.
fn agent(dir: &Path, ports: Ports, template: &str, values: &[(&str, String)]) -> Sipp {
    Sipp::agent(dir, ports, &scenario(dir, template, values))
}

/// Fails unless the call was transferred for `reason` to queue `target`
/// `via` "refer" or "bridge".
fn expect_transfer(call: &Value, gateway: &Gateway, reason: &str, target: &str, via: &str) {
    let transfer = &call["transfer"];
    if transfer["reason"] != reason || transfer["target"] != target || transfer["via"] != via {
        fail(
            &format!("expected a transfer for {reason} to {target} via {via}"),
            call,
            gateway,
        );
    }
}

/// Fails unless the call ended as `ended` and was not transferred.
fn expect_ended_untransferred(call: &Value, gateway: &Gateway, ended: &str) {
    if call["ended"] != ended || !call["transfer"].is_null() {
        fail(
            &format!("expected ended {ended:?} and no transfer"),
            call,
            gateway,
        );
    }
}

/// Fails unless the keys the call's steps heard are `expected`.
fn expect_digits(call: &Value, gateway: &Gateway, expected: &str) {
    assert_eq!(
        digits(&steps(gateway, call)),
        expected,
        "{}",
        gateway.report()
    );
}

/// Three presses of 0 (ask for a human), one a second from `from_s`.
fn press_zero_three_times(media: CallerMedia, from_s: f64) -> CallerMedia {
    media
        .press(from_s, '0')
        .press(from_s + 1.0, '0')
        .press(from_s + 2.0, '0')
}

#[test]
fn sipp_angry_caller_is_referred_for_anger() {
    let (ports, dir) = sipp_test(0);
    // Calm to 14.15 s, then anger (RAVDESS actor 13), 31 s in all.
    let media = CallerMedia::recording(&repo_path("fixtures/calls/angry_mid_call/call.flac"));
    let (mut gateway, call) = referred_call(dir.path(), ports, &media, 40_000);

    expect_transfer(&call, &gateway, "anger", "priority", "refer");
    let transfer = &call["transfer"];
    assert_eq!(transfer["uri"], ports.queue_uri("priority"), "{call}");
    let t = transfer["t"].as_f64().unwrap_or(f64::NAN);
    if !(14.15..=14.15 + 5.0).contains(&t) {
        fail(
            &format!("transfer at {t} s: expected within 5 s after the anger starts at 14.15 s"),
            &call,
            &gateway,
        );
    }
    assert!(
        call["max_anger"].as_f64().is_some_and(|a| a > 80.0),
        "{call}"
    );
    let steps = steps(&gateway, &call);
    let event = steps
        .iter()
        .find(|e| e["event"] == "transfer")
        .unwrap_or_else(|| fail("no transfer event with the call's call_id", &call, &gateway));
    let evidence = event["evidence"].as_array().cloned().unwrap_or_default();
    assert_eq!(evidence.len(), 3, "three scores above 80 in a row: {event}");
    let angry = steps
        .iter()
        .filter(|e| e["event"] == "anger" && e["score"].as_f64().is_some_and(|s| s > 80.0))
        .count();
    assert!(angry >= 3, "anger events above 80 on stdout: {angry}");
    gateway.assert_exits_by_itself(EXIT_LIMIT);
    replay_agrees_with_the_live_call(dir.path(), &media, &call, &steps);
}

/// The audio SIPp played, exactly as voicegate heard it (μ-law decoded),
/// through `voicegate replay` must score the same windows the same way and
/// reach the same decision (DESIGN: same audio ⇒ same decisions; only the
/// clock differs: live time runs from the answer, replay time from the
/// first sample).
fn replay_agrees_with_the_live_call(
    dir: &Path,
    media: &CallerMedia,
    call: &Value,
    steps: &[Value],
) {
    let wav = dir.join("heard.wav");
    let mut writer = call_wav(&wav);
    for packet in media.packets() {
        let rtp = RtpReader::new(&packet.rtp).unwrap();
        if rtp.payload_type() == PT_PCMU {
            for sample in samples_of(rtp.payload()) {
                writer.write_sample(sample).unwrap();
            }
        }
    }
    writer.finalize().unwrap();
    let replayed = json_output(voicegate_in(dir).args(["replay", "--json"]).arg(&wav));
    let scores = |events: &[Value]| -> Vec<f64> {
        events
            .iter()
            .filter(|e| e["event"] == "anger")
            .filter_map(|e| e["score"].as_f64())
            .collect()
    };
    let (live, offline) = (scores(steps), scores(&replayed));
    assert!(
        live.len() >= 3 && offline.len() >= live.len(),
        "live {live:?}\nreplay {offline:?}"
    );
    for (index, (a, b)) in live.iter().zip(&offline).enumerate() {
        assert!(
            (a - b).abs() <= 0.2,
            "window {index}: live {a}, replay {b}\nlive {live:?}\nreplay {offline:?}"
        );
    }
    let summary = replayed.last().unwrap();
    let (live_transfer, replay_transfer) = (&call["transfer"], &summary["transfer"]);
    assert_eq!(
        live_transfer["reason"], replay_transfer["reason"],
        "{call}\n{summary}"
    );
    assert_eq!(
        live_transfer["target"], replay_transfer["target"],
        "{call}\n{summary}"
    );
    let (live_t, replay_t) = (
        live_transfer["t"].as_f64().unwrap(),
        replay_transfer["t"].as_f64().unwrap(),
    );
    assert!(
        (live_t - replay_t).abs() < 1.0,
        "transfer at {live_t} s live, {replay_t} s in replay"
    );
}

#[test]
fn sipp_calm_caller_walks_the_menu_by_dtmf() {
    let (ports, dir) = sipp_test(1);
    // 4 = branches, then 1 = flow:branch_hours (self-service, no transfer).
    let media = CallerMedia::recording(&repo_path("fixtures/calls/calm_caller/call.flac"))
        .first_seconds(10.0)
        .press(2.0, '4')
        .press(4.0, '1');
    let (mut gateway, steps) = menu_walk_call(dir.path(), ports, &media, 9000);
    assert_eq!(
        digits(&steps),
        "41",
        "keys heard from RFC 4733 events\n{}",
        gateway.report()
    );
    expect_branch_hours_walk(&steps, &gateway);
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}

/// A call that plays `media` and hangs up after `hangup_ms`, untransferred
/// (caller_menu_walk.xml fails on any request from voicegate); its steps.
fn menu_walk_call(
    dir: &Path,
    ports: Ports,
    media: &CallerMedia,
    hangup_ms: u32,
) -> (Gateway, Vec<Value>) {
    let pcap = caller_pcap(dir, media);
    let values = [
        ("PCAP", pcap.display().to_string()),
        ("HANGUP_MS", hangup_ms.to_string()),
    ];
    let (gateway, call) = one_call(dir, ports, 0.0, "caller_menu_walk.xml", &values);
    expect_ended_untransferred(&call, &gateway, "caller");
    let steps = steps(&gateway, &call);
    (gateway, steps)
}

/// The caller went to branches and then the branch-hours flow, and heard it,
/// with no transfer.
fn expect_branch_hours_walk(steps: &[Value], gateway: &Gateway) {
    let menu: Vec<String> = steps
        .iter()
        .filter(|e| e["event"] == "menu")
        .map(|e| match (e["node"].as_str(), e["action"].as_str()) {
            (Some(node), _) => format!("node {node}"),
            (_, Some(action)) => format!("action {action}"),
            _ => e.to_string(),
        })
        .collect();
    let walked = menu
        .windows(2)
        .any(|w| w[0] == "node branches" && w[1] == "action flow:branch_hours");
    assert!(walked, "menu steps {menu:?}\n{}", gateway.report());
    assert!(
        has_event(steps, "prompt", "prompt", "branch_hours"),
        "the self-service prompt plays\n{}",
        gateway.report()
    );
    assert!(!steps.iter().any(|e| e["event"] == "transfer"));
}

/// The words a call heard, in order.
fn words(steps: &[Value]) -> Vec<String> {
    steps
        .iter()
        .filter(|e| e["event"] == "keyword")
        .filter_map(|e| e["word"].as_str().map(String::from))
        .collect()
}

#[test]
fn sipp_caller_walks_the_menu_by_saying_digits() {
    let (ports, dir) = sipp_test(13);
    // "four" at 3.0-3.3 s, "one" at 6.3-6.7 s (fixtures/calls/kws_menu_digit).
    let media = CallerMedia::recording(&repo_path("fixtures/calls/kws_menu_digit/call.flac"));
    let (mut gateway, steps) = menu_walk_call(dir.path(), ports, &media, 11_000);
    assert_eq!(words(&steps), ["four", "one"], "{}", gateway.report());
    expect_branch_hours_walk(&steps, &gateway);
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}

#[test]
fn sipp_caller_saying_rengong_three_times_goes_to_the_priority_queue() {
    let (ports, dir) = sipp_test(14);
    let media = CallerMedia::recording(&repo_path("fixtures/calls/kws_human_x3/call.flac"));
    let (mut gateway, call) = referred_call(dir.path(), ports, &media, 20_000);
    expect_transfer(&call, &gateway, "human_request", "priority", "refer");
    let steps = steps(&gateway, &call);
    assert_eq!(
        words(&steps),
        ["人工", "人工", "人工"],
        "{}",
        gateway.report()
    );
    // The third 人工 ends at 10.98 s of the recording (it may fire once most
    // of it is heard); live time runs from the answer.
    let t = call["transfer"]["t"].as_f64().unwrap_or(f64::NAN);
    assert!((10.78..12.0).contains(&t), "transfer at {t} s\n{call}");
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}

#[test]
fn sipp_three_zeros_go_to_the_priority_queue() {
    let (ports, dir) = sipp_test(2);
    let media = press_zero_three_times(CallerMedia::silence(8.0), 1.5);
    let (mut gateway, call) = referred_call(dir.path(), ports, &media, 15_000);

    expect_transfer(&call, &gateway, "human_request", "priority", "refer");
    let t = call["transfer"]["t"].as_f64().unwrap_or(f64::NAN);
    assert!(
        (3.5..6.0).contains(&t),
        "transfer after the third 0 at 3.5 s: {call}"
    );
    expect_digits(&call, &gateway, "000");
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}

#[test]
fn sipp_dtmf_by_sip_info_goes_to_the_priority_queue() {
    let (ports, dir) = sipp_test(9);
    let (mut gateway, call) = one_call(
        dir.path(),
        ports,
        0.0,
        "caller_info_dtmf.xml",
        &[
            ("KEY", "0".into()),
            ("GAP_MS", "1000".into()),
            ("QUEUE", refer_to(ports, "priority")),
            ("REFER_TIMEOUT_MS", "10000".into()),
        ],
    );

    expect_transfer(&call, &gateway, "human_request", "priority", "refer");
    expect_digits(&call, &gateway, "000");
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}

#[test]
fn sipp_cancel_before_answer() {
    // serve rings for 2 s, and the caller cancels while it rings.
    expect_call_ends_untransferred(3, 2.0, "caller_cancel.xml", "cancelled");
}

/// A caller scenario that takes no values, run on port block `block` against
/// a serve that answers after `ring_s`: the call must end as `ended`,
/// untransferred, and serve exit by itself.
fn expect_call_ends_untransferred(block: u16, ring_s: f64, template: &str, ended: &str) {
    let (ports, dir) = sipp_test(block);
    let (mut gateway, call) = one_call(dir.path(), ports, ring_s, template, &[]);

    expect_ended_untransferred(&call, &gateway, ended);
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}

#[test]
fn sipp_bye_during_a_prompt() {
    let (ports, dir) = sipp_test(4);
    // The caller sends no RTP, so prompts go where its SDP says: here.
    let ear = RtpSink::bind(ports.sink, false);
    let mut gateway = Gateway::start(dir.path(), ports, 0.0, Some(2));
    let xml = scenario(
        dir.path(),
        "caller_bye_early.xml",
        &[
            ("HANGUP_MS", "1500".into()),
            ("MEDIA_PORT", ports.sink.to_string()),
        ],
    );
    // The welcome prompt is about 12 s long: the BYE comes in its middle.
    // Then a second call, to the same gateway, the same way.
    for call in 1..=2 {
        ear.clear();
        Sipp::caller(dir.path(), ports, &xml).assert_success(CALLER_LIMIT, Some(&gateway));
        std::thread::sleep(Duration::from_millis(300));
        let heard = ear.packets();
        let packets = check_prompt_stream(&heard)
            .unwrap_or_else(|e| panic!("call {call}: the prompt's RTP: {e}\n{}", gateway.report()));
        assert!(
            packets >= 50,
            "call {call}: {packets} RTP packets of the prompt in 1.5 s, expected about 75\n{}",
            gateway.report()
        );
        std::thread::sleep(Duration::from_millis(500));
        let after = ear.packets().len() - heard.len();
        assert_eq!(
            after, 0,
            "call {call}: RTP still sent 0.3-0.8 s after the BYE was answered"
        );
    }
    let calls = gateway.wait_calls(2, CALL_LINE_LIMIT);
    assert_ne!(calls[0]["call_id"], calls[1]["call_id"]);
    for call in &calls {
        expect_ended_untransferred(call, &gateway, "caller");
        let duration = call["duration"].as_f64().unwrap_or(f64::NAN);
        assert!((1.0..5.0).contains(&duration), "about 1.5 s: {call}");
        let steps = steps(&gateway, call);
        assert!(
            has_event(&steps, "prompt", "prompt", "main"),
            "the welcome prompt started\n{}",
            gateway.report()
        );
        assert!(
            has_event(&steps, "hangup", "by", "caller"),
            "hangup by the caller\n{}",
            gateway.report()
        );
    }
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}

#[test]
fn sipp_dead_line_is_hung_up_after_the_rtp_timeout() {
    let (ports, dir) = sipp_test(15);
    let config = gateway_toml(ports, 0.0).replace("inactivity_s = 30", "inactivity_s = 2");
    let mut gateway = Gateway::start_with(dir.path(), ports, &config, Some(1));
    let xml = scenario(
        dir.path(),
        "caller_dead_line.xml",
        &[
            ("BYE_TIMEOUT_MS", "10000".into()),
            ("MEDIA_PORT", ports.sink.to_string()),
        ],
    );
    Sipp::caller(dir.path(), ports, &xml).assert_success(CALLER_LIMIT, Some(&gateway));
    let call = the_call(&gateway);
    expect_ended_untransferred(&call, &gateway, "timeout");
    let duration = call["duration"].as_f64().unwrap_or(f64::NAN);
    assert!(
        (2.0..3.0).contains(&duration),
        "BYE after 2 s without RTP: {call}"
    );
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}

#[test]
fn sipp_registrar_accepts_the_digest_answer() {
    let (ports, dir) = sipp_test(16);
    let mut registrar = agent(
        dir.path(),
        ports,
        "registrar_uas.xml",
        &[
            ("REGISTER_TIMEOUT_MS", "20000".into()),
            ("USER", "1001".into()),
            ("PASSWORD", "s3cret".into()),
        ],
    );
    let config = gateway_toml(ports, 0.0).replace(
        "[rtp]",
        &format!(
            "[sip.register]\nregistrar = \"sip:127.0.0.1:{}\"\nuser = \"1001\"\npassword = \"s3cret\"\nexpires = 60\n\n[rtp]",
            ports.agent
        ),
    );
    let gateway = Gateway::start_with(dir.path(), ports, &config, None);
    // RFC 3261 section 22.4: 401, then the REGISTER again with Authorization.
    let done = registrar.finish(Duration::from_secs(30));
    assert!(
        done.is_some_and(|status| status.success()),
        "the registrar's sipp: {done:?} (it fails on a wrong digest answer)\n{}{}",
        registrar.report(),
        gateway.report()
    );
}

#[test]
fn sipp_hold_music_is_not_scored() {
    let (ports, dir) = sipp_test(17);
    // The angry recording as the caller's hold music: heard while on hold,
    // it must neither be scored nor transfer the call.
    let media = CallerMedia::recording(&repo_path("fixtures/calls/angry_mid_call/call.flac"));
    let pcap = caller_pcap(dir.path(), &media);
    let values = [
        ("PCAP", pcap.display().to_string()),
        ("HANGUP_MS", "24000".into()),
    ];
    let (mut gateway, call) = one_call(dir.path(), ports, 0.0, "caller_holds.xml", &values);
    expect_ended_untransferred(&call, &gateway, "caller");
    let steps = steps(&gateway, &call);
    assert!(
        !steps.iter().any(|e| e["event"] == "anger"),
        "no anger score while on hold\n{}",
        gateway.report()
    );
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}

#[test]
fn sipp_call_over_tcp() {
    let (ports, dir) = sipp_test(12);
    let mut gateway = Gateway::start(dir.path(), ports, 0.0, Some(1));
    let xml = scenario(
        dir.path(),
        "caller_bye_early.xml",
        &[
            ("HANGUP_MS", "1500".into()),
            ("MEDIA_PORT", ports.sink.to_string()),
        ],
    );
    // RFC 3261 section 18: one TCP connection, messages framed by Content-Length.
    Sipp::caller_with(dir.path(), ports, &xml, &["-t", "t1"])
        .assert_success(CALLER_LIMIT, Some(&gateway));
    let call = the_call(&gateway);
    expect_ended_untransferred(&call, &gateway, "caller");
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}

#[test]
fn sipp_delayed_offer_is_answered_in_the_ack_and_gets_the_prompts() {
    let (ports, dir) = sipp_test(24);
    let ear = RtpSink::bind(ports.sink, false);
    let mut gateway = Gateway::start(dir.path(), ports, 0.0, Some(1));
    let xml = scenario(
        dir.path(),
        "caller_delayed_offer.xml",
        &[
            ("HANGUP_MS", "1500".into()),
            ("MEDIA_PORT", ports.sink.to_string()),
        ],
    );
    Sipp::caller(dir.path(), ports, &xml).assert_success(CALLER_LIMIT, Some(&gateway));
    let packets = check_prompt_stream(&ear.packets())
        .unwrap_or_else(|e| panic!("the prompt's RTP: {e}\n{}", gateway.report()));
    assert!(
        packets >= 50,
        "{packets} RTP packets of the prompt to the ACK's address in 1.5 s\n{}",
        gateway.report()
    );
    let call = the_call(&gateway);
    expect_ended_untransferred(&call, &gateway, "caller");
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}

/// Checks one call's outgoing prompt: G.711 (PT 0 or 8) in 20 ms packets,
/// one SSRC, sequence numbers and timestamps that run on (+1, +160), and
/// sound in it (a spoken prompt is not all silence). Returns the count.
fn check_prompt_stream(heard: &[Arrival]) -> Result<usize, String> {
    let first = heard.first().ok_or("no RTP packet arrived")?;
    let first = RtpReader::new(&first.1).map_err(|e| format!("not RTP: {e:?}"))?;
    let (pt, ssrc) = (first.payload_type(), first.ssrc());
    if pt != 0 && pt != 8 {
        return Err(format!("payload type {pt}, expected 0 (PCMU) or 8 (PCMA)"));
    }
    let silence = if pt == 0 { 0xFF } else { 0xD5 };
    let mut previous: Option<(u16, u32)> = None;
    let mut sound = 0;
    for (index, (_, bytes)) in heard.iter().enumerate() {
        let rtp = RtpReader::new(bytes).map_err(|e| format!("packet {index} is not RTP: {e:?}"))?;
        if rtp.payload_type() != pt || rtp.ssrc() != ssrc {
            return Err(format!(
                "packet {index}: PT {} SSRC {:#x}, the stream began with PT {pt} SSRC {ssrc:#x}",
                rtp.payload_type(),
                rtp.ssrc()
            ));
        }
        if rtp.payload().len() != 160 {
            return Err(format!(
                "packet {index}: {} bytes of audio, not 160 (20 ms)",
                rtp.payload().len()
            ));
        }
        let (seq, ts) = (u16::from(rtp.sequence_number()), rtp.timestamp());
        if let Some((last_seq, last_ts)) = previous {
            if seq != last_seq.wrapping_add(1) || ts != last_ts.wrapping_add(160) {
                return Err(format!(
                    "packet {index}: seq {seq} ts {ts} after seq {last_seq} ts {last_ts}: expected +1 and +160"
                ));
            }
        }
        previous = Some((seq, ts));
        if rtp.payload().iter().any(|&b| (b ^ silence) & 0x70 != 0) {
            sound += 1;
        }
    }
    if sound * 4 < heard.len() {
        return Err(format!(
            "only {sound} of {} packets have sound in them",
            heard.len()
        ));
    }
    Ok(heard.len())
}

#[test]
fn sipp_unsupported_codec_gets_488() {
    expect_call_ends_untransferred(5, 0.0, "caller_g729_only.xml", "rejected");
}

#[test]
fn sipp_refused_refer_bridges_to_the_agent() {
    let (ports, dir) = sipp_test(6);
    let calm = CallerMedia::recording(&repo_path("fixtures/calls/calm_caller/call.flac"));
    let media = press_zero_three_times(calm.first_seconds(20.0), 1.5);
    let pcap = caller_pcap(dir.path(), &media);
    let spoken: HashSet<Vec<i16>> = media
        .packets()
        .iter()
        .filter_map(|p| {
            let rtp = RtpReader::new(&p.rtp).ok()?;
            (rtp.payload_type() == PT_PCMU).then(|| samples_of(rtp.payload()))
        })
        .collect();
    // The agent's media: heard here, and echoed back to voicegate.
    let agent_ear = RtpSink::bind(ports.sink, true);
    let mut gateway = Gateway::start(dir.path(), ports, 0.0, Some(1));
    let mut agent = agent(
        dir.path(),
        ports,
        "agent_uas.xml",
        &[
            ("INVITE_TIMEOUT_MS", "30000".into()),
            ("TALK_MS", "3000".into()),
            ("MEDIA_PORT", ports.sink.to_string()),
        ],
    );
    let mut values = refer_values(ports, &pcap, 15_000);
    values.push(("BYE_TIMEOUT_MS", "20000".into()));
    let xml = scenario(dir.path(), "caller_refuses_refer.xml", &values);
    let mut caller = Sipp::caller(dir.path(), ports, &xml);
    caller.finish(CALLER_LIMIT);
    let agent_done = agent.finish(Duration::from_secs(20));
    if !agent_done.is_some_and(|s| s.success()) {
        panic!(
            "the agent's sipp: {agent_done:?}, expected exit 0 (INVITE from voicegate, ACK, its BYE answered)\n{}{}{}",
            agent.report(),
            caller.report(),
            gateway.report()
        );
    }
    caller.assert_success(CALLER_LIMIT, Some(&gateway));

    let call = the_call(&gateway);
    expect_transfer(&call, &gateway, "human_request", "priority", "bridge");
    let transfer = &call["transfer"];
    assert_eq!(transfer["uri"], ports.queue_uri("priority"), "{call}");
    if call["ended"] != "agent" {
        fail(
            "the agent hung up first: expected ended \"agent\"",
            &call,
            &gateway,
        );
    }
    // The agent heard the caller: the caller's own audio frames, relayed.
    let heard = agent_ear.packets();
    // voicegate decodes and re-encodes (μ-law's two codes for zero, 0x7F
    // and 0xFF, come out as 0xFF), so frames compare as samples.
    let mut relayed = 0;
    let mut relayed_sound = 0;
    for (_, bytes) in &heard {
        let Ok(rtp) = RtpReader::new(bytes) else {
            continue;
        };
        let samples = samples_of(rtp.payload());
        if rtp.payload_type() == PT_PCMU && spoken.contains(&samples) {
            relayed += 1;
            relayed_sound += usize::from(samples.iter().any(|&s| s != 0));
        }
    }
    assert!(
        heard.len() >= 100 && relayed * 10 >= heard.len() * 9 && relayed_sound >= 40,
        "the agent got {} RTP packets in its 3 s: {relayed} of them the caller's audio frames, \
         {relayed_sound} with sound; expected about 150, nearly all the caller's\n{}",
        heard.len(),
        gateway.report()
    );
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}

#[test]
fn sipp_busy_agent_leaves_the_caller_queued_with_the_sorry_prompt() {
    an_agent_refusing_leaves_the_caller_queued(10, "486 Busy Here");
}

#[test]
fn sipp_agent_out_of_service_leaves_the_caller_queued_with_the_sorry_prompt() {
    an_agent_refusing_leaves_the_caller_queued(29, "503 Service Unavailable");
}

/// The caller refuses the REFER, voicegate calls the agent, and the agent
/// answers `status`: the caller hears the sorry prompt and stays queued.
fn an_agent_refusing_leaves_the_caller_queued(block: u16, status: &str) {
    let (ports, dir) = sipp_test(block);
    let media = press_zero_three_times(CallerMedia::silence(12.0), 1.0);
    let pcap = caller_pcap(dir.path(), &media);
    let mut gateway = Gateway::start(dir.path(), ports, 0.0, Some(1));
    let mut agent = agent(
        dir.path(),
        ports,
        "agent_busy_uas.xml",
        &[
            ("INVITE_TIMEOUT_MS", "30000".into()),
            ("STATUS", status.into()),
        ],
    );
    let mut values = refer_values(ports, &pcap, 15_000);
    values.push(("WAIT_MS", "5000".into()));
    let xml = scenario(dir.path(), "caller_refuses_refer_and_waits.xml", &values);
    Sipp::caller(dir.path(), ports, &xml).assert_success(CALLER_LIMIT, Some(&gateway));
    let agent_done = agent.finish(Duration::from_secs(20));
    assert!(
        agent_done.is_some_and(|s| s.success()),
        "the agent's sipp ({status}): {agent_done:?}\n{}",
        agent.report()
    );

    let call = the_call(&gateway);
    if call["transfer"]["via"] != "queued" || call["ended"] != "caller" {
        fail(
            "expected the caller queued (not dropped) until they hung up",
            &call,
            &gateway,
        );
    }
    let queued = steps(&gateway, &call)
        .into_iter()
        .find(|e| e["event"] == "queued")
        .unwrap_or_else(|| fail("no queued event", &call, &gateway));
    assert_eq!(queued["prompt"], "agents_busy", "{queued}");
    gateway.assert_exits_by_itself(EXIT_LIMIT);
}

#[test]
fn sipp_malformed_datagram_gets_400_and_serve_stays_up() {
    let ports = Ports::block(7);
    let dir = tempfile::tempdir().unwrap();
    let mut gateway = Gateway::start(dir.path(), ports, 0.0, None);
    // A request whose Via, From, To, Call-ID and CSeq are fine, so that a
    // well-formed 400 can echo them, but whose Max-Forwards is out of range
    // (at most 255, RFC 3261 section 20.22; RFC 4475 3.1.2.4 has the like).
    let malformed = "OPTIONS sip:800@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:LOCALPORT;branch=z9hG4bK-malformed-1\r\n\
        Max-Forwards: 300\r\n\
        From: <sip:probe@127.0.0.1:LOCALPORT>;tag=m1\r\n\
        To: <sip:800@127.0.0.1>\r\n\
        Call-ID: malformed-1@probe.voicegate.test\r\n\
        CSeq: 1 OPTIONS\r\n\
        Content-Length: 0\r\n\r\n";
    assert!(
        voicegate::sip::parse_message(malformed.as_bytes()).is_err(),
        "the strict reader refuses it"
    );
    // Bytes that are no SIP at all get no answer, but must not hurt either.
    let _ = sip_exchange(
        ports.sip,
        b"\x00\x01\x02 not SIP\r\n\r\n",
        Duration::from_millis(300),
    );
    let answer = sip_exchange(ports.sip, malformed.as_bytes(), Duration::from_secs(2));
    let answer = answer.unwrap_or_else(|| {
        panic!(
            "no answer to a malformed request within 2 s\n{}",
            gateway.report()
        )
    });
    assert!(
        answer.starts_with("SIP/2.0 400"),
        "expected SIP/2.0 400, got:\n{answer}\n{}",
        gateway.report()
    );
    assert!(
        answer.contains("z9hG4bK-malformed-1"),
        "the 400 carries the request's Via: {answer}"
    );
    let options = harness::options_request(ports.sip, "after-malformed");
    let answer = sip_exchange(ports.sip, options.as_bytes(), Duration::from_secs(2));
    let answer = answer.unwrap_or_default();
    assert!(
        answer.starts_with("SIP/2.0 200"),
        "OPTIONS after the malformed datagram: expected SIP/2.0 200, got:\n{answer}\n{}",
        gateway.report()
    );
    assert!(gateway.alive(), "serve still runs\n{}", gateway.report());
}

/// Not voicegate: SIPp replays a pcap from pcap.rs to a media sink that
/// listens here, and the sink hears exactly the RTP that was written (every
/// packet, byte for byte, in order, about on time). This checks the test
/// harness itself, so that a failure above is voicegate's.
#[test]
fn sipp_replays_the_pcaps_we_write() {
    let (ports, dir) = sipp_test(8);
    let media = CallerMedia::recording(&repo_path("fixtures/calls/calm_caller/call.flac"))
        .first_seconds(2.0)
        .press(1.0, '7');
    let pcap = caller_pcap(dir.path(), &media);
    let written = media.packets();
    let sink = RtpSink::bind(ports.sink, false);
    let sink_xml = scenario(
        dir.path(),
        "media_sink_uas.xml",
        &[("SINK_PORT", ports.sink.to_string())],
    );
    // The sink UAS listens where a gateway would.
    let mut uas = Sipp::uas(dir.path(), "sink", &sink_xml, ports.sip, ports, 30);
    let xml = scenario(
        dir.path(),
        "caller_menu_walk.xml",
        &[
            ("PCAP", pcap.display().to_string()),
            ("HANGUP_MS", "2600".into()),
        ],
    );
    let mut caller = Sipp::caller(dir.path(), ports, &xml);
    caller.assert_success(Duration::from_secs(30), None);
    uas.assert_success(Duration::from_secs(10), None);
    std::thread::sleep(Duration::from_millis(300));
    let got = sink.packets();

    assert_eq!(got.len(), written.len(), "packets at the sink");
    for (index, ((_, payload), packet)) in got.iter().zip(&written).enumerate() {
        assert_eq!(payload, &packet.rtp, "packet {index} differs");
    }
    let span = (got.last().unwrap().0 - got[0].0).as_secs_f64();
    let expected = written.last().unwrap().at_s;
    assert!(
        (span - expected).abs() < 0.25,
        "the stream took {span:.3} s, the pcap {expected:.3} s"
    );
    // And the pcap itself reads back with the key where it was pressed.
    let read = read_pcap(&pcap).unwrap();
    assert_eq!(read.len(), written.len());
    assert_eq!(
        decode_presses(&read),
        vec![Press {
            at_s: 1.0,
            key: '7'
        }]
    );
}
