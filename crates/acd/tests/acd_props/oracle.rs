//! The simulated switch and the oracle: a model of queues and agents rebuilt from the event
//! record alone, checked against the ACD after every step (see the file docs of
//! `acd_props.rs` for the list of invariants).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use switchboard_acd::Acd;
use switchboard_acd::agent::{AgentId, CallRef, PauseReason, StateKind};
use switchboard_acd::config::{SkillReq, Strategy as Dist};
use switchboard_acd::event::{AcdEvent, EventKind};
use switchboard_acd::io::{
    AgentCommand, ClaimKind, Input, LeaveReason, OfferId, OfferResult, Output, OverflowReason,
    Restored,
};

use crate::model::{Op, SKILLS, Setup, agent_id, queue_id, reqs};

type Check = Result<(), TestCaseError>;

/// Where a visit stands, per the record (and the answers the switch gave).
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Waiting,
    Connecting(usize),
    Answered,
    Abandoned,
    Overflowed,
}

#[derive(Debug, Clone)]
struct Visit {
    queue: usize,
    priority: i32,
    seq: u64,
    joined: Instant,
    max_wait: Option<Duration>,
    skills: Vec<SkillReq>,
    phase: Phase,
    call_ended: bool,
    wrap_ended: bool,
}

#[derive(Debug, Clone)]
struct OpenOffer {
    call: CallRef,
    agent: usize,
    deadline: Option<Instant>,
    batch: u64,
}

#[derive(Debug, Clone)]
struct AgentModel {
    state: StateKind,
    reason: Option<PauseReason>,
    misses: u32,
    rest_until: Option<Instant>,
}

/// An offer the switch has been asked to ring and has not reported yet.
#[derive(Debug, Clone)]
struct Pending {
    call: CallRef,
    agent: usize,
    cancelled: bool,
}

/// What the oracle expects from the input it is about to send.
#[derive(Debug, Default)]
struct Expect {
    /// A join: its max wait and skills.
    join: Option<(Option<Duration>, Vec<SkillReq>)>,
    /// An answer to an open offer: must be taken.
    answer: Option<OfferId>,
    /// An answer to an offer the ACD ended: taken iff the agent goes on call.
    late: Option<(usize, CallRef)>,
    /// A feature code that asked for a reply.
    command: Option<usize>,
}

pub struct Sim {
    acd: Acd,
    setup: Setup,
    grace: Duration,
    t0: Instant,
    now: Instant,
    batch: u64,
    // The switch.
    pending: BTreeMap<OfferId, Pending>,
    to_connect: BTreeSet<CallRef>,
    claims: Vec<(CallRef, usize)>,
    device_up: Vec<bool>,
    next_call: u64,
    next_claim: u64,
    // The oracle.
    visits: BTreeMap<CallRef, Visit>,
    next_seq: u64,
    open: BTreeMap<OfferId, OpenOffer>,
    known: BTreeMap<OfferId, (CallRef, usize)>,
    agents: Vec<AgentModel>,
    last_event: Instant,
    offered: BTreeMap<CallRef, usize>,
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

impl Sim {
    pub fn new(setup: &Setup) -> Result<Sim, TestCaseError> {
        let t0 = Instant::now();
        let config = setup.config();
        let mut acd = Acd::new(config.clone(), t0);
        let mut agents = Vec::new();
        for (i, a) in setup.agents.iter().enumerate() {
            let (restored, state, reason) = match a.restored {
                1 => (Restored::Ready, StateKind::Ready, None),
                2 => {
                    let r = PauseReason::new("lunch");
                    (Restored::Paused(r.clone()), StateKind::Paused, Some(r))
                }
                _ => (Restored::LoggedOut, StateKind::LoggedOut, None),
            };
            acd.restore(t0, &agent_id(i), restored);
            agents.push(AgentModel {
                state,
                reason,
                misses: 0,
                rest_until: None,
            });
        }
        // The store closed the last run's record with every agent logged out: each restored
        // login (or pause) is recorded as a change, once, and nothing else.
        let restored: Vec<EventKind> = std::iter::from_fn(|| acd.poll_event())
            .map(|e| e.kind)
            .collect();
        let expected: Vec<EventKind> = agents
            .iter()
            .enumerate()
            .filter(|(_, m)| m.state != StateKind::LoggedOut)
            .map(|(i, m)| EventKind::AgentState {
                agent: agent_id(i),
                state: m.state,
                reason: m.reason.clone(),
            })
            .collect();
        prop_assert_eq!(
            restored,
            expected,
            "restore records each restored state once"
        );
        prop_assert!(acd.poll_output().is_none());
        let mut sim = Sim {
            acd,
            setup: setup.clone(),
            grace: config.offer_grace,
            t0,
            now: t0,
            batch: 0,
            pending: BTreeMap::new(),
            to_connect: BTreeSet::new(),
            claims: Vec::new(),
            device_up: vec![false; setup.agents.len()],
            next_call: 1,
            next_claim: 500_000,
            visits: BTreeMap::new(),
            next_seq: 0,
            open: BTreeMap::new(),
            known: BTreeMap::new(),
            agents,
            last_event: t0,
            offered: BTreeMap::new(),
        };
        for (i, a) in setup.agents.iter().enumerate() {
            if a.starts_logged_in {
                sim.apply(0, &Op::Command { agent: i, cmd: 0 })?;
            }
        }
        Ok(sim)
    }

