//! What a transport gives the driver: where paced audio and encoded pictures go, and the handle
//! that releases its sockets.

use async_trait::async_trait;
use gradio_webrtc_media::outbound::Frame;
use gradio_webrtc_media::video::I420;

use crate::EngineError;

/// Where paced audio goes: a transport's encoder and writer. Called once per 20 ms tick.
#[async_trait]
pub trait AudioSink: Send {
    /// Sends one tick: the handler's frame (at the queue's rate), or silence when there is none
    /// (which a transport may send as nothing). Returns whether a packet went out. An error ends
    /// the session with that reason (the transport is gone, or encoding failed).
    ///
    /// # Errors
    /// `Transport` when the packet cannot go out (the session then fails).
    async fn send(&mut self, frame: Option<&Frame>) -> Result<bool, EngineError>;
}

/// Where the handler's pictures go: a transport's encoder and writer.
#[async_trait]
pub trait VideoSink: Send + Sync {
    /// Encodes and sends one picture, or holds it back when the link cannot carry it now.
    async fn send(&self, picture: &I420) -> Result<VideoSent, EngineError>;
}

/// What became of one picture given to a [`VideoSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoSent {
    /// Encoded and sent at this size and target bitrate (bits per second).
    Sent {
        /// The picture's width as sent.
        width: u32,
        /// The picture's height as sent.
        height: u32,
        /// The encoder's target bitrate, bits per second.
        bitrate: u32,
        /// What congestion control says the link to the peer carries, bits per second.
        link_bps: u32,
        /// Which feedback that estimate follows: 0 none yet, 1 transport-cc, 2 REMB, 3 receiver
        /// reports.
        link_feedback: u8,
    },
    /// Not sent: the link is behind, or the frame rate it carries is lower than the handler's.
    HeldBack,
    /// Not sent yet: the connection is not up.
    NotConnected,
}

/// The transport under a session, as the driver sees it.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Releases the transport's sockets and tasks. Called once, when the session closes.
    fn close(&self);
    /// The local and remote candidate types of the selected ICE pair (WebRTC only).
    async fn candidate_types(&self) -> Option<(String, String)> {
        None
    }
    /// A remote ICE candidate the peer trickled after its offer (`RTCIceCandidate.toJSON()`).
    async fn add_remote_candidate(&self, _candidate_json: &str) -> Result<(), EngineError> {
        Err(EngineError::BadMedia("this connection takes no ICE candidates".into()))
    }
}
