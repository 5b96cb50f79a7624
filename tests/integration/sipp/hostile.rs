//! What a hostile or broken peer sends must not take the gateway down
//! (issue: reliability and security). Each test sends the datagrams a
//! scanner or a buggy trunk would and checks the gateway still serves.

use std::net::UdpSocket;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::harness::{options_request, sip_exchange, Gateway};
use serde_json::Value;

use super::sipp_test;

/// An INVITE from `socket` for a new call with `extra` headers.
fn invite(socket: &UdpSocket, sip_port: u16, call_id: &str, extra: &str) -> String {
    let local = socket.local_addr().unwrap();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    format!(
        "INVITE sip:800@127.0.0.1:{sip_port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+15550100123@127.0.0.1>;tag=h1\r\nTo: <sip:800@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{local}>\r\n{extra}\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// Every datagram that comes back within `limit`, as text.
fn replies(socket: &UdpSocket, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut buffer = vec![0u8; 65_535];
    let mut replies = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match socket.recv(&mut buffer) {
            Ok(n) => replies.push(String::from_utf8_lossy(&buffer[..n]).into_owned()),
            Err(_) => break,
        }
    }
    replies
}

#[test]
fn a_session_interval_past_any_clock_is_lowered_not_a_crash() {
    let (ports, dir) = sipp_test(22);
    let mut gateway = Gateway::start(dir.path(), ports, 0.0, None);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", ports.sip)).unwrap();
    let huge = "Session-Expires: 18446744073709551615\r\nSupported: timer\r\n";
    socket
        .send(invite(&socket, ports.sip, "huge-se", huge).as_bytes())
        .unwrap();
    let answers = replies(&socket, Duration::from_secs(3));
    let ok = answers
        .iter()
        .find(|reply| reply.starts_with("SIP/2.0 200 OK"))
        .unwrap_or_else(|| panic!("no 200 OK: {answers:?}\n{}", gateway.report()));
    assert!(
        ok.contains("Session-Expires: 86400;refresher=uac"),
        "the interval is lowered to a day (RFC 4028 section 9):\n{ok}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(gateway.alive(), "serve died:\n{}", gateway.report());
    let probe = options_request(ports.sip, "after-huge-se");
    let answer = sip_exchange(ports.sip, probe.as_bytes(), Duration::from_secs(2));
    let answer =
        answer.unwrap_or_else(|| panic!("serve still answers OPTIONS\n{}", gateway.report()));
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    assert!(
        answer.contains("Server: voicegate\r\n"),
        "the product without its version (svmap reads it): {answer}"
    );
}

/// The tag voicegate put in the To of `response`.
fn to_tag(response: &str) -> String {
    let to = response
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with("to:"))
        .expect("a To header");
    to.split("tag=")
        .nth(1)
        .expect("a To tag")
        .trim()
        .to_string()
}

/// The RTP port in the SDP of `response`.
fn sdp_port(response: &str) -> u16 {
    let m = response
        .lines()
        .find(|line| line.starts_with("m=audio "))
        .expect("an m=audio line");
    m.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn in_dialog(
    method: &str,
    socket: &UdpSocket,
    sip_port: u16,
    call_id: &str,
    tag: &str,
    cseq: u32,
) -> String {
    let local = socket.local_addr().unwrap();
    format!(
        "{method} sip:ivr@127.0.0.1:{sip_port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{method}{cseq}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+15550100123@127.0.0.1>;tag=h1\r\nTo: <sip:800@127.0.0.1>;tag={tag}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

fn rtp(
    payload_type: u8,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    marked: bool,
    payload: &[u8],
) -> Vec<u8> {
    rtp_rs::RtpPacketBuilder::new()
        .payload_type(payload_type)
        .ssrc(ssrc)
        .sequence(rtp_rs::Seq::from(sequence))
        .timestamp(timestamp)
        .marked(marked)
        .payload(payload)
        .build()
        .unwrap()
}

#[test]
fn rtp_from_another_source_neither_presses_keys_nor_takes_the_prompts() {
    let (ports, dir) = sipp_test(23);
    let gateway = Gateway::start(dir.path(), ports, 0.0, Some(1));
    let media = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    sip.connect(("127.0.0.1", ports.sip)).unwrap();
    let offer = invite(&sip, ports.sip, "injected", "").replace(
        "m=audio 6000",
        &format!("m=audio {}", media.local_addr().unwrap().port()),
    );
    sip.send(offer.as_bytes()).unwrap();
    let answers = replies(&sip, Duration::from_secs(2));
    let ok = answers
        .iter()
        .find(|r| r.starts_with("SIP/2.0 200 OK"))
        .expect("200 OK");
    let (tag, gateway_rtp) = (to_tag(ok), sdp_port(ok));
    sip.send(in_dialog("ACK", &sip, ports.sip, "injected", &tag, 1).as_bytes())
        .unwrap();
    // The caller talks (silence, PCMU) for 6 s; from 1 s an injector on
    // another port sends three key presses of "0" with its own SSRC.
    let injector = UdpSocket::bind("127.0.0.1:0").unwrap();
    injector.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let zero = voicegate::rtp::key_press_payloads('0', 5).unwrap();
    for frame in 0u16..300 {
        let silence = [0xffu8; 160];
        let packet = rtp(
            0,
            0x1111,
            frame,
            u32::from(frame) * 160,
            frame == 0,
            &silence,
        );
        media.send_to(&packet, ("127.0.0.1", gateway_rtp)).unwrap();
        if (50..50 + 3 * 20).contains(&frame) && (frame - 50) % 20 < zero.len() as u16 {
            let press = u32::from((frame - 50) / 20);
            let index = usize::from((frame - 50) % 20);
            let packet = rtp(
                101,
                0x2222,
                frame,
                8000 + press * 3200,
                index == 0,
                &zero[index],
            );
            injector
                .send_to(&packet, ("127.0.0.1", gateway_rtp))
                .unwrap();
        }
        let due = start + Duration::from_millis(20 * u64::from(frame + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    let mut buffer = [0u8; 2048];
    let mut prompt_packets_to_injector = 0;
    while injector.recv_from(&mut buffer).is_ok() {
        prompt_packets_to_injector += 1;
    }
    sip.send(in_dialog("BYE", &sip, ports.sip, "injected", &tag, 2).as_bytes())
        .unwrap();
    let call = gateway.wait_call(Duration::from_secs(10));
    assert_eq!(
        call["transfer"],
        Value::Null,
        "no transfer from injected keys: {call}\n{}",
        gateway.report()
    );
    let heard: Vec<Value> = gateway.events_of(call["call_id"].as_str().unwrap());
    assert!(!heard.iter().any(|e| e["event"] == "dtmf"), "{heard:?}");
    assert_eq!(
        prompt_packets_to_injector, 0,
        "the prompts stay with the caller"
    );
}

/// `voicegate call` with the 28 s calm fixture; its JSON Lines when it ends.
fn calm_call_in_background(dir: &Path, sip_port: u16) -> JoinHandle<Vec<Value>> {
    let target = format!("sip:800@127.0.0.1:{sip_port}");
    let caller_dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let output = crate::voicegate_in(&caller_dir)
            .args(["call", &target, "--json", "--play"])
            .arg(crate::repo_path("fixtures/calls/calm_caller/call.flac"))
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        crate::json_lines(&output.stdout)
    })
}

#[test]
fn sigterm_refuses_new_calls_and_hangs_up_the_calls_up_after_the_drain() {
    let (ports, dir) = sipp_test(26);
    let config =
        super::harness::gateway_toml(ports, 0.0).replace("[sip]\n", "[sip]\ndrain_s = 1.0\n");
    let mut gateway = Gateway::start_with(dir.path(), ports, &config, None);
    let caller = calm_call_in_background(dir.path(), ports.sip);
    std::thread::sleep(Duration::from_secs(3));
    gateway.terminate();
    std::thread::sleep(Duration::from_millis(300));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", ports.sip)).unwrap();
    socket
        .send(invite(&socket, ports.sip, "during-drain", "").as_bytes())
        .unwrap();
    let answers = replies(&socket, Duration::from_secs(1));
    assert!(
        answers
            .iter()
            .any(|a| a.starts_with("SIP/2.0 503") && a.contains("Retry-After:")),
        "a new call during the drain gets 503 with Retry-After: {answers:?}\n{}",
        gateway.report()
    );
    let lines = caller.join().unwrap();
    let summary = lines.last().unwrap();
    assert_eq!(summary["answered"], true, "{lines:?}");
    assert_eq!(
        summary["ended_by"], "gateway",
        "the call up got a BYE: {lines:?}"
    );
    let hangup = lines.iter().find(|l| l["event"] == "hangup").unwrap();
    let at = hangup["t"].as_f64().unwrap();
    assert!(
        (3.5..10.0).contains(&at),
        "BYE {at} s into the 28 s call, after the 1 s drain"
    );
    gateway.assert_exits_by_itself(Duration::from_secs(15));
}

#[test]
fn sighup_reloads_the_configuration_for_new_calls_and_the_call_up_goes_on() {
    let (ports, dir) = sipp_test(28);
    let config =
        super::harness::gateway_toml(ports, 0.0).replace("[sip]\n", "[sip]\ndrain_s = 1.0\n");
    let mut gateway = Gateway::start_with(dir.path(), ports, &config, None);
    let caller = calm_call_in_background(dir.path(), ports.sip);
    std::thread::sleep(Duration::from_secs(2));
    let path = dir.path().join("gateway.toml");
    let one_call = config.replace("[sip]\n", "[sip]\nmax_calls = 1\n");
    std::fs::write(&path, &one_call).unwrap();
    gateway.signal("HUP");
    gateway.wait_stderr("voicegate: reloaded", Duration::from_secs(20));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", ports.sip)).unwrap();
    socket
        .send(invite(&socket, ports.sip, "after-reload", "").as_bytes())
        .unwrap();
    let answers = replies(&socket, Duration::from_secs(1));
    assert!(
        answers.iter().any(|a| a.starts_with("SIP/2.0 503")),
        "with max_calls = 1 reloaded, a second call gets 503: {answers:?}\n{}",
        gateway.report()
    );
    std::fs::write(&path, one_call.replace("max_calls = 1", "max_calls = 0")).unwrap();
    gateway.signal("HUP");
    gateway.wait_stderr(
        "reload failed, still serving the previous configuration",
        Duration::from_secs(20),
    );
    gateway.wait_stderr("sip.max_calls must be between", Duration::from_secs(1));
    assert!(gateway.alive(), "{}", gateway.report());
    gateway.terminate();
    let lines = caller.join().unwrap();
    let summary = lines.last().unwrap();
    assert_eq!(summary["answered"], true, "{lines:?}");
    let hangup = lines.iter().find(|l| l["event"] == "hangup").unwrap();
    let at = hangup["t"].as_f64().unwrap();
    assert!(
        at > 3.0,
        "the call up lasted through both reloads (BYE at {at} s)"
    );
    assert_eq!(summary["ended_by"], "gateway", "{lines:?}");
    gateway.assert_exits_by_itself(Duration::from_secs(15));
}
