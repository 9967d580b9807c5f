//! End of turn: has the user finished what they were saying, or only paused?
//!
//! A silence timer cannot tell "Can you tell me ... what the weather is like" from "What is the
//! weather like?" followed by the same pause. An end-of-turn model hears the utterance so far
//! (prosody and content) and gives the probability that the turn is complete; pause detection asks
//! it at a short silence and replies at once when it says yes ([`crate::pause`]).
//!
//! [`TurnDetector`] is that question; [`SmartTurn`] answers it with Smart Turn v3.2 (Daily,
//! BSD-2-Clause, notice in `assets/SMART_TURN_LICENSE`): a Whisper-tiny encoder (4 layers, d=384)
//! with a classification head, statically quantised to int8, over the last 8 s of 16 kHz audio as
//! Whisper log-mel features ([`crate::mel`]). The ONNX file is the one in the `pipecat-ai` wheel,
//! copied by `scripts/smart_turn_reference.py` and compiled into the library: nothing is
//! downloaded.
//!
//! The network runs in ONNX Runtime, loaded from its shared library at run time (the
//! `onnxruntime` wheel on `PyPI` ships it): `ort`'s `load-dynamic` mode links nothing at build time.
//! Measured here (2 cores, one thread per call): ~50 ms per call; `tract` was 300 ms (and wrong
//! once optimised), a float copy of the model 114 ms. ONNX Runtime gives the reference's numbers
//! exactly, since the reference runs on it, with exact int8 products on every x86 CPU (see
//! `new_session`).

use std::fmt;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;

use crate::lowdelay::LowDelayResampler;
use crate::mel::{LogMel, MEL_RATE, MEL_SAMPLES, N_FRAMES, N_MELS};
use crate::Error;

/// The model, compiled in (8.7 MB).
static MODEL: &[u8] = include_bytes!("../assets/smart-turn-v3.2-cpu.onnx");

/// Decides whether an utterance is a finished turn.
///
/// Called off the media path (the engine runs it on a blocking thread), once per candidate pause,
/// with the whole utterance so far. Implementations must be cheap to share between sessions.
pub trait TurnDetector: Send + Sync + fmt::Debug {
    /// The probability (0 to 1) that `samples` (mono, `rate` Hz, in `[-1, 1]`: the utterance from
    /// its start to now, its trailing silence included) is a complete turn.
    fn probability(&self, rate: u32, samples: &[f32]) -> Result<f32, Error>;
}

/// The ONNX Runtime environment: one per process, bound to the first library that loads.
static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();
/// Held while the library loads (a failed load leaves nothing behind: the next call tries again).
static LOADING: Mutex<()> = Mutex::new(());

fn environment(library: &Path) -> Result<&'static Environment, Error> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let _loading = LOADING.lock().expect("not poisoned");
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let load_failed = |e: String| Error::Model(format!("could not load ONNX Runtime from {}: {e}", library.display()));
    let env = ort::init_from(library)
        .map_err(|e| load_failed(e.to_string()))?
        .with_name("gradio_webrtc")
        .with_telemetry(false)
        .build()
        .map_err(|e| load_failed(e.to_string()))?;
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// Smart Turn v3.2 on ONNX Runtime.
pub struct SmartTurn {
    library: String,
    mel: LogMel,
    /// Idle model sessions: a call takes one (or makes one) and puts it back. ONNX Runtime's `Run`
    /// needs `&mut` here, and concurrent calls (many conversations) each need their own.
    sessions: Mutex<Vec<Session>>,
}

impl fmt::Debug for SmartTurn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmartTurn")
            .field("library", &self.library)
            .finish_non_exhaustive()
    }
}

impl SmartTurn {
    /// Loads ONNX Runtime from `library` (e.g. the `onnxruntime` wheel's
    /// `capi/libonnxruntime.so.1.x`, at least 1.20) and the model; one session is made here so
    /// that a bad library fails now, not at the first pause.
    pub fn load(library: &Path) -> Result<Self, Error> {
        let model = Self {
            library: library.display().to_string(),
            mel: LogMel::new(),
            sessions: Mutex::new(Vec::new()),
        };
        let session = model.new_session()?;
        model.sessions.lock().expect("not poisoned").push(session);
        Ok(model)
    }

