//! The jitter buffer's cost per packet: one `push` and the `pop` drain that follows it, in a
//! steady 20 ms stream and in one with 5 % loss and 5 % reordering, on a virtual clock that
//! runs on forever (sequence numbers and timestamps wrap along the way).
//!
//! What to read from it: every packet that is decoded (transcoding, recording, in-band DTMF)
//! pays this once, on top of the codec; it should stay far below a G.711 frame's cost.
//! Times are this thread's CPU time, not wall time (see `ThreadCpuTime`).

mod common;

use std::time::{Duration, Instant};

use common::ThreadCpuTime;
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use switchboard_media::jitter::{JitterBuffer, JitterConfig, Popped};

/// Packets in one cycle of the arrival pattern.
const CYCLE: u64 = 1_000;

/// One cycle of arrivals: (packet index within the cycle, extra delay in µs), in arrival
/// order. `impaired`: 5 % of packets dropped, 5 % delayed by 30 ms (arriving after the next
/// one or two), from a fixed pseudo-random sequence; otherwise every packet on time.
fn pattern(impaired: bool) -> Vec<(u64, u64)> {
    let mut x: u32 = 0x1234_5678;
    let mut events: Vec<(u64, u64)> = Vec::new();
    for i in 0..CYCLE {
        // xorshift32: a fixed, dependency-free pseudo-random sequence.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let r = x % 100;
        if impaired && r < 5 {
            continue;
        }
        let extra = if impaired && r < 10 { 30_000 } else { 0 };
        events.push((i, extra));
    }
    events.sort_by_key(|&(i, extra)| i * 20_000 + extra);
    events
}

struct Feed {
    jb: JitterBuffer,
    t0: Instant,
    events: Vec<(u64, u64)>,
    n: u64,
    payload: [u8; 160],
}

impl Feed {
    fn new(impaired: bool) -> Self {
        let jb = match JitterBuffer::new(JitterConfig::voice(8_000, 160)) {
            Ok(jb) => jb,
            Err(e) => panic!("{e}"),
        };
        Self {
            jb,
            t0: Instant::now(),
            events: pattern(impaired),
            n: 0,
            payload: [0xD5; 160],
        }
    }

    /// Pushes the next packet and drains what is due at its arrival; returns the items.
    fn step(&mut self) -> usize {
        let len = self.events.len() as u64;
        let (cycle, k) = (self.n / len, self.n % len);
        self.n += 1;
        let (i, extra) = self.events[usize::try_from(k).unwrap_or(0)];
        let index = cycle * CYCLE + i;
        let at = self.t0 + Duration::from_micros(index * 20_000 + 10_000 + extra);
        #[allow(clippy::cast_possible_truncation)] // RTP numbers wrap: that is the point
        let (seq, ts) = (index as u16, (index * 160) as u32);
        self.jb
            .push(at, seq, ts, 0x5EED, i == 0 && cycle == 0, &self.payload);
        let mut items = 0;
        while let Some(item) = self.jb.pop(at) {
            if let Popped::Packet { payload, .. } = item {
                black_box(payload);
            }
            items += 1;
        }
        items
    }
}

fn bench_jitter(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("jitter_per_packet");
    g.throughput(Throughput::Elements(1));
    for (name, impaired) in [("steady", false), ("loss5_reorder5", true)] {
        let mut feed = Feed::new(impaired);
        // Warm up past the start so the measurement is of the steady state.
        for _ in 0..CYCLE {
            feed.step();
        }
        g.bench_function(name, |b| b.iter(|| feed.step()));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::thread_cpu_config();
    targets = bench_jitter
}
criterion_main!(benches);
