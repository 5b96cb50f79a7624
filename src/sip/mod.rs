//! SIP signalling for live calls. So far: strict message reading, responses
//! and SDP offer/answer.

mod message;
mod response;
mod sdp;

pub use self::sdp::{answer, negotiate, Codec, Direction, Negotiated, SdpError};
pub use message::{parse_message, Header, MessageError, SipMessage, StartLine};
pub use response::{response, ResponseParts, SERVER};
