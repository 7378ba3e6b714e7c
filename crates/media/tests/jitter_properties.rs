//! Jitter buffer invariants under arbitrary input: any sequence of pushes and pops (random
//! sequence numbers, timestamps, SSRCs, sizes and times) never panics, keeps memory within its
//! bounds, yields packets in order and each at most once, and never conceals over a played
//! packet; and a realistic network (random delay within the minimum delay, loss, duplicates)
//! gets no packet late and every packet that arrived played exactly once, with one `Lost` per
//! missing one (unless a delay correction intervened, whose effect is bounded).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use switchboard_media::jitter::{JitterBuffer, JitterConfig, MAX_PAYLOAD, Popped};

#[derive(Debug, Clone)]
enum Op {
    /// A packet `dt_us` after the previous event, its fields moved by the deltas.
    Push {
        dt_us: u32,
        seq_delta: u16,
        ts_delta: u32,
        new_ssrc: bool,
        marker: bool,
        len: usize,
    },
    /// A drain of `pop` `dt_us` after the previous event.
    Pop { dt_us: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    let push = (
        0_u32..60_000,
        prop_oneof![8 => Just(1_u16), 1 => any::<u16>(), 1 => 0_u16..5],
        prop_oneof![
            8 => Just(160_u32),
            1 => any::<u32>(),
            1 => (0_u32..2_000).prop_map(|d| d.wrapping_sub(1_000)),
        ],
        prop::bool::weighted(0.02),
        prop::bool::weighted(0.05),
        prop_oneof![9 => 0_usize..200, 1 => 0_usize..2_000],
    )
        .prop_map(
            |(dt_us, seq_delta, ts_delta, new_ssrc, marker, len)| Op::Push {
                dt_us,
                seq_delta,
                ts_delta,
                new_ssrc,
                marker,
                len,
            },
        );
    prop_oneof![2 => push, 1 => (0_u32..40_000).prop_map(|dt_us| Op::Pop { dt_us })]
}

fn config() -> impl Strategy<Value = JitterConfig> {
    (
        prop_oneof![
            Just((8_000_u32, 160_u32)),
            Just((48_000, 960)),
            Just((16_000, 320))
        ],
        0_u64..100,
        0_u64..400,
        2_usize..40,
    )
        .prop_map(
            |((clock_rate, frame_ticks), min, extra, capacity)| JitterConfig {
                clock_rate,
                frame_ticks,
                min_delay: Duration::from_millis(min),
                max_delay: Duration::from_millis(min + extra),
                capacity,
            },
        )
}

/// Per-epoch (between resets) record of what was yielded.
#[derive(Default)]
struct Seen {
    epoch: u64,
    packets: HashSet<u32>,
    last_packet: Option<u32>,
    /// A `Lost` yielded since the last packet: (ts, ticks, was an insertion).
    last_lost: Option<(u32, u32, bool)>,
}

/// `a` after `b` in RTP timestamp order (RFC 3550 wrapping comparison).
fn after(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_sequence_of_pushes_and_pops_keeps_the_invariants(
        cfg in config(),
        ops in prop::collection::vec(op(), 1..300),
        seq0 in any::<u16>(),
        ts0 in any::<u32>(),
    ) {
        let mut jb = JitterBuffer::new(cfg).expect("valid config");
        let t0 = Instant::now();
        let (mut t_us, mut seq, mut ts, mut ssrc) = (0_u64, seq0, ts0, 1_u32);
        let payload = vec![0xAB_u8; 2_000];
        let mut seen = Seen::default();
        let max_pkt_ticks = cfg.clock_rate * 120 / 1_000;
        for op in ops {
            match op {
                Op::Push { dt_us, seq_delta, ts_delta, new_ssrc, marker, len } => {
                    t_us += u64::from(dt_us);
                    seq = seq.wrapping_add(seq_delta);
                    ts = ts.wrapping_add(ts_delta);
                    if new_ssrc {
                        ssrc = ssrc.wrapping_add(1);
                    }
                    let now = t0 + Duration::from_micros(t_us);
                    let _ = jb.push(now, seq, ts, ssrc, marker, &payload[..len]);
                }
                Op::Pop { dt_us } => {
                    t_us += u64::from(dt_us);
                    let now = t0 + Duration::from_micros(t_us);
                    let mut yielded = 0;
                    loop {
                        let before = jb.stats();
                        if before.resets != seen.epoch {
                            seen = Seen { epoch: before.resets, ..Seen::default() };
                        }
                        let item = match jb.pop(now) {
                            Some(Popped::Packet { ts, marker: _, payload }) => {
                                prop_assert!(payload.len() <= MAX_PAYLOAD);
                                Ok(ts)
                            }
                            Some(Popped::Lost { ts, ticks }) => Err((ts, ticks)),
                            None => break,
                        };
                        let inserted = jb.stats().frames_inserted > before.frames_inserted;
                        match item {
                            Ok(ts) => {
                                prop_assert!(seen.packets.insert(ts), "ts {ts} yielded twice");
                                if let Some(prev) = seen.last_packet {
                                    prop_assert!(after(ts, prev), "{ts} after {prev}");
                                }
                                if let Some((lts, lticks, ins)) = seen.last_lost {
                                    let end = if ins { lts } else { lts.wrapping_add(lticks) };
                                    prop_assert!(ts == end || after(ts, end),
                                        "packet {ts} inside concealed {lts}+{lticks}");
                                }
                                seen.last_packet = Some(ts);
                                seen.last_lost = None;
                            }
                            Err((lts, ticks)) => {
                                prop_assert!(ticks > 0 && ticks <= max_pkt_ticks.max(cfg.frame_ticks));
                                if let Some(prev) = seen.last_packet {
                                    prop_assert!(after(lts, prev), "lost {lts} over packet {prev}");
                                }
                                seen.last_lost = Some((lts, ticks, inserted));
                            }
                        }
                        yielded += 1;
                        // Everything due is yielded one item per call, and a drain is bounded:
                        // each buffered packet, each gap before one concealed in frames of at
                        // least 2.5 ms up to `max_delay` (longer gaps are skipped), three
                        // frames with nothing buffered, and inserted frames.
                        let rate = u64::from(cfg.clock_rate);
                        let max_ticks = cfg.max_delay.as_millis() as u64 * rate / 1_000;
                        let min_frame = (rate / 400).min(u64::from(cfg.frame_ticks)).max(1);
                        let bound = (cfg.capacity as u64 + 1) * (max_ticks / min_frame + 3) + 3;
                        prop_assert!(yielded <= bound, "endless drain: {yielded} > {bound}");
                    }
                }
            }
            let s = jb.stats();
            prop_assert!(s.buffered <= cfg.capacity);
            prop_assert!(jb.payload_bytes() <= cfg.capacity * MAX_PAYLOAD.max(256));
        }
    }

    #[test]
    fn a_realistic_network_gets_every_arrived_packet_played_once(
        mut delays_ms in prop::collection::vec(0_u64..30, 200),
        mut lost in prop::collection::vec(prop::bool::weighted(0.05), 200),
        mut dup in prop::collection::vec(prop::bool::weighted(0.03), 200),
        seq0 in any::<u16>(),
        ts0 in any::<u32>(),
    ) {
        // Network delay 10–40 ms (jitter below 30 ms) and a 60 ms minimum delay: nothing can be
        // late, so what arrives is played and what does not is concealed.
        let cfg = JitterConfig { min_delay: Duration::from_millis(60), ..JitterConfig::voice(8_000, 160) };
        // The first packet arrives first and fastest (it anchors playout), and no loss burst
        // exceeds three packets (beyond that, with nothing buffered, the buffer declares an
        // underrun and restarts rather than concealing: a different, tested, behaviour).
        (delays_ms[0], lost[0], dup[0]) = (0, false, false);
        for i in 3..200 {
            if lost[i - 3] && lost[i - 2] && lost[i - 1] {
                lost[i] = false;
            }
        }
        let mut jb = JitterBuffer::new(cfg).expect("config");
        let t0 = Instant::now();
        let mut arrivals: Vec<(u64, usize)> = Vec::new();
        for i in 0..200 {
            if lost[i] {
                continue;
            }
            let at = i as u64 * 20 + 10 + delays_ms[i];
            arrivals.push((at, i));
            if dup[i] {
                arrivals.push((at + 5, i));
            }
        }
        arrivals.sort_unstable();
        let ts_of = |i: usize| ts0.wrapping_add(160 * i as u32);
        let (mut played, mut concealed) = (Vec::new(), Vec::new());
        let mut next = 0;
        for tick in 0..220_u64 {
            while next < arrivals.len() && arrivals[next].0 <= tick * 20 {
                let (at, i) = arrivals[next];
                let now = t0 + Duration::from_millis(at);
                let _ = jb.push(now, seq0.wrapping_add(i as u16), ts_of(i), 7, i == 0, &[0; 160]);
                next += 1;
            }
            while let Some(item) = jb.pop(t0 + Duration::from_millis(tick * 20)) {
                match item {
                    Popped::Packet { ts, .. } => played.push(ts),
                    Popped::Lost { ts, ticks } => {
                        prop_assert_eq!(ticks, 160);
                        concealed.push(ts);
                    }
                }
            }
        }
        let arrived: Vec<usize> = {
            let mut v: Vec<usize> = arrivals.iter().map(|&(_, i)| i).collect();
            v.dedup();
            v.sort_unstable();
            v.dedup();
            v
        };
        let s = jb.stats();
        prop_assert_eq!(s.late, 0);
        // Played: arrived packets, in order, once each; only a delay correction (dropping a
        // frame when the jitter estimate falls again) may leave one out.
        let expected_played: Vec<u32> = arrived.iter().map(|&i| ts_of(i)).collect();
        let mut sorted = played.clone();
        sorted.dedup();
        prop_assert_eq!(sorted.len(), played.len(), "a packet played twice");
        prop_assert!(played.iter().all(|ts| expected_played.contains(ts)));
        prop_assert!(
            (expected_played.len() - played.len()) as u64 <= s.frames_dropped,
            "{} of {} packets not played, {} drops",
            expected_played.len() - played.len(), expected_played.len(), s.frames_dropped
        );
        // Concealed, before the three frames after the last packet: each packet lost in the
        // network, plus the inserted frames when the jitter estimate grew.
        let last = arrived[arrived.len() - 1];
        let expected_lost: Vec<u32> = (0..last).filter(|&i| lost[i]).map(ts_of).collect();
        let end = ts_of(last);
        let before_end: Vec<u32> = concealed
            .iter()
            .copied()
            .filter(|&ts| ts.wrapping_sub(end) >= 0x8000_0000)
            .collect();
        if s.frames_dropped == 0 && s.frames_inserted == 0 {
            prop_assert_eq!(&played, &expected_played);
            prop_assert_eq!(&before_end, &expected_lost);
        } else {
            prop_assert!(before_end.len() as u64 <= expected_lost.len() as u64 + s.frames_inserted);
        }
        prop_assert_eq!(concealed.len() - before_end.len(), 3);
        let dups = (0..200).filter(|&i| dup[i] && !lost[i]).count() as u64;
        prop_assert_eq!(s.duplicate, dups);
    }
}
