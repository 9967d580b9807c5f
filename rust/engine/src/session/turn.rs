//! Whose turn it is: the one place that knows whether the user is talking or a reply is playing.
//!
//! Every reply gets a number (its epoch). Audio of a reply is accepted only while that reply is
//! the current turn; the user talking over it (barge-in) moves the turn on, so anything the reply
//! still sends is refused, wherever it is in flight. There is no flag for anyone to read or clear:
//! a barge-in that races the end of a reply cannot leave state behind that silences the next one
//! (the bug this replaced: an `interrupted` flag set after the reply had ended dropped the next
//! reply at its first check).

use std::sync::Mutex;

use tokio::sync::watch;

/// The state of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnState {
    /// Nobody is talking.
    Listening,
    /// The user is talking (pause detection heard speech start).
    UserSpeaking,
    /// A reply is playing.
    Replying,
}

impl TurnState {
    /// The lowercase name used in Python and in stats.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TurnState::Listening => "listening",
            TurnState::UserSpeaking => "user_speaking",
            TurnState::Replying => "replying",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Inner {
    state: TurnState,
    /// Number of the current reply (or of the last one); moves on at every reply and barge-in.
    epoch: u64,
}

/// The turn of one session. Epochs are published on a watch channel so a reply can await its
/// own interruption.
#[derive(Debug)]
pub struct Turn {
    inner: Mutex<Inner>,
    epoch: watch::Sender<u64>,
    /// Replies interrupted so far, published so a transport can tell its peer (Twilio's `clear`).
    interrupts: watch::Sender<u64>,
}

impl Default for Turn {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: TurnState::Listening,
                epoch: 0,
            }),
            epoch: watch::channel(0).0,
            interrupts: watch::channel(0).0,
        }
    }
}

impl Turn {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("turn lock poisoned")
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> TurnState {
        self.lock().state
    }

    /// Replies interrupted by the user so far.
    #[must_use]
    pub fn interrupts(&self) -> u64 {
        *self.interrupts.borrow()
    }

    /// A receiver that changes at every interruption.
    pub fn watch_interrupts(&self) -> watch::Receiver<u64> {
        self.interrupts.subscribe()
    }

    /// A reply starts; returns its number, which its audio must carry.
    pub fn begin_reply(&self) -> u64 {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.state = TurnState::Replying;
        let epoch = inner.epoch;
        drop(inner);
        self.epoch.send_replace(epoch);
        epoch
    }

    /// Reply `epoch` is over (played out, failed, or stopped). A reply that was interrupted, or
    /// superseded, changes nothing: the turn already moved on.
    pub fn end_reply(&self, epoch: u64) {
        let mut inner = self.lock();
        if inner.epoch == epoch && inner.state == TurnState::Replying {
            inner.state = TurnState::Listening;
        }
    }

    /// True while reply `epoch` is the current turn (its audio may play).
    #[must_use]
    pub fn accepts(&self, epoch: u64) -> bool {
        let inner = self.lock();
        inner.epoch == epoch && inner.state == TurnState::Replying
    }

    /// The user started talking. With `barge_in`, a playing reply is interrupted: the turn moves
    /// on and the interrupted reply's number is returned (the caller drops its queued audio).
    /// Without, talking during a reply is ignored (the original's behaviour) and None returned.
    pub fn user_started(&self, barge_in: bool) -> Option<u64> {
        let mut inner = self.lock();
        match inner.state {
            TurnState::Replying if !barge_in => None,
            TurnState::Replying => {
                let interrupted = inner.epoch;
                inner.epoch += 1;
                inner.state = TurnState::UserSpeaking;
                let epoch = inner.epoch;
                drop(inner);
                self.epoch.send_replace(epoch);
                self.interrupts.send_modify(|n| *n += 1);
                Some(interrupted)
            }
            _ => {
                inner.state = TurnState::UserSpeaking;
                None
            }
        }
    }

    /// The user paused (an utterance is complete).
    pub fn user_paused(&self) {
        let mut inner = self.lock();
        if inner.state == TurnState::UserSpeaking {
            inner.state = TurnState::Listening;
        }
    }

    /// Waits until reply `epoch` is no longer the current turn.
    pub async fn superseded(&self, epoch: u64) {
        let mut rx = self.epoch.subscribe();
        let _ = rx.wait_for(|current| *current != epoch).await;
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_barge_in_that_races_the_end_of_a_reply_never_silences_the_next() {
        let turn = Turn::default();
        // Reply 1 plays; the user talks over it just as it finishes: the engine interrupts...
        let first = turn.begin_reply();
        assert!(turn.accepts(first));
        assert_eq!(turn.user_started(true), Some(first));
        // ...and the reply's own end arrives after that (the order that used to leave a stale flag).
        turn.end_reply(first);
        assert!(!turn.accepts(first), "the interrupted reply's audio is refused");
        turn.user_paused();
        // The next utterance's reply plays from its first item.
        let second = turn.begin_reply();
        assert!(turn.accepts(second));
        assert_eq!(turn.state(), TurnState::Replying);
        turn.end_reply(second);
        assert_eq!(turn.state(), TurnState::Listening);
        assert_eq!(turn.interrupts(), 1);
    }

    #[test]
    fn the_end_of_a_reply_before_the_barge_in_is_just_talking() {
        let turn = Turn::default();
        let first = turn.begin_reply();
        turn.end_reply(first);
        assert_eq!(turn.user_started(true), None, "nothing is playing: no interruption");
        assert_eq!(turn.state(), TurnState::UserSpeaking);
        let second = turn.begin_reply();
        assert!(turn.accepts(second));
    }

    #[test]
    fn without_barge_in_talking_during_a_reply_is_ignored() {
        let turn = Turn::default();
        let reply = turn.begin_reply();
        assert_eq!(turn.user_started(false), None);
        assert!(turn.accepts(reply));
        assert_eq!(turn.state(), TurnState::Replying);
    }

    #[tokio::test]
    async fn a_reply_can_await_its_interruption() {
        let turn = std::sync::Arc::new(Turn::default());
        let reply = turn.begin_reply();
        let waiter = {
            let turn = turn.clone();
            tokio::spawn(async move { turn.superseded(reply).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        turn.user_started(true);
        waiter.await.unwrap();
    }
}
