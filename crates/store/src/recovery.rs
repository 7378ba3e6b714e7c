//! What the store does at open, before the writer thread starts: close everything the last
//! run left open, and say what to restore.

use std::path::Path;

use jiff::Timestamp;
use rusqlite::{Connection, TransactionBehavior, params};
use switchboard_acd::io::Restored;
use switchboard_acd::{AgentId, PauseReason, StateKind};

use crate::apply::{self, meta};
use crate::codec::{self, AgentRow, QueueRow};
use crate::error::{self, StoreError};

/// What the last run left, read (and repaired) by [`crate::Store::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Startup {
    /// The first free call handle: one past every call id and every call named by an ACD
    /// event, so handles stay unique across restarts. 1 on a new file. (SQL compares handles
    /// as signed 64-bit integers: a counter from here never reaches 2^63.)
    pub next_call_id: u64,
    /// The agents to log back in, with their state (ready or paused with its reason),
    /// sorted by id. An agent stored on a call, ringing or in wrap-up comes back ready; one
    /// logged out is not listed.
    pub agents: Vec<(AgentId, Restored)>,
    /// How many calls were still open and are now `interrupted`.
    pub interrupted_calls: u64,
    /// When the last run stopped, if it did not stop cleanly (crash, kill, power loss): its
    /// last sign of life, within [`crate::StoreOptions::heartbeat`] of the real time.
    pub crashed_at: Option<Timestamp>,
    /// The schema version the file had (0: new file).
    pub migrated_from: u32,
}

/// Repairs what the last run left open and returns the startup facts with the next event
/// sequence number.
pub(crate) fn recover(
    conn: &mut Connection,
    path: &Path,
    migrated_from: u32,
) -> Result<(Startup, i64), StoreError> {
    let fail = |e: &rusqlite::Error| error::sqlite(error::write, path, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| fail(&e))?;
    let last_alive = apply::get_meta(&tx, meta::LAST_ALIVE).map_err(|e| fail(&e))?;
    let clean = apply::get_meta(&tx, meta::CLEAN_STOP).map_err(|e| fail(&e))? == Some(1);
    // The run was alive at least until its last heartbeat and its newest recorded fact (a
    // clock that stepped back could put a fact after the heartbeat).
    let newest: Option<i64> = tx
        .query_row(
            "SELECT max((SELECT max(at_ms) FROM queue_events),
                        (SELECT max(at_ms) FROM agent_events),
                        (SELECT max(started_ms) FROM calls))",
            [],
            |r| r.get(0),
        )
        .map_err(|e| fail(&e))?;
    let stop_ms = match (last_alive, newest) {
        (Some(a), Some(n)) => Some(a.max(n)),
        (a, n) => a.or(n),
    };
    let mut seq: i64 = tx
        .query_row(
            "SELECT max(coalesce((SELECT max(seq) FROM queue_events), 0),
                        coalesce((SELECT max(seq) FROM agent_events), 0)) + 1",
            [],
            |r| r.get(0),
        )
        .map_err(|e| fail(&e))?;

    let mut interrupted_calls = 0;
    if let Some(stop) = stop_ms {
        close_visits(&tx, stop, &mut seq).map_err(|e| fail(&e))?;
        tx.execute(
            "UPDATE legs SET ended_ms = max(?1, started_ms),
                             end_cause = coalesce(end_cause, 'interrupted')
             WHERE ended_ms IS NULL",
            [stop],
        )
        .map_err(|e| fail(&e))?;
        interrupted_calls = tx
            .execute(
                "UPDATE calls SET ended_ms = max(?1, started_ms), disposition = 'interrupted',
                                  hangup_side = 'switch', hangup_cause = 'interrupted'
                 WHERE ended_ms IS NULL",
                [stop],
            )
            .map_err(|e| fail(&e))? as u64;
        log_out_agents(&tx, stop, &mut seq).map_err(|e| fail(&e))?;
    }
    let now = codec::ms(Timestamp::now());
    apply::set_meta(&tx, meta::CLEAN_STOP, 0).map_err(|e| fail(&e))?;
    apply::set_meta(&tx, meta::LAST_ALIVE, now).map_err(|e| fail(&e))?;

    let agents = restored_agents(&tx).map_err(|e| fail(&e))?;
    let next_call_id: i64 = tx
        .query_row(
            "SELECT max(coalesce((SELECT max(id) FROM calls), 0),
                        coalesce((SELECT max(call) FROM queue_events), 0)) + 1",
            [],
            |r| r.get(0),
        )
        .map_err(|e| fail(&e))?;
    tx.commit().map_err(|e| fail(&e))?;

    let crashed_at = if clean || last_alive.is_none() {
        None
    } else {
        stop_ms.and_then(codec::timestamp)
    };
    if crashed_at.is_some() || interrupted_calls > 0 {
        tracing::warn!(
            path = %path.display(),
            crashed_at = ?crashed_at,
            interrupted_calls,
            "the last run did not stop cleanly; its open calls are recorded as interrupted"
        );
    }
    let startup = Startup {
        next_call_id: next_call_id.cast_unsigned(),
        agents,
        interrupted_calls,
        crashed_at,
        migrated_from,
    };
    Ok((startup, seq))
}

