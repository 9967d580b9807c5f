//! The input path: decoded audio from any transport → 20 ms frames for the handler, or, with pause
//! detection, utterances.
//!
//! Frames wait in a queue for the handler. The queue has a latency budget: audio that piled up
//! before the handler started reading, or while it was slow, would otherwise stay queued for the
//! whole session (input and output both run at exactly real time, so an echo would carry that
//! backlog as delay forever). The backlog found at the handler's first read, and any standing
//! excess seen over a one-second window after that, is dropped in quiet frames, never speech.

use std::collections::VecDeque;

use gradio_webrtc_media::convert::{f32_to_i16_into, i16_to_f32, to_channels};
use gradio_webrtc_media::inbound::InputFramer;
use gradio_webrtc_media::pace::InputPace;
use gradio_webrtc_media::pause::{PauseOptions, UtteranceEvent, Utterances, Verdict};

use crate::EngineError;

/// Input frames queued for a handler before new ones are dropped (10 s of 20 ms frames).
pub(crate) const AUDIO_QUEUE: usize = 500;
/// Frames the handler's queue may hold standing beyond the one being read (40 ms).
pub(crate) const INPUT_BUDGET: usize = 2;
/// Reads over which the least queue depth is taken (one second of frames).
const WINDOW_READS: u32 = 50;
/// An input frame whose RMS is below this (about -40 dBFS, int16 scale) may be trimmed.
const QUIET_RMS: f64 = 328.0;
/// Streamed utterance pieces are gathered to this many per second before they are sent.
const PIECES_PER_SECOND: usize = 10;
/// Seconds of audio a peer may send ahead of real time (a network stall's backlog arriving at
/// once); beyond it the session ends (`InputPace`).
pub(crate) const INPUT_BURST_S: f64 = 5.0;

/// One 20 ms frame of received audio, interleaved int16.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    /// Sample rate in Hz.
    pub rate: u32,
    /// 1 or 2.
    pub channels: usize,
    /// `rate / 50 * channels` samples.
    pub samples: Vec<i16>,
}

/// What pause detection delivers to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speech {
    /// A piece of the utterance still being spoken (only with `SessionOptions::stream_speech`):
    /// mono at the input rate; `offset` is the index of its first sample in the utterance, so a
    /// reader can tell when pieces were dropped because it fell behind.
    Partial {
        /// The samples.
        frame: AudioFrame,
        /// Samples of this utterance delivered before this piece (dropped ones included).
        offset: usize,
    },
    /// The whole utterance, once the pause is detected.
    Complete(AudioFrame),
}

/// What the input did that the session must act on.
#[derive(Debug)]
pub(crate) enum InputEvent {
    /// A frame for the handler's queue.
    Frame(AudioFrame),
    /// Pause detection: the user started talking.
    StartedTalking,
    /// Pause detection: a piece of the utterance being spoken.
    Speech(Speech),
    /// Pause detection: the utterance is complete.
    Utterance(AudioFrame),
    /// The end-of-turn stage: ask the model about the utterance so far (mono, at the input rate).
    CheckTurn {
        /// The number to answer with ([`AudioIn::decide`]).
        candidate: u64,
        /// Sample rate of `samples`.
        rate: u32,
        /// The utterance from its start to now, in `[-1, 1]`.
        samples: Vec<f32>,
    },
}

/// How pause detection treats input.
#[derive(Debug, Clone)]
pub(crate) struct PauseMode {
    pub options: PauseOptions,
    /// Talking during a reply stops it (else input during a reply is ignored).
    pub can_interrupt: bool,
    /// Deliver utterances while they are spoken, too (stop-word spotting).
    pub stream_speech: bool,
}

/// The streamed utterance's samples not yet sent, and where they start in the utterance.
#[derive(Default)]
struct Pieces {
    pending: Vec<f32>,
    offset: usize,
}

