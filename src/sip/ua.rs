//! The signalling side of voicegate as one sans-IO state machine: datagrams
//! and commands in, datagrams and call events out, time passed in by the
//! driver (like the call engine). It answers calls as a UAS (RFC 3261
//! sections 8.2, 12, 13.3, 15, 17.2), transfers them with REFER (RFC 3515)
//! and follows the NOTIFY sipfrag, or calls an agent as a UAC (sections 8.1,
//! 13.2, 17.1) for a bridged transfer. UDP retransmission, CANCEL, re-INVITE
//! (hold), INFO DTMF and session timers (RFC 4028) are handled here.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use super::dialog::{new_branch, random_token, Dialog, Outgoing, Peer, ALLOW};
use super::headers;
use super::message::{parse_message, MessageError, SipMessage, StartLine};
use super::response::{response, ResponseParts};
use super::sdp::{self, Negotiated};
use super::timers::{Retransmit, GIVE_UP};
use register::Registering;
pub use register::Registration;

/// Option tags voicegate supports (RFC 3261 section 8.2.2.3).
const SUPPORTED: &str = "timer";
/// Shortest session interval voicegate accepts (RFC 4028 section 4).
const MIN_SESSION_EXPIRES: u64 = 90;

/// Bytes for the driver to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit {
    pub peer: Peer,
    pub bytes: Vec<u8>,
}

/// What happened to a call, for its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum SipEvent {
    /// A new call offers this media; answer with [`UserAgent::accept`] or
    /// [`UserAgent::reject`].
    Incoming {
        call: String,
        caller: String,
        dialed: String,
        offer: Negotiated,
    },
    /// The 200 OK went out: media and the call engine start now.
    Answered {
        call: String,
    },
    /// A re-INVITE changed the media (hold, resume, a new address).
    MediaChanged {
        call: String,
        media: Negotiated,
    },
    /// A key from SIP INFO.
    Dtmf {
        call: String,
        digit: char,
    },
    Refer {
        call: String,
        progress: ReferProgress,
    },
    Agent {
        call: String,
        state: AgentState,
    },
    /// The caller's leg is over; sent once per call.
    Ended {
        call: String,
        how: EndReason,
    },
    /// An INVITE refused before it became a call (no usable offer).
    Refused {
        call: String,
        caller: String,
        dialed: String,
        code: u16,
    },
    /// A registration succeeded (`registered`) or failed, and why.
    Registration {
        registered: bool,
        detail: String,
    },
}

/// How a REFER went (RFC 3515 section 2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferProgress {
    /// 2xx to the REFER: the caller's phone is calling the target.
    Accepted,
    /// The REFER itself was refused (or timed out: 408).
    Refused(u16),
    /// The final status of the phone's call to the target, from the NOTIFY sipfrag.
    Completed(u16),
}

/// The agent leg of a bridged transfer.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentState {
    Answered(Negotiated),
    Failed(u16),
    HungUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The caller sent BYE.
    Caller,
    /// voicegate hung up (its engine, a finished transfer, a shutdown).
    Gateway,
    /// CANCEL before the answer.
    Cancelled,
    /// Refused with this status before answering.
    Rejected(u16),
    /// The caller never acknowledged the 200 OK.
    NoAck,
    /// The session timer ran out without a refresh.
    SessionExpired,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Caller => "caller",
            EndReason::Gateway => "gateway",
            EndReason::Cancelled => "cancelled",
            EndReason::Rejected(_) => "rejected",
            EndReason::NoAck | EndReason::SessionExpired => "timeout",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    Offered,
    Ringing,
    Answered,
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientKind {
    Refer,
    Bye,
    AgentInvite,
    AgentBye,
    Register,
}

/// A request we sent and wait on.
#[derive(Debug)]
struct ClientTx {
    call: String,
    kind: ClientKind,
    branch: String,
    peer: Peer,
    retransmit: Retransmit,
}

#[derive(Debug)]
struct AgentLeg {
    dialog: Dialog,
    invite: Outgoing,
    up: bool,
    /// The ACK for its 2xx, sent again if the 2xx is.
    ack: Option<Vec<u8>>,
}

#[derive(Debug)]
struct InboundCall {
    invite: SipMessage,
    invite_branch: String,
    peer: Peer,
    state: LegState,
    dialog: Dialog,
    local_tag: String,
    offer: Negotiated,
    local_media: Option<SocketAddr>,
    sdp_session: u64,
    sdp_version: u64,
    answer_at: Option<Duration>,
    /// Our 2xx to an INVITE, resent until the ACK.
    unacked: Option<Retransmit>,
    session_expires: Option<(Duration, Duration)>,
    agent: Option<AgentLeg>,
    remove_at: Option<Duration>,
}

#[derive(Debug)]
struct Answered {
    bytes: Vec<u8>,
    until: Duration,
}

