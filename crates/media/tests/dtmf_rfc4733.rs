//! RFC 4733 telephone-events on a virtual clock: packet sequences as phones send them (and as
//! networks deliver them: lost, duplicated, reordered), long presses split into segments,
//! several events in one packet, our sender's schedule, and sender → receiver round trips with
//! every pattern of end-packet loss.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use switchboard_media::dtmf::rfc4733::{
    EventBlock, EventPacket, Receiver, ReceiverConfig, Rfc4733Error, RtpEvent, Sender,
    SenderConfig, Volume, parse_payload,
};
use switchboard_media::dtmf::{Digit, DtmfEdge, DtmfEvent, DtmfSource};

/// The virtual clock's origin: one fixed instant for the whole test binary, a day from now so
/// that dating presses back never underflows.
fn t0() -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(|| Instant::now() + Duration::from_secs(86_400))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One packet as it arrives: at `at` ms after t0, with its RTP fields.
#[derive(Debug, Clone, Copy)]
struct Pkt {
    at: u64,
    ts: u32,
    marker: bool,
    seq: u16,
    block: EventBlock,
}

fn block(digit: Digit, end: bool, duration: u16) -> EventBlock {
    EventBlock {
        event: digit.event_code(),
        end,
        volume: Volume::DEFAULT,
        duration,
    }
}

/// A press as a phone sends it (RFC 4733 §2.5.1, in the manner of the example of §5): updates
/// every `every` ms with the marker on the first, then the final packet three times, all with
/// timestamp `ts`; sequence numbers from `seq`, first packet at `at` ms. Durations are ticks at
/// 8 kHz.
fn press(digit: Digit, ts: u32, at: u64, seq: u16, total_ms: u64, every: u64) -> Vec<Pkt> {
    let mut out = Vec::new();
    let mut k = 1;
    while k * every < total_ms {
        let dur = u16::try_from(k * every * 8).unwrap();
        out.push(Pkt {
            at: at + (k - 1) * every,
            ts,
            marker: k == 1,
            seq: 0,
            block: block(digit, false, dur),
        });
        k += 1;
    }
    let end = u16::try_from(total_ms * 8).unwrap();
    for i in 0..3 {
        out.push(Pkt {
            at: at + (k - 1 + i) * every,
            ts,
            marker: false,
            seq: 0,
            block: block(digit, true, end),
        });
    }
    for (i, p) in out.iter_mut().enumerate() {
        p.seq = seq.wrapping_add(u16::try_from(i).unwrap());
    }
    out
}

/// Feeds `packets` in the given order (each at its own arrival time), running timeouts as a
/// driver would, and returns every edge with the instant it came out.
fn run(
    config: ReceiverConfig,
    packets: &[Pkt],
    until: u64,
) -> (Vec<(Instant, DtmfEdge)>, Receiver) {
    let start = t0();
    let mut rx = Receiver::new(config);
    let mut out = Vec::new();
    let mut drain = |rx: &mut Receiver, at: Instant| {
        while let Some(e) = rx.poll_output() {
            out.push((at, e));
        }
    };
    for p in packets {
        let at = start + ms(p.at);
        // Timeouts due before this packet fire first.
        if let Some(deadline) = rx.poll_timeout()
            && deadline <= at
        {
            rx.handle_timeout(deadline);
            drain(&mut rx, deadline);
        }
        let payload = p.block.to_bytes();
        rx.handle_packet(
            at,
            RtpEvent {
                timestamp: p.ts,
                marker: p.marker,
                sequence: p.seq,
                payload: &payload,
            },
        )
        .unwrap();
        drain(&mut rx, at);
    }
    if let Some(deadline) = rx.poll_timeout()
        && deadline <= start + ms(until)
    {
        rx.handle_timeout(deadline);
        drain(&mut rx, deadline);
    }
    (out, rx)
}

fn ends(edges: &[(Instant, DtmfEdge)]) -> Vec<DtmfEvent> {
    edges
        .iter()
        .filter_map(|(_, e)| match e {
            DtmfEdge::End(ev) => Some(*ev),
            DtmfEdge::Begin { .. } => None,
        })
        .collect()
}

fn begins(edges: &[(Instant, DtmfEdge)]) -> usize {
    edges
        .iter()
        .filter(|(_, e)| matches!(e, DtmfEdge::Begin { .. }))
        .count()
}

