//! The data channel: text messages both ways, and the browser's close as the end of a session.
//!
//! The browser creates the channel (label `text`); messages the handler sends before it opens are
//! held in the session's outbox and flushed when it does.

use std::sync::Arc;

use webrtc::data_channel::{DataChannel, DataChannelEvent};

use crate::session::{Session, SessionState};

pub(crate) async fn run_data_channel(session: Arc<Session>, channel: Arc<dyn DataChannel>) {
    // Only the first channel carries the side protocol; later ones are read and ignored.
    let outbox = session.outbox_rx.lock().expect("outbox lock poisoned").take();
    if let Some(mut outbox) = outbox {
        let writer_channel = channel.clone();
        let writer_session = session.clone();
        session.runtime.spawn(async move {
            let mut state = writer_session.state.subscribe();
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
                let text = String::from_utf8_lossy(&message.data).into_owned();
                // A reader that is not listening must not make the channel back up.
                let _ = session.inbox_tx.try_send(text);
            }
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
    // The browser closes the channel when the user presses stop or the tab goes away; ICE would
    // only notice ~15 s later, so this is the prompt end of the session.
    session.close("closed by peer");
}