impl Pieces {
    fn take(&mut self, rate: u32) -> Option<Speech> {
        if self.pending.is_empty() {
            return None;
        }
        let offset = self.offset;
        self.offset += self.pending.len();
        let mut samples = Vec::with_capacity(self.pending.len());
        f32_to_i16_into(&self.pending, &mut samples);
        self.pending.clear();
        Some(Speech::Partial {
            frame: AudioFrame {
                rate,
                channels: 1,
                samples,
            },
            offset,
        })
    }
}

/// Pause detection state.
struct Detection {
    utterances: Utterances,
    can_interrupt: bool,
    pieces: Pieces,
    was_replying: bool,
}

/// The least queue depth seen at the reads of the current window.
struct Standing {
    reads: u32,
    least: usize,
    first_read_done: bool,
}

/// The input path of one session.
pub(crate) struct AudioIn {
    rate: u32,
    channels: usize,
    framer: Option<InputFramer>,
    detection: Option<Detection>,
    queue: VecDeque<AudioFrame>,
    standing: Standing,
    pace: InputPace,
}

impl AudioIn {
    /// Frames at `rate` with `channels` for the handler; utterances instead with `pause`.
    pub fn new(rate: u32, channels: usize, pause: Option<PauseMode>) -> Result<Self, EngineError> {
        gradio_webrtc_media::check_rate("input_sample_rate", rate)?;
        let detection = match pause {
            Some(mode) => {
                let mut utterances = Utterances::new(rate, mode.options)?;
                utterances.stream_speech(mode.stream_speech);
                Some(Detection {
                    utterances,
                    can_interrupt: mode.can_interrupt,
                    pieces: Pieces::default(),
                    was_replying: false,
                })
            }
            None => None,
        };
        Ok(Self {
            rate,
            channels,
            framer: None,
            detection,
            queue: VecDeque::new(),
            pace: InputPace::new(INPUT_BURST_S),
            standing: Standing {
                reads: 0,
                least: usize::MAX,
                first_read_done: false,
            },
        })
    }

    /// Feeds decoded audio (`rate` Hz, `channels` interleaved) received at `now` (seconds);
    /// `replying` says whether a reply is playing. Returns what happened, in order.
    ///
    /// # Errors
    /// `TooFast` when the peer is more than `INPUT_BURST_S` ahead of real time (nothing is
    /// processed); the session ends.
    pub fn push(
        &mut self,
        now: f64,
        rate: u32,
        channels: usize,
        samples: &[f32],
        replying: bool,
    ) -> Result<Vec<InputEvent>, EngineError> {
        let seconds = samples.len() as f64 / channels.max(1) as f64 / f64::from(rate.max(1));
        if !self.pace.admit(now, seconds) {
            return Err(EngineError::TooFast(format!(
                "the peer sent audio faster than real time (more than {INPUT_BURST_S:.0} s ahead)"
            )));
        }
        if !self.framer.as_ref().is_some_and(|f| f.takes(rate, channels)) {
            self.framer = Some(InputFramer::new(rate, channels, self.rate, self.channels)?);
        }
        let frames = self.framer.as_mut().expect("set just above").push(samples);
        let mut events = Vec::new();
        for samples in frames {
            match self.detection.as_mut() {
                None => events.push(InputEvent::Frame(AudioFrame {
                    rate: self.rate,
                    channels: self.channels,
                    samples,
                })),
                Some(detection) => detection.push(self.rate, self.channels, &samples, replying, &mut events)?,
            }
        }
        Ok(events)
    }

    /// The utterance collected so far as a complete one (empty when the user is not talking),
    /// and the detector reset; None without pause detection.
    pub fn end_utterance(&mut self) -> Option<InputEvent> {
        let detection = self.detection.as_mut()?;
        let samples = detection.utterances.finish_now();
        detection.pieces = Pieces::default();
        let mut pcm = Vec::with_capacity(samples.len());
        f32_to_i16_into(&samples, &mut pcm);
        Some(InputEvent::Utterance(AudioFrame {
            rate: self.rate,
            channels: 1,
            samples: pcm,
        }))
    }

