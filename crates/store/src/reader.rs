//! Read-only access for the CLI, tests and the API: each reader has its own connection and
//! never blocks the writer (WAL: readers see the last commit made before their query began).

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params_from_iter};
use switchboard_acd::{AgentId, CallRef, EventKind, PauseReason, QueueId};

use crate::apply::{self, meta};
use crate::codec::{self, StoredQueueRow, call_int, call_ref, from_ms, ms};
use crate::error::{self, StoreError};
use crate::record::{
    AgentStateRow, CdrFilter, CdrRow, Direction, Disposition, HangupSide, LegRole, LegRow,
};
use crate::schema;

/// How long a reader waits for a lock (only taken while SQLite rebuilds the WAL index).
const READ_BUSY: Duration = Duration::from_secs(5);

/// A read-only connection to the store. Cheap to open; one per thread or task (it is `Send`,
/// not `Sync`).
#[derive(Debug)]
pub struct Reader {
    conn: Connection,
    path: PathBuf,
}

/// The `calls` columns [`Reader::cdr`] selects, in [`cdr_row`]'s order.
const CDR_COLUMNS: &str = "id, call_id, started_ms, answered_ms, ended_ms, direction, trunk, \
     caller, dialled, ivr_path, language, queue, wait_ms, agent, talk_ms, wrapup_ms, \
     disposition, hangup_side, hangup_cause, recording";

