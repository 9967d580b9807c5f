//! The media session as a state machine: inputs and time in, typed outputs out.
//!
//! ```text
//!            transport (WebRTC, WebSocket, in-process)                 handler (Python)
//!  decoded audio ─handle_audio─▶ AudioIn ─ frames ─────────(take_frame)─▶ next_audio
//!                                  │ └─ VAD + pause rule ─ speech ─(take_speech)─▶ next_speech
//!                                  ▼
//!                                Turn  (listening · user speaking · replying; barge-in)
//!                                  ▲
//!  Output::Audio ◀─handle_timeout─ AudioOut (20 ms frames, cadence) ◀── queue_audio(turn)
//!  pictures ─handle_video─▶ VideoIn (latest wins) ───────────(take_picture)─▶ next_video
//!  Output::Event ◀── PageEvent (pause detected, time limit, errors, the handler's messages)
//! ```
//!
//! [`SessionCore`] holds all of a session's media state and changes it only in `&mut self` calls
//! that are given the time (`now`); what the outside world must do is queued as [`Output`]s and
//! taken with [`SessionCore::poll_output`], and when the session next needs to run is
//! [`SessionCore::poll_timeout`]. No runtime, lock, task or clock lives here (the model is
//! str0m's `Rtc`): the driver (`crate::driver`) owns those, one per session, and every transport
//! goes through it. So every behaviour here — pacing, pause detection, barge-in, numbered
//! replies, budgets, the time limit, how a session ends — is tested with a virtual clock and
//! scripted inputs, hundreds of scenarios a second.

mod audio_in;
mod audio_out;
mod events;
mod state;
mod stats;
mod turn;
mod video;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gradio_webrtc_media::pause::{PauseOptions, Verdict};

pub use audio_in::{AudioFrame, Speech};
pub use audio_out::idle_phase;
pub use events::{CloseReason, Failure, FailureKind, PageEvent, Wording};
pub use gradio_webrtc_media::outbound::Frame as OutputFrame;
pub use state::SessionState;
pub use stats::SessionStats;
pub use turn::TurnState;
pub use video::VideoFrame;

use audio_in::{AudioIn, InputEvent, PauseMode};
use audio_out::{AudioOut, Tick};
use turn::Turn;
use video::VideoIn;

use crate::EngineError;

/// Complete utterances the handler may fall behind by before one is dropped.
const UTTERANCE_QUEUE: usize = 16;
/// Partial pieces (~100 ms each) queued beyond that; when full, pieces are dropped, never utterances.
const PARTIAL_QUEUE: usize = 64;
/// Text messages from the peer kept for a reader: one that is not listening must not make the
/// channel back up.
const INBOX: usize = 256;
/// How long a goodbye message (an error, the time limit) gets to leave before the session closes.
pub const GOODBYE: Duration = Duration::from_millis(100);

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
    /// Rate the transport's audio sink wants (48 kHz for Opus, 8 kHz for telephony).
    pub output_rate: u32,
    /// Pause detection (`ReplyOnPause`): whole utterances instead of frames.
    pub pause: Option<PauseOptions>,
    /// With pause detection: talking during a reply stops it; without, it is not heard.
    pub can_interrupt: bool,
    /// With pause detection: also deliver each utterance while it is spoken (~100 ms pieces).
    pub stream_speech: bool,
    /// Close the session this long after it connected.
    pub time_limit: Option<Duration>,
    /// How the page reads the events that ask it for something.
    pub wording: Wording,
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
            wording: Wording::Plain,
        }
    }
}

/// What the driver must do for the session, in the order the session decided it.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send one 20 ms tick to the transport: the handler's frame, or silence (None).
    Audio(Option<OutputFrame>),
    /// Send this to the page over the side channel.
    Event(PageEvent),
    /// A frame waits for the handler ([`SessionCore::take_frame`]).
    FrameReady,
    /// Speech waits for the handler ([`SessionCore::take_speech`]).
    SpeechReady,
    /// A picture waits for the handler ([`SessionCore::take_picture`]).
    PictureReady,
    /// A message from the peer waits for the handler ([`SessionCore::take_message`]).
    MessageReady,
    /// The output queue shrank (waiters for room in it may go on).
    Drained,
    /// The current reply changed to this number (a reply began, or the user interrupted one).
    Epoch(u64),
    /// The user interrupted a reply (barge-in): this many so far. A transport may tell its peer
    /// to drop what it buffered of it.
    Interrupted(u64),
    /// The session moved to this state (not [`SessionState::Closed`]: see [`Output::Closed`]).
    State(SessionState),
    /// The end-of-turn stage asks: is this utterance so far (mono, `rate` Hz) a finished turn?
    /// Run the model off the media path and answer with [`SessionCore::handle_turn_verdict`].
    CheckTurn {
        /// The number to answer with.
        candidate: u64,
        /// Sample rate of `samples`.
        rate: u32,
        /// The utterance from its start to now, in `[-1, 1]`.
        samples: Vec<f32>,
    },
    /// The session ended: release the transport, wake every waiter.
    Closed(CloseReason),
}

