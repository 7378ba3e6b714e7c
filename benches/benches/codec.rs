//! The codecs on one 20 ms frame, the unit of work of a transcoded call, through the same trait
//! objects the media worker uses.
//!
//! What to read from it: a transcoded PCMA↔Opus call costs, per 20 ms, one `transcode/pcma_to_opus`
//! (trunk → agent) plus one `transcode/opus_to_pcma` (agent → trunk); one core has 20,000 µs
//! per 20 ms, so calls per core ≈ 20,000 µs / (sum of the two). The `opus_nb_complexity` group is
//! the measurement behind `codec::opus::DEFAULT_COMPLEXITY`.
//!
//! The input is a voiced, speech-like signal cycling through one second (50 frames), so SILK's
//! analysis sees changing audio rather than one frame again and again. Times are this
//! thread's CPU time, not wall time (see `ThreadCpuTime`).

mod common;

use std::f64::consts::TAU;

use common::ThreadCpuTime;
use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};
use switchboard_media::codec::{
    CodecKind, CodecParams, Decoder, Encoder, MAX_FRAME_SAMPLES, MAX_PAYLOAD_BYTES, OpusRate,
    new_decoder, new_encoder,
};

/// One second of a 140 Hz voiced source with 10 harmonics, vibrato and a 4 Hz envelope.
fn voice(rate: u32) -> Vec<i16> {
    let mut phase = 0.0_f64;
    (0..rate)
        .map(|i| {
            let t = f64::from(i) / f64::from(rate);
            let f0 = 140.0 + 30.0 * (TAU * 3.0 * t).sin();
            phase += TAU * f0 / f64::from(rate);
            let s: f64 = (1..=10_u8)
                .map(|h| (phase * f64::from(h)).sin() / f64::from(h))
                .sum();
            let env = 0.6 + 0.4 * (TAU * 4.0 * t).sin();
            #[allow(clippy::cast_possible_truncation)] // bounded to ±16,000 by construction
            let v = (5_000.0 * s * env) as i16;
            v
        })
        .collect()
}

fn params(rate: OpusRate) -> CodecParams {
    CodecParams {
        opus_rate: rate,
        ..CodecParams::default()
    }
}

fn build(kind: CodecKind, p: &CodecParams) -> (Box<dyn Encoder>, Box<dyn Decoder>) {
    match (new_encoder(kind, p), new_decoder(kind, p)) {
        (Ok(e), Ok(d)) => (e, d),
        _ => panic!("cannot build {kind}"),
    }
}

/// The payloads of one second of `pcm`, to feed decoders.
fn encode_all(enc: &mut dyn Encoder, pcm: &[i16]) -> Vec<Vec<u8>> {
    let mut out = [0_u8; MAX_PAYLOAD_BYTES];
    pcm.chunks_exact(enc.samples_per_frame())
        .map(|f| {
            let n = enc.encode(f, &mut out).unwrap_or(0);
            out[..n].to_vec()
        })
        .collect()
}

/// Iterates over frames of `pcm` forever.
struct Frames<'a> {
    pcm: &'a [i16],
    n: usize,
    at: usize,
}

impl<'a> Frames<'a> {
    fn new(pcm: &'a [i16], n: usize) -> Self {
        Self { pcm, n, at: 0 }
    }

    fn next_frame(&mut self) -> &'a [i16] {
        if self.at + self.n > self.pcm.len() {
            self.at = 0;
        }
        let f = &self.pcm[self.at..self.at + self.n];
        self.at += self.n;
        f
    }
}

