//! The engine: a registry of sessions sharing ICE settings. One per component.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::runtime::Handle;
use tokio::sync::watch;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder, RTCConfigurationBuilder,
    RTCSessionDescription, Registry, SettingEngineBuilder,
};

use crate::events::Events;
use crate::media_tasks::PacerTrack;
use crate::session::Session;
use crate::video::VideoSender;
use crate::{EngineError, EngineOptions, IceConfig, SessionOptions};
use gradio_webrtc_media::video::Codec;
use rtc::interceptor::Slot;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;

/// A random 32-bit value for SSRCs, sequence numbers and timestamps (RFC 3550 §5.1 wants them
/// unpredictable); std's per-process random hasher keys are enough for that.
pub(crate) fn random_u32() -> u32 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() as u32
}

struct Inner {
    ice: IceConfig,
    options: EngineOptions,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    closed: AtomicBool,
}

/// Owns the sessions of one component (or server). Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// An engine whose sessions use `ice` unless a session brings its own.
    #[must_use]
    pub fn new(ice: IceConfig, options: EngineOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                ice,
                options,
                sessions: Mutex::new(HashMap::new()),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// The session with this id, if it is live.
    #[must_use]
    pub fn get(&self, webrtc_id: &str) -> Option<Arc<Session>> {
        self.inner
            .sessions
            .lock()
            .expect("sessions lock poisoned")
            .get(webrtc_id)
            .cloned()
    }

    /// Ids of the live sessions.
    #[must_use]
    pub fn session_ids(&self) -> Vec<String> {
        self.inner
            .sessions
            .lock()
            .expect("sessions lock poisoned")
            .keys()
            .cloned()
            .collect()
    }

    /// Number of live sessions.
    #[must_use]
    pub fn session_count(&self) -> usize {
        self.inner.sessions.lock().expect("sessions lock poisoned").len()
    }

    /// Closes every session and refuses new offers.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        let sessions: Vec<_> = self
            .inner
            .sessions
            .lock()
            .expect("sessions lock poisoned")
            .values()
            .cloned()
            .collect();
        for s in sessions {
            s.close("server shutting down");
        }
    }

    /// Answers `sdp` (an offer) for `webrtc_id`. Must be called inside a tokio runtime.
    ///
    /// The returned session is registered until it closes.
    pub async fn accept_offer(
        &self,
        sdp: &str,
        kind: &str,
        webrtc_id: &str,
        options: SessionOptions,
    ) -> Result<Arc<Session>, EngineError> {
        let offer = self.validate(sdp, kind, webrtc_id, &options)?;
        let session = Session::new(
            webrtc_id.to_string(),
            Handle::current(),
            options.send_audio,
            self.inner.options.audio_bitrate,
        );
        let pacer = options.send_audio.then(|| outgoing_audio_track(webrtc_id));
        let (gathered_tx, mut gathered_rx) = watch::channel(false);
        let events = Arc::new(Events {
            session: Arc::downgrade(&session),
            gathered: gathered_tx,
            recv_audio: options.recv_audio,
            recv_video: options.recv_video,
            pause: options.pause.clone().map(|rule| crate::media_tasks::PauseMode {
                options: rule,
                can_interrupt: options.can_interrupt,
                stream_speech: options.stream_speech,
            }),
            input_rate: options.input_sample_rate,
            input_channels: options.input_channels,
            time_limit: options.time_limit,
            pacer: pacer.clone(),
        });
        let ice = options.ice.as_ref().unwrap_or(&self.inner.ice);
        let video = options.send_video || options.recv_video;
        let pc = Box::pin(self.build_peer(ice, events, video)).await?;
        if session.pc.set(pc.clone()).is_err() {
            unreachable!("a new session has no peer connection yet");
        }
        let video_out = if options.send_video {
            let codec = crate::video::choose_codec(sdp).ok_or_else(|| {
                EngineError::NoMedia("the browser offers no video codec this server can send (VP8 or H.264)".into())
            })?;
            Some((codec, self.inner.options.video_bitrate))
        } else {
            None
        };
        if let Err(e) = negotiate(&pc, offer, pacer.as_ref(), video_out, &session).await {
            let _ = pc.close().await;
            return Err(e);
        }
        // Non-trickle: the answer must carry the candidates. Unreachable STUN/TURN servers can
        // hold gathering ~10 s; past the timeout we answer with what was found.
        let _ = tokio::time::timeout(self.inner.options.gather_timeout, gathered_rx.wait_for(|done| *done)).await;
        let Some(local) = pc.local_description().await else {
            let _ = pc.close().await;
            return Err(EngineError::Setup("no local description after negotiation".into()));
        };
        session.answer.set(local.sdp).expect("the answer is set once");
        if !self.register(&session) {
            // Two offers with one id raced through negotiation; the first one registered wins.
            let _ = pc.close().await;
            return Err(EngineError::DuplicateId(webrtc_id.to_string()));
        }
        self.watch_connection(&session);
        Ok(session)
    }

    /// Checks everything that can be checked before any socket is opened.
    fn validate(
        &self,
        sdp: &str,
        kind: &str,
        webrtc_id: &str,
        options: &SessionOptions,
    ) -> Result<RTCSessionDescription, EngineError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(EngineError::Closed);
        }
        if kind != "offer" {
            return Err(EngineError::InvalidOffer(format!(
                "expected type \"offer\", got {kind:?}"
            )));
        }
        if self.get(webrtc_id).is_some() {
            return Err(EngineError::DuplicateId(webrtc_id.to_string()));
        }
        if !(1..=2).contains(&options.input_channels) || !(4000..=192_000).contains(&options.input_sample_rate) {
            return Err(EngineError::Setup(format!(
                "unsupported input format: {} Hz, {} channels",
                options.input_sample_rate, options.input_channels
            )));
        }
        let offer = RTCSessionDescription::offer(sdp.to_string())
            .map_err(|e| EngineError::InvalidOffer(format!("malformed SDP ({e})")))?;
        if (options.send_audio || options.recv_audio) && !sdp.lines().any(|l| l.starts_with("m=audio")) {
            return Err(EngineError::NoMedia(
                "the offer has no audio section: this stream needs the browser to send or receive audio".into(),
            ));
        }
        if (options.send_video || options.recv_video) && !sdp.lines().any(|l| l.starts_with("m=video")) {
            return Err(EngineError::NoMedia(
                "the offer has no video section: this stream needs the browser to send or receive video".into(),
            ));
        }
        Ok(offer)
    }

    /// Adds the session to the registry (false if the id was taken meanwhile) and arranges its
    /// removal when it closes.
    fn register(&self, session: &Arc<Session>) -> bool {
        let id = session.webrtc_id.clone();
        {
            let mut sessions = self.inner.sessions.lock().expect("sessions lock poisoned");
            if sessions.contains_key(&id) {
                return false;
            }
            sessions.insert(id.clone(), session.clone());
        }
        let registry = Arc::downgrade(&self.inner);
        *session.on_close.lock().expect("on_close lock poisoned") = Some(Box::new(move |_reason| {
            if let Some(inner) = registry.upgrade() {
                inner.sessions.lock().expect("sessions lock poisoned").remove(&id);
            }
        }));
        true
    }

    /// A connection that never comes up must not hold its slot forever.
    fn watch_connection(&self, session: &Arc<Session>) {
        let watchdog = session.clone();
        let give_up = self.inner.options.ice_disconnected_timeout + self.inner.options.ice_failed_timeout;
        session.runtime.spawn(async move {
            if tokio::time::timeout(give_up, watchdog.connected()).await.is_err() {
                watchdog.close("the connection was never established");
            }
        });
    }

    async fn build_peer(
        &self,
        ice: &IceConfig,
        events: Arc<Events>,
        video: bool,
    ) -> Result<Arc<dyn PeerConnection>, EngineError> {
        let mut media = MediaEngine::default();
        media.register_codec(opus_codec(), RtpCodecKind::Audio).map_err(setup)?;
        if video {
            for codec in crate::video::video_codecs() {
                media.register_codec(codec, RtpCodecKind::Video).map_err(setup)?;
            }
        }
        let registry = register_default_interceptors(Registry::new(), &mut media).map_err(setup)?;
        // Last in the chain, so NACK and the reports have seen inbound RTCP before keyframe requests
        // are handed to the outgoing video track.
        let registry = registry.with(Slot::from(14_000), crate::video::KeyframeRequests::default());
        let config = RTCConfigurationBuilder::new()
            .with_ice_servers(ice.servers.clone())
            .with_ice_transport_policy(ice.policy())
            .build();
        let o = &self.inner.options;
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
}

