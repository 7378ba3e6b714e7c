//! How values are spelled in the database: the text of each enum, times and durations as
//! integers, and every ACD [`EventKind`] as one row of `queue_events` or `agent_events` that
//! turns back into the identical value.

use std::time::Duration;

use jiff::Timestamp;
use switchboard_acd::io::{OfferId, OfferResult, OverflowReason};
use switchboard_acd::{AgentId, CallRef, EventKind, PauseReason, QueueId, StateKind};

use crate::error::StoreError;
use crate::record::{Direction, Disposition, HangupSide, LegRole};

/// Gives a fieldless enum its stored spelling both ways.
macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The stored spelling (see `docs/cdr.md`).
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// The value a stored spelling stands for.
            #[must_use]
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(Direction { Inbound => "inbound", Outbound => "outbound", Internal => "internal" });
text_enum!(Disposition {
    Answered => "answered",
    Abandoned => "abandoned",
    Overflow => "overflow",
    Voicemail => "voicemail",
    Callback => "callback",
    Completed => "completed",
    Failed => "failed",
    Interrupted => "interrupted",
});
text_enum!(HangupSide { Caller => "caller", Callee => "callee", Switch => "switch" });
text_enum!(LegRole { Caller => "caller", Callee => "callee", Agent => "agent" });

/// A wall-clock instant as stored: Unix milliseconds, UTC.
pub(crate) fn ms(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// A stored Unix millisecond count back as an instant (`None` past jiff's range).
pub(crate) fn timestamp(ms: i64) -> Option<Timestamp> {
    Timestamp::from_millisecond(ms).ok()
}

/// A call's duration as stored: whole milliseconds (saturating, never negative).
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A stored millisecond count back as a duration (negative values read as zero).
pub(crate) fn from_ms(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// An ACD duration as stored: nanoseconds, so it comes back identical.
fn nanos(d: Duration) -> Result<i64, StoreError> {
    i64::try_from(d.as_nanos()).map_err(|_| StoreError::Unsupported {
        what: format!("a duration of {d:?} (at most 292 years)"),
    })
}

fn from_nanos(ns: i64) -> Result<Duration, String> {
    u64::try_from(ns)
        .map(Duration::from_nanos)
        .map_err(|_| format!("negative duration {ns} ns"))
}

/// A switch handle as stored: the u64's bits in an SQLite integer (handles past `i64::MAX`
/// read back unchanged, they only sort oddly in SQL).
pub(crate) fn call_int(call: CallRef) -> i64 {
    call.0.cast_signed()
}

/// A stored handle back.
pub(crate) fn call_ref(v: i64) -> CallRef {
    CallRef(v.cast_unsigned())
}

/// An agent's state as stored (`agent_events.state`, `agent_state.state`).
pub(crate) fn state_text(state: StateKind) -> Result<&'static str, StoreError> {
    Ok(match state {
        StateKind::LoggedOut => "logged-out",
        StateKind::Ready => "ready",
        StateKind::Reserved => "reserved",
        StateKind::OnCall => "on-call",
        StateKind::Busy => "busy",
        StateKind::WrapUp => "wrap-up",
        StateKind::Paused => "paused",
        other => {
            return Err(StoreError::Unsupported {
                what: format!("the agent state {other:?}"),
            });
        }
    })
}

/// A stored agent state back.
pub(crate) fn parse_state(text: &str) -> Option<StateKind> {
    Some(match text {
        "logged-out" => StateKind::LoggedOut,
        "ready" => StateKind::Ready,
        "reserved" => StateKind::Reserved,
        "on-call" => StateKind::OnCall,
        "busy" => StateKind::Busy,
        "wrap-up" => StateKind::WrapUp,
        "paused" => StateKind::Paused,
        _ => return None,
    })
}

/// One row of `queue_events`, without its `seq` (the writer assigns it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct QueueRow {
    pub at_ms: i64,
    pub kind: &'static str,
    pub call: i64,
    pub queue: String,
    pub agent: Option<String>,
    pub offer: Option<i64>,
    pub priority: Option<i64>,
    pub wait_ns: Option<i64>,
    pub talk_ns: Option<i64>,
    pub wrapup_ns: Option<i64>,
    pub result: Option<&'static str>,
    pub sip_code: Option<i64>,
    pub reason: Option<&'static str>,
    pub exit_key: Option<String>,
}

/// One row of `agent_events`, without its `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentRow {
    pub at_ms: i64,
    pub agent: String,
    pub state: &'static str,
    pub reason: Option<String>,
}

/// An ACD event ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventRow {
    /// A queue fact: every kind but `AgentState`.
    Queue(QueueRow),
    /// An `AgentState`.
    Agent(AgentRow),
}

