//! Building the peer connection and answering the offer.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Slot;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, RTCConfigurationBuilder, RTCSessionDescription, Registry,
    SettingEngineBuilder,
};

use super::audio::OutgoingAudio;
use super::cc::{CcPacer, CcShared, EngineEstimator, Link};
use super::events::Events;
use super::video::VideoSender;
use crate::codec::{self, CodecSpec};
use crate::config::{EngineOptions, IceConfig};
use crate::driver::MediaSession;
use crate::ids::random_u32;
use crate::session::SessionStats;
use crate::EngineError;

pub(super) fn setup(e: impl std::fmt::Display) -> EngineError {
    EngineError::Setup(e.to_string())
}

/// How often the NACK generator looks for gaps (webrtc-rs's default: 100 ms). At 20 ms a lost
/// video packet is asked for again within a frame interval, so its retransmission arrives while
/// the frame assembler still waits for it (`assembler::NACK_WAIT`).
const NACK_INTERVAL: Duration = Duration::from_millis(20);

/// How many times one lost packet is asked for: every `NACK_INTERVAL` for as long as the frame
/// assembler waits for it at most (`video::repair_wait`, 500 ms). webrtc-rs's default is no limit:
/// a packet the sender no longer holds was asked for every 20 ms until 512 newer ones had arrived.
const MAX_NACKS_PER_PACKET: u16 = 25;

/// webrtc-rs's NACK, transport-cc and RTCP-report interceptors with a faster NACK generator, and
/// our send-side congestion control (`cc`): GCC over the peer's transport-cc feedback behind the
/// shipped send history, and our pacer. The codecs' `nack`, `nack pli` and `goog-remb` feedback
/// come from the codec table; transport-cc and abs-send-time are registered here. The NACK
/// generator, the transport-cc sender and the send history are wrapped (`repair`) so that they
/// know the RTX streams webrtc-rs binds only as a field of their primary's.
fn interceptors(
    media: &mut MediaEngine,
    cc: &Arc<CcShared>,
    stats: &Arc<SessionStats>,
) -> Result<Registry, EngineError> {
    use rtc::interceptor::{CongestionControlBuilder, NackGeneratorBuilder, NackResponderBuilder, TwccSenderBuilder};
    use rtc::peer_connection::configuration::interceptor_registry::{
        configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc,
    };
    use rtc::rtp_transceiver::rtp_sender::RTCRtpHeaderExtensionCapability;
    let registry = Registry::new()
        .with(Slot::NackResponder, NackResponderBuilder::new().build())
        .with(
            Slot::NackGenerator,
            super::repair::Nacks::new(
                NackGeneratorBuilder::new()
                    .with_interval(NACK_INTERVAL)
                    .with_max_nacks_per_packet(MAX_NACKS_PER_PACKET)
                    .build(),
                stats.clone(),
                cc.clone(),
            ),
        );
    configure_simulcast_extension_headers(media).map_err(setup)?;
    // abs-send-time lets a peer without transport-cc (aiortc) estimate our video's bandwidth and
    // tell us in REMB; the pacer stamps it.
    media
        .register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: rtc::sdp::extmap::ABS_SEND_TIME_URI.to_owned(),
            },
            RtpCodecKind::Video,
            None,
        )
        .map_err(setup)?;
    let registry = configure_twcc(registry, media).map_err(setup)?;
    // The shipped transport-cc sender again, numbering the RTX streams' packets too.
    let registry = registry.with(
        Slot::TwccSender,
        super::repair::WithRepairStreams(TwccSenderBuilder::new().build()),
    );
    let registry = registry
        .with(
            Slot::CongestionControl,
            // Its send history records the RTX streams' packets too, or their feedback matches
            // nothing: at 20 % loss, with repairs a large share of what leaves, the estimate saw
            // a third of its bytes acknowledged and fell to the floor.
            super::repair::WithRepairStreams(CongestionControlBuilder::new(EngineEstimator::new(cc.clone())).build()),
        )
        .with(Slot::Pacer, CcPacer::new(cc.clone(), stats.clone()));
    Ok(configure_rtcp_reports(registry))
}

