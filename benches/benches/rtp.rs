//! The relay's per-packet work on a 172-octet G.711 packet (12-octet header + 20 ms of PCMA):
//! parse the datagram, rewrite SSRC/sequence/timestamp for the other leg. Ours against rtc-rtp's
//! `unmarshal`/`marshal_to`, the library we would otherwise use; the ratio is why the hot path
//! keeps its own zero-copy parser.

use bytes::Bytes;
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use rtc_shared::marshal::{Marshal, Unmarshal};
use switchboard_media::rtp::{
    PayloadType, RtpHeader, RtpPacket, Ssrc, rewrite_header, write_packet,
};

/// A 172-octet PCMA packet as a trunk sends it.
fn g711_packet() -> Vec<u8> {
    let header = RtpHeader {
        marker: false,
        payload_type: PayloadType::PCMA,
        sequence: 4711,
        timestamp: 0x0102_0304,
        ssrc: Ssrc(0xDEAD_BEEF),
    };
    let mut buf = vec![0_u8; 172];
    let n = write_packet(&mut buf, &header, &[0xD5; 160]).unwrap_or(0);
    buf.truncate(n);
    buf
}

fn bench_rtp(c: &mut Criterion) {
    let packet = g711_packet();
    let mut group = c.benchmark_group("rtp_g711_172B");
    group.throughput(Throughput::Elements(1));

    group.bench_function("ours_parse", |b| {
        b.iter(|| RtpPacket::parse(black_box(&packet)).map(|p| p.payload.len()));
    });
    let mut relay = packet.clone();
    group.bench_function("ours_rewrite", |b| {
        b.iter(|| rewrite_header(black_box(&mut relay), PayloadType::PCMA, 1, 160, Ssrc(7)));
    });
    group.bench_function("ours_parse_and_rewrite", |b| {
        b.iter(|| {
            let seq = RtpPacket::parse(black_box(&relay))
                .map(|p| p.header.sequence.wrapping_add(1))
                .unwrap_or(0);
            rewrite_header(black_box(&mut relay), PayloadType::PCMA, seq, 160, Ssrc(7))
        });
    });

    // rtc-rtp from a byte slice (a reused receive buffer, as our media workers have).
    group.bench_function("rtc_rtp_unmarshal_slice", |b| {
        b.iter(|| {
            let mut buf: &[u8] = black_box(&packet);
            rtc_rtp::packet::Packet::unmarshal(&mut buf).map(|p| p.payload.len())
        });
    });
    // rtc-rtp from `Bytes` (the payload is then a reference-counted slice, not a copy).
    let shared = Bytes::from(packet.clone());
    group.bench_function("rtc_rtp_unmarshal_bytes", |b| {
        b.iter(|| {
            let mut buf = black_box(&shared).clone();
            rtc_rtp::packet::Packet::unmarshal(&mut buf).map(|p| p.payload.len())
        });
    });
    let mut parsed = {
        let mut buf: &[u8] = &packet;
        rtc_rtp::packet::Packet::unmarshal(&mut buf).unwrap_or_default()
    };
    let mut out = vec![0_u8; 1500];
    group.bench_function("rtc_rtp_marshal_to", |b| {
        b.iter(|| {
            parsed.header.ssrc = 7;
            parsed.header.sequence_number = parsed.header.sequence_number.wrapping_add(1);
            black_box(&parsed).marshal_to(black_box(&mut out))
        });
    });
    group.bench_function("rtc_rtp_unmarshal_and_marshal", |b| {
        b.iter(|| {
            let mut buf: &[u8] = black_box(&packet);
            let mut p = rtc_rtp::packet::Packet::unmarshal(&mut buf).unwrap_or_default();
            p.header.ssrc = 7;
            p.header.sequence_number = p.header.sequence_number.wrapping_add(1);
            p.marshal_to(black_box(&mut out))
        });
    });
    group.finish();
}

criterion_group!(benches, bench_rtp);
criterion_main!(benches);
