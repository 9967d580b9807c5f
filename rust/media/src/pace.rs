//! Holding a peer to real time: audio may arrive no faster than it plays.
//!
//! A peer decides how much audio each message or packet carries: one WebSocket message can hold
//! minutes of μ-law, and an RTP stream whose timestamps jump asks for seconds of silence per
//! packet (DTX gaps are filled up to the jump). Every second of input costs the session pause
//! detection and framing, so a peer that runs ahead of the clock buys CPU time on the server at
//! no cost of its own. [`InputPace`] is a token bucket in media seconds: it refills at real time
//! and holds `burst` seconds, enough for a network stall's backlog arriving at once.

/// A token bucket of media time. Time is an input (`now`, in seconds on any monotonic clock).
#[derive(Debug, Clone)]
pub struct InputPace {
    burst: f64,
    allowance: f64,
    last: Option<f64>,
}

impl InputPace {
    /// A bucket that lets a peer run at most `burst` seconds ahead of real time.
    #[must_use]
    pub fn new(burst: f64) -> Self {
        Self {
            burst,
            allowance: burst,
            last: None,
        }
    }

    /// Takes `seconds` of media received at `now`. False (and nothing taken) if that would put the
    /// peer more than `burst` seconds ahead of real time.
    pub fn admit(&mut self, now: f64, seconds: f64) -> bool {
        let elapsed = self.last.map_or(0.0, |last| (now - last).max(0.0));
        self.last = Some(now);
        self.allowance = (self.allowance + elapsed).min(self.burst);
        if seconds > self.allowance {
            return false;
        }
        self.allowance -= seconds;
        true
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn real_time_passes_forever_and_a_burst_once() {
        let mut pace = InputPace::new(5.0);
        // An hour of 20 ms frames, on time.
        assert!((0..180_000).all(|i| pace.admit(f64::from(i) * 0.02, 0.02)));
        // A stall's backlog: 4 s arrives at once after 4 s of nothing.
        assert!(pace.admit(3_604.0, 4.0));
        // A peer running at twice real time is stopped after it has used up the burst.
        let mut pace = InputPace::new(5.0);
        let refused = (0..1_000).position(|i| !pace.admit(f64::from(i) * 0.02, 0.04)).unwrap();
        assert!(
            (245..=250).contains(&refused),
            "5 s of burst at 0.02 s gained per message: {refused}"
        );
        // One message longer than the burst is refused outright.
        assert!(!InputPace::new(5.0).admit(0.0, 1_375.0));
    }
}
