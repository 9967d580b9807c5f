//! `Session`: one media session, seen from Python. Every wait is an awaitable that ends when the
//! session ends.

use std::sync::Arc;

use gradio_webrtc_engine::{CloseReason, Failure, FailureKind, MediaSession, PageEvent, Speech};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{audio_from_py, frame_to_py, samples_to_py, video_from_py, video_to_py};
use crate::{runtime, to_py_err};

#[pyclass(frozen, name = "Session", module = "gradio_webrtc._engine")]
pub(crate) struct PySession {
    inner: Arc<MediaSession>,
    answer: String,
    protocol: &'static str,
}

impl PySession {
    pub(crate) fn new(inner: Arc<MediaSession>, answer: String, protocol: &'static str) -> Self {
        Self {
            inner,
            answer,
            protocol,
        }
    }
}

/// Wraps a future's result for Python as an awaitable.
fn awaitable<'py, T>(
    py: Python<'py>,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(fut.await) })
}

#[pymethods]
impl PySession {
    #[getter]
    fn webrtc_id(&self) -> &str {
        self.inner.id()
    }

    #[getter]
    fn answer<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("sdp", &self.answer)?;
        d.set_item("type", "answer")?;
        Ok(d)
    }

    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state().as_str()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    #[getter]
    fn failed(&self) -> bool {
        self.inner.failed()
    }

    #[getter]
    fn close_reason(&self) -> Option<String> {
        self.inner.close_reason().map(ToString::to_string)
    }

    /// A stable name for how the session ended (`peer_closed`, `time_limit`, `failed`, ...).
    #[getter]
    fn close_kind(&self) -> Option<&'static str> {
        self.inner.close_reason().map(CloseReason::kind)
    }

    #[getter]
    fn turn(&self) -> &'static str {
        self.inner.turn_state().as_str()
    }

    fn next_audio<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let frame = session.next_audio().await;
            Python::attach(|py| match frame {
                Some(f) => Ok(frame_to_py(py, f)?.into_any().unbind()),
                None => Ok(py.None()),
            })
        })
    }

    /// `("partial", rate, samples, offset)` or `("utterance", rate, samples, 0)`; None once closed.
    fn next_speech<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let speech = session.next_speech().await;
            Python::attach(|py| {
                let Some(speech) = speech else { return Ok(py.None()) };
                let (kind, frame, offset) = match speech {
                    Speech::Partial { frame, offset } => ("partial", frame, offset),
                    Speech::Complete(frame) => ("utterance", frame, 0),
                };
                let samples = samples_to_py(py, frame.samples)?;
                Ok((kind, frame.rate, samples, offset)
                    .into_pyobject(py)?
                    .into_any()
                    .unbind())
            })
        })
    }

    fn next_utterance<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let frame = session.next_utterance().await;
            Python::attach(|py| match frame {
                Some(f) => Ok(frame_to_py(py, f)?.into_any().unbind()),
                None => Ok(py.None()),
            })
        })
    }

    fn next_video<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let frame = session.next_video().await;
            Python::attach(|py| match frame {
                Some(f) => Ok(video_to_py(py, f)?.unbind()),
                None => Ok(py.None()),
            })
        })
    }

    fn next_message<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.inner.clone();
        awaitable(py, async move { session.next_message().await })
    }

    #[pyo3(signature = (sample_rate, audio, layout=None, turn=None))]
    fn send_audio(
        &self,
        py: Python<'_>,
        sample_rate: u32,
        audio: &Bound<'_, PyAny>,
        layout: Option<&str>,
        turn: Option<u64>,
    ) -> PyResult<bool> {
        let (shape, mut data) = audio_from_py(audio)?;
        let session = self.inner.clone();
        py.detach(|| session.send_audio(sample_rate, &shape, &mut data, layout, turn))
            .map_err(to_py_err)
    }

    fn begin_reply(&self) -> u64 {
        self.inner.begin_reply()
    }

    fn end_reply(&self, turn: u64) {
        self.inner.end_reply(turn);
    }

    fn reply_current(&self, turn: u64) -> bool {
        self.inner.reply_current(turn)
    }

    fn reply_interrupted<'py>(&self, py: Python<'py>, turn: u64) -> PyResult<Bound<'py, PyAny>> {
        let session = self.inner.clone();
        awaitable(py, async move { session.reply_interrupted(turn).await })
    }

    #[pyo3(signature = (frame, bgr=true))]
    fn send_video(&self, py: Python<'_>, frame: &Bound<'_, PyAny>, bgr: bool) -> PyResult<()> {
        let (w, h, pixels) = video_from_py(frame)?;
        let session = self.inner.clone();
        runtime::block_on(py, None, async move { session.send_video(w, h, &pixels, bgr).await })?.map_err(to_py_err)
    }

    fn output_buffered(&self) -> f64 {
        self.inner.output_buffered()
    }

    #[pyo3(signature = (seconds, turn=None))]
    fn output_below<'py>(&self, py: Python<'py>, seconds: f64, turn: Option<u64>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.inner.clone();
        awaitable(py, async move { session.output_below(seconds, turn).await })
    }

    fn clear_output(&self) {
        self.inner.clear_output();
    }

    #[pyo3(signature = (seconds))]
    fn set_output_budget(&self, seconds: Option<f64>) {
        self.inner.set_output_budget(seconds);
    }

    fn send_message(&self, text: String) {
        self.inner.send_message(text);
    }

    /// Sends the page an event of `kind` (one of `PAGE_EVENTS`), worded as this session's page
    /// reads it; `text` is its message (`error`, `warning`, `end_stream`) or JSON data
    /// (`update_connection`).
    #[pyo3(signature = (kind, text=None))]
    fn send_event(&self, kind: &str, text: Option<&str>) -> PyResult<()> {
        let event = PageEvent::from_kind(kind, text).ok_or_else(|| {
            PyValueError::new_err(format!(
                "unknown page event {kind:?} (or update_connection data that is not JSON); known: {}",
                PageEvent::KINDS.join(", ")
            ))
        })?;
        self.inner.send_event(event);
        Ok(())
    }

    /// How this session's page reads its events: `"0.0.31"` (plain `tick`/`change`) or `"fastrtc"`.
    #[getter]
    fn protocol(&self) -> &'static str {
        self.protocol
    }

    fn wait_closed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.inner.clone();
        awaitable(py, async move { session.closed().await })
    }

    fn add_ice_candidate<'py>(&self, py: Python<'py>, candidate_json: String) -> PyResult<Bound<'py, PyAny>> {
        let session = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            session.add_remote_candidate(&candidate_json).await.map_err(to_py_err)
        })
    }

    fn end_utterance(&self) {
        self.inner.end_utterance();
    }

    fn user_started_talking(&self) {
        self.inner.user_started_talking();
    }

    fn user_paused(&self) {
        self.inner.user_paused();
    }

    fn wait_connected<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.inner.clone();
        awaitable(py, async move { session.connected().await })
    }

    #[pyo3(signature = (reason = None))]
    fn close(&self, reason: Option<&str>) {
        self.inner.close(CloseReason::Server(
            reason.unwrap_or("closed by the server").to_string(),
        ));
    }

    fn fail(&self, reason: &str) {
        self.inner.fail(Failure::new(FailureKind::Server, reason));
    }

    /// What could not go on, when the session failed: `peer_media`, `input_too_fast`,
    /// `send_media`, `no_codec` or `server`.
    #[getter]
    fn failure_kind(&self) -> Option<&'static str> {
        self.inner
            .close_reason()
            .and_then(CloseReason::failure)
            .map(|f| f.kind.as_str())
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("state", self.inner.state().as_str())?;
        d.set_item("turn", self.inner.turn_state().as_str())?;
        for (name, value) in self.inner.stats().snapshot() {
            d.set_item(name, value)?;
        }
        d.set_item("interrupts", self.inner.interrupts())?;
        d.set_item("input_queued", self.inner.input_queued())?;
        d.set_item("input_idle_s", self.inner.input_idle())?;
        d.set_item("output_buffered", self.inner.output_buffered())?;
        let session = self.inner.clone();
        let pair = runtime::block_on(py, Some(1.0), async move { session.candidate_types().await })
            .ok()
            .flatten();
        let (local, remote) = pair.unzip();
        d.set_item("local_candidate_type", local)?;
        d.set_item("remote_candidate_type", remote)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!("<Session {} {}>", self.inner.id(), self.inner.state().as_str())
    }
}

pub(crate) fn init_pymodule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySession>()
}
