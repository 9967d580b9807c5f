//! Decoded pictures → the handler at their capture cadence.
//!
//! In steady flow a picture is handed on the moment it is decoded. After a repair (a lost packet
//! retransmitted, the frames held behind it released together) several pictures are decoded at
//! once; handed on together, the handler (which sees only the newest picture) would skip all but
//! the last, and the stream it returns would jump. Here they leave spaced by their RTP timestamps,
//! a little faster than captured ([`CATCH_UP`]) so the extra delay drains, and never more than
//! [`MAX_QUEUED`] wait: beyond that the oldest are dropped, so the handler still sees the newest
//! picture without a backlog.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Pictures waiting at most (200 ms at 30 fps: what a repair held back, at internet round trips).
pub(crate) const MAX_QUEUED: usize = 6;
/// Queued pictures leave at this fraction of their capture spacing.
pub(crate) const CATCH_UP: f64 = 0.7;
/// The largest spacing honoured (a longer gap in timestamps is a pause, not a cadence).
const MAX_SPACING: Duration = Duration::from_millis(200);

/// The playout queue of one video stream; `T` is the picture.
#[derive(Debug)]
pub(crate) struct Playout<T> {
    /// Timestamp, when it was decoded, the picture.
    queue: VecDeque<(u32, Instant, T)>,
    /// When the last picture left, and its timestamp.
    last: Option<(Instant, u32)>,
    dropped: u64,
}

impl<T> Default for Playout<T> {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            last: None,
            dropped: 0,
        }
    }
}

impl<T> Playout<T> {
    /// Queues a decoded picture with its RTP timestamp (90 kHz); returns how many older ones were
    /// dropped to make room.
    pub(crate) fn push(&mut self, now: Instant, timestamp: u32, picture: T) -> u64 {
        self.queue.push_back((timestamp, now, picture));
        let mut dropped = 0;
        while self.queue.len() > MAX_QUEUED {
            self.queue.pop_front();
            dropped += 1;
        }
        self.dropped += dropped;
        dropped
    }

    /// When the oldest queued picture is due; None when nothing waits.
    pub(crate) fn due(&self) -> Option<Instant> {
        let (ts, decoded, _) = self.queue.front()?;
        let Some((at, last_ts)) = self.last else {
            return Some(*decoded);
        };
        let ticks = ts.wrapping_sub(last_ts) as i32;
        let spacing = Duration::from_secs_f64(f64::from(ticks.max(0)) / 90_000.0).min(MAX_SPACING);
        Some((at + spacing.mul_f64(CATCH_UP)).max(*decoded))
    }

    /// The oldest picture, if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.due()? > now {
            return None;
        }
        let (ts, _, picture) = self.queue.pop_front()?;
        self.last = Some((now, ts));
        Some(picture)
    }

    /// Pictures dropped because too many waited.
    #[cfg(test)]
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const FRAME: u32 = 3000; // 33 ms at 90 kHz

    #[test]
    fn steady_pictures_leave_at_once() {
        let mut p = Playout::default();
        let t0 = Instant::now();
        p.push(t0, 0, 'a');
        assert_eq!(p.pop_due(t0), Some('a'));
        p.push(t0 + Duration::from_millis(33), FRAME, 'b');
        assert_eq!(
            p.pop_due(t0 + Duration::from_millis(33)),
            Some('b'),
            "on time: no delay"
        );
    }

    #[test]
    fn a_repaired_burst_leaves_at_its_cadence() {
        let mut p = Playout::default();
        let t0 = Instant::now();
        p.push(t0, 0, 0);
        p.pop_due(t0);
        // Frames 1..=3 decoded together 130 ms later (frame 1 was repaired).
        let t1 = t0 + Duration::from_millis(130);
        for n in 1..=3 {
            p.push(t1, n * FRAME, n);
        }
        assert_eq!(p.pop_due(t1), Some(1), "late already: at once");
        assert_eq!(p.pop_due(t1), None, "the next waits its (shortened) interval");
        let step = Duration::from_secs_f64(f64::from(FRAME) / 90_000.0).mul_f64(CATCH_UP);
        assert_eq!(p.due(), Some(t1 + step));
        assert_eq!(p.pop_due(t1 + step), Some(2));
        assert_eq!(p.pop_due(t1 + step * 2), Some(3));
        assert_eq!(p.dropped(), 0);
    }

    #[test]
    fn never_more_than_a_few_wait() {
        let mut p = Playout::default();
        let t0 = Instant::now();
        p.push(t0, 0, 0);
        p.pop_due(t0);
        for n in 1..=9 {
            p.push(t0, n * FRAME, n);
        }
        assert_eq!(p.dropped(), 3);
        assert_eq!(
            p.pop_due(t0 + Duration::from_secs(1)),
            Some(4),
            "the oldest were dropped"
        );
    }
}
