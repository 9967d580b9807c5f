//! `StreamTransport`: the host's end of a stream session (a WebSocket, a phone call).

use std::sync::Arc;

use gradio_webrtc_engine::stream::{media_event, Outgoing, StreamTransport};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::to_py_err;

#[pyclass(frozen, name = "StreamTransport", module = "gradio_webrtc._engine")]
pub(crate) struct PyStreamTransport {
    inner: Arc<StreamTransport>,
}

impl PyStreamTransport {
    pub(crate) fn new(inner: Arc<StreamTransport>) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl PyStreamTransport {
    /// One received payload of the stream's encoding and rate; decoded on the engine's threads.
    fn push(&self, payload: &[u8]) -> PyResult<()> {
        self.inner.push(payload.to_vec()).map_err(to_py_err)
    }

    /// A JSON text message: a `media` event is parsed, decoded and pushed here (True); anything
    /// else is left to the caller (False). Raises `ValueError` for a media event without a valid
    /// base64 payload.
    fn push_media_event(&self, py: Python<'_>, text: &str) -> PyResult<bool> {
        let inner = self.inner.clone();
        let text = text.to_string();
        py.detach(move || inner.push_media_event(&text)).map_err(to_py_err)
    }

    /// Awaitable: like `next`, but media comes as the protocol's JSON text, ready to send
    /// (`{"event": "media", "media": {"payload": ...}}`, with `streamSid` if given).
    #[pyo3(signature = (stream_sid=None))]
    fn next_event<'py>(&self, py: Python<'py>, stream_sid: Option<String>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let next = inner.next().await;
            Python::attach(|py| -> PyResult<Py<PyAny>> {
                Ok(match next {
                    None => py.None(),
                    Some(Outgoing::Media(p)) => ("media", media_event(&p, stream_sid.as_deref()))
                        .into_pyobject(py)?
                        .into_any()
                        .unbind(),
                    Some(Outgoing::Message(m)) => ("message", m).into_pyobject(py)?.into_any().unbind(),
                    Some(Outgoing::Clear) => ("clear", py.None()).into_pyobject(py)?.into_any().unbind(),
                    Some(Outgoing::Mark) => ("mark", py.None()).into_pyobject(py)?.into_any().unbind(),
                })
            })
        })
    }

    /// Awaitable: `("media", bytes)`, `("message", str)`, `("clear", None)` (a reply was
    /// interrupted), `("mark", None)` (a talkspurt ended), or None once the session has ended and
    /// its last messages went out.
    fn next<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let next = inner.next().await;
            Python::attach(|py| -> PyResult<Py<PyAny>> {
                Ok(match next {
                    None => py.None(),
                    Some(Outgoing::Media(p)) => ("media", PyBytes::new(py, &p)).into_pyobject(py)?.into_any().unbind(),
                    Some(Outgoing::Message(m)) => ("message", m).into_pyobject(py)?.into_any().unbind(),
                    Some(Outgoing::Clear) => ("clear", py.None()).into_pyobject(py)?.into_any().unbind(),
                    Some(Outgoing::Mark) => ("mark", py.None()).into_pyobject(py)?.into_any().unbind(),
                })
            })
        })
    }
}

pub(crate) fn init_pymodule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStreamTransport>()
}
