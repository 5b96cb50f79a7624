#![no_main]
// See voicegate::fuzz::audio_decoder for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| voicegate::fuzz::audio_decoder(data));
