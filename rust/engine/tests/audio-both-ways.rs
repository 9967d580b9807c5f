//! The engine against a webrtc-rs offerer on loopback: audio in, paced audio out, text, close.

#![allow(clippy::large_futures)] // test futures are awaited once; boxing them buys nothing

mod common;

use std::time::Duration;

use common::{wait_until, Offerer};
use gradio_webrtc_engine::{Engine, EngineOptions, IceConfig, SessionOptions, SessionState};
use gradio_webrtc_media::convert::tone;
use gradio_webrtc_media::opus::OpusDecoder;

fn engine() -> Engine {
    let options = EngineOptions {
        bind_addresses: vec!["127.0.0.1:0".into()],
        ..EngineOptions::default()
    };
    Engine::new(IceConfig::default(), options)
}

fn zero_crossing_hz(x: &[i16], rate: f32) -> f32 {
    let crossings = x.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f32 / 2.0 / (x.len() as f32 / rate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_both_ways_text_and_close() {
    let engine = engine();
    let (offerer, offer) = Offerer::new().await;
    let options = SessionOptions {
        input_sample_rate: 16_000,
        ..SessionOptions::default()
    };
    let (session, answer) = engine
        .accept_offer(&offer, "offer", "rust-test", options)
        .await
        .unwrap();
    assert!(answer.contains("a=candidate"), "non-trickle answer carries candidates");
    assert!(answer.contains("opus/48000/2"));
    offerer.apply_answer(&answer).await;
    assert!(tokio::time::timeout(Duration::from_secs(10), session.connected())
        .await
        .unwrap());

    // In: one second of 440 Hz arrives as 20 ms int16 frames at 16 kHz.
    let sending = tokio::spawn({
        let session = session.clone();
        async move {
            let mut frames = Vec::new();
            while frames.len() < 45 {
                let frame = session.next_audio().await.expect("session is open");
                assert_eq!((frame.rate, frame.channels, frame.samples.len()), (16_000, 1, 320));
                frames.push(frame);
            }
            frames
        }
    });
    offerer.send_tone(440.0, 1.0).await;
    let frames = tokio::time::timeout(Duration::from_secs(5), sending)
        .await
        .unwrap()
        .unwrap();
    let audio: Vec<i16> = frames[10..].iter().flat_map(|f| f.samples.clone()).collect();
    assert!((zero_crossing_hz(&audio, 16_000.0) - 440.0).abs() < 5.0);

    // Out: 1 s of 24 kHz audio pushed at once goes out paced, 960 timestamp ticks per packet.
    let mut burst = tone(330.0, 24_000, 24_000, 0.5);
    assert!(session
        .send_audio(24_000, &[burst.len()], &mut burst, None, None)
        .unwrap());
    assert!(session.output_buffered() > 0.9);
    let start = offerer.received.lock().unwrap().packets.len();
    wait_until(Duration::from_secs(5), || {
        offerer.received.lock().unwrap().packets.len() >= start + 60
    })
    .await;
    let packets = offerer.received.lock().unwrap().packets[start..start + 60].to_vec();
    for pair in packets.windows(2) {
        assert_eq!(pair[1].1, pair[0].1.wrapping_add(1), "consecutive sequence numbers");
        assert_eq!(pair[1].2, pair[0].2.wrapping_add(960), "20 ms of timestamp per packet");
    }
    let span = packets[59].0 - packets[0].0;
    assert!(
        span > Duration::from_millis(900),
        "60 packets took {span:?}: paced, not a burst"
    );
    let mut decoder = OpusDecoder::new(1).unwrap();
    let loud = packets
        .iter()
        .filter(|p| decoder.decode(&p.3).unwrap().iter().any(|s| s.abs() > 0.2))
        .count();
    assert!(loud >= 45, "{loud} packets carried the tone");

    // Text both ways: server -> browser.
    session.send_message("tick".to_string());
    wait_until(Duration::from_secs(5), || {
        offerer.received.lock().unwrap().messages.iter().any(|m| m == "tick")
    })
    .await;
    offerer.channel.send_text("handshake").await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), session.next_message())
            .await
            .unwrap()
            .as_deref(),
        Some("handshake")
    );

    // The browser closes: the session ends promptly and leaves the registry.
    offerer.pc.close().await.unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(5), session.closed())
        .await
        .unwrap();
    assert_eq!(reason, "closed by peer");
    assert_eq!(session.state(), SessionState::Closed);
    assert_eq!(engine.session_count(), 0);
    assert!(session.next_audio().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_offers_are_errors() {
    let engine = engine();
    let err = engine
        .accept_offer("garbage", "offer", "a", SessionOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("malformed SDP"), "{err}");
    let err = engine
        .accept_offer("v=0", "answer", "a", SessionOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expected type \"offer\""), "{err}");
    let (_offerer, offer) = Offerer::new().await;
    let (session, _) = engine
        .accept_offer(&offer, "offer", "dup", SessionOptions::default())
        .await
        .unwrap();
    let err = engine
        .accept_offer(&offer, "offer", "dup", SessionOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    engine.close();
    assert!(session.is_closed());
    let err = engine
        .accept_offer(&offer, "offer", "late", SessionOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "the engine is closed");
}
