//! The per-call pipeline step by step: resampling, the audio front end per
//! 20 ms frame, both models at batch sizes 1, 8 and 32, the keyword model per
//! second of real callers' speech, one engine step, and the call core per
//! 20 ms frame. Run: `cargo bench --bench pipeline`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use voicegate::audio::{ChannelPick, KeywordWindow, Recording, Resampler, FRAME_SAMPLES};
use voicegate::callcore::{
    AngerSetup, CallCore, CallerId, CoreInput, CoreOutput, CoreSetup, FrontEnd, HandoffSettings,
    KeywordSetup,
};
use voicegate::config::GatewayConfig;
use voicegate::engine::{Call, EngineConfig, Input};
use voicegate::infer::{KeywordModel, WindowModel};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A voiced 160 Hz tone with a slow swell: the VAD hears it as speech.
fn speech_like(samples: usize, rate: f32) -> Vec<f32> {
    (0..samples)
        .map(|n| {
            let t = n as f32 / rate;
            0.2 * (2.0 * std::f32::consts::PI * 160.0 * t).sin() * (1.0 + (t * 4.0).sin()) / 2.0
        })
        .collect()
}

fn models() -> (WindowModel, KeywordModel) {
    let anger = WindowModel::load(&repo("models/anger.toml")).expect("models/anger.toml loads");
    let keywords = GatewayConfig::load(&repo("sip-config/gateway.toml"))
        .and_then(|config| voicegate::models::keyword_model(&config))
        .expect("the sample configuration's keyword model loads");
    (anger, keywords)
}

/// The engine's defaults but a wait that never runs out, so that millions
/// of benchmark steps stay in the IVR instead of being transferred at 90 s.
fn never_waiting_too_long() -> Arc<EngineConfig> {
    let mut config = EngineConfig::default();
    config.policy.max_wait_s = 1e12;
    Arc::new(config)
}

/// `count` 20 ms frames of `audio`, from its start again when it runs out.
fn frames(audio: &[f32], count: u64) -> impl Iterator<Item = &[f32]> {
    audio.chunks(FRAME_SAMPLES).cycle().take(count as usize)
}

/// A call's audio front end with both models, as serve makes it.
fn front_end(anger: &WindowModel, keywords: &KeywordModel) -> FrontEnd {
    FrontEnd::new(
        AngerSetup::of_model(anger, 0.7).unwrap(),
        Some(KeywordSetup::of_model(keywords)),
    )
}

/// One second of 44.1 kHz audio to the call rate.
fn resampling(c: &mut Criterion) {
    let audio = speech_like(44_100, 44_100.0);
    c.bench_function("resample 1 s of 44.1 kHz audio to 8 kHz", |b| {
        b.iter(|| {
            let mut resampler = Resampler::new(44_100).unwrap();
            let mut out = resampler.push(&audio).unwrap();
            out.extend(resampler.finish().unwrap());
            out
        })
    });
}

/// Both models on 1, 8 and 32 windows at once.
fn model_batches(c: &mut Criterion) {
    let (anger, keywords) = models();
    let audio = speech_like(16_000 * 33, 8000.0);
    for (name, model, window) in [
        ("anger model", &anger, 16_000),
        ("keyword model", keywords.model().as_ref(), 8_000),
    ] {
        let windows: Vec<&[f32]> = (0..32)
            .map(|i| &audio[i * window..(i + 1) * window])
            .collect();
        let mut group = c.benchmark_group(name);
        for batch in [1usize, 8, 32] {
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::new("windows", batch), &batch, |b, &batch| {
                b.iter(|| model.rows(&windows[..batch]).unwrap())
            });
        }
        group.finish();
    }
}

/// A fixture call's audio at the call rate.
fn fixture_audio(call: &str) -> Vec<f32> {
    let path = repo(&format!("fixtures/calls/{call}/call.flac"));
    Recording::read_all(&path, ChannelPick::Mix).expect("the fixture decodes")
}

/// The shipped keyword model with the `[gate]` taken out of its manifest:
/// the detector on every window, as before the gate.
fn keyword_model_without_its_gate(dir: &std::path::Path) -> WindowModel {
    for file in ["kws.onnx", "kws-verifier.onnx"] {
        std::fs::copy(repo(&format!("models/{file}")), dir.join(file)).expect("copy the model");
    }
    let manifest = std::fs::read_to_string(repo("models/kws.toml")).expect("models/kws.toml");
    let (before, after) = manifest.split_once("[gate]").expect("a [gate] table");
    let (_, rest) = after.split_once("\n\n").expect("a line after it");
    std::fs::write(dir.join("kws.toml"), format!("{before}{rest}")).expect("write the manifest");
    WindowModel::load(&dir.join("kws.toml")).expect("the model without its gate loads")
}

