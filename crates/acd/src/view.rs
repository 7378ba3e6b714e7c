//! Plain-data pictures of the ACD for `switchboard agents`, `switchboard queues` and the
//! wallboard: no references into the machine, so a snapshot can cross a channel and be
//! printed or serialised at leisure.

use std::time::{Duration, Instant};

use crate::agent::{Agent, AgentId, AgentState, CallRef, PauseReason, Pending, StateKind};
use crate::config::{QueueId, Strategy};
use crate::machine::Acd;
use crate::queue::Phase;

/// Everything at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// When it was taken.
    pub at: Instant,
    /// Configured agents (and retired ones still logged in), in config order.
    pub agents: Vec<AgentView>,
    /// Configured queues, in config order.
    pub queues: Vec<QueueView>,
}

/// One agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentView {
    /// Its name.
    pub id: AgentId,
    /// Its state.
    pub state: StateKind,
    /// Why it is paused, when it is.
    pub reason: Option<PauseReason>,
    /// When it entered that state (and reason).
    pub since: Instant,
    /// Its phone can be rung (registered, or a fixed contact).
    pub reachable: bool,
    /// On a direct or outbound call (whatever its state says).
    pub busy: bool,
    /// The call it is reserved for, talking on, or busy with.
    pub call: Option<CallRef>,
    /// A pause or logout waiting for its call to end.
    pub pending: Option<Pending>,
    /// Calls answered since it logged in, all queues together.
    pub answered: u32,
    /// Offers missed in a row.
    pub misses: u32,
    /// Ready but offered nothing until then, after a missed offer.
    pub resting_until: Option<Instant>,
    /// The queues it serves, with its penalty in each.
    pub queues: Vec<(QueueId, u32)>,
}

/// One queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueView {
    /// Its name.
    pub id: QueueId,
    /// Its strategy.
    pub strategy: Strategy,
    /// Its waiting callers, in service order.
    pub waiting: Vec<WaitingView>,
    /// Callers an agent picked up, being connected.
    pub connecting: u32,
    /// The wait of its longest-waiting caller (zero when none waits).
    pub longest_wait: Duration,
    /// Its members, counted by state.
    pub agents: AgentCounts,
}

/// One waiting caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitingView {
    /// The call.
    pub call: CallRef,
    /// 1 for the next served in this queue.
    pub position: u32,
    /// Its priority.
    pub priority: i32,
    /// When it joined.
    pub joined: Instant,
    /// An agent's phone is ringing for it.
    pub offered: bool,
}

/// Members of a queue by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentCounts {
    /// Logged out.
    pub logged_out: u32,
    /// Ready.
    pub ready: u32,
    /// Ringing with an offer.
    pub reserved: u32,
    /// On a queue call.
    pub on_call: u32,
    /// On a direct or outbound call.
    pub busy: u32,
    /// In wrap-up.
    pub wrap_up: u32,
    /// Paused.
    pub paused: u32,
}

impl AgentCounts {
    fn count(&mut self, kind: StateKind) {
        let slot = match kind {
            StateKind::LoggedOut => &mut self.logged_out,
            StateKind::Ready => &mut self.ready,
            StateKind::Reserved => &mut self.reserved,
            StateKind::OnCall => &mut self.on_call,
            StateKind::Busy => &mut self.busy,
            StateKind::WrapUp => &mut self.wrap_up,
            StateKind::Paused => &mut self.paused,
        };
        *slot += 1;
    }
}

impl Acd {
    /// The state of every agent and queue at `now`.
    #[must_use]
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let agents = self
            .agents
            .iter()
            .filter(|slot| !slot.retired || slot.agent.is_logged_in())
            .map(|slot| {
                let reason = match slot.agent.state() {
                    AgentState::Paused { reason } => Some(reason.clone()),
                    _ => None,
                };
                let call = match slot.agent.state() {
                    AgentState::Reserved { call }
                    | AgentState::OnCall { call }
                    | AgentState::Busy { call } => Some(*call),
                    _ => slot.agent.claims().first().copied(),
                };
                AgentView {
                    id: slot.agent.id().clone(),
                    state: slot.agent.state().kind(),
                    reason,
                    since: slot.changed_at,
                    reachable: slot.reachable(),
                    busy: !slot.agent.claims().is_empty(),
                    call,
                    pending: slot.agent.pending().cloned(),
                    answered: slot.answered_total,
                    misses: slot.misses,
                    resting_until: slot.rest_at,
                    queues: slot
                        .memberships
                        .iter()
                        .map(|m| (self.queues[m.queue].cfg.id.clone(), m.penalty))
                        .collect(),
                }
            })
            .collect();
        let queues = self
            .queues
            .iter()
            .enumerate()
            .filter(|(_, queue)| !queue.retired)
            .map(|(q, queue)| {
                let waiting: Vec<WaitingView> = queue
                    .line
                    .values()
                    .filter_map(|call| self.callers.get(call).map(|c| (*call, c)))
                    .enumerate()
                    .map(|(ahead, (call, c))| WaitingView {
                        call,
                        position: u32::try_from(ahead + 1).unwrap_or(u32::MAX),
                        priority: c.priority,
                        joined: c.joined,
                        offered: !c.offers.is_empty(),
                    })
                    .collect();
                let longest_wait = waiting
                    .iter()
                    .map(|w| now.saturating_duration_since(w.joined))
                    .max()
                    .unwrap_or(Duration::ZERO);
                let connecting = self
                    .callers
                    .values()
                    .filter(|c| c.queue == q && matches!(c.phase, Phase::Connecting { .. }))
                    .count();
                let mut agents = AgentCounts::default();
                for &(a, _) in &queue.members {
                    agents.count(self.agents[a].agent.state().kind());
                }
                QueueView {
                    id: queue.cfg.id.clone(),
                    strategy: queue.cfg.strategy,
                    waiting,
                    connecting: u32::try_from(connecting).unwrap_or(u32::MAX),
                    longest_wait,
                    agents,
                }
            })
            .collect();
        Snapshot {
            at: now,
            agents,
            queues,
        }
    }

    /// One agent's machine, for its time-in-state totals ([`Agent::totals`]) and skills.
    #[must_use]
    pub fn agent(&self, id: &AgentId) -> Option<&Agent> {
        self.agent_ix.get(id).map(|&i| &self.agents[i].agent)
    }
}
