//! One live call as a task: the caller's RTP through the jitter buffer into
//! the same front end replay uses (anger windows and model, smoothing,
//! keyword spotting) and into the same engine; the engine's actions executed:
//! prompts paced at 20 ms on absolute deadlines, transfers by REFER with a
//! bridge to the agent as fallback, hang-ups.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::time::{sleep_until, Instant};

use super::listener::{Heard, Listener};
use super::media::{decode, Leg};
use super::Shared;
use crate::audio::FRAME_SAMPLES;
use crate::engine::{Action, Call, Input, MenuStep, Transfer};
use crate::replay::{json_event, summarize, Logged, Step};
use crate::rtp::{parse_rtp, DtmfDetector, JitterBuffer, Playout, PACKET_TIME};
use crate::sip::{AgentState, EndReason, Negotiated, ReferProgress};

/// How long a REFER accepted by the phone may go without a final NOTIFY
/// before voicegate takes the transfer as done and leaves the call.
const NOTIFY_WAIT: Duration = Duration::from_secs(10);

/// An answered call, handed over by signalling.
pub struct CallSetup {
    pub id: String,
    pub caller: String,
    pub dialed: String,
    pub media: Negotiated,
    pub socket: UdpSocket,
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

/// Where the hand-over to a human stands.
enum Handoff {
    None,
    Referring {
        accepted_at: Option<Instant>,
    },
    /// Calling the agent from this socket.
    Calling(Option<UdpSocket>),
    Bridged(Leg),
    /// No agent reachable: the caller hears the sorry prompt and waits.
    Queued {
        retry_at: Instant,
    },
}

/// What woke the call up.
enum Wake {
    CallerRtp(Vec<u8>, SocketAddr),
    AgentRtp(Vec<u8>, SocketAddr),
    Frame,
    Deadline,
    Signal(Option<ToCall>),
    Heard(Heard),
}

pub struct LiveCall {
    id: String,
    caller: String,
    dialed: String,
    shared: Arc<Shared>,
    to_signalling: UnboundedSender<ToSignalling>,
    inbox: UnboundedReceiver<ToCall>,
    start: Instant,
    last_at: Duration,
    engine: Call,
    log: Vec<Logged>,
    leg: Leg,
    on_hold: bool,
    jitter: JitterBuffer,
    dtmf: DtmfDetector,
    listener: Listener,
    frames: u64,
    /// Caller samples due for playout, and the size of the caller's packets.
    playout_due: usize,
    packet_samples: usize,
    playing: VecDeque<String>,
    prompt_frame: usize,
    last_rtp: Instant,
    handoff: Handoff,
    transfer: Option<(Duration, Transfer, String)>,
    via: &'static str,
    ended_by: Option<&'static str>,
}

impl LiveCall {
    pub fn new(
        setup: CallSetup,
        shared: Arc<Shared>,
        to_signalling: UnboundedSender<ToSignalling>,
        inbox: UnboundedReceiver<ToCall>,
    ) -> LiveCall {
        let start = Instant::now();
        LiveCall {
            engine: Call::new(shared.engine.clone(), shared.menu.clone()),
            jitter: JitterBuffer::new(shared.rtp.jitter_packets),
            listener: Listener::new(shared.clone()),
            on_hold: setup.media.on_hold(),
            leg: Leg::new(setup.socket, &setup.media),
            id: setup.id,
            caller: setup.caller,
            dialed: setup.dialed,
            shared,
            to_signalling,
            inbox,
            start,
            last_at: Duration::ZERO,
            log: Vec::new(),
            dtmf: DtmfDetector::default(),
            frames: 0,
            playout_due: 0,
            packet_samples: FRAME_SAMPLES,
            playing: VecDeque::new(),
            prompt_frame: 0,
            last_rtp: start,
            handoff: Handoff::None,
            transfer: None,
            via: "refer",
            ended_by: None,
        }
    }

    /// Runs the call to its end, then prints its summary line.
    pub async fn run(mut self) {
        let started = Input::Started {
            caller: self.caller.clone(),
            dialed: self.dialed.clone(),
            recent_calls: 0,
        };
        self.feed(started);
        loop {
            match self.wait().await {
                Wake::Signal(Some(ToCall::Ended(how))) => {
                    self.on_ended(how);
                    break;
                }
                Wake::Signal(None) => break,
                wake => self.on_wake(wake).await,
            }
        }
        self.finish();
    }

