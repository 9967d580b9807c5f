//! Handler audio of any rate and layout → one frame per 20 ms tick, and Opus packets from those.
//!
//! [`OutputQueue`] is the transport-neutral half: it resamples what the handler emits to the
//! transport's rate, cuts it into 20 ms frames and hands out one per tick (the session's pacer
//! calls [`OutputQueue::next_frame`] exactly once per 20 ms of wall-clock time). A handler that
//! yields faster than real time is queued here and played in real time; one that yields slower
//! leaves ticks without a frame, which the transport fills with silence with continuous timestamps
//! (never a burst or a timestamp jump). [`OpusPackets`] is the WebRTC half: frames (or their
//! absence) to Opus payloads.
//!
//! # Standing queues
//!
//! A live producer (an echo, a voice changer) emits one frame per input frame; input and output
//! both run at exactly real time, so frames that pile up once (an input stall followed by a burst)
//! would stay queued forever as added delay. With a latency budget set, the queue depth is watched
//! over a window of ticks: when even its minimum exceeded the budget, that excess is dropped from
//! the head as soon as the frames there are quiet (never speech).

use std::collections::VecDeque;

use crate::framer::Framer;
use crate::opus::OpusEncoder;
use crate::resample::Resampler;
use crate::{Error, WIRE_FRAME};

/// A 20 ms Opus packet of digital silence: TOC config 31 (CELT, fullband, 20 ms), mono, one frame,
/// followed by the two-byte silence frame (RFC 6716 §3.1, §4.3). Sent while idle instead of
/// running the encoder on zeros, which costs CPU for every idle session.
pub const SILENCE_PACKET: [u8; 3] = [0xf8, 0xff, 0xfe];

/// Ticks of encoding zeros after audio stops before switching to [`SILENCE_PACKET`], so that the
/// encoder's overlap tail fades out instead of being cut.
const TAIL_TICKS: u32 = 3;

/// An Opus DTX packet (RFC 6716 §3.2.1: a TOC byte and a zero-length frame; RFC 7587 §3.1.3):
/// "nothing to play, the sender is in discontinuous transmission". Receivers (browsers' `NetEq`)
/// recognise a packet of at most two bytes as DTX and play comfort silence until audio resumes.
pub const DTX_PACKET: [u8; 1] = [0xf8];

/// Idle ticks of [`SILENCE_PACKET`] before discontinuous transmission starts (as libopus: 200 ms).
pub const DTX_AFTER_TICKS: u32 = 10;

/// While in DTX, one [`DTX_PACKET`] every this many ticks (as libopus: 400 ms) and nothing else.
pub const DTX_EVERY_TICKS: u32 = 20;

/// Ticks an underrun may last before the partial frame held in the resampler and framer is flushed
/// out padded with silence. A producer that is merely a little late does not get a gap.
const FLUSH_AFTER_TICKS: u32 = 2;

/// Ticks over which the least queue depth is taken: one second.
const WINDOW_TICKS: u32 = 50;
/// A frame whose RMS is below this (about -40 dBFS) may be trimmed.
const QUIET_RMS: f32 = 0.01;

/// One 20 ms frame of handler audio at the queue's rate, interleaved.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// 1 or 2.
    pub channels: usize,
    /// `rate / 50 * channels` samples in `[-1, 1]`.
    pub samples: Vec<f32>,
}

/// The least queue depth seen at the ticks of the current window.
#[derive(Debug, Clone, Copy)]
struct StandingWindow {
    ticks: u32,
    least: usize,
}

impl Default for StandingWindow {
    fn default() -> Self {
        Self {
            ticks: 0,
            least: usize::MAX,
        }
    }
}

/// The outgoing audio queue of one session, at the transport's rate.
pub struct OutputQueue {
    rate: u32,
    resampler: Option<Resampler>,
    framer: Framer,
    queue: VecDeque<Frame>,
    underrun_ticks: u32,
    budget: Option<usize>,
    window: StandingWindow,
    trim_pending: usize,
    /// Ticks that handed out handler audio.
    pub frames_sent: u64,
    /// Ticks that found the queue empty while a partial frame was pending (the producer was late).
    pub underruns: u64,
    /// Quiet frames dropped to bring a standing queue back within the latency budget.
    pub trimmed: u64,
}

