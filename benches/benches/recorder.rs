//! The stereo recorder per 20 ms tick at 8 kHz (caller left, agent right), into memory and
//! into a real file in the temp directory. Checkpoints (one `write` and two header patches per
//! second) are included: each measured batch records up to five minutes of call into a fresh
//! file, creation and `finish` included.

use std::io::{Cursor, Seek, Write};
use std::time::{Duration, Instant};

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use switchboard_media::recorder::{RecorderConfig, RecordingRate, StereoRecorder};

/// Ticks per recorder: five minutes, so memory stays bounded (9.6 MB) however many
/// iterations criterion asks for.
const TICKS_PER_FILE: u64 = 15_000;

fn frame(side: i16) -> Vec<i16> {
    (0..160).map(|i| side * (i * 97 % 7_000)).collect()
}

/// Records `iters` ticks into writers made by `open`, `TICKS_PER_FILE` at a time.
fn record<W: Write + Seek>(iters: u64, mut open: impl FnMut() -> W) -> Duration {
    let (caller, agent) = (frame(1), frame(-1));
    let config = RecorderConfig::new(RecordingRate::Narrowband);
    let mut elapsed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let ticks = left.min(TICKS_PER_FILE);
        let writer = open();
        let start = Instant::now();
        let Ok(mut rec) = StereoRecorder::create(writer, config) else {
            return elapsed;
        };
        for _ in 0..ticks {
            let _ = rec.write_frame(Some(black_box(&caller)), Some(black_box(&agent)));
        }
        let _ = black_box(rec.finish());
        elapsed += start.elapsed();
        left -= ticks;
    }
    elapsed
}

fn bench_recorder(c: &mut Criterion) {
    let mut group = c.benchmark_group("recorder_20ms_stereo_tick");
    group.bench_function("cursor", |b| {
        b.iter_custom(|iters| record(iters, || Cursor::new(Vec::with_capacity(10 << 20))));
    });
    let path = std::env::temp_dir().join(format!("switchboard-bench-{}.wav", std::process::id()));
    group.bench_function("file", |b| {
        b.iter_custom(|iters| {
            record(iters, || match std::fs::File::create(&path) {
                Ok(file) => file,
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            })
        });
    });
    let _ = std::fs::remove_file(&path);
    group.finish();
}

criterion_group!(benches, bench_recorder);
criterion_main!(benches);
