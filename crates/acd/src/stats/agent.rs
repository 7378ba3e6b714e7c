//! One agent's figures: time in each state split at interval edges, offers, and the calls it
//! answered with their handle times.
//!
//! Time in state is counted where it was spent: a segment between two `AgentState` events is
//! cut at every interval edge it crosses. Call figures (answered, handled, talk, wrap-up) are
//! counted in the interval the agent *answered* in, once known.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use super::calendar::{Calendar, Interval, elapsed};
use crate::agent::{CallRef, PauseReason, StateKind};
use crate::config::QueueId;

/// Time spent in each logged-in state over a period (logged-out time is not counted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateTimes {
    /// Ready, waiting for a call.
    pub ready: Duration,
    /// Reserved: the phone ringing with an offered call.
    pub reserved: Duration,
    /// On a queue call.
    pub on_call: Duration,
    /// On a direct or outbound call.
    pub busy: Duration,
    /// In after-call work.
    pub wrap_up: Duration,
    /// Paused, by reason (`None`: paused without a reason). Sorted by reason, one entry per
    /// reason.
    pub paused: Vec<(Option<PauseReason>, Duration)>,
}

impl StateTimes {
    /// Paused time, all reasons together.
    #[must_use]
    pub fn paused_total(&self) -> Duration {
        self.paused.iter().map(|(_, d)| *d).sum()
    }

    /// Paused time with `reason`.
    #[must_use]
    pub fn paused_for(&self, reason: Option<&PauseReason>) -> Duration {
        self.paused
            .iter()
            .find(|(r, _)| r.as_ref() == reason)
            .map_or(Duration::ZERO, |(_, d)| *d)
    }

    /// Time working calls: on a queue call, busy, or in wrap-up (occupancy's numerator).
    #[must_use]
    pub fn occupied(&self) -> Duration {
        self.on_call + self.busy + self.wrap_up
    }

    /// Time available to or working calls: logged in and not paused (occupancy's
    /// denominator).
    #[must_use]
    pub fn available(&self) -> Duration {
        self.ready + self.reserved + self.occupied()
    }

    /// Time logged in.
    #[must_use]
    pub fn logged_in(&self) -> Duration {
        self.available() + self.paused_total()
    }

    fn add(&mut self, state: StateKind, reason: Option<&PauseReason>, d: Duration) {
        let slot = match state {
            StateKind::LoggedOut => return,
            StateKind::Ready => &mut self.ready,
            StateKind::Reserved => &mut self.reserved,
            StateKind::OnCall => &mut self.on_call,
            StateKind::Busy => &mut self.busy,
            StateKind::WrapUp => &mut self.wrap_up,
            // No entry for a reason with no time, so equal figures compare equal.
            StateKind::Paused => return self.add_paused(reason, d),
        };
        *slot += d;
    }

    fn add_paused(&mut self, reason: Option<&PauseReason>, d: Duration) {
        if d.is_zero() {
            return;
        }
        let key = reason.map(PauseReason::as_str);
        match self
            .paused
            .binary_search_by(|(r, _)| r.as_ref().map(PauseReason::as_str).cmp(&key))
        {
            Ok(i) => self.paused[i].1 += d,
            Err(i) => self.paused.insert(i, (reason.cloned(), d)),
        }
    }

    fn merge(&mut self, other: &StateTimes) {
        self.ready += other.ready;
        self.reserved += other.reserved;
        self.on_call += other.on_call;
        self.busy += other.busy;
        self.wrap_up += other.wrap_up;
        for (reason, d) in &other.paused {
            self.add_paused(reason.as_ref(), *d);
        }
    }
}