/// The user agent for every call on one SIP address.
#[derive(Debug)]
pub struct UserAgent {
    local: SocketAddr,
    contact: String,
    ring: Duration,
    calls: HashMap<String, InboundCall>,
    /// Agent-leg Call-ID → the caller's Call-ID.
    agent_calls: HashMap<String, String>,
    clients: Vec<ClientTx>,
    /// Last response per (branch, method): answers retransmitted requests.
    answered: HashMap<(String, String), Answered>,
    /// Non-2xx finals to INVITE, resent until the ACK (same branch).
    awaiting_ack: HashMap<String, (Retransmit, Peer)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<SipEvent>,
    registration: Option<Registering>,
}

impl UserAgent {
    /// `local` is the address in our Via and Contact; calls ring for `ring`
    /// before the 200 OK.
    pub fn new(local: SocketAddr, user: &str, ring: Duration) -> UserAgent {
        UserAgent {
            local,
            contact: format!("sip:{user}@{local}"),
            ring,
            calls: HashMap::new(),
            agent_calls: HashMap::new(),
            clients: Vec::new(),
            answered: HashMap::new(),
            awaiting_ack: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            registration: None,
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<SipEvent> {
        self.events.pop_front()
    }

    /// Calls not yet forgotten (ended calls linger 32 s for retransmissions).
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// One datagram (or one framed TCP message) from `peer`.
    pub fn handle_datagram(&mut self, now: Duration, peer: Peer, bytes: &[u8]) {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return; // keep-alive (RFC 5626 section 4.4.1)
        }
        match parse_message(bytes).and_then(complete_request) {
            Ok(message) => match &message.start {
                StartLine::Request { method, .. } => {
                    let method = method.clone();
                    self.on_request(now, peer, &method, message)
                }
                StartLine::Response { code, .. } => {
                    let code = *code;
                    self.on_response(now, code, &message)
                }
            },
            Err(error) => {
                tracing::warn!(%peer.addr, %error, "refused a SIP message");
                if let Some(bytes) = refusal(bytes, &error) {
                    self.send(peer, bytes);
                }
            }
        }
    }

    /// Answers an offered call: 180 Ringing now, 200 OK after the ring time.
    pub fn accept(&mut self, now: Duration, call: &str, local_media: SocketAddr) {
        let ring = self.ring;
        let Some(leg) = self.calls.get_mut(call) else {
            return;
        };
        if leg.state != LegState::Offered {
            return;
        }
        leg.local_media = Some(local_media);
        leg.state = LegState::Ringing;
        leg.answer_at = Some(now + ring);
        let (invite, peer, tag) = (leg.invite.clone(), leg.peer, leg.local_tag.clone());
        let headers = self.dialog_headers(&invite);
        self.respond(now, &invite, peer, 180, "Ringing", Some(&tag), headers, b"");
        if ring.is_zero() {
            self.answer(now, call);
        }
    }

    /// Refuses an offered call (no media port free: 503).
    pub fn reject(&mut self, now: Duration, call: &str, code: u16, reason: &str) {
        if let Some(leg) = self.calls.get(call) {
            if matches!(leg.state, LegState::Offered | LegState::Ringing) {
                self.fail_invite(now, call, code, reason, EndReason::Rejected(code));
            }
        }
    }

    /// Blind transfer of the caller to `target` (RFC 3515).
    pub fn refer(&mut self, now: Duration, call: &str, target: &str) {
        let local = self.local;
        let Some(leg) = self.calls.get_mut(call) else {
            return;
        };
        if leg.state != LegState::Answered {
            return;
        }
        let referred_by = format!("<{}>", headers::uri(&leg.dialog.local));
        let extra = [
            ("Refer-To", format!("<{target}>")),
            ("Referred-By", referred_by),
        ];
        let request = leg.dialog.request("REFER", local, &extra, b"");
        let peer = leg.dialog.peer;
        self.start_client(now, call, ClientKind::Refer, peer, request);
    }

    /// Calls an agent for a bridged transfer, offering `local_media`.
    /// Returns false when the URI names no IP address voicegate can reach.
    pub fn call_agent(
        &mut self,
        now: Duration,
        call: &str,
        target: &str,
        local_media: SocketAddr,
    ) -> bool {
        let Some(addr) = headers::socket_addr(target) else {
            return false;
        };
        let Some(leg) = self.calls.get(call) else {
            return false;
        };
        let peer = Peer {
            addr,
            transport: super::dialog::Transport::Udp,
        };
        let from_user = headers::user(headers::uri(&leg.dialog.remote)).unwrap_or("voicegate");
        let mut dialog = Dialog {
            call_id: format!("{}@voicegate", random_token()),
            local: format!("<sip:{from_user}@{}>;tag={}", self.local, random_token()),
            remote: format!("<{target}>"),
            remote_target: target.to_string(),
            route_set: Vec::new(),
            local_cseq: 0,
            peer,
            contact: self.contact.clone(),
        };
        let body = sdp::offer(local_media, fastrand::u64(1..u64::from(u32::MAX)));
        let extra = [
            ("Content-Type", "application/sdp".to_string()),
            ("Allow", ALLOW.to_string()),
        ];
        let invite = dialog.request("INVITE", self.local, &extra, body.as_bytes());
        self.agent_calls
            .insert(dialog.call_id.clone(), call.to_string());
        if let Some(leg) = self.calls.get_mut(call) {
            leg.agent = Some(AgentLeg {
                dialog,
                invite: invite.clone(),
                up: false,
                ack: None,
            });
        }
        self.start_client(now, call, ClientKind::AgentInvite, peer, invite);
        true
    }

    /// Ends the caller's leg (and the agent's, if bridged).
    pub fn hang_up(&mut self, now: Duration, call: &str) {
        let Some(state) = self.calls.get(call).map(|leg| leg.state) else {
            return;
        };
        match state {
            LegState::Offered | LegState::Ringing => self.fail_invite(
                now,
                call,
                480,
                "Temporarily Unavailable",
                EndReason::Gateway,
            ),
            LegState::Answered => self.end_answered(now, call, EndReason::Gateway),
            LegState::Ended => {}
        }
    }

    /// Ends the agent leg of a bridged call.
    pub fn hang_up_agent(&mut self, now: Duration, call: &str) {
        let local = self.local;
        let Some(agent) = self.calls.get_mut(call).and_then(|leg| leg.agent.as_mut()) else {
            return;
        };
        if !agent.up {
            return;
        }
        agent.up = false;
        let bye = agent.dialog.request("BYE", local, &[], b"");
        let peer = agent.dialog.peer;
        self.start_client(now, call, ClientKind::AgentBye, peer, bye);
    }

    /// When [`UserAgent::handle_timeout`] must run next.
    pub fn next_timeout(&self) -> Option<Duration> {
        let calls = self.calls.values().flat_map(|leg| {
            [
                leg.answer_at,
                leg.unacked.as_ref().map(Retransmit::deadline),
                leg.session_expires.map(|(_, at)| at),
                leg.remove_at,
            ]
        });
        let clients = self.clients.iter().map(|c| Some(c.retransmit.deadline()));
        let acks = self.awaiting_ack.values().map(|(r, _)| Some(r.deadline()));
        let cache = self.answered.values().map(|a| Some(a.until));
        calls
            .chain(clients)
            .chain(acks)
            .chain(cache)
            .flatten()
            .min()
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.answered.retain(|_, answered| answered.until > now);
        let mut resend = Vec::new();
        self.awaiting_ack.retain(|_, (retransmit, peer)| {
            if let Some(bytes) = retransmit.due(now) {
                resend.push(Transmit {
                    peer: *peer,
                    bytes: bytes.to_vec(),
                });
            }
            !retransmit.expired(now)
        });
        self.transmits.extend(resend);
        let ids: Vec<String> = self.calls.keys().cloned().collect();
        for call in ids {
            self.call_timers(now, &call);
        }
        self.client_timers(now);
        if self
            .registration
            .as_ref()
            .and_then(|r| r.next_at)
            .is_some_and(|at| at <= now)
        {
            self.send_register(now);
        }
    }

    fn call_timers(&mut self, now: Duration, call: &str) {
        let Some(leg) = self.calls.get_mut(call) else {
            return;
        };
        if leg.remove_at.is_some_and(|at| at <= now) {
            let leg = self.calls.remove(call);
            if let Some(agent) = leg.and_then(|leg| leg.agent) {
                self.agent_calls.remove(&agent.dialog.call_id);
            }
            return;
        }
        if leg.answer_at.is_some_and(|at| at <= now) {
            return self.answer(now, call);
        }
        let peer = leg.peer;
        let mut no_ack = false;
        if let Some(unacked) = leg.unacked.as_mut() {
            if let Some(bytes) = unacked.due(now) {
                self.transmits.push_back(Transmit {
                    peer,
                    bytes: bytes.to_vec(),
                });
            }
            no_ack = unacked.expired(now);
        }
        let expired = leg.session_expires.is_some_and(|(_, at)| at <= now);
        if no_ack {
            // RFC 3261 section 13.3.1.4: no ACK for the 2xx, so end the session.
            self.end_answered(now, call, EndReason::NoAck);
        } else if expired {
            self.end_answered(now, call, EndReason::SessionExpired);
        }
    }

    fn client_timers(&mut self, now: Duration) {
        let mut failed = Vec::new();
        for client in &mut self.clients {
            if let Some(bytes) = client.retransmit.due(now) {
                self.transmits.push_back(Transmit {
                    peer: client.peer,
                    bytes: bytes.to_vec(),
                });
            }
            if client.retransmit.expired(now) {
                failed.push((client.call.clone(), client.kind));
            }
        }
        self.clients.retain(|c| !c.retransmit.expired(now));
        for (call, kind) in failed {
            // Timer B/F: the request timed out, as if answered 408.
            self.client_finished(now, &call, kind, 408, None);
        }
    }

    fn answer(&mut self, now: Duration, call: &str) {
        let Some(leg) = self.calls.get_mut(call) else {
            return;
        };
        leg.answer_at = None;
        let Some(local_media) = leg.local_media else {
            return;
        };
        leg.state = LegState::Answered;
        let body = sdp::answer(&leg.offer, local_media, leg.sdp_session, leg.sdp_version);
        let (invite, peer, tag) = (leg.invite.clone(), leg.peer, leg.local_tag.clone());
        let mut extra = self.dialog_headers(&invite);
        extra.push(("Content-Type", "application/sdp".to_string()));
        self.send_ok_with_sdp(now, call, &invite, peer, &tag, extra, &body);
        self.events.push_back(SipEvent::Answered {
            call: call.to_string(),
        });
    }

    /// The 200 with our SDP answer to an INVITE or re-INVITE, resent until
    /// the ACK (RFC 3261 section 13.3.1.4).
    #[allow(clippy::too_many_arguments)]
    fn send_ok_with_sdp(
        &mut self,
        now: Duration,
        call: &str,
        request: &SipMessage,
        peer: Peer,
        tag: &str,
        mut extra: Vec<(&'static str, String)>,
        body: &str,
    ) {
        extra.extend(self.session_timer(now, call, request));
        let bytes = self.respond(
            now,
            request,
            peer,
            200,
            "OK",
            Some(tag),
            extra,
            body.as_bytes(),
        );
        if let Some(leg) = self.calls.get_mut(call) {
            leg.unacked = Some(Retransmit::new(bytes, now, peer.transport.reliable()));
        }
    }

    /// Session-Expires for a 2xx when the caller asked for a session timer
    /// (RFC 4028 section 9): the caller refreshes; we hang up if it does not.
    fn session_timer(
        &mut self,
        now: Duration,
        call: &str,
        request: &SipMessage,
    ) -> Vec<(&'static str, String)> {
        let Some(seconds) = request
            .header("session-expires")
            .and_then(|v| v.split(';').next())
            .and_then(|v| v.trim().parse::<u64>().ok())
        else {
            return Vec::new();
        };
        let seconds = seconds.max(MIN_SESSION_EXPIRES);
        let interval = Duration::from_secs(seconds);
        if let Some(leg) = self.calls.get_mut(call) {
            leg.session_expires = Some((interval, now + interval));
        }
        let mut headers = vec![("Session-Expires", format!("{seconds};refresher=uac"))];
        let supports_timer = request
            .header("supported")
            .is_some_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("timer")));
        if supports_timer {
            headers.push(("Require", "timer".to_string()));
        }
        headers
    }

