//! Whisper's log-mel features: the input of end-of-turn models built on Whisper's encoder
//! (Smart Turn v3 takes the last 8 s of 16 kHz audio as 80 mel bands x 800 frames).
//!
//! The recipe is Whisper's: the waveform normalised to zero mean and unit variance, a centred
//! short-time Fourier transform (400-sample periodic Hann window, 160-sample hop, reflected edges),
//! the power spectrum through 80 Slaney-scale triangular filters (0-8 kHz, Slaney area
//! normalisation), `log10` with a floor of 1e-10, the last frame dropped, everything below the
//! loudest value minus 8 raised to it, then `(x + 4) / 4`. Computed in f64 like the reference
//! (`scripts/smart_turn_reference.py` writes its output for the tests) and returned as f32.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// The rate the features are computed at.
pub const MEL_RATE: u32 = 16_000;
/// Samples the features cover: the last 8 s.
pub const MEL_SAMPLES: usize = 128_000;
/// Mel bands.
pub const N_MELS: usize = 80;
/// Frames (10 ms each).
pub const N_FRAMES: usize = 800;
const N_FFT: usize = 400;
const HOP: usize = 160;
const BINS: usize = N_FFT / 2 + 1;
/// The variance floor of the waveform normalisation.
const VARIANCE_EPS: f64 = 1e-7;
/// The power floor before the logarithm.
const MEL_FLOOR: f64 = 1e-10;

/// One triangular filter: its first FFT bin and its weights from there.
struct Filter {
    first: usize,
    weights: Vec<f64>,
}

/// Computes log-mel features; holds its window, filterbank and FFT plan (make one, reuse it).
pub struct LogMel {
    window: Vec<f64>,
    filters: Vec<Filter>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

fn hz_to_mel(hz: f64) -> f64 {
    // Slaney: linear below 1 kHz (3 mels per 200 Hz), logarithmic above (27 mels per factor 6.4).
    if hz < 1000.0 {
        3.0 * hz / 200.0
    } else {
        15.0 + (hz / 1000.0).ln() * 27.0 / 6.4f64.ln()
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel < 15.0 {
        200.0 * mel / 3.0
    } else {
        1000.0 * ((mel - 15.0) * 6.4f64.ln() / 27.0).exp()
    }
}

impl LogMel {
    /// The window, the filterbank and the FFT plan.
    #[must_use]
    pub fn new() -> Self {
        let window = (0..N_FFT)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos())
            .collect();
        let nyquist = f64::from(MEL_RATE) / 2.0;
        let (low, high) = (hz_to_mel(0.0), hz_to_mel(nyquist));
        let edges: Vec<f64> = (0..N_MELS + 2)
            .map(|i| mel_to_hz(low + (high - low) * i as f64 / (N_MELS + 1) as f64))
            .collect();
        let bin_hz = |k: usize| nyquist * k as f64 / (BINS - 1) as f64;
        let filters = (0..N_MELS)
            .map(|m| {
                let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
                let area = 2.0 / (right - left);
                let weights: Vec<(usize, f64)> = (0..BINS)
                    .map(|k| {
                        let f = bin_hz(k);
                        let rising = (f - left) / (centre - left);
                        let falling = (right - f) / (right - centre);
                        (k, rising.min(falling).max(0.0) * area)
                    })
                    .filter(|(_, w)| *w > 0.0)
                    .collect();
                Filter {
                    first: weights.first().map_or(0, |(k, _)| *k),
                    weights: weights.iter().map(|(_, w)| *w).collect(),
                }
            })
            .collect();
        Self {
            window,
            filters,
            fft: RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT),
        }
    }

    /// The features of the last 8 s of `audio` (16 kHz mono in `[-1, 1]`; shorter audio is
    /// zero-padded in front), `N_MELS` rows of `N_FRAMES`, row-major: the model's `(80, 800)`.
    #[must_use]
    pub fn features(&self, audio: &[f32]) -> Vec<f32> {
        let tail = &audio[audio.len().saturating_sub(MEL_SAMPLES)..];
        let mut x = vec![0.0f64; MEL_SAMPLES - tail.len()];
        x.extend(tail.iter().map(|&s| f64::from(s)));
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        let variance = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / x.len() as f64;
        let scale = 1.0 / (variance + VARIANCE_EPS).sqrt();
        for v in &mut x {
            *v = (*v - mean) * scale;
        }
        // Centred frames: the signal reflected (without its edge sample) by half a window each side.
        let pad = N_FFT / 2;
        let n = x.len();
        let at = |i: usize| -> f64 {
            if i < pad {
                x[pad - i]
            } else if i - pad < n {
                x[i - pad]
            } else {
                x[n - 2 - (i - pad - n)]
            }
        };
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut power = vec![0.0f64; BINS];
        let mut logs = vec![0.0f64; N_MELS * N_FRAMES];
        for frame in 0..N_FRAMES {
            let start = frame * HOP;
            for (i, slot) in input.iter_mut().enumerate() {
                *slot = at(start + i) * self.window[i];
            }
            self.fft
                .process(&mut input, &mut spectrum)
                .expect("buffers made by the plan");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, filter) in self.filters.iter().enumerate() {
                let energy: f64 = filter
                    .weights
                    .iter()
                    .zip(&power[filter.first..])
                    .map(|(w, p)| w * p)
                    .sum();
                logs[m * N_FRAMES + frame] = energy.max(MEL_FLOOR).log10();
            }
        }
        let floor = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max) - 8.0;
        logs.iter().map(|&v| ((v.max(floor) + 4.0) / 4.0) as f32).collect()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// Every 8th frame of the reference's features (`scripts/smart_turn_reference.py`), f32 LE.
    fn reference(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    fn wav(bytes: &[u8]) -> Vec<f32> {
        bytes[44..]
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect()
    }

    fn check(audio: &[f32], expected: &[f32]) {
        let features = LogMel::new().features(audio);
        assert_eq!(features.len(), N_MELS * N_FRAMES);
        assert_eq!(expected.len(), N_MELS * N_FRAMES / 8);
        let mut worst = 0.0f32;
        for m in 0..N_MELS {
            for (j, frame) in (0..N_FRAMES).step_by(8).enumerate() {
                let diff = (features[m * N_FRAMES + frame] - expected[m * (N_FRAMES / 8) + j]).abs();
                worst = worst.max(diff);
            }
        }
        assert!(worst < 1e-4, "largest difference from the reference: {worst}");
    }

    #[test]
    fn a_short_utterance_is_padded_in_front_like_the_reference() {
        let audio = wav(include_bytes!("../../../tests/data/speech/one_sentence.wav"));
        check(
            &audio,
            &reference(include_bytes!("../../../tests/data/smart_turn/one_sentence.mel")),
        );
    }

    #[test]
    fn a_long_one_keeps_its_last_8_seconds_like_the_reference() {
        let audio = wav(include_bytes!("../../../tests/data/speech/long_reply_interrupt.wav"));
        assert!(audio.len() > MEL_SAMPLES);
        check(
            &audio,
            &reference(include_bytes!(
                "../../../tests/data/smart_turn/long_reply_interrupt.mel"
            )),
        );
    }

    #[test]
    fn silence_is_flat_and_finite() {
        let features = LogMel::new().features(&[]);
        assert!(features.iter().all(|v| v.is_finite()));
        let first = features[0];
        assert!(features.iter().all(|v| (v - first).abs() < 1e-6));
    }
}
