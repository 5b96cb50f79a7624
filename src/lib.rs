//! voicegate: an IVR voice gateway that hands callers to a human when they are
//! angry, ask for a person, or are stuck in the menus.
//!
//! The call engine ([`engine`]) is sans-IO: live calls and replay drive the same
//! state machine with timestamped inputs, so a decision seen in replay is the
//! decision a live caller gets.

pub mod audio;
pub mod callcore;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod dialer;
pub mod dtmf;
pub mod engine;
pub mod fuzz;
pub mod infer;
pub mod menu;
pub mod metrics;
pub mod models;
pub mod paths;
pub mod queues;
pub mod recording;
pub mod replay;
pub mod rtp;
pub mod serve;
pub mod sip;
pub mod source;
pub mod store;
