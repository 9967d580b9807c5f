//! What a session tells the page, and why a session ended: typed here, encoded in one place.
//!
//! Every transport carries page events as JSON text (the data channel, a WebSocket): the shapes
//! below are the ones `gradio_webrtc` 0.0.31 and fastrtc pages read.

use std::fmt;

/// A message for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageEvent {
    /// Pause detection heard the user start talking: `{"type": "log", "data": "started_talking"}`.
    StartedTalking,
    /// Pause detection decided the user finished: `{"type": "log", "data": "pause_detected"}`.
    PauseDetected,
    /// The server ends the stream: `{"type": "end_stream", "data": why}` (the page stops).
    EndStream(String),
    /// Something failed: `{"type": "error", "message": why}` (the page shows it).
    Error(String),
    /// A message the handler's side composed (already JSON or plain text), sent as it is.
    Text(String),
}

impl PageEvent {
    /// The text sent over the side channel.
    #[must_use]
    pub fn encode(&self) -> String {
        let json = match self {
            PageEvent::StartedTalking => serde_json::json!({"type": "log", "data": "started_talking"}),
            PageEvent::PauseDetected => serde_json::json!({"type": "log", "data": "pause_detected"}),
            PageEvent::EndStream(why) => serde_json::json!({"type": "end_stream", "data": why}),
            PageEvent::Error(why) => serde_json::json!({"type": "error", "message": why}),
            PageEvent::Text(text) => return text.clone(),
        };
        json.to_string()
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
    Failed(String),
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
            CloseReason::Server(why) | CloseReason::Failed(why) => why,
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn events_encode_as_the_pages_read_them() {
        let parse = |e: PageEvent| serde_json::from_str::<serde_json::Value>(&e.encode()).unwrap();
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
            PageEvent::Text("{\"type\": \"send_input\"}".into()).encode(),
            "{\"type\": \"send_input\"}"
        );
    }
}
