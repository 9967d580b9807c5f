//! `Session`: one peer connection, seen from Python.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use gradio_webrtc_engine::{Session, Speech};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{audio_from_py, frame_to_py, samples_to_py, video_from_py, video_to_py};
use crate::{runtime, to_py_err};

#[pyclass(frozen, name = "Session", module = "gradio_webrtc._engine")]
pub(crate) struct PySession {
    inner: Arc<Session>,
}

impl PySession {
    pub(crate) fn new(inner: Arc<Session>) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl PySession {
    #[getter]
    fn webrtc_id(&self) -> &str {
        self.inner.webrtc_id()
    }

    #[getter]
    fn answer<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("sdp", self.inner.answer_sdp())?;
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
    fn close_reason(&self) -> Option<String> {
        self.inner.close_reason().map(str::to_string)
    }

    #[pyo3(signature = (timeout=None))]
    fn recv_audio<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, pyo3::types::PyTuple>>> {
        let session = self.inner.clone();
        match runtime::block_on(py, timeout, async move { session.next_audio().await })? {
            Some(frame) => Ok(Some(frame_to_py(py, frame)?)),
            None => Ok(None),
        }
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

    #[pyo3(signature = (sample_rate, audio, layout=None))]
    fn send_audio(
        &self,
        py: Python<'_>,
        sample_rate: u32,
        audio: &Bound<'_, PyAny>,
        layout: Option<&str>,
    ) -> PyResult<()> {
        let (shape, mut data) = audio_from_py(audio)?;
        let session = self.inner.clone();
        py.detach(|| session.send_audio(sample_rate, &shape, &mut data, layout))
            .map_err(to_py_err)
    }

    #[pyo3(signature = (timeout=None))]
    fn recv_utterance<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, pyo3::types::PyTuple>>> {
        let session = self.inner.clone();
        match runtime::block_on(py, timeout, async move { session.next_utterance().await })? {
            Some(frame) => Ok(Some(frame_to_py(py, frame)?)),
            None => Ok(None),
        }
    }

    /// `("partial", rate, samples, offset)` or `("utterance", rate, samples, 0)`; None once closed.
    #[pyo3(signature = (timeout=None))]
    fn recv_speech<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, pyo3::types::PyTuple>>> {
        let session = self.inner.clone();
        let speech = runtime::block_on(py, timeout, async move { session.next_speech().await })?;
        let Some(speech) = speech else { return Ok(None) };
        let (kind, frame, offset) = match speech {
            Speech::Partial { frame, offset } => ("partial", frame, offset),
            Speech::Complete(frame) => ("utterance", frame, 0),
        };
        let samples = samples_to_py(py, frame.samples)?;
        Ok(Some((kind, frame.rate, samples, offset).into_pyobject(py)?))
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

    fn set_replying(&self, replying: bool) {
        self.inner.set_replying(replying);
    }

    fn take_interrupt(&self) -> bool {
        self.inner.take_interrupt()
    }

    #[pyo3(signature = (timeout=None))]
    fn recv_video<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let session = self.inner.clone();
        match runtime::block_on(py, timeout, async move { session.next_video().await })? {
            Some(frame) => Ok(Some(video_to_py(py, frame)?)),
            None => Ok(None),
        }
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

    #[pyo3(signature = (frame, bgr=true))]
    fn send_video(&self, py: Python<'_>, frame: &Bound<'_, PyAny>, bgr: bool) -> PyResult<()> {
        let (w, h, pixels) = video_from_py(frame)?;
        let session = self.inner.clone();
        runtime::block_on(py, None, async move { session.send_video(w, h, &pixels, bgr).await })?.map_err(to_py_err)
    }

    fn output_buffered(&self) -> f64 {
        self.inner.output_buffered()
    }

    #[pyo3(signature = (seconds, timeout=None))]
    fn wait_output_below(&self, py: Python<'_>, seconds: f64, timeout: Option<f64>) -> PyResult<bool> {
        let session = self.inner.clone();
        runtime::block_on(py, timeout, async move { session.output_below(seconds).await })
    }

    fn output_below<'py>(&self, py: Python<'py>, seconds: f64) -> PyResult<Bound<'py, PyAny>> {
        let session = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(session.output_below(seconds).await) })
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

    #[pyo3(signature = (timeout=None))]
    fn recv_message(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<String>> {
        let session = self.inner.clone();
        runtime::block_on(py, timeout, async move { session.next_message().await })
    }

    fn next_message<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(session.next_message().await) })
    }

    fn wait_closed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(session.closed().await) })
    }

    fn close(&self) {
        self.inner.close("closed by the server");
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("state", self.inner.state().as_str())?;
        d.set_item("frames_in", s.frames_in.load(Ordering::Relaxed))?;
        d.set_item("frames_dropped", s.frames_dropped.load(Ordering::Relaxed))?;
        d.set_item("packets_out", s.packets_out.load(Ordering::Relaxed))?;
        d.set_item("audio_frames_out", s.audio_frames_out.load(Ordering::Relaxed))?;
        d.set_item("underruns", s.underruns.load(Ordering::Relaxed))?;
        d.set_item("late_frames", s.late_frames.load(Ordering::Relaxed))?;
        d.set_item("output_gaps", s.output_gaps.load(Ordering::Relaxed))?;
        d.set_item("output_frames_trimmed", s.output_frames_trimmed.load(Ordering::Relaxed))?;
        d.set_item("audio_packets_in", s.audio_packets_in.load(Ordering::Relaxed))?;
        d.set_item("audio_padding_packets", s.audio_padding_packets.load(Ordering::Relaxed))?;
        d.set_item("audio_late_packets", s.audio_late_packets.load(Ordering::Relaxed))?;
        d.set_item("packets_lost", s.packets_lost.load(Ordering::Relaxed))?;
        d.set_item(
            "audio_frames_concealed",
            s.audio_frames_concealed.load(Ordering::Relaxed),
        )?;
        d.set_item("video_frames_in", s.video_frames_in.load(Ordering::Relaxed))?;
        d.set_item("video_frames_skipped", s.video_frames_skipped.load(Ordering::Relaxed))?;
        d.set_item("video_frames_out", s.video_frames_out.load(Ordering::Relaxed))?;
        d.set_item("speech_pieces_dropped", s.speech_pieces_dropped.load(Ordering::Relaxed))?;
        let session = self.inner.clone();
        let pair = runtime::block_on(py, Some(1.0), async move { session.selected_candidate_types().await })
            .ok()
            .flatten();
        let (local, remote) = pair.unzip();
        d.set_item("local_candidate_type", local)?;
        d.set_item("remote_candidate_type", remote)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!("<Session {} {}>", self.inner.webrtc_id(), self.inner.state().as_str())
    }
}

pub(crate) fn init_pymodule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySession>()
}
