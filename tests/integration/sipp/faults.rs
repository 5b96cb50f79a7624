//! Network faults between a caller and `voicegate serve` (issue:
//! reliability): the test caller (`voicegate call`) loses, delays,
//! reorders and duplicates its RTP, restarts its stream with a new SSRC,
//! stops sending, or hangs up in the middle of a transfer. Each lossy call
//! runs beside the same call on a clean line, on one gateway, and the two
//! must be decided alike; once every call has ended, the gateway holds no
//! more sockets than before the first.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::{gateway_toml, Gateway};
use super::records::scrape;
use super::sipp_test;
use crate::{json_lines, repo_path, voicegate_in};

/// 5 % loss, up to 60 ms of jitter (packets are 20 ms apart, so they come
/// reordered), 2 % duplicates.
const LOSSY: &[&str] = &["--loss", "5", "--jitter", "60", "--duplicate", "2"];

/// One test call placed in the background, named by its From number.
pub struct Placed {
    from: String,
    pub caller: JoinHandle<Vec<Value>>,
}

pub fn place(dir: &Path, sip_port: u16, from: &str, fixture: &str, faults: &[&str]) -> Placed {
    let target = format!("sip:800@127.0.0.1:{sip_port}");
    let (dir, from_number) = (dir.to_path_buf(), from.to_string());
    let play: PathBuf = repo_path(&format!("fixtures/calls/{fixture}/call.flac"));
    let faults: Vec<String> = faults.iter().map(|f| f.to_string()).collect();
    let caller = std::thread::spawn(move || {
        let output = voicegate_in(&dir)
            .args(["call", &target, "--json", "--from", &from_number, "--play"])
            .arg(play)
            .args(&faults)
            .timeout(Duration::from_secs(90))
            .output()
            .unwrap();
        json_lines(&output.stdout)
    });
    Placed {
        from: from.to_string(),
        caller,
    }
}

/// The gateway's account of a call: its call line and the words it heard.
struct Decided {
    call: Value,
    words: Vec<Value>,
    caller_side: Vec<Value>,
}

fn decided(gateway: &Gateway, placed: Placed) -> Decided {
    let caller_side = placed.caller.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let call = loop {
        let found = gateway
            .calls()
            .into_iter()
            .find(|call| call["caller"] == placed.from.as_str());
        match found {
            Some(call) => break call,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            None => panic!(
                "no call line for {}; the caller saw {caller_side:?}\n{}",
                placed.from,
                gateway.report()
            ),
        }
    };
    let words = gateway
        .events_of(call["call_id"].as_str().unwrap())
        .into_iter()
        .filter(|event| event["event"] == "keyword")
        .map(|event| event["word"].clone())
        .collect();
    Decided {
        call,
        words,
        caller_side,
    }
}