#[test]
fn a_press_as_phones_send_it_is_reported_once() {
    // '1' held 200 ms, updates every 50 ms (RFC 4733 §5 uses 50 ms): durations 400, 800, 1200,
    // then 1600 three times with the E bit.
    let pkts = press(Digit::One, 1_000, 0, 7, 200, 50);
    assert_eq!(pkts.len(), 6);
    let (edges, rx) = run(ReceiverConfig::default(), &pkts, 1_000);
    assert_eq!(begins(&edges), 1);
    let events = ends(&edges);
    assert_eq!(events.len(), 1);
    let e = events[0];
    assert_eq!(
        (e.digit, e.source, e.duration),
        (Digit::One, DtmfSource::Rfc4733, ms(200))
    );
    // The first packet (at 0 ms) reported 50 ms of tone: the press began 50 ms before it.
    assert_eq!(e.started + ms(50), t0_of(&edges));
    // Reported at the first end packet, not at the third.
    assert_eq!(edges.last().map(|x| x.0), Some(t0_of(&edges) + ms(150)));
    assert_eq!(rx.stats().after_end, 2);
    assert_eq!(rx.poll_timeout(), None);
}

/// The arrival instant of the first edge's packet: the Begin comes out at the first packet.
fn t0_of(edges: &[(Instant, DtmfEdge)]) -> Instant {
    edges[0].0
}

#[test]
fn losing_the_first_packet_still_dates_the_press_from_its_start() {
    let mut pkts = press(Digit::Five, 42, 0, 0, 200, 50);
    let full = run(ReceiverConfig::default(), &pkts, 1_000).0;
    pkts.remove(0);
    let (edges, _) = run(ReceiverConfig::default(), &pkts, 1_000);
    assert_eq!(begins(&edges), 1);
    let (a, b) = (ends(&full)[0], ends(&edges)[0]);
    // Same start: the second packet, 50 ms later, reports 50 ms more tone.
    assert_eq!(edges[0].0 - full[0].0, ms(50));
    assert_eq!(a.started, b.started);
    assert_eq!((b.digit, b.duration), (Digit::Five, ms(200)));
}

#[test]
fn losing_updates_or_up_to_two_end_packets_changes_nothing() {
    let pkts = press(Digit::Hash, 9_000, 0, 100, 300, 20);
    let reference = ends(&run(ReceiverConfig::default(), &pkts, 2_000).0);
    assert_eq!(reference.len(), 1);
    let n = pkts.len();
    // Every subset of the three end packets but the empty one, with a middle update lost too.
    for mask in 1_u8..8 {
        let kept: Vec<Pkt> = pkts
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != 4 && (i < n - 3 || mask & (1 << (i - (n - 3))) != 0))
            .map(|(_, p)| *p)
            .collect();
        let (edges, _) = run(ReceiverConfig::default(), &kept, 2_000);
        let got = ends(&edges);
        assert_eq!(begins(&edges), 1, "mask {mask:03b}");
        assert_eq!(got.len(), 1, "mask {mask:03b}");
        assert_eq!(
            (got[0].digit, got[0].duration),
            (Digit::Hash, ms(300)),
            "mask {mask:03b}"
        );
    }
}

#[test]
fn losing_all_end_packets_ends_the_press_after_the_timeout() {
    let mut pkts = press(Digit::Nine, 5, 0, 0, 200, 50);
    pkts.truncate(pkts.len() - 3);
    let last_at = pkts.last().unwrap().at;
    let (edges, rx) = run(ReceiverConfig::default(), &pkts, 5_000);
    let e = ends(&edges);
    assert_eq!(e.len(), 1);
    // The last update said 150 ms; the end came 250 ms after it.
    assert_eq!((e[0].digit, e[0].duration), (Digit::Nine, ms(150)));
    assert_eq!(
        edges.last().unwrap().0,
        t0_of(&edges) + ms(last_at) + ms(250)
    );
    assert_eq!(rx.stats().timeouts, 1);
}

