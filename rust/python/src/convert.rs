//! numpy <-> engine audio.

use gradio_webrtc_engine::AudioFrame;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// `(rate, int16 array of shape (1, N))`, the original's frame format (stereo is packed, as
/// `PyAV`'s `s16` gave it). The sample buffer is moved into numpy, not copied.
pub(crate) fn frame_to_py(py: Python<'_>, frame: AudioFrame) -> PyResult<Bound<'_, PyTuple>> {
    let n = frame.samples.len();
    let array = PyArray1::from_vec(py, frame.samples).reshape([1, n])?;
    (frame.rate, array).into_pyobject(py)
}

/// Reads a numpy audio array of a supported dtype into `(shape, f32 samples in [-1, 1])`.
pub(crate) fn audio_from_py(array: &Bound<'_, PyAny>) -> PyResult<(Vec<usize>, Vec<f32>)> {
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, i16>>() {
        return Ok((
            a.shape().to_vec(),
            a.as_array().iter().map(|s| f32::from(*s) / 32768.0).collect(),
        ));
    }
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        return Ok((a.shape().to_vec(), a.as_array().iter().copied().collect()));
    }
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        return Ok((a.shape().to_vec(), a.as_array().iter().map(|s| *s as f32).collect()));
    }
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, i32>>() {
        return Ok((
            a.shape().to_vec(),
            a.as_array().iter().map(|s| *s as f32 / 2_147_483_648.0).collect(),
        ));
    }
    match array.getattr("dtype") {
        Ok(dtype) => Err(PyValueError::new_err(format!(
            "audio arrays must be int16 or float32/float64 (int32 is scaled from its full range); got dtype {dtype}"
        ))),
        Err(_) => Err(PyTypeError::new_err(format!(
            "audio must be a numpy array, got {}",
            array
                .get_type()
                .name()
                .map_or_else(|_| "?".to_string(), |n| n.to_string())
        ))),
    }
}
