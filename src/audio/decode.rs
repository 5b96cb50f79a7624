//! Streaming decoding of recordings with symphonia (WAV, FLAC, MP3,
//! OGG/Vorbis, AAC/M4A, …): one channel or a mix, resampled to the call rate,
//! a packet at a time so that memory stays bounded whatever the length.

use std::fs::File;
use std::path::{Path, PathBuf};

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::resample::{ResampleError, Resampler};

/// Which channel of a recording is the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelPick {
    /// The average of all channels.
    Mix,
    /// One channel, counted from 0 (stereo call recordings: 0 left, 1 right).
    Index(usize),
}

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a recording voicegate can read ({message}); use WAV, FLAC, MP3, OGG/Vorbis or AAC/M4A")]
    Unsupported { path: PathBuf, message: String },
    #[error("{path}: cannot decode: {message} (the file may be truncated or corrupt)")]
    Decode { path: PathBuf, message: String },
    #[error("{path}: has {channels} channel(s), so channel {channel} does not exist; pick 0..{channels} or mix")]
    NoSuchChannel {
        path: PathBuf,
        channel: usize,
        channels: usize,
    },
    #[error("{path}: {source}")]
    Resample {
        path: PathBuf,
        source: ResampleError,
    },
}

/// An open recording, read block by block as mono samples at the call rate.
pub struct Recording {
    path: PathBuf,
    pick: ChannelPick,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track: u32,
    resampler: Option<Resampler>,
    interleaved: Vec<f32>,
    finished: bool,
}

impl Recording {
    pub fn open(path: &Path, pick: ChannelPick) -> Result<Recording, AudioError> {
        let file = File::open(path).map_err(|source| AudioError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        if file.metadata().is_ok_and(|meta| meta.len() == 0) {
            return Err(AudioError::Unsupported {
                path: path.to_path_buf(),
                message: "the file is empty, 0 bytes".into(),
            });
        }
        contained(path, || Recording::from_source(Box::new(file), path, pick))
    }

    /// A recording held in memory; `name` stands for its path in messages
    /// and its extension is the format hint.
    pub fn from_bytes(
        bytes: Vec<u8>,
        name: &Path,
        pick: ChannelPick,
    ) -> Result<Recording, AudioError> {
        contained(name, || {
            Recording::from_source(Box::new(std::io::Cursor::new(bytes)), name, pick)
        })
    }

    fn from_source(
        source: Box<dyn symphonia::core::io::MediaSource>,
        path: &Path,
        pick: ChannelPick,
    ) -> Result<Recording, AudioError> {
        let unsupported = |message: String| AudioError::Unsupported {
            path: path.to_path_buf(),
            message,
        };
        let mut hint = Hint::new();
        if let Some(extension) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(extension);
        }
        let stream = MediaSourceStream::new(source, Default::default());
        let format = symphonia::default::get_probe()
            .probe(
                &hint,
                stream,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|error| unsupported(error.to_string()))?;
        let track = format
            .default_track(TrackType::Audio)
            .ok_or_else(|| unsupported("no audio track".into()))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|params| params.audio())
            .ok_or_else(|| unsupported("no audio codec parameters".into()))?;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
            .map_err(|error| unsupported(error.to_string()))?;
        let track = track.id;
        Ok(Recording {
            path: path.to_path_buf(),
            pick,
            format,
            decoder,
            track,
            resampler: None,
            interleaved: Vec::new(),
            finished: false,
        })
    }

    /// A whole recording's mono samples at the call rate (for short files:
    /// the samples are held in memory).
    pub fn read_all(path: &Path, pick: ChannelPick) -> Result<Vec<f32>, AudioError> {
        let mut recording = Recording::open(path, pick)?;
        let mut samples = Vec::new();
        while let Some(block) = recording.next_block()? {
            samples.extend(block);
        }
        Ok(samples)
    }

    /// The next block of mono samples at the call rate; `None` at the end.
    pub fn next_block(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        let path = self.path.clone();
        let block = contained(&path, || self.decode_next());
        if block.is_err() {
            self.finished = true;
        }
        block
    }

    fn decode_next(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        while !self.finished {
            match self.format.next_packet() {
                Ok(Some(packet)) if packet.track_id != self.track => continue,
                Ok(Some(packet)) => {
                    if let Some(block) = self.decode(&packet)? {
                        return Ok(Some(block));
                    }
                }
                Ok(None) => return self.flush(),
                // A cut-off file ends early: keep what decoded.
                Err(SymphoniaError::IoError(error))
                    if error.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return self.flush()
                }
                Err(error) => return Err(self.decode_error(error.to_string())),
            }
        }
        Ok(None)
    }

    fn decode(
        &mut self,
        packet: &symphonia::core::packet::Packet,
    ) -> Result<Option<Vec<f32>>, AudioError> {
        let buffer = match self.decoder.decode(packet) {
            Ok(buffer) => buffer,
            Err(SymphoniaError::DecodeError(message)) => {
                // One bad packet costs 20-100 ms of audio, not the whole call.
                tracing::warn!(path = %self.path.display(), message, "skipped a packet that would not decode");
                return Ok(None);
            }
            Err(error) => return Err(self.decode_error(error.to_string())),
        };
        let channels = buffer.spec().channels().count().max(1);
        let rate = buffer.spec().rate();
        self.interleaved.resize(buffer.samples_interleaved(), 0.0);
        buffer.copy_to_slice_interleaved(&mut self.interleaved);
        let mono = pick_channel(&self.interleaved, channels, self.pick).ok_or(
            AudioError::NoSuchChannel {
                path: self.path.clone(),
                channel: match self.pick {
                    ChannelPick::Index(index) => index,
                    ChannelPick::Mix => 0,
                },
                channels,
            },
        )?;
        let resampler = match &mut self.resampler {
            Some(resampler) => resampler,
            None => self
                .resampler
                .insert(Resampler::new(rate).map_err(|source| AudioError::Resample {
                    path: self.path.clone(),
                    source,
                })?),
        };
        let block = resampler
            .push(&mono)
            .map_err(|source| AudioError::Resample {
                path: self.path.clone(),
                source,
            })?;
        Ok(Some(block))
    }

    fn flush(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        self.finished = true;
        let Some(resampler) = &mut self.resampler else {
            return Ok(None);
        };
        let tail = resampler.finish().map_err(|source| AudioError::Resample {
            path: self.path.clone(),
            source,
        })?;
        Ok((!tail.is_empty()).then_some(tail))
    }

    fn decode_error(&self, message: String) -> AudioError {
        AudioError::Decode {
            path: self.path.clone(),
            message,
        }
    }
}