impl OutputQueue {
    /// An empty queue producing 20 ms frames at `rate` Hz (48 kHz for Opus, 8 kHz for telephony).
    #[must_use]
    pub fn new(rate: u32) -> Self {
        Self {
            rate,
            resampler: None,
            framer: Framer::new(rate as usize / 50, 1),
            queue: VecDeque::new(),
            underrun_ticks: 0,
            budget: None,
            window: StandingWindow::default(),
            trim_pending: 0,
            frames_sent: 0,
            underruns: 0,
            trimmed: 0,
        }
    }

    /// The rate frames come out at.
    #[must_use]
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Keeps the standing queue within `frames` 20 ms frames beyond the one being sent, by
    /// dropping quiet frames (None: never trim, e.g. a reply buffered ahead on purpose).
    pub fn set_latency_budget(&mut self, frames: Option<usize>) {
        self.budget = frames;
        self.window = StandingWindow::default();
        self.trim_pending = 0;
    }

    /// Queues interleaved `samples` with `channels` (1 or 2) at `rate` Hz.
    pub fn push(&mut self, rate: u32, channels: usize, samples: &[f32]) -> Result<(), Error> {
        if !(1..=2).contains(&channels) {
            return Err(Error::BadAudio(format!(
                "audio must have 1 or 2 channels, got {channels}"
            )));
        }
        crate::check_rate("sample rate", rate)?;
        let same = self
            .resampler
            .as_ref()
            .is_some_and(|r| r.from_rate() == rate && r.channels() == channels);
        if !same {
            self.flush_partial()?;
            self.resampler = Some(Resampler::new(rate, self.rate, channels)?);
            self.framer = Framer::new(self.rate as usize / 50, channels);
        }
        let resampler = self.resampler.as_mut().expect("set just above");
        let mut out = Vec::with_capacity(samples.len() * (self.rate as usize) / rate as usize + 64);
        resampler.process(samples, &mut out)?;
        self.framer.push(&out);
        self.drain_framer();
        self.underrun_ticks = 0;
        Ok(())
    }

    fn drain_framer(&mut self) {
        let channels = self.framer.channels();
        while let Some(samples) = self.framer.pop() {
            self.queue.push_back(Frame { channels, samples });
        }
    }

    /// Moves whatever the resampler and framer hold into the queue, padded to a whole frame.
    fn flush_partial(&mut self) -> Result<(), Error> {
        if let Some(resampler) = self.resampler.as_mut() {
            let mut out = Vec::new();
            resampler.flush(&mut out)?;
            self.framer.push(&out);
        }
        self.drain_framer();
        let channels = self.framer.channels();
        if let Some(samples) = self.framer.pop_padded() {
            self.queue.push_back(Frame { channels, samples });
        }
        Ok(())
    }

    /// Seconds of audio queued and not yet sent.
    #[must_use]
    pub fn buffered_seconds(&self) -> f64 {
        let frame = self.rate as usize / 50;
        (self.queue.len() * frame + self.framer.buffered()) as f64 / f64::from(self.rate)
    }

    /// True if a whole frame is ready to send.
    #[must_use]
    pub fn has_frame(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Frames queued and ready to send.
    #[must_use]
    pub fn queued_frames(&self) -> usize {
        self.queue.len()
    }

    /// Drops everything queued (interrupting a reply).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.framer.clear();
        self.resampler = None;
    }

