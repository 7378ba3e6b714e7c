//! Agents as the ACD tracks them: the [`Agent`] machine plus what only the ACD knows
//! (reachability, memberships, the outstanding offer, missed offers in a row, calls answered
//! since login), and the inputs that drive them: feature codes, registrations, direct calls,
//! a restart's restored states.
//!
//! Every change to an agent goes through [`Acd::reconcile`], which compares the agent with what
//! the record last said and emits exactly the events that follow (`AgentState` on a change of
//! state or pause reason, never twice alike; `WrapUpEnded` when a wrap-up ends however it
//! ends), keeps the wrap-up deadline armed, and updates who may be offered a call.

use std::time::{Duration, Instant};

use crate::agent::StateKind;
use crate::agent::{Agent, AgentError, AgentId, AgentState, CallRef, PauseReason, Pending};
use crate::config::LoginPolicy;
use crate::event::EventKind;
use crate::io::{AgentCommand, ClaimKind, OfferId, Output, Restored};
use crate::machine::Acd;
use crate::timers::Timer;

/// The pause reason the ACD gives an agent after `max_missed_offers` misses in a row.
pub const NO_ANSWER: &str = "no-answer";

/// One agent and the ACD's bookkeeping about it.
#[derive(Debug, Clone)]
pub(crate) struct AgentSlot {
    pub agent: Agent,
    /// Its phone has a fixed contact: reachable without registering.
    pub always_reachable: bool,
    /// Its phone is registered (the last `DeviceUp`/`DeviceDown` said up).
    pub device_up: bool,
    /// The queues it serves, with its penalty and place in each. Empty when retired.
    pub memberships: Vec<Membership>,
    /// Its outstanding offer. Invariant: `Some` iff the agent is `Reserved`.
    pub offer: Option<OfferId>,
    /// Offers missed in a row (reset by an answer, a login, and the pause they lead to).
    pub misses: u32,
    /// Inside its missed-offer delay: ready but offered nothing.
    pub resting: bool,
    /// Deadline of the missed-offer delay (armed iff `resting`).
    pub rest_at: Option<Instant>,
    /// Mirror of the agent's wrap-up deadline in the timer set.
    pub wrap_at: Option<Instant>,
    /// Restored but unregistered: logged out at this instant unless its phone registers.
    pub grace_at: Option<Instant>,
    /// Calls answered since it logged in, all queues together.
    pub answered_total: u32,
    /// When it last became ready other than by an unanswered offer (longest-idle).
    pub idle_since: Instant,
    /// The state and pause reason the record last gave.
    pub seen: (StateKind, Option<PauseReason>),
    /// When `seen` was entered.
    pub changed_at: Instant,
    /// The call whose wrap-up is running (or about to be closed with a zero wrap-up).
    pub wrap: Option<WrapRecord>,
    /// May be offered a call now. Invariant: equals [`AgentSlot::can_take_offer`] and
    /// membership of `Acd::available` and the queues' `available` counts follow it.
    pub available: bool,
    /// Dropped from the config: member of nothing, logged out once its call ends.
    pub retired: bool,
}

/// An agent's membership of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Membership {
    /// Index of the queue.
    pub queue: usize,
    /// Lower is tried first.
    pub penalty: u32,
    /// Place among the queue's members (round-robin order).
    pub pos: usize,
    /// Calls of this queue answered since login (fewest-calls).
    pub answered: u32,
}

/// What a `WrapUpEnded` will need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WrapRecord {
    pub call: CallRef,
    pub queue: usize,
    pub started: Instant,
    pub talk: Duration,
}

impl AgentSlot {
    /// A logged-out agent.
    pub(crate) fn new(agent: Agent, always_reachable: bool, now: Instant) -> Self {
        Self {
            agent,
            always_reachable,
            device_up: false,
            memberships: Vec::new(),
            offer: None,
            misses: 0,
            resting: false,
            rest_at: None,
            wrap_at: None,
            grace_at: None,
            answered_total: 0,
            idle_since: now,
            seen: (StateKind::LoggedOut, None),
            changed_at: now,
            wrap: None,
            available: false,
            retired: false,
        }
    }

    /// Its phone can be rung.
    pub(crate) fn reachable(&self) -> bool {
        self.always_reachable || self.device_up
    }

    /// Its membership of `queue`, if any (linear: an agent serves a handful of queues).
    pub(crate) fn membership(&self, queue: usize) -> Option<&Membership> {
        self.memberships.iter().find(|m| m.queue == queue)
    }

    /// Ready, reachable, not resting, not retired: dispatch may offer it a call.
    fn can_take_offer(&self) -> bool {
        !self.retired
            && self.offer.is_none()
            && !self.resting
            && self.reachable()
            && *self.agent.state() == AgentState::Ready
    }
}

