//! Received Opus packets → int16 frames at the handler's rate.
//!
//! RTP ordering is handled here, not in a jitter buffer: a packet older than the last one decoded
//! is dropped (it would be played late anyway), and a short gap in sequence numbers is filled with
//! Opus packet-loss concealment so the handler's timeline keeps real time (RFC 3550 §A.1 for the
//! sequence arithmetic, RFC 6716 §4.4 for concealment).

use crate::convert::f32_to_i16_into;
use crate::framer::Framer;
use crate::opus::OpusDecoder;
use crate::resample::Resampler;
use crate::{Error, WIRE_FRAME, WIRE_RATE};

/// Largest sequence gap that is concealed; beyond it the stream simply resumes (a long outage or
/// a sender restart must not produce seconds of synthetic audio at once).
const MAX_CONCEALED: u16 = 5;

/// Decodes a stream of Opus RTP payloads into 20 ms int16 frames at `rate` with `channels`.
pub struct InboundAudio {
    decoder: OpusDecoder,
    resampler: Resampler,
    framer: Framer,
    last_seq: Option<u16>,
    scratch: Vec<f32>,
    /// Packets that were older than the newest decoded one and were dropped.
    pub reordered: u64,
    /// Packets lost in transit and concealed.
    pub concealed: u64,
    /// Packets that failed to decode.
    pub corrupt: u64,
}

impl InboundAudio {
    /// A pipeline delivering `channels` (1 or 2) interleaved channels at `rate` Hz.
    pub fn new(rate: u32, channels: usize) -> Result<Self, Error> {
        Ok(Self {
            decoder: OpusDecoder::new(channels)?,
            resampler: Resampler::new(WIRE_RATE, rate, channels)?,
            framer: Framer::new(rate as usize / 50, channels),
            last_seq: None,
            scratch: Vec::new(),
            reordered: 0,
            concealed: 0,
            corrupt: 0,
        })
    }

    /// Output rate in Hz.
    #[must_use]
    pub fn rate(&self) -> u32 {
        self.resampler.to_rate()
    }

    /// Output channels.
    #[must_use]
    pub fn channels(&self) -> usize {
        self.framer.channels()
    }

    /// Feeds one RTP payload with its sequence number; returns the frames completed by it.
    pub fn push(&mut self, seq: u16, payload: &[u8]) -> Vec<Vec<i16>> {
        self.scratch.clear();
        if let Some(last) = self.last_seq {
            let delta = seq.wrapping_sub(last);
            if delta == 0 || delta > u16::MAX / 2 {
                self.reordered += 1;
                return Vec::new();
            }
            let lost = delta - 1;
            if lost > 0 && lost <= MAX_CONCEALED {
                for _ in 0..lost {
                    if let Ok(samples) = self.decoder.conceal(WIRE_FRAME) {
                        self.scratch.extend_from_slice(samples);
                        self.concealed += 1;
                    }
                }
            }
        }
        self.last_seq = Some(seq);
        if let Ok(samples) = self.decoder.decode(payload) {
            self.scratch.extend_from_slice(samples);
        } else {
            self.corrupt += 1;
            if let Ok(samples) = self.decoder.conceal(WIRE_FRAME) {
                self.scratch.extend_from_slice(samples);
            }
        }
        let mut resampled = Vec::with_capacity(self.scratch.len());
        // Rates were validated at construction; processing cannot fail afterwards.
        self.resampler
            .process(&self.scratch, &mut resampled)
            .expect("resampler rates are valid");
        self.framer.push(&resampled);
        let mut frames = Vec::new();
        while let Some(frame) = self.framer.pop() {
            let mut out = Vec::with_capacity(frame.len());
            f32_to_i16_into(&frame, &mut out);
            frames.push(out);
        }
        frames
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::convert::tone;
    use crate::opus::OpusEncoder;

    fn packets(n: usize) -> Vec<Vec<u8>> {
        let mut enc = OpusEncoder::new(1, 48_000).unwrap();
        let signal = tone(440.0, WIRE_RATE, WIRE_FRAME * n, 0.5);
        signal
            .chunks(WIRE_FRAME)
            .map(|f| enc.encode(f).unwrap().to_vec())
            .collect()
    }

    #[test]
    fn frames_are_20ms_at_the_requested_rate() {
        for (rate, len) in [(48_000, 960), (24_000, 480), (16_000, 320)] {
            let mut inbound = InboundAudio::new(rate, 1).unwrap();
            let frames: Vec<_> = packets(50)
                .iter()
                .enumerate()
                .flat_map(|(i, p)| inbound.push(i as u16, p))
                .collect();
            assert!(frames.iter().all(|f| f.len() == len), "rate {rate}");
            // One second in; the resampler may hold back part of one frame.
            assert!(
                frames.len() >= 49 && frames.len() <= 50,
                "rate {rate}: {}",
                frames.len()
            );
        }
    }

    #[test]
    fn gaps_are_concealed_and_late_packets_dropped() {
        let p = packets(10);
        let mut inbound = InboundAudio::new(48_000, 1).unwrap();
        let mut n = 0;
        for seq in [65_534u16, 65_535, 2, 1, 3] {
            // Wraps around 65535 → 0; 0 and 1 are lost, then 1 arrives late.
            n += inbound.push(seq, &p[(seq % 10) as usize]).len();
        }
        assert_eq!(inbound.concealed, 2);
        assert_eq!(inbound.reordered, 1);
        assert_eq!(n, 6);
        inbound.push(4, &[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(inbound.corrupt, 1);
    }

    #[test]
    fn stereo_output_is_packed() {
        let mut inbound = InboundAudio::new(48_000, 2).unwrap();
        let frames = inbound.push(0, &packets(1)[0]);
        assert_eq!(frames[0].len(), 1920);
    }
}
