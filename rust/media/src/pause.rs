//! Pause detection: when has the user finished speaking?
//!
//! The rule is the original library's `AlgoOptions` rule, evaluated on a **sliding** window at every
//! 32 ms VAD step instead of once per `audio_chunk_duration` block:
//!
//! * a window is speech when its probability is at least `threshold`, or at least
//!   `threshold - 0.15` right after a speech window (Silero's hysteresis);
//! * the user **starts talking** when the last `audio_chunk_duration` seconds hold more than
//!   `started_talking_threshold` seconds of speech, in runs of at least `min_speech_duration`;
//! * after that, a **pause** is declared at the first step where the last `audio_chunk_duration`
//!   seconds hold less than `speech_threshold` seconds of speech — so it is found as soon as the
//!   rule holds, not at the next block boundary (0.6 s later at worst, with the defaults);
//! * an utterance longer than `max_continuous_speech` is cut there (a pause is forced).
//!
//! [`Utterances`] runs the VAD on the handler-rate audio and keeps the utterance, with `speech_pad`
//! seconds of audio before the first speech. 8 kHz audio goes straight to Silero's 8 kHz network
//! (256-sample windows); any other rate is resampled to 16 kHz for the 16 kHz one (512-sample
//! windows). Both windows last 32 ms, so the rule's step is the same either way. The conversion
//! is [`LowDelayResampler`]'s (1.3 ms of delay at 48 kHz, against ~15 ms for the FFT resampler's
//! blocks and filter): the pause is declared on the VAD window that completes the rule, so every
//! millisecond the VAD waits for its input is a millisecond more before the reply.
//!
//! With [`Utterances::stream_speech`], the utterance is also handed out while it is spoken
//! ([`UtteranceEvent::Speech`]), e.g. for a keyword spotter that should not wait for the pause.

use std::collections::VecDeque;

use crate::lowdelay::LowDelayResampler;
use crate::vad::{SileroVad, WINDOW};
use crate::Error;

/// Seconds of audio per VAD window (512 samples at 16 kHz, or 256 at 8 kHz: 32 ms either way).
pub const STEP: f64 = WINDOW as f64 / 16_000.0;

/// The knobs of the rule, in seconds; defaults are the original's.
#[derive(Debug, Clone, PartialEq)]
pub struct PauseOptions {
    /// Length of the sliding window the rule looks at (`AlgoOptions.audio_chunk_duration`).
    pub audio_chunk_duration: f64,
    /// Speech needed in the window to start an utterance.
    pub started_talking_threshold: f64,
    /// Less speech than this in the window, after talking started, is a pause.
    pub speech_threshold: f64,
    /// VAD probability that counts as speech (`SileroVadOptions.threshold`).
    pub threshold: f32,
    /// Speech runs shorter than this do not start an utterance (clicks, coughs).
    pub min_speech_duration: f64,
    /// Audio kept before the first speech window (`speech_pad_ms`).
    pub speech_pad: f64,
    /// Longest utterance (seconds, 60 by default); reaching it forces a pause.
    pub max_continuous_speech: f64,
}

impl Default for PauseOptions {
    fn default() -> Self {
        Self {
            audio_chunk_duration: 0.6,
            started_talking_threshold: 0.2,
            speech_threshold: 0.1,
            threshold: 0.5,
            min_speech_duration: 0.25,
            speech_pad: 0.4,
            // Finite, so that a peer that never pauses cannot grow its utterance without bound
            // (~4 MB per minute at 16 kHz): a minute of unbroken speech is answered as it stands.
            max_continuous_speech: 60.0,
        }
    }
}

/// What one VAD step concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseEvent {
    /// Nothing changed.
    None,
    /// The user started talking.
    StartedTalking,
    /// The user stopped: the utterance is complete.
    Pause,
}

/// The pure state machine over VAD probabilities.
#[derive(Debug, Clone)]
pub struct PauseDetector {
    options: PauseOptions,
    window: VecDeque<bool>,
    run: usize,
    previous: bool,
    talking: bool,
    talking_steps: usize,
}

impl PauseDetector {
    /// A detector with `options`.
    #[must_use]
    pub fn new(options: PauseOptions) -> Self {
        Self {
            options,
            window: VecDeque::new(),
            run: 0,
            previous: false,
            talking: false,
            talking_steps: 0,
        }
    }

    /// True between `StartedTalking` and `Pause`.
    #[must_use]
    pub fn talking(&self) -> bool {
        self.talking
    }

