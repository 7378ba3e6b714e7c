//! The jitter buffer on a virtual clock, one network condition per test, with exact
//! expectations derived in the comments. Default voice configuration throughout: 8 kHz, 20 ms
//! packets, delay 40–300 ms, 32 slots. The worker ticks every 20 ms from t = 0; packets are
//! sent every 20 ms from t = 0 and take 10 ms to arrive unless a test says otherwise, so packet
//! `i` arrives at `20 i + 10` ms and, with the initial 40 ms delay, is due at `20 i + 50` ms and
//! played at tick `i + 3` (t = `20 i + 60` ms).

mod jitter_support;

use std::time::{Duration, Instant};

use jitter_support::{FRAME, Out, Packet, run, stream};
use switchboard_media::jitter::{
    JitterBuffer, JitterConfig, JitterError, MAX_PAYLOAD, Popped, PushOutcome,
};

fn voice() -> JitterConfig {
    JitterConfig::voice(8_000, FRAME)
}

/// `n` packets from seq 1,000 / ts 5,000, on time.
fn steady(n: u32) -> Vec<Packet> {
    stream(n, 1_000, 5_000, 20_000.0, 10_000)
}

fn ts_of(i: u32) -> u32 {
    5_000 + i * FRAME
}

#[test]
fn steady_stream_plays_every_packet_once_on_schedule() {
    let r = run(voice(), &steady(100), 2_200);
    let mut expected: Vec<Out> = (0..100)
        .map(|i| Out::Packet {
            tick: u64::from(i) + 3,
            ts: ts_of(i),
            marker: i == 0,
            len: 160,
        })
        .collect();
    // After the last packet (tick 102) the buffer cannot tell a loss burst from the end:
    // it conceals three frames, then runs dry and yields nothing more.
    expected.extend((100..103).map(|i| Out::Lost {
        tick: u64::from(i) + 3,
        ts: ts_of(i),
        ticks: FRAME,
    }));
    assert_eq!(r.out, expected);
    let s = r.jb.stats();
    assert_eq!(s.delay, Duration::from_millis(40));
    assert_eq!(s.target, Duration::from_millis(40));
    // The three concealed frames at the end are not counted as lost: no packet followed.
    assert_eq!(
        (
            s.accepted,
            s.lost,
            s.late,
            s.frames_dropped,
            s.frames_inserted
        ),
        (100, 0, 0, 0, 0)
    );
    assert_eq!(s.underruns, 1);
    assert!(r.max_buffered <= 3);
}

#[test]
fn a_sender_that_stops_gets_no_endless_loss_and_resumes_cleanly() {
    // 50 packets, then 10 s of nothing, then 50 more whose timestamps kept counting (the
    // sender was silent, not confused) and whose first one has the marker.
    let mut packets = steady(50);
    let mut more = stream(50, 1_050, ts_of(550), 20_000.0, 10_000 + 550 * 20_000);
    more[0].marker = true;
    packets.extend(more);
    let r = run(voice(), &packets, 13_000);
    let ticks = |packets: bool| -> Vec<u64> {
        r.out
            .iter()
            .filter(|o| matches!(o, Out::Packet { .. }) == packets)
            .map(Out::tick)
            .collect()
    };
    // First burst at ticks 3..=52; the second starts 40 ms after its first arrival (11,010 ms
    // → due 11,050 → tick 553) and runs to tick 602.
    assert_eq!(ticks(true), (3..=52).chain(553..=602).collect::<Vec<_>>());
    // After each, three concealed frames, then nothing: 10 s of silence are 500 ticks of
    // nothing, not 500 lost frames.
    assert_eq!(ticks(false), vec![53, 54, 55, 603, 604, 605]);
    let s = r.jb.stats();
    assert_eq!((s.underruns, s.lost), (2, 0), "a pause is not loss");
}

