//! `Resampler`: the engine's low-delay resampler, for Python code that needs audio at another rate
//! (the stop-word detector feeds pocketsphinx 16 kHz) without a second implementation of it.

use gradio_webrtc_engine::media::{f32_to_i16_into, i16_to_f32, LowDelayResampler};
use numpy::{PyArray1, PyReadonlyArrayDyn};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

#[pyclass(name = "Resampler", module = "gradio_webrtc._engine")]
pub(crate) struct PyResampler {
    inner: LowDelayResampler,
}

#[pymethods]
impl PyResampler {
    #[new]
    fn new(from_rate: u32, to_rate: u32) -> PyResult<Self> {
        let inner = LowDelayResampler::new(from_rate, to_rate).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self { inner })
    }

    /// Streams mono int16 audio (any shape, read in order); returns the int16 samples ready so far.
    /// Pieces of any size convert exactly as the whole would.
    #[allow(clippy::needless_pass_by_value)] // pyo3 hands the array over by value
    fn process<'py>(&mut self, py: Python<'py>, audio: PyReadonlyArrayDyn<'py, i16>) -> Bound<'py, PyArray1<i16>> {
        let input: Vec<i16> = audio.as_array().iter().copied().collect();
        let mut out = Vec::new();
        self.inner.process(&i16_to_f32(&input), &mut out);
        let mut pcm = Vec::with_capacity(out.len());
        f32_to_i16_into(&out, &mut pcm);
        PyArray1::from_vec(py, pcm)
    }
}

pub(crate) fn init_pymodule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyResampler>()
}
