//! One live call as a task: a thin tokio clock around the call core. The
//! caller's RTP goes through the jitter buffer into the core at playout
//! time; the core's windows go to the inference threads and their answers
//! back; its prompts go out as 20 ms packets on absolute deadlines; its
//! commands go to signalling; its events go to the sinks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::{sleep_until, Instant};

use super::agents::{AgentMedia, AgentNews};
use super::media::{decode, Leg, MediaPort};
use super::queues::LineTicket;
use super::scorer::Scored;
use super::webrtc::BrowserPeer;
use super::Shared;
use crate::audio::FRAME_SAMPLES;
use crate::callcore::{
    agent_page_queue, CallCore, CallerId, Command, CoreInput, CoreOutput, CoreSetup, EndedBy,
    HandoffReport, Model, Sinks,
};
use crate::engine::Input;
use crate::queues::Place;
use crate::recording::CallRecording;
use crate::rtp::{parse_rtp, DtmfDetector, JitterBuffer, Playout, PACKET_TIME};
use crate::sip::{AgentState, EndReason, Negotiated, ReferProgress};
use crate::store::recording_path;

/// A frame when no prompt plays.
static SILENCE: [f32; FRAME_SAMPLES] = [0.0; FRAME_SAMPLES];
/// Packets a late frame takes from the socket before playing (a second's worth).
const TAKEN_PER_FRAME_AT_MOST: usize = 50;

/// An answered call, handed over by signalling.
pub struct CallSetup {
    pub id: String,
    pub who: CallerId,
    pub media: Negotiated,
    pub port: MediaPort,
}

/// From signalling to a call.
#[derive(Debug)]
pub enum ToCall {
    Dtmf(char),
    Media(Negotiated),
    Refer(ReferProgress),
    Agent(AgentState),
    Ended(EndReason),
}

/// From a call to signalling.
#[derive(Debug)]
pub enum ToSignalling {
    Refer {
        call: String,
        target: String,
    },
    CallAgent {
        call: String,
        target: String,
        local_media: SocketAddr,
    },
    HangUp {
        call: String,
    },
    HangUpAgent {
        call: String,
    },
    Finished {
        call: String,
    },
}

/// The agent's leg while the call is handed over by voicegate itself.
enum AgentLeg {
    None,
    /// Calling the agent: the port its media comes in by (a SIP agent's
    /// socket from the start, an agent page's once it answers) and the
    /// answer's media once it came.
    Calling(Option<MediaPort>, Option<Negotiated>),
    Bridged(Leg),
}

/// What woke the call up.
enum Wake {
    CallerRtp(Vec<u8>, SocketAddr),
    AgentRtp(Vec<u8>, SocketAddr),
    Frame,
    Timeout,
    Signal(Option<ToCall>),
    Scored(Scored),
    Place(Place),
    /// From the desk of agents who answer in the browser.
    Desk(AgentNews),
    /// The CRM's answer: the caller is a VIP.
    Vip,
    /// A receive failed (an ICMP error from an earlier send, on some
    /// systems): nothing happened on the call, and no time is due.
    SocketError(std::io::Error),
}

pub struct LiveCall {
    id: String,
    shared: Arc<Shared>,
    to_signalling: UnboundedSender<ToSignalling>,
    inbox: UnboundedReceiver<ToCall>,
    start: Instant,
    core: CallCore,
    sinks: Sinks,
    leg: Leg,
    agent: AgentLeg,
    /// An agent page's connection, held while it is the agent.
    agent_page: Option<BrowserPeer>,
    desk_tx: UnboundedSender<AgentNews>,
    desk_rx: UnboundedReceiver<AgentNews>,
    jitter: JitterBuffer,
    dtmf: DtmfDetector,
    frames: u64,
    /// Caller samples due for playout, and the size of the caller's packets.
    playout_due: usize,
    packet_samples: usize,
    scored_tx: UnboundedSender<Scored>,
    scored_rx: UnboundedReceiver<Scored>,
    /// In the line of callers waiting for an agent, and its news.
    line: Option<LineTicket>,
    place_tx: UnboundedSender<Place>,
    place_rx: UnboundedReceiver<Place>,
    /// The CRM lookup's answer, once.
    vip_rx: UnboundedReceiver<bool>,
    /// When the last RTP packet to the caller went out (pacing metric).
    last_sent: Option<Instant>,
    recording: Option<CallRecording>,
}

