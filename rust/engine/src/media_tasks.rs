//! The per-session media tasks: decoding what the peer sends, pacing what we send.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use std::sync::atomic::Ordering;

use gradio_webrtc_media::cadence::{Cadence, CadenceCounts, Decision};
use gradio_webrtc_media::convert::{f32_to_i16_into, i16_to_f32, to_channels};
use gradio_webrtc_media::inbound::{InboundAudio, InboundCounts};
use gradio_webrtc_media::pause::{PauseOptions, UtteranceEvent, Utterances};
use rtc::rtp;
use tokio::time::Instant;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use crate::session::{AudioFrame, Session, SessionState, Speech, UTTERANCE_QUEUE};

/// The outgoing audio track and its SSRC.
#[derive(Clone)]
pub(crate) struct PacerTrack {
    pub track: Arc<TrackLocalStaticRTP>,
    pub ssrc: u32,
}

/// How a `ReplyOnPause` session treats its input.
#[derive(Debug, Clone)]
pub(crate) struct PauseMode {
    pub options: PauseOptions,
    /// Talking during a reply stops it (else input during a reply is ignored).
    pub can_interrupt: bool,
    /// Deliver utterances while they are spoken, too (stop-word spotting).
    pub stream_speech: bool,
}

/// Streamed pieces of an utterance are gathered to this many per second before they are sent:
/// ~100 ms is fine-grained enough for keyword spotting and keeps Python wake-ups few.
const PIECES_PER_SECOND: usize = 10;

/// Decodes the peer's audio track into frames for the handler until the track ends.
pub(crate) async fn run_inbound_audio(
    session: Arc<Session>,
    track: Arc<dyn TrackRemote>,
    rate: u32,
    channels: usize,
    pause: Option<PauseMode>,
) {
    let mut inbound = match InboundAudio::new(rate, channels) {
        Ok(i) => i,
        Err(e) => {
            log::error!("session {}: cannot decode audio: {e}", session.webrtc_id);
            return;
        }
    };
    let mut detector = match &pause {
        Some(mode) => match Utterances::new(rate, mode.options.clone()) {
            Ok(mut u) => {
                u.stream_speech(mode.stream_speech);
                Some(u)
            }
            Err(e) => {
                log::error!("session {}: pause detection unavailable: {e}", session.webrtc_id);
                return;
            }
        },
        None => None,
    };
    let can_interrupt = pause.as_ref().is_some_and(|mode| mode.can_interrupt);
    let mut pieces = Pieces::default();
    let mut was_replying = false;
    let mut reported = InboundCounts::default();
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                let header = &packet.header;
                for samples in inbound.push(header.sequence_number, header.timestamp, &packet.payload) {
                    if let Some(utterances) = detector.as_mut() {
                        let replying = session.replying.load(Ordering::SeqCst);
                        if replying != was_replying {
                            // Without barge-in the user was not heard during the reply: start the
                            // next turn clean. With it, the collector keeps the interrupting utterance.
                            if !can_interrupt {
                                utterances.reset();
                            }
                            was_replying = replying;
                        }
                        if replying && !can_interrupt {
                            continue; // the original's behaviour: the user is not heard during a reply
                        }
                        let mono = to_channels(&i16_to_f32(&samples), channels, 1);
                        on_pause_events(&session, utterances.push(&mono), rate, replying, &mut pieces);
                        continue;
                    }
                    let frame = AudioFrame {
                        rate,
                        channels,
                        samples,
                    };
                    if session.audio_tx.try_send(frame).is_ok() {
                        Session::count(&session.stats.frames_in, 1);
                    } else {
                        Session::count(&session.stats.frames_dropped, 1);
                    }
                }
                session.stats.count_inbound(reported, inbound.counts());
                reported = inbound.counts();
            }
            TrackRemoteEvent::OnEnded => break,
            _ => {}
        }
        if session.is_closed() {
            break;
        }
    }
}

/// The streamed utterance's samples not yet sent, and where they start in the utterance.
#[derive(Default)]
struct Pieces {
    pending: Vec<f32>,
    offset: usize,
}

impl Pieces {
    /// Sends the pending samples as one `Speech::Partial`, unless the queue has no room left
    /// beyond what complete utterances need (then the piece is dropped; `offset` still advances,
    /// so the reader sees the gap).
    fn flush(&mut self, session: &Session, rate: u32) {
        if self.pending.is_empty() {
            return;
        }
        let offset = self.offset;
        self.offset += self.pending.len();
        if session.utterance_tx.capacity() > UTTERANCE_QUEUE {
            let mut samples = Vec::with_capacity(self.pending.len());
            f32_to_i16_into(&self.pending, &mut samples);
            let frame = AudioFrame {
                rate,
                channels: 1,
                samples,
            };
            let _ = session.utterance_tx.try_send(Speech::Partial { frame, offset });
        } else {
            Session::count(&session.stats.speech_pieces_dropped, 1);
        }
        self.pending.clear();
    }
}

