//! Video into a session: decoded pictures in, the newest wins. (Handler pictures go out through
//! the driver's `VideoSink`: encoding is the transport's work, not the session's.)

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

/// The newest decoded picture not yet taken by the handler.
#[derive(Default)]
pub(crate) struct VideoIn {
    slot: Option<VideoFrame>,
    /// Sequence number of the newest picture (0: none yet).
    seq: u64,
}

impl VideoIn {
    /// Stores a picture; true if it replaced one the handler had not taken.
    pub fn put(&mut self, width: u32, height: u32, bgr: Vec<u8>) -> bool {
        self.seq += 1;
        self.slot
            .replace(VideoFrame {
                width,
                height,
                bgr,
                seq: self.seq,
            })
            .is_some()
    }

    /// The picture waiting, if any.
    pub fn take(&mut self) -> Option<VideoFrame> {
        self.slot.take()
    }
}
