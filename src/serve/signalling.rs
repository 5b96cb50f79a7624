//! The signalling task: SIP over UDP and TCP into the sans-IO user agent,
//! its datagrams out, its events to the calls, the calls' commands back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc::{self, Receiver, UnboundedReceiver, UnboundedSender};
use tokio::time::{sleep_until, Instant};

use super::call::{CallSetup, LiveCall, ToCall, ToSignalling};
use super::media::MediaPort;
use super::tcp::{TcpConnections, TcpMessage, EVENTS};
use super::webrtc::{BrowserPeer, FromBrowser};
use super::Shared;
use crate::callcore::{CallEvent, CallSummary, CallerId, EndedBy, EventKind, Sinks};
use crate::config::GatewayConfig;
use crate::sip::{
    AgentState, EndReason, Negotiated, Peer, ReferProgress, SipEvent, Transmit, Transport,
    UserAgent,
};

/// Largest SIP message over TCP voicegate reads (a UDP datagram is capped by its buffer).
pub const MAX_MESSAGE: usize = 65_535;

/// Calls between their INVITE and their answer.
struct Offered {
    who: CallerId,
    socket: UdpSocket,
}

impl Offered {
    fn who(caller: String, verified: bool, dialed: String) -> CallerId {
        CallerId {
            caller,
            dialed,
            recent_calls: 0,
            verified,
        }
    }
}

enum Wake {
    Udp(Vec<u8>, SocketAddr),
    Tcp(TcpMessage),
    Command(ToSignalling),
    Timer,
    /// SIGTERM or Ctrl-C: drain (a second one: hang up every call now).
    Stop,
    /// The drain's time is up: BYE to every call still up.
    DrainOver,
    /// Calls did not end after their BYE: exit anyway.
    GiveUp,
    /// SIGHUP: read the configuration again.
    Reload,
    /// The configuration read again, or why it could not be.
    Reloaded(Box<Result<(GatewayConfig, Shared), String>>),
    /// News from the browsers' front door.
    Browser(FromBrowser),
}

/// How long calls have to end after their BYE before serve exits anyway.
const BYE_GRACE: Duration = Duration::from_secs(10);

pub struct Signalling {
    ua: UserAgent,
    udp: UdpSocket,
    tcp_connections: TcpConnections,
    shared: Arc<Shared>,
    /// The configuration new calls get (replaced on SIGHUP).
    config: GatewayConfig,
    reloads_tx: UnboundedSender<Result<(GatewayConfig, Shared), String>>,
    reloads: UnboundedReceiver<Result<(GatewayConfig, Shared), String>>,
    hangups: Hangups,
    start: Instant,
    offered: HashMap<String, Offered>,
    calls: HashMap<String, UnboundedSender<ToCall>>,
    /// The calls among `calls` that came from browsers, with their connections.
    browsers: HashMap<String, BrowserPeer>,
    from_browsers: Option<UnboundedReceiver<FromBrowser>>,
    commands_tx: UnboundedSender<ToSignalling>,
    commands: UnboundedReceiver<ToSignalling>,
    tcp: Receiver<TcpMessage>,
    /// Stop after this many calls have ended (tests, load runs).
    calls_left: Option<u64>,
    /// How long calls may go on after SIGTERM before they get a BYE.
    drain: Duration,
    /// Once stopping: when calls get their BYE, and when serve exits anyway.
    drain_until: Option<Instant>,
    give_up_at: Option<Instant>,
}

impl Signalling {
    pub fn new(
        ua: UserAgent,
        udp: UdpSocket,
        shared: Arc<Shared>,
        config: GatewayConfig,
        calls_left: Option<u64>,
    ) -> Signalling {
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (tcp_tx, tcp) = mpsc::channel(EVENTS);
        let (reloads_tx, reloads) = mpsc::unbounded_channel();
        Signalling {
            ua,
            udp,
            tcp_connections: TcpConnections::new(tcp_tx, super::tcp_limits(&config)),
            shared,
            drain: Duration::from_secs_f64(config.sip.drain_s),
            config,
            reloads_tx,
            reloads,
            hangups: Hangups::new(),
            start: Instant::now(),
            offered: HashMap::new(),
            calls: HashMap::new(),
            browsers: HashMap::new(),
            from_browsers: None,
            commands_tx,
            commands,
            tcp,
            calls_left,
            drain_until: None,
            give_up_at: None,
        }
    }

    /// Accepts TCP connections; their messages come back through the loop.
    pub fn listen_tcp(&self, listener: TcpListener) {
        self.tcp_connections.listen(listener);
    }

