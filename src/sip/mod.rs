//! SIP signalling for live calls. So far: strict message reading and SDP
//! offer/answer.

mod message;
mod sdp;

pub use self::sdp::{answer, negotiate, Codec, Direction, Negotiated, SdpError};
pub use message::{parse_message, Header, MessageError, SipMessage, StartLine};
