//! The oracle's model updates (one per event) and its checks of the state after each step.

use super::*;

impl Sim {
    pub(super) fn agent_index(&self, id: &AgentId) -> Result<usize, TestCaseError> {
        id.as_str()
            .strip_prefix('a')
            .and_then(|n| n.parse().ok())
            .filter(|&i: &usize| i < self.agents.len())
            .ok_or_else(|| fail(format!("unknown agent {id}")))
    }

    pub(super) fn visit_mut(&mut self, call: CallRef) -> Result<&mut Visit, TestCaseError> {
        self.visits
            .get_mut(&call)
            .ok_or_else(|| fail(format!("no visit for {call}")))
    }

    fn reachable(&self, a: usize) -> bool {
        self.setup.agents[a].always_reachable || self.device_up[a]
    }

    /// 0: every skill at its level, 1: at any level, 2: any member.
    fn stage(&self, v: &Visit) -> u8 {
        let wait = self.now.saturating_duration_since(v.joined);
        let q = &self.setup.queues[v.queue];
        let after = |s: Option<u64>| s.is_some_and(|s| wait >= Duration::from_secs(s));
        if after(q.widen_any_s) {
            2
        } else if after(q.widen_level_s) {
            1
        } else {
            0
        }
    }

    fn meets(&self, a: usize, skills: &[SkillReq], stage: u8) -> bool {
        stage == 2
            || skills.iter().all(|r| {
                self.setup.agents[a]
                    .skills
                    .iter()
                    .find(|&&(s, _)| SKILLS[s] == r.skill.as_str())
                    .is_some_and(|&(_, level)| stage == 1 || level >= r.min_level.get())
            })
    }

    /// Whether `a` may take `v` now (`assume_ready`: it was ready just before its own offer).
    fn eligible(&self, a: usize, v: &Visit, assume_ready: bool) -> bool {
        let m = &self.agents[a];
        self.setup.penalty(v.queue, a).is_some()
            && (assume_ready || m.state == StateKind::Ready)
            && self.reachable(a)
            && m.rest_until.is_none_or(|t| t <= self.now)
            && self.meets(a, &v.skills, self.stage(v))
    }

    /// The eligible agents of the lowest penalty present.
    pub(super) fn lowest_tier(&self, v: &Visit) -> BTreeSet<usize> {
        let eligible: Vec<(usize, u32)> = (0..self.agents.len())
            .filter(|&a| self.eligible(a, v, false))
            .filter_map(|a| self.setup.penalty(v.queue, a).map(|p| (a, p)))
            .collect();
        let low = eligible.iter().map(|&(_, p)| p).min();
        eligible
            .into_iter()
            .filter(|&(_, p)| Some(p) == low)
            .map(|(a, _)| a)
            .collect()
    }

    /// A logged-in member meets the caller's skills as fully widened.
    pub(super) fn could_be_served(&self, v: &Visit) -> bool {
        let q = &self.setup.queues[v.queue];
        let stage = if q.widen_any_s.is_some() {
            2
        } else if q.widen_level_s.is_some() {
            1
        } else {
            0
        };
        q.members.iter().any(|&(a, _)| {
            self.agents[a].state != StateKind::LoggedOut && self.meets(a, &v.skills, stage)
        })
    }

    pub(super) fn max_wait_deadline(&self, v: &Visit) -> Option<Instant> {
        v.max_wait.map(|d| v.joined + d)
    }

    /// At an `Offered` event: the agent may take the caller and is of the lowest tier.
    pub(super) fn check_offer(&self, v: &Visit, a: usize) -> Check {
        prop_assert!(
            self.eligible(a, v, false),
            "offered to an agent that may not take it: a{} {:?} {:?}",
            a,
            self.agents[a],
            v
        );
        prop_assert!(
            self.lowest_tier(v).contains(&a),
            "a{} is not of the lowest penalty tier",
            a
        );
        prop_assert!(
            !self.claims.iter().any(|&(_, x)| x == a),
            "a{} is on a direct call",
            a
        );
        Ok(())
    }

