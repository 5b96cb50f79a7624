//! The browser's front door: a call from `/phone` over WebRTC into the same
//! call core as a SIP call. One HTTP exchange carries the JSEP offer and
//! answer (RFC 8829 section 5.1, no trickle: both sides gather their host
//! candidates first, RFC 8445 section 5.1.1.1); media is DTLS-SRTP (RFC
//! 5764) with PCMU (RFC 3551 section 4.5.14), which every browser offers,
//! so the caller's decrypted RTP reaches the call as a SIP caller's does,
//! and the call's packets go back the same way.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc::{self, Sender, UnboundedSender};
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MediaEngine, MIME_TYPE_PCMU};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{APIBuilder, API};
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtp_transceiver::rtp_codec::{
    RTCRtpCodecCapability, RTCRtpCodecParameters, RTPCodecType,
};
use webrtc::rtp_transceiver::rtp_sender::RTCRtpSender;
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;
use webrtc::track::track_local::TrackLocalWriter;
use webrtc::track::track_remote::TrackRemote;
use webrtc::util::Marshal;

use super::agents::{AgentDesk, AgentMedia, DeskError};
use super::call::CallSetup;
use super::media::MediaPort;
use crate::callcore::CallerId;
use crate::dashboard::LiveCalls;
use crate::sip::{Codec, Direction, EndReason, Negotiated};

/// PCMU's static payload type (RFC 3551 table 4), the one the call speaks.
const PCMU: u8 = 0;
/// The caller's packets held for a call that is behind (a second of audio).
const INCOMING_PACKETS: usize = 50;
/// The call's packets held for a session that is behind (a second of audio).
const OUTGOING_PACKETS: usize = 50;
/// How long the answer may wait for voicegate's own host candidates.
const GATHERING: Duration = Duration::from_secs(3);
/// A browser that has not connected by then never will: the call ends.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);
/// The ICE agent's silence before it calls the browser disconnected, and
/// how long a disconnected browser has to come back (a closed tab never does).
const DISCONNECTED_AFTER: Duration = Duration::from_secs(3);
const FAILED_AFTER: Duration = Duration::from_secs(4);

/// What the front door tells signalling.
pub enum FromBrowser {
    /// A browser's call is answered: its media is up to the call core now.
    Answered(Box<BrowserCall>),
    Dtmf {
        call: String,
        digit: char,
    },
    /// The page hung up, or its connection failed.
    Ended {
        call: String,
        how: EndReason,
    },
}

pub struct BrowserCall {
    pub setup: CallSetup,
    pub peer: BrowserPeer,
}

/// Signalling's hold on a browser call's connection; while it is kept the
/// call counts toward `http.max_browser_calls`.
pub struct BrowserPeer {
    connection: Arc<RTCPeerConnection>,
    up: Arc<AtomicUsize>,
}

impl BrowserPeer {
    /// Closes the connection (DTLS close_notify, RFC 5246 section 7.2.1).
    pub fn hang_up(&self) {
        let connection = self.connection.clone();
        tokio::spawn(async move {
            let _ = connection.close().await;
        });
    }
}

