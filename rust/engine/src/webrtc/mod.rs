//! The WebRTC transport: a webrtc-rs peer connection feeding a [`MediaSession`].
//!
//! 1. [`accept_offer`] builds a peer connection, applies the browser's offer, answers it and waits
//!    for ICE gathering to finish (non-trickle signalling, as the original library), so the
//!    answer already holds every candidate.
//! 2. Received RTP is decoded here (Opus with loss concealment, VP8/H.264 with a frame assembler)
//!    and pushed into the session; the session's pacer hands 20 ms frames back to an Opus
//!    [`AudioSink`](crate::session::AudioSink) that writes RTP, and pictures to a video sink.
//! 3. The browser closing its data channel, ICE failing consent (RFC 7675) or the session closing
//!    for any other reason ends everything: the session closes the transport, which closes the
//!    peer connection (its driver owns the sockets).

pub(crate) mod assembler;
mod audio;
mod cc;
mod data_channel;
mod events;
mod peer;
mod playout;
mod repair;
mod video;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use tokio::runtime::Handle;
use tokio::sync::watch;
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateType, RTCSessionDescription};
use webrtc::rtp_transceiver::RtpSender;

use crate::config::{EngineOptions, IceConfig};
use crate::driver::{MediaSession, Transport};
use crate::session::MediaOptions;
use crate::{EngineError, SessionOptions};

pub(crate) use video::KeyframeRequests;

/// The peer connection under a session.
pub(crate) struct WebRtcTransport {
    pc: Arc<dyn PeerConnection>,
    runtime: Handle,
    audio_sender: OnceLock<Arc<dyn RtpSender>>,
    /// Remote candidates trickled so far (bounded like an offer's: `MAX_OFFER_CANDIDATES`).
    trickled: std::sync::atomic::AtomicUsize,
}

/// The longest trickled candidate accepted (a candidate line is ~100 bytes; with its `sdpMid` and
/// `usernameFragment`, its JSON ~250).
const MAX_CANDIDATE_JSON: usize = 2048;

#[async_trait]
impl Transport for WebRtcTransport {
    fn close(&self) {
        let pc = self.pc.clone();
        self.runtime.spawn(async move {
            let _ = pc.close().await;
        });
    }

    async fn candidate_types(&self) -> Option<(String, String)> {
        let mut senders = self.pc.get_senders().await;
        if let Some(s) = self.audio_sender.get() {
            senders.insert(0, s.clone());
        }
        let transport = match senders.first() {
            Some(sender) => sender.transport().await.ok().flatten(),
            None => None,
        };
        let transport = match transport {
            Some(t) => Some(t),
            None => self.pc.sctp().await.map(|s| s.transport()),
        }?;
        let pair = transport
            .ice_transport()
            .get_selected_candidate_pair()
            .await
            .ok()
            .flatten()?;
        let name = |t: RTCIceCandidateType| match t {
            RTCIceCandidateType::Host => "host",
            RTCIceCandidateType::Srflx => "srflx",
            RTCIceCandidateType::Prflx => "prflx",
            RTCIceCandidateType::Relay => "relay",
            _ => "unknown",
        };
        Some((name(pair.local().typ).to_string(), name(pair.remote().typ).to_string()))
    }

    /// A trickled candidate (RFC 8838): bounded in size and count like the offer's, parsed, then
    /// given to ICE. An empty candidate (the browser's end-of-candidates) is accepted and ignored.
    async fn add_remote_candidate(&self, candidate_json: &str) -> Result<(), EngineError> {
        use std::sync::atomic::Ordering;
        use webrtc::peer_connection::RTCIceCandidateInit;
        let bad = |why: &str| EngineError::BadMedia(format!("invalid ICE candidate: {why}"));
        if candidate_json.len() > MAX_CANDIDATE_JSON {
            return Err(bad("too long"));
        }
        let init: RTCIceCandidateInit = serde_json::from_str(candidate_json).map_err(|_| bad("malformed"))?;
        if init.candidate.trim().is_empty() {
            return Ok(());
        }
        if !init.candidate.starts_with("candidate:") && !init.candidate.starts_with("a=candidate:") {
            return Err(bad("not a candidate line"));
        }
        if self.trickled.fetch_add(1, Ordering::SeqCst) >= MAX_OFFER_CANDIDATES {
            return Err(bad(&format!("more than {MAX_OFFER_CANDIDATES} candidates")));
        }
        self.pc
            .add_ice_candidate(init)
            .await
            .map_err(|e| bad(&e.to_string().chars().take(120).collect::<String>()))
    }
}

/// The largest offer accepted. A browser's offer is 3-10 KiB (a few KiB more per extra track or
/// candidate); parsing and answering cost grows with size, so anything far beyond is refused.
pub const MAX_OFFER_BYTES: usize = 64 * 1024;
/// The most ICE candidates an offer may carry (browsers send a handful per network interface).
pub const MAX_OFFER_CANDIDATES: usize = 64;
/// The most media sections an offer may have (audio, video and the data channel: 3).
pub const MAX_OFFER_SECTIONS: usize = 8;