impl Acd {
    /// Emits what changed about agent `i` since the record last looked, at `at`, and keeps
    /// its timers and availability in step.
    pub(crate) fn reconcile(&mut self, i: usize, at: Instant) {
        let slot = &mut self.agents[i];
        let (kind, reason) = match slot.agent.state() {
            AgentState::Paused { reason } => (StateKind::Paused, Some(reason.clone())),
            state => (state.kind(), None),
        };
        let wrap_over = if kind == StateKind::WrapUp {
            None
        } else {
            slot.wrap.take()
        };
        let want = slot.agent.poll_timeout();
        self.timers.arm(&mut slot.wrap_at, want, Timer::WrapUp(i));
        if let Some(wrap) = wrap_over {
            let wrap_up = at.saturating_duration_since(wrap.started);
            self.record_handle_time(wrap.queue, wrap.talk + wrap_up);
            let kind = EventKind::WrapUpEnded {
                call: wrap.call,
                queue: self.queues[wrap.queue].cfg.id.clone(),
                agent: self.agents[i].agent.id().clone(),
                wrap_up,
            };
            self.emit(at, kind);
        }
        let slot = &mut self.agents[i];
        if (kind, &reason) != (slot.seen.0, &slot.seen.1) {
            let previous = slot.seen.0;
            slot.seen = (kind, reason.clone());
            slot.changed_at = at;
            if previous == StateKind::LoggedOut {
                slot.logged_in(at);
            }
            // A missed or cancelled offer does not make an agent "idle longer": it keeps its
            // place in the longest-idle order.
            if kind == StateKind::Ready && previous != StateKind::Reserved {
                slot.idle_since = at;
            }
            let agent = slot.agent.id().clone();
            self.emit(
                at,
                EventKind::AgentState {
                    agent,
                    state: kind,
                    reason,
                },
            );
            if kind == StateKind::LoggedOut {
                self.logged_out(i, at);
            }
        }
        self.refresh(i);
    }

    /// Brings agent `i`'s availability (and the counts that follow it) up to date.
    pub(crate) fn refresh(&mut self, i: usize) {
        let slot = &mut self.agents[i];
        let now_available = slot.can_take_offer();
        if now_available == slot.available {
            return;
        }
        slot.available = now_available;
        for m in &slot.memberships {
            let count = &mut self.queues[m.queue].available;
            *count = if now_available {
                *count + 1
            } else {
                count.saturating_sub(1)
            };
        }
        if now_available {
            self.available.insert(i);
        } else {
            self.available.remove(&i);
        }
    }

    /// What follows a logout: no rest, no grace, and callers no logged-in member can serve
    /// any more go back to their dialplans.
    fn logged_out(&mut self, i: usize, at: Instant) {
        let slot = &mut self.agents[i];
        slot.misses = 0;
        slot.resting = false;
        self.timers.arm(&mut slot.rest_at, None, Timer::Rest(i));
        self.timers
            .arm(&mut slot.grace_at, None, Timer::Reachability(i));
        let queues: Vec<usize> = slot.memberships.iter().map(|m| m.queue).collect();
        for q in queues {
            self.overflow_unservable(q, at);
        }
    }

    /// Applies a feature code or API request, and answers the call that asked.
    pub(crate) fn agent_command(
        &mut self,
        at: Instant,
        id: &AgentId,
        command: AgentCommand,
        reply_to: Option<CallRef>,
    ) {
        let Some(&i) = self.agent_ix.get(id) else {
            if let Some(call) = reply_to {
                self.output(Output::AgentCommandDone {
                    call,
                    agent: id.clone(),
                    result: Err(AgentError::UnknownAgent { agent: id.clone() }),
                });
            }
            return;
        };
        let agent = &mut self.agents[i].agent;
        let on_a_call = matches!(
            agent.state().kind(),
            StateKind::Reserved | StateKind::OnCall | StateKind::Busy
        );
        let result = match command {
            AgentCommand::Login if agent.pending() == Some(&Pending::Logout) => {
                // Changed its mind before the call ended: stay logged in.
                agent.cancel_pending();
                Ok(())
            }
            AgentCommand::Login => agent.login(at),
            AgentCommand::Logout => agent.request_logout(at).map(drop),
            AgentCommand::Pause(reason) => agent.request_pause(at, reason).map(drop),
            AgentCommand::Ready if on_a_call && agent.pending().is_some() => {
                agent.cancel_pending();
                Ok(())
            }
            AgentCommand::Ready => agent.ready(at),
        };
        self.reconcile(i, at);
        if let Some(call) = reply_to {
            let agent = &self.agents[i].agent;
            self.output(Output::AgentCommandDone {
                call,
                agent: agent.id().clone(),
                result: result.map(|()| agent.state().kind()),
            });
        }
    }

    /// A phone registered (`up`) or lost its last registration.
    pub(crate) fn device(&mut self, at: Instant, id: &AgentId, up: bool) {
        let Some(&i) = self.agent_ix.get(id) else {
            return;
        };
        let registration = self.settings.login == LoginPolicy::Registration;
        let slot = &mut self.agents[i];
        if up && !slot.device_up {
            slot.device_up = true;
            self.timers
                .arm(&mut slot.grace_at, None, Timer::Reachability(i));
            // Only the down → up edge logs in: a refresh must not undo a feature-code logout.
            if registration && !slot.agent.is_logged_in() {
                let _ = slot.agent.login(at);
            }
        } else if !up && slot.device_up {
            slot.device_up = false;
            if registration && slot.agent.is_logged_in() {
                let _ = slot.agent.request_logout(at);
            }
        }
        self.reconcile(i, at);
    }

