//! VP8 through libvpx (Debian's `libvpx-dev`, via the raw `env-libvpx-sys` bindings).
//!
//! Real-time settings as browsers use them: one pass CBR, no lag frames (each input frame produces
//! its output immediately), error resilient, `cpu-used` 8, one thread.
//!
//! Safety: every FFI call below gets pointers to memory that lives for the call (`&mut self.ctx`,
//! image planes borrowed from the input frame) and checks the returned error code. A context is
//! used by one thread at a time (`&mut self`), which is all libvpx requires.
#![allow(unsafe_code)]
// FFI arguments are references that live for the call; spelling each as `&raw mut` adds noise only.
#![allow(clippy::borrow_as_ptr, clippy::cast_lossless, clippy::ref_as_ptr)]

use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_long, c_uint, c_ulong};
use std::ptr;

use vpx_sys as vpx;

use super::{Encoded, VideoDecoder, VideoEncoder, I420};
use crate::Error;

fn check(code: vpx::vpx_codec_err_t, what: &str) -> Result<(), Error> {
    if code == vpx::vpx_codec_err_t::VPX_CODEC_OK {
        Ok(())
    } else {
        Err(Error::BadVideo(format!("VP8 {what} failed: {code:?}")))
    }
}

/// A VP8 encoder that follows the input's size (re-created when the size changes) and its
/// target bitrate (changed in place, [`VideoEncoder::set_bitrate`]).
pub struct Vp8Encoder {
    bitrate: u32,
    /// The context, the configuration it runs with (kept: a bitrate change re-applies it), and
    /// the size it was opened for.
    ctx: Option<(Box<vpx::vpx_codec_ctx_t>, Box<vpx::vpx_codec_enc_cfg_t>, u32, u32)>,
    pts: i64,
    /// Time since the previous frame, in 90 kHz ticks: the rate control's per-frame budget.
    interval: u32,
}

/// A keyframe may be at most this many times an average frame's size (libvpx's
/// `VP8E_SET_MAX_INTRA_BITRATE_PCT`; 0, its default, is unbounded). A keyframe many times a frame's
/// budget is one burst a capped link must queue or drop: at 300 % it drains in about three frame
/// intervals.
const MAX_INTRA_PCT: c_uint = 300;

/// The lowest quantizer libvpx may pick (its scale: 0-63); see `open`.
const MIN_QUANTIZER: c_uint = 10;

// SAFETY: the libvpx context is owned exclusively and only touched through `&mut self`.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    /// An encoder targeting `bitrate` bits per second.
    #[must_use]
    pub fn new(bitrate: u32) -> Self {
        Self {
            bitrate,
            ctx: None,
            pts: 0,
            interval: 3000,
        }
    }

    #[allow(clippy::type_complexity)]
    fn open(
        &self,
        width: u32,
        height: u32,
    ) -> Result<(Box<vpx::vpx_codec_ctx_t>, Box<vpx::vpx_codec_enc_cfg_t>), Error> {
        // SAFETY: `cfg` is fully written by vpx_codec_enc_config_default before use; the context
        // is zeroed memory that vpx_codec_enc_init_ver initialises.
        unsafe {
            let iface = vpx::vpx_codec_vp8_cx();
            let mut cfg = MaybeUninit::<vpx::vpx_codec_enc_cfg_t>::zeroed();
            check(vpx::vpx_codec_enc_config_default(iface, cfg.as_mut_ptr(), 0), "config")?;
            let mut cfg = cfg.assume_init();
            cfg.g_w = width;
            cfg.g_h = height;
            cfg.g_timebase = vpx::vpx_rational { num: 1, den: 90_000 };
            cfg.rc_target_bitrate = (self.bitrate / 1000).max(50);
            cfg.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
            cfg.g_pass = vpx::vpx_enc_pass::VPX_RC_ONE_PASS;
            cfg.g_lag_in_frames = 0;
            cfg.g_error_resilient = vpx::VPX_ERROR_RESILIENT_DEFAULT;
            cfg.g_threads = 1;
            cfg.rc_dropframe_thresh = 0;
            // Not below 10: on a still, detailed picture libvpx's quantizer creeps down to its
            // floor, and near 2 it spends one delta frame of 10-12x the average refining the
            // background (measured: 35 KB at 680 kbit/s, then 250-byte frames), which the pacer
            // spreads over 130-240 ms: a visible freeze on a clean link. At 10 the picture is
            // still near-lossless and no such frame comes.
            cfg.rc_min_quantizer = MIN_QUANTIZER;
            cfg.rc_max_quantizer = 63;
            cfg.rc_undershoot_pct = 100;
            cfg.rc_overshoot_pct = 15;
            // A small rate buffer: libvpx lets one frame spend up to what the buffer holds, and a
            // second's worth in one frame is a burst a narrow link queues for a second.
            cfg.rc_buf_initial_sz = 200;
            cfg.rc_buf_optimal_sz = 300;
            cfg.rc_buf_sz = 400;
            cfg.kf_mode = vpx::vpx_kf_mode::VPX_KF_AUTO;
            cfg.kf_max_dist = 3000; // keyframes come on request (PLI) and at start
            let mut ctx: Box<vpx::vpx_codec_ctx_t> = Box::new(MaybeUninit::zeroed().assume_init());
            check(
                vpx::vpx_codec_enc_init_ver(&mut *ctx, iface, &cfg, 0, vpx::VPX_ENCODER_ABI_VERSION as c_int),
                "encoder init",
            )?;
            let speed: c_int = 8;
            let _ = vpx::vpx_codec_control_(&mut *ctx, vpx::vp8e_enc_control_id::VP8E_SET_CPUUSED as c_int, speed);
            let _ = vpx::vpx_codec_control_(
                &mut *ctx,
                vpx::vp8e_enc_control_id::VP8E_SET_MAX_INTRA_BITRATE_PCT as c_int,
                MAX_INTRA_PCT,
            );
            Ok((ctx, Box::new(cfg)))
        }
    }
}