#[test]
fn only_the_end_packets_arriving_is_still_one_press() {
    let pkts = press(Digit::Zero, 77, 0, 0, 120, 20);
    let only_ends: Vec<Pkt> = pkts[pkts.len() - 3..].to_vec();
    let (edges, _) = run(ReceiverConfig::default(), &only_ends, 1_000);
    assert_eq!(begins(&edges), 1);
    let e = ends(&edges);
    assert_eq!(
        (e.len(), e[0].digit, e[0].duration),
        (1, Digit::Zero, ms(120))
    );
    // Dated back by the full duration from the first end packet's arrival.
    assert_eq!(e[0].started + ms(120), edges[0].0);
}

#[test]
fn duplicated_packets_change_nothing() {
    let pkts = press(Digit::Star, 1, 0, 65_530, 200, 20); // sequence numbers wrap too
    let doubled: Vec<Pkt> = pkts.iter().flat_map(|p| [*p, *p]).collect();
    let (edges, rx) = run(ReceiverConfig::default(), &doubled, 1_000);
    assert_eq!(begins(&edges), 1);
    let e = ends(&edges);
    assert_eq!((e.len(), e[0].duration), (1, ms(200)));
    assert_eq!(rx.stats().duplicates, u64::try_from(pkts.len()).unwrap());
}

#[test]
fn reordered_packets_change_nothing() {
    let pkts = press(Digit::C, 3_000, 0, 0, 200, 20);
    let reference = ends(&run(ReceiverConfig::default(), &pkts, 1_000).0);
    let mut swapped = pkts.clone();
    let n = swapped.len();
    // The first end packet overtakes the last update; the marker packet comes second.
    swapped.swap(n - 4, n - 3);
    swapped.swap(0, 1);
    for (i, p) in swapped.iter_mut().enumerate() {
        p.at = u64::try_from(i).unwrap() * 20;
    }
    let (edges, _) = run(ReceiverConfig::default(), &swapped, 1_000);
    assert_eq!(begins(&edges), 1);
    let e = ends(&edges);
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].digit, e[0].duration),
        (reference[0].digit, reference[0].duration)
    );
}

#[test]
fn a_new_timestamp_ends_a_press_whose_end_was_lost() {
    let mut first = press(Digit::One, 1_000, 0, 0, 100, 20);
    first.truncate(first.len() - 3); // its end packets lost
    let second = press(Digit::Two, 1_000 + 8 * 150, 150, 10, 100, 20);
    let all: Vec<Pkt> = first.into_iter().chain(second).collect();
    let (edges, rx) = run(ReceiverConfig::default(), &all, 2_000);
    let e = ends(&edges);
    assert_eq!(
        e.iter().map(|e| e.digit).collect::<Vec<_>>(),
        [Digit::One, Digit::Two]
    );
    assert_eq!(e[0].duration, ms(80)); // last update heard
    assert_eq!(e[1].duration, ms(100));
    assert_eq!(rx.stats().superseded, 1);
    // The first ended when the second's first packet came, before the second began.
    assert!(matches!(edges[1].1, DtmfEdge::End(_)) && matches!(edges[2].1, DtmfEdge::Begin { .. }));
}

#[test]
fn a_late_packet_of_the_previous_press_is_ignored() {
    let first = press(Digit::Four, 500, 0, 0, 100, 20);
    let second = press(Digit::Four, 500 + 8 * 200, 200, 10, 100, 20);
    let mut all: Vec<Pkt> = first.iter().chain(&second).copied().collect();
    // An update of the first press turns up in the middle of the second.
    let mut late = first[1];
    late.at = 230;
    late.seq = 99;
    all.insert(first.len() + 2, late);
    let (edges, rx) = run(ReceiverConfig::default(), &all, 2_000);
    assert_eq!(
        ends(&edges)
            .iter()
            .map(|e| e.digit.as_char())
            .collect::<String>(),
        "44"
    );
    assert_eq!(begins(&edges), 2);
    assert!(rx.stats().stale + rx.stats().after_end >= 1);
}

