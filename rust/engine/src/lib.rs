//! The async engine of `gradio_webrtc`: media sessions and the transports that carry them.
//!
//! * [`session`] — the transport-agnostic [`MediaSession`]: audio in (framing, pause detection,
//!   latency budget), audio out (queue, pacer), video (latest wins), messages, the turn state,
//!   stats, and the one failure path. Driven by values and tokio timers only.
//! * `webrtc` — the WebRTC transport (webrtc-rs on tokio): a peer connection per session, RTP
//!   Opus/VP8/H.264 in and out, the data channel. It feeds a session and never reaches into it.
//! * [`stream`] — the stream transport: μ-law or PCM payloads carried by the host's own channel
//!   (a WebSocket, Twilio Media Streams), paced by the session.
//! * [`Engine`] — the registry of one component's sessions, its ICE settings and watchdogs.
//!
//! Modules depend one way: `engine` → `webrtc`/`stream` → `session` → `gradio-webrtc-media`;
//! `codec` (the codec table) and `config` are leaves.
//!
//! # Errors vs bugs
//!
//! Anything a peer or a caller sends can fail with an [`EngineError`]; the engine never panics on
//! peer input. `expect` is used only for invariants of this crate, and its message names them.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod config;
mod engine;
mod error;
#[cfg(test)]
mod fuzz;
mod ids;
pub mod session;
pub mod stream;
mod webrtc;

pub use config::{EngineOptions, IceConfig, SessionOptions};
pub use engine::Engine;
pub use error::EngineError;
pub use ids::{validate_id, MAX_ID_LEN};
pub use session::{
    AudioFrame, AudioSink, MediaOptions, MediaSession, OutputFrame, SessionState, SessionStats, Speech, TurnState,
    VideoFrame, VideoSent, VideoSink,
};
pub use webrtc::{open_client, ClientCall};

/// The pieces of `gradio-webrtc-media` the Python layer uses directly (it depends on this crate
/// only).
pub mod media {
    pub use gradio_webrtc_media::convert::{f32_to_i16_into, i16_to_f32};
    pub use gradio_webrtc_media::lowdelay::LowDelayResampler;
    pub use gradio_webrtc_media::pause::PauseOptions;
    pub use gradio_webrtc_media::vad;
    pub use gradio_webrtc_media::{check_rate, RATES};
}