impl VideoEncoder for Vp8Encoder {
    fn set_bitrate(&mut self, bps: u32) -> Result<(), Error> {
        self.bitrate = bps;
        let Some((ctx, cfg, _, _)) = self.ctx.as_mut() else {
            return Ok(()); // used when the encoder opens
        };
        cfg.rc_target_bitrate = (bps / 1000).max(30);
        // SAFETY: the context is initialised and `cfg` is the configuration it was opened with.
        unsafe { check(vpx::vpx_codec_enc_config_set(&mut **ctx, &**cfg), "reconfigure") }
    }

    fn bitrate(&self) -> u32 {
        self.bitrate
    }

    fn set_frame_interval(&mut self, interval: std::time::Duration) {
        self.interval = (interval.as_secs_f64() * 90_000.0).clamp(90.0, 90_000.0) as u32;
    }

    fn encode(&mut self, frame: &I420, keyframe: bool) -> Result<Option<Encoded>, Error> {
        let (w, h) = (frame.width(), frame.height());
        let resized = self.ctx.as_ref().is_none_or(|(_, _, cw, ch)| (*cw, *ch) != (w, h));
        if resized {
            let (ctx, cfg) = self.open(w, h)?;
            self.ctx = Some((ctx, cfg, w, h));
        }
        let (ctx, _, _, _) = self.ctx.as_mut().expect("opened just above");
        let (y, u, v) = frame.planes();
        let (ys, us, vs) = frame.strides();
        // SAFETY: the image only borrows the frame's planes for the duration of vpx_codec_encode;
        // libvpx copies what it keeps. Packets are read before the next encode call.
        unsafe {
            let mut img = MaybeUninit::<vpx::vpx_image_t>::zeroed();
            let img_ptr = vpx::vpx_img_wrap(
                img.as_mut_ptr(),
                vpx::vpx_img_fmt::VPX_IMG_FMT_I420,
                w,
                h,
                1,
                ptr::null_mut(),
            );
            if img_ptr.is_null() {
                return Err(Error::BadVideo("VP8 could not wrap the picture".into()));
            }
            let img = &mut *img_ptr;
            img.planes[0] = y.as_ptr().cast_mut();
            img.planes[1] = u.as_ptr().cast_mut();
            img.planes[2] = v.as_ptr().cast_mut();
            img.stride[0] = ys as c_int;
            img.stride[1] = us as c_int;
            img.stride[2] = vs as c_int;
            let flags = if keyframe || resized {
                vpx::VPX_EFLAG_FORCE_KF as c_long
            } else {
                0
            };
            check(
                vpx::vpx_codec_encode(
                    &mut **ctx,
                    img,
                    self.pts,
                    c_ulong::from(self.interval),
                    flags,
                    c_ulong::from(vpx::VPX_DL_REALTIME),
                ),
                "encode",
            )?;
            self.pts += i64::from(self.interval);
            let mut iter: vpx::vpx_codec_iter_t = ptr::null();
            let mut out: Option<Encoded> = None;
            loop {
                let pkt = vpx::vpx_codec_get_cx_data(&mut **ctx, &mut iter);
                if pkt.is_null() {
                    break;
                }
                if (*pkt).kind == vpx::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                    let f = (*pkt).data.frame;
                    let bytes = std::slice::from_raw_parts(f.buf.cast::<u8>(), f.sz as usize);
                    let key = f.flags & vpx::VPX_FRAME_IS_KEY != 0;
                    match out.as_mut() {
                        Some(e) => e.data.extend_from_slice(bytes),
                        None => {
                            out = Some(Encoded {
                                data: bytes.to_vec(),
                                keyframe: key,
                            });
                        }
                    }
                }
            }
            Ok(out)
        }
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        if let Some((ctx, _, _, _)) = self.ctx.as_mut() {
            // SAFETY: the context was initialised by vpx_codec_enc_init_ver and is destroyed once.
            unsafe {
                vpx::vpx_codec_destroy(&mut **ctx);
            }
        }
    }
}

