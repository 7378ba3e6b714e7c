//! RTP from the network: demultiplexing and parsing must never panic, and any packet that
//! parses must survive the relay rewrite with exactly the four rewritten fields changed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_media::rtp::{PayloadType, RtpPacket, Ssrc, classify, rewrite_header};

fuzz_target!(|data: &[u8]| {
    let _ = classify(data);
    let Ok(packet) = RtpPacket::parse(data) else {
        return;
    };
    assert_eq!(
        packet.payload_offset + packet.payload.len() + usize::from(packet.padding),
        data.len()
    );
    // New header fields derived from the input, so the fuzzer explores them too.
    let pt = PayloadType::new((packet.header.payload_type.get() + 1) & 0x7F).expect("7-bit");
    let seq = packet.header.sequence.wrapping_add(0x1234);
    let ts = packet.header.timestamp.rotate_left(7);
    let ssrc = Ssrc(!packet.header.ssrc.0);
    let mut copy = data.to_vec();
    rewrite_header(&mut copy, pt, seq, ts, ssrc).expect("a parsed packet has a fixed header");
    let again = RtpPacket::parse(&copy).expect("a rewritten packet still parses");
    assert_eq!(again.header.payload_type, pt);
    assert_eq!(again.header.sequence, seq);
    assert_eq!(again.header.timestamp, ts);
    assert_eq!(again.header.ssrc, ssrc);
    assert_eq!(again.header.marker, packet.header.marker);
    assert_eq!(again.csrc_count, packet.csrc_count);
    assert_eq!(again.extension, packet.extension);
    assert_eq!(again.payload, packet.payload);
    assert_eq!(again.padding, packet.padding);
});