impl LiveCall {
    pub fn new(
        setup: CallSetup,
        shared: Arc<Shared>,
        to_signalling: UnboundedSender<ToSignalling>,
        inbox: UnboundedReceiver<ToCall>,
    ) -> LiveCall {
        // Call time 0 is the answer: taken before building the call's parts.
        let start = Instant::now();
        let vip_rx = look_up_vip(&shared, &setup.who);
        let core_setup = CoreSetup {
            engine: shared.engine.clone(),
            menu: shared.menu.clone(),
            caller: setup.who,
            started: SystemTime::now(),
            prompt_lengths: shared.prompt_lengths.clone(),
            queues: shared.queues.clone(),
            handoff: shared.handoff.clone(),
            inactivity: Some(Duration::from_secs_f64(shared.rtp.inactivity_s)),
            notice: shared.notice.clone(),
        };
        let mut core = CallCore::new(core_setup, Some(shared.front_end()));
        if setup.media.on_hold() {
            core.handle_input(Duration::ZERO, CoreInput::Hold(true));
        }
        let (scored_tx, scored_rx) = mpsc::unbounded_channel();
        let (place_tx, place_rx) = mpsc::unbounded_channel();
        let (desk_tx, desk_rx) = mpsc::unbounded_channel();
        let recording = shared.recordings.as_ref().and_then(|dir| {
            let metrics = shared.metrics.clone();
            let on_failure = Box::new(move || metrics.count_error("recording"));
            CallRecording::create(&recording_path(dir, &setup.id), on_failure)
        });
        LiveCall {
            sinks: Sinks::new(Some(setup.id.clone()), shared.sinks.clone()),
            jitter: JitterBuffer::new(shared.rtp.jitter_packets),
            leg: Leg::new(setup.port, &setup.media),
            id: setup.id,
            shared,
            to_signalling,
            inbox,
            start,
            core,
            agent: AgentLeg::None,
            agent_page: None,
            desk_tx,
            desk_rx,
            dtmf: DtmfDetector::default(),
            frames: 0,
            playout_due: 0,
            packet_samples: FRAME_SAMPLES,
            scored_tx,
            scored_rx,
            line: None,
            place_tx,
            place_rx,
            vip_rx,
            last_sent: None,
            recording,
        }
    }

    /// Runs the call until signalling says it has ended, then publishes its summary.
    pub async fn run(mut self) {
        self.drain().await;
        loop {
            match self.wait().await {
                Wake::Signal(Some(ToCall::Ended(how))) => {
                    let now = self.now();
                    self.core.handle_input(now, CoreInput::Ended(ended_by(how)));
                    break;
                }
                Wake::Signal(None) => break,
                wake => self.on_wake(wake).await,
            }
            self.drain().await;
        }
        let now = self.now();
        self.core.finish(now);
        self.drain().await;
        self.shared.agent_desk.call_over(&self.id);
        self.shared
            .metrics
            .observe_caller_jitter(self.jitter.stats());
        if let Some(recording) = self.recording.take() {
            recording.finish();
        }
        tracing::info!(
            call = %self.id,
            jitter = ?self.jitter.stats(),
            foreign_rtp = self.leg.foreign_packets(),
            voiced_s = self.core.voiced().as_secs_f64(),
            "call ended"
        );
        self.signal(ToSignalling::Finished {
            call: self.id.clone(),
        });
    }

    async fn wait(&mut self) -> Wake {
        let mut caller_buf = [0u8; 2048];
        let mut agent_buf = [0u8; 2048];
        let next_frame = self.start + self.frame_time(self.frames);
        // A deadline past what the clock can hold is never.
        let timeout = self
            .core
            .next_timeout()
            .and_then(|at| self.start.checked_add(at));
        let agent = match &mut self.agent {
            AgentLeg::Bridged(agent) => Some(agent),
            _ => None,
        };
        tokio::select! {
            received = self.leg.recv(&mut caller_buf) => match received {
                Ok((n, from)) => Wake::CallerRtp(caller_buf[..n].to_vec(), from),
                Err(error) => Wake::SocketError(error),
            },
            received = recv_from_optional(agent, &mut agent_buf) => match received {
                Ok((n, from)) => Wake::AgentRtp(agent_buf[..n].to_vec(), from),
                Err(error) => Wake::SocketError(error),
            },
            _ = sleep_until(next_frame) => Wake::Frame,
            _ = sleep_until(timeout.unwrap_or(next_frame)), if timeout.is_some() => Wake::Timeout,
            message = self.inbox.recv() => Wake::Signal(message),
            Some(scored) = self.scored_rx.recv() => Wake::Scored(scored),
            Some(place) = self.place_rx.recv() => Wake::Place(place),
            Some(news) = self.desk_rx.recv() => Wake::Desk(news),
            Some(true) = self.vip_rx.recv() => Wake::Vip,
        }
    }

