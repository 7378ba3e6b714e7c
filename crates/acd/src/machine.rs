//! [`Acd`]: the whole distributor as one sans-IO machine. This file holds the public surface
//! and the plumbing of time; the behaviour lives beside it, one concern per file:
//! [`crate::queue`] (the waiting line), [`crate::offers`] (offers and answered calls),
//! [`crate::roster`] (agent states), [`crate::dispatch`] (who gets whom), [`crate::setup`]
//! (config), [`crate::view`] (snapshots).
//!
//! # Time
//! * `now` is the driver's clock when it calls in. It only moves forward (an earlier `now` is
//!   taken as the latest seen), and timers are compared with it.
//! * `at` is when a call observed the fact it reports. Every event, wait, talk and wrap-up
//!   duration and agent transition uses it, clamped into `[last recorded instant, now]`, so
//!   the event record never goes backwards and never runs ahead of the clock.
//! * Before an input is applied, the deadlines due at its `at` are applied first (a caller
//!   whose max wait passed before it hung up overflowed; one that hung up first abandoned);
//!   after it, those due at `now`. Offers are only ever made at `now`, once the input and the
//!   deadlines are applied, since that is when the call can start ringing.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::agent::{AgentId, CallRef};
use crate::config::{AcdConfig, LoginPolicy, QueueId};
use crate::event::{AcdEvent, EventKind};
use crate::io::{Input, OfferId, Output, Restored};
use crate::offers::{ExpiredOffer, Offer, Talk};
use crate::queue::{Caller, LineKey, QueueSlot};
use crate::roster::AgentSlot;
use crate::strategy::SplitMix64;
use crate::timers::{Timer, Timers};

/// The automatic call distributor: queues, agents, offers. See the crate docs for how to drive
/// it and [`crate::io`] for who decides what.
#[derive(Debug)]
pub struct Acd {
    /// The config values that are not per queue or per agent.
    pub(crate) settings: Settings,
    /// Every agent ever configured, by index. Never shrinks, so indices held by offers and
    /// timers stay valid across reloads; an agent dropped from the config is `retired`.
    pub(crate) agents: Vec<AgentSlot>,
    /// Agent name → index in `agents`.
    pub(crate) agent_ix: HashMap<AgentId, usize>,
    /// Every queue ever configured, by index (same rule as `agents`).
    pub(crate) queues: Vec<QueueSlot>,
    /// Queue name → index in `queues`.
    pub(crate) queue_ix: HashMap<QueueId, usize>,
    /// Callers in a queue: waiting, or connecting to the agent that answered.
    pub(crate) callers: BTreeMap<CallRef, Caller>,
    /// The waiting line of all queues in service order (priority, then join order). Holds
    /// exactly the callers in phase `Waiting`, each under [`Caller::key`].
    pub(crate) line: BTreeMap<LineKey, CallRef>,
    /// Outstanding offers. Invariant: an offer is here iff its agent is `Reserved` for its
    /// call with `AgentSlot::offer` naming it, and it is listed in its caller's `offers`.
    pub(crate) offers: BTreeMap<OfferId, Offer>,
    /// Offers the ACD's deadline ended whose result the call has not reported yet; an
    /// `Answered` among them is a late answer. Dropped with their caller.
    pub(crate) expired: BTreeMap<OfferId, ExpiredOffer>,
    /// Answered (connected) calls, until they end.
    pub(crate) talking: BTreeMap<CallRef, Talk>,
    /// Every armed deadline.
    pub(crate) timers: Timers,
    /// Agents that may be offered a call right now (ready, reachable, not resting), by index.
    pub(crate) available: BTreeSet<usize>,
    /// Callers whose announcement fell due while an offer of theirs was ringing: announced as
    /// soon as they are waiting with no offer out.
    pub(crate) announce_due: BTreeSet<CallRef>,
    /// The `random` strategy's generator.
    pub(crate) rng: SplitMix64,
    outputs: VecDeque<Output>,
    events: VecDeque<AcdEvent>,
    next_offer: u64,
    next_seq: u64,
    /// The latest instant recorded in an event or agent transition.
    last: Instant,
    /// The latest `now` seen.
    now: Instant,
}

/// The config values that apply to the whole ACD.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub login: LoginPolicy,
    pub max_missed_offers: u32,
    pub missed_offer_delay: Duration,
    pub offer_grace: Duration,
    pub reachability_grace: Duration,
    pub ewt_window: usize,
}

impl Settings {
    fn from_config(config: &AcdConfig) -> Self {
        Self {
            login: config.login,
            max_missed_offers: config.max_missed_offers,
            missed_offer_delay: config.missed_offer_delay,
            offer_grace: config.offer_grace,
            reachability_grace: config.reachability_grace,
            ewt_window: config.ewt_window,
        }
    }
}

impl Acd {
    /// An ACD with these queues and agents, every agent logged out.
    #[must_use]
    pub fn new(config: AcdConfig, now: Instant) -> Acd {
        let mut acd = Acd {
            settings: Settings::from_config(&config),
            agents: Vec::new(),
            agent_ix: HashMap::new(),
            queues: Vec::new(),
            queue_ix: HashMap::new(),
            callers: BTreeMap::new(),
            line: BTreeMap::new(),
            offers: BTreeMap::new(),
            expired: BTreeMap::new(),
            talking: BTreeMap::new(),
            timers: Timers::default(),
            available: BTreeSet::new(),
            announce_due: BTreeSet::new(),
            rng: SplitMix64::new(config.rng_seed),
            outputs: VecDeque::new(),
            events: VecDeque::new(),
            next_offer: 1,
            next_seq: 0,
            last: now,
            now,
        };
        acd.apply_config(now, config);
        acd
    }