    /// The end-of-turn model's answer (`probability`, None if it failed) about `candidate`: what
    /// it says, and the utterance if that ends it (None without an end-of-turn stage). Stale
    /// answers change nothing.
    pub fn decide(&mut self, candidate: u64, probability: Option<f32>) -> Option<(Verdict, Vec<InputEvent>)> {
        let detection = self.detection.as_mut()?;
        let threshold = detection.utterances.end_of_turn()?.threshold;
        let verdict = Verdict::from_probability(probability, threshold);
        let mut events = Vec::new();
        if let Some(samples) = detection.utterances.decide(candidate, verdict) {
            detection.utterance(self.rate, &samples, &mut events);
        }
        Some((verdict, events))
    }

    /// Queues a frame for the handler; false if the queue is full (the frame is dropped).
    pub fn enqueue(&mut self, frame: AudioFrame) -> bool {
        if self.queue.len() >= AUDIO_QUEUE {
            return false;
        }
        self.queue.push_back(frame);
        true
    }

    /// The next frame for the handler, after trimming a standing backlog; also returns how many
    /// quiet frames were trimmed.
    pub fn take(&mut self) -> (Option<AudioFrame>, u64) {
        let mut trimmed = 0;
        let depth = self.queue.len();
        let excess = if self.standing.first_read_done {
            self.standing.reads += 1;
            self.standing.least = self.standing.least.min(depth);
            if self.standing.reads >= WINDOW_READS {
                let excess = self.standing.least.saturating_sub(1 + INPUT_BUDGET);
                self.standing.reads = 0;
                self.standing.least = usize::MAX;
                excess
            } else {
                0
            }
        } else {
            // Everything queued before the handler's first read is stale.
            self.standing.first_read_done = true;
            depth.saturating_sub(1 + INPUT_BUDGET)
        };
        for _ in 0..excess {
            if !self.queue.front().is_some_and(is_quiet) {
                break; // speech is never dropped
            }
            self.queue.pop_front();
            trimmed += 1;
        }
        (self.queue.pop_front(), trimmed)
    }

    /// Frames waiting for the handler.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

impl Detection {
    fn push(
        &mut self,
        rate: u32,
        channels: usize,
        samples: &[i16],
        replying: bool,
        events: &mut Vec<InputEvent>,
    ) -> Result<(), EngineError> {
        if replying != self.was_replying {
            // Without barge-in the user was not heard during the reply: start the next turn clean.
            // With it, the collector keeps the interrupting utterance.
            if !self.can_interrupt {
                self.utterances.reset();
            }
            self.was_replying = replying;
        }
        if replying && !self.can_interrupt {
            return Ok(()); // the original's behaviour: the user is not heard during a reply
        }
        let mono = to_channels(&i16_to_f32(samples), channels, 1);
        for event in self.utterances.push(&mono)? {
            match event {
                UtteranceEvent::Speech(samples) => {
                    self.pieces.pending.extend_from_slice(&samples);
                    if self.pieces.pending.len() >= rate as usize / PIECES_PER_SECOND {
                        events.extend(self.pieces.take(rate).map(InputEvent::Speech));
                    }
                }
                UtteranceEvent::StartedTalking => {
                    self.pieces = Pieces::default();
                    events.push(InputEvent::StartedTalking);
                }
                UtteranceEvent::Utterance(samples) => self.utterance(rate, &samples, events),
                UtteranceEvent::Candidate { candidate, samples } => events.push(InputEvent::CheckTurn {
                    candidate,
                    rate,
                    samples,
                }),
            }
        }
        Ok(())
    }

