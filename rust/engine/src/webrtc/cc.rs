//! Send-side congestion control: how much the path to this peer carries, and a pacer that keeps
//! what we send within it.
//!
//! Three pieces share one [`CcShared`] per peer connection (atomics: the interceptor chain runs on
//! the connection's driver task, the video sender on the session's):
//!
//! * [`EngineEstimator`] wraps webrtc-rs's GCC (`rtc::interceptor::Gcc`, fed the browser's
//!   transport-cc feedback by the shipped `CongestionControlInterceptor`) with what GCC lacks: a
//!   cap at what actually got through (while we send little, GCC's target climbs without bound),
//!   a clamp on a standing queue (a full, steady tail-drop queue shows no delay *gradient*, so GCC
//!   stays put while every packet waits 300 ms), and loss without queueing delay treated as link
//!   noise (GCC's loss half otherwise drives a lossy Wi-Fi link to the floor).
//! * [`CcPacer`] replaces the shipped one-FIFO pacer: audio is never queued behind video,
//!   retransmissions go before new video, video leaves at 1.25x the estimate. It stamps
//!   abs-send-time on video (what lets a REMB-only peer such as aiortc estimate), reads REMB and
//!   receiver reports (a fallback when there is no transport-cc; round-trip time from our sender
//!   reports), and publishes its backlog so the video sender drops pictures *before* encoding
//!   instead of letting them queue.
//! * The video sender ([`super::video::VideoSender`]) reads [`CcShared::budget`] and
//!   [`CcShared::backlog_ms`] per picture.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::interceptor::{
    Attribute, BandwidthEstimator, EstimatorStats, Gcc, Interceptor, Pacer, Packet, PacketReport, StreamInfo,
    TaggedPacket,
};
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::marshal::MarshalSize;

use crate::session::SessionStats;

/// The least the estimate goes down to (bits per second): audio and a postage-stamp picture.
pub(crate) const MIN_BPS: f64 = 50_000.0;
/// Where a connection starts before any feedback. The ramp is slow (GCC adds ~8 % a second), so
/// a low start costs good links seconds of soft video; a start above the link overflows a
/// 300 ms access queue within a second and loses the first keyframe. 600 kbit/s is the middle.
pub(crate) const INITIAL_BPS: f64 = 600_000.0;
/// A REMB or transport-cc estimate older than this is stale (the peer stopped sending feedback).
const FRESH: Duration = Duration::from_secs(2);
/// With no feedback of either kind for this long after start, the receiver reports' loss drives.
const NO_FEEDBACK: Duration = Duration::from_secs(3);
/// Video leaves the pacer at this multiple of the estimate: a little above, so the estimator can
/// see more capacity when there is some, not so far above that an encoder's overshoot lands in
/// the access link's queue (libwebrtc paces at 2.5x; behind a 300 ms tail-drop queue that is loss).
const PACE_FACTOR: f64 = 1.25;
/// The pacer's burst: this much of a second's worth may leave back to back.
const BURST_S: f64 = 0.03;
/// Above this loss (in 256ths: 5 %) in the peer's receiver reports the link becomes lossy:
/// retransmissions go twice, and video goes in smaller packets (`video::packet_size`). At 10 %
/// loss against aiortc, with the threshold at 10 % (where the reported loss hovers, so both
/// switched on and off): 132-139/218-294 ms, longest freeze 250-406 ms, 4.4-4.8 s frozen in
/// three runs; at 5 %: 126-130/187-200 ms, 232-243 ms, 2.9-3.3 s.
const LOSSY_Q8: u32 = 13;
/// ... and stays lossy until a report shows this little (2 %): a report covers about a second,
/// ~100-200 packets, so on a link that loses one in twenty it reads anywhere from 2 to 8 % and a
/// single threshold flipped the mode on and off from one report to the next.
const LOSSY_CLEAR_Q8: u32 = 5;
/// A report above this loss (10 %) on a lossy link is heavy loss: video goes in smaller packets
/// still (`video::packet_size`). Read from the last report alone: a packet size that flips from
/// one report to the next costs nothing.
const HEAVY_LOSS_Q8: u32 = 26;
/// Video queued in the pacer beyond this many seconds is dropped (a safety net: the video sender
/// stops encoding at 100 ms of backlog, so this only trips if that guard is bypassed).
const MAX_BACKLOG_S: f64 = 2.0;

/// A queueing delay above this (seconds) for [`QUEUE_FOR`] is a standing queue: clamp.
const QUEUE_HIGH_S: f64 = 0.1;
/// ... and below this the clamp is released.
const QUEUE_LOW_S: f64 = 0.03;
const QUEUE_FOR: Duration = Duration::from_millis(200);
/// A REMB below this fraction of what the pacer sent is congestion. One within it tracks the
/// incoming rate of a stream that sends less than its budget: aiortc reports about what arrives
/// (up to 1.5x) until it sees more, and on overuse 0.85x; following a REMB of 0.99x what we sent
/// ratcheted the budget of an easy picture down to 85 kbit/s and its size to 320x240 (4 clients
/// on loopback, no loss, 1 ms round trip).
const REMB_CONGESTED: f64 = 0.9;
/// A REMB drop is followed only with a sign that the path itself is congested: a round trip this
/// much above the least seen (a queue), or loss in the peer's reports above [`LOSS_NOTED_Q8`], or
/// no round trip measured yet. A receiver short of CPU also reports overuse (its packets are
/// timestamped late): 4 aiortc clients on 2 cores sent REMBs of 0.85-0.99x what arrived, on
/// loopback with a 1 ms round trip and no loss, and followed, those held 3 of 4 streams at
/// 85 kbit/s, 320x240 and 15 fps. (16 clients on 2 cores lag enough to add 30-120 ms to the round
/// trip itself: there the drops are followed, as for a real queue.)
const QUEUE_NOTED: Duration = Duration::from_millis(50);
/// The window of the least round-trip time: long enough to outlast a queue while it is drained,
/// short enough that a new route's longer path is not read as a queue for good.
const LEAST_RTT_WINDOW: Duration = Duration::from_secs(30);
/// Round trips in a row at least [`QUEUE_HIGH_S`] above the least that make a standing queue for
/// a peer without transport-cc (one alone may be a busy receiver or the path's jitter).
const RTT_HIGH_IN_A_ROW: u32 = 2;
/// A retransmission that has waited this long in the pacer is dropped: repairs alone are over the
/// link's rate, and by now the receiver has asked again (aiortc at its next gap, a browser every
/// round trip) or given up; sent anyway, they only hold the new pictures back behind them.
const REPAIR_STALE: Duration = Duration::from_millis(300);
/// How long a picture's tail probe (`video::RtpPictures`) waits after the packet before it: a
/// probe that overtakes that packet on the way makes the receiver ask for it at once (aiortc does),
/// and on a lossy link every repair goes twice. With 0-30 ms of jitter sent back to back the probe
/// overtook half the time (the client's requests doubled, ~+200 kbit/s); 15 ms later, one time in
/// eight, while still noticing a lost last packet ~18 ms sooner than the next picture would.
const TAIL_PROBE_DELAY: Duration = Duration::from_millis(15);
/// Loss (in 256ths: 2 %) that corroborates a REMB drop.
const LOSS_NOTED_Q8: u32 = 5;
/// The window of the rate the pacer sent at (compared with a peer's REMB).
const SENT_WINDOW: Duration = Duration::from_secs(1);
/// The window of the acknowledged rate.
const ACKED_WINDOW: Duration = Duration::from_secs(1);
/// The window of the base (least) one-way delay.
const BASE_WINDOW: Duration = Duration::from_secs(10);
/// The window whose median one-way delay is "now".
const RECENT_WINDOW: Duration = Duration::from_millis(200);

/// What a peer connection's senders know of their link: congestion control's shared state,
/// audio's share and the configured ceiling for video (bits per second).
#[derive(Clone)]
pub(crate) struct Link {
    pub cc: Arc<CcShared>,
    pub audio_bps: f64,
    pub video_max_bps: u32,
}

/// Where the link estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkFeedback {
    /// Nothing yet: the initial rate.
    None = 0,
    /// GCC over the peer's transport-wide congestion control feedback (browsers).
    TransportCc = 1,
    /// The peer's receiver-estimated maximum bitrate (aiortc, older stacks).
    Remb = 2,
    /// Neither: loss in the peer's receiver reports.
    ReceiverReports = 3,
}