    /// Sets an agent's state as the store recorded it before a restart. Meant for the start,
    /// before any input; an agent already logged in is left alone.
    ///
    /// A restored agent is logged in but unreachable until its phone registers
    /// ([`Input::DeviceUp`]), unless it has a fixed contact; without a registration within
    /// [`AcdConfig::reachability_grace`] it is logged out. No `AgentState` event is emitted
    /// for the restored state itself: the store's record already ends with it.
    pub fn restore(&mut self, now: Instant, agent: &AgentId, state: Restored) {
        let now = self.advance(now);
        self.restore_agent(now, agent, state);
        self.settle(now);
    }

    /// Applies one input; then drain [`Acd::poll_output`] and [`Acd::poll_event`].
    pub fn handle(&mut self, now: Instant, input: Input) {
        let now = self.advance(now);
        let at = self.observed(input_at(&input), now);
        self.run_timers(at);
        match input {
            Input::Enqueue {
                call,
                queue,
                priority,
                skills,
                max_wait,
                ..
            } => self.join(at, call, &queue, priority, skills, max_wait),
            Input::Leave { call, reason, .. } => self.leave(at, call, reason),
            Input::OfferResult { offer, result, .. } => self.offer_result(at, offer, result),
            Input::Connected { call, .. } => self.connected(at, call),
            Input::ConnectFailed { call, .. } => self.connect_failed(at, call),
            Input::CallEnded { call, .. } => self.call_ended(at, call),
            Input::Claim {
                call, agent, kind, ..
            } => self.claim(at, call, &agent, kind),
            Input::Release { call, agent, .. } => self.release(at, call, &agent),
            Input::Agent {
                agent,
                command,
                reply_to,
                ..
            } => self.agent_command(at, &agent, command, reply_to),
            Input::DeviceUp { agent, .. } => self.device(at, &agent, true),
            Input::DeviceDown { agent, .. } => self.device(at, &agent, false),
        }
        self.settle(now);
    }

    /// Applies the deadlines due at `now` (call it no later than [`Acd::poll_timeout`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        self.settle(now);
    }

    /// The next decision for the switch, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next fact for the record, if any.
    pub fn poll_event(&mut self) -> Option<AcdEvent> {
        self.events.pop_front()
    }

    /// When to call [`Acd::handle_timeout`] next (None: nothing is timed).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Replaces the config, keeping agents' states, waiting callers, offers and calls.
    ///
    /// Agents and queues are matched by name. A new agent starts logged out; an agent dropped
    /// from the config is logged out (after its call, if on one) and serves no queue; a
    /// dropped queue refuses new callers and its waiting callers overflow with `no-agents`.
    /// New memberships, penalties and skills apply to the next dispatch, and callers nobody
    /// logged in can serve any more overflow with `no-agents`. Wrap-up changes apply from
    /// the next call, a caller's max wait stays what it was when it joined, widening and
    /// announcements follow the new queue config. Round-robin memory, handle times and
    /// calls answered since login are kept; the random generator is not reseeded.
    pub fn reconfigure(&mut self, now: Instant, config: AcdConfig) {
        let now = self.advance(now);
        self.settings = Settings::from_config(&config);
        self.apply_config(now, config);
        self.settle(now);
    }

    /// Deadlines due at `now`, then dispatch, then the announcements offers held back.
    fn settle(&mut self, now: Instant) {
        self.run_timers(now);
        self.dispatch(now);
        self.flush_announcements(now);
    }

    /// Applies every deadline due at `until`, in deadline order, each at its own instant.
    fn run_timers(&mut self, until: Instant) {
        while let Some((deadline, timer)) = self.timers.pop_due(until) {
            let at = deadline.max(self.last);
            match timer {
                Timer::OfferDeadline(offer) => self.offer_deadline(at, offer),
                Timer::WrapUp(agent) => self.wrap_up_due(at, agent),
                Timer::Rest(agent) => self.rest_over(agent),
                Timer::Reachability(agent) => self.reachability_due(at, agent),
                Timer::MaxWait(call) => self.max_wait_due(at, call),
                Timer::Widen(call) => self.widen_due(at, call),
                Timer::Announce(call) => self.announce_timer(call),
            }
        }
    }

    /// Takes the driver's `now`, never going back.
    fn advance(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.now
    }

    /// Clamps an input's `at` into `[last recorded, now]`.
    fn observed(&self, at: Instant, now: Instant) -> Instant {
        at.max(self.last).min(now)
    }

    /// Records a fact (at `at`, or the last recorded instant if `at` is earlier).
    pub(crate) fn emit(&mut self, at: Instant, kind: EventKind) {
        let at = at.max(self.last);
        self.last = at;
        self.events.push_back(AcdEvent { at, kind });
    }

    /// Queues a decision for the switch.
    pub(crate) fn output(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    /// A fresh offer id.
    pub(crate) fn next_offer_id(&mut self) -> OfferId {
        let id = OfferId(self.next_offer);
        self.next_offer += 1;
        id
    }

    /// A fresh join sequence number (service order among equal priorities).
    pub(crate) fn next_join_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }
}

/// The instant an input carries.
fn input_at(input: &Input) -> Instant {
    match *input {
        Input::Enqueue { at, .. }
        | Input::Leave { at, .. }
        | Input::OfferResult { at, .. }
        | Input::Connected { at, .. }
        | Input::ConnectFailed { at, .. }
        | Input::CallEnded { at, .. }
        | Input::Claim { at, .. }
        | Input::Release { at, .. }
        | Input::Agent { at, .. }
        | Input::DeviceUp { at, .. }
        | Input::DeviceDown { at, .. } => at,
    }
}
