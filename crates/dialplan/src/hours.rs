//! Opening hours: "is the line open at this instant, and when does that change?"
//!
//! Dialplans branch on named opening hours (`ARCHITECTURE.md`, "Dialplan"): the after-sales line
//! is open Monday to Saturday 08:00–20:00 in Paris, closed on public holidays, with short hours on
//! Christmas Eve. An [`OpeningHours`] holds
//! * a time zone (`jiff`, with the bundled tz database, so results do not depend on the host),
//! * a weekly schedule: for each weekday, a list of `[start, end)` wall-clock ranges,
//! * exceptions: dates that replace the weekly schedule (closed, or special ranges).
//!
//! # Semantics
//! * Ranges are local wall-clock times. A range whose end is not after its start crosses
//!   midnight and ends the next day (`22:00-02:00`); `00:00-24:00` is the whole day.
//! * A range belongs to the day it *starts* on: a holiday on Friday closes Friday's
//!   `22:00-02:00`, including the hours after midnight; a holiday on Saturday does not.
//! * Daylight-saving time follows the wall clock: `08:00-20:00` is 11 hours long on the last
//!   Sunday of March in Paris and 13 on the last Sunday of October. A time that does not exist
//!   (02:30 when clocks jump from 02:00 to 03:00) is read with the offset in force before the
//!   jump, i.e. 03:30; a time that happens twice (02:30 in October) means its first occurrence.
//!   This is RFC 5545 §3.3.5's rule and jiff's "compatible" disambiguation.
//!
//! Rules are written as short strings (see [`OpeningHoursBuilder::rule`]), which the dialplan's
//! KDL layer passes through; parse errors carry the byte offset and length of the offending text
//! inside the rule so that layer can report file, line and column.
//!
//! ```
//! use jiff::{Timestamp, tz::TimeZone};
//! use switchboard_dialplan::hours::OpeningHours;
//!
//! let tz = TimeZone::get("Europe/Paris").unwrap();
//! let hours = OpeningHours::parse(tz, "mon-sat 08:00-20:00\n2026-12-25 closed").unwrap();
//! let monday_noon: Timestamp = "2026-12-21T11:00:00Z".parse().unwrap(); // 12:00 in Paris
//! assert!(hours.is_open(monday_noon));
//! assert_eq!(hours.next_change(monday_noon), Some("2026-12-21T19:00:00Z".parse().unwrap()));
//! assert!(!hours.is_open("2026-12-25T11:00:00Z".parse().unwrap()));
//! ```

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;

pub use crate::hours_parse::{HoursParseError, HoursParseErrorKind};

/// A `[start, end)` range of local wall-clock time within a day's schedule.
///
/// Invariant: if `end <= start` the range ends on the next day (so `start == end` is 24 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeRange {
    start: Time,
    end: Time,
}

impl TimeRange {
    /// A range from `start` to `end`, crossing midnight when `end <= start`.
    #[must_use]
    pub fn new(start: Time, end: Time) -> Self {
        Self { start, end }
    }

    /// The whole day, `00:00-24:00`.
    #[must_use]
    pub fn all_day() -> Self {
        Self::new(Time::midnight(), Time::midnight())
    }

    /// Local time the range starts.
    #[must_use]
    pub fn start(&self) -> Time {
        self.start
    }

    /// Local time the range ends (on the next day if [`TimeRange::crosses_midnight`]).
    #[must_use]
    pub fn end(&self) -> Time {
        self.end
    }

    /// Whether the range ends on the day after it starts.
    #[must_use]
    pub fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }
}

/// Opening hours in one time zone: a weekly schedule plus dated exceptions.
#[derive(Debug, Clone, PartialEq)]
pub struct OpeningHours {
    tz: TimeZone,
    /// Ranges per weekday, Monday first (index = `Weekday::to_monday_zero_offset`), sorted.
    weekly: [Vec<TimeRange>; 7],
    /// Dates whose ranges replace the weekly ones; an empty list means closed all day.
    exceptions: BTreeMap<Date, Vec<TimeRange>>,
}