/// What the estimator, the pacer and the video sender of one peer connection share.
#[derive(Debug)]
pub(crate) struct CcShared {
    epoch: Instant,
    initial: f64,
    max: f64,
    /// The transport-cc estimate after our caps (f64 bits) and when it was made (ms since epoch + 1).
    est_bps: AtomicU64,
    est_at: AtomicU64,
    /// The peer's last REMB and when it came.
    remb_bps: AtomicU64,
    remb_at: AtomicU64,
    /// The receiver-report fallback's rate (f64 bits).
    fallback_bps: AtomicU64,
    /// The loss the peer last reported for our video, in 256ths.
    loss_q8: AtomicU32,
    /// Whether the link is lossy (see [`LOSSY_Q8`] and [`LOSSY_CLEAR_Q8`]).
    lossy: AtomicBool,
    /// Round-trip time from our sender reports and the peer's receiver reports (0: unknown).
    rtt_ms: AtomicU32,
    /// The least round-trip time over [`LEAST_RTT_WINDOW`] (0: none yet).
    min_rtt_ms: AtomicU32,
    /// The connectivity checks' round trip when the connection came up, ms (0: none): a least
    /// round trip measured before any media could queue (see [`Self::seed_rtt`]).
    ice_rtt_ms: AtomicU32,
    /// Round trips in a row at least [`QUEUE_HIGH_S`] above the least.
    rtt_high: AtomicU32,
    /// Whether the round trip shows a standing queue: the REMB and receiver-report budgets are
    /// clamped below what gets through until it drains.
    rtt_queue: AtomicBool,
    /// Queueing delay seen in transport-cc feedback, ms.
    queue_ms: AtomicU32,
    /// Video and retransmissions waiting in the pacer, bits; and the rate they leave at.
    backlog_bits: AtomicU64,
    pacing_bps: AtomicU64,
    /// What the pacer actually sent over the last second (f64 bits; 0 until a second has passed).
    sent_bps: AtomicU64,
}

fn load(v: &AtomicU64) -> f64 {
    f64::from_bits(v.load(Ordering::Relaxed))
}

fn store(v: &AtomicU64, x: f64) {
    v.store(x.to_bits(), Ordering::Relaxed);
}

impl CcShared {
    /// For a connection that may send up to `max` bits per second.
    pub(crate) fn new(max: f64) -> Arc<Self> {
        let max = max.max(MIN_BPS * 2.0);
        let initial = INITIAL_BPS.min(max);
        let shared = Self {
            epoch: Instant::now(),
            initial,
            max,
            est_bps: AtomicU64::new(0),
            est_at: AtomicU64::new(0),
            remb_bps: AtomicU64::new(0),
            remb_at: AtomicU64::new(0),
            fallback_bps: AtomicU64::new(initial.to_bits()),
            loss_q8: AtomicU32::new(0),
            lossy: AtomicBool::new(false),
            rtt_ms: AtomicU32::new(0),
            min_rtt_ms: AtomicU32::new(0),
            ice_rtt_ms: AtomicU32::new(0),
            rtt_high: AtomicU32::new(0),
            rtt_queue: AtomicBool::new(false),
            queue_ms: AtomicU32::new(0),
            backlog_bits: AtomicU64::new(0),
            pacing_bps: AtomicU64::new((initial * PACE_FACTOR).to_bits()),
            sent_bps: AtomicU64::new(0),
        };
        Arc::new(shared)
    }

    fn stamp(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64 + 1
    }

    fn fresh(&self, at: &AtomicU64, now: Instant) -> bool {
        let at = at.load(Ordering::Relaxed);
        at != 0 && self.stamp(now).saturating_sub(at) <= FRESH.as_millis() as u64
    }

    /// What may be sent to this peer now, bits per second (RTP payload and headers): the
    /// transport-cc estimate and the peer's REMB (the lower, when both are fresh); before any
    /// feedback the initial rate; with none for [`NO_FEEDBACK`], the receiver-report fallback.
    pub(crate) fn budget(&self, now: Instant) -> f64 {
        let est = self.fresh(&self.est_at, now).then(|| load(&self.est_bps));
        let remb = self.fresh(&self.remb_at, now).then(|| load(&self.remb_bps));
        let bps = match (est, remb) {
            (Some(e), Some(r)) => e.min(r),
            (Some(e), None) => e,
            (None, Some(r)) => r,
            (None, None) if now.saturating_duration_since(self.epoch) < NO_FEEDBACK => self.initial,
            (None, None) => load(&self.fallback_bps),
        };
        bps.clamp(MIN_BPS, self.max)
    }

    /// Which feedback the budget follows now (`LinkFeedback as u64` in the session's stats).
    pub(crate) fn feedback(&self, now: Instant) -> LinkFeedback {
        if self.fresh(&self.est_at, now) {
            LinkFeedback::TransportCc
        } else if self.fresh(&self.remb_at, now) {
            LinkFeedback::Remb
        } else if now.saturating_duration_since(self.epoch) < NO_FEEDBACK {
            LinkFeedback::None
        } else {
            LinkFeedback::ReceiverReports
        }
    }

    /// Seconds of video waiting in the pacer.
    pub(crate) fn backlog_s(&self) -> f64 {
        let bits = self.backlog_bits.load(Ordering::Relaxed) as f64;
        bits / load(&self.pacing_bps).max(1.0)
    }

    /// Whether the peer's reports show a lossy link: above [`LOSSY_Q8`] since the last report at
    /// or below [`LOSSY_CLEAR_Q8`].
    pub(crate) fn lossy(&self) -> bool {
        self.lossy.load(Ordering::Relaxed)
    }

    /// Whether the link is lossy, the last report showed more than [`HEAVY_LOSS_Q8`], and the path
    /// shows no queue: loss behind a queue is our own rate overflowing it (a capped downlink's
    /// tail drops), where more packets only add headers to the overflow.
    pub(crate) fn heavy_loss(&self) -> bool {
        self.loses_on_its_own() && self.loss_q8.load(Ordering::Relaxed) > HEAVY_LOSS_Q8
    }

    /// Whether the link loses packets of its own: lossy, and no queue on the path. Behind a queue
    /// the loss is our own rate overflowing it, which the estimators answer; what is sent against
    /// loss (repairs twice, tail probes after pictures, see `video::RtpPictures`) would only add
    /// to the overflow there.
    pub(crate) fn loses_on_its_own(&self) -> bool {
        self.lossy() && self.queue_free()
    }

    /// Whether a packet lost on its way to us may be asked for the moment its gap opens
    /// (`repair::Nacks`; the NACK timer asks in any case): not while our way to the peer shows a
    /// queue. Each request is one more packet into that queue, and gaps are mostly reorders there
    /// (on a capped downlink the loss is the cap's, on our side): at 0.25 Mbit/s with 0-30 ms of
    /// jitter the at-once requests were ~25 a second against ~8 on the timer, and 2 of 6 runs
    /// fell to 16 fps as the estimate read the extra queueing. With no round trip measured (no
    /// video of ours for the peer to report on) nothing is known of a queue: ask at once.
    pub(crate) fn asks_at_once(&self) -> bool {
        self.rtt_ms.load(Ordering::Relaxed) == 0 || self.queue_free()
    }

