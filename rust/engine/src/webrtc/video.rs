//! Video over RTP: received packets → frames (lost packets waited for, [`super::assembler`]) →
//! decoded pictures → the session at their capture cadence ([`super::playout`]); and the session's
//! pictures → encoded frames → RTP, at the size, frame rate and bitrate the link carries
//! ([`super::cc`], `gradio_webrtc_media::video::rate`), with keyframes at start, on size changes
//! and on the peer's PLI/FIR requests (RFC 4585 §6.3.1, RFC 5104 §3.5.1), rate-limited.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use gradio_webrtc_media::video::rate::{fit, video_share, Ladder};
use gradio_webrtc_media::video::{Codec, VideoDecoder, VideoEncoder, I420};
use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::{Depacketizer, Payloader};
use rtc::sansio::Protocol;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::rtp_transceiver::RtpSender;

use super::assembler::{FrameAssembler, H264Depacketizer};
use super::cc::{CcShared, Link};
use super::playout::Playout;
use crate::driver::{MediaSession, VideoSent, VideoSink};
use crate::session::{Failure, FailureKind, SessionState};
use crate::EngineError;

/// Receives one video track until it ends, keeping only the newest decoded picture. A codec this
/// server cannot decode fails the session (it would otherwise sit there blind).
pub(super) async fn run_inbound(session: Arc<MediaSession>, track: Arc<dyn TrackRemote>, cc: Arc<CcShared>) {
    let ssrc = track.ssrcs().await.first().copied().unwrap_or_default();
    let mime = track.codec(ssrc).await.map(|c| c.mime_type).unwrap_or_default();
    match crate::codec::video_codec(&mime) {
        Some(Codec::Vp8) => depacketize(session, track, ssrc, Codec::Vp8, Vp8Packet::default(), cc).await,
        Some(Codec::H264) => depacketize(session, track, ssrc, Codec::H264, H264Depacketizer::default(), cc).await,
        None => session.fail(Failure::new(
            FailureKind::PeerMedia,
            format!("the browser sends video as {mime:?}, which this server cannot decode"),
        )),
    }
}

