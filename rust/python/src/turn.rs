//! The end-of-turn stage from Python: `SmartTurnModel` (the bundled model on ONNX Runtime) and
//! `EndOfTurnConfig`, which joins a detector to pause detection.
//!
//! A detector is either the bundled model, which the engine calls without the GIL, or any
//! Python callable `(rate, int16 array of shape (1, N)) -> probability`, which the engine calls
//! on one of its blocking threads, taking the GIL only for the call: a slow detector delays its
//! own decision and nothing else (audio keeps flowing on the runtime's other threads).

use std::path::Path;
use std::sync::Arc;

use gradio_webrtc_engine::media::{EndOfTurnOptions, Error as MediaError, SmartTurn, TurnDetector};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::convert::{audio_from_py, samples_to_py};

/// Smart Turn v3.2, compiled into the engine, run by ONNX Runtime's library at `library`.
#[pyclass(frozen, name = "SmartTurnModel", module = "gradio_webrtc._engine")]
pub(crate) struct PySmartTurn {
    model: Arc<SmartTurn>,
}

#[pymethods]
impl PySmartTurn {
    #[new]
    fn new(py: Python<'_>, library: &str) -> PyResult<Self> {
        let path = Path::new(library).to_path_buf();
        let model = py
            .detach(move || SmartTurn::load(&path))
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(Self { model: Arc::new(model) })
    }

    /// The probability that `audio` (mono, `rate` Hz; int16 or float) is a finished turn.
    fn probability(&self, py: Python<'_>, rate: u32, audio: &Bound<'_, PyAny>) -> PyResult<f32> {
        gradio_webrtc_engine::media::check_rate("the audio's sample rate", rate)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let (_, samples) = audio_from_py(audio)?;
        let model = self.model.clone();
        py.detach(move || model.probability(rate, &samples))
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }
}

/// A Python callable as a detector.
struct CallableDetector {
    callable: Py<PyAny>,
    name: String,
}

impl std::fmt::Debug for CallableDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CallableDetector({})", self.name)
    }
}

impl TurnDetector for CallableDetector {
    fn probability(&self, rate: u32, samples: &[f32]) -> Result<f32, MediaError> {
        let mut pcm = Vec::with_capacity(samples.len());
        gradio_webrtc_engine::media::f32_to_i16_into(samples, &mut pcm);
        Python::attach(|py| -> PyResult<f32> {
            let audio = (rate, samples_to_py(py, pcm)?);
            let result = self.callable.call1(py, (audio,))?;
            result.extract::<f64>(py).map(|p| p as f32)
        })
        .map_err(|e| MediaError::Model(format!("the turn detector {} raised: {e}", self.name)))
    }
}

/// A detector joined to pause detection: asked after `silence` seconds of silence; a turn it
/// calls unfinished is held up to `max_silence`; `threshold` separates its answers.
#[pyclass(frozen, name = "EndOfTurnConfig", module = "gradio_webrtc._engine")]
#[derive(Clone)]
pub(crate) struct PyEndOfTurn {
    pub(crate) inner: EndOfTurnOptions,
}

#[pymethods]
impl PyEndOfTurn {
    #[new]
    #[pyo3(signature = (detector, *, silence=0.2, max_silence=2.0, threshold=0.5))]
    fn new(detector: &Bound<'_, PyAny>, silence: f64, max_silence: f64, threshold: f64) -> PyResult<Self> {
        if !(silence.is_finite() && silence > 0.0) {
            return Err(PyValueError::new_err(format!(
                "silence must be a positive number of seconds, got {silence}"
            )));
        }
        if !(max_silence.is_finite() && max_silence >= silence) {
            return Err(PyValueError::new_err(format!(
                "max_silence must be at least silence ({silence} s), got {max_silence}"
            )));
        }
        if !(0.0..=1.0).contains(&threshold) {
            return Err(PyValueError::new_err(format!(
                "threshold must be a probability between 0 and 1, got {threshold}"
            )));
        }
        let detector: Arc<dyn TurnDetector> = if let Ok(model) = detector.cast::<PySmartTurn>() {
            model.get().model.clone()
        } else if detector.is_callable() {
            Arc::new(CallableDetector {
                callable: detector.clone().unbind(),
                name: detector.repr().map_or_else(|_| "?".into(), |r| r.to_string()),
            })
        } else {
            return Err(PyValueError::new_err(format!(
                "a turn detector is a SmartTurnModel or a callable (rate, samples) -> probability, got {}",
                detector.get_type().name()?
            )));
        };
        Ok(Self {
            inner: EndOfTurnOptions {
                silence,
                max_silence,
                threshold: threshold as f32,
                detector,
            },
        })
    }

    #[getter]
    fn silence(&self) -> f64 {
        self.inner.silence
    }

    #[getter]
    fn max_silence(&self) -> f64 {
        self.inner.max_silence
    }

    #[getter]
    fn threshold(&self) -> f64 {
        f64::from(self.inner.threshold)
    }

    fn __repr__(&self) -> String {
        self.repr()
    }
}

impl PyEndOfTurn {
    pub(crate) fn repr(&self) -> String {
        format!(
            "EndOfTurnConfig({:?}, silence={}, max_silence={}, threshold={})",
            self.inner.detector, self.inner.silence, self.inner.max_silence, self.inner.threshold
        )
    }
}

pub(crate) fn init_pymodule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySmartTurn>()?;
    m.add_class::<PyEndOfTurn>()?;
    Ok(())
}
