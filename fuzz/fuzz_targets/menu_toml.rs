#![no_main]
// See voicegate::fuzz::menu_toml for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| voicegate::fuzz::menu_toml(data));
