//! Resampling one 20 ms frame, for each pair of the rates a call meets (8 kHz G.711, 16 kHz
//! G.722, 48 kHz Opus): the cost a transcoded leg pays 50 times a second, per direction.

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use switchboard_media::resample::{Resampler, samples_per_20ms};

/// 20 ms of a 1 kHz tone at `rate`, at −6 dBFS.
fn tone(rate: u32) -> Vec<i16> {
    (0..samples_per_20ms(rate))
        .map(|n| {
            let phase = std::f64::consts::TAU * 1_000.0 * n as f64 / f64::from(rate);
            (16_000.0 * phase.sin()).round() as i16
        })
        .collect()
}

fn bench_resample(c: &mut Criterion) {
    let mut group = c.benchmark_group("resample_20ms_frame");
    for (from, to) in [
        (8_000, 16_000),
        (16_000, 8_000),
        (8_000, 48_000),
        (48_000, 8_000),
        (16_000, 48_000),
        (48_000, 16_000),
    ] {
        let Ok(mut resampler) = Resampler::per_20ms(from, to) else {
            continue;
        };
        let input = tone(from);
        let mut output = vec![0_i16; resampler.output_frame_samples()];
        group.throughput(Throughput::Elements(input.len() as u64));
        group.bench_function(format!("{}k_to_{}k", from / 1_000, to / 1_000), |b| {
            b.iter(|| resampler.process(black_box(&input), black_box(&mut output)));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_resample);
criterion_main!(benches);