    /// A non-queue call involves an agent; answers whether it may go ahead.
    pub(crate) fn claim(&mut self, at: Instant, call: CallRef, id: &AgentId, kind: ClaimKind) {
        let granted = match self.agent_ix.get(id) {
            // Not an agent (a plain extension): the ACD has nothing against it.
            None => true,
            Some(&i) => {
                let granted = self.agents[i].agent.claim(at, call, kind).is_ok();
                self.reconcile(i, at);
                granted
            }
        };
        self.output(Output::ClaimResult {
            call,
            agent: id.clone(),
            granted,
        });
    }

    /// A non-queue call no longer involves an agent.
    pub(crate) fn release(&mut self, at: Instant, call: CallRef, id: &AgentId) {
        if let Some(&i) = self.agent_ix.get(id) {
            // A release of a call never claimed (or refused) changes nothing.
            let _ = self.agents[i].agent.release(at, call);
            self.reconcile(i, at);
        }
    }

    /// Sets a restored state, recorded as a change from logged out at `now` (the store ends the
    /// last run's record with every agent logged out at the switch's last sign of life).
    pub(crate) fn restore_agent(&mut self, now: Instant, id: &AgentId, state: Restored) {
        let Some(&i) = self.agent_ix.get(id) else {
            return;
        };
        let grace = now.checked_add(self.settings.reachability_grace);
        let slot = &mut self.agents[i];
        if slot.agent.is_logged_in() || slot.retired {
            return;
        }
        match state {
            Restored::LoggedOut => return,
            Restored::Ready => {
                let _ = slot.agent.login(now);
            }
            Restored::Paused(reason) => {
                let _ = slot.agent.login(now);
                let _ = slot.agent.pause(now, reason);
            }
        }
        // The store closed the last run's record with the agent logged out (the downtime counts
        // as logged out): from that, the restored state is a change, recorded now.
        slot.seen = (StateKind::LoggedOut, None);
        if !slot.reachable() {
            self.timers
                .arm(&mut slot.grace_at, grace, Timer::Reachability(i));
        }
        self.reconcile(i, now);
        self.refresh(i);
    }

    /// A restored agent's phone never registered: log it out (after its call, if on one).
    pub(crate) fn reachability_due(&mut self, at: Instant, i: usize) {
        let slot = &mut self.agents[i];
        slot.grace_at = None;
        if !slot.reachable() && slot.agent.is_logged_in() {
            let _ = slot.agent.request_logout(at);
            self.reconcile(i, at);
        }
    }

    /// An agent's wrap-up deadline passed.
    pub(crate) fn wrap_up_due(&mut self, at: Instant, i: usize) {
        let slot = &mut self.agents[i];
        slot.wrap_at = None;
        slot.agent.handle_timeout(at);
        self.reconcile(i, at);
    }

    /// An agent's missed-offer delay is over.
    pub(crate) fn rest_over(&mut self, i: usize) {
        let slot = &mut self.agents[i];
        slot.rest_at = None;
        slot.resting = false;
        self.refresh(i);
    }

    /// Counts a missed offer: rest for the missed-offer delay, or pause after too many in a
    /// row (Kazoo logs such agents out; a pause keeps them visible to supervisors, who see
    /// the reason, and one feature code brings them back).
    pub(crate) fn count_miss(&mut self, i: usize, at: Instant) {
        let max = self.settings.max_missed_offers;
        let rest_until = at.checked_add(self.settings.missed_offer_delay);
        let delay = self.settings.missed_offer_delay;
        let slot = &mut self.agents[i];
        slot.misses += 1;
        let idle = matches!(
            slot.agent.state().kind(),
            StateKind::Ready | StateKind::Busy
        );
        if max > 0 && slot.misses >= max {
            slot.misses = 0;
            // Already paused or logged out by what it asked for itself: that stands.
            if idle {
                let _ = slot.agent.request_pause(at, PauseReason::new(NO_ANSWER));
            }
        } else if !delay.is_zero() {
            slot.resting = true;
            self.timers
                .arm(&mut slot.rest_at, rest_until, Timer::Rest(i));
        }
    }

    /// The agent that answered: no miss any more, out of its rest.
    pub(crate) fn count_answer(&mut self, i: usize) {
        let slot = &mut self.agents[i];
        slot.misses = 0;
        slot.resting = false;
        self.timers.arm(&mut slot.rest_at, None, Timer::Rest(i));
    }
}

impl AgentSlot {
    /// A new login session starts: counts since login start again.
    fn logged_in(&mut self, at: Instant) {
        self.misses = 0;
        self.answered_total = 0;
        self.idle_since = at;
        for m in &mut self.memberships {
            m.answered = 0;
        }
    }
}
