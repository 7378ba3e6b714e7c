//! Who gets whom: after every input and every batch of deadlines, the waiting line is walked
//! in service order (priority, then join order, all queues together) and each caller with no
//! offer out is offered to the agents that may take it, as its queue's strategy orders them.
//!
//! An agent may take a caller when it is a member of the caller's queue, ready, reachable,
//! outside its missed-offer delay, and meets the caller's skills as widened by its wait; of
//! those, only the lowest penalty present counts. Walking in service order means an agent
//! that several queues share goes to the best caller of all of them, and a caller is never
//! passed over for a later or lower-priority one that the same agent could serve.
//!
//! # Cost
//! Nothing at all when no agent is available (the common case under load: callers wait
//! because everyone is busy). Otherwise O(W) to walk the W waiting callers, skipping in O(1)
//! those with an offer out or whose queue has no available member, plus, for each remaining
//! caller, O(min(A, M) × S): the smaller of the A available agents and the queue's M members,
//! times the caller's S required skills (each a B-tree lookup). Offers made: O(log n) each.
//! The walk stops as soon as no agent is available.

use std::ops::Bound;
use std::time::Instant;

use crate::agent::CallRef;
use crate::config::Strategy;
use crate::machine::Acd;
use crate::queue::{Caller, LineKey, Phase, serves};
use crate::strategy::{Candidate, Pick, pick};

impl Acd {
    /// Offers waiting callers to available agents (see the module docs).
    pub(crate) fn dispatch(&mut self, now: Instant) {
        let mut cursor: Option<LineKey> = None;
        while !self.available.is_empty() {
            let next = match cursor {
                None => self.line.first_key_value(),
                Some(key) => self
                    .line
                    .range((Bound::Excluded(key), Bound::Unbounded))
                    .next(),
            };
            let Some((&key, &call)) = next else {
                break;
            };
            cursor = Some(key);
            self.dispatch_caller(now, call);
        }
    }

    /// Offers one waiting caller to the agent(s) its strategy picks, if any may take it.
    fn dispatch_caller(&mut self, now: Instant, call: CallRef) {
        let Some(caller) = self.callers.get(&call) else {
            return;
        };
        if !caller.offers.is_empty()
            || caller.timed_out
            || caller.phase != Phase::Waiting
            || self.queues[caller.queue].available == 0
        {
            return;
        }
        let candidates = self.candidates(caller, now);
        if candidates.is_empty() {
            return;
        }
        let q = caller.queue;
        let queue = &self.queues[q];
        let rr_start = queue.rr_last.map_or(0, |pos| pos + 1);
        let strategy = queue.cfg.strategy;
        match pick(
            strategy,
            &candidates,
            rr_start,
            queue.members.len(),
            &mut self.rng,
        ) {
            Pick::All => {
                for c in candidates {
                    self.make_offer(now, call, c.agent);
                }
            }
            Pick::One(i) => {
                let chosen = candidates[i];
                if strategy == Strategy::RoundRobin {
                    self.queues[q].rr_last = Some(chosen.pos);
                }
                self.make_offer(now, call, chosen.agent);
            }
        }
    }

    /// The available agents that may take `caller` now, lowest penalty tier only.
    fn candidates(&self, caller: &Caller, now: Instant) -> Vec<Candidate> {
        let queue = &self.queues[caller.queue];
        let stage = caller.stage(&queue.cfg.widening, now);
        let mut tier = u32::MAX;
        let mut out = Vec::new();
        let mut consider = |agent: usize, penalty: u32, pos: usize, answered: u32| {
            if penalty > tier {
                return;
            }
            let slot = &self.agents[agent];
            if !serves(&slot.agent, &caller.skills, stage) {
                return;
            }
            if penalty < tier {
                tier = penalty;
                out.clear();
            }
            let score = caller
                .skills
                .iter()
                .filter_map(|req| slot.agent.level(&req.skill))
                .map(|level| u32::from(level.get()))
                .sum();
            out.push(Candidate {
                agent,
                pos,
                idle_since: slot.idle_since,
                answered,
                score,
            });
        };
        if self.available.len() < queue.members.len() {
            for &agent in &self.available {
                if let Some(m) = self.agents[agent].membership(caller.queue) {
                    consider(agent, m.penalty, m.pos, m.answered);
                }
            }
        } else {
            for (pos, &(agent, penalty)) in queue.members.iter().enumerate() {
                let slot = &self.agents[agent];
                if slot.available {
                    let answered = slot.membership(caller.queue).map_or(0, |m| m.answered);
                    consider(agent, penalty, pos, answered);
                }
            }
        }
        out
    }
}
