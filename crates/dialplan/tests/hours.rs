//! Opening hours at given instants: weekly ranges, midnight crossing, exceptions and holidays,
//! Paris DST changes (last Sundays of March and October 2026), and `next_change`.

use jiff::Timestamp;
use jiff::civil::{Weekday, date, time};
use jiff::tz::TimeZone;
use proptest::prelude::*;
use switchboard_dialplan::holidays::{easter_sunday, french_public_holidays};
use switchboard_dialplan::hours::{HoursParseErrorKind, OpeningHours, TimeRange};

fn paris() -> TimeZone {
    TimeZone::get("Europe/Paris").unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn hours(rules: &str) -> OpeningHours {
    OpeningHours::parse(paris(), rules).unwrap()
}

#[test]
fn weekly_ranges_open_and_close_in_local_time() {
    // Winter: Paris is UTC+1. 2026-01-05 is a Monday.
    let h = hours("mon-sat 08:00-20:00");
    assert!(!h.is_open(ts("2026-01-05T06:59:59Z")));
    assert!(h.is_open(ts("2026-01-05T07:00:00Z"))); // 08:00, start included
    assert!(h.is_open(ts("2026-01-05T18:59:59Z")));
    assert!(!h.is_open(ts("2026-01-05T19:00:00Z"))); // 20:00, end excluded
    assert!(h.is_open(ts("2026-01-10T12:00:00Z"))); // Saturday
    assert!(!h.is_open(ts("2026-01-11T12:00:00Z"))); // Sunday
    assert_eq!(
        h.next_change(ts("2026-01-05T12:00:00Z")),
        Some(ts("2026-01-05T19:00:00Z"))
    );
    // From Saturday evening, the next opening is Monday morning.
    assert_eq!(
        h.next_change(ts("2026-01-10T19:00:00Z")),
        Some(ts("2026-01-12T07:00:00Z"))
    );
}

#[test]
fn split_days_and_accumulating_rules() {
    let h = hours("mon-fri 08:00-12:00; mon-fri 14:00-18:00\nwed closed # half-staffed");
    assert_eq!(h.weekly(Weekday::Monday).len(), 2);
    assert!(h.weekly(Weekday::Wednesday).is_empty());
    assert!(!h.is_open(ts("2026-01-05T12:00:00Z"))); // Monday 13:00, lunch break
    assert!(h.is_open(ts("2026-01-05T13:00:00Z"))); // Monday 14:00
    assert!(!h.is_open(ts("2026-01-07T09:00:00Z"))); // Wednesday
    assert_eq!(
        h.next_change(ts("2026-01-05T11:30:00Z")),
        Some(ts("2026-01-05T13:00:00Z"))
    );
}

#[test]
fn ranges_crossing_midnight_belong_to_the_day_they_start() {
    // Friday and Saturday nights 22:00-02:00. 2026-01-09 is a Friday.
    let h = hours("fri,sat 22:00-02:00");
    assert!(h.is_open(ts("2026-01-09T21:00:00Z"))); // Fri 22:00
    assert!(h.is_open(ts("2026-01-10T00:59:59Z"))); // Sat 01:59
    assert!(!h.is_open(ts("2026-01-10T01:00:00Z"))); // Sat 02:00
    assert!(h.is_open(ts("2026-01-11T00:30:00Z"))); // Sun 01:30, from Saturday's range
    assert!(!h.is_open(ts("2026-01-12T00:30:00Z"))); // Mon 01:30: Sunday has no range
    assert_eq!(
        h.next_change(ts("2026-01-09T22:00:00Z")),
        Some(ts("2026-01-10T01:00:00Z"))
    );

    // A holiday on Friday closes its whole night; one on Saturday leaves Friday's spill-over.
    let mut b = OpeningHours::builder(paris());
    b.rule("fri,sat 22:00-02:00")
        .unwrap()
        .rule("2026-01-10 closed")
        .unwrap();
    let h = b.build();
    assert!(h.is_open(ts("2026-01-10T00:30:00Z"))); // Sat 01:30 (Friday's night)
    assert!(!h.is_open(ts("2026-01-10T21:30:00Z"))); // Sat 22:30 (Saturday's night: closed)
}

#[test]
fn adjacent_ranges_merge_for_next_change() {
    // Open around the clock on weekdays: no change at the weekday midnights.
    let h = hours("mon-fri 00:00-24:00");
    assert!(h.is_open(ts("2026-01-06T23:00:00Z")));
    assert_eq!(
        h.next_change(ts("2026-01-05T12:00:00Z")),
        Some(ts("2026-01-09T23:00:00Z"))
    );
    assert_eq!(
        hours("mon-sun 00:00-24:00").next_change(ts("2026-01-05T12:00:00Z")),
        None
    );
    assert_eq!(
        hours("mon closed").next_change(ts("2026-01-05T12:00:00Z")),
        None
    );
}

#[test]
fn exceptions_replace_the_weekly_schedule() {
    let h = hours(
        "mon-sat 08:00-20:00\n2026-12-24 08:00-12:00\n2026-12-25 closed\n2026-12-27 10:00-12:00",
    );
    // Christmas Eve (Thursday): short day.
    assert!(h.is_open(ts("2026-12-24T10:00:00Z")));
    assert!(!h.is_open(ts("2026-12-24T12:00:00Z"))); // 13:00
    assert_eq!(
        h.next_change(ts("2026-12-24T10:00:00Z")),
        Some(ts("2026-12-24T11:00:00Z"))
    );
    // Christmas (Friday): closed, next opening Saturday 08:00.
    assert!(!h.is_open(ts("2026-12-25T10:00:00Z")));
    assert_eq!(
        h.next_change(ts("2026-12-24T11:00:00Z")),
        Some(ts("2026-12-26T07:00:00Z"))
    );
    // An exceptional Sunday opening.
    assert!(h.is_open(ts("2026-12-27T10:00:00Z")));
    assert_eq!(h.exception(date(2026, 12, 25)), Some(&[][..]));
    assert_eq!(h.ranges_on(date(2026, 12, 28)), h.weekly(Weekday::Monday));
}

#[test]
fn french_holidays_close_the_line() {
    let mut b = OpeningHours::builder(paris());
    b.rule("mon-sat 08:00-20:00").unwrap();
    b.closed_on(french_public_holidays(2026).unwrap().map(|h| h.date));
    let h = b.build();
    assert!(!h.is_open(ts("2026-05-14T10:00:00Z"))); // Ascension Thursday
    assert!(!h.is_open(ts("2026-07-14T10:00:00Z"))); // Fête nationale (Tuesday)
    assert!(h.is_open(ts("2026-07-15T10:00:00Z")));
    // From the eve of Ascension, the next opening is on Friday.
    assert_eq!(
        h.next_change(ts("2026-05-13T18:00:00Z")),
        Some(ts("2026-05-15T06:00:00Z"))
    );
}

#[test]
fn easter_and_french_holidays_2025_to_2027() {
    assert_eq!(easter_sunday(2025), Some(date(2025, 4, 20)));
    assert_eq!(easter_sunday(2026), Some(date(2026, 4, 5)));
    assert_eq!(easter_sunday(2027), Some(date(2027, 3, 28)));
    // The two exceptional cases of the algorithm, and a late Easter.
    assert_eq!(easter_sunday(1981), Some(date(1981, 4, 19)));
    assert_eq!(easter_sunday(1954), Some(date(1954, 4, 18)));
    assert_eq!(easter_sunday(2038), Some(date(2038, 4, 25)));
    assert_eq!(easter_sunday(1582), None);

    let moving = |year| {
        let all = french_public_holidays(year).unwrap();
        let find = |name| all.iter().find(|h| h.name == name).unwrap().date;
        [
            find("Lundi de Pâques"),
            find("Ascension"),
            find("Lundi de Pentecôte"),
        ]
    };
    assert_eq!(
        moving(2025),
        [date(2025, 4, 21), date(2025, 5, 29), date(2025, 6, 9)]
    );
    assert_eq!(
        moving(2026),
        [date(2026, 4, 6), date(2026, 5, 14), date(2026, 5, 25)]
    );
    assert_eq!(
        moving(2027),
        [date(2027, 3, 29), date(2027, 5, 6), date(2027, 5, 17)]
    );

    let dates = french_public_holidays(2026).unwrap().map(|h| h.date);
    assert_eq!(
        dates,
        [
            date(2026, 1, 1),
            date(2026, 4, 6),
            date(2026, 5, 1),
            date(2026, 5, 8),
            date(2026, 5, 14),
            date(2026, 5, 25),
            date(2026, 7, 14),
            date(2026, 8, 15),
            date(2026, 11, 1),
            date(2026, 11, 11),
            date(2026, 12, 25),
        ]
    );
    assert_eq!(french_public_holidays(1582), None);
}

#[test]
fn spring_forward_last_sunday_of_march() {
    // 2026-03-29: at 02:00 CET (01:00 UTC) clocks jump to 03:00 CEST.
    let h = hours("sun 01:00-04:00; sat 22:00-06:00");
    // Saturday 22:00 CET → Sunday 06:00 CEST is 7 hours, not 8.
    assert!(h.is_open(ts("2026-03-28T21:00:00Z")));
    assert!(h.is_open(ts("2026-03-29T03:59:59Z")));
    assert!(!h.is_open(ts("2026-03-29T04:00:00Z")));
    assert_eq!(
        h.next_change(ts("2026-03-28T21:00:00Z")),
        Some(ts("2026-03-29T04:00:00Z"))
    );

    // Sunday 01:00 CET (00:00 UTC) to 04:00 CEST (02:00 UTC): 2 hours.
    let h = hours("sun 01:00-04:00");
    assert!(!h.is_open(ts("2026-03-28T23:59:59Z")));
    assert!(h.is_open(ts("2026-03-29T00:00:00Z")));
    assert!(h.is_open(ts("2026-03-29T01:30:00Z"))); // 03:30 CEST
    assert!(!h.is_open(ts("2026-03-29T02:00:00Z")));
    assert_eq!(
        h.next_change(ts("2026-03-29T00:00:00Z")),
        Some(ts("2026-03-29T02:00:00Z"))
    );

    // A day range is 11 hours long: 08:00 CEST is 06:00 UTC (07:00 UTC the day before).
    let h = hours("sat,sun 08:00-20:00");
    assert_eq!(
        h.next_change(ts("2026-03-28T00:00:00Z")),
        Some(ts("2026-03-28T07:00:00Z"))
    );
    assert_eq!(
        h.next_change(ts("2026-03-29T00:00:00Z")),
        Some(ts("2026-03-29T06:00:00Z"))
    );
    assert_eq!(
        h.next_change(ts("2026-03-29T06:00:00Z")),
        Some(ts("2026-03-29T18:00:00Z"))
    );

    // 02:30 does not exist that night: read with the pre-jump offset, i.e. 03:30 CEST.
    let h = hours("sun 02:30-05:00");
    assert!(!h.is_open(ts("2026-03-29T01:00:00Z"))); // 03:00 CEST
    assert!(h.is_open(ts("2026-03-29T01:30:00Z"))); // 03:30 CEST
    assert_eq!(
        h.next_change(ts("2026-03-29T00:00:00Z")),
        Some(ts("2026-03-29T01:30:00Z"))
    );
}

#[test]
fn fall_back_last_sunday_of_october() {
    // 2026-10-25: at 03:00 CEST (01:00 UTC) clocks go back to 02:00 CET.
    // Sunday 01:00 CEST (23:00 UTC Saturday) to 04:00 CET (03:00 UTC): 4 hours.
    let h = hours("sun 01:00-04:00");
    assert!(!h.is_open(ts("2026-10-24T22:59:59Z")));
    assert!(h.is_open(ts("2026-10-24T23:00:00Z")));
    assert!(h.is_open(ts("2026-10-25T00:30:00Z"))); // first 02:30 (CEST)
    assert!(h.is_open(ts("2026-10-25T01:30:00Z"))); // second 02:30 (CET)
    assert!(h.is_open(ts("2026-10-25T02:59:59Z")));
    assert!(!h.is_open(ts("2026-10-25T03:00:00Z")));
    assert_eq!(
        h.next_change(ts("2026-10-24T12:00:00Z")),
        Some(ts("2026-10-24T23:00:00Z"))
    );
    assert_eq!(
        h.next_change(ts("2026-10-24T23:00:00Z")),
        Some(ts("2026-10-25T03:00:00Z"))
    );

    // 08:00-20:00 lies after the change: still 12 hours, but an hour later in UTC than the day
    // before.
    let h = hours("sat,sun 08:00-20:00");
    assert_eq!(
        h.next_change(ts("2026-10-24T00:00:00Z")),
        Some(ts("2026-10-24T06:00:00Z"))
    );
    assert_eq!(
        h.next_change(ts("2026-10-25T00:00:00Z")),
        Some(ts("2026-10-25T07:00:00Z"))
    );
    // The whole day is 25 hours.
    let h = hours("sun 00:00-24:00");
    assert_eq!(
        h.next_change(ts("2026-10-24T12:00:00Z")),
        Some(ts("2026-10-24T22:00:00Z"))
    );
    assert_eq!(
        h.next_change(ts("2026-10-24T22:00:00Z")),
        Some(ts("2026-10-25T23:00:00Z"))
    );
    // 02:30 happens twice: a range starting then opens at the first one (CEST).
    let h = hours("sun 02:30-05:00");
    assert!(!h.is_open(ts("2026-10-25T00:29:59Z")));
    assert!(h.is_open(ts("2026-10-25T00:30:00Z")));
}

#[test]
fn parse_errors_carry_offsets_into_the_whole_text() {
    let text = "mon-sat 08:00-20:00\n2026-12-25 closed; sun 10:00-1200";
    let err = OpeningHours::parse(paris(), text).unwrap_err();
    assert_eq!(err.kind, HoursParseErrorKind::InvalidTime);
    assert_eq!(&text[err.offset..err.offset + err.len()], "1200");
    assert_eq!(err.offset, text.find("1200").unwrap());

    let mut b = OpeningHours::builder(paris());
    let err = b.rule("mon-sat 08:00-20:00,banana").unwrap_err();
    assert_eq!(
        (err.offset, err.kind),
        (20, HoursParseErrorKind::ExpectedRange)
    );
    // A failed rule leaves the builder unchanged.
    assert!(b.build().weekly(Weekday::Monday).is_empty());
}

#[test]
fn programmatic_exceptions_and_ranges() {
    let mut b = OpeningHours::builder(paris());
    b.rule("mon-fri 08:00-20:00").unwrap();
    b.exception(
        date(2026, 1, 5),
        &[TimeRange::new(time(9, 0, 0, 0), time(10, 0, 0, 0))],
    );
    let h = b.build();
    assert!(!h.is_open(ts("2026-01-05T07:30:00Z")));
    assert!(h.is_open(ts("2026-01-05T08:30:00Z")));
    assert_eq!(h.tz(), &paris());
}

proptest! {
    /// `next_change` is exact: the state holds from `at` up to it (checked at sampled points)
    /// and differs at it.
    #[test]
    fn next_change_is_the_first_flip(
        secs in 1_767_225_600_i64..1_798_761_600, // 2026 (UTC)
        probes in proptest::collection::vec(0.0_f64..1.0, 8),
    ) {
        let h = hours("mon-fri 08:00-12:00,13:30-18:00; sat 22:00-02:00\n\
                       2026-03-29 01:00-04:00; 2026-10-25 02:30-05:00; 2026-05-14 closed");
        let at = Timestamp::from_second(secs).unwrap();
        let open = h.is_open(at);
        let change = h.next_change(at).unwrap();
        prop_assert!(change > at);
        prop_assert_ne!(h.is_open(change), open);
        let span = change.as_second() - at.as_second();
        for p in probes {
            // Truncation toward zero keeps the probe strictly before `change`.
            let t = at.as_second() + (p * span as f64) as i64;
            prop_assert_eq!(h.is_open(Timestamp::from_second(t).unwrap()), open);
        }
    }
}

proptest! {
    /// Any text parses or fails without panicking, and an error's span is exactly its text.
    #[test]
    fn parse_never_panics_and_error_spans_are_exact(
        text in "([a-zA-Z0-9:,; \\-\n#é]|mon|fri|closed|08:00|24:00|2026-12-25){0,40}",
    ) {
        if let Err(err) = OpeningHours::parse(paris(), &text) {
            prop_assert_eq!(text.get(err.offset..err.offset + err.len()), Some(err.text.as_str()));
        }
    }
}
