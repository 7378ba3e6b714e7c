//! The waiting line: callers joining and leaving queues, overflowing, widening their skill
//! requirements, and hearing their position and expected wait.
//!
//! All queues share one line ([`crate::Acd`]'s `line`), ordered by priority (higher first)
//! then join order, so an agent serving several queues always takes the best caller of all of
//! them. Each queue also keeps its own line in the same order, for positions and `max_len`.
//! A caller that an agent answered leaves the line but stays the queue's ("connecting") until
//! the bridge is up; if it fails, the caller goes back under the same key, i.e. to its place.
//!
//! # Expected wait
//! `EWT = mean handle time × position ÷ serving agents`, where the mean handle time is that of
//! the queue's last `ewt_window` calls (talk + wrap-up, recorded when each wrap-up ends) and
//! the serving agents are the members logged in and not paused who meet the caller's skills
//! as widened now. Each of them frees up about once per handle time, so the caller at
//! position `p` waits for about `p / n` of those cycles. No estimate (`None`) until a call of
//! the queue has been handled, or when nobody serves the caller.

use std::cmp::Reverse;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::agent::{Agent, CallRef, StateKind};
use crate::config::{QueueConfig, QueueId, SkillReq, Widening};
use crate::event::EventKind;
use crate::io::{LeaveReason, OfferId, Output, OverflowReason};
use crate::machine::Acd;
use crate::timers::Timer;

/// A caller's place in the line: priority (higher first), then join order.
pub(crate) type LineKey = (Reverse<i32>, u64);

/// One queue.
#[derive(Debug, Clone)]
pub(crate) struct QueueSlot {
    pub cfg: QueueConfig,
    /// Its members (agent index, penalty) in config order, unknown and repeated names dropped.
    pub members: Vec<(usize, u32)>,
    /// Its waiting callers, in service order.
    pub line: BTreeMap<LineKey, CallRef>,
    /// Position in `members` of the agent round-robin offered last.
    pub rr_last: Option<usize>,
    /// Talk + wrap-up of its last calls, oldest first, at most `ewt_window`.
    pub handle_times: VecDeque<Duration>,
    /// How many of its members may be offered a call now (dispatch skips the queue at 0).
    pub available: usize,
    /// Dropped from the config: no members, joins refused.
    pub retired: bool,
}

impl QueueSlot {
    pub(crate) fn new(cfg: QueueConfig) -> Self {
        Self {
            cfg,
            members: Vec::new(),
            line: BTreeMap::new(),
            rr_last: None,
            handle_times: VecDeque::new(),
            available: 0,
            retired: false,
        }
    }
}

/// Where a caller stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// In the line.
    Waiting,
    /// An agent answered; the call is bridging them.
    Connecting { agent: usize, picked_up: Instant },
}

/// A caller in a queue.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub queue: usize,
    pub priority: i32,
    /// Join order, across all queues.
    pub seq: u64,
    pub skills: Vec<SkillReq>,
    pub joined: Instant,
    pub phase: Phase,
    /// Its outstanding offers (several only within a ring-all round).
    pub offers: Vec<OfferId>,
    /// Its offers the ACD's deadline ended, result not heard yet.
    pub expired_offers: Vec<OfferId>,
    /// Its max wait passed while an offer was out: no more offers, overflow once they end.
    pub timed_out: bool,
    pub max_wait_at: Option<Instant>,
    pub widen_at: Option<Instant>,
    pub announce_at: Option<Instant>,
    /// It has heard at least one announcement.
    pub announced: bool,
}

impl Caller {
    /// Its place in the line.
    pub(crate) fn key(&self) -> LineKey {
        (Reverse(self.priority), self.seq)
    }

    /// How far its requirements have widened at `now`.
    pub(crate) fn stage(&self, widening: &Widening, now: Instant) -> Stage {
        let wait = now.saturating_duration_since(self.joined);
        if widening.any_agent_after.is_some_and(|d| wait >= d) {
            Stage::AnyAgent
        } else if widening.any_level_after.is_some_and(|d| wait >= d) {
            Stage::AnyLevel
        } else {
            Stage::Exact
        }
    }

    /// The next instant after `now` at which its requirements widen (None: no skills to
    /// widen, or fully widened).
    pub(crate) fn next_widening(&self, widening: &Widening, now: Instant) -> Option<Instant> {
        if self.skills.is_empty() {
            return None;
        }
        [widening.any_level_after, widening.any_agent_after]
            .into_iter()
            .flatten()
            .filter_map(|d| self.joined.checked_add(d))
            .filter(|&t| t > now)
            .min()
    }
}

