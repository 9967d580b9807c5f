//! Silero VAD v6 (16 kHz and 8 kHz), run in plain Rust: speech probability per 32 ms window.
//!
//! The official model holds two networks of the same shape, one per rate; each is small enough to
//! write out (≈0.7 M multiply-adds per window at 16 kHz, ≈0.4 M at 8 kHz). Per window: prepend the
//! last `context` samples of the previous window to the `window` new ones, reflect-pad that by
//! `context` on the right, run an STFT as a convolution with `2 × bins` output channels (kernel
//! `kernel`, stride `kernel / 2`) and take its magnitude (`bins` × 4 frames), then four
//! convolution+ReLU layers (`bins`→128, 128→64 /2, 64→64 /2, 64→128) down to one step, one LSTM cell
//! (128), `ReLU`, a 1×1 convolution and a sigmoid:
//!
//! | rate   | window | context and pad | STFT kernel / stride | bins |
//! |--------|--------|-----------------|----------------------|------|
//! | 16 kHz | 512    | 64              | 256 / 128            | 129  |
//! | 8 kHz  | 256    | 32              | 128 / 64             | 65   |
//!
//! Both windows last 32 ms. The weights are the official v6 model's (the two branches of
//! `silero_vad.onnx`), converted by `scripts/convert_silero.py` from the MIT-licensed `silero-vad`
//! wheel (notice in `assets/SILERO_LICENSE`) and compiled into the library: nothing is downloaded,
//! ever. Each rate's weights are parsed the first time a stream at that rate is made.
//!
//! Streaming state per session: the LSTM's `h`/`c` and the last `context` input samples.

use std::sync::{Arc, OnceLock};

use crate::Error;

/// Samples per window at 16 kHz (the window of [`SileroVad::new`]; see [`SileroVad::window`]).
pub const WINDOW: usize = 512;
const HIDDEN: usize = 128;

/// What differs between the 16 kHz and the 8 kHz network (see the table in the module doc).
struct Model {
    rate: u32,
    /// New samples per window.
    window: usize,
    /// Samples of the previous window prepended to each window (the wrapper's context).
    context: usize,
    /// Reflect padding on the right of the input, before the STFT.
    pad: usize,
    /// STFT kernel (frame length) and stride (hop).
    kernel: usize,
    stride: usize,
    /// Frequency bins of the STFT (`kernel / 2 + 1`).
    bins: usize,
    bytes: &'static [u8],
}

static MODEL_16K: Model = Model {
    rate: 16_000,
    window: WINDOW,
    context: 64,
    pad: 64,
    kernel: 256,
    stride: 128,
    bins: 129,
    bytes: include_bytes!("../assets/silero_vad_v6_16k.bin"),
};

static MODEL_8K: Model = Model {
    rate: 8_000,
    window: 256,
    context: 32,
    pad: 32,
    kernel: 128,
    stride: 64,
    bins: 65,
    bytes: include_bytes!("../assets/silero_vad_v6_8k.bin"),
};

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

/// One rate's network: its tensors, parsed once per process (immutable, shared by every session).
pub struct Weights {
    model: &'static Model,
    tensors: Vec<(String, Tensor)>,
}

impl Weights {
    fn parse(model: &'static Model) -> Result<Self, Error> {
        let bytes = model.bytes;
        let bad = |what: &str| Error::BadAudio(format!("corrupt Silero weights ({} Hz): {what}", model.rate));
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
        let weights = Self { model, tensors };
        // The STFT and the first layer are the parts whose shapes depend on the rate.
        let shape = |name: &str| {
            weights
                .tensors
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.dims.clone())
        };
        if shape("stft.forward_basis_buffer") != Some(vec![2 * model.bins, 1, model.kernel]) {
            return Err(bad("STFT basis shape"));
        }
        if shape(ENCODER[0].0) != Some(vec![HIDDEN, model.bins, 3]) {
            return Err(bad("first layer shape"));
        }
        Ok(weights)
    }

    fn get(&self, name: &str) -> &Tensor {
        &self
            .tensors
            .iter()
            .find(|(n, _)| n == name)
            .expect("the converter writes every tensor by name")
            .1
    }

    /// The 16 kHz weights compiled into this library.
    #[must_use]
    pub fn builtin() -> Arc<Weights> {
        static CELL: OnceLock<Arc<Weights>> = OnceLock::new();
        Self::cached(&CELL, &MODEL_16K)
    }

    /// The weights compiled into this library for `rate` Hz: 16 000 or 8 000, nothing else.
    pub fn builtin_for(rate: u32) -> Result<Arc<Weights>, Error> {
        static CELL_8K: OnceLock<Arc<Weights>> = OnceLock::new();
        match rate {
            16_000 => Ok(Self::builtin()),
            8_000 => Ok(Self::cached(&CELL_8K, &MODEL_8K)),
            other => Err(Error::BadAudio(format!(
                "the Silero VAD runs at 8000 or 16000 Hz, not {other} Hz (resample first)"
            ))),
        }
    }

    fn cached(cell: &OnceLock<Arc<Weights>>, model: &'static Model) -> Arc<Weights> {
        cell.get_or_init(|| Arc::new(Weights::parse(model).expect("the bundled weights are valid")))
            .clone()
    }
}

