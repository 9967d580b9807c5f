//! What a session tells the page, and why a session ended: typed here, encoded in one place.
//!
//! Every transport carries page events as JSON text (the data channel, a WebSocket): the shapes
//! below are the ones `gradio_webrtc` 0.0.31 and fastrtc pages read.

use std::fmt;

/// How a page reads its events: the three that ask or tell the page something (inputs wanted,
/// outputs waiting, a stop word) were plain strings in `gradio_webrtc` 0.0.31 and are JSON in
/// fastrtc; every other event is JSON in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wording {
    /// `tick`, `change`, `stopword` (the `WebRTC` component of `gradio_webrtc`; its page reads both).
    #[default]
    Plain,
    /// `{"type": "send_input", "data": []}`, ... (fastrtc's component, every `Stream` route).
    Json,
}

/// A message for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageEvent {
    /// The server wants the handler's inputs (the page runs the app's input event): `tick`.
    SendInput,
    /// Additional outputs wait (the page runs the app's output event): `change`.
    FetchOutput,
    /// A stop word was heard: `stopword`.
    Stopword,
    /// Pause detection heard the user start talking: `{"type": "log", "data": "started_talking"}`.
    StartedTalking,
    /// Pause detection decided the user finished: `{"type": "log", "data": "pause_detected"}`.
    PauseDetected,
    /// The handler's reply starts: `{"type": "log", "data": "response_starting"}`.
    ResponseStarting,
    /// The server ends the stream: `{"type": "end_stream", "data": why}` (the page stops).
    EndStream(String),
    /// Something failed: `{"type": "error", "message": why}` (the page shows it).
    Error(String),
    /// A warning toast: `{"type": "warning", "message": what}`.
    Warning(String),
    /// The server changes what the page sends: `{"type": "update_connection", "data": {...}}`
    /// (the data as JSON text).
    UpdateConnection(String),
    /// A message the handler's side composed (already JSON or plain text), sent as it is.
    Text(String),
}

impl PageEvent {
    /// The name of every kind of event, as `PageEvent::from_kind` takes it and pages read it.
    pub const KINDS: [&'static str; 10] = [
        "send_input",
        "fetch_output",
        "stopword",
        "started_talking",
        "pause_detected",
        "response_starting",
        "end_stream",
        "error",
        "warning",
        "update_connection",
    ];

    /// The event of kind `kind` with its `text` (the reason, the message, or the JSON data; None
    /// for kinds that carry nothing). None for an unknown kind, or data that is not JSON.
    #[must_use]
    pub fn from_kind(kind: &str, text: Option<&str>) -> Option<Self> {
        let text_or = |default: &str| text.unwrap_or(default).to_string();
        Some(match kind {
            "send_input" => PageEvent::SendInput,
            "fetch_output" => PageEvent::FetchOutput,
            "stopword" => PageEvent::Stopword,
            "started_talking" => PageEvent::StartedTalking,
            "pause_detected" => PageEvent::PauseDetected,
            "response_starting" => PageEvent::ResponseStarting,
            "end_stream" => PageEvent::EndStream(text_or("Stream closed")),
            "error" => PageEvent::Error(text_or("An error occurred")),
            "warning" => PageEvent::Warning(text_or("Warning issued.")),
            "update_connection" => {
                let data = text_or("{}");
                serde_json::from_str::<serde_json::Value>(&data).ok()?;
                PageEvent::UpdateConnection(data)
            }
            _ => return None,
        })
    }

    /// The text sent over the side channel to a page that reads `wording`.
    #[must_use]
    pub fn encode(&self, wording: Wording) -> String {
        let json = match (self, wording) {
            (PageEvent::SendInput, Wording::Plain) => return "tick".into(),
            (PageEvent::FetchOutput, Wording::Plain) => return "change".into(),
            (PageEvent::Stopword, Wording::Plain) => return "stopword".into(),
            (PageEvent::SendInput, Wording::Json) => serde_json::json!({"type": "send_input", "data": []}),
            (PageEvent::FetchOutput, Wording::Json) => serde_json::json!({"type": "fetch_output", "data": []}),
            (PageEvent::Stopword, Wording::Json) => serde_json::json!({"type": "stopword", "data": ""}),
            (PageEvent::StartedTalking, _) => serde_json::json!({"type": "log", "data": "started_talking"}),
            (PageEvent::PauseDetected, _) => serde_json::json!({"type": "log", "data": "pause_detected"}),
            (PageEvent::ResponseStarting, _) => serde_json::json!({"type": "log", "data": "response_starting"}),
            (PageEvent::EndStream(why), _) => serde_json::json!({"type": "end_stream", "data": why}),
            (PageEvent::Error(why), _) => serde_json::json!({"type": "error", "message": why}),
            (PageEvent::Warning(what), _) => serde_json::json!({"type": "warning", "message": what}),
            (PageEvent::UpdateConnection(data), _) => {
                let data: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
                serde_json::json!({"type": "update_connection", "data": data})
            }
            (PageEvent::Text(text), _) => return text.clone(),
        };
        json.to_string()
    }
}

