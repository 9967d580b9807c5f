//! `gradio_webrtc._engine`: the Python face of the Rust engine.
//!
//! Thin on purpose: each exposed class is a handle onto an engine object, numpy arrays are built
//! from Rust buffers by moving them (no copy) or read once, every wait releases the GIL, and
//! coroutines are tokio futures bridged by pyo3-async-runtimes. No media or protocol logic lives here.

mod convert;
mod engine;
mod runtime;
mod session;

use pyo3::prelude::*;

pyo3::create_exception!(
    _engine,
    EngineError,
    pyo3::exceptions::PyException,
    "A request the engine could not serve (bad SDP, duplicate id, closed engine...)."
);

/// Maps engine errors onto Python exceptions: bad media is a `ValueError`, the rest `EngineError`.
pub(crate) fn to_py_err(e: gradio_webrtc_engine::EngineError) -> PyErr {
    match e {
        gradio_webrtc_engine::EngineError::BadMedia(m) => pyo3::exceptions::PyValueError::new_err(m),
        other => EngineError::new_err(other.to_string()),
    }
}

/// Closes every session of every engine; registered with `atexit` by the Python package so that
/// no tokio task touches the interpreter while it finalizes.
#[pyfunction]
fn shutdown(py: Python<'_>) {
    engine::close_all();
    // Let the sessions' tasks observe the close (they exit within one 20 ms tick).
    py.detach(|| std::thread::sleep(std::time::Duration::from_millis(60)));
}

#[pymodule(gil_used = false)]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("EngineError", m.py().get_type::<EngineError>())?;
    m.add_function(wrap_pyfunction!(shutdown, m)?)?;
    engine::init_pymodule(m)?;
    session::init_pymodule(m)?;
    Ok(())
}
