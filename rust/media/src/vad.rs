//! Silero VAD v6 (16 kHz), run in plain Rust: speech probability per 32 ms window.
//!
//! The network is small enough to write out (≈0.7 M multiply-adds per window): reflect-pad the
//! 576-sample input (64 samples of context + 512 new) by 64 on the right, an STFT as a 258-channel
//! convolution (kernel 256, stride 128) and its magnitude (129 bins × 4 frames), four
//! convolution+ReLU layers (129→128, 128→64 /2, 64→64 /2, 64→128) down to one step, one LSTM cell
//! (128), `ReLU`, a 1×1 convolution and a sigmoid. The weights are the official v6 model's, converted
//! by `scripts/convert_silero.py` from the MIT-licensed `silero-vad` wheel (notice in
//! `assets/SILERO_LICENSE`) and compiled into the library: nothing is downloaded, ever.
//!
//! Streaming state per session: the LSTM's `h`/`c` and the last 64 input samples.

use std::sync::{Arc, OnceLock};

use crate::Error;

/// Samples per window at 16 kHz.
pub const WINDOW: usize = 512;
const CONTEXT: usize = 64;
const HIDDEN: usize = 128;

static WEIGHTS_BYTES: &[u8] = include_bytes!("../assets/silero_vad_v6_16k.bin");

/// The encoder layers: weight and bias tensor names, and stride.
const ENCODER: [(&str, &str, usize); 4] = [
    ("encoder.0.reparam_conv.weight", "encoder.0.reparam_conv.bias", 1),
    ("encoder.1.reparam_conv.weight", "encoder.1.reparam_conv.bias", 2),
    ("encoder.2.reparam_conv.weight", "encoder.2.reparam_conv.bias", 2),
    ("encoder.3.reparam_conv.weight", "encoder.3.reparam_conv.bias", 1),
];

struct Tensor {
    dims: Vec<usize>,
    data: Vec<f32>,
}

/// The model's tensors, parsed once per process (immutable, shared by every session).
pub struct Weights {
    tensors: Vec<(String, Tensor)>,
}

impl Weights {
    fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let bad = |what: &str| Error::BadAudio(format!("corrupt Silero weights: {what}"));
        let mut pos = 0usize;
        let mut take = |n: usize| -> Result<&[u8], Error> {
            let slice = bytes.get(pos..pos + n).ok_or_else(|| bad("truncated"))?;
            pos += n;
            Ok(slice)
        };
        if take(8)? != b"SILERO6\0" {
            return Err(bad("magic"));
        }
        let u32_at = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let count = u32_at(take(4)?);
        let mut tensors = Vec::with_capacity(count);
        for _ in 0..count {
            let name_len = u32_at(take(4)?);
            let name = String::from_utf8(take(name_len)?.to_vec()).map_err(|_| bad("name"))?;
            let rank = u32_at(take(4)?);
            let mut dims = Vec::with_capacity(rank);
            for _ in 0..rank {
                dims.push(u32_at(take(4)?));
            }
            let n: usize = dims.iter().product();
            let data = take(n * 4)?
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            tensors.push((name, Tensor { dims, data }));
        }
        Ok(Self { tensors })
    }

    fn get(&self, name: &str) -> &Tensor {
        &self
            .tensors
            .iter()
            .find(|(n, _)| n == name)
            .expect("the converter writes every tensor by name")
            .1
    }

    /// The weights compiled into this library.
    pub fn builtin() -> Arc<Weights> {
        static CELL: OnceLock<Arc<Weights>> = OnceLock::new();
        CELL.get_or_init(|| Arc::new(Weights::parse(WEIGHTS_BYTES).expect("the bundled weights are valid")))
            .clone()
    }
}

