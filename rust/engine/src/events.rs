//! Peer-connection events → session actions.
//!
//! webrtc-rs awaits these callbacks one at a time inside the connection's driver task, so each one
//! only records state or spawns a task; nothing here waits on media.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::watch;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState};

use crate::media_tasks::{run_inbound_audio, run_pacer};
use crate::messages::run_data_channel;
use crate::session::{sleep_unless_closed, Session, SessionState};

/// Handles the events of one peer connection.
pub(crate) struct Events {
    pub session: Weak<Session>,
    pub gathered: watch::Sender<bool>,
    pub recv_audio: bool,
    pub recv_video: bool,
    pub pause: Option<crate::media_tasks::PauseMode>,
    pub input_rate: u32,
    pub input_channels: usize,
    pub time_limit: Option<Duration>,
    pub pacer: Option<crate::media_tasks::PacerTrack>,
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
        log::debug!("session {}: connection {state}", session.webrtc_id);
        match state {
            RTCPeerConnectionState::Connected => {
                let first = session.state() == SessionState::Connecting;
                session.set_state(SessionState::Connected);
                if first {
                    self.on_first_connected(&session);
                }
            }
            // Consent lost before the connection ever came up: the peer left during the handshake
            // (a page closed right after it connected, say). Waiting for "failed" would hold the
            // session, and a concurrency slot, 10 s longer for nothing.
            RTCPeerConnectionState::Disconnected if session.state() == SessionState::Connecting => {
                session.close("the peer left before the connection was established");
            }
            RTCPeerConnectionState::Disconnected => session.set_state(SessionState::Disconnected),
            RTCPeerConnectionState::Failed => session.close("connection lost (ICE failed)"),
            RTCPeerConnectionState::Closed => session.close("closed"),
            _ => {}
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let Some(session) = self.session.upgrade() else { return };
        match track.kind().await {
            RtpCodecKind::Audio if self.recv_audio => {
                let (rate, channels) = (self.input_rate, self.input_channels);
                let pause = self.pause.clone();
                session
                    .runtime
                    .clone()
                    .spawn(run_inbound_audio(session, track, rate, channels, pause));
            }
            RtpCodecKind::Video if self.recv_video => {
                session
                    .runtime
                    .clone()
                    .spawn(crate::video::run_inbound_video(session, track));
            }
            _ => {} // a track this stream does not use (e.g. the camera of an audio-only stream)
        }
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let Some(session) = self.session.upgrade() else { return };
        session.runtime.clone().spawn(run_data_channel(session, channel));
    }
}

impl Events {
    fn on_first_connected(&self, session: &Arc<Session>) {
        if let Some(track) = self.pacer.clone() {
            session.runtime.spawn(run_pacer(session.clone(), track));
        }
        if let Some(video) = session.video_out.get() {
            let session = session.clone();
            let track = video.track.clone();
            session.runtime.clone().spawn(async move {
                if let Some(sender) = session.video_sender.get() {
                    if let Ok(params) = sender.get_parameters().await {
                        if let (Some(codec), Some(v)) = (params.rtp_parameters.codecs.first(), session.video_out.get())
                        {
                            let _ = v.payload_type.set(codec.payload_type);
                        }
                    }
                }
                crate::video::run_keyframe_requests(session, track).await;
            });
        }
        if let Some(limit) = self.time_limit {
            let session = session.clone();
            session.runtime.clone().spawn(async move {
                if sleep_unless_closed(&session, limit).await {
                    session.send_message(
                        serde_json::json!({"type": "end_stream", "data": "Time limit reached"}).to_string(),
                    );
                    // Give the message a moment to leave before the transport goes away.
                    sleep_unless_closed(&session, Duration::from_millis(100)).await;
                    session.close("time limit reached");
                }
            });
        }
    }
}