    /// The round-trip time to the peer, when known.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        match self.rtt_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(u64::from(ms))),
        }
    }

    /// The least round-trip time of the last [`LEAST_RTT_WINDOW`], when known.
    pub(crate) fn least_rtt(&self) -> Option<Duration> {
        match self.min_rtt_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(u64::from(ms))),
        }
    }

    /// Queueing delay on the path seen in transport-cc feedback, ms.
    #[cfg(test)]
    pub(crate) fn queue_ms(&self) -> u32 {
        self.queue_ms.load(Ordering::Relaxed)
    }

    /// The inputs of [`Self::budget`], for logs.
    pub(crate) fn describe(&self, now: Instant) -> String {
        format!(
            "est {:.0} (fresh {}) remb {:.0} (fresh {}) fallback {:.0} rtt {:?} backlog {:.3}s",
            load(&self.est_bps),
            self.fresh(&self.est_at, now),
            load(&self.remb_bps),
            self.fresh(&self.remb_at, now),
            load(&self.fallback_bps),
            self.rtt(),
            self.backlog_s()
        )
    }

    fn publish_estimate(&self, now: Instant, bps: f64) {
        store(&self.est_bps, bps);
        self.est_at.store(self.stamp(now), Ordering::Relaxed);
        // Should the feedback stop, the receiver reports carry on from here.
        store(&self.fallback_bps, bps.clamp(MIN_BPS, self.max));
    }

    /// The peer's REMB. A receiver estimates from what arrives, capped near what arrives (aiortc:
    /// 1.5x the incoming rate): clearly below what we send ([`REMB_CONGESTED`]), the link is
    /// congested and the REMB is the budget; near or above it, we are application-limited (the
    /// picture needs fewer bits than its budget) and following it down would starve the encoder
    /// the moment the picture needs more, holding the REMB low for good (a REMB collapse measured
    /// at 88 kbit/s, 320x240 and 12 fps on loopback). Then the budget only rises with it.
    fn on_remb(&self, now: Instant, bps: f64) {
        let sent = load(&self.sent_bps);
        // After a pause in the REMBs (aiortc sends none while nothing arrives) the budget in use
        // is the base, not the initial rate: a REMB that shows no congestion must not restore
        // 600 kbit/s on a link that had shown 200 (measured behind a 250 kbit/s cap: the jump
        // overflowed the access queue and the REMB collapsed to 114 kbit/s for good).
        let current = if self.fresh(&self.remb_at, now) {
            load(&self.remb_bps)
        } else {
            self.budget(now)
        };
        let budget = if self.rtt_queue.load(Ordering::Relaxed) {
            // Draining a standing queue: the REMB may lower the clamp, not lift it.
            bps.min(current)
        } else if sent > 0.0 && bps < sent * REMB_CONGESTED && self.path_congested() {
            bps
        } else {
            bps.max(current)
        };
        store(&self.remb_bps, budget.min(self.max));
        self.remb_at.store(self.stamp(now), Ordering::Relaxed);
        // Should the REMBs stop, the receiver reports carry on from here.
        store(&self.fallback_bps, budget.clamp(MIN_BPS, self.max));
    }

    /// Whether the path shows no queue: a round trip measured and within [`QUEUE_NOTED`] of the
    /// least seen, and no queueing delay in transport-cc feedback above it either.
    fn queue_free(&self) -> bool {
        let (rtt, least) = (
            self.rtt_ms.load(Ordering::Relaxed),
            self.min_rtt_ms.load(Ordering::Relaxed),
        );
        rtt != 0
            && u128::from(rtt) < u128::from(least) + QUEUE_NOTED.as_millis()
            && u128::from(self.queue_ms.load(Ordering::Relaxed)) < QUEUE_NOTED.as_millis()
    }

    /// Whether the path shows congestion of its own (see [`QUEUE_NOTED`]): a round trip above the
    /// least seen, loss, or nothing measured yet (then the REMB is believed).
    fn path_congested(&self) -> bool {
        let (rtt, least) = (
            self.rtt_ms.load(Ordering::Relaxed),
            self.min_rtt_ms.load(Ordering::Relaxed),
        );
        rtt == 0
            || u128::from(rtt) >= u128::from(least) + QUEUE_NOTED.as_millis()
            || self.loss_q8.load(Ordering::Relaxed) > LOSS_NOTED_Q8
    }

    /// The round trip of the connectivity checks that brought the connection up. The first round
    /// trip from our sender reports comes a second or more after media starts, and a connection
    /// that starts above its link has filled the access queue by then: behind a 500 kbit/s cap
    /// the first read 304 ms and was the least for 15 s (16 ms once drained), so a full queue
    /// passed for a clean path, the losses it made for a lossy link's, and repairs went twice
    /// and on top of the pace (1.1 Mbit/s sent into 0.5, pictures 4 s late). It counts towards
    /// the least for the first [`LEAST_RTT_WINDOW`].
    pub(crate) fn seed_rtt(&self, rtt: Duration) {
        let ms = u32::try_from(rtt.as_millis()).unwrap_or(u32::MAX).max(1);
        self.ice_rtt_ms.store(ms, Ordering::Relaxed);
    }

    /// A round-trip time `ms` from a receiver report, and the least over [`LEAST_RTT_WINDOW`].
    ///
    /// A standing queue, for a peer that sends no transport-cc: [`RTT_HIGH_IN_A_ROW`] round trips
    /// at least [`QUEUE_HIGH_S`] above the least. A full tail-drop queue shows no delay *gradient*,
    /// so aiortc's REMB stays near what arrives (0.85x on overuse), and paced at 1.25x that, with
    /// the tail drops asked for again and repaired first, we sent above the link for good: behind
    /// a 500 kbit/s cap, one run in ten went from 30 fps to pictures 4 s late, 1920 tail drops and
    /// 1868 repairs in 25 s. Then the REMB and receiver-report budgets go to 0.7x what got through
    /// (sent, less the reported loss), again at every round trip that still shows the queue, and
    /// no REMB lifts them until the round trip is back within [`QUEUE_NOTED`] of the least.
    pub(crate) fn on_rtt(&self, ms: u32, least: u32) {
        self.rtt_ms.store(ms, Ordering::Relaxed);
        self.min_rtt_ms.store(least, Ordering::Relaxed);
        let above = Duration::from_millis(u64::from(ms.saturating_sub(least)));
        if above.as_secs_f64() < QUEUE_HIGH_S {
            self.rtt_high.store(0, Ordering::Relaxed);
            if above < QUEUE_NOTED {
                self.rtt_queue.store(false, Ordering::Relaxed);
            }
            return;
        }
        if self.rtt_high.fetch_add(1, Ordering::Relaxed) + 1 < RTT_HIGH_IN_A_ROW {
            return;
        }
        self.rtt_queue.store(true, Ordering::Relaxed);
        let loss = f64::from(self.loss_q8.load(Ordering::Relaxed)) / 256.0;
        let through = load(&self.sent_bps) * (1.0 - loss);
        if through <= 0.0 {
            return;
        }
        let clamp = (0.7 * through).clamp(MIN_BPS, self.max);
        for budget in [&self.remb_bps, &self.fallback_bps] {
            if load(budget) > clamp {
                store(budget, clamp);
            }
        }
    }

    /// A receiver report's loss for our video (fraction of 256): the fallback's AIMD, the same
    /// thresholds as GCC's loss half.
    fn on_loss(&self, fraction: u8) {
        let q8 = u32::from(fraction);
        self.loss_q8.store(q8, Ordering::Relaxed);
        if q8 > LOSSY_Q8 {
            self.lossy.store(true, Ordering::Relaxed);
        } else if q8 <= LOSSY_CLEAR_Q8 {
            self.lossy.store(false, Ordering::Relaxed);
        }
        let loss = f64::from(fraction) / 256.0;
        let rate = load(&self.fallback_bps);
        let next = if loss > 0.10 {
            rate * (1.0 - 0.5 * loss)
        } else if loss < 0.02 {
            rate * 1.05
        } else {
            rate
        };
        store(&self.fallback_bps, next.clamp(MIN_BPS, self.max));
    }
}

/// Bits per second over `window` from `(when, bits)` samples, or None with under half a window.
fn rate(samples: &VecDeque<(Instant, f64)>, now: Instant, window: Duration) -> Option<f64> {
    let &(first, first_bits) = samples.front()?;
    let span = now.saturating_duration_since(first);
    if span < window / 2 {
        return None;
    }
    // The first sample opens the span; what it carried arrived before it.
    Some((samples.iter().map(|(_, b)| b).sum::<f64>() - first_bits) / span.as_secs_f64())
}

/// GCC with an acknowledged-rate cap, a standing-queue clamp and loss-without-delay forgiveness;
/// publishes into [`CcShared`] (the estimator itself is boxed inside the interceptor chain).
pub(crate) struct EngineEstimator {
    gcc: Gcc,
    shared: Arc<CcShared>,
    /// Bits reported as arrived, by when the report came.
    acked: VecDeque<(Instant, f64)>,
    /// One-way delay samples (seconds, receiver clock minus ours: only differences mean anything).
    recent: VecDeque<(Instant, f64)>,
    /// The least one-way delay of each feedback batch.
    base: VecDeque<(Instant, f64)>,
    high_since: Option<Instant>,
    clamped: bool,
    target: f64,
    updated: Option<Instant>,
}

impl EngineEstimator {
    pub(crate) fn new(shared: Arc<CcShared>) -> Self {
        let initial = shared.initial;
        Self {
            gcc: Gcc::new(initial, MIN_BPS, shared.max),
            shared,
            acked: VecDeque::new(),
            recent: VecDeque::new(),
            base: VecDeque::new(),
            high_since: None,
            clamped: false,
            target: initial,
            updated: None,
        }
    }

    /// The queueing delay now: the median recent one-way delay above the least seen lately.
    fn queue_delay(&self) -> Option<f64> {
        let base = self.base.iter().map(|(_, d)| *d).fold(f64::INFINITY, f64::min);
        let mut recent: Vec<f64> = self.recent.iter().map(|(_, d)| *d).collect();
        if recent.is_empty() || !base.is_finite() {
            return None;
        }
        recent.sort_by(f64::total_cmp);
        Some((recent[recent.len() / 2] - base).max(0.0))
    }

    fn update(&mut self, now: Instant) {
        while self
            .acked
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > ACKED_WINDOW)
        {
            self.acked.pop_front();
        }
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > RECENT_WINDOW)
        {
            self.recent.pop_front();
        }
        while self
            .base
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > BASE_WINDOW)
        {
            self.base.pop_front();
        }
        let queue = self.queue_delay();
        let acked = rate(&self.acked, now, ACKED_WINDOW);
        let stats = self.gcc.stats();
        // Loss while nothing queues is the link's own (radio, a lossy hop), not our rate: follow
        // the delay half alone. With a queue, loss is congestion and both halves count.
        let mut candidate = match (queue, stats.delay_based_bitrate) {
            (Some(q), Some(delay)) if q < QUEUE_LOW_S => delay,
            _ => self.gcc.target_bitrate(),
        };
        if let Some(acked) = acked {
            candidate = candidate.min(1.5 * acked + 50_000.0);
        }
        match queue {
            Some(q) if q > QUEUE_HIGH_S => {
                let since = *self.high_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= QUEUE_FOR {
                    self.clamped = true;
                }
            }
            Some(q) if q < QUEUE_LOW_S => {
                self.high_since = None;
                self.clamped = false;
            }
            _ => {}
        }
        if self.clamped {
            if let Some(acked) = acked {
                candidate = candidate.min(0.7 * acked);
            }
        }
        // Down at once; up by at most 25 % a second (leaving the clamp must not jump back into the
        // queue it just drained).
        let dt = self
            .updated
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64().min(1.0));
        self.updated = Some(now);
        if candidate > self.target {
            candidate = candidate.min(self.target * (1.0 + 0.25 * dt));
        }
        self.target = candidate.clamp(MIN_BPS, self.shared.max);
        self.shared.publish_estimate(now, self.target);
        if let Some(q) = queue {
            self.shared.queue_ms.store((q * 1000.0) as u32, Ordering::Relaxed);
        }
    }
}

