//! DTMF parsers of outside input: SIP INFO bodies (with whatever Content-Type a request
//! carries) and RFC 4733 telephone-event payloads, alone and as a packet stream into a
//! receiver on a virtual clock. None of it may panic, and the receiver's edges must pair up
//! (every Begin followed by one End of the same key).
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use switchboard_media::dtmf::info;
use switchboard_media::dtmf::rfc4733::{parse_payload, Receiver, ReceiverConfig, RtpEvent};
use switchboard_media::dtmf::{Digit, DtmfEdge};

fuzz_target!(|data: &[u8]| {
    // INFO: the first line is the Content-Type, the rest the body; and the whole input as a
    // body of each type we take.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let content_type = String::from_utf8_lossy(&data[..split]);
    let _ = info::parse(&content_type, data.get(split + 1..).unwrap_or_default());
    let _ = info::parse("application/dtmf-relay", data);
    let _ = info::parse("application/dtmf", data);

    // RFC 4733: the payload parser on the whole input (blocks re-encode to what was parsed,
    // the reserved bit aside)…
    if let Ok(blocks) = parse_payload(data) {
        for (block, bytes) in blocks.zip(data.chunks_exact(4)) {
            let again = block.to_bytes();
            assert_eq!(again[0], bytes[0]);
            assert_eq!(again[1], bytes[1] & !0x40);
            assert_eq!(again[2..], bytes[2..]);
        }
    }
    // …and a receiver fed packets cut from it: 4 bytes of timestamp, 2 of sequence, one of
    // marker and time step, one of payload length, then the payload.
    let mut rx = Receiver::new(ReceiverConfig::default());
    let mut now = Instant::now();
    let mut open: Option<Digit> = None;
    let mut check = |rx: &mut Receiver| {
        while let Some(edge) = rx.poll_output() {
            match edge {
                DtmfEdge::Begin { digit, .. } => assert!(open.replace(digit).is_none()),
                DtmfEdge::End(e) => assert_eq!(open.take(), Some(e.digit)),
            }
        }
    };
    let mut rest = data;
    while rest.len() >= 8 {
        let timestamp = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let sequence = u16::from_be_bytes([rest[4], rest[5]]);
        let marker = rest[6] & 1 != 0;
        now += Duration::from_millis(u64::from(rest[6] >> 1) * 4);
        let len = usize::from(rest[7]).min(rest.len() - 8);
        let payload = &rest[8..8 + len];
        rest = &rest[8 + len..];
        if let Some(deadline) = rx.poll_timeout() {
            if deadline <= now {
                rx.handle_timeout(now);
                check(&mut rx);
            }
        }
        let _ = rx.handle_packet(now, RtpEvent { timestamp, marker, sequence, payload });
        check(&mut rx);
    }
    rx.reset();
    check(&mut rx);
    assert!(open.is_none());
});