    /// How many offers a call got.
    pub fn offered_per_call(&self, call: CallRef) -> usize {
        self.offered.get(&call).copied().unwrap_or(0)
    }

    /// Whether a call was answered.
    pub fn answered(&self, call: CallRef) -> bool {
        self.visits
            .get(&call)
            .is_some_and(|v| v.phase == Phase::Answered)
    }

    fn at(&self, lag: i64) -> Instant {
        let d = Duration::from_millis(lag.unsigned_abs());
        if lag >= 0 {
            self.now.checked_sub(d).unwrap_or(self.t0).max(self.t0)
        } else {
            self.now + d
        }
    }

    /// Plays one operation.
    pub fn apply(&mut self, lag: i64, op: &Op) -> Check {
        let at = self.at(lag);
        match op {
            Op::Join {
                queue,
                priority,
                skills,
                max_wait,
            } => {
                let call = CallRef(self.next_call);
                self.next_call += 1;
                let max_wait = max_wait.map(Duration::from_secs);
                let expect = Expect {
                    join: Some((
                        max_wait.or(self.setup.queues[*queue]
                            .max_wait_s
                            .map(Duration::from_secs)),
                        reqs(skills),
                    )),
                    ..Expect::default()
                };
                self.send(
                    Input::Enqueue {
                        call,
                        queue: queue_id(*queue),
                        priority: *priority,
                        skills: reqs(skills),
                        max_wait,
                        at,
                    },
                    expect,
                )
            }
            Op::Leave { pick, kind } => {
                let live: Vec<CallRef> = self
                    .visits
                    .iter()
                    .filter(|(_, v)| match v.phase {
                        Phase::Waiting | Phase::Connecting(_) => true,
                        Phase::Answered => !v.call_ended,
                        _ => false,
                    })
                    .map(|(c, _)| *c)
                    .collect();
                let Some(&call) = live.get(pick % live.len().max(1)) else {
                    return Ok(());
                };
                let reason = match kind {
                    0 => LeaveReason::Hangup,
                    1 => LeaveReason::Key('0'),
                    _ => LeaveReason::Gone,
                };
                self.send(Input::Leave { call, reason, at }, Expect::default())
            }
            Op::Report { pick, result } => {
                let ids: Vec<OfferId> = self.pending.keys().copied().collect();
                let Some(&offer) = ids.get(pick % ids.len().max(1)) else {
                    return Ok(());
                };
                if *result == 6 || offer.0 % self.setup.silent_mod == 0 {
                    return Ok(()); // not now, or never
                }
                let cancelled = self.pending[&offer].cancelled;
                let result = match (result, cancelled) {
                    (0, true) => OfferResult::Answered, // the answer crossed the cancel
                    (_, true) => OfferResult::Cancelled,
                    (0 | 1, false) => OfferResult::Answered,
                    (2, false) => OfferResult::NoAnswer,
                    (3, false) => OfferResult::Declined(486),
                    (4, false) => OfferResult::Unreachable,
                    _ => OfferResult::Cancelled,
                };
                self.report(offer, result, at)
            }
            Op::ReportAs { agent, result } => {
                let offer = self
                    .pending
                    .iter()
                    .filter(|(_, p)| p.agent == *agent && !p.cancelled)
                    .map(|(o, _)| *o)
                    .next_back();
                match offer {
                    Some(offer) => self.report(offer, *result, at),
                    None => Err(fail(format!("no offer to a{agent} to report"))),
                }
            }
            Op::Connect { pick, ok } => {
                let calls: Vec<CallRef> = self.to_connect.iter().copied().collect();
                let Some(&call) = calls.get(pick % calls.len().max(1)) else {
                    return Ok(());
                };
                self.to_connect.remove(&call);
                let input = if *ok {
                    Input::Connected { call, at }
                } else {
                    Input::ConnectFailed { call, at }
                };
                self.send(input, Expect::default())
            }
            Op::End { pick } => {
                let talking: Vec<CallRef> = self
                    .visits
                    .iter()
                    .filter(|(_, v)| v.phase == Phase::Answered && !v.call_ended)
                    .map(|(c, _)| *c)
                    .collect();
                let Some(&call) = talking.get(pick % talking.len().max(1)) else {
                    return Ok(());
                };
                self.send(Input::CallEnded { call, at }, Expect::default())
            }
            Op::Command { agent, cmd } => {
                let command = match cmd {
                    0 => AgentCommand::Login,
                    1 => AgentCommand::Logout,
                    2 => AgentCommand::Pause(PauseReason::new(if *agent % 2 == 0 {
                        "lunch"
                    } else {
                        "training"
                    })),
                    _ => AgentCommand::Ready,
                };
                let expect = Expect {
                    command: Some(*agent),
                    ..Expect::default()
                };
                self.send(
                    Input::Agent {
                        agent: agent_id(*agent),
                        command,
                        reply_to: Some(CallRef(900_000)),
                        at,
                    },
                    expect,
                )
            }
            Op::Device { agent, up } => {
                self.device_up[*agent] = *up;
                let agent = agent_id(*agent);
                let input = if *up {
                    Input::DeviceUp { agent, at }
                } else {
                    Input::DeviceDown { agent, at }
                };
                self.send(input, Expect::default())
            }
            Op::Claim { agent, callee } => {
                let call = CallRef(self.next_claim);
                self.next_claim += 1;
                let kind = if *callee {
                    ClaimKind::Callee
                } else {
                    ClaimKind::Caller
                };
                self.send(
                    Input::Claim {
                        call,
                        agent: agent_id(*agent),
                        kind,
                        at,
                    },
                    Expect::default(),
                )
            }
            Op::Release { pick } => {
                if self.claims.is_empty() {
                    return Ok(());
                }
                let (call, agent) = self.claims.remove(pick % self.claims.len());
                self.send(
                    Input::Release {
                        call,
                        agent: agent_id(agent),
                        at,
                    },
                    Expect::default(),
                )
            }
            Op::Advance { ms } => self.advance(Duration::from_millis(*ms)),
        }
    }