impl OpeningHours {
    /// Starts building opening hours in `tz`, closed every day until rules say otherwise.
    #[must_use]
    pub fn builder(tz: TimeZone) -> OpeningHoursBuilder {
        OpeningHoursBuilder {
            hours: Self {
                tz,
                weekly: Default::default(),
                exceptions: BTreeMap::new(),
            },
        }
    }

    /// Parses rules, one per line or separated by `;` (blank parts and `#` comments ignored).
    ///
    /// # Errors
    /// The first rule that does not parse; its offset is relative to the start of `text`.
    pub fn parse(tz: TimeZone, text: &str) -> Result<Self, HoursParseError> {
        let mut builder = Self::builder(tz);
        for (line_start, line) in split_with_offsets(text, '\n') {
            let line = line.split('#').next().unwrap_or_default();
            for (start, rule) in split_with_offsets(line, ';') {
                if rule.trim().is_empty() {
                    continue;
                }
                builder
                    .rule(rule)
                    .map_err(|e| e.shifted(line_start + start))?;
            }
        }
        Ok(builder.build())
    }

    /// The time zone the ranges are expressed in.
    #[must_use]
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// The weekly ranges of `day`, sorted by start.
    #[must_use]
    pub fn weekly(&self, day: Weekday) -> &[TimeRange] {
        &self.weekly[weekday_index(day)]
    }

    /// The exception for `date`, if any: `Some(&[])` means closed all day.
    #[must_use]
    pub fn exception(&self, date: Date) -> Option<&[TimeRange]> {
        self.exceptions.get(&date).map(Vec::as_slice)
    }

    /// The ranges that apply on `date`: its exception, or its weekday's ranges.
    #[must_use]
    pub fn ranges_on(&self, date: Date) -> &[TimeRange] {
        self.exception(date)
            .unwrap_or_else(|| self.weekly(date.weekday()))
    }

    /// Whether the hours are open at `at`.
    #[must_use]
    pub fn is_open(&self, at: Timestamp) -> bool {
        let today = self.tz.to_datetime(at).date();
        // A range lasts at most 24 h from its start, so only yesterday's and today's can hold
        // `at`.
        [today.yesterday().ok(), Some(today)]
            .into_iter()
            .flatten()
            .flat_map(|day| self.intervals(day))
            .any(|(start, end)| start <= at && at < end)
    }

    /// The first instant after `at` at which [`OpeningHours::is_open`] changes, or `None` if it
    /// never does (always open, always closed, or beyond the supported calendar).
    #[must_use]
    pub fn next_change(&self, at: Timestamp) -> Option<Timestamp> {
        let open_now = self.is_open(at);
        let today = self.tz.to_datetime(at).date();
        // After the last exception the schedule repeats weekly: a week (and a day for ranges
        // crossing midnight) past it without a change means there is none.
        let last_special = self.exceptions.keys().next_back().copied().unwrap_or(today);
        let horizon = last_special
            .max(today)
            .checked_add(jiff::Span::new().days(9))
            .ok()?;
        let mut day = today.yesterday().ok()?;
        let mut pending: Vec<Timestamp> = Vec::new();
        while day <= horizon {
            pending.extend(
                self.intervals(day)
                    .flat_map(|(start, end)| [start, end])
                    .filter(|&t| t > at),
            );
            // Ranges of later days start no earlier than the next midnight: every boundary
            // before it is known, so test those in order.
            let next_day = day.tomorrow().ok()?;
            let bound = self.resolve(next_day, Time::midnight())?;
            pending.sort_unstable();
            let known = pending.partition_point(|&t| t < bound);
            if let Some(&change) = pending[..known]
                .iter()
                .find(|&&t| self.is_open(t) != open_now)
            {
                return Some(change);
            }
            pending.drain(..known);
            day = next_day;
        }
        None
    }

