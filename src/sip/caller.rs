//! A sans-IO user agent client for one outgoing call: the test caller's
//! side of RFC 3261 (INVITE client transaction, section 17.1.1, with ACK for
//! 2xx and non-2xx; BYE; answering in-dialog requests) and the transferee's
//! side of RFC 3515 (a REFER is accepted with 202 and reported done by a
//! NOTIFY with a `message/sipfrag` body, section 2.4.5).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use super::dialog::{new_branch, random_token, Dialog, Outgoing, Peer};
use super::headers;
use super::message::{parse_message, SipMessage, StartLine};
use super::response::{response, ResponseParts, PRODUCT};
use super::sdp::{self, Negotiated};
use super::timers::Retransmit;

/// What happened on the call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallerEvent {
    /// 180 or 183: the far end is alerting.
    Ringing,
    /// 2xx with an SDP answer we can send to.
    Answered(Negotiated),
    /// The INVITE failed with this final response (408 when nothing answered).
    Failed(u16),
    /// The far end asked us to call `target` instead (RFC 3515).
    Referred { target: String },
    /// The call is over; `by_remote` when the far end sent the BYE.
    Ended { by_remote: bool },
}

/// What the caller does with a REFER it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReferAnswer {
    /// 202, then a NOTIFY that the transfer succeeded.
    #[default]
    Complete,
    /// 202, then a BYE before any NOTIFY: the caller hangs up mid-transfer.
    HangUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Calling,
    Up,
    Ending,
    Ended,
}

/// A request of ours waiting for its final response.
#[derive(Debug)]
struct Pending {
    method: &'static str,
    branch: String,
    retransmit: Retransmit,
}

#[derive(Debug)]
pub struct OutboundCall {
    local: SocketAddr,
    peer: Peer,
    dialog: Dialog,
    invite: Outgoing,
    state: State,
    pending: Vec<Pending>,
    /// The ACK of the 2xx, sent again if the 2xx is.
    ack: Option<Vec<u8>>,
    ringing: bool,
    local_media: SocketAddr,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<CallerEvent>,
    refer_answer: ReferAnswer,
}

/// Why a call could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a SIP URI with an IP address and port (write sip:800@127.0.0.1:5060)")]
pub struct BadTarget(pub String);

impl OutboundCall {
    /// Calls `target` (a SIP URI naming an IP address) from `local`, as
    /// `user`, offering G.711 and telephone-event on `local_media`.
    /// `asserted`: the INVITE asserts `user` as a trunk does
    /// (P-Asserted-Identity, RFC 3325 section 9.1).
    pub fn new(
        now: Duration,
        local: SocketAddr,
        target: &str,
        peer: Peer,
        (user, asserted): (&str, bool),
        local_media: SocketAddr,
    ) -> Result<OutboundCall, BadTarget> {
        if !target.starts_with("sip:") || headers::socket_addr(target).is_none() {
            return Err(BadTarget(target.to_string()));
        }
        let mut dialog = Dialog {
            call_id: format!("{}@{}", random_token(), local.ip()),
            local: format!("<sip:{user}@{local}>;tag={}", random_token()),
            remote: format!("<{target}>"),
            remote_target: target.to_string(),
            route_set: Vec::new(),
            local_cseq: 0,
            peer,
            contact: format!("sip:{user}@{local}"),
            product: Some(format!("{PRODUCT}-call")),
        };
        let body = sdp::offer(local_media, fastrand::u64(1..u64::from(u32::MAX)));
        let mut extra = vec![
            ("Content-Type", "application/sdp".to_string()),
            (
                "Allow",
                "INVITE, ACK, BYE, CANCEL, OPTIONS, REFER, NOTIFY, INFO".into(),
            ),
        ];
        if asserted {
            extra.push((
                "P-Asserted-Identity",
                format!("<sip:{user}@{}>", local.ip()),
            ));
        }
        let invite = dialog.request("INVITE", local, &extra, body.as_bytes());
        let mut call = OutboundCall {
            local,
            peer,
            dialog,
            invite: invite.clone(),
            state: State::Calling,
            pending: Vec::new(),
            ack: None,
            ringing: false,
            local_media,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            refer_answer: ReferAnswer::default(),
        };
        call.send_request(now, "INVITE", invite);
        Ok(call)
    }

