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
use super::response::{response, ResponseParts, PRODUCT};
use super::sdp::{self, Negotiated};
use super::timers::{Retransmit, GIVE_UP};
use admission::{Admission, Verdict};
pub use admission::{AdmissionPolicy, Untrusted};
pub use auth::AuthPolicy;
use auth::{Checked, InboundAuth};
use deadlines::Deadlines;
use register::Registering;
pub use register::Registration;
use validation::{complete_request, refusal};

/// Option tags voicegate supports (RFC 3261 section 8.2.2.3).
const SUPPORTED: &str = "timer";
/// Shortest session interval voicegate accepts (RFC 4028 section 4).
const MIN_SESSION_EXPIRES: u64 = 90;
/// Answered requests (for retransmissions) and refused INVITEs waiting for
/// their ACK, each, at most, unless configured (`sip.max_transactions`): a
/// flood cannot grow them, nor the timer scan.
pub const DEFAULT_MAX_TRANSACTIONS: usize = 10_000;
/// Calls held at once unless configured (`sip.max_calls`).
pub const DEFAULT_MAX_CALLS: usize = 1000;
/// Seconds a caller refused for load is told to wait (Retry-After).
const BUSY_RETRY_AFTER_S: u32 = 5;
/// The longest session interval voicegate accepts; a longer one is lowered.
const MAX_SESSION_EXPIRES: u64 = 86_400;

/// Bytes for the driver to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit {
    pub peer: Peer,
    pub bytes: Vec<u8>,
}

