//! CPU cost of anger scoring and keyword spotting per second of audio, and
//! replay speed as a multiple of real time. Run: `cargo bench --bench scoring`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use voicegate::audio::ChannelPick;
use voicegate::config::GatewayConfig;
use voicegate::engine::EngineConfig;
use voicegate::infer::WindowModel;
use voicegate::replay::RecordingReplay;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn speech_like(samples: usize) -> Vec<f32> {
    (0..samples)
        .map(|n| {
            let t = n as f32 / 8000.0;
            0.2 * (2.0 * std::f32::consts::PI * 160.0 * t).sin() * (1.0 + (t * 4.0).sin()) / 2.0
        })
        .collect()
}

/// One second of audio means two 2 s windows (a window every 0.5 s).
fn model_per_second_of_audio(c: &mut Criterion) {
    let model = WindowModel::load(&repo("models/anger.toml")).expect("models/anger.toml loads");
    let audio = speech_like(16000 + 4000 * 31);
    let windows: Vec<&[f32]> = (0..32)
        .map(|i| &audio[i * 4000..i * 4000 + 16000])
        .collect();
    let mut group = c.benchmark_group("anger model");
    group.throughput(Throughput::Elements(1));
    group.bench_function("1 s of audio, batch of 2 windows", |b| {
        b.iter(|| model.scores(&windows[..2]).unwrap())
    });
    group.bench_function("1 s of audio, batched 16 s (32 windows) / 16", |b| {
        b.iter_custom(|iterations| {
            let started = std::time::Instant::now();
            for _ in 0..iterations {
                model.scores(&windows).unwrap();
            }
            started.elapsed() / 16
        })
    });
    group.finish();
}

/// One second of audio means ten 1 s keyword windows (a window every 0.1 s).
fn keywords_per_second_of_audio(c: &mut Criterion) {
    let model = WindowModel::load(&repo("models/kws.toml")).expect("models/kws.toml loads");
    let audio = speech_like(8000 + 800 * 9);
    let windows: Vec<&[f32]> = (0..10).map(|i| &audio[i * 800..i * 800 + 8000]).collect();
    let mut group = c.benchmark_group("keyword model");
    group.throughput(Throughput::Elements(1));
    group.bench_function("1 s of audio, 10 windows one at a time", |b| {
        b.iter(|| {
            for window in &windows {
                model.rows(&[window]).unwrap();
            }
        })
    });
    group.bench_function("1 s of audio, batch of 10 windows", |b| {
        b.iter(|| model.rows(&windows).unwrap())
    });
    group.finish();
}

/// Decode, resample, VAD, windows, both models and engine on a 31.4 s recording.
fn replay_speed(c: &mut Criterion) {
    let model = WindowModel::load(&repo("models/anger.toml")).expect("models/anger.toml loads");
    let keywords = GatewayConfig::load(&repo("sip-config/gateway.toml"))
        .and_then(|config| voicegate::models::keyword_model(&config))
        .expect("the sample configuration's keyword model loads");
    let replay = RecordingReplay {
        config: Arc::new(EngineConfig::default()),
        menu: None,
        model: &model,
        keywords: Some(&keywords),
        pick: ChannelPick::Mix,
        smoothing: 0.7,
        prompt_lengths: Default::default(),
        queues: Default::default(),
        dtmf: Vec::new(),
        notice: None,
    };
    let path = repo("fixtures/calls/angry_mid_call/call.flac");
    let mut group = c.benchmark_group("replay");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("angry_mid_call.flac (31.4 s of audio)", |b| {
        b.iter(|| replay.run(&path).unwrap())
    });
    group.finish();
}

criterion_group!(
    benches,
    model_per_second_of_audio,
    keywords_per_second_of_audio,
    replay_speed
);
criterion_main!(benches);