    async fn wait(&mut self) -> Wake {
        let mut caller_buf = [0u8; 2048];
        let mut agent_buf = [0u8; 2048];
        let next_frame = self.start + PACKET_TIME * u32::try_from(self.frames).unwrap_or(u32::MAX);
        let deadline = self.engine.next_deadline().map(|at| self.start + at);
        let agent = match &self.handoff {
            Handoff::Bridged(agent) => Some(&agent.socket),
            _ => None,
        };
        tokio::select! {
            received = self.leg.socket.recv_from(&mut caller_buf) => match received {
                Ok((n, from)) => Wake::CallerRtp(caller_buf[..n].to_vec(), from),
                Err(_) => Wake::Frame,
            },
            received = recv_from_optional(agent, &mut agent_buf) => match received {
                Ok((n, from)) => Wake::AgentRtp(agent_buf[..n].to_vec(), from),
                Err(_) => Wake::Frame,
            },
            _ = sleep_until(next_frame) => Wake::Frame,
            _ = sleep_until(deadline.unwrap_or(next_frame)), if deadline.is_some() => Wake::Deadline,
            message = self.inbox.recv() => Wake::Signal(message),
            heard = self.listener.next() => Wake::Heard(heard),
        }
    }

    async fn on_wake(&mut self, wake: Wake) {
        match wake {
            Wake::CallerRtp(packet, from) => self.on_caller_rtp(&packet, from).await,
            Wake::AgentRtp(packet, from) => self.on_agent_rtp(&packet, from).await,
            Wake::Frame => self.on_frame().await,
            Wake::Deadline => self.feed(Input::Tick),
            Wake::Signal(Some(message)) => self.on_signal(message).await,
            Wake::Signal(None) => {}
            Wake::Heard(heard) => self.on_heard(heard),
        }
    }

    /// Call time, never going backwards.
    fn now(&mut self) -> Duration {
        self.last_at = self.last_at.max(self.start.elapsed());
        self.last_at
    }

    fn feed(&mut self, input: Input) {
        let at = self.now();
        if !matches!(input, Input::Tick | Input::PromptDone) {
            self.record(at, Step::Heard(input.clone()));
        }
        self.engine.handle(at, input);
        while let Some(action) = self.engine.poll_action() {
            self.record(at, Step::Did(action.clone()));
            self.execute(at, action);
        }
    }

    fn record(&mut self, at: Duration, step: Step) {
        let entry = Logged { at, step };
        if let Some(mut line) = json_event(&entry) {
            line["call_id"] = json!(self.id);
            self.shared.print(&line);
        }
        self.log.push(entry);
    }

    fn execute(&mut self, at: Duration, action: Action) {
        match action {
            Action::Play(prompt) => self.playing.push_back(prompt),
            Action::Transfer(transfer) => self.start_transfer(at, transfer),
            Action::HangUp { .. } => self.hang_up("gateway"),
            Action::Menu(_) | Action::StartRecording | Action::StopRecording => {}
        }
    }

    fn start_transfer(&mut self, at: Duration, transfer: Transfer) {
        let uri = self.shared.queue_uri(&transfer.target).to_string();
        self.stop_prompts();
        tracing::info!(call = %self.id, target = %transfer.target, %uri, reason = %transfer.reason, "transfer by REFER");
        self.handoff = Handoff::Referring { accepted_at: None };
        self.signal(ToSignalling::Refer {
            call: self.id.clone(),
            target: uri.clone(),
        });
        self.transfer = Some((at, transfer, uri));
    }

    fn hang_up(&mut self, by: &'static str) {
        if self.ended_by.is_none() {
            self.ended_by = Some(by);
            self.signal(ToSignalling::HangUp {
                call: self.id.clone(),
            });
        }
    }

    fn signal(&self, message: ToSignalling) {
        // Signalling outlives every call; a failed send means shutdown.
        let _ = self.to_signalling.send(message);
    }

    fn stop_prompts(&mut self) {
        self.playing.clear();
        self.prompt_frame = 0;
    }

    async fn on_caller_rtp(&mut self, packet: &[u8], from: SocketAddr) {
        let Ok(rtp) = parse_rtp(packet) else {
            return tracing::debug!(call = %self.id, %from, "not an RTP packet; dropped");
        };
        self.leg.heard_from(from);
        self.last_rtp = Instant::now();
        if Some(rtp.payload_type) == self.leg.telephone_event {
            if let Some(digit) = self.dtmf.push(rtp.ssrc, rtp.timestamp, rtp.payload) {
                self.on_digit(digit);
            }
            return;
        }
        if rtp.payload_type != self.leg.payload_type {
            return; // comfort noise and other payloads carry no speech to score
        }
        let samples = decode(self.leg.codec, rtp.payload);
        match &mut self.handoff {
            Handoff::Bridged(agent) => agent.send_frame(&samples).await,
            _ => self.jitter.push(rtp.ssrc, rtp.sequence, samples),
        }
    }

