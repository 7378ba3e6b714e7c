use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::date;
use jiff::tz::TimeZone;

use super::{Calendar, Interval};
use crate::stats::StatsError;

const QUARTER: Duration = Duration::from_mins(15);

fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn calendar(zone: &str, interval: Duration) -> Calendar {
    Calendar::new(TimeZone::get(zone).expect("bundled zone"), interval).expect("valid interval")
}

fn iv(start: &str, end: &str) -> Interval {
    Interval {
        start: ts(start),
        end: ts(end),
    }
}

/// The intervals of a day follow each other without gap or overlap and cover it exactly.
fn assert_partition(day: Interval, intervals: &[Interval]) {
    assert_eq!(intervals.first().map(|i| i.start), Some(day.start));
    assert_eq!(intervals.last().map(|i| i.end), Some(day.end));
    for pair in intervals.windows(2) {
        assert_eq!(pair[0].end, pair[1].start, "{pair:?}");
    }
    let total: Duration = intervals.iter().map(Interval::length).sum();
    assert_eq!(total, day.length());
}

#[test]
fn interval_length_must_divide_an_hour() {
    let tz = TimeZone::UTC;
    for bad in [
        Duration::ZERO,
        Duration::from_secs(7 * 60),
        Duration::from_millis(1500),
        Duration::from_secs(7200),
    ] {
        assert_eq!(
            Calendar::new(tz.clone(), bad).err(),
            Some(StatsError::Interval(bad))
        );
    }
    for good in [1, 60, 300, 900, 1800, 3600] {
        assert!(Calendar::new(tz.clone(), Duration::from_secs(good)).is_ok());
    }
}

#[test]
fn intervals_align_on_the_local_hour() {
    // Asia/Kolkata is UTC+05:30: local 10:00 is 04:30Z, so UTC-aligned cells would be wrong
    // with hourly intervals.
    let cal = calendar("Asia/Kolkata", Duration::from_secs(3600));
    assert_eq!(
        cal.interval_at(ts("2026-05-04T04:45:00Z")),
        iv("2026-05-04T04:30:00Z", "2026-05-04T05:30:00Z")
    );
    let cal = calendar("Europe/Paris", QUARTER);
    assert_eq!(
        cal.interval_at(ts("2026-05-04T08:14:59.999999999Z")),
        iv("2026-05-04T08:00:00Z", "2026-05-04T08:15:00Z")
    );
    assert_eq!(
        cal.interval_at(ts("2026-05-04T08:15:00Z")),
        iv("2026-05-04T08:15:00Z", "2026-05-04T08:30:00Z")
    );
}

#[test]
fn paris_spring_forward_day_has_92_intervals() {
    let cal = calendar("Europe/Paris", QUARTER);
    let day = cal.day(date(2026, 3, 29)).expect("day");
    assert_eq!(day, iv("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"));
    assert_eq!(day.length(), Duration::from_secs(23 * 3600));
    let intervals = cal.intervals_in(day);
    assert_eq!(intervals.len(), 92);
    assert_partition(day, &intervals);
    // 01:45 local (+01) is followed by 03:00 local (+02): both at 01:00Z.
    assert_eq!(
        cal.interval_at(ts("2026-03-29T00:59:59Z")),
        iv("2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z")
    );
    assert_eq!(
        cal.interval_at(ts("2026-03-29T01:00:00Z")),
        iv("2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z")
    );
    assert_eq!(cal.date_of(ts("2026-03-29T21:59:59Z")), date(2026, 3, 29));
    assert_eq!(cal.date_of(ts("2026-03-29T22:00:00Z")), date(2026, 3, 30));
}

