//! The media session with no network at all: PCM pushed in, paced frames pulled out by a recording
//! sink, on tokio's paused (virtual) clock, as str0m tests its state machine. Every transport
//! drives a session exactly like this.

#![allow(clippy::unchecked_time_subtraction)] // virtual times in one test only grow

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gradio_webrtc_engine::{AudioSink, EngineError, MediaOptions, MediaSession, OutputFrame, Speech, TurnState};
use gradio_webrtc_media::convert::tone;
use gradio_webrtc_media::pause::PauseOptions;
use tokio::runtime::Handle;
use tokio::time::Instant;

/// One tick: virtual time since the start, and the frame (None: silence).
type Tick = (Duration, Option<OutputFrame>);

/// What the transport would have sent.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Tick>>>);

struct Sink {
    start: Instant,
    out: Recorder,
}

#[async_trait]
impl AudioSink for Sink {
    async fn send(&mut self, frame: Option<&OutputFrame>) -> Result<bool, EngineError> {
        self.out.0.lock().unwrap().push((self.start.elapsed(), frame.cloned()));
        Ok(true)
    }
}

fn session(options: &MediaOptions) -> (Arc<MediaSession>, Recorder) {
    let session = MediaSession::new("virtual".into(), Handle::current(), options).unwrap();
    let recorder = Recorder::default();
    session.start_audio_output(Box::new(Sink {
        start: Instant::now(),
        out: recorder.clone(),
    }));
    session.on_connected();
    (session, recorder)
}

fn loud(frame: Option<&OutputFrame>) -> bool {
    frame.is_some_and(|f| f.samples.iter().any(|s| s.abs() > 0.1))
}

#[tokio::test(start_paused = true)]
async fn output_is_paced_at_20ms_on_a_virtual_clock() {
    let (session, sent) = session(&MediaOptions::default());
    // Two seconds of 24 kHz audio handed over at once.
    let mut audio = tone(440.0, 24_000, 48_000, 0.5);
    assert!(session
        .send_audio(24_000, &[audio.len()], &mut audio, None, None)
        .unwrap());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let sent = sent.0.lock().unwrap().clone();
    let audio: Vec<_> = sent.iter().filter(|(_, f)| loud(f.as_ref())).collect();
    assert!((99..=100).contains(&audio.len()), "{} frames of audio", audio.len());
    // The talkspurt starts at once; the cadence then runs its 4 ms margin behind, every 20 ms.
    assert_eq!(audio[1].0 - audio[0].0, Duration::from_millis(24));
    for pair in audio[1..].windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_millis(19) && gap <= Duration::from_millis(21),
            "{gap:?}"
        );
    }
    assert!(audio.iter().all(|(_, f)| f.as_ref().unwrap().samples.len() == 960));
    // Idle ticks keep coming (silence keeps the receiver's clock going).
    assert!(sent.len() >= 120, "{} ticks in 2.5 s", sent.len());
}