    /// Takes the calls of the browsers' front door too.
    pub fn accept_browsers(&mut self, from_browsers: UnboundedReceiver<FromBrowser>) {
        self.from_browsers = Some(from_browsers);
    }

    /// Runs until Ctrl-C, or until `calls_left` calls have ended.
    pub async fn run(mut self) {
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let wake = self.wait(&mut buf).await;
            let now = self.start.elapsed();
            match wake {
                Wake::Udp(bytes, from) => self.ua.handle_datagram(now, udp_peer(from), &bytes),
                Wake::Tcp(TcpMessage::Message(from, bytes)) => {
                    self.ua.handle_datagram(now, tcp_peer(from), &bytes)
                }
                Wake::Tcp(event) => self.tcp_connections.on_event(&event),
                Wake::Command(command) => self.on_command(command).await,
                Wake::Timer => self.ua.handle_timeout(now),
                Wake::Stop if self.drain_until.is_some() => self.hang_up_all(now),
                Wake::Stop => self.start_drain(),
                Wake::DrainOver => self.hang_up_all(now),
                Wake::GiveUp => break,
                Wake::Reload => self.start_reload(),
                Wake::Reloaded(result) => self.on_reloaded(*result),
                Wake::Browser(news) => self.on_browser(news),
            }
            self.flush().await;
            self.dispatch_events().await;
            self.flush().await;
            let idle = self.calls.is_empty() && self.offered.is_empty();
            if idle && (self.calls_left == Some(0) || self.drain_until.is_some()) {
                break;
            }
        }
        self.shared.report_skipped_windows();
        self.shared.records.flush();
    }

    async fn wait(&mut self, buf: &mut [u8]) -> Wake {
        // A deadline past what the clock can hold is never.
        let timer = self
            .ua
            .next_timeout()
            .and_then(|at| self.start.checked_add(at));
        tokio::select! {
            received = self.udp.recv_from(buf) => match received {
                Ok((n, from)) => Wake::Udp(buf[..n].to_vec(), from),
                // ICMP port unreachable from an earlier send surfaces here on some systems.
                Err(_) => Wake::Timer,
            },
            Some(message) = self.tcp.recv() => Wake::Tcp(message),
            Some(command) = self.commands.recv() => Wake::Command(command),
            _ = sleep_until(timer.unwrap_or_else(Instant::now)), if timer.is_some() => Wake::Timer,
            _ = stop_signal() => Wake::Stop,
            _ = self.hangups.next() => Wake::Reload,
            Some(result) = self.reloads.recv() => Wake::Reloaded(Box::new(result)),
            Some(news) = recv_optional(&mut self.from_browsers) => Wake::Browser(news),
            _ = sleep_until(self.drain_until.unwrap_or_else(Instant::now)), if self.drain_until.is_some() && self.give_up_at.is_none() => Wake::DrainOver,
            _ = sleep_until(self.give_up_at.unwrap_or_else(Instant::now)), if self.give_up_at.is_some() => Wake::GiveUp,
        }
    }

    /// SIGTERM or Ctrl-C: new calls get 503; the calls up have `drain` to end.
    fn start_drain(&mut self) {
        eprintln!(
            "voicegate: stopping: new calls get 503; {} call(s) up get a BYE in {} s unless they end",
            self.calls.len(),
            self.drain.as_secs_f64()
        );
        self.ua.drain();
        self.drain_until = Some(Instant::now() + self.drain);
    }

    /// Reads the configuration, menu, prompts and models again off the
    /// signalling task (loading models takes a while; SIP goes on meanwhile).
    fn start_reload(&self) {
        eprintln!(
            "voicegate: SIGHUP: reading {} again",
            self.config.source.display()
        );
        let (current, done) = (self.config.clone(), self.reloads_tx.clone());
        let kept = self.shared.kept();
        tokio::task::spawn_blocking(move || {
            let _ = done.send(super::reload(&current, kept));
        });
    }

    /// New calls get the new configuration; calls up keep theirs to the end.
    fn on_reloaded(&mut self, result: Result<(GatewayConfig, Shared), String>) {
        let (config, shared) = match result {
            Ok(reloaded) => reloaded,
            Err(error) => {
                return eprintln!(
                    "voicegate: reload failed, still serving the previous configuration: {error}"
                )
            }
        };
        let unchanged = super::needs_restart(&self.config, &config);
        if !unchanged.is_empty() {
            eprintln!(
                "voicegate: reload: {} changed and take(s) effect only after a restart",
                unchanged.join(", ")
            );
        }
        super::apply_sip_settings(&mut self.ua, &config);
        self.drain = Duration::from_secs_f64(config.sip.drain_s);
        self.shared = Arc::new(shared);
        self.config = config;
        eprintln!(
            "voicegate: reloaded {}: new calls use it; {} call(s) up keep the previous one",
            self.config.source.display(),
            self.calls.len() + self.offered.len()
        );
    }

    /// BYE to every call still up; serve exits when they end, or after a grace.
    fn hang_up_all(&mut self, now: Duration) {
        self.drain_until.get_or_insert_with(Instant::now);
        self.give_up_at = Some(Instant::now() + BYE_GRACE);
        self.ua.drain();
        for call in self.browsers.keys().cloned().collect::<Vec<_>>() {
            self.hang_up_browser(&call);
        }
        for call in self.ua.answered_calls() {
            self.ua.hang_up(now, &call);
        }
        for call in self.offered.keys().cloned().collect::<Vec<_>>() {
            self.ua.reject(now, &call, 503, "Service Unavailable");
        }
    }

    async fn on_command(&mut self, command: ToSignalling) {
        let now = self.start.elapsed();
        if let Some(call) = self.browser_of(&command) {
            return self.on_browser_command(call, command);
        }
        match command {
            ToSignalling::Refer { call, target } => self.ua.refer(now, &call, &target),
            ToSignalling::CallAgent {
                call,
                target,
                local_media,
            } => {
                if !self.ua.call_agent(now, &call, &target, local_media) {
                    tracing::warn!(%call, %target, "the queue URI names no IP address voicegate can call");
                    self.tell(&call, ToCall::Agent(AgentState::Failed(0)));
                }
            }
            ToSignalling::HangUp { call } => self.ua.hang_up(now, &call),
            ToSignalling::HangUpAgent { call } => self.ua.hang_up_agent(now, &call),
            ToSignalling::Finished { call } => {
                self.calls.remove(&call);
                self.count_ended();
            }
        }
    }

    fn count_ended(&mut self) {
        if let Some(left) = self.calls_left.as_mut() {
            *left = left.saturating_sub(1);
        }
    }

    async fn dispatch_events(&mut self) {
        while let Some(event) = self.ua.poll_event() {
            match event {
                SipEvent::Incoming {
                    call,
                    caller,
                    verified,
                    dialed,
                    offer,
                } => {
                    let mut who = Offered::who(caller, verified, dialed);
                    who.recent_calls = self.shared.recent_calls(&who.caller);
                    self.on_incoming(call, who, offer).await
                }
                SipEvent::Answered { call, media } => self.on_answered(call, media),
                SipEvent::MediaChanged { call, media } => self.tell(&call, ToCall::Media(media)),
                SipEvent::Dtmf { call, digit } => self.tell(&call, ToCall::Dtmf(digit)),
                SipEvent::Refer { call, progress } => self.tell(&call, ToCall::Refer(progress)),
                SipEvent::Agent { call, state } => self.tell(&call, ToCall::Agent(state)),
                SipEvent::Ended { call, how } => self.on_ended(call, how),
                SipEvent::Refused {
                    call,
                    caller,
                    dialed,
                    code,
                } => {
                    tracing::info!(%call, code, "refused an INVITE");
                    self.unanswered(&call, &caller, &dialed, "rejected")
                }
                SipEvent::Registration {
                    registered: true,
                    detail,
                } => tracing::info!("{detail}"),
                SipEvent::Registration {
                    registered: false,
                    detail,
                } => {
                    tracing::warn!("registration failed: {detail}; retrying in 60 s")
                }
            }
        }
    }

    async fn on_incoming(&mut self, call: String, who: CallerId, offer: Option<Negotiated>) {
        let now = self.start.elapsed();
        match self.shared.ports.bind().await {
            Ok((local, socket)) => {
                let codec = offer
                    .as_ref()
                    .map_or("offered by voicegate", |o| o.codec.name());
                tracing::info!(%call, caller = %who.caller, dialed = %who.dialed, codec, "incoming call");
                self.offered.insert(call.clone(), Offered { who, socket });
                self.ua.accept(now, &call, local);
            }
            Err(error) => {
                tracing::warn!(%call, %error, "refusing a call: no RTP port");
                self.ua.reject(now, &call, 503, "Service Unavailable");
            }
        }
    }

    fn on_answered(&mut self, call: String, media: Negotiated) {
        let Some(offered) = self.offered.remove(&call) else {
            return;
        };
        self.start_call(CallSetup {
            id: call,
            who: offered.who,
            media,
            port: MediaPort::Udp(offered.socket),
        });
    }

    /// An answered call's task, whichever door it came in by.
    fn start_call(&mut self, setup: CallSetup) {
        let call = setup.id.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        self.calls.insert(call.clone(), tx);
        let live = LiveCall::new(setup, self.shared.clone(), self.commands_tx.clone(), rx);
        supervise(call, tokio::spawn(live.run()), self.commands_tx.clone());
    }

    fn on_browser(&mut self, news: FromBrowser) {
        match news {
            FromBrowser::Answered(browser) => {
                let mut setup = browser.setup;
                if self.drain_until.is_some() {
                    return; // stopping: the peer is dropped, which closes it
                }
                setup.who.recent_calls = self.shared.recent_calls(&setup.who.caller);
                tracing::info!(call = %setup.id, caller = %setup.who.caller, "browser call");
                self.browsers.insert(setup.id.clone(), browser.peer);
                self.start_call(setup);
            }
            FromBrowser::Dtmf { call, digit } => self.tell(&call, ToCall::Dtmf(digit)),
            FromBrowser::Ended { call, how } => {
                if let Some(peer) = self.browsers.get(&call) {
                    peer.hang_up();
                    self.tell(&call, ToCall::Ended(how));
                }
            }
        }
    }

    /// The call a command is for, if a browser's.
    fn browser_of(&self, command: &ToSignalling) -> Option<String> {
        let call = match command {
            ToSignalling::Refer { call, .. }
            | ToSignalling::CallAgent { call, .. }
            | ToSignalling::HangUp { call }
            | ToSignalling::HangUpAgent { call }
            | ToSignalling::Finished { call } => call,
        };
        self.browsers.contains_key(call).then(|| call.clone())
    }

    /// A browser has no SIP to be referred with: the page is told the
    /// transfer (its target and reason are in the call's events) as a
    /// phone carrying out a REFER would be, and the call ends. Calling a
    /// SIP agent for a browser caller is not built.
    fn on_browser_command(&mut self, call: String, command: ToSignalling) {
        match command {
            ToSignalling::Refer { target, .. } => {
                tracing::info!(%call, %target, "browser caller shown the transfer");
                self.tell(&call, ToCall::Refer(ReferProgress::Accepted));
                self.tell(&call, ToCall::Refer(ReferProgress::Completed(200)));
            }
            ToSignalling::CallAgent { .. } => {
                tracing::warn!(%call, "a browser caller cannot be bridged to a SIP agent yet");
                self.tell(&call, ToCall::Agent(AgentState::Failed(0)));
            }
            ToSignalling::HangUp { .. } => self.hang_up_browser(&call),
            ToSignalling::HangUpAgent { .. } => {}
            ToSignalling::Finished { .. } => {
                self.browsers.remove(&call);
                self.calls.remove(&call);
                self.count_ended();
            }
        }
    }

    fn hang_up_browser(&mut self, call: &str) {
        if let Some(peer) = self.browsers.get(call) {
            peer.hang_up();
            self.tell(call, ToCall::Ended(EndReason::Gateway));
        }
    }

    fn on_ended(&mut self, call: String, how: EndReason) {
        if let Some(tx) = self.calls.get(&call) {
            let _ = tx.send(ToCall::Ended(how));
            return; // the call prints its own summary and says Finished
        }
        // Never answered: cancelled or hung up while ringing.
        let (caller, dialed) = self
            .offered
            .remove(&call)
            .map(|o| (o.who.caller, o.who.dialed))
            .unwrap_or_default();
        self.unanswered(&call, &caller, &dialed, how.as_str());
    }

    /// The summary line of a call that ended before the answer.
    fn unanswered(&mut self, call: &str, caller: &str, dialed: &str, ended: &'static str) {
        tracing::info!(%call, %caller, ended, "call ended before the answer");
        let summary = CallSummary {
            caller: caller.to_string(),
            dialed: dialed.to_string(),
            ended_by: Some(EndedBy::Signalling(ended)),
            ..CallSummary::default()
        };
        let ended = CallEvent {
            at: Duration::ZERO,
            kind: EventKind::Ended(Box::new(summary)),
        };
        Sinks::new(Some(call.to_string()), self.shared.sinks.clone()).publish(&ended);
        self.count_ended();
    }

    fn tell(&self, call: &str, message: ToCall) {
        if let Some(tx) = self.calls.get(call) {
            let _ = tx.send(message);
        }
    }

    async fn flush(&mut self) {
        while let Some(Transmit { peer, bytes }) = self.ua.poll_transmit() {
            let sent = match peer.transport {
                Transport::Udp => self.udp.send_to(&bytes, peer.addr).await.map(|_| ()),
                Transport::Tcp => {
                    self.tcp_connections.send(peer.addr, bytes);
                    Ok(())
                }
            };
            if let Err(error) = sent {
                tracing::debug!(%error, to = %peer.addr, "SIP send failed");
            }
        }
    }
}

