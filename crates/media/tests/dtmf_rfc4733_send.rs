//! RFC 4733 sending on a virtual clock: the schedule of a press packet by packet, queued
//! presses and their gaps, long presses in segments, and sender → receiver round trips with
//! every pattern of end-packet loss. (The receiver alone is in `dtmf_rfc4733.rs`.)

use std::time::{Duration, Instant};

use proptest::prelude::*;
use switchboard_media::dtmf::rfc4733::{
    EventBlock, EventPacket, Receiver, ReceiverConfig, Rfc4733Error, RtpEvent, Sender,
    SenderConfig, Volume, parse_payload,
};
use switchboard_media::dtmf::{Digit, DtmfEdge, DtmfEvent};

/// The virtual clock's origin: one fixed instant for the whole test binary, a day from now so
/// that dating presses back never underflows.
fn t0() -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(|| Instant::now() + Duration::from_secs(86_400))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn drain(tx: &mut Sender, at: Instant) -> Vec<EventPacket> {
    std::iter::from_fn(|| tx.poll(at)).collect()
}

fn decode(p: &EventPacket) -> EventBlock {
    parse_payload(&p.payload).unwrap().next().unwrap()
}

#[test]
fn sender_schedule_of_one_press() {
    let start = t0();
    let mut tx = Sender::new(SenderConfig::default()).unwrap();
    tx.start(start, Digit::Seven, ms(100), Volume::new(7).unwrap())
        .unwrap();
    let mut got = Vec::new();
    let mut now = start;
    while let Some(wake) = tx.poll_timeout() {
        assert!(wake >= now, "wake-ups only move forward");
        now = wake;
        for p in drain(&mut tx, now) {
            got.push((now - start, p));
        }
    }
    let summary: Vec<(u128, bool, bool, u16)> = got
        .iter()
        .map(|(t, p)| (t.as_millis(), p.marker, p.end, decode(p).duration))
        .collect();
    assert_eq!(
        summary,
        [
            (20, true, false, 160),
            (40, false, false, 320),
            (60, false, false, 480),
            (80, false, false, 640),
            (100, false, true, 800),
            (120, false, true, 800),
            (140, false, true, 800),
        ]
    );
    for (_, p) in &got {
        assert_eq!((p.event_start, p.timestamp_offset), (start, 0));
        let b = decode(p);
        assert_eq!((b.event, b.volume.attenuation_db()), (7, 7));
        assert_eq!(b.end, p.end);
    }
    assert!(tx.is_idle());
}

#[test]
fn sender_queues_presses_with_the_inter_digit_gap() {
    let start = t0();
    let mut tx = Sender::new(SenderConfig::default()).unwrap();
    for c in "123".chars() {
        tx.start(start, Digit::from_char(c).unwrap(), ms(80), Volume::DEFAULT)
            .unwrap();
    }
    let mut starts = Vec::new();
    while let Some(wake) = tx.poll_timeout() {
        for p in drain(&mut tx, wake) {
            if p.marker {
                starts.push((decode(&p).event, p.event_start - start));
            }
        }
    }
    // Each starts 80 ms (tone) + 50 ms (gap) after the previous one.
    assert_eq!(starts, [(1, ms(0)), (2, ms(130)), (3, ms(260))]);
}

