//! Outgoing RTP (RFC 3550 section 5.1): one packet per 20 ms frame, sequence
//! numbers counting up by one, the timestamp advancing by the samples sent
//! or skipped, and the marker bit on the first packet of each talkspurt
//! (RFC 3551 section 4.1). Built with rtp-rs; sans-IO.

use std::time::Duration;

use rtp_rs::{RtpPacketBuilder, Seq};

use crate::audio::FRAME_SAMPLES;

/// The spacing of packets.
pub const PACKET_TIME: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: u32,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    talkspurt_starts: bool,
}

impl RtpSender {
    /// Random initial sequence number and timestamp are the caller's job
    /// (RFC 3550 section 5.1 asks for them); tests pass fixed ones.
    /// `None` for a payload type that does not fit RTP's 7 bits.
    pub fn new(ssrc: u32, payload_type: u8, sequence: u16, timestamp: u32) -> Option<RtpSender> {
        (payload_type <= 127).then_some(RtpSender {
            ssrc,
            payload_type,
            sequence,
            timestamp,
            talkspurt_starts: true,
        })
    }

    /// The packet carrying one frame of G.711 bytes (one byte per sample).
    pub fn packet(&mut self, payload: &[u8]) -> Vec<u8> {
        let bytes = RtpPacketBuilder::new()
            .payload_type(self.payload_type)
            .ssrc(self.ssrc)
            .sequence(Seq::from(self.sequence))
            .timestamp(self.timestamp)
            .marked(self.talkspurt_starts)
            .payload(payload)
            .build()
            // The builder fails only for a payload type above 127 (refused in
            // `new`) or for padding, which is never asked for.
            .unwrap_or_default();
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(payload.len() as u32);
        self.talkspurt_starts = false;
        bytes
    }

    /// One telephone-event packet of a key press (RFC 4733 section 2.5.1):
    /// every packet of the press carries the timestamp of its start, the
    /// first has the marker bit. Call [`Self::skip_frame`] for each 20 ms
    /// the press lasted once it is over.
    pub fn event_packet(&mut self, payload_type: u8, payload: &[u8], first: bool) -> Vec<u8> {
        let bytes = RtpPacketBuilder::new()
            .payload_type(payload_type & 0x7f)
            .ssrc(self.ssrc)
            .sequence(Seq::from(self.sequence))
            .timestamp(self.timestamp)
            .marked(first)
            .payload(payload)
            .build()
            .unwrap_or_default();
        self.sequence = self.sequence.wrapping_add(1);
        bytes
    }

    /// Time passes without sending (silence between prompts): the timestamp
    /// keeps counting, and the next packet starts a talkspurt.
    pub fn skip_frame(&mut self) {
        self.timestamp = self.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        self.talkspurt_starts = true;
    }
}

/// When packet `n` of a stream started at `start` is due: absolute
/// deadlines, so scheduling delays never accumulate into drift.
pub fn send_time(start: Duration, n: u64) -> Duration {
    start + PACKET_TIME * u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::parse_rtp;

    #[test]
    fn packets_count_up_and_mark_each_talkspurt_start() {
        let mut sender = RtpSender::new(0x1234, 8, 65535, 1000).unwrap();
        assert!(
            RtpSender::new(1, 128, 0, 0).is_none(),
            "payload types are 7 bits"
        );
        let frame = [0xD5u8; 160];
        let first = sender.packet(&frame);
        let second = sender.packet(&frame);
        sender.skip_frame();
        let after_silence = sender.packet(&frame);
        let [a, b, c] = [&first, &second, &after_silence].map(|p| parse_rtp(p).unwrap());
        assert_eq!(
            (a.sequence, b.sequence, c.sequence),
            (65535, 0, 1),
            "wraps around"
        );
        assert_eq!(
            (a.timestamp, b.timestamp, c.timestamp),
            (1000, 1160, 1480),
            "skipped 160 samples"
        );
        assert_eq!((a.marker, b.marker, c.marker), (true, false, true));
        assert_eq!((a.payload_type, a.ssrc, a.payload.len()), (8, 0x1234, 160));
    }

    #[test]
    fn deadlines_are_absolute() {
        let start = Duration::from_millis(5);
        assert_eq!(send_time(start, 0), start);
        assert_eq!(send_time(start, 50), Duration::from_millis(1005));
        assert_eq!(
            send_time(start, 3_600 * 50),
            Duration::from_secs(3600) + start
        );
    }
}
