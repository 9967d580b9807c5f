//! numpy <-> engine audio and video.
//!
//! Arrays come from handlers in whatever layout numpy left them (`frame[::-1]` is a view with a
//! negative stride); contiguous memory is read as slices (a memcpy for pictures), anything else row
//! by row or element by element. ndarray's element iterator alone cost a third of the server's CPU
//! in the video benchmark before.

use gradio_webrtc_engine::{AudioFrame, VideoFrame};
use numpy::ndarray::{ArrayViewD, Axis};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// `(rate, int16 array of shape (1, N))`, the original's frame format (stereo is packed, as
/// `PyAV`'s `s16` gave it). The sample buffer is moved into numpy, not copied.
pub(crate) fn frame_to_py(py: Python<'_>, frame: AudioFrame) -> PyResult<Bound<'_, PyTuple>> {
    (frame.rate, samples_to_py(py, frame.samples)?).into_pyobject(py)
}

/// Samples as an int16 array of shape `(1, N)`; the buffer is moved into numpy.
pub(crate) fn samples_to_py(py: Python<'_>, samples: Vec<i16>) -> PyResult<Bound<'_, PyAny>> {
    let n = samples.len();
    Ok(PyArray1::from_vec(py, samples).reshape([1, n])?.into_any())
}

/// Every element in logical (C) order, converted: from a slice when the memory is contiguous.
fn samples<T: Copy>(view: &ArrayViewD<'_, T>, f: impl Fn(T) -> f32) -> Vec<f32> {
    match view.as_slice() {
        Some(s) => s.iter().map(|v| f(*v)).collect(),
        None => view.iter().map(|v| f(*v)).collect(),
    }
}

/// Reads a numpy audio array of a supported dtype into `(shape, f32 samples in [-1, 1])`.
pub(crate) fn audio_from_py(array: &Bound<'_, PyAny>) -> PyResult<(Vec<usize>, Vec<f32>)> {
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, i16>>() {
        return Ok((a.shape().to_vec(), samples(&a.as_array(), |s| f32::from(s) / 32768.0)));
    }
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        return Ok((a.shape().to_vec(), samples(&a.as_array(), |s| s)));
    }
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        return Ok((a.shape().to_vec(), samples(&a.as_array(), |s| s as f32)));
    }
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, i32>>() {
        return Ok((
            a.shape().to_vec(),
            samples(&a.as_array(), |s| s as f32 / 2_147_483_648.0),
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

/// A picture as the `(H, W, 3)` uint8 BGR array handlers get; the buffer is moved, not copied.
pub(crate) fn video_to_py(py: Python<'_>, frame: VideoFrame) -> PyResult<Bound<'_, PyAny>> {
    let (h, w) = (frame.height as usize, frame.width as usize);
    Ok(PyArray1::from_vec(py, frame.bgr).reshape([h, w, 3])?.into_any())
}

/// Reads a picture a handler returned: `(H, W, 3)` uint8 as-is, `(H, W)` grayscale and
/// `(H, W, 4)` (alpha dropped) converted. Returns `(width, height, packed 24-bit pixels)`.
pub(crate) fn video_from_py(array: &Bound<'_, PyAny>) -> PyResult<(u32, u32, Vec<u8>)> {
    let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, u8>>() else {
        let what = match array.getattr("dtype") {
            Ok(dtype) => format!("an array of dtype {dtype}"),
            Err(_) => format!(
                "a {}",
                array
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".to_string(), |n| n.to_string())
            ),
        };
        return Err(PyValueError::new_err(format!(
            "video frames must be uint8 numpy arrays of shape (height, width, 3) in BGR order; got {what}"
        )));
    };
    let view = a.as_array();
    let shape = view.shape().to_vec();
    let (h, w, channels) = match shape.as_slice() {
        [h, w] => (*h, *w, 1),
        [h, w, c] if *c == 3 || *c == 4 || *c == 1 => (*h, *w, *c),
        _ => {
            return Err(PyValueError::new_err(format!(
                "video frames must have shape (height, width, 3); got {shape:?}"
            )))
        }
    };
    if h < 2 || w < 2 || h > 4096 || w > 4096 {
        return Err(PyValueError::new_err(format!(
            "video frames must be 2x2 to 4096x4096 pixels; got {w}x{h}"
        )));
    }
    let mut out = Vec::with_capacity(h * w * 3);
    let mut push_row = |row: &[u8]| match channels {
        3 => out.extend_from_slice(row),
        4 => out.extend(row.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]])),
        _ => out.extend(row.iter().flat_map(|v| [*v, *v, *v])),
    };
    if let Some(all) = view.as_slice() {
        push_row(all);
    } else {
        let mut scratch = Vec::new();
        for row in view.axis_iter(Axis(0)) {
            if let Some(s) = row.as_slice() {
                push_row(s);
            } else {
                scratch.clear();
                scratch.extend(row.iter().copied());
                push_row(&scratch);
            }
        }
    }
    Ok((w as u32, h as u32, out))
}