/// Dot product in eight independent lanes: the compiler vectorises it (a single running sum
/// would pin it to one addition at a time), and the reordering changes results by ~1e-7.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
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
    let tp = t + 2 * pad;
    let tout = (tp - k) / stride + 1;
    // Padding copied in once, so the inner loops are plain dot products without bounds tests.
    let padded;
    let xp: &[f32] = if pad == 0 {
        x
    } else {
        let mut buf = vec![0.0f32; cin * tp];
        for i in 0..cin {
            buf[i * tp + pad..i * tp + pad + t].copy_from_slice(&x[i * t..(i + 1) * t]);
        }
        padded = buf;
        &padded
    };
    let mut out = vec![0.0f32; cout * tout];
    for o in 0..cout {
        let b = bias.map_or(0.0, |b| b.data[o]);
        let wo = &w.data[o * cin * k..(o + 1) * cin * k];
        for step in 0..tout {
            let mut acc = b;
            for i in 0..cin {
                let xs = &xp[i * tp + step * stride..i * tp + step * stride + k];
                acc += dot(&wo[i * k..(i + 1) * k], xs);
            }
            out[o * tout + step] = acc;
        }
    }
    (out, tout)
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// Speech probability of every 32 ms window of `samples` (mono, floats in [-1, 1] at `rate` Hz),
/// from a fresh stream state: 8 kHz audio runs Silero's 8 kHz network, any other rate is converted
/// to 16 kHz first. A last partial window is zero-padded. Returns the probabilities and the rate
/// they were computed at (window `i` covers samples `i * window ..` at that rate).
pub fn probabilities(rate: u32, samples: &[f32]) -> Result<(Vec<f32>, u32), Error> {
    let vad_rate = if rate == 8_000 { 8_000 } else { 16_000 };
    let mut converted = Vec::new();
    let audio: &[f32] = if rate == vad_rate {
        samples
    } else {
        crate::lowdelay::LowDelayResampler::new(rate, vad_rate)?.process(samples, &mut converted);
        &converted
    };
    let mut vad = SileroVad::with_rate(vad_rate)?;
    let window = vad.window();
    let mut out = Vec::with_capacity(audio.len().div_ceil(window));
    for chunk in audio.chunks(window) {
        if chunk.len() == window {
            out.push(vad.process(chunk)?);
        } else {
            let mut padded = chunk.to_vec();
            padded.resize(window, 0.0);
            out.push(vad.process(&padded)?);
        }
    }
    Ok((out, vad_rate))
}

/// One stream's VAD: feed it consecutive windows of [`SileroVad::window`] samples at its rate
/// (512 at 16 kHz, 256 at 8 kHz).
pub struct SileroVad {
    weights: Arc<Weights>,
    h: Vec<f32>,
    c: Vec<f32>,
    context: Vec<f32>,
}

impl SileroVad {
    /// A fresh 16 kHz stream state with the bundled weights (windows of [`WINDOW`] samples).
    #[must_use]
    pub fn new() -> Self {
        Self::with_weights(Weights::builtin())
    }

    /// A fresh stream state for audio at `rate` Hz: 16 000 (512-sample windows) or 8 000
    /// (256-sample windows); any other rate is an error.
    pub fn with_rate(rate: u32) -> Result<Self, Error> {
        Ok(Self::with_weights(Weights::builtin_for(rate)?))
    }

    fn with_weights(weights: Arc<Weights>) -> Self {
        let context = weights.model.context;
        Self {
            weights,
            h: vec![0.0; HIDDEN],
            c: vec![0.0; HIDDEN],
            context: vec![0.0; context],
        }
    }

    /// Sample rate of the audio this stream takes, in Hz.
    #[must_use]
    pub fn rate(&self) -> u32 {
        self.weights.model.rate
    }

    /// Samples per window that [`SileroVad::process`] takes: 512 at 16 kHz, 256 at 8 kHz (32 ms).
    #[must_use]
    pub fn window(&self) -> usize {
        self.weights.model.window
    }

