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
//!
//! # The end-of-turn stage
//!
//! With [`PauseOptions::end_of_turn`], silence alone no longer ends the turn. After
//! [`EndOfTurnOptions::silence`] seconds of it (a run of non-speech windows) the detector emits
//! [`PauseEvent::Candidate`]: the caller asks an end-of-turn model whether the utterance so far is
//! finished, off the media path, and answers with [`PauseDetector::decide`]. "Complete" ends the
//! utterance at once (sooner than the rule's ~0.5 s); "incomplete" keeps listening until
//! [`EndOfTurnOptions::max_silence`] of silence, or until speech resumes, which continues the same
//! utterance (its next silence is asked about again). An answer that never comes also ends the
//! turn at `max_silence`; one that comes after speech resumed is stale and ignored; a model that
//! could not answer ([`Verdict::Unknown`]) leaves the decision to the rule.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::lowdelay::LowDelayResampler;
use crate::smart_turn::TurnDetector;
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
    /// The end-of-turn stage (see the module documentation); None: the rule alone.
    pub end_of_turn: Option<EndOfTurnOptions>,
}

/// How an end-of-turn model takes part in pause detection, in seconds.
#[derive(Debug, Clone)]
pub struct EndOfTurnOptions {
    /// Silence after which the model is asked whether the turn is over.
    pub silence: f64,
    /// The longest silence the turn is held when the model says it is not over.
    pub max_silence: f64,
    /// A probability at least this is "complete".
    pub threshold: f32,
    /// The model; the session runs it off the media path.
    pub detector: Arc<dyn TurnDetector>,
}

impl PartialEq for EndOfTurnOptions {
    fn eq(&self, other: &Self) -> bool {
        self.silence == other.silence
            && self.max_silence == other.max_silence
            && self.threshold == other.threshold
            && std::ptr::addr_eq(Arc::as_ptr(&self.detector), Arc::as_ptr(&other.detector))
    }
}

/// An end-of-turn model's answer about one candidate pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The turn is over: the utterance ends now.
    Complete,
    /// The user is not done: keep listening.
    Incomplete,
    /// The model could not answer (it failed): the rule decides.
    Unknown,
}

impl Verdict {
    /// The verdict for `probability` (None: no answer) at `threshold`.
    #[must_use]
    pub fn from_probability(probability: Option<f32>, threshold: f32) -> Self {
        match probability {
            Some(p) if p >= threshold => Verdict::Complete,
            Some(_) => Verdict::Incomplete,
            None => Verdict::Unknown,
        }
    }
}

