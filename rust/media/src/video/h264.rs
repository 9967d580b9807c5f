//! H.264 through `OpenH264` (built from source by the `openh264` crate).
#![allow(unsafe_code)] // the bitrate options go through OpenH264's raw API
//!
//! Constrained-baseline, real-time camera usage, bitrate rate control, no frame skipping: what
//! browsers negotiate as `profile-level-id=42e01f`.

use openh264::decoder::Decoder;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, RateControlMode, UsageType};
use openh264::formats::{YUVSlices, YUVSource};
use openh264::OpenH264API;

use super::{Encoded, VideoDecoder, VideoEncoder, I420};
use crate::Error;

fn err(e: impl std::fmt::Display) -> Error {
    Error::BadVideo(format!("H.264: {e}"))
}

/// An H.264 encoder; `OpenH264` re-initialises itself when the input size changes.
pub struct H264Encoder {
    bitrate: u32,
    inner: Option<(Encoder, u32, u32)>,
}

impl H264Encoder {
    /// An encoder targeting `bitrate` bits per second.
    #[must_use]
    pub fn new(bitrate: u32) -> Self {
        Self { bitrate, inner: None }
    }
}

/// Sets one of `OpenH264`'s bitrate options (`SBitrateInfo` for `layer`).
fn set_bitrate_option(
    encoder: &mut Encoder,
    option: openh264_sys2::ENCODER_OPTION,
    layer: openh264_sys2::LAYER_NUM,
    bps: u32,
) -> Result<(), Error> {
    let mut info = openh264_sys2::SBitrateInfo {
        iLayer: layer,
        iBitrate: i32::try_from(bps).unwrap_or(i32::MAX),
    };
    // SAFETY: `info` lives for the call; both options take an `SBitrateInfo` (OpenH264's
    // `ISVCEncoder::SetOption`), which the encoder reads and does not keep.
    let code = unsafe { encoder.raw_api().set_option(option, (&raw mut info).cast()) };
    if code == 0 {
        Ok(())
    } else {
        Err(Error::BadVideo(format!(
            "H.264: setting the bitrate to {bps} failed ({code})"
        )))
    }
}

impl VideoEncoder for H264Encoder {
    fn set_bitrate(&mut self, bps: u32) -> Result<(), Error> {
        let previous = std::mem::replace(&mut self.bitrate, bps);
        let Some((encoder, _, _)) = self.inner.as_mut() else {
            return Ok(());
        };
        // OpenH264 refuses a target above the layer's maximum (which the crate sets to the initial
        // target): raise the maximum first when going up, lower it last when going down.
        let max = bps + bps / 10;
        if bps > previous {
            set_bitrate_option(
                encoder,
                openh264_sys2::ENCODER_OPTION_MAX_BITRATE,
                openh264_sys2::SPATIAL_LAYER_0,
                max,
            )?;
            set_bitrate_option(
                encoder,
                openh264_sys2::ENCODER_OPTION_BITRATE,
                openh264_sys2::SPATIAL_LAYER_ALL,
                bps,
            )
        } else {
            set_bitrate_option(
                encoder,
                openh264_sys2::ENCODER_OPTION_BITRATE,
                openh264_sys2::SPATIAL_LAYER_ALL,
                bps,
            )?;
            set_bitrate_option(
                encoder,
                openh264_sys2::ENCODER_OPTION_MAX_BITRATE,
                openh264_sys2::SPATIAL_LAYER_0,
                max,
            )
        }
    }

    fn bitrate(&self) -> u32 {
        self.bitrate
    }

    fn encode(&mut self, frame: &I420, keyframe: bool) -> Result<Option<Encoded>, Error> {
        let (w, h) = (frame.width(), frame.height());
        if w % 2 != 0 || h % 2 != 0 {
            return Err(Error::BadVideo(format!("H.264 needs even picture sizes, got {w}x{h}")));
        }
        let resized = self.inner.as_ref().is_none_or(|(_, cw, ch)| (*cw, *ch) != (w, h));
        if resized {
            let config = EncoderConfig::new()
                .bitrate(BitRate::from_bps(self.bitrate))
                .max_frame_rate(FrameRate::from_hz(30.0))
                .usage_type(UsageType::CameraVideoRealTime)
                .rate_control_mode(RateControlMode::Bitrate)
                // Keyframes come at start, on size changes and when the peer asks: an IDR the
                // encoder decides on by itself is a burst a narrow link did not budget for.
                .scene_change_detect(false)
                .skip_frames(false);
            self.inner = Some((
                Encoder::with_api_config(OpenH264API::from_source(), config).map_err(err)?,
                w,
                h,
            ));
        }
        let (encoder, _, _) = self.inner.as_mut().expect("created just above");
        if keyframe && !resized {
            encoder.force_intra_frame();
        }
        let (y, u, v) = frame.planes();
        let (ys, us, vs) = frame.strides();
        let source = YUVSlices::new((y, u, v), (w as usize, h as usize), (ys, us, vs));
        let stream = encoder.encode(&source).map_err(err)?;
        let data = stream.to_vec();
        if data.is_empty() {
            return Ok(None);
        }
        let key = matches!(
            stream.frame_type(),
            openh264::encoder::FrameType::IDR | openh264::encoder::FrameType::I
        );
        Ok(Some(Encoded { data, keyframe: key }))
    }
}

/// An H.264 decoder for Annex-B access units.
pub struct H264Decoder {
    inner: Decoder,
}

impl H264Decoder {
    /// A decoder.
    pub fn new() -> Result<Self, Error> {
        Ok(Self {
            inner: Decoder::new().map_err(err)?,
        })
    }
}

impl VideoDecoder for H264Decoder {
    fn decode(&mut self, data: &[u8]) -> Result<Option<I420>, Error> {
        let Some(picture) = self.inner.decode(data).map_err(err)? else {
            return Ok(None);
        };
        let (w, h) = picture.dimensions();
        // openh264 itself stops at its level limits (~9.4 Mpixel); past ours, nothing is copied.
        super::check_picture_size(w as u32, h as u32)?;
        let (ys, us, vs) = picture.strides();
        Ok(Some(I420::from_planes(
            w as u32,
            h as u32,
            [picture.y(), picture.u(), picture.v()],
            [ys, us, vs],
        )?))
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::video::test_util::{pattern, psnr};

    #[test]
    fn round_trip_quality_and_keyframes() {
        let mut enc = H264Encoder::new(1_500_000);
        let mut dec = H264Decoder::new().unwrap();
        let mut keys = Vec::new();
        let mut decoded = 0;
        for n in 0..30u32 {
            let src = I420::from_packed(&pattern(640, 480, n), 640, 480, true).unwrap();
            let Some(out) = enc.encode(&src, n == 20).unwrap() else {
                continue;
            };
            keys.push((n, out.keyframe));
            if let Some(back) = dec.decode(&out.data).unwrap() {
                decoded += 1;
                if n > 5 {
                    assert!(psnr(&src, &back) > 28.0, "frame {n}: {:.1} dB", psnr(&src, &back));
                }
            }
        }
        assert!(decoded >= 28, "{decoded} pictures decoded");
        assert!(keys.contains(&(0, true)) && keys.contains(&(20, true)), "{keys:?}");
        assert!(keys.contains(&(21, false)));
        assert!(H264Encoder::new(1).encode(&I420::black(33, 32), false).is_err());
    }
}
