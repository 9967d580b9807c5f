//! When to send the next 20 ms packet: a steady cadence that follows a live producer.
//!
//! Outgoing audio must reach the receiver as a regular stream: a browser's jitter buffer (`NetEq`)
//! sizes itself from the arrival jitter it observes and grows quickly, shrinking only slowly, so
//! every irregular packet and every silence frame slipped into a running stream is paid for in
//! delay for a long while. A handler that echoes or transforms live input produces each frame
//! when the input frame arrives, with the input's jitter. So the cadence:
//!
//! * starts a talkspurt at once (the first frame of a reply is not held back to a tick) and then
//!   ticks every 20 ms, [`MARGIN`] behind the producer, so small input jitter is absorbed here;
//! * when a frame is not ready at its tick in the middle of a stream, waits up to [`GRACE`] for it
//!   instead of sending silence at once (silence there would add 20 ms to the receiver's
//!   timeline); a frame that comes within the grace is sent on arrival and the cadence re-phases
//!   to it, [`MARGIN`] behind again;
//! * while every frame of the last [`CREEP_EVERY`] waited more than [`MARGIN`] for its tick,
//!   creeps the phase earlier by up to [`CREEP_STEP`], so the margin won after a jitter spike is
//!   given back.
//!
//! While idle (silence between talkspurts) the ticks drift, 1 ms per packet, onto a shared grid
//! ([`Cadence::align_idle_to`]): every idle stream of a process then wakes on the same
//! millisecond, and the runtime serves them in one wake-up instead of one each. 1 ms steps are
//! below what a jitter buffer reacts to (the creep above uses the same step).
//!
//! Pure: the caller passes the time (any monotonic origin) and since when a frame has been ready,
//! and sends what [`Cadence::decide`] says. The engine drives it from tokio's clock; tests drive it
//! with a virtual one.

use std::time::Duration;

/// The packet time.
pub const TICK: Duration = Duration::from_millis(20);
/// How far behind the producer the cadence runs: input jitter below this is invisible downstream.
pub const MARGIN: Duration = Duration::from_millis(4);
/// How long a tick in a running stream waits for a late frame before sending silence.
pub const GRACE: Duration = Duration::from_millis(15);
/// Calm time after which the phase moves one [`CREEP_STEP`] earlier.
pub const CREEP_EVERY: Duration = Duration::from_secs(2);
/// How much earlier the phase moves each time.
pub const CREEP_STEP: Duration = Duration::from_millis(1);
/// Silence shorter than this inside a stream counts as a gap in it, not as the end of a talkspurt.
pub const GAP: Duration = Duration::from_millis(100);
/// A clock that fell this far behind (a stalled runtime) restarts from now instead of bursting.
const MAX_BEHIND: Duration = Duration::from_millis(200);

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send one packet now: the next frame if one is ready, else silence.
    Send,
    /// Nothing to send yet; wake up at [`Cadence::deadline`], or when a frame is queued if
    /// [`Cadence::wants_frames`].
    Wait,
}

/// Counters of irregular ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CadenceCounts {
    /// Frames that missed their tick and were sent late, within the grace.
    pub late_frames: u64,
    /// Running streams interrupted by silence because a frame was later than the grace (audio
    /// resumed within [`GAP`] of the silence; a longer pause is the end of a talkspurt).
    pub gaps: u64,
}

/// The send schedule of one outgoing audio stream.
#[derive(Debug, Clone)]
pub struct Cadence {
    next: Duration,
    streaming: bool,
    grace_until: Option<Duration>,
    /// Start of the current calm window, and the least time a frame waited for its tick in it.
    calm_since: Duration,
    least_wait: Duration,
    /// How long the frame being sent waited for its tick (None: it was late, or silence).
    waited: Option<Duration>,
    /// When the last stream was cut by silence after the grace.
    cut_at: Option<Duration>,
    counts: CadenceCounts,
    /// Where idle ticks drift to: their phase within a [`TICK`] (None: they stay where they are).
    grid: Option<Duration>,
}

impl Cadence {
    /// A cadence whose first (silence) packet is due at `now`.
    #[must_use]
    pub fn new(now: Duration) -> Self {
        Self {
            next: now,
            streaming: false,
            grace_until: None,
            calm_since: now,
            least_wait: Duration::MAX,
            waited: None,
            cut_at: None,
            counts: CadenceCounts::default(),
            grid: None,
        }
    }

    /// Makes idle ticks drift onto the times `phase + k * TICK` (of the caller's clock), so that
    /// streams given the same grid tick together while idle.
    #[must_use]
    pub fn align_idle_to(mut self, phase: Duration) -> Self {
        self.grid = Some(Duration::from_nanos((phase.as_nanos() % TICK.as_nanos()) as u64));
        self
    }

    /// When to call [`Cadence::decide`] next at the latest.
    #[must_use]
    pub fn deadline(&self) -> Duration {
        self.grace_until.unwrap_or(self.next)
    }

