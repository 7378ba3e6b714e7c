//! Cutting wall-clock time into report intervals and local days.
//!
//! Intervals are the cells of a grid on *local* time, aligned on the local hour: with 15
//! minutes, 10:00, 10:15, 10:30, 10:45 local. Where the time zone's offset changes inside a
//! cell, the cell is cut at the change, so intervals always partition time: every instant is in
//! exactly one interval, and intervals never overlap, whatever the zone does. With today's zones
//! and a 15-minute grid no cut ever happens (every offset change is a multiple of 15 minutes
//! and falls on a cell edge): on Europe/Paris's spring-forward day the 01:45 interval is
//! followed by 03:00 (92 intervals in the day), on the fall-back day the 02:00–02:45 intervals
//! occur twice, once per offset (100 intervals). A one-hour grid in `Australia/Lord_Howe` (a
//! 30-minute DST shift) does show a cut.
//!
//! A day is local midnight to the next local midnight (or the instant the day starts when
//! midnight is skipped), so it is 23, 24 or 25 hours long and always a whole number of
//! intervals.

use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::config::StatsError;

const NANOS_PER_SEC: i128 = 1_000_000_000;
const ONE_NANO: SignedDuration = SignedDuration::from_nanos(1);

/// A half-open stretch of time `[start, end)`: an interval or a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// The first instant in it.
    pub start: Timestamp,
    /// The first instant after it.
    pub end: Timestamp,
}

impl Interval {
    /// Whether `at` falls in it.
    #[must_use]
    pub fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }

    /// Its length.
    #[must_use]
    pub fn length(&self) -> Duration {
        elapsed(self.start, self.end)
    }
}

/// `to - from`, or zero when `to` is not after `from`.
pub(crate) fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or(Duration::ZERO)
}

/// The interval grid and day boundaries of one time zone.
#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    tz: TimeZone,
    /// Interval length in nanoseconds. Invariant: positive, divides one hour.
    len_ns: i128,
}

impl Calendar {
    /// A calendar cutting `tz` into intervals of `interval`.
    pub(crate) fn new(tz: TimeZone, interval: Duration) -> Result<Self, StatsError> {
        let secs = interval.as_secs();
        if interval.subsec_nanos() != 0 || secs == 0 || 3600 % secs != 0 {
            return Err(StatsError::Interval(interval));
        }
        Ok(Self {
            tz,
            len_ns: i128::from(secs) * NANOS_PER_SEC,
        })
    }

    /// The interval `at` falls in.
    pub(crate) fn interval_at(&self, at: Timestamp) -> Interval {
        let off_ns = i128::from(self.tz.to_offset(at).seconds()) * NANOS_PER_SEC;
        let local = at.as_nanosecond() + off_ns;
        let cell = local - local.rem_euclid(self.len_ns);
        let mut start = Timestamp::from_nanosecond(cell - off_ns).unwrap_or(Timestamp::MIN);
        let mut end =
            Timestamp::from_nanosecond(cell + self.len_ns - off_ns).unwrap_or(Timestamp::MAX);
        // Cut the cell at an offset change inside it (the grid is only valid for one offset).
        // `preceding` yields transitions strictly before its argument: ask from `at + 1ns` so a
        // transition exactly at `at` starts the interval.
        let after_at = at.checked_add(ONE_NANO).unwrap_or(at);
        for transition in self.tz.preceding(after_at) {
            let t = transition.timestamp();
            if t <= start {
                break;
            }
            if self.changes_offset(t) {
                start = t;
                break;
            }
        }
        for transition in self.tz.following(at) {
            let t = transition.timestamp();
            if t >= end {
                break;
            }
            if self.changes_offset(t) {
                end = t;
                break;
            }
        }
        Interval { start, end }
    }

    /// Whether the offset at `t` differs from the one just before (some transitions change
    /// only the abbreviation or the DST flag; those must not cut an interval).
    fn changes_offset(&self, t: Timestamp) -> bool {
        t.checked_sub(ONE_NANO)
            .is_ok_and(|before| self.tz.to_offset(before) != self.tz.to_offset(t))
    }

    /// The local date `at` falls on.
    pub(crate) fn date_of(&self, at: Timestamp) -> Date {
        self.tz.to_datetime(at).date()
    }

    /// The local day `date`, midnight to midnight.
    pub(crate) fn day(&self, date: Date) -> Result<Interval, StatsError> {
        let out_of_range = |_| StatsError::DayOutOfRange(date);
        // `to_zoned` resolves a skipped midnight to the end of the gap, where the day starts.
        let start = date.to_zoned(self.tz.clone()).map_err(out_of_range)?;
        let next = date.tomorrow().map_err(out_of_range)?;
        let end = next.to_zoned(self.tz.clone()).map_err(out_of_range)?;
        Ok(Interval {
            start: start.timestamp(),
            end: end.timestamp(),
        })
    }

    /// The intervals of `period` (a day), in order.
    pub(crate) fn intervals_in(&self, period: Interval) -> Vec<Interval> {
        let mut out = Vec::new();
        let mut at = period.start;
        while at < period.end {
            let interval = self.interval_at(at);
            let end = interval.end.min(period.end);
            if end <= at {
                break; // only at the end of the timestamp range
            }
            out.push(Interval {
                start: interval.start.max(period.start),
                end,
            });
            at = end;
        }
        out
    }

    /// Calls `add(interval start, time)` for each interval `[from, to)` overlaps, with the
    /// part of `[from, to)` in it.
    pub(crate) fn split(
        &self,
        from: Timestamp,
        to: Timestamp,
        mut add: impl FnMut(Timestamp, Duration),
    ) {
        let mut at = from;
        while at < to {
            let interval = self.interval_at(at);
            let end = interval.end.min(to);
            if end <= at {
                break; // only at the end of the timestamp range
            }
            add(interval.start, elapsed(at, end));
            at = end;
        }
    }
}

#[cfg(test)]
#[path = "calendar_tests.rs"]
mod tests;