/// The UDP and TCP sockets serve holds (its /proc fd table).
fn sockets_held(gateway: &Gateway) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", gateway.pid()))
        .map(|fds| {
            fds.filter_map(Result::ok)
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

fn assert_no_socket_left(gateway: &Gateway, before: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sockets_held(gateway) > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        sockets_held(gateway),
        before,
        "sockets held after every call ended\n{}",
        gateway.report()
    );
}

fn assert_decided_alike(fixture: &str, clean: &Decided, lossy: &Decided, gateway: &Gateway) {
    let context = || {
        format!(
            "{fixture}: clean {} / lossy {}\n{}",
            clean.call,
            lossy.call,
            gateway.report()
        )
    };
    let (a, b) = (&clean.call["transfer"], &lossy.call["transfer"]);
    // The figures docs/RELIABILITY.md records (seen with --nocapture).
    eprintln!(
        "{fixture}: clean {} at {} s, words {:?}; faulty {} at {} s, words {:?}",
        a["reason"], a["t"], clean.words, b["reason"], b["t"], lossy.words
    );
    assert_eq!(a["reason"], b["reason"], "{}", context());
    assert_eq!(a["target"], b["target"], "{}", context());
    if let (Some(at_clean), Some(at_lossy)) = (a["t"].as_f64(), b["t"].as_f64()) {
        assert!(
            (at_clean - at_lossy).abs() <= 1.5,
            "transferred at {at_clean} s clean, {at_lossy} s lossy: {}",
            context()
        );
    }
    assert_eq!(clean.words, lossy.words, "words heard: {}", context());
}

#[test]
fn lossy_jittery_duplicated_rtp_is_decided_as_the_clean_line_is() {
    let (ports, dir) = sipp_test(30);
    let mut gateway = Gateway::start(dir.path(), ports, 0.0, None);
    let before = sockets_held(&gateway);
    let fixtures = ["angry_mid_call", "calm_caller", "kws_human_x3"];
    let mut placed = Vec::new();
    for (n, fixture) in fixtures.iter().enumerate() {
        let clean = place(dir.path(), ports.sip, &format!("clean{n}"), fixture, &[]);
        let lossy = place(dir.path(), ports.sip, &format!("lossy{n}"), fixture, LOSSY);
        placed.push((fixture, clean, lossy));
    }
    for (fixture, clean, lossy) in placed {
        let (clean, lossy) = (decided(&gateway, clean), decided(&gateway, lossy));
        assert_decided_alike(fixture, &clean, &lossy, &gateway);
    }
    assert_no_socket_left(&gateway, before);
    assert!(gateway.alive());
}

#[test]
fn a_new_ssrc_a_stream_that_stops_and_a_caller_leaving_mid_transfer_end_cleanly() {
    let (ports, dir) = sipp_test(31);
    let config = gateway_toml(ports, 0.0).replace("inactivity_s = 30", "inactivity_s = 2");
    let mut gateway = Gateway::start_with(dir.path(), ports, &config, None);
    let before = sockets_held(&gateway);
    let angry = "angry_mid_call";
    let clean = place(dir.path(), ports.sip, "clean", angry, &[]);
    let restarted = place(
        dir.path(),
        ports.sip,
        "newssrc",
        angry,
        &["--new-ssrc-at", "8"],
    );
    let stops = place(
        dir.path(),
        ports.sip,
        "stops",
        "calm_caller",
        &["--stop-rtp-at", "3"],
    );
    let one_way = place(
        dir.path(),
        ports.sip,
        "oneway",
        "calm_caller",
        &["--stop-rtp-at", "0"],
    );
    let leaves = place(
        dir.path(),
        ports.sip,
        "leaves",
        angry,
        &["--on-refer", "hang-up"],
    );

    let clean = decided(&gateway, clean);
    let restarted = decided(&gateway, restarted);
    assert_decided_alike("a new SSRC at 8 s", &clean, &restarted, &gateway);

    for (label, placed, silent_from) in [("stops", stops, 3.0), ("one-way", one_way, 0.0)] {
        let Decided { call, .. } = decided(&gateway, placed);
        assert_eq!(call["ended"], "timeout", "{label}: {call}");
        let duration = call["duration"].as_f64().unwrap();
        assert!(
            (silent_from + 1.5..silent_from + 4.0).contains(&duration),
            "{label}: silent from {silent_from} s, hung up at {duration} s (inactivity 2 s)"
        );
    }

    let left = decided(&gateway, leaves);
    assert_eq!(left.call["transfer"]["reason"], "anger", "{}", left.call);
    assert_eq!(left.call["ended"], "caller", "{}", left.call);
    let summary = left.caller_side.last().unwrap();
    assert_eq!(summary["ended_by"], "caller", "{summary}");
    assert!(summary["refer_at"].is_number(), "{summary}");

    assert_no_socket_left(&gateway, before);
    assert!(gateway.alive());
}

/// The value of one `series` (`name{label="value"}`) in a metrics scrape.
fn series(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

/// A machine too busy to run the gateway for a while: its process is
/// stopped for 1 s, three times in a call, while the caller goes on
/// sending. When it runs again, the packet times it missed are overdue and
/// the caller's packets of that second wait at its socket; it must take the
/// packets in before playing those times, or it conceals audio that had
/// come and then drops it as late (a caller's words chopped whenever the
/// gateway is busy).
#[test]
fn a_gateway_stopped_for_a_second_loses_none_of_the_caller_audio_that_came_meanwhile() {
    let (ports, dir) = sipp_test(36);
    let gateway = Gateway::start(dir.path(), ports, 0.0, None);
    let caller = place(dir.path(), ports.sip, "held_up", "calm_caller", &[]);
    std::thread::sleep(Duration::from_secs(3));
    for _ in 0..3 {
        gateway.signal("STOP");
        std::thread::sleep(Duration::from_secs(1));
        gateway.signal("CONT");
        std::thread::sleep(Duration::from_secs(2));
    }
    let Decided { call, .. } = decided(&gateway, caller);
    assert!(call["transfer"].is_null(), "{call}\n{}", gateway.report());
    let metrics = scrape(ports.metrics);
    let received = series(&metrics, "voicegate_caller_frames_total{kind=\"received\"}");
    let concealed = series(
        &metrics,
        "voicegate_caller_frames_total{kind=\"concealed\"}",
    );
    let late = series(
        &metrics,
        "voicegate_caller_packets_dropped_total{reason=\"late\"}",
    );
    // The 28 s recording is 1,416 packets; a busy test machine may delay
    // the caller's own sending now and then (a packet more than 60 ms late
    // is concealed), so a few are allowed: the stops alone cost dozens.
    // The figures docs/RELIABILITY.md records (seen with --nocapture).
    eprintln!("held up 3 × 1 s: {received} frames received, {concealed} concealed, {late} late");
    assert!(received > 1_350, "{received} frames received\n{metrics}");
    assert!(
        concealed <= 3 && late <= 3,
        "{concealed} concealed, {late} late\n{metrics}"
    );
}
