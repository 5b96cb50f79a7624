//! Cutting voiced audio into model windows: the last `window` voiced samples,
//! every `hop` voiced samples. Unvoiced frames are left out, so silence and
//! hold music neither produce scores nor dilute them.

use std::collections::VecDeque;
use std::time::Duration;

use super::vad::{Vad, VadConfig};
use super::{CALL_RATE, FRAME_SAMPLES};

/// A window ready for the model, stamped with the call time of its last sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub at: Duration,
    pub samples: Vec<f32>,
}

/// Regroups a stream of samples, in blocks of any size, into 20 ms frames.
#[derive(Debug, Default)]
pub struct Framer {
    partial: Vec<f32>,
}

impl Framer {
    /// The frames `samples` complete, in order.
    pub fn push(&mut self, samples: &[f32]) -> Vec<Vec<f32>> {
        let mut frames = Vec::new();
        for &sample in samples {
            self.partial.push(sample);
            if self.partial.len() == FRAME_SAMPLES {
                frames.push(std::mem::replace(
                    &mut self.partial,
                    Vec::with_capacity(FRAME_SAMPLES),
                ));
            }
        }
        frames
    }

    /// Samples waiting for their frame to fill.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }
}

pub struct VoicedWindows {
    vad: Vad,
    window: usize,
    hop: usize,
    voiced: VecDeque<f32>,
    since_last: usize,
    /// Samples seen so far (voiced or not): the call clock.
    position: u64,
    framer: Framer,
}

impl VoicedWindows {
    pub fn new(window: usize, hop: usize, vad: VadConfig) -> VoicedWindows {
        VoicedWindows {
            vad: Vad::new(vad),
            window,
            hop,
            voiced: VecDeque::with_capacity(window),
            since_last: 0,
            position: 0,
            framer: Framer::default(),
        }
    }

    /// Feeds samples at the call rate; returns the windows completed by them.
    pub fn push(&mut self, samples: &[f32]) -> Vec<Window> {
        let frames = self.framer.push(samples);
        frames
            .iter()
            .filter_map(|frame| self.push_frame(frame))
            .collect()
    }

    /// Time of the audio seen so far.
    pub fn elapsed(&self) -> Duration {
        Duration::from_secs_f64(
            (self.position + self.framer.pending() as u64) as f64 / f64::from(CALL_RATE),
        )
    }

    fn push_frame(&mut self, frame: &[f32]) -> Option<Window> {
        self.position += frame.len() as u64;
        if !self.vad.push_frame(frame) {
            return None;
        }
        for &sample in frame {
            if self.voiced.len() == self.window {
                self.voiced.pop_front();
            }
            self.voiced.push_back(sample);
        }
        self.since_last += frame.len();
        if self.voiced.len() < self.window || self.since_last < self.hop {
            return None;
        }
        self.since_last = 0;
        Some(Window {
            at: Duration::from_secs_f64(self.position as f64 / f64::from(CALL_RATE)),
            samples: self.voiced.iter().copied().collect(),
        })
    }
}

/// Exponential smoothing of window scores, so one shout does not make a
/// streak but sustained anger does.
#[derive(Debug, Clone)]
pub struct Smoother {
    weight: f32,
    value: Option<f32>,
}

impl Smoother {
    /// `weight` is the share of each new score (1 = no smoothing).
    pub fn new(weight: f32) -> Smoother {
        Smoother {
            weight: weight.clamp(0.0, 1.0),
            value: None,
        }
    }

    pub fn push(&mut self, score: f32) -> f32 {
        let next = match self.value {
            Some(previous) => previous + self.weight * (score - previous),
            None => score,
        };
        self.value = Some(next);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speech(n: usize) -> f32 {
        let t = n as f32 / 8000.0;
        let syllable = ((t * 4.0).fract() < 0.7) as u8 as f32;
        0.2 * syllable * (2.0 * std::f32::consts::PI * 180.0 * t).sin()
    }

    #[test]
    fn windows_come_every_hop_of_voiced_audio_only() {
        let mut cutter = VoicedWindows::new(16000, 4000, VadConfig::default());
        let silence = vec![0.0; 8000 * 3];
        assert!(cutter.push(&silence).is_empty(), "silence makes no window");
        let talk: Vec<f32> = (0..8000 * 6).map(speech).collect();
        let windows = cutter.push(&talk);
        assert!(
            (7..=9).contains(&windows.len()),
            "{} windows from 6 s of talk",
            windows.len()
        );
        assert!(windows.iter().all(|w| w.samples.len() == 16000));
        assert!(
            windows[0].at >= Duration::from_secs(5),
            "first after 2 s of speech: {:?}",
            windows[0].at
        );
        assert!(windows.windows(2).all(|pair| pair[1].at > pair[0].at));
        assert!(
            cutter.push(&silence).is_empty(),
            "silence after talk adds none"
        );
        assert_eq!(cutter.elapsed(), Duration::from_secs(12));
    }

    #[test]
    fn one_shout_is_damped_sustained_anger_is_not() {
        let mut smoother = Smoother::new(0.5);
        let shout: Vec<f32> = [20.0, 95.0, 20.0, 20.0]
            .iter()
            .map(|&s| smoother.push(s))
            .collect();
        assert!(shout.iter().all(|&s| s < 60.0), "{shout:?}");
        let mut smoother = Smoother::new(0.5);
        let sustained: Vec<f32> = [20.0, 95.0, 95.0, 95.0, 95.0]
            .iter()
            .map(|&s| smoother.push(s))
            .collect();
        assert!(sustained[3] > 80.0 && sustained[4] > 80.0, "{sustained:?}");
    }
}
