//! Video in the engine: received RTP → frames → decoded BGR pictures (latest wins), and handler
//! pictures → encoded frames → RTP, with keyframes at start, on size changes and on the peer's
//! PLI/FIR requests (RFC 4585 §6.3.1, RFC 5104 §3.5.1).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gradio_webrtc_media::video::{Codec, VideoDecoder, VideoEncoder, I420};
use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::media::Sample;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_VP8};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters};
use rtc::sansio::Protocol;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use crate::assembler::FrameAssembler;
use crate::session::{Session, SessionState};
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

/// The video codecs offered to browsers: VP8 first (every browser), then H.264 constrained baseline.
pub(crate) fn video_codecs() -> Vec<RTCRtpCodecParameters> {
    let feedback = ["goog-remb:", "ccm:fir", "nack:", "nack:pli"]
        .iter()
        .map(|f| {
            let (typ, parameter) = f.split_once(':').expect("literal has a colon");
            RTCPFeedback {
                typ: typ.to_owned(),
                parameter: parameter.to_owned(),
            }
        })
        .collect::<Vec<_>>();
    let codec = |mime: &str, fmtp: &str, pt: u8| RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: fmtp.to_owned(),
            rtcp_feedback: feedback.clone(),
        },
        payload_type: pt,
    };
    vec![
        codec(MIME_TYPE_VP8, "", 96),
        codec(
            MIME_TYPE_H264,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            125,
        ),
        codec(
            MIME_TYPE_H264,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
            102,
        ),
    ]
}

/// The codec to send: the first of ours that the offer's video section lists (VP8, else H.264).
pub(crate) fn choose_codec(offer_sdp: &str) -> Option<Codec> {
    let mut in_video = false;
    let (mut vp8, mut h264) = (false, false);
    for line in offer_sdp.lines() {
        if line.starts_with("m=") {
            in_video = line.starts_with("m=video");
        } else if in_video && line.starts_with("a=rtpmap:") {
            let upper = line.to_ascii_uppercase();
            vp8 |= upper.contains(" VP8/90000");
            h264 |= upper.contains(" H264/90000");
        }
    }
    if vp8 {
        Some(Codec::Vp8)
    } else if h264 {
        Some(Codec::H264)
    } else {
        None
    }
}

pub(crate) fn codec_parameters(codec: Codec) -> RTCRtpCodec {
    let all = video_codecs();
    let mime = match codec {
        Codec::Vp8 => MIME_TYPE_VP8,
        Codec::H264 => MIME_TYPE_H264,
    };
    all.into_iter()
        .find(|c| c.rtp_codec.mime_type == mime)
        .expect("both codecs are registered")
        .rtp_codec
}

/// Receives one video track until it ends, keeping only the newest decoded picture.
pub(crate) async fn run_inbound_video(session: Arc<Session>, track: Arc<dyn TrackRemote>) {
    let ssrc = track.ssrcs().await.first().copied().unwrap_or_default();
    let mime = track
        .codec(ssrc)
        .await
        .map(|c| c.mime_type.to_ascii_lowercase())
        .unwrap_or_default();
    if mime.ends_with("vp8") {
        depacketize(session, track, ssrc, Codec::Vp8, Vp8Packet::default()).await;
    } else if mime.ends_with("h264") {
        depacketize(session, track, ssrc, Codec::H264, H264Packet::default()).await;
    } else {
        log::warn!("session {}: unsupported video codec {mime:?}", session.webrtc_id);
    }
}

async fn depacketize<T: Depacketizer>(
    session: Arc<Session>,
    track: Arc<dyn TrackRemote>,
    ssrc: u32,
    codec: Codec,
    depacketizer: T,
) {
    let mut decoder: Box<dyn VideoDecoder> = match codec.decoder() {
        Ok(d) => d,
        Err(e) => {
            log::error!("session {}: {e}", session.webrtc_id);
            return;
        }
    };
    let mut assembler = FrameAssembler::new(depacketizer);
    let mut last_pli = Instant::now()
        .checked_sub(Duration::from_secs(10))
        .unwrap_or_else(Instant::now);
    let mut need_keyframe = true;
    let pli = |track: &Arc<dyn TrackRemote>, last: &mut Instant| {
        if last.elapsed() > Duration::from_millis(500) {
            *last = Instant::now();
            let track = track.clone();
            tokio::spawn(async move {
                let _ = track
                    .write_rtcp(vec![Box::new(PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc: ssrc,
                    })])
                    .await;
            });
        }
    };
    pli(&track, &mut last_pli);
    while let Some(event) = track.poll().await {
        if session.is_closed() {
            break;
        }
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            if matches!(event, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        for sample in assembler.push(packet) {
            if sample.after_loss {
                need_keyframe = true;
            }
            // ~1 ms for 640x480: run inline. `block_in_place` per frame cost more (a worker hand-off
            // each time) than it saved.
            let picture = decoder.decode(&sample.data);
            match picture {
                Ok(Some(picture)) => {
                    need_keyframe = false;
                    let bgr = picture.to_packed(true);
                    session.put_video(picture.width(), picture.height(), bgr);
                }
                Ok(None) => {}
                Err(e) => {
                    log::debug!("session {}: video decode: {e}", session.webrtc_id);
                    need_keyframe = true;
                }
            }
            if need_keyframe {
                pli(&track, &mut last_pli);
            }
        }
    }
}

