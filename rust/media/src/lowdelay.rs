//! Low-delay resampling for the VAD: the pause rule waits on every sample it is fed.
//!
//! [`crate::resample::Resampler`] (rubato's FFT resampler) is the right tool for audio that is
//! heard: flat, clean and cheap. But it works in 10 ms blocks and delays its output by another
//! ~5 ms, and pause detection — the headline latency of `ReplyOnPause` — waits for each of those
//! samples. The VAD does not need studio quality: this resampler is a windowed-sinc low-pass
//! (127 taps at the input rate, cut-off just under the output's Nyquist) evaluated only where an
//! output sample falls, with linear interpolation between input positions for non-integer ratios
//! (48 kHz → 16 kHz is an exact decimation). Every output sample is ready 63 input samples after
//! its position (1.3 ms at 48 kHz), whatever the size of the pieces pushed.

use crate::Error;

/// Filter length in input samples (odd: symmetric around the output position).
const TAPS: usize = 127;
const HALF: usize = TAPS / 2;

/// Streaming mono resampler with a delay of `TAPS / 2` input samples.
pub struct LowDelayResampler {
    from: u32,
    to: u32,
    /// Input samples per output sample.
    step: f64,
    taps: Vec<f32>,
    /// Input samples still needed; `buf[0]` is input sample `base` (negative: leading zeros).
    buf: Vec<f32>,
    base: i64,
    /// Input position of the next output sample.
    next: f64,
}

impl LowDelayResampler {
    /// A resampler from `from` Hz to `to` Hz.
    pub fn new(from: u32, to: u32) -> Result<Self, Error> {
        if from == 0 || to == 0 {
            return Err(Error::Resample(format!("invalid rates {from} -> {to}")));
        }
        // Cut-off at 95 % of the lower Nyquist frequency, in cycles per input sample.
        let cutoff = 0.475 * f64::from(from.min(to)) / f64::from(from);
        let mut taps: Vec<f64> = (0..TAPS)
            .map(|i| {
                let n = i as f64 - HALF as f64;
                let sinc = if n == 0.0 {
                    1.0
                } else {
                    (2.0 * std::f64::consts::PI * cutoff * n).sin() / (std::f64::consts::PI * n) / (2.0 * cutoff)
                };
                let phase = 2.0 * std::f64::consts::PI * i as f64 / (TAPS - 1) as f64;
                let blackman = 0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos();
                sinc * blackman
            })
            .collect();
        let sum: f64 = taps.iter().sum();
        for t in &mut taps {
            *t /= sum;
        }
        Ok(Self {
            from,
            to,
            step: f64::from(from) / f64::from(to),
            taps: taps.into_iter().map(|t| t as f32).collect(),
            buf: vec![0.0; HALF],
            base: -(HALF as i64),
            next: 0.0,
        })
    }

    /// Input samples an output sample waits for beyond its own position.
    #[must_use]
    pub fn delay(&self) -> usize {
        if self.from == self.to {
            0
        } else {
            HALF
        }
    }

    /// The low-passed input at absolute sample `i` (needs `i - HALF ..= i + HALF` buffered).
    fn filtered(&self, i: i64) -> f32 {
        let start = (i - HALF as i64 - self.base) as usize;
        self.buf[start..start + TAPS]
            .iter()
            .zip(&self.taps)
            .map(|(x, t)| x * t)
            .sum()
    }

    /// Pushes mono `input` and appends every output sample that is ready to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.from == self.to {
            out.extend_from_slice(input);
            return;
        }
        self.buf.extend_from_slice(input);
        let end = self.base + self.buf.len() as i64; // one past the last buffered input sample
        loop {
            let i = self.next.floor() as i64;
            let frac = (self.next - i as f64) as f32;
            let last_needed = if frac > 0.0 { i + 1 } else { i } + HALF as i64;
            if last_needed >= end {
                break;
            }
            let mut y = self.filtered(i);
            if frac > 0.0 {
                y += frac * (self.filtered(i + 1) - y);
            }
            out.push(y);
            self.next += self.step;
        }
        // Keep what the next output sample's filter reaches back to.
        let keep_from = (self.next.floor() as i64 - HALF as i64).max(self.base);
        let drop = (keep_from - self.base) as usize;
        self.buf.drain(..drop.min(self.buf.len()));
        self.base += drop as i64;
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::convert::tone;

    fn amplitude(x: &[f32]) -> f32 {
        x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
    }

    #[test]
    fn speech_band_passes_and_what_would_alias_is_removed() {
        let mut r = LowDelayResampler::new(48_000, 16_000).unwrap();
        let mut out = Vec::new();
        r.process(&tone(1000.0, 48_000, 48_000, 0.5), &mut out);
        assert!((15_900..=16_000).contains(&out.len()), "{}", out.len());
        assert!((amplitude(&out[1000..]) - 0.5).abs() < 0.01);
        // 12 kHz would fold onto 4 kHz: it must be gone.
        let mut r = LowDelayResampler::new(48_000, 16_000).unwrap();
        let mut out = Vec::new();
        r.process(&tone(12_000.0, 48_000, 48_000, 0.5), &mut out);
        assert!(amplitude(&out[1000..]) < 0.005, "{}", amplitude(&out[1000..]));
    }

    #[test]
    fn pieces_of_any_size_give_the_same_output_with_a_short_delay() {
        let signal = tone(440.0, 44_100, 44_100, 0.5);
        let mut whole = Vec::new();
        LowDelayResampler::new(44_100, 16_000)
            .unwrap()
            .process(&signal, &mut whole);
        let mut r = LowDelayResampler::new(44_100, 16_000).unwrap();
        let mut pieces = Vec::new();
        for chunk in signal.chunks(37) {
            r.process(chunk, &mut pieces);
        }
        assert_eq!(whole, pieces);
        // Everything up to HALF input samples before the end is out.
        let expected = ((44_100 - HALF) as f64 / (44_100.0 / 16_000.0)).floor() as usize;
        assert!(whole.len().abs_diff(expected) <= 1, "{} vs {expected}", whole.len());
        assert_eq!(r.delay(), HALF);
    }

    #[test]
    fn equal_rates_pass_through_and_zero_rates_are_refused() {
        let mut r = LowDelayResampler::new(16_000, 16_000).unwrap();
        let mut out = Vec::new();
        r.process(&[0.25; 100], &mut out);
        assert_eq!(out, vec![0.25; 100]);
        assert!(LowDelayResampler::new(0, 16_000).is_err());
    }
}
