//! Received audio → 20 ms int16 frames at the handler's rate, exactly as many as the peer sent.
//!
//! [`RtpOpusDecoder`] turns a WebRTC peer's Opus RTP payloads into 48 kHz samples; [`InputFramer`]
//! (transport-neutral: μ-law telephony feeds it too) resamples any decoded audio to the handler's
//! rate and cuts it into 20 ms frames.
//!
//! The handler's timeline must advance with the sender's clock and nothing else, or an echo-style
//! app drifts: every extra 20 ms frame handed out is 20 ms of delay that never drains. So:
//!
//! * **Padding-only packets are not audio.** With transport-wide congestion control (RFC 8888's
//!   predecessor, `transport-cc`), Chromium probes bandwidth with RTP packets that carry only
//!   padding (RFC 3550 §5.1, P bit) on the audio SSRC; they take sequence numbers but no payload
//!   survives padding removal. Decoding an empty payload is Opus's loss concealment (RFC 6716
//!   §4.4), which used to add a synthetic 20 ms frame per probe. They are counted and skipped.
//! * **Concealment only for real loss.** A packet is lost when the sequence numbers jump *and* the
//!   RTP timestamp moved on by the missing duration (RFC 3550 §A.1 for the sequence arithmetic;
//!   RFC 7587 §4.1: the Opus clock is 48 kHz). A sequence gap the timestamps do not confirm
//!   (padding the network lost, a sender skipping numbers) conceals nothing. The last lost frame
//!   is rebuilt from the next packet's in-band FEC when it carries one (libopus falls back to
//!   concealment otherwise).
//! * **DTX silence is silence.** A sender using Opus DTX (RFC 7587 §3.1.3; libopus sends one
//!   packet per ~400 ms of silence, and many SDKs turn it on) stops sending while its user is
//!   quiet: the timestamps jump, the sequence numbers do not. The jump is filled with silent frames
//!   (up to [`MAX_DTX_FILL`]), so the handler's timeline still follows the sender's clock and a
//!   pause detector hears the pause. A longer jump is a stream that stopped and resumed: not filled.
//! * **Duplicates and late packets produce nothing.** A packet not newer than the last decoded one
//!   (a retransmission, a reordered straggler) would be played late; it is counted and dropped.
//!
//! Concealment is bounded ([`MAX_CONCEALED`]): after a long outage the stream resumes rather than
//! producing seconds of synthetic audio at once.

use crate::convert::{f32_to_i16_into, to_channels};
use crate::framer::Framer;
use crate::opus::OpusDecoder;
use crate::resample::Resampler;
use crate::{Error, WIRE_FRAME};

/// Largest confirmed loss that is concealed, in packets.
pub const MAX_CONCEALED: u32 = 5;

/// Longest DTX gap filled with silence, in samples per channel at 48 kHz (1 s).
pub const MAX_DTX_FILL: usize = 48_000;

/// What happened to the packets fed to an [`RtpOpusDecoder`]. Every pushed packet lands in exactly
/// one of `decoded`, `padding`, `duplicates`, `late` and `corrupt`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboundCounts {
    /// Packets decoded into audio.
    pub decoded: u64,
    /// Padding-only packets (no payload), skipped.
    pub padding: u64,
    /// Packets with the sequence number of the last decoded one, dropped.
    pub duplicates: u64,
    /// Packets older than the last decoded one, dropped.
    pub late: u64,
    /// Packets that failed to decode (each replaced by one concealed frame).
    pub corrupt: u64,
    /// Lost packets replaced by a synthetic frame (FEC or concealment), the corrupt ones included.
    pub concealed: u64,
    /// Lost packets beyond [`MAX_CONCEALED`] in one gap, not replaced.
    pub unconcealed: u64,
    /// Silent frames standing in for a DTX gap (time the sender sent nothing, sequence unbroken).
    pub dtx_filled: u64,
}

/// The last packet decoded: where the next one is expected.
#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u16,
    timestamp: u32,
    /// Samples per channel at 48 kHz that packet held.
    duration: u32,
}