    /// What to do with the REFERs to come.
    pub fn set_refer_answer(&mut self, answer: ReferAnswer) {
        self.refer_answer = answer;
    }

    /// Where every message goes (the far end's address, or its first route).
    pub fn peer(&self) -> Peer {
        self.dialog.peer
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<CallerEvent> {
        self.events.pop_front()
    }

    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Hangs up: BYE once answered (a call still ringing is left to time out:
    /// the test caller does not CANCEL).
    pub fn hang_up(&mut self, now: Duration) {
        if self.state != State::Up {
            return;
        }
        self.state = State::Ending;
        let bye = self.dialog.request("BYE", self.local, &[], b"");
        self.send_request(now, "BYE", bye);
    }

    /// One datagram (or framed TCP message) from the far end.
    pub fn handle_datagram(&mut self, now: Duration, bytes: &[u8]) {
        let Ok(message) = parse_message(bytes) else {
            return tracing::debug!("test caller: unreadable SIP message dropped");
        };
        if message.header("call-id") != Some(self.dialog.call_id.as_str()) {
            return;
        }
        match &message.start {
            StartLine::Response { code, .. } => self.on_response(now, *code, &message),
            StartLine::Request { method, .. } => {
                let method = method.clone();
                self.on_request(now, &method, &message)
            }
        }
    }

    pub fn next_timeout(&self) -> Option<Duration> {
        self.pending.iter().map(|p| p.retransmit.deadline()).min()
    }

    /// Resends what is due; a request unanswered for 32 s fails (Timers B, F).
    pub fn handle_timeout(&mut self, now: Duration) {
        let mut expired = Vec::new();
        for pending in &mut self.pending {
            if let Some(bytes) = pending.retransmit.due(now) {
                self.transmits.push_back(bytes.to_vec());
            }
            if pending.retransmit.expired(now) {
                expired.push(pending.method);
            }
        }
        self.pending.retain(|p| !p.retransmit.expired(now));
        for method in expired {
            match method {
                "INVITE" => self.fail(408),
                "BYE" => self.end(false),
                _ => {}
            }
        }
    }

    fn send_request(&mut self, now: Duration, method: &'static str, request: Outgoing) {
        self.transmits.push_back(request.bytes.clone());
        self.pending.push(Pending {
            method,
            branch: request.branch,
            retransmit: Retransmit::new(request.bytes, now, self.peer.transport.reliable()),
        });
    }

    fn on_response(&mut self, now: Duration, code: u16, message: &SipMessage) {
        let Some(branch) = headers::top_branch(message).map(str::to_string) else {
            return;
        };
        let Some(index) = self.pending.iter().position(|p| p.branch == branch) else {
            // A 2xx retransmitted after our ACK: the ACK is sent again (section 13.2.2.4).
            if (200..300).contains(&code) && self.is_invite(message) {
                self.transmits.extend(self.ack.clone());
            }
            return;
        };
        if code < 200 {
            let invite = self.is_invite(message);
            self.pending[index].retransmit.slow_down(invite, now);
            if matches!(code, 180 | 183) && !std::mem::replace(&mut self.ringing, true) {
                self.events.push_back(CallerEvent::Ringing);
            }
            return;
        }
        let done = self.pending.remove(index);
        match done.method {
            "INVITE" if (200..300).contains(&code) => self.answered(now, message),
            "INVITE" => {
                self.ack_failure(message);
                self.fail(code);
            }
            "BYE" => self.end(false),
            _ => {}
        }
    }

    fn is_invite(&self, message: &SipMessage) -> bool {
        message
            .header("cseq")
            .is_some_and(|cseq| cseq.ends_with("INVITE"))
    }

    fn answered(&mut self, now: Duration, message: &SipMessage) {
        self.dialog.confirm_as_uac(message);
        let ack = self.dialog.request_with_cseq(
            "ACK",
            self.invite.cseq,
            self.local,
            &new_branch(),
            &[],
            b"",
        );
        self.transmits.push_back(ack.bytes.clone());
        self.ack = Some(ack.bytes);
        let answer = String::from_utf8_lossy(&message.body);
        match sdp::negotiate(&answer) {
            Ok(media) => {
                self.state = State::Up;
                self.events.push_back(CallerEvent::Answered(media));
            }
            Err(error) => {
                tracing::warn!(%error, "test caller: the answer has no usable G.711 media");
                self.state = State::Up;
                self.hang_up(now);
            }
        }
    }

    /// The ACK of a non-2xx final response: same branch as the INVITE,
    /// To with the response's tag (section 17.1.1.3).
    fn ack_failure(&mut self, message: &SipMessage) {
        let mut dialog = self.dialog.clone();
        if let Some(to) = message.header("to") {
            dialog.remote = to.to_string();
        }
        let ack = dialog.request_with_cseq(
            "ACK",
            self.invite.cseq,
            self.local,
            &self.invite.branch,
            &[],
            b"",
        );
        self.transmits.push_back(ack.bytes);
    }

    fn on_request(&mut self, now: Duration, method: &str, request: &SipMessage) {
        match method {
            "ACK" => {}
            "BYE" => {
                self.respond(request, 200, "OK", &[], b"");
                self.end(true);
            }
            "REFER" => self.on_refer(now, request),
            "INVITE" => {
                // A re-INVITE: the same media again.
                let body = sdp::offer(self.local_media, fastrand::u64(1..u64::from(u32::MAX)));
                let content = [("Content-Type", "application/sdp".to_string())];
                self.respond(request, 200, "OK", &content, body.as_bytes());
            }
            "OPTIONS" | "INFO" | "UPDATE" | "NOTIFY" => self.respond(request, 200, "OK", &[], b""),
            _ => self.respond(request, 501, "Not Implemented", &[], b""),
        }
    }

    /// Accepts the transfer and reports it done: a test caller has no one
    /// to call, and the gateway under test only needs to see it accepted.
    fn on_refer(&mut self, now: Duration, request: &SipMessage) {
        let Some(target) = request
            .header("refer-to")
            .map(|t| headers::uri(t).to_string())
        else {
            return self.respond(request, 400, "Missing Refer-To", &[], b"");
        };
        self.respond(request, 202, "Accepted", &[], b"");
        self.events.push_back(CallerEvent::Referred { target });
        if self.refer_answer == ReferAnswer::HangUp {
            return self.hang_up(now);
        }
        let extra = [
            ("Event", "refer".to_string()),
            (
                "Subscription-State",
                "terminated;reason=noresource".to_string(),
            ),
            ("Content-Type", "message/sipfrag;version=2.0".to_string()),
        ];
        let notify = self
            .dialog
            .request("NOTIFY", self.local, &extra, b"SIP/2.0 200 OK\r\n");
        self.send_request(now, "NOTIFY", notify);
    }

    fn respond(
        &mut self,
        request: &SipMessage,
        code: u16,
        reason: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) {
        let mut parts = ResponseParts {
            body,
            server: self.dialog.product.as_deref(),
            ..ResponseParts::default()
        };
        parts.headers = headers.to_vec();
        parts
            .headers
            .push(("Contact", format!("<{}>", self.dialog.contact)));
        self.transmits
            .push_back(response(request, code, reason, &parts));
    }

    fn fail(&mut self, code: u16) {
        if self.state == State::Calling {
            self.state = State::Ended;
            self.events.push_back(CallerEvent::Failed(code));
        }
    }

    fn end(&mut self, by_remote: bool) {
        if self.state != State::Ended {
            self.state = State::Ended;
            self.pending.clear();
            self.events.push_back(CallerEvent::Ended { by_remote });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Transport;

    fn call() -> OutboundCall {
        let peer = Peer {
            addr: "127.0.0.1:5060".parse().unwrap(),
            transport: Transport::Udp,
        };
        let local = "127.0.0.1:40000".parse().unwrap();
        let media = "127.0.0.1:40002".parse().unwrap();
        OutboundCall::new(
            Duration::ZERO,
            local,
            "sip:800@127.0.0.1:5060",
            peer,
            ("tester", false),
            media,
        )
        .unwrap()
    }

    fn sent(call: &mut OutboundCall) -> Vec<SipMessage> {
        std::iter::from_fn(|| call.poll_transmit())
            .map(|bytes| parse_message(&bytes).unwrap())
            .collect()
    }

    /// The far end's response to `request`, with a To tag.
    fn reply(request: &SipMessage, code: u16, body: &str) -> Vec<u8> {
        let parts = ResponseParts {
            to_tag: Some("far"),
            headers: vec![("Contact", "<sip:800@127.0.0.1:5060>".into())],
            body: body.as_bytes(),
            server: None,
        };
        response(request, code, "Reason", &parts)
    }

    fn method(message: &SipMessage) -> String {
        match &message.start {
            StartLine::Request { method, .. } => method.clone(),
            StartLine::Response { code, .. } => code.to_string(),
        }
    }

    #[test]
    fn a_busy_answer_is_acked_on_the_invite_branch_and_reported() {
        let mut call = call();
        let invite = sent(&mut call).remove(0);
        call.handle_datagram(Duration::from_millis(100), &reply(&invite, 486, ""));
        let ack = sent(&mut call).remove(0);
        assert_eq!(method(&ack), "ACK");
        assert_eq!(headers::top_branch(&ack), headers::top_branch(&invite));
        assert!(ack.header("to").unwrap().contains("tag=far"));
        assert_eq!(call.poll_event(), Some(CallerEvent::Failed(486)));
        assert!(call.is_ended());
    }

    /// An answered call that gets a REFER; what it sent in answer.
    fn referred(answer: ReferAnswer) -> (OutboundCall, Vec<SipMessage>) {
        let mut call = call();
        call.set_refer_answer(answer);
        let invite = sent(&mut call).remove(0);
        let answer = sdp::offer("127.0.0.1:20000".parse().unwrap(), 7);
        call.handle_datagram(Duration::from_millis(100), &reply(&invite, 200, &answer));
        assert_eq!(method(&sent(&mut call)[0]), "ACK");
        assert!(matches!(call.poll_event(), Some(CallerEvent::Answered(_))));
        let call_id = invite.header("call-id").unwrap();
        let refer = format!(
            "REFER sip:tester@127.0.0.1:40000 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKr1\r\n\
             From: <sip:800@127.0.0.1:5060>;tag=far\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: 1 REFER\r\n\
             Refer-To: <sip:priority@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n",
            invite.header("from").unwrap()
        );
        call.handle_datagram(Duration::from_secs(1), refer.as_bytes());
        let out = sent(&mut call);
        (call, out)
    }

    #[test]
    fn a_caller_told_to_hang_up_mid_transfer_sends_202_then_a_bye_and_no_notify() {
        let (mut call, out) = referred(ReferAnswer::HangUp);
        let methods: Vec<String> = out.iter().map(method).collect();
        assert_eq!(methods, ["202", "BYE"]);
        assert!(matches!(
            call.poll_event(),
            Some(CallerEvent::Referred { .. })
        ));
    }

    #[test]
    fn an_answered_call_takes_a_refer_with_202_and_a_notify_then_the_bye() {
        let (mut call, out) = referred(ReferAnswer::Complete);
        assert_eq!(method(&out[0]), "202");
        assert_eq!(method(&out[1]), "NOTIFY");
        assert_eq!(out[1].body, b"SIP/2.0 200 OK\r\n");
        assert_eq!(
            call.poll_event(),
            Some(CallerEvent::Referred {
                target: "sip:priority@127.0.0.1:5070".into()
            })
        );
        call.hang_up(Duration::from_secs(2));
        let bye = sent(&mut call).remove(0);
        assert_eq!(method(&bye), "BYE");
        assert_eq!(
            bye.start,
            StartLine::Request {
                method: "BYE".into(),
                uri: "sip:800@127.0.0.1:5060".into(),
            },
            "in-dialog requests go to the far end's Contact"
        );
        call.handle_datagram(Duration::from_secs(2), &reply(&bye, 200, ""));
        assert_eq!(
            call.poll_event(),
            Some(CallerEvent::Ended { by_remote: false })
        );
    }

    #[test]
    fn an_unanswered_invite_is_resent_then_fails_after_timer_b() {
        let mut call = call();
        sent(&mut call);
        call.handle_timeout(Duration::from_millis(500));
        assert_eq!(sent(&mut call).len(), 1, "Timer A: resent after T1");
        call.handle_timeout(Duration::from_secs(32));
        assert_eq!(call.poll_event(), Some(CallerEvent::Failed(408)));
        assert!(call.is_ended());
        assert!(OutboundCall::new(
            Duration::ZERO,
            "127.0.0.1:1".parse().unwrap(),
            "sip:800@pbx.example",
            call.peer(),
            ("t", false),
            "127.0.0.1:2".parse().unwrap()
        )
        .is_err());
    }
}