    async fn on_wake(&mut self, wake: Wake) {
        let now = self.now();
        match wake {
            Wake::CallerRtp(packet, from) => self.on_caller_rtp(&packet, from).await,
            Wake::AgentRtp(packet, from) => self.on_agent_rtp(&packet, from).await,
            Wake::Frame => self.on_frame().await,
            Wake::Timeout => self.core.handle_timeout(now),
            Wake::Signal(Some(message)) => self.on_signal(now, message),
            Wake::Signal(None) => {}
            Wake::SocketError(error) => {
                tracing::debug!(call = %self.id, %error, "RTP receive failed");
            }
            Wake::Scored(scored) => self.core.handle_input(
                now,
                CoreInput::Scored {
                    token: scored.token,
                    row: scored.row,
                },
            ),
            Wake::Vip => {
                let vip = Input::Vip {
                    source: "crm".into(),
                };
                self.core.handle_input(now, CoreInput::Engine(vip));
            }
            Wake::Place(place) => self
                .core
                .handle_input(now, CoreInput::Handoff(HandoffReport::Place(place))),
            Wake::Desk(news) => {
                let report = self.on_desk(news);
                self.core.handle_input(now, CoreInput::Handoff(report));
            }
        }
    }

    /// Call time.
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn frame_time(&self, frame: u64) -> Duration {
        PACKET_TIME * u32::try_from(frame).unwrap_or(u32::MAX)
    }