    /// The frame for this 20 ms tick, or None (the transport sends silence).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, Error> {
        if self.queue.is_empty() && self.framer.buffered() > 0 {
            self.underrun_ticks += 1;
            if self.underrun_ticks == 1 {
                self.underruns += 1;
            }
            if self.underrun_ticks >= FLUSH_AFTER_TICKS {
                self.flush_partial()?;
            }
        }
        self.watch_standing();
        let frame = self.queue.pop_front();
        self.frames_sent += u64::from(frame.is_some());
        Ok(frame)
    }

    /// Watches the depth at each tick; when a window's least depth beyond the frame to send
    /// exceeded the budget, arranges for that excess to be dropped in quiet frames.
    fn watch_standing(&mut self) {
        let Some(budget) = self.budget else {
            return;
        };
        self.window.ticks += 1;
        self.window.least = self.window.least.min(self.queue.len());
        if self.window.ticks >= WINDOW_TICKS {
            self.trim_pending = self.window.least.saturating_sub(1).saturating_sub(budget);
            self.window = StandingWindow::default();
        }
        while self.trim_pending > 0 && self.queue.len() > 1 {
            let quiet = self.queue.front().is_some_and(|f| rms(&f.samples) < QUIET_RMS);
            if !quiet {
                break; // wait for a pause: speech is never cut
            }
            self.queue.pop_front();
            self.trimmed += 1;
            self.trim_pending -= 1;
        }
    }
}

/// What one tick sends over WebRTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The Opus payload.
    pub payload: Vec<u8>,
    /// True if the payload carries no handler audio.
    pub silent: bool,
}

/// 48 kHz frames (or their absence) → Opus payloads, one per tick while there is audio.
///
/// While the handler has nothing to say the stream goes quiet the way libwebrtc's does with Opus
/// DTX: 200 ms of silence packets, then a [`DTX_PACKET`] every 400 ms and nothing in between (the
/// caller's RTP timestamps keep running). An idle session costs a packet every 400 ms instead of
/// fifty a second; the browser plays silence, and receivers that hand on audio by timestamp (this
/// engine's own inbound path, `RtpOpusDecoder`) hear the gap as silence.
pub struct OpusPackets {
    bitrate: i32,
    encoder: Option<OpusEncoder>,
    idle_ticks: u32,
}

impl OpusPackets {
    /// An encoder targeting `bitrate` bits per second (created at the first frame).
    #[must_use]
    pub fn new(bitrate: i32) -> Self {
        Self {
            bitrate,
            encoder: None,
            idle_ticks: TAIL_TICKS,
        }
    }

    /// The payload for this tick: the frame encoded, or while idle the encoder's fade-out tail for
    /// a few ticks, then [`SILENCE_PACKET`], then DTX (None: send nothing this tick).
    pub fn packet(&mut self, frame: Option<&Frame>) -> Result<Option<Packet>, Error> {
        if let Some(frame) = frame {
            self.idle_ticks = 0;
            if frame.samples.len() != WIRE_FRAME * frame.channels {
                return Err(Error::BadAudio("Opus frames are 20 ms at 48 kHz".into()));
            }
            let payload = self.encoder_for(frame.channels)?.encode(&frame.samples)?.to_vec();
            return Ok(Some(Packet { payload, silent: false }));
        }
        self.idle_ticks = self.idle_ticks.saturating_add(1);
        let silent = |payload: &[u8]| {
            Some(Packet {
                payload: payload.to_vec(),
                silent: true,
            })
        };
        if self.idle_ticks <= TAIL_TICKS {
            if let Some(encoder) = self.encoder.as_mut() {
                let zeros = vec![0.0; WIRE_FRAME * encoder.channels()];
                return Ok(silent(encoder.encode(&zeros)?));
            }
        }
        if self.idle_ticks <= DTX_AFTER_TICKS {
            return Ok(silent(&SILENCE_PACKET));
        }
        let in_dtx = self.idle_ticks - DTX_AFTER_TICKS - 1;
        Ok(if in_dtx.is_multiple_of(DTX_EVERY_TICKS) {
            silent(&DTX_PACKET)
        } else {
            None
        })
    }

