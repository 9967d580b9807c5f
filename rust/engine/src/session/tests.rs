//! The session core on a virtual clock with scripted inputs: no runtime, no peer, no thread. Each
//! scenario runs in microseconds to milliseconds, so the property tests at the end run hundreds
//! of random interleavings of input, replies, barge-in, time and failures.

#![allow(clippy::unchecked_time_subtraction, clippy::cast_precision_loss)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use gradio_webrtc_media::pause::PauseOptions;
use proptest::prelude::*;

use super::*;

/// A core and the virtual time, with everything it output so far.
struct Harness {
    core: SessionCore,
    t0: Instant,
    now: Instant,
    /// Every output with the virtual time it came at.
    log: Vec<(Duration, Output)>,
}

impl Harness {
    fn new(options: &MediaOptions) -> Self {
        let t0 = Instant::now();
        let core = SessionCore::new("virtual".into(), t0, options, Arc::new(SessionStats::default())).unwrap();
        Self {
            core,
            t0,
            now: t0,
            log: Vec::new(),
        }
    }

    /// Connected and sending from the start.
    fn started(options: &MediaOptions) -> Self {
        let mut h = Self::new(options);
        h.core.handle_connected(h.now);
        h.core.start_output(h.now, Duration::ZERO);
        h.drain();
        h
    }

    fn drain(&mut self) {
        let at = self.now - self.t0;
        while let Some(output) = self.core.poll_output() {
            self.log.push((at, output));
        }
    }