    /// The switch reports an offer once.
    fn report(&mut self, offer: OfferId, result: OfferResult, at: Instant) -> Check {
        let Some(p) = self.pending.remove(&offer) else {
            return Ok(());
        };
        let mut expect = Expect::default();
        if result == OfferResult::Answered {
            self.to_connect.insert(p.call);
            if self.open.contains_key(&offer) {
                expect.answer = Some(offer);
            } else if let Some(&(call, agent)) = self.known.get(&offer) {
                expect.late = Some((agent, call));
            }
        }
        self.send(Input::OfferResult { offer, result, at }, expect)
    }

    /// Lets time pass, waking at every deadline on the way.
    fn advance(&mut self, d: Duration) -> Check {
        let target = self.now + d;
        for _ in 0..100_000 {
            match self.acd.poll_timeout() {
                Some(wake) if wake <= target => {
                    self.now = self.now.max(wake);
                    self.batch += 1;
                    self.acd.handle_timeout(self.now);
                    self.check_batch(Expect::default())?;
                }
                _ => {
                    self.now = target;
                    return self.check_state(&[]);
                }
            }
        }
        Err(fail("the ACD keeps asking to wake up".into()))
    }

    fn send(&mut self, input: Input, expect: Expect) -> Check {
        self.batch += 1;
        self.acd.handle(self.now, input);
        self.check_batch(expect)
    }

