//! `Engine`: the registry of sessions of one component.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use gradio_webrtc_engine::{Engine, EngineOptions, IceConfig};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::config::PySessionConfig;
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

    /// Answers `sdp` with a new session `webrtc_id` doing what `config` says, over `ice_servers`
    /// if given (else the engine's).
    #[pyo3(signature = (sdp, r#type, webrtc_id, config, *, ice_servers=None))]
    fn accept_offer<'py>(
        &self,
        py: Python<'py>,
        sdp: String,
        r#type: String,
        webrtc_id: String,
        config: &PySessionConfig,
        ice_servers: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut options = config.inner.clone();
        options.ice = ice_from_py(ice_servers)?;
        let protocol = config.protocol;
        let engine = self.engine.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let (session, answer) = engine
                .accept_offer(&sdp, &r#type, &webrtc_id, options)
                .await
                .map_err(to_py_err)?;
            Ok(PySession::new(session, answer, protocol))
        })
    }

    /// A session carried by the caller's own channel: `codec` payloads at `in_rate`/`out_rate`.
    #[pyo3(signature = (webrtc_id, config, *, codec="mulaw", in_rate=8000, out_rate=8000))]
    fn open_stream(
        &self,
        webrtc_id: &str,
        config: &PySessionConfig,
        codec: &str,
        in_rate: u32,
        out_rate: u32,
    ) -> PyResult<(PySession, crate::stream::PyStreamTransport)> {
        let codec = gradio_webrtc_engine::stream::PayloadCodec::parse(codec).map_err(to_py_err)?;
        let engine = self.engine.clone();
        let _guard = runtime::handle().enter();
        let (session, transport) = engine
            .open_stream(webrtc_id, codec, (in_rate, out_rate), &config.inner)
            .map_err(to_py_err)?;
        Ok((
            PySession::new(session, String::new(), config.protocol),
            crate::stream::PyStreamTransport::new(transport),
        ))
    }

    /// Calls a peer (the testing client's side): the session's offer goes out, `call` takes the
    /// answer.
    #[pyo3(signature = (call_id, config, *, ice_servers=None))]
    fn place_call<'py>(
        &self,
        py: Python<'py>,
        call_id: String,
        config: &PySessionConfig,
        ice_servers: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut options = config.inner.clone();
        options.ice = ice_from_py(ice_servers)?;
        let protocol = config.protocol;
        let engine = self.engine.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let (session, call) = engine.place_call(&call_id, &options).await.map_err(to_py_err)?;
            Ok((
                PySession::new(session, String::new(), protocol),
                crate::call::PyCall::new(call),
            ))
        })
    }

    fn session_count(&self) -> usize {
        self.engine.session_count()
    }

    fn session_ids(&self) -> Vec<String> {
        self.engine.session_ids()
    }

    fn get(&self, webrtc_id: &str) -> Option<PySession> {
        self.engine
            .get(webrtc_id)
            .map(|s| PySession::new(s, String::new(), "0.0.31"))
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
