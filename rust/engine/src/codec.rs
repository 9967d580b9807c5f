//! Every codec the WebRTC transport negotiates, in one table.
//!
//! A row says everything the engine needs to know about a codec: how it is offered (MIME type,
//! clock rate, payload type, fmtp, RTCP feedback) and, for video, which codec of `rust/media`
//! encodes and decodes it (the depacketiser is chosen by matching on that enum, so a codec added
//! here without one is a compile error, not a runtime log).

use gradio_webrtc_media::video::Codec;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_RTX, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};

/// One negotiable codec.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CodecSpec {
    pub mime: &'static str,
    pub kind: RtpCodecKind,
    pub clock_rate: u32,
    pub channels: u16,
    pub payload_type: u8,
    pub fmtp: &'static str,
    pub feedback: &'static [(&'static str, &'static str)],
    /// The media codec behind a video row.
    pub video: Option<Codec>,
    /// The payload type of the row's RFC 4588 retransmission codec (`video/rtx` with `apt=` this
    /// row): a browser offers one per video codec and keeps RTX only for the primaries the answerer
    /// pairs with one. With RTX a repair travels on its own SSRC and sequence numbers, so the
    /// receiver can tell it from the original (its jitter and loss statistics, its bandwidth
    /// estimate) and the sender can pad probes with it.
    pub rtx_payload_type: Option<u8>,
}

const VIDEO_FEEDBACK: &[(&str, &str)] = &[("goog-remb", ""), ("ccm", "fir"), ("nack", ""), ("nack", "pli")];

/// Offered in this order: Opus (RFC 7587 §7: `opus/48000/2`, in-band FEC), then VP8 (every
/// browser), then H.264 constrained baseline in both profile spellings browsers use.
pub(crate) const CODECS: &[CodecSpec] = &[
    CodecSpec {
        mime: MIME_TYPE_OPUS,
        kind: RtpCodecKind::Audio,
        clock_rate: 48_000,
        channels: 2,
        payload_type: 111,
        fmtp: "minptime=10;useinbandfec=1",
        feedback: &[],
        video: None,
        rtx_payload_type: None,
    },
    CodecSpec {
        mime: MIME_TYPE_VP8,
        kind: RtpCodecKind::Video,
        clock_rate: 90_000,
        channels: 0,
        payload_type: 96,
        fmtp: "",
        feedback: VIDEO_FEEDBACK,
        video: Some(Codec::Vp8),
        rtx_payload_type: Some(97),
    },
    CodecSpec {
        mime: MIME_TYPE_H264,
        kind: RtpCodecKind::Video,
        clock_rate: 90_000,
        channels: 0,
        payload_type: 125,
        fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        feedback: VIDEO_FEEDBACK,
        video: Some(Codec::H264),
        rtx_payload_type: Some(107),
    },
    CodecSpec {
        mime: MIME_TYPE_H264,
        kind: RtpCodecKind::Video,
        clock_rate: 90_000,
        channels: 0,
        payload_type: 102,
        fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
        feedback: VIDEO_FEEDBACK,
        video: Some(Codec::H264),
        rtx_payload_type: Some(103),
    },
];

impl CodecSpec {
    /// The codec as webrtc-rs registers it.
    pub fn rtp_codec(&self) -> RTCRtpCodec {
        RTCRtpCodec {
            mime_type: self.mime.to_owned(),
            clock_rate: self.clock_rate,
            channels: self.channels,
            sdp_fmtp_line: self.fmtp.to_owned(),
            rtcp_feedback: self
                .feedback
                .iter()
                .map(|(typ, parameter)| RTCPFeedback {
                    typ: (*typ).to_owned(),
                    parameter: (*parameter).to_owned(),
                })
                .collect(),
        }
    }

    /// The codec with its payload type.
    pub fn parameters(&self) -> RTCRtpCodecParameters {
        RTCRtpCodecParameters {
            rtp_codec: self.rtp_codec(),
            payload_type: self.payload_type,
        }
    }

