//! Audio over RTP: the peer's Opus track into the session, and the session's paced frames out as
//! Opus RTP (RFC 7587).

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use gradio_webrtc_media::inbound::{InboundCounts, RtpOpusDecoder};
use gradio_webrtc_media::outbound::{Frame, OpusPackets};
use gradio_webrtc_media::{WIRE_FRAME, WIRE_RATE};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::rtp_transceiver::RtpSender;

use crate::driver::{AudioSink, MediaSession};
use crate::ids::random_u32;
use crate::session::{Failure, FailureKind};
use crate::EngineError;

/// The outgoing audio track, its SSRC (webrtc-rs needs it set to route packets) and, once
/// negotiated, its sender.
#[derive(Clone)]
pub(super) struct OutgoingAudio {
    pub track: Arc<TrackLocalStaticRTP>,
    pub ssrc: u32,
    pub sender: Arc<OnceLock<Arc<dyn RtpSender>>>,
}

/// A new outgoing Opus track.
pub(super) fn outgoing_track() -> OutgoingAudio {
    let ssrc = random_u32();
    let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        // Fixed names: the client-chosen id never goes into the SDP.
        "gradio-webrtc".to_string(),
        "audio".to_string(),
        "audio".into(),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: crate::codec::opus().rtp_codec(),
            ..Default::default()
        }],
    )));
    OutgoingAudio {
        track,
        ssrc,
        sender: Arc::new(OnceLock::new()),
    }
}

/// Decodes the peer's audio track into the session until the track ends. A decoder that cannot be
/// built fails the session (it would otherwise stay open and deaf).
pub(super) async fn run_inbound(session: Arc<MediaSession>, track: Arc<dyn TrackRemote>, channels: usize) {
    let mut decoder = match RtpOpusDecoder::new(channels) {
        Ok(d) => d,
        Err(e) => {
            session.fail(Failure::new(
                FailureKind::PeerMedia,
                format!("cannot decode the peer's audio: {e}"),
            ));
            return;
        }
    };
    let mut reported = InboundCounts::default();
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                let header = &packet.header;
                let samples = decoder.push(header.sequence_number, header.timestamp, &packet.payload);
                if !samples.is_empty() {
                    if let Err(e) = session.push_audio(WIRE_RATE, channels, samples) {
                        session.fail(Failure::from(e));
                        return;
                    }
                }
                session.stats().count_inbound(reported, decoder.counts());
                reported = decoder.counts();
            }
            TrackRemoteEvent::OnEnded => break,
            _ => {}
        }
        if session.is_closed() {
            break;
        }
    }
}

/// The session's 20 ms frames as Opus RTP packets. The RTP timestamp advances by 960 per packet
/// (RFC 7587 §4.2) whether it carries audio or silence, so the receiver's clock never jumps.
pub(super) struct OpusRtpSink {
    out: OutgoingAudio,
    payload_type: u8,
    opus: OpusPackets,
    seq: u16,
    timestamp: u32,
    was_silent: bool,
}

impl OpusRtpSink {
    /// A sink for `out`, once its codec is negotiated (None: no codec, which fails the session).
    pub async fn new(out: OutgoingAudio, bitrate: i32) -> Result<Self, String> {
        let sender = out.sender.get().cloned().ok_or("the audio track was never added")?;
        let params = sender
            .get_parameters()
            .await
            .map_err(|e| format!("no negotiated audio codec: {e}"))?;
        let payload_type = params
            .rtp_parameters
            .codecs
            .first()
            .map(|c| c.payload_type)
            .ok_or("the peer accepted no audio codec this server can send")?;
        Ok(Self {
            out,
            payload_type,
            opus: OpusPackets::new(bitrate),
            seq: random_u32() as u16,
            timestamp: random_u32(),
            was_silent: true,
        })
    }
}

#[async_trait]
impl AudioSink for OpusRtpSink {
    async fn send(&mut self, frame: Option<&Frame>) -> Result<bool, EngineError> {
        let packet = self
            .opus
            .packet(frame)
            .map_err(|e| EngineError::Transport(format!("Opus encoding failed: {e}")))?;
        // Every tick moves the sender's clock on, whether a packet goes out or (DTX) none does.
        let timestamp = self.timestamp;
        self.timestamp = timestamp.wrapping_add(WIRE_FRAME as u32);
        let Some(packet) = packet else {
            return Ok(false);
        };
        let rtp_packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                payload_type: self.payload_type,
                sequence_number: self.seq,
                timestamp,
                ssrc: self.out.ssrc,
                // RFC 3551 §4.1: the marker bit flags the first packet of a talkspurt.
                marker: self.was_silent && !packet.silent,
                ..Default::default()
            },
            payload: Bytes::from(packet.payload),
        };
        self.was_silent = packet.silent;
        self.out
            .track
            .write_rtp(rtp_packet)
            .await
            // Fails only once the connection's driver has ended; its error holds the whole packet.
            .map_err(|_| EngineError::Transport("the audio track is gone: the connection has ended".into()))?;
        self.seq = self.seq.wrapping_add(1);
        Ok(true)
    }
}