    /// Forgets the stream (new utterance, new speaker).
    pub fn reset(&mut self) {
        self.h.fill(0.0);
        self.c.fill(0.0);
        self.context.fill(0.0);
    }

    /// Speech probability of the next [`SileroVad::window`] samples (floats in [-1, 1] at the
    /// stream's rate); a window of any other length is an error.
    pub fn process(&mut self, window: &[f32]) -> Result<f32, Error> {
        let w = self.weights.clone();
        let m = w.model;
        if window.len() != m.window {
            return Err(Error::BadAudio(format!(
                "the VAD takes {} samples at a time at {} Hz, got {}",
                m.window,
                m.rate,
                window.len()
            )));
        }
        // Input with context, reflect-padded on the right (no edge repeat).
        let mut x = Vec::with_capacity(m.context + m.window + m.pad);
        x.extend_from_slice(&self.context);
        x.extend_from_slice(window);
        let n = x.len();
        for i in 0..m.pad {
            x.push(x[n - 2 - i]);
        }
        self.context.copy_from_slice(&x[n - m.context..n]);
        // STFT as a convolution, then the magnitude of the bins (real parts, then imaginary parts).
        let (spec, frames) = conv1d(&x, 1, x.len(), w.get("stft.forward_basis_buffer"), None, m.stride, 0);
        let bins = m.bins;
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
            let a = dot(&wih.data[g * HIDDEN..(g + 1) * HIDDEN], &feature);
            let b = dot(&whh.data[g * HIDDEN..(g + 1) * HIDDEN], &self.h);
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

    /// Runs `vad` over `audio` window by window; returns the probabilities and the worst difference.
    fn compare(vad: &mut SileroVad, audio: &[f32], expected: &[f32]) -> (Vec<f32>, f32) {
        let got: Vec<f32> = audio
            .chunks_exact(vad.window())
            .map(|w| vad.process(w).unwrap())
            .collect();
        assert_eq!(got.len(), expected.len());
        let worst = got
            .iter()
            .zip(expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        (got, worst)
    }

    #[test]
    fn matches_onnxruntime_on_speech() {
        let (audio, expected) = reference(include_bytes!("../tests/data/silero_speech_reference.bin"));
        let mut vad = SileroVad::new();
        let (got, worst) = compare(&mut vad, &audio, &expected);
        assert!(worst < 1e-3, "max |p - p_onnxruntime| = {worst}");
        let speech = got.iter().filter(|p| **p > 0.5).count();
        assert!(speech > 30, "the spoken sentence is speech ({speech} windows)");
    }

    #[test]
    fn matches_onnxruntime() {
        let (audio, expected) = reference(include_bytes!("../tests/data/silero_reference.bin"));
        let mut vad = SileroVad::new();
        assert_eq!((vad.rate(), vad.window()), (16_000, WINDOW));
        let (got, worst) = compare(&mut vad, &audio, &expected);
        assert!(worst < 1e-3, "max |p - p_onnxruntime| = {worst}");
        // The silent second really is silent, and the state carries over between windows.
        assert!(got[95..125].iter().all(|p| *p < 0.05));
        vad.reset();
        assert!(vad.process(&[0.0; 100]).is_err());
        assert!(vad.process(&[0.0; 256]).is_err());
    }

    #[test]
    fn matches_onnxruntime_at_8k() {
        let (audio, expected) = reference(include_bytes!("../tests/data/silero_8k_reference.bin"));
        let mut vad = SileroVad::with_rate(8_000).unwrap();
        assert_eq!((vad.rate(), vad.window()), (8_000, 256));
        let (got, worst) = compare(&mut vad, &audio, &expected);
        assert!(worst < 1e-3, "max |p - p_onnxruntime| = {worst}");
        let speech = got.iter().filter(|p| **p > 0.5).count();
        assert!(
            speech > 30,
            "the spoken sentence is speech at 8 kHz too ({speech} windows)"
        );
        // After a reset the stream starts over: the same audio gives the same probabilities.
        vad.reset();
        let (again, _) = compare(&mut vad, &audio, &expected);
        assert_eq!(again, got);
    }

    #[test]
    fn only_8k_and_16k_and_only_whole_windows() {
        let err = SileroVad::with_rate(44_100)
            .err()
            .expect("44.1 kHz is not a Silero rate");
        assert!(err.to_string().contains("44100"), "{err}");
        assert!(SileroVad::with_rate(16_000).is_ok());
        let mut vad = SileroVad::with_rate(8_000).unwrap();
        assert!(vad.process(&[0.0; WINDOW]).is_err(), "512 samples are 64 ms at 8 kHz");
        assert!(vad.process(&[0.0; 255]).is_err());
        assert!(vad.process(&[0.0; 256]).is_ok());
    }
}