    /// The row's retransmission codec (RFC 4588 §8.6: `rtx/90000` with `apt=` the row's payload
    /// type), if it has one.
    pub fn rtx_parameters(&self) -> Option<RTCRtpCodecParameters> {
        self.rtx_payload_type.map(|payload_type| RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_RTX.to_owned(),
                clock_rate: self.clock_rate,
                channels: 0,
                sdp_fmtp_line: format!("apt={}", self.payload_type),
                rtcp_feedback: Vec::new(),
            },
            payload_type,
        })
    }
}

/// The Opus row.
pub(crate) fn opus() -> &'static CodecSpec {
    CODECS
        .iter()
        .find(|c| c.kind == RtpCodecKind::Audio)
        .expect("the table has Opus")
}

/// The rows of one kind.
pub(crate) fn of_kind(kind: RtpCodecKind) -> impl Iterator<Item = &'static CodecSpec> {
    CODECS.iter().filter(move |c| c.kind == kind)
}

/// The media codec for a negotiated video MIME type (case-insensitive).
pub(crate) fn video_codec(mime: &str) -> Option<Codec> {
    of_kind(RtpCodecKind::Video)
        .find(|c| c.mime.eq_ignore_ascii_case(mime))
        .and_then(|c| c.video)
}

/// The video row to send: the first of ours (table order) that the offer's video section lists.
pub(crate) fn choose_video(offer_sdp: &str) -> Option<&'static CodecSpec> {
    let mut in_video = false;
    let mut offered = Vec::new();
    for line in offer_sdp.lines() {
        if line.starts_with("m=") {
            in_video = line.starts_with("m=video");
        } else if let Some(rtpmap) = line.strip_prefix("a=rtpmap:").filter(|_| in_video) {
            if let Some(name) = rtpmap.split_whitespace().nth(1).and_then(|e| e.split('/').next()) {
                offered.push(name.to_ascii_uppercase());
            }
        }
    }
    of_kind(RtpCodecKind::Video).find(|c| {
        let name = c.mime.rsplit('/').next().unwrap_or_default().to_ascii_uppercase();
        offered.contains(&name)
    })
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn codec_choice_follows_the_table_order() {
        let both = "m=audio 9 UDP 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP 96 102\r\na=rtpmap:102 H264/90000\r\na=rtpmap:96 VP8/90000\r\n";
        assert_eq!(choose_video(both).and_then(|c| c.video), Some(Codec::Vp8));
        let h264 = choose_video("m=video 9 UDP 102\r\na=rtpmap:102 H264/90000\r\n");
        assert_eq!(h264.and_then(|c| c.video), Some(Codec::H264));
        assert!(choose_video("m=video 9 UDP 98\r\na=rtpmap:98 VP9/90000\r\n").is_none());
        assert!(choose_video("m=audio 9 UDP 96\r\na=rtpmap:96 VP8/90000\r\n").is_none());
    }

    #[test]
    fn every_video_row_has_a_media_codec_and_mime_lookup_is_case_blind() {
        assert!(of_kind(RtpCodecKind::Video).all(|c| c.video.is_some()));
        assert_eq!(video_codec("video/vp8"), Some(Codec::Vp8));
        assert_eq!(video_codec("VIDEO/H264"), Some(Codec::H264));
        assert_eq!(opus().payload_type, 111);
    }

    #[test]
    fn every_video_row_has_its_own_retransmission_codec_and_no_payload_type_is_used_twice() {
        let mut used: Vec<u8> = CODECS.iter().map(|c| c.payload_type).collect();
        for row in of_kind(RtpCodecKind::Video) {
            let rtx = row.rtx_parameters().expect("every video row has RTX");
            assert_eq!(rtx.rtp_codec.sdp_fmtp_line, format!("apt={}", row.payload_type));
            used.push(rtx.payload_type);
        }
        assert!(opus().rtx_parameters().is_none());
        let mut unique = used.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), used.len(), "{used:?}");
    }
}
