//! The media session: everything that gives a stream its behaviour, whatever carries it.
//!
//! ```text
//!            transport (WebRTC, WebSocket, in-process)                 handler (Python)
//!  decoded audio ──push_audio──▶ AudioIn ─ frames ───────────────────▶ next_audio
//!                                  │ └─ VAD + pause rule ─ utterances ─▶ next_speech
//!                                  ▼
//!                                Turn  (listening · user speaking · replying; barge-in)
//!                                  ▲
//!  AudioSink ◀── pacer (Cadence) ◀── AudioOut (20 ms frames, budget) ◀── send_audio(turn)
//!  pictures ──put_video──▶ VideoIn (latest wins) ───────────────────────▶ next_video
//!  VideoSink ◀──────────────────────────────────────────────────────────── send_video
//!  side channel ◀─▶ Messages (outbox / inbox) ◀─────────────────────────▶ send/next_message
//! ```
//!
//! A transport only moves media and messages: it decodes what arrives and pushes it in, and gives
//! the session an [`AudioSink`] (and a [`VideoSink`]) for what goes out. Resampling, framing,
//! pacing, pause detection, the turn state, latency budgets and stats all live here, so a
//! `ReplyOnPause` behaves the same over every transport, and a transport can be added without
//! touching this module. Any task that cannot go on calls [`MediaSession::fail`]: the peer gets
//! `{"type": "error"}`, the session closes with the reason, and the handler's side sees it.

mod audio_in;
mod audio_out;
mod messages;
mod state;
mod stats;
mod turn;
mod video;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use gradio_webrtc_media::convert::{interleave, sanitize, Layout};
use gradio_webrtc_media::pause::PauseOptions;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch, Notify};

pub use audio_in::{AudioFrame, Speech};
pub use audio_out::AudioSink;
pub use gradio_webrtc_media::outbound::Frame as OutputFrame;
pub use state::SessionState;
pub use stats::SessionStats;
pub use turn::TurnState;
pub use video::{VideoFrame, VideoSent, VideoSink};

use audio_in::{AudioIn, InputEvent, PauseMode};
use audio_out::AudioOut;
use messages::Messages;
use turn::Turn;
use video::VideoIn;

use crate::EngineError;

/// Complete utterances the handler may fall behind by before one is dropped.
const UTTERANCE_QUEUE: usize = 16;
/// Partial pieces (~100 ms each) queued beyond that; when full, pieces are dropped, never utterances.
const PARTIAL_QUEUE: usize = 64;
/// How long a goodbye message (an error, the time limit) gets to leave before the transport closes.
const GOODBYE: Duration = Duration::from_millis(100);

/// What a session does with media, independent of the transport.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // independent switches, not a state machine
pub struct MediaOptions {
    /// Audio from the peer reaches the handler (false in `receive` mode).
    pub recv_audio: bool,
    /// The handler's audio reaches the peer (false in `send` mode: it is produced and discarded).
    pub send_audio: bool,
    /// Rate of the frames handed to the handler.
    pub input_sample_rate: u32,
    /// Channels of the frames handed to the handler (1 or 2).
    pub input_channels: usize,
    /// Rate the transport's [`AudioSink`] wants (48 kHz for Opus, 8 kHz for telephony).
    pub output_rate: u32,
    /// Pause detection (`ReplyOnPause`): whole utterances instead of frames.
    pub pause: Option<PauseOptions>,
    /// With pause detection: talking during a reply stops it; without, it is not heard.
    pub can_interrupt: bool,
    /// With pause detection: also deliver each utterance while it is spoken (~100 ms pieces).
    pub stream_speech: bool,
    /// Close the session this long after it connected.
    pub time_limit: Option<Duration>,
}

impl Default for MediaOptions {
    fn default() -> Self {
        Self {
            recv_audio: true,
            send_audio: true,
            input_sample_rate: 48_000,
            input_channels: 1,
            output_rate: gradio_webrtc_media::WIRE_RATE,
            pause: None,
            can_interrupt: true,
            stream_speech: false,
            time_limit: None,
        }
    }
}

