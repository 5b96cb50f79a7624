//! G.711 (ITU-T Rec. G.711, 1988) μ-law and A-law companding, section 3
//! (A-law, Table 1a) and section 4 (μ-law, Table 2a), by the standard
//! segment/mantissa bit algorithm.

const MULAW_BIAS: i32 = 0x84;
const MULAW_CLIP: i32 = 32635;

/// Encodes a linear 16-bit sample as a μ-law byte (G.711 section 4).
pub fn mulaw_encode(sample: i16) -> u8 {
    let mut magnitude = i32::from(sample);
    let sign = if magnitude < 0 { 0x80 } else { 0x00 };
    magnitude = magnitude.abs().min(MULAW_CLIP) + MULAW_BIAS;
    let exponent = segment(magnitude >> 7, 7);
    let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// Decodes a μ-law byte to a linear 16-bit sample.
pub fn mulaw_decode(byte: u8) -> i16 {
    let byte = !byte;
    let exponent = i32::from((byte >> 4) & 0x07);
    let mantissa = i32::from(byte & 0x0F);
    let magnitude = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
    (if byte & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    }) as i16
}

/// Encodes a linear 16-bit sample as an A-law byte (G.711 section 3).
pub fn alaw_encode(sample: i16) -> u8 {
    let value = i32::from(sample) >> 3; // A-law works on 13-bit magnitudes.
    let (sign, magnitude) = if value >= 0 {
        (0x80, value)
    } else {
        (0x00, -value - 1)
    };
    let magnitude = magnitude.min(0x0FFF);
    let exponent = if magnitude < 0x20 {
        0
    } else {
        segment(magnitude >> 5, 7) + 1
    };
    let mantissa = if exponent == 0 {
        magnitude >> 1
    } else {
        (magnitude >> exponent) & 0x0F
    };
    (sign | (exponent << 4) as u8 | mantissa as u8) ^ 0x55
}

/// Decodes an A-law byte to a linear 16-bit sample.
pub fn alaw_decode(byte: u8) -> i16 {
    let byte = byte ^ 0x55;
    let exponent = i32::from((byte >> 4) & 0x07);
    let mantissa = i32::from(byte & 0x0F);
    let magnitude = match exponent {
        0 => (mantissa << 4) + 8,
        _ => ((mantissa << 4) + 0x108) << (exponent - 1),
    };
    (if byte & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    }) as i16
}

/// Index of the highest set bit of `value` (0 for 0 or 1), capped at `max`.
fn segment(value: i32, max: i32) -> i32 {
    let mut exponent = 0;
    let mut rest = value;
    while rest > 1 && exponent < max {
        rest >>= 1;
        exponent += 1;
    }
    exponent
}

/// Converts a float sample in [-1, 1] to 16-bit PCM, saturating.
pub fn to_i16(sample: f32) -> i16 {
    (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Converts 16-bit PCM to a float sample in [-1, 1).
pub fn to_f32(sample: i16) -> f32 {
    f32::from(sample) / 32768.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_known_codes() {
        assert_eq!(mulaw_encode(0), 0xFF);
        assert_eq!(mulaw_decode(0xFF), 0);
        assert_eq!(mulaw_decode(0x7F), 0);
        assert_eq!(mulaw_encode(32767), 0x80);
        assert_eq!(mulaw_encode(-32768), 0x00);
        assert_eq!(mulaw_decode(0x80), 32124);
        assert_eq!(mulaw_decode(0x00), -32124);
    }

    #[test]
    fn alaw_known_codes() {
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_encode(32767), 0xAA);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_encode(-32768), 0x2A);
    }

    #[test]
    fn every_code_decodes_and_re_encodes_to_itself() {
        for code in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
            let mulaw = mulaw_encode(mulaw_decode(code));
            // 0x7F and 0xFF are both zero in μ-law; zero encodes as 0xFF.
            assert!(
                mulaw == code || (code == 0x7F && mulaw == 0xFF),
                "μ-law {code:#04x}"
            );
        }
    }

    #[test]
    fn round_trip_error_stays_within_the_segment_step() {
        for sample in (i16::MIN..=i16::MAX).step_by(7) {
            let step = (i32::from(sample).abs() / 16).max(16) + 8;
            let mu = i32::from(mulaw_decode(mulaw_encode(sample)));
            let a = i32::from(alaw_decode(alaw_encode(sample)));
            assert!(
                (mu - i32::from(sample)).abs() <= step * 2,
                "μ-law {sample} -> {mu}"
            );
            assert!(
                (a - i32::from(sample)).abs() <= step * 2,
                "A-law {sample} -> {a}"
            );
        }
    }
}
