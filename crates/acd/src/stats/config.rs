//! What the statistics are told: the time zone reports are cut in, the interval length, how
//! many days to keep, and each queue's service-level target and definition.

use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::agent::AgentId;
use crate::config::{QueueConfig, QueueId};

/// How [`crate::stats::Stats`] cuts time and how long it remembers.
#[derive(Debug, Clone)]
pub struct StatsConfig {
    /// The time zone whose local midnights start days and whose local hours align intervals
    /// (the contact centre's, not the server's).
    pub tz: TimeZone,
    /// Interval length. Invariant (checked by [`crate::stats::Stats::new`]): a whole number of
    /// seconds that divides one hour, so every local hour, and therefore every local midnight,
    /// starts an interval.
    pub interval: Duration,
    /// Days of intervals kept, today included (1: today only). Older intervals, and the calls
    /// still tracked that belong to them, are forgotten when the first event of a new local
    /// day arrives; that is what bounds memory.
    pub days_kept: u32,
    /// Per-queue targets. A queue seen in events but not listed here gets
    /// [`QueueStatsConfig::new`]'s defaults.
    pub queues: Vec<QueueStatsConfig>,
}

impl StatsConfig {
    /// 15-minute intervals in `tz`, eight days kept (today and the same weekday last week, the
    /// comparison a supervisor makes), no queue configured.
    #[must_use]
    pub fn new(tz: TimeZone) -> Self {
        Self {
            tz,
            interval: Duration::from_mins(15),
            days_kept: 8,
            queues: Vec::new(),
        }
    }
}

/// One queue's targets and members, as far as statistics are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStatsConfig {
    /// The queue.
    pub queue: QueueId,
    /// Service-level target: a call answered after waiting at most this long is answered
    /// within target; a call still waiting longer than this has already failed it.
    pub service_level: Duration,
    /// An abandon after waiting strictly less than this is a short abandon (a wrong number,
    /// a caller who heard the greeting and chose not to wait), counted apart from abandons.
    pub short_abandon: Duration,
    /// How the service-level percentage is computed.
    pub definition: SlDefinition,
    /// The agents the live view counts by state (the queue's members).
    pub members: Vec<AgentId>,
}

impl QueueStatsConfig {
    /// The defaults of [`QueueConfig::new`]: 20 s target, 5 s short abandon, of offered, no
    /// members.
    #[must_use]
    pub fn new(queue: QueueId) -> Self {
        Self {
            queue,
            service_level: Duration::from_secs(20),
            short_abandon: Duration::from_secs(5),
            definition: SlDefinition::default(),
            members: Vec::new(),
        }
    }

    /// The target, short-abandon threshold and members of an ACD queue, with `definition`.
    #[must_use]
    pub fn from_queue(queue: &QueueConfig, definition: SlDefinition) -> Self {
        Self {
            queue: queue.id.clone(),
            service_level: queue.service_level,
            short_abandon: queue.short_abandon,
            definition,
            members: queue.members.iter().map(|m| m.agent.clone()).collect(),
        }
    }
}

/// Which calls the service-level percentage is taken over. The numerator is always the calls
/// answered within target; only calls whose result against the target is already known count
/// in a denominator (see `docs/statistics.md` for the formulas).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SlDefinition {
    /// Of every offered call: answered, abandoned, short-abandoned, overflowed, interrupted,
    /// and still waiting past the target. The strictest, and the default: a caller who gave
    /// up counts against the centre.
    #[default]
    OfOffered,
    /// Of answered calls only: "how fast do we pick up when we do".
    OfAnswered,
    /// As [`SlDefinition::OfOffered`] without short abandons, so callers who hang up within
    /// seconds do not count against the centre.
    OfOfferedMinusShortAbandons,
}

/// Why the statistics refused a configuration or a question.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// The interval is not a whole number of seconds dividing one hour.
    #[error("statistics interval {0:?} must be a whole number of seconds that divides one hour")]
    Interval(Duration),
    /// `days_kept` is zero.
    #[error("statistics must keep at least one day")]
    NoDaysKept,
    /// The day's midnight cannot be represented in the configured time zone (a date near the
    /// ends of the calendar's range).
    #[error("day {0} is out of the statistics time zone's range")]
    DayOutOfRange(Date),
    /// The period starts before the oldest day still kept.
    #[error("figures from {start} are no longer kept (kept from {kept_from})")]
    Forgotten {
        /// The start of the period asked for.
        start: Timestamp,
        /// The start of the oldest day kept.
        kept_from: Timestamp,
    },
}
