//! The driver of one session: the only place where a session meets threads, tasks and the clock.
//!
//! [`MediaSession`] wraps the sans-IO [`SessionCore`] in one lock. Every call — a transport
//! pushing decoded audio, the handler queueing a reply, a timer firing — takes the lock, gives
//! the core the time, and then carries out what the core asked for (its [`Output`]s) before the
//! lock is let go, so outputs leave in the order the core decided them. One task per session
//! sleeps until the core's next deadline and hands the due audio tick to the transport's
//! [`AudioSink`]; handler-side waits (`next_audio`, `output_below`, …) are woken by the outputs
//! that concern them. Both transports (WebRTC, streams) drive their sessions through this one
//! type, so a behaviour of the core is the same over each.

mod sinks;

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use gradio_webrtc_media::convert::{interleave, sanitize, Layout};
use gradio_webrtc_media::outbound::Frame;
use gradio_webrtc_media::smart_turn::TurnDetector;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch, Notify};

pub use sinks::{AudioSink, Transport, VideoSent, VideoSink};

use crate::session::{
    idle_phase, AudioFrame, CloseReason, Failure, FailureKind, MediaOptions, Output, PageEvent, SessionCore,
    SessionState, SessionStats, Speech, TurnState, VideoFrame, Wording,
};
use crate::EngineError;

type CloseHook = Box<dyn FnOnce(&str) + Send>;

/// The clock sessions run on: tokio's, so tests may pause it.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Answers a session's end-of-turn questions, one after the other, until none waits.
fn run_turn_checks(session: &Weak<MediaSession>) {
    loop {
        let Some(session) = session.upgrade() else { return };
        let checks = session.turn_checks.as_ref().expect("only sessions with a detector ask");
        let question = {
            let mut slot = checks.slot.lock().expect("turn checks poisoned");
            let question = slot.0.take();
            if question.is_none() {
                slot.1 = false;
            }
            question
        };
        let Some((candidate, rate, samples)) = question else {
            return;
        };
        if session.is_closed() {
            continue;
        }
        let started = Instant::now();
        let probability = match checks.detector.probability(rate, &samples) {
            Ok(p) if p.is_finite() => Some(p.clamp(0.0, 1.0)),
            Ok(p) => {
                log::warn!(
                    "session {}: the end-of-turn model gave {p}; the pause rule decides",
                    session.id
                );
                None
            }
            Err(e) => {
                log::warn!(
                    "session {}: the end-of-turn model failed ({e}); the pause rule decides",
                    session.id
                );
                None
            }
        };
        SessionStats::add(&session.stats.turn_check_micros, started.elapsed().as_micros() as u64);
        session.with_core(|core, now| core.handle_turn_verdict(now, candidate, probability));
    }
}

/// The instant every idle pacer of the process ticks in step with (plus whole ticks): idle
/// sessions then wake the runtime once per tick all together, not once each. A fixed point of the
/// clock, not state: set once, never changed.
fn idle_grid() -> Instant {
    static GRID: OnceLock<Instant> = OnceLock::new();
    *GRID.get_or_init(now)
}

/// A question for the end-of-turn model: (candidate, rate, the utterance so far).
type TurnQuestion = (u64, u32, Vec<f32>);

/// The end-of-turn model's side of a session: at most one call runs at a time, on the runtime's
/// blocking threads (never on the media path); a newer question replaces one still waiting.
struct TurnChecks {
    detector: Arc<dyn TurnDetector>,
    /// The question waiting, and whether a call is running (both under one lock: no lost wake-up).
    slot: Mutex<(Option<TurnQuestion>, bool)>,
}

/// What the core asked for that must happen after its lock is let go.
#[derive(Default)]
struct Deferred {
    audio: Vec<Option<Frame>>,
    closed: Option<CloseReason>,
}

/// One stream between a peer and a handler. Cheap to share (`Arc`).
pub struct MediaSession {
    id: String,
    runtime: Handle,
    wording: Wording,
    core: Mutex<SessionCore>,
    stats: Arc<SessionStats>,
    /// Mirrors the core's state for waiters; becomes `Closed` after the close hooks ran.
    state: watch::Sender<SessionState>,
    reason: OnceLock<CloseReason>,
    epoch: watch::Sender<u64>,
    interrupts: watch::Sender<u64>,
    frames_ready: Notify,
    speech_ready: Notify,
    picture_ready: Notify,
    message_ready: Notify,
    drained: Notify,
    /// Wakes the driver task (an earlier deadline, a new sink, the end).
    wake: Arc<Notify>,
    new_sink: Mutex<Option<Box<dyn AudioSink>>>,
    outbox: mpsc::UnboundedSender<String>,
    outbox_rx: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    video_out: OnceLock<Arc<dyn VideoSink>>,
    transport: OnceLock<Arc<dyn Transport>>,
    on_close: Mutex<Vec<CloseHook>>,
    turn_checks: Option<TurnChecks>,
    /// This session, for the tasks it starts (the end-of-turn model's calls).
    this: Weak<MediaSession>,
}