fn setup(e: impl std::fmt::Display) -> EngineError {
    EngineError::Setup(e.to_string())
}

/// Opus as browsers offer it (RFC 7587 §7: `opus/48000/2`), with in-band FEC.
fn opus_codec() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        },
        payload_type: 111,
    }
}

/// The outgoing Opus track, with an SSRC we choose (webrtc-rs needs it set to route packets).
fn outgoing_audio_track(webrtc_id: &str) -> PacerTrack {
    let ssrc = random_u32();
    let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        format!("gradio-webrtc-{webrtc_id}"),
        format!("audio-{webrtc_id}"),
        "audio".into(),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: opus_codec().rtp_codec,
            ..Default::default()
        }],
    )));
    PacerTrack { track, ssrc }
}

/// Offer in, answer set as local description (ICE gathering starts here).
async fn negotiate(
    pc: &Arc<dyn PeerConnection>,
    offer: RTCSessionDescription,
    pacer: Option<&PacerTrack>,
    video_out: Option<(Codec, u32)>,
    session: &Session,
) -> Result<(), EngineError> {
    if let Some(p) = pacer {
        let sender = pc
            .add_track(p.track.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(setup)?;
        let _ = session.sender.set(sender);
    }
    pc.set_remote_description(offer)
        .await
        .map_err(|e| EngineError::InvalidOffer(e.to_string()))?;
    if let Some((codec, bitrate)) = video_out {
        // Added after the offer is applied, so it joins the browser's video transceiver.
        let ssrc = random_u32();
        let track = Arc::new(
            TrackLocalStaticSample::new(
                std::time::Instant::now(),
                MediaStreamTrack::new(
                    format!("gradio-webrtc-{}", session.webrtc_id),
                    format!("video-{}", session.webrtc_id),
                    "video".into(),
                    RtpCodecKind::Video,
                    vec![RTCRtpEncodingParameters {
                        rtp_coding_parameters: RTCRtpCodingParameters {
                            ssrc: Some(ssrc),
                            ..Default::default()
                        },
                        codec: crate::video::codec_parameters(codec),
                        ..Default::default()
                    }],
                ),
            )
            .map_err(setup)?,
        );
        let sender = pc
            .add_track(crate::video::as_track_local(&track))
            .await
            .map_err(setup)?;
        let _ = session.video_sender.set(sender);
        let _ = session.video_out.set(VideoSender {
            track,
            ssrc,
            payload_type: std::sync::OnceLock::new(),
            encoder: tokio::sync::Mutex::new((codec.encoder(bitrate)?, None)),
        });
    }
    let answer = pc.create_answer(None).await.map_err(setup)?;
    pc.set_local_description(answer).await.map_err(setup)
}
