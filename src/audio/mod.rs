//! Audio front end: decoding recordings, G.711, resampling to the call rate,
//! voice activity, model windows over voiced audio, anger scores and
//! keyword spotting.

mod anger_score;
mod decode;
pub mod g711;
mod keywords;
mod prompts;
mod resample;
mod vad;
mod windows;

pub use anger_score::AngerScorer;
pub use decode::{AudioError, ChannelPick, Recording};
pub use keywords::{Hit, KeywordDecider, KeywordWindow, KeywordWindows, Pause};
pub use prompts::{PromptError, PromptLibrary};
pub use resample::{ResampleError, Resampler};
pub use vad::{level_db, Vad, VadConfig};
pub use windows::{Smoother, VoicedWindows, Window};

/// The call path's sample rate: narrowband, as from a phone trunk.
pub const CALL_RATE: u32 = 8000;
/// Samples in one 20 ms RTP packet at the call rate.
pub const FRAME_SAMPLES: usize = 160;
