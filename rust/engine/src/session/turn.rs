//! Whose turn it is: the one place that knows whether the user is talking or a reply is playing.
//!
//! Every reply gets a number (its epoch). Audio of a reply is accepted only while that reply is
//! the current turn; the user talking over it (barge-in) moves the turn on, so anything the reply
//! still sends is refused, wherever it is in flight. There is no flag for anyone to read or clear:
//! a barge-in that races the end of a reply cannot leave state behind that silences the next one
//! (the bug this replaced: an `interrupted` flag set after the reply had ended dropped the next
//! reply at its first check).

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

/// The turn of one session: a value the session owns and changes under `&mut`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Turn {
    state: TurnState,
    /// Number of the current reply (or of the last one); moves on at every reply and barge-in.
    epoch: u64,
    /// Replies interrupted so far (a transport may tell its peer: Twilio's `clear`).
    interrupts: u64,
}

impl Default for Turn {
    fn default() -> Self {
        Self {
            state: TurnState::Listening,
            epoch: 0,
            interrupts: 0,
        }
    }
}

impl Turn {
    /// The current state.
    #[must_use]
    pub fn state(&self) -> TurnState {
        self.state
    }

    /// The number of the current (or last) reply: it changes whenever a reply is superseded.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Replies interrupted by the user so far.
    #[must_use]
    pub fn interrupts(&self) -> u64 {
        self.interrupts
    }

    /// A reply starts; returns its number, which its audio must carry.
    pub fn begin_reply(&mut self) -> u64 {
        self.epoch += 1;
        self.state = TurnState::Replying;
        self.epoch
    }

    /// Reply `epoch` is over (played out, failed, or stopped). A reply that was interrupted, or
    /// superseded, changes nothing: the turn already moved on.
    pub fn end_reply(&mut self, epoch: u64) {
        if self.epoch == epoch && self.state == TurnState::Replying {
            self.state = TurnState::Listening;
        }
    }

    /// True while reply `epoch` is the current turn (its audio may play).
    #[must_use]
    pub fn accepts(&self, epoch: u64) -> bool {
        self.epoch == epoch && self.state == TurnState::Replying
    }

    /// The user started talking. With `barge_in`, a playing reply is interrupted: the turn moves
    /// on and the interrupted reply's number is returned (the caller drops its queued audio).
    /// Without, talking during a reply is ignored (the original's behaviour) and None returned.
    pub fn user_started(&mut self, barge_in: bool) -> Option<u64> {
        match self.state {
            TurnState::Replying if !barge_in => None,
            TurnState::Replying => {
                let interrupted = self.epoch;
                self.epoch += 1;
                self.state = TurnState::UserSpeaking;
                self.interrupts += 1;
                Some(interrupted)
            }
            _ => {
                self.state = TurnState::UserSpeaking;
                None
            }
        }
    }

    /// The user paused (an utterance is complete).
    pub fn user_paused(&mut self) {
        if self.state == TurnState::UserSpeaking {
            self.state = TurnState::Listening;
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_barge_in_that_races_the_end_of_a_reply_never_silences_the_next() {
        let mut turn = Turn::default();
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
        let mut turn = Turn::default();
        let first = turn.begin_reply();
        turn.end_reply(first);
        assert_eq!(turn.user_started(true), None, "nothing is playing: no interruption");
        assert_eq!(turn.state(), TurnState::UserSpeaking);
        let second = turn.begin_reply();
        assert!(turn.accepts(second));
    }

    #[test]
    fn without_barge_in_talking_during_a_reply_is_ignored() {
        let mut turn = Turn::default();
        let reply = turn.begin_reply();
        assert_eq!(turn.user_started(false), None);
        assert!(turn.accepts(reply));
        assert_eq!(turn.state(), TurnState::Replying);
    }
}