/// Where the end-of-turn stage is in the current silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Not asked about this silence (yet).
    NotAsked,
    /// Candidate `n` was asked about; no answer yet.
    Pending(u64),
    /// The model said "not over": hold until `max_silence`.
    Incomplete,
    /// The model could not answer: the rule decides.
    Unknown,
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
            end_of_turn: None,
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
    /// End-of-turn stage: the user has been silent for `EndOfTurnOptions::silence`; ask the model
    /// about the utterance so far and answer with [`PauseDetector::decide`] (this number).
    Candidate(u64),
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
    /// Non-speech windows in a row while talking.
    quiet: usize,
    /// Number of the last candidate pause.
    candidates: u64,
    check: Check,
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
            quiet: 0,
            candidates: 0,
            check: Check::NotAsked,
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
        let rule = speech_seconds < o.speech_threshold;
        let Some(eot) = &o.end_of_turn else {
            return if rule || too_long {
                self.pause()
            } else {
                PauseEvent::None
            };
        };
        if speech {
            // Speech resumed: the same utterance goes on, and its next silence is asked about.
            self.quiet = 0;
            self.check = Check::NotAsked;
        } else {
            self.quiet += 1;
        }
        // Steps, not seconds, so that a silence of exactly N windows compares exactly.
        let steps = |seconds: f64| (seconds / STEP - 1e-6).ceil().max(1.0) as usize;
        if too_long || self.quiet >= steps(eot.max_silence) || (self.check == Check::Unknown && rule) {
            return self.pause();
        }
        if self.check == Check::NotAsked && self.quiet >= steps(eot.silence) {
            self.candidates += 1;
            self.check = Check::Pending(self.candidates);
            return PauseEvent::Candidate(self.candidates);
        }
        PauseEvent::None
    }

    /// The model's answer about candidate `candidate`: [`PauseEvent::Pause`] if it ends the
    /// utterance now; nothing for a stale answer (speech resumed since, or the turn already
    /// ended) or one that keeps listening.
    pub fn decide(&mut self, candidate: u64, verdict: Verdict) -> PauseEvent {
        if !self.talking || self.check != Check::Pending(candidate) {
            return PauseEvent::None;
        }
        match verdict {
            Verdict::Complete => self.pause(),
            Verdict::Incomplete => {
                self.check = Check::Incomplete;
                PauseEvent::None
            }
            Verdict::Unknown => {
                self.check = Check::Unknown;
                PauseEvent::None
            }
        }
    }

    fn pause(&mut self) -> PauseEvent {
        self.talking = false;
        self.window.clear();
        self.run = 0;
        self.previous = false;
        self.quiet = 0;
        self.check = Check::NotAsked;
        PauseEvent::Pause
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
    /// End-of-turn stage: ask the model whether the utterance so far (`samples`, at the input
    /// rate) is a finished turn; answer with [`Utterances::decide`]`(candidate, ..)`.
    Candidate {
        /// The number to answer with.
        candidate: u64,
        /// The utterance from its start (pad included) to now.
        samples: Vec<f32>,
    },
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
                PauseEvent::Candidate(candidate) => events.push(UtteranceEvent::Candidate {
                    candidate,
                    samples: self.utterance.clone(),
                }),
                PauseEvent::None => {}
            }
        }
        self.pending.drain(..used);
        Ok(events)
    }

    /// The end-of-turn model's answer about `candidate`: the complete utterance if that ends it.
    pub fn decide(&mut self, candidate: u64, verdict: Verdict) -> Option<Vec<f32>> {
        if self.detector.decide(candidate, verdict) == PauseEvent::Pause {
            self.preroll.clear();
            return Some(std::mem::take(&mut self.utterance));
        }
        None
    }

    /// The options of the end-of-turn stage, if there is one.
    #[must_use]
    pub fn end_of_turn(&self) -> Option<&EndOfTurnOptions> {
        self.detector.options.end_of_turn.as_ref()
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

    /// A detector that is never called: [`PauseDetector`] only asks; its caller runs the model.
    #[derive(Debug)]
    struct Unused;

    impl TurnDetector for Unused {
        fn probability(&self, _: u32, _: &[f32]) -> Result<f32, Error> {
            unreachable!("the pause detector never runs the model")
        }
    }

    fn with_model(silence: f64, max_silence: f64) -> PauseDetector {
        PauseDetector::new(PauseOptions {
            end_of_turn: Some(EndOfTurnOptions {
                silence,
                max_silence,
                threshold: 0.5,
                detector: Arc::new(Unused),
            }),
            ..PauseOptions::default()
        })
    }

    #[test]
    fn a_complete_verdict_ends_the_utterance_at_the_short_silence() {
        let mut d = with_model(0.2, 2.0);
        let events = run(&mut d, &[vec![0.9; 30], vec![0.02; 10]].concat());
        // 0.2 s is 7 windows of 32 ms: the candidate comes on the 7th silent window.
        assert_eq!(
            events,
            vec![(7, PauseEvent::StartedTalking), (30 + 6, PauseEvent::Candidate(1))]
        );
        assert_eq!(d.decide(1, Verdict::Complete), PauseEvent::Pause);
        assert!(!d.talking());
        assert_eq!(d.decide(1, Verdict::Complete), PauseEvent::None, "answered once");
    }

    #[test]
    fn an_incomplete_verdict_holds_the_turn_past_the_rule_until_max_silence() {
        let mut d = with_model(0.2, 1.0);
        let asked = run(&mut d, &[vec![0.9; 30], vec![0.02; 7]].concat());
        assert_eq!(asked.last(), Some(&(36, PauseEvent::Candidate(1))));
        assert_eq!(d.decide(1, Verdict::Incomplete), PauseEvent::None);
        // The rule would have paused 16 windows into the silence; the turn is held to 1.0 s
        // (32 windows), then ends without asking again.
        let events = run(&mut d, &[0.02; 40]);
        assert_eq!(events, vec![(32 - 7 - 1, PauseEvent::Pause)]);
    }

    #[test]
    fn speech_after_a_held_pause_continues_the_utterance_and_old_answers_are_stale() {
        let mut d = with_model(0.2, 2.0);
        run(&mut d, &[vec![0.9; 30], vec![0.02; 7]].concat());
        // No answer yet; the user goes on talking: the same utterance (no new start).
        let resumed = run(&mut d, &[vec![0.9; 20], vec![0.02; 7]].concat());
        assert_eq!(
            resumed,
            vec![(26, PauseEvent::Candidate(2))],
            "asked again about the new silence"
        );
        assert_eq!(
            d.decide(1, Verdict::Complete),
            PauseEvent::None,
            "an answer about an old silence"
        );
        assert!(d.talking());
        assert_eq!(d.decide(2, Verdict::Complete), PauseEvent::Pause);
    }

    #[test]
    fn no_answer_ends_the_turn_at_max_silence_and_a_failed_model_leaves_it_to_the_rule() {
        let mut silent = with_model(0.2, 1.5);
        let events = run(&mut silent, &[vec![0.9; 30], vec![0.02; 60]].concat());
        // 1.5 s is 47 windows.
        assert_eq!(events.last(), Some(&(30 + 46, PauseEvent::Pause)));
        let mut failed = with_model(0.2, 3.0);
        run(&mut failed, &[vec![0.9; 30], vec![0.02; 7]].concat());
        assert_eq!(failed.decide(1, Verdict::Unknown), PauseEvent::None);
        let events = run(&mut failed, &[0.02; 20]);
        // The rule: < 0.1 s of speech in the last 0.6 s, 16 windows after the speech.
        assert_eq!(events, vec![(16 - 7 - 1, PauseEvent::Pause)]);
        assert_eq!(Verdict::from_probability(Some(0.7), 0.5), Verdict::Complete);
        assert_eq!(Verdict::from_probability(Some(0.3), 0.5), Verdict::Incomplete);
        assert_eq!(Verdict::from_probability(None, 0.5), Verdict::Unknown);
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
                    UtteranceEvent::Speech(_) | UtteranceEvent::Candidate { .. } => unreachable!("not streaming"),
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
                    UtteranceEvent::Speech(_) | UtteranceEvent::Candidate { .. } => unreachable!("not streaming"),
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
                    UtteranceEvent::Candidate { .. } => unreachable!("no end-of-turn stage"),
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

        /// Any run of VAD probabilities, with the model's answers coming at any step (or never),
        /// right or stale: talking and pauses alternate, questions come only while talking, once
        /// per silence, and a turn is never held past `max_silence` of silence.
        #[test]
        fn the_end_of_turn_stage_keeps_its_rules(
            steps in proptest::collection::vec((0.0f32..1.0, proptest::option::of((0u64..4, 0.0f32..1.0))), 1..400),
        ) {
            let max_silence = 1.0;
            let mut d = with_model(0.2, max_silence);
            let limit = (max_silence / STEP).ceil() as usize;
            let (mut talking, mut asked_in_silence, mut quiet, mut last) = (false, false, 0usize, 0u64);
            let mut previous = false;
            for (p, answer) in steps {
                // The detector's own hysteresis: 0.5, or 0.35 right after a speech window.
                let speech_window = p >= 0.5 || (previous && p >= 0.35);
                previous = speech_window;
                let event = d.push(p);
                match event {
                    PauseEvent::StartedTalking => {
                        proptest::prop_assert!(!talking);
                        talking = true;
                        quiet = 0;
                        asked_in_silence = false;
                    }
                    PauseEvent::Pause => {
                        proptest::prop_assert!(talking);
                        talking = false;
                        previous = false;
                    }
                    PauseEvent::Candidate(n) => {
                        proptest::prop_assert!(talking && !asked_in_silence, "one question per silence");
                        proptest::prop_assert!(n > last, "questions are numbered upwards");
                        last = n;
                        asked_in_silence = true;
                    }
                    PauseEvent::None => {}
                }
                if talking && event != PauseEvent::StartedTalking {
                    if speech_window {
                        quiet = 0;
                        asked_in_silence = false;
                    } else {
                        quiet += 1;
                    }
                    proptest::prop_assert!(quiet < limit, "held {} windows of silence", quiet);
                }
                if let Some((back, q)) = answer {
                    let verdict = Verdict::from_probability(Some(q), 0.5);
                    let candidate = last.saturating_sub(back);
                    let decided = d.decide(candidate, verdict);
                    if decided == PauseEvent::Pause {
                        proptest::prop_assert!(talking && candidate == last && verdict == Verdict::Complete);
                        talking = false;
                        previous = false;
                    } else {
                        proptest::prop_assert_eq!(decided, PauseEvent::None);
                    }
                }
                proptest::prop_assert_eq!(d.talking(), talking);
            }
        }
    }
}
