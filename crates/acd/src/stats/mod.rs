//! Queue and agent statistics a contact-centre manager can trust, computed from the ACD's
//! [`crate::event`]s alone.
//!
//! The switch stamps every [`EventKind`] with wall-clock time ([`jiff::Timestamp`]), stores the
//! pair, and hands it to [`Stats::record`]. Every figure is a function of those pairs (and of
//! [`StatsConfig`]): replaying a day's stored events into a fresh [`Stats`] after a restart
//! gives the same figures, to the nanosecond. Like the rest of the crate this module reads no
//! clock: questions take the `now` they are asked at.
//!
//! The public contract — which call counts where, each formula, what happens across
//! restarts — is `docs/statistics.md`. In short:
//! * figures come per interval (15 minutes by default, aligned on the local hour of the
//!   configured time zone) and per local day (23, 24 or 25 hours);
//! * a queue call is counted in the interval it *joined* in, for all its outcomes, so a
//!   period's figures can still change while its calls are waiting or being handled;
//! * only calls whose result against the service-level target is known count in the
//!   service level, including calls still waiting past the target (already failed);
//! * an agent's time in state is split exactly at interval edges; its call figures are
//!   counted in the interval it answered in;
//! * means (ASA, AHT) are sums of [`Duration`]s divided by counts, never running averages.
//!
//! ```
//! use std::time::Duration;
//! use jiff::{Timestamp, civil::date, tz::TimeZone};
//! use switchboard_acd::{AgentId, CallRef, EventKind, QueueId};
//! use switchboard_acd::stats::{Stats, StatsConfig};
//!
//! let mut stats = Stats::new(StatsConfig::new(TimeZone::get("Europe/Paris")?))?;
//! let sales = QueueId::new("sales");
//! let joined: Timestamp = "2026-05-04T08:14:50Z".parse()?; // 10:14:50 in Paris
//! stats.record(joined, &EventKind::Joined { call: CallRef(7), queue: sales.clone(), priority: 0 });
//! let wait = Duration::from_secs(25);
//! stats.record(joined + wait, &EventKind::Answered {
//!     call: CallRef(7), queue: sales.clone(), agent: AgentId::new("alice"), wait,
//! });
//!
//! let now = joined + Duration::from_secs(60);
//! // Answered at 10:15:15, counted at 10:00, where the caller joined.
//! let ten = stats.queue_interval(&sales, joined, now)?;
//! assert_eq!((ten.offered, ten.answered, ten.answered_within_target), (1, 1, 0));
//! assert_eq!(ten.asa(), Some(wait));
//! assert_eq!(ten.service_level_percent(), Some(0.0)); // 25 s > the 20 s target
//! assert_eq!(stats.queue_day(&sales, date(2026, 5, 4), now)?.offered, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Invariants
//! * For every queue and period, `answered + abandoned + short_abandoned + overflowed +
//!   interrupted + waiting == offered` ([`QueueFigures`]).
//! * Additive figures of a day are the sums of its intervals' (the day is computed that way).
//! * Memory is bounded: `days_kept` days of intervals per queue and agent, the calls waiting
//!   now, and one call in handling per agent.

mod agent;
mod calendar;
mod config;
mod live;
mod queue;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::civil::Date;
use jiff::{Span, Timestamp};

pub use agent::{AgentFigures, StateTimes};
pub use calendar::Interval;
pub use config::{QueueStatsConfig, SlDefinition, StatsConfig, StatsError};
pub use live::{LiveAgent, LiveQueue, StateCounts};
pub use queue::{Overflows, QueueFigures};

use self::agent::{AgentBook, Handling, HandlingEnd};
use self::calendar::{Calendar, elapsed};
use self::queue::{Outcome, QueueBook};
use crate::agent::{AgentId, CallRef, StateKind};
use crate::config::QueueId;
use crate::event::EventKind;
use crate::io::OfferResult;

/// The statistics of every queue and agent, fed events, asked figures.
#[derive(Debug, Clone)]
pub struct Stats {
    calendar: Calendar,
    /// Days of intervals kept, today included. Invariant: at least 1.
    days_kept: u32,
    /// Queues configured (kept even when empty; other queues go when they hold nothing).
    configured: BTreeSet<QueueId>,
    queues: BTreeMap<QueueId, QueueBook>,
    agents: BTreeMap<AgentId, AgentBook>,
    /// The latest stamp recorded: an earlier one is taken as this (events arrive in order,
    /// up to the small disorder of stamping).
    last: Option<Timestamp>,
    /// The start of the oldest day kept; [`Timestamp::MIN`] before the first event.
    kept_from: Timestamp,
    /// The end of the local day of `last`: the next event at or after it forgets a day.
    day_end: Option<Timestamp>,
}

