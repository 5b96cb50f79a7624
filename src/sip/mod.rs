//! SIP signalling for live calls: a strict message reader, responses,
//! dialogs, UDP retransmission timers, SDP offer/answer, and the sans-IO
//! user agent that answers, transfers and bridges calls.

mod caller;
mod dialog;
mod digest;
mod headers;
mod message;
mod response;
mod sdp;
mod timers;
mod ua;

pub use self::sdp::{answer, negotiate, offer, Codec, Direction, Negotiated, SdpError};
pub use caller::{BadTarget, CallerEvent, OutboundCall, ReferAnswer};
pub use dialog::{Peer, Transport};
pub use headers::socket_addr as uri_socket_addr;
pub use message::{parse_message, Header, MessageError, SipMessage, StartLine};
pub use response::{response, ResponseParts, PRODUCT};
pub use ua::{
    AdmissionPolicy, AgentState, AuthPolicy, EndReason, ReferProgress, Registration, SipEvent,
    Transmit, Untrusted, UserAgent, DEFAULT_MAX_CALLS, DEFAULT_MAX_TRANSACTIONS,
};
