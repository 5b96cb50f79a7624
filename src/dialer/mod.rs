//! `voicegate call`: a test caller on voicegate's own SIP and RTP code. It
//! places one call, streams a recording as RTP in real time from the answer,
//! presses keys as RFC 4733 events at given seconds, takes a REFER (202 and
//! a NOTIFY), and hangs up when the recording ends, unless the far end did.
//! A thin tokio driver around the sans-IO [`OutboundCall`].

mod network;
mod report;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

pub use network::NetworkFaults;
pub use report::{CallReport, Happened};

use crate::audio::{level_db, AudioError, ChannelPick, Recording, FRAME_SAMPLES};
use crate::rtp::{key_press_payloads, parse_rtp, PACKET_TIME};
use crate::serve::media::{decode, Leg, MediaPort};
use crate::serve::{framed_length, MAX_MESSAGE};
use crate::sip::{BadTarget, CallerEvent, OutboundCall, Peer, ReferAnswer, Transport};
use network::Network;

/// A key press lasts this many 20 ms packets (100 ms, as phones send them).
const KEY_FRAMES: u16 = 5;
/// Received audio this loud (dBFS) or louder counts as prompt audio.
const PROMPT_LEVEL_DB: f32 = -50.0;
/// How long the far end may take to answer (Timer B's 32 s, and a margin).
const ANSWER_WAIT: Duration = Duration::from_secs(40);
/// How long our BYE may go unanswered before we stop waiting.
const BYE_WAIT: Duration = Duration::from_secs(5);
/// The longest recording a test call streams.
const MAX_RECORDING: Duration = Duration::from_secs(4 * 3600);

/// What to call and what to play.
#[derive(Debug, Clone)]
pub struct Dial {
    pub target: String,
    /// The user part of From (the caller's number as the gateway sees it).
    pub from: String,
    /// Assert `from` as a trunk does (P-Asserted-Identity): the gateway
    /// believes it from a trusted address.
    pub asserted: bool,
    pub recording: PathBuf,
    pub channel: ChannelPick,
    /// Keys to press, at seconds from the answer, in time order.
    pub dtmf: Vec<(Duration, char)>,
    pub transport: Transport,
    /// What goes wrong on the way to the gateway (nothing by default).
    pub faults: NetworkFaults,
    pub on_refer: ReferAnswer,
}

#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error(transparent)]
    Target(#[from] BadTarget),
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("{0}: contains no audio")]
    Empty(PathBuf),
    #[error("{0}: longer than 4 hours: cut it for a test call")]
    TooLong(PathBuf),
    #[error("cannot reach {target} over {transport}: {source}")]
    Connect {
        target: String,
        transport: &'static str,
        source: std::io::Error,
    },
    #[error("cannot start: {0}")]
    Runtime(std::io::Error),
}

impl DialError {
    /// Problems with what the user gave: exit 2.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            DialError::Target(_)
                | DialError::Audio(_)
                | DialError::Empty(_)
                | DialError::TooLong(_)
        )
    }
}

