//! The output path: handler audio → a queue of 20 ms frames → a steady 20 ms cadence. The session
//! says when the next tick is due and, at that tick, which frame (or silence) the transport sends;
//! the driver does the sending.

use std::time::{Duration, Instant};

use gradio_webrtc_media::cadence::{Cadence, CadenceCounts, Decision, TICK};
use gradio_webrtc_media::outbound::{Frame, OutputQueue};

use super::stats::SessionStats;
use crate::EngineError;

/// The schedule of a started output: ticks counted from `origin`.
struct Pacer {
    origin: Instant,
    cadence: Cadence,
    reported: CadenceCounts,
}

/// What the cadence decided at a tick.
pub(crate) enum Tick {
    /// Nothing to send now.
    NotDue,
    /// Send one packet: the next frame, or silence (None).
    Packet(Option<Frame>),
}

/// The output path of one session.
pub(crate) struct AudioOut {
    queue: OutputQueue,
    /// Since when the first whole frame in the queue has been ready (the cadence stays a margin
    /// behind a live producer using that).
    ready_since: Option<Instant>,
    /// None until the transport starts sending.
    pacer: Option<Pacer>,
    /// A frame became ready while the cadence wanted one before its deadline: decide at once.
    woken_at: Option<Instant>,
}

impl AudioOut {
    /// An empty output at `rate` whose standing part is kept within `budget` frames (None: never
    /// trimmed).
    pub fn new(rate: u32, budget: Option<usize>) -> Self {
        let mut queue = OutputQueue::new(rate);
        queue.set_latency_budget(budget);
        Self {
            queue,
            ready_since: None,
            pacer: None,
            woken_at: None,
        }
    }

    /// Starts ticking at `now`. `idle_phase` is where idle ticks drift to (the process's shared
    /// grid, so idle sessions wake the runtime together), measured from `now`.
    pub fn start(&mut self, now: Instant, idle_phase: Duration) {
        if self.pacer.is_none() {
            self.pacer = Some(Pacer {
                origin: now,
                cadence: Cadence::new(Duration::ZERO).align_idle_to(idle_phase),
                reported: CadenceCounts::default(),
            });
        }
    }

    /// Seconds of audio queued and not yet sent.
    pub fn buffered(&self) -> f64 {
        self.queue.buffered_seconds()
    }

    /// Queues interleaved samples received at `now`.
    pub fn push(&mut self, now: Instant, rate: u32, channels: usize, samples: &[f32]) -> Result<(), EngineError> {
        self.queue.push(rate, channels, samples)?;
        if self.queue.has_frame() {
            self.ready_since.get_or_insert(now);
            if self.pacer.as_ref().is_some_and(|p| p.cadence.wants_frames()) {
                self.woken_at.get_or_insert(now);
            }
        }
        Ok(())
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.queue.clear();
        self.ready_since = None;
    }

    /// See [`OutputQueue::set_latency_budget`].
    pub fn set_budget(&mut self, frames: Option<usize>) {
        self.queue.set_latency_budget(frames);
    }

    /// When [`AudioOut::tick`] must run next (None: not started).
    pub fn deadline(&self) -> Option<Instant> {
        let pacer = self.pacer.as_ref()?;
        let due = pacer.origin + pacer.cadence.deadline();
        Some(match self.woken_at {
            Some(woken) if pacer.cadence.wants_frames() => due.min(woken),
            _ => due,
        })
    }

    /// Runs the cadence at `now`: whether a packet is due now, and which.
    pub fn tick(&mut self, now: Instant, stats: &SessionStats) -> Result<Tick, EngineError> {
        let Some(pacer) = self.pacer.as_mut() else {
            return Ok(Tick::NotDue);
        };
        let woken = self.woken_at.take().is_some() && pacer.cadence.wants_frames();
        if !woken && now < pacer.origin + pacer.cadence.deadline() {
            return Ok(Tick::NotDue);
        }
        let since = |t: Instant| t.saturating_duration_since(pacer.origin);
        if pacer.cadence.decide(since(now), self.ready_since.map(since)) == Decision::Wait {
            return Ok(Tick::NotDue);
        }
        let (underruns, trimmed) = (self.queue.underruns, self.queue.trimmed);
        let frame = self.queue.next_frame()?;
        SessionStats::add(&stats.underruns, self.queue.underruns - underruns);
        SessionStats::add(&stats.output_frames_trimmed, self.queue.trimmed - trimmed);
        // The next queued frame (if any) counts as ready from now.
        self.ready_since = self.queue.has_frame().then_some(now);
        pacer.cadence.sent(since(now), frame.is_some());
        let counts = pacer.cadence.counts();
        stats.count_cadence(pacer.reported, counts);
        pacer.reported = counts;
        if frame.is_some() {
            SessionStats::add(&stats.audio_frames_out, 1);
        }
        Ok(Tick::Packet(frame))
    }
}

/// Where idle ticks of a pacer started at `now` drift to, for a process grid at `grid`: the
/// distance from `now` to the next point of the grid.
#[must_use]
pub fn idle_phase(grid: Instant, now: Instant) -> Duration {
    let past = now.saturating_duration_since(grid).as_nanos() % TICK.as_nanos();
    TICK.saturating_sub(Duration::from_nanos(past as u64))
}
