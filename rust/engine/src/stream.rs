//! The stream transport: encoded audio carried by the host's own message channel — a WebSocket's
//! JSON `media` events (fastrtc's protocol), Twilio Media Streams — instead of RTP.
//!
//! The host pushes each received payload in ([`StreamTransport::push`]) and takes what goes out
//! ([`StreamTransport::next`]): paced audio payloads, the session's side-channel messages, and a
//! `Clear` when the user interrupts a reply (so a telephone gateway drops what it buffered). The
//! session does everything else, exactly as for WebRTC: resampling to the handler's rate, pause
//! detection, the turn state, and 20 ms pacing of the outgoing audio (a WebSocket client has no
//! jitter buffer to hide a bursty sender).

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use gradio_webrtc_media::convert::{f32_to_i16_into, to_channels};
use gradio_webrtc_media::mulaw;
use gradio_webrtc_media::outbound::Frame;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch, Mutex};

use crate::driver::{AudioSink, MediaSession, Transport};
use crate::session::{Failure, FailureKind, MediaOptions, SessionState};
use crate::EngineError;

/// Outgoing audio frames the host may fall behind by (1 s) before the pacer waits for it.
const OUTGOING: usize = 50;
/// Received payloads waiting to be decoded. A client sends one per 20 ms; one that outruns the
/// decoder by this many is far past real time (`InputPace` ends it as soon as they are decoded).
const INCOMING: usize = 256;

/// How audio is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadCodec {
    /// G.711 μ-law, one byte per sample.
    Mulaw,
    /// Little-endian signed 16-bit PCM.
    Pcm16,
}

/// The payload of a `media` event (`{"event": "media", "media": {"payload": <base64>}}`), None for
/// any other text (not JSON, or another event: the host handles those).
///
/// # Errors
/// `BadMedia` for a `media` event without a valid base64 payload.
pub fn parse_media_event(text: &str) -> Result<Option<Vec<u8>>, EngineError> {
    #[derive(serde::Deserialize)]
    struct Media<'a> {
        #[serde(borrow)]
        payload: Option<std::borrow::Cow<'a, str>>,
    }
    #[derive(serde::Deserialize)]
    struct Event<'a> {
        #[serde(borrow)]
        event: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        media: Option<Media<'a>>,
    }
    let Ok(event) = serde_json::from_str::<Event<'_>>(text) else {
        return Ok(None);
    };
    if event.event.as_deref() != Some("media") {
        return Ok(None);
    }
    let payload = event
        .media
        .and_then(|m| m.payload)
        .ok_or_else(|| EngineError::BadMedia("media without a base64 payload".into()))?;
    base64::engine::general_purpose::STANDARD
        .decode(payload.as_bytes())
        .map(Some)
        .map_err(|_| EngineError::BadMedia("media without a base64 payload".into()))
}

/// A `media` event of the WebSocket protocols for `payload`, with Twilio's `streamSid` if given.
#[must_use]
pub fn media_event(payload: &[u8], stream_sid: Option<&str>) -> String {
    let payload = base64::engine::general_purpose::STANDARD.encode(payload);
    match stream_sid {
        Some(sid) => serde_json::json!({"event": "media", "streamSid": sid, "media": {"payload": payload}}),
        None => serde_json::json!({"event": "media", "media": {"payload": payload}}),
    }
    .to_string()
}

impl PayloadCodec {
    /// Parses `"mulaw"` or `"pcm16"`.
    pub fn parse(name: &str) -> Result<Self, EngineError> {
        match name {
            "mulaw" | "ulaw" | "pcmu" => Ok(Self::Mulaw),
            "pcm16" | "s16le" => Ok(Self::Pcm16),
            other => Err(EngineError::Setup(format!(
                "unknown audio encoding {other:?} (\"mulaw\" or \"pcm16\")"
            ))),
        }
    }

    fn decode(self, payload: &[u8]) -> Vec<f32> {
        match self {
            Self::Mulaw => mulaw::decode(payload),
            Self::Pcm16 => payload
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
                .collect(),
        }
    }

    fn encode(self, samples: &[f32]) -> Vec<u8> {
        match self {
            Self::Mulaw => mulaw::encode(samples),
            Self::Pcm16 => {
                let mut pcm = Vec::with_capacity(samples.len());
                f32_to_i16_into(samples, &mut pcm);
                pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
            }
        }
    }
}