    /// Contact, Allow, Supported and the copied Record-Route of a response
    /// that creates or confirms a dialog (RFC 3261 section 12.1.1).
    fn dialog_headers(&self, request: &SipMessage) -> Vec<(&'static str, String)> {
        let mut headers: Vec<(&'static str, String)> = headers::all_values(request, "record-route")
            .into_iter()
            .map(|route| ("Record-Route", route))
            .collect();
        headers.push(("Contact", format!("<{}>", self.contact)));
        headers.push(("Allow", ALLOW.to_string()));
        headers.push(("Supported", SUPPORTED.to_string()));
        headers
    }

    fn on_request(&mut self, now: Duration, peer: Peer, method: &str, request: SipMessage) {
        let branch = headers::top_branch(&request)
            .unwrap_or_default()
            .to_string();
        if method != "ACK" {
            if let Some(answered) = self.answered.get(&(branch.clone(), method.to_string())) {
                let bytes = answered.bytes.clone();
                return self.send(peer, bytes);
            }
        }
        match method {
            "INVITE" if headers::tag(request.header("to").unwrap_or_default()).is_none() => {
                self.on_invite(now, peer, branch, request)
            }
            "INVITE" => self.on_reinvite(now, peer, &request),
            "ACK" => self.on_ack(&branch, &request),
            "CANCEL" => self.on_cancel(now, peer, &branch, &request),
            "BYE" => self.on_bye(now, peer, &request),
            "OPTIONS" => {
                let extra = vec![
                    ("Allow", ALLOW.to_string()),
                    ("Accept", "application/sdp".to_string()),
                    ("Supported", SUPPORTED.to_string()),
                ];
                self.respond(
                    now,
                    &request,
                    peer,
                    200,
                    "OK",
                    Some(&random_token()),
                    extra,
                    b"",
                );
            }
            "INFO" => self.on_info(now, peer, &request),
            "NOTIFY" => self.on_notify(now, peer, &request),
            "UPDATE" => self.on_update(now, peer, &request),
            "REGISTER" | "SUBSCRIBE" | "PUBLISH" | "MESSAGE" | "REFER" | "PRACK" => {
                let extra = vec![("Allow", ALLOW.to_string())];
                self.respond(
                    now,
                    &request,
                    peer,
                    405,
                    "Method Not Allowed",
                    None,
                    extra,
                    b"",
                );
            }
            _ => {
                let extra = vec![("Allow", ALLOW.to_string())];
                self.respond(
                    now,
                    &request,
                    peer,
                    501,
                    "Not Implemented",
                    None,
                    extra,
                    b"",
                );
            }
        }
    }

    fn on_invite(&mut self, now: Duration, peer: Peer, branch: String, invite: SipMessage) {
        let call = invite.header("call-id").unwrap_or_default().to_string();
        if self.calls.contains_key(&call) {
            return; // a copy of the INVITE forked back to us: already handled
        }
        if let Some(unsupported) = unsupported_extensions(&invite) {
            let extra = vec![("Unsupported", unsupported)];
            return self.final_to_invite(now, &invite, peer, 420, "Bad Extension", extra);
        }
        self.respond(now, &invite, peer, 100, "Trying", None, Vec::new(), b"");
        let caller = headers::user(headers::uri(invite.header("from").unwrap_or_default()))
            .unwrap_or("anonymous")
            .to_string();
        let dialed = match &invite.start {
            StartLine::Request { uri, .. } => headers::user(uri).unwrap_or("ivr").to_string(),
            StartLine::Response { .. } => String::new(),
        };
        let offer = if headers::has_sdp(&invite) {
            sdp::negotiate(&String::from_utf8_lossy(&invite.body)).map_err(|e| e.to_string())
        } else {
            Err("no SDP offer in the INVITE: voicegate needs the offer up front".to_string())
        };
        let offer = match offer {
            Ok(offer) => offer,
            Err(problem) => {
                tracing::info!(%call, %problem, "refused a call with 488");
                let warning = format!("399 voicegate \"{}\"", problem.replace('"', "'"));
                self.final_to_invite(
                    now,
                    &invite,
                    peer,
                    488,
                    "Not Acceptable Here",
                    vec![("Warning", warning)],
                );
                return self.events.push_back(SipEvent::Refused {
                    call,
                    caller,
                    dialed,
                    code: 488,
                });
            }
        };
        let local_tag = random_token();
        let dialog = Dialog::for_uas(&invite, &local_tag, peer, &self.contact);
        self.calls.insert(
            call.clone(),
            InboundCall {
                invite,
                invite_branch: branch,
                peer,
                state: LegState::Offered,
                dialog,
                local_tag,
                offer: offer.clone(),
                local_media: None,
                sdp_session: fastrand::u64(1..u64::from(u32::MAX)),
                sdp_version: 1,
                answer_at: None,
                unacked: None,
                session_expires: None,
                agent: None,
                remove_at: None,
            },
        );
        self.events.push_back(SipEvent::Incoming {
            call,
            caller,
            dialed,
            offer,
        });
    }

    fn on_reinvite(&mut self, now: Duration, peer: Peer, request: &SipMessage) {
        let Some(call) = self.call_of(request) else {
            return self.no_dialog(now, peer, request);
        };
        let offer = if headers::has_sdp(request) {
            match sdp::negotiate(&String::from_utf8_lossy(&request.body)) {
                Ok(offer) => Some(offer),
                Err(error) => {
                    let warning = format!("399 voicegate \"{error}\"");
                    return self.final_to_invite(
                        now,
                        request,
                        peer,
                        488,
                        "Not Acceptable Here",
                        vec![("Warning", warning)],
                    );
                }
            }
        } else {
            None
        };
        let Some(leg) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(offer) = &offer {
            leg.offer = offer.clone();
        }
        leg.sdp_version += 1;
        let body = leg
            .local_media
            .map(|local| sdp::answer(&leg.offer, local, leg.sdp_session, leg.sdp_version))
            .unwrap_or_default();
        let tag = leg.local_tag.clone();
        let mut extra = self.dialog_headers(request);
        extra.push(("Content-Type", "application/sdp".to_string()));
        self.send_ok_with_sdp(now, &call, request, peer, &tag, extra, &body);
        if let Some(media) = offer {
            self.events
                .push_back(SipEvent::MediaChanged { call, media });
        }
    }

    fn on_ack(&mut self, branch: &str, request: &SipMessage) {
        if self.awaiting_ack.remove(branch).is_some() {
            return;
        }
        let call = request.header("call-id").unwrap_or_default();
        if let Some(leg) = self.calls.get_mut(call) {
            leg.unacked = None;
        }
    }

    fn on_cancel(&mut self, now: Duration, peer: Peer, branch: &str, cancel: &SipMessage) {
        let call = cancel.header("call-id").unwrap_or_default().to_string();
        let matched = self
            .calls
            .get(&call)
            .filter(|leg| leg.invite_branch == branch)
            .map(|leg| leg.state);
        let Some(state) = matched else {
            return self.no_dialog(now, peer, cancel);
        };
        let tag = self.calls.get(&call).map(|leg| leg.local_tag.clone());
        self.respond(
            now,
            cancel,
            peer,
            200,
            "OK",
            tag.as_deref(),
            Vec::new(),
            b"",
        );
        if matches!(state, LegState::Offered | LegState::Ringing) {
            // RFC 3261 section 9.2: the INVITE ends with 487.
            self.fail_invite(now, &call, 487, "Request Terminated", EndReason::Cancelled);
        }
    }

    fn on_bye(&mut self, now: Duration, peer: Peer, bye: &SipMessage) {
        let id = bye.header("call-id").unwrap_or_default();
        if let Some(call) = self.agent_calls.get(id).cloned() {
            self.respond(now, bye, peer, 200, "OK", None, Vec::new(), b"");
            if let Some(agent) = self.calls.get_mut(&call).and_then(|leg| leg.agent.as_mut()) {
                agent.up = false;
            }
            return self.events.push_back(SipEvent::Agent {
                call,
                state: AgentState::HungUp,
            });
        }
        let Some(call) = self.call_of(bye) else {
            return self.no_dialog(now, peer, bye);
        };
        self.respond(now, bye, peer, 200, "OK", None, Vec::new(), b"");
        if let Some(leg) = self.calls.get_mut(&call) {
            leg.unacked = None;
            if leg.state != LegState::Ended {
                self.hang_up_agent(now, &call);
                self.finish(now, &call, EndReason::Caller);
            }
        }
    }

    fn on_info(&mut self, now: Duration, peer: Peer, info: &SipMessage) {
        let Some(call) = self.call_of(info) else {
            return self.no_dialog(now, peer, info);
        };
        self.respond(now, info, peer, 200, "OK", None, Vec::new(), b"");
        if let Some(digit) = info_digit(info) {
            self.events.push_back(SipEvent::Dtmf { call, digit });
        }
    }

    fn on_notify(&mut self, now: Duration, peer: Peer, notify: &SipMessage) {
        let Some(call) = self.call_of(notify) else {
            return self.no_dialog(now, peer, notify);
        };
        self.respond(now, notify, peer, 200, "OK", None, Vec::new(), b"");
        let is_refer = notify
            .header("event")
            .is_some_and(|e| e.trim().to_ascii_lowercase().starts_with("refer"));
        // RFC 3515 section 2.4.5: the body is a sipfrag whose status line is the progress.
        let status = String::from_utf8_lossy(&notify.body)
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("SIP/2.0 ").map(str::to_string))
            .and_then(|rest| rest.get(..3).and_then(|code| code.parse::<u16>().ok()));
        if let (true, Some(code)) = (is_refer, status) {
            if code >= 200 {
                self.events.push_back(SipEvent::Refer {
                    call,
                    progress: ReferProgress::Completed(code),
                });
            }
        }
    }