impl MediaSession {
    /// A session `id` on `runtime`; nothing flows until a transport pushes media and starts the
    /// output.
    ///
    /// # Errors
    /// `Setup` for an input format the session cannot deliver.
    pub fn new(id: String, runtime: Handle, options: &MediaOptions) -> Result<Arc<Self>, EngineError> {
        let stats = Arc::new(SessionStats::default());
        let core = SessionCore::new(id.clone(), now(), options, stats.clone())?;
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let wake = Arc::new(Notify::new());
        let turn_checks = options
            .pause
            .as_ref()
            .and_then(|p| p.end_of_turn.as_ref())
            .map(|eot| TurnChecks {
                detector: eot.detector.clone(),
                slot: Mutex::new((None, false)),
            });
        let session = Arc::new_cyclic(|this| Self {
            id,
            runtime,
            wording: options.wording,
            core: Mutex::new(core),
            stats,
            state: watch::channel(SessionState::Connecting).0,
            reason: OnceLock::new(),
            epoch: watch::channel(0).0,
            interrupts: watch::channel(0).0,
            frames_ready: Notify::new(),
            speech_ready: Notify::new(),
            picture_ready: Notify::new(),
            message_ready: Notify::new(),
            drained: Notify::new(),
            wake: wake.clone(),
            new_sink: Mutex::new(None),
            outbox,
            outbox_rx: Mutex::new(Some(outbox_rx)),
            video_out: OnceLock::new(),
            transport: OnceLock::new(),
            on_close: Mutex::new(Vec::new()),
            turn_checks,
            this: this.clone(),
        });
        session.runtime.spawn(drive(Arc::downgrade(&session), wake));
        Ok(session)
    }

    /// Runs `f` on the core at the current time, then carries out its outputs.
    fn with_core<R>(&self, f: impl FnOnce(&mut SessionCore, Instant) -> R) -> R {
        let (result, deferred) = self.with_core_deferred(f);
        debug_assert!(deferred.audio.is_empty(), "only the driver task runs the pacer");
        self.finish(deferred.closed);
        result
    }

    fn with_core_deferred<R>(&self, f: impl FnOnce(&mut SessionCore, Instant) -> R) -> (R, Deferred) {
        let mut core = self.core.lock().expect("session core poisoned");
        let before = core.poll_timeout();
        let result = f(&mut core, now());
        let mut deferred = Deferred::default();
        while let Some(output) = core.poll_output() {
            self.dispatch(output, &mut deferred);
        }
        let after = core.poll_timeout();
        if after.is_some() && (before.is_none() || after < before) {
            self.wake.notify_one();
        }
        (result, deferred)
    }

    /// Carries out one output. Runs under the core's lock: only channel sends and wake-ups here.
    fn dispatch(&self, output: Output, deferred: &mut Deferred) {
        match output {
            Output::Audio(frame) => deferred.audio.push(frame),
            Output::Event(event) => {
                let _ = self.outbox.send(event.encode(self.wording));
            }
            Output::FrameReady => self.frames_ready.notify_one(),
            Output::SpeechReady => self.speech_ready.notify_one(),
            Output::PictureReady => self.picture_ready.notify_one(),
            Output::MessageReady => self.message_ready.notify_one(),
            Output::Drained => self.drained.notify_waiters(),
            Output::Epoch(epoch) => {
                self.epoch.send_replace(epoch);
            }
            Output::Interrupted(count) => {
                self.interrupts.send_replace(count);
            }
            Output::State(state) => {
                self.state.send_if_modified(|s| {
                    let changed = *s != SessionState::Closed && *s != state;
                    if changed {
                        *s = state;
                    }
                    changed
                });
            }
            Output::CheckTurn {
                candidate,
                rate,
                samples,
            } => self.ask_turn_detector((candidate, rate, samples)),
            Output::Closed(reason) => deferred.closed = Some(reason),
        }
    }

    /// Hands a question to the end-of-turn model: starts a call on a blocking thread, or leaves
    /// it for the running call to take next (replacing an older waiting one).
    fn ask_turn_detector(&self, question: TurnQuestion) {
        // The core asks only when its options hold an end-of-turn stage, which names the model.
        let checks = self.turn_checks.as_ref().expect("a question without a detector");
        let mut slot = checks.slot.lock().expect("turn checks poisoned");
        slot.0 = Some(question);
        if !slot.1 {
            slot.1 = true;
            let session = self.this.clone();
            self.runtime.spawn_blocking(move || run_turn_checks(&session));
        }
    }

