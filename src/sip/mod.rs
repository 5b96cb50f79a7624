//! SIP signalling for live calls. So far: SDP offer/answer.

mod sdp;

pub use self::sdp::{answer, negotiate, Codec, Direction, Negotiated, SdpError};
