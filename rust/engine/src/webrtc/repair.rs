//! Asking for lost packets when the peer repairs them on an RTX stream (RFC 4588).
//!
//! webrtc-rs's NACK generator keeps a receive log per bound SSRC and asks for every gap in it. With
//! RTX negotiated it is wrong twice: a retransmission arrives on the repair SSRC, so the gap in the
//! primary's log is never filled and the packet is asked for again every interval (until
//! `max_nacks_per_packet`, or, with webrtc-rs's default of no limit, until 512 newer packets have
//! arrived), and the repair flow is bound in its own right, so gaps in *its* numbering (the packets
//! that needed no repair) are asked for too, naming an SSRC no sender resends. [`Nacks`] wraps the
//! generator: the repair flow is not bound into it, and each RTX packet is shown to it as the
//! primary packet it carries (its original sequence number, RFC 4588 §4). The packet itself goes on
//! up the chain unchanged: the arrival recorders and the endpoint (which de-encapsulates it for the
//! application) see what came off the wire.
//!
//! webrtc-rs asks only on its timer (every `NACK_INTERVAL`, 20 ms), so a loss waited up to a tick
//! before it was asked for. [`Nacks`] also asks the moment a gap opens, as aiortc and libwebrtc
//! do; the timer then repeats the request while the packet is missing.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rtc::interceptor::AttributedPacket;
use rtc::interceptor::{Interceptor, NackGeneratorInterceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{nack_pairs_from_sequence_numbers, TransportLayerNack};
use rtc::sansio::Protocol;
use rtc::shared::TransportContext;

use super::cc::CcShared;
use crate::session::SessionStats;

/// The largest gap asked for the moment it opens (packets).
const ASK_AT_ONCE_MAX: u16 = 64;

/// The stream an RTX flow repairs.
#[derive(Debug, Clone, Copy)]
struct Primary {
    ssrc: u32,
    payload_type: u8,
    rtx_payload_type: u8,
}

/// The NACK generator, told about RTX repairs.
pub(crate) struct Nacks {
    inner: NackGeneratorInterceptor,
    /// Repair SSRC → the stream it repairs.
    repairs: HashMap<u32, Primary>,
    /// The SSRCs bound into `inner`.
    bound: HashSet<u32>,
    reads: VecDeque<TaggedPacket>,
    /// The newest sequence number seen on each bound stream.
    newest: HashMap<u32, u16>,
    /// Requests for gaps that just opened, sent before the generator's own.
    asks: VecDeque<TaggedPacket>,
    /// The SSRC those requests are sent from (the generator keeps its own private).
    sender_ssrc: u32,
    /// The session's counters (requests sent, repairs received).
    counts: Arc<SessionStats>,
    /// Whether to ask at once (see [`CcShared::asks_at_once`]).
    cc: Arc<CcShared>,
}

impl Nacks {
    pub(crate) fn new(inner: NackGeneratorInterceptor, counts: Arc<SessionStats>, cc: Arc<CcShared>) -> Self {
        Self {
            inner,
            repairs: HashMap::new(),
            bound: HashSet::new(),
            reads: VecDeque::new(),
            newest: HashMap::new(),
            asks: VecDeque::new(),
            sender_ssrc: crate::ids::random_u32(),
            counts,
            cc,
        }
    }

    /// Asks at once for the packets a newly arrived `packet` skipped. Only a gap of up to
    /// [`ASK_AT_ONCE_MAX`] packets: a larger jump is a restart or a long outage, which the
    /// generator's log covers on its timer (as it covers every gap while our way to the peer
    /// shows a queue).
    fn ask_for_new_gap(&mut self, now: Instant, packet: &rtc::rtp::Packet) {
        let (ssrc, seq) = (packet.header.ssrc, packet.header.sequence_number);
        if !self.bound.contains(&ssrc) {
            return;
        }
        let Some(newest) = self.newest.insert(ssrc, seq) else {
            return;
        };
        let ahead = seq.wrapping_sub(newest);
        if ahead >= 0x8000 {
            // Older than the newest (a late or repaired packet): the newest stays.
            self.newest.insert(ssrc, newest);
            return;
        }
        if !(2..=ASK_AT_ONCE_MAX).contains(&ahead) || !self.cc.asks_at_once() {
            return;
        }
        let missing: Vec<u16> = (1..ahead).map(|i| newest.wrapping_add(i)).collect();
        SessionStats::add(&self.counts.video_nacks_sent, missing.len() as u64);
        let nack = TransportLayerNack {
            sender_ssrc: self.sender_ssrc,
            media_ssrc: ssrc,
            nacks: nack_pairs_from_sequence_numbers(&missing),
        };
        self.asks.push_back(TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtcp(vec![Box::new(nack)])),
        });
    }

    /// The primary packet an RTX packet carries, if `packet` is one (a padding-only probe on the
    /// repair SSRC carries none).
    fn carried(&self, packet: &rtc::rtp::Packet) -> Option<rtc::rtp::Packet> {
        let primary = self.repairs.get(&packet.header.ssrc)?;
        if packet.header.payload_type != primary.rtx_payload_type || packet.payload.len() < 2 {
            return None;
        }
        let mut inner = packet.clone();
        inner.header.ssrc = primary.ssrc;
        inner.header.payload_type = primary.payload_type;
        inner.header.sequence_number = u16::from_be_bytes([packet.payload[0], packet.payload[1]]);
        inner.payload = packet.payload.slice(2..);
        Some(inner)
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for Nacks {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let carried = match &msg.message.packet {
            Packet::Rtp(rtp) => self.carried(rtp),
            _ => None,
        };
        if let Some(carried) = carried {
            SessionStats::add(&self.counts.video_rtx_in, 1);
            let mut message = msg.message.clone();
            message.packet = Packet::Rtp(carried);
            let shown = TaggedPacket {
                now: msg.now,
                transport: msg.transport,
                message,
            };
            self.inner.handle_read(shown)?;
            // The generator passes what it read straight through: drop the copy it was shown.
            while self.inner.poll_read().is_some() {}
            self.reads.push_back(msg);
        } else {
            if let Packet::Rtp(rtp) = &msg.message.packet {
                self.ask_for_new_gap(msg.now, rtp);
            }
            self.inner.handle_read(msg)?;
            while let Some(m) = self.inner.poll_read() {
                self.reads.push_back(m);
            }
        }
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.inner.handle_write(msg)
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        if let Some(ask) = self.asks.pop_front() {
            return Some(ask);
        }
        let out = self.inner.poll_write()?;
        if let Packet::Rtcp(packets) = &out.message.packet {
            let asked: usize = packets
                .iter()
                .filter_map(|p| p.as_any().downcast_ref::<TransportLayerNack>())
                .flat_map(|nack| &nack.nacks)
                .map(|pair| pair.packet_list().len())
                .sum();
            SessionStats::add(&self.counts.video_nacks_sent, asked as u64);
        }
        Some(out)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        self.inner.handle_timeout(now)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        // A request waiting to go wants the driver back at once.
        match self.asks.front() {
            Some(ask) => Some(ask.now),
            None => self.inner.poll_timeout(),
        }
    }

    fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.close()
    }
}

