//! One queue's figures: per-interval counters, and the calls still waiting.
//!
//! Every call visit is attributed to the interval it *joined* in, for all its outcomes: the
//! counters of that interval change when the call is answered, abandoned, overflowed or its
//! handling ends, however much later. Calls still waiting are not in any counter: they are
//! tracked one by one ([`QueueBook::waiting`]) and counted when figures are asked for, against
//! the `now` of the question.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;

use super::calendar::{Calendar, Interval, elapsed};
use super::config::{QueueStatsConfig, SlDefinition};
use crate::agent::CallRef;
use crate::io::OverflowReason;

/// Overflowed calls by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overflows {
    /// No member who could take the call was logged in.
    pub no_agents: u32,
    /// The call waited the queue's (or dialplan's) maximum.
    pub max_wait: u32,
    /// The queue was full when the call joined.
    pub full: u32,
    /// The caller pressed an exit key.
    pub key: u32,
}

impl Overflows {
    /// All overflows.
    #[must_use]
    pub fn total(&self) -> u32 {
        self.no_agents + self.max_wait + self.full + self.key
    }

    fn count(&mut self, reason: OverflowReason) {
        let slot = match reason {
            OverflowReason::NoAgents => &mut self.no_agents,
            OverflowReason::MaxWait => &mut self.max_wait,
            OverflowReason::Full => &mut self.full,
            OverflowReason::Key(_) => &mut self.key,
        };
        *slot += 1;
    }

    fn merge(&mut self, other: &Overflows) {
        self.no_agents += other.no_agents;
        self.max_wait += other.max_wait;
        self.full += other.full;
        self.key += other.key;
    }
}

/// A queue's figures over one period (an interval or a day), for the calls that joined in it.
///
/// Invariant: `answered + abandoned + short_abandoned + overflowed.total() + interrupted +
/// waiting == offered`. Every count is of call visits: a caller who overflows to a second
/// queue is one visit of each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFigures {
    /// Calls that joined.
    pub offered: u32,
    /// Calls answered by an agent.
    pub answered: u32,
    /// Of those, answered after waiting at most the service-level target.
    pub answered_within_target: u32,
    /// Callers who hung up after waiting at least the short-abandon threshold.
    pub abandoned: u32,
    /// Callers who hung up before the short-abandon threshold (not in `abandoned`).
    pub short_abandoned: u32,
    /// Calls given back to the dialplan, by reason.
    pub overflowed: Overflows,
    /// Calls still waiting when the switch stopped: neither answered nor abandoned.
    pub interrupted: u32,
    /// Calls still waiting at `now`.
    pub waiting: u32,
    /// Of those, waiting longer than the service-level target at `now`: already failed.
    pub waiting_past_target: u32,
    /// Sum of the waits of answered calls (the numerator of [`QueueFigures::asa`]).
    pub answered_wait: Duration,
    /// The longest wait that has ended: answered, abandoned, short-abandoned or overflowed
    /// calls (an interrupted call's wait is unknown).
    pub longest_wait: Option<Duration>,
    /// The current wait of the call waiting longest, among `waiting`.
    pub oldest_waiting: Option<Duration>,
    /// Answered calls whose wrap-up has ended: their handle time is known.
    pub handled: u32,
    /// Sum of talk and wrap-up of the `handled` calls.
    pub handle_time: Duration,
    /// Answered calls whose handling was cut by a stop of the switch (or lost its record):
    /// their handle time is unknown and not in `handled`.
    pub handling_cut: u32,
    /// The definition [`QueueFigures::service_level_percent`] uses (the queue's).
    pub definition: SlDefinition,
}

impl QueueFigures {
    /// Calls whose result against the target is known, under `definition`: the
    /// service-level denominator.
    #[must_use]
    pub fn service_level_base(&self, definition: SlDefinition) -> u32 {
        let not_answered =
            self.abandoned + self.overflowed.total() + self.interrupted + self.waiting_past_target;
        match definition {
            SlDefinition::OfOffered => self.answered + self.short_abandoned + not_answered,
            SlDefinition::OfAnswered => self.answered,
            SlDefinition::OfOfferedMinusShortAbandons => self.answered + not_answered,
        }
    }

