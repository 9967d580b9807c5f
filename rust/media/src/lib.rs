//! Pure, synchronous media processing for `gradio_webrtc`.
//!
//! Everything in this crate is a plain value transformation: no sockets, no threads, no clocks, no
//! `tokio`, no `pyo3`. The engine (`rust/engine`) feeds it samples and packets and schedules the
//! results in real time; the tests here drive it with synthetic signals and check the numbers.
//!
//! # Audio conventions
//!
//! * Inside the engine, audio is `f32` in `[-1.0, 1.0]`, **interleaved** when it has two channels.
//! * The wire rate is 48 kHz (RFC 7587 §4.1: Opus RTP always uses a 48 kHz clock) and the wire frame
//!   is 20 ms, the duration browsers send and expect.
//! * Conversions at the edges ([`convert`]) turn the many shapes Python handlers produce into that
//!   form, and the decoded wire audio back into `int16` frames at the handler's rate.
//!
//! # Errors vs bugs
//!
//! Bad input from a peer or a handler (a corrupt Opus packet, an array of the wrong shape) is an
//! [`Error`] and never a panic. An `expect` marks a broken internal invariant and says which.

#![deny(missing_docs)]

pub mod cadence;
pub mod convert;
mod error;
pub mod framer;
#[cfg(test)]
mod fuzz;
pub mod heap;
pub mod inbound;
pub mod lowdelay;
pub mod mel;
pub mod mulaw;
pub mod opus;
pub mod outbound;
pub mod pace;
pub mod pause;
pub mod resample;
pub mod smart_turn;
pub mod vad;
pub mod video;

pub use error::Error;

/// Sample rate of Opus on the wire (RFC 7587 §4.1).
pub const WIRE_RATE: u32 = 48_000;
/// Samples per channel in one 20 ms wire frame.
pub const WIRE_FRAME: usize = 960;

/// Lowest and highest sample rate accepted anywhere (handler input/output, transports).
pub const RATES: std::ops::RangeInclusive<u32> = 4_000..=192_000;

/// Checks a sample rate against [`RATES`]; `what` names it in the error. The one place rates are
/// validated: the Python layer calls it too.
pub fn check_rate(what: &str, rate: u32) -> Result<(), Error> {
    if RATES.contains(&rate) {
        Ok(())
    } else {
        Err(Error::BadAudio(format!(
            "{what} must be between {} and {} Hz, got {rate}",
            RATES.start(),
            RATES.end()
        )))
    }
}
