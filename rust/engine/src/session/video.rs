//! Video through a session: decoded pictures in (the newest wins), handler pictures out through
//! the transport's [`VideoSink`].

use std::sync::Mutex;

use async_trait::async_trait;
use gradio_webrtc_media::video::I420;
use tokio::sync::watch;

use crate::EngineError;

/// One decoded picture for the handler, packed 24-bit BGR.
#[derive(Debug, Clone)]
pub struct VideoFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `height * width * 3` bytes, BGR.
    pub bgr: Vec<u8>,
    /// Counts received pictures from 1; gaps mean pictures were skipped (latest wins).
    pub seq: u64,
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

/// The newest decoded picture not yet taken by the handler.
pub(crate) struct VideoIn {
    slot: Mutex<Option<VideoFrame>>,
    /// Sequence number of the newest picture (0: none yet).
    pub seq: watch::Sender<u64>,
}

impl Default for VideoIn {
    fn default() -> Self {
        Self {
            slot: Mutex::new(None),
            seq: watch::channel(0).0,
        }
    }
}

impl VideoIn {
    /// Stores a picture; true if it replaced one the handler had not taken.
    pub fn put(&self, width: u32, height: u32, bgr: Vec<u8>) -> bool {
        let seq = *self.seq.borrow() + 1;
        let replaced = self
            .slot
            .lock()
            .expect("video lock poisoned")
            .replace(VideoFrame {
                width,
                height,
                bgr,
                seq,
            })
            .is_some();
        self.seq.send_replace(seq);
        replaced
    }

    /// The picture waiting, if any.
    pub fn take(&self) -> Option<VideoFrame> {
        self.slot.lock().expect("video lock poisoned").take()
    }
}
