//! Entry points for fuzzing what voicegate reads from untrusted bytes. The
//! `cargo fuzz` targets in `fuzz/` call these, and `cargo test` replays
//! every corpus entry and crash reproducer under `fuzz/` through them, so a
//! crash once found stays fixed. Each must return for any input; where a
//! parse succeeds it also checks what must then hold.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::audio::{ChannelPick, Recording};
use crate::config::GatewayConfig;
use crate::menu::{self, CheckOptions};
use crate::rtp::{parse_event, parse_rtp, DtmfDetector, JitterBuffer};
use crate::sip::{negotiate, parse_message, Peer, SipEvent, Transport, UserAgent};

/// A fuzz target: any bytes in, a panic only for a bug.
pub type Target = fn(&[u8]);

/// The fuzz targets by name (the names of `fuzz/fuzz_targets/*.rs`).
pub const TARGETS: [(&str, Target); 8] = [
    ("sip_message", sip_message),
    ("sdp", sdp),
    ("rtp_jitter", rtp_jitter),
    ("rfc4733", rfc4733),
    ("sip_info", sip_info),
    ("menu_toml", menu_toml),
    ("gateway_toml", gateway_toml),
    ("audio_decoder", audio_decoder),
];

const CALLER: &str = "127.0.0.1:5071";

fn caller() -> Peer {
    Peer {
        addr: CALLER.parse().expect("a literal address"),
        transport: Transport::Udp,
    }
}

/// A datagram to the user agent, then a minute of its timers: whatever it
/// sends parses by its own strict reader.
pub fn sip_message(bytes: &[u8]) {
    let mut ua = user_agent();
    ua.handle_datagram(Duration::ZERO, caller(), bytes);
    accept_offers(&mut ua, Duration::from_millis(1));
    for second in 1..=64 {
        ua.handle_timeout(Duration::from_secs(second));
    }
    check_sent(&mut ua);
}

/// An SDP offer: a negotiated one names a 7-bit payload type and a port.
pub fn sdp(bytes: &[u8]) {
    if let Ok(negotiated) = negotiate(&String::from_utf8_lossy(bytes)) {
        assert!(negotiated.payload_type <= 127);
        assert!(negotiated.telephone_event.map_or(true, |pt| pt <= 127));
    }
}

/// RTP packets, as datagrams split on 0xFF bytes, through the jitter
/// buffer, with a packet time's playout after each and a second after all.
pub fn rtp_jitter(bytes: &[u8]) {
    let mut jitter = JitterBuffer::new(3);
    for datagram in bytes.split(|b| *b == 0xff).filter(|d| !d.is_empty()) {
        if let Ok(rtp) = parse_rtp(datagram) {
            let audio = vec![0.0; rtp.payload.len().min(1920)];
            jitter.push(rtp.ssrc, rtp.sequence, audio);
        }
        jitter.pop();
    }
    // Past the packets, playout conceals forever: a second of it is enough.
    for _ in 0..50 {
        jitter.pop();
    }
}

/// Telephone-event payloads in 4-byte pieces: a key is one of the sixteen.
pub fn rfc4733(bytes: &[u8]) {
    let mut detector = DtmfDetector::default();
    for (index, payload) in bytes.chunks(4).enumerate() {
        if let Some(event) = parse_event(payload) {
            assert!(crate::dtmf::KEYS.contains(&event.digit));
        }
        let timestamp = u32::try_from(index / 3).unwrap_or(u32::MAX);
        if let Some(digit) = detector.push(1, timestamp, payload) {
            assert!(crate::dtmf::KEYS.contains(&digit));
        }
    }
}

/// An INFO body (the first line is its Content-Type) in an answered call.
pub fn sip_info(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let (content_type, body) = text
        .split_once('\n')
        .unwrap_or(("application/dtmf-relay", &text));
    let mut ua = user_agent();
    let Some(tag) = answered(&mut ua) else {
        return;
    };
    let content_type: String = content_type.chars().filter(|c| !c.is_control()).collect();
    let info = format!(
        "INFO sip:ivr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKinfo\r\n\
         Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=c1\r\nTo: <sip:800@127.0.0.1>;tag={tag}\r\n\
         Call-ID: fuzz-1\r\nCSeq: 2 INFO\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    ua.handle_datagram(Duration::from_secs(1), caller(), info.as_bytes());
    while let Some(event) = ua.poll_event() {
        if let SipEvent::Dtmf { digit, .. } = event {
            assert!(crate::dtmf::KEYS.contains(&digit));
        }
    }
    check_sent(&mut ua);
}

/// A menu file: a parsed menu can be checked, flattened and written out.
pub fn menu_toml(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let Ok(menu) = menu::parse_menu(&text, Path::new("fuzz.toml")) else {
        return;
    };
    menu::check(&menu, &CheckOptions::default());
    menu::outline(&menu);
    if let Ok((flat, _)) = menu::flatten(&menu, 3) {
        let written = menu::to_toml(&flat);
        menu::parse_menu(&written, Path::new("flat.toml")).expect("a flattened menu reads back");
    }
}

/// A gateway.toml: a configuration that loads gives the engine its share.
pub fn gateway_toml(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(config) = GatewayConfig::from_text(&text, Path::new("/nonexistent/gateway.toml")) {
        config.engine_config();
        config.queue_uris();
    }
}

/// A recording in any container and codec the decoders know: it decodes to
/// blocks of samples within -1..=1, or fails with an error.
pub fn audio_decoder(bytes: &[u8]) {
    for name in ["fuzz.wav", "fuzz.flac", "fuzz.mp3", "fuzz.ogg"] {
        let Ok(mut recording) =
            Recording::from_bytes(bytes.to_vec(), Path::new(name), ChannelPick::Mix)
        else {
            continue;
        };
        // A short input cannot hold more than this many seconds of audio.
        for _ in 0..10_000 {
            match recording.next_block() {
                Ok(Some(block)) => assert!(block.iter().all(|s| s.is_finite())),
                Ok(None) | Err(_) => break,
            }
        }
    }
}

fn user_agent() -> UserAgent {
    let local: SocketAddr = "127.0.0.1:5060".parse().expect("a literal address");
    UserAgent::new(local, "ivr", Duration::ZERO)
}

fn accept_offers(ua: &mut UserAgent, now: Duration) {
    let media: SocketAddr = "127.0.0.1:20000".parse().expect("a literal address");
    while let Some(event) = ua.poll_event() {
        if let SipEvent::Incoming { call, .. } = event {
            ua.accept(now, &call, media);
        }
    }
}

fn check_sent(ua: &mut UserAgent) {
    while let Some(transmit) = ua.poll_transmit() {
        parse_message(&transmit.bytes).expect("everything voicegate sends parses");
    }
}

/// Answers one call (Call-ID fuzz-1) and returns voicegate's To tag.
fn answered(ua: &mut UserAgent) -> Option<String> {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    let invite = format!(
        "INVITE sip:800@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKinv\r\n\
         Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=c1\r\nTo: <sip:800@127.0.0.1>\r\n\
         Call-ID: fuzz-1\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{CALLER}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    ua.handle_datagram(Duration::ZERO, caller(), invite.as_bytes());
    accept_offers(ua, Duration::from_millis(1));
    let mut tag = None;
    while let Some(transmit) = ua.poll_transmit() {
        let message = parse_message(&transmit.bytes).ok()?;
        if let Some(to) = message.header("to") {
            tag = to.split("tag=").nth(1).map(|t| t.trim().to_string());
        }
    }
    tag
}