fn udp_peer(addr: SocketAddr) -> Peer {
    Peer {
        addr,
        transport: Transport::Udp,
    }
}

fn tcp_peer(addr: SocketAddr) -> Peer {
    Peer {
        addr,
        transport: Transport::Tcp,
    }
}

/// The length of the first complete message in `bytes`, if there is one.
/// Leading CRLFs (keep-alives) count as a message of their own.
pub fn framed_length(bytes: &[u8]) -> Option<usize> {
    let blank = bytes
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if blank > 0 {
        return Some(blank);
    }
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..end]);
    let body = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            let name = name.trim().to_ascii_lowercase();
            (name == "content-length" || name == "l").then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    // A length past the largest message never completes: the reader closes
    // the connection once that much is pending (and no sum overflows).
    let total = end
        .checked_add(body)
        .filter(|total| *total <= MAX_MESSAGE)?;
    (bytes.len() >= total).then_some(total)
}

/// A receive from a channel that may not be there (pending forever if not).
async fn recv_optional<T>(channel: &mut Option<UnboundedReceiver<T>>) -> Option<T> {
    match channel {
        Some(channel) => channel.recv().await,
        None => std::future::pending().await,
    }
}

/// A bug that panics one call's task ends that call, not the gateway: the
/// caller gets a BYE, and signalling forgets the call as if it had finished.
fn supervise(
    call: String,
    task: tokio::task::JoinHandle<()>,
    commands: UnboundedSender<ToSignalling>,
) {
    tokio::spawn(async move {
        if let Err(error) = task.await {
            tracing::error!(%call, %error, "a call's task failed: hanging the call up");
            let _ = commands.send(ToSignalling::HangUp { call: call.clone() });
            let _ = commands.send(ToSignalling::Finished { call });
        }
    });
}

