#![no_main]
// See voicegate::fuzz::gateway_toml for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| voicegate::fuzz::gateway_toml(data));