/// A peer connection with our codecs, interceptors and ICE settings.
pub(super) async fn build(
    ice: &IceConfig,
    o: &EngineOptions,
    events: Arc<Events>,
    video: bool,
    cc: &Arc<CcShared>,
    stats: &Arc<SessionStats>,
) -> Result<Arc<dyn PeerConnection>, EngineError> {
    let mut media = MediaEngine::default();
    for spec in codec::CODECS {
        if spec.kind == RtpCodecKind::Audio || video {
            media.register_codec(spec.parameters(), spec.kind).map_err(setup)?;
            if let Some(rtx) = spec.rtx_parameters() {
                // webrtc-rs then gives the video sender a repair SSRC (`a=ssrc-group:FID`) and
                // its NACK responder resends on it, when the peer negotiated RTX.
                media.register_codec(rtx, spec.kind).map_err(setup)?;
            }
        }
    }
    let registry = interceptors(&mut media, cc, stats)?;
    // Last in the chain, so NACK and the reports have seen inbound RTCP before keyframe requests
    // are handed to the outgoing video track.
    let registry = registry.with(Slot::from(14_000), super::KeyframeRequests::default());
    let config = RTCConfigurationBuilder::new()
        .with_ice_servers(ice.servers.clone())
        .with_ice_transport_policy(ice.policy())
        .build();
    let settings = SettingEngineBuilder::new()
        // mDNS would bind 5353 and join a multicast group; a server has no use for it.
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_ice_timeouts(
            Some(o.ice_disconnected_timeout),
            Some(o.ice_failed_timeout),
            Some(o.ice_keepalive),
        )
        // 50 ms between connectivity checks instead of 200 ms (same 1.4 s budget): the answerer's
        // own checks then confirm the pair sooner and media starts ~150 ms earlier.
        .with_ice_connection_attempts(Some(Duration::from_millis(50)), Some(28))
        .build();
    let builder = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .with_handler(events)
        .with_udp_addrs(o.bind_addresses.clone());
    let pc = Box::pin(builder.build()).await.map_err(setup)?;
    Ok(Arc::new(pc))
}

/// A VP8/H.264 track for the session's pictures, added to `pc`; the session's video sink.
pub(super) async fn video_track(
    pc: &Arc<dyn PeerConnection>,
    spec: &'static CodecSpec,
    session: &Arc<MediaSession>,
    link: &Link,
) -> Result<Arc<VideoSender>, EngineError> {
    let codec = spec.video.expect("video rows name their media codec");
    let ssrc = random_u32();
    let rtp_codec = spec.rtp_codec();
    let packets = super::video::RtpPictures::new(rtp_codec.payloader().map_err(setup)?, ssrc);
    let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        "gradio-webrtc".to_string(),
        "video".to_string(),
        "video".into(),
        RtpCodecKind::Video,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: rtp_codec,
            ..Default::default()
        }],
    )));
    let sender = pc
        .add_track(track.clone() as Arc<dyn TrackLocal>)
        .await
        .map_err(setup)?;
    // The encoder starts at the connection's initial estimate, not the configured ceiling: the
    // first keyframe is the session's largest burst.
    let start =
        gradio_webrtc_media::video::rate::video_share(link.cc.budget(std::time::Instant::now()), link.audio_bps);
    let encoder = codec.encoder(start.clamp(super::video::MIN_VIDEO_BPS, link.video_max_bps))?;
    let video = Arc::new(VideoSender::new(track, sender, packets, encoder, link.clone()));
    session.set_video_sink(video.clone());
    Ok(video)
}

/// Offer in, answer set as local description (ICE gathering starts here).
pub(super) async fn negotiate(
    transport: &super::WebRtcTransport,
    offer: RTCSessionDescription,
    audio_out: Option<&OutgoingAudio>,
    video_out: Option<&'static CodecSpec>,
    session: &Arc<MediaSession>,
    link: &Link,
    video_sender: &OnceLock<Arc<VideoSender>>,
) -> Result<(), EngineError> {
    let (pc, audio_sender) = (&transport.pc, &transport.audio_sender);
    if let Some(out) = audio_out {
        let sender = pc
            .add_track(out.track.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(setup)?;
        let _ = audio_sender.set(sender.clone());
        let _ = out.sender.set(sender);
    }
    pc.set_remote_description(offer)
        .await
        .map_err(|e| EngineError::InvalidOffer(e.to_string()))?;
    if let Some(spec) = video_out {
        // Added after the offer is applied, so it joins the browser's video transceiver.
        let video = video_track(pc, spec, session, link).await?;
        let _ = video_sender.set(video);
    }
    let answer = pc.create_answer(None).await.map_err(setup)?;
    pc.set_local_description(answer).await.map_err(setup)
}