impl Reader {
    /// Opens `path` read-only.
    ///
    /// # Errors
    /// [`StoreError::Open`] if the file cannot be opened, [`StoreError::NewerSchema`] or
    /// [`StoreError::OlderSchema`] if it is not at this build's schema version.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        if !path.exists() {
            return Err(StoreError::Open {
                path,
                cause: error::SqliteCause::CannotOpen,
                message: "no such file (the switch creates it when it first starts: check \
                          [store] path)"
                    .into(),
            });
        }
        let conn = schema::open_ro(&path, READ_BUSY)?;
        schema::check_version(&conn, &path)?;
        Ok(Self { conn, path })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, e: &rusqlite::Error) -> StoreError {
        error::sqlite(error::read, &self.path, e)
    }

    fn corrupt(&self, table: &'static str, row: i64, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            table,
            row,
            detail: detail.into(),
        }
    }

    /// The calls that match `filter`, oldest first (by start, then id).
    ///
    /// # Errors
    /// [`StoreError::Read`] on an SQLite failure, [`StoreError::Corrupt`] for a row that
    /// holds an unknown spelling.
    pub fn cdr(&self, filter: &CdrFilter) -> Result<Vec<CdrRow>, StoreError> {
        let mut clauses: Vec<&str> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        let mut add = |clause: &'static str, v: Value| {
            clauses.push(clause);
            args.push(v);
        };
        if let Some(from) = filter.from {
            add("started_ms >= ?", Value::Integer(ms(from)));
        }
        if let Some(until) = filter.until {
            add("started_ms < ?", Value::Integer(ms(until)));
        }
        if let Some(q) = &filter.queue {
            add("queue = ?", Value::Text(q.as_str().to_owned()));
        }
        if let Some(c) = &filter.caller {
            add("caller = ?", Value::Text(c.clone()));
        }
        if let Some(a) = &filter.agent {
            add("agent = ?", Value::Text(a.as_str().to_owned()));
        }
        if let Some(d) = filter.disposition {
            add("disposition = ?", Value::Text(d.as_str().to_owned()));
        }
        if filter.in_progress {
            clauses.push("ended_ms IS NULL");
        }
        let mut sql = format!("SELECT {CDR_COLUMNS} FROM calls");
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(" ORDER BY started_ms, id");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        self.query_cdr(&sql, params_from_iter(args))
    }

    /// One call's record.
    ///
    /// # Errors
    /// As [`Reader::cdr`].
    pub fn call(&self, id: CallRef) -> Result<Option<CdrRow>, StoreError> {
        let sql = format!("SELECT {CDR_COLUMNS} FROM calls WHERE id = ?1");
        Ok(self.query_cdr(&sql, [call_int(id)])?.pop())
    }

    fn query_cdr(&self, sql: &str, args: impl rusqlite::Params) -> Result<Vec<CdrRow>, StoreError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.fail(&e))?;
        let raw = stmt
            .query_map(args, RawCall::read)
            .map_err(|e| self.fail(&e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.fail(&e))?;
        raw.into_iter().map(|r| self.cdr_row(r)).collect()
    }

    fn cdr_row(&self, r: RawCall) -> Result<CdrRow, StoreError> {
        let time = |v: i64| {
            codec::timestamp(v).ok_or_else(|| self.corrupt("calls", r.id, "time out of range"))
        };
        let opt_time = |v: Option<i64>| v.map(time).transpose();
        Ok(CdrRow {
            id: call_ref(r.id),
            call_id: r.call_id.clone(),
            started: time(r.started_ms)?,
            answered: opt_time(r.answered_ms)?,
            ended: opt_time(r.ended_ms)?,
            direction: Direction::parse(&r.direction).ok_or_else(|| {
                self.corrupt("calls", r.id, format!("direction {:?}", r.direction))
            })?,
            trunk: r.trunk.clone(),
            caller: r.caller.clone(),
            dialled: r.dialled.clone(),
            ivr_path: r.ivr_path.clone(),
            language: r.language.clone(),
            queue: r.queue.clone().map(QueueId::new),
            wait: r.wait_ms.map(from_ms),
            agent: r.agent.clone().map(AgentId::new),
            talk: r.talk_ms.map(from_ms),
            wrap_up: r.wrapup_ms.map(from_ms),
            disposition: r
                .disposition
                .as_deref()
                .map(|d| {
                    Disposition::parse(d)
                        .ok_or_else(|| self.corrupt("calls", r.id, format!("disposition {d:?}")))
                })
                .transpose()?,
            hangup_side: r
                .hangup_side
                .as_deref()
                .map(|s| {
                    HangupSide::parse(s)
                        .ok_or_else(|| self.corrupt("calls", r.id, format!("hangup_side {s:?}")))
                })
                .transpose()?,
            hangup_cause: r.hangup_cause.clone(),
            recording: r.recording.clone(),
        })
    }

    /// A call's legs, by index.
    ///
    /// # Errors
    /// As [`Reader::cdr`].
    pub fn legs(&self, call: CallRef) -> Result<Vec<LegRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT leg, role, party, call_id, started_ms, answered_ms, ended_ms, sip_code,
                        end_cause, codec
                 FROM legs WHERE call = ?1 ORDER BY leg",
            )
            .map_err(|e| self.fail(&e))?;
        let raw = stmt
            .query_map([call_int(call)], |r| {
                Ok((
                    r.get::<_, u32>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, Option<u16>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                ))
            })
            .map_err(|e| self.fail(&e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.fail(&e))?;
        let row = call_int(call);
        let time = |v: i64| codec::timestamp(v).ok_or_else(|| self.corrupt("legs", row, "time"));
        raw.into_iter()
            .map(
                |(index, role, party, call_id, s, a, e, sip_code, end_cause, codec)| {
                    Ok(LegRow {
                        call,
                        index,
                        role: LegRole::parse(&role)
                            .ok_or_else(|| self.corrupt("legs", row, format!("role {role:?}")))?,
                        party,
                        call_id,
                        started: time(s)?,
                        answered: a.map(time).transpose()?,
                        ended: e.map(time).transpose()?,
                        sip_code,
                        end_cause,
                        codec,
                    })
                },
            )
            .collect()
    }

    /// Every ACD event at or after `since`, in the order written, as the values given to
    /// [`crate::Write::Acd`] (times to the millisecond).
    ///
    /// # Errors
    /// As [`Reader::cdr`].
    pub fn acd_events_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(Timestamp, EventKind)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, at_ms, 0, kind, call, queue, agent, offer, priority, wait_ns, talk_ns,
                        wrapup_ns, result, sip_code, reason, exit_key
                 FROM queue_events WHERE at_ms >= ?1
                 UNION ALL
                 SELECT seq, at_ms, 1, state, 0, '', agent, NULL, NULL, NULL, NULL,
                        NULL, NULL, NULL, reason, NULL
                 FROM agent_events WHERE at_ms >= ?1
                 ORDER BY seq",
            )
            .map_err(|e| self.fail(&e))?;
        let raw = stmt
            .query_map([ms(since)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)? == 1,
                    stored_queue_row(r)?,
                ))
            })
            .map_err(|e| self.fail(&e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.fail(&e))?;
        raw.into_iter()
            .map(|(seq, at_ms, is_agent, row)| {
                let (table, decoded) = if is_agent {
                    let StoredQueueRow {
                        kind: state,
                        agent,
                        reason,
                        ..
                    } = row;
                    let agent = agent.unwrap_or_default();
                    ("agent_events", codec::decode_agent(agent, &state, reason))
                } else {
                    ("queue_events", codec::decode_queue(row))
                };
                let kind = decoded.map_err(|d| self.corrupt(table, seq, d))?;
                let at = codec::timestamp(at_ms)
                    .ok_or_else(|| self.corrupt(table, seq, "time out of range"))?;
                Ok((at, kind))
            })
            .collect()
    }

    /// Each agent's last state change before `before`, as an `AgentState` event: what a
    /// replay starting at `before` must assume each agent was doing (an agent missing here
    /// had never been seen, i.e. was logged out).
    ///
    /// # Errors
    /// As [`Reader::cdr`]; [`StoreError::Corrupt`] for a row this build cannot read.
    pub fn agent_states_before(&self, before: Timestamp) -> Result<Vec<EventKind>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT a.seq, a.agent, a.state, a.reason FROM agent_events a
                 JOIN (SELECT agent, MAX(seq) AS seq FROM agent_events WHERE at_ms < ?1
                       GROUP BY agent) last ON a.seq = last.seq
                 ORDER BY a.seq",
            )
            .map_err(|e| self.fail(&e))?;
        let rows = stmt
            .query_map([ms(before)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .map_err(|e| self.fail(&e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.fail(&e))?;
        rows.into_iter()
            .map(|(seq, agent, state, reason)| {
                codec::decode_agent(agent, &state, reason)
                    .map_err(|d| self.corrupt("agent_events", seq, d))
            })
            .collect()
    }

    /// Every agent's stored state, by id.
    ///
    /// # Errors
    /// As [`Reader::cdr`].
    pub fn agent_states(&self) -> Result<Vec<AgentStateRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT agent, state, reason, since_ms, stopped_ms FROM agent_state ORDER BY agent",
            )
            .map_err(|e| self.fail(&e))?;
        let raw = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            })
            .map_err(|e| self.fail(&e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.fail(&e))?;
        raw.into_iter()
            .map(|(agent, state, reason, since, stopped)| {
                let bad = |what: &str| self.corrupt("agent_state", 0, format!("{agent}: {what}"));
                Ok(AgentStateRow {
                    state: codec::parse_state(&state).ok_or_else(|| bad("state"))?,
                    reason: reason.map(PauseReason::new),
                    since: codec::timestamp(since).ok_or_else(|| bad("since"))?,
                    stopped: stopped
                        .map(|s| codec::timestamp(s).ok_or_else(|| bad("stopped")))
                        .transpose()?,
                    agent: AgentId::new(agent),
                })
            })
            .collect()
    }

    /// The writer's last sign of life (`meta.last_alive_ms`).
    ///
    /// # Errors
    /// As [`Reader::cdr`].
    pub fn last_alive(&self) -> Result<Option<Timestamp>, StoreError> {
        let v = apply::get_meta(&self.conn, meta::LAST_ALIVE).map_err(|e| self.fail(&e))?;
        Ok(v.and_then(codec::timestamp))
    }
}