    /// The instants `[start, end)` of the ranges that start on `day`, skipping any that cannot
    /// be represented (calendar limits) or that a DST gap collapses to nothing.
    fn intervals(&self, day: Date) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
        self.ranges_on(day).iter().filter_map(move |range| {
            let start = self.resolve(day, range.start)?;
            let end_day = if range.crosses_midnight() {
                day.tomorrow().ok()?
            } else {
                day
            };
            let end = self.resolve(end_day, range.end)?;
            (start < end).then_some((start, end))
        })
    }

    /// The instant of local `time` on `day`, disambiguated as described in the module docs.
    fn resolve(&self, day: Date, time: Time) -> Option<Timestamp> {
        self.tz
            .to_ambiguous_timestamp(day.to_datetime(time))
            .compatible()
            .ok()
    }
}

/// Builds [`OpeningHours`] rule by rule.
#[derive(Debug, Clone)]
pub struct OpeningHoursBuilder {
    hours: OpeningHours,
}

impl OpeningHoursBuilder {
    /// Applies one rule, such as:
    /// * `mon-sat 08:00-20:00`, `mon,wed,fri 08:00-12:00,14:00-18:00`, `fri-mon 22:00-06:00`:
    ///   adds ranges to those weekdays (rules for the same day accumulate);
    /// * `sun closed`: clears those weekdays;
    /// * `2026-12-24 08:00-12:00`, `2026-12-25 closed`, `2026-12-24,2026-12-31 08:00-12:00`: an
    ///   exception replacing the weekly schedule on those dates (exceptions for the same date
    ///   accumulate ranges; `closed` clears them).
    ///
    /// Weekdays are English, three letters or full (`mon`, `monday`), case-insensitive. Times
    /// are `H:MM` or `HH:MM`, 24-hour; `24:00` may end a range.
    ///
    /// # Errors
    /// [`HoursParseError`] with the byte offset and length of the offending text within `rule`.
    /// The builder is unchanged when a rule fails.
    pub fn rule(&mut self, rule: &str) -> Result<&mut Self, HoursParseError> {
        let parsed = crate::hours_parse::parse_rule(rule)?;
        let ranges = parsed.ranges;
        for target in parsed.targets {
            let slot = match target {
                crate::hours_parse::Target::Weekday(day) => {
                    &mut self.hours.weekly[weekday_index(day)]
                }
                crate::hours_parse::Target::Date(date) => {
                    self.hours.exceptions.entry(date).or_default()
                }
            };
            match &ranges {
                None => slot.clear(),
                Some(ranges) => {
                    slot.extend_from_slice(ranges);
                    slot.sort_unstable();
                    slot.dedup();
                }
            }
        }
        Ok(self)
    }

    /// Closes `dates` all day (e.g. [`crate::holidays::french_public_holidays`]).
    pub fn closed_on(&mut self, dates: impl IntoIterator<Item = Date>) -> &mut Self {
        for date in dates {
            self.hours.exceptions.insert(date, Vec::new());
        }
        self
    }

    /// Replaces the schedule of `date` with `ranges` (empty: closed all day).
    pub fn exception(&mut self, date: Date, ranges: &[TimeRange]) -> &mut Self {
        let mut ranges = ranges.to_vec();
        ranges.sort_unstable();
        ranges.dedup();
        self.hours.exceptions.insert(date, ranges);
        self
    }

    /// The opening hours built so far.
    #[must_use]
    pub fn build(&self) -> OpeningHours {
        self.hours.clone()
    }
}

/// Index of `day` in the weekly table: Monday is 0.
fn weekday_index(day: Weekday) -> usize {
    usize::from(day.to_monday_zero_offset().unsigned_abs())
}

/// Splits `text` on `sep`, giving each part with its byte offset in `text`.
fn split_with_offsets(text: &str, sep: char) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split(sep).map(move |part| {
        let start = offset;
        offset += part.len() + sep.len_utf8();
        (start, part)
    })
}
