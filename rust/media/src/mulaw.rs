//! G.711 μ-law (ITU-T G.711 §A.2): 8-bit logarithmic samples, the telephone network's audio and
//! what Twilio Media Streams and fastrtc's WebSocket route carry.
//!
//! A sample is sign, a 3-bit segment (exponent) and a 4-bit mantissa, all inverted on the wire.
//! Encoding adds a bias of 132 (0x84) so the segments line up, and clips at 32635.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

/// One int16 sample to μ-law.
#[must_use]
pub fn encode_sample(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0x00
    };
    let s = s.min(CLIP) + BIAS;
    // The segment is the position of the highest set bit above bit 7.
    let exponent = (s as u32).ilog2().saturating_sub(7).min(7);
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | ((exponent as i32) << 4) as u8 | mantissa as u8)
}

/// One μ-law byte to an int16 sample.
#[must_use]
pub fn decode_sample(byte: u8) -> i16 {
    let b = !byte;
    let sign = b & 0x80;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0F);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}

/// μ-law bytes to `f32` samples in `[-1, 1]`.
#[must_use]
pub fn decode(bytes: &[u8]) -> Vec<f32> {
    bytes.iter().map(|b| f32::from(decode_sample(*b)) / 32768.0).collect()
}

/// `f32` samples in `[-1, 1]` to μ-law bytes.
#[must_use]
pub fn encode(samples: &[f32]) -> Vec<u8> {
    samples
        .iter()
        .map(|s| encode_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16))
        .collect()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn known_codes() {
        // G.711 table: zero is 0xFF (positive) / 0x7F (negative zero), full scale 0x80 / 0x00.
        assert_eq!(encode_sample(0), 0xFF);
        assert_eq!(encode_sample(32_767), 0x80);
        assert_eq!(encode_sample(-32_768), 0x00);
        assert_eq!(decode_sample(0xFF), 0);
        assert_eq!(decode_sample(0x80), 32_124);
        assert_eq!(decode_sample(0x00), -32_124);
    }

    #[test]
    fn round_trip_error_is_within_one_step_of_the_segment() {
        for s in (-32_768..=32_767).step_by(7) {
            let s = s as i16;
            let back = decode_sample(encode_sample(s));
            let step = (i32::from(s).abs() + BIAS) >> 4; // half a mantissa step, roughly
            assert!(
                (i32::from(back) - i32::from(s)).abs() <= step.max(8) + 1 || i32::from(s).abs() > CLIP,
                "{s} -> {back}"
            );
        }
    }

    #[test]
    fn every_code_decodes_and_re_encodes_to_itself() {
        for code in 0..=255u8 {
            let s = decode_sample(code);
            let again = encode_sample(s);
            // 0x7F is negative zero: it comes back as positive zero.
            assert!(
                again == code || (code == 0x7F && again == 0xFF),
                "{code:#x} -> {s} -> {again:#x}"
            );
        }
    }
}
