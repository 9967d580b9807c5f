//! Video over RTP: received packets → frames → decoded BGR pictures into the session (latest wins),
//! and the session's pictures → encoded frames → RTP, with keyframes at start, on size changes and
//! on the peer's PLI/FIR requests (RFC 4585 §6.3.1, RFC 5104 §3.5.1).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use gradio_webrtc_media::video::{Codec, VideoDecoder, VideoEncoder, I420};
use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::media::Sample;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;
use rtc::sansio::Protocol;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::rtp_transceiver::RtpSender;

use super::assembler::{FrameAssembler, H264Depacketizer};
use crate::session::{MediaSession, SessionState, VideoSink};
use crate::EngineError;

/// Receives one video track until it ends, keeping only the newest decoded picture. A codec this
/// server cannot decode fails the session (it would otherwise sit there blind).
pub(super) async fn run_inbound(session: Arc<MediaSession>, track: Arc<dyn TrackRemote>) {
    let ssrc = track.ssrcs().await.first().copied().unwrap_or_default();
    let mime = track.codec(ssrc).await.map(|c| c.mime_type).unwrap_or_default();
    match crate::codec::video_codec(&mime) {
        Some(Codec::Vp8) => depacketize(session, track, ssrc, Codec::Vp8, Vp8Packet::default()).await,
        Some(Codec::H264) => depacketize(session, track, ssrc, Codec::H264, H264Depacketizer::default()).await,
        None => session.fail(&format!(
            "the browser sends video as {mime:?}, which this server cannot decode"
        )),
    }
}

async fn depacketize<T: Depacketizer>(
    session: Arc<MediaSession>,
    track: Arc<dyn TrackRemote>,
    ssrc: u32,
    codec: Codec,
    depacketizer: T,
) {
    let mut decoder: Box<dyn VideoDecoder> = match codec.decoder() {
        Ok(d) => d,
        Err(e) => {
            session.fail(&format!("cannot decode the peer's video: {e}"));
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
            match decoder.decode(&sample.data) {
                Ok(Some(picture)) => {
                    need_keyframe = false;
                    let bgr = picture.to_packed(true);
                    session.put_video(picture.width(), picture.height(), bgr);
                }
                Ok(None) => {}
                Err(e @ gradio_webrtc_media::Error::PictureTooLarge(..)) => {
                    session.fail(&e.to_string());
                    return;
                }
                Err(e) => {
                    log::debug!("session {}: video decode: {e}", session.id());
                    need_keyframe = true;
                }
            }
            if need_keyframe {
                pli(&track, &mut last_pli);
            }
        }
    }
}

/// The outgoing video track and its encoder: the session's [`VideoSink`] over WebRTC.
pub(crate) struct VideoSender {
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    payload_type: OnceLock<u8>,
    keyframe_requested: AtomicBool,
    encoder: tokio::sync::Mutex<(Box<dyn VideoEncoder>, Option<Instant>)>,
}

impl VideoSender {
    pub fn new(
        track: Arc<TrackLocalStaticSample>,
        sender: Arc<dyn RtpSender>,
        ssrc: u32,
        encoder: Box<dyn VideoEncoder>,
    ) -> Self {
        Self {
            track,
            sender,
            ssrc,
            payload_type: OnceLock::new(),
            keyframe_requested: AtomicBool::new(true),
            encoder: tokio::sync::Mutex::new((encoder, None)),
        }
    }

    /// Learns the negotiated payload type, then watches the peer's keyframe requests until the
    /// session closes. Runs once the connection is up.
    pub async fn run(self: Arc<Self>, session: Arc<MediaSession>) {
        let codec = match self.sender.get_parameters().await {
            Ok(params) => params.rtp_parameters.codecs.first().map(|c| c.payload_type),
            Err(e) => {
                session.fail(&format!("no negotiated video codec: {e}"));
                return;
            }
        };
        let Some(payload_type) = codec else {
            session.fail("the browser accepted no video codec this server can send");
            return;
        };
        let _ = self.payload_type.set(payload_type);
        let mut state = session.watch_state();
        loop {
            let event = tokio::select! {
                e = self.track.poll() => e,
                _ = state.wait_for(|s| *s == SessionState::Closed) => None,
            };
            match event {
                Some(TrackLocalEvent::OnRtcpPacket(_)) => self.keyframe_requested.store(true, Ordering::Relaxed),
                Some(_) => {}
                None => break,
            }
        }
    }
}

#[async_trait]
impl VideoSink for VideoSender {
    /// Encodes and sends one picture; its duration is the time since the previous one, so the
    /// receiver plays pictures with the handler's own timing.
    async fn send(&self, picture: &I420) -> Result<(), EngineError> {
        let Some(pt) = self.payload_type.get().copied() else {
            return Ok(()); // not connected yet: nothing can be sent
        };
        let keyframe = self.keyframe_requested.swap(false, Ordering::Relaxed);
        let mut guard = self.encoder.lock().await;
        let (encoder, last) = &mut *guard;
        let output = encoder.encode(picture, keyframe)?;
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
            .map_err(|e| EngineError::BadMedia(format!("could not send video: {e}")))
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
