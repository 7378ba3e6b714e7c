//! The ACD's record of what happened: every queue and agent fact, in order, with its instant.
//!
//! The switch stamps each event with wall-clock time, stores it (the `queue_events` and
//! `agent_events` tables) and feeds it to [`crate::stats`], which computes every figure from
//! these events alone. Replaying the stored events of a day after a restart therefore gives
//! the same figures as before it.
//!
//! # Guarantees (the property tests check them)
//! * Per call visit to a queue: one `Joined`, then exactly one of `Answered`, `Abandoned`,
//!   `Overflowed` (or none yet, while it waits; `Interrupted` when the switch stopped). `Offered`/`OfferEnded` pairs and
//!   `ConnectFailed` may come in between.
//! * An `Answered` call gets exactly one `CallEnded` later, and the agent exactly one
//!   `WrapUpEnded` for it after that (with a zero wrap-up when the queue grants none).
//! * `AgentState` is emitted on every change of an agent's [`StateKind`] or pause reason,
//!   never twice in a row with the same state and reason.

use std::time::{Duration, Instant};

use crate::agent::{AgentId, CallRef, PauseReason, StateKind};
use crate::config::QueueId;
use crate::io::{OfferId, OfferResult, OverflowReason};

/// One fact, at the instant it happened (the call's `at` for facts calls report).
#[derive(Debug, Clone, PartialEq)]
pub struct AcdEvent {
    /// When it happened.
    pub at: Instant,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A caller joined a queue.
    Joined {
        /// The call.
        call: CallRef,
        /// The queue.
        queue: QueueId,
        /// Its priority.
        priority: i32,
    },
    /// The caller was offered to an agent (its phone rings).
    Offered {
        /// The call.
        call: CallRef,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// The offer.
        offer: OfferId,
    },
    /// An offer ended without the agent taking the call.
    OfferEnded {
        /// The call.
        call: CallRef,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// The offer.
        offer: OfferId,
        /// How (never `Answered`); `None` when the ACD's own deadline released it.
        result: Option<OfferResult>,
    },
    /// The caller and the agent are connected: the call is answered.
    Answered {
        /// The call.
        call: CallRef,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// From joining to the agent picking up.
        wait: Duration,
    },
    /// An agent picked up and left before the bridge was up; the caller waits on.
    ConnectFailed {
        /// The call.
        call: CallRef,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
    },
    /// The caller hung up while waiting.
    Abandoned {
        /// The call.
        call: CallRef,
        /// The queue.
        queue: QueueId,
        /// How long it waited.
        wait: Duration,
    },
    /// The caller went back to the dialplan.
    Overflowed {
        /// The call.
        call: CallRef,
        /// The queue.
        queue: QueueId,
        /// Why.
        reason: OverflowReason,
        /// How long it waited.
        wait: Duration,
    },
    /// An answered call ended.
    CallEnded {
        /// The call.
        call: CallRef,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// From connected to the end.
        talk: Duration,
    },
    /// The agent's after-call work for that call ended (timer, ready, pause or logout).
    WrapUpEnded {
        /// The call.
        call: CallRef,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// How long it lasted (zero when none was granted).
        wrap_up: Duration,
    },
    /// The switch stopped (crash, kill) while this call was in the queue or talking to an
    /// agent; written by the store at the next start. It closes the visit: a waiting caller
    /// counts as neither answered nor abandoned, an answered call has no known talk time.
    Interrupted {
        /// The call.
        call: CallRef,
        /// The queue.
        queue: QueueId,
    },
    /// An agent's state changed.
    AgentState {
        /// The agent.
        agent: AgentId,
        /// The new state.
        state: StateKind,
        /// The pause reason, when paused.
        reason: Option<PauseReason>,
    },
}