#[test]
fn paris_fall_back_day_has_100_intervals() {
    let cal = calendar("Europe/Paris", QUARTER);
    let day = cal.day(date(2026, 10, 25)).expect("day");
    assert_eq!(day, iv("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"));
    assert_eq!(day.length(), Duration::from_secs(25 * 3600));
    let intervals = cal.intervals_in(day);
    assert_eq!(intervals.len(), 100);
    assert_partition(day, &intervals);
    // Local 02:45 happens twice: at 00:45Z (+02) and at 01:45Z (+01), two intervals.
    assert_eq!(
        cal.interval_at(ts("2026-10-25T00:50:00Z")),
        iv("2026-10-25T00:45:00Z", "2026-10-25T01:00:00Z")
    );
    assert_eq!(
        cal.interval_at(ts("2026-10-25T01:50:00Z")),
        iv("2026-10-25T01:45:00Z", "2026-10-25T02:00:00Z")
    );
}

#[test]
fn an_offset_change_inside_a_cell_cuts_it() {
    // Lord Howe Island leaves DST on 2026-04-05 at 02:00 (+11) back to 01:30 (+10:30), at
    // 15:00Z. With hourly intervals the local hour 01:00-02:00 (+10:30) would start at 14:30Z,
    // inside the previous interval; it is cut to start at the change instead.
    let cal = calendar("Australia/Lord_Howe", Duration::from_secs(3600));
    assert_eq!(
        cal.interval_at(ts("2026-04-04T14:59:59Z")),
        iv("2026-04-04T14:00:00Z", "2026-04-04T15:00:00Z")
    );
    assert_eq!(
        cal.interval_at(ts("2026-04-04T15:10:00Z")),
        iv("2026-04-04T15:00:00Z", "2026-04-04T15:30:00Z")
    );
    assert_eq!(
        cal.interval_at(ts("2026-04-04T15:30:00Z")),
        iv("2026-04-04T15:30:00Z", "2026-04-04T16:30:00Z")
    );
    let day = cal.day(date(2026, 4, 5)).expect("day");
    assert_eq!(day, iv("2026-04-04T13:00:00Z", "2026-04-05T13:30:00Z"));
    let intervals = cal.intervals_in(day);
    assert_eq!(intervals.len(), 25);
    assert_partition(day, &intervals);
}

#[test]
fn a_skipped_midnight_starts_the_day_at_the_change() {
    // Chile starts DST at 24:00 on the first Saturday of September: 2026-09-06 00:00 (-04)
    // becomes 01:00 (-03), at 04:00Z. That day has 23 hours and starts at 01:00 local.
    let cal = calendar("America/Santiago", QUARTER);
    let day = cal.day(date(2026, 9, 6)).expect("day");
    assert_eq!(day, iv("2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"));
    let intervals = cal.intervals_in(day);
    assert_eq!(intervals.len(), 92);
    assert_partition(day, &intervals);
    let before = cal.day(date(2026, 9, 5)).expect("day");
    assert_eq!(before.end, day.start);
}

#[test]
fn split_cuts_at_interval_edges() {
    let cal = calendar("Europe/Paris", QUARTER);
    let mut parts = Vec::new();
    // A 20-minute call from 10:10 local: 5 min in 10:00, 15 min in 10:15.
    cal.split(
        ts("2026-05-04T08:10:00Z"),
        ts("2026-05-04T08:30:00Z"),
        |start, d| parts.push((start, d)),
    );
    assert_eq!(
        parts,
        vec![
            (ts("2026-05-04T08:00:00Z"), Duration::from_secs(300)),
            (ts("2026-05-04T08:15:00Z"), Duration::from_secs(900)),
        ]
    );
    parts.clear();
    cal.split(
        ts("2026-05-04T08:30:00Z"),
        ts("2026-05-04T08:10:00Z"),
        |start, d| parts.push((start, d)),
    );
    assert!(parts.is_empty(), "a backwards span adds nothing");
}

#[test]
fn extreme_instants_do_not_panic() {
    let cal = calendar("Europe/Paris", QUARTER);
    for at in [Timestamp::MIN, Timestamp::MAX] {
        let interval = cal.interval_at(at);
        assert!(interval.start <= at && at <= interval.end);
        let _ = cal.date_of(at);
    }
    assert!(cal.day(date(9999, 12, 31)).is_err());
    cal.split(Timestamp::MAX, Timestamp::MAX, |_, _| panic!("empty span"));
}
