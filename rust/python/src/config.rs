//! `SessionConfig` and `PauseConfig`: what a session does, as one checked value from Python.
//!
//! Python builds one `SessionConfig` per session (`gradio_webrtc.session_config`) and hands it to
//! `Engine.accept_offer`, `open_stream` or `place_call`; every field is checked here, at
//! construction, so a wrong rate or a negative threshold is a `ValueError` where the app set it,
//! not a failure at the first offer.

use std::time::Duration;

use gradio_webrtc_engine::media::{check_rate, PauseOptions};
use gradio_webrtc_engine::{SessionOptions, Wording};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::turn::PyEndOfTurn;

/// The pause detector's options (`AlgoOptions` and `SileroVadOptions` folded together), seconds.
#[pyclass(frozen, name = "PauseConfig", module = "gradio_webrtc._engine")]
#[derive(Debug, Clone)]
pub(crate) struct PyPauseConfig {
    pub(crate) inner: PauseOptions,
}

fn non_negative(name: &str, value: Option<f64>, default: f64) -> PyResult<f64> {
    match value {
        None => Ok(default),
        Some(v) if v.is_nan() || v < 0.0 => Err(PyValueError::new_err(format!(
            "pause option {name} must be a non-negative number, got {v}"
        ))),
        Some(v) => Ok(v),
    }
}

#[pymethods]
impl PyPauseConfig {
    #[new]
    #[pyo3(signature = (*, audio_chunk_duration=None, started_talking_threshold=None, speech_threshold=None, threshold=None, min_speech_duration=None, speech_pad=None, max_continuous_speech=None, end_of_turn=None))]
    #[allow(clippy::too_many_arguments)] // a keyword-only constructor
    fn new(
        audio_chunk_duration: Option<f64>,
        started_talking_threshold: Option<f64>,
        speech_threshold: Option<f64>,
        threshold: Option<f64>,
        min_speech_duration: Option<f64>,
        speech_pad: Option<f64>,
        max_continuous_speech: Option<f64>,
        end_of_turn: Option<&Bound<'_, PyEndOfTurn>>,
    ) -> PyResult<Self> {
        let d = PauseOptions::default();
        Ok(Self {
            inner: PauseOptions {
                audio_chunk_duration: non_negative(
                    "audio_chunk_duration",
                    audio_chunk_duration,
                    d.audio_chunk_duration,
                )?
                .max(0.032),
                started_talking_threshold: non_negative(
                    "started_talking_threshold",
                    started_talking_threshold,
                    d.started_talking_threshold,
                )?,
                speech_threshold: non_negative("speech_threshold", speech_threshold, d.speech_threshold)?,
                threshold: non_negative("threshold", threshold, f64::from(d.threshold))? as f32,
                min_speech_duration: non_negative("min_speech_duration", min_speech_duration, d.min_speech_duration)?,
                speech_pad: non_negative("speech_pad", speech_pad, d.speech_pad)?,
                max_continuous_speech: non_negative(
                    "max_continuous_speech",
                    max_continuous_speech,
                    d.max_continuous_speech,
                )?,
                end_of_turn: end_of_turn.map(|e| e.get().inner.clone()),
            },
        })
    }

    #[getter]
    fn end_of_turn(&self) -> Option<PyEndOfTurn> {
        self.inner.end_of_turn.clone().map(|inner| PyEndOfTurn { inner })
    }

    #[getter]
    fn audio_chunk_duration(&self) -> f64 {
        self.inner.audio_chunk_duration
    }

    #[getter]
    fn started_talking_threshold(&self) -> f64 {
        self.inner.started_talking_threshold
    }

    #[getter]
    fn speech_threshold(&self) -> f64 {
        self.inner.speech_threshold
    }

    #[getter]
    fn threshold(&self) -> f64 {
        f64::from(self.inner.threshold)
    }

    #[getter]
    fn min_speech_duration(&self) -> f64 {
        self.inner.min_speech_duration
    }

    #[getter]
    fn speech_pad(&self) -> f64 {
        self.inner.speech_pad
    }

    #[getter]
    fn max_continuous_speech(&self) -> f64 {
        self.inner.max_continuous_speech
    }

    fn __repr__(&self) -> String {
        let o = &self.inner;
        format!(
            "PauseConfig(audio_chunk_duration={}, started_talking_threshold={}, speech_threshold={}, threshold={}, \
             min_speech_duration={}, speech_pad={}, max_continuous_speech={}, end_of_turn={})",
            o.audio_chunk_duration,
            o.started_talking_threshold,
            o.speech_threshold,
            o.threshold,
            o.min_speech_duration,
            o.speech_pad,
            o.max_continuous_speech,
            self.end_of_turn().map_or_else(|| "None".to_string(), |e| e.repr())
        )
    }
}