#[test]
fn a_long_press_split_into_segments_is_one_press() {
    // §2.5.1.3: 10 s of '8' at 8 kHz = 80,000 ticks: a first segment of 0xFFFF ticks, then a
    // second one 0xFFFF ticks later for the remaining 14,465.
    let ts = 4_000_000_000_u32; // the second segment's timestamp wraps past 2^32
    let mut pkts = Vec::new();
    let mut seq = 0_u16;
    let mut push = |at: u64, ts: u32, marker: bool, b: EventBlock| {
        pkts.push(Pkt {
            at,
            ts,
            marker,
            seq,
            block: b,
        });
        seq = seq.wrapping_add(1);
    };
    let mut at = 0;
    for k in 1..=409_u64 {
        push(
            at,
            ts,
            k == 1,
            block(Digit::Eight, false, u16::try_from(k * 160).unwrap()),
        );
        at += 20;
    }
    // The segment is closed at 0xFFFF (three times), the next one opens without a marker.
    for _ in 0..3 {
        push(at, ts, false, block(Digit::Eight, false, 0xFFFF));
        at += 20;
    }
    let ts2 = ts.wrapping_add(0xFFFF);
    let rest = 80_000 - 0xFFFF;
    let mut d = 160;
    while d < rest {
        push(
            at,
            ts2,
            false,
            block(Digit::Eight, false, u16::try_from(d).unwrap()),
        );
        at += 20;
        d += 160;
    }
    for _ in 0..3 {
        push(
            at,
            ts2,
            false,
            block(Digit::Eight, true, u16::try_from(rest).unwrap()),
        );
        at += 20;
    }
    let (edges, _) = run(ReceiverConfig::default(), &pkts, at + 1_000);
    assert_eq!(begins(&edges), 1);
    let e = ends(&edges);
    assert_eq!(
        (e.len(), e[0].digit, e[0].duration),
        (1, Digit::Eight, ms(10_000))
    );
    // Even with the segment's closing packets lost, it is still one press.
    let without_close: Vec<Pkt> = pkts
        .iter()
        .filter(|p| p.block.duration != 0xFFFF)
        .copied()
        .collect();
    let (edges, _) = run(ReceiverConfig::default(), &without_close, at + 1_000);
    let e = ends(&edges);
    assert_eq!((e.len(), e[0].duration), (1, ms(10_000)));
}

#[test]
fn several_events_in_one_packet() {
    // §2.5.1.5: '1' (over, 100 ms) and '2' (going on, 40 ms so far) in one packet; the packet
    // is sent again (redundancy), then '2' ends.
    let start = t0();
    let mut rx = Receiver::new(ReceiverConfig::default());
    let mut payload = Vec::new();
    payload.extend(block(Digit::One, true, 800).to_bytes());
    payload.extend(block(Digit::Two, false, 320).to_bytes());
    for (i, at) in [0_u64, 20].into_iter().enumerate() {
        let seq = u16::try_from(i).unwrap();
        rx.handle_packet(
            start + ms(at),
            RtpEvent {
                timestamp: 10_000,
                marker: i == 0,
                sequence: seq,
                payload: &payload,
            },
        )
        .unwrap();
    }
    let end = block(Digit::Two, true, 480).to_bytes();
    rx.handle_packet(
        start + ms(40),
        RtpEvent {
            timestamp: 10_800,
            marker: false,
            sequence: 2,
            payload: &end,
        },
    )
    .unwrap();
    let edges: Vec<DtmfEdge> = std::iter::from_fn(|| rx.poll_output()).collect();
    let summary: Vec<String> = edges
        .iter()
        .map(|e| match e {
            DtmfEdge::Begin { digit, .. } => format!("+{digit}"),
            DtmfEdge::End(e) => format!("-{}/{}", e.digit, e.duration.as_millis()),
        })
        .collect();
    assert_eq!(summary, ["+1", "-1/100", "+2", "-2/60"]);
}

#[test]
fn events_that_are_not_keys_are_ignored() {
    let start = t0();
    let mut rx = Receiver::new(ReceiverConfig::default());
    // 16 is hook flash; 32 is a fax tone (RFC 4734).
    for (i, code) in [16_u8, 32].into_iter().enumerate() {
        let b = EventBlock {
            event: code,
            end: true,
            volume: Volume::DEFAULT,
            duration: 800,
        };
        let payload = b.to_bytes();
        let seq = u16::try_from(i).unwrap();
        rx.handle_packet(
            start,
            RtpEvent {
                timestamp: 1,
                marker: true,
                sequence: seq,
                payload: &payload,
            },
        )
        .unwrap();
    }
    assert_eq!(rx.poll_output(), None);
    assert_eq!(rx.stats().not_dtmf, 2);
}