fn on_pause_events(
    session: &Session,
    events: Result<Vec<UtteranceEvent>, gradio_webrtc_media::Error>,
    rate: u32,
    replying: bool,
    pieces: &mut Pieces,
) {
    let log = |what: &str| serde_json::json!({"type": "log", "data": what}).to_string();
    for event in events.unwrap_or_default() {
        match event {
            UtteranceEvent::Speech(samples) => {
                pieces.pending.extend_from_slice(&samples);
                if pieces.pending.len() >= rate as usize / PIECES_PER_SECOND {
                    pieces.flush(session, rate);
                }
            }
            UtteranceEvent::StartedTalking => {
                *pieces = Pieces::default();
                session.send_message(log("started_talking"));
                if replying {
                    // Barge-in: stop the reply's audio now; Python stops the generator when it
                    // sees the flag.
                    session.clear_output();
                    session.interrupted.store(true, Ordering::SeqCst);
                }
            }
            UtteranceEvent::Utterance(samples) => {
                pieces.flush(session, rate);
                *pieces = Pieces::default();
                session.send_message(log("pause_detected"));
                let mut pcm = Vec::with_capacity(samples.len());
                f32_to_i16_into(&samples, &mut pcm);
                if session
                    .utterance_tx
                    .try_send(Speech::Complete(AudioFrame {
                        rate,
                        channels: 1,
                        samples: pcm,
                    }))
                    .is_err()
                {
                    log::warn!(
                        "session {}: utterance dropped (the handler is not taking them)",
                        session.webrtc_id
                    );
                }
            }
        }
    }
}

/// Sends one Opus packet every 20 ms until the session closes, on the schedule of a [`Cadence`]
/// (a talkspurt starts at once, then runs a few ms behind a live producer; a late frame is waited
/// for briefly instead of being replaced by silence).
///
/// The RTP timestamp advances by 960 per packet (RFC 7587 §4.2) whether the packet carries audio
/// or silence, so the receiver's clock never jumps. Missed ticks (an overloaded runtime) are
/// sent late rather than skipped, which keeps the stream real-time on average.
pub(crate) async fn run_pacer(session: Arc<Session>, out: PacerTrack) {
    let Some(sender) = session.sender.get().cloned() else {
        return;
    };
    let payload_type = match sender.get_parameters().await {
        Ok(params) => match params.rtp_parameters.codecs.first() {
            Some(codec) => codec.payload_type,
            None => return,
        },
        Err(e) => {
            log::warn!("session {}: no negotiated audio codec: {e}", session.webrtc_id);
            return;
        }
    };
    let mut seq: u16 = crate::engine::random_u32() as u16;
    let mut timestamp: u32 = crate::engine::random_u32();
    let origin = Instant::now();
    let since_origin = |t: Instant| t.saturating_duration_since(origin);
    let mut cadence = Cadence::new(Duration::ZERO);
    let mut reported = CadenceCounts::default();
    let mut was_silent = true;
    let mut state = session.state.subscribe();
    loop {
        let deadline = origin + cadence.deadline();
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            () = session.audio_queued.notified(), if cadence.wants_frames() => {}
            _ = state.wait_for(|s| *s == SessionState::Closed) => break,
        }
        let now = Instant::now();
        let packet = {
            let mut outbound = session.outbound.lock().expect("outbound lock poisoned");
            let ready_since = outbound.ready_since.map(since_origin);
            if cadence.decide(since_origin(now), ready_since) == Decision::Wait {
                continue;
            }
            let (underruns, trimmed) = (outbound.audio.underruns, outbound.audio.trimmed);
            let packet = outbound.audio.next_packet();
            Session::count(&session.stats.underruns, outbound.audio.underruns - underruns);
            Session::count(&session.stats.output_frames_trimmed, outbound.audio.trimmed - trimmed);
            // The next queued frame (if any) counts as ready from now.
            outbound.ready_since = outbound.audio.has_frame().then_some(now);
            packet
        };
        session.drained.notify_waiters();
        let packet = match packet {
            Ok(p) => p,
            Err(e) => {
                log::warn!("session {}: encoding failed: {e}", session.webrtc_id);
                cadence.sent(since_origin(now), false);
                continue;
            }
        };
        cadence.sent(since_origin(now), !packet.silent);
        let counts = cadence.counts();
        Session::count(&session.stats.late_frames, counts.late_frames - reported.late_frames);
        Session::count(&session.stats.output_gaps, counts.gaps - reported.gaps);
        reported = counts;
        if !packet.silent {
            Session::count(&session.stats.audio_frames_out, 1);
        }
        let rtp_packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                payload_type,
                sequence_number: seq,
                timestamp,
                ssrc: out.ssrc,
                // RFC 3551 §4.1: the marker bit flags the first packet of a talkspurt.
                marker: was_silent && !packet.silent,
                ..Default::default()
            },
            payload: Bytes::from(packet.payload),
        };
        was_silent = packet.silent;
        if out.track.write_rtp(rtp_packet).await.is_err() {
            break; // the track was unbound: the connection is closing
        }
        Session::count(&session.stats.packets_out, 1);
        seq = seq.wrapping_add(1);
        timestamp = timestamp.wrapping_add(gradio_webrtc_media::WIRE_FRAME as u32);
    }
}
