#![no_main]
// See voicegate::fuzz::sip_message for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| voicegate::fuzz::sip_message(data));
