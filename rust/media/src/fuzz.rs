//! Property tests over the media code a peer's bytes reach: Opus RTP payloads with any sequence
//! numbers and timestamps, μ-law bytes, and the VP8/H.264 decoders fed real frames with bytes
//! flipped, cut or appended. Any input gives audio, a picture or an error: never a panic, and
//! never more audio than the bounded concealment and DTX fill allow.
//!
//! CI runs the default number of cases; `bench/fuzz.sh` runs each for minutes.

use proptest::prelude::*;

use crate::inbound::{RtpOpusDecoder, MAX_CONCEALED, MAX_DTX_FILL};
use crate::mulaw;
use crate::video::test_util::pattern;
use crate::video::{Codec, I420};

/// The longest Opus packet is 120 ms: 5,760 samples per channel at 48 kHz.
const MAX_OPUS_SAMPLES: usize = 5760;

fn rtp_audio() -> impl Strategy<Value = Vec<(u16, u32, Vec<u8>)>> {
    prop::collection::vec(
        (any::<u16>(), any::<u32>(), prop::collection::vec(any::<u8>(), 0..80)),
        0..60,
    )
}

/// A real encoded frame (keyframe first) of `codec`, for mutation.
fn encoded(codec: Codec) -> Vec<Vec<u8>> {
    let mut encoder = codec.encoder(300_000).expect("encoder");
    (0..3)
        .filter_map(|n| {
            let frame = I420::from_packed(&pattern(64, 48, n), 64, 48, true).expect("frame");
            encoder.encode(&frame, n == 0).expect("encode").map(|e| e.data)
        })
        .collect()
}

fn mutate(frames: &[Vec<u8>], edits: &[(usize, u8, u8)]) -> Vec<Vec<u8>> {
    let mut frames = frames.to_vec();
    for &(at, op, byte) in edits {
        let n = frames.len();
        let f = &mut frames[at % n];
        if f.is_empty() {
            continue;
        }
        let i = (at / n) % f.len();
        match op % 4 {
            0 => f[i] ^= byte | 1,
            1 => f.truncate(i),
            2 => f.insert(i, byte),
            _ => f.extend(std::iter::repeat_n(byte, usize::from(byte % 16))),
        }
    }
    frames
}

fn decode_all(codec: Codec, frames: &[Vec<u8>]) {
    let mut decoder = codec.decoder().expect("decoder");
    for f in frames {
        if let Ok(Some(picture)) = decoder.decode(f) {
            assert!(picture.width() > 0 && picture.height() > 0);
            let (w, h) = (picture.width(), picture.height());
            let planes = (w * h + 2 * w.div_ceil(2) * h.div_ceil(2)) as usize;
            assert_eq!(
                picture.as_bytes().len(),
                planes,
                "an I420 picture is exactly its planes"
            );
        }
    }
}

proptest! {
    #[test]
    fn opus_rtp_of_any_shape(packets in rtp_audio(), stereo in any::<bool>()) {
        let channels = if stereo { 2 } else { 1 };
        let mut decoder = RtpOpusDecoder::new(channels).expect("decoder");
        for (seq, ts, payload) in &packets {
            let out = decoder.push(*seq, *ts, payload).len();
            prop_assert!(out <= ((MAX_CONCEALED as usize + 1) * MAX_OPUS_SAMPLES + MAX_DTX_FILL) * channels);
        }
        let c = decoder.counts();
        prop_assert_eq!(
            c.decoded + c.padding + c.duplicates + c.late + c.corrupt,
            packets.len() as u64,
            "every packet is accounted for once"
        );
    }

    #[test]
    fn mulaw_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let samples = mulaw::decode(&bytes);
        prop_assert_eq!(samples.len(), bytes.len());
        prop_assert!(samples.iter().all(|s| s.is_finite() && s.abs() <= 1.0));
        prop_assert_eq!(mulaw::encode(&samples).len(), bytes.len());
    }

    #[test]
    fn vp8_decoder_takes_damaged_frames(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..12)) {
        static FRAMES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        let frames = FRAMES.get_or_init(|| encoded(Codec::Vp8));
        decode_all(Codec::Vp8, &mutate(frames, &edits));
    }

    #[test]
    fn h264_decoder_takes_damaged_frames(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..12)) {
        static FRAMES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        let frames = FRAMES.get_or_init(|| encoded(Codec::H264));
        decode_all(Codec::H264, &mutate(frames, &edits));
    }

    #[test]
    fn decoders_take_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600), h264 in any::<bool>()) {
        decode_all(if h264 { Codec::H264 } else { Codec::Vp8 }, &[bytes]);
    }
}