impl Drop for BrowserPeer {
    fn drop(&mut self) {
        self.hang_up();
        self.up.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DoorError {
    #[error("{0} browser calls are up (http.max_browser_calls): try again later")]
    Full(usize),
    #[error("the offer was refused: {0}; send the SDP of RTCPeerConnection.createOffer() with an audio track")]
    BadOffer(String),
    #[error(transparent)]
    NotRinging(#[from] DeskError),
    #[error("WebRTC failed: {0}")]
    Failed(String),
}

impl From<webrtc::Error> for DoorError {
    fn from(error: webrtc::Error) -> Self {
        DoorError::Failed(error.to_string())
    }
}

/// A browser call's answer.
pub struct Answer {
    pub call: String,
    pub sdp: String,
}

/// A browser connection answered, before the call or bridge takes it.
struct Connected {
    peer: BrowserPeer,
    port: MediaPort,
    sdp: String,
}

pub struct WebRtcDoor {
    api: API,
    to_signalling: UnboundedSender<FromBrowser>,
    up: Arc<AtomicUsize>,
    max_calls: usize,
    live: Arc<LiveCalls>,
}

impl WebRtcDoor {
    /// `loopback`: the page is served on loopback only, so the browser is
    /// on this machine and loopback candidates are the ones that work.
    pub fn new(
        to_signalling: UnboundedSender<FromBrowser>,
        max_calls: usize,
        loopback: bool,
        live: Arc<LiveCalls>,
    ) -> Result<WebRtcDoor, DoorError> {
        let mut media = MediaEngine::default();
        let pcmu = RTCRtpCodecParameters {
            capability: pcmu(),
            payload_type: PCMU,
            ..Default::default()
        };
        media.register_codec(pcmu, RTPCodecType::Audio)?;
        let interceptors = register_default_interceptors(Registry::new(), &mut media)?;
        let mut settings = SettingEngine::default();
        settings.set_include_loopback_candidate(loopback);
        settings.set_ice_timeouts(Some(DISCONNECTED_AFTER), Some(FAILED_AFTER), None);
        let api = APIBuilder::new()
            .with_media_engine(media)
            .with_interceptor_registry(interceptors)
            .with_setting_engine(settings)
            .build();
        Ok(WebRtcDoor {
            api,
            to_signalling,
            up: Arc::default(),
            max_calls,
            live,
        })
    }

    /// Answers a browser's offer and hands the call to signalling, which
    /// starts it as it starts an answered SIP call.
    pub async fn answer(
        &self,
        offer: String,
        caller: String,
        from: SocketAddr,
    ) -> Result<Answer, DoorError> {
        let call = format!("{:016x}@webrtc", fastrand::u64(..));
        let to_signalling = self.to_signalling.clone();
        let ended = call.clone();
        let on_end = move |how| {
            let call = ended.clone();
            let _ = to_signalling.send(FromBrowser::Ended { call, how });
        };
        let connected = self.connect(offer, &call, Arc::new(on_end)).await?;
        self.live.expect(&call, "webrtc");
        let setup = CallSetup {
            id: call.clone(),
            who: CallerId {
                caller,
                verified: false,
                dialed: "webrtc".into(),
                recent_calls: 0,
            },
            media: browser_media(from),
            port: connected.port,
        };
        let browser = BrowserCall {
            setup,
            peer: connected.peer,
        };
        self.to_signalling
            .send(FromBrowser::Answered(Box::new(browser)))
            .map_err(|_| DoorError::Failed("voicegate is stopping".into()))?;
        Ok(Answer {
            call,
            sdp: connected.sdp,
        })
    }

    /// Answers an agent page's offer for `call`, which the desk rang it
    /// with; the page's media goes to that call, which bridges it.
    pub async fn answer_agent(
        &self,
        offer: String,
        call: &str,
        from: SocketAddr,
        desk: &Arc<AgentDesk>,
    ) -> Result<String, DoorError> {
        if !desk.is_ringing(call) {
            return Err(DeskError::NotRinging(call.to_string()).into());
        }
        let (on_hang_up, ended) = (desk.clone(), call.to_string());
        let on_end = move |_| on_hang_up.hang_up(&ended);
        let connected = self.connect(offer, call, Arc::new(on_end)).await?;
        let media = AgentMedia {
            port: connected.port,
            media: browser_media(from),
            peer: connected.peer,
        };
        desk.answered(call, media)?;
        Ok(connected.sdp)
    }

    /// A connection answering `offer`, with its media as a call's port;
    /// `on_end` is told when it fails, closes or never connects.
    async fn connect(
        &self,
        offer: String,
        call: &str,
        on_end: Arc<dyn Fn(EndReason) + Send + Sync>,
    ) -> Result<Connected, DoorError> {
        let peer = self.reserve().await?;
        let connection = peer.connection.clone();
        let outgoing = Arc::new(TrackLocalStaticRTP::new(
            pcmu(),
            "voicegate".into(),
            "voicegate".into(),
        ));
        let sender = connection.add_track(outgoing.clone()).await?;
        tokio::spawn(drain_rtcp(sender));
        let (outgoing_tx, to_browser) = mpsc::channel(OUTGOING_PACKETS);
        tokio::spawn(write_out(outgoing, to_browser));
        let (incoming_tx, incoming) = mpsc::channel(INCOMING_PACKETS);
        let ending = Ending {
            on_end,
            call: call.to_string(),
        };
        let relayed = ending.clone();
        connection.on_track(Box::new(move |track, _, _| {
            tracing::debug!(call = %relayed.call, ssrc = track.ssrc(), "browser track");
            tokio::spawn(relay(track, incoming_tx.clone(), relayed.clone()));
            Box::pin(async {})
        }));
        watch(&connection, ending);
        let offer =
            RTCSessionDescription::offer(offer).map_err(|e| DoorError::BadOffer(e.to_string()))?;
        connection
            .set_remote_description(offer)
            .await
            .map_err(|e| DoorError::BadOffer(e.to_string()))?;
        let sdp = local_answer(&connection).await?;
        Ok(Connected {
            peer,
            port: MediaPort::WebRtc {
                incoming,
                outgoing: outgoing_tx,
            },
            sdp,
        })
    }

    /// A key pressed on the page of a call up.
    pub fn dtmf(&self, call: String, digit: char) {
        let _ = self.to_signalling.send(FromBrowser::Dtmf { call, digit });
    }

    /// The page's hang-up button.
    pub fn hang_up(&self, call: String) {
        let how = EndReason::Caller;
        let _ = self.to_signalling.send(FromBrowser::Ended { call, how });
    }

    /// A new connection, if a call may be taken.
    async fn reserve(&self) -> Result<BrowserPeer, DoorError> {
        let up = self.up.fetch_add(1, Ordering::Relaxed);
        let connecting = if up >= self.max_calls {
            Err(DoorError::Full(up))
        } else {
            let configuration = RTCConfiguration::default();
            let connection = self.api.new_peer_connection(configuration).await;
            connection.map_err(DoorError::from)
        };
        match connecting {
            Ok(connection) => Ok(BrowserPeer {
                connection: Arc::new(connection),
                up: self.up.clone(),
            }),
            Err(error) => {
                self.up.fetch_sub(1, Ordering::Relaxed);
                Err(error)
            }
        }
    }
}

/// Tells `on_end` when the connection fails, closes, stays disconnected
/// (a closed tab sends nothing more), or never connects.
fn watch(connection: &Arc<RTCPeerConnection>, ended: Ending) {
    let weak = Arc::downgrade(connection);
    let on_change = ended.clone();
    connection.on_peer_connection_state_change(Box::new(move |state| {
        tracing::debug!(call = %on_change.call, %state, "browser connection");
        match state {
            RTCPeerConnectionState::Failed => on_change.end(EndReason::MediaFailed),
            RTCPeerConnectionState::Closed => on_change.end(EndReason::Caller),
            RTCPeerConnectionState::Disconnected => {
                let still = [RTCPeerConnectionState::Disconnected];
                on_change.end_later(weak.clone(), FAILED_AFTER, &still);
            }
            _ => {}
        }
        Box::pin(async {})
    }));
    let never = [
        RTCPeerConnectionState::New,
        RTCPeerConnectionState::Connecting,
    ];
    ended.end_later(Arc::downgrade(connection), CONNECT_WITHIN, &never);
}

/// Tells the side that holds a browser connection that it is over.
#[derive(Clone)]
struct Ending {
    on_end: Arc<dyn Fn(EndReason) + Send + Sync>,
    call: String,
}

impl Ending {
    fn end(&self, how: EndReason) {
        tracing::info!(call = %self.call, how = how.as_str(), "browser connection over");
        (self.on_end)(how);
    }

    /// Ends the call after `wait` if its connection is then in one of `states`.
    fn end_later(
        &self,
        connection: Weak<RTCPeerConnection>,
        wait: Duration,
        states: &[RTCPeerConnectionState],
    ) {
        let (ending, states) = (self.clone(), states.to_vec());
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let state = connection.upgrade().map(|c| c.connection_state());
            if state.is_some_and(|state| states.contains(&state)) {
                ending.end(EndReason::MediaFailed);
            }
        });
    }
}

/// The answer with every host candidate in it (no trickle).
async fn local_answer(connection: &RTCPeerConnection) -> Result<String, DoorError> {
    let answer = connection.create_answer(None).await?;
    let mut gathered = connection.gathering_complete_promise().await;
    connection.set_local_description(answer).await?;
    let _ = tokio::time::timeout(GATHERING, gathered.recv()).await;
    connection
        .local_description()
        .await
        .map(|description| description.sdp)
        .ok_or_else(|| DoorError::Failed("no local description".into()))
}

fn pcmu() -> RTCRtpCodecCapability {
    RTCRtpCodecCapability {
        mime_type: MIME_TYPE_PCMU.to_owned(),
        clock_rate: 8000,
        ..Default::default()
    }
}

/// The call's view of a browser's media: PCMU both ways at 20 ms, keys by
/// the page's buttons rather than RFC 4733 events, the page's address as
/// the peer (DTLS-SRTP has already tied the packets to it).
fn browser_media(from: SocketAddr) -> Negotiated {
    Negotiated {
        codec: Codec::Pcmu,
        payload_type: PCMU,
        telephone_event: None,
        ptime_ms: 20,
        remote: from,
        direction: Direction::SendRecv,
    }
}

/// Consecutive failed reads after which a track counts as gone.
const READ_FAILURES: u32 = 50;
/// A page sends a packet every 20 ms while it is open (PCMU has no silence
/// suppression, a muted track still sends). This long without one, as long
/// as the ICE agent takes to call a connection failed, the page is gone
/// even if the agent never says so.
const SILENT_AFTER: Duration = Duration::from_secs(7);

/// The caller's packets, decrypted, to the call; dropped when the call is
/// a second behind, as a congested network would. The answer offered PCMU
/// alone, so that is what the browser sends. A packet that fails to read
/// costs that packet, not the rest of the call; none for [`SILENT_AFTER`]
/// ends the call.
async fn relay(track: Arc<TrackRemote>, packets: Sender<Vec<u8>>, ending: Ending) {
    let (mut failures, mut relayed) = (0, 0u64);
    loop {
        let Ok(read) = tokio::time::timeout(SILENT_AFTER, track.read_rtp()).await else {
            tracing::debug!(call = %ending.call, "no packet from the browser for {SILENT_AFTER:?}");
            ending.end(EndReason::MediaFailed);
            return;
        };
        let (mut packet, _) = match read {
            Ok(read) => read,
            Err(error) if failures < READ_FAILURES && !packets.is_closed() => {
                failures += 1;
                tracing::warn!(%error, "a browser's RTP packet could not be read; skipped");
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            Err(_) => return,
        };
        failures = 0;
        relayed += 1;
        if relayed == 1 {
            tracing::debug!(call = %ending.call, "the browser's first packet");
        }
        // The header extensions (audio level, transport-cc) are the
        // browser's business; the call reads plain RTP.
        packet.header.payload_type = PCMU;
        packet.header.extension = false;
        packet.header.extensions.clear();
        let Ok(bytes) = packet.marshal() else {
            continue;
        };
        if let Err(mpsc::error::TrySendError::Closed(_)) = packets.try_send(bytes.to_vec()) {
            return;
        }
    }
}

/// The call's packets into the browser's session until the call lets go;
/// one the session refuses (not yet up, or closing) is lost, not retried.
async fn write_out(track: Arc<TrackLocalStaticRTP>, mut packets: mpsc::Receiver<Vec<u8>>) {
    while let Some(packet) = packets.recv().await {
        if let Err(error) = track.write(&packet).await {
            tracing::debug!(%error, "a packet to the browser was not sent");
        }
    }
}

/// RTCP from the browser feeds the interceptors (NACK, reports); reading
/// it is what lets them run.
async fn drain_rtcp(sender: Arc<RTCRtpSender>) {
    let mut buf = vec![0u8; 1500];
    while sender.read(&mut buf).await.is_ok() {}
}
