//! Merging the reports of several sources: one event per key press, the copy from the other
//! source dropped, real repeats and fast sequences kept, RFC 4733 preferred.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use switchboard_media::dtmf::merge::{Merger, MergerConfig};
use switchboard_media::dtmf::{Digit, DtmfEdge, DtmfEvent, DtmfSource};

const RFC: DtmfSource = DtmfSource::Rfc4733;
const INBAND: DtmfSource = DtmfSource::Inband;
const INFO: DtmfSource = DtmfSource::SipInfo;

fn t0() -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(|| Instant::now() + Duration::from_secs(86_400))
}

fn at(ms: u64) -> Instant {
    t0() + Duration::from_millis(ms)
}

fn ev(c: char, source: DtmfSource, start: u64, len: u64) -> DtmfEvent {
    DtmfEvent {
        digit: Digit::from_char(c).unwrap(),
        source,
        started: at(start),
        duration: Duration::from_millis(len),
    }
}

/// Pushes each report at its end plus `delay` ms, in that order, and returns what passed.
fn merge(reports: &[(DtmfEvent, u64)]) -> Vec<DtmfEvent> {
    let mut m = Merger::new(MergerConfig::default());
    reports
        .iter()
        .filter_map(|&(e, delay)| m.push(e.ended() + Duration::from_millis(delay), e))
        .collect()
}

fn keys(events: &[DtmfEvent]) -> String {
    events.iter().map(|e| e.digit.as_char()).collect()
}

#[test]
fn the_same_press_from_rfc4733_and_inband_is_one() {
    // The in-band detector dates a press a few ms off and reports it some 25 ms after its end.
    let rfc = ev('5', RFC, 1_000, 120);
    let inband = ev('5', INBAND, 1_004, 118);
    let passed = merge(&[(rfc, 10), (inband, 26)]);
    assert_eq!(passed, [rfc]);
    // Whichever comes first passes.
    let passed = merge(&[(inband, 26), (rfc, 40)]);
    assert_eq!(passed, [inband]);
}

#[test]
fn the_same_press_from_rfc4733_and_info() {
    let rfc = ev('7', RFC, 1_000, 100);
    // An INFO that arrives while the press is on (dated at its arrival, with the 250 ms it
    // claims) overlaps it: merged.
    let early_info = ev('7', INFO, 1_060, 250);
    assert_eq!(merge(&[(rfc, 10), (early_info, 0)]), [rfc]);
    // One that trails through a proxy, arriving 100 ms after the press ended, overlaps
    // nothing but began within the 200 ms window: merged.
    let late_info = ev('7', INFO, 1_200, 250);
    let mut m = Merger::new(MergerConfig::default());
    assert_eq!(m.push(at(1_110), rfc), Some(rfc));
    assert_eq!(m.push(at(1_200), late_info), None);
    // One that trails by 250 ms is beyond the window: a new press, unless the window is sized
    // for this trunk's signalling delay.
    let later_info = ev('7', INFO, 1_250, 250);
    let mut m = Merger::new(MergerConfig::default());
    assert_eq!(m.push(at(1_110), rfc), Some(rfc));
    assert_eq!(m.push(at(1_250), later_info), Some(later_info));
    let mut wide = Merger::new(MergerConfig {
        window: Duration::from_millis(300),
        ..MergerConfig::default()
    });
    assert_eq!(wide.push(at(1_110), rfc), Some(rfc));
    assert_eq!(wide.push(at(1_250), later_info), None);
}

#[test]
fn rfc4733_is_preferred_when_its_begin_is_known() {
    let mut m = Merger::new(MergerConfig::default());
    let begin = DtmfEdge::Begin {
        digit: Digit::Nine,
        source: RFC,
        started: at(1_000),
    };
    assert_eq!(m.push_edge(at(1_020), begin), None);
    // An INFO for the press arrives while it is on: dropped.
    assert_eq!(m.push(at(1_090), ev('9', INFO, 1_090, 250)), None);
    // The in-band report comes before the RFC 4733 end packet (the detector saw the tone stop
    // first): dropped too, the RFC 4733 press being on.
    let inband = ev('9', INBAND, 1_003, 100);
    assert_eq!(m.push_edge(at(1_128), DtmfEdge::End(inband)), None);
    // The RFC 4733 report passes, with the sender's own figures.
    let rfc = ev('9', RFC, 1_000, 100);
    assert_eq!(m.push_edge(at(1_135), DtmfEdge::End(rfc)), Some(rfc));
    assert_eq!((m.stats().passed, m.stats().merged), (1, 2));
    // The copies were absorbed: a second in-band press soon after is a press of its own.
    let again = ev('9', INBAND, 1_250, 100);
    assert_eq!(m.push(at(1_375), again), Some(again));
}

#[test]
fn without_its_begin_rfc4733_is_not_waited_for() {
    // Given only complete reports, the first complete one passes, whatever its source.
    let inband = ev('9', INBAND, 1_003, 100);
    let rfc = ev('9', RFC, 1_000, 100);
    assert_eq!(merge(&[(inband, 25), (rfc, 35)]), [inband]);
}

#[test]
fn repeats_from_one_source_are_never_merged() {
    // "11" typed fast: two presses 150 ms apart, from RFC 4733 only.
    let a = ev('1', RFC, 1_000, 80);
    let b = ev('1', RFC, 1_150, 80);
    assert_eq!(merge(&[(a, 10), (b, 10)]), [a, b]);
    // Even overlapping (two RFC 4733 events can only be two presses).
    let c = ev('1', RFC, 1_060, 80);
    assert_eq!(merge(&[(a, 10), (c, 10)]), [a, c]);
}