/// How much of a caller's skill requirements still applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    /// Every skill at its level.
    Exact,
    /// Every skill, at any level.
    AnyLevel,
    /// Any member of the queue.
    AnyAgent,
}

/// Whether `agent` meets `skills` at `stage`.
pub(crate) fn serves(agent: &Agent, skills: &[SkillReq], stage: Stage) -> bool {
    match stage {
        Stage::AnyAgent => true,
        Stage::AnyLevel => agent.meets(skills, true),
        Stage::Exact => agent.meets(skills, false),
    }
}

impl Acd {
    /// A caller joins a queue (or overflows at once: unknown queue, full, nobody to serve it).
    pub(crate) fn join(
        &mut self,
        at: Instant,
        call: CallRef,
        queue: &QueueId,
        priority: i32,
        skills: Vec<SkillReq>,
        max_wait: Option<Duration>,
    ) {
        if self.callers.contains_key(&call) || self.talking.contains_key(&call) {
            // Already queued or talking: a repeated enqueue keeps the first place.
            return;
        }
        let Some(q) = self
            .queue_ix
            .get(queue)
            .copied()
            .filter(|&q| !self.queues[q].retired)
        else {
            // No such queue (a reload removed it): nobody can serve the caller. No event,
            // since there is no queue to count it against.
            self.output(Output::Overflow {
                call,
                reason: OverflowReason::NoAgents,
            });
            return;
        };
        self.emit(
            at,
            EventKind::Joined {
                call,
                queue: queue.clone(),
                priority,
            },
        );
        let cfg = &self.queues[q].cfg;
        let full = cfg
            .max_len
            .is_some_and(|max| self.queues[q].line.len() >= max as usize);
        let reason = if full {
            Some(OverflowReason::Full)
        } else if !self.could_be_served(q, &skills) {
            Some(OverflowReason::NoAgents)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.output(Output::Overflow { call, reason });
            let queue = queue.clone();
            self.emit(
                at,
                EventKind::Overflowed {
                    call,
                    queue,
                    reason,
                    wait: Duration::ZERO,
                },
            );
            return;
        }
        let max_wait = max_wait.or(cfg.max_wait).and_then(|d| at.checked_add(d));
        let first_announce = cfg
            .announcements
            .filter(|a| a.position || a.expected_wait)
            .and_then(|a| at.checked_add(a.first_after));
        let widening = cfg.widening;
        let seq = self.next_join_seq();
        let mut caller = Caller {
            queue: q,
            priority,
            seq,
            skills,
            joined: at,
            phase: Phase::Waiting,
            offers: Vec::new(),
            expired_offers: Vec::new(),
            timed_out: false,
            max_wait_at: None,
            widen_at: None,
            announce_at: None,
            announced: false,
        };
        let widen = caller.next_widening(&widening, at);
        self.timers
            .arm(&mut caller.max_wait_at, max_wait, Timer::MaxWait(call));
        self.timers
            .arm(&mut caller.widen_at, widen, Timer::Widen(call));
        self.timers.arm(
            &mut caller.announce_at,
            first_announce,
            Timer::Announce(call),
        );
        self.enter_line(call, &caller);
        self.callers.insert(call, caller);
    }

    /// The caller hung up, pressed an exit key or vanished.
    pub(crate) fn leave(&mut self, at: Instant, call: CallRef, reason: LeaveReason) {
        let Some(caller) = self.callers.get(&call) else {
            // A connected call whose task ended without `CallEnded`: end it, or its agent
            // would stay on the call forever.
            if self.talking.contains_key(&call) && !matches!(reason, LeaveReason::Key(_)) {
                self.call_ended(at, call);
            }
            return;
        };
        let phase = caller.phase;
        // Out of the line first: releasing its agents may apply a pending logout, and the
        // overflow check that follows a logout must not see a caller that already left.
        let Some(caller) = self.remove_caller(call) else {
            return;
        };
        self.cancel_offers(at, call, &caller.offers);
        let queue = self.queues[caller.queue].cfg.id.clone();
        let wait = at.saturating_duration_since(caller.joined);
        let kind = match reason {
            LeaveReason::Hangup | LeaveReason::Gone => EventKind::Abandoned { call, queue, wait },
            LeaveReason::Key(key) => EventKind::Overflowed {
                call,
                queue,
                reason: OverflowReason::Key(key),
                wait,
            },
        };
        self.emit(at, kind);
        if let Phase::Connecting { agent, .. } = phase {
            // The agent picked up but the caller left before the bridge: no conversation,
            // so no wrap-up either.
            let _ = self.agents[agent].agent.abort_call(at, call);
            self.reconcile(agent, at);
        }
    }

