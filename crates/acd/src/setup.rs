//! Applying a config, at start and on reload.
//!
//! A reload keeps every agent's state, every waiting caller's place, every offer and call.
//! What it changes:
//! * Agents and queues are matched by name. A new agent starts logged out. An agent dropped
//!   from the config is *retired*: member of nothing, logged out (after its call, if on one).
//!   A dropped queue refuses new callers (`no-agents`) and its waiting callers overflow with
//!   `no-agents` once their offers, if any, end.
//! * Memberships, penalties, skills and levels apply to the next dispatch. Callers that no
//!   logged-in member can serve any more overflow with `no-agents`.
//! * Wrap-up (the longest of an agent's queues) applies from the next call; a wrap-up in
//!   progress keeps its deadline. A caller's max wait stays what it was when it joined;
//!   widening and announcements follow the new queue config from now on.
//! * Round-robin memory follows its agent to its new place; handle times are kept (cut to the
//!   new `ewt_window`); calls answered since login are kept per queue.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::agent::{Agent, CallRef, Extension};
use crate::config::AcdConfig;
use crate::machine::Acd;
use crate::queue::QueueSlot;
use crate::roster::{AgentSlot, Membership};
use crate::timers::Timer;

impl Acd {
    /// Installs `config`'s agents and queues (see the module docs). The global settings are
    /// set by the caller.
    pub(crate) fn apply_config(&mut self, now: Instant, config: AcdConfig) {
        let mut configured = HashSet::new();
        for ac in config.agents {
            if !configured.insert(ac.id.clone()) {
                continue; // the config checker refuses repeats; keep the first
            }
            match self.agent_ix.get(&ac.id) {
                Some(&i) => {
                    let slot = &mut self.agents[i];
                    slot.agent.set_skills(ac.skills);
                    slot.always_reachable = ac.always_reachable;
                    slot.retired = false;
                }
                None => {
                    let extension = Extension::new(ac.id.as_str());
                    let agent = Agent::new(ac.id.clone(), extension, ac.skills, Duration::ZERO);
                    self.agent_ix.insert(ac.id, self.agents.len());
                    self.agents
                        .push(AgentSlot::new(agent, ac.always_reachable, now));
                }
            }
        }
        let mut retiring = Vec::new();
        for (i, slot) in self.agents.iter_mut().enumerate() {
            if !configured.contains(slot.agent.id()) && !slot.retired {
                slot.retired = true;
                retiring.push(i);
            }
        }

        let mut kept = HashSet::new();
        for qc in config.queues {
            if !kept.insert(qc.id.clone()) {
                continue;
            }
            match self.queue_ix.get(&qc.id) {
                Some(&q) => {
                    self.queues[q].cfg = qc;
                    self.queues[q].retired = false;
                }
                None => {
                    self.queue_ix.insert(qc.id.clone(), self.queues.len());
                    self.queues.push(QueueSlot::new(qc));
                }
            }
        }
        for queue in &mut self.queues {
            if !kept.contains(&queue.cfg.id) {
                queue.retired = true;
            }
        }
        self.rebuild_members();
        self.rebuild_availability();

        for i in retiring {
            if self.agents[i].agent.is_logged_in() {
                let _ = self.agents[i].agent.request_logout(now);
            }
            self.reconcile(i, now);
        }
        self.review_callers(now);
    }

    /// Resolves each queue's members to agent indices, and each agent's memberships and
    /// wrap-up from them.
    fn rebuild_members(&mut self) {
        let old_answered: Vec<HashMap<usize, u32>> = self
            .agents
            .iter()
            .map(|slot| {
                slot.memberships
                    .iter()
                    .map(|m| (m.queue, m.answered))
                    .collect()
            })
            .collect();
        for slot in &mut self.agents {
            slot.memberships.clear();
        }
        for q in 0..self.queues.len() {
            let last_rr_agent = {
                let queue = &self.queues[q];
                queue
                    .rr_last
                    .and_then(|pos| queue.members.get(pos))
                    .map(|&(a, _)| a)
            };
            let mut members: Vec<(usize, u32)> = Vec::new();
            if !self.queues[q].retired {
                for member in &self.queues[q].cfg.members {
                    let Some(&a) = self.agent_ix.get(&member.agent) else {
                        continue; // names no agent: ignored, as the config docs say
                    };
                    if self.agents[a].retired || members.iter().any(|&(m, _)| m == a) {
                        continue;
                    }
                    members.push((a, member.penalty));
                }
            }
            for (pos, &(a, penalty)) in members.iter().enumerate() {
                let answered = old_answered[a].get(&q).copied().unwrap_or(0);
                self.agents[a].memberships.push(Membership {
                    queue: q,
                    penalty,
                    pos,
                    answered,
                });
            }
            let queue = &mut self.queues[q];
            queue.rr_last =
                last_rr_agent.and_then(|agent| members.iter().position(|&(a, _)| a == agent));
            queue.members = members;
            let window = self.settings.ewt_window;
            while queue.handle_times.len() > window {
                queue.handle_times.pop_front();
            }
        }
        for slot in &mut self.agents {
            let wrap_up = slot
                .memberships
                .iter()
                .map(|m| self.queues[m.queue].cfg.wrap_up)
                .max()
                .unwrap_or(Duration::ZERO);
            slot.agent.set_wrap_up(wrap_up);
        }
    }

    /// Recounts who may be offered a call, from scratch.
    fn rebuild_availability(&mut self) {
        self.available.clear();
        for queue in &mut self.queues {
            queue.available = 0;
        }
        for i in 0..self.agents.len() {
            self.agents[i].available = false;
            self.refresh(i);
        }
    }

    /// Re-arms waiting callers' widening and announcements from their queue's config, and
    /// overflows those nobody can serve any more.
    fn review_callers(&mut self, now: Instant) {
        let calls: Vec<CallRef> = self.callers.keys().copied().collect();
        for call in calls {
            let Some(caller) = self.callers.get_mut(&call) else {
                continue;
            };
            let cfg = &self.queues[caller.queue].cfg;
            let widening = cfg.widening;
            let announcements = cfg.announcements.filter(|a| a.position || a.expected_wait);
            let next_widen = caller.next_widening(&widening, now);
            self.timers
                .arm(&mut caller.widen_at, next_widen, Timer::Widen(call));
            let held = self.announce_due.contains(&call);
            let announce = match announcements {
                None => None,
                Some(_) if caller.announce_at.is_some() || held => caller.announce_at,
                Some(a) if !caller.announced => caller
                    .joined
                    .checked_add(a.first_after)
                    .map(|first| first.max(now)),
                Some(a) if !a.every.is_zero() => now.checked_add(a.every),
                Some(_) => None,
            };
            if announce.is_none() {
                self.announce_due.remove(&call);
            }
            self.timers
                .arm(&mut caller.announce_at, announce, Timer::Announce(call));
        }
        let queues: Vec<usize> = (0..self.queues.len()).collect();
        for q in queues {
            self.overflow_unservable(q, now);
        }
    }
}