    /// A complete utterance: the streamed pieces not yet sent go first.
    fn utterance(&mut self, rate: u32, samples: &[f32], events: &mut Vec<InputEvent>) {
        events.extend(self.pieces.take(rate).map(InputEvent::Speech));
        self.pieces = Pieces::default();
        let mut pcm = Vec::with_capacity(samples.len());
        f32_to_i16_into(samples, &mut pcm);
        events.push(InputEvent::Utterance(AudioFrame {
            rate,
            channels: 1,
            samples: pcm,
        }));
    }
}

fn is_quiet(frame: &AudioFrame) -> bool {
    if frame.samples.is_empty() {
        return true;
    }
    let energy: f64 = frame.samples.iter().map(|s| f64::from(*s) * f64::from(*s)).sum();
    (energy / frame.samples.len() as f64).sqrt() < QUIET_RMS
}

#[cfg(test)]
mod test {
    use super::*;

    fn frame(level: i16) -> AudioFrame {
        AudioFrame {
            rate: 48_000,
            channels: 1,
            samples: vec![level; 960],
        }
    }

    #[test]
    fn the_backlog_before_the_first_read_is_dropped_in_quiet_frames() {
        let mut input = AudioIn::new(48_000, 1, None).unwrap();
        for _ in 0..30 {
            assert!(input.enqueue(frame(0)));
        }
        let (first, trimmed) = input.take();
        assert!(first.is_some());
        assert_eq!((trimmed, input.queued()), (27, INPUT_BUDGET));
    }

    #[test]
    fn speech_in_the_backlog_is_kept() {
        let mut input = AudioIn::new(48_000, 1, None).unwrap();
        for i in 0..30 {
            input.enqueue(frame(if i < 20 { 8000 } else { 0 }));
        }
        let (_, trimmed) = input.take();
        assert_eq!(trimmed, 0, "the backlog starts with speech: nothing is dropped");
        assert_eq!(input.queued(), 29);
    }

    #[test]
    fn a_standing_excess_is_trimmed_after_a_window() {
        let mut input = AudioIn::new(48_000, 1, None).unwrap();
        input.enqueue(frame(0));
        input.take();
        // A burst leaves 6 frames standing while the reader keeps pace with the writer.
        for _ in 0..6 {
            input.enqueue(frame(0));
        }
        let mut trimmed = 0;
        for _ in 0..WINDOW_READS {
            input.enqueue(frame(0));
            trimmed += input.take().1;
        }
        assert_eq!(trimmed, 6 - INPUT_BUDGET as u64);
        assert_eq!(input.queued(), INPUT_BUDGET);
    }

    #[test]
    fn a_full_queue_refuses_frames() {
        let mut input = AudioIn::new(16_000, 1, None).unwrap();
        for _ in 0..AUDIO_QUEUE {
            assert!(input.enqueue(frame(0)));
        }
        assert!(!input.enqueue(frame(0)));
    }

    #[test]
    fn any_transport_rate_becomes_handler_frames() {
        let mut input = AudioIn::new(16_000, 1, None).unwrap();
        let events = input.push(0.0, 8_000, 1, &[0.1; 1600], false).unwrap();
        let frames = events
            .iter()
            .filter(|e| matches!(e, InputEvent::Frame(f) if f.samples.len() == 320));
        assert!(frames.count() >= 8);
        assert!(AudioIn::new(1_000, 1, None).is_err());
    }

    #[test]
    fn audio_faster_than_real_time_is_refused() {
        let mut input = AudioIn::new(8_000, 1, None).unwrap();
        // Ten minutes of μ-law in one message: refused before any of it is framed.
        let err = input.push(0.0, 8_000, 1, &vec![0.0; 8_000 * 600], false).unwrap_err();
        assert_eq!(err.kind(), "input_too_fast");
        assert!(input.framer.is_none(), "nothing was processed");
        // Real time goes on being taken.
        for i in 0..500 {
            input.push(f64::from(i) * 0.02, 8_000, 1, &[0.0; 160], false).unwrap();
        }
    }
}