/// An agent's figures over one period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentFigures {
    /// Queue calls offered (the phone rang), counted when offered.
    pub offers: u32,
    /// Offers the agent let ring out, declined, or could not be reached for; counted when the
    /// offer ended. Offers cancelled (another agent answered, the caller left) are not misses.
    pub missed_offers: u32,
    /// Queue calls answered, counted when answered.
    pub answered: u32,
    /// The same, by queue.
    pub answered_by_queue: BTreeMap<QueueId, u32>,
    /// Calls answered in the period whose wrap-up has ended.
    pub handled: u32,
    /// Talk time of the `handled` calls.
    pub talk: Duration,
    /// Wrap-up time of the `handled` calls.
    pub wrap_up: Duration,
    /// Time in each state in the period.
    pub time: StateTimes,
}

impl AgentFigures {
    /// Average handle time: exact mean of talk plus wrap-up over handled calls.
    #[must_use]
    pub fn aht(&self) -> Option<Duration> {
        (self.talk + self.wrap_up).checked_div(self.handled)
    }

    /// Occupancy in percent: time working calls over time logged in and not paused; `None`
    /// when that is zero.
    #[must_use]
    pub fn occupancy_percent(&self) -> Option<f64> {
        let available = self.time.available();
        // Ratio first: `occupied <= available`, so it is at most 1 and the percentage at most
        // 100 (multiplying first can round a full occupancy to 100.00000000000001).
        (!available.is_zero())
            .then(|| self.time.occupied().as_secs_f64() / available.as_secs_f64() * 100.0)
    }

    /// Adds the figures of `other`, a period that does not overlap this one: counts and
    /// durations add. Merging the intervals of a day gives exactly the day's figures.
    pub fn merge(&mut self, other: &AgentFigures) {
        self.offers += other.offers;
        self.missed_offers += other.missed_offers;
        self.answered += other.answered;
        for (queue, n) in &other.answered_by_queue {
            *self.answered_by_queue.entry(queue.clone()).or_default() += n;
        }
        self.handled += other.handled;
        self.talk += other.talk;
        self.wrap_up += other.wrap_up;
        self.time.merge(&other.time);
    }
}

/// The state an agent is in, since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Current {
    pub(crate) state: StateKind,
    pub(crate) reason: Option<PauseReason>,
    pub(crate) since: Timestamp,
}

/// A call an agent answered, until its handle time is known.
#[derive(Debug, Clone)]
pub(crate) struct Handling {
    pub(crate) call: CallRef,
    pub(crate) queue: QueueId,
    /// Where the queue counts the call (its join interval); `None` if that day is forgotten.
    pub(crate) queue_interval: Option<Timestamp>,
    /// Where the agent counts it (its answer interval).
    agent_interval: Timestamp,
    talk: Option<Duration>,
}

/// How a call's handling ended, for its queue to count.
#[derive(Debug, Clone)]
pub(crate) enum HandlingEnd {
    /// Talk and wrap-up known.
    Handled(Handling, Duration),
    /// The handle time will never be known.
    Cut(Handling),
}

/// One agent's record.
#[derive(Debug, Clone, Default)]
pub(crate) struct AgentBook {
    /// Counters by interval start. Only intervals of kept days.
    intervals: BTreeMap<Timestamp, AgentFigures>,
    /// The current state; `None` before the first `AgentState` (counted as logged out).
    pub(crate) current: Option<Current>,
    /// The call answered and not yet through wrap-up (an agent handles one at a time).
    handling: Option<Handling>,
}

impl AgentBook {
    fn counters(&mut self, start: Timestamp, kept_from: Timestamp) -> Option<&mut AgentFigures> {
        (start >= kept_from).then(|| self.intervals.entry(start).or_default())
    }

    /// The agent enters `state` at `at`: the time of the state it leaves is counted.
    pub(crate) fn set_state(
        &mut self,
        cal: &Calendar,
        kept_from: Timestamp,
        at: Timestamp,
        state: StateKind,
        reason: Option<PauseReason>,
    ) {
        if let Some(old) = self.current.take()
            && old.state != StateKind::LoggedOut
        {
            let intervals = &mut self.intervals;
            cal.split(old.since.max(kept_from), at, |start, d| {
                intervals
                    .entry(start)
                    .or_default()
                    .time
                    .add(old.state, old.reason.as_ref(), d);
            });
        }
        self.current = Some(Current {
            state,
            reason,
            since: at,
        });
    }

