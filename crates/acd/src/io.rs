//! What goes into the ACD and what comes out of it.
//!
//! Calls tell the ACD facts about themselves (joined a queue, an offered agent answered, the
//! bridge is up, the caller hung up), each stamped `at` with the instant the call saw it, so
//! the ACD's records and the call's own record agree to the nanosecond. The ACD answers with
//! decisions (offer this caller to that agent, give the caller back to the dialplan, announce
//! its position). The switch's registrar and the agents' feature codes drive agent states.
//!
//! # Who decides what
//! * A call owns its SIP legs: it alone rings, cancels and bridges. The ACD only asks
//!   ([`Output::Offer`], [`Output::CancelOffer`]) and hears the result
//!   ([`Input::OfferResult`]), exactly once per offer.
//! * The ACD owns agent states and the waiting line. It never overflows a caller while an
//!   offer of that caller is outstanding: a max-wait that passes during ringing takes effect
//!   when the ringing ends without an answer. So an [`Output::Overflow`] never crosses an
//!   answer on its way to the call.
//! * Every reservation has a deadline (ring timeout + [`crate::config::AcdConfig::offer_grace`]):
//!   a call that never reports frees its agent anyway.

use std::time::{Duration, Instant};

use crate::agent::{AgentError, AgentId, CallRef, PauseReason, StateKind};
use crate::config::{QueueId, SkillReq};

/// One offer of one caller to one agent (a ring-all round makes one per agent). Unique for the
/// life of the ACD, so a late result can never be taken for a newer offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OfferId(pub u64);

impl std::fmt::Display for OfferId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "offer-{}", self.0)
    }
}

/// How an offer ended, as the call reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OfferResult {
    /// The agent picked up. The call now connects them ([`Input::Connected`] or
    /// [`Input::ConnectFailed`] follows).
    Answered,
    /// Rang for the ring timeout without an answer (counts as a miss).
    NoAnswer,
    /// The agent's phone refused it with this status (486 busy, 603 decline…; counts as a miss).
    Declined(u16),
    /// The agent's phone could not be reached: no registration, 404/480, a transport error or
    /// 408 (counts as a miss).
    Unreachable,
    /// The call stopped ringing for its own reasons: another agent answered, the caller left,
    /// the ACD asked. Not the agent's fault: no miss.
    Cancelled,
}

/// Why a caller leaves a queue on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaveReason {
    /// The caller hung up while waiting: an abandon.
    Hangup,
    /// The caller pressed one of the queue's exit keys: an overflow with reason `key`.
    Key(char),
    /// The call's task ended without saying why (the switch noticed its channel closed).
    Gone,
}

/// Why the ACD gives a caller back to the dialplan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OverflowReason {
    /// No member of the queue who could ever take the caller is logged in (at join, or every
    /// such agent logged out while it waited).
    NoAgents,
    /// The caller waited the queue's (or the dialplan's) maximum.
    MaxWait,
    /// The queue already held its maximum number of callers.
    Full,
    /// The caller pressed an exit key (reported by the call, recorded by the ACD).
    Key(char),
}

impl OverflowReason {
    /// `no-agents`, `max-wait`, `full`, `key`: `${overflow_reason}` in dialplans, and the
    /// stored reason.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OverflowReason::NoAgents => "no-agents",
            OverflowReason::MaxWait => "max-wait",
            OverflowReason::Full => "full",
            OverflowReason::Key(_) => "key",
        }
    }
}

/// Which side of a non-queue call an agent is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    /// Someone calls the agent directly (an extension, a dialplan `dial agent=`): refused while
    /// the agent is reserved for or talking on a queue call (a customer's conversation is not
    /// interrupted); a direct call while on another direct call rings (call waiting).
    Callee,
    /// The agent places a call: always granted (the agent chose to).
    Caller,
}

/// An agent's own request (feature codes `*45`-`*48`, later the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentCommand {
    /// Log in, ready.
    Login,
    /// Log out (after the current call, if on one).
    Logout,
    /// Pause with a reason (after the current call, if on one).
    Pause(PauseReason),
    /// Ready again (ends a pause, or a wrap-up early).
    Ready,
}

/// An agent's state restored from the store at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// Logged out.
    LoggedOut,
    /// Logged in and ready (a restored agent is not reachable until its phone registers,
    /// unless it has a fixed contact).
    Ready,
    /// Logged in and paused.
    Paused(PauseReason),
}

