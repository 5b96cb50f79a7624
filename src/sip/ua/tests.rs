use super::*;
use crate::sip::dialog::Transport;

const CALLER: &str = "127.0.0.1:5071";

fn peer() -> Peer {
    Peer {
        addr: CALLER.parse().unwrap(),
        transport: Transport::Udp,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn invite(branch: &str, m_line: &str) -> String {
    let sdp = format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n{m_line}\r\na=rtpmap:101 telephone-event/8000\r\n");
    format!(
        "INVITE sip:800@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch={branch}\r\nMax-Forwards: 70\r\nFrom: <sip:+15550100123@127.0.0.1>;tag=c1\r\nTo: <sip:800@127.0.0.1>\r\nCall-ID: call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{CALLER}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn in_dialog(
    method: &str,
    branch: &str,
    cseq: u32,
    to_tag: &str,
    extra: &str,
    body: &str,
) -> String {
    format!(
        "{method} sip:ivr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch={branch}\r\nMax-Forwards: 70\r\nFrom: <sip:+15550100123@127.0.0.1>;tag=c1\r\nTo: <sip:800@127.0.0.1>;tag={to_tag}\r\nCall-ID: call-1\r\nCSeq: {cseq} {method}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn agent() -> UserAgent {
    UserAgent::new("127.0.0.1:5060".parse().unwrap(), "ivr", Duration::ZERO)
}

fn sent(ua: &mut UserAgent) -> Vec<String> {
    ua.assert_timers_set();
    std::iter::from_fn(|| ua.poll_transmit())
        .map(|t| String::from_utf8(t.bytes).unwrap())
        .collect()
}

fn events(ua: &mut UserAgent) -> Vec<SipEvent> {
    ua.assert_timers_set();
    std::iter::from_fn(|| ua.poll_event()).collect()
}

fn status(message: &str) -> &str {
    message.lines().next().unwrap()
}

fn to_tag(message: &str) -> String {
    let reread = parse_message(message.as_bytes()).unwrap();
    headers::tag(reread.header("to").unwrap())
        .unwrap()
        .to_string()
}

/// Runs an INVITE through to the 200 OK; returns voicegate's tag.
fn answered_call(ua: &mut UserAgent) -> String {
    ua.handle_datagram(
        ms(0),
        peer(),
        invite("z9hG4bK1", "m=audio 6000 RTP/AVP 0 101").as_bytes(),
    );
    assert!(matches!(events(ua)[..], [SipEvent::Incoming { .. }]));
    ua.accept(ms(10), "call-1", "127.0.0.1:20000".parse().unwrap());
    let out = sent(ua);
    let statuses: Vec<&str> = out.iter().map(|m| status(m)).collect();
    assert_eq!(
        statuses,
        [
            "SIP/2.0 100 Trying",
            "SIP/2.0 180 Ringing",
            "SIP/2.0 200 OK"
        ]
    );
    assert!(out[2].contains("m=audio 20000 RTP/AVP 0 101"), "{}", out[2]);
    assert!(matches!(
        &events(ua)[..],
        [SipEvent::Answered { call, media }] if call == "call-1" && media.remote.port() == 6000
    ));
    to_tag(&out[2])
}

fn from(addr: &str) -> Peer {
    Peer {
        addr: addr.parse().unwrap(),
        transport: crate::sip::dialog::Transport::Udp,
    }
}

#[test]
fn an_invite_from_an_untrusted_source_gets_a_stateless_403() {
    let mut ua = agent();
    ua.handle_datagram(
        ms(0),
        from("203.0.113.9:5060"),
        invite("z9hG4bKu", "m=audio 6000 RTP/AVP 0").as_bytes(),
    );
    let out = sent(&mut ua);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(status(&out[0]), "SIP/2.0 403 Forbidden");
    assert!(events(&mut ua).is_empty());
    assert_eq!(ua.next_timeout(), None, "nothing kept for it");
}

#[test]
fn only_a_trusted_source_s_p_asserted_identity_names_the_caller() {
    let asserted = |ua: &mut UserAgent, source: &str| {
        let offer = invite("z9hG4bKp", "m=audio 6000 RTP/AVP 0").replace(
            "Contact:",
            "P-Asserted-Identity: <sip:+15550199999@trunk>\r\nContact:",
        );
        ua.handle_datagram(ms(0), from(source), offer.as_bytes());
        events(ua).into_iter().find_map(|event| match event {
            SipEvent::Incoming {
                caller, verified, ..
            } => Some((caller, verified)),
            _ => None,
        })
    };
    let mut trunk = agent();
    assert_eq!(
        asserted(&mut trunk, CALLER),
        Some(("+15550199999".to_string(), true))
    );
    let mut open = agent();
    open.set_admission(AdmissionPolicy {
        untrusted_invites: crate::sip::Untrusted::Accept,
        ..AdmissionPolicy::default()
    });
    assert_eq!(
        asserted(&mut open, "203.0.113.9:5060"),
        Some(("+15550100123".to_string(), false)),
        "anyone can write P-Asserted-Identity: only From's user, unverified"
    );
}

#[test]
fn past_max_calls_a_new_invite_gets_503_with_retry_after() {
    let mut ua = agent();
    ua.set_max_calls(1);
    answered_call(&mut ua);
    let second = invite("z9hG4bK2nd", "m=audio 6002 RTP/AVP 0 101")
        .replace("Call-ID: call-1", "Call-ID: call-2");
    ua.handle_datagram(ms(100), peer(), second.as_bytes());
    let out = sent(&mut ua);
    assert_eq!(
        status(&out[0]),
        "SIP/2.0 503 Service Unavailable",
        "{out:?}"
    );
    assert!(out[0].contains("Retry-After: 5\r\n"), "{}", out[0]);
    assert!(events(&mut ua).is_empty(), "the refused call costs nothing");
}

#[test]
fn a_call_that_has_ended_no_longer_counts_toward_max_calls() {
    let mut ua = agent();
    ua.set_max_calls(1);
    let tag = answered_call(&mut ua);
    let bye = in_dialog("BYE", "z9hG4bKbye", 2, &tag, "", "");
    ua.handle_datagram(ms(50), peer(), bye.as_bytes());
    sent(&mut ua);
    // Its leg is kept 32 s for retransmissions, but the call is over.
    let second = invite("z9hG4bK2nd", "m=audio 6002 RTP/AVP 0 101")
        .replace("Call-ID: call-1", "Call-ID: call-2");
    ua.handle_datagram(ms(100), peer(), second.as_bytes());
    let out = sent(&mut ua);
    assert!(
        out.iter().all(|m| !m.starts_with("SIP/2.0 503")),
        "a new call fits once the first has ended: {out:?}"
    );
    let third = invite("z9hG4bK3rd", "m=audio 6004 RTP/AVP 0 101")
        .replace("Call-ID: call-1", "Call-ID: call-3");
    ua.handle_datagram(ms(150), peer(), third.as_bytes());
    assert!(
        sent(&mut ua).iter().any(|m| m.starts_with("SIP/2.0 503")),
        "the second call holds the one place"
    );
}

#[test]
fn ended_calls_and_their_answers_are_forgotten_32_s_after_they_end() {
    let mut ua = agent();
    ua.set_max_calls(10);
    for n in 0..500u64 {
        let at = ms(n * 2);
        let call = format!("Call-ID: call-{n}");
        let offer = invite(&format!("z9hG4bKi{n}"), "m=audio 6000 RTP/AVP 0")
            .replace("Call-ID: call-1", &call);
        ua.handle_datagram(at, peer(), offer.as_bytes());
        ua.accept(at, &format!("call-{n}"), "127.0.0.1:20000".parse().unwrap());
        let tag = to_tag(&sent(&mut ua).pop().unwrap());
        for (method, cseq) in [("ACK", 1), ("BYE", 2)] {
            let request = in_dialog(method, &format!("z9hG4bK{method}{n}"), cseq, &tag, "", "")
                .replace("Call-ID: call-1", &call);
            ua.handle_datagram(at, peer(), request.as_bytes());
        }
        events(&mut ua);
        ua.handle_timeout(at);
    }
    assert_eq!(ua.call_count(), 500, "each leg kept for retransmissions");
    let last_ended = ms(998);
    assert_eq!(ua.next_timeout(), Some(GIVE_UP), "the first leg's removal");
    ua.handle_timeout(last_ended + GIVE_UP - ms(1));
    assert_eq!(ua.call_count(), 1, "all but the last are gone");
    ua.handle_timeout(last_ended + GIVE_UP);
    assert_eq!(ua.call_count(), 0);
    assert!(ua.answered.is_empty());
    assert_eq!(ua.next_timeout(), None, "no timer left behind");
    assert_eq!(ua.timers.len(), 0);
}

/// An INVITE without SDP, as trunks and PBXs send them (delayed offer).
fn delayed_offer() -> String {
    let offer = invite("z9hG4bKd", "m=audio 6000 RTP/AVP 0 101");
    let head = offer.split("\r\n\r\n").next().unwrap();
    let head: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.starts_with("Content-Type") && !l.starts_with("Content-Length"))
        .collect();
    format!("{}\r\nContent-Length: 0\r\n\r\n", head.join("\r\n"))
}

#[test]
fn a_delayed_offer_gets_our_offer_in_the_200_and_starts_when_the_ack_answers() {
    let mut ua = agent();
    ua.handle_datagram(ms(0), peer(), delayed_offer().as_bytes());
    assert!(matches!(
        &events(&mut ua)[..],
        [SipEvent::Incoming { offer: None, .. }]
    ));
    ua.accept(ms(10), "call-1", "127.0.0.1:20000".parse().unwrap());
    let out = sent(&mut ua);
    let ok = out.iter().find(|m| status(m) == "SIP/2.0 200 OK").unwrap();
    assert!(
        ok.contains("m=audio 20000 RTP/AVP 0 8 101"),
        "our offer: {ok}"
    );
    assert!(events(&mut ua).is_empty(), "no media yet: the ACK answers");
    let answer = "v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6010 RTP/AVP 8\r\n";
    let ack = in_dialog(
        "ACK",
        "z9hG4bKda",
        1,
        &to_tag(ok),
        "Content-Type: application/sdp\r\n",
        answer,
    );
    ua.handle_datagram(ms(50), peer(), ack.as_bytes());
    assert!(matches!(
        &events(&mut ua)[..],
        [SipEvent::Answered { media, .. }] if media.payload_type == 8 && media.remote.port() == 6010
    ));
}

#[test]
fn a_delayed_offer_whose_ack_answers_nothing_usable_is_hung_up() {
    let mut ua = agent();
    ua.handle_datagram(ms(0), peer(), delayed_offer().as_bytes());
    events(&mut ua);
    ua.accept(ms(10), "call-1", "127.0.0.1:20000".parse().unwrap());
    let ok = sent(&mut ua)
        .into_iter()
        .find(|m| status(m) == "SIP/2.0 200 OK")
        .unwrap();
    let ack = in_dialog("ACK", "z9hG4bKdb", 1, &to_tag(&ok), "", "");
    ua.handle_datagram(ms(50), peer(), ack.as_bytes());
    assert!(
        sent(&mut ua).iter().any(|m| m.starts_with("BYE ")),
        "BYE after an empty ACK"
    );
    assert!(matches!(&events(&mut ua)[..], [SipEvent::Ended { .. }]));
}

#[test]
fn an_invite_is_answered_and_the_200_is_resent_until_the_ack() {
    let mut ua = agent();
    let tag = answered_call(&mut ua);
    ua.handle_timeout(ms(510));
    assert_eq!(status(&sent(&mut ua)[0]), "SIP/2.0 200 OK");
    ua.handle_datagram(
        ms(600),
        peer(),
        in_dialog("ACK", "z9hG4bK2", 1, &tag, "", "").as_bytes(),
    );
    ua.handle_timeout(ms(1600));
    assert!(sent(&mut ua).is_empty(), "no resend after the ACK");
}

#[test]
fn a_retransmitted_invite_gets_the_last_response_again() {
    let mut ua = agent();
    answered_call(&mut ua);
    ua.handle_datagram(
        ms(100),
        peer(),
        invite("z9hG4bK1", "m=audio 6000 RTP/AVP 0 101").as_bytes(),
    );
    let out = sent(&mut ua);
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]), "SIP/2.0 200 OK");
    assert!(events(&mut ua).is_empty(), "not a second call");
}