/// Places the call and reports what happened, `on_event` seeing each step
/// with its time in seconds from the answer (0 before it).
pub fn dial(dial: &Dial, on_event: impl FnMut(f64, &Happened)) -> Result<CallReport, DialError> {
    let audio = load_recording(&dial.recording, dial.channel)?;
    let target_addr =
        crate::sip::uri_socket_addr(&dial.target).ok_or_else(|| BadTarget(dial.target.clone()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DialError::Runtime)?;
    runtime.block_on(async {
        let signalling = Signalling::connect(dial, target_addr).await?;
        let media = UdpSocket::bind(SocketAddr::new(signalling.local.ip(), 0))
            .await
            .map_err(DialError::Runtime)?;
        let local_media = media.local_addr().map_err(DialError::Runtime)?;
        let mut session = Session::new(dial, audio, signalling, media, local_media, on_event)?;
        session.run().await;
        Ok(session.report)
    })
}

/// The whole recording at the call rate, so playback never waits on a decoder.
fn load_recording(path: &Path, channel: ChannelPick) -> Result<Vec<f32>, DialError> {
    let mut recording = Recording::open(path, channel)?;
    let mut samples = Vec::new();
    let limit = (MAX_RECORDING.as_secs() * 8000) as usize;
    while let Some(block) = recording.next_block()? {
        samples.extend_from_slice(&block);
        if samples.len() > limit {
            return Err(DialError::TooLong(path.to_path_buf()));
        }
    }
    if samples.is_empty() {
        return Err(DialError::Empty(path.to_path_buf()));
    }
    Ok(samples)
}

/// The SIP side: a UDP socket, or one TCP connection to the target.
struct Signalling {
    local: SocketAddr,
    peer: Peer,
    udp: Option<UdpSocket>,
    tcp: Option<OwnedWriteHalf>,
    tcp_messages: mpsc::UnboundedReceiver<Vec<u8>>,
}

impl Signalling {
    async fn connect(dial: &Dial, target: SocketAddr) -> Result<Signalling, DialError> {
        let unspecified = local_ip_for(target.ip());
        let connect_error = |source| DialError::Connect {
            target: dial.target.clone(),
            transport: dial.transport.as_str(),
            source,
        };
        let (_tx, idle) = mpsc::unbounded_channel();
        match dial.transport {
            Transport::Udp => {
                let udp = UdpSocket::bind(SocketAddr::new(unspecified, 0))
                    .await
                    .map_err(connect_error)?;
                udp.connect(target).await.map_err(connect_error)?;
                Ok(Signalling {
                    local: udp.local_addr().map_err(connect_error)?,
                    peer: Peer {
                        addr: target,
                        transport: Transport::Udp,
                    },
                    udp: Some(udp),
                    tcp: None,
                    tcp_messages: idle,
                })
            }
            Transport::Tcp => {
                let stream = TcpStream::connect(target).await.map_err(connect_error)?;
                let local = stream.local_addr().map_err(connect_error)?;
                let (reader, writer) = stream.into_split();
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(read_framed(reader, tx));
                Ok(Signalling {
                    local,
                    peer: Peer {
                        addr: target,
                        transport: Transport::Tcp,
                    },
                    udp: None,
                    tcp: Some(writer),
                    tcp_messages: rx,
                })
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        let sent = match (&self.udp, &mut self.tcp) {
            (Some(udp), _) => udp.send(bytes).await.map(|_| ()),
            (None, Some(tcp)) => tcp.write_all(bytes).await,
            (None, None) => Ok(()),
        };
        if let Err(error) = sent {
            tracing::warn!(%error, "test caller: SIP send failed");
        }
    }

    async fn receive(&mut self, buf: &mut [u8]) -> Option<Vec<u8>> {
        match &self.udp {
            Some(udp) => udp.recv(buf).await.ok().map(|n| buf[..n].to_vec()),
            None => self.tcp_messages.recv().await,
        }
    }
}

/// Loopback when calling loopback, else any address of the same family.
fn local_ip_for(target: IpAddr) -> IpAddr {
    match target {
        ip if ip.is_loopback() => ip,
        IpAddr::V4(_) => IpAddr::from([0, 0, 0, 0]),
        IpAddr::V6(_) => IpAddr::from([0u16; 8]),
    }
}

async fn read_framed(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    messages: mpsc::UnboundedSender<Vec<u8>>,
) {
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 8192];
    while let Ok(n @ 1..) = reader.read(&mut chunk).await {
        pending.extend_from_slice(&chunk[..n]);
        while let Some(length) = framed_length(&pending) {
            let message: Vec<u8> = pending.drain(..length).collect();
            if messages.send(message).is_err() {
                return;
            }
        }
        if pending.len() > MAX_MESSAGE {
            return tracing::warn!("test caller: unframed SIP over TCP; closing");
        }
    }
}

enum Wake {
    Sip(Option<Vec<u8>>),
    Rtp(Vec<u8>),
    Frame,
    /// A packet delayed on the (simulated) network arrives.
    Delivery,
    Timer,
    GiveUp,
}

struct Session<F: FnMut(f64, &Happened)> {
    call: OutboundCall,
    signalling: Signalling,
    media_socket: Option<UdpSocket>,
    leg: Option<Leg>,
    audio: Vec<f32>,
    dtmf: Vec<(Duration, char)>,
    start: Instant,
    answered_at: Option<Instant>,
    /// Frames sent since the answer.
    frames: u64,
    /// The key press being sent: its payloads, and how many went out.
    key: Option<(Vec<[u8; 4]>, usize)>,
    network: Network,
    give_up_at: Instant,
    report: CallReport,
    on_event: F,
}

impl<F: FnMut(f64, &Happened)> Session<F> {
    fn new(
        dial: &Dial,
        audio: Vec<f32>,
        signalling: Signalling,
        media: UdpSocket,
        local_media: SocketAddr,
        on_event: F,
    ) -> Result<Session<F>, DialError> {
        let mut call = OutboundCall::new(
            Duration::ZERO,
            signalling.local,
            &dial.target,
            signalling.peer,
            (&dial.from, dial.asserted),
            local_media,
        )?;
        call.set_refer_answer(dial.on_refer);
        let start = Instant::now();
        Ok(Session {
            call,
            signalling,
            media_socket: Some(media),
            leg: None,
            audio,
            dtmf: dial.dtmf.clone(),
            start,
            answered_at: None,
            frames: 0,
            key: None,
            network: Network::new(dial.faults.clone()),
            give_up_at: start + ANSWER_WAIT,
            report: CallReport::default(),
            on_event,
        })
    }

    async fn run(&mut self) {
        let mut sip_buf = vec![0u8; MAX_MESSAGE];
        loop {
            self.flush().await;
            if self.call.is_ended() {
                return;
            }
            match self.wait(&mut sip_buf).await {
                Wake::Sip(Some(bytes)) => self.call.handle_datagram(self.now(), &bytes),
                Wake::Sip(None) => return self.happened(Happened::Lost),
                Wake::Rtp(packet) => self.on_rtp(&packet),
                Wake::Frame => self.on_frame().await,
                Wake::Delivery => self.deliver().await,
                Wake::Timer => self.call.handle_timeout(self.now()),
                Wake::GiveUp => return self.happened(Happened::NoAnswer),
            }
        }
    }

    async fn wait(&mut self, sip_buf: &mut [u8]) -> Wake {
        let mut rtp_buf = [0u8; 2048];
        let timer = self
            .call
            .next_timeout()
            .and_then(|at| self.start.checked_add(at));
        let next_frame = self
            .answered_at
            .map(|at| at + PACKET_TIME * u32::try_from(self.frames).unwrap_or(u32::MAX));
        let rtp = self.leg.as_mut();
        let delivery = self
            .network
            .next_due()
            .and_then(|at| self.start.checked_add(at));
        tokio::select! {
            bytes = self.signalling.receive(sip_buf) => Wake::Sip(bytes),
            received = recv_optional(rtp, &mut rtp_buf) => Wake::Rtp(received),
            _ = sleep_until(next_frame.unwrap_or(self.give_up_at)), if next_frame.is_some() => Wake::Frame,
            _ = sleep_until(delivery.unwrap_or(self.give_up_at)), if delivery.is_some() => Wake::Delivery,
            _ = sleep_until(timer.unwrap_or(self.give_up_at)), if timer.is_some() => Wake::Timer,
            _ = sleep_until(self.give_up_at) => Wake::GiveUp,
        }
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Seconds since the answer (playback time).
    fn call_time(&self) -> f64 {
        self.answered_at
            .map_or(0.0, |at| at.elapsed().as_secs_f64())
    }

    async fn flush(&mut self) {
        while let Some(bytes) = self.call.poll_transmit() {
            self.signalling.send(&bytes).await;
        }
        while let Some(event) = self.call.poll_event() {
            self.on_call_event(event);
        }
        while let Some(bytes) = self.call.poll_transmit() {
            self.signalling.send(&bytes).await;
        }
    }

    fn on_call_event(&mut self, event: CallerEvent) {
        match event {
            CallerEvent::Ringing => self.happened(Happened::Ringing),
            CallerEvent::Answered(media) => {
                let now = Instant::now();
                self.answered_at = Some(now);
                // Past the answer the recording's length bounds the call.
                self.give_up_at = now + self.playback_length() + BYE_WAIT * 2;
                if let Some(socket) = self.media_socket.take() {
                    self.leg = Some(Leg::new(MediaPort::Udp(socket), &media));
                }
                self.happened(Happened::Answered {
                    codec: media.codec.name(),
                });
            }
            CallerEvent::Failed(code) => self.happened(Happened::Failed { code }),
            CallerEvent::Referred { target } => self.happened(Happened::Referred { target }),
            CallerEvent::Ended { by_remote } => self.happened(Happened::HungUp {
                by_gateway: by_remote,
            }),
        }
    }

    fn playback_length(&self) -> Duration {
        Duration::from_secs_f64(self.audio.len() as f64 / 8000.0)
    }

    fn happened(&mut self, happened: Happened) {
        let at = self.call_time();
        self.report.record(at, &happened);
        (self.on_event)(at, &happened);
    }

    fn on_rtp(&mut self, packet: &[u8]) {
        let Some(leg) = self.leg.as_mut() else {
            return;
        };
        let Ok(rtp) = parse_rtp(packet) else {
            return;
        };
        if rtp.payload_type != leg.payload_type {
            return;
        }
        let samples = decode(leg.codec, rtp.payload);
        if level_db(&samples) >= PROMPT_LEVEL_DB {
            self.report.prompt_audio += Duration::from_secs_f64(samples.len() as f64 / 8000.0);
        }
    }

    /// Every 20 ms from the answer: the next frame of the recording, or of a
    /// key press; after the last frame, the BYE.
    async fn on_frame(&mut self) {
        let at = PACKET_TIME * u32::try_from(self.frames).unwrap_or(u32::MAX);
        let offset = self.frames as usize * FRAME_SAMPLES;
        self.frames += 1;
        if offset >= self.audio.len() {
            if !std::mem::replace(&mut self.report.played_out, true) {
                self.call.hang_up(self.now());
            }
            return;
        }
        self.start_due_key(at);
        let Some(leg) = self.leg.as_mut() else {
            return;
        };
        if self.network.restarts_at(at) {
            leg.restart_stream();
        }
        let packet = match self.key.as_mut() {
            Some((payloads, sent)) => {
                let payload = payloads[*sent];
                let pt = leg.telephone_event.unwrap_or(101);
                let packet = leg.event_packet(pt, &payload, *sent == 0);
                *sent += 1;
                if *sent == payloads.len() {
                    leg.end_event(payloads.len());
                    self.key = None;
                }
                packet
            }
            None => {
                let end = (offset + FRAME_SAMPLES).min(self.audio.len());
                leg.frame_packet(&self.audio[offset..end])
            }
        };
        if !self.network.stopped(at) {
            self.network.send(self.now(), packet);
            self.deliver().await;
        }
    }

    /// Sends the packets the network has delivered by now.
    async fn deliver(&mut self) {
        let now = self.now();
        while let Some(packet) = self.network.poll_due(now) {
            if let Some(leg) = self.leg.as_ref() {
                leg.send_packet(&packet).await;
            }
        }
    }

    fn start_due_key(&mut self, at: Duration) {
        if self.key.is_some() || self.dtmf.first().map_or(true, |(key_at, _)| *key_at > at) {
            return;
        }
        let (_, digit) = self.dtmf.remove(0);
        if self
            .leg
            .as_ref()
            .is_some_and(|leg| leg.telephone_event.is_none())
        {
            tracing::warn!(%digit, "the answer has no telephone-event: the key is sent as payload type 101 anyway");
        }
        if let Some(payloads) = key_press_payloads(digit, KEY_FRAMES) {
            self.key = Some((payloads, 0));
            self.happened(Happened::Pressed { digit });
        }
    }
}

async fn recv_optional(leg: Option<&mut Leg>, buf: &mut [u8]) -> Vec<u8> {
    match leg {
        Some(leg) => match leg.recv(buf).await {
            Ok((n, _)) => buf[..n].to_vec(),
            Err(_) => Vec::new(),
        },
        None => std::future::pending().await,
    }
}
