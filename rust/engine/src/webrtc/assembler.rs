//! RTP packets → complete encoded video frames, released as soon as the frame's last packet is in.
//!
//! A frame is the run of packets sharing one RTP timestamp, ending with the marker bit (RFC 7741
//! §4.1 for VP8, RFC 6184 §5.1 for H.264). It is released the moment that run is contiguous.
//! webrtc-rs's `SampleBuilder` instead waits for the first packet of the *next* frame to learn the
//! duration, which costs a whole frame interval (33 ms at 30 fps) of latency on every frame.
//! An incomplete frame waits for its lost packets to be retransmitted (the NACK generator asks for
//! them every 20 ms) for up to [`NACK_WAIT`] (or what the caller sets from the round-trip time,
//! [`FrameAssembler::set_wait`]) after a newer frame completed; then it is dropped and reported as
//! a loss, and the caller asks for a keyframe. A frame lost *whole* (most 640x480 delta frames are
//! one or two packets) shows up as a gap in the sequence numbers before a complete frame: that
//! frame waits the same way for the gap to be repaired, since a delta frame decoded past a missing
//! one shows garbage until the next keyframe. Dropping it the moment a newer frame
//! completed, as this did first, threw away every frame a retransmission was about to repair: at
//! 20 % loss with 30 ms jitter the flipped video ran at 13 fps with 4.4 s freezes
//! (`bench/lossy_network.py`), where aiortc's jitter buffer, which waits, kept 26 fps.
//!
//! Padding-only packets (bandwidth probes a browser sends with transport-cc, RFC 3550 §5.1) carry
//! no media but take sequence numbers: they are remembered as fillers so the frame after them
//! still starts cleanly. Treated as media, each probe looked like a lost frame and cost a keyframe.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::rtp;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;

/// Packets kept while waiting for a frame to complete (~1 s of 640x480 video).
const MAX_PACKETS: usize = 512;
/// How long an incomplete frame may hold back newer complete ones while its lost packets are
/// asked for again: a few NACK rounds at internet round-trip times.
pub(crate) const NACK_WAIT: Duration = Duration::from_millis(200);

/// One reassembled frame.
#[derive(Debug)]
pub(crate) struct Frame {
    pub data: Bytes,
    /// Its RTP timestamp (capture time, 90 kHz).
    pub timestamp: u32,
    /// Packets (or whole frames) were lost since the previous frame: the decoder may need a keyframe.
    pub after_loss: bool,
}

/// Depacketises one payload; None if it is broken. A panic inside the depacketiser counts as
/// broken too: webrtc-rs's H.264 depacketiser indexes past the end of a STAP-A packet whose last
/// NAL-size field is cut short (found by `crate::fuzz`), and a peer must not be able to end the
/// session's video that way.
pub(crate) fn depacketize<D: Depacketizer>(depacketizer: &mut D, payload: &Bytes) -> Option<Bytes> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| depacketizer.depacketize(payload)))
        .ok()
        .and_then(Result::ok)
}

/// webrtc-rs's H.264 depacketiser, refusing a STAP-A packet whose NAL units overrun it before
/// webrtc-rs reads past its end. (The panic guard in [`depacketize`] stays for what fuzzing has not
/// found; this keeps a known bad packet from printing a panic message per packet.)
#[derive(Default)]
pub(crate) struct H264Depacketizer(H264Packet);

/// RFC 6184 §5.7.1: after the one-byte STAP-A header, (16-bit size, NAL unit) pairs to the end.
fn stap_a_fits(payload: &[u8]) -> bool {
    const STAP_A: u8 = 24;
    if payload.first().is_none_or(|b| b & 0x1f != STAP_A) {
        return true;
    }
    let mut at = 1;
    while at < payload.len() {
        let Some(size) = payload.get(at..at + 2) else {
            return false;
        };
        at += 2 + usize::from(u16::from_be_bytes([size[0], size[1]]));
    }
    at == payload.len()
}

impl Depacketizer for H264Depacketizer {
    fn depacketize(&mut self, payload: &Bytes) -> rtc::shared::error::Result<Bytes> {
        if !stap_a_fits(payload) {
            return Err(rtc::shared::error::Error::ErrShortPacket);
        }
        self.0.depacketize(payload)
    }

    fn is_partition_head(&self, payload: &Bytes) -> bool {
        self.0.is_partition_head(payload)
    }

    fn is_partition_tail(&self, marker: bool, payload: &Bytes) -> bool {
        self.0.is_partition_tail(marker, payload)
    }
}