#[test]
fn malformed_payloads_are_errors_and_change_nothing() {
    let start = t0();
    let mut rx = Receiver::new(ReceiverConfig::default());
    let cases: [(&[u8], Rfc4733Error); 3] = [
        (&[1, 2, 3], Rfc4733Error::Truncated { len: 3 }),
        (
            &[1, 0x80, 0, 160, 9],
            Rfc4733Error::TrailingBytes { len: 5 },
        ),
        (&[1; 40], Rfc4733Error::TooManyEvents { count: 10 }),
    ];
    for (payload, err) in cases {
        let got = rx.handle_packet(
            start,
            RtpEvent {
                timestamp: 1,
                marker: true,
                sequence: 1,
                payload,
            },
        );
        assert_eq!(got, Err(err));
    }
    assert_eq!(rx.poll_output(), None);
    assert_eq!(rx.poll_timeout(), None);
    assert_eq!(rx.stats().packets, 0);
}

#[test]
fn timestamps_wrap_and_restart() {
    let a = press(Digit::A, u32::MAX - 100, 0, 0, 60, 20);
    let b = press(Digit::B, 500, 200, 10, 60, 20); // after the wrap: newer, not stale
    // A new stream whose timestamps start far lower (an SSRC change the caller did not report).
    let c = press(Digit::D, 3_000_000_000, 400, 20, 60, 20);
    let all: Vec<Pkt> = a.into_iter().chain(b).chain(c).collect();
    let (edges, _) = run(ReceiverConfig::default(), &all, 2_000);
    assert_eq!(
        ends(&edges)
            .iter()
            .map(|e| e.digit.as_char())
            .collect::<String>(),
        "ABD"
    );
}

#[test]
fn clock_rate_48k() {
    let config = ReceiverConfig {
        clock_rate: std::num::NonZeroU32::new(48_000).unwrap(),
        ..Default::default()
    };
    let b = block(Digit::Six, true, 4_800);
    let pkts = [Pkt {
        at: 0,
        ts: 9,
        marker: true,
        seq: 0,
        block: b,
    }];
    let e = ends(&run(config, &pkts, 1_000).0);
    assert_eq!(e[0].duration, ms(100));
}

#[test]
fn reset_ends_the_press_in_progress() {
    let start = t0();
    let mut rx = Receiver::new(ReceiverConfig::default());
    let payload = block(Digit::Three, false, 160).to_bytes();
    rx.handle_packet(
        start,
        RtpEvent {
            timestamp: 5,
            marker: true,
            sequence: 0,
            payload: &payload,
        },
    )
    .unwrap();
    rx.reset();
    let edges: Vec<DtmfEdge> = std::iter::from_fn(|| rx.poll_output()).collect();
    assert!(
        matches!(edges.as_slice(), [DtmfEdge::Begin { .. }, DtmfEdge::End(e)] if e.duration == ms(20))
    );
    assert_eq!(rx.poll_timeout(), None);
}

// ---- Sender ----

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

// ---- Round trip ----

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

    /// Arbitrary payloads and fields never panic, and every begin is followed by its end.
    #[test]
    fn receiver_never_panics(packets in prop::collection::vec(
        (any::<u32>(), any::<bool>(), any::<u16>(), prop::collection::vec(any::<u8>(), 0..40), 0_u64..400),
        0..60,
    )) {
        let start = t0();
        let mut rx = Receiver::new(ReceiverConfig::default());
        let mut now = start;
        let mut open: Option<Digit> = None;
        let mut check = |rx: &mut Receiver| -> Result<(), TestCaseError> {
            while let Some(e) = rx.poll_output() {
                match e {
                    DtmfEdge::Begin { digit, .. } => {
                        prop_assert!(open.is_none());
                        open = Some(digit);
                    }
                    DtmfEdge::End(ev) => prop_assert_eq!(open.take(), Some(ev.digit)),
                }
            }
            Ok(())
        };
        for (ts, marker, seq, payload, gap) in packets {
            now += ms(gap);
            rx.handle_timeout(now);
            check(&mut rx)?;
            let _ = rx.handle_packet(now, RtpEvent { timestamp: ts, marker, sequence: seq, payload: &payload });
            check(&mut rx)?;
        }
        rx.reset();
        check(&mut rx)?;
        prop_assert!(open.is_none());
    }
}
