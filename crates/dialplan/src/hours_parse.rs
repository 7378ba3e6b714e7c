//! Parser for the opening-hours rule strings of [`crate::hours`].
//!
//! Grammar (whitespace between the two parts, none inside a day list):
//! ```text
//! rule     = days SP schedule
//! days     = day *("," day)
//! day      = weekday | weekday "-" weekday | YYYY-MM-DD
//! schedule = "closed" | range *("," range)
//! range    = time "-" time          ; time = H:MM | HH:MM, 00:00..=23:59, and 24:00 as an end
//! ```
//! Every error names the byte span of the offending text within the rule, so a caller that knows
//! where the rule string sits in its file (the KDL layer) can report file, line and column.

use jiff::civil::{Date, Time, Weekday};

use crate::hours::TimeRange;

/// Why a rule did not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}: `{text}`")]
#[non_exhaustive]
pub struct HoursParseError {
    /// Byte offset of the offending text from the start of the parsed string.
    pub offset: usize,
    /// The offending text (may be empty when something is missing at `offset`).
    pub text: String,
    /// What is wrong with it.
    pub kind: HoursParseErrorKind,
}

impl HoursParseError {
    fn new(rule: &str, part: &str, kind: HoursParseErrorKind) -> Self {
        Self {
            offset: offset_of(rule, part),
            text: part.to_owned(),
            kind,
        }
    }

    /// Length in bytes of the offending text, for a source span `offset..offset + len()`.
    #[must_use]
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Whether the offending text is empty (something is missing at `offset`).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The same error with its offset moved by `by` bytes (the rule sat inside a larger text).
    #[must_use]
    pub(crate) fn shifted(mut self, by: usize) -> Self {
        self.offset += by;
        self
    }
}

/// The kinds of [`HoursParseError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HoursParseErrorKind {
    /// The rule is empty or blank.
    #[error("empty opening-hours rule")]
    EmptyRule,
    /// Days without a schedule after them.
    #[error("missing schedule after the days (a range such as 08:00-20:00, or `closed`)")]
    MissingSchedule,
    /// Not a weekday name (`mon`, `monday`…).
    #[error("unknown weekday")]
    UnknownWeekday,
    /// Looks like a date but is not a valid `YYYY-MM-DD` one.
    #[error("invalid date (expected YYYY-MM-DD)")]
    InvalidDate,
    /// Not a valid `HH:MM` time.
    #[error("invalid time (expected HH:MM from 00:00 to 23:59, or 24:00 as an end)")]
    InvalidTime,
    /// A schedule item without the `-` of `START-END`.
    #[error("expected a time range START-END or `closed`")]
    ExpectedRange,
    /// A range that starts and ends at the same time (ambiguous: nothing, or 24 hours?).
    #[error("range starts and ends at the same time (write 00:00-24:00 for the whole day)")]
    EmptyRange,
}

/// What a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Every such weekday of the weekly schedule.
    Weekday(Weekday),
    /// An exception for one date.
    Date(Date),
}

/// A parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) targets: Vec<Target>,
    /// `None` for `closed`.
    pub(crate) ranges: Option<Vec<TimeRange>>,
}

/// Parses one rule (see the module docs for the grammar).
pub(crate) fn parse_rule(rule: &str) -> Result<Rule, HoursParseError> {
    let trimmed = rule.trim();
    if trimmed.is_empty() {
        return Err(HoursParseError::new(
            rule,
            rule,
            HoursParseErrorKind::EmptyRule,
        ));
    }
    let (days, schedule) = match trimmed.split_once(char::is_whitespace) {
        Some((days, schedule)) => (days, schedule.trim()),
        None => (trimmed, ""),
    };
    if schedule.is_empty() {
        return Err(HoursParseError::new(
            rule,
            days,
            HoursParseErrorKind::MissingSchedule,
        ));
    }
    let targets = parse_days(rule, days)?;
    let ranges = if schedule.eq_ignore_ascii_case("closed") {
        None
    } else {
        Some(parse_ranges(rule, schedule)?)
    };
    Ok(Rule { targets, ranges })
}

fn parse_days(rule: &str, days: &str) -> Result<Vec<Target>, HoursParseError> {
    let mut targets = Vec::new();
    for item in days.split(',') {
        if item.starts_with(|c: char| c.is_ascii_digit()) {
            let date = parse_date(item).ok_or_else(|| {
                HoursParseError::new(rule, item, HoursParseErrorKind::InvalidDate)
            })?;
            targets.push(Target::Date(date));
            continue;
        }
        let weekday = |name: &str| {
            parse_weekday(name).ok_or_else(|| {
                HoursParseError::new(rule, name, HoursParseErrorKind::UnknownWeekday)
            })
        };
        match item.split_once('-') {
            None => targets.push(Target::Weekday(weekday(item)?)),
            Some((first, last)) => {
                let (first, last) = (weekday(first)?, weekday(last)?);
                // Ranges may wrap around the week: `fri-mon` is fri, sat, sun, mon.
                let mut day = first;
                targets.push(Target::Weekday(day));
                while day != last {
                    day = day.next();
                    targets.push(Target::Weekday(day));
                }
            }
        }
    }
    Ok(targets)
}

