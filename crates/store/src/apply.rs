//! The SQL of each write, run by the writer thread inside a batch's transaction.
//!
//! Besides appending to its own table, an ACD event keeps two derived tables in step, in the
//! same transaction, so they can never disagree with the log: `open_visits` (queue visits with
//! no outcome yet, which the recovery closes after a crash) and `agent_state` (the last state
//! of each agent, which the next start restores). `WrapUpEnded` also fills `calls.wrapup_ms`.

use rusqlite::{Connection, params};
use switchboard_acd::{AgentId, QueueId};

use crate::codec::{AgentRow, EventRow, QueueRow, call_int, duration_ms, ms};
use crate::record::{CallRow, CallStart, LegRow};
use crate::writer::Op;

/// Applies one write. `seq` is the next event sequence number; it is advanced for each event
/// written (the caller restores it if the transaction is rolled back).
pub(crate) fn apply(conn: &Connection, op: &Op, seq: &mut i64) -> rusqlite::Result<()> {
    match op {
        Op::CallStarted(start) => call_started(conn, start),
        Op::CallAnswered(call, at) => {
            conn.prepare_cached(
                "UPDATE calls SET answered_ms = coalesce(answered_ms, ?2) WHERE id = ?1",
            )?
            .execute(params![call_int(*call), ms(*at)])?;
            Ok(())
        }
        Op::CallUpdated(u) => {
            conn.prepare_cached(
                "UPDATE calls SET ivr_path = coalesce(?2, ivr_path),
                                  language = coalesce(?3, language),
                                  queue = coalesce(?4, queue),
                                  agent = coalesce(?5, agent),
                                  recording = coalesce(?6, recording),
                                  answered_ms = coalesce(answered_ms, ?7)
                 WHERE id = ?1",
            )?
            .execute(params![
                call_int(u.id),
                u.ivr_path,
                u.language,
                u.queue.as_ref().map(QueueId::as_str),
                u.agent.as_ref().map(AgentId::as_str),
                u.recording,
                u.answered.map(ms),
            ])?;
            Ok(())
        }
        Op::CallEnded(row) => call_ended(conn, row),
        Op::Leg(leg) => leg_row(conn, leg),
        Op::Event(EventRow::Queue(row)) => {
            queue_event(conn, *seq, row)?;
            *seq += 1;
            Ok(())
        }
        Op::Event(EventRow::Agent(row)) => {
            agent_event(conn, *seq, row)?;
            *seq += 1;
            Ok(())
        }
        Op::Flush => Ok(()),
    }
}

fn call_started(conn: &Connection, s: &CallStart) -> rusqlite::Result<()> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO calls (id, call_id, started_ms, direction, trunk, caller, dialled)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            call_int(s.id),
            s.call_id,
            ms(s.started),
            s.direction.as_str(),
            s.trunk,
            s.caller,
            s.dialled,
        ])?;
    if inserted == 0 {
        tracing::warn!(call = %s.id, "call id already stored; its CallStarted is ignored");
    }
    Ok(())
}

fn call_ended(conn: &Connection, r: &CallRow) -> rusqlite::Result<()> {
    let id = call_int(r.id);
    let ended = ms(r.ended);
    conn.prepare_cached(
        "INSERT INTO calls (id, call_id, started_ms, answered_ms, ended_ms, direction, trunk,
                            caller, dialled, ivr_path, language, queue, wait_ms, agent, talk_ms,
                            wrapup_ms, disposition, hangup_side, hangup_cause, recording)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20)
         ON CONFLICT (id) DO UPDATE SET
            call_id = excluded.call_id,
            started_ms = excluded.started_ms,
            answered_ms = coalesce(excluded.answered_ms, answered_ms),
            ended_ms = excluded.ended_ms,
            direction = excluded.direction,
            trunk = coalesce(excluded.trunk, trunk),
            caller = coalesce(excluded.caller, caller),
            dialled = coalesce(excluded.dialled, dialled),
            ivr_path = coalesce(excluded.ivr_path, ivr_path),
            language = coalesce(excluded.language, language),
            queue = coalesce(excluded.queue, queue),
            wait_ms = coalesce(excluded.wait_ms, wait_ms),
            agent = coalesce(excluded.agent, agent),
            talk_ms = coalesce(excluded.talk_ms, talk_ms),
            wrapup_ms = coalesce(excluded.wrapup_ms, wrapup_ms),
            disposition = excluded.disposition,
            hangup_side = excluded.hangup_side,
            hangup_cause = coalesce(excluded.hangup_cause, hangup_cause),
            recording = coalesce(excluded.recording, recording)",
    )?
    .execute(params![
        id,
        r.call_id,
        ms(r.started),
        r.answered.map(ms),
        ended,
        r.direction.as_str(),
        r.trunk,
        r.caller,
        r.dialled,
        r.ivr_path,
        r.language,
        r.queue.as_ref().map(|q| q.as_str()),
        r.wait.map(duration_ms),
        r.agent.as_ref().map(|a| a.as_str()),
        r.talk.map(duration_ms),
        r.wrap_up.map(duration_ms),
        r.disposition.as_str(),
        r.hangup_side.as_str(),
        r.hangup_cause,
        r.recording,
    ])?;
    // A leg nobody closed ended with its call at the latest.
    conn.prepare_cached(
        "UPDATE legs SET ended_ms = max(?2, started_ms) WHERE call = ?1 AND ended_ms IS NULL",
    )?
    .execute(params![id, ended])?;
    Ok(())
}