    /// Feeds the probability of the next 32 ms window.
    pub fn push(&mut self, probability: f32) -> PauseEvent {
        let o = &self.options;
        let speech = probability >= o.threshold || (self.previous && probability >= o.threshold - 0.15);
        self.previous = speech;
        self.run = if speech { self.run + 1 } else { 0 };
        let size = ((o.audio_chunk_duration / STEP).round() as usize).max(1);
        self.window.push_back(speech);
        while self.window.len() > size {
            self.window.pop_front();
        }
        let speech_seconds = self.window.iter().filter(|s| **s).count() as f64 * STEP;
        if !self.talking {
            let long_enough = self.run as f64 * STEP >= o.min_speech_duration.min(o.audio_chunk_duration);
            if speech_seconds > o.started_talking_threshold && long_enough {
                self.talking = true;
                self.talking_steps = 0;
                return PauseEvent::StartedTalking;
            }
            return PauseEvent::None;
        }
        self.talking_steps += 1;
        let too_long = self.talking_steps as f64 * STEP >= o.max_continuous_speech;
        if speech_seconds < o.speech_threshold || too_long {
            self.talking = false;
            self.window.clear();
            self.run = 0;
            self.previous = false;
            return PauseEvent::Pause;
        }
        PauseEvent::None
    }

    /// Forgets everything (a new turn).
    pub fn reset(&mut self) {
        *self = Self::new(self.options.clone());
    }
}

/// What [`Utterances::push`] produced.
#[derive(Debug, Clone, PartialEq)]
pub enum UtteranceEvent {
    /// The user started talking.
    StartedTalking,
    /// A complete utterance at the input rate (mono samples in [-1, 1]).
    Utterance(Vec<f32>),
    /// With [`Utterances::stream_speech`]: the next samples of the utterance being spoken (the
    /// pad and the speech that started it, then each pushed piece). Concatenated from the last
    /// `StartedTalking`, they are exactly the `Utterance` that follows.
    Speech(Vec<f32>),
}

/// VAD + pause detection over a mono stream at the handler's rate; collects utterances.
pub struct Utterances {
    rate: u32,
    /// Input rate to the VAD's rate (8 kHz input passes through untouched, the rest goes to 16 kHz).
    to_vad: LowDelayResampler,
    vad: SileroVad,
    detector: PauseDetector,
    pending: Vec<f32>,
    preroll: VecDeque<f32>,
    preroll_len: usize,
    utterance: Vec<f32>,
    stream: bool,
    /// Probability of the last window (for diagnostics and tests).
    pub last_probability: f32,
}

impl Utterances {
    /// A collector for mono audio at `rate` Hz (the VAD runs at 8 kHz when `rate` is 8000, else
    /// on the audio resampled to 16 kHz).
    pub fn new(rate: u32, options: PauseOptions) -> Result<Self, Error> {
        let preroll_len = (options.speech_pad * f64::from(rate)) as usize;
        let vad_rate = if rate == 8_000 { 8_000 } else { 16_000 };
        Ok(Self {
            rate,
            to_vad: LowDelayResampler::new(rate, vad_rate)?,
            vad: SileroVad::with_rate(vad_rate)?,
            detector: PauseDetector::new(options),
            pending: Vec::new(),
            preroll: VecDeque::new(),
            preroll_len,
            utterance: Vec::new(),
            stream: false,
            last_probability: 0.0,
        })
    }

    /// Input rate in Hz.
    #[must_use]
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// True while an utterance is being collected.
    #[must_use]
    pub fn talking(&self) -> bool {
        self.detector.talking()
    }

    /// Drops any partial utterance and VAD state (e.g. after a reply, when input was ignored).
    pub fn reset(&mut self) {
        self.detector.reset();
        self.vad.reset();
        self.pending.clear();
        self.preroll.clear();
        self.utterance.clear();
    }

    /// The utterance collected so far (empty if the user is not talking), as if the user had
    /// paused now; the detector starts over.
    pub fn finish_now(&mut self) -> Vec<f32> {
        let utterance = if self.detector.talking() {
            std::mem::take(&mut self.utterance)
        } else {
            Vec::new()
        };
        self.detector.reset();
        self.preroll.clear();
        self.utterance.clear();
        utterance
    }

    /// Also hand out the utterance while it is spoken ([`UtteranceEvent::Speech`]).
    pub fn stream_speech(&mut self, on: bool) {
        self.stream = on;
    }

