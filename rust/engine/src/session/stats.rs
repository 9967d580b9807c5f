//! Counters of one session, readable at any time without a lock.

use std::sync::atomic::{AtomicU64, Ordering};

use gradio_webrtc_media::cadence::CadenceCounts;
use gradio_webrtc_media::inbound::InboundCounts;

/// Counters of one session. Transports count what they receive and send; the session counts what
/// reaches the handler and what the pacer does.
#[derive(Debug, Default)]
pub struct SessionStats {
    /// Input frames handed to the handler's queue.
    pub frames_in: AtomicU64,
    /// Input frames dropped because the handler's queue was full (10 s behind).
    pub frames_dropped: AtomicU64,
    /// Quiet input frames dropped because they stood in the handler's queue beyond its budget
    /// (audio that piled up before the handler started, or while it was slow).
    pub input_frames_trimmed: AtomicU64,
    /// Audio packets received from the network and decoded.
    pub audio_packets_in: AtomicU64,
    /// Padding-only audio packets (bandwidth probes), skipped.
    pub audio_padding_packets: AtomicU64,
    /// Duplicate or late audio packets, dropped.
    pub audio_late_packets: AtomicU64,
    /// Audio packets lost in transit (the sequence numbers and timestamps both say so).
    pub packets_lost: AtomicU64,
    /// Synthetic 20 ms frames (FEC or concealment) standing in for lost or corrupt packets.
    pub audio_frames_concealed: AtomicU64,
    /// Silent frames standing in for the time a DTX sender sent nothing (its user was quiet).
    pub audio_dtx_frames: AtomicU64,
    /// Audio packets sent.
    pub packets_out: AtomicU64,
    /// Packets that carried handler audio.
    pub audio_frames_out: AtomicU64,
    /// Ticks where the handler's audio arrived too late.
    pub underruns: AtomicU64,
    /// Handler frames that missed their 20 ms tick and were sent late (within a short grace).
    pub late_frames: AtomicU64,
    /// Running output streams cut by silence because a frame came later than the grace.
    pub output_gaps: AtomicU64,
    /// Quiet output frames dropped to bring a standing queue back within its latency budget.
    pub output_frames_trimmed: AtomicU64,
    /// Video pictures decoded from the peer.
    pub video_frames_in: AtomicU64,
    /// Decoded pictures replaced by a newer one before the handler took them (latest wins).
    pub video_frames_skipped: AtomicU64,
    /// Video pictures encoded and sent.
    pub video_frames_out: AtomicU64,
    /// Handler pictures not sent because the link could not carry them (congestion control).
    pub video_frames_held_back: AtomicU64,
    /// The width of the last picture sent (scaled down on a narrow link); a gauge.
    pub video_out_width: AtomicU64,
    /// The height of the last picture sent; a gauge.
    pub video_out_height: AtomicU64,
    /// The encoder's target bitrate for the last picture sent (bits per second); a gauge.
    pub video_out_bitrate: AtomicU64,
    /// What congestion control estimates the link to the peer carries (bits per second), as of
    /// the last picture sent; a gauge.
    pub link_estimate: AtomicU64,
    /// Which feedback that estimate follows: 0 none yet, 1 transport-cc (browsers), 2 REMB,
    /// 3 receiver reports; a gauge.
    pub link_feedback: AtomicU64,
    /// Lost video packets this side asked the peer for (NACK; one count per request, so a packet
    /// asked for twice counts twice).
    pub video_nacks_sent: AtomicU64,
    /// Packets that arrived on the peer's RTX stream (RFC 4588): its repairs, and a browser's
    /// bandwidth probes (libwebrtc probes by resending earlier packets there).
    pub video_rtx_in: AtomicU64,
    /// Video packets sent again because the peer asked for them (on the RTX stream when negotiated).
    pub video_repairs_out: AtomicU64,
    /// Of those, repairs dropped after waiting too long behind other repairs (the link could not
    /// carry them; the peer asks again if it still needs them).
    pub video_repairs_stale: AtomicU64,
    /// Tail probes sent after pictures on a lossy link (padding-only packets that let the peer
    /// notice a lost last packet before the next picture comes; `video::RtpPictures`).
    pub video_tail_probes: AtomicU64,
    /// Keyframes this side asked the peer for (PLI): at the start, and when a loss could not be
    /// repaired in time.
    pub video_keyframes_asked: AtomicU64,
    /// Streamed utterance pieces dropped because the handler fell behind (never whole utterances).
    pub speech_pieces_dropped: AtomicU64,
    /// Remote ICE candidates the peer trickled after its offer, given to ICE.
    pub ice_candidates_trickled: AtomicU64,
    /// Whole utterances dropped because the handler fell 16 behind.
    pub utterances_dropped: AtomicU64,
    /// End-of-turn stage: candidate pauses the model was asked about.
    pub turn_checks: AtomicU64,
    /// End-of-turn stage: answers that kept listening (the model said the user was not done).
    pub turns_held: AtomicU64,
    /// End-of-turn stage: checks where the model failed (the pause rule decided).
    pub turn_checks_failed: AtomicU64,
    /// End-of-turn stage: time the model took, summed (microseconds).
    pub turn_check_micros: AtomicU64,
}