    /// Carries out what the core asked for.
    async fn drain(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                CoreOutput::Score(job) => {
                    let scorer = match job.model {
                        Model::Anger => &self.shared.anger_scorer,
                        Model::Keyword => &self.shared.keyword_scorer,
                    };
                    scorer.submit(job.samples, job.token, self.scored_tx.clone());
                }
                CoreOutput::Event(event) => self.sinks.publish(&event),
                CoreOutput::Command(command) => self.execute(command).await,
            }
        }
    }

    async fn execute(&mut self, command: Command) {
        let call = self.id.clone();
        match command {
            Command::Refer { uri } => {
                tracing::info!(%call, %uri, "transfer by REFER");
                self.signal(ToSignalling::Refer { call, target: uri });
            }
            Command::CallAgent { uri } => self.call_agent(uri).await,
            Command::Bridge => self.bridge(),
            Command::HangUpAgent => {
                self.agent = AgentLeg::None;
                self.let_agent_page_go();
                self.signal(ToSignalling::HangUpAgent { call });
            }
            Command::HangUp => self.signal(ToSignalling::HangUp { call }),
            Command::JoinQueue { queue, priority } => {
                let board = &self.shared.queue_board;
                self.line = Some(board.join(&queue, priority, self.place_tx.clone()));
            }
            Command::LeaveQueue => {
                if let Some(ticket) = self.line.take() {
                    ticket.served();
                }
            }
        }
    }

    async fn call_agent(&mut self, target: String) {
        if let Some(queue) = agent_page_queue(&target) {
            return self.ring_agent_page(queue.to_string());
        }
        match self.shared.ports.bind().await {
            Ok((local_media, socket)) => {
                self.agent = AgentLeg::Calling(Some(MediaPort::Udp(socket)), None);
                self.signal(ToSignalling::CallAgent {
                    call: self.id.clone(),
                    target,
                    local_media,
                });
            }
            Err(error) => {
                tracing::warn!(call = %self.id, %error, "no RTP port for the agent leg");
                let now = self.now();
                self.core
                    .handle_input(now, CoreInput::Handoff(HandoffReport::AgentFailed(0)));
            }
        }
    }

    /// Rings the agent pages of `queue`; with none free, the caller waits
    /// in line as for a SIP agent who does not answer.
    fn ring_agent_page(&mut self, queue: String) {
        let desk = &self.shared.agent_desk;
        if desk.ring(&queue, &self.id, self.desk_tx.clone()) {
            self.agent = AgentLeg::Calling(None, None);
        } else {
            tracing::info!(call = %self.id, %queue, "no agent page free");
            let now = self.now();
            let report = HandoffReport::AgentFailed(480);
            self.core.handle_input(now, CoreInput::Handoff(report));
        }
    }

    /// Frees the agent page, if the agent was one.
    fn let_agent_page_go(&mut self) {
        if self.agent_page.take().is_some() {
            self.shared.agent_desk.call_over(&self.id);
        }
    }

    fn bridge(&mut self) {
        let AgentLeg::Calling(Some(port), Some(media)) =
            std::mem::replace(&mut self.agent, AgentLeg::None)
        else {
            return;
        };
        self.agent = AgentLeg::Bridged(Leg::new(port, &media));
    }

    fn signal(&self, message: ToSignalling) {
        // Signalling outlives every call; a failed send means shutdown.
        let _ = self.to_signalling.send(message);
    }

    async fn on_caller_rtp(&mut self, packet: &[u8], from: SocketAddr) {
        if !self.leg.accepts(from) {
            return tracing::debug!(call = %self.id, %from, "RTP from another source; dropped");
        }
        let Ok(rtp) = parse_rtp(packet) else {
            return tracing::debug!(call = %self.id, %from, "not an RTP packet; dropped");
        };
        let now = self.now();
        self.core.handle_input(now, CoreInput::CallerPacket);
        if Some(rtp.payload_type) == self.leg.telephone_event {
            if let Some(digit) = self.dtmf.push(rtp.ssrc, rtp.timestamp, rtp.payload) {
                self.core.handle_input(now, CoreInput::Dtmf(digit));
            }
            return;
        }
        if rtp.payload_type != self.leg.payload_type {
            return; // comfort noise and other payloads carry no speech to score
        }
        let samples = decode(self.leg.codec, rtp.payload);
        match &mut self.agent {
            AgentLeg::Bridged(agent) => {
                agent.send_frame(&samples).await;
                if let Some(recording) = self.recording.as_mut() {
                    recording.caller(&samples);
                }
            }
            _ => self.jitter.push(rtp.ssrc, rtp.sequence, samples),
        }
    }

    async fn on_agent_rtp(&mut self, packet: &[u8], from: SocketAddr) {
        let AgentLeg::Bridged(agent) = &mut self.agent else {
            return;
        };
        if !agent.accepts(from) {
            return;
        }
        let Ok(rtp) = parse_rtp(packet) else {
            return;
        };
        if rtp.payload_type == agent.payload_type {
            let samples = decode(agent.codec, rtp.payload);
            self.leg.send_frame(&samples).await;
            if let Some(recording) = self.recording.as_mut() {
                recording.heard(&samples);
            }
        }
    }

    /// Every 20 ms: what fell due, one frame of the caller's audio to the
    /// core, and one frame of prompt (or silence) to the caller.
    async fn on_frame(&mut self) {
        let at = self.frame_time(self.frames);
        self.frames += 1;
        self.core.handle_timeout(at);
        if self.jitter.next_missing() {
            self.take_arrived_caller_packets().await;
        }
        self.play_out_caller(at);
        if matches!(self.agent, AgentLeg::Bridged(_)) {
            return;
        }
        // The prompt's frame as it is decoded in the shared library: no copy.
        let prompts = &self.shared.prompts;
        let frame = self
            .core
            .prompt_frame(at)
            .and_then(|due| prompts.frames(due.prompt)?.get(due.index))
            .map_or(&SILENCE[..], Vec::as_slice);
        self.leg.send_frame(frame).await;
        let sent = Instant::now();
        if let Some(previous) = self.last_sent.replace(sent) {
            let interval = sent.duration_since(previous).as_secs_f64();
            self.shared.metrics.observe_rtp_send_interval(interval);
        }
        if let Some(recording) = self.recording.as_mut() {
            recording.heard(frame);
        }
    }

    /// A task woken late (a busy machine) finds packet times overdue and the
    /// caller's packets waiting at the socket at once; the packets must go
    /// into the jitter buffer before it plays the overdue times, or catching
    /// up conceals audio that had arrived and then drops it as late. At most
    /// a second of packets, so that a flood cannot hold the frame back.
    async fn take_arrived_caller_packets(&mut self) {
        let mut buf = [0u8; 2048];
        for _ in 0..TAKEN_PER_FRAME_AT_MOST {
            let Some((n, from)) = self.leg.try_recv(&mut buf) else {
                return;
            };
            self.on_caller_rtp(&buf[..n], from).await;
        }
    }

    /// Takes the caller's packets out of the jitter buffer at the rate they
    /// play: one 20 ms packet per tick, two 30 ms packets every three ticks
    /// (the caller's ptime need not be ours).
    fn play_out_caller(&mut self, at: Duration) {
        self.playout_due += FRAME_SAMPLES;
        while self.playout_due >= self.packet_samples {
            let Some(Playout::Audio(frame) | Playout::Concealed(frame)) = self.jitter.pop() else {
                self.playout_due = 0;
                return;
            };
            self.packet_samples = frame.len().clamp(FRAME_SAMPLES / 2, FRAME_SAMPLES * 4);
            self.playout_due = self.playout_due.saturating_sub(frame.len());
            self.core.handle_audio(at, &frame);
            if let Some(recording) = self.recording.as_mut() {
                recording.caller(&frame);
            }
        }
    }

    fn on_signal(&mut self, now: Duration, message: ToCall) {
        let input = match message {
            ToCall::Dtmf(digit) => CoreInput::Dtmf(digit),
            ToCall::Media(media) => {
                self.leg.renegotiate(&media);
                tracing::info!(call = %self.id, on_hold = media.on_hold(), "media changed");
                CoreInput::Hold(media.on_hold())
            }
            ToCall::Refer(progress) => CoreInput::Handoff(match progress {
                ReferProgress::Accepted => HandoffReport::ReferAccepted,
                ReferProgress::Refused(code) => HandoffReport::ReferRefused(code),
                ReferProgress::Completed(code) => HandoffReport::ReferCompleted(code),
            }),
            ToCall::Agent(state) => CoreInput::Handoff(self.on_agent(state)),
            ToCall::Ended(how) => CoreInput::Ended(ended_by(how)),
        };
        self.core.handle_input(now, input);
    }

    /// The agent page's answer is a SIP agent's 200 with its media.
    fn on_desk(&mut self, news: AgentNews) -> HandoffReport {
        match news {
            AgentNews::Answered(answer) => {
                let AgentMedia { port, media, peer } = *answer;
                self.agent_page = Some(peer);
                self.agent = AgentLeg::Calling(Some(port), Some(media));
                HandoffReport::AgentAnswered
            }
            AgentNews::Failed(code) => self.on_agent(AgentState::Failed(code)),
            AgentNews::HungUp => self.on_agent(AgentState::HungUp),
        }
    }

    /// Keeps the agent's media for the bridge the core may ask for.
    fn on_agent(&mut self, state: AgentState) -> HandoffReport {
        match state {
            AgentState::Answered(media) => {
                if let AgentLeg::Calling(_, answer) = &mut self.agent {
                    *answer = Some(media);
                }
                HandoffReport::AgentAnswered
            }
            AgentState::Failed(code) => {
                tracing::warn!(call = %self.id, code, "agent unreachable: caller queued");
                self.agent = AgentLeg::None;
                self.agent_page = None;
                HandoffReport::AgentFailed(code)
            }
            AgentState::HungUp => HandoffReport::AgentHungUp,
        }
    }
}