    fn on_update(&mut self, now: Duration, peer: Peer, update: &SipMessage) {
        let Some(call) = self.call_of(update) else {
            return self.no_dialog(now, peer, update);
        };
        let mut extra = vec![("Contact", format!("<{}>", self.contact))];
        extra.extend(self.session_timer(now, &call, update));
        self.respond(now, update, peer, 200, "OK", None, extra, b"");
    }

    /// The caller leg a request belongs to (by Call-ID, in an open dialog).
    fn call_of(&self, request: &SipMessage) -> Option<String> {
        let id = request.header("call-id")?;
        let leg = self.calls.get(id)?;
        let to_tag = headers::tag(request.header("to")?)?;
        (to_tag == leg.local_tag && leg.state != LegState::Ended).then(|| id.to_string())
    }

    fn no_dialog(&mut self, now: Duration, peer: Peer, request: &SipMessage) {
        self.respond(
            now,
            request,
            peer,
            481,
            "Call/Transaction Does Not Exist",
            None,
            Vec::new(),
            b"",
        );
    }

    fn on_response(&mut self, now: Duration, code: u16, message: &SipMessage) {
        let branch = headers::top_branch(message).unwrap_or_default();
        let Some(index) = self.clients.iter().position(|c| c.branch == branch) else {
            return self.resend_agent_ack(message);
        };
        if code < 200 {
            let client = &mut self.clients[index];
            client
                .retransmit
                .slow_down(client.kind == ClientKind::AgentInvite, now);
            return;
        }
        let client = self.clients.remove(index);
        self.client_finished(now, &client.call, client.kind, code, Some(message));
    }