/// A `calls` row as selected by [`CDR_COLUMNS`].
struct RawCall {
    id: i64,
    call_id: String,
    started_ms: i64,
    answered_ms: Option<i64>,
    ended_ms: Option<i64>,
    direction: String,
    trunk: Option<String>,
    caller: Option<String>,
    dialled: Option<String>,
    ivr_path: Option<String>,
    language: Option<String>,
    queue: Option<String>,
    wait_ms: Option<i64>,
    agent: Option<String>,
    talk_ms: Option<i64>,
    wrapup_ms: Option<i64>,
    disposition: Option<String>,
    hangup_side: Option<String>,
    hangup_cause: Option<String>,
    recording: Option<String>,
}

impl RawCall {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            call_id: r.get(1)?,
            started_ms: r.get(2)?,
            answered_ms: r.get(3)?,
            ended_ms: r.get(4)?,
            direction: r.get(5)?,
            trunk: r.get(6)?,
            caller: r.get(7)?,
            dialled: r.get(8)?,
            ivr_path: r.get(9)?,
            language: r.get(10)?,
            queue: r.get(11)?,
            wait_ms: r.get(12)?,
            agent: r.get(13)?,
            talk_ms: r.get(14)?,
            wrapup_ms: r.get(15)?,
            disposition: r.get(16)?,
            hangup_side: r.get(17)?,
            hangup_cause: r.get(18)?,
            recording: r.get(19)?,
        })
    }
}

/// Columns 3.. of [`Reader::acd_events_since`]'s query.
fn stored_queue_row(r: &Row<'_>) -> rusqlite::Result<StoredQueueRow> {
    Ok(StoredQueueRow {
        kind: r.get(3)?,
        call: r.get(4)?,
        queue: r.get(5)?,
        agent: r.get(6)?,
        offer: r.get(7)?,
        priority: r.get(8)?,
        wait_ns: r.get(9)?,
        talk_ns: r.get(10)?,
        wrapup_ns: r.get(11)?,
        result: r.get(12)?,
        sip_code: r.get(13)?,
        reason: r.get(14)?,
        exit_key: r.get(15)?,
    })
}