impl Stats {
    /// Empty statistics.
    ///
    /// # Errors
    /// [`StatsError::Interval`] if the interval does not divide an hour in whole seconds,
    /// [`StatsError::NoDaysKept`] if `days_kept` is 0.
    pub fn new(config: StatsConfig) -> Result<Stats, StatsError> {
        if config.days_kept == 0 {
            return Err(StatsError::NoDaysKept);
        }
        let mut stats = Stats {
            calendar: Calendar::new(config.tz, config.interval)?,
            days_kept: config.days_kept,
            configured: BTreeSet::new(),
            queues: BTreeMap::new(),
            agents: BTreeMap::new(),
            last: None,
            kept_from: Timestamp::MIN,
            day_end: None,
        };
        for queue in config.queues {
            stats.set_queue(queue);
        }
        Ok(stats)
    }

    /// Adds or replaces a queue's targets and members (a config reload). Outcomes already
    /// recorded keep the classification they got (within target or not, short abandon or
    /// not); calls still waiting are judged against the new target.
    pub fn set_queue(&mut self, config: QueueStatsConfig) {
        self.configured.insert(config.queue.clone());
        match self.queues.get_mut(&config.queue) {
            Some(book) => book.config = config,
            None => {
                self.queues
                    .insert(config.queue.clone(), QueueBook::new(config));
            }
        }
    }

    /// Records one event stamped `at`. A stamp earlier than the previous one is taken as the
    /// previous one, so time never runs backwards in the figures.
    pub fn record(&mut self, at: Timestamp, event: &EventKind) {
        let at = self.last.map_or(at, |last| at.max(last));
        self.last = Some(at);
        self.roll_day(at);
        match event {
            EventKind::Joined { call, queue, .. } => {
                let (cal, kept) = (&self.calendar, self.kept_from);
                book(&mut self.queues, queue).join(cal, kept, at, *call);
            }
            EventKind::Answered {
                call,
                queue,
                agent,
                wait,
            } => self.answered(at, *call, queue, agent, *wait),
            EventKind::Abandoned { call, queue, wait } => {
                self.close(at, *call, queue, *wait, Outcome::Abandoned);
            }
            EventKind::Overflowed {
                call,
                queue,
                reason,
                wait,
            } => {
                self.close(at, *call, queue, *wait, Outcome::Overflowed(*reason));
            }
            EventKind::CallEnded {
                call, agent, talk, ..
            } => {
                if let Some(agent) = self.agents.get_mut(agent) {
                    agent.call_ended(*call, *talk);
                }
            }
            EventKind::WrapUpEnded {
                call,
                agent,
                wrap_up,
                ..
            } => self.wrap_up_ended(*call, agent, *wrap_up),
            EventKind::Interrupted { call, queue } => self.interrupted(*call, queue),
            EventKind::Offered { agent, .. } => {
                let (cal, kept) = (&self.calendar, self.kept_from);
                self.agents
                    .entry(agent.clone())
                    .or_default()
                    .offered(cal, kept, at);
            }
            EventKind::OfferEnded { agent, result, .. } => {
                if is_miss(*result) {
                    let (cal, kept) = (&self.calendar, self.kept_from);
                    self.agents
                        .entry(agent.clone())
                        .or_default()
                        .missed(cal, kept, at);
                }
            }
            EventKind::AgentState {
                agent,
                state,
                reason,
            } => {
                // A reason only means something while paused.
                let reason = reason.clone().filter(|_| *state == StateKind::Paused);
                let (cal, kept) = (&self.calendar, self.kept_from);
                let book = self.agents.entry(agent.clone()).or_default();
                book.set_state(cal, kept, at, *state, reason);
            }
            // The caller waits on; the agent's states tell the rest.
            EventKind::ConnectFailed { .. } => {}
        }
    }

    /// A waiting call's visit ends; returns where the queue counts it.
    fn close(
        &mut self,
        at: Timestamp,
        call: CallRef,
        queue: &QueueId,
        wait: Duration,
        outcome: Outcome,
    ) -> Option<Timestamp> {
        let (cal, kept) = (&self.calendar, self.kept_from);
        book(&mut self.queues, queue).close(cal, kept, at, call, wait, outcome)
    }

    fn answered(
        &mut self,
        at: Timestamp,
        call: CallRef,
        queue: &QueueId,
        agent: &AgentId,
        wait: Duration,
    ) {
        let interval = self.close(at, call, queue, wait, Outcome::Answered);
        let (cal, kept) = (&self.calendar, self.kept_from);
        let agent = self.agents.entry(agent.clone()).or_default();
        if let Some(lost) = agent.answered(cal, kept, at, call, queue, interval) {
            cut(&mut self.queues, kept, &lost);
        }
    }