    /// The switch finishes what it can, then time runs out.
    pub fn finish(&mut self) -> Check {
        for _ in 0..40 {
            let offers: Vec<(OfferId, bool)> = self
                .pending
                .iter()
                .map(|(o, p)| (*o, p.cancelled))
                .collect();
            for (offer, cancelled) in offers {
                if offer.0 % self.setup.silent_mod != 0 {
                    let result = if cancelled {
                        OfferResult::Cancelled
                    } else {
                        OfferResult::Answered
                    };
                    let now = self.now;
                    self.report(offer, result, now)?;
                }
            }
            for call in std::mem::take(&mut self.to_connect) {
                let at = self.now;
                self.send(Input::Connected { call, at }, Expect::default())?;
            }
            let talking: Vec<CallRef> = self
                .visits
                .iter()
                .filter(|(_, v)| v.phase == Phase::Answered && !v.call_ended)
                .map(|(c, _)| *c)
                .collect();
            for call in talking {
                let at = self.now;
                self.send(Input::CallEnded { call, at }, Expect::default())?;
            }
            for (call, agent) in std::mem::take(&mut self.claims) {
                let at = self.now;
                let agent = agent_id(agent);
                self.send(Input::Release { call, agent, at }, Expect::default())?;
            }
            self.advance(Duration::from_secs(30))?;
        }
        self.advance(Duration::from_secs(2_000))?;
        for (call, v) in &self.visits {
            match v.phase {
                Phase::Abandoned | Phase::Overflowed => {}
                Phase::Answered => prop_assert!(
                    v.call_ended && v.wrap_ended,
                    "{call}: answered but not ended and wrapped up: {v:?}"
                ),
                Phase::Connecting(_) => {
                    return Err(fail(format!("{call} still connecting at the end")));
                }
                Phase::Waiting => {
                    // Still waiting: with a live reason (checked after every step too).
                    prop_assert!(
                        self.max_wait_deadline(v).is_none_or(|d| d > self.now),
                        "{call} waits past its max wait"
                    );
                    prop_assert!(self.could_be_served(v), "{call} waits for nobody");
                }
            }
        }
        Ok(())
    }

