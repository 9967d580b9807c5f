//! `Call`: a WebRTC call this engine placed as the offerer (the test client's side).

use std::sync::Arc;

use gradio_webrtc_engine::ClientCall;
use pyo3::prelude::*;

use crate::to_py_err;

#[pyclass(frozen, name = "Call", module = "gradio_webrtc._engine")]
pub(crate) struct PyCall {
    inner: Arc<ClientCall>,
}

impl PyCall {
    pub(crate) fn new(inner: ClientCall) -> Self {
        Self { inner: Arc::new(inner) }
    }
}

#[pymethods]
impl PyCall {
    /// The offer SDP, with every local candidate (non-trickle).
    #[getter]
    fn offer(&self) -> &str {
        self.inner.offer()
    }

    /// Awaitable: applies the server's answer SDP; the connection then comes up.
    fn apply_answer<'py>(&self, py: Python<'py>, sdp: String) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move { inner.apply_answer(&sdp).await.map_err(to_py_err) })
    }
}

pub(crate) fn init_pymodule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCall>()
}