    async fn on_agent_rtp(&mut self, packet: &[u8], from: SocketAddr) {
        let Handoff::Bridged(agent) = &mut self.handoff else {
            return;
        };
        let Ok(rtp) = parse_rtp(packet) else {
            return;
        };
        agent.heard_from(from);
        if rtp.payload_type == agent.payload_type {
            let samples = decode(agent.codec, rtp.payload);
            self.leg.send_frame(&samples).await;
        }
    }

    fn on_digit(&mut self, digit: char) {
        // Barge-in: a key cuts the prompt short.
        self.stop_prompts();
        self.feed(Input::Dtmf(digit));
    }

    /// Every 20 ms: one frame of the caller's audio to the front end, one
    /// frame of prompt (or silence) to the caller, and the line checks.
    async fn on_frame(&mut self) {
        self.frames += 1;
        self.play_out_caller();
        if !matches!(self.handoff, Handoff::Bridged(_)) {
            let frame = self
                .next_prompt_frame()
                .unwrap_or_else(|| vec![0.0; FRAME_SAMPLES]);
            self.leg.send_frame(&frame).await;
        }
        self.check_line().await;
    }

    /// Takes the caller's packets out of the jitter buffer at the rate they
    /// play: one 20 ms packet per tick, two 30 ms packets every three ticks
    /// (the caller's ptime need not be ours).
    fn play_out_caller(&mut self) {
        self.playout_due += FRAME_SAMPLES;
        while self.playout_due >= self.packet_samples {
            let Some(Playout::Audio(frame) | Playout::Concealed(frame)) = self.jitter.pop() else {
                self.playout_due = 0;
                return;
            };
            self.packet_samples = frame.len().clamp(FRAME_SAMPLES / 2, FRAME_SAMPLES * 4);
            self.playout_due = self.playout_due.saturating_sub(frame.len());
            if self.listening() {
                self.listener.hear(&frame);
            }
        }
    }

    /// Scoring stops on hold and once the call is handed over.
    fn listening(&self) -> bool {
        !self.on_hold && matches!(self.handoff, Handoff::None)
    }

    fn next_prompt_frame(&mut self) -> Option<Vec<f32>> {
        loop {
            let name = self.playing.front()?.clone();
            let frames = self.shared.prompts.frames(&name).unwrap_or_default();
            if let Some(frame) = frames.get(self.prompt_frame) {
                self.prompt_frame += 1;
                return Some(frame.clone());
            }
            self.playing.pop_front();
            self.prompt_frame = 0;
            self.feed(Input::PromptDone);
        }
    }

    async fn check_line(&mut self) {
        let now = Instant::now();
        let silent_for = now.duration_since(self.last_rtp);
        let bridged = matches!(self.handoff, Handoff::Bridged(_));
        if !self.on_hold && !bridged && silent_for.as_secs_f64() > self.shared.rtp.inactivity_s {
            tracing::warn!(call = %self.id, seconds = silent_for.as_secs_f64(), "no RTP from the caller: hanging up");
            self.hang_up("timeout");
        }
        match self.handoff {
            Handoff::Referring {
                accepted_at: Some(at),
            } if now.duration_since(at) > NOTIFY_WAIT => self.hang_up("gateway"),
            Handoff::Queued { retry_at } if now >= retry_at => self.call_agent().await,
            _ => {}
        }
    }

    fn on_heard(&mut self, heard: Heard) {
        if !self.listening() {
            return;
        }
        match self.listener.input(heard, self.engine.awaits_choice()) {
            Some(keyword @ Input::Keyword { .. }) => {
                // Barge-in: a spoken choice cuts the prompt short, like a key.
                self.stop_prompts();
                self.feed(keyword);
            }
            Some(input) => self.feed(input),
            None => {}
        }
    }

    async fn on_signal(&mut self, message: ToCall) {
        match message {
            ToCall::Dtmf(digit) => self.on_digit(digit),
            ToCall::Media(media) => {
                self.on_hold = media.on_hold();
                self.leg.renegotiate(&media);
                tracing::info!(call = %self.id, on_hold = self.on_hold, "media changed");
            }
            ToCall::Refer(progress) => self.on_refer(progress).await,
            ToCall::Agent(state) => self.on_agent(state),
            ToCall::Ended(how) => self.on_ended(how),
        }
    }

    async fn on_refer(&mut self, progress: ReferProgress) {
        match progress {
            ReferProgress::Accepted => {
                self.handoff = Handoff::Referring {
                    accepted_at: Some(Instant::now()),
                }
            }
            ReferProgress::Completed(code) if (200..300).contains(&code) => self.hang_up("gateway"),
            ReferProgress::Completed(code) | ReferProgress::Refused(code) => {
                tracing::info!(call = %self.id, code, "REFER failed: bridging to the agent instead");
                self.via = "bridge";
                self.call_agent().await;
            }
        }
    }

