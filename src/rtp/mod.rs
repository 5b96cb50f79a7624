//! RTP media for live calls: packet parsing and sending, the jitter buffer
//! and DTMF events (RFC 4733).
//! Sockets and pacing live in the call driver; these parts are sans-IO.

mod dtmf;
mod jitter;
mod latch;
mod packet;
mod sender;

pub use dtmf::{key_press_payloads, parse_event, DtmfDetector, TelephoneEvent};
pub use jitter::{JitterBuffer, JitterStats, Playout};
pub use latch::Latch;
pub use packet::{parse_rtp, RtpError, RtpPacket};
pub use sender::{send_time, RtpSender, PACKET_TIME};