/// Every queue visit with no outcome gets `Interrupted` at `stop`; the call's row learns
/// the queue (and agent, answer time and wait) from it where it has none.
fn close_visits(conn: &Connection, stop: i64, seq: &mut i64) -> rusqlite::Result<()> {
    let visits = {
        let mut stmt = conn.prepare(
            "SELECT call, queue, answered_ms, agent, wait_ms FROM open_visits ORDER BY joined_seq",
        )?;
        stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?
    };
    for (call, queue, answered_ms, agent, wait_ms) in visits {
        conn.execute(
            "UPDATE calls SET queue = coalesce(queue, ?2), agent = coalesce(agent, ?3),
                              answered_ms = coalesce(answered_ms, ?4),
                              wait_ms = coalesce(wait_ms, ?5)
             WHERE id = ?1 AND ended_ms IS NULL",
            params![call, queue, agent, answered_ms, wait_ms],
        )?;
        let row = QueueRow {
            at_ms: stop,
            kind: "interrupted",
            call,
            queue,
            ..QueueRow::default()
        };
        apply::queue_event(conn, *seq, &row)?;
        *seq += 1;
    }
    Ok(())
}

/// Every agent whose last state is logged in gets `AgentState LoggedOut` at `stop` (the
/// downtime counts as logged out); `agent_state` keeps the state, marked `stopped_ms`.
fn log_out_agents(conn: &Connection, stop: i64, seq: &mut i64) -> rusqlite::Result<()> {
    let agents = {
        let mut stmt = conn.prepare(
            "SELECT agent FROM agent_state
             WHERE state <> 'logged-out' AND stopped_ms IS NULL ORDER BY agent",
        )?;
        stmt.query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    for agent in agents {
        let row = AgentRow {
            at_ms: stop,
            agent,
            state: "logged-out",
            reason: None,
        };
        apply::append_agent_event(conn, *seq, &row)?;
        *seq += 1;
        conn.execute(
            "UPDATE agent_state SET stopped_ms = ?2 WHERE agent = ?1",
            params![row.agent, stop],
        )?;
    }
    Ok(())
}

/// The agents to log back in.
fn restored_agents(conn: &Connection) -> rusqlite::Result<Vec<(AgentId, Restored)>> {
    let mut stmt = conn.prepare(
        "SELECT agent, state, reason FROM agent_state WHERE state <> 'logged-out' ORDER BY agent",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .map(|(agent, state, reason)| {
            let restored = match codec::parse_state(&state) {
                Some(StateKind::Paused) => {
                    Restored::Paused(PauseReason::new(reason.unwrap_or_default()))
                }
                // On a call, ringing, busy or in wrap-up when the switch stopped: that call is
                // gone, the agent is free. An unknown state is read the same way.
                _ => Restored::Ready,
            };
            (AgentId::new(agent), restored)
        })
        .collect())
}
