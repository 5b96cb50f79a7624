//! Audio front end: decoding recordings, G.711, resampling to the call rate, VAD.
