#![no_main]
// See voicegate::fuzz::rfc4733 for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| voicegate::fuzz::rfc4733(data));
