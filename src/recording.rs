//! Each call to a stereo 16-bit PCM WAV at 8 kHz: the caller on the left,
//! what the caller heard (prompts, or the agent while bridged) on the
//! right. Crash-safe: the header is brought up to date after every second
//! of audio and on close (hound's `flush`), so a gateway killed mid-call
//! leaves a file that plays up to its last second. A recording that cannot
//! be written (an unwritable directory, a full disk) is given up with one
//! log line and one call of its failure hook (the error metric); the call
//! goes on.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::audio::g711::to_i16;

/// Samples a second at the call rate: also how often the header is brought up to date.
const RATE: u32 = 8000;
/// One side may run this far ahead of the other before the other is padded with silence.
const MAX_LAG: usize = RATE as usize;

/// Told once when a recording has to be given up.
pub type OnFailure = Box<dyn Fn() + Send>;

pub struct CallRecording {
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    on_failure: OnFailure,
    path: PathBuf,
    caller: VecDeque<i16>,
    heard: VecDeque<i16>,
    since_flush: u32,
}

impl CallRecording {
    /// Starts the file at `path` (its directory is made if missing); `None`,
    /// logged, if it cannot be.
    pub fn create(path: &Path, on_failure: OnFailure) -> Option<CallRecording> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let created = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .map_err(hound::Error::IoError)
            .and_then(|()| hound::WavWriter::create(path, spec));
        match created {
            Ok(writer) => Some(CallRecording {
                writer: Some(writer),
                on_failure,
                path: path.to_path_buf(),
                caller: VecDeque::new(),
                heard: VecDeque::new(),
                since_flush: 0,
            }),
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "cannot record the call (check [recording] dir); the call goes on");
                on_failure();
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The caller's audio, as it is played out.
    pub fn caller(&mut self, samples: &[f32]) {
        self.caller.extend(samples.iter().map(|s| to_i16(*s)));
        self.write_ready();
    }

    /// What the caller hears, frame by frame.
    pub fn heard(&mut self, samples: &[f32]) {
        self.heard.extend(samples.iter().map(|s| to_i16(*s)));
        self.write_ready();
    }

    /// Writes what the rest holds and brings the header up to date.
    pub fn finish(mut self) {
        let left = self.caller.len().max(self.heard.len());
        self.pad_to(left);
        self.write_ready();
        if let Some(writer) = self.writer.take() {
            if let Err(error) = writer.finalize() {
                tracing::error!(path = %self.path.display(), %error, "the recording's end could not be written");
                (self.on_failure)();
            }
        }
    }

    /// Writes every sample both sides have, padding a side that fell more
    /// than [`MAX_LAG`] behind (a caller who stopped sending RTP).
    fn write_ready(&mut self) {
        let ahead = self.caller.len().max(self.heard.len());
        if ahead > MAX_LAG {
            self.pad_to(ahead - MAX_LAG);
        }
        let ready = self.caller.len().min(self.heard.len());
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        let mut failed = None;
        for (left, right) in self.caller.drain(..ready).zip(self.heard.drain(..ready)) {
            if let Err(error) = writer
                .write_sample(left)
                .and_then(|()| writer.write_sample(right))
            {
                failed = Some(error);
                break;
            }
        }
        self.since_flush += ready as u32;
        if failed.is_none() && self.since_flush >= RATE {
            self.since_flush = 0;
            failed = writer.flush().err();
        }
        if let Some(error) = failed {
            tracing::error!(path = %self.path.display(), %error, "recording stopped (disk full?); the call goes on");
            self.writer = None;
            (self.on_failure)();
        }
    }

    fn pad_to(&mut self, length: usize) {
        for side in [&mut self.caller, &mut self.heard] {
            while side.len() < length {
                side.push_back(0);
            }
        }
    }
}

/// Removes the recordings (`*.wav`) in `dir` last written more than `age`
/// ago (`[recording] retention_days`); how many went. A missing directory
/// has none.
pub fn remove_older_than(dir: &Path, age: std::time::Duration) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error),
    };
    let now = std::time::SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let old = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .is_ok_and(|written| now.duration_since(written).unwrap_or_default() > age);
        if old && path.extension().is_some_and(|ext| ext == "wav") {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_past_their_retention_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let day = std::time::Duration::from_secs(86_400);
        let write = |name: &str, days_ago: u32| {
            let path = dir.path().join(name);
            let file = File::create(&path).unwrap();
            file.set_modified(std::time::SystemTime::now() - day * days_ago)
                .unwrap();
            path
        };
        let old = write("old.wav", 100);
        let recent = write("recent.wav", 10);
        let notes = write("notes.txt", 100);
        assert_eq!(remove_older_than(dir.path(), day * 90).unwrap(), 1);
        assert!(!old.exists() && recent.exists() && notes.exists());
        assert_eq!(remove_older_than(&dir.path().join("none"), day).unwrap(), 0);
    }

    #[test]
    fn both_sides_are_interleaved_and_a_killed_writer_leaves_a_playable_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls/one.wav");
        let mut recording = CallRecording::create(&path, Box::new(|| {})).unwrap();
        // 1.5 s: the caller at +0.5, the prompts at -0.25.
        for _ in 0..75 {
            recording.caller(&[0.5; 160]);
            recording.heard(&[-0.25; 160]);
        }
        // Killed here: no finish. The header was brought up to date at 1 s.
        std::mem::forget(recording);
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec().channels, 2);
        assert_eq!(reader.spec().sample_rate, 8000);
        let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
        assert!(
            samples.len() >= 2 * 8000,
            "{} samples readable",
            samples.len()
        );
        assert_eq!(samples[0], to_i16(0.5));
        assert_eq!(samples[1], to_i16(-0.25));
    }

    #[test]
    fn a_caller_who_goes_quiet_is_padded_with_silence_and_the_end_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quiet.wav");
        let mut recording = CallRecording::create(&path, Box::new(|| {})).unwrap();
        for _ in 0..150 {
            recording.heard(&[0.1; 160]); // 3 s of prompts, no caller RTP
        }
        recording.finish();
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.duration(), 150 * 160);
        let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
        assert!(samples.iter().step_by(2).all(|left| *left == 0));
    }

    /// A failure hook that counts.
    fn counted() -> (OnFailure, std::sync::Arc<std::sync::atomic::AtomicU32>) {
        let count = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = count.clone();
        let hook = Box::new(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        (hook, count)
    }

    #[test]
    fn an_unwritable_directory_gives_no_recording_and_no_panic() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let (hook, failures) = counted();
        assert!(CallRecording::create(&file.join("call.wav"), hook).is_none());
        assert_eq!(failures.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn a_full_disk_stops_the_recording_once_and_the_call_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.wav");
        // Every write to /dev/full fails with ENOSPC, as on a full disk.
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let (hook, failures) = counted();
        if let Some(mut recording) = CallRecording::create(&path, hook) {
            for _ in 0..200 {
                recording.caller(&[0.1; 160]);
                recording.heard(&[0.1; 160]);
            }
            recording.finish();
        }
        assert_eq!(
            failures.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "given up once, not per write"
        );
    }
}