    /// Gives a caller with no offer out back to its dialplan.
    pub(crate) fn overflow(&mut self, at: Instant, call: CallRef, reason: OverflowReason) {
        let Some(caller) = self.remove_caller(call) else {
            return;
        };
        debug_assert!(caller.offers.is_empty(), "overflow while an offer is out");
        self.output(Output::Overflow { call, reason });
        let queue = self.queues[caller.queue].cfg.id.clone();
        let wait = at.saturating_duration_since(caller.joined);
        self.emit(
            at,
            EventKind::Overflowed {
                call,
                queue,
                reason,
                wait,
            },
        );
    }

    /// One of a waiting caller's offers ended unanswered: once none is left, a caller whose
    /// max wait passed, or that nobody logged in can serve any more, overflows now.
    pub(crate) fn caller_offers_ended(&mut self, at: Instant, call: CallRef) {
        let Some(caller) = self.callers.get(&call) else {
            return;
        };
        if caller.phase != Phase::Waiting || !caller.offers.is_empty() {
            return;
        }
        if caller.timed_out {
            self.overflow(at, call, OverflowReason::MaxWait);
        } else if !self.could_be_served(caller.queue, &caller.skills) {
            self.overflow(at, call, OverflowReason::NoAgents);
        }
    }

    /// Overflows the waiting callers of queue `q` (with no offer out) that no logged-in member
    /// could ever serve. O(callers of `q` × members), run on logouts and reloads only.
    pub(crate) fn overflow_unservable(&mut self, q: usize, at: Instant) {
        let doomed: Vec<(CallRef, bool)> = self.queues[q]
            .line
            .values()
            .filter_map(|call| {
                let c = self.callers.get(call)?;
                (c.offers.is_empty() && !self.could_be_served(q, &c.skills))
                    .then_some((*call, c.timed_out))
            })
            .collect();
        for (call, timed_out) in doomed {
            // A caller past its max wait (its last offer just ended) says so, not no-agents.
            let reason = if timed_out {
                OverflowReason::MaxWait
            } else {
                OverflowReason::NoAgents
            };
            self.overflow(at, call, reason);
        }
    }

    /// Whether a logged-in member (paused counts) meets `skills` as fully widened: a member
    /// who may take the caller some day, if it waits long enough.
    pub(crate) fn could_be_served(&self, q: usize, skills: &[SkillReq]) -> bool {
        let widening = &self.queues[q].cfg.widening;
        let stage = if widening.any_agent_after.is_some() {
            Stage::AnyAgent
        } else if widening.any_level_after.is_some() {
            Stage::AnyLevel
        } else {
            Stage::Exact
        };
        self.queues[q].members.iter().any(|&(a, _)| {
            let agent = &self.agents[a].agent;
            agent.is_logged_in() && serves(agent, skills, stage)
        })
    }

    /// Takes a caller out of the ACD: line, timers, late-answer records, announcements.
    pub(crate) fn remove_caller(&mut self, call: CallRef) -> Option<Caller> {
        let mut caller = self.callers.remove(&call)?;
        self.leave_line(&caller);
        self.timers
            .arm(&mut caller.max_wait_at, None, Timer::MaxWait(call));
        self.timers
            .arm(&mut caller.widen_at, None, Timer::Widen(call));
        self.timers
            .arm(&mut caller.announce_at, None, Timer::Announce(call));
        for offer in &caller.expired_offers {
            self.expired.remove(offer);
        }
        self.announce_due.remove(&call);
        Some(caller)
    }

    /// Puts a caller in the shared line and its queue's, under its key.
    pub(crate) fn enter_line(&mut self, call: CallRef, caller: &Caller) {
        self.line.insert(caller.key(), call);
        self.queues[caller.queue].line.insert(caller.key(), call);
    }

    /// Takes a caller out of both lines (whether or not it was in them).
    pub(crate) fn leave_line(&mut self, caller: &Caller) {
        self.line.remove(&caller.key());
        self.queues[caller.queue].line.remove(&caller.key());
    }

