//! Voice activity detection on 20 ms frames at 8 kHz: frame energy against an
//! adaptive noise floor, with a hangover so that short gaps inside speech
//! stay voiced. The floor drops at once to any quieter frame and rises slowly,
//! so a steady sound (line hum, a held tone) becomes "noise" within seconds
//! while speech, which keeps dipping between syllables, does not.

/// Tuning of [`Vad`].
#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    /// A frame is speech when it is this far above the noise floor (dB)…
    pub margin_db: f32,
    /// …and louder than this absolute level (dBFS).
    pub min_level_db: f32,
    /// How fast the floor rises toward louder frames (dB per frame).
    pub floor_rise_db: f32,
    /// Frames kept voiced after the last speech frame.
    pub hangover_frames: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            margin_db: 9.0,
            min_level_db: -50.0,
            floor_rise_db: 0.05,
            hangover_frames: 10,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Vad {
    config: VadConfig,
    floor_db: Option<f32>,
    hangover: u32,
}

impl Vad {
    pub fn new(config: VadConfig) -> Vad {
        Vad {
            config,
            floor_db: None,
            hangover: 0,
        }
    }

    /// Whether this frame is speech.
    pub fn push_frame(&mut self, frame: &[f32]) -> bool {
        let level = level_db(frame);
        let floor = match self.floor_db {
            Some(floor) if level < floor => level,
            Some(floor) => (floor + self.config.floor_rise_db).min(level),
            None => level,
        };
        self.floor_db = Some(floor);
        let speech = level > floor + self.config.margin_db && level > self.config.min_level_db;
        if speech {
            self.hangover = self.config.hangover_frames;
            true
        } else if self.hangover > 0 {
            self.hangover -= 1;
            true
        } else {
            false
        }
    }
}

/// Mean power of a frame in dB relative to full scale.
pub fn level_db(frame: &[f32]) -> f32 {
    let power = frame.iter().map(|s| s * s).sum::<f32>() / frame.len().max(1) as f32;
    10.0 * (power + 1e-10).log10()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::FRAME_SAMPLES;

    fn frames(seconds: f32, sample: impl Fn(usize) -> f32) -> Vec<Vec<f32>> {
        let total = (seconds * 8000.0) as usize;
        let samples: Vec<f32> = (0..total).map(sample).collect();
        samples.chunks(FRAME_SAMPLES).map(<[f32]>::to_vec).collect()
    }

    fn voiced_share(vad: &mut Vad, frames: &[Vec<f32>]) -> f32 {
        frames.iter().filter(|f| vad.push_frame(f)).count() as f32 / frames.len() as f32
    }

    fn noise(n: usize) -> f32 {
        ((n * 7919 + 13) % 2003) as f32 / 2003.0 - 0.5
    }

    /// Harmonics of 150 Hz, switched on and off at a syllable rate of 4 Hz, over faint noise.
    fn speech_like(n: usize) -> f32 {
        let t = n as f32 / 8000.0;
        let syllable = ((t * 4.0).fract() < 0.6) as u8 as f32;
        let voice: f32 = (1..6)
            .map(|h| (2.0 * std::f32::consts::PI * 150.0 * h as f32 * t).sin() / h as f32)
            .sum();
        0.2 * syllable * voice + 0.001 * noise(n)
    }

    #[test]
    fn silence_and_faint_hiss_are_not_speech() {
        let mut vad = Vad::new(VadConfig::default());
        assert_eq!(voiced_share(&mut vad, &frames(2.0, |_| 0.0)), 0.0);
        assert_eq!(
            voiced_share(&mut vad, &frames(2.0, |n| 0.002 * noise(n))),
            0.0
        );
    }

    #[test]
    fn syllables_after_a_quiet_line_are_speech() {
        let mut vad = Vad::new(VadConfig::default());
        voiced_share(&mut vad, &frames(1.0, |n| 0.001 * noise(n)));
        let share = voiced_share(&mut vad, &frames(3.0, speech_like));
        assert!(share > 0.8, "{share}");
    }

    #[test]
    fn a_steady_tone_stops_counting_as_speech_within_seconds() {
        let mut vad = Vad::new(VadConfig::default());
        voiced_share(&mut vad, &frames(1.0, |n| 0.001 * noise(n)));
        let tone = |n: usize| 0.3 * (2.0 * std::f32::consts::PI * 440.0 * n as f32 / 8000.0).sin();
        let first = voiced_share(&mut vad, &frames(2.0, tone));
        voiced_share(&mut vad, &frames(20.0, tone));
        let later = voiced_share(&mut vad, &frames(5.0, tone));
        assert!(first > 0.9, "a new sound starts as speech: {first}");
        assert_eq!(later, 0.0, "then it is learned as noise");
    }
}