#[test]
fn each_missing_packet_is_one_lost_frame_at_its_time() {
    let packets: Vec<Packet> = steady(100)
        .into_iter()
        .filter(|p| ![1_010, 1_011, 1_030].contains(&p.seq))
        .collect();
    let r = run(voice(), &packets, 2_200);
    let before_the_end = &r.out[..r.out.len() - r.tail().len()];
    assert_eq!(
        before_the_end
            .iter()
            .filter(|o| matches!(o, Out::Lost { .. }))
            .copied()
            .collect::<Vec<_>>(),
        vec![
            Out::Lost {
                tick: 13,
                ts: ts_of(10),
                ticks: FRAME
            },
            Out::Lost {
                tick: 14,
                ts: ts_of(11),
                ticks: FRAME
            },
            Out::Lost {
                tick: 33,
                ts: ts_of(30),
                ticks: FRAME
            },
        ]
    );
    assert_eq!(r.played().len(), 97);
    assert_eq!(r.jb.stats().lost, 3);
}

#[test]
fn reordering_within_the_delay_is_undone() {
    let mut packets = steady(100);
    // Packet 5 (normally at 110 ms) arrives at 135 ms, after packet 6 (130 ms) but before it
    // is due (150 ms).
    packets[5].arrival_us = 135_000;
    let r = run(voice(), &packets, 2_200);
    assert_eq!(r.played(), (0..100).map(ts_of).collect::<Vec<_>>());
    assert_eq!(r.outcome(1_005), vec![PushOutcome::Accepted]);
    let s = r.jb.stats();
    assert_eq!((s.reordered, s.lost, s.late), (1, 0, 0));
}

#[test]
fn duplicates_are_dropped_whether_buffered_or_played() {
    let mut packets = steady(100);
    // Packet 7 twice at once, and packet 3 again half a second after it was played.
    packets.push(packets[7]);
    let mut again = packets[3];
    again.arrival_us = 600_000;
    packets.push(again);
    let r = run(voice(), &packets, 2_200);
    assert_eq!(
        r.outcome(1_007),
        vec![PushOutcome::Accepted, PushOutcome::Duplicate]
    );
    assert_eq!(
        r.outcome(1_003),
        vec![PushOutcome::Accepted, PushOutcome::Duplicate]
    );
    assert_eq!(r.played(), (0..100).map(ts_of).collect::<Vec<_>>());
    assert_eq!(r.jb.stats().duplicate, 2);
    // A different sequence number with a buffered timestamp is a duplicate too.
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(voice()).expect("config");
    assert_eq!(jb.push(t0, 1, 0, 9, false, &[1]), PushOutcome::Accepted);
    assert_eq!(jb.push(t0, 2, 0, 9, false, &[2]), PushOutcome::Duplicate);
}

#[test]
fn a_packet_later_than_the_delay_is_concealed_then_dropped() {
    let mut packets = steady(100);
    // Packet 12 is due at 290 ms (tick 15) but arrives at 350 ms.
    packets[12].arrival_us = 350_000;
    let r = run(voice(), &packets, 2_200);
    assert_eq!(r.lost(), vec![ts_of(12)]);
    assert_eq!(r.outcome(1_012), vec![PushOutcome::TooLate]);
    let s = r.jb.stats();
    assert_eq!((s.late, s.lost), (1, 1));
    // The late packet made two 100 ms steps in transit (up, then down with packet 13), which
    // lift J to 12 ms: target 48 ms, not half a frame above the 40 ms delay, so one late
    // packet does not make the buffer insert a frame.
    assert_eq!(s.frames_inserted, 0);
}

#[test]
fn sequence_and_timestamp_wrap_are_seamless() {
    // Sequence numbers 65,500 → 63 and timestamps crossing 2³² after ten packets.
    let ts0 = u32::MAX - 10 * FRAME + 1;
    let packets = stream(100, 65_500, ts0, 20_000.0, 10_000);
    let r = run(voice(), &packets, 2_200);
    let expected: Vec<u32> = (0..100).map(|i| ts0.wrapping_add(i * FRAME)).collect();
    assert_eq!(r.played(), expected);
    let s = r.jb.stats();
    assert_eq!(
        (s.lost, s.late, s.resets, s.reordered, s.duplicate),
        (0, 0, 0, 0, 0)
    );
}