impl BandwidthEstimator for EngineEstimator {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.gcc.on_reports(now, reports);
        let mut least = f64::INFINITY;
        for r in reports.iter().filter(|r| r.arrived) {
            self.acked.push_back((now, (r.size * 8) as f64));
            if let Some(arrival) = r.arrival {
                let sent = r.departure.saturating_duration_since(self.shared.epoch).as_secs_f64();
                let owd = arrival.as_secs_f64() - sent;
                self.recent.push_back((now, owd));
                least = least.min(owd);
            }
        }
        if least.is_finite() {
            self.base.push_back((now, least));
        }
        self.update(now);
    }

    fn target_bitrate(&self) -> f64 {
        self.target
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.gcc.handle_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.gcc.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.gcc.stats()
    }
}

/// The abs-send-time header extension's value for `now`: seconds since `epoch` in 6.18 fixed
/// point, 24 bits (wraps every 64 s; receivers use differences).
fn abs_send_time(epoch: Instant, now: Instant) -> Bytes {
    let nanos = now.saturating_duration_since(epoch).as_nanos();
    let v = ((nanos << 18) / 1_000_000_000) as u32 & 0x00ff_ffff;
    Bytes::copy_from_slice(&v.to_be_bytes()[1..])
}

/// Our interceptor at `Slot::Pacer`: audio unqueued, retransmissions first, video paced at
/// [`PACE_FACTOR`] times the budget; REMB, receiver reports and round-trip time observed.
pub(crate) struct CcPacer {
    shared: Arc<CcShared>,
    bucket: Pacer,
    rate: f64,
    audio: HashSet<u32>,
    /// Video SSRCs and their negotiated abs-send-time extension id.
    video: HashMap<u32, Option<u8>>,
    /// The session's counters (retransmissions sent).
    counts: Arc<SessionStats>,
    /// The video streams' RTX SSRCs (also in `video`): their reports say nothing of the path's loss.
    rtx_ssrcs: HashSet<u32>,
    repairs: VecDeque<TaggedPacket>,
    /// The packets resent lately ((SSRC, sequence number) of the original) and when.
    resent: HashMap<(u32, u16), Instant>,
    frames: VecDeque<TaggedPacket>,
    backlog_bits: f64,
    /// Video bits released, by when (the last second): what the link was actually offered.
    sent: VecDeque<(Instant, f64)>,
    /// Of those, the retransmissions.
    repairs_sent: VecDeque<(Instant, f64)>,
    /// Our recent sender reports: the middle 32 bits of their NTP time, and when they left.
    reports_sent: VecDeque<(u32, Instant)>,
    /// Round-trip times over [`LEAST_RTT_WINDOW`] (ms), by when they were measured.
    rtts: VecDeque<(Instant, u32)>,
    released: VecDeque<TaggedPacket>,
    /// When the last video packet (not a repair) was released: a tail probe waits
    /// [`TAIL_PROBE_DELAY`] after it.
    last_video_out: Option<Instant>,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
    /// The latest instant handed in: a deadline is never at or before it (a deadline that does
    /// not advance is webrtc-rs's busy loop, webrtc#862).
    last_now: Option<Instant>,
}

/// Whether `packet` is a tail probe: padding only, not a retransmission.
fn is_tail_probe(packet: &TaggedPacket) -> bool {
    matches!(&packet.message.packet, Packet::Rtp(rtp) if rtp.header.padding && rtp.payload.is_empty())
        && !packet.message.has(&Attribute::Retransmission)
}

fn rtp_bits(packet: &TaggedPacket) -> f64 {
    match &packet.message.packet {
        Packet::Rtp(rtp) => (rtp.marshal_size() * 8) as f64,
        _ => 0.0,
    }
}

impl CcPacer {
    pub(crate) fn new(shared: Arc<CcShared>, counts: Arc<SessionStats>) -> Self {
        let rate = shared.initial * PACE_FACTOR;
        Self {
            bucket: Pacer::new(rate).with_burst_bits(rate * BURST_S),
            rate,
            shared,
            audio: HashSet::new(),
            video: HashMap::new(),
            counts,
            rtx_ssrcs: HashSet::new(),
            repairs: VecDeque::new(),
            resent: HashMap::new(),
            frames: VecDeque::new(),
            backlog_bits: 0.0,
            sent: VecDeque::new(),
            repairs_sent: VecDeque::new(),
            reports_sent: VecDeque::new(),
            rtts: VecDeque::new(),
            released: VecDeque::new(),
            last_video_out: None,
            reads: VecDeque::new(),
            writes: VecDeque::new(),
            last_now: None,
        }
    }

    /// Follows the budget (re-derived on every change over 2 %).
    fn follow(&mut self, now: Instant) {
        // Repairs on a link with no queue are paced on top: the loss is the link's own, and taken
        // out of the video's pace they held back 5-10 % of the pictures at 20 % loss (doubled
        // repairs beside an encoder at the full budget). The budget itself is left alone: what
        // the estimators see arrive would shrink with it (tried: it spiralled to 160 kbit/s).
        // At most the budget again (as libwebrtc limits retransmissions): the repairs sent raise
        // the pace that lets more go, and a path misjudged queue-free must not run away.
        let budget = self.shared.budget(now);
        let repairs = if self.shared.queue_free() {
            rate(&self.repairs_sent, now, SENT_WINDOW).unwrap_or(0.0).min(budget)
        } else {
            0.0
        };
        let rate = (budget * PACE_FACTOR + repairs).max(MIN_BPS * 2.0);
        if (rate - self.rate).abs() > self.rate * 0.02 {
            self.rate = rate;
            let budget = self.bucket.budget_bits();
            self.bucket = Pacer::new(rate).with_burst_bits(rate * BURST_S);
            // Keep what was owed (a negative budget after a large packet), never more than a burst.
            self.bucket
                .consume(self.bucket.budget_bits() - budget.min(self.bucket.budget_bits()));
            store(&self.shared.pacing_bps, rate);
        }
    }

    fn stamp(&self, packet: &mut TaggedPacket, now: Instant) {
        if let Packet::Rtp(rtp) = &mut packet.message.packet {
            if let Some(Some(id)) = self.video.get(&rtp.header.ssrc) {
                let _ = rtp.header.set_extension(*id, abs_send_time(self.shared.epoch, now));
            }
        }
    }

