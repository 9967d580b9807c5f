//! The output path: handler audio → a queue of 20 ms frames → a steady 20 ms cadence → the
//! transport's [`AudioSink`] (Opus over RTP, μ-law over a WebSocket, a test's recorder).

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use gradio_webrtc_media::cadence::{Cadence, CadenceCounts, Decision, TICK};
use gradio_webrtc_media::outbound::{Frame, OutputQueue};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::state::SessionState;
use super::stats::SessionStats;

/// Where paced audio goes: a transport's encoder and writer. Called once per 20 ms tick.
#[async_trait]
pub trait AudioSink: Send {
    /// Sends one tick: the handler's frame (at the queue's rate), or silence when there is none
    /// (which a transport may send as nothing). Returns whether a packet went out. An error ends
    /// the session with that reason (the transport is gone, or encoding failed).
    async fn send(&mut self, frame: Option<&Frame>) -> Result<bool, String>;
}

/// The queue and since when its first whole frame has been ready (the cadence stays a margin
/// behind a live producer using that).
pub(crate) struct Outgoing {
    pub queue: OutputQueue,
    pub ready_since: Option<Instant>,
}

/// The output path of one session.
pub(crate) struct AudioOut {
    pub outgoing: Mutex<Outgoing>,
    /// Wakes an idle or waiting pacer when the handler queues audio.
    pub queued: Notify,
    /// Wakes `output_below` waiters when the queue shrank.
    pub drained: Notify,
}

impl AudioOut {
    /// An empty output at `rate` whose standing part is kept within `budget` frames (None: never
    /// trimmed).
    pub fn new(rate: u32, budget: Option<usize>) -> Self {
        let mut queue = OutputQueue::new(rate);
        queue.set_latency_budget(budget);
        Self {
            outgoing: Mutex::new(Outgoing {
                queue,
                ready_since: None,
            }),
            queued: Notify::new(),
            drained: Notify::new(),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Outgoing> {
        self.outgoing.lock().expect("output lock poisoned")
    }

    /// Seconds of audio queued and not yet sent.
    pub fn buffered(&self) -> f64 {
        self.lock().queue.buffered_seconds()
    }
}

/// The instant every idle pacer of the process ticks in step with (plus whole ticks): idle
/// sessions then wake the runtime once per tick all together, not once each. A fixed point of the
/// clock, not state: set once, never changed.
fn idle_grid() -> Instant {
    static GRID: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *GRID.get_or_init(Instant::now)
}

/// Sends one packet per 20 ms tick into `sink` until the session closes, on a [`Cadence`]: a
/// talkspurt starts at once, then runs a few ms behind a live producer; a late frame is waited for
/// briefly instead of being replaced by silence. Returns why it stopped early, if it did.
pub(crate) async fn run_pacer(
    out: &AudioOut,
    stats: &SessionStats,
    mut closing: watch::Receiver<SessionState>,
    mut sink: Box<dyn AudioSink>,
) -> Result<(), String> {
    let origin = Instant::now();
    let since_origin = |t: Instant| t.saturating_duration_since(origin);
    let past_grid = origin.saturating_duration_since(idle_grid()).as_nanos() % TICK.as_nanos();
    let mut cadence =
        Cadence::new(Duration::ZERO).align_idle_to(TICK.saturating_sub(Duration::from_nanos(past_grid as u64)));
    let mut reported = CadenceCounts::default();
    loop {
        let deadline = origin + cadence.deadline();
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            () = out.queued.notified(), if cadence.wants_frames() => {}
            _ = closing.wait_for(|s| *s == SessionState::Closed) => return Ok(()),
        }
        let now = Instant::now();
        let frame = {
            let mut outgoing = out.lock();
            let ready_since = outgoing.ready_since.map(since_origin);
            if cadence.decide(since_origin(now), ready_since) == Decision::Wait {
                continue;
            }
            let (underruns, trimmed) = (outgoing.queue.underruns, outgoing.queue.trimmed);
            let frame = outgoing.queue.next_frame().map_err(|e| format!("output audio: {e}"))?;
            SessionStats::add(&stats.underruns, outgoing.queue.underruns - underruns);
            SessionStats::add(&stats.output_frames_trimmed, outgoing.queue.trimmed - trimmed);
            // The next queued frame (if any) counts as ready from now.
            outgoing.ready_since = outgoing.queue.has_frame().then_some(now);
            frame
        };
        out.drained.notify_waiters();
        cadence.sent(since_origin(now), frame.is_some());
        let counts = cadence.counts();
        stats.count_cadence(reported, counts);
        reported = counts;
        if frame.is_some() {
            SessionStats::add(&stats.audio_frames_out, 1);
        }
        if sink.send(frame.as_ref()).await? {
            SessionStats::add(&stats.packets_out, 1);
        }
    }
}