#[test]
fn sender_splits_a_long_press_into_segments() {
    let start = t0();
    let mut tx = Sender::new(SenderConfig::default()).unwrap();
    tx.start(start, Digit::D, ms(10_000), Volume::DEFAULT)
        .unwrap();
    let mut all = Vec::new();
    while let Some(wake) = tx.poll_timeout() {
        all.extend(drain(&mut tx, wake));
    }
    let offsets: std::collections::BTreeSet<u32> = all.iter().map(|p| p.timestamp_offset).collect();
    assert_eq!(offsets.into_iter().collect::<Vec<_>>(), [0, 0xFFFF]);
    // The first segment closes at 0xFFFF, three times, without E; only the very first packet
    // has the marker; the event ends with 80,000 - 65,535 ticks in the second segment.
    let closes = all
        .iter()
        .filter(|p| p.timestamp_offset == 0 && decode(p).duration == 0xFFFF)
        .count();
    assert_eq!(closes, 3);
    assert_eq!(all.iter().filter(|p| p.marker).count(), 1);
    assert!(all[0].marker);
    let finals: Vec<&EventPacket> = all.iter().filter(|p| p.end).collect();
    assert_eq!(finals.len(), 3);
    assert!(
        finals
            .iter()
            .all(|p| p.timestamp_offset == 0xFFFF && decode(p).duration == 14_465)
    );
    // Durations never decrease within a segment.
    for off in [0, 0xFFFF] {
        let d: Vec<u16> = all
            .iter()
            .filter(|p| p.timestamp_offset == off)
            .map(|p| decode(p).duration)
            .collect();
        assert!(d.windows(2).all(|w| w[0] <= w[1]), "segment at {off}");
    }
}

#[test]
fn sender_polled_late_still_sends_in_order() {
    let start = t0();
    let mut tx = Sender::new(SenderConfig::default()).unwrap();
    tx.start(start, Digit::Two, ms(60), Volume::DEFAULT)
        .unwrap();
    // Polled once, long after everything was due.
    let all = drain(&mut tx, start + ms(1_000));
    let summary: Vec<(bool, u16)> = all.iter().map(|p| (p.end, decode(p).duration)).collect();
    assert_eq!(
        summary,
        [
            (false, 160),
            (false, 320),
            (true, 480),
            (true, 480),
            (true, 480)
        ]
    );
}

#[test]
fn sender_errors() {
    let start = t0();
    let config = SenderConfig {
        queue_capacity: 2,
        ..SenderConfig::default()
    };
    let mut tx = Sender::new(config).unwrap();
    assert_eq!(
        tx.start(start, Digit::One, Duration::ZERO, Volume::DEFAULT),
        Err(Rfc4733Error::ZeroDuration)
    );
    // One is sent at once, two wait, the fourth does not fit.
    for _ in 0..3 {
        tx.start(start, Digit::One, ms(50), Volume::DEFAULT)
            .unwrap();
    }
    assert_eq!(
        tx.start(start, Digit::One, ms(50), Volume::DEFAULT),
        Err(Rfc4733Error::QueueFull { capacity: 2 })
    );
    let bad = SenderConfig {
        ptime: Duration::ZERO,
        ..SenderConfig::default()
    };
    assert_eq!(
        Sender::new(bad).err(),
        Some(Rfc4733Error::InvalidConfig { field: "ptime" })
    );
    let bad = SenderConfig {
        queue_capacity: 0,
        ..SenderConfig::default()
    };
    assert_eq!(
        Sender::new(bad).err(),
        Some(Rfc4733Error::InvalidConfig {
            field: "queue_capacity"
        })
    );
}

