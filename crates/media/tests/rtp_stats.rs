//! Receiver and sender statistics, one test per rule of RFC 3550 A.1 (probation, dropout,
//! misorder, restart), A.3 (loss, fraction) and A.8 (jitter), with the exact numbers the RFC's
//! algorithm gives, on a virtual clock.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use switchboard_media::rtp::{PayloadType, RtpHeader, SeqNo, Ssrc};
use switchboard_media::stats::{ReceiverStats, SenderStats, SeqVerdict};

fn header(seq: u16, ts: u32) -> RtpHeader {
    RtpHeader {
        marker: false,
        payload_type: PayloadType::PCMA,
        sequence: seq,
        timestamp: ts,
        ssrc: Ssrc(0xA),
    }
}

/// Feeds `seqs` 20 ms apart, with timestamps following the sequence numbers (160 per packet).
fn feed(rx: &mut ReceiverStats, start: Instant, seqs: &[u16]) -> Vec<SeqVerdict> {
    seqs.iter()
        .enumerate()
        .map(|(i, &s)| {
            rx.record(
                start + Duration::from_millis(20 * i as u64),
                &header(s, u32::from(s) * 160),
            )
        })
        .collect()
}

#[test]
fn probation_needs_two_packets_in_sequence_and_the_second_is_the_base() {
    let t0 = Instant::now();
    let mut rx = ReceiverStats::new(8000);
    assert!(!rx.is_valid());
    assert_eq!(feed(&mut rx, t0, &[10]), [SeqVerdict::Probation]);
    assert!(!rx.is_valid());
    assert_eq!(rx.expected(), 0);
    assert_eq!(feed(&mut rx, t0, &[11]), [SeqVerdict::InOrder]);
    assert!(rx.is_valid());
    assert_eq!(
        (rx.expected(), rx.received(), rx.cumulative_lost()),
        (1, 1, 0)
    );
    assert_eq!(rx.extended_highest(), SeqNo(11));
}

#[test]
fn probation_restarts_on_a_gap() {
    let t0 = Instant::now();
    let mut rx = ReceiverStats::new(8000);
    // 10, then 12 (gap): still on probation; 13 follows 12 and ends it.
    assert_eq!(
        feed(&mut rx, t0, &[10, 12, 13]),
        [
            SeqVerdict::Probation,
            SeqVerdict::Probation,
            SeqVerdict::InOrder
        ]
    );
    assert_eq!((rx.expected(), rx.received()), (1, 1));
    assert_eq!(rx.extended_highest(), SeqNo(13));
}

#[test]
fn losses_are_counted_exactly_and_fraction_is_per_interval() {
    let t0 = Instant::now();
    let mut rx = ReceiverStats::new(8000);
    let seqs: Vec<u16> = (1..=100).filter(|s| ![50, 51, 70].contains(s)).collect();
    feed(&mut rx, t0, &seqs);
    // Base is 2 (1 was probation): expected 2..=100 = 99, received 96.
    assert_eq!(
        (rx.expected(), rx.received(), rx.cumulative_lost()),
        (99, 96, 3)
    );
    let r = rx.take_report();
    assert_eq!(r.cumulative_lost, 3);
    assert_eq!(r.fraction_lost, (3 * 256 / 99) as u8); // 7
    assert_eq!(r.extended_highest, 100);
    assert_eq!(r.ssrc, Ssrc(0xA));
    // Next interval: 101..=110 without 105 → 1 of 10 lost.
    let seqs: Vec<u16> = (101..=110).filter(|&s| s != 105).collect();
    feed(&mut rx, t0, &seqs);
    let r = rx.take_report();
    assert_eq!((r.cumulative_lost, r.fraction_lost), (4, 25)); // 256 / 10 = 25.6
    // An interval without loss reports 0 even though the cumulative count stays.
    feed(&mut rx, t0, &[111, 112]);
    let r = rx.take_report();
    assert_eq!((r.cumulative_lost, r.fraction_lost), (4, 0));
    // An interval with nothing at all reports 0 (expected_interval = 0).
    assert_eq!(rx.take_report().fraction_lost, 0);
}