#[test]
fn an_ssrc_change_flushes_and_restarts() {
    let mut packets = steady(50);
    // Another source takes over at 1,010 ms: unrelated numbering.
    let mut b = stream(50, 7, 900_000, 20_000.0, 50 * 20_000 + 10_000);
    for p in &mut b {
        p.ssrc = 0xBEEF;
    }
    packets.extend(b);
    let r = run(voice(), &packets, 2_500);
    assert_eq!(r.outcome(7), vec![PushOutcome::Reset]);
    // At 1,010 ms packets 48 and 49 of the old source were still waiting (due 1,010 and
    // 1,030 ms, past the tick at 1,000): the flush drops them. The new source plays from its
    // first packet, 40 ms after it arrived.
    let mut expected: Vec<u32> = (0..48).map(ts_of).collect();
    expected.extend((0..50).map(|i| 900_000 + i * FRAME));
    assert_eq!(r.played(), expected);
    let s = r.jb.stats();
    assert_eq!((s.resets, s.lost), (1, 0));
}

#[test]
fn a_timestamp_jump_forward_resyncs_on_the_second_packet() {
    let mut packets = steady(100);
    // From packet 50 on the sender's timestamps jump 10 s ahead, sequence numbers do not.
    for p in &mut packets[50..] {
        p.ts = p.ts.wrapping_add(80_000);
    }
    let r = run(voice(), &packets, 2_500);
    // One odd packet could be corruption: it is dropped; the second confirms the jump.
    assert_eq!(r.outcome(1_050), vec![PushOutcome::TooEarly]);
    assert_eq!(r.outcome(1_051), vec![PushOutcome::Reset]);
    // Packet 49 was still waiting when 51 arrived (1,030 ms): flushed.
    let mut expected: Vec<u32> = (0..49).map(ts_of).collect();
    expected.extend((51..100).map(|i| ts_of(i) + 80_000));
    assert_eq!(r.played(), expected);
    let s = r.jb.stats();
    assert_eq!((s.too_early, s.resets, s.lost), (1, 1, 0));
}

#[test]
fn a_timestamp_jump_backward_resyncs_on_the_second_packet() {
    let mut packets = steady(100);
    for p in &mut packets[50..] {
        p.ts = p.ts.wrapping_sub(80_000);
    }
    let r = run(voice(), &packets, 2_500);
    assert_eq!(r.outcome(1_050), vec![PushOutcome::TooLate]);
    assert_eq!(r.outcome(1_051), vec![PushOutcome::Reset]);
    let mut expected: Vec<u32> = (0..49).map(ts_of).collect();
    expected.extend((51..100).map(|i| ts_of(i).wrapping_sub(80_000)));
    assert_eq!(r.played(), expected);
    assert_eq!(r.jb.stats().lost, 0);
}

/// `n` packets from a sender whose clock runs `factor` times ours.
fn drifting(factor: f64, n: u32) -> jitter_support::Run {
    let packets = stream(n, 0, 0, 20_000.0 / factor, 10_000);
    run(voice(), &packets, u64::from(n) * 20 + 2_000)
}

#[test]
fn a_fast_sender_clock_is_absorbed_by_dropping_single_frames() {
    // 1 % fast: 3,000 packets (60 s of audio) arrive in 59.4 s, 594 ms early. The buffer drops
    // a frame whenever the delay is a whole frame (20 ms) over target, i.e. at 20, 40, …,
    // 580 ms of excess: 29 times, and the last 14 ms stay within tolerance.
    let r = drifting(1.01, 3_000);
    let s = r.jb.stats();
    assert_eq!(s.frames_dropped, 29);
    assert_eq!(r.played().len(), 3_000 - 29);
    assert_eq!((s.late, s.lost, s.frames_inserted), (0, 0, 0));
    assert!(r.max_buffered <= 4, "buffer grew to {}", r.max_buffered);
    assert!(s.delay >= Duration::from_millis(40) && s.delay < Duration::from_millis(60));
    // 0.1 % fast for 90 s: 89.9 ms early, a drop at 20, 40, 60 and 80 ms of excess.
    let r = drifting(1.001, 4_500);
    assert_eq!(r.jb.stats().frames_dropped, 4);
    // Drops are spaced: never two in the same tick, one frame yielded per tick at most.
    assert!(r.per_tick(0, 3_100).iter().all(|&n| n <= 1));
}