/// Whether `payload` starts a frame, guarded like [`depacketize`].
pub(crate) fn is_partition_head<D: Depacketizer>(depacketizer: &D, payload: &Bytes) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| depacketizer.is_partition_head(payload))).unwrap_or(false)
}

pub(crate) struct FrameAssembler<D> {
    depacketizer: D,
    packets: BTreeMap<u64, rtp::Packet>,
    /// Sequence numbers of padding-only packets not yet passed by `next_start`.
    fillers: BTreeSet<u64>,
    last_seq: Option<u64>,
    next_start: Option<u64>,
    lost: bool,
    /// The incomplete oldest frame (its RTP timestamp) and since when a newer frame is complete.
    waiting: Option<(u32, Instant)>,
    /// How long lost packets are waited for.
    wait: Duration,
}

impl<D: Depacketizer> FrameAssembler<D> {
    pub(crate) fn new(depacketizer: D) -> Self {
        Self {
            depacketizer,
            packets: BTreeMap::new(),
            fillers: BTreeSet::new(),
            last_seq: None,
            next_start: None,
            lost: false,
            waiting: None,
            wait: NACK_WAIT,
        }
    }

    /// How long lost packets are waited for from now on: a few retransmission round trips.
    pub(crate) fn set_wait(&mut self, wait: Duration) {
        self.wait = wait;
    }

    /// Extends a 16-bit sequence number to 64 bits relative to the newest one seen (RFC 3550 §A.1).
    fn extend(&mut self, seq: u16) -> u64 {
        let ext = match self.last_seq {
            None => u64::from(seq) + (1 << 16),
            Some(last) => {
                let delta = i64::from(seq.wrapping_sub(last as u16) as i16);
                (last as i64 + delta).max(0) as u64
            }
        };
        if self.last_seq.is_none_or(|l| ext > l) {
            self.last_seq = Some(ext);
        }
        ext
    }

    /// Adds a packet arriving now; returns the frames it completed, oldest first.
    pub(crate) fn push(&mut self, packet: rtp::Packet) -> Vec<Frame> {
        self.push_at(packet, Instant::now())
    }

    /// Adds a packet that arrived at `now`; returns the frames it completed, oldest first.
    pub(crate) fn push_at(&mut self, packet: rtp::Packet, now: Instant) -> Vec<Frame> {
        let seq = self.extend(packet.header.sequence_number);
        if self.next_start.is_some_and(|start| seq < start) {
            return Vec::new(); // a retransmission of a frame already released or dropped
        }
        if packet.payload.is_empty() {
            self.fillers.insert(seq);
            if self.fillers.len() > MAX_PACKETS {
                self.fillers.pop_first();
            }
        } else {
            self.packets.insert(seq, packet);
        }
        let mut frames = Vec::new();
        loop {
            self.skip_fillers();
            let Some((&first, head)) = self.packets.first_key_value() else {
                break;
            };
            let timestamp = head.header.timestamp;
            let mut end = None;
            let mut seq = first;
            while let Some(p) = self.packets.get(&seq) {
                if p.header.timestamp != timestamp {
                    break;
                }
                if p.header.marker {
                    end = Some(seq);
                    break;
                }
                seq += 1;
            }
            // Right after the previous frame, or at a codec-level frame start (the first frame, or
            // after a drop): anything else is the tail of a frame whose head was lost.
            let starts_cleanly =
                self.next_start == Some(first) || is_partition_head(&self.depacketizer, &self.packets[&first].payload);
            if let Some(end) = end.filter(|_| starts_cleanly) {
                // Packets missing before it (a frame lost whole): wait for their repair first.
                let gap = self.next_start.is_some_and(|s| s < first);
                if gap && !self.waited_out(timestamp, now) && self.packets.len() <= MAX_PACKETS {
                    break;
                }
                self.waiting = None;
                let after_loss = std::mem::take(&mut self.lost) || gap;
                let mut data = BytesMut::new();
                let mut broken = false;
                for s in first..=end {
                    let p = self.packets.remove(&s).expect("the run was checked to be contiguous");
                    match depacketize(&mut self.depacketizer, &p.payload) {
                        Some(part) => data.extend_from_slice(&part),
                        None => broken = true,
                    }
                }
                self.next_start = Some(end + 1);
                if broken {
                    self.lost = true;
                } else {
                    frames.push(Frame {
                        data: data.freeze(),
                        timestamp,
                        after_loss,
                    });
                }
                continue;
            }
            // The oldest frame is incomplete. Once a newer frame has finished, its missing packets
            // are lost or late: wait NACK_WAIT for their retransmission, then give up on it.
            let newer_done = self
                .packets
                .values()
                .any(|p| p.header.timestamp != timestamp && p.header.marker);
            if (newer_done && self.waited_out(timestamp, now)) || self.packets.len() > MAX_PACKETS {
                self.packets.retain(|_, p| p.header.timestamp != timestamp);
                self.lost = true;
                self.next_start = None;
                self.waiting = None;
                continue;
            }
            break;
        }
        frames
    }

