//! RTP packet layer: hand-built datagrams for every rule of RFC 3550 §5.1/§5.3.1, the relay
//! rewrite, the writer, RFC 5761/7983 demultiplexing, and property tests that cross-check the
//! parser and the writer against rtc-rtp.

use bytes::Bytes;
use proptest::prelude::*;
use rtc_shared::marshal::{Marshal, Unmarshal};
use switchboard_media::rtp::{
    DatagramKind, PayloadType, RtpError, RtpHeader, RtpPacket, SeqNo, Ssrc, classify,
    rewrite_header, seq_delta, ts_diff, write_packet,
};

/// A G.711 packet as a trunk sends it: V=2, PT 8, seq 0x1234, ts 0xDEADBEEF, SSRC 0x01020304.
fn g711_packet() -> Vec<u8> {
    let mut p = vec![
        0x80, 0x08, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04,
    ];
    p.extend_from_slice(&[0xD5; 160]);
    p
}

#[test]
fn parses_a_plain_g711_packet() {
    let p = g711_packet();
    let packet = RtpPacket::parse(&p).unwrap();
    assert_eq!(
        packet.header,
        RtpHeader {
            marker: false,
            payload_type: PayloadType::PCMA,
            sequence: 0x1234,
            timestamp: 0xDEAD_BEEF,
            ssrc: Ssrc(0x0102_0304),
        }
    );
    assert_eq!(packet.csrc_count, 0);
    assert_eq!(packet.extension, None);
    assert_eq!(packet.padding, 0);
    assert_eq!(packet.payload_offset, 12);
    assert_eq!(packet.payload, &[0xD5; 160][..]);
    assert_eq!(packet.as_bytes().len(), 172);
}

#[test]
fn parses_csrcs_extension_and_padding_together() {
    // V=2 P=1 X=1 CC=2, M=1 PT=96.
    let mut p = vec![0xB2, 0xE0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
    p.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 11]); // CSRCs 10 and 11
    p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]); // one-byte ext, 1 word
    p.extend_from_slice(&[1, 2, 3]); // payload
    p.extend_from_slice(&[0, 0, 3]); // 3 octets of padding
    let packet = RtpPacket::parse(&p).unwrap();
    assert!(packet.header.marker);
    assert_eq!(packet.header.payload_type.get(), 96);
    assert_eq!(packet.csrc_count, 2);
    assert_eq!(packet.csrc(0), Some(Ssrc(10)));
    assert_eq!(packet.csrc(1), Some(Ssrc(11)));
    assert_eq!(packet.csrc(2), None);
    assert_eq!(packet.extension, Some((0xBEDE, &[0x10, 0xAA, 0, 0][..])));
    assert_eq!(packet.payload, &[1, 2, 3]);
    assert_eq!(packet.padding, 3);
    assert_eq!(packet.payload_offset, 28);
}

