//! The other per-tick audio work, per 20 ms frame: prompt playback (a copy, or a copy with
//! gain), comfort noise (white, and shaped by a 10th-order model), one recording side brought
//! from 8 to 16 kHz; and, off the hot path, decoding a 10 s prompt from WAV.

use std::io::Cursor;

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use switchboard_media::comfort_noise::{CnPayload, ComfortNoise, NoiseLevel};
use switchboard_media::prompt::{Gain, Playback, Prompt};
use switchboard_media::recorder::{RecordingChannel, RecordingRate, Side};

/// Ten seconds of a tone as a 16 kHz mono 16-bit WAV file in memory.
fn wav_16k_10s() -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut buf = Cursor::new(Vec::new());
    if let Ok(mut w) = hound::WavWriter::new(&mut buf, spec) {
        for n in 0..160_000 {
            let v = 8_000.0 * (std::f64::consts::TAU * 440.0 * f64::from(n) / 16_000.0).sin();
            let _ = w.write_sample(v.round() as i16);
        }
        let _ = w.finalize();
    }
    buf.into_inner()
}

fn bench_playback(c: &mut Criterion) {
    let mut group = c.benchmark_group("audio_20ms_frame");
    let wav = wav_16k_10s();
    let Ok(prompt) = Prompt::from_wav(Cursor::new(&wav[..]), 8_000) else {
        return;
    };
    let mut frame = [0_i16; 160];
    if let Ok(mut moh) = Playback::looping(vec![prompt.clone()]) {
        group.bench_function("playback_unity_gain", |b| {
            b.iter(|| moh.fill(black_box(&mut frame)));
        });
        moh.set_gain(Gain::from_db(-6.0));
        group.bench_function("playback_with_gain", |b| {
            b.iter(|| moh.fill(black_box(&mut frame)));
        });
    }
    let mut noise = ComfortNoise::new(1);
    group.bench_function("comfort_noise_white", |b| {
        b.iter(|| noise.fill(black_box(&mut frame)));
    });
    let shaped = NoiseLevel::from_minus_dbov(60).and_then(|level| {
        CnPayload::with_reflection(level, &[60, 150, 110, 140, 120, 135, 125, 130, 127, 128])
    });
    if let Ok(p) = shaped {
        noise.update(&p);
        group.bench_function("comfort_noise_order_10", |b| {
            b.iter(|| noise.fill(black_box(&mut frame)));
        });
    }
    let mut channel = RecordingChannel::new(RecordingRate::Wideband, Side::Caller);
    let narrow = [1_000_i16; 160];
    group.bench_function("recording_channel_8k_to_16k", |b| {
        b.iter(|| {
            let _ = black_box(channel.process(Some((black_box(&narrow), 8_000))));
        });
    });
    group.finish();

    let mut group = c.benchmark_group("prompt_decode_10s");
    group.sample_size(10);
    for target in [8_000, 16_000] {
        group.bench_function(format!("wav_16k_to_{}k", target / 1_000), |b| {
            b.iter(|| Prompt::from_wav(Cursor::new(black_box(&wav[..])), target));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_playback);
criterion_main!(benches);
