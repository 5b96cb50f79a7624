//! The line of callers waiting for an agent, on live calls: two callers
//! whose phones refuse the REFER and whose agent is busy wait in one line,
//! the angrier (higher priority) one ahead, each told their place; and a
//! caller kept waiting in the IVR past `max_wait_s` goes to the agents.

use std::time::Duration;

use serde_json::Value;

use super::harness::{gateway_toml, scenario, Gateway, Ports, Sipp};
use super::pcap::CallerMedia;
use super::{
    caller_pcap, expect_transfer, press_zero_three_times, refer_to, refer_values, sipp_test,
    the_call, CALLER_LIMIT,
};
use crate::repo_path;

/// The places one call was told, in order.
fn places(gateway: &Gateway, call: &Value) -> Vec<u64> {
    gateway
        .events_of(call["call_id"].as_str().unwrap_or_default())
        .iter()
        .filter(|event| event["event"] == "queue_place")
        .filter_map(|event| event["position"].as_u64())
        .collect()
}

#[test]
fn an_angry_caller_waits_ahead_of_a_calm_one_who_came_first_and_both_hear_their_place() {
    let (ports, dir) = sipp_test(18);
    let (other_ports, other_dir) = sipp_test(19);
    let config = gateway_toml(ports, 0.0) + "\n[transfer]\nretry_s = 3\n";
    let mut gateway = Gateway::start_with(dir.path(), ports, &config, Some(2));
    let agent_xml = scenario(
        dir.path(),
        "agent_busy_uas.xml",
        &[
            ("INVITE_TIMEOUT_MS", "60000".into()),
            ("STATUS", "486 Busy Here".into()),
        ],
    );
    let mut agent = Sipp::uas_for_calls(
        dir.path(),
        "agent",
        &agent_xml,
        (ports.agent, 50),
        ports,
        90,
    );

    // The calm caller asks for a person (0 three times) at 1-3 s, refuses
    // the REFER and stays on the line 26 s.
    let calm = caller_pcap(
        dir.path(),
        &press_zero_three_times(CallerMedia::silence(30.0), 1.0),
    );
    let mut values = refer_values(ports, &calm, 15_000);
    values.push(("WAIT_MS", "26000".into()));
    let calm_xml = scenario(dir.path(), "caller_refuses_refer_and_waits.xml", &values);
    let mut calm_caller = Sipp::caller(dir.path(), ports, &calm_xml);

    // The angry caller (anger from 14.15 s) is transferred at about 17 s,
    // refuses the REFER and stays 5 s more.
    std::thread::sleep(Duration::from_millis(500));
    let angry_media = CallerMedia::recording(&repo_path("fixtures/calls/angry_mid_call/call.flac"));
    let angry = caller_pcap(other_dir.path(), &angry_media);
    let mut values = refer_values(ports, &angry, 40_000);
    values.push(("WAIT_MS", "5000".into()));
    let angry_xml = scenario(
        other_dir.path(),
        "caller_refuses_refer_and_waits.xml",
        &values,
    );
    let angry_ports = Ports {
        sip: ports.sip,
        ..other_ports
    };
    let mut angry_caller = Sipp::caller(other_dir.path(), angry_ports, &angry_xml);

    angry_caller.assert_success(CALLER_LIMIT, Some(&gateway));
    calm_caller.assert_success(CALLER_LIMIT, Some(&gateway));
    let calls = gateway.wait_calls(2, Duration::from_secs(10));
    agent.finish(Duration::ZERO);
    let by_reason = |reason: &str| {
        calls
            .iter()
            .find(|call| call["transfer"]["reason"] == reason)
            .unwrap_or_else(|| panic!("no call transferred for {reason}\n{}", gateway.report()))
            .clone()
    };
    let (calm_call, angry_call) = (by_reason("human_request"), by_reason("anger"));
    let context = || format!("calm {calm_call}\nangry {angry_call}\n{}", gateway.report());
    assert_eq!(calm_call["transfer"]["priority"], "high", "{}", context());
    assert_eq!(
        angry_call["transfer"]["priority"],
        "urgent",
        "{}",
        context()
    );
    for call in [&calm_call, &angry_call] {
        assert_eq!(call["transfer"]["via"], "queued", "{}", context());
        assert_eq!(call["ended"], "caller", "{}", context());
    }
    assert_eq!(
        places(&gateway, &calm_call),
        [1, 2, 1],
        "the calm caller: first in line, then behind the angry caller, first again once they hung up\n{}",
        context()
    );
    assert_eq!(places(&gateway, &angry_call), [1], "{}", context());
    let waiting = gateway
        .events()
        .into_iter()
        .filter(|e| e["event"] == "queue_place")
        .count();
    assert_eq!(waiting, 4, "{}", context());
    gateway.assert_exits_by_itself(super::EXIT_LIMIT);
}

#[test]
fn a_sipp_caller_kept_waiting_past_max_wait_is_referred_to_the_agents_for_wait_timeout() {
    let (ports, dir) = sipp_test(40);
    // 6 s here instead of the sample's 90 s; the caller never chooses.
    let config = gateway_toml(ports, 0.0) + "\n[policy]\nmax_wait_s = 6.0\n";
    let mut gateway = Gateway::start_with(dir.path(), ports, &config, Some(1));
    let pcap = caller_pcap(dir.path(), &CallerMedia::silence(12.0));
    let values = [
        ("PCAP", pcap.display().to_string()),
        ("QUEUE", refer_to(ports, "agents")),
        ("REFER_TIMEOUT_MS", "12000".into()),
    ];
    let xml = scenario(dir.path(), "caller_referred.xml", &values);
    Sipp::caller(dir.path(), ports, &xml).assert_success(CALLER_LIMIT, Some(&gateway));
    let call = the_call(&gateway);
    expect_transfer(&call, &gateway, "wait_timeout", "agents", "refer");
    let at = call["transfer"]["t"].as_f64().unwrap_or(f64::NAN);
    assert!(
        (6.0..6.1).contains(&at),
        "transferred at {at} s, max_wait_s 6\n{call}"
    );
    let transfer = gateway
        .events_of(call["call_id"].as_str().unwrap_or_default())
        .into_iter()
        .find(|event| event["event"] == "transfer")
        .unwrap_or_else(|| panic!("no transfer event\n{}", gateway.report()));
    let waited = transfer["evidence"][0]["waited_s"]
        .as_f64()
        .unwrap_or(f64::NAN);
    assert!((6.0..6.1).contains(&waited), "evidence {transfer}");
    gateway.assert_exits_by_itself(super::EXIT_LIMIT);
}