    /// A retransmitted 2xx from the agent means our ACK was lost (section 13.2.2.4).
    fn resend_agent_ack(&mut self, message: &SipMessage) {
        let id = message.header("call-id").unwrap_or_default();
        let Some(call) = self.agent_calls.get(id) else {
            return;
        };
        let ack = self
            .calls
            .get(call)
            .and_then(|leg| leg.agent.as_ref())
            .and_then(|agent| agent.ack.clone().map(|ack| (agent.dialog.peer, ack)));
        if let Some((peer, ack)) = ack {
            self.send(peer, ack);
        }
    }

    fn client_finished(
        &mut self,
        now: Duration,
        call: &str,
        kind: ClientKind,
        code: u16,
        response: Option<&SipMessage>,
    ) {
        let call = call.to_string();
        match kind {
            ClientKind::Refer => {
                let progress = if (200..300).contains(&code) {
                    ReferProgress::Accepted
                } else {
                    ReferProgress::Refused(code)
                };
                self.events.push_back(SipEvent::Refer { call, progress });
            }
            ClientKind::AgentInvite => self.agent_answered(now, &call, code, response),
            ClientKind::Register => self.on_register_response(now, code, response),
            ClientKind::Bye | ClientKind::AgentBye => {}
        }
    }

    fn agent_answered(
        &mut self,
        now: Duration,
        call: &str,
        code: u16,
        response: Option<&SipMessage>,
    ) {
        let local = self.local;
        let Some(agent) = self.calls.get_mut(call).and_then(|leg| leg.agent.as_mut()) else {
            return;
        };
        let invite_cseq = agent.invite.cseq;
        let state = match response {
            Some(response) if (200..300).contains(&code) => {
                agent.dialog.confirm_as_uac(response);
                let ack = agent.dialog.request_with_cseq(
                    "ACK",
                    invite_cseq,
                    local,
                    &new_branch(),
                    &[],
                    b"",
                );
                agent.ack = Some(ack.bytes.clone());
                self.transmits.push_back(Transmit {
                    peer: agent.dialog.peer,
                    bytes: ack.bytes,
                });
                let answer = String::from_utf8_lossy(&response.body).to_string();
                match sdp::negotiate(&answer) {
                    Ok(media) => {
                        agent.up = true;
                        AgentState::Answered(media)
                    }
                    Err(_) => {
                        agent.up = true;
                        self.hang_up_agent(now, call);
                        AgentState::Failed(488)
                    }
                }
            }
            Some(response) => {
                // The ACK for a non-2xx reuses the INVITE's branch (section 17.1.1.3).
                let mut dialog = agent.dialog.clone();
                dialog.remote = response.header("to").unwrap_or_default().to_string();
                let branch = agent.invite.branch.clone();
                let ack = dialog.request_with_cseq("ACK", invite_cseq, local, &branch, &[], b"");
                self.transmits.push_back(Transmit {
                    peer: dialog.peer,
                    bytes: ack.bytes,
                });
                AgentState::Failed(code)
            }
            None => AgentState::Failed(code),
        };
        self.events.push_back(SipEvent::Agent {
            call: call.to_string(),
            state,
        });
    }