    /// The end, out of the lock: the close hooks run first (the registry forgets the session),
    /// then every waiter wakes, then the transport is released.
    fn finish(&self, closed: Option<CloseReason>) {
        let Some(reason) = closed else { return };
        let _ = self.reason.set(reason.clone());
        let text = reason.to_string();
        let hooks = std::mem::take(&mut *self.on_close.lock().expect("close hooks poisoned"));
        for hook in hooks {
            hook(&text);
        }
        self.state.send_replace(SessionState::Closed);
        self.drained.notify_waiters();
        self.wake.notify_one();
        if let Some(transport) = self.transport.get() {
            transport.close();
        }
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
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.reason.get()
    }

    /// True if the session ended (or is ending) because something failed.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.core.lock().expect("session core poisoned").failed()
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// The counters, for the transport's parts that count for the session (its interceptors).
    pub(crate) fn shared_stats(&self) -> Arc<SessionStats> {
        self.stats.clone()
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
            hook(&reason.to_string());
            return;
        }
        hooks.push(Box::new(hook));
    }

    /// Moves the session to `state` (a closed session stays closed).
    pub fn set_state(&self, state: SessionState) {
        if state == SessionState::Closed {
            self.close(CloseReason::TransportClosed);
        } else {
            self.with_core(|core, _| core.set_state(state));
        }
    }

    /// The transport connected: the first time, the time limit starts.
    pub fn on_connected(&self) {
        self.with_core(SessionCore::handle_connected);
    }

    /// Ends the session: the close hooks run (the registry forgets it), then every waiter wakes
    /// and the transport is released. Idempotent; callable from any thread.
    pub fn close(&self, reason: CloseReason) {
        self.with_core(|core, _| core.close(reason));
    }

    /// Ends the session because something could not go on: the peer is told
    /// (`{"type": "error", "message": reason}`) and the session closes with `reason` a moment
    /// later. The one failure path of every task.
    pub fn fail(&self, failure: Failure) {
        self.with_core(|core, now| core.fail(now, failure));
    }

    /// Waits until the session has ended; returns the reason.
    pub async fn closed(&self) -> String {
        let mut rx = self.state.subscribe();
        let _ = rx.wait_for(|s| *s == SessionState::Closed).await;
        self.close_reason()
            .map_or_else(|| "closed".to_string(), ToString::to_string)
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

    /// Waits for `notify` until `take` gives a value; None once the session has ended.
    async fn next_from<T>(&self, notify: &Notify, mut take: impl FnMut(&mut SessionCore) -> Option<T>) -> Option<T> {
        let mut state = self.state.subscribe();
        loop {
            let notified = notify.notified();
            if self.is_closed() {
                return None;
            }
            if let Some(value) = take(&mut self.core.lock().expect("session core poisoned")) {
                return Some(value);
            }
            tokio::select! {
                biased;
                _ = state.wait_for(|s| *s == SessionState::Closed) => return None,
                () = notified => {}
            }
        }
    }

    // -- audio in ----------------------------------------------------------------------------

    /// Decoded audio from the peer: `channels` interleaved at `rate` Hz, values in `[-1, 1]`.
    ///
    /// # Errors
    /// `TooFast` when the peer runs ahead of real time (the caller fails the session).
    pub fn push_audio(&self, rate: u32, channels: usize, samples: &[f32]) -> Result<(), EngineError> {
        self.with_core(|core, now| core.handle_audio(now, rate, channels, samples))
    }

    /// The user stopped talking (a pause detector outside the engine says so).
    pub fn user_paused(&self) {
        self.with_core(|core, _| core.user_paused());
    }

    /// Ends the utterance being collected now, as if the user had paused
    /// (`ReplyOnPause.trigger_response`).
    pub fn end_utterance(&self) {
        self.with_core(|core, _| core.end_utterance());
    }

    /// The user started talking: a playing reply is interrupted at once (barge-in).
    pub fn user_started_talking(&self) {
        self.with_core(|core, _| core.user_started_talking());
    }

    /// The next input frame, or None once the session has ended.
    pub async fn next_audio(&self) -> Option<AudioFrame> {
        self.next_from(&self.frames_ready, SessionCore::take_frame).await
    }

    /// Seconds since the peer last sent audio, a picture or a message (since the start, if never).
    #[must_use]
    pub fn input_idle(&self) -> f64 {
        let last = self.core.lock().expect("session core poisoned").last_input();
        now().saturating_duration_since(last).as_secs_f64()
    }

    /// Input frames waiting for the handler.
    #[must_use]
    pub fn input_queued(&self) -> usize {
        self.core.lock().expect("session core poisoned").input_queued()
    }

    /// The next piece or complete utterance (pause detection), or None once the session has ended.
    pub async fn next_speech(&self) -> Option<Speech> {
        self.next_from(&self.speech_ready, SessionCore::take_speech).await
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
        self.core.lock().expect("session core poisoned").turn_state()
    }

    /// Replies the user interrupted so far.
    #[must_use]
    pub fn interrupts(&self) -> u64 {
        *self.interrupts.borrow()
    }

    /// A receiver that changes at every barge-in (a transport may tell its peer to drop what it
    /// buffered of the interrupted reply).
    #[must_use]
    pub fn watch_interrupts(&self) -> watch::Receiver<u64> {
        self.interrupts.subscribe()
    }

    /// A reply starts; its audio must be sent with the returned number.
    pub fn begin_reply(&self) -> u64 {
        self.with_core(|core, _| core.begin_reply())
    }

    /// Reply `turn` is over (a no-op if the user already interrupted it).
    pub fn end_reply(&self, turn: u64) {
        self.with_core(|core, _| core.end_reply(turn));
    }

    /// True while reply `turn` may still play.
    #[must_use]
    pub fn reply_current(&self, turn: u64) -> bool {
        self.core.lock().expect("session core poisoned").reply_current(turn)
    }

    /// Waits until reply `turn` is interrupted (true) or the session ends (false).
    pub async fn reply_interrupted(&self, turn: u64) -> bool {
        let mut epoch = self.epoch.subscribe();
        let mut state = self.state.subscribe();
        tokio::select! {
            _ = epoch.wait_for(|current| *current != turn) => true,
            _ = state.wait_for(|s| *s == SessionState::Closed) => false,
        }
    }

    // -- audio out ---------------------------------------------------------------------------

    /// Queues handler audio (row-major `shape`, values in `[-1, 1]`) for the peer. With `turn`,
    /// the audio belongs to that reply and is refused (false) once the reply is no longer current
    /// (the user interrupted it). Send mode and closed sessions discard audio (true).
    ///
    /// # Errors
    /// `BadMedia` for a shape, layout or rate the output cannot take.
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
        self.with_core(|core, now| core.queue_audio(now, rate, channels, &samples, turn))
    }

    /// Seconds of audio queued and not yet sent.
    #[must_use]
    pub fn output_buffered(&self) -> f64 {
        self.core.lock().expect("session core poisoned").output_buffered()
    }

    /// Waits until less than `seconds` of audio is queued (true); false if the session ended or,
    /// with `turn`, that reply was interrupted first.
    pub async fn output_below(&self, seconds: f64, turn: Option<u64>) -> bool {
        loop {
            let notified = self.drained.notified();
            {
                let core = self.core.lock().expect("session core poisoned");
                if !core.output_open(turn) || self.is_closed() {
                    return false;
                }
                if !core.sends_audio() || core.output_buffered() < seconds {
                    return true;
                }
            }
            notified.await;
        }
    }

    /// Drops queued output audio.
    pub fn clear_output(&self) {
        self.with_core(|core, _| core.clear_output());
    }

    /// How much audio may stand in the output queue before quiet frames are trimmed (None: no
    /// limit, for replies buffered ahead on purpose).
    pub fn set_output_budget(&self, seconds: Option<f64>) {
        self.with_core(|core, _| core.set_output_budget(seconds));
    }

    /// Starts the 20 ms ticks into `sink` until the session closes. A sink that fails ends the
    /// session with its reason.
    pub fn start_audio_output(&self, sink: Box<dyn AudioSink>) {
        *self.new_sink.lock().expect("sink slot poisoned") = Some(sink);
        self.with_core(|core, now| core.start_output(now, idle_phase(idle_grid(), now)));
        self.wake.notify_one();
    }

    // -- video -------------------------------------------------------------------------------

    /// A decoded picture from the peer (packed BGR); replaces one the handler has not taken.
    pub fn put_video(&self, width: u32, height: u32, bgr: Vec<u8>) {
        self.with_core(|core, now| core.handle_video(now, width, height, bgr));
    }

    /// The newest received picture (older ones not taken meanwhile are skipped), or None once the
    /// session has ended.
    pub async fn next_video(&self) -> Option<VideoFrame> {
        self.next_from(&self.picture_ready, SessionCore::take_picture).await
    }

    /// Where the handler's pictures go (set by a transport that sends video).
    pub fn set_video_sink(&self, sink: Arc<dyn VideoSink>) {
        let _ = self.video_out.set(sink);
    }

    /// Encodes and sends one picture (`pixels`: packed 24-bit, BGR or RGB order). Without a video
    /// sink (send mode, audio only) pictures are dropped, as in the original.
    ///
    /// # Errors
    /// `BadMedia` for a picture that cannot be encoded.
    pub async fn send_video(&self, width: u32, height: u32, pixels: &[u8], bgr: bool) -> Result<(), EngineError> {
        let Some(sink) = self.video_out.get() else {
            return Ok(());
        };
        if self.is_closed() {
            return Ok(());
        }
        let picture = gradio_webrtc_media::video::I420::from_packed(pixels, width, height, bgr)?;
        let sent = match sink.send(&picture).await {
            // The connection ended under the picture (the peer hung up a moment before the session
            // heard of it): the session's end is reported by its own path, not as the handler's fault.
            Err(EngineError::Transport(why)) => {
                log::debug!("a picture was not sent: {why}");
                return Ok(());
            }
            other => other?,
        };
        match sent {
            VideoSent::Sent {
                width,
                height,
                bitrate,
                link_bps,
                link_feedback,
            } => {
                use std::sync::atomic::Ordering::Relaxed;
                let s = &self.stats;
                SessionStats::add(&s.video_frames_out, 1);
                s.video_out_width.store(u64::from(width), Relaxed);
                s.video_out_height.store(u64::from(height), Relaxed);
                s.video_out_bitrate.store(u64::from(bitrate), Relaxed);
                s.link_estimate.store(u64::from(link_bps), Relaxed);
                s.link_feedback.store(u64::from(link_feedback), Relaxed);
            }
            VideoSent::HeldBack => SessionStats::add(&self.stats.video_frames_held_back, 1),
            VideoSent::NotConnected => {}
        }
        Ok(())
    }

    // -- messages ----------------------------------------------------------------------------

    /// Queues a text message for the peer; it leaves as soon as the side channel is open.
    pub fn send_message(&self, text: String) {
        self.send_event(PageEvent::Text(text));
    }

    /// Queues an event for the page.
    pub fn send_event(&self, event: PageEvent) {
        self.with_core(|core, _| core.send_event(event));
    }

    /// A text message from the peer (dropped if the reader is 256 behind).
    pub fn push_message(&self, text: String) {
        self.with_core(|core, now| core.handle_message(now, text));
    }

    /// The outgoing messages, for the transport channel that carries them (taken once).
    #[must_use]
    pub fn take_outbox(&self) -> Option<mpsc::UnboundedReceiver<String>> {
        self.outbox_rx.lock().expect("outbox lock poisoned").take()
    }

    /// The next text message from the peer, or None once the session has ended.
    pub async fn next_message(&self) -> Option<String> {
        self.next_from(&self.message_ready, SessionCore::take_message).await
    }
}

