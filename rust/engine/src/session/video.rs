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
    /// Encodes and sends one picture.
    async fn send(&self, picture: &I420) -> Result<(), EngineError>;
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