impl SessionStats {
    /// Adds `n` to a counter.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Adds what an inbound RTP audio decoder counted since `before`.
    pub(crate) fn count_inbound(&self, before: InboundCounts, now: InboundCounts) {
        Self::add(&self.audio_packets_in, now.decoded - before.decoded);
        Self::add(&self.audio_padding_packets, now.padding - before.padding);
        Self::add(
            &self.audio_late_packets,
            (now.late + now.duplicates) - (before.late + before.duplicates),
        );
        let lost = |c: InboundCounts| c.concealed - c.corrupt + c.unconcealed;
        Self::add(&self.packets_lost, lost(now) - lost(before));
        Self::add(&self.audio_frames_concealed, now.concealed - before.concealed);
        Self::add(&self.audio_dtx_frames, now.dtx_filled - before.dtx_filled);
    }

    /// Adds what the pacer's cadence counted since `before`.
    pub(crate) fn count_cadence(&self, before: CadenceCounts, now: CadenceCounts) {
        Self::add(&self.late_frames, now.late_frames - before.late_frames);
        Self::add(&self.output_gaps, now.gaps - before.gaps);
    }

    /// Every counter by name, for Python and logs.
    #[must_use]
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("frames_in", get(&self.frames_in)),
            ("frames_dropped", get(&self.frames_dropped)),
            ("input_frames_trimmed", get(&self.input_frames_trimmed)),
            ("audio_packets_in", get(&self.audio_packets_in)),
            ("audio_padding_packets", get(&self.audio_padding_packets)),
            ("audio_late_packets", get(&self.audio_late_packets)),
            ("packets_lost", get(&self.packets_lost)),
            ("audio_frames_concealed", get(&self.audio_frames_concealed)),
            ("audio_dtx_frames", get(&self.audio_dtx_frames)),
            ("packets_out", get(&self.packets_out)),
            ("audio_frames_out", get(&self.audio_frames_out)),
            ("underruns", get(&self.underruns)),
            ("late_frames", get(&self.late_frames)),
            ("output_gaps", get(&self.output_gaps)),
            ("output_frames_trimmed", get(&self.output_frames_trimmed)),
            ("video_frames_in", get(&self.video_frames_in)),
            ("video_frames_skipped", get(&self.video_frames_skipped)),
            ("video_frames_out", get(&self.video_frames_out)),
            ("video_frames_held_back", get(&self.video_frames_held_back)),
            ("video_out_width", get(&self.video_out_width)),
            ("video_out_height", get(&self.video_out_height)),
            ("video_out_bitrate", get(&self.video_out_bitrate)),
            ("link_estimate", get(&self.link_estimate)),
            ("link_feedback", get(&self.link_feedback)),
            ("video_nacks_sent", get(&self.video_nacks_sent)),
            ("video_rtx_in", get(&self.video_rtx_in)),
            ("video_repairs_out", get(&self.video_repairs_out)),
            ("video_repairs_stale", get(&self.video_repairs_stale)),
            ("video_tail_probes", get(&self.video_tail_probes)),
            ("video_keyframes_asked", get(&self.video_keyframes_asked)),
            ("speech_pieces_dropped", get(&self.speech_pieces_dropped)),
            ("ice_candidates_trickled", get(&self.ice_candidates_trickled)),
            ("utterances_dropped", get(&self.utterances_dropped)),
            ("turn_checks", get(&self.turn_checks)),
            ("turns_held", get(&self.turns_held)),
            ("turn_checks_failed", get(&self.turn_checks_failed)),
            ("turn_check_micros", get(&self.turn_check_micros)),
        ]
    }
}