/// The outgoing video track and its encoder.
pub(crate) struct VideoSender {
    pub track: Arc<TrackLocalStaticSample>,
    pub ssrc: u32,
    pub payload_type: std::sync::OnceLock<u8>,
    pub encoder: tokio::sync::Mutex<(Box<dyn VideoEncoder>, Option<Instant>)>,
}

impl VideoSender {
    /// Encodes and sends one picture; its duration is the time since the previous one, so the
    /// receiver plays pictures with the handler's own timing.
    pub async fn send(&self, session: &Session, frame: &I420) -> Result<(), EngineError> {
        let Some(pt) = self.payload_type.get().copied() else {
            return Ok(()); // not connected yet: nothing can be sent
        };
        let keyframe = session.keyframe_requested.swap(false, Ordering::Relaxed);
        let mut guard = self.encoder.lock().await;
        let (encoder, last) = &mut *guard;
        let output = encoder.encode(frame, keyframe)?;
        let now = Instant::now();
        let duration = last
            .map_or(Duration::from_millis(33), |t| now - t)
            .clamp(Duration::from_millis(1), Duration::from_secs(1));
        *last = Some(now);
        let Some(output) = output else { return Ok(()) };
        let sample = Sample {
            data: Bytes::from(output.data),
            duration,
            ..Sample::new(now)
        };
        self.track
            .write_sample(self.ssrc, pt, &sample, &[])
            .await
            .map_err(|e| EngineError::BadMedia(format!("could not send video: {e}")))?;
        Session::count(&session.stats.video_frames_out, 1);
        Ok(())
    }
}

/// Watches the peer's keyframe requests for the outgoing track (delivered by [`KeyframeRequests`]).
pub(crate) async fn run_keyframe_requests(session: Arc<Session>, track: Arc<TrackLocalStaticSample>) {
    let mut state = session.state.subscribe();
    loop {
        let event = tokio::select! {
            e = track.poll() => e,
            _ = state.wait_for(|s| *s == SessionState::Closed) => None,
        };
        match event {
            Some(TrackLocalEvent::OnRtcpPacket(_)) => session.keyframe_requested.store(true, Ordering::Relaxed),
            Some(_) => {}
            None => break,
        }
    }
}

/// An interceptor that hands PLI and FIR packets to the application (webrtc-rs keeps inbound
/// RTCP inside the interceptor chain unless a packet is marked for delivery).
#[derive(Default)]
pub(crate) struct KeyframeRequests {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<_> = packets
                .iter()
                .filter(|p| p.as_any().is::<PictureLossIndication>() || p.as_any().is::<FullIntraRequest>())
                .cloned()
                .collect();
            if !requests.is_empty() {
                msg.message.packet = Packet::Rtcp(requests);
                msg.message.add(Attribute::DeliverToApplication);
                self.reads.push_back(msg);
            }
            return Ok(());
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// Sends a copy of `track` as a boxed trait object (helper for `add_track`).
pub(crate) fn as_track_local(track: &Arc<TrackLocalStaticSample>) -> Arc<dyn TrackLocal> {
    track.clone() as Arc<dyn TrackLocal>
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn codec_choice_follows_the_offer() {
        let both = "m=audio 9 UDP 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP 96 102\r\na=rtpmap:102 H264/90000\r\na=rtpmap:96 VP8/90000\r\n";
        assert_eq!(choose_codec(both), Some(Codec::Vp8));
        assert_eq!(
            choose_codec("m=video 9 UDP 102\r\na=rtpmap:102 H264/90000\r\n"),
            Some(Codec::H264)
        );
        assert_eq!(choose_codec("m=video 9 UDP 98\r\na=rtpmap:98 VP9/90000\r\n"), None);
        assert_eq!(choose_codec("m=audio 9 UDP 96\r\na=rtpmap:96 VP8/90000\r\n"), None);
    }
}