/// What kind of thing could not go on, when a session fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The peer's media could not be decoded or processed.
    PeerMedia,
    /// The peer sent media faster than real time.
    InputTooFast,
    /// Media could not be encoded or sent to the peer (the transport is gone, an encoder broke).
    SendMedia,
    /// The peer accepted no codec this server can send.
    NoCodec,
    /// The server's side could not go on (a handler's lane stopped, a limit ended it).
    Server,
}

impl FailureKind {
    /// A stable name (Python's `Session.failure_kind`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::PeerMedia => "peer_media",
            FailureKind::InputTooFast => "input_too_fast",
            FailureKind::SendMedia => "send_media",
            FailureKind::NoCodec => "no_codec",
            FailureKind::Server => "server",
        }
    }
}

/// Why a session failed: what kind of thing, and the words the peer and the log get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What could not go on.
    pub kind: FailureKind,
    /// For the person using the app (sent to the page as `{"type": "error"}`).
    pub message: String,
}

impl Failure {
    /// A failure of `kind` saying `message`.
    #[must_use]
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<crate::EngineError> for Failure {
    fn from(e: crate::EngineError) -> Self {
        let kind = match e {
            crate::EngineError::TooFast(_) => FailureKind::InputTooFast,
            crate::EngineError::Transport(_) => FailureKind::SendMedia,
            _ => FailureKind::PeerMedia,
        };
        Failure::new(kind, e.to_string())
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer hung up (the browser closed its data channel: Stop, or the tab went away).
    PeerClosed,
    /// The peer went away before the connection was established.
    PeerLeftEarly,
    /// ICE failed: no packets got through for too long.
    ConnectionLost,
    /// The transport closed under the session.
    TransportClosed,
    /// The offer was answered but no connection followed in time.
    NeverConnected,
    /// The session's time limit passed.
    TimeLimit,
    /// Another session took this id.
    DuplicateId,
    /// The engine was closed.
    ServerShutdown,
    /// The server's side ended it (the app, a limit, the end of a stream), with its words.
    Server(String),
    /// Something could not go on; the peer was told (`{"type": "error"}`).
    Failed(Failure),
}

impl CloseReason {
    /// A stable name for the kind of ending (Python's `Session.close_kind`).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::PeerLeftEarly => "peer_left_early",
            CloseReason::ConnectionLost => "connection_lost",
            CloseReason::TransportClosed => "transport_closed",
            CloseReason::NeverConnected => "never_connected",
            CloseReason::TimeLimit => "time_limit",
            CloseReason::DuplicateId => "duplicate_id",
            CloseReason::ServerShutdown => "server_shutdown",
            CloseReason::Server(_) => "server",
            CloseReason::Failed(_) => "failed",
        }
    }
}

impl CloseReason {
    /// The failure, when the session failed.
    #[must_use]
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            CloseReason::Failed(failure) => Some(failure),
            _ => None,
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseReason::PeerClosed => "closed by peer",
            CloseReason::PeerLeftEarly => "the peer left before the connection was established",
            CloseReason::ConnectionLost => "connection lost (ICE failed)",
            CloseReason::TransportClosed => "closed",
            CloseReason::NeverConnected => "the connection was never established",
            CloseReason::TimeLimit => "time limit reached",
            CloseReason::DuplicateId => "duplicate id",
            CloseReason::ServerShutdown => "server shutting down",
            CloseReason::Server(why) => why,
            CloseReason::Failed(failure) => &failure.message,
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn events_encode_as_the_pages_read_them() {
        let parse = |e: PageEvent| serde_json::from_str::<serde_json::Value>(&e.encode(Wording::Json)).unwrap();
        assert_eq!(parse(PageEvent::PauseDetected)["data"], "pause_detected");
        assert_eq!(parse(PageEvent::StartedTalking)["type"], "log");
        let end = parse(PageEvent::EndStream("Time limit reached".into()));
        assert_eq!(
            (end["type"].as_str(), end["data"].as_str()),
            (Some("end_stream"), Some("Time limit reached"))
        );
        let error = parse(PageEvent::Error("a \"quoted\" reason".into()));
        assert_eq!(error["message"], "a \"quoted\" reason");
        assert_eq!(
            PageEvent::Text("{\"type\": \"send_input\"}".into()).encode(Wording::Plain),
            "{\"type\": \"send_input\"}"
        );
    }
}