/// What the host sends next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// 20 ms of audio, encoded.
    Media(Vec<u8>),
    /// The audio stopped (the end of a reply's talkspurt): a telephone gateway can be asked to
    /// report when it has played up to here (Twilio's `mark`).
    Mark,
    /// A side-channel message (the data channel's strings and JSON).
    Message(String),
    /// The user interrupted a reply: the peer should drop the audio it buffered.
    Clear,
}

/// A paced tick that carries something: audio, or the end of a talkspurt.
enum Paced {
    Media(Vec<u8>),
    End,
}

/// The paced frames, encoded, into a channel the host drains.
struct ChannelSink {
    codec: PayloadCodec,
    tx: mpsc::Sender<Paced>,
    talking: bool,
}

#[async_trait]
impl AudioSink for ChannelSink {
    async fn send(&mut self, frame: Option<&Frame>) -> Result<bool, EngineError> {
        let paced = match frame {
            Some(frame) => {
                self.talking = true;
                Paced::Media(self.codec.encode(&to_channels(&frame.samples, frame.channels, 1)))
            }
            // Silence is not sent: a stream client plays nothing between replies anyway.
            None if self.talking => {
                self.talking = false;
                Paced::End
            }
            None => return Ok(false),
        };
        self.tx
            .send(paced)
            .await
            .map(|()| true)
            .map_err(|_| EngineError::Transport("the stream's reader is gone".into()))
    }
}

/// The host's end of a stream session.
pub struct StreamTransport {
    session: Arc<MediaSession>,
    codec: PayloadCodec,
    incoming: mpsc::Sender<Vec<u8>>,
    out: Mutex<Receivers>,
}

struct Receivers {
    media: mpsc::Receiver<Paced>,
    messages: mpsc::UnboundedReceiver<String>,
    interrupts: watch::Receiver<u64>,
}

/// Nothing to release: the host owns the socket and closes it when the session ends.
struct HostOwned;

#[async_trait]
impl Transport for HostOwned {
    fn close(&self) {}
}

/// Decodes what the host pushed, in order, into the session until the session ends. A peer that
/// runs ahead of real time (`InputPace`) ends its session here.
async fn decode_incoming(
    session: Arc<MediaSession>,
    codec: PayloadCodec,
    rate: u32,
    mut payloads: mpsc::Receiver<Vec<u8>>,
) {
    let mut state = session.watch_state();
    loop {
        let payload = tokio::select! {
            payload = payloads.recv() => payload,
            _ = state.wait_for(|s| *s == SessionState::Closed) => None,
        };
        let Some(payload) = payload else { return };
        if let Err(e) = session.push_audio(rate, 1, &codec.decode(&payload)) {
            session.fail(Failure::from(e));
            return;
        }
    }
}

impl StreamTransport {
    /// A new session `id` carried as `codec` audio, received at `in_rate` Hz and sent at
    /// `out_rate` Hz; connected at once (its time limit starts now).
    pub fn open(
        id: String,
        runtime: Handle,
        codec: PayloadCodec,
        in_rate: u32,
        out_rate: u32,
        mut media: MediaOptions,
    ) -> Result<(Arc<MediaSession>, Arc<StreamTransport>), EngineError> {
        gradio_webrtc_media::check_rate("stream input rate", in_rate)?;
        gradio_webrtc_media::check_rate("stream output rate", out_rate)?;
        media.output_rate = out_rate;
        let session = MediaSession::new(id, runtime, &media)?;
        let messages = session
            .take_outbox()
            .expect("a new session's outbox has not been taken");
        let (tx, rx) = mpsc::channel(OUTGOING);
        let (incoming, payloads) = mpsc::channel(INCOMING);
        session
            .runtime()
            .spawn(decode_incoming(session.clone(), codec, in_rate, payloads));
        let transport = Arc::new(Self {
            session: session.clone(),
            codec,
            incoming,
            out: Mutex::new(Receivers {
                media: rx,
                messages,
                interrupts: session.watch_interrupts(),
            }),
        });
        session.set_transport(Arc::new(HostOwned));
        session.start_audio_output(Box::new(ChannelSink {
            codec,
            tx,
            talking: false,
        }));
        session.on_connected();
        Ok((session, transport))
    }

    /// The session this transport carries.
    #[must_use]
    pub fn session(&self) -> &Arc<MediaSession> {
        &self.session
    }

