//! The async engine of `gradio_webrtc`: media sessions and the transports that carry them.
//!
//! * [`session`] — the transport-agnostic media session as a sans-IO state machine
//!   ([`SessionCore`]): audio in (framing, pause detection, latency budget), audio out (queue,
//!   cadence), video (latest wins), page events, the turn state, stats, time limit and the one
//!   failure path. Inputs and the time go in, typed outputs come out: no lock, task or clock.
//! * `driver` — [`MediaSession`]: one core behind one lock, one task per session for its timers
//!   and audio ticks, and the waits the handler's side awaits. Every transport drives a session
//!   through it.
//! * `webrtc` — the WebRTC transport (webrtc-rs on tokio): a peer connection per session, RTP
//!   Opus/VP8/H.264 in and out, the data channel. It feeds a session and never reaches into it.
//! * [`stream`] — the stream transport: μ-law or PCM payloads carried by the host's own channel
//!   (a WebSocket, Twilio Media Streams), paced by the session.
//! * [`Engine`] — the registry of one component's sessions, its ICE settings and watchdogs.
//!
//! Modules depend one way: `engine` → `webrtc`/`stream` → `driver` → `session` →
//! `gradio-webrtc-media`;
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
mod driver;
mod engine;
mod error;
#[cfg(test)]
mod fuzz;
mod ids;
pub mod session;
pub mod stream;
mod webrtc;

pub use config::{EngineOptions, IceConfig, SessionOptions};
pub use driver::{AudioSink, MediaSession, Transport, VideoSent, VideoSink};
pub use engine::Engine;
pub use error::EngineError;
pub use ids::{validate_id, MAX_ID_LEN};
pub use session::{
    AudioFrame, CloseReason, Failure, FailureKind, MediaOptions, OutputFrame, PageEvent, SessionCore, SessionState,
    SessionStats, Speech, TurnState, VideoFrame, Wording,
};
pub use webrtc::{open_client, ClientCall};

/// The pieces of `gradio-webrtc-media` the Python layer uses directly (it depends on this crate
/// only).
pub mod media {
    pub use gradio_webrtc_media::convert::{f32_to_i16_into, i16_to_f32};
    pub use gradio_webrtc_media::lowdelay::LowDelayResampler;
    pub use gradio_webrtc_media::pause::{EndOfTurnOptions, PauseOptions};
    pub use gradio_webrtc_media::smart_turn::{SmartTurn, TurnDetector};
    pub use gradio_webrtc_media::vad;
    pub use gradio_webrtc_media::{check_rate, Error, RATES};
}
