//! A session: one peer connection, its media queues, its data channel and its close signal.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use gradio_webrtc_media::convert::{interleave, sanitize, Layout};
use gradio_webrtc_media::inbound::InboundCounts;
use gradio_webrtc_media::outbound::OutboundAudio;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch, Notify};
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateType};
use webrtc::rtp_transceiver::RtpSender;

use crate::video::{VideoFrame, VideoSender};
use crate::EngineError;

/// Input frames queued for a handler before new ones are dropped (10 s of 20 ms frames). A handler
/// that falls this far behind loses audio instead of growing latency without bound.
pub(crate) const AUDIO_QUEUE: usize = 500;
/// Text messages from the browser kept for a reader.
pub(crate) const INBOX: usize = 256;

/// One 20 ms frame of received audio, interleaved int16.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    /// Sample rate in Hz.
    pub rate: u32,
    /// 1 or 2.
    pub channels: usize,
    /// `rate / 50 * channels` samples.
    pub samples: Vec<i16>,
}

/// What pause detection delivers to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speech {
    /// A piece of the utterance still being spoken (only with `SessionOptions::stream_speech`):
    /// mono at the input rate; `offset` is the index of its first sample in the utterance, so a
    /// reader can tell when pieces were dropped because it fell behind.
    Partial {
        /// The samples.
        frame: AudioFrame,
        /// Samples of this utterance delivered before this piece (dropped ones included).
        offset: usize,
    },
    /// The whole utterance, once the pause is detected.
    Complete(AudioFrame),
}

/// Complete utterances the handler may fall behind by before one is dropped.
pub(crate) const UTTERANCE_QUEUE: usize = 16;
/// Partial pieces (~100 ms each) queued beyond that; when full, pieces are dropped, never utterances.
pub(crate) const PARTIAL_QUEUE: usize = 64;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Answer sent, ICE not connected yet.
    Connecting,
    /// Media can flow.
    Connected,
    /// No packets from the peer for a while; may recover.
    Disconnected,
    /// Ended; see [`Session::close_reason`].
    Closed,
}

impl SessionState {
    /// The lowercase name used in Python and in logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Connecting => "connecting",
            SessionState::Connected => "connected",
            SessionState::Disconnected => "disconnected",
            SessionState::Closed => "closed",
        }
    }
}

/// Counters of one session.
#[derive(Debug, Default)]
pub struct SessionStats {
    /// Frames handed to the handler's queue.
    pub frames_in: AtomicU64,
    /// Frames dropped because the handler did not keep up.
    pub frames_dropped: AtomicU64,
    /// RTP packets sent.
    pub packets_out: AtomicU64,
    /// Packets that carried handler audio.
    pub audio_frames_out: AtomicU64,
    /// Ticks where the handler's audio arrived too late.
    pub underruns: AtomicU64,
    /// Handler frames that missed their 20 ms tick and were sent late (within a short grace).
    pub late_frames: AtomicU64,
    /// Running output streams cut by silence because a frame came later than the grace.
    pub output_gaps: AtomicU64,
    /// Quiet output frames dropped to bring a standing queue back within its latency budget.
    pub output_frames_trimmed: AtomicU64,
    /// Audio packets received from the network and decoded.
    pub audio_packets_in: AtomicU64,
    /// Padding-only audio packets (bandwidth probes), skipped.
    pub audio_padding_packets: AtomicU64,
    /// Duplicate or late audio packets, dropped.
    pub audio_late_packets: AtomicU64,
    /// Audio packets lost in transit (the sequence numbers and timestamps both say so).
    pub packets_lost: AtomicU64,
    /// Synthetic 20 ms frames (FEC or concealment) standing in for lost or corrupt packets.
    pub audio_frames_concealed: AtomicU64,
    /// Video pictures decoded from the peer.
    pub video_frames_in: AtomicU64,
    /// Decoded pictures replaced by a newer one before the handler took them (latest wins).
    pub video_frames_skipped: AtomicU64,
    /// Video pictures encoded and sent.
    pub video_frames_out: AtomicU64,
    /// Streamed utterance pieces dropped because the handler fell behind (never whole utterances).
    pub speech_pieces_dropped: AtomicU64,
}

impl SessionStats {
    /// Adds what the inbound audio pipeline counted since `before`.
    pub(crate) fn count_inbound(&self, before: InboundCounts, now: InboundCounts) {
        let add = |counter: &AtomicU64, n: u64| {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        };
        add(&self.audio_packets_in, now.decoded - before.decoded);
        add(&self.audio_padding_packets, now.padding - before.padding);
        add(
            &self.audio_late_packets,
            (now.late + now.duplicates) - (before.late + before.duplicates),
        );
        let lost = |c: InboundCounts| c.concealed - c.corrupt + c.unconcealed;
        add(&self.packets_lost, lost(now) - lost(before));
        add(&self.audio_frames_concealed, now.concealed - before.concealed);
    }
}

