//! DTMF on the media path: what one call costs per 20 ms frame for in-band detection (silence,
//! a held key, dialling, speech) and per telephone-event packet for the RFC 4733 receiver.
//! Tone generation per frame is here too: ringback is played into every ringing call.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use switchboard_media::dtmf::inband::{Detector, DetectorConfig};
use switchboard_media::dtmf::rfc4733::{EventBlock, Receiver, ReceiverConfig, RtpEvent, Volume};
use switchboard_media::dtmf::{Digit, DtmfEdge};
use switchboard_media::g711::SAMPLES_PER_20MS;
use switchboard_media::tone::{DtmfLevels, Tone, ToneGenerator, TonePlan};

/// `ms` of a key tone followed by `gap` ms of silence, at 8 kHz.
fn key(digit: Digit, ms: u64, gap: u64) -> Vec<i16> {
    let tone = Tone::dtmf(digit, DtmfLevels::default(), Duration::from_millis(ms));
    let mut g = ToneGenerator::new(&tone, 8_000).unwrap_or_else(|e| panic!("{e}"));
    let mut x = vec![0_i16; usize::try_from((ms + gap) * 8).unwrap_or(0)];
    g.fill(&mut x);
    x
}

fn speech() -> Vec<i16> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/media/tests/data/talkoff_en.wav"
    );
    let reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    reader
        .into_samples::<i16>()
        .map(|s| s.unwrap_or(0))
        .collect()
}

/// Benches the detector on `signal`, one 20 ms frame per iteration, looping over the signal.
fn bench_frames(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    signal: &[i16],
) {
    let frames: Vec<&[i16]> = signal.chunks_exact(SAMPLES_PER_20MS).collect();
    let mut det = Detector::new(DetectorConfig::default());
    let mut now = Instant::now();
    let mut i = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            det.handle_frame(now, black_box(frames[i % frames.len()]));
            while let Some(edge) = det.poll_output() {
                black_box(edge);
            }
            now += Duration::from_millis(20);
            i += 1;
        });
    });
}

fn bench_inband(c: &mut Criterion) {
    let mut group = c.benchmark_group("dtmf_inband_20ms_frame");
    group.throughput(Throughput::Elements(SAMPLES_PER_20MS as u64));
    bench_frames(&mut group, "silence", &[0; 8_000]);
    // A key held: every window passes the first stage, none needs the second.
    bench_frames(&mut group, "held_key", &key(Digit::Five, 10_000, 0));
    // Dialling: 60 ms keys, 60 ms pauses; each key is confirmed by the second stage once.
    let mut dialling = Vec::new();
    for d in Digit::ALL {
        dialling.extend(key(d, 60, 60));
    }
    bench_frames(&mut group, "dialling", &dialling);
    bench_frames(&mut group, "speech", &speech());
    group.finish();
}

fn bench_rfc4733(c: &mut Criterion) {
    let mut group = c.benchmark_group("dtmf_rfc4733");
    group.throughput(Throughput::Elements(1));
    // Presses of 100 ms with 20 ms updates: four updates and three end copies each.
    let mut rx = Receiver::new(ReceiverConfig::default());
    let mut now = Instant::now();
    let mut k: u32 = 0;
    group.bench_function("receive_packet", |b| {
        b.iter(|| {
            let (press, n) = (k / 7, k % 7);
            let digit = Digit::from_event_code(u8::try_from(press % 16).unwrap_or(0))
                .unwrap_or(Digit::Zero);
            let end = n >= 4;
            let duration = if end {
                800
            } else {
                160 * (u16::try_from(n).unwrap_or(0) + 1)
            };
            let payload = EventBlock {
                event: digit.event_code(),
                end,
                volume: Volume::DEFAULT,
                duration,
            }
            .to_bytes();
            let packet = RtpEvent {
                timestamp: press.wrapping_mul(1_600),
                marker: n == 0,
                sequence: u16::try_from(k & 0xFFFF).unwrap_or(0),
                payload: &payload,
            };
            let _ = rx.handle_packet(now, black_box(packet));
            while let Some(edge) = rx.poll_output() {
                if let DtmfEdge::End(e) = edge {
                    black_box(e);
                }
            }
            now += Duration::from_millis(20);
            k = k.wrapping_add(1);
        });
    });
    group.finish();
}

fn bench_tone(c: &mut Criterion) {
    let mut group = c.benchmark_group("tone_20ms_frame");
    group.throughput(Throughput::Elements(SAMPLES_PER_20MS as u64));
    for (name, tone) in [
        ("ringback_fr", TonePlan::france().ringback()),
        ("dial_us", TonePlan::us().dial()),
    ] {
        let mut g = ToneGenerator::new(tone, 8_000).unwrap_or_else(|e| panic!("{e}"));
        let mut frame = [0_i16; SAMPLES_PER_20MS];
        group.bench_function(name, |b| b.iter(|| g.fill(black_box(&mut frame))));
    }
    group.finish();
}

criterion_group!(benches, bench_inband, bench_rfc4733, bench_tone);
criterion_main!(benches);
