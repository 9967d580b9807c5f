//! The async engine of `gradio_webrtc`: one WebRTC peer connection per `webrtc_id`.
//!
//! Built on webrtc-rs (itself an async driver around the sans-IO `rtc` crate) and tokio. This crate
//! owns the IO and the clocks; the media math (Opus, resampling, framing) lives in
//! `gradio-webrtc-media` and is called from here with plain values.
//!
//! # Session lifecycle
//!
//! 1. [`Engine::accept_offer`] builds a peer connection, applies the browser's offer, answers it
//!    and waits for ICE gathering to finish (non-trickle signalling, as the original library), so
//!    the returned answer already holds every candidate.
//! 2. When the connection is up, a pacer task sends one Opus packet every 20 ms (RTP timestamp +960
//!    each time, RFC 7587 §4.1), taking audio from the session's outbound queue or sending silence.
//!    Received RTP is decoded, resampled and framed as it arrives and queued for the handler.
//! 3. The session ends when the browser closes its data channel or the connection fails ICE
//!    consent (RFC 7675), when the time limit passes, or on [`Session::close`]. Every task of the
//!    session watches the same close signal, and the peer connection's driver (which owns the
//!    sockets) is closed with it.
//!
//! # Errors vs bugs
//!
//! Anything a peer or a caller sends can fail with an [`EngineError`]; the engine never panics on
//! peer input. `expect` is used only for invariants of this crate, and its message names them.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod assembler;
mod config;
mod engine;
mod error;
mod events;
mod media_tasks;
mod messages;
mod session;
mod video;

pub use config::{EngineOptions, IceConfig, SessionOptions};
pub use engine::Engine;
pub use error::EngineError;
pub use session::{AudioFrame, Session, SessionState, SessionStats, Speech};
pub use video::VideoFrame;