    /// True if a newly queued frame should wake the caller before the deadline (an idle stream
    /// starts at once; a late frame is sent on arrival).
    #[must_use]
    pub fn wants_frames(&self) -> bool {
        !self.streaming || self.grace_until.is_some()
    }

    /// Irregular ticks so far.
    #[must_use]
    pub fn counts(&self) -> CadenceCounts {
        self.counts
    }

    /// Whether to send a packet at `now`, given since when a frame has been ready (None: no frame
    /// queued). After a `Send`, call [`Cadence::sent`] with what was sent.
    pub fn decide(&mut self, now: Duration, ready_since: Option<Duration>) -> Decision {
        self.waited = None;
        if !self.streaming {
            return if ready_since.is_some() || now >= self.next {
                Decision::Send
            } else {
                Decision::Wait
            };
        }
        if now < self.next {
            return Decision::Wait;
        }
        if let Some(since) = ready_since {
            if self.grace_until.is_none() {
                self.waited = Some(now.saturating_sub(since));
            }
            return Decision::Send;
        }
        match self.grace_until {
            None => {
                self.grace_until = Some(now + GRACE);
                Decision::Wait
            }
            Some(until) if now < until => Decision::Wait,
            Some(_) => Decision::Send, // the stream is interrupted: silence
        }
    }

    /// Records the packet sent at `now`; `audio` is false for silence.
    pub fn sent(&mut self, now: Duration, audio: bool) {
        let late = self.grace_until.take().is_some();
        if audio && (!self.streaming || late) {
            // A talkspurt starts, or a late frame re-phases the cadence behind it.
            if late {
                self.counts.late_frames += 1;
            }
            if self.cut_at.take().is_some_and(|cut| now.saturating_sub(cut) < GAP) {
                self.counts.gaps += 1;
            }
            self.next = now + TICK + MARGIN;
            self.restart_calm(now);
        } else {
            if self.streaming && !audio && late {
                self.cut_at = Some(now);
            }
            self.next += TICK;
            if let Some(waited) = self.waited.take() {
                self.least_wait = self.least_wait.min(waited);
                if now.saturating_sub(self.calm_since) >= CREEP_EVERY {
                    let spare = self.least_wait.saturating_sub(MARGIN).min(CREEP_STEP);
                    self.next = self.next.saturating_sub(spare).max(now);
                    self.restart_calm(now);
                }
            }
            if now.saturating_sub(self.next) > MAX_BEHIND {
                self.next = now + TICK;
            }
            if !audio && !late {
                self.drift_to_grid();
            }
        }
        self.streaming = audio;
    }

    /// Moves the next idle tick up to [`CREEP_STEP`] towards the grid.
    fn drift_to_grid(&mut self) {
        let Some(grid) = self.grid else { return };
        let tick = TICK.as_nanos();
        let off = (self.next.as_nanos() + tick - grid.as_nanos()) % tick; // how far past a grid point
        let step = CREEP_STEP.as_nanos();
        let shift = |n: u128| Duration::from_nanos(n.min(step) as u64);
        if off == 0 {
            return;
        }
        if off <= tick / 2 {
            self.next = self.next.saturating_sub(shift(off));
        } else {
            self.next += shift(tick - off);
        }
    }