/// A VP8 decoder.
pub struct Vp8Decoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
}

// SAFETY: as for the encoder: exclusive ownership, `&mut self` access only.
unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    /// A decoder using one thread.
    pub fn new() -> Result<Self, Error> {
        // SAFETY: zeroed context initialised by vpx_codec_dec_init_ver; cfg lives for the call.
        unsafe {
            let mut ctx: Box<vpx::vpx_codec_ctx_t> = Box::new(MaybeUninit::zeroed().assume_init());
            let cfg = vpx::vpx_codec_dec_cfg_t { threads: 1, w: 0, h: 0 };
            check(
                vpx::vpx_codec_dec_init_ver(
                    &mut *ctx,
                    vpx::vpx_codec_vp8_dx(),
                    &cfg,
                    0,
                    vpx::VPX_DECODER_ABI_VERSION as c_int,
                ),
                "decoder init",
            )?;
            Ok(Self { ctx })
        }
    }
}

impl VideoDecoder for Vp8Decoder {
    fn decode(&mut self, data: &[u8]) -> Result<Option<I420>, Error> {
        if data.is_empty() {
            return Ok(None);
        }
        // A keyframe names its size before libvpx allocates for it (RFC 6386 §9.1: a 3-byte frame
        // tag whose low bit is 0 for a keyframe, the start code 9d 01 2a, then 14-bit width and
        // height each with 2 scaling bits).
        if data.len() >= 10 && data[0] & 1 == 0 && data[3..6] == [0x9d, 0x01, 0x2a] {
            let width = u32::from(u16::from_le_bytes([data[6], data[7]]) & 0x3fff);
            let height = u32::from(u16::from_le_bytes([data[8], data[9]]) & 0x3fff);
            super::check_picture_size(width, height)?;
        }
        // SAFETY: `data` outlives the call; the returned image stays valid until the next decode
        // call on this context, and is copied out before returning.
        unsafe {
            check(
                vpx::vpx_codec_decode(&mut *self.ctx, data.as_ptr(), data.len() as c_uint, ptr::null_mut(), 0),
                "decode",
            )?;
            let mut iter: vpx::vpx_codec_iter_t = ptr::null();
            let mut last = None;
            loop {
                let img = vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter);
                if img.is_null() {
                    break;
                }
                let img = &*img;
                let (w, h) = (img.d_w, img.d_h);
                let (cw, ch) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
                let strides = [img.stride[0] as usize, img.stride[1] as usize, img.stride[2] as usize];
                let y = std::slice::from_raw_parts(img.planes[0], strides[0] * (h as usize - 1) + w as usize);
                let u = std::slice::from_raw_parts(img.planes[1], strides[1] * (ch - 1) + cw);
                let v = std::slice::from_raw_parts(img.planes[2], strides[2] * (ch - 1) + cw);
                last = Some(I420::from_planes(w, h, [y, u, v], strides)?);
            }
            Ok(last)
        }
    }
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::video::test_util::{pattern, psnr};

    #[test]
    fn round_trip_quality_and_keyframes() {
        let mut enc = Vp8Encoder::new(1_000_000);
        let mut dec = Vp8Decoder::new().unwrap();
        let mut keys = Vec::new();
        for n in 0..30u32 {
            let src = I420::from_packed(&pattern(640, 480, n), 640, 480, true).unwrap();
            let out = enc
                .encode(&src, n == 20)
                .unwrap()
                .expect("no frame drops in CBR real-time mode");
            keys.push(out.keyframe);
            let back = dec.decode(&out.data).unwrap().expect("one picture per frame");
            assert_eq!((back.width(), back.height()), (640, 480));
            if n > 5 {
                assert!(psnr(&src, &back) > 30.0, "frame {n}: {:.1} dB", psnr(&src, &back));
            }
        }
        assert!(keys[0] && keys[20], "keyframe at start and on request");
        assert!(!keys[1] && !keys[21]);
    }

    /// A camera-like still picture (gradients under fixed noise) with a band moving across it.
    fn still_scene(n: u32) -> I420 {
        let (w, h) = (640usize, 480usize);
        let mut seed = 7u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 24) as i32 / 3 - 40
        };
        let x0 = (n as usize * 4) % (w - 60);
        let y: Vec<u8> = (0..h * w)
            .map(|i| {
                let (r, c) = (i / w, i % w);
                let base = (c * 200 / w + r * 40 / h) as i32 + noise();
                let band = (200..280).contains(&r) && (x0..x0 + 60).contains(&c);
                if band {
                    150
                } else {
                    base.clamp(0, 255) as u8
                }
            })
            .collect();
        let u: Vec<u8> = (0..h * w / 4)
            .map(|i| ((96 + (i % (w / 2)) * 64 / (w / 2)) as i32 + noise() / 2).clamp(0, 255) as u8)
            .collect();
        let v: Vec<u8> = (0..h * w / 4)
            .map(|i| ((160 - (i / (w / 2)) * 64 / (h / 2)) as i32 + noise() / 2).clamp(0, 255) as u8)
            .collect();
        I420::from_planes(640, 480, [&y, &u, &v], [w, w / 2, w / 2]).unwrap()
    }

    #[test]
    fn a_still_picture_gets_no_burst_frame() {
        // On a still, detailed picture libvpx's quantizer creeps down and, at its floor, one delta
        // frame refined the whole background at 10x the average size (a visible freeze once paced).
        let mut enc = Vp8Encoder::new(540_000);
        let mut bps = 540_000.0_f64;
        let mut largest = (0, 0);
        for n in 0..450u32 {
            if n % 15 == 0 {
                // The rise congestion control makes on a clean link: ~8 % a second.
                bps = 540_000.0 * 1.08_f64.powf(f64::from(n) / 30.0);
                enc.set_bitrate(bps as u32).unwrap();
            }
            let out = enc.encode(&still_scene(n), n == 0).unwrap().unwrap();
            let average = bps / 8.0 / 30.0;
            if n > 60 && out.data.len() as f64 / average > f64::from(largest.1) {
                largest = (n, (out.data.len() as f64 / average) as u32);
            }
        }
        assert!(largest.1 < 5, "frame {} was {}x the average size", largest.0, largest.1);
    }

    #[test]
    fn size_changes_mid_stream() {
        let mut enc = Vp8Encoder::new(500_000);
        let mut dec = Vp8Decoder::new().unwrap();
        for (w, h) in [(320, 240), (160, 120), (321, 181)] {
            let src = I420::from_packed(&pattern(w, h, 3), w, h, true).unwrap();
            let out = enc.encode(&src, false).unwrap().unwrap();
            assert!(out.keyframe, "a new size starts with a keyframe");
            let back = dec.decode(&out.data).unwrap().unwrap();
            assert_eq!((back.width(), back.height()), (w, h));
        }
        assert!(dec.decode(&[1, 2, 3, 4, 5]).is_err() || dec.decode(&[1, 2, 3, 4, 5]).unwrap().is_none());
    }

    #[test]
    fn a_keyframe_claiming_a_huge_picture_is_not_decoded() {
        let mut dec = Vp8Decoder::new().unwrap();
        // A real 320x240 keyframe with its size fields rewritten to 16383x16383.
        let src = I420::from_packed(&pattern(320, 240, 1), 320, 240, true).unwrap();
        let mut data = Vp8Encoder::new(500_000).encode(&src, true).unwrap().unwrap().data;
        data[6..10].copy_from_slice(&[0xff, 0x3f, 0xff, 0x3f]);
        assert_eq!(dec.decode(&data), Err(Error::PictureTooLarge(16_383, 16_383)));
        // The decoder is still usable for a picture of a sane size.
        let ok = Vp8Encoder::new(500_000).encode(&src, true).unwrap().unwrap().data;
        assert_eq!(dec.decode(&ok).unwrap().map(|p| p.width()), Some(320));
    }
}