/// Turns an event into its row. Fails only for kinds added to the ACD after this crate.
pub(crate) fn encode(at: Timestamp, kind: &EventKind) -> Result<EventRow, StoreError> {
    let at_ms = ms(at);
    let base = |kind: &'static str, call: CallRef, queue: &QueueId| QueueRow {
        at_ms,
        kind,
        call: call_int(call),
        queue: queue.as_str().to_owned(),
        ..QueueRow::default()
    };
    let agent = |a: &AgentId| Some(a.as_str().to_owned());
    let offer_int = |o: OfferId| Some(o.0.cast_signed());
    let row = match kind {
        EventKind::Joined {
            call,
            queue,
            priority,
        } => QueueRow {
            priority: Some(i64::from(*priority)),
            ..base("joined", *call, queue)
        },
        EventKind::Offered {
            call,
            queue,
            agent: a,
            offer,
        } => QueueRow {
            agent: agent(a),
            offer: offer_int(*offer),
            ..base("offered", *call, queue)
        },
        EventKind::OfferEnded {
            call,
            queue,
            agent: a,
            offer,
            result,
        } => {
            let (result, sip_code) = match result {
                None => (None, None),
                Some(r) => {
                    let (text, code) = offer_result_text(*r)?;
                    (Some(text), code)
                }
            };
            QueueRow {
                agent: agent(a),
                offer: offer_int(*offer),
                result,
                sip_code,
                ..base("offer-ended", *call, queue)
            }
        }
        EventKind::Answered {
            call,
            queue,
            agent: a,
            wait,
        } => QueueRow {
            agent: agent(a),
            wait_ns: Some(nanos(*wait)?),
            ..base("answered", *call, queue)
        },
        EventKind::ConnectFailed {
            call,
            queue,
            agent: a,
        } => QueueRow {
            agent: agent(a),
            ..base("connect-failed", *call, queue)
        },
        EventKind::Abandoned { call, queue, wait } => QueueRow {
            wait_ns: Some(nanos(*wait)?),
            ..base("abandoned", *call, queue)
        },
        EventKind::Overflowed {
            call,
            queue,
            reason,
            wait,
        } => {
            let (reason, exit_key) = overflow_text(*reason)?;
            QueueRow {
                wait_ns: Some(nanos(*wait)?),
                reason: Some(reason),
                exit_key,
                ..base("overflowed", *call, queue)
            }
        }
        EventKind::CallEnded {
            call,
            queue,
            agent: a,
            talk,
        } => QueueRow {
            agent: agent(a),
            talk_ns: Some(nanos(*talk)?),
            ..base("call-ended", *call, queue)
        },
        EventKind::WrapUpEnded {
            call,
            queue,
            agent: a,
            wrap_up,
        } => QueueRow {
            agent: agent(a),
            wrapup_ns: Some(nanos(*wrap_up)?),
            ..base("wrap-up-ended", *call, queue)
        },
        EventKind::Interrupted { call, queue } => base("interrupted", *call, queue),
        EventKind::AgentState {
            agent,
            state,
            reason,
        } => {
            return Ok(EventRow::Agent(AgentRow {
                at_ms,
                agent: agent.as_str().to_owned(),
                state: state_text(*state)?,
                reason: reason.as_ref().map(|r| r.as_str().to_owned()),
            }));
        }
        other => {
            return Err(StoreError::Unsupported {
                what: format!("the ACD event {other:?}"),
            });
        }
    };
    Ok(EventRow::Queue(row))
}

fn offer_result_text(r: OfferResult) -> Result<(&'static str, Option<i64>), StoreError> {
    Ok(match r {
        OfferResult::Answered => ("answered", None),
        OfferResult::NoAnswer => ("no-answer", None),
        OfferResult::Declined(code) => ("declined", Some(i64::from(code))),
        OfferResult::Unreachable => ("unreachable", None),
        OfferResult::Cancelled => ("cancelled", None),
        other => {
            return Err(StoreError::Unsupported {
                what: format!("the offer result {other:?}"),
            });
        }
    })
}

fn overflow_text(r: OverflowReason) -> Result<(&'static str, Option<String>), StoreError> {
    Ok(match r {
        OverflowReason::Key(key) => ("key", Some(key.to_string())),
        OverflowReason::NoAgents | OverflowReason::MaxWait | OverflowReason::Full => {
            (r.as_str(), None)
        }
        other => {
            return Err(StoreError::Unsupported {
                what: format!("the overflow reason {other:?}"),
            });
        }
    })
}

