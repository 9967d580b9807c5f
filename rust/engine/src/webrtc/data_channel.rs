//! The data channel: text messages both ways, and the browser's close as the end of a session.
//!
//! The browser creates the channel (label `text`); messages the handler sent before it opened wait
//! in the session's outbox and are flushed when it does.

use std::sync::Arc;

use webrtc::data_channel::{DataChannel, DataChannelEvent};

use crate::driver::MediaSession;
use crate::session::{CloseReason, SessionState};

pub(super) async fn run(session: Arc<MediaSession>, channel: Arc<dyn DataChannel>) {
    // Only the first channel carries the side protocol; later ones are read and ignored.
    if let Some(mut outbox) = session.take_outbox() {
        let writer_channel = channel.clone();
        let writer_session = session.clone();
        session.runtime().spawn(async move {
            let mut state = writer_session.watch_state();
            loop {
                let message = tokio::select! {
                    m = outbox.recv() => m,
                    _ = state.wait_for(|s| *s == SessionState::Closed) => None,
                };
                let Some(message) = message else { break };
                if writer_channel.send_text(&message).await.is_err() {
                    break;
                }
            }
        });
    }
    while let Some(event) = channel.poll().await {
        match event {
            DataChannelEvent::OnMessage(message) => {
                session.push_message(String::from_utf8_lossy(&message.data).into_owned());
            }
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
    // The browser closes the channel when the user presses stop or the tab goes away; ICE would
    // only notice ~15 s later, so this is the prompt end of the session.
    session.close(CloseReason::PeerClosed);
}