    fn start_client(
        &mut self,
        now: Duration,
        call: &str,
        kind: ClientKind,
        peer: Peer,
        request: Outgoing,
    ) {
        self.transmits.push_back(Transmit {
            peer,
            bytes: request.bytes.clone(),
        });
        self.clients.push(ClientTx {
            call: call.to_string(),
            kind,
            branch: request.branch,
            peer,
            retransmit: Retransmit::new(request.bytes, now, peer.transport.reliable()),
        });
    }

    /// BYE to an answered caller (and agent), then the call is over.
    fn end_answered(&mut self, now: Duration, call: &str, how: EndReason) {
        let local = self.local;
        self.hang_up_agent(now, call);
        let Some(leg) = self.calls.get_mut(call) else {
            return;
        };
        leg.unacked = None;
        let bye = leg.dialog.request("BYE", local, &[], b"");
        let peer = leg.dialog.peer;
        self.start_client(now, call, ClientKind::Bye, peer, bye);
        self.finish(now, call, how);
    }

    /// A final non-2xx to a pending INVITE, and the call is over.
    fn fail_invite(&mut self, now: Duration, call: &str, code: u16, reason: &str, how: EndReason) {
        let Some(leg) = self.calls.get(call) else {
            return;
        };
        let (invite, peer, tag) = (leg.invite.clone(), leg.peer, leg.local_tag.clone());
        let bytes = self.respond(
            now,
            &invite,
            peer,
            code,
            reason,
            Some(&tag),
            Vec::new(),
            b"",
        );
        let branch = headers::top_branch(&invite).unwrap_or_default().to_string();
        self.awaiting_ack.insert(
            branch,
            (Retransmit::new(bytes, now, peer.transport.reliable()), peer),
        );
        self.finish(now, call, how);
    }