fn bench_g711_g722(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("codec_20ms");
    for kind in [CodecKind::Pcma, CodecKind::Pcmu] {
        let (mut enc, mut dec) = build(kind, &CodecParams::default());
        let pcm = voice(8_000);
        let mut frames = Frames::new(&pcm, 160);
        let (mut payload, mut out) = ([0_u8; 160], [0_i16; 160]);
        g.bench_function(format!("{kind}_encode_decode"), |b| {
            b.iter(|| {
                let n = enc.encode(frames.next_frame(), &mut payload).unwrap_or(0);
                dec.decode(black_box(&payload[..n]), &mut out).unwrap_or(0)
            });
        });
    }
    let (mut enc, mut dec) = build(CodecKind::G722, &CodecParams::default());
    let pcm = voice(16_000);
    let payloads = encode_all(enc.as_mut(), &pcm);
    let mut frames = Frames::new(&pcm, 320);
    let mut payload = [0_u8; 160];
    g.bench_function("G722_encode", |b| {
        b.iter(|| enc.encode(frames.next_frame(), black_box(&mut payload)));
    });
    let mut out = [0_i16; 320];
    let mut i = 0;
    g.bench_function("G722_decode", |b| {
        b.iter(|| {
            i = (i + 1) % payloads.len();
            dec.decode(black_box(&payloads[i]), &mut out)
        });
    });
    g.finish();
}

fn bench_opus(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("opus_20ms");
    for rate in [OpusRate::Narrowband, OpusRate::Wideband, OpusRate::Fullband] {
        let hz = rate.hz();
        let (mut enc, mut dec) = build(CodecKind::Opus, &params(rate));
        let pcm = voice(hz);
        let payloads = encode_all(enc.as_mut(), &pcm);
        let mut frames = Frames::new(&pcm, hz as usize / 50);
        let mut payload = [0_u8; MAX_PAYLOAD_BYTES];
        g.bench_function(BenchmarkId::new("encode", hz), |b| {
            b.iter(|| enc.encode(frames.next_frame(), black_box(&mut payload)));
        });
        let mut out = vec![0_i16; MAX_FRAME_SAMPLES];
        let mut i = 0;
        g.bench_function(BenchmarkId::new("decode", hz), |b| {
            b.iter(|| {
                i = (i + 1) % payloads.len();
                dec.decode(black_box(&payloads[i]), &mut out)
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("opus_nb_complexity");
    let pcm = voice(8_000);
    for complexity in [0_u8, 1, 2, 3, 5, 10] {
        let p = CodecParams {
            opus_complexity: Some(complexity),
            ..params(OpusRate::Narrowband)
        };
        let (mut enc, _) = build(CodecKind::Opus, &p);
        let mut frames = Frames::new(&pcm, 160);
        let mut payload = [0_u8; MAX_PAYLOAD_BYTES];
        g.bench_function(BenchmarkId::new("encode", complexity), |b| {
            b.iter(|| enc.encode(frames.next_frame(), black_box(&mut payload)));
        });
    }
    g.finish();
}

/// Both directions of a PCMA trunk ↔ Opus (8 kHz PCM) agent call, one frame each.
fn bench_transcode(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("transcode");
    let nb = params(OpusRate::Narrowband);
    let (mut pcma_enc, mut pcma_dec) = build(CodecKind::Pcma, &nb);
    let (mut opus_enc, mut opus_dec) = build(CodecKind::Opus, &nb);
    let pcm = voice(8_000);
    let pcma_payloads = encode_all(pcma_enc.as_mut(), &pcm);
    let opus_payloads = encode_all(opus_enc.as_mut(), &pcm);
    let mut frame = vec![0_i16; MAX_FRAME_SAMPLES];
    let mut payload = [0_u8; MAX_PAYLOAD_BYTES];
    let mut i = 0;
    g.bench_function("pcma_to_opus", |b| {
        b.iter(|| {
            i = (i + 1) % pcma_payloads.len();
            let n = pcma_dec
                .decode(black_box(&pcma_payloads[i]), &mut frame)
                .unwrap_or(0);
            opus_enc.encode(&frame[..n], black_box(&mut payload))
        });
    });
    g.bench_function("opus_to_pcma", |b| {
        b.iter(|| {
            i = (i + 1) % opus_payloads.len();
            let n = opus_dec
                .decode(black_box(&opus_payloads[i]), &mut frame)
                .unwrap_or(0);
            pcma_enc.encode(&frame[..n], black_box(&mut payload))
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::thread_cpu_config();
    targets = bench_g711_g722, bench_opus, bench_transcode
}
criterion_main!(benches);
