//! What a call's record holds: the rows the switch writes and the CDR rows readers get back.
//!
//! Times are wall-clock [`Timestamp`]s, stored as Unix milliseconds (UTC), so anything finer
//! than a millisecond is dropped. Durations of a call (wait, talk, wrap-up) are stored in
//! milliseconds too; the ACD's own events keep theirs to the nanosecond (see `docs/cdr.md`).

use std::time::Duration;

use jiff::Timestamp;
use switchboard_acd::{AgentId, CallRef, PauseReason, QueueId, StateKind};

/// Which way a call goes (`calls.direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From a trunk into the switch (a customer calling).
    Inbound,
    /// From the switch out through a trunk (an agent or a campaign calling a customer).
    Outbound,
    /// Between two of the switch's own extensions.
    Internal,
}

/// How a call ended, from the caller's point of view (`calls.disposition`). See
/// `docs/cdr.md` for which one the switch picks when several could apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// The caller talked to a person: an agent answered from a queue, or the dialled
    /// extension or outside number answered.
    Answered,
    /// The caller hung up before anyone answered, while waiting in a queue or hearing ringing.
    Abandoned,
    /// The caller left a queue by overflow (max wait, no agents, queue full, exit key) and the
    /// call ended without a more specific outcome (e.g. sent to a partner site's trunk).
    Overflow,
    /// The call ended in a voicemail box (a message was left, or the box was reached).
    Voicemail,
    /// The caller accepted a callback request instead of waiting.
    Callback,
    /// The call ended in the IVR by the dialplan's design, without a person (an information
    /// message, a self-service menu, a dialplan `hangup`).
    Completed,
    /// The call could not be set up or connected: no route, the dialled party busy,
    /// unreachable or declining, a trunk or media error.
    Failed,
    /// The switch stopped (crash, kill, power loss) during the call; written by the store
    /// when it opens again.
    Interrupted,
}

/// Who ended the call (`calls.hangup_side`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HangupSide {
    /// The party that placed the call (the customer for inbound calls) sent BYE or CANCEL.
    Caller,
    /// The called party (agent, extension, outside number) hung up.
    Callee,
    /// The switch ended it: dialplan `hangup`, media timeout, an error, shutdown, or a crash.
    Switch,
}

/// What a leg is to its call (`legs.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegRole {
    /// The leg of the party that placed the call.
    Caller,
    /// A leg the switch dialled to an extension or an outside number.
    Callee,
    /// A leg the switch dialled to an agent for a queue offer.
    Agent,
}

/// What is known of a call when it starts: written at once (`Write::CallStarted`), so that
/// a crash during the call still leaves a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStart {
    /// The switch's handle for the call: the key of its row, so it must never be reused —
    /// a counter started at [`crate::Startup::next_call_id`], not a recycled slot index (a
    /// `CallStarted` for an id already stored is ignored, with a warning).
    pub id: CallRef,
    /// The SIP Call-ID of the leg that started the call.
    pub call_id: String,
    /// When the first INVITE arrived (or the switch placed the first one).
    pub started: Timestamp,
    /// Which way the call goes.
    pub direction: Direction,
    /// The trunk it came in on or goes out through, when one is involved.
    pub trunk: Option<String>,
    /// The calling number or extension (From user part, or P-Asserted-Identity).
    pub caller: Option<String>,
    /// The dialled number or extension (Request-URI user part).
    pub dialled: Option<String>,
}

/// What a call in progress has learnt since it started (`Write::CallUpdated`): written as it
/// goes, so a call cut by a crash still names its queue, agent, recording and IVR path. `None`
/// never erases a value already stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallUpdate {
    /// The call.
    pub id: CallRef,
    /// When the caller was first connected to a person (kept if already set).
    pub answered: Option<Timestamp>,
    /// The dialplan path so far.
    pub ivr_path: Option<String>,
    /// The caller's language so far.
    pub language: Option<String>,
    /// The queue it waits or waited in.
    pub queue: Option<QueueId>,
    /// The agent it talks to.
    pub agent: Option<AgentId>,
    /// The recording being written.
    pub recording: Option<String>,
}

/// A finished call's complete record (`Write::CallEnded`).
///
/// Written once, when the call's task ends. It replaces what `CallStart` wrote, except that
/// `None` never erases a value already stored (the ACD's wrap-up arrives separately and may
/// come first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRow {
    /// As in [`CallStart::id`].
    pub id: CallRef,
    /// As in [`CallStart::call_id`].
    pub call_id: String,
    /// As in [`CallStart::started`].
    pub started: Timestamp,
    /// When the caller was first connected to a person (agent, extension or outside number);
    /// `None` if never. An IVR's own answer does not count.
    pub answered: Option<Timestamp>,
    /// When the last leg was torn down.
    pub ended: Timestamp,
    /// As in [`CallStart::direction`].
    pub direction: Direction,
    /// As in [`CallStart::trunk`].
    pub trunk: Option<String>,
    /// As in [`CallStart::caller`].
    pub caller: Option<String>,
    /// As in [`CallStart::dialled`].
    pub dialled: Option<String>,
    /// The dialplan path the call took, as call control writes it (entry and steps).
    pub ivr_path: Option<String>,
    /// The prompt language in force at the end (`fr`, `en`).
    pub language: Option<String>,
    /// The last queue the call waited in.
    pub queue: Option<QueueId>,
    /// Time waited in that queue, from joining to an agent answering (or to leaving).
    pub wait: Option<Duration>,
    /// The agent who took the call.
    pub agent: Option<AgentId>,
    /// Time connected to the person who answered, up to the end.
    pub talk: Option<Duration>,
    /// The agent's after-call work for this call; normally `None` here, filled in by the
    /// ACD's `WrapUpEnded` event.
    pub wrap_up: Option<Duration>,
    /// How the call ended.
    pub disposition: Disposition,
    /// Who ended it.
    pub hangup_side: HangupSide,
    /// Why, as the switch names it: a SIP status (`486`), `normal`, `media-timeout`…
    pub hangup_cause: Option<String>,
    /// The recording's file path, when the call was recorded.
    pub recording: Option<String>,
}