/// The keyword model on real callers' speech (the real-phone fixtures:
/// "operator" three times, a sentence with no keyword), windows cut as a
/// call cuts them and scored one at a time: the gate on every window with
/// speech, the detector where the gate hears a word, the verifier on the
/// detector's candidates; and the same without the gate. The time is per
/// second of audio.
fn keyword_model_per_second_of_real_speech(c: &mut Criterion) {
    let (_, keywords) = models();
    let audio = [
        fixture_audio("kws_phone_operator_x3"),
        fixture_audio("kws_phone_sentence"),
    ]
    .concat();
    let seconds = audio.len() as f64 / 8000.0;
    let mut windows = KeywordSetup::of_model(&keywords).windows;
    let scored: Vec<Vec<f32>> = (windows.push(&audio).into_iter())
        .filter_map(|window| match window {
            KeywordWindow::Score(window) => Some(window.samples),
            KeywordWindow::Quiet(_) => None,
        })
        .collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ungated = keyword_model_without_its_gate(dir.path());
    for (name, model) in [
        (
            "keyword model, 1 s of real callers' speech",
            keywords.model().as_ref(),
        ),
        (
            "keyword model without its gate, 1 s of real callers' speech",
            &ungated,
        ),
    ] {
        c.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let started = std::time::Instant::now();
                for _ in 0..iterations {
                    for window in &scored {
                        model.rows(&[window]).unwrap();
                    }
                }
                started.elapsed().div_f64(seconds)
            })
        });
    }
}

/// The front end per 20 ms frame of speech: VAD, windows cut, jobs queued
/// (the models' answers are not part of it).
fn front_end_per_frame(c: &mut Criterion) {
    let (anger, keywords) = models();
    let audio = speech_like(8000 * 60, 8000.0);
    c.bench_function("front end, one 20 ms frame of speech", |b| {
        b.iter_custom(|iterations| {
            let mut front = front_end(&anger, &keywords);
            let frames = frames(&audio, iterations);
            let started = std::time::Instant::now();
            for (n, frame) in frames.enumerate() {
                front.hear(Duration::from_millis(20 * n as u64), frame);
                while front.poll_job().is_some() {}
            }
            started.elapsed()
        })
    });
}

/// One engine step: an anger score into a call listening without a menu.
fn engine_step(c: &mut Criterion) {
    let mut call = Call::new(never_waiting_too_long(), None);
    call.handle(
        Duration::ZERO,
        Input::Started {
            caller: "+15550100123".into(),
            dialed: "800".into(),
            recent_calls: 0,
            verified: false,
        },
    );
    let mut at = Duration::ZERO;
    c.bench_function("engine, one anger score", |b| {
        b.iter(|| {
            at += Duration::from_millis(500);
            call.handle(at, Input::Anger { score: 30.0 });
            while call.poll_action().is_some() {}
        })
    });
}

/// The call core per 20 ms frame of a live call: the caller's audio in,
/// the timers run, the prompt frame asked for, outputs drained.
fn call_core_per_frame(c: &mut Criterion) {
    let (anger, keywords) = models();
    let audio = speech_like(8000 * 60, 8000.0);
    let setup = || CoreSetup {
        engine: never_waiting_too_long(),
        menu: None,
        caller: CallerId::default(),
        started: SystemTime::now(),
        prompt_lengths: Arc::default(),
        queues: Arc::default(),
        handoff: HandoffSettings::default(),
        inactivity: None,
        notice: None,
    };
    c.bench_function("call core, one 20 ms frame of speech", |b| {
        b.iter_custom(|iterations| {
            let mut core = CallCore::new(setup(), Some(front_end(&anger, &keywords)));
            let frames = frames(&audio, iterations);
            let started = std::time::Instant::now();
            for (n, frame) in frames.enumerate() {
                let now = Duration::from_millis(20 * n as u64);
                core.handle_audio(now, frame);
                core.handle_timeout(now);
                let _ = core.prompt_frame(now);
                while let Some(output) = core.poll_output() {
                    // The models' answers are benchmarked apart: none here.
                    if let CoreOutput::Score(job) = output {
                        core.handle_input(
                            now,
                            CoreInput::Scored {
                                token: job.token,
                                row: None,
                            },
                        );
                    }
                }
            }
            started.elapsed()
        })
    });
}

criterion_group!(
    benches,
    resampling,
    model_batches,
    keyword_model_per_second_of_real_speech,
    front_end_per_frame,
    engine_step,
    call_core_per_frame
);
criterion_main!(benches);