    /// Applies one event to the model, checking the record's guarantees.
    pub(super) fn apply_event(
        &mut self,
        at: Instant,
        kind: &EventKind,
        expect: &Expect,
        offered_now: &mut Vec<(OfferId, CallRef, usize)>,
    ) -> Check {
        match kind {
            EventKind::Joined {
                call,
                queue,
                priority,
            } => {
                prop_assert!(!self.visits.contains_key(call), "{} joined twice", call);
                let (max_wait, skills) = expect
                    .join
                    .clone()
                    .ok_or_else(|| fail("joined without an enqueue".into()))?;
                let q = (0..self.setup.queues.len())
                    .find(|&q| queue_id(q) == *queue)
                    .ok_or_else(|| fail("unknown queue".into()))?;
                self.visits.insert(
                    *call,
                    Visit {
                        queue: q,
                        priority: *priority,
                        seq: self.next_seq,
                        joined: at,
                        max_wait,
                        skills,
                        phase: Phase::Waiting,
                        call_ended: false,
                        wrap_ended: false,
                    },
                );
                self.next_seq += 1;
            }
            EventKind::Offered {
                call,
                queue,
                agent,
                offer,
            } => {
                let a = self.agent_index(agent)?;
                let v = self
                    .visits
                    .get(call)
                    .ok_or_else(|| fail("offer of nobody".into()))?;
                prop_assert_eq!(&v.phase, &Phase::Waiting);
                prop_assert_eq!(queue, &queue_id(v.queue));
                prop_assert_eq!(self.agents[a].state, StateKind::Ready);
                prop_assert!(
                    !self.open.values().any(|o| o.agent == a),
                    "two offers to a{}",
                    a
                );
                let mine: Vec<&OpenOffer> =
                    self.open.values().filter(|o| o.call == *call).collect();
                if !mine.is_empty() {
                    prop_assert!(
                        mine.iter().all(|o| o.batch == self.batch)
                            && self.setup.queues[v.queue].strategy == Dist::RingAll,
                        "{} offered to two agents outside one ring-all round",
                        call
                    );
                }
                self.open.insert(
                    *offer,
                    OpenOffer {
                        call: *call,
                        agent: a,
                        deadline: None,
                        batch: self.batch,
                    },
                );
                self.known.insert(*offer, (*call, a));
                *self.offered.entry(*call).or_default() += 1;
                offered_now.push((*offer, *call, a));
            }
            EventKind::OfferEnded {
                call,
                agent,
                offer,
                result,
                ..
            } => {
                let a = self.agent_index(agent)?;
                let o = self
                    .open
                    .remove(offer)
                    .ok_or_else(|| fail(format!("{offer} ended but was not open")))?;
                prop_assert_eq!((o.call, o.agent), (*call, a));
                prop_assert_ne!(*result, Some(OfferResult::Answered));
                let miss = matches!(
                    result,
                    None | Some(
                        OfferResult::NoAnswer | OfferResult::Declined(_) | OfferResult::Unreachable
                    )
                );
                if miss {
                    let (max, delay) = (
                        self.setup.max_missed,
                        Duration::from_secs(self.setup.miss_delay_s),
                    );
                    let m = &mut self.agents[a];
                    m.misses += 1;
                    if max > 0 && m.misses >= max {
                        m.misses = 0;
                    } else if !delay.is_zero() {
                        m.rest_until = Some(at + delay);
                    }
                }
            }
            EventKind::Answered {
                call, agent, wait, ..
            } => {
                let a = self.agent_index(agent)?;
                let v = self.visit_mut(*call)?;
                prop_assert_eq!(&v.phase, &Phase::Connecting(a));
                prop_assert!(*wait <= at.saturating_duration_since(v.joined));
                v.phase = Phase::Answered;
            }
            EventKind::ConnectFailed { call, agent, .. } => {
                let a = self.agent_index(agent)?;
                let v = self.visit_mut(*call)?;
                prop_assert_eq!(&v.phase, &Phase::Connecting(a));
                v.phase = Phase::Waiting;
            }
            EventKind::Abandoned { call, wait, .. } | EventKind::Overflowed { call, wait, .. } => {
                let key = matches!(
                    kind,
                    EventKind::Abandoned { .. }
                        | EventKind::Overflowed {
                            reason: OverflowReason::Key(_),
                            ..
                        }
                );
                prop_assert!(
                    !self.open.values().any(|o| o.call == *call),
                    "{} left with an offer out",
                    call
                );
                let v = self.visit_mut(*call)?;
                let ok =
                    v.phase == Phase::Waiting || (key && matches!(v.phase, Phase::Connecting(_)));
                prop_assert!(ok, "{} ended its visit from {:?}", call, v.phase);
                prop_assert_eq!(*wait, at.saturating_duration_since(v.joined));
                v.phase = if matches!(kind, EventKind::Abandoned { .. }) {
                    Phase::Abandoned
                } else {
                    Phase::Overflowed
                };
                self.to_connect.remove(call);
            }
            EventKind::CallEnded { call, .. } => {
                let v = self.visit_mut(*call)?;
                prop_assert!(v.phase == Phase::Answered && !v.call_ended, "{:?}", v);
                v.call_ended = true;
            }
            EventKind::WrapUpEnded { call, .. } => {
                let v = self.visit_mut(*call)?;
                prop_assert!(v.call_ended && !v.wrap_ended, "{:?}", v);
                v.wrap_ended = true;
            }
            EventKind::AgentState {
                agent,
                state,
                reason,
            } => {
                let a = self.agent_index(agent)?;
                let m = &mut self.agents[a];
                prop_assert!(
                    (*state, reason) != (m.state, &m.reason),
                    "a{} recorded twice as {:?}",
                    a,
                    state
                );
                prop_assert_eq!(reason.is_some(), *state == StateKind::Paused);
                if m.state == StateKind::LoggedOut || *state == StateKind::LoggedOut {
                    m.misses = 0;
                }
                if matches!(*state, StateKind::LoggedOut | StateKind::OnCall) {
                    m.misses = 0;
                    m.rest_until = None;
                }
                m.state = *state;
                m.reason = reason.clone();
            }
            other => return Err(fail(format!("unexpected event {other:?}"))),
        }
        Ok(())
    }