/// Sends `presses` through a `Sender`, drops the packets `lose` picks (by index), delivers the
/// rest 30 ms later on an RTP stream whose timestamps start at `base`, and returns what the
/// receiver reports.
fn round_trip(
    presses: &[(Digit, u64)],
    base: u32,
    mut lose: impl FnMut(usize, &EventPacket) -> bool,
) -> Vec<DtmfEvent> {
    let start = t0();
    let mut tx = Sender::new(SenderConfig::default()).unwrap();
    for &(d, len) in presses {
        tx.start(start, d, ms(len), Volume::DEFAULT).unwrap();
    }
    let mut rx = Receiver::new(ReceiverConfig::default());
    let mut out = Vec::new();
    let mut seq = 0_u16;
    let mut index = 0;
    while let Some(wake) = tx.poll_timeout() {
        for p in drain(&mut tx, wake) {
            seq = seq.wrapping_add(1);
            index += 1;
            if lose(index - 1, &p) {
                continue;
            }
            let arrival = wake + ms(30);
            if let Some(deadline) = rx.poll_timeout()
                && deadline <= arrival
            {
                rx.handle_timeout(deadline);
            }
            // The caller's media clock: 8 ticks per ms since `start`.
            let since = u32::try_from((p.event_start - start).as_millis()).unwrap() * 8;
            let ts = base.wrapping_add(since).wrapping_add(p.timestamp_offset);
            let rtp = RtpEvent {
                timestamp: ts,
                marker: p.marker,
                sequence: seq,
                payload: &p.payload,
            };
            rx.handle_packet(arrival, rtp).unwrap();
            out.extend(std::iter::from_fn(|| rx.poll_output()));
        }
    }
    if let Some(deadline) = rx.poll_timeout() {
        rx.handle_timeout(deadline);
        out.extend(std::iter::from_fn(|| rx.poll_output()));
    }
    out.into_iter()
        .filter_map(|e| match e {
            DtmfEdge::End(e) => Some(e),
            DtmfEdge::Begin { .. } => None,
        })
        .collect()
}

#[test]
fn round_trip_with_every_pattern_of_end_packet_loss() {
    let presses = [
        (Digit::One, 100),
        (Digit::Hash, 40),
        (Digit::One, 250),
        (Digit::A, 1_000),
    ];
    // For each press, lose any two of its three end packets (or none, or one).
    for mask in 0_u8..8 {
        if mask.count_ones() > 2 {
            continue;
        }
        let mut copy = std::collections::HashMap::<Instant, u8>::new();
        let got = round_trip(&presses, 123_456, |_, p| {
            if !p.end {
                return false;
            }
            let n = copy.entry(p.event_start).or_insert(0);
            *n += 1;
            mask & (1 << (*n - 1)) != 0
        });
        let summary: Vec<(Digit, Duration)> = got.iter().map(|e| (e.digit, e.duration)).collect();
        let expected: Vec<(Digit, Duration)> = presses.iter().map(|&(d, l)| (d, ms(l))).collect();
        assert_eq!(summary, expected, "lost end copies {mask:03b}");
    }
}

#[test]
fn round_trip_of_a_long_press() {
    let got = round_trip(&[(Digit::Zero, 20_000), (Digit::Zero, 60)], 7, |i, _| {
        i % 17 == 5
    });
    let summary: Vec<(Digit, Duration)> = got.iter().map(|e| (e.digit, e.duration)).collect();
    assert_eq!(summary, [(Digit::Zero, ms(20_000)), (Digit::Zero, ms(60))]);
}

proptest! {
    /// Any presses, any timestamp base, any loss of updates and of up to two end copies: the
    /// receiver reports exactly the presses sent, with their durations.
    #[test]
    fn round_trip_is_exact(
        presses in prop::collection::vec((0_u8..16, 40_u64..1_500), 1..8),
        base in any::<u32>(),
        loss in prop::collection::vec(any::<bool>(), 200),
    ) {
        let presses: Vec<(Digit, u64)> =
            presses.into_iter().map(|(d, l)| (Digit::from_event_code(d).unwrap(), l)).collect();
        let mut end_seen = 0_usize;
        let got = round_trip(&presses, base, |i, p| {
            if p.end {
                end_seen += 1;
                // Keep the third copy whenever the first two go: at most two of three lost.
                let copy = (end_seen - 1) % 3;
                copy < 2 && loss[(i * 7) % loss.len()]
            } else {
                // Lose updates freely, but not the press's only packet sequence start.
                loss[i % loss.len()] && i % 3 != 0
            }
        });
        let summary: Vec<(Digit, Duration)> = got.iter().map(|e| (e.digit, e.duration)).collect();
        let expected: Vec<(Digit, Duration)> = presses.iter().map(|&(d, l)| (d, ms(l))).collect();
        prop_assert_eq!(summary, expected);
    }

}