    /// A final non-2xx to an INVITE that never became a call.
    fn final_to_invite(
        &mut self,
        now: Duration,
        invite: &SipMessage,
        peer: Peer,
        code: u16,
        reason: &str,
        extra: Vec<(&'static str, String)>,
    ) {
        let tag = random_token();
        let bytes = self.respond(now, invite, peer, code, reason, Some(&tag), extra, b"");
        let branch = headers::top_branch(invite).unwrap_or_default().to_string();
        self.awaiting_ack.insert(
            branch,
            (Retransmit::new(bytes, now, peer.transport.reliable()), peer),
        );
    }

    fn finish(&mut self, now: Duration, call: &str, how: EndReason) {
        if let Some(leg) = self.calls.get_mut(call) {
            leg.state = LegState::Ended;
            leg.answer_at = None;
            leg.session_expires = None;
            leg.remove_at = Some(now + GIVE_UP);
            self.events.push_back(SipEvent::Ended {
                call: call.to_string(),
                how,
            });
        }
    }

    /// Sends a response and remembers it for retransmitted requests.
    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        now: Duration,
        request: &SipMessage,
        peer: Peer,
        code: u16,
        reason: &str,
        to_tag: Option<&str>,
        headers: Vec<(&'static str, String)>,
        body: &[u8],
    ) -> Vec<u8> {
        let parts = ResponseParts {
            to_tag,
            headers: headers.iter().map(|(n, v)| (*n, v.clone())).collect(),
            body,
        };
        let bytes = response(request, code, reason, &parts);
        if let (Some(branch), StartLine::Request { method, .. }) =
            (headers::top_branch(request), &request.start)
        {
            self.answered.insert(
                (branch.to_string(), method.clone()),
                Answered {
                    bytes: bytes.clone(),
                    until: now + GIVE_UP,
                },
            );
        }
        self.send(peer, bytes.clone());
        bytes
    }

    fn send(&mut self, peer: Peer, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { peer, bytes });
    }
}