/// SIGHUP, as `systemctl reload` and `kill -HUP` send it. Listened for from
/// start to exit, so a SIGHUP never falls on the default action (which
/// would end the process).
struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    fn new() -> Hangups {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Hangups {
                signal: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Hangups {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = self.signal.as_mut() {
            if signal.recv().await.is_some() {
                return;
            }
            self.signal = None; // no more signals will come
        }
        std::future::pending::<()>().await
    }
}

/// Resolves on SIGTERM (a service manager stopping serve) or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::{framed_length, supervise, ToSignalling};

    #[tokio::test]
    async fn a_call_task_that_panics_is_hung_up_and_forgotten_and_its_neighbour_goes_on() {
        let (commands, mut received) = tokio::sync::mpsc::unbounded_channel();
        let doomed = tokio::spawn(async { panic!("a bug in one call") });
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let neighbour = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let _ = done_tx.send(());
        });
        supervise("doomed".into(), doomed, commands.clone());
        supervise("neighbour".into(), neighbour, commands);
        let hang_up = received.recv().await.unwrap();
        assert!(matches!(hang_up, ToSignalling::HangUp { call } if call == "doomed"));
        let finished = received.recv().await.unwrap();
        assert!(matches!(finished, ToSignalling::Finished { call } if call == "doomed"));
        done.await.expect("the other call ran to its end");
        assert!(
            received.try_recv().is_err(),
            "nothing said about the other call"
        );
    }

    #[test]
    fn a_content_length_past_any_message_never_frames_and_never_overflows() {
        for length in ["18446744073709551615", "18446744073709551610", "65536"] {
            let head = format!("OPTIONS sip:a SIP/2.0\r\nContent-Length: {length}\r\n\r\nabc");
            assert_eq!(framed_length(head.as_bytes()), None, "{length}");
        }
    }

    #[test]
    fn tcp_messages_are_framed_by_content_length() {
        let two = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nabcBYE sip:a SIP/2.0\r\nl: 0\r\n\r\n";
        let first = framed_length(two).unwrap();
        assert_eq!(&two[first - 3..first], b"abc");
        assert_eq!(framed_length(&two[first..]), Some(two.len() - first));
        assert_eq!(
            framed_length(b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 9\r\n\r\nabc"),
            None
        );
        assert_eq!(framed_length(b"\r\n\r\nINVITE"), Some(4));
    }
}
