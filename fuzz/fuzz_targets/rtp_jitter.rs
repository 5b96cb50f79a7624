#![no_main]
// See voicegate::fuzz::rtp_jitter for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| voicegate::fuzz::rtp_jitter(data));