#[tokio::test(start_paused = true)]
async fn pushed_pcm_reaches_the_handler_as_frames_at_its_rate() {
    let options = MediaOptions {
        input_sample_rate: 16_000,
        ..MediaOptions::default()
    };
    let (session, _) = session(&options);
    // Any transport rate: here 8 kHz telephony, 200 ms.
    session.push_audio(8_000, 1, &tone(300.0, 8_000, 1_600, 0.5)).unwrap();
    let mut frames = 0;
    while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_millis(50), session.next_audio()).await {
        assert_eq!((frame.rate, frame.channels, frame.samples.len()), (16_000, 1, 320));
        frames += 1;
    }
    assert!((8..=10).contains(&frames), "{frames}");
    session.close(gradio_webrtc_engine::CloseReason::Server("done".into()));
    assert!(session.next_audio().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_barge_in_drops_the_reply_and_its_late_audio_is_refused() {
    let options = MediaOptions {
        pause: Some(PauseOptions::default()),
        ..MediaOptions::default()
    };
    let (session, sent) = session(&options);
    let turn = session.begin_reply();
    let mut reply = tone(660.0, 48_000, 48_000, 0.5);
    assert!(session
        .send_audio(48_000, &[reply.len()], &mut reply, None, Some(turn))
        .unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(session.turn_state(), TurnState::Replying);
    // The user talks over it.
    let waiter = {
        let session = session.clone();
        tokio::spawn(async move { session.reply_interrupted(turn).await })
    };
    speak(&session).await;
    assert!(waiter.await.unwrap(), "the reply learns it was interrupted");
    assert!(session.output_buffered() < 1e-9, "its queued audio is gone");
    let mut more = tone(660.0, 48_000, 4_800, 0.5);
    assert!(!session
        .send_audio(48_000, &[more.len()], &mut more, None, Some(turn))
        .unwrap());
    session.end_reply(turn);
    // The next reply plays from its first frame.
    let next = session.begin_reply();
    let mut answer = tone(880.0, 48_000, 9_600, 0.5);
    assert!(session
        .send_audio(48_000, &[answer.len()], &mut answer, None, Some(next))
        .unwrap());
    let before = sent.0.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after: Vec<_> = sent.0.lock().unwrap()[before..].to_vec();
    assert!(after.iter().filter(|(_, f)| loud(f.as_ref())).count() >= 9);
    assert!(session.interrupts() >= 1);
}

/// Pushes the Piper sentence fixture, 20 ms at a time, until the VAD (the real Silero model)
/// hears the start of speech.
async fn speak(session: &Arc<MediaSession>) {
    let speech = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/speech/one_sentence.wav"
    ))
    .unwrap();
    // 16 kHz mono int16 WAV: skip the 44-byte header.
    let samples: Vec<f32> = speech[44..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    for chunk in samples.chunks(320) {
        session.push_audio(16_000, 1, chunk).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        if session.turn_state() == TurnState::UserSpeaking {
            return;
        }
    }
    panic!("the VAD never heard the sentence");
}

#[tokio::test(start_paused = true)]
async fn utterances_come_out_once_the_user_pauses() {
    let options = MediaOptions {
        input_sample_rate: 16_000,
        pause: Some(PauseOptions::default()),
        ..MediaOptions::default()
    };
    let (session, _) = session(&options);
    let speech = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/speech/one_sentence.wav"
    ))
    .unwrap();
    let samples: Vec<f32> = speech[44..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let feeder = {
        let session = session.clone();
        tokio::spawn(async move {
            for chunk in samples.chunks(320) {
                session.push_audio(16_000, 1, chunk).unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let utterance = tokio::time::timeout(Duration::from_secs(10), session.next_speech())
        .await
        .unwrap()
        .unwrap();
    let Speech::Complete(frame) = utterance else {
        panic!("pieces are only streamed on request")
    };
    assert_eq!(frame.rate, 16_000);
    let seconds = frame.samples.len() as f64 / 16_000.0;
    assert!((1.5..4.5).contains(&seconds), "{seconds}");
    feeder.await.unwrap();
}

/// A transport that dies after a few ticks.
struct Breaks(u32);

#[async_trait]
impl AudioSink for Breaks {
    async fn send(&mut self, _frame: Option<&OutputFrame>) -> Result<bool, EngineError> {
        self.0 = self.0.saturating_sub(1);
        if self.0 == 0 {
            Err(EngineError::Transport("the socket went away".into()))
        } else {
            Ok(true)
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_transport_fails_the_session_with_its_reason() {
    let session = MediaSession::new("fails".into(), Handle::current(), &MediaOptions::default()).unwrap();
    let mut outbox = session.take_outbox().unwrap();
    let closed = Arc::new(Mutex::new(None));
    {
        let closed = closed.clone();
        session.on_close(move |reason| *closed.lock().unwrap() = Some(reason.to_string()));
    }
    session.start_audio_output(Box::new(Breaks(5)));
    let reason = tokio::time::timeout(Duration::from_secs(2), session.closed())
        .await
        .unwrap();
    assert_eq!(reason, "sending audio failed: the socket went away");
    assert!(session.failed());
    assert_eq!(
        closed.lock().unwrap().as_deref(),
        Some(reason.as_str()),
        "close hooks ran (the slot is freed)"
    );
    let told = outbox.try_recv().unwrap();
    assert!(
        told.contains(r#""type":"error""#) && told.contains("the socket went away"),
        "{told}"
    );
}
