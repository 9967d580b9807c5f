//! `Engine`: the registry of sessions of one component.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use gradio_webrtc_engine::media::PauseOptions;
use gradio_webrtc_engine::{Engine, EngineOptions, IceConfig, SessionOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::session::PySession;
use crate::{runtime, to_py_err};

/// Every live engine, so that `shutdown()` can close them all before the interpreter exits.
static LIVE: Mutex<Vec<(usize, Engine)>> = Mutex::new(Vec::new());
static NEXT_KEY: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn close_all() {
    let engines: Vec<Engine> = LIVE
        .lock()
        .expect("engine list poisoned")
        .iter()
        .map(|(_, e)| e.clone())
        .collect();
    for e in engines {
        e.close();
    }
}

fn ice_from_py(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<IceConfig>> {
    let Some(value) = value else { return Ok(None) };
    if value.is_none() {
        return Ok(None);
    }
    let json: String = value.py().import("json")?.call_method1("dumps", (value,))?.extract()?;
    let parsed: serde_json::Value = serde_json::from_str(&json).map_err(|e| PyValueError::new_err(e.to_string()))?;
    IceConfig::from_json(&parsed).map(Some).map_err(to_py_err)
}

fn time_limit_from_py(time_limit: Option<f64>) -> PyResult<Option<Duration>> {
    match time_limit {
        Some(t) if !(t.is_finite() && t > 0.0) => Err(PyValueError::new_err(format!(
            "time_limit must be a positive number, got {t}"
        ))),
        Some(t) => Ok(Some(Duration::from_secs_f64(t))),
        None => Ok(None),
    }
}

/// Reads `ReplyOnPause`'s options (seconds; `threshold` a probability); missing keys keep defaults.
fn pause_from_py(d: &Bound<'_, PyDict>) -> PyResult<PauseOptions> {
    let mut o = PauseOptions::default();
    for (key, value) in d.iter() {
        let key: String = key.extract()?;
        let v: f64 = value.extract()?;
        if v.is_nan() || v < 0.0 {
            return Err(PyValueError::new_err(format!(
                "pause option {key} must be a non-negative number, got {v}"
            )));
        }
        match key.as_str() {
            "audio_chunk_duration" => o.audio_chunk_duration = v.max(0.032),
            "started_talking_threshold" => o.started_talking_threshold = v,
            "speech_threshold" => o.speech_threshold = v,
            "threshold" => o.threshold = v as f32,
            "min_speech_duration" => o.min_speech_duration = v,
            "speech_pad" => o.speech_pad = v,
            "max_continuous_speech" => o.max_continuous_speech = v,
            other => return Err(PyValueError::new_err(format!("unknown pause option {other:?}"))),
        }
    }
    Ok(o)
}

#[pyclass(frozen, name = "Engine", module = "gradio_webrtc._engine")]
pub(crate) struct PyEngine {
    engine: Engine,
    key: usize,
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (ice_servers=None, bind_addresses=None, ice_timeouts=None, gather_timeout=None))]
    fn new(
        ice_servers: Option<&Bound<'_, PyAny>>,
        bind_addresses: Option<Vec<String>>,
        ice_timeouts: Option<(f64, f64, f64)>,
        gather_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let ice = ice_from_py(ice_servers)?.unwrap_or_default();
        let mut options = EngineOptions::default();
        if let Some(addrs) = bind_addresses {
            options.bind_addresses = addrs
                .into_iter()
                .map(|a| if a.contains(':') { a } else { format!("{a}:0") })
                .collect();
        }
        if let Some((disconnected, failed, keepalive)) = ice_timeouts {
            let secs = |v: f64, name: &str| {
                if v.is_finite() && v > 0.0 {
                    Ok(Duration::from_secs_f64(v))
                } else {
                    Err(PyValueError::new_err(format!(
                        "{name} must be a positive number of seconds"
                    )))
                }
            };
            options.ice_disconnected_timeout = secs(disconnected, "the disconnected timeout")?;
            options.ice_failed_timeout = secs(failed, "the failed timeout")?;
            options.ice_keepalive = secs(keepalive, "the keep-alive interval")?;
        }
        if let Some(t) = gather_timeout {
            options.gather_timeout = Duration::from_secs_f64(t.max(0.0));
        }
        let engine = Engine::new(ice, options);
        let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        LIVE.lock().expect("engine list poisoned").push((key, engine.clone()));
        Ok(Self { engine, key })
    }

    #[pyo3(signature = (sdp, r#type, webrtc_id, *, send_audio=true, recv_audio=true, send_video=false, recv_video=false, input_sample_rate=48000, input_channels=1, time_limit=None, ice_servers=None, pause=None, can_interrupt=true, stream_speech=false))]
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)] // mirrors the Python keyword API
    fn accept_offer<'py>(
        &self,
        py: Python<'py>,
        sdp: String,
        r#type: String,
        webrtc_id: String,
        send_audio: bool,
        recv_audio: bool,
        send_video: bool,
        recv_video: bool,
        input_sample_rate: u32,
        input_channels: usize,
        time_limit: Option<f64>,
        ice_servers: Option<&Bound<'py, PyAny>>,
        pause: Option<&Bound<'py, PyDict>>,
        can_interrupt: bool,
        stream_speech: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = SessionOptions {
            send_audio,
            recv_audio,
            send_video,
            recv_video,
            input_sample_rate,
            input_channels,
            time_limit: time_limit_from_py(time_limit)?,
            ice: ice_from_py(ice_servers)?,
            pause: pause.map(pause_from_py).transpose()?,
            can_interrupt,
            stream_speech,
        };
        let engine = self.engine.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let (session, answer) = engine
                .accept_offer(&sdp, &r#type, &webrtc_id, options)
                .await
                .map_err(to_py_err)?;
            Ok(PySession::new(session, answer))
        })
    }

    /// A stream session: `codec` ("mulaw" or "pcm16") payloads received at `in_rate` Hz and sent at
    /// `out_rate` Hz, carried by the caller (a WebSocket, a phone call). Returns
    /// `(Session, StreamTransport)`.
    #[pyo3(signature = (webrtc_id, *, codec="mulaw", in_rate=8000, out_rate=8000, send_audio=true, recv_audio=true, input_sample_rate=48000, input_channels=1, time_limit=None, pause=None, can_interrupt=true, stream_speech=false))]
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)] // mirrors the Python keyword API
    fn open_stream<'py>(
        &self,
        py: Python<'py>,
        webrtc_id: &str,
        codec: &str,
        in_rate: u32,
        out_rate: u32,
        send_audio: bool,
        recv_audio: bool,
        input_sample_rate: u32,
        input_channels: usize,
        time_limit: Option<f64>,
        pause: Option<&Bound<'py, PyDict>>,
        can_interrupt: bool,
        stream_speech: bool,
    ) -> PyResult<(PySession, crate::stream::PyStreamTransport)> {
        let options = SessionOptions {
            send_audio,
            recv_audio,
            input_sample_rate,
            input_channels,
            time_limit: time_limit_from_py(time_limit)?,
            pause: pause.map(pause_from_py).transpose()?,
            can_interrupt,
            stream_speech,
            ..SessionOptions::default()
        };
        let codec = gradio_webrtc_engine::stream::PayloadCodec::parse(codec).map_err(to_py_err)?;
        let engine = self.engine.clone();
        let _guard = runtime::handle().enter();
        let (session, transport) = engine
            .open_stream(webrtc_id, codec, (in_rate, out_rate), &options)
            .map_err(to_py_err)?;
        let _ = py;
        Ok((
            PySession::new(session, String::new()),
            crate::stream::PyStreamTransport::new(transport),
        ))
    }

    /// Places a WebRTC call as the offerer (the test client). Awaitable: `(Session, Call)`.
    #[pyo3(signature = (call_id, *, send_audio=true, recv_audio=true, send_video=false, recv_video=false, input_sample_rate=48000, ice_servers=None))]
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)] // mirrors the Python keyword API
    fn place_call<'py>(
        &self,
        py: Python<'py>,
        call_id: String,
        send_audio: bool,
        recv_audio: bool,
        send_video: bool,
        recv_video: bool,
        input_sample_rate: u32,
        ice_servers: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = SessionOptions {
            send_audio,
            recv_audio,
            send_video,
            recv_video,
            input_sample_rate,
            ice: ice_from_py(ice_servers)?,
            ..SessionOptions::default()
        };
        let engine = self.engine.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let (session, call) = engine.place_call(&call_id, &options).await.map_err(to_py_err)?;
            Ok((PySession::new(session, String::new()), crate::call::PyCall::new(call)))
        })
    }

    fn session_count(&self) -> usize {
        self.engine.session_count()
    }

    fn session_ids(&self) -> Vec<String> {
        self.engine.session_ids()
    }

    fn get(&self, webrtc_id: &str) -> Option<PySession> {
        self.engine.get(webrtc_id).map(|s| PySession::new(s, String::new()))
    }

    fn close(&self) {
        self.engine.close();
    }

    fn __repr__(&self) -> String {
        format!("<Engine sessions={}>", self.engine.session_count())
    }
}

impl Drop for PyEngine {
    fn drop(&mut self) {
        self.engine.close();
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|(k, _)| *k != self.key);
        }
    }
}

pub(crate) fn init_pymodule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEngine>()
}