    fn wrap_up_ended(&mut self, call: CallRef, agent: &AgentId, wrap_up: Duration) {
        let kept = self.kept_from;
        let ended = self
            .agents
            .get_mut(agent)
            .and_then(|a| a.wrap_up_ended(kept, call, wrap_up));
        match ended {
            Some(HandlingEnd::Handled(h, handle_time)) => {
                if let Some(interval) = h.queue_interval {
                    book(&mut self.queues, &h.queue).handled(kept, interval, handle_time);
                }
            }
            Some(HandlingEnd::Cut(h)) => cut(&mut self.queues, kept, &h),
            None => {}
        }
    }

    /// The switch stopped while `call` waited in `queue` or was being handled.
    fn interrupted(&mut self, call: CallRef, queue: &QueueId) {
        let kept = self.kept_from;
        let waited = self
            .queues
            .get_mut(queue)
            .is_some_and(|q| q.interrupt(kept, call));
        if waited {
            return;
        }
        let handling = self
            .agents
            .values_mut()
            .find_map(|a| a.interrupt(call, queue));
        if let Some(h) = handling {
            cut(&mut self.queues, kept, &h);
        }
    }

    /// Forgets the oldest day once `at` starts a new local day.
    fn roll_day(&mut self, at: Timestamp) {
        if self.day_end.is_some_and(|end| at < end) {
            return;
        }
        let today = self.calendar.date_of(at);
        self.day_end = self.calendar.day(today).ok().map(|d| d.end);
        let first_kept = Span::new()
            .try_days(i64::from(self.days_kept - 1))
            .and_then(|back| today.checked_sub(back));
        let Some(first_day) = first_kept.ok().and_then(|d| self.calendar.day(d).ok()) else {
            return; // so many days that the calendar ends first: nothing to forget
        };
        if first_day.start <= self.kept_from {
            return;
        }
        let kept = first_day.start;
        self.kept_from = kept;
        for book in self.queues.values_mut() {
            book.forget_before(kept);
        }
        for book in self.agents.values_mut() {
            book.forget_before(kept);
        }
        let configured = &self.configured;
        self.queues
            .retain(|id, book| configured.contains(id) || !book.is_empty());
        self.agents.retain(|_, book| !book.is_empty());
    }

    /// The interval `at` falls in.
    #[must_use]
    pub fn interval_at(&self, at: Timestamp) -> Interval {
        self.calendar.interval_at(at)
    }

    /// The local day `date`, midnight to midnight in the configured time zone.
    ///
    /// # Errors
    /// [`StatsError::DayOutOfRange`] for a day at the ends of the calendar.
    pub fn day(&self, date: Date) -> Result<Interval, StatsError> {
        self.calendar.day(date)
    }

    /// The intervals of the local day `date`, in order (92, 96 or 100 of 15 minutes).
    ///
    /// # Errors
    /// As [`Stats::day`].
    pub fn intervals_of(&self, date: Date) -> Result<Vec<Interval>, StatsError> {
        Ok(self.calendar.intervals_in(self.day(date)?))
    }

    /// The start of the oldest day kept (`days_kept - 1` days before the day of the latest
    /// event); `None` before the first event.
    #[must_use]
    pub fn kept_from(&self) -> Option<Timestamp> {
        (self.kept_from != Timestamp::MIN).then_some(self.kept_from)
    }

    /// The queues known, configured or seen in events.
    pub fn queues(&self) -> impl Iterator<Item = &QueueId> {
        self.queues.keys()
    }

    /// The agents seen in events (and not dropped as logged out with nothing kept).
    pub fn agents(&self) -> impl Iterator<Item = &AgentId> {
        self.agents.keys()
    }