/// Everything a session does, but its ICE servers (those come per offer).
#[pyclass(frozen, name = "SessionConfig", module = "gradio_webrtc._engine")]
#[derive(Debug, Clone)]
pub(crate) struct PySessionConfig {
    pub(crate) inner: SessionOptions,
    /// How page events are worded for this session's page (`"0.0.31"` or `"fastrtc"`).
    pub(crate) protocol: &'static str,
}

#[pymethods]
impl PySessionConfig {
    #[new]
    #[pyo3(signature = (*, send_audio=true, recv_audio=true, send_video=false, recv_video=false, input_sample_rate=48000, input_channels=1, time_limit=None, pause=None, can_interrupt=true, stream_speech=false, protocol="0.0.31"))]
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)] // a keyword-only constructor
    fn new(
        send_audio: bool,
        recv_audio: bool,
        send_video: bool,
        recv_video: bool,
        input_sample_rate: u32,
        input_channels: usize,
        time_limit: Option<f64>,
        pause: Option<&Bound<'_, PyPauseConfig>>,
        can_interrupt: bool,
        stream_speech: bool,
        protocol: &str,
    ) -> PyResult<Self> {
        check_rate("input_sample_rate", input_sample_rate).map_err(|e| PyValueError::new_err(e.to_string()))?;
        if !(1..=2).contains(&input_channels) {
            return Err(PyValueError::new_err(format!(
                "input_channels must be 1 or 2, got {input_channels}"
            )));
        }
        let time_limit = match time_limit {
            Some(t) if !(t.is_finite() && t > 0.0) => {
                return Err(PyValueError::new_err(format!(
                    "time_limit must be a positive number, got {t}"
                )))
            }
            t => t.map(Duration::from_secs_f64),
        };
        let protocol = match protocol {
            "0.0.31" => "0.0.31",
            "fastrtc" => "fastrtc",
            other => {
                return Err(PyValueError::new_err(format!(
                    "protocol must be \"0.0.31\" or \"fastrtc\", got {other:?}"
                )))
            }
        };
        Ok(Self {
            inner: SessionOptions {
                send_audio,
                recv_audio,
                send_video,
                recv_video,
                input_sample_rate,
                input_channels,
                time_limit,
                ice: None,
                pause: pause.map(|p| p.get().inner.clone()),
                can_interrupt,
                stream_speech,
                wording: if protocol == "fastrtc" {
                    Wording::Json
                } else {
                    Wording::Plain
                },
            },
            protocol,
        })
    }

    #[getter]
    fn send_audio(&self) -> bool {
        self.inner.send_audio
    }

    #[getter]
    fn recv_audio(&self) -> bool {
        self.inner.recv_audio
    }

    #[getter]
    fn send_video(&self) -> bool {
        self.inner.send_video
    }

    #[getter]
    fn recv_video(&self) -> bool {
        self.inner.recv_video
    }

    #[getter]
    fn input_sample_rate(&self) -> u32 {
        self.inner.input_sample_rate
    }

    #[getter]
    fn input_channels(&self) -> usize {
        self.inner.input_channels
    }

    #[getter]
    fn time_limit(&self) -> Option<f64> {
        self.inner.time_limit.map(|t| t.as_secs_f64())
    }

    #[getter]
    fn pause(&self) -> Option<PyPauseConfig> {
        self.inner.pause.clone().map(|inner| PyPauseConfig { inner })
    }

    #[getter]
    fn can_interrupt(&self) -> bool {
        self.inner.can_interrupt
    }

    #[getter]
    fn stream_speech(&self) -> bool {
        self.inner.stream_speech
    }

    #[getter]
    fn protocol(&self) -> &'static str {
        self.protocol
    }

    fn __repr__(&self) -> String {
        let o = &self.inner;
        format!(
            "SessionConfig(send_audio={}, recv_audio={}, send_video={}, recv_video={}, input_sample_rate={}, \
             input_channels={}, time_limit={}, pause={}, can_interrupt={}, stream_speech={}, protocol={:?})",
            py_bool(o.send_audio),
            py_bool(o.recv_audio),
            py_bool(o.send_video),
            py_bool(o.recv_video),
            o.input_sample_rate,
            o.input_channels,
            o.time_limit
                .map_or_else(|| "None".to_string(), |t| t.as_secs_f64().to_string()),
            if o.pause.is_some() { "PauseConfig(...)" } else { "None" },
            py_bool(o.can_interrupt),
            py_bool(o.stream_speech),
            self.protocol
        )
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

pub(crate) fn init_pymodule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPauseConfig>()?;
    m.add_class::<PySessionConfig>()
}
