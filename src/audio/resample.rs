//! Streaming conversion of mono audio to the call rate with rubato's FFT
//! resampler: fixed-size input chunks, the last one flushed, the resampler's
//! delay trimmed so output lines up with input.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _};

use super::CALL_RATE;

#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    #[error("cannot resample from {rate} Hz: {message}")]
    Setup { rate: u32, message: String },
    #[error("resampling failed: {0}")]
    Process(String),
}

/// Converts a stream of mono samples at one rate to [`CALL_RATE`].
pub enum Resampler {
    /// Already at the call rate.
    PassThrough,
    Fft(Box<FftStream>),
}

pub struct FftStream {
    inner: Fft<f32>,
    pending: Vec<f32>,
    /// Output samples still to drop: the resampler's delay.
    delay_left: usize,
    input_total: u64,
    output_total: u64,
    rate: u32,
}

const CHUNK: usize = 1024;
/// Sample rates a recording may have: the resampler's tables grow with the
/// rate, and a file header claiming a gigahertz would take gigabytes.
const RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;

impl Resampler {
    pub fn new(input_rate: u32) -> Result<Resampler, ResampleError> {
        if input_rate == CALL_RATE {
            return Ok(Resampler::PassThrough);
        }
        if !RATES.contains(&input_rate) {
            return Err(ResampleError::Setup {
                rate: input_rate,
                message: "the file says it has this rate, outside 1 kHz to 768 kHz: convert it (e.g. sox in.wav -r 8000 out.wav), or it is damaged".into(),
            });
        }
        let inner = Fft::<f32>::new(
            input_rate as usize,
            CALL_RATE as usize,
            CHUNK,
            1,
            FixedSync::Input,
        )
        .map_err(|error| ResampleError::Setup {
            rate: input_rate,
            message: error.to_string(),
        })?;
        let delay_left = inner.output_delay();
        Ok(Resampler::Fft(Box::new(FftStream {
            inner,
            pending: Vec::new(),
            delay_left,
            input_total: 0,
            output_total: 0,
            rate: input_rate,
        })))
    }

    /// Resamples what it can of `input`; keeps the remainder for the next call.
    pub fn push(&mut self, input: &[f32]) -> Result<Vec<f32>, ResampleError> {
        match self {
            Resampler::PassThrough => Ok(input.to_vec()),
            Resampler::Fft(stream) => stream.push(input),
        }
    }

    /// Resamples the remainder; call once at the end of the stream.
    pub fn finish(&mut self) -> Result<Vec<f32>, ResampleError> {
        match self {
            Resampler::PassThrough => Ok(Vec::new()),
            Resampler::Fft(stream) => stream.finish(),
        }
    }
}

impl FftStream {
    fn push(&mut self, input: &[f32]) -> Result<Vec<f32>, ResampleError> {
        self.input_total += input.len() as u64;
        self.pending.extend_from_slice(input);
        let mut output = Vec::new();
        while self.pending.len() >= self.inner.input_frames_next() {
            let needed = self.inner.input_frames_next();
            self.run(needed, None, &mut output)?;
            self.pending.drain(..needed);
        }
        Ok(output)
    }

    fn finish(&mut self) -> Result<Vec<f32>, ResampleError> {
        let expected = self.input_total * u64::from(CALL_RATE) / u64::from(self.rate);
        let mut output = Vec::new();
        // Feed silence until the delayed tail of the real input has come out.
        while self.output_total < expected {
            let needed = self.inner.input_frames_next();
            let real = self.pending.len().min(needed);
            self.pending.resize(needed, 0.0);
            self.run(needed, Some(real), &mut output)?;
            self.pending.clear();
        }
        let surplus = (self.output_total - expected) as usize;
        output.truncate(output.len().saturating_sub(surplus));
        self.output_total = expected;
        Ok(output)
    }

    fn run(
        &mut self,
        frames: usize,
        partial: Option<usize>,
        output: &mut Vec<f32>,
    ) -> Result<(), ResampleError> {
        let process = |error: &dyn std::fmt::Display| ResampleError::Process(error.to_string());
        let input =
            InterleavedSlice::new(&self.pending[..frames], 1, frames).map_err(|e| process(&e))?;
        let indexing = Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len: partial,
            active_channels_mask: None,
        };
        let chunk = self
            .inner
            .process(&input, Some(&indexing))
            .map_err(|e| process(&e))?
            .take_data();
        let skip = self.delay_left.min(chunk.len());
        self.delay_left -= skip;
        self.output_total += (chunk.len() - skip) as u64;
        output.extend_from_slice(&chunk[skip..]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, seconds: f32, hz: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize)
            .map(|n| 0.5 * (2.0 * std::f32::consts::PI * hz * n as f32 / rate as f32).sin())
            .collect()
    }

    fn resample_in_pieces(rate: u32, input: &[f32], piece: usize) -> Vec<f32> {
        let mut resampler = Resampler::new(rate).unwrap();
        let mut output = Vec::new();
        for chunk in input.chunks(piece) {
            output.extend(resampler.push(chunk).unwrap());
        }
        output.extend(resampler.finish().unwrap());
        output
    }

    #[test]
    fn output_length_matches_the_rate_ratio_whatever_the_pieces() {
        for (rate, piece) in [(16000, 333), (44100, 4096), (48000, 480), (22050, 1)] {
            let input = tone(rate, 1.37, 440.0);
            let output = resample_in_pieces(rate, &input, piece);
            let expected = input.len() as u64 * 8000 / u64::from(rate);
            assert_eq!(
                output.len() as u64,
                expected,
                "{rate} Hz in pieces of {piece}"
            );
        }
    }

    #[test]
    fn a_tone_keeps_its_level_and_frequency() {
        let output = resample_in_pieces(44100, &tone(44100, 1.0, 1000.0), 1000);
        let middle = &output[2000..6000];
        let rms = (middle.iter().map(|s| s * s).sum::<f32>() / middle.len() as f32).sqrt();
        assert!((rms - 0.5 / 2f32.sqrt()).abs() < 0.02, "rms {rms}");
        let crossings = middle
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        assert!(
            (crossings as i32 - 500).abs() <= 2,
            "{crossings} rising zero crossings in 0.5 s"
        );
    }

    #[test]
    fn a_rate_no_recording_has_is_refused_before_anything_is_allocated() {
        for rate in [0, 999, 768_001, 1_140_858_688] {
            let error = Resampler::new(rate).err().expect("refused");
            assert!(
                error.to_string().contains("outside 1 kHz to 768 kHz"),
                "{error}"
            );
        }
        assert!(Resampler::new(768_000).is_ok());
    }

    #[test]
    fn the_call_rate_passes_through_unchanged() {
        let input = tone(8000, 0.1, 300.0);
        assert_eq!(resample_in_pieces(8000, &input, 7), input);
    }
}