    /// `queue`'s figures for the calls that joined in the interval containing `at`, at `now`.
    ///
    /// # Errors
    /// [`StatsError::Forgotten`] if that interval's day is no longer kept.
    pub fn queue_interval(
        &self,
        queue: &QueueId,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<QueueFigures, StatsError> {
        self.queue_period(queue, self.interval_at(at), now)
    }

    /// `queue`'s figures for the calls that joined on the local day `date`, at `now`.
    ///
    /// # Errors
    /// [`StatsError::DayOutOfRange`], [`StatsError::Forgotten`].
    pub fn queue_day(
        &self,
        queue: &QueueId,
        date: Date,
        now: Timestamp,
    ) -> Result<QueueFigures, StatsError> {
        self.queue_period(queue, self.day(date)?, now)
    }

    /// `queue`'s figures for every interval of the local day `date`, at `now`.
    ///
    /// # Errors
    /// [`StatsError::DayOutOfRange`], [`StatsError::Forgotten`].
    pub fn queue_intervals(
        &self,
        queue: &QueueId,
        date: Date,
        now: Timestamp,
    ) -> Result<Vec<(Interval, QueueFigures)>, StatsError> {
        self.intervals_of(date)?
            .into_iter()
            .map(|i| Ok((i, self.queue_period(queue, i, now)?)))
            .collect()
    }

    /// `agent`'s figures in the interval containing `at`, its current state counted up to
    /// `now`.
    ///
    /// # Errors
    /// [`StatsError::Forgotten`] if that interval's day is no longer kept.
    pub fn agent_interval(
        &self,
        agent: &AgentId,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<AgentFigures, StatsError> {
        self.agent_period(agent, self.interval_at(at), now)
    }

    /// `agent`'s figures on the local day `date`, up to `now`.
    ///
    /// # Errors
    /// [`StatsError::DayOutOfRange`], [`StatsError::Forgotten`].
    pub fn agent_day(
        &self,
        agent: &AgentId,
        date: Date,
        now: Timestamp,
    ) -> Result<AgentFigures, StatsError> {
        self.agent_period(agent, self.day(date)?, now)
    }

    /// `agent`'s figures for every interval of the local day `date`, up to `now`.
    ///
    /// # Errors
    /// [`StatsError::DayOutOfRange`], [`StatsError::Forgotten`].
    pub fn agent_intervals(
        &self,
        agent: &AgentId,
        date: Date,
        now: Timestamp,
    ) -> Result<Vec<(Interval, AgentFigures)>, StatsError> {
        self.intervals_of(date)?
            .into_iter()
            .map(|i| Ok((i, self.agent_period(agent, i, now)?)))
            .collect()
    }

    /// `queue` right now: callers waiting, the longest current wait, members by state.
    #[must_use]
    pub fn live(&self, queue: &QueueId, now: Timestamp) -> LiveQueue {
        let Some(book) = self.queues.get(queue) else {
            return LiveQueue::default();
        };
        let (waiting, longest_wait) = book.live(now);
        let mut agents = StateCounts::default();
        for member in &book.config.members {
            let state = self
                .agents
                .get(member)
                .and_then(|a| a.current.as_ref())
                .map_or(StateKind::LoggedOut, |c| c.state);
            agents.count(state);
        }
        LiveQueue {
            waiting,
            longest_wait,
            agents,
        }
    }

    /// `agent`'s current state and how long it has been in it at `now`; `None` if never seen.
    #[must_use]
    pub fn live_agent(&self, agent: &AgentId, now: Timestamp) -> Option<LiveAgent> {
        let current = self.agents.get(agent)?.current.as_ref()?;
        Some(LiveAgent {
            state: current.state,
            reason: current.reason.clone(),
            since: current.since,
            in_state: elapsed(current.since, now),
        })
    }

    fn check_kept(&self, period: Interval) -> Result<(), StatsError> {
        if period.start < self.kept_from {
            return Err(StatsError::Forgotten {
                start: period.start,
                kept_from: self.kept_from,
            });
        }
        Ok(())
    }

    fn queue_period(
        &self,
        queue: &QueueId,
        period: Interval,
        now: Timestamp,
    ) -> Result<QueueFigures, StatsError> {
        self.check_kept(period)?;
        Ok(self.queues.get(queue).map_or_else(
            || QueueFigures {
                definition: QueueStatsConfig::new(queue.clone()).definition,
                ..QueueFigures::default()
            },
            |book| book.figures(period, now),
        ))
    }

    fn agent_period(
        &self,
        agent: &AgentId,
        period: Interval,
        now: Timestamp,
    ) -> Result<AgentFigures, StatsError> {
        self.check_kept(period)?;
        Ok(self
            .agents
            .get(agent)
            .map(|book| book.figures(period, now, self.kept_from))
            .unwrap_or_default())
    }
}

/// The book of `queue`, created with the default targets for a queue not configured.
fn book<'a>(queues: &'a mut BTreeMap<QueueId, QueueBook>, queue: &QueueId) -> &'a mut QueueBook {
    queues
        .entry(queue.clone())
        .or_insert_with(|| QueueBook::new(QueueStatsConfig::new(queue.clone())))
}

/// Counts a handling that will never report its handle time against its queue.
fn cut(queues: &mut BTreeMap<QueueId, QueueBook>, kept_from: Timestamp, handling: &Handling) {
    if let Some(interval) = handling.queue_interval {
        book(queues, &handling.queue).handling_cut(kept_from, interval);
    }
}

/// Whether an offer's end counts as a miss for the agent. An offer the ACD released itself
/// (`None`: the call never reported) is not: nothing says the agent's phone rang.
fn is_miss(result: Option<OfferResult>) -> bool {
    match result {
        Some(OfferResult::NoAnswer | OfferResult::Declined(_) | OfferResult::Unreachable) => true,
        Some(OfferResult::Answered | OfferResult::Cancelled) | None => false,
    }
}

#[cfg(test)]
mod tests;