    /// The service level in percent under the queue's definition; `None` while no call's
    /// result is known.
    #[must_use]
    pub fn service_level_percent(&self) -> Option<f64> {
        self.service_level_percent_with(self.definition)
    }

    /// The service level in percent under `definition`.
    #[must_use]
    pub fn service_level_percent_with(&self, definition: SlDefinition) -> Option<f64> {
        let base = self.service_level_base(definition);
        (base > 0).then(|| 100.0 * f64::from(self.answered_within_target) / f64::from(base))
    }

    /// Average speed of answer: the exact mean wait of answered calls (to the nanosecond,
    /// rounded down).
    #[must_use]
    pub fn asa(&self) -> Option<Duration> {
        self.answered_wait.checked_div(self.answered)
    }

    /// Average handle time: the exact mean talk plus wrap-up of handled calls.
    #[must_use]
    pub fn aht(&self) -> Option<Duration> {
        self.handle_time.checked_div(self.handled)
    }

    /// Adds the figures of `other`, a period that does not overlap this one (a week from its
    /// days, say): counts and durations add, the longest waits take the larger. Queried at
    /// the same `now`, merging the intervals of a day gives exactly the day's figures. The
    /// definition stays this one's.
    pub fn merge(&mut self, other: &QueueFigures) {
        self.offered += other.offered;
        self.answered += other.answered;
        self.answered_within_target += other.answered_within_target;
        self.abandoned += other.abandoned;
        self.short_abandoned += other.short_abandoned;
        self.overflowed.merge(&other.overflowed);
        self.interrupted += other.interrupted;
        self.waiting += other.waiting;
        self.waiting_past_target += other.waiting_past_target;
        self.answered_wait += other.answered_wait;
        self.longest_wait = self.longest_wait.max(other.longest_wait);
        self.oldest_waiting = self.oldest_waiting.max(other.oldest_waiting);
        self.handled += other.handled;
        self.handle_time += other.handle_time;
        self.handling_cut += other.handling_cut;
    }

    fn ended_wait(&mut self, wait: Duration) {
        self.longest_wait = self.longest_wait.max(Some(wait));
    }
}

/// How a waiting call's visit ended (the events that close one).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Answered,
    Abandoned,
    Overflowed(OverflowReason),
}

/// A call waiting in the queue.
#[derive(Debug, Clone, Copy)]
struct Visit {
    /// When it joined.
    joined: Timestamp,
    /// The start of the interval it joined in: where all its outcomes are counted.
    interval: Timestamp,
}

/// One queue's record.
#[derive(Debug, Clone)]
pub(crate) struct QueueBook {
    pub(crate) config: QueueStatsConfig,
    /// Counters of closed outcomes, by interval start. Only intervals of kept days.
    intervals: BTreeMap<Timestamp, QueueFigures>,
    /// Calls waiting now. Entries leave with their outcome, or when their day is forgotten.
    waiting: HashMap<CallRef, Visit>,
}

impl QueueBook {
    pub(crate) fn new(config: QueueStatsConfig) -> Self {
        Self {
            config,
            intervals: BTreeMap::new(),
            waiting: HashMap::new(),
        }
    }

    /// The counters of the interval starting at `start`, unless that day is forgotten.
    fn counters(&mut self, start: Timestamp, kept_from: Timestamp) -> Option<&mut QueueFigures> {
        (start >= kept_from).then(|| self.intervals.entry(start).or_default())
    }

    /// A call joins. A visit of the same call still open has lost its outcome; it is closed
    /// as interrupted so the books still balance.
    pub(crate) fn join(
        &mut self,
        cal: &Calendar,
        kept_from: Timestamp,
        at: Timestamp,
        call: CallRef,
    ) {
        let interval = cal.interval_at(at).start;
        if let Some(old) = self.waiting.remove(&call)
            && let Some(c) = self.counters(old.interval, kept_from)
        {
            c.interrupted += 1;
        }
        if let Some(c) = self.counters(interval, kept_from) {
            c.offered += 1;
            self.waiting.insert(
                call,
                Visit {
                    joined: at,
                    interval,
                },
            );
        }
    }

