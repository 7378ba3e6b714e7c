//! A virtual-clock harness for the jitter buffer: a sender emitting 20 ms packets at 8 kHz on
//! its own clock, a network that delays, drops, duplicates or reorders them, and a media
//! worker ticking every 20 ms and draining `pop`. Everything is a function of the scenario;
//! time is a fixed `Instant` plus offsets.

#![allow(dead_code)] // each test binary uses a different subset

use std::time::{Duration, Instant};

use switchboard_media::jitter::{JitterBuffer, JitterConfig, Popped, PushOutcome};

/// RTP ticks per 20 ms packet at 8 kHz.
pub const FRAME: u32 = 160;

/// One packet on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub marker: bool,
    /// Arrival, in microseconds after the start.
    pub arrival_us: u64,
}

/// What the worker got from one `pop`, and at which tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    Packet {
        tick: u64,
        ts: u32,
        marker: bool,
        len: usize,
    },
    Lost {
        tick: u64,
        ts: u32,
        ticks: u32,
    },
}

impl Out {
    pub fn tick(&self) -> u64 {
        match *self {
            Out::Packet { tick, .. } | Out::Lost { tick, .. } => tick,
        }
    }
}

/// Packets `0..n` of a stream: seq and ts from `seq0`/`ts0`, sent every `interval_us`
/// microseconds (20,000 for a sender whose clock agrees with ours), each arriving `delay_us`
/// after it was sent. The first packet has the marker bit.
pub fn stream(n: u32, seq0: u16, ts0: u32, interval_us: f64, delay_us: u64) -> Vec<Packet> {
    (0..n)
        .map(|i| Packet {
            seq: seq0.wrapping_add(i as u16),
            ts: ts0.wrapping_add(i * FRAME),
            ssrc: 0x1234_5678,
            marker: i == 0,
            arrival_us: (f64::from(i) * interval_us).round() as u64 + delay_us,
        })
        .collect()
}

/// Runs `packets` (pushed in arrival order; equal arrivals in list order) through a buffer,
/// ticking every 20 ms from 0 up to `duration_ms`, draining `pop` at each tick. Packets that
/// arrive at a tick's instant are pushed before it pops.
pub struct Run {
    pub out: Vec<Out>,
    pub outcomes: Vec<(Packet, PushOutcome)>,
    pub jb: JitterBuffer,
    /// Largest number of packets buffered at any tick.
    pub max_buffered: usize,
}

pub fn run(cfg: JitterConfig, packets: &[Packet], duration_ms: u64) -> Run {
    let t0 = Instant::now();
    let at = |us: u64| t0 + Duration::from_micros(us);
    let mut jb = JitterBuffer::new(cfg).expect("config");
    let mut order: Vec<usize> = (0..packets.len()).collect();
    order.sort_by_key(|&i| (packets[i].arrival_us, i));
    let mut next = 0;
    let (mut out, mut outcomes) = (Vec::new(), Vec::new());
    let mut max_buffered = 0;
    let payload = [0x55_u8; 160];
    for tick in 0..=duration_ms / 20 {
        let now_us = tick * 20_000;
        while next < order.len() && packets[order[next]].arrival_us <= now_us {
            let p = packets[order[next]];
            let o = jb.push(at(p.arrival_us), p.seq, p.ts, p.ssrc, p.marker, &payload);
            outcomes.push((p, o));
            next += 1;
        }
        max_buffered = max_buffered.max(jb.stats().buffered);
        while let Some(item) = jb.pop(at(now_us)) {
            out.push(match item {
                Popped::Packet {
                    ts,
                    marker,
                    payload,
                } => Out::Packet {
                    tick,
                    ts,
                    marker,
                    len: payload.len(),
                },
                Popped::Lost { ts, ticks } => Out::Lost { tick, ts, ticks },
            });
        }
    }
    Run {
        out,
        outcomes,
        jb,
        max_buffered,
    }
}

impl Run {
    /// Timestamps of the packets played, in order.
    pub fn played(&self) -> Vec<u32> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Out::Packet { ts, .. } => Some(*ts),
                Out::Lost { .. } => None,
            })
            .collect()
    }

    /// Timestamps of the lost items that a packet followed, in order (not the concealment at
    /// the end of the stream, see [`Self::tail`]).
    pub fn lost(&self) -> Vec<u32> {
        self.out[..self.out.len() - self.tail().len()]
            .iter()
            .filter_map(|o| match o {
                Out::Lost { ts, .. } => Some(*ts),
                Out::Packet { .. } => None,
            })
            .collect()
    }

    /// The `Lost` items after the last packet: the buffer concealing up to three frames after
    /// the stream stopped, before it declares an underrun.
    pub fn tail(&self) -> &[Out] {
        let last_packet = self
            .out
            .iter()
            .rposition(|o| matches!(o, Out::Packet { .. }))
            .map_or(0, |i| i + 1);
        &self.out[last_packet..]
    }

    pub fn outcome(&self, seq: u16) -> Vec<PushOutcome> {
        self.outcomes
            .iter()
            .filter(|(p, _)| p.seq == seq)
            .map(|(_, o)| *o)
            .collect()
    }

    /// Items yielded at each tick, for ticks `from..to`.
    pub fn per_tick(&self, from: u64, to: u64) -> Vec<usize> {
        (from..to)
            .map(|t| self.out.iter().filter(|o| o.tick() == t).count())
            .collect()
    }
}
