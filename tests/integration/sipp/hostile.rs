//! What a hostile or broken peer sends must not take the gateway down
//! (issue: reliability and security). Each test sends the datagrams a
//! scanner or a buggy trunk would and checks the gateway still serves.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use super::harness::{options_request, sip_exchange, Gateway};
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
    assert!(
        answer.is_some_and(|a| a.starts_with("SIP/2.0 200")),
        "serve still answers OPTIONS\n{}",
        gateway.report()
    );
}