    /// Releases what the bucket affords at `now`: repairs first, then video.
    fn release(&mut self, now: Instant) {
        self.last_now = Some(self.last_now.map_or(now, |t| t.max(now)));
        self.bucket.refill(now);
        // The safety net: never hold more than MAX_BACKLOG_S of new video.
        while self.backlog_bits > self.rate * MAX_BACKLOG_S {
            let Some(old) = self.frames.pop_front() else { break };
            self.backlog_bits -= rtp_bits(&old);
        }
        while self
            .repairs
            .front()
            .is_some_and(|r| now.saturating_duration_since(r.now) > REPAIR_STALE)
        {
            let stale = self.repairs.pop_front().expect("front just checked");
            self.backlog_bits = (self.backlog_bits - rtp_bits(&stale)).max(0.0);
            SessionStats::add(&self.counts.video_repairs_stale, 1);
        }
        loop {
            let repair = !self.repairs.is_empty();
            if !repair && self.probe_held(now).is_some() {
                break;
            }
            let queue = if repair { &mut self.repairs } else { &mut self.frames };
            let Some(head) = queue.front() else { break };
            let bits = rtp_bits(head);
            // A bit of slack: the refill is float arithmetic over nanoseconds.
            if !self.bucket.can_release((bits - 1.0).max(0.0)) {
                break;
            }
            let mut packet = queue.pop_front().expect("front just checked");
            self.bucket.consume(bits);
            self.sent.push_back((now, bits));
            if repair {
                self.repairs_sent.push_back((now, bits));
            } else {
                self.last_video_out = Some(now);
                if is_tail_probe(&packet) {
                    SessionStats::add(&self.counts.video_tail_probes, 1);
                }
            }
            self.backlog_bits = (self.backlog_bits - bits).max(0.0);
            packet.now = now;
            self.stamp(&mut packet, now);
            self.released.push_back(packet);
        }
        self.shared
            .backlog_bits
            .store(self.backlog_bits as u64, Ordering::Relaxed);
        while self
            .sent
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > SENT_WINDOW)
        {
            self.sent.pop_front();
        }
        while self
            .repairs_sent
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > SENT_WINDOW)
        {
            self.repairs_sent.pop_front();
        }
        store(&self.shared.sent_bps, rate(&self.sent, now, SENT_WINDOW).unwrap_or(0.0));
    }

    /// Until when the tail probe at the head of the video queue waits (see [`TAIL_PROBE_DELAY`]),
    /// if it waits at `now`: not once the next picture is queued behind it.
    fn probe_held(&self, now: Instant) -> Option<Instant> {
        let head = self.frames.front()?;
        if self.frames.len() > 1 || !is_tail_probe(head) {
            return None;
        }
        let due = self.last_video_out.unwrap_or(head.now).max(head.now) + TAIL_PROBE_DELAY;
        (due > now).then_some(due)
    }

    /// Whether `repair` (on `ssrc`) is the first resend of its packet within a round trip. A
    /// receiver asks again for a packet whose repair is still on its way (aiortc re-sends its whole
    /// missing list on every new gap; a browser every ~round trip): a second copy sent before the
    /// first could have arrived is wasted link, as libwebrtc's sender also judges. On a path
    /// without a queue "could have arrived" is judged by the least round trip lately, not the last
    /// one measured: single round trips vary 0-60 ms around a least of ~15 with jitter, and a
    /// re-ask from aiortc (which comes only with the next new gap) dropped because one report read
    /// long cost the frame another round. Behind a queue the last round trip holds: the first
    /// copy waits in that queue, and a second sent sooner only lengthens it.
    fn first_repair_this_round_trip(&mut self, ssrc: u32, repair: &TaggedPacket, now: Instant) -> bool {
        let Packet::Rtp(rtp) = &repair.message.packet else {
            return true;
        };
        let original = if self.rtx_ssrcs.contains(&ssrc) {
            match rtp.payload.get(..2) {
                Some(osn) => u16::from_be_bytes([osn[0], osn[1]]),
                None => return true,
            }
        } else {
            rtp.header.sequence_number
        };
        let least = self.shared.least_rtt().filter(|_| self.shared.queue_free());
        let rtt = least.or(self.shared.rtt()).unwrap_or_default();
        if self
            .resent
            .get(&(ssrc, original))
            .is_some_and(|at| now.saturating_duration_since(*at) < rtt)
        {
            return false;
        }
        if self.resent.len() >= 1024 {
            self.resent
                .retain(|_, at| now.saturating_duration_since(*at) < Duration::from_secs(1));
        }
        self.resent.insert((ssrc, original), now);
        true
    }

    fn on_report_blocks(&mut self, now: Instant, blocks: &[ReceptionReport]) {
        for block in blocks {
            if self.rtx_ssrcs.contains(&block.ssrc)
                || (!self.video.contains_key(&block.ssrc) && !self.audio.contains(&block.ssrc))
            {
                continue;
            }
            if self.video.contains_key(&block.ssrc) {
                self.shared.on_loss(block.fraction_lost);
            }
            if block.last_sender_report == 0 {
                continue;
            }
            if let Some((_, sent)) = self
                .reports_sent
                .iter()
                .find(|(mid, _)| *mid == block.last_sender_report)
            {
                let held = Duration::from_secs_f64(f64::from(block.delay) / 65536.0);
                let rtt = now.saturating_duration_since(*sent).saturating_sub(held);
                let ms = (rtt.as_millis() as u32).max(1);
                while self
                    .rtts
                    .front()
                    .is_some_and(|(t, _)| now.saturating_duration_since(*t) > LEAST_RTT_WINDOW)
                {
                    self.rtts.pop_front();
                }
                self.rtts.push_back((now, ms));
                let mut least = self.rtts.iter().map(|(_, ms)| *ms).min().unwrap_or(ms);
                let seed = self.shared.ice_rtt_ms.load(Ordering::Relaxed);
                if seed != 0 && now.saturating_duration_since(self.shared.epoch) < LEAST_RTT_WINDOW {
                    least = least.min(seed);
                }
                self.shared.on_rtt(ms, least);
            }
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for CcPacer {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for p in packets {
                let any = p.as_any();
                if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>() {
                    self.shared.on_remb(msg.now, f64::from(remb.bitrate));
                } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                    self.on_report_blocks(msg.now, &rr.reports);
                } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
                    self.on_report_blocks(msg.now, &sr.reports);
                }
            }
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let now = msg.now;
        let ssrc = match &msg.message.packet {
            Packet::Rtcp(packets) => {
                for p in packets {
                    if let Some(sr) = p.as_any().downcast_ref::<SenderReport>() {
                        self.reports_sent.push_back(((sr.ntp_time >> 16) as u32, now));
                        if self.reports_sent.len() > 32 {
                            self.reports_sent.pop_front();
                        }
                    }
                }
                self.writes.push_back(msg);
                return Ok(());
            }
            Packet::Rtp(rtp) => rtp.header.ssrc,
            _ => {
                self.writes.push_back(msg);
                return Ok(());
            }
        };
        self.follow(now);
        self.bucket.refill(now);
        if !self.video.contains_key(&ssrc) {
            // Audio (and anything unknown) is counted but never waits: a keyframe queued ahead of
            // it would hold the voice for its whole drain time.
            self.bucket.consume(rtp_bits(&msg));
            self.writes.push_back(msg);
            return Ok(());
        }
        if msg.message.has(&Attribute::Retransmission) {
            if !self.first_repair_this_round_trip(ssrc, &msg, now) {
                return Ok(());
            }
            self.backlog_bits += rtp_bits(&msg);
            SessionStats::add(&self.counts.video_repairs_out, 1);
            // On a link that loses more than one packet in twenty, a retransmission is lost often
            // enough that the frame waits another round trip (and a receiver that asks only once,
            // as aiortc does, freezes until its buffer overflows): send it twice. Not while the
            // path shows a queue: loss behind one is our own rate overflowing it (a capped
            // downlink's tail drops read as 5-20 % loss), which the estimators answer by lowering
            // the rate, and a second copy only adds to the overflow.
            if self.shared.loses_on_its_own() {
                self.backlog_bits += rtp_bits(&msg);
                self.repairs.push_back(TaggedPacket {
                    now: msg.now,
                    transport: msg.transport,
                    message: msg.message.clone(),
                });
            }
            self.repairs.push_back(msg);
        } else {
            self.backlog_bits += rtp_bits(&msg);
            self.frames.push_back(msg);
        }
        self.release(now);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front().or_else(|| self.released.pop_front())
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        self.follow(now);
        self.release(now);
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let head = self.repairs.front().or_else(|| self.frames.front())?;
        let mut at = self.bucket.releasable_at(rtp_bits(head))?;
        if self.repairs.is_empty() {
            if let Some(due) = self.last_now.and_then(|now| self.probe_held(now)) {
                at = at.max(due);
            }
        }
        Some(match self.last_now {
            Some(last) if at <= last => last + Duration::from_micros(200),
            _ => at,
        })
    }
}

