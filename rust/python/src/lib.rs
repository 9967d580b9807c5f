//! `gradio_webrtc._engine`: the Python face of the Rust engine.
//!
//! Thin on purpose: each exposed class is a handle onto an engine object, numpy arrays are built
//! from Rust buffers by moving them (no copy) or read once, every wait releases the GIL, and
//! coroutines are tokio futures bridged by pyo3-async-runtimes. No media or protocol logic lives here.

mod call;
mod config;
mod convert;
mod engine;
mod resample;
mod runtime;
mod session;
mod stream;
mod turn;

use pyo3::prelude::*;

pyo3::create_exception!(
    _engine,
    EngineError,
    pyo3::exceptions::PyException,
    "A request the engine could not serve; `kind` names which (the subclasses below)."
);
pyo3::create_exception!(
    _engine,
    InvalidOfferError,
    EngineError,
    "The offer could not be parsed or applied."
);
pyo3::create_exception!(
    _engine,
    NoUsableMediaError,
    EngineError,
    "The offer has no media this stream can use."
);
pyo3::create_exception!(
    _engine,
    DuplicateIdError,
    EngineError,
    "A connection with this webrtc_id exists."
);
pyo3::create_exception!(
    _engine,
    IceConfigurationError,
    EngineError,
    "The ICE configuration is malformed."
);
pyo3::create_exception!(
    _engine,
    SetupError,
    EngineError,
    "The server could not set up the connection."
);
pyo3::create_exception!(_engine, EngineClosedError, EngineError, "The engine is shutting down.");

/// Maps engine errors onto Python exceptions: bad media is a `ValueError`, each other kind its own
/// `EngineError` subclass, with the kind's name in `.kind` and its words in `.message`.
pub(crate) fn to_py_err(e: gradio_webrtc_engine::EngineError) -> PyErr {
    use gradio_webrtc_engine::EngineError as E;
    let kind = e.kind();
    let message = e.to_string();
    let err = match e {
        E::BadMedia(m) | E::TooFast(m) => return pyo3::exceptions::PyValueError::new_err(m),
        E::Media(media) => {
            let err = pyo3::exceptions::PyValueError::new_err(message);
            Python::attach(|py| {
                let _ = err.value(py).setattr("kind", media.kind());
            });
            return err;
        }
        E::Transport(m) => return pyo3::exceptions::PyConnectionError::new_err(m),
        E::InvalidOffer(_) => InvalidOfferError::new_err(message.clone()),
        E::NoMedia(_) => NoUsableMediaError::new_err(message.clone()),
        E::DuplicateId(_) => DuplicateIdError::new_err(message.clone()),
        E::InvalidConfig(_) => IceConfigurationError::new_err(message.clone()),
        E::Setup(_) => SetupError::new_err(message.clone()),
        E::Closed => EngineClosedError::new_err(message.clone()),
    };
    Python::attach(|py| {
        let _ = err.value(py).setattr("kind", kind);
        let _ = err.value(py).setattr("message", &message);
    });
    err
}

/// Checks a client-chosen `webrtc_id` the way the engine does (1-64 characters of
/// `A-Z a-z 0-9 _ - .`); raises `InvalidOfferError` saying what an id must look like.
#[pyfunction]
fn check_webrtc_id(webrtc_id: &str) -> PyResult<()> {
    gradio_webrtc_engine::validate_id(webrtc_id).map_err(to_py_err)
}

/// Tasks alive on the engine's tokio runtime (every session's tasks, across engines): what a
/// churn run watches to prove that ended sessions leave nothing running.
#[pyfunction]
fn runtime_tasks() -> usize {
    pyo3_async_runtimes::tokio::get_runtime().metrics().num_alive_tasks()
}

/// Checks a sample rate the way the engine does (4 kHz to 192 kHz); raises `ValueError` naming it.
#[pyfunction]
fn check_sample_rate(name: &str, rate: i64) -> PyResult<()> {
    let ok = u32::try_from(rate)
        .ok()
        .filter(|r| gradio_webrtc_engine::media::RATES.contains(r));
    match ok {
        Some(_) => Ok(()),
        None => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "{name} must be an integer between {} and {} Hz, got {rate}",
            gradio_webrtc_engine::media::RATES.start(),
            gradio_webrtc_engine::media::RATES.end()
        ))),
    }
}

/// The pause rule's defaults (seconds; `threshold` a probability): the one copy of them.
#[pyfunction]
fn pause_defaults(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    let o = gradio_webrtc_engine::media::PauseOptions::default();
    let d = pyo3::types::PyDict::new(py);
    d.set_item("audio_chunk_duration", o.audio_chunk_duration)?;
    d.set_item("started_talking_threshold", o.started_talking_threshold)?;
    d.set_item("speech_threshold", o.speech_threshold)?;
    d.set_item("threshold", o.threshold)?;
    d.set_item("min_speech_duration", o.min_speech_duration)?;
    d.set_item("speech_pad", o.speech_pad)?;
    d.set_item("max_continuous_speech", o.max_continuous_speech)?;
    Ok(d)
}

/// Speech probability of every 32 ms window of mono float32 audio at `rate` Hz (the bundled
/// Silero VAD, fresh state), and the rate the windows are counted at (8000 or 16000).
#[pyfunction]
#[allow(clippy::needless_pass_by_value)] // pyo3 hands the array over by value
fn speech_probabilities(
    py: Python<'_>,
    rate: u32,
    audio: numpy::PyReadonlyArray1<'_, f32>,
) -> PyResult<(Vec<f32>, u32)> {
    gradio_webrtc_engine::media::check_rate("the audio's sample rate", rate)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    let samples = audio.as_slice()?.to_vec();
    py.detach(move || gradio_webrtc_engine::media::vad::probabilities(rate, &samples))
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
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
    m.add("InvalidOfferError", m.py().get_type::<InvalidOfferError>())?;
    m.add("NoUsableMediaError", m.py().get_type::<NoUsableMediaError>())?;
    m.add("DuplicateIdError", m.py().get_type::<DuplicateIdError>())?;
    m.add("IceConfigurationError", m.py().get_type::<IceConfigurationError>())?;
    m.add("SetupError", m.py().get_type::<SetupError>())?;
    m.add("EngineClosedError", m.py().get_type::<EngineClosedError>())?;
    m.add_function(wrap_pyfunction!(check_sample_rate, m)?)?;
    m.add_function(wrap_pyfunction!(check_webrtc_id, m)?)?;
    m.add_function(wrap_pyfunction!(pause_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(runtime_tasks, m)?)?;
    m.add_function(wrap_pyfunction!(speech_probabilities, m)?)?;
    resample::init_pymodule(m)?;
    stream::init_pymodule(m)?;
    call::init_pymodule(m)?;
    turn::init_pymodule(m)?;
    m.add_function(wrap_pyfunction!(shutdown, m)?)?;
    engine::init_pymodule(m)?;
    session::init_pymodule(m)?;
    config::init_pymodule(m)?;
    m.add("PAGE_EVENTS", gradio_webrtc_engine::PageEvent::KINDS.to_vec())?;
    Ok(())
}