    /// Drains the ACD and checks the batch against the model, then the state.
    fn check_batch(&mut self, expect: Expect) -> Check {
        let before: Vec<StateKind> = self.agents.iter().map(|m| m.state).collect();
        let outputs: Vec<Output> = std::iter::from_fn(|| self.acd.poll_output()).collect();
        let events: Vec<AcdEvent> = std::iter::from_fn(|| self.acd.poll_event()).collect();
        let mut answering = None;
        if let Some(offer) = expect.answer {
            let o = self
                .open
                .remove(&offer)
                .ok_or_else(|| fail("lost offer".into()))?;
            self.visit_mut(o.call)?.phase = Phase::Connecting(o.agent);
            answering = Some(o.agent);
        }
        if let Some((agent, call)) = expect.late {
            let taken = events.iter().any(|e| {
                matches!(&e.kind, EventKind::AgentState { agent: a, state: StateKind::OnCall, .. }
                    if *a == agent_id(agent))
            });
            if taken {
                prop_assert_eq!(&self.visit_mut(call)?.phase, &Phase::Waiting);
                self.visit_mut(call)?.phase = Phase::Connecting(agent);
                // Offered the same caller again since: that offer is the one answered.
                self.open
                    .retain(|_, o| !(o.agent == agent && o.call == call));
            }
        }
        let mut offered_now: Vec<(OfferId, CallRef, usize)> = Vec::new();
        let mut ring_all_tiers: BTreeMap<CallRef, BTreeSet<usize>> = BTreeMap::new();
        let mut overflowed: Vec<(CallRef, OverflowReason)> = Vec::new();
        for e in &events {
            prop_assert!(e.at >= self.last_event, "event back in time: {:?}", e);
            prop_assert!(e.at <= self.now, "event ahead of now: {:?}", e);
            self.last_event = e.at;
            if let EventKind::Offered { call, agent, .. } = &e.kind {
                let a = self.agent_index(agent)?;
                let v = self
                    .visits
                    .get(call)
                    .cloned()
                    .ok_or_else(|| fail("offer of nobody".into()))?;
                if self.setup.queues[v.queue].strategy == Dist::RingAll
                    && !ring_all_tiers.contains_key(call)
                {
                    ring_all_tiers.insert(*call, self.lowest_tier(&v));
                }
                self.check_offer(&v, a)?;
            }
            if let EventKind::Overflowed { call, reason, .. } = &e.kind {
                overflowed.push((*call, *reason));
            }
            self.apply_event(e.at, &e.kind, &expect, &mut offered_now)?;
        }
        if let Some(a) = answering {
            prop_assert_eq!(
                self.agents[a].state,
                StateKind::OnCall,
                "an answer is always taken"
            );
        }
        for (call, tier) in &ring_all_tiers {
            let rung: BTreeSet<usize> = offered_now
                .iter()
                .filter(|(_, c, _)| c == call)
                .map(|&(_, _, a)| a)
                .collect();
            prop_assert_eq!(
                &rung,
                tier,
                "ring-all must ring its whole tier for {}",
                call
            );
        }
        let mut offers_out = 0;
        for o in outputs {
            match o {
                Output::Offer {
                    offer,
                    call,
                    agent,
                    ring_timeout,
                    ..
                } => {
                    offers_out += 1;
                    let a = self.agent_index(&agent)?;
                    prop_assert!(
                        offered_now.contains(&(offer, call, a)),
                        "offer without event"
                    );
                    let open = self
                        .open
                        .get_mut(&offer)
                        .ok_or_else(|| fail("offer closed".into()))?;
                    open.deadline = Some(self.now + ring_timeout + self.grace);
                    self.pending.insert(
                        offer,
                        Pending {
                            call,
                            agent: a,
                            cancelled: false,
                        },
                    );
                }
                Output::CancelOffer { offer, call, .. } => {
                    let p = self.pending.get_mut(&offer).ok_or_else(|| {
                        fail(format!("cancel of an offer already reported {offer}"))
                    })?;
                    prop_assert_eq!(p.call, call);
                    p.cancelled = true;
                }
                Output::Overflow { call, reason } => {
                    prop_assert!(
                        overflowed.contains(&(call, reason)),
                        "overflow without event"
                    );
                    self.to_connect.remove(&call);
                }
                Output::Announce { call, position, .. } => {
                    let v = self
                        .visits
                        .get(&call)
                        .ok_or_else(|| fail("announce to nobody".into()))?;
                    prop_assert_eq!(&v.phase, &Phase::Waiting);
                    prop_assert!(position >= 1);
                    prop_assert!(
                        !self.open.values().any(|o| o.call == call),
                        "announce while ringing"
                    );
                }
                Output::ClaimResult {
                    call,
                    agent,
                    granted,
                } => {
                    if granted && let Ok(a) = self.agent_index(&agent) {
                        self.claims.push((call, a));
                    }
                }
                Output::AgentCommandDone { agent, result, .. } => {
                    let a = self.agent_index(&agent)?;
                    prop_assert_eq!(expect.command, Some(a));
                    // The state right after the command: the one it had before the step if
                    // the command changed nothing, else the first one recorded in the step
                    // (dispatch may move it on at once, ready → reserved).
                    if let Ok(kind) = result {
                        let first = events.iter().find_map(|e| match &e.kind {
                            EventKind::AgentState {
                                agent: x, state, ..
                            } if *x == agent => Some(*state),
                            _ => None,
                        });
                        prop_assert_eq!(kind, first.unwrap_or(before[a]));
                    }
                }
                other => return Err(fail(format!("unexpected output {other:?}"))),
            }
        }
        prop_assert_eq!(offers_out, offered_now.len());
        let offered: Vec<(CallRef, usize)> = offered_now.iter().map(|&(_, c, a)| (c, a)).collect();
        self.check_state(&offered)
    }
}

#[path = "events.rs"]
mod events;