async fn depacketize<T: Depacketizer>(
    session: Arc<MediaSession>,
    track: Arc<dyn TrackRemote>,
    ssrc: u32,
    codec: Codec,
    depacketizer: T,
    cc: Arc<CcShared>,
) {
    let mut decoder: Box<dyn VideoDecoder> = match codec.decoder() {
        Ok(d) => d,
        Err(e) => {
            session.fail(Failure::new(
                FailureKind::PeerMedia,
                format!("cannot decode the peer's video: {e}"),
            ));
            return;
        }
    };
    let mut assembler = FrameAssembler::new(depacketizer);
    let mut last_pli = Instant::now()
        .checked_sub(Duration::from_secs(10))
        .unwrap_or_else(Instant::now);
    let mut need_keyframe = true;
    let mut broken = false;
    let pli = |track: &Arc<dyn TrackRemote>, last: &mut Instant| {
        if last.elapsed() > Duration::from_millis(500) {
            *last = Instant::now();
            crate::session::SessionStats::add(&session.stats().video_keyframes_asked, 1);
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
    let mut playout: Playout<I420> = Playout::default();
    loop {
        let due = playout.due();
        let event = tokio::select! {
            e = track.poll() => e,
            () = sleep_until(due) => {
                release(&session, &mut playout);
                continue;
            }
        };
        let Some(event) = event else { break };
        if session.is_closed() {
            break;
        }
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            if matches!(event, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        assembler.set_wait(repair_wait(cc.rtt()));
        for sample in assembler.push(packet) {
            // A delta frame past an unrepaired loss decodes to a smeared picture until the next
            // keyframe: hold the last good picture instead, and ask for a keyframe.
            let keyframe = codec.is_keyframe(&sample.data);
            if sample.after_loss && !keyframe {
                broken = true;
            }
            if keyframe {
                broken = false;
            }
            if broken {
                need_keyframe = true;
                pli(&track, &mut last_pli);
                continue;
            }
            // ~1 ms for 640x480: run inline. `block_in_place` per frame cost more (a worker hand-off
            // each time) than it saved.
            match decoder.decode(&sample.data) {
                Ok(Some(picture)) => {
                    need_keyframe = false;
                    let dropped = playout.push(Instant::now(), sample.timestamp, picture);
                    crate::session::SessionStats::add(&session.stats().video_frames_skipped, dropped);
                }
                Ok(None) => {}
                Err(e @ gradio_webrtc_media::Error::PictureTooLarge(..)) => {
                    session.fail(Failure::new(FailureKind::PeerMedia, e.to_string()));
                    return;
                }
                Err(e) => {
                    log::debug!("session {}: video decode: {e}", session.id());
                    need_keyframe = true;
                }
            }
            // Only when repair failed: a frame given up on, or one the decoder refused.
            if need_keyframe {
                pli(&track, &mut last_pli);
            }
        }
        release(&session, &mut playout);
    }
}

/// How long lost video is waited for before the frame is given up and a keyframe asked for: four
/// retransmission round trips and some jitter, 250-500 ms (the NACK generator asks every 20 ms,
/// 25 times at most); 200 ms while the round-trip time is unknown. Giving up costs more than
/// waiting: a keyframe is 3-10 frames' worth and meets the same loss. With two round trips
/// (130 ms at a 30 ms round trip), at 20 % loss each way against aiortc, which answers each request
/// once, a lost packet outlived ~4 requests once in 60: 3-7 keyframes asked for in 25 s, and
/// each stalled the server's input for 0.3-2 s.
fn repair_wait(rtt: Option<Duration>) -> Duration {
    rtt.map_or(super::assembler::NACK_WAIT, |rtt| {
        (rtt * 4 + Duration::from_millis(150)).clamp(Duration::from_millis(250), Duration::from_millis(500))
    })
}

/// Sleeps until `at`; forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Hands the due pictures to the session.
fn release(session: &MediaSession, playout: &mut Playout<I420>) {
    while let Some(picture) = playout.pop_due(Instant::now()) {
        let bgr = picture.to_packed(true);
        session.put_video(picture.width(), picture.height(), bgr);
    }
}

/// The least video bitrate the encoder is set to (bits per second).
pub(crate) const MIN_VIDEO_BPS: u32 = 30_000;
/// With more than this much video waiting in the pacer, pictures are dropped before encoding: a
/// picture encoded now would only queue behind it.
const MAX_BACKLOG_S: f64 = 0.1;
/// The encoder's bitrate follows the budget when they differ by more than this fraction; up at
/// most every [`RAISE_EVERY`], down at once.
const RETARGET: f64 = 0.05;
const RAISE_EVERY: Duration = Duration::from_millis(500);
/// Keyframes the peer asks for are sent at most this often (or twice the round-trip time, if
/// longer): a keyframe costs several frames' worth, and retransmission repairs most losses.
const KEYFRAME_EVERY: Duration = Duration::from_millis(250);
/// The ladder's full frame rate: rungs below it cap the frame rate.
const FULL_FPS: f32 = 30.0;

/// The largest RTP packet the video is cut into on a clean link (webrtc-rs's own figure: below
/// any path's MTU with SRTP, TURN and IPv6 headers).
const RTP_MTU: usize = 1200;
/// ... and on a lossy link ([`CcShared::lossy`]: above 5 % reported loss, until it falls to 2 %).
const LOSSY_RTP_MTU: usize = 600;

/// ... and while the last report shows heavy loss on a path without a queue
/// ([`CcShared::heavy_loss`]: above 10 %).
const HEAVY_LOSS_RTP_MTU: usize = 400;

/// The RTP packet size for video on a link that is `lossy` (and with `heavy` loss) or not. On a
/// lossy link smaller packets mean more of them, so a receiver that asks again for a missing
/// packet only when it sees a *new* gap (aiortc) asks more often: at 20 % loss each way its
/// longest freeze went from 400-680 ms to 270-290 ms with 600-byte packets, and from 228-337 ms
/// (median 243, five runs) to 177-221 ms with 400 (time frozen 5.2-6.4 s to 2.9-4.5 s); at 10 %
/// 2.1-3.3 s frozen to 1.9-2.1. A browser asks on a timer and pays only the headers: ~5 % more
/// bytes at 600, ~10 % at 400. At 5 % loss 400 bought nothing measurable (0.9-1.5 s frozen
/// against 0.9-1.2), so it waits for heavier loss.
fn packet_size(lossy: bool, heavy: bool) -> usize {
    match (lossy, heavy) {
        (true, true) => HEAVY_LOSS_RTP_MTU,
        (true, false) => LOSSY_RTP_MTU,
        (false, _) => RTP_MTU,
    }
}

/// Encoded pictures cut into RTP packets: the codec's payloader at a packet size chosen per
/// picture, one sequence, and timestamps from the capture clock (90 kHz).
///
/// On a lossy link each picture can be followed by a *tail probe*: a padding-only packet (RFC 3550
/// §5.1, no payload) with the picture's timestamp and the next sequence number. A receiver learns
/// of a lost packet only from a later one, so the loss of a picture's last packet (or of a small
/// picture whole) was noticed only when the next picture came, a frame interval (33 ms) later,
/// and its repair came that much later too: at 5 % loss each way those were most of the stalls
/// over 100 ms an aiortc client saw. The probe brings the next sequence number at once. Both
/// aiortc and libwebrtc take a padding-only packet as a sequence number received, for their NACK
/// logic, and as no media (libwebrtc's `NotifyReceiverOfEmptyPacket`; aiortc's jitter buffer
/// joins its empty payload to the picture of its timestamp). ~70 bytes a picture: ~17 kbit/s. The
/// pacer holds it a little after the picture's last packet (`cc::TAIL_PROBE_DELAY`), or a jittery
/// path delivers it first and the receiver asks for a packet that was only late.
pub(crate) struct RtpPictures {
    payloader: Box<dyn Payloader>,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    epoch: Instant,
}

impl RtpPictures {
    pub(crate) fn new(payloader: Box<dyn Payloader>, ssrc: u32) -> Self {
        Self {
            payloader,
            ssrc,
            sequence: crate::ids::random_u32() as u16,
            timestamp: crate::ids::random_u32(),
            epoch: Instant::now(),
        }
    }

    /// One picture captured at `at` as packets of at most `mtu` bytes (RTP header included), the
    /// last media packet marked, and with `probe` a tail probe after it.
    fn packetize(
        &mut self,
        at: Instant,
        payload_type: u8,
        mtu: usize,
        picture: &Bytes,
        probe: bool,
    ) -> Result<Vec<rtc::rtp::Packet>, EngineError> {
        let payloads = self
            .payloader
            .payload(mtu - 12, picture)
            .map_err(|e| EngineError::Transport(format!("packetizing a picture: {e}")))?;
        let ticks = at.saturating_duration_since(self.epoch).as_micros() * 9 / 100;
        let timestamp = self.timestamp.wrapping_add(ticks as u32);
        let last = payloads.len().saturating_sub(1);
        let mut packets: Vec<rtc::rtp::Packet> = payloads
            .into_iter()
            .enumerate()
            .map(|(i, payload)| self.next(payload_type, timestamp, i == last, payload))
            .collect();
        if probe && !packets.is_empty() {
            let mut padding = self.next(payload_type, timestamp, false, Bytes::new());
            padding.header.padding = true;
            packets.push(padding);
        }
        Ok(packets)
    }

    /// The next packet of the sequence.
    fn next(&mut self, payload_type: u8, timestamp: u32, marker: bool, payload: Bytes) -> rtc::rtp::Packet {
        let sequence_number = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                marker,
                payload_type,
                sequence_number,
                timestamp,
                ssrc: self.ssrc,
                ..Default::default()
            },
            payload,
        }
    }
}

/// The outgoing video track and its encoder: the session's [`VideoSink`] over WebRTC.
pub(crate) struct VideoSender {
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    payload_type: OnceLock<u8>,
    /// Only used under `encoding`'s lock.
    packets: std::sync::Mutex<RtpPictures>,
    keyframe_requested: AtomicBool,
    cc: Arc<CcShared>,
    /// Audio's share of the link, bits per second.
    audio_bps: f64,
    /// The configured ceiling for video, bits per second.
    max_bps: u32,
    encoding: tokio::sync::Mutex<Encoding>,
}

/// What the per-picture control loop remembers.
struct Encoding {
    encoder: Box<dyn VideoEncoder>,
    started: Instant,
    /// When the last picture went out (the frame-rate cap and the encoder's interval run from there).
    last_sent: Option<Instant>,
    ladder: Ladder,
    last_raise: Option<Instant>,
    last_keyframe: Option<Instant>,
    /// The handler's picture interval (seconds, smoothed) and when its last picture came.
    input_interval: Option<f64>,
    last_input: Option<Instant>,
}

impl VideoSender {
    pub fn new(
        track: Arc<TrackLocalStaticRTP>,
        sender: Arc<dyn RtpSender>,
        packets: RtpPictures,
        encoder: Box<dyn VideoEncoder>,
        link: Link,
    ) -> Self {
        let now = Instant::now();
        let ladder = Ladder::new(encoder.bitrate());
        Self {
            track,
            sender,
            payload_type: OnceLock::new(),
            packets: std::sync::Mutex::new(packets),
            keyframe_requested: AtomicBool::new(true),
            cc: link.cc,
            audio_bps: link.audio_bps,
            max_bps: link.video_max_bps.max(MIN_VIDEO_BPS),
            encoding: tokio::sync::Mutex::new(Encoding {
                encoder,
                started: now,
                last_sent: None,
                ladder,
                last_raise: None,
                last_keyframe: None,
                input_interval: None,
                last_input: None,
            }),
        }
    }

    /// Learns the negotiated payload type, then watches the peer's keyframe requests until the
    /// session closes. Runs once the connection is up.
    pub async fn run(self: Arc<Self>, session: Arc<MediaSession>) {
        let codec = match self.sender.get_parameters().await {
            Ok(params) => params.rtp_parameters.codecs.first().map(|c| c.payload_type),
            Err(e) => {
                session.fail(Failure::new(
                    FailureKind::NoCodec,
                    format!("no negotiated video codec: {e}"),
                ));
                return;
            }
        };
        let Some(payload_type) = codec else {
            session.fail(Failure::new(
                FailureKind::NoCodec,
                "the browser accepted no video codec this server can send",
            ));
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

/// What to do with one picture.
#[derive(Debug, PartialEq)]
enum Plan {
    /// Skip it: the link is behind, or the frame rate or budget says so.
    Skip,
    /// Encode it at this size and bitrate, as a keyframe or not.
    Send {
        width: u32,
        height: u32,
        bitrate: Option<u32>,
        keyframe: bool,
        /// The frame interval the encoder budgets for: the rung's, not the time since the last
        /// picture sent (after skipped pictures that gap would buy one oversized frame, which
        /// queues and makes the next pictures skip too).
        interval: Duration,
    },
}

impl Encoding {
    /// The control loop for one `width` x `height` picture at `now`, given the link's `budget`
    /// (bits per second for everything), audio's share, the pacer's backlog (seconds), the
    /// round-trip time, the video ceiling and whether a keyframe is pending.
    #[allow(clippy::too_many_arguments)]
    fn plan(
        &mut self,
        now: Instant,
        (width, height): (u32, u32),
        budget: f64,
        audio_bps: f64,
        backlog_s: f64,
        rtt: Option<Duration>,
        max_bps: u32,
        keyframe_pending: bool,
    ) -> Plan {
        let video_bps = video_share(budget, audio_bps).clamp(MIN_VIDEO_BPS, max_bps);
        // The ladder is in bits per second at 30 pictures a second: a handler that makes fewer
        // has more bits for each (and a peer's estimate of a slow stream is low, since it only
        // sees what is sent), so its pictures are not shrunk for want of a rate it does not use.
        if let Some(last) = self.last_input {
            let dt = now.saturating_duration_since(last).as_secs_f64().clamp(1.0 / 60.0, 1.0);
            self.input_interval = Some(self.input_interval.map_or(dt, |i| 0.75 * i + 0.25 * dt));
        }
        self.last_input = Some(now);
        let input_fps = (1.0 / self.input_interval.unwrap_or(1.0 / 30.0)).min(f64::from(FULL_FPS));
        let per_frame_bps = (f64::from(video_bps) * f64::from(FULL_FPS) / input_fps) as u32;
        let rung = self
            .ladder
            .update(now.saturating_duration_since(self.started).as_secs_f64(), per_frame_bps);
        let since_last = self.last_sent.map(|t| now.saturating_duration_since(t));
        // A frame-rate cap only on the rungs that lower it: at full rate the handler's own pace
        // (and its input's jitter) decides.
        let too_soon = rung.fps < FULL_FPS && since_last.is_some_and(|d| d.as_secs_f32() < 0.85 / rung.fps);
        if backlog_s > MAX_BACKLOG_S || too_soon {
            log::trace!("picture held back: backlog {backlog_s:.3} s, frame-rate cap {too_soon}, budget {budget:.0}");
            return Plan::Skip;
        }
        let (width, height) = fit(width, height, rung.max_pixels);
        let current = self.encoder.bitrate();
        let bitrate = if f64::from(video_bps) < f64::from(current) * (1.0 - RETARGET) {
            Some(video_bps)
        } else if f64::from(video_bps) > f64::from(current) * (1.0 + RETARGET)
            && self
                .last_raise
                .is_none_or(|t| now.saturating_duration_since(t) >= RAISE_EVERY)
        {
            self.last_raise = Some(now);
            Some(video_bps)
        } else {
            None
        };
        let spacing = rtt.map_or(KEYFRAME_EVERY, |rtt| (rtt * 2).max(KEYFRAME_EVERY));
        let keyframe = keyframe_pending
            && self
                .last_keyframe
                .is_none_or(|t| now.saturating_duration_since(t) >= spacing);
        let nominal = Duration::from_secs_f32(1.0 / rung.fps);
        Plan::Send {
            width,
            height,
            bitrate,
            keyframe,
            interval: since_last.map_or(nominal, |d| d.min(nominal)),
        }
    }
}

#[async_trait]
impl VideoSink for VideoSender {
    /// Encodes and sends one picture, or skips it when the link cannot carry it (RTP timestamps
    /// follow the capture clock, so the receiver's timing stays right across the gap); the
    /// picture is scaled down when the link's budget is below what its size needs.
    async fn send(&self, picture: &I420) -> Result<VideoSent, EngineError> {
        let Some(pt) = self.payload_type.get().copied() else {
            return Ok(VideoSent::NotConnected);
        };
        let mut guard = self.encoding.lock().await;
        let state = &mut *guard;
        let now = Instant::now();
        let budget = self.cc.budget(now);
        let plan = state.plan(
            now,
            (picture.width(), picture.height()),
            budget,
            self.audio_bps,
            self.cc.backlog_s(),
            self.cc.rtt(),
            self.max_bps,
            self.keyframe_requested.load(Ordering::Relaxed),
        );
        let Plan::Send {
            width,
            height,
            bitrate,
            keyframe,
            interval,
        } = plan
        else {
            return Ok(VideoSent::HeldBack);
        };
        if keyframe {
            self.keyframe_requested.store(false, Ordering::Relaxed);
            state.last_keyframe = Some(now);
        }
        if let Some(bps) = bitrate {
            state.encoder.set_bitrate(bps)?;
        }
        let scaled = ((width, height) != (picture.width(), picture.height())).then(|| picture.scaled(width, height));
        state.encoder.set_frame_interval(interval);
        let output = state.encoder.encode(scaled.as_ref().unwrap_or(picture), keyframe)?;
        let Some(output) = output else {
            return Ok(VideoSent::HeldBack);
        };
        if output.keyframe {
            state.last_keyframe = Some(now);
        }
        state.last_sent = Some(now);
        log::trace!(
            "picture sent: {} bytes, keyframe {}, {width}x{height} at {} bit/s; {}",
            output.data.len(),
            output.keyframe,
            state.encoder.bitrate(),
            self.cc.describe(now)
        );
        let mtu = packet_size(self.cc.lossy(), self.cc.heavy_loss());
        let packets = self.packets.lock().expect("packetizing never panics").packetize(
            now,
            pt,
            mtu,
            &Bytes::from(output.data),
            self.cc.loses_on_its_own(),
        )?;
        for packet in packets {
            self.track
                .write_rtp(packet)
                .await
                // The only failure is the connection's driver having ended (its channel is closed):
                // the transport's fault, not the picture's; its error holds the whole packet.
                .map_err(|_| EngineError::Transport("the video track is gone: the connection has ended".into()))?;
        }
        Ok(VideoSent::Sent {
            width,
            height,
            bitrate: state.encoder.bitrate(),
            link_bps: budget as u32,
            link_feedback: self.cc.feedback(now) as u8,
        })
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

#[cfg(test)]
mod test {
    use super::*;
    use gradio_webrtc_media::video::Codec;

    fn encoding(bps: u32) -> Encoding {
        let encoder = Codec::Vp8.encoder(bps).unwrap();
        let now = Instant::now();
        Encoding {
            ladder: Ladder::new(bps),
            encoder,
            started: now,
            last_sent: None,
            last_raise: None,
            last_keyframe: None,
            input_interval: None,
            last_input: None,
        }
    }

    fn send(e: &mut Encoding, now: Instant, budget: f64, backlog: f64, keyframe: bool) -> Plan {
        let plan = e.plan(now, (640, 480), budget, 74_000.0, backlog, None, 1_500_000, keyframe);
        if let Plan::Send { bitrate, keyframe, .. } = &plan {
            if let Some(b) = bitrate {
                e.encoder.set_bitrate(*b).unwrap();
            }
            if *keyframe {
                e.last_keyframe = Some(now);
            }
            e.last_sent = Some(now);
        }
        plan
    }

    #[test]
    fn a_backlog_skips_pictures_before_they_are_encoded() {
        let mut e = encoding(500_000);
        let t0 = Instant::now();
        assert!(matches!(
            send(&mut e, t0, 600_000.0, 0.0, true),
            Plan::Send { keyframe: true, .. }
        ));
        let t1 = t0 + Duration::from_millis(33);
        assert_eq!(send(&mut e, t1, 600_000.0, 0.25, false), Plan::Skip);
        assert!(matches!(
            send(&mut e, t1 + Duration::from_millis(33), 600_000.0, 0.0, false),
            Plan::Send { .. }
        ));
    }

    #[test]
    fn a_narrow_link_gets_a_smaller_picture_at_its_bitrate() {
        let mut e = encoding(1_000_000);
        let mut now = Instant::now();
        let mut last = None;
        for _ in 0..90 {
            now += Duration::from_millis(33);
            if let Plan::Send {
                width, height, bitrate, ..
            } = send(&mut e, now, 250_000.0, 0.0, false)
            {
                last = Some((width, height));
                if let Some(b) = bitrate {
                    assert_eq!(b, 151_000, "0.9 x 250 k less audio's 74 k");
                }
            }
        }
        assert_eq!(e.encoder.bitrate(), 151_000);
        let (w, h) = last.unwrap();
        assert!(w * h <= 480 * 360 && w < 640, "scaled down: {w}x{h}");
    }

    #[test]
    fn a_slow_handler_keeps_its_picture_size() {
        // 150 kbit/s of video is the 480x360 rung at 30 fps, but at 5 pictures a second each
        // picture has six times the bits: full size.
        let mut e = encoding(1_000_000);
        let mut now = Instant::now();
        let mut size = None;
        for _ in 0..40 {
            now += Duration::from_millis(200);
            if let Plan::Send { width, height, .. } = send(&mut e, now, 250_000.0, 0.0, false) {
                size = Some((width, height));
            }
        }
        assert_eq!(size, Some((640, 480)));
    }

    #[test]
    fn keyframe_requests_are_rate_limited() {
        let mut e = encoding(500_000);
        let t0 = Instant::now();
        assert!(matches!(
            send(&mut e, t0, 600_000.0, 0.0, true),
            Plan::Send { keyframe: true, .. }
        ));
        let t1 = t0 + Duration::from_millis(100);
        assert!(
            matches!(
                send(&mut e, t1, 600_000.0, 0.0, true),
                Plan::Send { keyframe: false, .. }
            ),
            "pending, not yet"
        );
        let t2 = t0 + KEYFRAME_EVERY;
        assert!(matches!(
            send(&mut e, t2, 600_000.0, 0.0, true),
            Plan::Send { keyframe: true, .. }
        ));
    }

    #[test]
    fn repair_waits_follow_the_round_trip() {
        assert_eq!(repair_wait(None), crate::webrtc::assembler::NACK_WAIT);
        assert_eq!(repair_wait(Some(Duration::from_millis(5))), Duration::from_millis(250));
        assert_eq!(repair_wait(Some(Duration::from_millis(60))), Duration::from_millis(390));
        assert_eq!(repair_wait(Some(Duration::from_secs(1))), Duration::from_millis(500));
    }

    #[test]
    fn pictures_go_in_smaller_packets_on_a_lossy_link() {
        assert_eq!(packet_size(false, false), RTP_MTU);
        assert_eq!(packet_size(true, false), LOSSY_RTP_MTU);
        assert_eq!(packet_size(true, true), HEAVY_LOSS_RTP_MTU);
        let mut vp8 = rtc::rtp::codec::vp8::Vp8Payloader::default();
        vp8.enable_picture_id = true;
        let mut pictures = RtpPictures::new(Box::new(vp8), 42);
        let t0 = pictures.epoch;
        let picture = Bytes::from(vec![0x10u8; 3000]);
        let mut seqs = Vec::new();
        let mut stamps = Vec::new();
        for (i, mtu) in [RTP_MTU, LOSSY_RTP_MTU, HEAVY_LOSS_RTP_MTU].into_iter().enumerate() {
            let at = t0 + Duration::from_millis(100 * i as u64);
            let packets = pictures.packetize(at, 96, mtu, &picture, false).unwrap();
            assert_eq!(packets.len(), 3000usize.div_ceil(mtu - 12 - 4), "mtu {mtu}");
            for (j, p) in packets.iter().enumerate() {
                assert!(rtc::shared::marshal::MarshalSize::marshal_size(&p.header) + p.payload.len() <= mtu);
                assert_eq!(
                    p.header.marker,
                    j == packets.len() - 1,
                    "only a picture's last packet is marked"
                );
                assert_eq!((p.header.ssrc, p.header.payload_type), (42, 96));
                assert_eq!(p.header.timestamp, packets[0].header.timestamp);
                seqs.push(p.header.sequence_number);
            }
            stamps.push(packets[0].header.timestamp);
        }
        // One unbroken sequence across packet sizes; the timestamp follows the capture clock.
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)), "{seqs:?}");
        assert_eq!(stamps[1].wrapping_sub(stamps[0]), 9000);
        assert_eq!(stamps[2].wrapping_sub(stamps[1]), 9000);
    }

    #[test]
    fn a_tail_probe_follows_a_picture_when_asked_for() {
        use rtc::shared::marshal::{Marshal, Unmarshal};
        let mut pictures = RtpPictures::new(Box::new(rtc::rtp::codec::vp8::Vp8Payloader::default()), 42);
        let at = pictures.epoch;
        let picture = Bytes::from(vec![0x10u8; 1500]);
        let plain = pictures.packetize(at, 96, RTP_MTU, &picture, false).unwrap();
        let probed = pictures.packetize(at, 96, RTP_MTU, &picture, true).unwrap();
        assert_eq!(probed.len(), plain.len() + 1, "one probe after the picture");
        let (probe, media) = probed.split_last().unwrap();
        assert!(
            media.last().unwrap().header.marker,
            "the last media packet stays marked"
        );
        assert!(!probe.header.marker);
        assert_eq!(
            probe.header.sequence_number,
            media.last().unwrap().header.sequence_number.wrapping_add(1)
        );
        assert_eq!(
            probe.header.timestamp, media[0].header.timestamp,
            "the picture's own timestamp"
        );
        // On the wire: padding only, which a receiver reads as no payload at all.
        let wire = probe.marshal().unwrap();
        assert!(wire.len() <= 12 + 4, "{} bytes", wire.len());
        let read = rtc::rtp::Packet::unmarshal(&mut wire.clone()).unwrap();
        assert!(read.header.padding && read.payload.is_empty());
        // The sequence goes on unbroken after it.
        let next = pictures.packetize(at, 96, RTP_MTU, &picture, false).unwrap();
        assert_eq!(
            next[0].header.sequence_number,
            probe.header.sequence_number.wrapping_add(1)
        );
    }
}
