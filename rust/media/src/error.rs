use thiserror::Error as ThisError;

/// Why a media operation could not be done. These are input problems, never internal bugs.
#[derive(Debug, ThisError, Clone, PartialEq, Eq)]
pub enum Error {
    /// The Opus library refused a packet or a setting.
    #[error("opus: {0}")]
    Opus(String),
    /// A resampler could not be built or run for the given rates.
    #[error("resampler: {0}")]
    Resample(String),
    /// Audio handed in by a handler had a shape, dtype or rate we cannot interpret.
    #[error("{0}")]
    BadAudio(String),
    /// A picture had a shape we cannot use, or a video codec failed.
    #[error("{0}")]
    BadVideo(String),
    /// A peer's picture is larger than [`crate::video::MAX_PIXELS`]: it is not decoded.
    #[error("the peer's video is {0}x{1}, larger than this server decodes ({max} pixels)", max = crate::video::MAX_PIXELS)]
    PictureTooLarge(u32, u32),
    /// An end-of-turn model could not be loaded or run (`crate::smart_turn`).
    #[error("{0}")]
    Model(String),
}

impl Error {
    /// A stable name for the kind of problem (Python's `ValueError.kind`).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Opus(_) => "opus",
            Error::Resample(_) => "resample",
            Error::BadAudio(_) => "bad_audio",
            Error::BadVideo(_) => "bad_video",
            Error::PictureTooLarge(..) => "picture_too_large",
            Error::Model(_) => "model",
        }
    }
}

impl From<::opus::Error> for Error {
    fn from(e: ::opus::Error) -> Self {
        Error::Opus(e.to_string())
    }
}