    /// A waiting call's visit ends with `outcome` after `wait`. Returns the start of the
    /// interval it is counted in, or `None` if that day is forgotten.
    ///
    /// When the call was not seen joining (the replay started after it did), it is counted
    /// as having joined at `at - wait`.
    pub(crate) fn close(
        &mut self,
        cal: &Calendar,
        kept_from: Timestamp,
        at: Timestamp,
        call: CallRef,
        wait: Duration,
        outcome: Outcome,
    ) -> Option<Timestamp> {
        let (interval, seen) = match self.waiting.remove(&call) {
            Some(visit) => (visit.interval, true),
            None => {
                let joined = at.checked_sub(wait).unwrap_or(Timestamp::MIN);
                (cal.interval_at(joined).start, false)
            }
        };
        let service_level = self.config.service_level;
        let short_abandon = self.config.short_abandon;
        let c = self.counters(interval, kept_from)?;
        if !seen {
            c.offered += 1;
        }
        c.ended_wait(wait);
        match outcome {
            Outcome::Answered => {
                c.answered += 1;
                c.answered_wait += wait;
                if wait <= service_level {
                    c.answered_within_target += 1;
                }
            }
            Outcome::Abandoned if wait < short_abandon => c.short_abandoned += 1,
            Outcome::Abandoned => c.abandoned += 1,
            Outcome::Overflowed(reason) => c.overflowed.count(reason),
        }
        Some(interval)
    }

    /// The switch stopped while `call` waited. Returns whether it was waiting here.
    pub(crate) fn interrupt(&mut self, kept_from: Timestamp, call: CallRef) -> bool {
        let Some(visit) = self.waiting.remove(&call) else {
            return false;
        };
        if let Some(c) = self.counters(visit.interval, kept_from) {
            c.interrupted += 1;
        }
        true
    }

    /// A call answered from the interval at `interval` has been handled in `handle_time`.
    pub(crate) fn handled(
        &mut self,
        kept_from: Timestamp,
        interval: Timestamp,
        handle_time: Duration,
    ) {
        if let Some(c) = self.counters(interval, kept_from) {
            c.handled += 1;
            c.handle_time += handle_time;
        }
    }

    /// A call answered from the interval at `interval` will never report its handle time.
    pub(crate) fn handling_cut(&mut self, kept_from: Timestamp, interval: Timestamp) {
        if let Some(c) = self.counters(interval, kept_from) {
            c.handling_cut += 1;
        }
    }

    /// The figures of the calls that joined in `period` (whole intervals), at `now`.
    pub(crate) fn figures(&self, period: Interval, now: Timestamp) -> QueueFigures {
        let mut figures = QueueFigures {
            definition: self.config.definition,
            ..QueueFigures::default()
        };
        for counters in self
            .intervals
            .range(period.start..period.end)
            .map(|(_, c)| c)
        {
            figures.merge(counters);
        }
        for visit in self
            .waiting
            .values()
            .filter(|v| period.contains(v.interval))
        {
            let wait = elapsed(visit.joined, now);
            figures.waiting += 1;
            if wait > self.config.service_level {
                figures.waiting_past_target += 1;
            }
            figures.oldest_waiting = figures.oldest_waiting.max(Some(wait));
        }
        figures
    }

    /// How many calls wait at `now`, and the longest current wait.
    pub(crate) fn live(&self, now: Timestamp) -> (u32, Option<Duration>) {
        let longest = self.waiting.values().map(|v| elapsed(v.joined, now)).max();
        let count = u32::try_from(self.waiting.len()).unwrap_or(u32::MAX);
        (count, longest)
    }

    /// Forgets intervals before `kept_from` and the calls that joined in them.
    pub(crate) fn forget_before(&mut self, kept_from: Timestamp) {
        self.intervals = self.intervals.split_off(&kept_from);
        self.waiting.retain(|_, v| v.interval >= kept_from);
    }

    /// Whether nothing is recorded (an unconfigured queue with no data can be dropped).
    pub(crate) fn is_empty(&self) -> bool {
        self.intervals.is_empty() && self.waiting.is_empty()
    }
}