    fn new_session(&self) -> Result<Session, Error> {
        let env = environment(Path::new(&self.library))?;
        Session::builder(env)
            .map_err(failed)?
            // One thread per call: calls of many conversations run side by side on the engine's
            // threads; a pool per call would fight them for the cores.
            .with_intra_threads(1)
            .map_err(|e| failed(e.into()))?
            .with_inter_threads(1)
            .map_err(|e| failed(e.into()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| failed(e.into()))?
            // The model is int8 (u8 activations x s8 weights). On an x86 CPU without AVX-512 VNNI
            // (AVX2 only: AMD EPYC before Zen 4, most desktops) ONNX Runtime's default kernel
            // sums pairs of products in saturating 16-bit lanes, and the answers drift: a finished
            // sentence scored 0.65 instead of 0.98 here (AMD EPYC, AVX2), whatever the version
            // (1.24: 0.84). This option widens to 16 bits before multiplying: exact everywhere,
            // 85 ms a call instead of 73 on that machine.
            .with_config_entry("session.x64quantprecision", "1")
            .map_err(|e| failed(e.into()))?
            .commit_from_memory(MODEL)
            .map_err(failed)
    }

    /// The probability that the turn is complete, from the features of the last 8 s
    /// (`N_MELS` x `N_FRAMES`, row-major, as [`LogMel::features`] makes them).
    pub fn score_features(&self, features: Vec<f32>) -> Result<f32, Error> {
        assert_eq!(features.len(), N_MELS * N_FRAMES, "features of the wrong size");
        let idle = self.sessions.lock().expect("not poisoned").pop();
        let mut session = match idle {
            Some(session) => session,
            None => self.new_session()?,
        };
        let result = run(&mut session, features);
        self.sessions.lock().expect("not poisoned").push(session);
        result
    }

    /// The probability that the turn is complete, for 16 kHz mono audio (the last 8 s count).
    pub fn score_16k(&self, audio: &[f32]) -> Result<f32, Error> {
        self.score_features(self.mel.features(audio))
    }
}

/// An ONNX Runtime error as the media library's.
#[allow(clippy::needless_pass_by_value)] // the shape `map_err` hands it
fn failed(e: ort::Error) -> Error {
    Error::Model(format!("Smart Turn: {e}"))
}

fn run(session: &mut Session, features: Vec<f32>) -> Result<f32, Error> {
    let input = Tensor::from_array(([1usize, N_MELS, N_FRAMES], features)).map_err(failed)?;
    let outputs = session.run(ort::inputs![input]).map_err(failed)?;
    let (_, probability) = outputs[0].try_extract_tensor::<f32>().map_err(failed)?;
    probability
        .first()
        .copied()
        .ok_or_else(|| Error::Model("Smart Turn gave no output".into()))
}

impl TurnDetector for SmartTurn {
    fn probability(&self, rate: u32, samples: &[f32]) -> Result<f32, Error> {
        if rate == MEL_RATE {
            return self.score_16k(samples);
        }
        // Only the last 8 s count: convert those (and a little more, for the filter's history).
        let keep = (MEL_SAMPLES as u64 * u64::from(rate) / u64::from(MEL_RATE)) as usize + rate as usize / 50;
        let tail = &samples[samples.len().saturating_sub(keep)..];
        let mut audio = Vec::with_capacity(MEL_SAMPLES + 1024);
        LowDelayResampler::new(rate, MEL_RATE)?.process(tail, &mut audio);
        self.score_16k(&audio)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// ONNX Runtime's library: `ORT_DYLIB_PATH`, else the one in the checkout's `.venv` (`make
    /// venv` installs the `onnxruntime` wheel there).
    pub(crate) fn library() -> std::path::PathBuf {
        if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
            return path.into();
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/lib");
        let found = std::fs::read_dir(&root).ok().and_then(|pythons| {
            pythons.flatten().find_map(|python| {
                let capi = python.path().join("site-packages/onnxruntime/capi");
                std::fs::read_dir(capi).ok()?.flatten().map(|f| f.path()).find(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("libonnxruntime.so.1"))
                })
            })
        });
        found.unwrap_or_else(|| {
            panic!(
                "ONNX Runtime's library not found: set ORT_DYLIB_PATH or run `make venv` (installs the onnxruntime \
                 wheel into .venv)"
            )
        })
    }

