//! CPU cost of anger scoring per second of audio, and replay speed as a
//! multiple of real time. Run: `cargo bench --bench scoring`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use voicegate::audio::ChannelPick;
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

/// Decode, resample, VAD, windows, model and engine on a 31.4 s recording.
fn replay_speed(c: &mut Criterion) {
    let model = WindowModel::load(&repo("models/anger.toml")).expect("models/anger.toml loads");
    let replay = RecordingReplay {
        config: Arc::new(EngineConfig::default()),
        menu: None,
        model: &model,
        pick: ChannelPick::Mix,
        smoothing: 0.7,
        prompt_lengths: Default::default(),
    };
    let path = repo("fixtures/calls/angry_mid_call/call.flac");
    let mut group = c.benchmark_group("replay");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("angry_mid_call.flac (31.4 s of audio)", |b| {
        b.iter(|| replay.run(&path).unwrap())
    });
    group.finish();
}

criterion_group!(benches, model_per_second_of_audio, replay_speed);
criterion_main!(benches);