impl CallRow {
    /// The row of a call that started as `start` and ended at `ended`, with everything else
    /// unknown; set the other fields after.
    #[must_use]
    pub fn ended(
        start: CallStart,
        ended: Timestamp,
        disposition: Disposition,
        hangup_side: HangupSide,
    ) -> Self {
        Self {
            id: start.id,
            call_id: start.call_id,
            started: start.started,
            answered: None,
            ended,
            direction: start.direction,
            trunk: start.trunk,
            caller: start.caller,
            dialled: start.dialled,
            ivr_path: None,
            language: None,
            queue: None,
            wait: None,
            agent: None,
            talk: None,
            wrap_up: None,
            disposition,
            hangup_side,
            hangup_cause: None,
            recording: None,
        }
    }
}

/// One SIP leg of a call (`Write::Leg`). Written when the leg starts and again when it ends
/// (or only at the end): the row is keyed by `(call, index)`, and `None` never erases a value
/// already stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegRow {
    /// The call the leg belongs to.
    pub call: CallRef,
    /// 0 for the leg that started the call, then 1, 2… in the order the switch created them.
    pub index: u32,
    /// What the leg is to the call.
    pub role: LegRole,
    /// The other party: number, extension or agent id.
    pub party: String,
    /// The leg's own SIP Call-ID (a B2BUA gives each leg its own).
    pub call_id: Option<String>,
    /// When the INVITE was sent or received.
    pub started: Timestamp,
    /// When it was answered (200 OK), if it was.
    pub answered: Option<Timestamp>,
    /// When it ended (BYE, CANCEL, final failure).
    pub ended: Option<Timestamp>,
    /// The final SIP status of the INVITE (200, 486, 487…).
    pub sip_code: Option<u16>,
    /// Why it ended: `bye`, `cancel`, `media-timeout`, `interrupted`…
    pub end_cause: Option<String>,
    /// The negotiated codec (`PCMA`, `opus`…).
    pub codec: Option<String>,
}

/// A call's record as readers see it: the columns of the `cdr` view, typed.
///
/// Fields mean what the same fields of [`CallRow`] mean; `ended` and `disposition` are `None`
/// while the call is in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    missing_docs,
    reason = "each field is the `CallRow` field of the same name"
)]
pub struct CdrRow {
    pub id: CallRef,
    pub call_id: String,
    pub started: Timestamp,
    pub answered: Option<Timestamp>,
    pub ended: Option<Timestamp>,
    pub direction: Direction,
    pub trunk: Option<String>,
    pub caller: Option<String>,
    pub dialled: Option<String>,
    pub ivr_path: Option<String>,
    pub language: Option<String>,
    pub queue: Option<QueueId>,
    pub wait: Option<Duration>,
    pub agent: Option<AgentId>,
    pub talk: Option<Duration>,
    pub wrap_up: Option<Duration>,
    pub disposition: Option<Disposition>,
    pub hangup_side: Option<HangupSide>,
    pub hangup_cause: Option<String>,
    pub recording: Option<String>,
}

/// Which calls [`crate::Reader::cdr`] returns; every field that is set must match. Rows come
/// oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CdrFilter {
    /// Calls started at or after this instant.
    pub from: Option<Timestamp>,
    /// Calls started before this instant.
    pub until: Option<Timestamp>,
    /// Calls whose last queue is this one.
    pub queue: Option<QueueId>,
    /// Calls from this number (exact match).
    pub caller: Option<String>,
    /// Calls taken by this agent.
    pub agent: Option<AgentId>,
    /// Calls that ended this way.
    pub disposition: Option<Disposition>,
    /// Only calls still in progress (no end yet).
    pub in_progress: bool,
    /// At most this many rows (the oldest that match).
    pub limit: Option<u32>,
}

/// An agent's current state as stored (`agent_state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStateRow {
    /// The agent.
    pub agent: AgentId,
    /// The last state the ACD reported.
    pub state: StateKind,
    /// The pause reason, when paused.
    pub reason: Option<PauseReason>,
    /// When the ACD reported it.
    pub since: Timestamp,
    /// When the store logged the agent out because the switch stopped in that state; the
    /// state is kept so the next start can restore it.
    pub stopped: Option<Timestamp>,
}
