//! Video: I420 pictures, BGR conversion, and the VP8/H.264 codecs behind two small traits.
//!
//! Handlers see `(H, W, 3)` uint8 **BGR** arrays (what the original passed, `OpenCV`'s order); codecs
//! see I420. Conversion uses BT.601 limited range, what WebRTC video codecs assume by default.

mod frame;
pub mod h264;
pub mod rate;
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

    /// Changes the target bitrate (bits per second) of the running encoder, from the next frame
    /// on and without a keyframe: what congestion control asks for as the link changes.
    fn set_bitrate(&mut self, bps: u32) -> Result<(), Error>;

    /// The target bitrate, bits per second.
    fn bitrate(&self) -> u32;

    /// The time since the previous frame, for the rate control's per-frame budget when frames
    /// come unevenly (a handler's own pace, frames skipped under congestion). Default 1/30 s.
    fn set_frame_interval(&mut self, _interval: std::time::Duration) {}
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

    /// Whether the encoded frame `data` (a VP8 frame, or H.264 Annex-B NAL units) is a keyframe:
    /// decodable with no earlier frame.
    #[must_use]
    pub fn is_keyframe(self, data: &[u8]) -> bool {
        match self {
            // RFC 6386 §9.1: the frame tag's lowest bit is 0 for a key frame.
            Codec::Vp8 => data.first().is_some_and(|b| b & 1 == 0),
            // An IDR slice (NAL unit type 5) anywhere in the access unit.
            Codec::H264 => data.windows(4).any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5),
        }
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

    /// A noisy picture (camera-like, costly to encode) moving `n` pixels to the left, in BGR.
    pub fn noisy(width: u32, height: u32, n: u32) -> Vec<u8> {
        let (w, h) = (width as usize, height as usize);
        let mut bgr = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let sx = (x + n as usize) as u64;
                let hash =
                    (sx.wrapping_mul(0x9E37_79B9) ^ (y as u64).wrapping_mul(0x85EB_CA6B)).wrapping_mul(0xC2B2_AE35);
                let i = (y * w + x) * 3;
                let v = ((hash >> 24) & 0x3f) as u8;
                bgr[i] = v + (x * 150 / w) as u8;
                bgr[i + 1] = v + (y * 150 / h) as u8;
                bgr[i + 2] = v + 60;
            }
        }
        bgr
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// Bytes of `frames` encoded 640x480 pictures from `start` on, and whether any was a keyframe
    /// (640x480: a smaller noisy picture reaches VP8's quantizer floor below 1 Mbit/s).
    fn encode(enc: &mut dyn VideoEncoder, start: u32, frames: u32) -> (usize, bool) {
        let mut bytes = 0;
        let mut keyframe = false;
        for n in start..start + frames {
            let picture = I420::from_packed(&test_util::noisy(640, 480, n * 2), 640, 480, true).unwrap();
            if let Some(out) = enc.encode(&picture, false).unwrap() {
                bytes += out.data.len();
                keyframe |= out.keyframe;
            }
        }
        (bytes, keyframe)
    }

    #[test]
    fn the_bitrate_changes_while_running() {
        for codec in [Codec::Vp8, Codec::H264] {
            let mut enc = codec.encoder(1_000_000).unwrap();
            encode(&mut *enc, 0, 30);
            let (high, _) = encode(&mut *enc, 30, 60);
            enc.set_bitrate(150_000).unwrap();
            assert_eq!(enc.bitrate(), 150_000);
            encode(&mut *enc, 90, 30);
            let (low, keyframe) = encode(&mut *enc, 120, 60);
            assert!(!keyframe, "{codec:?}: no keyframe for a bitrate change");
            // 60 frames are 2 s at 30 fps.
            assert!(
                low * 8 / 2 < 150_000 * 13 / 10,
                "{codec:?}: {low} bytes in 2 s at 150 kbit/s"
            );
            assert!(
                low * 2 < high,
                "{codec:?}: {high} bytes at 1 Mbit/s, then {low} at 150 kbit/s"
            );
            // Up again: above the encoder's first target (OpenH264 needs its maximum raised first).
            enc.set_bitrate(1_500_000).unwrap();
            encode(&mut *enc, 180, 30);
            let (again, _) = encode(&mut *enc, 210, 60);
            assert!(again > low * 2, "{codec:?}: {again} bytes back at 1.5 Mbit/s");
        }
    }

    #[test]
    fn keyframes_are_recognised_in_the_bitstream() {
        for codec in [Codec::Vp8, Codec::H264] {
            let mut enc = codec.encoder(500_000).unwrap();
            let picture = I420::from_packed(&test_util::noisy(320, 240, 0), 320, 240, true).unwrap();
            let first = enc.encode(&picture, false).unwrap().unwrap();
            assert!(first.keyframe && codec.is_keyframe(&first.data), "{codec:?}");
            let next = I420::from_packed(&test_util::noisy(320, 240, 2), 320, 240, true).unwrap();
            let delta = enc.encode(&next, false).unwrap().unwrap();
            assert!(!delta.keyframe && !codec.is_keyframe(&delta.data), "{codec:?}");
            let forced = enc.encode(&picture, true).unwrap().unwrap();
            assert!(codec.is_keyframe(&forced.data), "{codec:?}");
        }
    }
}
