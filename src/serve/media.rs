//! One RTP stream of a call (the caller's, or an agent's while bridged):
//! its port, where to send, the codec, and outgoing sequence numbering.

use std::net::SocketAddr;
use std::os::fd::AsFd;

use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Receiver, Sender};

use crate::audio::g711::{alaw_decode, alaw_encode, mulaw_decode, mulaw_encode, to_f32, to_i16};
use crate::rtp::{Latch, RtpSender};
use crate::sip::{Codec, Negotiated};

/// Where a stream's RTP packets come from and go: a UDP socket of its own
/// (SIP calls, agents), or a browser's SRTP session, which hands over the
/// caller's packets decrypted and takes ours to encrypt (WebRTC calls).
/// The session's own task writes ours: the call never waits on the WebRTC
/// stack, so a stalled session costs packets, never the call's clock.
pub enum MediaPort {
    Udp(UdpSocket),
    WebRtc {
        incoming: Receiver<Vec<u8>>,
        outgoing: Sender<Vec<u8>>,
    },
}

impl MediaPort {
    /// The next packet and where it came from (for a browser, always the
    /// negotiated address: DTLS-SRTP already tied the packets to the peer).
    pub async fn recv(
        &mut self,
        buf: &mut [u8],
        peer: SocketAddr,
    ) -> std::io::Result<(usize, SocketAddr)> {
        match self {
            MediaPort::Udp(socket) => socket.recv_from(buf).await,
            MediaPort::WebRtc { incoming, .. } => match incoming.recv().await {
                Some(packet) => Ok((copy_packet(&packet, buf), peer)),
                // The browser's session is gone: nothing more will come.
                None => std::future::pending().await,
            },
        }
    }

    /// A packet that has already arrived, if any, without waiting. A
    /// receive error is left for [`MediaPort::recv`] to report.
    fn try_recv(&mut self, buf: &mut [u8], peer: SocketAddr) -> Option<(usize, SocketAddr)> {
        match self {
            // tokio's own try_recv_from believes the readiness its reactor
            // last saw: a task running on after a stall, before the reactor
            // has polled again, is told nothing is there while the kernel
            // holds a second of packets. A duplicate of the descriptor asks
            // the kernel (without blocking: the two share the non-blocking
            // flag). Only a frame whose packet is missing pays the dup.
            MediaPort::Udp(socket) => {
                let unwatched =
                    std::net::UdpSocket::from(socket.as_fd().try_clone_to_owned().ok()?);
                unwatched.recv_from(buf).ok()
            }
            MediaPort::WebRtc { incoming, .. } => {
                let packet = incoming.try_recv().ok()?;
                Some((copy_packet(&packet, buf), peer))
            }
        }
    }

    async fn send(&self, packet: &[u8], to: SocketAddr) -> Result<(), String> {
        match self {
            MediaPort::Udp(socket) => socket
                .send_to(packet, to)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            // A session that is behind loses this packet, as a congested
            // network would.
            MediaPort::WebRtc { outgoing, .. } => match outgoing.try_send(packet.to_vec()) {
                Ok(()) | Err(TrySendError::Full(_)) => Ok(()),
                Err(TrySendError::Closed(_)) => Err("the browser's session is closed".into()),
            },
        }
    }
}

/// Copies a packet into a receive buffer, cut to its length as a socket would.
fn copy_packet(packet: &[u8], buf: &mut [u8]) -> usize {
    let n = packet.len().min(buf.len());
    buf[..n].copy_from_slice(&packet[..n]);
    n
}

pub struct Leg {
    pub port: MediaPort,
    /// Whose packets count and where ours go (see [`Latch`]).
    latch: Latch,
    pub codec: Codec,
    pub payload_type: u8,
    pub telephone_event: Option<u8>,
    sender: RtpSender,
}

impl Leg {
    pub fn new(port: MediaPort, media: &Negotiated) -> Leg {
        Leg {
            port,
            latch: Latch::new(media.remote),
            codec: media.codec,
            payload_type: media.payload_type,
            telephone_event: media.telephone_event,
            sender: random_sender(media.payload_type),
        }
    }