fn parse_ranges(rule: &str, schedule: &str) -> Result<Vec<TimeRange>, HoursParseError> {
    let mut ranges = Vec::new();
    for item in schedule.split(',') {
        let item = item.trim();
        let Some((start_text, end_text)) = item.split_once('-') else {
            return Err(HoursParseError::new(
                rule,
                item,
                HoursParseErrorKind::ExpectedRange,
            ));
        };
        let invalid_time =
            |t: &str| HoursParseError::new(rule, t, HoursParseErrorKind::InvalidTime);
        let start = parse_time(start_text, false).ok_or_else(|| invalid_time(start_text))?;
        let end = parse_time(end_text, true).ok_or_else(|| invalid_time(end_text))?;
        if start == end && !(start == Time::midnight() && end_text.starts_with("24")) {
            return Err(HoursParseError::new(
                rule,
                item,
                HoursParseErrorKind::EmptyRange,
            ));
        }
        ranges.push(TimeRange::new(start, end));
    }
    Ok(ranges)
}

/// `YYYY-MM-DD`, strictly (jiff accepts more forms than we want to promise in config files).
fn parse_date(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    let year = text.get(0..4)?.parse().ok()?;
    let month = text.get(5..7)?.parse().ok()?;
    let day = text.get(8..10)?.parse().ok()?;
    Date::new(year, month, day).ok()
}

/// `H:MM` or `HH:MM`; `24:00` (read as midnight) only when `is_end`.
fn parse_time(text: &str, is_end: bool) -> Option<Time> {
    let (hour, minute) = text.split_once(':')?;
    let digits =
        |s: &str, lens: &[usize]| lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(hour, &[1, 2]) || !digits(minute, &[2]) {
        return None;
    }
    let (hour, minute): (i8, i8) = (hour.parse().ok()?, minute.parse().ok()?);
    if is_end && hour == 24 && minute == 0 {
        return Some(Time::midnight());
    }
    Time::new(hour, minute, 0, 0).ok()
}

/// English weekday, three letters or full, case-insensitive.
fn parse_weekday(name: &str) -> Option<Weekday> {
    const DAYS: [(&str, Weekday); 7] = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    let lower = name.to_ascii_lowercase();
    DAYS.iter()
        .find(|(full, _)| lower == *full || (lower.len() == 3 && full.starts_with(&lower)))
        .map(|&(_, day)| day)
}

/// Byte offset of `part` inside `base`; `part` must be a subslice of `base` (it always is here:
/// every part comes from splitting or trimming the rule), else 0.
fn offset_of(base: &str, part: &str) -> usize {
    (part.as_ptr() as usize)
        .checked_sub(base.as_ptr() as usize)
        .filter(|&o| o <= base.len())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn err(rule: &str) -> (usize, String, HoursParseErrorKind) {
        let e = parse_rule(rule).unwrap_err();
        (e.offset, e.text, e.kind)
    }

    #[test]
    fn weekday_ranges_lists_and_wrap_around() {
        let rule = parse_rule("fri-mon,wed 22:00-06:00").unwrap();
        let days: Vec<_> = rule.targets.clone();
        use Weekday::*;
        let expected = [Friday, Saturday, Sunday, Monday, Wednesday].map(Target::Weekday);
        assert_eq!(days, expected);
        let range = TimeRange::new(time(22, 0, 0, 0), time(6, 0, 0, 0));
        assert_eq!(rule.ranges, Some(vec![range]));
        assert!(range.crosses_midnight());
    }

    #[test]
    fn dates_closed_and_multiple_ranges() {
        let rule = parse_rule("  2026-12-24,2026-12-31   8:00-12:00, 14:00-24:00 ").unwrap();
        assert_eq!(
            rule.targets,
            vec![
                Target::Date(date(2026, 12, 24)),
                Target::Date(date(2026, 12, 31))
            ]
        );
        assert_eq!(
            rule.ranges,
            Some(vec![
                TimeRange::new(time(8, 0, 0, 0), time(12, 0, 0, 0)),
                TimeRange::new(time(14, 0, 0, 0), Time::midnight()),
            ])
        );
        assert_eq!(parse_rule("Sunday CLOSED").unwrap().ranges, None);
        assert_eq!(
            parse_rule("mon 00:00-24:00").unwrap().ranges,
            Some(vec![TimeRange::all_day()])
        );
    }

    #[test]
    fn errors_point_at_the_offending_text() {
        use HoursParseErrorKind::*;
        assert_eq!(err("   "), (0, "   ".into(), EmptyRule));
        assert_eq!(err(" mon-fri "), (1, "mon-fri".into(), MissingSchedule));
        assert_eq!(
            err("mon-fro 08:00-20:00"),
            (4, "fro".into(), UnknownWeekday)
        );
        assert_eq!(
            err("mon,xyz 08:00-20:00"),
            (4, "xyz".into(), UnknownWeekday)
        );
        assert_eq!(
            err("2026-02-30 closed"),
            (0, "2026-02-30".into(), InvalidDate)
        );
        assert_eq!(
            err("mon 08:00-20:00,14h"),
            (16, "14h".into(), ExpectedRange)
        );
        assert_eq!(err("mon 08:00-25:00"), (10, "25:00".into(), InvalidTime));
        assert_eq!(err("mon 24:00-08:00"), (4, "24:00".into(), InvalidTime));
        assert_eq!(err("mon 8:5-9:00"), (4, "8:5".into(), InvalidTime));
        assert_eq!(
            err("mon 08:00-08:00"),
            (4, "08:00-08:00".into(), EmptyRange)
        );
        assert_eq!(
            err("2026-12-5 closed"),
            (0, "2026-12-5".into(), InvalidDate)
        );
    }

    #[test]
    fn error_display_names_kind_offset_and_text() {
        let e = parse_rule("mon-fro 08:00-20:00").unwrap_err();
        assert_eq!(e.to_string(), "unknown weekday at byte 4: `fro`");
        assert_eq!((e.len(), e.is_empty()), (3, false));
    }
}