#[test]
fn late_packets_count_as_received_not_lost() {
    let t0 = Instant::now();
    let mut rx = ReceiverStats::new(8000);
    let v = feed(&mut rx, t0, &[1, 2, 3, 5, 4, 6]);
    assert_eq!(v[3], SeqVerdict::InOrder); // 5: a gap, for now
    assert_eq!(v[4], SeqVerdict::Late);
    assert_eq!(
        (rx.late(), rx.duplicates(), rx.cumulative_lost()),
        (1, 0, 0)
    );
    assert_eq!(rx.extended_highest(), SeqNo(6));
    // 99 behind is still late; MAX_MISORDER (100) behind is a jump (RFC 3550 A.1:
    // `udelta <= RTP_SEQ_MOD - MAX_MISORDER`).
    let mut rx = ReceiverStats::new(8000);
    let mut seqs: Vec<u16> = (1000..=1200).filter(|&s| s != 1101 && s != 1100).collect();
    seqs.push(1101);
    seqs.push(1100);
    let v = feed(&mut rx, t0, &seqs);
    assert_eq!(v[v.len() - 2], SeqVerdict::Late);
    assert_eq!(v[v.len() - 1], SeqVerdict::Jump);
    assert_eq!(rx.cumulative_lost(), 1);
}

#[test]
fn duplicates_make_the_loss_negative() {
    let t0 = Instant::now();
    let mut rx = ReceiverStats::new(8000);
    let v = feed(&mut rx, t0, &[1, 2, 3, 3, 4, 2]);
    assert_eq!(v[3], SeqVerdict::Duplicate, "duplicate of the highest");
    assert_eq!(v[5], SeqVerdict::Duplicate, "duplicate of an older one");
    // Expected 2..=4 = 3, received 2, 3, 3, 4, 2 = 5.
    assert_eq!(
        (rx.expected(), rx.received(), rx.cumulative_lost()),
        (3, 5, -2)
    );
    assert_eq!(rx.duplicates(), 2);
    let r = rx.take_report();
    assert_eq!((r.cumulative_lost, r.fraction_lost), (-2, 0));
}

#[test]
fn the_sequence_wraps_at_65535_into_a_new_cycle() {
    let t0 = Instant::now();
    let mut rx = ReceiverStats::new(8000);
    let v = feed(&mut rx, t0, &[65533, 65534, 65535, 0, 1, 2]);
    assert!(v[1..].iter().all(|&x| x == SeqVerdict::InOrder));
    assert_eq!(rx.extended_highest(), SeqNo::new(1, 2));
    assert_eq!(rx.extended_highest().0, 65_538);
    assert_eq!(
        (rx.expected(), rx.received(), rx.cumulative_lost()),
        (5, 5, 0)
    );
    // A late packet from before the wrap does not undo the cycle.
    assert_eq!(feed(&mut rx, t0, &[65535]), [SeqVerdict::Duplicate]);
    assert_eq!(rx.extended_highest().0, 65_538);
    assert_eq!(rx.take_report().extended_highest, 65_538);
    // Losses across the wrap: base 65531, then 65535 and 4 (65532..=65534 and 0..=3 lost).
    let mut rx = ReceiverStats::new(8000);
    feed(&mut rx, t0, &[65530, 65531, 65535, 4]);
    assert_eq!(rx.extended_highest().0, 65_536 + 4);
    assert_eq!(
        (rx.expected(), rx.received(), rx.cumulative_lost()),
        (10, 3, 7)
    );
}