impl Interceptor for CcPacer {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if info.mime_type.to_ascii_lowercase().starts_with("video/") {
            let abs = info
                .rtp_header_extensions
                .iter()
                .find(|e| e.uri == rtc::sdp::extmap::ABS_SEND_TIME_URI)
                .and_then(|e| u8::try_from(e.id).ok())
                .filter(|id| *id != 0);
            self.video.insert(info.ssrc, abs);
            if let Some(rtx) = info.ssrc_rtx {
                // Repairs on the RTX stream are video too: paced, and stamped for the REMB
                // estimate (they are bytes the path carries).
                self.video.insert(rtx, abs);
                self.rtx_ssrcs.insert(rtx);
            }
        } else {
            self.audio.insert(info.ssrc);
        }
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.video.remove(&info.ssrc);
        if let Some(rtx) = info.ssrc_rtx {
            self.video.remove(&rtx);
            self.rtx_ssrcs.remove(&rtx);
        }
        self.audio.remove(&info.ssrc);
    }

    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod test {
    use super::*;
    use rtc::interceptor::AttributedPacket;
    use rtc::rtp;
    use rtc::shared::{TransportContext, TransportMessage};

    const AUDIO: u32 = 1;
    const VIDEO: u32 = 2;

    fn rtp_packet(now: Instant, ssrc: u32, seq: u16, size: usize) -> TaggedPacket {
        let packet = rtp::Packet {
            header: rtp::header::Header {
                ssrc,
                sequence_number: seq,
                ..Default::default()
            },
            payload: Bytes::from(vec![0u8; size]),
        };
        TransportMessage {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtp(packet)),
        }
    }

    fn pacer() -> (Arc<CcShared>, CcPacer) {
        let shared = CcShared::new(2_000_000.0);
        let mut pacer = CcPacer::new(shared.clone(), Arc::default());
        pacer.bind_local_stream(&StreamInfo {
            ssrc: AUDIO,
            mime_type: "audio/opus".into(),
            ..Default::default()
        });
        pacer.bind_local_stream(&StreamInfo {
            ssrc: VIDEO,
            mime_type: "video/VP8".into(),
            rtp_header_extensions: vec![rtc::interceptor::RTPHeaderExtension {
                uri: rtc::sdp::extmap::ABS_SEND_TIME_URI.into(),
                id: 3,
            }],
            ..Default::default()
        });
        (shared, pacer)
    }

    /// Our sender report `mid` (its NTP middle 32 bits) left at `at`; the peer's receiver report
    /// on it came back `rtt` later, having been held 0 s by the peer.
    fn receiver_report(p: &mut CcPacer, mid: u32, at: Instant, rtt: u64) {
        p.reports_sent.push_back((mid, at));
        let block = ReceptionReport {
            ssrc: VIDEO,
            last_sender_report: mid,
            ..Default::default()
        };
        p.on_report_blocks(at + Duration::from_millis(rtt), &[block]);
    }

    fn drain(p: &mut CcPacer) -> Vec<TaggedPacket> {
        std::iter::from_fn(|| p.poll_write()).collect()
    }

    fn seq(p: &TaggedPacket) -> u16 {
        match &p.message.packet {
            Packet::Rtp(r) => r.header.sequence_number,
            _ => unreachable!(),
        }
    }

    #[test]
    fn audio_never_waits_behind_a_keyframe() {
        let (shared, mut p) = pacer();
        let t0 = Instant::now();
        // A 30-packet keyframe: only a burst's worth leaves at once.
        for i in 0..30 {
            p.handle_write(rtp_packet(t0, VIDEO, i, 1100)).unwrap();
        }
        let first = drain(&mut p);
        assert!(first.len() < 10, "video is paced ({} left at once)", first.len());
        assert!(shared.backlog_s() > 0.1, "the backlog is published");
        p.handle_write(rtp_packet(t0, AUDIO, 0, 100)).unwrap();
        let out = drain(&mut p);
        assert_eq!(out.len(), 1, "the audio packet went out at once");
        assert!(matches!(&out[0].message.packet, Packet::Rtp(r) if r.header.ssrc == AUDIO));
        // The rest follows at the pacing rate, stamped with their release instant.
        let mut now = t0;
        let mut sent = first.len();
        while sent < 30 {
            now = p.poll_timeout().expect("video is queued");
            p.handle_timeout(now).unwrap();
            for packet in drain(&mut p) {
                assert_eq!(packet.now, now);
                sent += 1;
            }
        }
        let took = now - t0;
        let expected = 30.0 * 1112.0 * 8.0 / (INITIAL_BPS * PACE_FACTOR);
        assert!((took.as_secs_f64() - expected).abs() < 0.1, "paced over {took:?}");
        assert!(shared.backlog_s() < 1e-9);
    }

    #[test]
    fn a_remb_above_what_we_send_never_lowers_the_budget_one_below_does() {
        let (shared, mut p) = pacer();
        let t0 = shared.epoch;
        // 200 kbit/s of video for two seconds: an easy picture, far under its 600 kbit/s budget.
        for (seq, ms) in (0..2_000u64).step_by(40).enumerate() {
            let now = t0 + Duration::from_millis(ms);
            p.handle_write(rtp_packet(now, VIDEO, seq as u16, 1_000 - 12)).unwrap();
            p.handle_timeout(now).unwrap();
            drain(&mut p);
        }
        let now = t0 + Duration::from_secs(2);
        let sent = load(&shared.sent_bps);
        assert!((150_000.0..250_000.0).contains(&sent), "sent {sent}");
        // aiortc's REMB: 1.5x what it receives. Application-limited: the budget stays.
        shared.on_remb(now, 1.5 * sent);
        assert!((shared.budget(now) - INITIAL_BPS).abs() < 1.0, "{}", shared.budget(now));
        // About what arrives (aiortc before it has seen more): still application-limited.
        shared.on_remb(now, 0.99 * sent);
        assert!((shared.budget(now) - INITIAL_BPS).abs() < 1.0, "{}", shared.budget(now));
        shared.on_remb(now, 900_000.0);
        assert!((shared.budget(now) - 900_000.0).abs() < 1.0, "it rises with the REMB");
        // Below what we send: congestion, followed at once.
        shared.on_remb(now, 0.7 * sent);
        assert!((shared.budget(now) - 0.7 * sent).abs() < 1.0, "{}", shared.budget(now));
    }

    #[test]
    fn a_remb_drop_is_followed_only_with_a_queue_or_loss_on_the_path() {
        let shared = CcShared::new(1_500_000.0);
        let now = shared.epoch + Duration::from_secs(3);
        store(&shared.sent_bps, 500_000.0);
        shared.rtt_ms.store(10, Ordering::Relaxed);
        shared.min_rtt_ms.store(10, Ordering::Relaxed);
        // A receiver short of CPU: overuse reported, but the round trip is its least, no loss.
        shared.on_remb(now, 300_000.0);
        assert!((shared.budget(now) - INITIAL_BPS).abs() < 1.0, "{}", shared.budget(now));
        // A queue on the path (the round trip 60 ms above its least): followed.
        shared.rtt_ms.store(70, Ordering::Relaxed);
        shared.on_remb(now, 300_000.0);
        assert!((shared.budget(now) - 300_000.0).abs() < 1.0, "{}", shared.budget(now));
        // Loss without a queue: followed too.
        let fresh = CcShared::new(1_500_000.0);
        store(&fresh.sent_bps, 500_000.0);
        fresh.rtt_ms.store(10, Ordering::Relaxed);
        fresh.min_rtt_ms.store(10, Ordering::Relaxed);
        fresh.on_loss(26);
        fresh.on_remb(now, 250_000.0);
        assert!((fresh.budget(now) - 250_000.0).abs() < 1.0, "{}", fresh.budget(now));
    }

    #[test]
    fn a_standing_queue_in_the_round_trip_clamps_the_remb_until_it_drains() {
        let shared = CcShared::new(1_500_000.0);
        let now = shared.epoch + Duration::from_secs(5);
        store(&shared.sent_bps, 600_000.0);
        shared.on_remb(now, 500_000.0);
        shared.on_rtt(20, 20);
        assert!((shared.budget(now) - 500_000.0).abs() < 1.0);
        // One round trip 150 ms above the least: jitter or a busy receiver, not yet a queue.
        shared.on_rtt(170, 20);
        assert!((shared.budget(now) - 500_000.0).abs() < 1.0, "{}", shared.budget(now));
        // Two in a row: a standing queue. 0.7x what got through: 600 kbit/s sent, 10 % lost.
        shared.on_loss(26);
        shared.on_rtt(320, 20);
        let through = 600_000.0 * (1.0 - 26.0 / 256.0);
        assert!(
            (shared.budget(now) - 0.7 * through).abs() < 1.0,
            "{}",
            shared.budget(now)
        );
        // A REMB at what arrives (a full queue shows no delay gradient) does not lift it...
        shared.on_remb(now, 500_000.0);
        assert!(
            (shared.budget(now) - 0.7 * through).abs() < 1.0,
            "{}",
            shared.budget(now)
        );
        // ... one lower lowers it, and the next round trip still queued clamps again.
        shared.on_remb(now, 300_000.0);
        assert!((shared.budget(now) - 300_000.0).abs() < 1.0);
        store(&shared.sent_bps, 300_000.0);
        shared.on_loss(0);
        shared.on_rtt(200, 20);
        assert!((shared.budget(now) - 210_000.0).abs() < 1.0, "{}", shared.budget(now));
        // 80 ms above the least: not drained yet, the clamp holds.
        shared.on_rtt(100, 20);
        shared.on_remb(now, 400_000.0);
        assert!((shared.budget(now) - 210_000.0).abs() < 1.0, "{}", shared.budget(now));
        // Drained: REMBs lift the budget again.
        shared.on_rtt(30, 20);
        shared.on_remb(now, 400_000.0);
        assert!((shared.budget(now) - 400_000.0).abs() < 1.0, "{}", shared.budget(now));
    }

    #[test]
    fn the_least_round_trip_is_the_least_of_the_last_thirty_seconds() {
        let (shared, mut p) = pacer();
        let t0 = shared.epoch;
        receiver_report(&mut p, 1, t0, 20);
        receiver_report(&mut p, 2, t0 + Duration::from_secs(10), 80);
        assert_eq!(shared.min_rtt_ms.load(Ordering::Relaxed), 20);
        // A new route, 80 ms long: 20 ms is forgotten after 30 s, not read as a queue for good.
        receiver_report(&mut p, 3, t0 + Duration::from_secs(31), 85);
        assert_eq!(shared.min_rtt_ms.load(Ordering::Relaxed), 80);
        receiver_report(&mut p, 4, t0 + Duration::from_secs(41), 90);
        assert_eq!(shared.min_rtt_ms.load(Ordering::Relaxed), 85);
        assert!(shared.queue_free());
    }

    #[test]
    fn a_queue_filled_before_the_first_round_trip_is_measured_against_the_connectivity_checks() {
        let (shared, mut p) = pacer();
        let t0 = shared.epoch;
        // Without the checks' round trip, a full 300 ms queue from the start is the least.
        receiver_report(&mut p, 1, t0 + Duration::from_secs(2), 304);
        receiver_report(&mut p, 2, t0 + Duration::from_secs(3), 310);
        assert!(shared.queue_free(), "nothing to tell the queue by");
        // With it (16 ms when the connection came up), the same reports are a standing queue.
        let (shared, mut p) = pacer();
        shared.seed_rtt(Duration::from_millis(16));
        store(&shared.sent_bps, 800_000.0);
        shared.on_remb(t0 + Duration::from_secs(3), 700_000.0);
        receiver_report(&mut p, 1, t0 + Duration::from_secs(2), 304);
        receiver_report(&mut p, 2, t0 + Duration::from_secs(3), 310);
        assert_eq!(shared.min_rtt_ms.load(Ordering::Relaxed), 16);
        assert!(!shared.queue_free());
        let budget = shared.budget(t0 + Duration::from_secs(4));
        assert!(
            (budget - 0.7 * 800_000.0).abs() < 1.0,
            "0.7x what got through: {budget}"
        );
        // After LEAST_RTT_WINDOW the checks no longer count: the reports' own least does.
        receiver_report(&mut p, 3, t0 + Duration::from_secs(40), 30);
        assert_eq!(shared.min_rtt_ms.load(Ordering::Relaxed), 30);
    }

    #[test]
    fn repairs_that_waited_behind_other_repairs_too_long_are_dropped() {
        let (shared, mut p) = pacer();
        shared.rtt_ms.store(50, Ordering::Relaxed);
        let t0 = Instant::now();
        // A second of repairs asked at once: 200 x 1100 bytes, 1.8 Mbit, three times the pace.
        for seq in 0..200 {
            let mut r = rtp_packet(t0, VIDEO, seq, 1100);
            r.message.add(Attribute::Retransmission);
            p.handle_write(r).unwrap();
        }
        let mut sent = drain(&mut p).len();
        let mut now = t0;
        while let Some(at) = p.poll_timeout() {
            now = at;
            p.handle_timeout(now).unwrap();
            sent += drain(&mut p).len();
        }
        let stale = p.counts.video_repairs_stale.load(Ordering::Relaxed) as usize;
        // What the pace carries in 300 ms went (0.3 x 750 kbit/s / 8.9 kbit a packet: ~25); the
        // rest was dropped, and nothing was held past 300 ms.
        assert!((20..=30).contains(&sent), "{sent} sent");
        assert_eq!(sent + stale, 200);
        assert!(now - t0 <= REPAIR_STALE + Duration::from_millis(20), "{:?}", now - t0);
        assert!(shared.backlog_s() < 1e-9, "the backlog is emptied with them");
    }

    #[test]
    fn a_link_is_lossy_from_five_percent_loss_until_two() {
        let shared = CcShared::new(1_500_000.0);
        assert!(!shared.lossy());
        // Around 5 % (13/256): at it, not yet lossy; one report above, lossy.
        shared.on_loss(13);
        assert!(!shared.lossy());
        shared.on_loss(14);
        assert!(shared.lossy());
        // A link losing one in twenty reads 3-8 % report to report: it stays lossy...
        for q8 in [8, 20, 6, 11, 7] {
            shared.on_loss(q8);
            assert!(shared.lossy(), "{q8}/256");
        }
        // ... until a report shows 2 % or less.
        shared.on_loss(5);
        assert!(!shared.lossy());
        shared.on_loss(10);
        assert!(!shared.lossy(), "below 5 % it does not turn lossy again");
    }

    #[test]
    fn heavy_loss_is_the_last_report_above_ten_percent_on_a_lossy_link() {
        let shared = CcShared::new(1_500_000.0);
        shared.on_rtt(15, 15);
        shared.on_loss(40);
        assert!(shared.lossy() && shared.heavy_loss(), "15 %");
        shared.on_loss(26);
        assert!(shared.lossy() && !shared.heavy_loss(), "10 %: lossy, not heavy");
        shared.on_loss(60);
        assert!(shared.heavy_loss(), "23 %: heavy again at once");
        shared.on_rtt(120, 15);
        assert!(
            shared.lossy() && !shared.heavy_loss(),
            "behind a queue: our own overflow"
        );
        shared.on_rtt(15, 15);
        shared.on_loss(0);
        assert!(!shared.lossy() && !shared.heavy_loss());
    }

    #[test]
    fn a_packet_asked_for_again_within_a_round_trip_is_resent_once() {
        let (shared, mut p) = pacer();
        shared.rtt_ms.store(100, Ordering::Relaxed);
        let t0 = Instant::now();
        // Packets sent for requests (ms after `from`, sequence number).
        let answered = |p: &mut CcPacer, from: Instant, asks: &[(u64, u16)]| {
            let mut sent = 0;
            for &(ms, seq) in asks {
                let at = from + Duration::from_millis(ms);
                let mut repair = rtp_packet(at, VIDEO, seq, 1100);
                repair.message.add(Attribute::Retransmission);
                p.handle_write(repair).unwrap();
                p.handle_timeout(at + Duration::from_millis(5)).unwrap();
                sent += drain(p).len();
            }
            sent
        };
        // 7 at 0 ms and again at 120 ms (a round trip later), 8 once; 7 at 40 and 90 ms dropped.
        let asks = [(0, 7), (40, 7), (40, 8), (90, 7), (120, 7)];
        assert_eq!(answered(&mut p, t0, &asks), 3);
        assert_eq!(p.counts.video_repairs_out.load(Ordering::Relaxed), 3);
        // The last report read 40 ms, the least lately 30 (no queue): a re-ask 40 ms on is
        // answered.
        shared.rtt_ms.store(40, Ordering::Relaxed);
        shared.min_rtt_ms.store(30, Ordering::Relaxed);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            answered(&mut p, t1, &[(0, 9), (20, 9), (40, 9)]),
            2,
            "9 at 0 and 40 ms; at 20 ms the first copy could not have arrived"
        );
        // Behind a queue (the last round trip 200 ms, 170 above the least) the last one holds.
        shared.rtt_ms.store(200, Ordering::Relaxed);
        let t2 = t1 + Duration::from_secs(1);
        assert_eq!(
            answered(&mut p, t2, &[(0, 10), (60, 10), (210, 10)]),
            2,
            "10 at 0 and 210 ms"
        );
    }

    #[test]
    fn repairs_go_twice_while_the_link_is_lossy() {
        let (shared, mut p) = pacer();
        shared.rtt_ms.store(10, Ordering::Relaxed);
        shared.min_rtt_ms.store(10, Ordering::Relaxed);
        let t0 = Instant::now();
        let mut sent = |shared: &CcShared, fraction: u8, i: u16| {
            shared.on_loss(fraction);
            let at = t0 + Duration::from_millis(100 * u64::from(i));
            let mut r = rtp_packet(at, VIDEO, i, 1100);
            r.message.add(Attribute::Retransmission);
            p.handle_write(r).unwrap();
            p.handle_timeout(at + Duration::from_millis(20)).unwrap();
            drain(&mut p).iter().map(seq).collect::<Vec<_>>()
        };
        assert_eq!(sent(&shared, 0, 1), [1], "a clean link: once");
        assert_eq!(sent(&shared, 26, 2), [2, 2], "10 % lost: twice");
        assert_eq!(sent(&shared, 8, 3), [3, 3], "3 % after 10 %: still twice");
        assert_eq!(sent(&shared, 3, 4), [4], "1 %: once again");
        // Loss behind a queue (the round trip 80 ms above its least) is our rate: once.
        shared.rtt_ms.store(90, Ordering::Relaxed);
        assert_eq!(sent(&shared, 40, 5), [5], "15 % lost behind a queue: once");
        shared.rtt_ms.store(15, Ordering::Relaxed);
        assert_eq!(
            sent(&shared, 40, 6),
            [6, 6],
            "the queue drained, the loss goes on: twice"
        );
    }

    #[test]
    fn a_tail_probe_waits_after_its_picture_unless_the_next_one_is_queued() {
        let (_, mut p) = pacer();
        let t0 = Instant::now();
        let probe = |at: Instant, seq: u16| {
            let mut packet = rtp_packet(at, VIDEO, seq, 0);
            if let Packet::Rtp(rtp) = &mut packet.message.packet {
                rtp.header.padding = true;
            }
            packet
        };
        // A picture of two packets, then its probe: the picture leaves, the probe waits.
        p.handle_write(rtp_packet(t0, VIDEO, 1, 500)).unwrap();
        p.handle_write(rtp_packet(t0, VIDEO, 2, 500)).unwrap();
        p.handle_write(probe(t0, 3)).unwrap();
        assert_eq!(drain(&mut p).iter().map(seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(p.poll_timeout(), Some(t0 + TAIL_PROBE_DELAY), "due after the picture");
        // A repair meanwhile goes at once, and does not move the probe.
        let mut repair = rtp_packet(t0 + Duration::from_millis(5), VIDEO, 1, 500);
        repair.message.add(Attribute::Retransmission);
        p.handle_write(repair).unwrap();
        assert_eq!(drain(&mut p).iter().map(seq).collect::<Vec<_>>(), [1]);
        p.handle_timeout(t0 + Duration::from_millis(10)).unwrap();
        assert!(drain(&mut p).is_empty(), "10 ms on, the probe still waits");
        p.handle_timeout(t0 + TAIL_PROBE_DELAY).unwrap();
        assert_eq!(drain(&mut p).iter().map(seq).collect::<Vec<_>>(), [3]);
        assert_eq!(p.counts.video_tail_probes.load(Ordering::Relaxed), 1);
        // A probe with the next picture already behind it goes with it, in order.
        let t1 = t0 + Duration::from_millis(33);
        p.handle_write(rtp_packet(t1, VIDEO, 4, 500)).unwrap();
        p.handle_write(probe(t1, 5)).unwrap();
        p.handle_write(rtp_packet(t1, VIDEO, 6, 500)).unwrap();
        p.handle_timeout(t1 + Duration::from_millis(1)).unwrap();
        assert_eq!(drain(&mut p).iter().map(seq).collect::<Vec<_>>(), [4, 5, 6]);
    }

    #[test]
    fn gaps_are_asked_for_at_once_unless_a_queue_is_seen() {
        let shared = CcShared::new(1_500_000.0);
        assert!(shared.asks_at_once(), "nothing measured");
        shared.on_rtt(15, 15);
        assert!(shared.asks_at_once(), "no queue");
        shared.on_rtt(120, 15);
        assert!(!shared.asks_at_once(), "a queue");
    }

    #[test]
    fn tail_probes_only_on_a_lossy_link_without_a_queue() {
        let shared = CcShared::new(1_500_000.0);
        shared.on_rtt(15, 15);
        assert!(!shared.loses_on_its_own(), "a clean link");
        shared.on_loss(20);
        assert!(shared.loses_on_its_own(), "8 % lost, no queue");
        shared.on_rtt(120, 15);
        assert!(!shared.loses_on_its_own(), "behind a queue: our own overflow");
    }

    #[test]
    fn retransmissions_go_before_new_video() {
        let (_, mut p) = pacer();
        let t0 = Instant::now();
        for i in 0..30 {
            p.handle_write(rtp_packet(t0, VIDEO, i, 1100)).unwrap();
        }
        drain(&mut p);
        let mut repair = rtp_packet(t0, VIDEO, 1000, 1100);
        repair.message.add(Attribute::Retransmission);
        p.handle_write(repair).unwrap();
        let now = p.poll_timeout().unwrap();
        p.handle_timeout(now).unwrap();
        let out = drain(&mut p);
        assert_eq!(seq(&out[0]), 1000, "the repair jumped the queue");
    }

    #[test]
    fn video_carries_abs_send_time() {
        let (shared, mut p) = pacer();
        let at = shared.epoch + Duration::from_millis(1500);
        p.handle_write(rtp_packet(at, VIDEO, 0, 100)).unwrap();
        let out = drain(&mut p);
        let Packet::Rtp(r) = &out[0].message.packet else {
            unreachable!()
        };
        let v = r.header.get_extension(3).expect("stamped");
        let ticks = u32::from_be_bytes([0, v[0], v[1], v[2]]);
        assert_eq!(ticks, (1.5 * f64::from(1 << 18)) as u32);
    }

    #[test]
    fn remb_and_receiver_reports_set_the_budget() {
        let (shared, mut p) = pacer();
        let now = shared.epoch + Duration::from_millis(100);
        assert!(
            (shared.budget(now) - INITIAL_BPS).abs() < 1.0,
            "before feedback: the initial rate"
        );
        let remb = ReceiverEstimatedMaximumBitrate {
            sender_ssrc: 9,
            bitrate: 300_000.0,
            ssrcs: vec![VIDEO],
        };
        // We sent 500 kbit/s: a 300 kbit/s REMB says the link carries less.
        store(&shared.sent_bps, 500_000.0);
        let mut msg = rtp_packet(now, VIDEO, 0, 0);
        msg.message.packet = Packet::Rtcp(vec![Box::new(remb)]);
        p.handle_read(msg).unwrap();
        assert!(p.poll_read().is_some(), "observed, not consumed");
        assert!((shared.budget(now) - 300_000.0).abs() < 1.0);
        assert!(
            (shared.budget(now + Duration::from_secs(5)) - 300_000.0).abs() < 1.0,
            "once the REMBs stop, the receiver reports carry on from the last one, not the initial rate"
        );
        // A REMB after the pause that shows no congestion raises that budget; it does not
        // restore the initial rate.
        let later = now + Duration::from_secs(5);
        store(&shared.sent_bps, 250_000.0);
        shared.on_remb(later, 0.99 * 250_000.0);
        assert!(
            (shared.budget(later) - 300_000.0).abs() < 1.0,
            "{}",
            shared.budget(later)
        );
        // No REMB any more: 25 % loss in receiver reports brings the rate down.
        let rr = ReceiverReport {
            ssrc: 9,
            reports: vec![ReceptionReport {
                ssrc: VIDEO,
                fraction_lost: 64,
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut msg = rtp_packet(now, VIDEO, 0, 0);
        msg.message.packet = Packet::Rtcp(vec![Box::new(rr)]);
        p.handle_read(msg).unwrap();
        assert!(shared.budget(now + Duration::from_secs(10)) < 300_000.0 * 0.9);
    }

    #[test]
    fn round_trip_time_from_our_sender_reports() {
        let (shared, mut p) = pacer();
        let t0 = Instant::now();
        let sr = SenderReport {
            ssrc: VIDEO,
            ntp_time: 0x1234_5678_9abc_0000,
            ..Default::default()
        };
        let mut msg = rtp_packet(t0, VIDEO, 0, 0);
        msg.message.packet = Packet::Rtcp(vec![Box::new(sr)]);
        p.handle_write(msg).unwrap();
        let rr = ReceiverReport {
            ssrc: 9,
            reports: vec![ReceptionReport {
                ssrc: VIDEO,
                last_sender_report: 0x5678_9abc,
                delay: 65536 / 10, // held 100 ms at the peer
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut msg = rtp_packet(t0 + Duration::from_millis(180), VIDEO, 0, 0);
        msg.message.packet = Packet::Rtcp(vec![Box::new(rr)]);
        p.handle_read(msg).unwrap();
        let rtt = shared.rtt().expect("measured").as_millis();
        assert!((79..=81).contains(&rtt), "{rtt} ms");
    }

    fn report(id: u64, departure: Instant, arrival_ms: u64, arrived: bool) -> PacketReport {
        PacketReport {
            ssrc: VIDEO,
            id,
            rtp_sequence_number: id as u16,
            is_twcc: true,
            twcc_sequence_number: id as u16,
            size: 1000,
            arrived,
            departure,
            arrival: arrived.then(|| Duration::from_millis(arrival_ms)),
            ecn: rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn::default(),
        }
    }

    /// Feeds `secs` of 100 packets a second of 1000 bytes (800 kbit/s sent), each delayed by
    /// `delay(i)` ms, every 10th lost when `lossy`; returns the published estimate.
    fn run(
        est: &mut EngineEstimator,
        t0: Instant,
        from: u64,
        secs: u64,
        delay: impl Fn(u64) -> u64,
        lossy: bool,
    ) -> f64 {
        for i in from..from + secs * 100 {
            let sent = t0 + Duration::from_millis(i * 10);
            let arrived = !(lossy && i % 10 == 0);
            est.on_reports(
                sent + Duration::from_millis(60),
                &[report(i, sent, i * 10 + 30 + delay(i), arrived)],
            );
        }
        est.target_bitrate()
    }

    #[test]
    fn the_estimate_never_runs_far_past_what_got_through() {
        let shared = CcShared::new(10_000_000.0);
        let mut est = EngineEstimator::new(shared.clone());
        let t0 = shared.epoch;
        let bps = run(&mut est, t0, 0, 30, |_| 0, false);
        assert!(
            bps <= 1.5 * 800_000.0 + 50_000.0 + 1.0,
            "capped by the acked rate: {bps}"
        );
        assert!(bps > 800_000.0, "yet above it, to find more: {bps}");
    }

    #[test]
    fn a_standing_queue_is_drained() {
        let shared = CcShared::new(10_000_000.0);
        let mut est = EngineEstimator::new(shared.clone());
        let t0 = shared.epoch;
        run(&mut est, t0, 0, 5, |_| 0, false);
        // The queue fills to 300 ms over a second and stays full: no gradient, a standing queue.
        let bps = run(&mut est, t0, 500, 4, |i| ((i - 500) * 3).min(300), false);
        assert!(shared.queue_ms() >= 250, "queue seen: {} ms", shared.queue_ms());
        assert!(bps <= 0.7 * 800_000.0 + 1.0, "clamped below the acked rate: {bps}");
    }

    #[test]
    fn loss_without_a_queue_is_not_congestion() {
        let shared = CcShared::new(10_000_000.0);
        let mut est = EngineEstimator::new(shared.clone());
        let bps = run(&mut est, shared.epoch, 0, 20, |_| 0, true);
        assert!(bps >= INITIAL_BPS, "10 % random loss kept the rate: {bps}");
    }
}