/// Checks what can be checked before any socket is opened: the type, the size and shape of the
/// offer (bounded so that one request cannot hold the server), and that it has the media needed.
pub(crate) fn validate(sdp: &str, kind: &str, options: &SessionOptions) -> Result<RTCSessionDescription, EngineError> {
    if kind != "offer" {
        let shown: String = kind.chars().take(20).collect();
        return Err(EngineError::InvalidOffer(format!(
            "expected type \"offer\", got {shown:?}"
        )));
    }
    if sdp.len() > MAX_OFFER_BYTES {
        return Err(EngineError::InvalidOffer(format!(
            "the offer is {} KiB; at most {} KiB is accepted",
            sdp.len() / 1024,
            MAX_OFFER_BYTES / 1024
        )));
    }
    let candidates = sdp.lines().filter(|l| l.starts_with("a=candidate:")).count();
    if candidates > MAX_OFFER_CANDIDATES {
        return Err(EngineError::InvalidOffer(format!(
            "the offer has {candidates} ICE candidates; at most {MAX_OFFER_CANDIDATES} are accepted"
        )));
    }
    let sections = sdp.lines().filter(|l| l.starts_with("m=")).count();
    if sections > MAX_OFFER_SECTIONS {
        return Err(EngineError::InvalidOffer(format!(
            "the offer has {sections} media sections; at most {MAX_OFFER_SECTIONS} are accepted"
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

/// What both roles build around a new session: its peer-connection events, the peer connection
/// and the transport that feeds the session.
struct Peer {
    audio_out: Option<audio::OutgoingAudio>,
    /// What the senders know of the link (congestion control's state, audio's share).
    link: cc::Link,
    gathered_rx: watch::Receiver<bool>,
    handler: Arc<events::Events>,
    pc: Arc<dyn PeerConnection>,
    transport: Arc<WebRtcTransport>,
}

async fn new_peer(
    session: &Arc<MediaSession>,
    options: &SessionOptions,
    ice: &IceConfig,
    engine: &EngineOptions,
) -> Result<Peer, EngineError> {
    let audio_out = options.send_audio.then(audio::outgoing_track);
    // Opus plus 50 packets a second of RTP header and extensions (~24 bytes each).
    let audio_bps = if options.send_audio {
        f64::from(engine.audio_bitrate.max(0)) + 10_000.0
    } else {
        0.0
    };
    let cc = cc::CcShared::new(f64::from(engine.video_bitrate) + audio_bps);
    let link = cc::Link {
        cc: cc.clone(),
        audio_bps,
        video_max_bps: engine.video_bitrate,
    };
    let (gathered_tx, gathered_rx) = watch::channel(false);
    let handler = Arc::new(events::Events {
        session: Arc::downgrade(session),
        gathered: gathered_tx,
        recv_audio: options.recv_audio,
        recv_video: options.recv_video,
        input_channels: options.input_channels,
        audio_out: audio_out.clone(),
        audio_bitrate: engine.audio_bitrate,
        video_sender: Arc::new(OnceLock::new()),
        cc: cc.clone(),
        pc: OnceLock::new(),
    });
    let video = options.send_video || options.recv_video;
    let pc = Box::pin(peer::build(
        ice,
        engine,
        handler.clone(),
        video,
        &cc,
        &session.shared_stats(),
    ))
    .await?;
    let _ = handler.pc.set(Arc::downgrade(&pc));
    let transport = Arc::new(WebRtcTransport {
        pc: pc.clone(),
        runtime: Handle::current(),
        audio_sender: OnceLock::new(),
        trickled: std::sync::atomic::AtomicUsize::new(0),
    });
    Ok(Peer {
        audio_out,
        link,
        gathered_rx,
        handler,
        pc,
        transport,
    })
}

/// Answers an offer with a new session (not registered anywhere yet). The answer SDP, with every
/// gathered candidate, is returned beside it.
pub(crate) async fn accept_offer(
    webrtc_id: &str,
    offer: RTCSessionDescription,
    sdp: &str,
    options: &SessionOptions,
    ice: &IceConfig,
    engine: &EngineOptions,
) -> Result<(Arc<MediaSession>, String), EngineError> {
    let media = MediaOptions {
        recv_audio: options.recv_audio,
        send_audio: options.send_audio,
        input_sample_rate: options.input_sample_rate,
        input_channels: options.input_channels,
        output_rate: gradio_webrtc_media::WIRE_RATE,
        pause: options.pause.clone(),
        can_interrupt: options.can_interrupt,
        stream_speech: options.stream_speech,
        wording: options.wording,
        time_limit: options.time_limit,
    };
    let session = MediaSession::new(webrtc_id.to_string(), Handle::current(), &media)?;
    let video_out = if options.send_video {
        Some(crate::codec::choose_video(sdp).ok_or_else(|| {
            EngineError::NoMedia("the browser offers no video codec this server can send (VP8 or H.264)".into())
        })?)
    } else {
        None
    };
    let Peer {
        audio_out,
        link,
        mut gathered_rx,
        handler,
        pc,
        transport,
    } = Box::pin(new_peer(&session, options, ice, engine)).await?;
    let negotiated = peer::negotiate(
        &transport,
        offer,
        audio_out.as_ref(),
        video_out,
        &session,
        &link,
        &handler.video_sender,
    )
    .await;
    if let Err(e) = negotiated {
        let _ = pc.close().await;
        return Err(e);
    }
    // Non-trickle: the answer must carry the candidates. Unreachable STUN/TURN servers can
    // hold gathering ~10 s; past the timeout we answer with what was found.
    let _ = tokio::time::timeout(engine.gather_timeout, gathered_rx.wait_for(|done| *done)).await;
    let Some(local) = pc.local_description().await else {
        let _ = pc.close().await;
        return Err(EngineError::Setup("no local description after negotiation".into()));
    };
    session.set_transport(transport);
    Ok((session, local.sdp))
}

/// The offerer's end of a call this engine places (the test client): apply the server's answer
/// to connect.
pub struct ClientCall {
    pc: Arc<dyn PeerConnection>,
    offer: String,
}

impl ClientCall {
    /// The offer SDP, with every gathered candidate (non-trickle).
    #[must_use]
    pub fn offer(&self) -> &str {
        &self.offer
    }

    /// Applies the server's answer; the connection then comes up and media flows.
    pub async fn apply_answer(&self, sdp: &str) -> Result<(), EngineError> {
        let answer = RTCSessionDescription::answer(sdp.to_string())
            .map_err(|e| EngineError::InvalidOffer(format!("malformed answer ({e})")))?;
        self.pc
            .set_remote_description(answer)
            .await
            .map_err(|e| EngineError::InvalidOffer(e.to_string()))
    }
}

/// Places a call: a peer connection in the offerer's role, with an Opus track (paced from the
/// session's output), a VP8 track when `options.send_video`, and the `text` data channel a browser
/// page opens. What the server sends arrives as the session's input (audio at
/// `options.input_sample_rate`, pictures, messages). The session is not registered anywhere.
pub async fn open_client(
    id: &str,
    options: &SessionOptions,
    ice: &IceConfig,
    engine: &EngineOptions,
) -> Result<(Arc<MediaSession>, ClientCall), EngineError> {
    use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
    use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};

    let media = MediaOptions {
        recv_audio: options.recv_audio,
        send_audio: options.send_audio,
        input_sample_rate: options.input_sample_rate,
        input_channels: options.input_channels,
        output_rate: gradio_webrtc_media::WIRE_RATE,
        time_limit: options.time_limit,
        ..MediaOptions::default()
    };
    let session = MediaSession::new(id.to_string(), Handle::current(), &media)?;
    // A live stream's standing-queue trimming is for servers; what a test says must arrive whole.
    session.set_output_budget(None);
    let Peer {
        audio_out,
        link,
        mut gathered_rx,
        handler,
        pc,
        transport,
    } = Box::pin(new_peer(&session, options, ice, engine)).await?;
    let recvonly = || {
        Some(RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Recvonly,
            streams: vec![],
            send_encodings: vec![],
        })
    };
    if let Some(out) = &audio_out {
        let sender = pc
            .add_track(out.track.clone() as Arc<dyn webrtc::media_stream::track_local::TrackLocal>)
            .await
            .map_err(peer::setup)?;
        let _ = transport.audio_sender.set(sender.clone());
        let _ = out.sender.set(sender);
    } else if options.recv_audio {
        pc.add_transceiver_from_kind(RtpCodecKind::Audio, recvonly())
            .await
            .map_err(peer::setup)?;
    }
    if options.send_video {
        let spec = crate::codec::of_kind(RtpCodecKind::Video)
            .next()
            .expect("the table has a video codec");
        let video = peer::video_track(&pc, spec, &session, &link).await?;
        let _ = handler.video_sender.set(video);
    } else if options.recv_video {
        pc.add_transceiver_from_kind(RtpCodecKind::Video, recvonly())
            .await
            .map_err(peer::setup)?;
    }
    let channel = pc.create_data_channel("text", None).await.map_err(peer::setup)?;
    session.runtime().spawn(data_channel::run(session.clone(), channel));
    let offer = pc.create_offer(None).await.map_err(peer::setup)?;
    pc.set_local_description(offer).await.map_err(peer::setup)?;
    let _ = tokio::time::timeout(engine.gather_timeout, gathered_rx.wait_for(|done| *done)).await;
    let Some(local) = pc.local_description().await else {
        let _ = pc.close().await;
        return Err(EngineError::Setup(
            "no local description after creating the offer".into(),
        ));
    };
    session.set_transport(transport);
    Ok((session, ClientCall { pc, offer: local.sdp }))
}
