//! The engine: a registry of sessions sharing ICE settings. One per component.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::driver::MediaSession;
use crate::session::CloseReason;
use crate::{EngineError, EngineOptions, IceConfig, SessionOptions};

struct Inner {
    ice: IceConfig,
    options: EngineOptions,
    sessions: Mutex<HashMap<String, Arc<MediaSession>>>,
    closed: AtomicBool,
}

/// Owns the sessions of one component (or server). Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// An engine whose sessions use `ice` unless a session brings its own.
    #[must_use]
    pub fn new(ice: IceConfig, options: EngineOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                ice,
                options,
                sessions: Mutex::new(HashMap::new()),
                closed: AtomicBool::new(false),
            }),
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<MediaSession>>> {
        self.inner.sessions.lock().expect("sessions lock poisoned")
    }

    /// The session with this id, if it is live.
    #[must_use]
    pub fn get(&self, webrtc_id: &str) -> Option<Arc<MediaSession>> {
        self.sessions().get(webrtc_id).cloned()
    }

    /// Ids of the live sessions.
    #[must_use]
    pub fn session_ids(&self) -> Vec<String> {
        self.sessions().keys().cloned().collect()
    }

    /// Number of live sessions.
    #[must_use]
    pub fn session_count(&self) -> usize {
        self.sessions().len()
    }

    /// Closes every session and refuses new offers.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        let sessions: Vec<_> = self.sessions().values().cloned().collect();
        for s in sessions {
            s.close(CloseReason::ServerShutdown);
        }
    }

    /// Answers `sdp` (an offer) for `webrtc_id` over WebRTC. Must be called inside a tokio runtime.
    /// Returns the session (registered until it closes) and the answer SDP.
    pub async fn accept_offer(
        &self,
        sdp: &str,
        kind: &str,
        webrtc_id: &str,
        options: SessionOptions,
    ) -> Result<(Arc<MediaSession>, String), EngineError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(EngineError::Closed);
        }
        crate::ids::validate_id(webrtc_id)?;
        if self.get(webrtc_id).is_some() {
            return Err(EngineError::DuplicateId(webrtc_id.to_string()));
        }
        let offer = crate::webrtc::validate(sdp, kind, &options)?;
        let ice = options.ice.as_ref().unwrap_or(&self.inner.ice);
        let (session, answer) = Box::pin(crate::webrtc::accept_offer(
            webrtc_id,
            offer,
            sdp,
            &options,
            ice,
            &self.inner.options,
        ))
        .await?;
        if !self.register(&session) {
            // Two offers with one id raced through negotiation; the first one registered wins.
            session.close(CloseReason::DuplicateId);
            return Err(EngineError::DuplicateId(webrtc_id.to_string()));
        }
        self.watch_connection(&session);
        Ok((session, answer))
    }

    /// A stream session `webrtc_id` (a WebSocket client, a phone call): `codec` payloads received
    /// at `in_rate` Hz and sent at `out_rate` Hz, carried by the caller. Registered until it closes.
    pub fn open_stream(
        &self,
        webrtc_id: &str,
        codec: crate::stream::PayloadCodec,
        (in_rate, out_rate): (u32, u32),
        options: &SessionOptions,
    ) -> Result<(Arc<MediaSession>, Arc<crate::stream::StreamTransport>), EngineError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(EngineError::Closed);
        }
        crate::ids::validate_id(webrtc_id)?;
        let media = crate::session::MediaOptions {
            recv_audio: options.recv_audio,
            send_audio: options.send_audio,
            input_sample_rate: options.input_sample_rate,
            input_channels: options.input_channels,
            output_rate: out_rate,
            pause: options.pause.clone(),
            can_interrupt: options.can_interrupt,
            stream_speech: options.stream_speech,
            wording: options.wording,
            time_limit: options.time_limit,
        };
        let (session, transport) = crate::stream::StreamTransport::open(
            webrtc_id.to_string(),
            tokio::runtime::Handle::current(),
            codec,
            in_rate,
            out_rate,
            media,
        )?;
        if !self.register(&session) {
            session.close(CloseReason::DuplicateId);
            return Err(EngineError::DuplicateId(webrtc_id.to_string()));
        }
        Ok((session, transport))
    }

    /// Places a WebRTC call as the offerer (the test client): returns the session (what the server
    /// sends arrives as its input; what it sends is paced out) and the call, whose offer SDP the
    /// caller posts to the server and whose answer it applies. Not registered: a client's sessions
    /// are its own.
    pub async fn place_call(
        &self,
        call_id: &str,
        options: &SessionOptions,
    ) -> Result<(Arc<MediaSession>, crate::webrtc::ClientCall), EngineError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(EngineError::Closed);
        }
        crate::ids::validate_id(call_id)?;
        let ice = options.ice.as_ref().unwrap_or(&self.inner.ice);
        Box::pin(crate::webrtc::open_client(call_id, options, ice, &self.inner.options)).await
    }

    /// Adds a session made elsewhere (another transport) to the registry; false if the id is taken.
    pub fn register(&self, session: &Arc<MediaSession>) -> bool {
        let id = session.id().to_string();
        {
            let mut sessions = self.sessions();
            if sessions.contains_key(&id) {
                return false;
            }
            sessions.insert(id.clone(), session.clone());
        }
        let registry = Arc::downgrade(&self.inner);
        let this = Arc::downgrade(session);
        let runtime = session.runtime().clone();
        session.on_close(move |_reason| {
            trim_heap_soon(&runtime);
            if let Some(inner) = registry.upgrade() {
                let mut sessions = inner.sessions.lock().expect("sessions lock poisoned");
                // Only this session: a new one may already use the id.
                if sessions
                    .get(&id)
                    .is_some_and(|s| this.upgrade().is_some_and(|t| Arc::ptr_eq(s, &t)))
                {
                    sessions.remove(&id);
                }
            }
        });
        true
    }

    /// A connection that never comes up must not hold its slot forever.
    fn watch_connection(&self, session: &Arc<MediaSession>) {
        let watchdog = session.clone();
        let give_up = self.inner.options.ice_disconnected_timeout + self.inner.options.ice_failed_timeout;
        session.runtime().spawn(async move {
            if tokio::time::timeout(give_up, watchdog.connected()).await.is_err() {
                watchdog.close(CloseReason::NeverConnected);
            }
        });
    }
}

/// How long after a session ends the heap is trimmed; sessions ending meanwhile share that trim.
const TRIM_AFTER: Duration = Duration::from_secs(2);

/// Returns the memory of ended sessions to the system (see `gradio_webrtc_media::heap`): once,
/// `TRIM_AFTER` the first of a run of session ends, on a blocking thread. The allocator is the
/// process's, so the flag is too.
fn trim_heap_soon(runtime: &tokio::runtime::Handle) {
    static SCHEDULED: AtomicBool = AtomicBool::new(false);
    if SCHEDULED.swap(true, Ordering::SeqCst) {
        return;
    }
    runtime.spawn(async {
        tokio::time::sleep(TRIM_AFTER).await;
        SCHEDULED.store(false, Ordering::SeqCst);
        let _ = tokio::task::spawn_blocking(gradio_webrtc_media::heap::trim).await;
    });
}
