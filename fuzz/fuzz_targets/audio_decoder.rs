#![no_main]
// See voicegate::fuzz::audio_decoder for what it checks.
//
// The third-party demuxers panic on some damaged files (symphonia's WAV
// chunk reader overflows a multiplication); voicegate catches those
// (`audio::decode::contained`) and the file gets a one-line error, as in
// production. libfuzzer-sys's panic hook would abort on the caught panic as
// well, so this target replaces it with a silent one: a panic that escapes
// voicegate still reaches libfuzzer-sys's catch_unwind, which aborts.
libfuzzer_sys::fuzz_target!(
    init: {
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| voicegate::fuzz::audio_decoder(data)
);