/// A `queue_events` row as read back (owned text where the write side had `&'static str`).
#[derive(Debug, Clone, Default)]
pub(crate) struct StoredQueueRow {
    pub kind: String,
    pub call: i64,
    pub queue: String,
    pub agent: Option<String>,
    pub offer: Option<i64>,
    pub priority: Option<i64>,
    pub wait_ns: Option<i64>,
    pub talk_ns: Option<i64>,
    pub wrapup_ns: Option<i64>,
    pub result: Option<String>,
    pub sip_code: Option<i64>,
    pub reason: Option<String>,
    pub exit_key: Option<String>,
}

/// A stored queue event back as the ACD's value; `Err` says what is wrong with the row.
pub(crate) fn decode_queue(row: StoredQueueRow) -> Result<EventKind, String> {
    let call = call_ref(row.call);
    let queue = QueueId::new(row.queue);
    let agent = || {
        row.agent
            .clone()
            .map(AgentId::new)
            .ok_or_else(|| format!("{} without an agent", row.kind))
    };
    let offer = || {
        row.offer
            .map(|o| OfferId(o.cast_unsigned()))
            .ok_or_else(|| format!("{} without an offer", row.kind))
    };
    let dur = |v: Option<i64>, what: &str| {
        v.ok_or_else(|| format!("{} without {what}", row.kind))
            .and_then(from_nanos)
    };
    Ok(match row.kind.as_str() {
        "joined" => EventKind::Joined {
            call,
            queue,
            priority: row
                .priority
                .and_then(|p| i32::try_from(p).ok())
                .ok_or("joined without a valid priority")?,
        },
        "offered" => EventKind::Offered {
            call,
            queue,
            agent: agent()?,
            offer: offer()?,
        },
        "offer-ended" => EventKind::OfferEnded {
            call,
            queue,
            agent: agent()?,
            offer: offer()?,
            result: match row.result.as_deref() {
                None => None,
                Some(text) => Some(parse_offer_result(text, row.sip_code)?),
            },
        },
        "answered" => EventKind::Answered {
            call,
            queue,
            agent: agent()?,
            wait: dur(row.wait_ns, "a wait")?,
        },
        "connect-failed" => EventKind::ConnectFailed {
            call,
            queue,
            agent: agent()?,
        },
        "abandoned" => EventKind::Abandoned {
            call,
            queue,
            wait: dur(row.wait_ns, "a wait")?,
        },
        "overflowed" => EventKind::Overflowed {
            call,
            queue,
            reason: parse_overflow(row.reason.as_deref(), row.exit_key.as_deref())?,
            wait: dur(row.wait_ns, "a wait")?,
        },
        "call-ended" => EventKind::CallEnded {
            call,
            queue,
            agent: agent()?,
            talk: dur(row.talk_ns, "a talk time")?,
        },
        "wrap-up-ended" => EventKind::WrapUpEnded {
            call,
            queue,
            agent: agent()?,
            wrap_up: dur(row.wrapup_ns, "a wrap-up time")?,
        },
        "interrupted" => EventKind::Interrupted { call, queue },
        other => return Err(format!("unknown kind {other:?}")),
    })
}

fn parse_offer_result(text: &str, code: Option<i64>) -> Result<OfferResult, String> {
    Ok(match text {
        "answered" => OfferResult::Answered,
        "no-answer" => OfferResult::NoAnswer,
        "declined" => OfferResult::Declined(
            code.and_then(|c| u16::try_from(c).ok())
                .ok_or("declined without a valid SIP status")?,
        ),
        "unreachable" => OfferResult::Unreachable,
        "cancelled" => OfferResult::Cancelled,
        other => return Err(format!("unknown offer result {other:?}")),
    })
}

fn parse_overflow(reason: Option<&str>, key: Option<&str>) -> Result<OverflowReason, String> {
    Ok(match reason {
        Some("no-agents") => OverflowReason::NoAgents,
        Some("max-wait") => OverflowReason::MaxWait,
        Some("full") => OverflowReason::Full,
        Some("key") => {
            let mut chars = key.unwrap_or_default().chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => OverflowReason::Key(c),
                _ => return Err(format!("overflow by key with key {key:?}")),
            }
        }
        other => return Err(format!("unknown overflow reason {other:?}")),
    })
}

/// A stored agent event back as the ACD's value.
pub(crate) fn decode_agent(
    agent: String,
    state: &str,
    reason: Option<String>,
) -> Result<EventKind, String> {
    Ok(EventKind::AgentState {
        agent: AgentId::new(agent),
        state: parse_state(state).ok_or_else(|| format!("unknown agent state {state:?}"))?,
        reason: reason.map(PauseReason::new),
    })
}
