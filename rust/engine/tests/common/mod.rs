//! A webrtc-rs offerer playing the browser: an Opus track, a `text` data channel, recorders.

#![allow(dead_code, clippy::large_futures)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use gradio_webrtc_media::convert::tone;
use gradio_webrtc_media::opus::OpusEncoder;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::watch;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState, RTCSessionDescription, Registry,
};
use webrtc::rtp_transceiver::RtpSender;

pub const SSRC: u32 = 0x1234_5678;

/// What the offerer received.
#[derive(Default)]
pub struct Received {
    /// `(arrival, sequence number, timestamp, payload)` of every audio RTP packet.
    pub packets: Vec<(Instant, u16, u32, Bytes)>,
    pub messages: Vec<String>,
}

struct Events {
    gathered: watch::Sender<bool>,
    received: Arc<Mutex<Received>>,
}

#[async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let received = self.received.clone();
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(p) = event {
                    received.lock().unwrap().packets.push((
                        Instant::now(),
                        p.header.sequence_number,
                        p.header.timestamp,
                        p.payload.clone(),
                    ));
                }
            }
        });
    }
}

pub struct Offerer {
    pub pc: Arc<dyn PeerConnection>,
    pub track: Arc<TrackLocalStaticRTP>,
    pub sender: Arc<dyn RtpSender>,
    pub channel: Arc<dyn DataChannel>,
    pub received: Arc<Mutex<Received>>,
}

fn opus() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        },
        payload_type: 109, // not the engine's 111: the answer must follow the offer's numbering
    }
}

impl Offerer {
    /// Builds the offerer and returns it with its complete offer SDP.
    pub async fn new() -> (Self, String) {
        let mut media = MediaEngine::default();
        media.register_codec(opus(), RtpCodecKind::Audio).unwrap();
        let registry = register_default_interceptors(Registry::new(), &mut media).unwrap();
        let (gathered, mut gathered_rx) = watch::channel(false);
        let received = Arc::new(Mutex::new(Received::default()));
        let events = Arc::new(Events {
            gathered,
            received: received.clone(),
        });
        let settings = webrtc::peer_connection::SettingEngineBuilder::new()
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
            .build();
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_media_engine(media)
                .with_interceptor_registry(registry)
                .with_setting_engine(settings)
                .with_handler(events)
                .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
                .build()
                .await
                .unwrap(),
        );
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "offerer".into(),
            "mic".into(),
            "mic".into(),
            RtpCodecKind::Audio,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(SSRC),
                    ..Default::default()
                },
                codec: opus().rtp_codec,
                ..Default::default()
            }],
        )));
        let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await.unwrap();
        let channel = pc.create_data_channel("text", None).await.unwrap();
        let messages = received.clone();
        let reader = channel.clone();
        tokio::spawn(async move {
            while let Some(event) = reader.poll().await {
                if let DataChannelEvent::OnMessage(m) = event {
                    messages
                        .lock()
                        .unwrap()
                        .messages
                        .push(String::from_utf8_lossy(&m.data).into_owned());
                }
            }
        });
        let offer = pc.create_offer(None).await.unwrap();
        pc.set_local_description(offer).await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(5), gathered_rx.wait_for(|d| *d)).await;
        let sdp = pc.local_description().await.unwrap().sdp;
        (
            Self {
                pc,
                track,
                sender,
                channel,
                received,
            },
            sdp,
        )
    }

    pub async fn apply_answer(&self, sdp: &str) {
        self.pc
            .set_remote_description(RTCSessionDescription::answer(sdp.to_string()).unwrap())
            .await
            .unwrap();
    }

    /// Sends `seconds` of a tone as 20 ms Opus packets, paced in real time.
    pub async fn send_tone(&self, hz: f32, seconds: f32) {
        let pt = self.sender.get_parameters().await.unwrap().rtp_parameters.codecs[0].payload_type;
        let mut encoder = OpusEncoder::new(1, 48_000).unwrap();
        let signal = tone(hz, 48_000, (48_000.0 * seconds) as usize, 0.5);
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        for (i, frame) in signal.chunks_exact(960).enumerate() {
            ticker.tick().await;
            let payload = Bytes::copy_from_slice(encoder.encode(frame).unwrap());
            let packet = rtp::Packet {
                header: rtp::header::Header {
                    version: 2,
                    payload_type: pt,
                    sequence_number: i as u16,
                    timestamp: (i * 960) as u32,
                    ssrc: SSRC,
                    ..Default::default()
                },
                payload,
            };
            self.track.write_rtp(packet).await.unwrap();
        }
    }
}

/// Polls `f` every 20 ms until it is true; panics after `timeout`.
pub async fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "condition not met within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