/// What happened to a call, for its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum SipEvent {
    /// A new call offers this media (`None`: a delayed offer, RFC 3261
    /// section 13.2.1: voicegate offers in its 200 and the ACK answers);
    /// answer with [`UserAgent::accept`] or [`UserAgent::reject`].
    Incoming {
        call: String,
        /// The caller's number: a trusted source's P-Asserted-Identity
        /// (RFC 3325), else the From header's user.
        caller: String,
        /// True when `caller` came from a trusted source's P-Asserted-Identity.
        verified: bool,
        dialed: String,
        offer: Option<Negotiated>,
    },
    /// The call is up with this media (the 200 went out, or for a delayed
    /// offer the ACK answered): media and the call engine start now.
    Answered {
        call: String,
        media: Negotiated,
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
    /// A browser's media never connected, or its connection failed (ICE,
    /// DTLS): there is no signalling to say goodbye on.
    MediaFailed,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Caller => "caller",
            EndReason::Gateway => "gateway",
            EndReason::Cancelled => "cancelled",
            EndReason::Rejected(_) => "rejected",
            EndReason::NoAck | EndReason::SessionExpired => "timeout",
            EndReason::MediaFailed => "media_failed",
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

/// A request we sent and wait on (kept by its branch).
#[derive(Debug)]
struct ClientTx {
    call: String,
    kind: ClientKind,
    peer: Peer,
    retransmit: Retransmit,
}

/// What a deadline belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Timer {
    /// A caller's leg (by Call-ID): ring time, 2xx resend, session expiry, removal.
    Leg(String),
    /// A request we sent (by branch): resend or give up.
    Client(String),
    /// A non-2xx final to an INVITE (by branch): resend until the ACK.
    Ack(String),
    /// An answer remembered for retransmitted requests (branch, method).
    Answer(String, String),
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
    /// The caller's offer; `None` until the ACK answers a delayed offer.
    offer: Option<Negotiated>,
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

/// The user agent for every call on one SIP address.
#[derive(Debug)]
pub struct UserAgent {
    local: SocketAddr,
    contact: String,
    ring: Duration,
    calls: HashMap<String, InboundCall>,
    /// Agent-leg Call-ID → the caller's Call-ID.
    agent_calls: HashMap<String, String>,
    clients: HashMap<String, ClientTx>,
    /// Last response per (branch, method): answers retransmitted requests.
    answered: HashMap<(String, String), Vec<u8>>,
    /// Non-2xx finals to INVITE, resent until the ACK (same branch).
    awaiting_ack: HashMap<String, (Retransmit, Peer)>,
    /// When each leg, transaction and remembered answer is next due.
    timers: Deadlines<Timer>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<SipEvent>,
    registration: Option<Registering>,
    /// Server and User-Agent header value; `None` sends neither.
    product: Option<String>,
    /// Calls (offered, ringing, up or ending) at most; a new INVITE past it
    /// gets 503 with Retry-After.
    max_calls: usize,
    /// Legs of `calls` that have ended and are kept only to answer
    /// retransmissions (64×T1): they do not count toward `max_calls`.
    ended_calls: usize,
    /// Server transactions remembered at most (see [`DEFAULT_MAX_TRANSACTIONS`]).
    max_transactions: usize,
    /// Who may send what (trusted sources, rate limits, bans).
    admission: Admission,
    /// Callers' credentials, where untrusted sources must authenticate.
    auth: Option<InboundAuth>,
    /// Shutting down: new calls get 503, calls up finish.
    draining: bool,
}

impl InboundCall {
    /// The leg's soonest timer.
    fn deadline(&self) -> Option<Duration> {
        [
            self.answer_at,
            self.unacked.as_ref().map(Retransmit::deadline),
            self.session_expires.map(|(_, at)| at),
            self.remove_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }
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
            clients: HashMap::new(),
            answered: HashMap::new(),
            awaiting_ack: HashMap::new(),
            timers: Deadlines::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            registration: None,
            product: Some(PRODUCT.to_string()),
            max_calls: DEFAULT_MAX_CALLS,
            ended_calls: 0,
            max_transactions: DEFAULT_MAX_TRANSACTIONS,
            admission: Admission::new(AdmissionPolicy::default()),
            auth: None,
            draining: false,
        }
    }

    /// Stops taking calls (503 with Retry-After); the calls up go on.
    pub fn drain(&mut self) {
        self.draining = true;
    }

    /// The calls that are up (answered, not yet ended).
    pub fn answered_calls(&self) -> Vec<String> {
        self.calls
            .iter()
            .filter(|(_, leg)| leg.state == LegState::Answered)
            .map(|(call, _)| call.clone())
            .collect()
    }

    /// Trusted sources, what to do with untrusted INVITEs, rate limits
    /// (sources' buckets and bans so far are kept).
    pub fn set_admission(&mut self, policy: AdmissionPolicy) {
        self.admission.set_policy(policy);
    }

    /// The users untrusted sources may authenticate as (`[sip.auth]`);
    /// nonces already given out stay good when the users are unchanged.
    pub fn set_auth(&mut self, policy: Option<AuthPolicy>) {
        if self.auth.as_ref().map(InboundAuth::policy) != policy.as_ref() {
            self.auth = policy.map(InboundAuth::new);
        }
    }

    /// How many calls the gateway holds at once (`sip.max_calls`).
    pub fn set_max_calls(&mut self, max_calls: usize) {
        self.max_calls = max_calls.max(1);
    }

    /// Answered requests and refused INVITEs remembered at most, each
    /// (`sip.max_transactions`).
    pub fn set_max_transactions(&mut self, max_transactions: usize) {
        self.max_transactions = max_transactions.max(1);
    }

    /// What Server and User-Agent say (`None`: no such header).
    pub fn set_product(&mut self, product: Option<String>) {
        self.product = product;
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
                    let call = message.header("call-id").unwrap_or_default();
                    let new_call = method == "INVITE" && !self.calls.contains_key(call);
                    match self.admission.verdict(now, peer.addr.ip(), new_call) {
                        Verdict::Pass => self.on_request(now, peer, &method, message),
                        Verdict::Refuse => self.reply_statelessly(peer, &message, 403, Vec::new()),
                        Verdict::Authenticate => self.authenticate(now, peer, &method, message),
                        Verdict::Drop => {}
                    }
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

    /// A response with no state kept (no call entry, no ACK wait): cheap,
    /// for requests from sources not trusted.
    fn reply_statelessly(
        &mut self,
        peer: Peer,
        request: &SipMessage,
        code: u16,
        headers: Vec<(&str, String)>,
    ) {
        let reason = match code {
            401 => "Unauthorized",
            _ => "Forbidden",
        };
        let parts = ResponseParts {
            server: self.product.as_deref(),
            headers,
            ..ResponseParts::default()
        };
        let bytes = response(request, code, reason, &parts);
        self.send(peer, bytes);
    }

    /// A new call from an untrusted source where credentials are required:
    /// a 401 challenge, the call, or a 403 that counts toward a ban.
    fn authenticate(&mut self, now: Duration, peer: Peer, method: &str, request: SipMessage) {
        let Some(auth) = self.auth.as_mut() else {
            return self.reply_statelessly(peer, &request, 403, Vec::new());
        };
        match auth.check(now, method, request.header("authorization")) {
            Checked::Authenticated(user) => {
                tracing::info!(%peer.addr, %user, "caller authenticated");
                self.admission.logged_in(peer.addr.ip());
                self.on_request(now, peer, method, request)
            }
            Checked::Challenge { stale } => {
                let challenge = auth.challenge(now, stale);
                self.reply_statelessly(peer, &request, 401, challenge)
            }
            Checked::Refused => {
                let max = auth.max_failures();
                self.admission.failed_login(now, peer.addr.ip(), max);
                self.reply_statelessly(peer, &request, 403, Vec::new())
            }
        }
    }

    /// When [`UserAgent::handle_timeout`] must run next.
    pub fn next_timeout(&self) -> Option<Duration> {
        #[cfg(test)]
        self.assert_timers_set();
        let register = self.registration.as_ref().and_then(|r| r.next_at);
        [self.timers.next(), register].into_iter().flatten().min()
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        for timer in self.timers.take_due(now) {
            match timer {
                Timer::Leg(call) => {
                    self.call_timers(now, &call);
                    self.reschedule_leg(&call);
                }
                Timer::Client(branch) => self.client_timer(now, &branch),
                Timer::Ack(branch) => self.ack_timer(now, &branch),
                Timer::Answer(branch, method) => {
                    self.answered.remove(&(branch, method));
                }
            }
        }
        if self
            .registration
            .as_ref()
            .and_then(|r| r.next_at)
            .is_some_and(|at| at <= now)
        {
            self.send_register(now);
        }
    }

    /// Sets the leg's deadline to its soonest timer; call after changing any.
    fn reschedule_leg(&mut self, call: &str) {
        let due = self.calls.get(call).and_then(InboundCall::deadline);
        self.timers.set(Timer::Leg(call.to_string()), due);
    }

    /// Every leg, transaction and answer kept has its deadline set, so no
    /// timer can be missed (checked in tests on every wake).
    #[cfg(test)]
    fn assert_timers_set(&self) {
        for (call, leg) in &self.calls {
            let timer = Timer::Leg(call.clone());
            assert_eq!(self.timers.get(&timer), leg.deadline(), "{timer:?}");
        }
        for (branch, client) in &self.clients {
            let timer = Timer::Client(branch.clone());
            let deadline = Some(client.retransmit.deadline());
            assert_eq!(self.timers.get(&timer), deadline, "{timer:?}");
        }
        for (branch, (retransmit, _)) in &self.awaiting_ack {
            let timer = Timer::Ack(branch.clone());
            let deadline = Some(retransmit.deadline());
            assert_eq!(self.timers.get(&timer), deadline, "{timer:?}");
        }
        for (branch, method) in self.answered.keys() {
            let timer = Timer::Answer(branch.clone(), method.clone());
            assert!(self.timers.get(&timer).is_some(), "{timer:?}");
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
            server: self.product.as_deref(),
        };
        let bytes = response(request, code, reason, &parts);
        if let (Some(branch), StartLine::Request { method, .. }) =
            (headers::top_branch(request), &request.start)
        {
            // Past the cap a retransmission is handled anew (it gets the
            // same answer), so memory stays bounded under a flood; answers
            // leave at their time (Timer J), so the cap is never stale.
            if self.answered.len() < self.max_transactions {
                let key = (branch.to_string(), method.clone());
                let timer = Timer::Answer(key.0.clone(), key.1.clone());
                self.answered.insert(key, bytes.clone());
                self.timers.set(timer, Some(now + GIVE_UP));
            }
        }
        self.send(peer, bytes.clone());
        bytes
    }

    fn send(&mut self, peer: Peer, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { peer, bytes });
    }
}

mod admission;
mod agent;
mod auth;
mod deadlines;
mod register;
#[cfg(test)]
mod tests;
mod transactions;
mod uas;
mod validation;
