//! Property tests over everything that parses bytes a peer controls: RTP video packets through the
//! frame assembler and the VP8/H.264 depacketisers, offers through validation and the SDP parser,
//! and the WebSocket `media` events. The property is the same everywhere: any input gives a value
//! or an error, never a panic, and what comes out stays bounded by what went in.
//!
//! CI runs the default number of cases; `bench/fuzz.sh` runs each for minutes
//! (`PROPTEST_CASES=...`). A failure is saved by proptest under `proptest-regressions/` (committed,
//! replayed first on every run) and is also turned into a named test below.

use bytes::Bytes;
use proptest::prelude::*;
use rtc::rtp;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;

use crate::stream::parse_media_event;
use crate::webrtc::assembler::{depacketize, is_partition_head, FrameAssembler, H264Depacketizer};
use crate::webrtc::validate;
use crate::SessionOptions;

/// One RTP packet as a hostile or broken sender could make it: sequence numbers near each other
/// (so frames can complete), a few timestamps, any marker, any payload bytes.
fn packet() -> impl Strategy<Value = rtp::Packet> {
    (
        0u16..64,
        0u32..4,
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(seq, ts, marker, payload)| rtp::Packet {
            header: rtp::header::Header {
                sequence_number: seq.wrapping_add(65_500), // around the wrap
                timestamp: ts * 3000,
                marker,
                ..Default::default()
            },
            payload: Bytes::from(payload),
        })
}

fn assemble<D: Depacketizer>(depacketizer: D, packets: Vec<rtp::Packet>) {
    let bytes_in: usize = packets.iter().map(|p| p.payload.len()).sum();
    let mut assembler = FrameAssembler::new(depacketizer);
    let mut bytes_out = 0;
    for p in packets {
        for frame in assembler.push(p) {
            bytes_out += frame.data.len();
        }
    }
    // Depacketising strips headers and may add H.264 start codes (4 bytes per NAL unit at most).
    assert!(bytes_out <= bytes_in * 3 + 64, "{bytes_out} bytes out of {bytes_in} in");
}

/// A browser-like offer: audio, video and a data channel, a few candidates.
const OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0 1 2\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
a=candidate:1 1 udp 2113937151 127.0.0.1 50000 typ host generation 0\r\n\
a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:0 PCMU/8000\r\n\
a=ssrc:1 cname:x\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\na=mid:1\r\na=sendrecv\r\na=rtcp-mux\r\na=rtcp-rsize\r\n\
a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n\
a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\na=mid:2\r\na=sctp-port:5000\r\n";

/// The offer with some of its lines dropped, duplicated, truncated or overwritten with bytes.
fn mutated_offer() -> impl Strategy<Value = String> {
    let lines: Vec<&'static str> = OFFER.split("\r\n").collect();
    let n = lines.len();
    prop::collection::vec((0..n, 0u8..4, any::<u8>(), "[ -~]{0,12}"), 0..8).prop_map(move |edits| {
        let mut out: Vec<String> = lines.iter().map(|l| (*l).to_string()).collect();
        for (i, op, cut, junk) in edits {
            let i = i % out.len().max(1);
            if out.is_empty() {
                break;
            }
            match op {
                0 => {
                    out.remove(i);
                }
                1 => out.insert(i, out[i].clone()),
                2 => {
                    let keep = usize::from(cut) % (out[i].len() + 1);
                    let mut line = out[i].clone();
                    while !line.is_char_boundary(keep.min(line.len())) {
                        line.pop();
                    }
                    line.truncate(keep.min(line.len()));
                    out[i] = line;
                }
                _ => out[i] = format!("{}{junk}", &out[i][..out[i].len().min(2)]),
            }
        }
        out.join("\r\n")
    })
}

fn av_options() -> SessionOptions {
    SessionOptions {
        send_audio: true,
        recv_audio: true,
        send_video: true,
        recv_video: true,
        ..SessionOptions::default()
    }
}

proptest! {
    #[test]
    fn vp8_assembly_never_panics(packets in prop::collection::vec(packet(), 0..200)) {
        assemble(Vp8Packet::default(), packets);
    }

    #[test]
    fn h264_assembly_never_panics(packets in prop::collection::vec(packet(), 0..200)) {
        assemble(H264Depacketizer::default(), packets);
    }

    #[test]
    fn depacketisers_take_any_payload(payload in prop::collection::vec(any::<u8>(), 0..300)) {
        let payload = Bytes::from(payload);
        let _ = depacketize(&mut Vp8Packet::default(), &payload);
        let _ = depacketize(&mut H264Packet::default(), &payload);
        let _ = is_partition_head(&Vp8Packet::default(), &payload);
        let _ = is_partition_head(&H264Packet::default(), &payload);
    }

    #[test]
    fn any_text_is_a_valid_or_refused_offer(sdp in "\\PC{0,400}", kind in "[a-z]{0,8}") {
        let _ = validate(&sdp, &kind, &av_options());
    }

    #[test]
    fn mutated_offers_are_accepted_or_refused(sdp in mutated_offer()) {
        let _ = validate(&sdp, "offer", &av_options());
    }

    #[test]
    fn any_text_is_a_media_event_or_not(text in "\\PC{0,200}") {
        let _ = parse_media_event(&text);
    }

    #[test]
    fn media_events_with_any_payload(payload in "[A-Za-z0-9+/=!-]{0,64}", event in "(media|start|stop|mark|x)") {
        let text = format!("{{\"event\":\"{event}\",\"media\":{{\"payload\":\"{payload}\"}}}}");
        let parsed = parse_media_event(&text);
        if event != "media" {
            prop_assert!(matches!(parsed, Ok(None)));
        } else if let Ok(Some(bytes)) = parsed {
            prop_assert!(bytes.len() <= payload.len());
        }
    }
}

#[test]
fn the_unmutated_offer_is_valid() {
    assert!(validate(OFFER, "offer", &av_options()).is_ok());
}

/// Found by `depacketisers_take_any_payload` (2026-12-01, 100,000 cases): a STAP-A packet (type 24)
/// whose last NAL-size field is one byte short made webrtc-rs's H.264 depacketiser index past the
/// end and panic. It is now a broken packet, and a frame made of it is a lost one.
#[test]
fn a_truncated_stap_a_is_a_broken_packet_not_a_panic() {
    let mut payload = vec![184u8, 0, 118];
    payload.resize(122, 0);
    let payload = Bytes::from(payload);
    assert!(depacketize(&mut H264Packet::default(), &payload).is_none());
    assert!(
        depacketize(&mut H264Depacketizer::default(), &payload).is_none(),
        "refused before webrtc-rs reads it"
    );
    let mut assembler = FrameAssembler::new(H264Packet::default());
    let packet = rtp::Packet {
        header: rtp::header::Header {
            sequence_number: 1,
            timestamp: 3000,
            marker: true,
            ..Default::default()
        },
        payload,
    };
    assert!(assembler.push(packet).is_empty());
}