/// Decodes a stream of Opus RTP payloads into interleaved 48 kHz samples with `channels`.
pub struct RtpOpusDecoder {
    decoder: OpusDecoder,
    last: Option<Last>,
    scratch: Vec<f32>,
    counts: InboundCounts,
}

impl RtpOpusDecoder {
    /// A decoder delivering `channels` (1 or 2) interleaved channels.
    pub fn new(channels: usize) -> Result<Self, Error> {
        Ok(Self {
            decoder: OpusDecoder::new(channels)?,
            last: None,
            scratch: Vec::new(),
            counts: InboundCounts::default(),
        })
    }

    /// Output channels.
    #[must_use]
    pub fn channels(&self) -> usize {
        self.decoder.channels()
    }

    /// What happened to the packets so far.
    #[must_use]
    pub fn counts(&self) -> InboundCounts {
        self.counts
    }

    /// Feeds one RTP packet's payload (padding removed) with its sequence number and timestamp;
    /// returns the samples it stands for (concealed ones first), valid until the next call.
    pub fn push(&mut self, seq: u16, timestamp: u32, payload: &[u8]) -> &[f32] {
        self.scratch.clear();
        if payload.is_empty() {
            self.counts.padding += 1;
            return &self.scratch;
        }
        let (lost, quiet) = match self.last {
            None => (0, 0),
            Some(last) => {
                let delta = seq.wrapping_sub(last.seq);
                if delta == 0 {
                    self.counts.duplicates += 1;
                    return &self.scratch;
                }
                if delta > u16::MAX / 2 {
                    self.counts.late += 1;
                    return &self.scratch;
                }
                let by_sequence = u32::from(delta - 1);
                let by_time = missing_frames(last, timestamp);
                (by_sequence.min(by_time), by_time.saturating_sub(by_sequence))
            }
        };
        // What one missing packet stood for: the last one's duration.
        let frame = self.last.map_or(WIRE_FRAME as u32, |l| l.duration) as usize;
        if lost > MAX_CONCEALED {
            self.counts.unconcealed += u64::from(lost);
        } else if lost > 0 {
            for i in 0..lost {
                // The next packet's in-band FEC describes the frame right before it.
                let rebuilt = if i + 1 == lost {
                    self.decoder.recover(payload, frame)
                } else {
                    self.decoder.conceal(frame)
                };
                if let Ok(samples) = rebuilt {
                    self.scratch.extend_from_slice(samples);
                    self.counts.concealed += 1;
                }
            }
        }
        let channels = self.decoder.channels();
        let silence = frame * quiet as usize;
        if (1..=MAX_DTX_FILL).contains(&silence) {
            // After any lost packets (they followed the last one), before this packet.
            self.scratch.resize(self.scratch.len() + silence * channels, 0.0);
            self.counts.dtx_filled += u64::from(quiet);
        }
        let duration = if let Ok(samples) = self.decoder.decode(payload) {
            self.counts.decoded += 1;
            self.scratch.extend_from_slice(samples);
            (samples.len() / channels) as u32
        } else {
            // A corrupt packet still stood for its share of the sender's clock.
            self.counts.corrupt += 1;
            self.counts.concealed += 1;
            if let Ok(samples) = self.decoder.conceal(frame) {
                self.scratch.extend_from_slice(samples);
            }
            frame as u32
        };
        self.last = Some(Last {
            seq,
            timestamp,
            duration,
        });
        &self.scratch
    }
}

/// Decoded audio of any rate and channel count → 20 ms int16 frames at the handler's format.
pub struct InputFramer {
    from: u32,
    from_channels: usize,
    channels: usize,
    resampler: Resampler,
    framer: Framer,
    resampled: Vec<f32>,
}