    fn restart_calm(&mut self, now: Duration) {
        self.calm_since = now;
        self.least_wait = Duration::MAX;
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Runs a cadence against a producer whose frames are ready at `arrivals` (ms, sorted), in
    /// 0.1 ms steps; returns (send time, audio) per packet.
    fn simulate(arrivals: &[f64], until_ms: f64) -> (Vec<(f64, bool)>, CadenceCounts) {
        let mut cadence = Cadence::new(Duration::ZERO);
        let mut queued: Vec<f64> = Vec::new();
        let mut next_arrival = 0;
        let mut sent = Vec::new();
        let mut t = 0.0;
        while t < until_ms {
            let now = Duration::from_secs_f64(t / 1000.0);
            while next_arrival < arrivals.len() && arrivals[next_arrival] <= t {
                queued.push(arrivals[next_arrival]);
                next_arrival += 1;
            }
            let ready_since = queued.first().map(|a| Duration::from_secs_f64(a / 1000.0));
            if cadence.decide(now, ready_since) == Decision::Send {
                let audio = !queued.is_empty();
                if audio {
                    queued.remove(0);
                }
                cadence.sent(now, audio);
                sent.push((t, audio));
            }
            t += 0.1;
        }
        (sent, cadence.counts())
    }

    fn audio_times(sent: &[(f64, bool)]) -> Vec<f64> {
        sent.iter().filter(|s| s.1).map(|s| s.0).collect()
    }

    #[test]
    fn idle_is_a_steady_20ms_stream_of_silence() {
        let (sent, _) = simulate(&[], 1000.0);
        assert_eq!(sent.len(), 50);
        assert!(sent.windows(2).all(|w| (w[1].0 - w[0].0 - 20.0).abs() < 0.2));
    }

    #[test]
    fn idle_ticks_drift_onto_the_grid_in_1ms_steps() {
        // Two idle streams started 7.3 ms apart end up ticking together, 20 ms apart throughout.
        for (start, phase) in [(7.3, 0.0), (0.0, 13.0), (3.0, 2.5)] {
            let ms = |t: f64| Duration::from_secs_f64(t / 1000.0);
            let mut cadence = Cadence::new(ms(start)).align_idle_to(ms(phase));
            let mut sent = Vec::new();
            let mut t = start;
            while t < 1000.0 {
                if cadence.decide(ms(t), None) == Decision::Send {
                    cadence.sent(ms(t), false);
                    sent.push(t);
                }
                t += 0.1;
            }
            assert!(sent.windows(2).all(|w| (w[1] - w[0] - 20.0).abs() < 1.2), "{sent:?}");
            let last = sent[sent.len() - 1];
            let off = (last - phase).rem_euclid(20.0);
            assert!(
                !(0.2..=19.8).contains(&off),
                "{start} {phase}: ends {off} ms off the grid"
            );
        }
    }

    #[test]
    fn a_talkspurt_starts_at_once_and_runs_a_margin_behind() {
        let arrivals: Vec<f64> = (0..50).map(|k| 507.3 + 20.0 * f64::from(k)).collect();
        let (sent, counts) = simulate(&arrivals, 2000.0);
        let audio = audio_times(&sent);
        assert_eq!(audio.len(), 50);
        assert!((audio[0] - 507.3).abs() < 0.2, "first frame at once: {}", audio[0]);
        for (k, t) in audio.iter().enumerate().skip(1) {
            let behind = t - arrivals[k];
            assert!(
                (behind - 4.0).abs() < 0.3,
                "frame {k} sent {behind} ms after it was ready"
            );
        }
        assert_eq!(counts, CadenceCounts::default());
    }

    #[test]
    fn jitter_within_the_margin_leaves_the_output_regular() {
        // ±3 ms of input jitter around a 20 ms grid.
        let arrivals: Vec<f64> = (0..200)
            .map(|k| 100.0 + 20.0 * f64::from(k) + [0.0, 2.5, -2.0, 3.0, -3.0][k as usize % 5])
            .collect();
        let (sent, counts) = simulate(&arrivals, 4200.0);
        let audio = audio_times(&sent);
        assert_eq!(audio.len(), 200);
        // After the start (whose first frame came 3 ms early on the grid), every gap is 20 ms.
        assert!(
            audio[2..].windows(2).all(|w| (w[1] - w[0] - 20.0).abs() < 1.1),
            "{audio:?}"
        );
        assert_eq!(counts.gaps, 0);
    }

    #[test]
    fn a_late_frame_is_waited_for_not_replaced_by_silence() {
        let mut arrivals: Vec<f64> = (0..100).map(|k| 100.0 + 20.0 * f64::from(k)).collect();
        arrivals[40] += 12.0; // a 12 ms hiccup
        let (sent, counts) = simulate(&arrivals, 2200.0);
        let audio = audio_times(&sent);
        assert_eq!(audio.len(), 100);
        assert!(
            sent.iter()
                .skip_while(|s| !s.1)
                .take_while(|s| s.0 < 2080.0)
                .all(|s| s.1),
            "no silence inside the stream"
        );
        assert_eq!(
            counts,
            CadenceCounts {
                late_frames: 1,
                gaps: 0
            }
        );
        assert!((audio[40] - arrivals[40]).abs() < 0.2, "sent as soon as it came");
    }

    #[test]
    fn a_stall_beyond_the_grace_becomes_one_gap() {
        let mut arrivals: Vec<f64> = (0..100).map(|k| 100.0 + 20.0 * f64::from(k)).collect();
        for a in &mut arrivals[40..] {
            *a += 30.0;
        }
        let (sent, counts) = simulate(&arrivals, 2300.0);
        assert_eq!(audio_times(&sent).len(), 100);
        assert_eq!(counts.gaps, 1);
    }

    #[test]
    fn the_phase_creeps_back_after_a_spike() {
        let mut arrivals: Vec<f64> = (0..1000).map(|k| 100.0 + 20.0 * f64::from(k)).collect();
        arrivals[10] += 10.0;
        let (sent, _) = simulate(&arrivals, 20_200.0);
        let audio = audio_times(&sent);
        let behind_after_spike = audio[12] - arrivals[12];
        let behind_at_end = audio[999] - arrivals[999];
        assert!(behind_after_spike > 13.0, "{behind_after_spike}");
        assert!((behind_at_end - 4.0).abs() < 1.1, "{behind_at_end}");
    }

    #[test]
    fn a_stalled_clock_does_not_burst() {
        let mut cadence = Cadence::new(Duration::ZERO);
        assert_eq!(cadence.decide(Duration::ZERO, None), Decision::Send);
        cadence.sent(Duration::ZERO, false);
        // The caller was not scheduled for a second.
        let late = Duration::from_secs(1);
        assert_eq!(cadence.decide(late, None), Decision::Send);
        cadence.sent(late, false);
        assert_eq!(cadence.decide(late + MS, None), Decision::Wait);
        assert!(cadence.deadline() + MS >= late + TICK);
    }
}
