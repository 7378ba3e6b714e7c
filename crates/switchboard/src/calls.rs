//! The live calls: one task owns the table of calls in progress, fed by the call tasks as
//! their records progress (started, joined a queue, talking, ended) and read by the admin API
//! (`GET /api/v1/calls`) and `switchboard calls` (through the control socket).
//!
//! The updates travel on an unbounded channel: a lost "ended" would leave a ghost call in the
//! table, and the channel holds at most a few small messages per call in progress.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::clock::wall;
use crate::protocol::CallRecord;

/// What the table hears.
#[derive(Debug)]
pub enum Update {
    /// A call started, or learnt something (its record so far).
    Record(Box<CallRecord>),
    /// A call's task started: where to tell it to hang up.
    Attach {
        /// The call.
        call: u64,
        /// Its hang-up input.
        hangup: mpsc::Sender<crate::call::machine::Input>,
    },
    /// Hang a call up; the answer says whether it was in progress.
    Hangup {
        /// The call.
        call: u64,
        /// Why (in its record's cause: `switch:<reason>`).
        reason: String,
        /// Whether the call was found.
        reply: oneshot::Sender<bool>,
    },
    /// Hang every call up (the end of a drain).
    HangupAll {
        /// Why.
        reason: String,
    },
    /// A call ended.
    Ended(u64),
    /// The table, for a reader.
    Snapshot(oneshot::Sender<LiveCalls>),
}

/// The sending side, cloned into every call.
pub type Updates = mpsc::UnboundedSender<Update>;

/// The calls in progress at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveCalls {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Oldest first.
    pub calls: Vec<LiveCall>,
}

/// One call in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveCall {
    /// The switch's call id (the record's).
    pub call: u64,
    /// The caller's SIP Call-ID.
    pub call_id: String,
    /// `inbound`, `outbound`, `internal`.
    pub direction: String,
    /// The trunk it came in on or goes out through.
    pub trunk: Option<String>,
    /// The caller's number (or agent's extension).
    pub caller: String,
    /// The number dialled.
    pub dialled: String,
    /// Where it is: `ivr`, `queued`, `talking`.
    pub state: String,
    /// The IVR steps it went through.
    pub ivr_path: String,
    /// Its language, once known.
    pub language: Option<String>,
    /// Its queue, once it joined one.
    pub queue: Option<String>,
    /// The agent or callee talking with it.
    pub agent: Option<String>,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// Seconds since it started.
    pub duration_s: u64,
    /// Whether it is recorded.
    pub recorded: bool,
}

/// The table's task.
#[derive(Debug, Default)]
pub struct Registry {
    calls: HashMap<u64, CallRecord>,
    hangups: HashMap<u64, mpsc::Sender<crate::call::machine::Input>>,
}

impl Registry {
    /// Runs until every sender is gone.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Update>) {
        while let Some(update) = rx.recv().await {
            self.handle(Instant::now(), update);
        }
    }

    fn handle(&mut self, now: Instant, update: Update) {
        match update {
            Update::Record(record) => {
                self.calls.insert(record.call.0, *record);
            }
            Update::Attach { call, hangup } => {
                self.hangups.insert(call, hangup);
            }
            Update::Hangup {
                call,
                reason,
                reply,
            } => {
                let found = self.hangups.get(&call).is_some_and(|tx| {
                    // A full channel already holds a hang-up: the call is ending anyway.
                    !matches!(
                        tx.try_send(crate::call::machine::Input::Hangup { reason }),
                        Err(mpsc::error::TrySendError::Closed(_))
                    )
                });
                let _ = reply.send(found);
            }
            Update::HangupAll { reason } => {
                for tx in self.hangups.values() {
                    let _ = tx.try_send(crate::call::machine::Input::Hangup {
                        reason: reason.clone(),
                    });
                }
            }
            Update::Ended(call) => {
                self.calls.remove(&call);
                self.hangups.remove(&call);
            }
            Update::Snapshot(reply) => {
                // The reader may have given up: nothing to do then.
                let _ = reply.send(self.snapshot(now));
            }
        }
    }

    fn snapshot(&self, now: Instant) -> LiveCalls {
        let mut calls: Vec<LiveCall> = self.calls.values().map(|r| live(r, now)).collect();
        calls.sort_by(|a, b| b.duration_s.cmp(&a.duration_s).then(a.call.cmp(&b.call)));
        LiveCalls {
            at: wall(now).to_string(),
            calls,
        }
    }
}

fn live(record: &CallRecord, now: Instant) -> LiveCall {
    let state = if record.agent.is_some() {
        "talking"
    } else if record.queue.is_some() {
        "queued"
    } else {
        "ivr"
    };
    LiveCall {
        call: record.call.0,
        call_id: record.call_id.clone(),
        direction: record.direction.as_str().to_owned(),
        trunk: record.trunk.clone(),
        caller: record.caller.clone(),
        dialled: record.dialled.clone(),
        state: state.to_owned(),
        ivr_path: record.ivr_path.clone(),
        language: record.language.clone(),
        queue: record.queue.clone(),
        agent: record.agent.clone(),
        started_at: wall(record.started).to_string(),
        duration_s: now.saturating_duration_since(record.started).as_secs(),
        recorded: record.recording.is_some(),
    }
}

/// Asks the table for its calls.
///
/// # Errors
/// When the table's task is gone.
pub async fn snapshot(updates: &Updates) -> Option<LiveCalls> {
    let (reply, rx) = oneshot::channel();
    updates.send(Update::Snapshot(reply)).ok()?;
    rx.await.ok()
}

/// Asks the table to hang `call` up; whether it was in progress (`None`: the table is gone).
pub async fn hangup(updates: &Updates, call: u64, reason: &str) -> Option<bool> {
    let (reply, rx) = oneshot::channel();
    updates
        .send(Update::Hangup {
            call,
            reason: reason.to_owned(),
            reply,
        })
        .ok()?;
    rx.await.ok()
}

impl LiveCalls {
    /// `switchboard calls`: one line per call.
    #[must_use]
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<8} {:<8} {:>6}  {:<16} {:<14} {:<16} {:<8} {}\n",
            "CALL", "STATE", "SECS", "CALLER", "DIALLED", "QUEUE", "AGENT", "IVR PATH"
        );
        for c in &self.calls {
            let _ = writeln!(
                out,
                "{:<8} {:<8} {:>6}  {:<16} {:<14} {:<16} {:<8} {}",
                c.call,
                c.state,
                c.duration_s,
                c.caller,
                c.dialled,
                c.queue.as_deref().unwrap_or("-"),
                c.agent.as_deref().unwrap_or("-"),
                c.ivr_path
            );
        }
        let _ = writeln!(out, "{} calls in progress at {}", self.calls.len(), self.at);
        out
    }
}