    fn encoder_for(&mut self, channels: usize) -> Result<&mut OpusEncoder, Error> {
        if self.encoder.as_ref().is_none_or(|e| e.channels() != channels) {
            self.encoder = Some(OpusEncoder::new(channels, self.bitrate)?);
        }
        Ok(self.encoder.as_mut().expect("set just above"))
    }
}

fn rms(frame: &[f32]) -> f32 {
    if frame.is_empty() {
        return 0.0;
    }
    (frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32).sqrt()
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are the point of these tests
mod test {
    use super::*;
    use crate::convert::tone;
    use crate::opus::OpusDecoder;
    use crate::WIRE_RATE;

    /// The queue and the Opus encoder together, as the WebRTC transport uses them.
    struct Outbound {
        queue: OutputQueue,
        opus: OpusPackets,
    }

    impl Outbound {
        fn new(bitrate: i32) -> Self {
            Self {
                queue: OutputQueue::new(WIRE_RATE),
                opus: OpusPackets::new(bitrate),
            }
        }
        /// The packet of the next tick; these tests stay within the idle ticks that send one.
        fn next_packet(&mut self) -> Result<Packet, Error> {
            let frame = self.queue.next_frame()?;
            Ok(self.opus.packet(frame.as_ref())?.expect("a packet before DTX starts"))
        }
    }

    #[test]
    fn fast_producer_is_queued_and_played_in_order() {
        let mut out = Outbound::new(64_000);
        // One second at 24 kHz pushed at once: 50 frames queued, nothing sent yet.
        out.queue.push(24_000, 1, &tone(440.0, 24_000, 24_000, 0.5)).unwrap();
        assert!(
            (out.queue.buffered_seconds() - 1.0).abs() < 0.03,
            "{}",
            out.queue.buffered_seconds()
        );
        let mut dec = OpusDecoder::new(1).unwrap();
        let mut audio = Vec::new();
        for _ in 0..60 {
            let p = out.next_packet().unwrap();
            audio.extend_from_slice(dec.decode(&p.payload).unwrap());
        }
        assert_eq!(out.queue.frames_sent, 50);
        assert_eq!(out.queue.buffered_seconds(), 0.0);
        let loud = audio
            .chunks(WIRE_FRAME)
            .filter(|f| f.iter().any(|s| s.abs() > 0.1))
            .count();
        assert!((49..=51).contains(&loud), "{loud}");
    }

    #[test]
    fn idle_sends_silence_and_partial_frames_are_flushed() {
        let mut out = Outbound::new(32_000);
        assert_eq!(
            out.next_packet().unwrap(),
            Packet {
                payload: SILENCE_PACKET.to_vec(),
                silent: true
            }
        );
        // 10 ms of audio: not a whole frame; after the grace ticks it goes out padded.
        out.queue.push(48_000, 1, &[0.5; 480]).unwrap();
        assert!(out.next_packet().unwrap().silent);
        assert!(!out.next_packet().unwrap().silent);
        assert_eq!(out.queue.underruns, 1);
        let mut dec = OpusDecoder::new(1).unwrap();
        assert_eq!(dec.decode(&SILENCE_PACKET).unwrap().len(), WIRE_FRAME);
        assert!(dec.decode(&SILENCE_PACKET).unwrap().iter().all(|s| s.abs() < 1e-3));
    }

    #[test]
    fn idle_goes_discontinuous_like_libopus_dtx() {
        let mut out = Outbound::new(32_000);
        out.queue
            .push(48_000, 1, &tone(440.0, WIRE_RATE, WIRE_FRAME * 5, 0.5))
            .unwrap();
        let mut sent = Vec::new();
        for _ in 0..100 {
            let frame = out.queue.next_frame().unwrap();
            sent.push(out.opus.packet(frame.as_ref()).unwrap());
        }
        let audio = sent
            .iter()
            .take_while(|p| p.as_ref().is_some_and(|p| !p.silent))
            .count();
        assert_eq!(audio, 5);
        // 3 ticks of the encoder's tail, silence packets to 200 ms, then DTX every 400 ms.
        assert!(sent[5..15]
            .iter()
            .all(|p| p.as_ref().is_some_and(|p| p.silent && p.payload.len() > 1)));
        let dtx: Vec<usize> = (15..100).filter(|&i| sent[i].is_some()).collect();
        assert_eq!(dtx, [15, 35, 55, 75, 95]);
        assert!(dtx.iter().all(|&i| sent[i].as_ref().unwrap().payload == DTX_PACKET));
        // Audio again: at once.
        out.queue
            .push(48_000, 1, &tone(440.0, WIRE_RATE, WIRE_FRAME, 0.5))
            .unwrap();
        let frame = out.queue.next_frame().unwrap();
        assert!(out.opus.packet(frame.as_ref()).unwrap().is_some_and(|p| !p.silent));
        // Receivers decode a DTX packet as one quiet frame.
        let mut dec = OpusDecoder::new(1).unwrap();
        assert!(dec.decode(&DTX_PACKET).unwrap().iter().all(|s| s.abs() < 1e-3));
    }

    /// A live producer: one frame per tick; returns the packets that carried its audio.
    fn live(out: &mut Outbound, ticks: usize, loud: bool) -> usize {
        let mut sent = 0;
        for _ in 0..ticks {
            let frame = if loud {
                tone(440.0, 48_000, 960, 0.5)
            } else {
                vec![0.0; 960]
            };
            out.queue.push(48_000, 1, &frame).unwrap();
            sent += usize::from(!out.next_packet().unwrap().silent);
        }
        sent
    }

    #[test]
    fn a_standing_queue_is_trimmed_in_quiet_frames_only() {
        let mut out = Outbound::new(32_000);
        out.queue.set_latency_budget(Some(0));
        // A burst leaves 3 extra frames standing behind a live producer.
        out.queue.push(48_000, 1, &[0.0; 960 * 3]).unwrap();
        // While the producer is loud nothing is dropped, however long it stands.
        assert_eq!(
            live(&mut out, 200, true),
            200,
            "the standing frames delay, not cut, the speech"
        );
        assert_eq!(out.queue.trimmed, 0);
        assert_eq!(out.queue.queued_frames(), 3);
        // In the first pause, the standing excess goes at once.
        live(&mut out, 60, false);
        assert_eq!(out.queue.trimmed, 3);
        assert_eq!(out.queue.queued_frames(), 0);
        live(&mut out, 250, false);
        assert_eq!(out.queue.trimmed, 3, "within budget: nothing more is dropped");
    }

    #[test]
    fn without_a_budget_a_reply_buffered_ahead_is_kept() {
        let mut out = Outbound::new(32_000);
        out.queue.push(48_000, 1, &vec![0.0; 48_000]).unwrap();
        for _ in 0..50 {
            out.next_packet().unwrap();
        }
        assert_eq!((out.queue.trimmed, out.queue.frames_sent), (0, 50));
    }

    #[test]
    fn layout_and_rate_changes_mid_stream() {
        let mut out = Outbound::new(64_000);
        out.queue.push(16_000, 1, &[0.2; 160]).unwrap();
        out.queue.push(44_100, 2, &[0.2; 882 * 2]).unwrap();
        out.queue.push(48_000, 2, &[0.2; 1920]).unwrap();
        let mut dec = OpusDecoder::new(2).unwrap();
        let mut frames = 0;
        for _ in 0..8 {
            let p = out.next_packet().unwrap();
            if !p.silent {
                frames += 1;
                assert_eq!(dec.decode(&p.payload).unwrap().len(), 1920);
            }
        }
        assert!(frames >= 3, "{frames}");
        assert!(out.queue.push(48_000, 3, &[0.0; 3]).is_err());
        assert!(out.queue.push(10, 1, &[0.0; 3]).is_err());
        out.queue.push(48_000, 1, &vec![0.1; 4800]).unwrap();
        out.queue.clear();
        assert_eq!(out.queue.buffered_seconds(), 0.0);
    }
}