    /// An offer rang the agent.
    pub(crate) fn offered(&mut self, cal: &Calendar, kept_from: Timestamp, at: Timestamp) {
        if let Some(c) = self.counters(cal.interval_at(at).start, kept_from) {
            c.offers += 1;
        }
    }

    /// An offer ended as a miss.
    pub(crate) fn missed(&mut self, cal: &Calendar, kept_from: Timestamp, at: Timestamp) {
        if let Some(c) = self.counters(cal.interval_at(at).start, kept_from) {
            c.missed_offers += 1;
        }
    }

    /// The agent answered `call` of `queue`. Returns the handling this one replaces, if the
    /// previous call's wrap-up end was never recorded.
    pub(crate) fn answered(
        &mut self,
        cal: &Calendar,
        kept_from: Timestamp,
        at: Timestamp,
        call: CallRef,
        queue: &QueueId,
        queue_interval: Option<Timestamp>,
    ) -> Option<Handling> {
        let agent_interval = cal.interval_at(at).start;
        if let Some(c) = self.counters(agent_interval, kept_from) {
            c.answered += 1;
            *c.answered_by_queue.entry(queue.clone()).or_default() += 1;
        }
        self.handling.replace(Handling {
            call,
            queue: queue.clone(),
            queue_interval,
            agent_interval,
            talk: None,
        })
    }

    /// The agent's call `call` ended after `talk`.
    pub(crate) fn call_ended(&mut self, call: CallRef, talk: Duration) {
        if let Some(h) = self.handling.as_mut().filter(|h| h.call == call) {
            h.talk = Some(talk);
        }
    }

    /// The wrap-up of `call` ended after `wrap_up`: the call is handled.
    pub(crate) fn wrap_up_ended(
        &mut self,
        kept_from: Timestamp,
        call: CallRef,
        wrap_up: Duration,
    ) -> Option<HandlingEnd> {
        let handling = self.handling.take_if(|h| h.call == call)?;
        let Some(talk) = handling.talk else {
            return Some(HandlingEnd::Cut(handling)); // the call's end was never recorded
        };
        if let Some(c) = self.counters(handling.agent_interval, kept_from) {
            c.handled += 1;
            c.talk += talk;
            c.wrap_up += wrap_up;
        }
        Some(HandlingEnd::Handled(handling, talk + wrap_up))
    }

    /// The switch stopped during the handling of `call` of `queue`.
    pub(crate) fn interrupt(&mut self, call: CallRef, queue: &QueueId) -> Option<Handling> {
        self.handling
            .take_if(|h| h.call == call && &h.queue == queue)
    }

    /// The agent's figures in `period` (whole intervals), with the current state counted up
    /// to `now`; `kept_from` bounds the current state's contribution like the counters'.
    pub(crate) fn figures(
        &self,
        period: Interval,
        now: Timestamp,
        kept_from: Timestamp,
    ) -> AgentFigures {
        let mut figures = AgentFigures::default();
        for counters in self
            .intervals
            .range(period.start..period.end)
            .map(|(_, c)| c)
        {
            figures.merge(counters);
        }
        if let Some(current) = &self.current {
            let from = current.since.max(period.start).max(kept_from);
            let to = now.min(period.end);
            figures
                .time
                .add(current.state, current.reason.as_ref(), elapsed(from, to));
        }
        figures
    }

    /// Forgets intervals before `kept_from` and a handling answered before it.
    pub(crate) fn forget_before(&mut self, kept_from: Timestamp) {
        self.intervals = self.intervals.split_off(&kept_from);
        self.handling.take_if(|h| h.agent_interval < kept_from);
    }

    /// Whether the agent is logged out with nothing recorded (it can be dropped).
    pub(crate) fn is_empty(&self) -> bool {
        self.intervals.is_empty()
            && self.handling.is_none()
            && self
                .current
                .as_ref()
                .is_none_or(|c| c.state == StateKind::LoggedOut)
    }
}