/// An input to [`crate::Acd::handle`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Input {
    /// A caller joins a queue (the dialplan's `enqueue`).
    Enqueue {
        /// The call.
        call: CallRef,
        /// The queue.
        queue: QueueId,
        /// Higher is served first (-100..=100 from the dialplan).
        priority: i32,
        /// What the answering agent must know (may be empty).
        skills: Vec<SkillReq>,
        /// Overrides the queue's max wait.
        max_wait: Option<Duration>,
        /// When.
        at: Instant,
    },
    /// A waiting caller leaves: hung up, pressed an exit key, or vanished.
    Leave {
        /// The call.
        call: CallRef,
        /// Why.
        reason: LeaveReason,
        /// When.
        at: Instant,
    },
    /// How an [`Output::Offer`] ended.
    OfferResult {
        /// The offer.
        offer: OfferId,
        /// How it ended.
        result: OfferResult,
        /// When.
        at: Instant,
    },
    /// The answering agent and the caller hear each other: the call is answered.
    Connected {
        /// The call.
        call: CallRef,
        /// When.
        at: Instant,
    },
    /// The answering agent left before the bridge was up: the caller goes back to its place
    /// in the line, the agent to ready.
    ConnectFailed {
        /// The call.
        call: CallRef,
        /// When.
        at: Instant,
    },
    /// A connected queue call ended (either side hung up): the agent goes to wrap-up.
    CallEnded {
        /// The call.
        call: CallRef,
        /// When.
        at: Instant,
    },
    /// A call that is not a queue call involves an agent: it is busy and gets no offer.
    Claim {
        /// The call.
        call: CallRef,
        /// The agent.
        agent: AgentId,
        /// Caller or callee.
        kind: ClaimKind,
        /// When.
        at: Instant,
    },
    /// That call no longer involves the agent.
    Release {
        /// The call.
        call: CallRef,
        /// The agent.
        agent: AgentId,
        /// When.
        at: Instant,
    },
    /// An agent asks to change state; `reply_to` is the feature-code call that asked, which
    /// gets [`Output::AgentCommandDone`].
    Agent {
        /// The agent.
        agent: AgentId,
        /// What it asks.
        command: AgentCommand,
        /// The call to answer.
        reply_to: Option<CallRef>,
        /// When.
        at: Instant,
    },
    /// The agent's phone registered (its first binding appeared).
    DeviceUp {
        /// The agent.
        agent: AgentId,
        /// When.
        at: Instant,
    },
    /// The agent's last registration ended or expired.
    DeviceDown {
        /// The agent.
        agent: AgentId,
        /// When.
        at: Instant,
    },
}

/// A decision of the ACD, from [`crate::Acd::poll_output`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Ring `agent` for `call`, at most `ring_timeout`, then report [`Input::OfferResult`].
    Offer {
        /// The offer.
        offer: OfferId,
        /// The call.
        call: CallRef,
        /// Its queue.
        queue: QueueId,
        /// The agent to ring.
        agent: AgentId,
        /// How long to ring.
        ring_timeout: Duration,
    },
    /// Stop ringing this offer (ring-all: another agent answered; or its deadline passed). The
    /// call still reports its result (`Cancelled`), which the ACD then ignores.
    CancelOffer {
        /// The offer.
        offer: OfferId,
        /// The call.
        call: CallRef,
        /// The agent.
        agent: AgentId,
    },
    /// The caller leaves the queue and goes back to the dialplan.
    Overflow {
        /// The call.
        call: CallRef,
        /// Why.
        reason: OverflowReason,
    },
    /// Tell the waiting caller where it stands.
    Announce {
        /// The call.
        call: CallRef,
        /// 1 for the next caller served.
        position: u32,
        /// The expected wait, when it can be estimated (recent handle times and agents serving).
        expected_wait: Option<Duration>,
    },
    /// The answer to an [`Input::Claim`].
    ClaimResult {
        /// The call.
        call: CallRef,
        /// The agent.
        agent: AgentId,
        /// Whether the call may go ahead (false: the agent is busy; the switch answers 486).
        granted: bool,
    },
    /// The answer to an [`Input::Agent`] with a `reply_to`.
    AgentCommandDone {
        /// The call that asked.
        call: CallRef,
        /// The agent.
        agent: AgentId,
        /// The agent's state after it, or why it was refused.
        result: Result<StateKind, AgentError>,
    },
}
