//! The N-way mixer per 20 ms tick at 8 kHz: every party sends a frame, then one `mix`. Three
//! parties is a supervised call (listen mode: the general path) or a small conference (the
//! everyone-hears-everyone path); ten parties is a conference.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use switchboard_media::mixer::{Mixer, PartyId, SupervisorMode};

const FRAME: usize = 160;

/// A mixer with `n` parties and a distinct frame for each.
fn conference(n: usize) -> (Mixer, Vec<PartyId>, Vec<Vec<i16>>) {
    let mut mixer = Mixer::new(FRAME);
    let ids: Vec<PartyId> = (0..n).filter_map(|_| mixer.add_party().ok()).collect();
    let frames = (0..n)
        .map(|k| {
            (0..FRAME)
                .map(|i| i16::try_from((i * 37 + k * 1_009) % 8_000).unwrap_or(0) - 4_000)
                .collect()
        })
        .collect();
    (mixer, ids, frames)
}

fn tick(mixer: &mut Mixer, ids: &[PartyId], frames: &[Vec<i16>]) {
    for (id, frame) in ids.iter().zip(frames) {
        let _ = mixer.set_input(*id, black_box(frame));
    }
    mixer.mix();
    for id in ids {
        let _ = black_box(mixer.output(*id));
    }
}

fn bench_mixer(c: &mut Criterion) {
    let mut group = c.benchmark_group("mixer_20ms_tick");
    for n in [3, 10] {
        let (mut mixer, ids, frames) = conference(n);
        group.bench_function(format!("conference_{n}"), |b| {
            b.iter(|| tick(&mut mixer, &ids, &frames));
        });
    }
    let (mut mixer, ids, frames) = conference(3);
    let _ = mixer.supervise(ids[0], ids[1], ids[2], SupervisorMode::Listen);
    group.bench_function("supervisor_listen_3", |b| {
        b.iter(|| tick(&mut mixer, &ids, &frames));
    });
    group.finish();
}

criterion_group!(benches, bench_mixer);
criterion_main!(benches);