fn leg_row(conn: &Connection, l: &LegRow) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO legs (call, leg, role, party, call_id, started_ms, answered_ms, ended_ms,
                           sip_code, end_cause, codec)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (call, leg) DO UPDATE SET
            role = excluded.role,
            party = excluded.party,
            call_id = coalesce(excluded.call_id, call_id),
            started_ms = excluded.started_ms,
            answered_ms = coalesce(excluded.answered_ms, answered_ms),
            ended_ms = coalesce(excluded.ended_ms, ended_ms),
            sip_code = coalesce(excluded.sip_code, sip_code),
            end_cause = coalesce(excluded.end_cause, end_cause),
            codec = coalesce(excluded.codec, codec)",
    )?
    .execute(params![
        call_int(l.call),
        l.index,
        l.role.as_str(),
        l.party,
        l.call_id,
        ms(l.started),
        l.answered.map(ms),
        l.ended.map(ms),
        l.sip_code,
        l.end_cause,
        l.codec,
    ])?;
    Ok(())
}

/// Appends a queue event and keeps `open_visits` and `calls.wrapup_ms` in step.
pub(crate) fn queue_event(conn: &Connection, seq: i64, r: &QueueRow) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO queue_events (seq, at_ms, kind, call, queue, agent, offer, priority,
                                   wait_ns, talk_ns, wrapup_ns, result, sip_code, reason, exit_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        seq,
        r.at_ms,
        r.kind,
        r.call,
        r.queue,
        r.agent,
        r.offer,
        r.priority,
        r.wait_ns,
        r.talk_ns,
        r.wrapup_ns,
        r.result,
        r.sip_code,
        r.reason,
        r.exit_key,
    ])?;
    match r.kind {
        "joined" => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO open_visits (call, queue, joined_seq) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![r.call, r.queue, seq])?;
        }
        "answered" => {
            conn.prepare_cached(
                "UPDATE open_visits SET answered_ms = ?3, agent = ?4, wait_ms = ?5
                 WHERE call = ?1 AND queue = ?2",
            )?
            .execute(params![
                r.call,
                r.queue,
                r.at_ms,
                r.agent,
                r.wait_ns.map(|ns| ns / 1_000_000),
            ])?;
        }
        "abandoned" | "overflowed" | "interrupted" | "call-ended" => {
            conn.prepare_cached("DELETE FROM open_visits WHERE call = ?1 AND queue = ?2")?
                .execute(params![r.call, r.queue])?;
        }
        "wrap-up-ended" => {
            conn.prepare_cached("UPDATE calls SET wrapup_ms = ?2 WHERE id = ?1")?
                .execute(params![r.call, r.wrapup_ns.map(|ns| ns / 1_000_000)])?;
        }
        _ => {}
    }
    Ok(())
}

/// Appends an agent event to the log only (the recovery's logouts, which keep `agent_state`).
pub(crate) fn append_agent_event(
    conn: &Connection,
    seq: i64,
    r: &AgentRow,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO agent_events (seq, at_ms, agent, state, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![seq, r.at_ms, r.agent, r.state, r.reason])?;
    Ok(())
}

/// Appends an agent event and makes it the agent's current state.
pub(crate) fn agent_event(conn: &Connection, seq: i64, r: &AgentRow) -> rusqlite::Result<()> {
    append_agent_event(conn, seq, r)?;
    conn.prepare_cached(
        "INSERT INTO agent_state (agent, state, reason, since_ms, stopped_ms)
         VALUES (?1, ?2, ?3, ?4, NULL)
         ON CONFLICT (agent) DO UPDATE SET state = excluded.state, reason = excluded.reason,
            since_ms = excluded.since_ms, stopped_ms = NULL",
    )?
    .execute(params![r.agent, r.state, r.reason, r.at_ms])?;
    Ok(())
}

/// Sets one `meta` value.
pub(crate) fn set_meta(conn: &Connection, key: &str, value: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// The `meta` keys.
pub(crate) mod meta {
    /// Unix ms of the last commit (or idle heartbeat) of the writer thread.
    pub const LAST_ALIVE: &str = "last_alive_ms";
    /// 1 after a clean stop (every writer dropped, queue committed), 0 while running.
    pub const CLEAN_STOP: &str = "clean_stop";
}

/// Reads one `meta` value.
pub(crate) fn get_meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}