impl InputFramer {
    /// A framer from `from` Hz with `from_channels` to `to` Hz with `channels` (1 or 2).
    pub fn new(from: u32, from_channels: usize, to: u32, channels: usize) -> Result<Self, Error> {
        crate::check_rate("input rate", from)?;
        crate::check_rate("input_sample_rate", to)?;
        if !(1..=2).contains(&channels) || !(1..=2).contains(&from_channels) {
            return Err(Error::BadAudio("audio has 1 or 2 channels".into()));
        }
        Ok(Self {
            from,
            from_channels,
            channels,
            resampler: Resampler::new(from, to, channels)?,
            framer: Framer::new(to as usize / 50, channels),
            resampled: Vec::new(),
        })
    }

    /// True if this framer takes audio of this rate and channel count.
    #[must_use]
    pub fn takes(&self, rate: u32, channels: usize) -> bool {
        self.from == rate && self.from_channels == channels
    }

    /// Output rate in Hz.
    #[must_use]
    pub fn rate(&self) -> u32 {
        self.resampler.to_rate()
    }

    /// Output channels.
    #[must_use]
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Feeds interleaved samples; returns the 20 ms frames completed by them.
    pub fn push(&mut self, samples: &[f32]) -> Vec<Vec<i16>> {
        let converted;
        let samples = if self.from_channels == self.channels {
            samples
        } else {
            converted = to_channels(samples, self.from_channels, self.channels);
            &converted
        };
        self.resampled.clear();
        // Rates were validated at construction; processing cannot fail afterwards.
        self.resampler
            .process(samples, &mut self.resampled)
            .expect("resampler rates are valid");
        self.framer.push(&self.resampled);
        let mut frames = Vec::new();
        while let Some(frame) = self.framer.pop() {
            let mut out = Vec::with_capacity(frame.len());
            f32_to_i16_into(&frame, &mut out);
            frames.push(out);
        }
        frames
    }
}