/// The transport under a session, as the session sees it.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Releases the transport's sockets and tasks. Called once, when the session closes.
    fn close(&self);
    /// The local and remote candidate types of the selected ICE pair (WebRTC only).
    async fn candidate_types(&self) -> Option<(String, String)> {
        None
    }
    /// A remote ICE candidate the peer trickled after its offer (`RTCIceCandidate.toJSON()`).
    async fn add_remote_candidate(&self, _candidate_json: &str) -> Result<(), EngineError> {
        Err(EngineError::BadMedia("this connection takes no ICE candidates".into()))
    }
}

type CloseHook = Box<dyn FnOnce(&str) + Send>;

/// One stream between a peer and a handler. Cheap to share (`Arc`).
pub struct MediaSession {
    id: String,
    runtime: Handle,
    state: watch::Sender<SessionState>,
    reason: OnceLock<String>,
    failed: AtomicBool,
    stats: SessionStats,
    can_interrupt: bool,
    time_limit: Option<Duration>,
    audio_in: Option<Mutex<AudioIn>>,
    frames_ready: Notify,
    speech_tx: mpsc::Sender<Speech>,
    speech_rx: tokio::sync::Mutex<mpsc::Receiver<Speech>>,
    audio_out: Option<AudioOut>,
    video_in: VideoIn,
    video_out: OnceLock<Arc<dyn VideoSink>>,
    messages: Messages,
    turn: Turn,
    transport: OnceLock<Arc<dyn Transport>>,
    on_close: Mutex<Vec<CloseHook>>,
    /// When the session was made: the clock input audio is paced against.
    epoch: tokio::time::Instant,
}

impl MediaSession {
    /// A session `id` on `runtime`; nothing flows until a transport pushes media and starts the
    /// output.
    pub fn new(id: String, runtime: Handle, options: &MediaOptions) -> Result<Arc<Self>, EngineError> {
        if !(1..=2).contains(&options.input_channels) {
            return Err(EngineError::Setup(format!(
                "unsupported input format: {} channels",
                options.input_channels
            )));
        }
        gradio_webrtc_media::check_rate("input_sample_rate", options.input_sample_rate)
            .map_err(|e| EngineError::Setup(e.to_string()))?;
        let audio_in = if options.recv_audio {
            let pause = options.pause.clone().map(|o| PauseMode {
                options: o,
                can_interrupt: options.can_interrupt,
                stream_speech: options.stream_speech,
            });
            Some(Mutex::new(AudioIn::new(
                options.input_sample_rate,
                options.input_channels,
                pause,
            )?))
        } else {
            None
        };
        // Live streams keep in step with their input; a reply buffered ahead on purpose sets its
        // own budget (`set_output_budget(None)`).
        let audio_out = options.send_audio.then(|| AudioOut::new(options.output_rate, Some(0)));
        let (speech_tx, speech_rx) = mpsc::channel(UTTERANCE_QUEUE + PARTIAL_QUEUE);
        Ok(Arc::new(Self {
            id,
            runtime,
            state: watch::channel(SessionState::Connecting).0,
            reason: OnceLock::new(),
            failed: AtomicBool::new(false),
            stats: SessionStats::default(),
            can_interrupt: options.can_interrupt,
            time_limit: options.time_limit,
            audio_in,
            frames_ready: Notify::new(),
            speech_tx,
            speech_rx: tokio::sync::Mutex::new(speech_rx),
            audio_out,
            video_in: VideoIn::default(),
            video_out: OnceLock::new(),
            messages: Messages::default(),
            turn: Turn::default(),
            transport: OnceLock::new(),
            on_close: Mutex::new(Vec::new()),
            epoch: tokio::time::Instant::now(),
        }))
    }

    // -- identity and life -------------------------------------------------------------------