    fn wav(bytes: &[u8]) -> Vec<f32> {
        bytes[44..]
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect()
    }

    /// `(fixture, cut, probability)` written by `scripts/smart_turn_reference.py`: pipecat's own
    /// features and onnxruntime on the first `cut` of the fixture.
    fn references() -> Vec<(String, f64, f32)> {
        include_str!("../../../tests/data/smart_turn/probabilities.tsv")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0].to_string(), f[1].parse().unwrap(), f[2].parse().unwrap())
            })
            .collect()
    }

    fn fixture(name: &str) -> Vec<f32> {
        match name {
            "one_sentence" => wav(include_bytes!("../../../tests/data/speech/one_sentence.wav")),
            "two_sentences" => wav(include_bytes!("../../../tests/data/speech/two_sentences.wav")),
            "long_reply_interrupt" => wav(include_bytes!("../../../tests/data/speech/long_reply_interrupt.wav")),
            "stop_word" => wav(include_bytes!("../../../tests/data/speech/stop_word.wav")),
            other => panic!("no fixture {other}"),
        }
    }

    #[test]
    fn probabilities_match_the_reference() {
        let model = SmartTurn::load(&library()).unwrap();
        let references = references();
        let count = references.len();
        assert!(count >= 4);
        let mut complete = 0;
        for (name, cut, expected) in references {
            let audio = fixture(&name);
            let audio = &audio[..(audio.len() as f64 * cut) as usize];
            let p = model.probability(16_000, audio).unwrap();
            assert!((p - expected).abs() <= 1e-3, "{name} {cut}: {p} vs {expected}");
            complete += usize::from(p > 0.5);
        }
        assert!(
            complete >= 1 && complete < count,
            "both kinds of utterance are in the references"
        );
    }

    #[test]
    fn a_finished_sentence_and_a_cut_one_at_48k() {
        let model = SmartTurn::load(&library()).unwrap();
        let audio = fixture("one_sentence");
        let mut audio48 = Vec::new();
        LowDelayResampler::new(16_000, 48_000)
            .unwrap()
            .process(&audio, &mut audio48);
        // The sentence and 0.3 s of its trailing silence: finished.
        let end = audio.iter().rposition(|x| x.abs() > 0.01).unwrap() * 3 + 14_400;
        assert!(model.probability(48_000, &audio48[..end]).unwrap() > 0.5);
        // "What is the weather like" ... cut mid-sentence: not finished.
        let two = fixture("two_sentences");
        let mut two48 = Vec::new();
        LowDelayResampler::new(16_000, 48_000)
            .unwrap()
            .process(&two, &mut two48);
        let half = (two48.len() as f64 * 0.6) as usize;
        assert!(model.probability(48_000, &two48[..half]).unwrap() < 0.5);
    }

    #[test]
    fn calls_from_many_threads_share_the_model() {
        let model = std::sync::Arc::new(SmartTurn::load(&library()).unwrap());
        let audio = fixture("one_sentence");
        let alone = model.probability(16_000, &audio).unwrap();
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let model = model.clone();
                let audio = audio.clone();
                std::thread::spawn(move || model.probability(16_000, &audio).unwrap())
            })
            .collect();
        for t in threads {
            assert!((t.join().unwrap() - alone).abs() < 1e-6);
        }
    }
}