/// Runs a step of the third-party demuxers and decoders, turning a panic
/// of theirs on a damaged file (fuzzing found an arithmetic overflow in the
/// WAV chunk reader) into this file's error, never the process's end.
fn contained<T>(
    path: &Path,
    step: impl FnOnce() -> Result<T, AudioError>,
) -> Result<T, AudioError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).unwrap_or_else(|_| {
        Err(AudioError::Unsupported {
            path: path.to_path_buf(),
            message: "the decoder failed on this file: it is damaged, or not audio".into(),
        })
    })
}

fn pick_channel(interleaved: &[f32], channels: usize, pick: ChannelPick) -> Option<Vec<f32>> {
    let frames = interleaved.chunks_exact(channels);
    match pick {
        ChannelPick::Mix => Some(
            frames
                .map(|frame| frame.iter().sum::<f32>() / channels as f32)
                .collect(),
        ),
        ChannelPick::Index(index) if index < channels => {
            Some(frames.map(|frame| frame[index]).collect())
        }
        ChannelPick::Index(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(
        path: &Path,
        rate: u32,
        channels: u16,
        frames: usize,
        sample: impl Fn(usize, u16) -> f32,
    ) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(path, spec).unwrap();
        for n in 0..frames {
            for channel in 0..channels {
                writer
                    .write_sample((sample(n, channel) * 32767.0) as i16)
                    .unwrap();
            }
        }
        writer.finalize().unwrap();
    }

    fn rms(samples: &[f32]) -> f32 {
        (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt()
    }

    #[test]
    fn a_stereo_44k_recording_becomes_8k_mono_of_the_picked_channel() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("call.wav");
        let tone = |n: usize| 0.5 * (2.0 * std::f32::consts::PI * 440.0 * n as f32 / 44100.0).sin();
        write_wav(&path, 44100, 2, 44100 * 2, |n, channel| {
            if channel == 0 {
                tone(n)
            } else {
                0.0
            }
        });
        let left = Recording::read_all(&path, ChannelPick::Index(0)).unwrap();
        let right = Recording::read_all(&path, ChannelPick::Index(1)).unwrap();
        assert_eq!(left.len(), 16000);
        assert!(rms(&left) > 0.3, "left carries the tone");
        assert!(rms(&right) < 0.01, "right is silent");
        assert!(matches!(
            Recording::read_all(&path, ChannelPick::Index(2)),
            Err(AudioError::NoSuchChannel { channels: 2, .. })
        ));
    }

    #[test]
    fn corrupt_truncated_and_empty_files_are_errors_or_short_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let noise = dir.path().join("noise.wav");
        std::fs::write(
            &noise,
            (0..4000u32)
                .map(|n| (n * 7919 % 251) as u8)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(matches!(
            Recording::read_all(&noise, ChannelPick::Mix),
            Err(AudioError::Unsupported { .. })
        ));
        let empty = dir.path().join("empty.flac");
        std::fs::write(&empty, b"").unwrap();
        assert!(Recording::read_all(&empty, ChannelPick::Mix).is_err());
        let whole = dir.path().join("whole.wav");
        write_wav(&whole, 8000, 1, 8000, |n, _| ((n % 50) as f32 / 50.0) - 0.5);
        let bytes = std::fs::read(&whole).unwrap();
        let cut = dir.path().join("cut.wav");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let samples = Recording::read_all(&cut, ChannelPick::Mix).unwrap();
        assert!(
            samples.len() < 8000 && samples.len() > 3000,
            "{} samples kept",
            samples.len()
        );
        assert!(matches!(
            Recording::read_all(&dir.path().join("missing.wav"), ChannelPick::Mix),
            Err(AudioError::Open { .. })
        ));
    }
}
