//! CI's smoke load: 50 callers at once for about 24 s, each playing G.711
//! speech for the whole call (tools/load/uac_hold.xml, as the load script
//! places them); none may fail. The capacity figures themselves come from
//! tools/load/run.sh (docs/PERFORMANCE.md), never from a timed assertion.

use std::time::Duration;

use super::harness::{gateway_toml, Gateway, Sipp};
use super::sipp_test;
use crate::repo_path;

const CALLS: usize = 50;
/// Plays of the 8 s pcap per call.
const PLAYS: usize = 3;

#[test]
fn fifty_callers_at_once_are_all_answered_heard_and_hung_up_cleanly() {
    let (ports, dir) = sipp_test(43);
    let pcap = std::path::Path::new("/usr/share/sip-tester/g711a.pcap");
    assert!(
        pcap.exists(),
        "{} is missing: bash scripts/setup_interop.sh",
        pcap.display()
    );
    std::fs::create_dir_all(dir.path().join("pcap")).unwrap();
    std::fs::copy(pcap, dir.path().join("pcap/g711a.pcap")).unwrap();
    let play = "  <nop><action><exec play_pcap_audio=\"pcap/g711a.pcap\"/></action></nop>\n  <pause milliseconds=\"8000\"/>\n";
    let scenario = std::fs::read_to_string(repo_path("tools/load/uac_hold.xml"))
        .unwrap()
        .replace("@MEDIA@", &play.repeat(PLAYS));
    let xml = dir.path().join("hold.xml");
    std::fs::write(&xml, scenario).unwrap();
    // 50 calls need 50 even RTP ports: more than a test's port block holds.
    let config = gateway_toml(ports, 0.0).replace(
        &format!("ports = [{}, {}]", ports.rtp_low, ports.rtp_high),
        "ports = [40000, 40199]",
    );
    let gateway = Gateway::start_with(dir.path(), ports, &config, Some(CALLS as u32));
    let args: Vec<String> = [
        format!("127.0.0.1:{}", ports.sip),
        "-s".into(),
        "800".into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        ports.caller.to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        "41000".into(),
        "-cp".into(),
        ports.caller_control.to_string(),
        "-r".into(),
        "10".into(),
        "-l".into(),
        CALLS.to_string(),
        "-m".into(),
        CALLS.to_string(),
        "-timeout".into(),
        "90s".into(),
        "-timeout_error".into(),
    ]
    .into();
    let mut callers = Sipp::start(dir.path(), "load", &xml, &args);
    callers.assert_success(Duration::from_secs(120), Some(&gateway));
    let calls = gateway.wait_calls(CALLS, Duration::from_secs(20));
    let ended_by_caller = calls
        .iter()
        .filter(|call| call["ended"] == "caller")
        .count();
    let transferred = calls
        .iter()
        .filter(|call| !call["transfer"].is_null())
        .count();
    assert_eq!(
        (ended_by_caller, transferred),
        (CALLS, 0),
        "every caller hung up, none was transferred\n{}",
        gateway.report()
    );
}