/// The outgoing audio queue and since when its first whole frame has been ready (the pacer's
/// cadence uses that to stay a margin behind a live producer).
pub(crate) struct Outgoing {
    pub audio: OutboundAudio,
    pub ready_since: Option<tokio::time::Instant>,
}

pub(crate) type CloseHook = Box<dyn FnOnce(&str) + Send>;

/// One peer connection and everything that belongs to it. Cheap to share (`Arc`).
pub struct Session {
    pub(crate) webrtc_id: String,
    pub(crate) runtime: Handle,
    pub(crate) pc: OnceLock<Arc<dyn PeerConnection>>,
    pub(crate) answer: OnceLock<String>,
    pub(crate) state: watch::Sender<SessionState>,
    pub(crate) reason: OnceLock<String>,
    pub(crate) audio_tx: mpsc::Sender<AudioFrame>,
    pub(crate) audio_rx: tokio::sync::Mutex<mpsc::Receiver<AudioFrame>>,
    pub(crate) outbound: Mutex<Outgoing>,
    pub(crate) sends_audio: bool,
    pub(crate) drained: Notify,
    /// Wakes an idle pacer when the handler queues audio.
    pub(crate) audio_queued: Notify,
    pub(crate) outbox: mpsc::UnboundedSender<String>,
    pub(crate) outbox_rx: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    pub(crate) inbox_tx: mpsc::Sender<String>,
    pub(crate) inbox: tokio::sync::Mutex<mpsc::Receiver<String>>,
    pub(crate) sender: OnceLock<Arc<dyn RtpSender>>,
    pub(crate) video_sender: OnceLock<Arc<dyn RtpSender>>,
    pub(crate) on_close: Mutex<Option<CloseHook>>,
    pub(crate) stats: SessionStats,
    /// The newest decoded picture, not yet taken by the handler.
    pub(crate) video_in: Mutex<Option<VideoFrame>>,
    /// Sequence number of the newest picture (0: none yet).
    pub(crate) video_seq: watch::Sender<u64>,
    pub(crate) video_out: OnceLock<VideoSender>,
    pub(crate) keyframe_requested: AtomicBool,
    /// Pause detection's output (utterances and, when streamed, their pieces), mono at the input rate.
    pub(crate) utterance_tx: mpsc::Sender<Speech>,
    pub(crate) utterance_rx: tokio::sync::Mutex<mpsc::Receiver<Speech>>,
    /// The handler is replying (set from Python around a reply).
    pub(crate) replying: AtomicBool,
    /// The user started talking during a reply (cleared when Python reads it).
    pub(crate) interrupted: AtomicBool,
}

impl Session {
    pub(crate) fn new(webrtc_id: String, runtime: Handle, sends_audio: bool, bitrate: i32) -> Arc<Self> {
        let (audio_tx, audio_rx) = mpsc::channel(AUDIO_QUEUE);
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let (inbox_tx, inbox) = mpsc::channel(INBOX);
        let (utterance_tx, utterance_rx) = mpsc::channel(UTTERANCE_QUEUE + PARTIAL_QUEUE);
        Arc::new(Self {
            webrtc_id,
            runtime,
            pc: OnceLock::new(),
            answer: OnceLock::new(),
            state: watch::channel(SessionState::Connecting).0,
            reason: OnceLock::new(),
            audio_tx,
            audio_rx: tokio::sync::Mutex::new(audio_rx),
            outbound: Mutex::new(Outgoing {
                audio: {
                    let mut audio = OutboundAudio::new(bitrate);
                    audio.set_latency_budget(Some(0));
                    audio
                },
                ready_since: None,
            }),
            sends_audio,
            drained: Notify::new(),
            audio_queued: Notify::new(),
            outbox,
            outbox_rx: Mutex::new(Some(outbox_rx)),
            inbox_tx,
            inbox: tokio::sync::Mutex::new(inbox),
            sender: OnceLock::new(),
            video_sender: OnceLock::new(),
            on_close: Mutex::new(None),
            stats: SessionStats::default(),
            video_in: Mutex::new(None),
            video_seq: watch::channel(0).0,
            video_out: OnceLock::new(),
            keyframe_requested: AtomicBool::new(true),
            utterance_tx,
            utterance_rx: tokio::sync::Mutex::new(utterance_rx),
            replying: AtomicBool::new(false),
            interrupted: AtomicBool::new(false),
        })
    }

