//! RFC 4733 receiving on a virtual clock: packet sequences as phones send them (and as
//! networks deliver them: lost, duplicated, reordered), long presses split into segments,
//! several events in one packet, timestamp wrap. (Sending and round trips are in
//! `dtmf_rfc4733_send.rs`.)

use std::time::{Duration, Instant};

use proptest::prelude::*;
use switchboard_media::dtmf::rfc4733::{
    EventBlock, Receiver, ReceiverConfig, Rfc4733Error, RtpEvent, Volume,
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

proptest! {
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