    /// Whether the frame `timestamp` has been held back (incomplete, or behind a gap) for the wait;
    /// starts the wait the first time it is asked.
    fn waited_out(&mut self, timestamp: u32, now: Instant) -> bool {
        match self.waiting {
            Some((ts, since)) if ts == timestamp => now.saturating_duration_since(since) >= self.wait,
            _ => {
                self.waiting = Some((timestamp, now));
                false
            }
        }
    }

    /// Moves `next_start` past padding packets, so the frame after them starts cleanly.
    fn skip_fillers(&mut self) {
        let Some(mut start) = self.next_start else {
            return;
        };
        while self.fillers.remove(&start) {
            start += 1;
        }
        self.next_start = Some(start);
        self.fillers = self.fillers.split_off(&start);
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use rtc::rtp::codec::vp8::Vp8Packet;

    /// A VP8 RTP packet: descriptor byte (S bit on the first packet of a frame) + payload.
    fn vp8(seq: u16, ts: u32, start: bool, marker: bool, body: u8) -> rtp::Packet {
        rtp::Packet {
            header: rtp::header::Header {
                sequence_number: seq,
                timestamp: ts,
                marker,
                ..Default::default()
            },
            payload: Bytes::from(vec![if start { 0x10 } else { 0x00 }, body, body, body]),
        }
    }

    #[test]
    fn a_frame_is_released_on_its_marker() {
        let mut a = FrameAssembler::new(Vp8Packet::default());
        assert!(a.push(vp8(10, 900, true, false, 1)).is_empty());
        let frames = a.push(vp8(11, 900, false, true, 2));
        assert_eq!(frames.len(), 1, "no need to wait for the next frame");
        assert_eq!(&frames[0].data[..], &[1, 1, 1, 2, 2, 2]);
        assert!(!frames[0].after_loss);
    }

    fn padding(seq: u16, ts: u32) -> rtp::Packet {
        rtp::Packet {
            header: rtp::header::Header {
                sequence_number: seq,
                timestamp: ts,
                padding: true,
                ..Default::default()
            },
            payload: Bytes::new(),
        }
    }

    #[test]
    fn padding_probes_are_not_losses() {
        let mut a = FrameAssembler::new(Vp8Packet::default());
        assert_eq!(a.push(vp8(1, 100, true, true, 1)).len(), 1);
        // Probes between frames, one of them arriving after the next frame's first packet.
        assert!(a.push(padding(2, 100)).is_empty());
        assert!(a.push(padding(4, 100)).is_empty());
        assert!(a.push(vp8(5, 200, true, false, 2)).is_empty());
        assert!(a.push(padding(3, 100)).is_empty());
        let frames = a.push(vp8(6, 200, false, true, 2));
        assert_eq!(frames.len(), 1);
        assert!(
            !frames[0].after_loss,
            "padding is not a lost frame (no keyframe request)"
        );
        // A frame whose middle packet is a continuation (no partition head) after probes: still clean.
        assert!(a.push(padding(7, 200)).is_empty());
        let frames = a.push(vp8(8, 300, true, true, 3));
        assert!(!frames[0].after_loss);
        // Duplicates (an RTX repair of a packet that also arrived) change nothing.
        assert!(a.push(vp8(8, 300, true, true, 3)).is_empty());
        let frames = a.push(vp8(9, 400, true, true, 4));
        assert_eq!(frames.len(), 1);
        assert!(!frames[0].after_loss);
    }

    #[test]
    fn reordering_wraparound_and_loss() {
        let mut a = FrameAssembler::new(Vp8Packet::default());
        // Out of order across the 16-bit wrap.
        assert!(a.push(vp8(0, 100, false, true, 2)).is_empty());
        let frames = a.push(vp8(65_535, 100, true, false, 1));
        assert_eq!(frames.len(), 1);
        assert_eq!(&frames[0].data[..], &[1, 1, 1, 2, 2, 2]);
        // Frame at ts 200 loses its middle packet; frame 300 completes and waits for its repair,
        // which never comes: after NACK_WAIT frame 300 (and 400) go out, flagged.
        let t0 = Instant::now();
        assert!(a.push_at(vp8(1, 200, true, false, 3), t0).is_empty());
        assert!(a.push_at(vp8(3, 200, false, true, 3), t0).is_empty());
        assert!(
            a.push_at(vp8(4, 300, true, true, 4), t0).is_empty(),
            "held for the retransmission"
        );
        let frames = a.push_at(vp8(5, 400, true, true, 5), t0 + NACK_WAIT);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].after_loss, "the decoder must hear about the lost frame");
        assert!(!frames[1].after_loss);
        // A late retransmission of the dropped frame is ignored.
        assert!(a.push_at(vp8(2, 200, false, false, 3), t0 + NACK_WAIT).is_empty());
        let frames = a.push_at(vp8(6, 500, true, true, 6), t0 + NACK_WAIT);
        assert!(!frames[0].after_loss);
    }

    #[test]
    fn stap_a_packets_are_checked_before_webrtc_rs_reads_them() {
        // Two NAL units (sizes 2 and 3), whole: the same as webrtc-rs's own depacketiser.
        let whole = Bytes::from_static(&[24, 0, 2, 0x67, 1, 0, 3, 0x68, 2, 3]);
        let ours = H264Depacketizer::default().depacketize(&whole).unwrap();
        assert_eq!(ours, H264Packet::default().depacketize(&whole).unwrap());
        // A size field cut short, and a NAL unit longer than the packet: refused.
        for bad in [&[24u8, 0, 2, 0x67, 1, 0][..], &[24, 0, 9, 0x67, 1]] {
            assert!(H264Depacketizer::default()
                .depacketize(&Bytes::copy_from_slice(bad))
                .is_err());
        }
        // Other NAL unit types go straight through.
        let single = Bytes::from_static(&[0x65, 1, 2, 3]);
        assert!(H264Depacketizer::default().depacketize(&single).is_ok());
    }

    #[test]
    fn a_retransmission_in_time_repairs_the_frame() {
        let mut a = FrameAssembler::new(Vp8Packet::default());
        let t0 = Instant::now();
        assert_eq!(a.push_at(vp8(1, 100, true, true, 1), t0).len(), 1);
        assert!(a.push_at(vp8(2, 200, true, false, 2), t0).is_empty());
        // seq 3 (the end of frame 200) is lost; frames 300 and 400 complete meanwhile.
        assert!(a.push_at(vp8(4, 300, true, true, 3), t0).is_empty());
        assert!(a.push_at(vp8(5, 400, true, true, 4), t0 + NACK_WAIT / 2).is_empty());
        let frames = a.push_at(vp8(3, 200, false, true, 2), t0 + NACK_WAIT / 2);
        assert_eq!(
            frames.len(),
            3,
            "the repaired frame and the two held behind it, in order"
        );
        assert_eq!(&frames[0].data[..], &[2, 2, 2, 2, 2, 2]);
        assert!(
            frames.iter().all(|f| !f.after_loss),
            "nothing was lost: no keyframe request"
        );
    }

    #[test]
    fn a_frame_lost_whole_is_waited_for() {
        let mut a = FrameAssembler::new(Vp8Packet::default());
        let t0 = Instant::now();
        assert_eq!(a.push_at(vp8(1, 100, true, true, 1), t0).len(), 1);
        // Frame 200 (seq 2) is lost whole; 300 is complete but waits behind the gap.
        assert!(
            a.push_at(vp8(3, 300, true, true, 3), t0).is_empty(),
            "held behind the gap"
        );
        let frames = a.push_at(vp8(2, 200, true, true, 2), t0 + NACK_WAIT / 2);
        assert_eq!(frames.iter().map(|f| f.timestamp).collect::<Vec<_>>(), [200, 300]);
        assert!(frames.iter().all(|f| !f.after_loss), "repaired: nothing lost");
        // Lost for good: after the wait the next frame goes out, flagged.
        a.set_wait(Duration::from_millis(50));
        assert!(a.push_at(vp8(5, 500, true, true, 5), t0).is_empty());
        let frames = a.push_at(vp8(6, 600, true, true, 6), t0 + Duration::from_millis(50));
        assert_eq!(frames.len(), 2);
        assert!(frames[0].after_loss && !frames[1].after_loss);
    }
}