    /// One received payload (any length) of the stream's encoding and rate. It is decoded, framed
    /// and run through pause detection on the engine's threads, never the caller's: a host's
    /// event loop spends no time on a peer's audio.
    ///
    /// # Errors
    /// `BadMedia` for an odd-length pcm16 payload (nothing else changes); `TooFast` when the peer
    /// has outrun the decoder by `INCOMING` payloads (the session ends).
    pub fn push(&self, payload: Vec<u8>) -> Result<(), EngineError> {
        if self.codec == PayloadCodec::Pcm16 && !payload.len().is_multiple_of(2) {
            return Err(EngineError::BadMedia(
                "a pcm16 payload has an even number of bytes".into(),
            ));
        }
        match self.incoming.try_send(payload) {
            // Closed: the session has ended, and what it would have heard no longer matters.
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                let reason = "the peer sent audio faster than it can be processed";
                self.session.fail(Failure::new(FailureKind::InputTooFast, reason));
                Err(EngineError::TooFast(reason.into()))
            }
        }
    }

    /// A JSON text message of the WebSocket protocols: if it is a `media` event
    /// (`{"event": "media", "media": {"payload": <base64>}}`), its audio is pushed and true returned;
    /// anything else is left to the host (false). Parsing here keeps the per-frame work off the
    /// host's event loop.
    pub fn push_media_event(&self, text: &str) -> Result<bool, EngineError> {
        match parse_media_event(text)? {
            Some(bytes) => {
                self.push(bytes)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The next thing to send; None once the session has ended and its last messages went out.
    pub async fn next(&self) -> Option<Outgoing> {
        let mut out = self.out.lock().await;
        let Receivers {
            media,
            messages,
            interrupts,
        } = &mut *out;
        let mut state = self.session.watch_state();
        tokio::select! {
            biased;
            Some(m) = messages.recv() => Some(Outgoing::Message(m)),
            Ok(()) = interrupts.changed() => {
                // Frames of the interrupted reply still waiting here are stale too.
                while media.try_recv().is_ok() {}
                Some(Outgoing::Clear)
            }
            Some(p) = media.recv() => Some(match p {
                Paced::Media(p) => Outgoing::Media(p),
                Paced::End => Outgoing::Mark,
            }),
            _ = state.wait_for(|s| *s == SessionState::Closed) => messages.try_recv().ok().map(Outgoing::Message),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::session::CloseReason;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn mulaw_in_frames_out_paced_and_encoded() {
        let options = MediaOptions {
            input_sample_rate: 16_000,
            ..MediaOptions::default()
        };
        let (session, transport) = StreamTransport::open(
            "ws".into(),
            Handle::current(),
            PayloadCodec::Mulaw,
            8_000,
            8_000,
            options,
        )
        .unwrap();
        // 100 ms of telephone audio in: 20 ms frames at 16 kHz out to the handler.
        transport.push(mulaw::encode(&vec![0.25; 800])).unwrap();
        let frame = tokio::time::timeout(Duration::from_millis(100), session.next_audio())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((frame.rate, frame.samples.len()), (16_000, 320));
        // The handler's 24 kHz reply goes out as 160-byte μ-law frames, one per 20 ms.
        let mut reply = vec![0.5f32; 24_000 / 5];
        assert!(session
            .send_audio(24_000, &[reply.len()], &mut reply, None, None)
            .unwrap());
        let start = tokio::time::Instant::now();
        let mut times = Vec::new();
        while times.len() < 10 {
            match transport.next().await.unwrap() {
                Outgoing::Media(p) => {
                    assert_eq!(p.len(), 160);
                    times.push(start.elapsed());
                }
                Outgoing::Message(_) | Outgoing::Clear | Outgoing::Mark => {}
            }
        }
        assert!(
            times[9].saturating_sub(times[1]) >= Duration::from_millis(159),
            "paced: {times:?}"
        );
        session.send_message("bye".into());
        session.close(CloseReason::Server("done".into()));
        assert_eq!(transport.next().await, Some(Outgoing::Message("bye".into())));
        assert_eq!(transport.next().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn media_events_are_parsed_here() {
        let (session, transport) = StreamTransport::open(
            "ev".into(),
            Handle::current(),
            PayloadCodec::Mulaw,
            8_000,
            8_000,
            MediaOptions::default(),
        )
        .unwrap();
        let event = media_event(&mulaw::encode(&[0.1; 160]), None);
        assert!(event.starts_with(r#"{"event":"media","media":{"payload":""#), "{event}");
        assert!(transport.push_media_event(&event).unwrap());
        assert!(!transport.push_media_event(r#"{"event":"ping"}"#).unwrap());
        assert!(!transport.push_media_event("not json").unwrap());
        assert!(transport
            .push_media_event(r#"{"event":"media","media":{"payload":"***"}}"#)
            .is_err());
        assert!(media_event(&[0xff], Some("MZ1")).contains(r#""streamSid":"MZ1""#));
        session.close(CloseReason::Server("done".into()));
    }
}
