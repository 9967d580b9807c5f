//! Where a session is in its life.

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Answer sent, the transport is not connected yet.
    Connecting,
    /// Media can flow.
    Connected,
    /// No packets from the peer for a while; may recover.
    Disconnected,
    /// Ended; see `MediaSession::close_reason`.
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