    /// A re-INVITE's new media: the stream latches again on its address.
    pub fn renegotiate(&mut self, media: &Negotiated) {
        if media.remote.ip().is_unspecified() {
            return; // RFC 2543 hold (c=0.0.0.0): keep the address for the resume
        }
        self.latch.renegotiate(media.remote);
        if media.payload_type != self.payload_type {
            self.sender = random_sender(media.payload_type);
        }
        self.codec = media.codec;
        self.payload_type = media.payload_type;
        self.telephone_event = media.telephone_event;
    }

    /// The next packet from the stream's port.
    pub async fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        let peer = self.latch.remote();
        self.port.recv(buf, peer).await
    }

    /// A packet already waiting at the stream's port, if any.
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let peer = self.latch.remote();
        self.port.try_recv(buf, peer)
    }

    /// Whether a packet from `source` is the peer's (anything else is dropped).
    pub fn accepts(&mut self, source: SocketAddr) -> bool {
        self.latch.accept(source)
    }

    /// Packets dropped for coming from another source.
    pub fn foreign_packets(&self) -> u64 {
        self.latch.dropped()
    }

    /// One packet of an RFC 4733 key press, in place of an audio frame.
    pub fn event_packet(&mut self, payload_type: u8, payload: &[u8], first: bool) -> Vec<u8> {
        self.sender.event_packet(payload_type, payload, first)
    }

    /// A key press of `packets` packets is over: the audio timestamp moves on.
    pub fn end_event(&mut self, packets: usize) {
        for _ in 0..packets {
            self.sender.skip_frame();
        }
    }

    /// The stream starts again as a restarted phone's would: a new SSRC,
    /// sequence number and timestamp (RFC 3550 section 8.2).
    pub fn restart_stream(&mut self) {
        self.sender = random_sender(self.payload_type);
    }

    /// One frame of 8 kHz audio as the next RTP packet.
    pub fn frame_packet(&mut self, samples: &[f32]) -> Vec<u8> {
        self.sender.packet(&encode(self.codec, samples))
    }

    /// Sends one frame of 8 kHz audio.
    pub async fn send_frame(&mut self, samples: &[f32]) {
        let packet = self.frame_packet(samples);
        self.send_packet(&packet).await;
    }

    /// Sends a packet to the stream's peer.
    pub async fn send_packet(&self, packet: &[u8]) {
        if let Err(error) = self.port.send(packet, self.latch.remote()).await {
            tracing::debug!(%error, remote = %self.latch.remote(), "RTP send failed");
        }
    }
}

/// RFC 3550 section 5.1: random SSRC, sequence number and timestamp.
fn random_sender(payload_type: u8) -> RtpSender {
    RtpSender::new(
        fastrand::u32(..),
        payload_type,
        fastrand::u16(..),
        fastrand::u32(..),
    )
    .expect("negotiated payload types are 7-bit")
}

pub fn encode(codec: Codec, samples: &[f32]) -> Vec<u8> {
    let encode_one = match codec {
        Codec::Pcmu => mulaw_encode,
        Codec::Pcma => alaw_encode,
    };
    samples.iter().map(|s| encode_one(to_i16(*s))).collect()
}

pub fn decode(codec: Codec, payload: &[u8]) -> Vec<f32> {
    let decode_one = match codec {
        Codec::Pcmu => mulaw_decode,
        Codec::Pcma => alaw_decode,
    };
    payload.iter().map(|b| to_f32(decode_one(*b))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_codecs_round_trip_within_their_step() {
        let samples: Vec<f32> = (0..160).map(|i| ((i as f32) / 10.0).sin() * 0.5).collect();
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let back = decode(codec, &encode(codec, &samples));
            let worst = samples
                .iter()
                .zip(&back)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 0.02, "{codec:?}: {worst}");
        }
    }
}