#[test]
fn cancel_while_ringing_gives_200_then_487() {
    let mut ua = UserAgent::new(
        "127.0.0.1:5060".parse().unwrap(),
        "ivr",
        Duration::from_secs(2),
    );
    ua.handle_datagram(
        ms(0),
        peer(),
        invite("z9hG4bK1", "m=audio 6000 RTP/AVP 8").as_bytes(),
    );
    events(&mut ua);
    ua.accept(ms(5), "call-1", "127.0.0.1:20000".parse().unwrap());
    sent(&mut ua);
    let cancel = "CANCEL sip:800@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:+15550100123@127.0.0.1>;tag=c1\r\nTo: <sip:800@127.0.0.1>\r\nCall-ID: call-1\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
    ua.handle_datagram(ms(500), peer(), cancel.as_bytes());
    let out = sent(&mut ua);
    let statuses: Vec<&str> = out.iter().map(|m| status(m)).collect();
    assert_eq!(
        statuses,
        ["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]
    );
    assert_eq!(
        events(&mut ua),
        [SipEvent::Ended {
            call: "call-1".into(),
            how: EndReason::Cancelled
        }]
    );
    ua.handle_timeout(ms(3000));
    assert!(
        sent(&mut ua).iter().all(|m| !m.starts_with("SIP/2.0 200")),
        "never answered after CANCEL"
    );
}

#[test]
fn an_offer_without_g711_gets_488_with_a_warning() {
    let mut ua = agent();
    ua.handle_datagram(
        ms(0),
        peer(),
        invite("z9hG4bK1", "m=audio 6000 RTP/AVP 18").as_bytes(),
    );
    let out = sent(&mut ua);
    assert_eq!(status(&out[1]), "SIP/2.0 488 Not Acceptable Here");
    assert!(
        out[1].contains("Warning: 399 voicegate \"no common codec"),
        "{}",
        out[1]
    );
    assert!(matches!(
        events(&mut ua)[..],
        [SipEvent::Refused { code: 488, .. }]
    ));
}

#[test]
fn bye_ends_the_call_and_an_unknown_dialog_gets_481() {
    let mut ua = agent();
    let tag = answered_call(&mut ua);
    ua.handle_datagram(
        ms(900),
        peer(),
        in_dialog("BYE", "z9hG4bK9", 2, &tag, "", "").as_bytes(),
    );
    assert_eq!(status(&sent(&mut ua)[0]), "SIP/2.0 200 OK");
    assert_eq!(
        events(&mut ua),
        [SipEvent::Ended {
            call: "call-1".into(),
            how: EndReason::Caller
        }]
    );
    ua.handle_datagram(
        ms(950),
        peer(),
        in_dialog("BYE", "z9hG4bKa", 3, "nope", "", "").as_bytes(),
    );
    assert_eq!(
        status(&sent(&mut ua)[0]),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
}

#[test]
fn refer_then_notify_reports_the_transfer() {
    let mut ua = agent();
    let tag = answered_call(&mut ua);
    ua.refer(ms(1000), "call-1", "sip:priority@127.0.0.1:5070");
    let refer = sent(&mut ua).remove(0);
    assert!(
        refer.starts_with("REFER sip:caller@127.0.0.1:5071 SIP/2.0"),
        "{refer}"
    );
    assert!(refer.contains("Refer-To: <sip:priority@127.0.0.1:5070>"));
    let branch = headers::top_branch(&parse_message(refer.as_bytes()).unwrap())
        .unwrap()
        .to_string();
    let accepted = format!("SIP/2.0 202 Accepted\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\nFrom: <sip:800@127.0.0.1>;tag={tag}\r\nTo: <sip:+15550100123@127.0.0.1>;tag=c1\r\nCall-ID: call-1\r\nCSeq: 1 REFER\r\nContent-Length: 0\r\n\r\n");
    ua.handle_datagram(ms(1100), peer(), accepted.as_bytes());
    let notify = in_dialog(
        "NOTIFY",
        "z9hG4bKn",
        2,
        &tag,
        "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\nContent-Type: message/sipfrag\r\n",
        "SIP/2.0 200 OK\r\n",
    );
    ua.handle_datagram(ms(1200), peer(), notify.as_bytes());
    assert_eq!(status(&sent(&mut ua)[0]), "SIP/2.0 200 OK");
    assert_eq!(
        events(&mut ua),
        [
            SipEvent::Refer {
                call: "call-1".into(),
                progress: ReferProgress::Accepted
            },
            SipEvent::Refer {
                call: "call-1".into(),
                progress: ReferProgress::Completed(200)
            },
        ]
    );
}

#[test]
fn info_dtmf_reaches_the_call() {
    let mut ua = agent();
    let tag = answered_call(&mut ua);
    let info = in_dialog(
        "INFO",
        "z9hG4bKi",
        2,
        &tag,
        "Content-Type: application/dtmf-relay\r\n",
        "Signal=0\r\nDuration=160\r\n",
    );
    ua.handle_datagram(ms(700), peer(), info.as_bytes());
    assert_eq!(status(&sent(&mut ua)[0]), "SIP/2.0 200 OK");
    assert_eq!(
        events(&mut ua),
        [SipEvent::Dtmf {
            call: "call-1".into(),
            digit: '0'
        }]
    );
}

#[test]
fn a_hold_reinvite_is_answered_and_reported() {
    let mut ua = agent();
    let tag = answered_call(&mut ua);
    let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=sendonly\r\n";
    let reinvite = in_dialog(
        "INVITE",
        "z9hG4bKr",
        2,
        &tag,
        "Content-Type: application/sdp\r\n",
        sdp,
    );
    ua.handle_datagram(ms(2000), peer(), reinvite.as_bytes());
    let out = sent(&mut ua);
    assert_eq!(status(&out[0]), "SIP/2.0 200 OK");
    assert!(out[0].contains("a=recvonly"), "{}", out[0]);
    match &events(&mut ua)[..] {
        [SipEvent::MediaChanged { media, .. }] => assert!(media.on_hold()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_requests_get_400_naming_the_problem() {
    let mut ua = agent();
    let broken = "INVITE sip:800@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:800@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 99\r\n\r\nshort";
    ua.handle_datagram(ms(0), peer(), broken.as_bytes());
    let out = sent(&mut ua);
    assert!(
        out[0].starts_with("SIP/2.0 400 Bad Request ("),
        "{}",
        out[0]
    );
    assert!(out[0].contains("Call-ID: x\r\n"));
    ua.handle_datagram(ms(0), peer(), b"\x00\x01garbage");
    assert!(sent(&mut ua).is_empty(), "nothing to answer");
}

#[test]
fn a_session_timer_without_refresh_ends_the_call() {
    let mut ua = agent();
    let text = invite("z9hG4bK1", "m=audio 6000 RTP/AVP 0").replace(
        "Contact:",
        "Session-Expires: 90\r\nSupported: timer\r\nContact:",
    );
    ua.handle_datagram(ms(0), peer(), text.as_bytes());
    events(&mut ua);
    ua.accept(ms(0), "call-1", "127.0.0.1:20000".parse().unwrap());
    let ok = sent(&mut ua).pop().unwrap();
    assert!(
        ok.contains("Session-Expires: 90;refresher=uac") && ok.contains("Require: timer"),
        "{ok}"
    );
    let tag = to_tag(&ok);
    ua.handle_datagram(
        ms(100),
        peer(),
        in_dialog("ACK", "z9hG4bK2", 1, &tag, "", "").as_bytes(),
    );
    events(&mut ua);
    ua.handle_timeout(Duration::from_secs(91));
    assert!(sent(&mut ua).iter().any(|m| m.starts_with("BYE ")));
    assert!(matches!(
        events(&mut ua)[..],
        [SipEvent::Ended {
            how: EndReason::SessionExpired,
            ..
        }]
    ));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Feeds one message into a user agent with a call in progress and runs
    /// its timers: it must not panic, and whatever it sends must be a
    /// well-formed SIP message by our own strict reader.
    fn survives(bytes: &[u8]) {
        let mut ua = agent();
        let tag = answered_call(&mut ua);
        let _ = tag;
        ua.handle_datagram(ms(1000), peer(), bytes);
        for second in 2..40 {
            ua.handle_timeout(Duration::from_secs(second));
        }
        for message in std::iter::from_fn(|| ua.poll_transmit()) {
            parse_message(&message.bytes).expect("everything voicegate sends parses");
        }
        events(&mut ua);
    }

    /// An INVITE for a new call with `header: value` added and `sdp_extra`
    /// lines in its offer, answered and run for a day of timers: no timer
    /// past a day, no panic, every message sent parses.
    fn survives_invite(header: &str, value: &str, m_line: &str, sdp_extra: &str) {
        let mut ua = agent();
        let offer = invite("z9hG4bKx", m_line)
            .replace("Call-ID: call-1", "Call-ID: call-x")
            .replace("Contact:", &format!("{header}: {value}\r\nContact:"));
        let offer = offer.replacen("a=rtpmap:101", &format!("{sdp_extra}a=rtpmap:101"), 1);
        let (head, body) = offer.split_once("\r\n\r\n").unwrap();
        let head = head
            .split("\r\n")
            .filter(|l| !l.starts_with("Content-Length"))
            .collect::<Vec<_>>()
            .join("\r\n");
        let bytes = format!("{head}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        ua.handle_datagram(ms(0), peer(), bytes.as_bytes());
        if events(&mut ua)
            .iter()
            .any(|event| matches!(event, SipEvent::Incoming { .. }))
        {
            ua.accept(ms(10), "call-x", "127.0.0.1:20000".parse().unwrap());
            let ok = sent(&mut ua)
                .into_iter()
                .find(|m| status(m) == "SIP/2.0 200 OK");
            if let Some(ok) = ok {
                let ack = in_dialog("ACK", "z9hG4bKy", 1, &to_tag(&ok), "", "")
                    .replace("Call-ID: call-1", "Call-ID: call-x");
                ua.handle_datagram(ms(20), peer(), ack.as_bytes());
            }
        }
        for minute in 1..=(24 * 60 + 1) {
            let now = Duration::from_secs(minute * 60);
            ua.handle_timeout(now);
            // A driver adds the next timer to its clock: it must stay near.
            let due = ua.next_timeout();
            let latest = now + Duration::from_secs(86_400);
            assert!(due.map_or(true, |due| due <= latest), "a timer at {due:?}");
            for message in std::iter::from_fn(|| ua.poll_transmit()) {
                parse_message(&message.bytes).expect("everything voicegate sends parses");
            }
        }
        events(&mut ua);
    }

    /// Numbers a peer may send, at and past every width the code could use.
    fn extreme_number() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("0".to_string()),
            Just("-1".to_string()),
            Just("4294967295".to_string()),
            Just("4294967296".to_string()),
            Just("18446744073709551615".to_string()),
            Just("18446744073709551616".to_string()),
            Just("1e308".to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
        ]
    }

    proptest! {
        #[test]
        fn extreme_header_values_never_break_the_user_agent(
            header in prop::sample::select(vec!["Session-Expires", "Min-SE", "Expires", "Max-Forwards", "RSeq", "Retry-After", "Max-Breadth"]),
            value in extreme_number(),
            refresher in prop::sample::select(vec!["", ";refresher=uac", ";refresher=uas"]),
        ) {
            survives_invite(header, &format!("{value}{refresher}"), "m=audio 6000 RTP/AVP 0 101", "");
        }

        #[test]
        fn extreme_sdp_values_never_break_the_user_agent(
            port in extreme_number(),
            payload_type in extreme_number(),
            ptime in extreme_number(),
        ) {
            survives_invite(
                "Supported",
                "timer",
                &format!("m=audio {port} RTP/AVP {payload_type} 0 101"),
                &format!("a=ptime:{ptime}\r\na=maxptime:{ptime}\r\na=rtpmap:{payload_type} PCMU/8000\r\n"),
            );
        }

        #[test]
        fn random_datagrams_never_break_the_user_agent(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            survives(&bytes);
        }

        #[test]
        fn mutated_requests_never_break_the_user_agent(which in 0usize..4, index in 0usize..700, byte in any::<u8>()) {
            let messages = [
                invite("z9hG4bK7", "m=audio 6000 RTP/AVP 0 101"),
                in_dialog("BYE", "z9hG4bK8", 2, "x", "", ""),
                in_dialog("INFO", "z9hG4bK9", 2, "x", "Content-Type: application/dtmf-relay\r\n", "Signal=5\r\n"),
                in_dialog("NOTIFY", "z9hG4bKa", 3, "x", "Event: refer\r\nContent-Type: message/sipfrag\r\n", "SIP/2.0 200 OK\r\n"),
            ];
            let mut bytes = messages[which].clone().into_bytes();
            let index = index % bytes.len();
            bytes[index] = byte;
            survives(&bytes);
        }
    }
}

mod registration {
    use super::*;

    fn settings() -> Registration {
        Registration {
            registrar: "sip:127.0.0.1:5090".into(),
            addr: "127.0.0.1:5090".parse().unwrap(),
            user: "1001".into(),
            password: "secret".into(),
            expires: 600,
        }
    }

    /// A response from the registrar to `request`, with `extra` headers.
    fn answer(request: &str, status: &str, extra: &str) -> String {
        let request = parse_message(request.as_bytes()).unwrap();
        let copy = |name| request.header(name).unwrap().to_string();
        format!(
            "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=reg\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: 0\r\n\r\n",
            copy("via"),
            copy("from"),
            copy("to"),
            copy("call-id"),
            copy("cseq")
        )
    }

    fn registrar() -> Peer {
        Peer {
            addr: "127.0.0.1:5090".parse().unwrap(),
            transport: Transport::Udp,
        }
    }

    const CHALLENGE: &str =
        "WWW-Authenticate: Digest realm=\"trunk\", nonce=\"abc\", qop=\"auth\", algorithm=MD5\r\n";

    #[test]
    fn a_challenge_is_answered_and_the_registration_refreshed() {
        let mut ua = agent();
        ua.register(ms(0), settings());
        let first = sent(&mut ua).remove(0);
        assert!(
            first.starts_with("REGISTER sip:127.0.0.1:5090 SIP/2.0\r\n"),
            "{first}"
        );
        assert!(first.contains("Expires: 600") && !first.contains("Authorization"));
        ua.handle_datagram(
            ms(50),
            registrar(),
            answer(&first, "401 Unauthorized", CHALLENGE).as_bytes(),
        );
        let second = sent(&mut ua).remove(0);
        assert!(second.contains("CSeq: 2 REGISTER"), "{second}");
        let auth = parse_message(second.as_bytes())
            .unwrap()
            .header("authorization")
            .unwrap()
            .to_string();
        assert!(auth.starts_with("Digest username=\"1001\", realm=\"trunk\", nonce=\"abc\", uri=\"sip:127.0.0.1:5090\""), "{auth}");
        ua.handle_datagram(
            ms(100),
            registrar(),
            answer(
                &second,
                "200 OK",
                "Contact: <sip:1001@127.0.0.1:5060>;expires=120\r\n",
            )
            .as_bytes(),
        );
        assert_eq!(
            events(&mut ua),
            [SipEvent::Registration {
                registered: true,
                detail: "registered as 1001 with sip:127.0.0.1:5090 for 120 s".into()
            }]
        );
        ua.handle_timeout(ms(95_000));
        assert!(
            sent(&mut ua).iter().all(|m| !m.starts_with("REGISTER")),
            "not yet"
        );
        ua.handle_timeout(ms(96_100));
        assert!(
            sent(&mut ua).iter().any(|m| m.starts_with("REGISTER")),
            "refreshed at 80 % of 120 s"
        );
    }

    #[test]
    fn the_same_nonce_twice_means_wrong_credentials() {
        let mut ua = agent();
        ua.register(ms(0), settings());
        let first = sent(&mut ua).remove(0);
        ua.handle_datagram(
            ms(50),
            registrar(),
            answer(&first, "401 Unauthorized", CHALLENGE).as_bytes(),
        );
        let second = sent(&mut ua).remove(0);
        ua.handle_datagram(
            ms(100),
            registrar(),
            answer(&second, "401 Unauthorized", CHALLENGE).as_bytes(),
        );
        match &events(&mut ua)[..] {
            [SipEvent::Registration {
                registered: false,
                detail,
            }] => {
                assert!(
                    detail.contains("refused the credentials of 1001"),
                    "{detail}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(sent(&mut ua).is_empty(), "no third try at once");
        ua.handle_timeout(ms(60_200));
        assert!(
            sent(&mut ua).iter().any(|m| m.starts_with("REGISTER")),
            "retried after 60 s"
        );
    }
}

#[test]
fn a_flood_of_requests_cannot_grow_what_the_user_agent_remembers() {
    let mut ua = agent();
    ua.set_max_transactions(3000);
    for n in 0..5000 {
        let options = format!(
            "OPTIONS sip:800@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKo{n}\r\nMax-Forwards: 70\r\nFrom: <sip:p@127.0.0.1>;tag=p\r\nTo: <sip:800@127.0.0.1>\r\nCall-ID: flood-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        ua.handle_datagram(ms(1), peer(), options.as_bytes());
        let refused = invite(&format!("z9hG4bKr{n}"), "m=audio 6000 RTP/AVP 18")
            .replace("Call-ID: call-1", &format!("Call-ID: refused-{n}"));
        ua.handle_datagram(ms(1), peer(), refused.as_bytes());
    }
    assert_eq!(ua.answered.len(), 3000);
    assert_eq!(ua.awaiting_ack.len(), 3000);
    assert_eq!(
        status(&sent(&mut ua).pop().unwrap()),
        "SIP/2.0 488 Not Acceptable Here",
        "still answered"
    );
}

mod inbound_auth {
    use super::*;
    use crate::sip::digest::{authorization, best_challenge, Answer};

    const SCANNER: &str = "203.0.113.9:5060";

    fn guarded() -> UserAgent {
        let mut ua = agent();
        ua.set_admission(AdmissionPolicy {
            untrusted_invites: Untrusted::Authenticate,
            ..AdmissionPolicy::default()
        });
        ua.set_auth(Some(AuthPolicy {
            users: [("1001".to_string(), "Correct-Horse-7".to_string())].into(),
            ..AuthPolicy::default()
        }));
        ua
    }

    /// A new INVITE (Call-ID `call_id`) from `source`, with `authorization` if given.
    fn send_invite(
        ua: &mut UserAgent,
        at: Duration,
        source: &str,
        call_id: &str,
        authorization: Option<&str>,
    ) -> Vec<String> {
        let mut text = invite(&format!("z9hG4bK{call_id}"), "m=audio 6000 RTP/AVP 0 101")
            .replace("Call-ID: call-1", &format!("Call-ID: {call_id}"));
        if let Some(value) = authorization {
            text = text.replace("Contact:", &format!("Authorization: {value}\r\nContact:"));
        }
        ua.handle_datagram(at, from(source), text.as_bytes());
        sent(ua)
    }

    /// The Authorization a phone sends for `password` in answer to `challenge_401`.
    fn answer(challenge_401: &str, password: &str, nonce_count: u32) -> String {
        answer_with(challenge_401, password, nonce_count, |values| {
            best_challenge(values).unwrap()
        })
    }

    /// The same, choosing among the challenges with `pick`.
    fn answer_with(
        challenge_401: &str,
        password: &str,
        nonce_count: u32,
        pick: impl Fn(Vec<&str>) -> crate::sip::digest::Challenge,
    ) -> String {
        let message = parse_message(challenge_401.as_bytes()).unwrap();
        let values = message
            .headers
            .iter()
            .filter(|h| h.name == "www-authenticate")
            .map(|h| h.value.as_str());
        let challenge = pick(values.collect());
        let answer = Answer {
            user: "1001",
            password,
            method: "INVITE",
            uri: "sip:800@127.0.0.1:5060",
            cnonce: "0a4f113b",
            nonce_count,
        };
        authorization(&challenge, &answer)
    }

    fn incoming(ua: &mut UserAgent) -> bool {
        events(ua)
            .iter()
            .any(|e| matches!(e, SipEvent::Incoming { .. }))
    }

    #[test]
    fn an_untrusted_invite_is_challenged_with_sha_256_then_md5_and_no_call_is_kept() {
        let mut ua = guarded();
        let out = send_invite(&mut ua, ms(0), SCANNER, "a1", None);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(status(&out[0]), "SIP/2.0 401 Unauthorized");
        let algorithms: Vec<&str> = out[0]
            .lines()
            .filter(|l| l.starts_with("WWW-Authenticate:"))
            .map(|l| {
                if l.contains("algorithm=SHA-256") {
                    "SHA-256"
                } else {
                    "MD5"
                }
            })
            .collect();
        assert_eq!(algorithms, ["SHA-256", "MD5"]);
        assert!(out[0].contains("qop=\"auth\""));
        assert!(!incoming(&mut ua));
        assert_eq!(ua.next_timeout(), None, "nothing kept for it");
        let trunk = send_invite(&mut ua, ms(5), CALLER, "t1", None);
        assert_eq!(
            status(&trunk[0]),
            "SIP/2.0 100 Trying",
            "the trusted trunk is never challenged"
        );
    }

    #[test]
    fn the_right_password_gets_the_call_and_the_same_authorization_again_is_refused() {
        let mut ua = guarded();
        let challenge = send_invite(&mut ua, ms(0), SCANNER, "a1", None).remove(0);
        let good = answer(&challenge, "Correct-Horse-7", 1);
        assert!(good.contains("algorithm=SHA-256"), "{good}");
        let out = send_invite(&mut ua, ms(100), SCANNER, "a2", Some(&good));
        assert_eq!(status(&out[0]), "SIP/2.0 100 Trying", "{out:?}");
        assert!(incoming(&mut ua));
        let replayed = send_invite(&mut ua, ms(200), SCANNER, "a3", Some(&good));
        assert_eq!(
            status(&replayed[0]),
            "SIP/2.0 403 Forbidden",
            "a replayed nonce count"
        );
        let next = answer(&challenge, "Correct-Horse-7", 2);
        let out = send_invite(&mut ua, ms(300), SCANNER, "a4", Some(&next));
        assert_eq!(
            status(&out[0]),
            "SIP/2.0 100 Trying",
            "the next count is fine"
        );
    }

    #[test]
    fn a_phone_that_knows_only_md5_answers_the_md5_challenge_and_gets_the_call() {
        let mut ua = guarded();
        let challenge = send_invite(&mut ua, ms(0), SCANNER, "m1", None).remove(0);
        let md5 = answer_with(&challenge, "Correct-Horse-7", 1, |values| {
            crate::sip::digest::parse_challenge(values[1]).unwrap()
        });
        assert!(md5.contains("algorithm=MD5"), "{md5}");
        let out = send_invite(&mut ua, ms(100), SCANNER, "m2", Some(&md5));
        assert_eq!(status(&out[0]), "SIP/2.0 100 Trying", "{out:?}");
    }

    #[test]
    fn an_expired_nonce_with_the_right_password_is_challenged_again_as_stale() {
        let mut ua = guarded();
        let challenge = send_invite(&mut ua, ms(0), SCANNER, "a1", None).remove(0);
        let late = answer(&challenge, "Correct-Horse-7", 1);
        let out = send_invite(
            &mut ua,
            Duration::from_secs(301),
            SCANNER,
            "a2",
            Some(&late),
        );
        assert_eq!(status(&out[0]), "SIP/2.0 401 Unauthorized");
        assert!(out[0].contains("stale=true"), "{}", out[0]);
        assert!(!incoming(&mut ua));
    }

    #[test]
    fn a_password_guesser_is_banned_after_five_wrong_answers_and_others_are_not() {
        let mut ua = guarded();
        let challenge = send_invite(&mut ua, ms(0), SCANNER, "g0", None).remove(0);
        for n in 1..=5u32 {
            let guess = answer(&challenge, &format!("guess{n}"), n);
            let out = send_invite(
                &mut ua,
                ms(u64::from(n) * 10),
                SCANNER,
                &format!("g{n}"),
                Some(&guess),
            );
            assert_eq!(status(&out[0]), "SIP/2.0 403 Forbidden", "guess {n}");
        }
        let right = answer(&challenge, "Correct-Horse-7", 6);
        let banned = send_invite(&mut ua, ms(100), SCANNER, "g6", Some(&right));
        assert!(
            banned.is_empty(),
            "banned: not even the right password is answered: {banned:?}"
        );
        let other = send_invite(&mut ua, ms(110), "203.0.113.10:5060", "o1", None);
        assert_eq!(
            status(&other[0]),
            "SIP/2.0 401 Unauthorized",
            "another source is challenged as usual"
        );
        let later = send_invite(&mut ua, Duration::from_secs(601), SCANNER, "g7", None);
        assert_eq!(
            status(&later[0]),
            "SIP/2.0 401 Unauthorized",
            "the ban ends"
        );
    }

    #[test]
    fn an_unknown_user_and_a_malformed_authorization_are_refused_alike() {
        let mut ua = guarded();
        let challenge = send_invite(&mut ua, ms(0), SCANNER, "u0", None).remove(0);
        let stranger = answer(&challenge, "Correct-Horse-7", 1)
            .replace("username=\"1001\"", "username=\"1002\"");
        for (n, value) in [
            stranger.as_str(),
            "Digest nonsense",
            "Basic MTAwMTpwYXNz",
            "Digest username=\"1001\", qop=auth, nc=zz",
        ]
        .into_iter()
        .enumerate()
        {
            let out = send_invite(
                &mut ua,
                ms(10 + n as u64),
                SCANNER,
                &format!("u{}", n + 1),
                Some(value),
            );
            assert_eq!(status(&out[0]), "SIP/2.0 403 Forbidden", "{value}");
        }
        assert!(!incoming(&mut ua));
    }
}

#[test]
fn an_invite_whose_contact_cannot_be_a_request_uri_gets_400_naming_it() {
    // Found by fuzzing: the Contact became the Request-URI of voicegate's
    // BYE, which voicegate's own reader then refused.
    let mut ua = agent();
    let bad = invite("z9hG4bKc", "m=audio 6000 RTP/AVP 0").replace(
        &format!("Contact: <sip:caller@{CALLER}>"),
        "Contact: <sip:caller@127.0.0.1:<0.1>",
    );
    ua.handle_datagram(ms(0), peer(), bad.as_bytes());
    let out = sent(&mut ua);
    assert!(
        status(&out[0]).starts_with("SIP/2.0 400 Bad Request (Contact "),
        "{out:?}"
    );
    assert!(events(&mut ua).is_empty());
}