/// All of one session's media state. See the module documentation.
pub struct SessionCore {
    id: String,
    state: SessionState,
    close_reason: Option<CloseReason>,
    failed: bool,
    stats: Arc<SessionStats>,
    can_interrupt: bool,
    time_limit: Option<Duration>,
    /// When the time limit ends the stream (set when the transport first connects).
    time_limit_at: Option<Instant>,
    /// When the session closes after a goodbye message, and why.
    goodbye: Option<(Instant, CloseReason)>,
    /// When the session was made: the clock input audio is paced against.
    created: Instant,
    /// When the peer last sent anything (audio, a picture, a message).
    last_input: Instant,
    audio_in: Option<AudioIn>,
    speech: VecDeque<Speech>,
    audio_out: Option<AudioOut>,
    video_in: VideoIn,
    inbox: VecDeque<String>,
    turn: Turn,
    outputs: VecDeque<Output>,
}

impl SessionCore {
    /// A session `id` made at `now`; nothing flows until media is handed in and the output started.
    ///
    /// # Errors
    /// `Setup` for an input format the session cannot deliver.
    pub fn new(
        id: String,
        now: Instant,
        options: &MediaOptions,
        stats: Arc<SessionStats>,
    ) -> Result<Self, EngineError> {
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
            Some(AudioIn::new(options.input_sample_rate, options.input_channels, pause)?)
        } else {
            None
        };
        // Live streams keep in step with their input; a reply buffered ahead on purpose sets its
        // own budget (`set_output_budget(None)`).
        let audio_out = options.send_audio.then(|| AudioOut::new(options.output_rate, Some(0)));
        Ok(Self {
            id,
            state: SessionState::Connecting,
            close_reason: None,
            failed: false,
            stats,
            can_interrupt: options.can_interrupt,
            time_limit: options.time_limit,
            time_limit_at: None,
            goodbye: None,
            created: now,
            last_input: now,
            audio_in,
            speech: VecDeque::new(),
            audio_out,
            video_in: VideoIn::default(),
            inbox: VecDeque::new(),
            turn: Turn::default(),
            outputs: VecDeque::new(),
        })
    }

    // -- driving -----------------------------------------------------------------------------

    /// The next thing the driver must do, in order; None when there is nothing.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`SessionCore::handle_timeout`] must run next (None: only an input can change
    /// anything). May be in the past: run it at once.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        [
            self.goodbye.as_ref().map(|(at, _)| *at),
            self.time_limit_at,
            self.audio_out.as_ref().and_then(AudioOut::deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Time passed: closes after a goodbye, ends the stream at its time limit, and sends the
    /// audio tick that is due (at most one per call: call again while [`poll_timeout`] is
    /// not after `now`).
    ///
    /// [`poll_timeout`]: SessionCore::poll_timeout
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        if let Some((at, _)) = &self.goodbye {
            if *at <= now {
                let (_, reason) = self.goodbye.take().expect("checked above");
                self.close(reason);
                return;
            }
        }
        if self.time_limit_at.is_some_and(|at| at <= now) {
            self.time_limit_at = None;
            self.say_goodbye(
                now,
                PageEvent::EndStream("Time limit reached".into()),
                CloseReason::TimeLimit,
            );
        }
        let Some(out) = self.audio_out.as_mut() else {
            return;
        };
        match out.tick(now, &self.stats) {
            Ok(Tick::NotDue) => {}
            Ok(Tick::Packet(frame)) => {
                self.emit(Output::Drained);
                self.emit(Output::Audio(frame));
            }
            Err(e) => self.fail(now, Failure::new(FailureKind::SendMedia, format!("output audio: {e}"))),
        }
    }

    // -- life --------------------------------------------------------------------------------

    /// The id of this session (the browser's `webrtc_id`).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Current state.
    #[must_use]
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// True once the session has ended.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state == SessionState::Closed
    }

    /// Why the session ended, once it has.
    #[must_use]
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close_reason.as_ref()
    }

    /// When the peer last sent audio, a picture or a message.
    #[must_use]
    pub fn last_input(&self) -> Instant {
        self.last_input
    }

    /// True if the session ended (or is ending) because something failed.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Moves the session to `state` (a closed session stays closed; closing is [`close`]).
    ///
    /// [`close`]: SessionCore::close
    pub fn set_state(&mut self, state: SessionState) {
        if self.is_closed() || self.state == state || state == SessionState::Closed {
            return;
        }
        self.state = state;
        self.emit(Output::State(state));
    }

    /// The transport connected at `now`; the first time, the time limit starts.
    pub fn handle_connected(&mut self, now: Instant) {
        let first = self.state == SessionState::Connecting;
        self.set_state(SessionState::Connected);
        if first && !self.is_closed() {
            self.time_limit_at = self.time_limit.map(|limit| now + limit);
        }
    }

    /// Starts the output's 20 ms ticks at `now` (the transport can send). `idle_phase`: see
    /// [`AudioOut::start`].
    pub fn start_output(&mut self, now: Instant, idle_phase: Duration) {
        if let Some(out) = self.audio_out.as_mut() {
            out.start(now, idle_phase);
        }
    }

    /// Ends the session. Idempotent.
    pub fn close(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        log::debug!("session {} closing: {reason}", self.id);
        self.state = SessionState::Closed;
        self.goodbye = None;
        self.time_limit_at = None;
        self.close_reason = Some(reason.clone());
        self.outputs.push_back(Output::Closed(reason));
    }

    /// Ends the session because something could not go on: the peer is told
    /// (`{"type": "error", "message": reason}`) and the session closes with `reason` a moment
    /// later ([`GOODBYE`]). The one failure path of every task.
    pub fn fail(&mut self, now: Instant, failure: Failure) {
        if self.is_closed() || self.failed {
            return;
        }
        log::debug!("session {} failed ({}): {failure}", self.id, failure.kind.as_str());
        self.failed = true;
        self.say_goodbye(
            now,
            PageEvent::Error(failure.message.clone()),
            CloseReason::Failed(failure),
        );
    }

    /// Queues an output; a closed session has nothing more to say ([`Output::Closed`] is last).
    fn emit(&mut self, output: Output) {
        if !self.is_closed() {
            self.outputs.push_back(output);
        }
    }

    fn say_goodbye(&mut self, now: Instant, event: PageEvent, reason: CloseReason) {
        self.emit(Output::Event(event));
        if self.goodbye.is_none() {
            self.goodbye = Some((now + GOODBYE, reason));
        }
    }

    // -- audio in ----------------------------------------------------------------------------

    /// Decoded audio from the peer at `now`: `channels` interleaved at `rate` Hz, values in
    /// `[-1, 1]`.
    ///
    /// # Errors
    /// `TooFast` when the peer is more than 5 s ahead of real time (the caller fails the
    /// session); `BadMedia` for a format that cannot be framed.
    pub fn handle_audio(
        &mut self,
        now: Instant,
        rate: u32,
        channels: usize,
        samples: &[f32],
    ) -> Result<(), EngineError> {
        if self.is_closed() {
            return Ok(());
        }
        self.last_input = now;
        let replying = self.turn.state() == TurnState::Replying;
        let at = now.saturating_duration_since(self.created).as_secs_f64();
        let Some(input) = self.audio_in.as_mut() else {
            return Ok(()); // receive mode: the peer's audio is not used
        };
        for event in input.push(at, rate, channels, samples, replying)? {
            self.on_input(event);
        }
        Ok(())
    }

    fn on_input(&mut self, event: InputEvent) {
        match event {
            InputEvent::Frame(frame) => {
                let input = self.audio_in.as_mut().expect("frames come from the input");
                if input.enqueue(frame) {
                    SessionStats::add(&self.stats.frames_in, 1);
                    self.emit(Output::FrameReady);
                } else {
                    SessionStats::add(&self.stats.frames_dropped, 1);
                }
            }
            InputEvent::StartedTalking => {
                self.emit(Output::Event(PageEvent::StartedTalking));
                self.user_started_talking();
            }
            InputEvent::Speech(piece) => {
                // Keep room for whole utterances: a reader that falls behind loses pieces, never
                // utterances (the offsets show the gap).
                if self.speech.len() < PARTIAL_QUEUE {
                    self.speech.push_back(piece);
                    self.emit(Output::SpeechReady);
                } else {
                    SessionStats::add(&self.stats.speech_pieces_dropped, 1);
                }
            }
            InputEvent::CheckTurn {
                candidate,
                rate,
                samples,
            } => {
                SessionStats::add(&self.stats.turn_checks, 1);
                self.emit(Output::CheckTurn {
                    candidate,
                    rate,
                    samples,
                });
            }
            InputEvent::Utterance(frame) => {
                self.turn.user_paused();
                self.emit(Output::Event(PageEvent::PauseDetected));
                if self.speech.len() < PARTIAL_QUEUE + UTTERANCE_QUEUE {
                    self.speech.push_back(Speech::Complete(frame));
                    self.emit(Output::SpeechReady);
                } else {
                    SessionStats::add(&self.stats.utterances_dropped, 1);
                    log::warn!(
                        "session {}: utterance dropped (the handler is not taking them)",
                        self.id
                    );
                }
            }
        }
    }

    /// The end-of-turn model's answer about `candidate` at `now`: the probability that the turn
    /// is complete, or None if the model failed (the pause rule decides then). A complete turn
    /// ends the utterance now; answers about a silence the user has since talked over are stale.
    /// Like every input it takes the time, though its effect does not depend on it: stale
    /// answers are refused by number.
    pub fn handle_turn_verdict(&mut self, _now: Instant, candidate: u64, probability: Option<f32>) {
        if self.is_closed() {
            return;
        }
        let Some((verdict, events)) = self.audio_in.as_mut().and_then(|i| i.decide(candidate, probability)) else {
            return;
        };
        match verdict {
            Verdict::Unknown => SessionStats::add(&self.stats.turn_checks_failed, 1),
            Verdict::Incomplete => SessionStats::add(&self.stats.turns_held, 1),
            Verdict::Complete => {}
        }
        for event in events {
            self.on_input(event);
        }
    }

    /// The user stopped talking (a pause detector outside the engine says so: a custom
    /// `PauseDetectionModel` in Python).
    pub fn user_paused(&mut self) {
        self.turn.user_paused();
    }

    /// Ends the utterance being collected now, as if the user had paused: whatever was heard so
    /// far (possibly nothing) goes to the handler (`ReplyOnPause.trigger_response`). Without pause
    /// detection this does nothing.
    pub fn end_utterance(&mut self) {
        if self.is_closed() {
            return;
        }
        let event = self.audio_in.as_mut().and_then(AudioIn::end_utterance);
        if let Some(event) = event {
            self.on_input(event);
        }
    }

    /// The user started talking: a playing reply is interrupted at once (barge-in) and its queued
    /// audio dropped, in the same step, so nothing of it plays. Public for pause detectors outside
    /// the engine.
    pub fn user_started_talking(&mut self) {
        if self.turn.user_started(self.can_interrupt).is_some() {
            if let Some(out) = self.audio_out.as_mut() {
                out.clear();
                self.emit(Output::Drained);
            }
            self.emit(Output::Epoch(self.turn.epoch()));
            self.emit(Output::Interrupted(self.turn.interrupts()));
        }
    }

    /// The next input frame for the handler (after trimming a standing backlog), if one waits.
    pub fn take_frame(&mut self) -> Option<AudioFrame> {
        let input = self.audio_in.as_mut()?;
        let (frame, trimmed) = input.take();
        SessionStats::add(&self.stats.input_frames_trimmed, trimmed);
        frame
    }

    /// Input frames waiting for the handler.
    #[must_use]
    pub fn input_queued(&self) -> usize {
        self.audio_in.as_ref().map_or(0, AudioIn::queued)
    }

    /// The next piece or complete utterance (pause detection), if one waits.
    pub fn take_speech(&mut self) -> Option<Speech> {
        self.speech.pop_front()
    }

    // -- the turn ----------------------------------------------------------------------------

    /// Where the conversation is.
    #[must_use]
    pub fn turn_state(&self) -> TurnState {
        self.turn.state()
    }

    /// The number of the current (or last) reply.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.turn.epoch()
    }

    /// Replies the user interrupted so far.
    #[must_use]
    pub fn interrupts(&self) -> u64 {
        self.turn.interrupts()
    }

    /// A reply starts; its audio must be sent with the returned number.
    pub fn begin_reply(&mut self) -> u64 {
        let epoch = self.turn.begin_reply();
        self.emit(Output::Epoch(epoch));
        epoch
    }

    /// Reply `turn` is over (a no-op if the user already interrupted it).
    pub fn end_reply(&mut self, turn: u64) {
        self.turn.end_reply(turn);
    }

    /// True while reply `turn` may still play.
    #[must_use]
    pub fn reply_current(&self, turn: u64) -> bool {
        self.turn.accepts(turn)
    }

    // -- audio out ---------------------------------------------------------------------------

    /// Queues handler audio received at `now` (`channels` interleaved at `rate`, values in
    /// `[-1, 1]`). With `turn`, the audio belongs to that reply and is refused (false) once the
    /// reply is no longer current (the user interrupted it). Send mode and closed sessions
    /// discard audio (true).
    ///
    /// # Errors
    /// `BadMedia` for a rate or channel count the output cannot take.
    pub fn queue_audio(
        &mut self,
        now: Instant,
        rate: u32,
        channels: usize,
        samples: &[f32],
        turn: Option<u64>,
    ) -> Result<bool, EngineError> {
        let current = turn.is_none_or(|t| self.turn.accepts(t));
        let Some(out) = self.audio_out.as_mut() else {
            return Ok(current); // send mode: produced and discarded
        };
        if self.state == SessionState::Closed {
            return Ok(true);
        }
        if !current {
            return Ok(false);
        }
        out.push(now, rate, channels, samples)?;
        Ok(true)
    }

    /// Seconds of audio queued and not yet sent.
    #[must_use]
    pub fn output_buffered(&self) -> f64 {
        self.audio_out.as_ref().map_or(0.0, AudioOut::buffered)
    }

    /// True while `turn` (if given) may play and an output exists to wait on.
    #[must_use]
    pub fn output_open(&self, turn: Option<u64>) -> bool {
        !self.is_closed() && turn.is_none_or(|t| self.turn.accepts(t))
    }

    /// Drops queued output audio.
    pub fn clear_output(&mut self) {
        if let Some(out) = self.audio_out.as_mut() {
            out.clear();
            self.emit(Output::Drained);
        }
    }

    /// How much audio may stand in the output queue (beyond the frame being sent) before quiet
    /// frames are trimmed: live streams (the default, 0 s) keep in step with their input; replies
    /// buffered ahead on purpose pass None.
    pub fn set_output_budget(&mut self, seconds: Option<f64>) {
        if let Some(out) = self.audio_out.as_mut() {
            out.set_budget(seconds.map(|s| (s.max(0.0) * 50.0).round() as usize));
        }
    }

    /// True if this session sends audio at all (false in `send` mode's mirror, `receive`).
    #[must_use]
    pub fn sends_audio(&self) -> bool {
        self.audio_out.is_some()
    }

    // -- video -------------------------------------------------------------------------------

    /// A decoded picture from the peer (packed BGR) at `now`; replaces one the handler has not
    /// taken.
    pub fn handle_video(&mut self, now: Instant, width: u32, height: u32, bgr: Vec<u8>) {
        if self.is_closed() {
            return;
        }
        self.last_input = now;
        SessionStats::add(&self.stats.video_frames_in, 1);
        if self.video_in.put(width, height, bgr) {
            SessionStats::add(&self.stats.video_frames_skipped, 1);
        }
        self.emit(Output::PictureReady);
    }

    /// The newest received picture, if one waits (older ones not taken meanwhile were skipped).
    pub fn take_picture(&mut self) -> Option<VideoFrame> {
        self.video_in.take()
    }

    // -- messages ----------------------------------------------------------------------------

    /// Queues an event for the page; it leaves as soon as the side channel is open.
    pub fn send_event(&mut self, event: PageEvent) {
        if !self.is_closed() {
            self.emit(Output::Event(event));
        }
    }

    /// A text message from the peer at `now` (dropped if the reader is [`INBOX`] behind).
    pub fn handle_message(&mut self, now: Instant, text: String) {
        if self.is_closed() || self.inbox.len() >= INBOX {
            return;
        }
        self.last_input = now;
        self.inbox.push_back(text);
        self.emit(Output::MessageReady);
    }

    /// The next text message from the peer, if one waits.
    pub fn take_message(&mut self) -> Option<String> {
        self.inbox.pop_front()
    }
}

impl std::fmt::Debug for SessionCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCore")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("turn", &self.turn)
            .finish_non_exhaustive()
    }
}