#[test]
fn a_big_jump_is_dropped_unless_the_next_packet_confirms_a_restart() {
    let t0 = Instant::now();
    let mut rx = ReceiverStats::new(8000);
    let run: Vec<u16> = (1..=1000).collect();
    feed(&mut rx, t0, &run);
    assert_eq!(rx.expected(), 999);
    // A lone stray packet far ahead: dropped, stream goes on.
    assert_eq!(
        feed(&mut rx, t0, &[40_000, 1001]),
        [SeqVerdict::Jump, SeqVerdict::InOrder]
    );
    assert_eq!(
        (rx.expected(), rx.received(), rx.cumulative_lost()),
        (1000, 1000, 0)
    );
    // The sender restarts at 40000: 40000 is dropped, 40001 confirms and re-bases there.
    assert_eq!(
        feed(&mut rx, t0, &[40_000, 40_001, 40_002]),
        [SeqVerdict::Jump, SeqVerdict::Restarted, SeqVerdict::InOrder]
    );
    assert_eq!(
        (rx.expected(), rx.received(), rx.cumulative_lost()),
        (2, 2, 0)
    );
    assert_eq!(rx.extended_highest(), SeqNo(40_002));
    // The first report after a restart starts its fraction from the restart.
    assert_eq!(rx.take_report().fraction_lost, 0);
}

#[test]
fn a_dropout_of_up_to_2999_is_loss_and_3000_is_a_jump() {
    let t0 = Instant::now();
    let mut rx = ReceiverStats::new(8000);
    feed(&mut rx, t0, &[1, 2]);
    assert_eq!(feed(&mut rx, t0, &[2 + 2999]), [SeqVerdict::InOrder]);
    assert_eq!(rx.cumulative_lost(), 2998);
    assert_eq!(feed(&mut rx, t0, &[3001 + 3000]), [SeqVerdict::Jump]);
}

#[test]
fn a_new_ssrc_is_a_new_source_on_probation() {
    let t0 = Instant::now();
    let mut rx = ReceiverStats::new(8000);
    feed(&mut rx, t0, &[1, 2, 3, 5]);
    assert_eq!(rx.cumulative_lost(), 1);
    let other = RtpHeader {
        ssrc: Ssrc(0xB),
        ..header(500, 0)
    };
    assert_eq!(rx.record(t0, &other), SeqVerdict::Probation);
    assert_eq!(rx.ssrc(), Some(Ssrc(0xB)));
    assert!(!rx.is_valid());
    assert_eq!(
        (rx.expected(), rx.received(), rx.cumulative_lost()),
        (0, 0, 0)
    );
}

#[test]
fn cumulative_loss_clamps_at_the_24_bit_maximum() {
    let t0 = Instant::now();
    let mut rx = ReceiverStats::new(8000);
    let mut seq: u16 = 0;
    feed(&mut rx, t0, &[0, 1]);
    seq = seq.wrapping_add(1);
    // Each step of 2999 loses 2998; 2900 steps lose 8,694,200 > 0x7FFFFF = 8,388,607.
    for _ in 0..2900 {
        seq = seq.wrapping_add(2999);
        assert_eq!(rx.record(t0, &header(seq, 0)), SeqVerdict::InOrder);
    }
    assert_eq!(rx.expected() - rx.received(), 2900 * 2998);
    assert_eq!(rx.cumulative_lost(), 0x7F_FFFF);
    assert_eq!(rx.take_report().cumulative_lost, 0x7F_FFFF);
}

#[test]
fn jitter_follows_the_integer_form_of_a8() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut rx = ReceiverStats::new(8000);
    // Packet 0 is probation (no jitter sample), packet 1 sets the transit time.
    rx.record(t0, &header(0, 0));
    rx.record(t0 + ms(20), &header(1, 160));
    assert_eq!(rx.jitter(), 0);
    // Packet 2 arrives 10 ms (80 units) late: |D| = 80, J = 80/16 = 5.
    rx.record(t0 + ms(50), &header(2, 320));
    assert_eq!(rx.jitter(), 5);
    // Packet 3 on time again: |D| = 80, J16 = 80 + 80 - ((80 + 8) >> 4) = 155, J = 9.
    rx.record(t0 + ms(60), &header(3, 480));
    assert_eq!(rx.jitter(), 9);
    // Perfectly periodic packets make it decay: J16 -= (J16 + 8) >> 4 each time.
    let mut j16: u64 = 155;
    for i in 4..40_u16 {
        rx.record(t0 + ms(20 * u64::from(i)), &header(i, 160 * u32::from(i)));
        j16 -= (j16 + 8) >> 4;
        assert_eq!(u64::from(rx.jitter()), j16 >> 4, "packet {i}");
    }
    assert_eq!(rx.take_report().jitter, rx.jitter());
}