#[test]
fn a_slow_sender_clock_is_absorbed_by_inserting_single_frames() {
    // 1 % slow: the 3,000 packets take 60.6 s, 606 ms late overall. The buffer conceals one
    // extra frame whenever the delay sags half a frame (10 ms) under target, i.e. at 10, 30,
    // …, 590 ms of lag: 30 times.
    let r = drifting(0.99, 3_000);
    let s = r.jb.stats();
    assert_eq!(s.frames_inserted, 30);
    assert_eq!(r.played().len(), 3_000, "no packet lost to the drift");
    assert_eq!((s.late, s.lost, s.frames_dropped), (0, 0, 0));
    // Only the end of the stream drains it.
    assert_eq!(s.underruns, 1);
    assert_eq!(
        r.lost().len(),
        30,
        "the inserted frames are the only concealment"
    );
}

#[test]
fn a_burst_after_a_stall_resumes_playout_and_the_delay_is_worked_back_down() {
    // Packets 50..=59 (200 ms) are held by the network and arrive together with packet 60 at
    // 1,210 ms.
    let mut packets = steady(300);
    for p in &mut packets[50..60] {
        p.arrival_us = 60 * 20_000 + 10_000;
    }
    let r = run(voice(), &packets, 6_500);
    let s = r.jb.stats();
    // Packet 50 was due at 1,050 ms (tick 53) and nothing was buffered: the buffer conceals
    // three frames (ticks 53-55), then runs dry (underrun 1 of 2; the other is the end of the
    // stream) and yields nothing until the burst comes.
    assert_eq!(s.underruns, 2);
    assert_eq!(r.per_tick(53, 63), vec![1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
    // Of the burst, 50-52 were concealed already: late. Playout restarts on 53 with
    // `min_delay` after its arrival; 53 took 150 ms where the fastest packets take 10, so the
    // delay becomes 140 + 40 = 180 ms, which keeps all the rest of the burst; then the buffer
    // brings it back to the 40 ms target by dropping 7 frames, one per 10 frames.
    assert_eq!((s.late, s.lost, s.accepted), (3, 0, 297));
    assert_eq!(s.frames_dropped, 7);
    assert_eq!(r.played().len(), 300 - 3 - 7);
    assert!(
        r.per_tick(0, 330).iter().all(|&n| n <= 1),
        "no frame played twice as fast"
    );
    assert_eq!(s.delay, Duration::from_millis(40));
}

#[test]
fn the_delay_follows_the_jitter_up_and_down_one_frame_at_a_time() {
    // Packets 100..300: every other one 60 ms late. RFC 3550 J converges to 60 ms, so the
    // target becomes 4 J = 240 ms; afterwards the network is clean again and J decays to 0.
    let mut packets = stream(800, 0, 0, 20_000.0, 10_000);
    for p in packets[100..300].iter_mut().step_by(2) {
        p.arrival_us += 60_000;
    }
    let r = run(voice(), &packets, 16_200);
    let s = r.jb.stats();
    // 40 → 240 ms is 10 inserted frames, and back is 10 dropped ones.
    assert_eq!((s.frames_inserted, s.frames_dropped), (10, 10));
    // Only the first two late packets (100 and 102) came before the delay grew: the first
    // late arrival allows the insertion without waiting for the spacing.
    assert_eq!(s.late, 2);
    assert_eq!(s.lost, 2);
    assert_eq!(r.played().len(), 800 - 2 - 10);
    assert_eq!(s.delay, Duration::from_millis(40));
    assert!(r.per_tick(0, 820).iter().all(|&n| n <= 1));
}

#[test]
fn talk_spurt_starts_absorb_delay_changes_in_their_silence() {
    // 200 packets with every other one 60 ms late (delay grows to 240 ms), then a clean
    // network and silence suppression: spurts of 8 packets (marker on the first) separated by
    // 5 frames (100 ms) of silence. Spurts are shorter than the 10-frame correction spacing,
    // so the delay can only come down at the markers, by shortening the silences.
    let mut packets = stream(200, 0, 0, 20_000.0, 10_000);
    for p in packets.iter_mut().step_by(2) {
        p.arrival_us += 60_000;
    }
    let mut frame = 200_u32;
    for spurt in 0..40_u16 {
        for j in 0..8_u16 {
            packets.push(Packet {
                seq: 200 + spurt * 8 + j,
                ts: frame * FRAME,
                ssrc: 0x1234_5678,
                marker: j == 0,
                arrival_us: u64::from(frame) * 20_000 + 10_000,
            });
            frame += 1;
        }
        frame += 5;
    }
    let r = run(voice(), &packets, u64::from(frame) * 20 + 1_000);
    let s = r.jb.stats();
    // Nothing is late or lost. Packet 0 came 60 ms late, after packet 1, which playout had
    // started on; nothing was played yet, so playout moved back to packet 0 at its arrival:
    // a 60 ms delay from the start, which the other late packets fit into while the jitter
    // estimate grew and the delay with it (8 frames inserted by the end of phase 1).
    assert_eq!((s.late, s.lost), (0, 0));
    assert_eq!(s.frames_inserted, 8);
    // In the spurts nothing is dropped, except one frame when the network turned clean under
    // 240 ms of queued audio (the target fell while phase 1 was still playing out).
    assert_eq!(s.frames_dropped, 1);
    assert_eq!(r.played().len(), 200 + 320 - 1);
    // A silence the delay does not cover drains the buffer: it conceals three frames (it
    // cannot yet tell a pause from a loss), then yields nothing. Those frames are not counted
    // as lost: the packet that followed them had the marker.
    let mut run_len = 0;
    for o in &r.out {
        match o {
            Out::Lost { ts, .. } if *ts >= 200 * FRAME => run_len += 1,
            _ => run_len = 0,
        }
        assert!(
            run_len <= 3,
            "more than three frames concealed in a silence"
        );
    }
    assert!(r.per_tick(0, u64::from(frame) + 50).iter().all(|&n| n <= 1));
    assert_eq!(s.delay, Duration::from_millis(40));
}

#[test]
fn overflow_and_oversized_payloads_are_refused() {
    let cfg = JitterConfig {
        capacity: 4,
        ..voice()
    };
    let mut jb = JitterBuffer::new(cfg).expect("config");
    let t0 = Instant::now();
    for i in 0..4_u16 {
        let outcome = jb.push(t0, i, u32::from(i) * FRAME, 1, i == 0, &[0; 160]);
        assert_eq!(outcome, PushOutcome::Accepted);
    }
    assert_eq!(
        jb.push(t0, 4, 4 * FRAME, 1, false, &[0; 160]),
        PushOutcome::Overflow
    );
    assert_eq!(
        jb.push(t0, 5, 5 * FRAME, 1, false, &[0; MAX_PAYLOAD + 1]),
        PushOutcome::Overflow
    );
    assert_eq!(jb.stats().overflow, 2);
    assert_eq!(jb.stats().buffered, 4);
}

#[test]
fn nothing_before_the_first_packet_and_next_due_tells_when() {
    let mut jb = JitterBuffer::new(voice()).expect("config");
    let t0 = Instant::now();
    assert!(jb.pop(t0).is_none());
    assert!(jb.next_due().is_none());
    assert_eq!(
        jb.push(t0, 9, 1_000, 1, true, b"abc"),
        PushOutcome::Accepted
    );
    assert_eq!(jb.next_due(), Some(t0 + Duration::from_millis(40)));
    assert!(jb.pop(t0 + Duration::from_millis(39)).is_none());
    assert_eq!(
        jb.pop(t0 + Duration::from_millis(40)),
        Some(Popped::Packet {
            ts: 1_000,
            marker: true,
            payload: b"abc"
        })
    );
    assert!(jb.pop(t0 + Duration::from_millis(40)).is_none());
}

#[test]
fn invalid_configurations_are_errors() {
    let bad =
        |cfg: JitterConfig| matches!(JitterBuffer::new(cfg), Err(JitterError::InvalidConfig(_)));
    assert!(bad(JitterConfig {
        clock_rate: 0,
        ..voice()
    }));
    assert!(bad(JitterConfig {
        frame_ticks: 0,
        ..voice()
    }));
    assert!(bad(JitterConfig {
        frame_ticks: 9_000,
        ..voice()
    }));
    assert!(bad(JitterConfig {
        capacity: 1,
        ..voice()
    }));
    assert!(bad(JitterConfig {
        min_delay: Duration::from_millis(500),
        ..voice()
    }));
    assert!(bad(JitterConfig {
        max_delay: Duration::from_secs(11),
        ..voice()
    }));
    assert!(JitterBuffer::new(JitterConfig::voice(48_000, 960)).is_ok());
}