impl Drop for MediaSession {
    fn drop(&mut self) {
        // The driver task holds only a weak reference while it sleeps: let it see the end.
        self.wake.notify_one();
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

/// The session's task: sleeps until the core's next deadline (or a wake-up), runs the core's
/// timers, and sends the audio tick that is due. Holds the session only while it works, so a
/// session nobody holds any more ends its task.
async fn drive(session: Weak<MediaSession>, wake: Arc<Notify>) {
    let mut sink: Option<Box<dyn AudioSink>> = None;
    loop {
        let deadline = {
            let Some(session) = session.upgrade() else { return };
            if session.is_closed() {
                return;
            }
            let deadline = session.core.lock().expect("session core poisoned").poll_timeout();
            deadline
        };
        match deadline {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
        let Some(session) = session.upgrade() else { return };
        if let Some(new) = session.new_sink.lock().expect("sink slot poisoned").take() {
            sink = Some(new);
        }
        let (due, deferred) = session.with_core_deferred(|core, now| {
            core.handle_timeout(now);
            core.poll_timeout().is_some_and(|at| at <= now)
        });
        session.finish(deferred.closed);
        for frame in deferred.audio {
            let Some(out) = sink.as_mut() else { break };
            match out.send(frame.as_ref()).await {
                Ok(true) => SessionStats::add(&session.stats.packets_out, 1),
                Ok(false) => {}
                Err(reason) => {
                    sink = None;
                    session.fail(Failure::new(
                        FailureKind::SendMedia,
                        format!("sending audio failed: {reason}"),
                    ));
                }
            }
        }
        if due {
            wake.notify_one(); // more is due at once: go round without sleeping
        }
    }
}