impl Interceptor for Nacks {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        self.inner.bind_local_stream(info);
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.inner.unbind_local_stream(info);
    }

    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        if let (Some(rtx), Some(rtx_payload_type)) = (info.ssrc_rtx, info.payload_type_rtx) {
            self.repairs.insert(
                rtx,
                Primary {
                    ssrc: info.ssrc,
                    payload_type: info.payload_type,
                    rtx_payload_type,
                },
            );
            // Bound before its primary named it: take it back out.
            if self.bound.remove(&rtx) {
                self.inner.unbind_remote_stream(&StreamInfo {
                    ssrc: rtx,
                    ..StreamInfo::default()
                });
            }
        }
        if !self.repairs.contains_key(&info.ssrc) && self.bound.insert(info.ssrc) {
            self.inner.bind_remote_stream(info);
        }
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        self.repairs.retain(|_, primary| primary.ssrc != info.ssrc);
        self.newest.remove(&info.ssrc);
        if self.bound.remove(&info.ssrc) {
            self.inner.unbind_remote_stream(info);
        }
    }
}

/// Binds each local stream's RTX flow into `inner` as a stream of its own. webrtc-rs binds a sender
/// once, naming its repair SSRC in the primary's [`StreamInfo`]; an interceptor keyed by SSRC, as
/// the transport-cc sender and the congestion controller's send history are, then passes the
/// repairs by. Unnumbered, a retransmission left carrying the transport-wide sequence number its
/// original had: Chromium's feedback named the same number twice and the send-side estimate, fed
/// nonsense, fell from 900 to 64 kbit/s within a second of the first repair (5 % loss,
/// `tests/test_browser_links.py`). Numbered but not recorded, repairs were bytes sent that no
/// feedback acknowledged.
pub(crate) struct WithRepairStreams<I>(pub(crate) I);