/// A request must carry the headers that identify its transaction and
/// dialog (RFC 3261 section 8.1.1), with a CSeq naming its own method.
fn complete_request(message: SipMessage) -> Result<SipMessage, MessageError> {
    let StartLine::Request { method, .. } = &message.start else {
        return Ok(message);
    };
    for name in ["via", "from", "to", "call-id", "cseq"] {
        if !message
            .header(name)
            .is_some_and(|value| !value.trim().is_empty())
        {
            return Err(MessageError::Malformed(format!("missing {name} header")));
        }
    }
    let cseq_method = message
        .header("cseq")
        .and_then(|cseq| cseq.split_whitespace().nth(1))
        .unwrap_or_default();
    if !cseq_method.eq_ignore_ascii_case(method) {
        return Err(MessageError::Malformed(format!(
            "CSeq method {cseq_method:?} is not the request's {method}"
        )));
    }
    Ok(message)
}

/// Require option tags voicegate lacks (RFC 3261 section 8.2.2.3), for a 420.
fn unsupported_extensions(request: &SipMessage) -> Option<String> {
    let unsupported: Vec<&str> = request
        .headers
        .iter()
        .filter(|h| h.name == "require")
        .flat_map(|h| h.value.split(','))
        .map(str::trim)
        .filter(|tag| !tag.is_empty() && !tag.eq_ignore_ascii_case(SUPPORTED))
        .collect();
    (!unsupported.is_empty()).then(|| unsupported.join(", "))
}

/// The key of a SIP INFO: `application/dtmf-relay` (`Signal=5`) or
/// `application/dtmf` (`5`).
fn info_digit(info: &SipMessage) -> Option<char> {
    let kind = info.header("content-type")?.trim().to_ascii_lowercase();
    let body = String::from_utf8_lossy(&info.body);
    let value = if kind.starts_with("application/dtmf-relay") {
        body.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| value.trim().to_string())
        })?
    } else if kind.starts_with("application/dtmf") {
        body.trim().to_string()
    } else {
        return None;
    };
    crate::dtmf::dtmf_key(&value)
}

/// A 400 (or 505) for a request the strict reader refused, built from the
/// raw headers it needs (RFC 3261 section 8.2.6); `None` for a broken
/// response, bytes that are not a request at all, or headers too broken to
/// copy into a valid response.
fn refusal(bytes: &[u8], error: &MessageError) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(bytes);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    if first.starts_with("SIP/") || !first.contains("SIP/") {
        return None;
    }
    let (code, reason) = match error {
        MessageError::Version(_) => (505, "Version Not Supported".to_string()),
        MessageError::Malformed(why) => (400, format!("Bad Request ({why})")),
    };
    let reason: String = reason
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    let wanted = ["via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"];
    for line in lines {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if wanted.contains(&name.as_str()) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    // A response built from broken headers would be refused in turn: drop it.
    parse_message(out.as_bytes())
        .is_ok()
        .then(|| out.into_bytes())
}

mod register;
#[cfg(test)]
mod tests;
