//! G.711 on one 20 ms frame (160 samples at 8 kHz), the unit of work of the media hot path:
//! transcoding a leg, feeding the recorder or the DTMF detector costs one of these per packet.

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use switchboard_media::g711::{SAMPLES_PER_20MS, alaw, ulaw};

/// A 20 ms frame of a 440 Hz triangle wave spanning ±16,000, so the frame visits every segment
/// of both laws rather than one table entry.
fn triangle_frame() -> [i16; SAMPLES_PER_20MS] {
    let mut pcm = [0_i16; SAMPLES_PER_20MS];
    for (i, s) in (0_i32..).zip(pcm.iter_mut()) {
        let phase = (i * 440) % 8_000; // position in the period, in 1/8000 of a period
        let tri = (phase - 4_000).abs(); // 0..=4000
        *s = i16::try_from(tri * 8 - 16_000).unwrap_or(0);
    }
    pcm
}

fn bench_g711(c: &mut Criterion) {
    let pcm = triangle_frame();
    let mut codes = [0_u8; SAMPLES_PER_20MS];
    let mut back = [0_i16; SAMPLES_PER_20MS];
    let mut group = c.benchmark_group("g711_20ms_frame");
    group.throughput(Throughput::Elements(SAMPLES_PER_20MS as u64));

    group.bench_function("alaw_encode", |b| {
        b.iter(|| alaw::encode_frame(black_box(&pcm), black_box(&mut codes)));
    });
    group.bench_function("ulaw_encode", |b| {
        b.iter(|| ulaw::encode_frame(black_box(&pcm), black_box(&mut codes)));
    });
    alaw::encode_frame(&pcm, &mut codes).unwrap_or_default();
    group.bench_function("alaw_decode", |b| {
        b.iter(|| alaw::decode_frame(black_box(&codes), black_box(&mut back)));
    });
    ulaw::encode_frame(&pcm, &mut codes).unwrap_or_default();
    group.bench_function("ulaw_decode", |b| {
        b.iter(|| ulaw::decode_frame(black_box(&codes), black_box(&mut back)));
    });
    group.finish();
}

criterion_group!(benches, bench_g711);
criterion_main!(benches);