    /// The state after a step: offers, agents against the ACD, waiting callers.
    pub(super) fn check_state(&mut self, offered: &[(CallRef, usize)]) -> Check {
        let mut per_agent = vec![0_u32; self.agents.len()];
        for (id, o) in &self.open {
            prop_assert!(
                o.deadline.is_none_or(|d| d >= self.now),
                "{} reserved past its deadline",
                id
            );
            prop_assert_eq!(self.agents[o.agent].state, StateKind::Reserved);
            per_agent[o.agent] += 1;
        }
        let snapshot = self.acd.snapshot(self.now);
        for (a, m) in self.agents.iter().enumerate() {
            if m.state == StateKind::Reserved {
                prop_assert_eq!(per_agent[a], 1, "a{} reserved without one offer", a);
            }
            let id = agent_id(a);
            let view = snapshot
                .agents
                .iter()
                .find(|v| v.id == id)
                .ok_or_else(|| fail(format!("{id} missing from the snapshot")))?;
            prop_assert_eq!(view.state, m.state, "{} state", id);
            prop_assert_eq!(&view.reason, &m.reason, "{} reason", id);
            prop_assert_eq!(view.misses, m.misses, "{} misses", id);
            prop_assert_eq!(
                view.resting_until,
                m.rest_until.filter(|&t| t > self.now),
                "{} rest",
                id
            );
            let agent = self
                .acd
                .agent(&id)
                .ok_or_else(|| fail(format!("{id} unknown")))?;
            prop_assert_eq!(
                agent.totals(self.now).sum(),
                agent.logged_in_time(self.now),
                "{} totals",
                id
            );
        }
        let waiting: Vec<(CallRef, Visit)> = self
            .visits
            .iter()
            .filter(|(c, v)| {
                v.phase == Phase::Waiting && !self.open.values().any(|o| o.call == **c)
            })
            .map(|(c, v)| (*c, v.clone()))
            .collect();
        for (call, v) in &waiting {
            prop_assert!(
                self.max_wait_deadline(v).is_none_or(|d| d > self.now),
                "{} waits past its max wait",
                call
            );
            prop_assert!(self.could_be_served(v), "{} waits for nobody", call);
            for a in 0..self.agents.len() {
                prop_assert!(
                    !self.eligible(a, v, false),
                    "a{} idles while {} could take it",
                    a,
                    call
                );
            }
        }
        for &(c, a) in offered {
            let Some(vc) = self.visits.get(&c) else {
                continue;
            };
            for (d, vd) in &waiting {
                let better =
                    vd.priority > vc.priority || (vd.priority == vc.priority && vd.seq < vc.seq);
                prop_assert!(
                    !(better && self.eligible(a, vd, true)),
                    "{} was offered a{} while {} (better) could take it",
                    c,
                    a,
                    d
                );
            }
        }
        Ok(())
    }
}
