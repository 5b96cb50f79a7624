#![no_main]
// See voicegate::fuzz::sdp for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| voicegate::fuzz::sdp(data));
