//! Sample-format and shape conversions between handler arrays and engine audio.
//!
//! Handlers written for `gradio_webrtc`/`fastrtc` return audio in many shapes: `(1, N)` int16 (the
//! documented one), `(N,)`, `(2, N)` planar stereo, `(1, 2N)` packed stereo with an explicit
//! `"stereo"` layout, `(N, 2)` as soundfile reads it, int16 or float. [`interleave`] accepts all of
//! them and rejects only what is ambiguous, with a message that names the shape it got.

use crate::Error;

/// Channel layout a handler declares (the optional third element of its `(rate, array, layout)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One channel.
    Mono,
    /// Two channels.
    Stereo,
}

impl Layout {
    /// Parses the strings handlers use (`"mono"`, `"stereo"`).
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "mono" => Ok(Layout::Mono),
            "stereo" => Ok(Layout::Stereo),
            other => Err(Error::BadAudio(format!(
                "layout must be \"mono\" or \"stereo\", got {other:?}"
            ))),
        }
    }

    /// Number of channels.
    #[must_use]
    pub fn channels(self) -> usize {
        match self {
            Layout::Mono => 1,
            Layout::Stereo => 2,
        }
    }
}

/// Interprets a row-major array of `shape` as audio and returns `(channels, interleaved samples)`.
///
/// The rules, in order: 1-D and `(1, N)` arrays are mono, or packed stereo when `layout` says
/// stereo; `(2, N)` is planar stereo; `(N, 1)` is mono and `(N, 2)` interleaved stereo. An explicit
/// mono layout downmixes a stereo array.
pub fn interleave(shape: &[usize], data: &[f32], layout: Option<Layout>) -> Result<(usize, Vec<f32>), Error> {
    let bad = || {
        Error::BadAudio(format!(
            "audio arrays must have shape (1, N), (2, N), (N,) or (N, 2); got {shape:?}"
        ))
    };
    let packed = |data: &[f32]| -> Result<(usize, Vec<f32>), Error> {
        if layout == Some(Layout::Stereo) {
            if !data.len().is_multiple_of(2) {
                return Err(Error::BadAudio(format!(
                    "packed stereo audio needs an even number of samples, got {}",
                    data.len()
                )));
            }
            Ok((2, data.to_vec()))
        } else {
            Ok((1, data.to_vec()))
        }
    };
    let (channels, samples) = match *shape {
        [_] | [1, _] => packed(data)?,
        [2, n] if n != 2 => {
            let (l, r) = data.split_at(n);
            (2, l.iter().zip(r).flat_map(|(a, b)| [*a, *b]).collect())
        }
        [_, 1] => (1, data.to_vec()),
        [_, 2] => (2, data.to_vec()),
        _ => return Err(bad()),
    };
    if channels == 2 && layout == Some(Layout::Mono) {
        return Ok((1, downmix(&samples)));
    }
    Ok((channels, samples))
}

/// int16 to `f32` in `[-1, 1)`.
#[must_use]
pub fn i16_to_f32(x: &[i16]) -> Vec<f32> {
    x.iter().map(|s| f32::from(*s) / 32768.0).collect()
}

/// `f32` to int16 with rounding and clipping; NaN becomes silence.
pub fn f32_to_i16_into(x: &[f32], out: &mut Vec<i16>) {
    out.extend(x.iter().map(|s| {
        if s.is_nan() {
            0
        } else {
            (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
        }
    }));
}

/// Clamps floats into `[-1, 1]` and replaces NaN/inf by silence, in place.
pub fn sanitize(x: &mut [f32]) {
    for s in x {
        *s = if s.is_finite() { s.clamp(-1.0, 1.0) } else { 0.0 };
    }
}

/// Averages interleaved stereo into mono.
#[must_use]
pub fn downmix(stereo: &[f32]) -> Vec<f32> {
    stereo.chunks_exact(2).map(|p| 0.5 * (p[0] + p[1])).collect()
}

/// Duplicates mono into interleaved stereo.
#[must_use]
pub fn upmix(mono: &[f32]) -> Vec<f32> {
    mono.iter().flat_map(|s| [*s, *s]).collect()
}

/// Converts interleaved audio between 1 and 2 channels (a copy when they match).
#[must_use]
pub fn to_channels(samples: &[f32], from: usize, to: usize) -> Vec<f32> {
    match (from, to) {
        (2, 1) => downmix(samples),
        (1, 2) => upmix(samples),
        _ => samples.to_vec(),
    }
}

/// A sine tone: `len` samples of `hz` at `rate` with peak `amplitude`. For tests and benchmarks.
#[must_use]
pub fn tone(hz: f32, rate: u32, len: usize, amplitude: f32) -> Vec<f32> {
    let w = 2.0 * std::f64::consts::PI * f64::from(hz) / f64::from(rate);
    (0..len)
        .map(|i| (f64::from(amplitude) * (w * i as f64).sin()) as f32)
        .collect()
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are the point of these tests
mod test {
    use super::*;

    type Case<'a> = (&'a [usize], Option<Layout>, Result<(usize, Vec<f32>), ()>);

    #[test]
    fn shapes() {
        let d = [1.0, 2.0, 3.0, 4.0];
        let cases: &[Case] = &[
            (&[4], None, Ok((1, vec![1.0, 2.0, 3.0, 4.0]))),
            (&[1, 4], None, Ok((1, vec![1.0, 2.0, 3.0, 4.0]))),
            (&[1, 4], Some(Layout::Stereo), Ok((2, vec![1.0, 2.0, 3.0, 4.0]))),
            (&[4], Some(Layout::Stereo), Ok((2, vec![1.0, 2.0, 3.0, 4.0]))),
            (&[1, 4], Some(Layout::Mono), Ok((1, vec![1.0, 2.0, 3.0, 4.0]))),
            (&[2, 2], None, Ok((2, vec![1.0, 2.0, 3.0, 4.0]))),
            (&[4, 1], None, Ok((1, vec![1.0, 2.0, 3.0, 4.0]))),
            (&[2, 2], Some(Layout::Mono), Ok((1, vec![1.5, 3.5]))),
            (&[4, 1, 1], None, Err(())),
            (&[], None, Err(())),
        ];
        for (shape, layout, expected) in cases {
            let got = interleave(shape, &d, *layout).map_err(|_| ());
            assert_eq!(&got, expected, "shape {shape:?} layout {layout:?}");
        }
        let planar = [1.0, 2.0, 3.0, 10.0, 20.0, 30.0];
        assert_eq!(
            interleave(&[2, 3], &planar, None).unwrap(),
            (2, vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0])
        );
        assert!(interleave(&[1, 3], &planar[..3], Some(Layout::Stereo)).is_err());
        let err = interleave(&[3, 3], &[0.0; 9], None).unwrap_err().to_string();
        assert!(err.contains("[3, 3]"), "{err}");
    }

    #[test]
    fn int16_round_trip_and_clipping() {
        let x = i16_to_f32(&[-32768, -1, 0, 1, 32767]);
        let mut back = Vec::new();
        f32_to_i16_into(&x, &mut back);
        assert_eq!(back, vec![-32768, -1, 0, 1, 32767]);
        back.clear();
        f32_to_i16_into(&[2.0, -2.0, f32::NAN], &mut back);
        assert_eq!(back, vec![32767, -32768, 0]);
        let mut y = [f32::INFINITY, 0.5, -3.0];
        sanitize(&mut y);
        assert_eq!(y, [0.0, 0.5, -1.0]);
        assert!(Layout::parse("surround").is_err());
    }
}
