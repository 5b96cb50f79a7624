//! The dashboard's API on a live call: `GET /api/calls` lists the call
//! while it runs, the event stream carries its events as they happen, and
//! `GET /api/report` counts it once it has ended.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::faults::place;
use super::harness::{http_get as get, Gateway};
use super::sipp_test;

/// The events the stream sends until one matches `wanted` (or 30 s pass).
fn stream_until(port: u16, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET /api/events HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        if let Some(data) = line.strip_prefix("data: ") {
            let event: Value = serde_json::from_str(data).unwrap();
            let done = wanted(&event);
            seen.push(event);
            if done || Instant::now() > deadline {
                break;
            }
        }
    }
    seen
}

#[test]
fn a_live_call_is_listed_streamed_and_then_counted_in_the_report() {
    let (ports, dir) = sipp_test(44);
    let gateway = Gateway::start(dir.path(), ports, 0.0, None);
    let caller = place(dir.path(), ports.sip, "+15550100123", "angry_mid_call", &[]);
    let events = stream_until(ports.http, |event| event["event"] == "anger");
    let listed = get(ports.http, "/api/calls");
    let calls = listed.as_array().cloned().unwrap_or_default();
    assert_eq!(
        calls.len(),
        1,
        "the call is up: {listed}\n{}",
        gateway.report()
    );
    let call = &calls[0];
    assert_eq!(call["caller"], "+15550100123", "{call}");
    assert_eq!(call["transport"], "sip", "{call}");
    assert_eq!(call["node"], "main", "{call}");
    assert!(call["anger"].is_number(), "{call}");
    let id = call["id"].as_str().unwrap_or_default();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "anger" && e["call_id"] == id),
        "the stream carried the call's anger scores as they came: {events:?}"
    );
    caller.caller.join().unwrap();
    gateway.wait_call(Duration::from_secs(10));
    assert_eq!(get(ports.http, "/api/calls"), serde_json::json!([]));
    let report = get(ports.http, "/api/report");
    assert_eq!(report["calls"], 1, "{report}");
    assert_eq!(
        report["forced_transfer_rate"]["count"], 1,
        "the anger transfer: {report}"
    );
}
