//! Text messages both ways: the transport's side channel (a WebRTC data channel, WebSocket JSON).
//!
//! Messages the handler sends before the channel opens wait in the outbox; the transport takes the
//! outbox once and flushes it when it can. Messages from the peer wait in a bounded inbox: a reader
//! that is not listening must not make the channel back up.

use std::sync::Mutex;

use tokio::sync::mpsc;

/// Text messages from the peer kept for a reader.
pub(crate) const INBOX: usize = 256;

pub(crate) struct Messages {
    pub outbox: mpsc::UnboundedSender<String>,
    outbox_rx: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    pub inbox_tx: mpsc::Sender<String>,
    pub inbox: tokio::sync::Mutex<mpsc::Receiver<String>>,
}

impl Default for Messages {
    fn default() -> Self {
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let (inbox_tx, inbox) = mpsc::channel(INBOX);
        Self {
            outbox,
            outbox_rx: Mutex::new(Some(outbox_rx)),
            inbox_tx,
            inbox: tokio::sync::Mutex::new(inbox),
        }
    }
}

impl Messages {
    /// The outgoing messages, for the one transport channel that carries them (None after).
    pub fn take_outbox(&self) -> Option<mpsc::UnboundedReceiver<String>> {
        self.outbox_rx.lock().expect("outbox lock poisoned").take()
    }
}