/// Asks the CRM, off the async threads, whether a verified caller is a VIP
/// (a From header is anyone's to write: only an asserted identity is
/// looked up). A failed lookup is a warning, an error metric, and no VIP.
fn look_up_vip(shared: &Arc<Shared>, who: &CallerId) -> UnboundedReceiver<bool> {
    let (vip_tx, vip_rx) = mpsc::unbounded_channel();
    let Some(crm) = shared.crm.clone().filter(|_| who.verified) else {
        return vip_rx;
    };
    let (caller, metrics) = (who.caller.clone(), shared.metrics.clone());
    tokio::task::spawn_blocking(move || {
        let vip = crm.is_vip(&caller).unwrap_or_else(|error| {
            tracing::warn!(%error, "CRM lookup failed: the caller is not marked VIP");
            metrics.count_error("crm");
            false
        });
        let _ = vip_tx.send(vip);
    });
    vip_rx
}

fn ended_by(how: EndReason) -> EndedBy {
    match how {
        EndReason::Caller => EndedBy::Caller,
        EndReason::Gateway => EndedBy::Gateway,
        other => EndedBy::Signalling(other.as_str()),
    }
}

/// A receive on a leg that may not exist yet (pending forever if not).
async fn recv_from_optional(
    leg: Option<&mut Leg>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match leg {
        Some(leg) => leg.recv(buf).await,
        None => std::future::pending().await,
    }
}