#[test]
fn repeats_reported_by_both_sources_stay_two_presses() {
    let (r1, i1) = (ev('1', RFC, 1_000, 80), ev('1', INBAND, 1_005, 78));
    let (r2, i2) = (ev('1', RFC, 1_150, 80), ev('1', INBAND, 1_153, 80));
    // Arrival orders a driver may produce.
    assert_eq!(merge(&[(r1, 5), (i1, 25), (r2, 5), (i2, 25)]), [r1, r2]);
    assert_eq!(merge(&[(i1, 25), (r1, 30), (i2, 25), (r2, 30)]), [i1, i2]);
    assert_eq!(merge(&[(r1, 5), (r2, 5), (i1, 80), (i2, 25)]), [r1, r2]);
}

#[test]
fn a_press_one_source_missed_is_not_swallowed_by_its_neighbour() {
    // "11": both presses reach us in-band, but the RFC 4733 events of the second were lost.
    let (r1, i1) = (ev('1', RFC, 1_000, 80), ev('1', INBAND, 1_004, 80));
    let i2 = ev('1', INBAND, 1_150, 80);
    let passed = merge(&[(r1, 5), (i1, 25), (i2, 25)]);
    assert_eq!(keys(&passed), "11");
    assert_eq!(passed[1], i2);
    // And the other way round: the first press only in-band.
    let r2 = ev('1', RFC, 1_150, 80);
    let passed = merge(&[(i1, 25), (r2, 5), (ev('1', INBAND, 1_152, 80), 25)]);
    assert_eq!(keys(&passed), "11");
}

#[test]
fn a_copy_goes_to_the_nearest_press() {
    // Two RFC 4733 presses of '3' 195 ms apart. The in-band copy of the second lies within the
    // window of both; the copy of the first (which arrives last) only within the first's. The
    // second's copy must go to the second (nearest), leaving the first free for its own.
    let (r1, r2) = (ev('3', RFC, 1_000, 60), ev('3', RFC, 1_195, 60));
    let (i1, i2) = (ev('3', INBAND, 985, 60), ev('3', INBAND, 1_198, 60));
    assert_eq!(merge(&[(r1, 5), (r2, 5), (i2, 25), (i1, 300)]), [r1, r2]);
}

#[test]
fn fast_sequences_of_different_keys_all_pass() {
    let mut reports = Vec::new();
    let mut expected = String::new();
    for (i, c) in "0123456789*#ABCD".chars().enumerate() {
        let start = 1_000 + 90 * u64::try_from(i).unwrap();
        reports.push((ev(c, RFC, start, 50), 5));
        reports.push((ev(c, INBAND, start + 3, 50), 25));
        reports.push((ev(c, INFO, start + 20, 250), 0));
        expected.push(c);
    }
    // Pushed in arrival order.
    reports.sort_by_key(|(e, d)| e.ended() + Duration::from_millis(*d));
    let passed = merge(&reports);
    assert_eq!(keys(&passed), expected);
}

#[test]
fn different_keys_at_the_same_time_are_not_copies() {
    let a = ev('1', RFC, 1_000, 100);
    let b = ev('2', INBAND, 1_000, 100);
    assert_eq!(merge(&[(a, 5), (b, 25)]), [a, b]);
}

#[test]
fn copies_are_remembered_for_a_while_only() {
    let rfc = ev('4', RFC, 1_000, 100);
    let info = ev('4', INFO, 1_050, 100);
    let mut m = Merger::new(MergerConfig::default());
    assert_eq!(m.push(at(1_100), rfc), Some(rfc));
    // A copy that turns up 5 s later is beyond the 2 s memory: a new press.
    assert_eq!(m.push(at(6_100), info), Some(info));
}

proptest! {
    /// Presses at least 300 ms apart, each reported by any non-empty set of sources with a
    /// few ms of disagreement and arriving in any order within 100 ms: exactly one event per
    /// press comes out, for the right key.
    #[test]
    fn one_event_per_press(
        presses in prop::collection::vec((0_u8..16, 40_u64..150, 300_u64..600, 1_u8..8), 1..20),
        jitter in prop::collection::vec((0_u64..8, 0_u64..100), 60),
    ) {
        let mut reports = Vec::new();
        let mut start = 1_000;
        let mut expected = Vec::new();
        for (n, &(code, len, gap, sources)) in presses.iter().enumerate() {
            let c = Digit::from_event_code(code).unwrap().as_char();
            expected.push((c, start));
            for (k, source) in [RFC, INBAND, INFO].into_iter().enumerate() {
                if sources & (1 << k) == 0 {
                    continue;
                }
                let (skew, delay) = jitter[(3 * n + k) % jitter.len()];
                let e = if source == INFO {
                    ev(c, INFO, start + skew * 5, 250)
                } else {
                    ev(c, source, start + skew, len)
                };
                reports.push((e, delay));
            }
            start += len + gap;
        }
        reports.sort_by_key(|(e, d)| e.ended() + Duration::from_millis(*d));
        let mut passed = merge(&reports);
        passed.sort_by_key(|e| e.started);
        prop_assert_eq!(keys(&passed), expected.iter().map(|e| e.0).collect::<String>());
    }
}