    /// The browser-chosen id of this session.
    #[must_use]
    pub fn webrtc_id(&self) -> &str {
        &self.webrtc_id
    }

    /// The answer SDP, with every gathered candidate.
    #[must_use]
    pub fn answer_sdp(&self) -> &str {
        self.answer.get().map_or("", String::as_str)
    }

    /// Current state.
    #[must_use]
    pub fn state(&self) -> SessionState {
        *self.state.borrow()
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

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    pub(crate) fn set_state(&self, state: SessionState) {
        self.state.send_if_modified(|s| {
            if *s == SessionState::Closed || *s == state {
                false
            } else {
                *s = state;
                true
            }
        });
    }

    /// Ends the session: closes the peer connection (freeing its sockets and driver task), wakes
    /// every waiter, and removes it from its engine. Idempotent; callable from any thread.
    pub fn close(&self, reason: &str) {
        if self.reason.set(reason.to_string()).is_err() {
            return;
        }
        log::debug!("session {} closing: {reason}", self.webrtc_id);
        self.set_state(SessionState::Closed);
        self.drained.notify_waiters();
        if let Some(pc) = self.pc.get().cloned() {
            self.runtime.spawn(async move {
                let _ = pc.close().await;
            });
        }
        let hook = self.on_close.lock().expect("on_close lock poisoned").take();
        if let Some(hook) = hook {
            hook(reason);
        }
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

    /// The next received audio frame, or None once the session has ended.
    pub async fn next_audio(&self) -> Option<AudioFrame> {
        let mut rx = self.audio_rx.lock().await;
        let mut state = self.state.subscribe();
        // Biased: once closed, frames still queued are not handed out.
        tokio::select! {
            biased;
            _ = state.wait_for(|s| *s == SessionState::Closed) => None,
            frame = rx.recv() => frame,
        }
    }

    /// Queues handler audio (row-major `shape`, values in `[-1, 1]`) for sending.
    pub fn send_audio(
        &self,
        rate: u32,
        shape: &[usize],
        data: &mut [f32],
        layout: Option<&str>,
    ) -> Result<(), EngineError> {
        let layout = layout.map(Layout::parse).transpose()?;
        sanitize(data);
        let (channels, samples) = interleave(shape, data, layout)?;
        if !self.sends_audio || self.is_closed() {
            return Ok(()); // send mode: audio is produced and discarded, as in the original
        }
        let ready = {
            let mut outbound = self.outbound.lock().expect("outbound lock poisoned");
            outbound.audio.push(rate, channels, &samples)?;
            let ready = outbound.audio.has_frame();
            if ready && outbound.ready_since.is_none() {
                outbound.ready_since = Some(tokio::time::Instant::now());
            }
            ready
        };
        if ready {
            self.audio_queued.notify_one();
        }
        Ok(())
    }

    /// Seconds of audio queued for sending.
    #[must_use]
    pub fn output_buffered(&self) -> f64 {
        self.outbound
            .lock()
            .expect("outbound lock poisoned")
            .audio
            .buffered_seconds()
    }

    /// Waits until less than `seconds` of audio is queued; false if the session ended first.
    pub async fn output_below(&self, seconds: f64) -> bool {
        loop {
            let notified = self.drained.notified();
            if self.is_closed() {
                return false;
            }
            if self.output_buffered() < seconds || !self.sends_audio {
                return true;
            }
            notified.await;
        }
    }

    /// How much audio may stand in the output queue (beyond the frame being sent) before quiet
    /// frames are trimmed: live streams (the default, 0 s) keep in step with their input; replies
    /// buffered ahead on purpose pass None.
    pub fn set_output_budget(&self, seconds: Option<f64>) {
        let frames = seconds.map(|s| (s.max(0.0) * 50.0).round() as usize);
        self.outbound
            .lock()
            .expect("outbound lock poisoned")
            .audio
            .set_latency_budget(frames);
    }

    /// Drops queued output audio.
    pub fn clear_output(&self) {
        let mut outbound = self.outbound.lock().expect("outbound lock poisoned");
        outbound.audio.clear();
        outbound.ready_since = None;
        drop(outbound);
        self.drained.notify_waiters();
    }

    /// Queues a text message for the browser; it is sent as soon as the data channel is open.
    pub fn send_message(&self, text: String) {
        let _ = self.outbox.send(text);
    }

    /// The next text message from the browser, or None once the session has ended.
    pub async fn next_message(&self) -> Option<String> {
        let mut rx = self.inbox.lock().await;
        let mut state = self.state.subscribe();
        tokio::select! {
            biased;
            _ = state.wait_for(|s| *s == SessionState::Closed) => None,
            m = rx.recv() => m,
        }
    }

    /// The next complete utterance (pause detection), or None once the session has ended.
    /// Partial pieces, if streamed, are skipped.
    pub async fn next_utterance(&self) -> Option<AudioFrame> {
        loop {
            match self.next_speech().await? {
                Speech::Complete(frame) => return Some(frame),
                Speech::Partial { .. } => {}
            }
        }
    }

    /// The next piece or complete utterance (pause detection), or None once the session has ended.
    pub async fn next_speech(&self) -> Option<Speech> {
        let mut rx = self.utterance_rx.lock().await;
        let mut state = self.state.subscribe();
        tokio::select! {
            biased;
            _ = state.wait_for(|s| *s == SessionState::Closed) => None,
            u = rx.recv() => u,
        }
    }

    /// Marks a reply as running (input is then ignored, or interrupts it, see `can_interrupt`).
    pub fn set_replying(&self, replying: bool) {
        self.replying.store(replying, Ordering::SeqCst);
        if !replying {
            self.interrupted.store(false, Ordering::SeqCst);
        }
    }

    /// True (once) if the user started talking during the current reply.
    pub fn take_interrupt(&self) -> bool {
        self.interrupted.swap(false, Ordering::SeqCst)
    }

    /// Stores a decoded picture, replacing one the handler has not taken yet.
    pub(crate) fn put_video(&self, width: u32, height: u32, bgr: Vec<u8>) {
        let seq = *self.video_seq.borrow() + 1;
        let replaced = self
            .video_in
            .lock()
            .expect("video lock poisoned")
            .replace(VideoFrame {
                width,
                height,
                bgr,
                seq,
            })
            .is_some();
        Self::count(&self.stats.video_frames_in, 1);
        if replaced {
            Self::count(&self.stats.video_frames_skipped, 1);
        }
        self.video_seq.send_replace(seq);
    }

    /// The newest received picture (older ones not taken meanwhile are skipped), or None once the
    /// session has ended.
    pub async fn next_video(&self) -> Option<VideoFrame> {
        let mut seq = self.video_seq.subscribe();
        let mut state = self.state.subscribe();
        loop {
            if self.is_closed() {
                return None;
            }
            if let Some(frame) = self.video_in.lock().expect("video lock poisoned").take() {
                return Some(frame);
            }
            tokio::select! {
                biased;
                _ = state.wait_for(|s| *s == SessionState::Closed) => return None,
                changed = seq.changed() => if changed.is_err() { return None },
            }
        }
    }

    /// Encodes and sends one picture (`pixels`: packed 24-bit, BGR or RGB order).
    pub async fn send_video(&self, width: u32, height: u32, pixels: &[u8], bgr: bool) -> Result<(), EngineError> {
        let Some(sender) = self.video_out.get() else {
            return Ok(()); // send mode or no video: the handler's pictures are dropped, as in the original
        };
        if self.is_closed() {
            return Ok(());
        }
        let frame = gradio_webrtc_media::video::I420::from_packed(pixels, width, height, bgr)?;
        sender.send(self, &frame).await
    }

    /// The local and remote candidate types of the selected ICE pair (e.g. `("relay", "host")`).
    pub async fn selected_candidate_types(&self) -> Option<(String, String)> {
        let pc = self.pc.get()?;
        let mut senders = pc.get_senders().await;
        if let Some(s) = self.sender.get() {
            senders.insert(0, s.clone());
        }
        let transport = match senders.first() {
            Some(sender) => sender.transport().await.ok().flatten(),
            None => None,
        };
        let transport = match transport {
            Some(t) => Some(t),
            None => pc.sctp().await.map(|s| s.transport()),
        }?;
        let pair = transport
            .ice_transport()
            .get_selected_candidate_pair()
            .await
            .ok()
            .flatten()?;
        let name = |t: RTCIceCandidateType| match t {
            RTCIceCandidateType::Host => "host",
            RTCIceCandidateType::Srflx => "srflx",
            RTCIceCandidateType::Prflx => "prflx",
            RTCIceCandidateType::Relay => "relay",
            _ => "unknown",
        };
        Some((name(pair.local().typ).to_string(), name(pair.remote().typ).to_string()))
    }

    pub(crate) fn count(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("webrtc_id", &self.webrtc_id)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// Sleeps for `d` unless the session closes first; true if the full time passed.
pub(crate) async fn sleep_unless_closed(session: &Session, d: Duration) -> bool {
    let mut state = session.state.subscribe();
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        _ = state.wait_for(|s| *s == SessionState::Closed) => false,
    }
}