    /// The caller's max wait passed.
    pub(crate) fn max_wait_due(&mut self, at: Instant, call: CallRef) {
        let Some(caller) = self.callers.get_mut(&call) else {
            return;
        };
        caller.max_wait_at = None;
        if caller.phase == Phase::Waiting && caller.offers.is_empty() {
            self.overflow(at, call, OverflowReason::MaxWait);
        } else {
            // Never overflow under a ringing offer or a connecting answer: that would cross
            // an answer on its way. Stop offering; the end of the offers decides.
            caller.timed_out = true;
        }
    }

    /// The caller's requirements widened (dispatch, which follows, looks again); arms the
    /// next widening.
    pub(crate) fn widen_due(&mut self, at: Instant, call: CallRef) {
        let Some(caller) = self.callers.get_mut(&call) else {
            return;
        };
        caller.widen_at = None;
        let next = caller.next_widening(&self.queues[caller.queue].cfg.widening, at);
        self.timers
            .arm(&mut caller.widen_at, next, Timer::Widen(call));
    }

    /// The caller's announcement is due: it is made after dispatch, once the caller is
    /// waiting with no offer out (an announcement must not hold up an agent who answers, as
    /// mod_callcenter's do: freeswitch#1148).
    pub(crate) fn announce_timer(&mut self, call: CallRef) {
        let Some(caller) = self.callers.get_mut(&call) else {
            return;
        };
        caller.announce_at = None;
        if !caller.timed_out {
            self.announce_due.insert(call);
        }
    }

    /// Announces to the callers whose announcement is due, if they are waiting with no offer
    /// out. Runs after dispatch, so a caller offered at the instant its announcement falls due
    /// (or offered again at once after a miss) hears it only once the ringing is over.
    pub(crate) fn flush_announcements(&mut self, now: Instant) {
        if self.announce_due.is_empty() {
            return;
        }
        let due: Vec<CallRef> = self.announce_due.iter().copied().collect();
        for call in due {
            match self.callers.get(&call) {
                Some(c) if c.timed_out => {
                    self.announce_due.remove(&call);
                }
                Some(c) if c.phase == Phase::Waiting && c.offers.is_empty() => {
                    self.announce_due.remove(&call);
                    self.announce(now, call);
                }
                Some(_) => {}
                None => {
                    self.announce_due.remove(&call);
                }
            }
        }
    }

    /// Tells a waiting caller its position (and expected wait), and arms the next time.
    fn announce(&mut self, at: Instant, call: CallRef) {
        let Some(caller) = self.callers.get(&call) else {
            return;
        };
        let queue = &self.queues[caller.queue];
        let Some(config) = queue.cfg.announcements else {
            return;
        };
        let ahead = queue.line.range(..caller.key()).count();
        let position = u32::try_from(ahead + 1).unwrap_or(u32::MAX);
        let expected_wait = if config.expected_wait {
            self.expected_wait(caller, position, at)
        } else {
            None
        };
        // Every zero means "once": repeating at the same instant forever is never meant.
        let next = (!config.every.is_zero())
            .then(|| at.checked_add(config.every))
            .flatten();
        self.output(Output::Announce {
            call,
            position,
            expected_wait,
        });
        if let Some(caller) = self.callers.get_mut(&call) {
            caller.announced = true;
            self.timers
                .arm(&mut caller.announce_at, next, Timer::Announce(call));
        }
    }

    /// The expected wait of `caller` at `position` (see the module docs for the formula).
    pub(crate) fn expected_wait(
        &self,
        caller: &Caller,
        position: u32,
        now: Instant,
    ) -> Option<Duration> {
        let queue = &self.queues[caller.queue];
        let samples = queue.handle_times.len();
        if samples == 0 {
            return None;
        }
        let stage = caller.stage(&queue.cfg.widening, now);
        let serving = queue
            .members
            .iter()
            .filter(|&&(a, _)| {
                let agent = &self.agents[a].agent;
                let kind = agent.state().kind();
                kind != StateKind::LoggedOut
                    && kind != StateKind::Paused
                    && serves(agent, &caller.skills, stage)
            })
            .count();
        if serving == 0 {
            return None;
        }
        let total: u128 = queue.handle_times.iter().map(Duration::as_nanos).sum();
        let mean = total / samples as u128;
        let nanos = mean * u128::from(position) / serving as u128;
        Some(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }

    /// Keeps a finished call's handle time for the queue's expected-wait estimate.
    pub(crate) fn record_handle_time(&mut self, q: usize, handle: Duration) {
        let window = self.settings.ewt_window;
        let times = &mut self.queues[q].handle_times;
        if window == 0 {
            times.clear();
            return;
        }
        times.push_back(handle);
        while times.len() > window {
            times.pop_front();
        }
    }
}
