//! Peer-connection events → session actions.
//!
//! webrtc-rs awaits these callbacks one at a time inside the connection's driver task, so each one
//! only records state or spawns a task; nothing here waits on media.

use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::watch;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState, RTCStatsReportEntry,
    StatsSelector,
};

use super::audio::{OpusRtpSink, OutgoingAudio};
use super::video::VideoSender;
use crate::driver::MediaSession;
use crate::session::{CloseReason, Failure, FailureKind, SessionState};

/// Handles the events of one peer connection.
pub(super) struct Events {
    pub session: Weak<MediaSession>,
    pub gathered: watch::Sender<bool>,
    pub recv_audio: bool,
    pub recv_video: bool,
    pub input_channels: usize,
    pub audio_out: Option<OutgoingAudio>,
    pub audio_bitrate: i32,
    pub video_sender: Arc<OnceLock<Arc<VideoSender>>>,
    /// Congestion control's state (the round-trip time sets how long lost video is waited for).
    pub cc: Arc<super::cc::CcShared>,
    /// The peer connection these events are of (set once it is built).
    pub pc: OnceLock<Weak<dyn PeerConnection>>,
}

#[async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let Some(session) = self.session.upgrade() else { return };
        log::debug!("session {}: connection {state}", session.id());
        match state {
            RTCPeerConnectionState::Connected => {
                let first = session.state() == SessionState::Connecting;
                session.on_connected();
                if first {
                    self.seed_round_trip(&session);
                    self.start_output(&session);
                }
            }
            // Consent lost before the connection ever came up: the peer left during the handshake
            // (a page closed right after it connected, say). Waiting for "failed" would hold the
            // session, and a concurrency slot, 10 s longer for nothing.
            RTCPeerConnectionState::Disconnected if session.state() == SessionState::Connecting => {
                session.close(CloseReason::PeerLeftEarly);
            }
            RTCPeerConnectionState::Disconnected => session.set_state(SessionState::Disconnected),
            RTCPeerConnectionState::Failed => session.close(CloseReason::ConnectionLost),
            RTCPeerConnectionState::Closed => session.close(CloseReason::TransportClosed),
            _ => {}
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let Some(session) = self.session.upgrade() else { return };
        let runtime = session.runtime().clone();
        match track.kind().await {
            RtpCodecKind::Audio if self.recv_audio => {
                runtime.spawn(super::audio::run_inbound(session, track, self.input_channels));
            }
            RtpCodecKind::Video if self.recv_video => {
                runtime.spawn(super::video::run_inbound(session, track, self.cc.clone()));
            }
            _ => {} // a track this stream does not use (e.g. the camera of an audio-only stream)
        }
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let Some(session) = self.session.upgrade() else { return };
        session
            .runtime()
            .clone()
            .spawn(super::data_channel::run(session, channel));
    }
}

impl Events {
    /// Hands congestion control the connectivity checks' round trip: measured before any media
    /// could queue on the path, it is the least round trip to start from (see
    /// `CcShared::seed_rtt`).
    fn seed_round_trip(&self, session: &Arc<MediaSession>) {
        let Some(pc) = self.pc.get().and_then(Weak::upgrade) else {
            return;
        };
        let cc = self.cc.clone();
        session.runtime().spawn(async move {
            let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
            let least = report
                .iter()
                .filter_map(|entry| match entry {
                    RTCStatsReportEntry::IceCandidatePair(pair) if pair.current_round_trip_time > 0.0 => {
                        Some(pair.current_round_trip_time)
                    }
                    _ => None,
                })
                .fold(f64::INFINITY, f64::min);
            if least.is_finite() {
                cc.seed_rtt(Duration::from_secs_f64(least));
            }
        });
    }

    /// Connected for the first time: the audio pacer and the video sender start.
    fn start_output(&self, session: &Arc<MediaSession>) {
        if let Some(out) = self.audio_out.clone() {
            let session = session.clone();
            let bitrate = self.audio_bitrate;
            session.runtime().clone().spawn(async move {
                match OpusRtpSink::new(out, bitrate).await {
                    Ok(sink) => session.start_audio_output(Box::new(sink)),
                    Err(reason) => session.fail(Failure::new(
                        FailureKind::NoCodec,
                        format!("cannot send audio: {reason}"),
                    )),
                }
            });
        }
        if let Some(video) = self.video_sender.get().cloned() {
            session.runtime().spawn(video.run(session.clone()));
        }
    }
}