    /// Lets `d` of virtual time pass, running every deadline on the way as the driver would.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        let mut runs = 0;
        while let Some(at) = self.core.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.core.handle_timeout(self.now);
            self.drain();
            runs += 1;
            assert!(runs < 100_000, "the deadlines never move on");
        }
        self.now = end;
    }

    fn queue(&mut self, seconds: f64, level: f32, turn: Option<u64>) -> bool {
        let samples = vec![level; (48_000.0 * seconds) as usize];
        let accepted = self.core.queue_audio(self.now, 48_000, 1, &samples, turn).unwrap();
        self.drain();
        accepted
    }

    /// Audio ticks so far: (time, the frame's first sample; None for silence).
    fn ticks(&self) -> Vec<(Duration, Option<f32>)> {
        self.log
            .iter()
            .filter_map(|(at, o)| match o {
                Output::Audio(frame) => Some((*at, frame.as_ref().map(|f| f.samples[0]))),
                _ => None,
            })
            .collect()
    }

    fn events(&self) -> Vec<PageEvent> {
        self.log
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Event(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    fn closed(&self) -> Vec<(Duration, CloseReason)> {
        self.log
            .iter()
            .filter_map(|(at, o)| match o {
                Output::Closed(r) => Some((*at, r.clone())),
                _ => None,
            })
            .collect()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The Piper sentence fixture: 16 kHz mono.
fn sentence() -> Vec<f32> {
    let wav = include_bytes!("../../../../tests/data/speech/one_sentence.wav");
    wav[44..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect()
}

/// Feeds 16 kHz audio 20 ms at a time in virtual real time.
fn speak(h: &mut Harness, samples: &[f32]) {
    for chunk in samples.chunks(320) {
        h.core.handle_audio(h.now, 16_000, 1, chunk).unwrap();
        h.drain();
        h.advance(ms(20));
    }
}

fn pause_options() -> MediaOptions {
    MediaOptions {
        input_sample_rate: 16_000,
        pause: Some(PauseOptions::default()),
        ..MediaOptions::default()
    }
}

#[test]
fn audio_is_paced_every_20ms_and_idle_ticks_go_on() {
    let mut h = Harness::started(&MediaOptions::default());
    assert!(h.queue(2.0, 0.25, None));
    h.advance(ms(2500));
    let ticks = h.ticks();
    let audio: Vec<_> = ticks.iter().filter(|(_, s)| s.is_some()).collect();
    assert_eq!(audio.len(), 100);
    // The talkspurt starts at once; the cadence then runs its 4 ms margin behind, every 20 ms.
    assert_eq!(audio[0].0, Duration::ZERO);
    assert_eq!(audio[1].0 - audio[0].0, ms(24));
    assert!(audio[1..].windows(2).all(|w| w[1].0 - w[0].0 == ms(20)));
    assert!(ticks.len() >= 120, "{} ticks in 2.5 s", ticks.len());
    assert!(h.core.output_buffered() < 1e-9);
}

#[test]
fn nothing_is_sent_before_the_output_starts_and_nothing_after_the_end() {
    let mut h = Harness::new(&MediaOptions::default());
    h.queue(0.2, 0.25, None);
    assert_eq!(h.core.poll_timeout(), None, "no output, no deadline");
    h.core.start_output(h.now, Duration::ZERO);
    h.advance(ms(100));
    assert!(!h.ticks().is_empty());
    h.core.close(CloseReason::PeerClosed);
    h.drain();
    let ticks = h.ticks().len();
    h.advance(ms(500));
    assert_eq!(h.ticks().len(), ticks);
    assert_eq!(h.core.poll_timeout(), None);
    assert_eq!(h.closed(), vec![(ms(100), CloseReason::PeerClosed)]);
}

#[test]
fn an_utterance_comes_out_once_the_user_pauses() {
    let mut h = Harness::started(&pause_options());
    let mut audio = sentence();
    audio.extend(vec![0.0; 16_000]); // a second of silence after it
    speak(&mut h, &audio);
    let events = h.events();
    assert_eq!(events, vec![PageEvent::StartedTalking, PageEvent::PauseDetected]);
    let Some(Speech::Complete(frame)) = h.core.take_speech() else {
        panic!("one whole utterance")
    };
    let seconds = frame.samples.len() as f64 / 16_000.0;
    assert!((1.5..4.5).contains(&seconds), "{seconds}");
    assert_eq!(h.core.take_speech(), None, "pieces only on request");
    assert_eq!(h.core.turn_state(), TurnState::Listening);
}

/// The core only asks; the answers in these scenarios are the inputs under test (the model itself
/// is checked in `gradio_webrtc_media::smart_turn` and through real sessions in Python).
#[derive(Debug)]
struct NeverCalled;

impl gradio_webrtc_media::smart_turn::TurnDetector for NeverCalled {
    fn probability(&self, _: u32, _: &[f32]) -> Result<f32, gradio_webrtc_media::Error> {
        unreachable!("the core never runs the model")
    }
}

fn end_of_turn_options(max_silence: f64) -> MediaOptions {
    MediaOptions {
        input_sample_rate: 16_000,
        pause: Some(PauseOptions {
            end_of_turn: Some(gradio_webrtc_media::pause::EndOfTurnOptions {
                silence: 0.2,
                max_silence,
                threshold: 0.5,
                detector: Arc::new(NeverCalled),
            }),
            ..PauseOptions::default()
        }),
        ..MediaOptions::default()
    }
}

/// Speaks `audio`, answering the first question with `probability`; returns the time the
/// question came, and the utterances (seconds, time they came).
fn speak_answering(h: &mut Harness, audio: &[f32], probability: Option<f32>) -> (Duration, Vec<(f64, Duration)>) {
    let mut asked = None;
    let mut utterances = Vec::new();
    for chunk in audio.chunks(320) {
        h.core.handle_audio(h.now, 16_000, 1, chunk).unwrap();
        h.drain();
        let question = h.log.iter().find_map(|(at, o)| match o {
            Output::CheckTurn {
                candidate,
                rate,
                samples,
            } => Some((*at, *candidate, *rate, samples.len())),
            _ => None,
        });
        if let (None, Some((at, candidate, rate, len))) = (asked, question) {
            assert_eq!(rate, 16_000);
            assert!(len > 16_000, "the question holds the utterance so far");
            asked = Some(at);
            h.core.handle_turn_verdict(h.now, candidate, probability);
            h.drain();
        }
        while let Some(speech) = h.core.take_speech() {
            if let Speech::Complete(frame) = speech {
                utterances.push((frame.samples.len() as f64 / 16_000.0, h.now - h.t0));
            }
        }
        h.advance(ms(20));
    }
    (asked.expect("the model was asked"), utterances)
}

#[test]
fn a_turn_the_model_calls_complete_ends_at_the_short_silence() {
    let mut h = Harness::started(&end_of_turn_options(2.0));
    let mut audio = sentence();
    let spoken = audio.iter().rposition(|x| x.abs() > 0.01).unwrap();
    audio.truncate(spoken);
    audio.extend(vec![0.0; 16_000]);
    let (asked, utterances) = speak_answering(&mut h, &audio, Some(0.9));
    assert_eq!(utterances.len(), 1, "{utterances:?}");
    assert_eq!(utterances[0].1, asked, "the utterance ends with the answer");
    // The question comes ~0.2 s (plus the VAD's trail) after the voice, the rule's 0.5 s never.
    let after_voice = asked.as_secs_f64() - spoken as f64 / 16_000.0;
    assert!(
        (0.15..0.45).contains(&after_voice),
        "asked {after_voice:.3} s after the voice"
    );
    assert_eq!(h.events(), vec![PageEvent::StartedTalking, PageEvent::PauseDetected]);
    assert_eq!(h.core.turn_state(), TurnState::Listening);
}

#[test]
fn a_turn_the_model_calls_incomplete_is_held_and_goes_on_as_one_utterance() {
    let mut h = Harness::started(&end_of_turn_options(2.0));
    // A request, a 1 s thinking pause (the rule alone splits there), more of it.
    let mut sentence = sentence();
    sentence.truncate(sentence.iter().rposition(|x| x.abs() > 0.01).unwrap());
    let mut audio = sentence.clone();
    audio.extend(vec![0.0; 16_000]);
    audio.extend(&sentence);
    audio.extend(vec![0.0; 16_000 * 3]);
    let (_, utterances) = speak_answering(&mut h, &audio, Some(0.1));
    assert_eq!(
        utterances.len(),
        1,
        "one utterance across the held pause: {utterances:?}"
    );
    assert!(
        utterances[0].0 > 2.0 * (sentence.len() as f64 / 16_000.0) - 1.0,
        "{utterances:?}"
    );
    // The second silence was asked about too, never answered: it ended at max_silence.
    let questions = h
        .log
        .iter()
        .filter(|(_, o)| matches!(o, Output::CheckTurn { .. }))
        .count();
    assert_eq!(questions, 2);
    let mut rule = Harness::started(&pause_options());
    speak(&mut rule, &audio);
    assert_eq!(
        rule.events().iter().filter(|e| **e == PageEvent::PauseDetected).count(),
        2,
        "the rule alone splits the request"
    );
}

#[test]
fn a_failed_model_leaves_the_turn_to_the_rule() {
    let mut h = Harness::started(&end_of_turn_options(3.0));
    let mut audio = sentence();
    audio.extend(vec![0.0; 16_000 * 2]);
    let (asked, utterances) = speak_answering(&mut h, &audio, None);
    assert_eq!(utterances.len(), 1);
    let wait = (utterances[0].1 - asked).as_secs_f64();
    assert!(
        (0.2..0.5).contains(&wait),
        "the rule's pause, not max_silence: {wait:.3} s"
    );
}

#[test]
fn a_barge_in_drops_the_reply_at_once_and_refuses_its_late_audio() {
    let mut h = Harness::started(&pause_options());
    let turn = h.core.begin_reply();
    assert!(h.queue(1.0, 0.2, Some(turn)));
    h.advance(ms(200));
    assert_eq!(h.core.turn_state(), TurnState::Replying);
    let sentence = sentence();
    let mut fed = 0;
    while h.core.turn_state() == TurnState::Replying {
        let chunk = &sentence[fed..fed + 320];
        h.core.handle_audio(h.now, 16_000, 1, chunk).unwrap();
        h.drain();
        h.advance(ms(20));
        fed += 320;
    }
    let interrupted_at = h
        .log
        .iter()
        .find(|(_, o)| matches!(o, Output::Interrupted(1)))
        .expect("the reply is interrupted")
        .0;
    assert!(h.log.iter().any(|(_, o)| *o == Output::Epoch(turn + 1)));
    assert!(h.core.output_buffered() < 1e-9, "its queued audio is gone");
    assert!(
        h.ticks().iter().all(|(at, s)| *at <= interrupted_at || s.is_none()),
        "nothing of it plays after the barge-in"
    );
    assert!(!h.queue(0.1, 0.2, Some(turn)), "its late audio is refused");
    h.core.end_reply(turn); // the reply's own end arrives after: changes nothing
    speak(&mut h, &vec![0.0; 16_000]);
    let next = h.core.begin_reply();
    assert!(h.queue(0.2, 0.3, Some(next)));
    h.advance(ms(400));
    let loud = h.ticks().iter().filter(|(_, s)| *s == Some(0.3)).count();
    assert_eq!(loud, 10, "the next reply plays from its first frame");
    assert_eq!(h.core.interrupts(), 1);
}

#[test]
fn without_barge_in_the_user_is_not_heard_during_a_reply() {
    let mut h = Harness::started(&MediaOptions {
        can_interrupt: false,
        ..pause_options()
    });
    let turn = h.core.begin_reply();
    assert!(h.queue(6.0, 0.2, Some(turn)));
    speak(&mut h, &sentence());
    assert_eq!(h.core.turn_state(), TurnState::Replying);
    assert!(h.events().is_empty());
    assert!(h.core.reply_current(turn));
    assert_eq!(h.core.interrupts(), 0);
}

#[test]
fn replies_are_numbered_and_a_stale_end_changes_nothing() {
    let mut h = Harness::started(&MediaOptions::default());
    let first = h.core.begin_reply();
    let second = h.core.begin_reply();
    assert!(second > first);
    assert!(!h.core.reply_current(first) && h.core.reply_current(second));
    h.core.end_reply(first);
    assert_eq!(h.core.turn_state(), TurnState::Replying);
    assert!(!h.queue(0.1, 0.2, Some(first)));
    h.core.end_reply(second);
    assert_eq!(h.core.turn_state(), TurnState::Listening);
    assert!(h.queue(0.1, 0.2, None), "audio outside a reply is always taken");
}

#[test]
fn the_time_limit_says_goodbye_then_closes() {
    let mut h = Harness::new(&MediaOptions {
        time_limit: Some(Duration::from_secs(3)),
        ..MediaOptions::default()
    });
    h.advance(Duration::from_secs(5));
    assert!(h.closed().is_empty(), "the limit counts from the connection");
    h.core.handle_connected(h.now);
    h.advance(Duration::from_secs(2));
    h.core.set_state(SessionState::Disconnected);
    h.core.handle_connected(h.now); // a reconnection does not restart it
    h.advance(Duration::from_secs(2));
    assert_eq!(h.events(), vec![PageEvent::EndStream("Time limit reached".into())]);
    assert_eq!(
        h.closed(),
        vec![(Duration::from_secs(8) + GOODBYE, CloseReason::TimeLimit)]
    );
}

#[test]
fn a_failure_tells_the_peer_then_closes_once() {
    let mut h = Harness::started(&MediaOptions::default());
    h.advance(ms(50));
    h.core
        .fail(h.now, Failure::new(FailureKind::SendMedia, "the encoder broke"));
    h.core.fail(h.now, Failure::new(FailureKind::Server, "a second reason"));
    h.drain();
    assert!(h.core.failed());
    assert_eq!(h.events(), vec![PageEvent::Error("the encoder broke".into())]);
    h.advance(ms(99));
    assert!(h.closed().is_empty(), "the goodbye gets its time to leave");
    h.advance(ms(1));
    assert_eq!(
        h.closed(),
        vec![(
            ms(150),
            CloseReason::Failed(Failure::new(FailureKind::SendMedia, "the encoder broke"))
        )]
    );
    assert_eq!(h.core.close_reason().map(CloseReason::kind), Some("failed"));
}

#[test]
fn a_peer_faster_than_real_time_is_refused() {
    let mut h = Harness::started(&MediaOptions::default());
    let ten_minutes = vec![0.0; 8_000 * 600];
    let err = h.core.handle_audio(h.now, 8_000, 1, &ten_minutes).unwrap_err();
    assert_eq!(err.kind(), "input_too_fast");
    assert_eq!(h.core.input_queued(), 0, "nothing of it was framed");
}

#[test]
fn the_handlers_backlog_is_trimmed_at_its_first_read() {
    let mut h = Harness::started(&MediaOptions::default());
    for _ in 0..30 {
        h.core.handle_audio(h.now, 48_000, 1, &[0.0; 960]).unwrap();
        h.advance(ms(20));
    }
    h.drain();
    assert_eq!(h.log.iter().filter(|(_, o)| *o == Output::FrameReady).count(), 30);
    assert!(h.core.take_frame().is_some());
    assert_eq!(
        h.core.input_queued(),
        2,
        "a 40 ms budget stands, the rest was quiet and dropped"
    );
}

#[test]
fn a_reply_buffered_ahead_keeps_its_budget_and_a_live_stream_does_not_grow() {
    let mut live = Harness::started(&MediaOptions::default());
    let mut ahead = Harness::started(&MediaOptions::default());
    ahead.core.set_output_budget(None);
    for h in [&mut live, &mut ahead] {
        // 3 s of quiet handed over at once, then the stream plays on.
        h.queue(3.0, 0.0, None);
        h.advance(ms(1200));
    }
    assert!(live.core.output_buffered() < 0.1, "{}", live.core.output_buffered());
    assert!(ahead.core.output_buffered() > 1.5, "{}", ahead.core.output_buffered());
}

#[test]
fn latest_picture_wins_and_messages_wait_in_a_bounded_inbox() {
    let mut h = Harness::started(&MediaOptions::default());
    for i in 0..3u8 {
        h.core.handle_video(h.now, 2, 1, vec![i; 6]);
    }
    h.advance(ms(30));
    h.core.handle_message(h.now, "hello".into());
    assert_eq!(h.core.last_input(), h.now, "the peer's last word counts as input");
    assert_eq!(h.core.take_message().as_deref(), Some("hello"));
    let picture = h.core.take_picture().unwrap();
    assert_eq!((picture.seq, picture.bgr[0]), (3, 2));
    assert!(h.core.take_picture().is_none());
    for i in 0..300 {
        h.core.handle_message(h.now, format!("m{i}"));
    }
    let mut taken = Vec::new();
    while let Some(m) = h.core.take_message() {
        taken.push(m);
    }
    assert_eq!(taken.len(), 256);
    assert_eq!(taken[255], "m255", "the oldest are kept, the overflow dropped");
}

// -- properties --------------------------------------------------------------------------------

/// One scripted step of a conversation.
#[derive(Debug, Clone)]
enum Step {
    /// Virtual time passes (ms).
    Wait(u64),
    /// Audio from the peer (ms of it; loud or not).
    Input(u64, bool),
    /// The handler starts a reply.
    Begin,
    /// The handler queues audio (ms) for the newest reply it began (or none).
    Queue(u64, bool),
    /// The handler ends the newest reply it began.
    End,
    /// The user starts talking (a detector says so).
    Talk,
    /// The user pauses.
    Pause,
    /// The app ends the utterance now.
    Trigger,
    /// The output queue is dropped.
    Clear,
    /// Something fails.
    Fail,
    /// The peer hangs up.
    Hangup,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (1u64..400).prop_map(Step::Wait),
        4 => ((20u64..200), any::<bool>()).prop_map(|(ms, loud)| Step::Input(ms, loud)),
        3 => Just(Step::Begin),
        5 => ((20u64..2_000), any::<bool>()).prop_map(|(ms, own)| Step::Queue(ms, own)),
        2 => Just(Step::End),
        3 => Just(Step::Talk),
        2 => Just(Step::Pause),
        1 => Just(Step::Trigger),
        1 => Just(Step::Clear),
        1 => Just(Step::Fail),
        1 => Just(Step::Hangup),
    ]
}

/// The level a reply's audio is queued at: each reply's frames are told apart by it.
fn level(turn: u64) -> f32 {
    0.1 + 0.001 * turn as f32
}

fn run(steps: &[Step], can_interrupt: bool) -> Result<(), TestCaseError> {
    let mut h = Harness::started(&MediaOptions {
        can_interrupt,
        ..MediaOptions::default()
    });
    let mut last_turn = None;
    for step in steps {
        match step {
            Step::Wait(n) => h.advance(ms(*n)),
            Step::Input(n, loud) => {
                let samples = vec![if *loud { 0.3 } else { 0.0 }; 48 * *n as usize];
                h.core.handle_audio(h.now, 48_000, 1, &samples).unwrap();
            }
            Step::Begin => last_turn = Some(h.core.begin_reply()),
            Step::Queue(n, own) => {
                let turn = if *own { last_turn } else { None };
                let before = h.core.output_buffered();
                let accepted = h.queue(*n as f64 / 1000.0, level(turn.unwrap_or(0)), turn);
                let current = turn.is_none_or(|t| h.core.reply_current(t));
                prop_assert_eq!(accepted, current || h.core.is_closed());
                if !accepted {
                    prop_assert!(
                        (h.core.output_buffered() - before).abs() < 1e-9,
                        "refused audio is not queued"
                    );
                }
            }
            Step::End => {
                if let Some(t) = last_turn {
                    h.core.end_reply(t);
                }
            }
            Step::Talk => h.core.user_started_talking(),
            Step::Pause => h.core.user_paused(),
            Step::Trigger => h.core.end_utterance(),
            Step::Clear => h.core.clear_output(),
            Step::Fail => h
                .core
                .fail(h.now, Failure::new(FailureKind::Server, "scripted failure")),
            Step::Hangup => h.core.close(CloseReason::PeerClosed),
        }
        h.drain();
        // A reply that may play is the current one, and only while replying.
        if let Some(t) = last_turn {
            if h.core.reply_current(t) {
                prop_assert_eq!(h.core.turn_state(), TurnState::Replying);
            }
        }
        if let Some(at) = h.core.poll_timeout() {
            prop_assert!(at <= h.now + ms(20) + GOODBYE, "deadlines are never far ahead");
        }
    }
    h.advance(Duration::from_secs(1));

    // Exactly one end at most, and nothing after it.
    let closes: Vec<usize> = (0..h.log.len())
        .filter(|&i| matches!(h.log[i].1, Output::Closed(_)))
        .collect();
    prop_assert!(closes.len() <= 1);
    if let Some(&i) = closes.first() {
        prop_assert_eq!(i, h.log.len() - 1, "no output after the end");
        prop_assert_eq!(h.core.poll_timeout(), None);
    }
    // A failure told the page before the end, and the end says why.
    if h.core.failed() {
        prop_assert!(h.events().contains(&PageEvent::Error("scripted failure".into())));
        if let Some(reason) = h.core.close_reason() {
            prop_assert!(matches!(reason, CloseReason::Failed(_) | CloseReason::PeerClosed));
        }
    }
    // Nothing of an interrupted reply plays after its interruption.
    let mut interrupted_up_to = 0;
    let mut epoch = 0;
    for (_, output) in &h.log {
        match output {
            Output::Epoch(e) => {
                prop_assert!(*e > epoch, "reply numbers only grow");
                epoch = *e;
            }
            Output::Interrupted(_) => {
                prop_assert!(can_interrupt, "no barge-in without can_interrupt");
                interrupted_up_to = epoch - 1;
            }
            Output::Audio(Some(frame)) => {
                let turn = ((frame.samples[0] - 0.1) / 0.001).round() as u64;
                prop_assert!(
                    turn == 0 || turn > interrupted_up_to,
                    "a frame of reply {} played after it was interrupted",
                    turn
                );
            }
            _ => {}
        }
    }
    // One tick per 20 ms, plus at most one early tick where a talkspurt starts at once (an idle
    // stream does not wait for its next tick): never a burst.
    let ticks = h.ticks();
    let spurts = steps.iter().filter(|s| matches!(s, Step::Queue(..))).count();
    if let (Some(first), Some(last)) = (ticks.first(), ticks.last()) {
        let span = (last.0 - first.0).as_millis() as usize;
        prop_assert!(
            ticks.len() <= span / 20 + 2 + spurts,
            "{} ticks in {} ms",
            ticks.len(),
            span
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_keeps_the_turn_rules(steps in prop::collection::vec(step(), 1..60), can_interrupt in any::<bool>()) {
        run(&steps, can_interrupt)?;
    }
}

#[test]
fn the_core_holds_no_runtime_lock_or_clock() {
    // The design rule of this module, checked: time comes in as `now`, work goes out as outputs.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/session");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for banned in ["Mutex", "spawn", "Instant::now", "Notify", "tokio", "async fn"] {
            assert!(!source.contains(banned), "{} uses {banned}", path.display());
        }
    }
}