impl<I> WithRepairStreams<I> {
    /// The repair flow of `info`, as a stream of its own.
    fn repair_stream(info: &StreamInfo) -> Option<StreamInfo> {
        let (ssrc, payload_type) = (info.ssrc_rtx?, info.payload_type_rtx?);
        Some(StreamInfo {
            ssrc,
            ssrc_rtx: None,
            payload_type,
            payload_type_rtx: None,
            ..info.clone()
        })
    }
}

impl<I: Interceptor> Protocol<TaggedPacket, TaggedPacket, ()> for WithRepairStreams<I> {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.0.handle_read(msg)
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.0.poll_read()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.0.handle_write(msg)
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.0.poll_write()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        self.0.handle_timeout(now)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.0.poll_timeout()
    }

    fn close(&mut self) -> Result<(), Self::Error> {
        self.0.close()
    }
}

impl<I: Interceptor> Interceptor for WithRepairStreams<I> {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        self.0.bind_local_stream(info);
        if let Some(repair) = Self::repair_stream(info) {
            self.0.bind_local_stream(&repair);
        }
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        if let Some(repair) = Self::repair_stream(info) {
            self.0.unbind_local_stream(&repair);
        }
        self.0.unbind_local_stream(info);
    }

    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        self.0.bind_remote_stream(info);
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        self.0.unbind_remote_stream(info);
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use bytes::Bytes;
    use rtc::interceptor::{NackGeneratorBuilder, RTCPFeedback};
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::NackPair;
    use std::time::Duration;

    const PRIMARY: u32 = 1111;
    const RTX: u32 = 2222;

    fn info(ssrc: u32, rtx: Option<(u32, u8)>, payload_type: u8) -> StreamInfo {
        StreamInfo {
            ssrc,
            ssrc_rtx: rtx.map(|r| r.0),
            payload_type,
            payload_type_rtx: rtx.map(|r| r.1),
            mime_type: "video/VP8".into(),
            clock_rate: 90_000,
            rtcp_feedback: vec![RTCPFeedback {
                typ: "nack".into(),
                parameter: String::new(),
            }],
            ..StreamInfo::default()
        }
    }

    fn rtp(now: Instant, ssrc: u32, payload_type: u8, seq: u16, payload: &[u8]) -> TaggedPacket {
        TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtp(rtc::rtp::Packet {
                header: rtc::rtp::Header {
                    ssrc,
                    payload_type,
                    sequence_number: seq,
                    ..Default::default()
                },
                payload: Bytes::copy_from_slice(payload),
            })),
        }
    }

    /// (media SSRC, sequence numbers) of every NACK the generator sends by `until`.
    fn nacks(n: &mut Nacks, from: Instant, until: Instant) -> Vec<(u32, Vec<u16>)> {
        let mut asked = Vec::new();
        let mut t = from;
        while t <= until {
            n.handle_timeout(t).unwrap();
            while let Some(out) = n.poll_write() {
                if let Packet::Rtcp(packets) = out.message.packet {
                    for p in packets {
                        if let Some(nack) = p.as_any().downcast_ref::<TransportLayerNack>() {
                            let seqs = nack.nacks.iter().flat_map(NackPair::packet_list).collect();
                            asked.push((nack.media_ssrc, seqs));
                        }
                    }
                }
            }
            t += Duration::from_millis(5);
        }
        asked
    }

    /// A generator asking every 20 ms, nothing bound, on a path with nothing measured.
    fn unbound() -> Nacks {
        Nacks::new(
            NackGeneratorBuilder::new()
                .with_interval(Duration::from_millis(20))
                .build(),
            Arc::default(),
            CcShared::new(1_500_000.0),
        )
    }

    fn generator() -> Nacks {
        let mut n = unbound();
        // As webrtc-rs binds them: the primary (naming its repair flow), then the repair flow.
        n.bind_remote_stream(&info(PRIMARY, Some((RTX, 97)), 96));
        n.bind_remote_stream(&info(RTX, None, 97));
        n
    }

    #[test]
    fn a_packet_repaired_on_the_rtx_stream_is_not_asked_for_again() {
        let mut n = generator();
        let t0 = Instant::now();
        for seq in [10, 11, 13, 14] {
            n.handle_read(rtp(t0, PRIMARY, 96, seq, b"media")).unwrap();
        }
        let before = nacks(&mut n, t0, t0 + Duration::from_millis(25));
        assert_eq!(
            before,
            vec![(PRIMARY, vec![12]), (PRIMARY, vec![12])],
            "the gap is asked for, on the primary: at once, and again on the timer"
        );
        // The repair: RTX numbering of its own, the original sequence number first in the payload.
        n.handle_read(rtp(t0, RTX, 97, 500, &[0, 12, b'm'])).unwrap();
        let passed: Vec<_> = std::iter::from_fn(|| n.poll_read()).collect();
        assert_eq!(passed.len(), 5, "every packet goes on up the chain");
        assert!(
            matches!(&passed[4].message.packet, Packet::Rtp(p) if p.header.ssrc == RTX && p.header.sequence_number == 500),
            "the RTX packet itself goes on, unchanged"
        );
        // Later repairs skip RTX numbers (501-503 were other repairs, lost or not): never asked for.
        n.handle_read(rtp(t0, RTX, 97, 504, &[0, 9])).unwrap();
        n.handle_read(rtp(t0, PRIMARY, 96, 15, b"media")).unwrap();
        let after = nacks(&mut n, t0 + Duration::from_millis(30), t0 + Duration::from_millis(200));
        assert!(after.is_empty(), "{after:?}");
        let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(count(&n.counts.video_nacks_sent), 2, "two requests, for one packet");
        assert_eq!(count(&n.counts.video_rtx_in), 2);
    }

    #[test]
    fn a_padding_probe_on_the_repair_stream_passes_and_changes_nothing() {
        let mut n = generator();
        let t0 = Instant::now();
        for seq in [10, 12] {
            n.handle_read(rtp(t0, PRIMARY, 96, seq, b"media")).unwrap();
        }
        n.handle_read(rtp(t0, RTX, 97, 7, &[])).unwrap();
        assert_eq!(std::iter::from_fn(|| n.poll_read()).count(), 3);
        assert_eq!(
            nacks(&mut n, t0, t0 + Duration::from_millis(25)),
            vec![(PRIMARY, vec![11]), (PRIMARY, vec![11])]
        );
    }

    #[test]
    fn without_rtx_retransmissions_on_the_primary_fill_the_gap() {
        let mut n = unbound();
        n.bind_remote_stream(&info(PRIMARY, None, 96));
        let t0 = Instant::now();
        for seq in [1, 3, 2, 4] {
            n.handle_read(rtp(t0, PRIMARY, 96, seq, b"media")).unwrap();
        }
        // 2 was only late: asked for the moment 3 passed it (a gap looks the same as a loss until
        // then), never again once it came.
        assert_eq!(
            nacks(&mut n, t0, t0 + Duration::from_millis(100)),
            vec![(PRIMARY, vec![2])]
        );
    }

    #[test]
    fn a_gap_is_asked_for_the_moment_it_opens() {
        let mut n = generator();
        let t0 = Instant::now();
        for seq in [65534, 65535, 2] {
            n.handle_read(rtp(t0, PRIMARY, 96, seq, b"media")).unwrap();
        }
        assert_eq!(n.poll_timeout(), Some(t0), "the driver is wanted back at once");
        let asked: Vec<_> = std::iter::from_fn(|| n.poll_write()).collect();
        assert_eq!(asked.len(), 1, "asked before any timer fired");
        let Packet::Rtcp(packets) = &asked[0].message.packet else {
            panic!("an RTCP packet");
        };
        let nack = packets[0]
            .as_any()
            .downcast_ref::<TransportLayerNack>()
            .expect("a NACK");
        assert_eq!(nack.media_ssrc, PRIMARY);
        assert_eq!(
            nack.nacks.iter().flat_map(NackPair::packet_list).collect::<Vec<_>>(),
            [0, 1],
            "across the wrap"
        );
        // A late packet and a repair open no gap; a jump past ASK_AT_ONCE_MAX is left to the timer.
        n.handle_read(rtp(t0, PRIMARY, 96, 0, b"media")).unwrap();
        n.handle_read(rtp(t0, RTX, 97, 9, &[0, 1, b'm'])).unwrap();
        n.handle_read(rtp(t0, PRIMARY, 96, 3, b"media")).unwrap();
        n.handle_read(rtp(t0, PRIMARY, 96, 3 + ASK_AT_ONCE_MAX + 1, b"media"))
            .unwrap();
        assert!(n.poll_write().is_none());
        // Nor, while our way to the peer shows a queue, any gap: the timer asks.
        n.cc.on_rtt(15, 15);
        n.cc.on_rtt(120, 15);
        n.handle_read(rtp(t0, PRIMARY, 96, 3 + ASK_AT_ONCE_MAX + 3, b"media"))
            .unwrap();
        assert!(n.poll_write().is_none());
        n.cc.on_rtt(15, 15);
        n.handle_read(rtp(t0, PRIMARY, 96, 3 + ASK_AT_ONCE_MAX + 5, b"media"))
            .unwrap();
        assert!(n.poll_write().is_some(), "the queue gone: at once again");
        // Nor is a stream that asked for no NACKs.
        let mut plain = unbound();
        for seq in [1, 5] {
            plain.handle_read(rtp(t0, PRIMARY, 96, seq, b"media")).unwrap();
        }
        assert!(plain.poll_write().is_none());
    }

    #[test]
    fn a_repair_flow_bound_before_its_primary_is_taken_back_out() {
        let mut n = unbound();
        n.bind_remote_stream(&info(RTX, None, 97));
        n.bind_remote_stream(&info(PRIMARY, Some((RTX, 97)), 96));
        let t0 = Instant::now();
        for seq in [100, 102] {
            n.handle_read(rtp(t0, RTX, 97, seq, &[0, 1])).unwrap();
        }
        assert!(
            nacks(&mut n, t0, t0 + Duration::from_millis(100)).is_empty(),
            "RTX gaps are never asked for"
        );
        n.unbind_remote_stream(&info(PRIMARY, Some((RTX, 97)), 96));
        assert!(n.repairs.is_empty() && n.bound.is_empty());
    }

    #[test]
    fn retransmissions_on_the_rtx_stream_get_transport_wide_numbers_of_their_own() {
        use rtc::interceptor::{RTPHeaderExtension, TwccSenderBuilder};
        const TWCC: u8 = 5;
        let sender = |info: &StreamInfo| {
            let mut twcc = WithRepairStreams(TwccSenderBuilder::new().build());
            twcc.bind_local_stream(info);
            twcc
        };
        let mut info = info(PRIMARY, Some((RTX, 97)), 96);
        info.rtp_header_extensions = vec![RTPHeaderExtension {
            uri: rtc::sdp::extmap::TRANSPORT_CC_URI.to_owned(),
            id: u16::from(TWCC),
        }];
        let mut twcc = sender(&info);
        let t0 = Instant::now();
        let mut numbers = Vec::new();
        for (ssrc, pt, seq) in [(PRIMARY, 96, 1), (PRIMARY, 96, 2), (RTX, 97, 0), (PRIMARY, 96, 3)] {
            twcc.handle_write(rtp(t0, ssrc, pt, seq, b"xx")).unwrap();
            let out = twcc.poll_write().unwrap();
            let Packet::Rtp(p) = out.message.packet else { panic!() };
            let ext = p.header.get_extension(TWCC).expect("numbered");
            numbers.push(u16::from_be_bytes([ext[0], ext[1]]));
        }
        assert_eq!(numbers, vec![0, 1, 2, 3], "one sequence for both streams");
        twcc.unbind_local_stream(&info);
        twcc.handle_write(rtp(t0, RTX, 97, 1, b"xx")).unwrap();
        let Packet::Rtp(p) = twcc.poll_write().unwrap().message.packet else {
            panic!()
        };
        assert!(p.header.get_extension(TWCC).is_none(), "unbound with its primary");
    }
}