    /// The id of this session (the browser's `webrtc_id`).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The runtime its tasks run on.
    #[must_use]
    pub fn runtime(&self) -> &Handle {
        &self.runtime
    }

    /// Current state.
    #[must_use]
    pub fn state(&self) -> SessionState {
        *self.state.borrow()
    }

    /// A receiver of state changes.
    #[must_use]
    pub fn watch_state(&self) -> watch::Receiver<SessionState> {
        self.state.subscribe()
    }

    /// True once the session has ended.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state() == SessionState::Closed
    }

    /// Why the session ended, once it has.
    #[must_use]
    pub fn close_reason(&self) -> Option<&str> {
        self.reason.get().map(String::as_str)
    }

    /// True if the session ended (or is ending) because something failed.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// Records the transport, so that closing the session releases it.
    pub fn set_transport(&self, transport: Arc<dyn Transport>) {
        let _ = self.transport.set(transport);
    }

    /// Runs `hook` with the reason once the session closes (at once if it already has).
    pub fn on_close(&self, hook: impl FnOnce(&str) + Send + 'static) {
        let mut hooks = self.on_close.lock().expect("close hooks poisoned");
        if let Some(reason) = self.reason.get() {
            drop(hooks);
            hook(reason);
            return;
        }
        hooks.push(Box::new(hook));
    }

    /// Moves the session to `state` (a closed session stays closed).
    pub fn set_state(&self, state: SessionState) {
        self.state.send_if_modified(|s| {
            if *s == SessionState::Closed || *s == state {
                false
            } else {
                *s = state;
                true
            }
        });
    }

    /// The transport connected for the first time: the time limit starts now.
    pub fn on_connected(self: &Arc<Self>) {
        let first = self.state() == SessionState::Connecting;
        self.set_state(SessionState::Connected);
        let (true, Some(limit)) = (first, self.time_limit) else {
            return;
        };
        let session = self.clone();
        self.runtime.spawn(async move {
            if session.sleep_unless_closed(limit).await {
                session
                    .send_message(serde_json::json!({"type": "end_stream", "data": "Time limit reached"}).to_string());
                session.sleep_unless_closed(GOODBYE).await;
                session.close("time limit reached");
            }
        });
    }

    /// Ends the session: runs the close hooks (the registry forgets it), then wakes every waiter
    /// and releases the transport. Idempotent; callable from any thread.
    ///
    /// The hooks run first so that whoever wakes on the end (`closed()`) finds the session gone
    /// from the registry, whatever thread it wakes on.
    pub fn close(&self, reason: &str) {
        if self.reason.set(reason.to_string()).is_err() {
            return;
        }
        log::debug!("session {} closing: {reason}", self.id);
        let hooks = std::mem::take(&mut *self.on_close.lock().expect("close hooks poisoned"));
        for hook in hooks {
            hook(reason);
        }
        self.set_state(SessionState::Closed);
        if let Some(out) = &self.audio_out {
            out.drained.notify_waiters();
        }
        self.frames_ready.notify_waiters();
        if let Some(transport) = self.transport.get() {
            transport.close();
        }
    }

    /// Ends the session because something could not go on: the peer is told
    /// (`{"type": "error", "message": reason}`) and the session closes with `reason` a moment
    /// later. The one failure path of every task.
    pub fn fail(self: &Arc<Self>, reason: &str) {
        if self.is_closed() || self.failed.swap(true, Ordering::SeqCst) {
            return;
        }
        log::debug!("session {} failed: {reason}", self.id);
        self.send_message(serde_json::json!({"type": "error", "message": reason}).to_string());
        let session = self.clone();
        let reason = reason.to_string();
        self.runtime.spawn(async move {
            session.sleep_unless_closed(GOODBYE).await;
            session.close(&reason);
        });
    }

    /// Waits until the session has ended; returns the reason.
    pub async fn closed(&self) -> String {
        let mut rx = self.state.subscribe();
        let _ = rx.wait_for(|s| *s == SessionState::Closed).await;
        self.close_reason().unwrap_or("closed").to_string()
    }

    /// Waits until the session is connected (true) or has ended (false).
    pub async fn connected(&self) -> bool {
        let mut rx = self.state.subscribe();
        matches!(
            rx.wait_for(|s| matches!(s, SessionState::Connected | SessionState::Closed))
                .await
                .map(|s| *s),
            Ok(SessionState::Connected)
        )
    }

    /// Sleeps for `d` unless the session closes first; true if the full time passed.
    pub async fn sleep_unless_closed(&self, d: Duration) -> bool {
        let mut state = self.state.subscribe();
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            _ = state.wait_for(|s| *s == SessionState::Closed) => false,
        }
    }

    /// The selected ICE pair's candidate types, when the transport has one.
    pub async fn candidate_types(&self) -> Option<(String, String)> {
        self.transport.get()?.candidate_types().await
    }

    /// Adds a remote ICE candidate the peer trickled after its offer (its `toJSON()` form).
    ///
    /// # Errors
    /// `BadMedia` for a transport without ICE, a malformed candidate, or one too many.
    pub async fn add_remote_candidate(&self, candidate_json: &str) -> Result<(), EngineError> {
        match self.transport.get() {
            Some(transport) if !self.is_closed() => {
                transport.add_remote_candidate(candidate_json).await?;
                SessionStats::add(&self.stats.ice_candidates_trickled, 1);
                Ok(())
            }
            _ => Err(EngineError::BadMedia("the connection has ended".into())),
        }
    }

    // -- audio in ----------------------------------------------------------------------------

    /// Decoded audio from the peer: `channels` interleaved at `rate` Hz, values in `[-1, 1]`.
    pub fn push_audio(&self, rate: u32, channels: usize, samples: &[f32]) -> Result<(), EngineError> {
        let Some(input) = &self.audio_in else {
            return Ok(()); // receive mode: the peer's audio is not used
        };
        let replying = self.turn.state() == TurnState::Replying;
        let now = self.epoch.elapsed().as_secs_f64();
        let events = input
            .lock()
            .expect("input lock poisoned")
            .push(now, rate, channels, samples, replying)?;
        for event in events {
            self.on_input(event);
        }
        Ok(())
    }

    fn on_input(&self, event: InputEvent) {
        let log = |what: &str| serde_json::json!({"type": "log", "data": what}).to_string();
        match event {
            InputEvent::Frame(frame) => {
                let queued = self
                    .audio_in
                    .as_ref()
                    .expect("frames come from the input")
                    .lock()
                    .expect("input lock poisoned")
                    .enqueue(frame);
                if queued {
                    SessionStats::add(&self.stats.frames_in, 1);
                    self.frames_ready.notify_one();
                } else {
                    SessionStats::add(&self.stats.frames_dropped, 1);
                }
            }
            InputEvent::StartedTalking => {
                self.send_message(log("started_talking"));
                self.user_started_talking();
            }
            InputEvent::Speech(piece) => {
                // Keep room for whole utterances: a reader that falls behind loses pieces, never
                // utterances (the offsets show the gap).
                if self.speech_tx.capacity() > UTTERANCE_QUEUE {
                    let _ = self.speech_tx.try_send(piece);
                } else {
                    SessionStats::add(&self.stats.speech_pieces_dropped, 1);
                }
            }
            InputEvent::Utterance(frame) => {
                self.turn.user_paused();
                self.send_message(log("pause_detected"));
                if self.speech_tx.try_send(Speech::Complete(frame)).is_err() {
                    SessionStats::add(&self.stats.utterances_dropped, 1);
                    log::warn!(
                        "session {}: utterance dropped (the handler is not taking them)",
                        self.id
                    );
                }
            }
        }
    }

    /// The user stopped talking (a pause detector outside the engine says so: a custom
    /// `PauseDetectionModel` in Python).
    pub fn user_paused(&self) {
        self.turn.user_paused();
    }

    /// Ends the utterance being collected now, as if the user had paused: whatever was heard so
    /// far (possibly nothing) goes to the handler (`ReplyOnPause.trigger_response`). Without pause
    /// detection this does nothing.
    pub fn end_utterance(&self) {
        let Some(input) = &self.audio_in else {
            return;
        };
        let event = input.lock().expect("input lock poisoned").end_utterance();
        if let Some(event) = event {
            self.on_input(event);
        }
    }

    /// The user started talking: a playing reply is interrupted at once (barge-in) — its queued
    /// audio is dropped under the same lock that admits its new audio, so nothing of it plays.
    /// Public for pause detectors outside the engine.
    pub fn user_started_talking(&self) {
        match &self.audio_out {
            Some(out) => {
                let mut outgoing = out.lock();
                if self.turn.user_started(self.can_interrupt).is_some() {
                    outgoing.queue.clear();
                    outgoing.ready_since = None;
                    drop(outgoing);
                    out.drained.notify_waiters();
                }
            }
            None => {
                self.turn.user_started(self.can_interrupt);
            }
        }
    }

    /// The next input frame, or None once the session has ended.
    pub async fn next_audio(&self) -> Option<AudioFrame> {
        let input = self.audio_in.as_ref()?;
        let mut state = self.state.subscribe();
        loop {
            let notified = self.frames_ready.notified();
            if self.is_closed() {
                return None;
            }
            let (frame, trimmed) = input.lock().expect("input lock poisoned").take();
            SessionStats::add(&self.stats.input_frames_trimmed, trimmed);
            if frame.is_some() {
                return frame;
            }
            tokio::select! {
                biased;
                _ = state.wait_for(|s| *s == SessionState::Closed) => return None,
                () = notified => {}
            }
        }
    }

    /// Input frames waiting for the handler.
    #[must_use]
    pub fn input_queued(&self) -> usize {
        self.audio_in
            .as_ref()
            .map_or(0, |i| i.lock().expect("input lock poisoned").queued())
    }

    /// The next piece or complete utterance (pause detection), or None once the session has ended.
    pub async fn next_speech(&self) -> Option<Speech> {
        let mut rx = self.speech_rx.lock().await;
        let mut state = self.state.subscribe();
        tokio::select! {
            biased;
            _ = state.wait_for(|s| *s == SessionState::Closed) => None,
            u = rx.recv() => u,
        }
    }

    /// The next complete utterance (pieces, if streamed, are skipped), or None once closed.
    pub async fn next_utterance(&self) -> Option<AudioFrame> {
        loop {
            match self.next_speech().await? {
                Speech::Complete(frame) => return Some(frame),
                Speech::Partial { .. } => {}
            }
        }
    }

    // -- the turn ----------------------------------------------------------------------------

    /// Where the conversation is.
    #[must_use]
    pub fn turn_state(&self) -> TurnState {
        self.turn.state()
    }

    /// Replies the user interrupted so far.
    #[must_use]
    pub fn interrupts(&self) -> u64 {
        self.turn.interrupts()
    }

    /// A receiver that changes at every barge-in (a transport may tell its peer to drop what it
    /// buffered of the interrupted reply).
    #[must_use]
    pub fn watch_interrupts(&self) -> watch::Receiver<u64> {
        self.turn.watch_interrupts()
    }

    /// A reply starts; its audio must be sent with the returned number.
    pub fn begin_reply(&self) -> u64 {
        self.turn.begin_reply()
    }

    /// Reply `turn` is over (a no-op if the user already interrupted it).
    pub fn end_reply(&self, turn: u64) {
        self.turn.end_reply(turn);
    }

    /// True while reply `turn` may still play.
    #[must_use]
    pub fn reply_current(&self, turn: u64) -> bool {
        self.turn.accepts(turn)
    }

    /// Waits until reply `turn` is interrupted (true) or the session ends (false).
    pub async fn reply_interrupted(&self, turn: u64) -> bool {
        let mut state = self.state.subscribe();
        tokio::select! {
            () = self.turn.superseded(turn) => true,
            _ = state.wait_for(|s| *s == SessionState::Closed) => false,
        }
    }

    // -- audio out ---------------------------------------------------------------------------

    /// Queues handler audio (row-major `shape`, values in `[-1, 1]`) for the peer. With `turn`,
    /// the audio belongs to that reply and is refused (false) once the reply is no longer current
    /// (the user interrupted it). Send mode and closed sessions discard audio (true).
    pub fn send_audio(
        &self,
        rate: u32,
        shape: &[usize],
        data: &mut [f32],
        layout: Option<&str>,
        turn: Option<u64>,
    ) -> Result<bool, EngineError> {
        let layout = layout.map(Layout::parse).transpose()?;
        sanitize(data);
        let (channels, samples) = interleave(shape, data, layout)?;
        let Some(out) = &self.audio_out else {
            return Ok(turn.is_none_or(|t| self.turn.accepts(t))); // send mode: produced and discarded
        };
        if self.is_closed() {
            return Ok(true);
        }
        let ready = {
            let mut outgoing = out.lock();
            if turn.is_some_and(|t| !self.turn.accepts(t)) {
                return Ok(false);
            }
            outgoing.queue.push(rate, channels, &samples)?;
            let ready = outgoing.queue.has_frame();
            if ready && outgoing.ready_since.is_none() {
                outgoing.ready_since = Some(tokio::time::Instant::now());
            }
            ready
        };
        if ready {
            out.queued.notify_one();
        }
        Ok(true)
    }

    /// Seconds of audio queued and not yet sent.
    #[must_use]
    pub fn output_buffered(&self) -> f64 {
        self.audio_out.as_ref().map_or(0.0, AudioOut::buffered)
    }

    /// Waits until less than `seconds` of audio is queued (true); false if the session ended or,
    /// with `turn`, that reply was interrupted first.
    pub async fn output_below(&self, seconds: f64, turn: Option<u64>) -> bool {
        let Some(out) = &self.audio_out else {
            return !self.is_closed();
        };
        loop {
            let notified = out.drained.notified();
            if self.is_closed() || turn.is_some_and(|t| !self.turn.accepts(t)) {
                return false;
            }
            if out.buffered() < seconds {
                return true;
            }
            notified.await;
        }
    }

    /// Drops queued output audio.
    pub fn clear_output(&self) {
        if let Some(out) = &self.audio_out {
            let mut outgoing = out.lock();
            outgoing.queue.clear();
            outgoing.ready_since = None;
            drop(outgoing);
            out.drained.notify_waiters();
        }
    }

    /// How much audio may stand in the output queue (beyond the frame being sent) before quiet
    /// frames are trimmed: live streams (the default, 0 s) keep in step with their input; replies
    /// buffered ahead on purpose pass None.
    pub fn set_output_budget(&self, seconds: Option<f64>) {
        if let Some(out) = &self.audio_out {
            let frames = seconds.map(|s| (s.max(0.0) * 50.0).round() as usize);
            out.lock().queue.set_latency_budget(frames);
        }
    }

    /// Starts the pacer: one tick every 20 ms into `sink` until the session closes. A sink that
    /// fails ends the session with its reason.
    pub fn start_audio_output(self: &Arc<Self>, sink: Box<dyn AudioSink>) {
        if self.audio_out.is_none() {
            return;
        }
        let session = self.clone();
        self.runtime.spawn(async move {
            let out = session.audio_out.as_ref().expect("checked above");
            let result = audio_out::run_pacer(out, &session.stats, session.state.subscribe(), sink).await;
            if let Err(reason) = result {
                if !session.is_closed() {
                    session.fail(&format!("sending audio failed: {reason}"));
                }
            }
        });
    }

    // -- video -------------------------------------------------------------------------------

    /// A decoded picture from the peer (packed BGR); replaces one the handler has not taken.
    pub fn put_video(&self, width: u32, height: u32, bgr: Vec<u8>) {
        SessionStats::add(&self.stats.video_frames_in, 1);
        if self.video_in.put(width, height, bgr) {
            SessionStats::add(&self.stats.video_frames_skipped, 1);
        }
    }

    /// The newest received picture (older ones not taken meanwhile are skipped), or None once the
    /// session has ended.
    pub async fn next_video(&self) -> Option<VideoFrame> {
        let mut seq = self.video_in.seq.subscribe();
        let mut state = self.state.subscribe();
        loop {
            if self.is_closed() {
                return None;
            }
            if let Some(frame) = self.video_in.take() {
                return Some(frame);
            }
            tokio::select! {
                biased;
                _ = state.wait_for(|s| *s == SessionState::Closed) => return None,
                changed = seq.changed() => if changed.is_err() { return None },
            }
        }
    }

    /// Where the handler's pictures go (set by a transport that sends video).
    pub fn set_video_sink(&self, sink: Arc<dyn VideoSink>) {
        let _ = self.video_out.set(sink);
    }

    /// Encodes and sends one picture (`pixels`: packed 24-bit, BGR or RGB order). Without a video
    /// sink (send mode, audio only) pictures are dropped, as in the original.
    pub async fn send_video(&self, width: u32, height: u32, pixels: &[u8], bgr: bool) -> Result<(), EngineError> {
        let Some(sink) = self.video_out.get() else {
            return Ok(());
        };
        if self.is_closed() {
            return Ok(());
        }
        let picture = gradio_webrtc_media::video::I420::from_packed(pixels, width, height, bgr)?;
        match sink.send(&picture).await? {
            VideoSent::Sent {
                width,
                height,
                bitrate,
                link_bps,
                link_feedback,
            } => {
                SessionStats::add(&self.stats.video_frames_out, 1);
                let s = &self.stats;
                s.video_out_width
                    .store(u64::from(width), std::sync::atomic::Ordering::Relaxed);
                s.video_out_height
                    .store(u64::from(height), std::sync::atomic::Ordering::Relaxed);
                s.video_out_bitrate
                    .store(u64::from(bitrate), std::sync::atomic::Ordering::Relaxed);
                s.link_estimate
                    .store(u64::from(link_bps), std::sync::atomic::Ordering::Relaxed);
                s.link_feedback
                    .store(u64::from(link_feedback), std::sync::atomic::Ordering::Relaxed);
            }
            VideoSent::HeldBack => SessionStats::add(&self.stats.video_frames_held_back, 1),
            VideoSent::NotConnected => {}
        }
        Ok(())
    }

    // -- messages ----------------------------------------------------------------------------

    /// Queues a text message for the peer; it leaves as soon as the side channel is open.
    pub fn send_message(&self, text: String) {
        let _ = self.messages.outbox.send(text);
    }

    /// A text message from the peer (dropped if the reader is 256 behind).
    pub fn push_message(&self, text: String) {
        let _ = self.messages.inbox_tx.try_send(text);
    }

    /// The outgoing messages, for the transport channel that carries them (taken once).
    #[must_use]
    pub fn take_outbox(&self) -> Option<mpsc::UnboundedReceiver<String>> {
        self.messages.take_outbox()
    }

    /// The next text message from the peer, or None once the session has ended.
    pub async fn next_message(&self) -> Option<String> {
        let mut rx = self.messages.inbox.lock().await;
        let mut state = self.state.subscribe();
        tokio::select! {
            biased;
            _ = state.wait_for(|s| *s == SessionState::Closed) => None,
            m = rx.recv() => m,
        }
    }
}

impl std::fmt::Debug for MediaSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSession")
            .field("id", &self.id)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}