#[test]
fn jitter_is_zero_for_a_perfect_stream_across_the_timestamp_wrap() {
    let t0 = Instant::now();
    let mut rx = ReceiverStats::new(8000);
    let base = u32::MAX - 1000;
    for i in 0..100_u16 {
        let ts = base.wrapping_add(160 * u32::from(i));
        rx.record(
            t0 + Duration::from_millis(20 * u64::from(i)),
            &header(i, ts),
        );
    }
    assert_eq!(rx.jitter(), 0);
    assert_eq!(rx.last_arrival(), Some(t0 + Duration::from_millis(20 * 99)));
}

#[test]
fn opus_clock_converts_arrival_at_48_khz() {
    let t0 = Instant::now();
    let mut rx = ReceiverStats::new(48_000);
    rx.record(t0, &header(0, 0));
    rx.record(t0 + Duration::from_millis(20), &header(1, 960));
    // 1 ms late at 48 kHz is 48 units: J = 48 / 16 = 3.
    rx.record(t0 + Duration::from_millis(41), &header(2, 1920));
    assert_eq!(rx.jitter(), 3);
}

#[test]
fn sender_stats_count_and_extrapolate_the_timestamp() {
    let t0 = Instant::now();
    let mut tx = SenderStats::new(8000);
    assert_eq!(tx.timestamp_at(t0), None);
    for i in 0..10_u32 {
        let h = header(i as u16, 1000 + 160 * i);
        tx.record(t0 + Duration::from_millis(20 * u64::from(i)), &h, 160);
    }
    assert_eq!((tx.packets(), tx.octets()), (10, 1600));
    let last_at = t0 + Duration::from_millis(180);
    assert_eq!(tx.last_timestamp(), Some((1000 + 160 * 9, last_at)));
    // 820 ms after the last packet: 6560 units later.
    assert_eq!(
        tx.timestamp_at(last_at + Duration::from_millis(820)),
        Some(1000 + 1440 + 6560)
    );
    // Asked about an earlier instant, it extrapolates backwards.
    assert_eq!(
        tx.timestamp_at(last_at - Duration::from_millis(20)),
        Some(1000 + 1440 - 160)
    );
}

proptest! {
    /// Whatever order and duplication packets arrive in, the counters stay consistent:
    /// received = counted verdicts, expected − received = cumulative loss (unclamped here).
    #[test]
    fn counters_stay_consistent(steps in proptest::collection::vec(-120_i32..3100, 1..300), start in any::<u16>()) {
        let t0 = Instant::now();
        let mut rx = ReceiverStats::new(8000);
        let mut seq = start;
        let mut counted = 0_u64;
        for (i, step) in steps.iter().enumerate() {
            seq = seq.wrapping_add(*step as u16);
            let was_on_probation = !rx.is_valid();
            let v = rx.record(t0 + Duration::from_millis(i as u64), &header(seq, 0));
            // Counting restarts (at 1) when probation ends or the sender restarts.
            if v == SeqVerdict::Restarted || (was_on_probation && v.counted()) {
                counted = 1;
            } else if v.counted() {
                counted += 1;
            }
            prop_assert_eq!(rx.received(), counted);
            let lost = i64::try_from(rx.expected()).unwrap() - i64::try_from(rx.received()).unwrap();
            prop_assert_eq!(i64::from(rx.cumulative_lost()), lost);
            let r = rx.take_report();
            prop_assert_eq!(u64::from(r.extended_highest), rx.extended_highest().0 & 0xFFFF_FFFF);
        }
    }
}
