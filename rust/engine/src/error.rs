use thiserror::Error;

/// Why a request to the engine failed. The message is meant for the person using the app.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The offer could not be parsed or applied.
    #[error("invalid offer: {0}")]
    InvalidOffer(String),
    /// The offer has no media section this stream can use.
    #[error("{0}")]
    NoMedia(String),
    /// A session with this id is already running.
    #[error("a connection with webrtc_id {0:?} already exists")]
    DuplicateId(String),
    /// The ICE configuration is malformed.
    #[error("invalid ICE configuration: {0}")]
    InvalidConfig(String),
    /// Building or negotiating the peer connection failed for a reason of the local side.
    #[error("could not set up the connection: {0}")]
    Setup(String),
    /// Media handed in by a handler could not be used.
    #[error("{0}")]
    BadMedia(String),
    /// Media could not be processed: the media library's own error, kept typed.
    #[error(transparent)]
    Media(#[from] gradio_webrtc_media::Error),
    /// The peer sent media faster than real time (more than its burst ahead of the clock).
    #[error("{0}")]
    TooFast(String),
    /// Media could not be sent to the peer: its transport is gone or an encoder failed.
    #[error("{0}")]
    Transport(String),
    /// The engine was closed.
    #[error("the engine is closed")]
    Closed,
}

impl EngineError {
    /// A stable name for the kind of error (Python exception classes and the page's messages
    /// are chosen by it).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::InvalidOffer(_) => "invalid_offer",
            EngineError::NoMedia(_) => "no_usable_media",
            EngineError::DuplicateId(_) => "connection_already_exists",
            EngineError::InvalidConfig(_) => "invalid_ice_configuration",
            EngineError::Setup(_) => "setup_failed",
            EngineError::BadMedia(_) | EngineError::Media(_) => "bad_media",
            EngineError::TooFast(_) => "input_too_fast",
            EngineError::Transport(_) => "transport_failed",
            EngineError::Closed => "server_shutting_down",
        }
    }
}