/// Whole packets' worth of time between the end of `last` and `timestamp`, in `last`'s packet
/// size (0 when the timestamp did not move on: padding, or a timestamp from the past).
fn missing_frames(last: Last, timestamp: u32) -> u32 {
    let elapsed = timestamp.wrapping_sub(last.timestamp);
    if elapsed > u32::MAX / 2 || last.duration == 0 {
        return 0;
    }
    let missing = elapsed.saturating_sub(last.duration);
    // Rounded: senders' timestamps may wobble by a fraction of a frame (e.g. 10 ms packets mixed in).
    (missing + last.duration / 2) / last.duration
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::convert::tone;
    use crate::opus::OpusEncoder;
    use crate::WIRE_RATE;

    /// `n` 20 ms Opus packets of a 440 Hz tone, with in-band FEC.
    fn packets(n: usize) -> Vec<Vec<u8>> {
        let mut enc = OpusEncoder::new(1, 48_000).unwrap();
        let signal = tone(440.0, WIRE_RATE, WIRE_FRAME * n, 0.5);
        signal
            .chunks(WIRE_FRAME)
            .map(|f| enc.encode(f).unwrap().to_vec())
            .collect()
    }

    /// One RTP packet as a sender puts it on the wire.
    #[derive(Clone)]
    struct Rtp {
        seq: u16,
        timestamp: u32,
        payload: Vec<u8>,
    }

    /// A sender like Chromium with transport-cc: media packets, and padding-only probes that take
    /// sequence numbers and repeat the last media timestamp. `probes[i]` padding packets follow
    /// media packet `i`.
    fn send(media: &[Vec<u8>], probes: &[(usize, usize)], first_seq: u16) -> Vec<Rtp> {
        let mut seq = first_seq;
        let mut out = Vec::new();
        for (i, payload) in media.iter().enumerate() {
            let timestamp = 7_000 + (i * WIRE_FRAME) as u32;
            out.push(Rtp {
                seq,
                timestamp,
                payload: payload.clone(),
            });
            seq = seq.wrapping_add(1);
            for _ in 0..probes.iter().find(|p| p.0 == i).map_or(0, |p| p.1) {
                out.push(Rtp {
                    seq,
                    timestamp,
                    payload: Vec::new(),
                });
                seq = seq.wrapping_add(1);
            }
        }
        out
    }

    /// Decoder + framer at 48 kHz mono, as the WebRTC transport and the session use them.
    struct Inbound {
        decoder: RtpOpusDecoder,
        framer: InputFramer,
    }

    impl Inbound {
        fn new(rate: u32, channels: usize) -> Self {
            Self {
                decoder: RtpOpusDecoder::new(channels).unwrap(),
                framer: InputFramer::new(48_000, channels, rate, channels).unwrap(),
            }
        }
        fn push(&mut self, seq: u16, timestamp: u32, payload: &[u8]) -> Vec<Vec<i16>> {
            let samples = self.decoder.push(seq, timestamp, payload).to_vec();
            self.framer.push(&samples)
        }
        fn counts(&self) -> InboundCounts {
            self.decoder.counts()
        }
    }

    fn feed(inbound: &mut Inbound, packets: &[Rtp]) -> usize {
        packets
            .iter()
            .map(|p| inbound.push(p.seq, p.timestamp, &p.payload).len())
            .sum()
    }

    #[test]
    fn frames_are_20ms_at_the_requested_rate() {
        for (rate, len) in [(48_000, 960), (24_000, 480), (16_000, 320)] {
            let mut inbound = Inbound::new(rate, 1);
            let frames: Vec<_> = packets(50)
                .iter()
                .enumerate()
                .flat_map(|(i, p)| inbound.push(i as u16, (i * WIRE_FRAME) as u32, p))
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
    fn padding_probes_add_no_audio() {
        let media = packets(250); // 5 s
                                  // Probe bursts as Chromium sends them every few seconds, across the sequence wrap.
        let wire = send(&media, &[(10, 3), (100, 5), (101, 1), (200, 12)], 65_500);
        let mut inbound = Inbound::new(48_000, 1);
        assert_eq!(
            feed(&mut inbound, &wire),
            250,
            "one frame per media packet, none per probe"
        );
        let c = inbound.counts();
        assert_eq!((c.decoded, c.padding, c.concealed), (250, 21, 0));
    }

    #[test]
    fn padding_lost_in_transit_is_not_concealed() {
        let media = packets(40);
        let wire = send(&media, &[(5, 4), (20, 2)], 100);
        // The network drops some probes: sequence gaps the timestamps do not confirm.
        let delivered: Vec<_> = wire
            .iter()
            .filter(|p| !(p.payload.is_empty() && p.seq % 2 == 0))
            .cloned()
            .collect();
        let mut inbound = Inbound::new(48_000, 1);
        assert_eq!(feed(&mut inbound, &delivered), 40);
        assert_eq!(inbound.counts().concealed, 0);
    }

    #[test]
    fn exactly_the_sent_frames_plus_one_per_lost_packet() {
        let media = packets(150);
        let wire = send(&media, &[(30, 4), (90, 2)], 65_000);
        let mut delivered = Vec::new();
        let mut lost = 0;
        for (i, p) in wire.iter().enumerate() {
            match i {
                // A real loss burst of three media packets.
                50..=52 => lost += 1,
                // Duplicates: the same packet twice (e.g. a retransmission that also arrived).
                60 | 61 => {
                    delivered.push(p.clone());
                    delivered.push(p.clone());
                }
                // Reordering: 71 before 70; 70 comes too late to be played and is dropped, so it
                // counts as lost (its frame is concealed) and is not decoded later.
                70 => {}
                71 => {
                    delivered.push(p.clone());
                    delivered.push(wire[70].clone());
                    lost += 1;
                }
                _ => delivered.push(p.clone()),
            }
        }
        assert_eq!(lost, 4);
        let mut inbound = Inbound::new(48_000, 1);
        let frames = feed(&mut inbound, &delivered);
        let c = inbound.counts();
        assert_eq!(c.concealed, lost, "{c:?}");
        assert_eq!(
            frames, 150,
            "the sender's 150 frames: {} decoded + {lost} concealed",
            c.decoded
        );
        assert_eq!((c.decoded, c.duplicates, c.late, c.padding), (146, 2, 1, 6));
    }

    #[test]
    fn dtx_gaps_are_silence_and_long_outages_are_not_filled() {
        let media = packets(20);
        let mut inbound = Inbound::new(48_000, 1);
        let mut frames = Vec::new();
        for (i, p) in media.iter().enumerate() {
            // DTX: after packet 9 the timestamps jump 400 ms but the sequence numbers do not.
            let timestamp = (i * WIRE_FRAME + if i >= 10 { 19_200 } else { 0 }) as u32;
            frames.extend(
                inbound
                    .decoder
                    .push(i as u16, timestamp, p)
                    .chunks(WIRE_FRAME)
                    .map(<[f32]>::to_vec),
            );
        }
        assert_eq!(frames.len(), 40, "20 packets and 400 ms of silence between them");
        assert!(
            frames[10..30].iter().all(|f| f.iter().all(|&s| s == 0.0)),
            "the gap is silent"
        );
        assert!(frames[30].iter().any(|&s| s != 0.0), "the tone resumes after it");
        let c = inbound.counts();
        assert_eq!((c.dtx_filled, c.concealed), (20, 0));
        // A sender that stopped for 2 s resumes without 2 s of silence at once.
        let before = frames.len();
        let resumed = inbound
            .decoder
            .push(20, (20 * WIRE_FRAME + 19_200 + 96_000) as u32, &media[0])
            .len();
        assert_eq!((before, resumed / WIRE_FRAME), (40, 1));
        // A loss inside a DTX gap: the lost packet is concealed, the rest of the gap is silence.
        let mut t = 20 * WIRE_FRAME + 19_200 + 96_000;
        t += 2 * WIRE_FRAME + 10 * WIRE_FRAME; // seq 20 itself, seq 21 lost, then 200 ms of DTX
        let out = inbound.decoder.push(22, t as u32, &media[1]).len() / WIRE_FRAME;
        let c = inbound.counts();
        assert_eq!((out, c.concealed, c.dtx_filled), (12, 1, 30));
        // An outage of 50 packets resumes without 1 s of synthetic audio.
        let out = inbound.decoder.push(73, (t + 51 * WIRE_FRAME) as u32, &media[2]).len() / WIRE_FRAME;
        assert_eq!(
            (out, inbound.counts().unconcealed, inbound.counts().dtx_filled),
            (1, 50, 30)
        );
    }

    #[test]
    fn corrupt_packets_keep_the_timeline() {
        let media = packets(3);
        let mut inbound = Inbound::new(48_000, 1);
        let mut frames = inbound.push(0, 0, &media[0]).len();
        frames += inbound.push(1, 960, &[0xff, 0xff, 0xff, 0xff]).len();
        frames += inbound.push(2, 1920, &media[2]).len();
        assert_eq!(frames, 3);
        assert_eq!(inbound.counts().corrupt, 1);
    }

    #[test]
    fn the_framer_takes_any_rate_and_layout() {
        // 8 kHz mono (telephony) to a 16 kHz stereo handler: 20 ms frames of 320 x 2 samples.
        let mut telephony = InputFramer::new(8_000, 1, 16_000, 2).unwrap();
        let frames: Vec<_> = (0..10).flat_map(|_| telephony.push(&[0.25; 160])).collect();
        assert!(
            frames.len() >= 8 && frames.iter().all(|f| f.len() == 640),
            "{}",
            frames.len()
        );
        assert!(telephony.takes(8_000, 1) && !telephony.takes(48_000, 1));
        assert!(InputFramer::new(8_000, 1, 200_000, 1).is_err());
    }

    #[test]
    fn stereo_output_is_packed() {
        let mut inbound = Inbound::new(48_000, 2);
        let frames = inbound.push(0, 0, &packets(1)[0]);
        assert_eq!(frames[0].len(), 1920);
    }
}