/// 1-D convolution over `(channels, time)` input, row-major; zero padding `pad` on both sides.
fn conv1d(
    x: &[f32],
    cin: usize,
    t: usize,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    pad: usize,
) -> (Vec<f32>, usize) {
    let (cout, k) = (w.dims[0], w.dims[2]);
    debug_assert_eq!(w.dims[1], cin);
    let tout = (t + 2 * pad - k) / stride + 1;
    let mut out = vec![0.0f32; cout * tout];
    for o in 0..cout {
        let b = bias.map_or(0.0, |b| b.data[o]);
        for step in 0..tout {
            let mut acc = b;
            for i in 0..cin {
                let wrow = &w.data[(o * cin + i) * k..(o * cin + i + 1) * k];
                let xrow = &x[i * t..(i + 1) * t];
                for (j, wv) in wrow.iter().enumerate() {
                    let pos = (step * stride + j) as isize - pad as isize;
                    if pos >= 0 && (pos as usize) < t {
                        acc += wv * xrow[pos as usize];
                    }
                }
            }
            out[o * tout + step] = acc;
        }
    }
    (out, tout)
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// One stream's VAD: feed it consecutive 512-sample windows of 16 kHz audio.
pub struct SileroVad {
    weights: Arc<Weights>,
    h: Vec<f32>,
    c: Vec<f32>,
    context: Vec<f32>,
}

impl SileroVad {
    /// A fresh stream state with the bundled weights.
    #[must_use]
    pub fn new() -> Self {
        Self {
            weights: Weights::builtin(),
            h: vec![0.0; HIDDEN],
            c: vec![0.0; HIDDEN],
            context: vec![0.0; CONTEXT],
        }
    }

    /// Forgets the stream (new utterance, new speaker).
    pub fn reset(&mut self) {
        self.h.fill(0.0);
        self.c.fill(0.0);
        self.context.fill(0.0);
    }

    /// Speech probability of the next 512 samples (16 kHz, floats in [-1, 1]).
    pub fn process(&mut self, window: &[f32]) -> Result<f32, Error> {
        if window.len() != WINDOW {
            return Err(Error::BadAudio(format!(
                "the VAD takes {WINDOW} samples at a time, got {}",
                window.len()
            )));
        }
        let w = self.weights.clone();
        // Input with context, reflect-padded by 64 on the right (no edge repeat).
        let mut x = Vec::with_capacity(CONTEXT + WINDOW + 64);
        x.extend_from_slice(&self.context);
        x.extend_from_slice(window);
        let n = x.len();
        for i in 0..64 {
            x.push(x[n - 2 - i]);
        }
        self.context
            .copy_from_slice(&x[CONTEXT + WINDOW - CONTEXT..CONTEXT + WINDOW]);
        // STFT as a convolution, then the magnitude of the 129 bins.
        let (spec, frames) = conv1d(&x, 1, x.len(), w.get("stft.forward_basis_buffer"), None, 128, 0);
        let bins = 129;
        let mut y: Vec<f32> = (0..bins * frames)
            .map(|i| {
                let (re, im) = (spec[i], spec[bins * frames + i]);
                (re * re + im * im).sqrt()
            })
            .collect();
        let (mut channels, mut t) = (bins, frames);
        for (weight_name, bias_name, stride) in ENCODER {
            let kernel = w.get(weight_name);
            let offset = w.get(bias_name);
            let (mut out, tout) = conv1d(&y, channels, t, kernel, Some(offset), stride, 1);
            for v in &mut out {
                *v = v.max(0.0);
            }
            channels = kernel.dims[0];
            t = tout;
            y = out;
        }
        // The last time step feeds one LSTM cell (PyTorch gate order i, f, g, o).
        let feature: Vec<f32> = (0..channels).map(|ch| y[ch * t + t - 1]).collect();
        let (wih, whh) = (w.get("decoder.rnn.weight_ih"), w.get("decoder.rnn.weight_hh"));
        let (bih, bhh) = (w.get("decoder.rnn.bias_ih"), w.get("decoder.rnn.bias_hh"));
        let mut gates = vec![0.0f32; 4 * HIDDEN];
        for (g, gate) in gates.iter_mut().enumerate() {
            let a: f32 = wih.data[g * HIDDEN..(g + 1) * HIDDEN]
                .iter()
                .zip(&feature)
                .map(|(p, q)| p * q)
                .sum();
            let b: f32 = whh.data[g * HIDDEN..(g + 1) * HIDDEN]
                .iter()
                .zip(&self.h)
                .map(|(p, q)| p * q)
                .sum();
            *gate = a + b + bih.data[g] + bhh.data[g];
        }
        for k in 0..HIDDEN {
            let (i, f) = (sigmoid(gates[k]), sigmoid(gates[HIDDEN + k]));
            let (g, o) = (gates[2 * HIDDEN + k].tanh(), sigmoid(gates[3 * HIDDEN + k]));
            self.c[k] = f * self.c[k] + i * g;
            self.h[k] = o * self.c[k].tanh();
        }
        let out_w = w.get("decoder.decoder.2.weight");
        let logit: f32 = out_w.data.iter().zip(&self.h).map(|(p, q)| p * q.max(0.0)).sum::<f32>()
            + w.get("decoder.decoder.2.bias").data[0];
        Ok(sigmoid(logit))
    }
}

impl Default for SileroVad {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// A signal and the probabilities onnxruntime gave for it (see `scripts/convert_silero.py`).
    fn reference(bytes: &[u8]) -> (Vec<f32>, Vec<f32>) {
        let u32_at = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]) as usize;
        let (n_audio, n_probs) = (u32_at(0), u32_at(4));
        let audio = bytes[8..8 + 2 * n_audio]
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect();
        let start = 8 + 2 * n_audio;
        let probs = bytes[start..start + 4 * n_probs]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (audio, probs)
    }

    #[test]
    fn matches_onnxruntime_on_speech() {
        let (audio, expected) = reference(include_bytes!("../tests/data/silero_speech_reference.bin"));
        let mut vad = SileroVad::new();
        let got: Vec<f32> = audio.chunks_exact(WINDOW).map(|w| vad.process(w).unwrap()).collect();
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "max |p - p_onnxruntime| = {worst}");
        let speech = got.iter().filter(|p| **p > 0.5).count();
        assert!(speech > 30, "the spoken sentence is speech ({speech} windows)");
    }

    #[test]
    fn matches_onnxruntime() {
        let (audio, expected) = reference(include_bytes!("../tests/data/silero_reference.bin"));
        let mut vad = SileroVad::new();
        let got: Vec<f32> = audio.chunks_exact(WINDOW).map(|w| vad.process(w).unwrap()).collect();
        assert_eq!(got.len(), expected.len());
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "max |p - p_onnxruntime| = {worst}");
        // The silent second really is silent, and the state carries over between windows.
        assert!(got[95..125].iter().all(|p| *p < 0.05));
        vad.reset();
        assert!(vad.process(&[0.0; 100]).is_err());
    }
}