    /// Feeds mono samples at the input rate; returns what they completed.
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<UtteranceEvent>, Error> {
        let mut events = Vec::new();
        if self.detector.talking() {
            self.utterance.extend_from_slice(samples);
            if self.stream {
                events.push(UtteranceEvent::Speech(samples.to_vec()));
            }
        } else {
            self.preroll.extend(samples.iter().copied());
            while self.preroll.len() > self.preroll_len + samples.len() {
                self.preroll.pop_front();
            }
        }
        self.to_vad.process(samples, &mut self.pending);
        let mut used = 0;
        let window = self.vad.window();
        while self.pending.len() - used >= window {
            let p = self.vad.process(&self.pending[used..used + window])?;
            used += window;
            self.last_probability = p;
            match self.detector.push(p) {
                PauseEvent::StartedTalking => {
                    // The speech that made the decision, plus the pad before it, starts the utterance.
                    self.utterance = self.preroll.drain(..).collect();
                    events.push(UtteranceEvent::StartedTalking);
                    if self.stream {
                        events.push(UtteranceEvent::Speech(self.utterance.clone()));
                    }
                }
                PauseEvent::Pause => {
                    events.push(UtteranceEvent::Utterance(std::mem::take(&mut self.utterance)));
                    self.preroll.clear();
                }
                PauseEvent::None => {}
            }
        }
        self.pending.drain(..used);
        Ok(events)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::resample::Resampler;

    fn run(detector: &mut PauseDetector, probs: &[f32]) -> Vec<(usize, PauseEvent)> {
        probs
            .iter()
            .enumerate()
            .map(|(i, p)| (i, detector.push(*p)))
            .filter(|(_, e)| *e != PauseEvent::None)
            .collect()
    }

    #[test]
    fn one_utterance_one_pause_found_on_the_first_step_the_rule_holds() {
        let mut d = PauseDetector::new(PauseOptions::default());
        // 0.5 s silence, 1.5 s speech, 1.5 s silence (32 ms steps).
        let probs: Vec<f32> = [vec![0.02; 16], vec![0.9; 47], vec![0.02; 47]].concat();
        let events = run(&mut d, &probs);
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0].1, PauseEvent::StartedTalking);
        // Talking needs > 0.2 s of speech in runs of 0.25 s: the 8th speech step (0.256 s).
        assert_eq!(events[0].0, 16 + 7);
        // Pause when the last 0.6 s (19 steps) hold < 0.1 s (< 4 steps) of speech: 16 steps after speech ends.
        assert_eq!(events[1], (16 + 47 + 15, PauseEvent::Pause));
    }

    #[test]
    fn short_noise_does_not_start_talking_and_hysteresis_bridges_dips() {
        let mut d = PauseDetector::new(PauseOptions::default());
        let clicks: Vec<f32> = (0..40).map(|i| if i % 5 == 0 { 0.9 } else { 0.1 }).collect();
        assert!(run(&mut d, &clicks).is_empty(), "isolated clicks are not speech");
        // Speech with dips to 0.4 (above 0.5 - 0.15) stays one utterance.
        let speech: Vec<f32> = (0..60).map(|i| if i % 3 == 0 { 0.4 } else { 0.8 }).collect();
        let events = run(&mut d, &[speech, vec![0.0; 30]].concat());
        assert_eq!(events.iter().filter(|(_, e)| *e == PauseEvent::Pause).count(), 1);
    }

    #[test]
    fn two_utterances_two_pauses_and_max_length() {
        let mut d = PauseDetector::new(PauseOptions::default());
        let turn = [vec![0.9; 30], vec![0.0; 25]].concat();
        let events = run(&mut d, &[turn.clone(), turn].concat());
        let kinds: Vec<_> = events.iter().map(|(_, e)| *e).collect();
        assert_eq!(
            kinds,
            vec![
                PauseEvent::StartedTalking,
                PauseEvent::Pause,
                PauseEvent::StartedTalking,
                PauseEvent::Pause
            ]
        );
        let mut capped = PauseDetector::new(PauseOptions {
            max_continuous_speech: 1.0,
            ..PauseOptions::default()
        });
        let events = run(&mut capped, &vec![0.9; 100]);
        assert!(
            events.iter().filter(|(_, e)| *e == PauseEvent::Pause).count() >= 2,
            "{events:?}"
        );
    }

    fn wav(bytes: &[u8]) -> Vec<f32> {
        // 44-byte PCM header written by scripts/make_speech_fixtures.py, then int16 mono at 16 kHz.
        bytes[44..]
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect()
    }

    #[test]
    fn two_spoken_sentences_make_two_utterances() {
        let audio = wav(include_bytes!("../../../tests/data/speech/two_sentences.wav"));
        // At 48 kHz, as browsers send, in 20 ms frames.
        let mut up = Resampler::new(16_000, 48_000, 1).unwrap();
        let mut audio48 = Vec::new();
        up.process(&audio, &mut audio48).unwrap();
        let mut u = Utterances::new(48_000, PauseOptions::default()).unwrap();
        let mut utterances = Vec::new();
        let mut started = 0;
        for (i, frame) in audio48.chunks(960).enumerate() {
            for event in u.push(frame).unwrap() {
                match event {
                    UtteranceEvent::StartedTalking => started += 1,
                    UtteranceEvent::Utterance(samples) => utterances.push((i, samples.len() as f64 / 48_000.0)),
                    UtteranceEvent::Speech(_) => unreachable!("not streaming"),
                }
            }
        }
        assert_eq!(started, 2);
        assert_eq!(utterances.len(), 2, "{utterances:?}");
        // Each utterance holds its sentence (1.5-4 s) and ends within ~1 s of the speech ending.
        for (_, seconds) in &utterances {
            assert!((1.2..4.5).contains(seconds), "{utterances:?}");
        }
    }

    #[test]
    fn one_sentence_at_8k_runs_the_8k_network() {
        let audio = wav(include_bytes!("../../../tests/data/speech/one_sentence.wav"));
        let mut down = Resampler::new(16_000, 8_000, 1).unwrap();
        let mut audio8 = Vec::new();
        down.process(&audio, &mut audio8).unwrap();
        // About a second of silence after the sentence, so the pause is found.
        audio8.extend(std::iter::repeat_n(0.0, 8_000));
        let mut u = Utterances::new(8_000, PauseOptions::default()).unwrap();
        assert_eq!((u.vad.rate(), u.vad.window()), (8_000, 256), "no detour through 16 kHz");
        let mut utterances = Vec::new();
        let mut started = 0;
        // 20 ms frames, as a handler at 8 kHz gets them.
        for frame in audio8.chunks(160) {
            for event in u.push(frame).unwrap() {
                match event {
                    UtteranceEvent::StartedTalking => started += 1,
                    UtteranceEvent::Utterance(samples) => utterances.push(samples.len() as f64 / 8_000.0),
                    UtteranceEvent::Speech(_) => unreachable!("not streaming"),
                }
            }
        }
        assert_eq!(started, 1);
        assert_eq!(utterances.len(), 1, "{utterances:?}");
        let sentence = audio.len() as f64 / 16_000.0;
        assert!(
            (1.0..sentence + 1.0).contains(&utterances[0]),
            "{utterances:?} (sentence: {sentence} s)"
        );
    }

    #[test]
    fn the_pause_comes_with_the_frame_that_completes_the_rule() {
        let audio = wav(include_bytes!("../../../tests/data/speech/one_sentence.wav"));
        let last_voice = audio.iter().rposition(|x| x.abs() > 0.005).unwrap() as f64 / 16_000.0;
        // At 48 kHz in 20 ms frames, as from a browser (the up-conversion's own delay is taken off).
        let mut up = LowDelayResampler::new(16_000, 48_000).unwrap();
        let mut audio48 = Vec::new();
        up.process(&audio, &mut audio48);
        let shift = up.delay() as f64 / 16_000.0;
        let mut u = Utterances::new(48_000, PauseOptions::default()).unwrap();
        let mut paused_at = None;
        for (i, frame) in audio48.chunks(960).enumerate() {
            if u.push(frame)
                .unwrap()
                .iter()
                .any(|e| matches!(e, UtteranceEvent::Utterance(_)))
            {
                paused_at = Some((i + 1) as f64 * 0.02 - shift);
                break;
            }
        }
        // The rule itself waits until < 0.1 s of the last 0.6 s is speech (0.5 s after the VAD's
        // last speech window, which trails the voice by ~50 ms); the frame and window grids add
        // up to 20 + 32 ms. A resampler that holds audio back (the FFT one: ~15 ms) shows here.
        let wait = paused_at.expect("a pause") - last_voice;
        assert!((0.5..0.6).contains(&wait), "pause {wait:.3} s after the voice ended");
    }

    #[test]
    fn streamed_speech_is_exactly_the_utterance() {
        let audio = wav(include_bytes!("../../../tests/data/speech/two_sentences.wav"));
        let mut u = Utterances::new(16_000, PauseOptions::default()).unwrap();
        u.stream_speech(true);
        let (mut streamed, mut complete) = (Vec::new(), Vec::new());
        let mut current = Vec::new();
        for frame in audio.chunks(320) {
            for event in u.push(frame).unwrap() {
                match event {
                    UtteranceEvent::StartedTalking => assert!(current.is_empty(), "a piece outside an utterance"),
                    UtteranceEvent::Speech(piece) => current.extend(piece),
                    UtteranceEvent::Utterance(samples) => {
                        streamed.push(std::mem::take(&mut current));
                        complete.push(samples);
                    }
                }
            }
        }
        assert_eq!(complete.len(), 2);
        assert_eq!(streamed, complete);
    }

    #[test]
    fn utterances_keep_the_pad_before_speech() {
        let mut u = Utterances::new(16_000, PauseOptions::default()).unwrap();
        // Silence in, nothing out, and the pre-roll stays bounded.
        for _ in 0..50 {
            assert!(u.push(&[0.0; 320]).unwrap().is_empty());
        }
        assert!(u.preroll.len() <= 6400 + 320);
    }
}