    async fn call_agent(&mut self) {
        let Some((_, _, uri)) = &self.transfer else {
            return;
        };
        let target = uri.clone();
        match self.shared.ports.bind().await {
            Ok((local_media, socket)) => {
                self.handoff = Handoff::Calling(Some(socket));
                self.signal(ToSignalling::CallAgent {
                    call: self.id.clone(),
                    target,
                    local_media,
                });
            }
            Err(error) => {
                tracing::warn!(call = %self.id, %error, "no RTP port for the agent leg");
                self.queue_caller();
            }
        }
    }

    fn on_agent(&mut self, state: AgentState) {
        match state {
            AgentState::Answered(media) => {
                if let Handoff::Calling(socket) = &mut self.handoff {
                    if let Some(socket) = socket.take() {
                        self.stop_prompts();
                        self.via = "bridge";
                        self.handoff = Handoff::Bridged(Leg::new(socket, &media));
                        return;
                    }
                }
                // Answered after the caller left or was queued elsewhere: let it go.
                self.signal(ToSignalling::HangUpAgent {
                    call: self.id.clone(),
                });
            }
            AgentState::Failed(code) => {
                tracing::warn!(call = %self.id, code, "agent unreachable: caller queued");
                self.queue_caller();
            }
            AgentState::HungUp => self.hang_up("agent"),
        }
    }

    /// The agent could not be reached: say sorry, keep the caller, try again later.
    fn queue_caller(&mut self) {
        self.via = "queued";
        self.stop_prompts();
        self.playing
            .push_back(self.shared.transfer.sorry_prompt.clone());
        let retry = Duration::from_secs_f64(self.shared.transfer.retry_s);
        self.handoff = Handoff::Queued {
            retry_at: Instant::now() + retry,
        };
        let at = self.now();
        self.shared.print(&json!({
            "t": round_ms(at),
            "event": "queued",
            "prompt": self.shared.transfer.sorry_prompt,
            "retry_s": self.shared.transfer.retry_s,
            "call_id": self.id,
        }));
    }

    fn on_ended(&mut self, how: EndReason) {
        if how == EndReason::Caller && self.ended_by.is_none() {
            self.feed(Input::HungUp);
        }
        self.ended_by.get_or_insert(how.as_str());
    }

    fn finish(mut self) {
        let at = self.now();
        if !self
            .log
            .iter()
            .any(|e| matches!(e.step, Step::Heard(Input::HungUp)))
        {
            self.engine.handle(at, Input::HungUp);
        }
        let line = self.summary_line();
        tracing::info!(
            call = %self.id,
            caller = %self.caller,
            duration = line["duration"].as_f64(),
            hops = line["hops"].as_u64(),
            max_anger = line["max_anger"].as_f64(),
            transfer = %line["transfer"]["reason"],
            jitter = ?self.jitter.stats(),
            voiced_s = self.listener.voiced().as_secs_f64(),
            "call ended"
        );
        self.shared.print(&line);
        self.signal(ToSignalling::Finished {
            call: self.id.clone(),
        });
    }

    fn summary_line(&mut self) -> Value {
        let duration = self.now();
        let summary = summarize(&self.log);
        let hops = self
            .log
            .iter()
            .filter_map(|entry| match &entry.step {
                Step::Did(Action::Menu(
                    MenuStep::Entered { hops, .. } | MenuStep::Reached { hops, .. },
                )) => Some(*hops),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let transfer = self.transfer.as_ref().map(|(at, transfer, uri)| {
            json!({
                "t": round_ms(*at),
                "target": transfer.target,
                "reason": transfer.reason.as_str(),
                "priority": transfer.priority.as_str(),
                "uri": uri,
                "via": self.via,
            })
        });
        json!({
            "event": "call",
            "call_id": self.id,
            "caller": self.caller,
            "dialed": self.dialed,
            "duration": round_ms(duration),
            "hops": hops,
            "max_anger": summary.max_anger.map(|a| (f64::from(a) * 10.0).round() / 10.0),
            "transfer": transfer,
            "ended": self.ended_by.unwrap_or("caller"),
        })
    }
}

fn round_ms(at: Duration) -> f64 {
    (at.as_secs_f64() * 1000.0).round() / 1000.0
}

/// A receive on a socket that may not exist yet (pending forever if not).
async fn recv_from_optional(
    socket: Option<&UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(socket) => socket.recv_from(buf).await,
        None => std::future::pending().await,
    }
}
