//! Opus encoding and decoding at the wire rate (RFC 6716 codec, RFC 7587 RTP payload).
//!
//! Thin wrappers over libopus (bundled and linked statically by the `opus` crate) that speak this
//! crate's sample conventions: interleaved `f32`, 48 kHz, 20 ms frames.

use crate::{Error, WIRE_FRAME, WIRE_RATE};

/// Largest Opus packet we produce; RFC 6716 §3.2.1 caps a frame at 1275 bytes.
const MAX_PACKET: usize = 1500;

fn channels(n: usize) -> Result<::opus::Channels, Error> {
    match n {
        1 => Ok(::opus::Channels::Mono),
        2 => Ok(::opus::Channels::Stereo),
        _ => Err(Error::BadAudio(format!("Opus supports 1 or 2 channels, got {n}"))),
    }
}

/// Decodes Opus packets to interleaved `f32` at 48 kHz with a fixed output channel count.
///
/// libopus mixes or duplicates channels itself, so a mono decoder accepts the stereo streams that
/// browsers signal (`opus/48000/2`) and a stereo decoder accepts mono ones.
pub struct OpusDecoder {
    inner: ::opus::Decoder,
    channels: usize,
    buf: Vec<f32>,
}

impl OpusDecoder {
    /// A decoder producing `channels` (1 or 2) interleaved channels.
    pub fn new(channels: usize) -> Result<Self, Error> {
        let inner = ::opus::Decoder::new(WIRE_RATE, self::channels(channels)?)?;
        // 120 ms is the longest Opus packet (RFC 6716 §3.2.5).
        Ok(Self {
            inner,
            channels,
            buf: vec![0.0; WIRE_FRAME * 6 * channels],
        })
    }

    /// Output channel count.
    #[must_use]
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Decodes one packet; returns the interleaved samples (valid until the next call).
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[f32], Error> {
        let n = self.inner.decode_float(packet, &mut self.buf, false)?;
        Ok(&self.buf[..n * self.channels])
    }

    /// Rebuilds the `samples` per channel lost right before `next` from `next`'s in-band FEC
    /// (RFC 6716 §2.1.7); libopus conceals instead when `next` carries none.
    pub fn recover(&mut self, next: &[u8], samples: usize) -> Result<&[f32], Error> {
        let want = (samples * self.channels).min(self.buf.len());
        let n = self.inner.decode_float(next, &mut self.buf[..want], true)?;
        Ok(&self.buf[..n * self.channels])
    }

    /// Packet-loss concealment: synthesises `samples` per channel in place of a lost packet.
    pub fn conceal(&mut self, samples: usize) -> Result<&[f32], Error> {
        let want = (samples * self.channels).min(self.buf.len());
        let n = self.inner.decode_float(&[], &mut self.buf[..want], false)?;
        Ok(&self.buf[..n * self.channels])
    }
}

/// Encodes 20 ms frames of interleaved `f32` at 48 kHz.
pub struct OpusEncoder {
    inner: ::opus::Encoder,
    channels: usize,
    out: Vec<u8>,
}

impl OpusEncoder {
    /// An encoder for `channels` (1 or 2) channels tuned for real-time voice and music.
    ///
    /// `Application::Audio` keeps music and TTS output clean (`Voip` favours intelligibility and
    /// colours music); in-band FEC lets a browser recover single lost packets.
    pub fn new(channels: usize, bitrate: i32) -> Result<Self, Error> {
        let mut inner = ::opus::Encoder::new(WIRE_RATE, self::channels(channels)?, ::opus::Application::Audio)?;
        inner.set_bitrate(::opus::Bitrate::Bits(bitrate))?;
        inner.set_inband_fec(true)?;
        inner.set_packet_loss_perc(5)?;
        Ok(Self {
            inner,
            channels,
            out: vec![0; MAX_PACKET],
        })
    }

    /// Channel count this encoder was built for.
    #[must_use]
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Encodes exactly one 20 ms frame (`960 * channels` interleaved samples).
    pub fn encode(&mut self, frame: &[f32]) -> Result<&[u8], Error> {
        if frame.len() != WIRE_FRAME * self.channels {
            return Err(Error::BadAudio(format!(
                "an Opus frame needs {} samples, got {}",
                WIRE_FRAME * self.channels,
                frame.len()
            )));
        }
        let n = self.inner.encode_float(frame, &mut self.out)?;
        Ok(&self.out[..n])
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::convert::tone;

    /// Frequency of the strongest bin of a real DFT restricted to 50..4000 Hz (coarse but exact enough).
    pub(crate) fn dominant_hz(x: &[f32], rate: u32) -> f32 {
        let n = x.len();
        let mut best = (0.0f32, 0.0f32);
        let mut hz = 50.0f32;
        while hz < 4000.0 {
            let w = 2.0 * std::f32::consts::PI * hz / rate as f32;
            let (mut re, mut im) = (0.0f32, 0.0f32);
            for (i, s) in x.iter().enumerate() {
                re += s * (w * i as f32).cos();
                im += s * (w * i as f32).sin();
            }
            let p = (re * re + im * im) / n as f32;
            if p > best.1 {
                best = (hz, p);
            }
            hz += 5.0;
        }
        best.0
    }

    #[test]
    fn opus_round_trip_keeps_a_440_hz_tone() {
        let mut enc = OpusEncoder::new(1, 64_000).unwrap();
        let mut dec = OpusDecoder::new(1).unwrap();
        let signal = tone(440.0, WIRE_RATE, WIRE_FRAME * 50, 0.5);
        let mut out = Vec::new();
        for frame in signal.chunks(WIRE_FRAME) {
            let packet = enc.encode(frame).unwrap().to_vec();
            out.extend_from_slice(dec.decode(&packet).unwrap());
        }
        assert_eq!(out.len(), signal.len());
        // Skip the codec's start-up; the rest is a clean 440 Hz tone at about the same level.
        let tail = &out[WIRE_FRAME * 10..];
        assert!((dominant_hz(tail, WIRE_RATE) - 440.0).abs() <= 5.0);
        let rms = |x: &[f32]| (x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32).sqrt();
        let ratio = rms(tail) / rms(&signal[WIRE_FRAME * 10..]);
        assert!((0.8..1.2).contains(&ratio), "level ratio {ratio}");
    }

    #[test]
    fn stereo_packets_decode_as_mono() {
        let mut enc = OpusEncoder::new(2, 64_000).unwrap();
        let mut dec = OpusDecoder::new(1).unwrap();
        let frame = vec![0.1f32; WIRE_FRAME * 2];
        let packet = enc.encode(&frame).unwrap().to_vec();
        assert_eq!(dec.decode(&packet).unwrap().len(), WIRE_FRAME);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut dec = OpusDecoder::new(1).unwrap();
        // A TOC byte announcing code 3 (arbitrary frames) with an impossible frame count.
        assert!(dec.decode(&[0xff, 0xff, 0xff, 0xff]).is_err());
        let mut enc = OpusEncoder::new(1, 32_000).unwrap();
        assert!(enc.encode(&[0.0; 100]).is_err());
        assert!(OpusDecoder::new(3).is_err());
    }

    #[test]
    fn concealment_fills_a_lost_frame() {
        let mut dec = OpusDecoder::new(1).unwrap();
        assert_eq!(dec.conceal(WIRE_FRAME).unwrap().len(), WIRE_FRAME);
    }
}
