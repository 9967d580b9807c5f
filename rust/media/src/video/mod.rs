//! Video: I420 pictures, BGR conversion, and the VP8/H.264 codecs behind two small traits.
//!
//! Handlers see `(H, W, 3)` uint8 **BGR** arrays (what the original passed, `OpenCV`'s order); codecs
//! see I420. Conversion uses BT.601 limited range, what WebRTC video codecs assume by default.

mod frame;
pub mod h264;
pub mod vp8;

pub use frame::I420;

use crate::Error;

/// Largest picture a peer's video may have (4096x2304, above 4K UHD): a decoded picture costs
/// 1.5 bytes per pixel in I420 and 3 more in BGR, and a VP8 header may claim up to 16383x16383.
pub const MAX_PIXELS: u32 = 4096 * 2304;

/// Refuses a picture of more than [`MAX_PIXELS`].
pub fn check_picture_size(width: u32, height: u32) -> Result<(), Error> {
    if u64::from(width) * u64::from(height) > u64::from(MAX_PIXELS) {
        return Err(Error::PictureTooLarge(width, height));
    }
    Ok(())
}

/// One encoded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The bitstream: a VP8 frame, or H.264 NAL units in Annex-B form.
    pub data: Vec<u8>,
    /// True for a keyframe (decodable on its own).
    pub keyframe: bool,
}

/// A real-time video encoder: no lag frames, one output per input.
pub trait VideoEncoder: Send {
    /// Encodes `frame`; a keyframe when `keyframe` is set or the encoder decides so. May return
    /// `None` when the rate control drops the frame.
    fn encode(&mut self, frame: &I420, keyframe: bool) -> Result<Option<Encoded>, Error>;
}

/// A video decoder for one stream.
pub trait VideoDecoder: Send {
    /// Decodes one complete frame's bitstream; `None` when the decoder has no picture to show yet.
    fn decode(&mut self, data: &[u8]) -> Result<Option<I420>, Error>;
}

/// The codecs the engine negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// VP8 (RFC 6386), payload format RFC 7741.
    Vp8,
    /// H.264 constrained baseline (ITU-T H.264), payload format RFC 6184.
    H264,
}

impl Codec {
    /// A real-time encoder for this codec at `bitrate` bits per second.
    pub fn encoder(self, bitrate: u32) -> Result<Box<dyn VideoEncoder>, Error> {
        Ok(match self {
            Codec::Vp8 => Box::new(vp8::Vp8Encoder::new(bitrate)),
            Codec::H264 => Box::new(h264::H264Encoder::new(bitrate)),
        })
    }

    /// A decoder for this codec.
    pub fn decoder(self) -> Result<Box<dyn VideoDecoder>, Error> {
        Ok(match self {
            Codec::Vp8 => Box::new(vp8::Vp8Decoder::new()?),
            Codec::H264 => Box::new(h264::H264Decoder::new()?),
        })
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::I420;

    /// A 4x4 grid of flat blocks whose colours encode `n`, plus a gradient, in BGR.
    pub fn pattern(width: u32, height: u32, n: u32) -> Vec<u8> {
        let (w, h) = (width as usize, height as usize);
        let mut bgr = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let cell = (y * 4 / h) * 4 + x * 4 / w;
                let on = (n >> (cell % 8)) & 1 == 1;
                let i = (y * w + x) * 3;
                bgr[i] = if on { 220 } else { 30 };
                bgr[i + 1] = (x * 255 / w) as u8;
                bgr[i + 2] = (y * 255 / h) as u8;
            }
        }
        bgr
    }

    /// Y-plane PSNR between two pictures of equal size, in dB.
    pub fn psnr(a: &I420, b: &I420) -> f64 {
        let (ya, yb) = (a.y(), b.y());
        let mse = ya
            .iter()
            .zip(yb)
            .map(|(p, q)| (f64::from(*p) - f64::from(*q)).powi(2))
            .sum::<f64>()
            / ya.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
    }
}