#[test]
fn empty_payload_is_accepted_with_or_without_padding() {
    let bare = [0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    let packet = RtpPacket::parse(&bare).unwrap();
    assert!(packet.payload.is_empty());
    // All of what follows the header is padding: still a valid (empty) packet.
    let padded = [0xA0, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4];
    let packet = RtpPacket::parse(&padded).unwrap();
    assert!(packet.payload.is_empty());
    assert_eq!(packet.padding, 4);
}

#[test]
fn extension_with_zero_words_is_empty() {
    let mut p = vec![0x90, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x12, 0x34, 0, 0];
    p.push(0x55);
    let packet = RtpPacket::parse(&p).unwrap();
    assert_eq!(packet.extension, Some((0x1234, &[][..])));
    assert_eq!(packet.payload, &[0x55]);
}

#[test]
fn every_malformation_has_its_error() {
    let cases: &[(&[u8], RtpError)] = &[
        (&[], RtpError::TooShort { len: 0 }),
        (&[0x80; 11], RtpError::TooShort { len: 11 }),
        (
            &[0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            RtpError::BadVersion { version: 1 },
        ),
        (
            &[0xC0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            RtpError::BadVersion { version: 3 },
        ),
        (
            &[0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            RtpError::BadVersion { version: 0 },
        ),
        (
            &[0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3],
            RtpError::CsrcPastEnd {
                csrc_count: 1,
                len: 15,
            },
        ),
        (
            &[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE],
            RtpError::ExtensionHeaderPastEnd { len: 14 },
        ),
        (
            &[
                0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0, 2, 1, 2, 3, 4,
            ],
            RtpError::ExtensionPastEnd { words: 2, len: 20 },
        ),
        (
            &[0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0],
            RtpError::ZeroPadding,
        ),
        (
            &[0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 3],
            RtpError::PaddingPastEnd {
                padding: 3,
                available: 2,
            },
        ),
        // The padding count may not reach back into the header (here the lone octet 12 counts
        // itself plus 12 octets of header).
        (
            &[0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 13],
            RtpError::PaddingPastEnd {
                padding: 13,
                available: 1,
            },
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(RtpPacket::parse(bytes), Err(*expected), "{bytes:02x?}");
    }
}

#[test]
fn payload_type_constructor_checks_the_seven_bits() {
    assert_eq!(PayloadType::new(0).map(PayloadType::get), Ok(0));
    assert_eq!(PayloadType::new(127).map(PayloadType::get), Ok(127));
    assert_eq!(
        PayloadType::new(128),
        Err(RtpError::PayloadTypeOutOfRange { value: 128 })
    );
    assert!(PayloadType::new(101).unwrap().is_dynamic());
    assert!(!PayloadType::PCMU.is_dynamic());
}

#[test]
fn rewrite_keeps_marker_csrc_extension_and_padding() {
    let mut p = vec![0xB1, 0x80 | 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
    p.extend_from_slice(&[0, 0, 0, 10]);
    p.extend_from_slice(&[0x10, 0x00, 0, 1, 9, 9, 9, 9]);
    p.extend_from_slice(&[7, 7, 0, 2]);
    let before = RtpPacket::parse(&p).unwrap();
    let (csrc, ext, payload) = (
        before.csrc(0),
        before.extension.map(|(a, b)| (a, b.to_vec())),
        before.payload.to_vec(),
    );
    rewrite_header(
        &mut p,
        PayloadType::PCMU,
        0xFFFF,
        0x0102_0304,
        Ssrc(0xAABB_CCDD),
    )
    .unwrap();
    let after = RtpPacket::parse(&p).unwrap();
    assert_eq!(
        after.header,
        RtpHeader {
            marker: true,
            payload_type: PayloadType::PCMU,
            sequence: 0xFFFF,
            timestamp: 0x0102_0304,
            ssrc: Ssrc(0xAABB_CCDD),
        }
    );
    assert_eq!(after.csrc(0), csrc);
    assert_eq!(after.extension.map(|(a, b)| (a, b.to_vec())), ext);
    assert_eq!(after.payload, &payload[..]);
    assert_eq!(after.padding, 2);
}

#[test]
fn rewrite_refuses_a_short_buffer_and_leaves_it_alone() {
    let mut short = [0x80_u8; 11];
    assert_eq!(
        rewrite_header(&mut short, PayloadType::PCMA, 1, 1, Ssrc(1)),
        Err(RtpError::TooShort { len: 11 })
    );
    assert_eq!(short, [0x80; 11]);
}

#[test]
fn write_packet_writes_a_bare_header_and_checks_capacity() {
    let header = RtpHeader {
        marker: true,
        payload_type: PayloadType::new(101).unwrap(),
        sequence: 0xABCD,
        timestamp: 0x1122_3344,
        ssrc: Ssrc(0x5566_7788),
    };
    let mut out = [0_u8; 16];
    let n = write_packet(&mut out, &header, &[1, 2, 3, 4]).unwrap();
    assert_eq!(n, 16);
    assert_eq!(
        out,
        [
            0x80, 0xE5, 0xAB, 0xCD, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 1, 2, 3, 4
        ]
    );
    let mut small = [0_u8; 15];
    assert_eq!(
        write_packet(&mut small, &header, &[1, 2, 3, 4]),
        Err(RtpError::BufferTooSmall {
            needed: 16,
            capacity: 15
        })
    );
    assert_eq!(small, [0; 15]);
}

#[test]
fn classify_tells_rtp_rtcp_stun_and_garbage_apart() {
    assert_eq!(classify(&g711_packet()), DatagramKind::Rtp);
    // RR, SR, SDES, BYE, APP, RTPFB, PSFB, XR: second octet 200..=207.
    for pt in 200..=207_u8 {
        assert_eq!(
            classify(&[0x81, pt, 0, 7, 1, 2, 3, 4]),
            DatagramKind::Rtcp,
            "pt {pt}"
        );
    }
    // The whole RFC 5761 §4 range 192..=223 is RTCP; 191 and 224 are RTP (M=1, PT 63/96).
    assert_eq!(classify(&[0x80, 192, 0, 1, 0, 0, 0, 0]), DatagramKind::Rtcp);
    assert_eq!(classify(&[0x80, 223, 0, 1, 0, 0, 0, 0]), DatagramKind::Rtcp);
    let mut rtp = g711_packet();
    rtp[1] = 191;
    assert_eq!(classify(&rtp), DatagramKind::Rtp);
    rtp[1] = 224;
    assert_eq!(classify(&rtp), DatagramKind::Rtp);
    // STUN binding request: type 0x0001, length 0, magic cookie, transaction id.
    let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    stun.extend_from_slice(&[7; 12]);
    assert_eq!(classify(&stun), DatagramKind::Stun);
    stun[4] = 0;
    assert_eq!(classify(&stun), DatagramKind::Unknown, "no magic cookie");
    assert_eq!(classify(&stun[..19]), DatagramKind::Unknown);
    // DTLS (20..=63), ZRTP (16..=19), TURN channels (64..=79), RTP version 1, empty, short.
    for first in [22_u8, 16, 64, 0x40] {
        let mut d = g711_packet();
        d[0] = first;
        assert_eq!(classify(&d), DatagramKind::Unknown, "first octet {first}");
    }
    assert_eq!(classify(&[]), DatagramKind::Unknown);
    assert_eq!(classify(&[0x80, 0x08, 0, 1]), DatagramKind::Unknown);
    assert_eq!(classify(&[0x81, 201, 0, 1]), DatagramKind::Unknown);
}

#[test]
fn sequence_and_timestamp_arithmetic_survives_wrap() {
    assert_eq!(seq_delta(2, 65535), 3);
    assert_eq!(seq_delta(65535, 2), -3);
    assert_eq!(seq_delta(100, 100), 0);
    assert_eq!(ts_diff(10, u32::MAX), 11);
    assert_eq!(ts_diff(u32::MAX, 10), -11);
    assert_eq!(ts_diff(160, 0), 160);
    let top = SeqNo::new(0, 65534);
    let wrapped = top.extend(1);
    assert_eq!(wrapped, SeqNo::new(1, 1));
    assert_eq!((wrapped.cycles(), wrapped.seq()), (1, 1));
    // A late packet from before the wrap maps back to cycle 0.
    assert_eq!(wrapped.extend(65530), SeqNo::new(0, 65530));
    // No cycle below zero.
    assert_eq!(SeqNo::new(0, 3).extend(65000), SeqNo(65000));
}

/// A header extension as rtc-rtp can represent it: an RFC 3550 profile (any value but the two
/// RFC 8285 ones, which rtc-rtp reinterprets) with a body of whole words.
fn arb_extension() -> impl Strategy<Value = Option<(u16, Vec<u8>)>> {
    let profile = any::<u16>().prop_filter("RFC 8285 profiles", |p| *p != 0xBEDE && *p != 0x1000);
    proptest::option::of((
        profile,
        (0_usize..4).prop_flat_map(|w| proptest::collection::vec(any::<u8>(), w * 4)),
    ))
}

/// A valid packet, built by hand octet by octet.
#[derive(Debug, Clone)]
struct Built {
    header: RtpHeader,
    csrcs: Vec<u32>,
    extension: Option<(u16, Vec<u8>)>,
    payload: Vec<u8>,
    padding: u8,
}

impl Built {
    fn bytes(&self) -> Vec<u8> {
        let mut b0 = 0x80 | self.csrcs.len() as u8;
        if self.padding > 0 {
            b0 |= 0x20;
        }
        if self.extension.is_some() {
            b0 |= 0x10;
        }
        let mut p = vec![
            b0,
            (u8::from(self.header.marker) << 7) | self.header.payload_type.get(),
        ];
        p.extend_from_slice(&self.header.sequence.to_be_bytes());
        p.extend_from_slice(&self.header.timestamp.to_be_bytes());
        p.extend_from_slice(&self.header.ssrc.0.to_be_bytes());
        for c in &self.csrcs {
            p.extend_from_slice(&c.to_be_bytes());
        }
        if let Some((profile, body)) = &self.extension {
            p.extend_from_slice(&profile.to_be_bytes());
            p.extend_from_slice(&((body.len() / 4) as u16).to_be_bytes());
            p.extend_from_slice(body);
        }
        p.extend_from_slice(&self.payload);
        if self.padding > 0 {
            p.extend(std::iter::repeat_n(0, usize::from(self.padding) - 1));
            p.push(self.padding);
        }
        p
    }
}

fn arb_header() -> impl Strategy<Value = RtpHeader> {
    (
        any::<bool>(),
        0_u8..=127,
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(m, pt, seq, ts, ssrc)| RtpHeader {
            marker: m,
            payload_type: PayloadType::new(pt).unwrap_or(PayloadType::PCMU),
            sequence: seq,
            timestamp: ts,
            ssrc: Ssrc(ssrc),
        })
}

fn arb_packet() -> impl Strategy<Value = Built> {
    (
        arb_header(),
        proptest::collection::vec(any::<u32>(), 0..=15),
        arb_extension(),
        proptest::collection::vec(any::<u8>(), 0..300),
        prop_oneof![Just(0_u8), 1_u8..=255],
    )
        .prop_map(|(header, csrcs, extension, payload, padding)| Built {
            header,
            csrcs,
            extension,
            payload,
            padding,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Never panics, and whatever parses is self-consistent.
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(p) = RtpPacket::parse(&bytes) {
            prop_assert_eq!(p.payload_offset + p.payload.len() + usize::from(p.padding), bytes.len());
            prop_assert!(p.payload_offset >= 12 + 4 * usize::from(p.csrc_count));
        }
    }

    /// Our parse of a valid packet agrees with rtc-rtp's, field by field.
    #[test]
    fn parse_agrees_with_rtc_rtp(built in arb_packet()) {
        let bytes = built.bytes();
        let ours = RtpPacket::parse(&bytes).unwrap();
        let mut buf = Bytes::from(bytes.clone());
        let theirs = rtc_rtp::packet::Packet::unmarshal(&mut buf).unwrap();
        let h = &theirs.header;
        prop_assert_eq!(h.version, 2);
        prop_assert_eq!(ours.header.marker, h.marker);
        prop_assert_eq!(ours.header.payload_type.get(), h.payload_type);
        prop_assert_eq!(ours.header.sequence, h.sequence_number);
        prop_assert_eq!(ours.header.timestamp, h.timestamp);
        prop_assert_eq!(ours.header.ssrc.0, h.ssrc);
        prop_assert_eq!(usize::from(ours.csrc_count), h.csrc.len());
        for (i, c) in h.csrc.iter().enumerate() {
            prop_assert_eq!(ours.csrc(i), Some(Ssrc(*c)));
        }
        prop_assert_eq!(ours.extension.is_some(), h.extension);
        if let Some((profile, body)) = ours.extension {
            prop_assert_eq!(profile, h.extension_profile);
            prop_assert_eq!(h.extensions.len(), 1);
            prop_assert_eq!(body, &h.extensions[0].payload[..]);
        }
        prop_assert_eq!(ours.padding > 0, h.padding);
        prop_assert_eq!(ours.payload, &theirs.payload[..]);
        // And both agree with what was built.
        prop_assert_eq!(ours.header, built.header);
        prop_assert_eq!(ours.payload, &built.payload[..]);
        prop_assert_eq!(ours.padding, built.padding);
    }

    /// What we write, rtc-rtp parses to the same header and payload, and so do we.
    #[test]
    fn written_packets_parse_back(header in arb_header(), payload in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut out = vec![0_u8; 12 + payload.len()];
        let n = write_packet(&mut out, &header, &payload).unwrap();
        prop_assert_eq!(n, out.len());
        let mut buf = Bytes::from(out.clone());
        let theirs = rtc_rtp::packet::Packet::unmarshal(&mut buf).unwrap();
        prop_assert_eq!(theirs.header.marker, header.marker);
        prop_assert_eq!(theirs.header.payload_type, header.payload_type.get());
        prop_assert_eq!(theirs.header.sequence_number, header.sequence);
        prop_assert_eq!(theirs.header.timestamp, header.timestamp);
        prop_assert_eq!(theirs.header.ssrc, header.ssrc.0);
        prop_assert!(theirs.header.csrc.is_empty() && !theirs.header.extension && !theirs.header.padding);
        prop_assert_eq!(&theirs.payload[..], &payload[..]);
        // Byte-identical with rtc-rtp's own marshalling of the same packet.
        prop_assert_eq!(&theirs.marshal().unwrap()[..], &out[..]);
        prop_assert_eq!(RtpPacket::parse(&out).unwrap().header, header);
    }

    /// Rewriting changes exactly the four fields and nothing else.
    #[test]
    fn rewrite_changes_only_the_four_fields(built in arb_packet(), new in arb_header()) {
        let mut bytes = built.bytes();
        let original = bytes.clone();
        rewrite_header(&mut bytes, new.payload_type, new.sequence, new.timestamp, new.ssrc).unwrap();
        let p = RtpPacket::parse(&bytes).unwrap();
        prop_assert_eq!(p.header, RtpHeader { marker: built.header.marker, ..new });
        prop_assert_eq!(bytes[0], original[0]);
        prop_assert_eq!(bytes[1] & 0x80, original[1] & 0x80);
        prop_assert_eq!(&bytes[12..], &original[12..]);
    }

    /// Classification never panics, and a packet we wrote with a non-RTCP payload type is RTP.
    #[test]
    fn classify_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..64), header in arb_header()) {
        let _ = classify(&bytes);
        let mut out = [0_u8; 12];
        write_packet(&mut out, &header, &[]).unwrap();
        let second = out[1];
        let expected = if (192..=223).contains(&second) { DatagramKind::Rtcp } else { DatagramKind::Rtp };
        prop_assert_eq!(classify(&out), expected);
    }
}
