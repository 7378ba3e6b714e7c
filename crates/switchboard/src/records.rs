//! Calls' records and the ACD's facts on their way to the store (`switchboard_store`): the
//! `Instant`s of the cores become wall-clock time here ([`crate::clock`]), and a finished call's
//! record is committed — durable — before the call releases its resources.

use switchboard_acd::{AcdEvent, AgentId, QueueId};
use switchboard_store::{CallRow, CallStart, CallUpdate, LegRow, StoreError, Write, Writer};

use crate::clock::wall;
use crate::protocol::{CallRecord, Disposition, HangupSide, LegRecord};

/// Where records go.
#[derive(Debug, Clone)]
pub struct Records {
    writer: Writer,
}

impl Records {
    /// Records through `writer`.
    #[must_use]
    pub fn new(writer: Writer) -> Records {
        Records { writer }
    }

    /// A call started: its row exists from now on, so a crash leaves a trace. Never waits: if
    /// the store's queue is full (a stalled disk) the call goes on, and its complete row is
    /// inserted when it ends.
    pub fn started(&self, record: &CallRecord) {
        let start = start(record);
        if let Err(err) = self.writer.try_send(Write::CallStarted(start)) {
            tracing::warn!(%err, call = record.call.0, "call record not started yet; it is written whole when the call ends");
        }
    }

    /// What a call in progress has learnt (best effort, as [`Records::started`]).
    pub fn progress(&self, record: &CallRecord) {
        let update = CallUpdate {
            id: record.call,
            answered: record.answered.map(wall),
            ivr_path: non_empty(&record.ivr_path),
            language: record.language.clone(),
            queue: record.queue.as_deref().map(QueueId::new),
            agent: record.agent.as_deref().map(AgentId::new),
            recording: record.recording.as_ref().map(|p| p.display().to_string()),
        };
        if let Err(err) = self.writer.try_send(Write::CallUpdated(update)) {
            tracing::warn!(%err, call = record.call.0, "call record: progress waits for the final row");
        }
    }

    /// A leg started or ended (best effort, as [`Records::started`]; the final row repeats
    /// every leg).
    pub fn leg(&self, call: crate::protocol::CallRef, leg: &LegRecord) {
        if let Err(err) = self.writer.try_send(Write::Leg(leg_row(call, leg))) {
            tracing::warn!(%err, call = call.0, "call record: a leg waits for the final row");
        }
    }

    /// The call is over: its legs and its complete row, committed (durable) before this
    /// returns — or, if the store cannot write now, kept in its queue and retried, which the
    /// log says.
    pub async fn finished(&self, record: &CallRecord) {
        for leg in &record.legs {
            self.send(Write::Leg(leg_row(record.call, leg)), record)
                .await;
        }
        let row = row(record);
        match self.writer.commit(Write::CallEnded(Box::new(row))).await {
            Ok(()) => {}
            Err(err) => report(&err, record),
        }
    }

    /// A call refused before it began (a trunk at its limit): its whole row, without waiting;
    /// if the store's queue is full the refusal is only in the log, which says so.
    pub fn refused(&self, record: &CallRecord) {
        if let Err(err) = self
            .writer
            .try_send(Write::CallEnded(Box::new(row(record))))
        {
            tracing::warn!(%err, call = record.call.0, "record of a refused call not stored (the log has it)");
        }
    }

    /// An ACD fact, without waiting; `Err(Full)` when the store's queue is full (the caller
    /// keeps it and tries again).
    ///
    /// # Errors
    /// [`StoreError::Full`], or [`StoreError::Closed`] when the store has stopped.
    pub fn try_acd(&self, event: &AcdEvent) -> Result<(), StoreError> {
        self.writer
            .try_send(Write::Acd(wall(event.at), event.kind.clone()))
    }

    /// Resolves once everything sent so far is durable.
    ///
    /// # Errors
    /// When the store cannot write (it keeps retrying; the error says why).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.writer.flush().await
    }

    async fn send(&self, write: Write, record: &CallRecord) {
        if let Err(err) = self.writer.send(write).await {
            report(&err, record);
        }
    }
}

fn report(err: &StoreError, record: &CallRecord) {
    tracing::error!(%err, call = record.call.0, "call record not stored yet");
}

fn leg_row(call: crate::protocol::CallRef, leg: &LegRecord) -> LegRow {
    LegRow {
        call,
        index: leg.index,
        role: leg.role,
        party: leg.party.clone(),
        call_id: None,
        started: wall(leg.started),
        answered: leg.answered.map(wall),
        ended: leg.ended.map(wall),
        sip_code: leg.code.or(leg.answered.map(|_| 200)),
        end_cause: non_empty(&leg.cause),
        codec: leg.codec.clone(),
    }
}

fn start(record: &CallRecord) -> CallStart {
    CallStart {
        id: record.call,
        call_id: record.call_id.clone(),
        started: wall(record.started),
        direction: record.direction,
        trunk: record.trunk.clone(),
        caller: non_empty(&record.caller),
        dialled: non_empty(&record.dialled),
    }
}

fn row(record: &CallRecord) -> CallRow {
    let ended = wall(record.ended.unwrap_or(record.started));
    let mut row = CallRow::ended(
        start(record),
        ended,
        record.disposition.unwrap_or(Disposition::Failed),
        record.hangup_side.unwrap_or(HangupSide::Switch),
    );
    row.answered = record.answered.map(wall);
    row.ivr_path = non_empty(&record.ivr_path);
    row.language.clone_from(&record.language);
    row.queue = record.queue.as_deref().map(QueueId::new);
    row.wait = record.wait;
    row.agent = record.agent.as_deref().map(AgentId::new);
    row.talk = record.talk;
    row.hangup_cause.clone_from(&record.hangup_cause);
    row.recording = record.recording.as_ref().map(|p| p.display().to_string());
    row
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}
