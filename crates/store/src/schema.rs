//! The schema and its migrations, and how connections are opened.
//!
//! `PRAGMA user_version` holds the number of migration scripts applied. Each script runs in
//! its own `BEGIN IMMEDIATE` transaction together with the `user_version` bump, so a failure
//! leaves the file at the previous version. A file whose version is past [`MIGRATIONS`] was
//! written by a newer build and is refused untouched. Scripts are append-only: a released
//! script is never edited, a change is a new script.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::{self, StoreError};

/// Migration scripts; the one at index `i` takes the file to version `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1];

/// The schema version this build reads and writes.
#[must_use]
pub fn schema_version() -> u32 {
    // A handful of scripts: the count always fits.
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// Version 1: calls, legs, the ACD's events, agent states, meta, and the `cdr` view.
const V1: &str = r"
CREATE TABLE calls (
    id           INTEGER PRIMARY KEY,
    call_id      TEXT NOT NULL,
    started_ms   INTEGER NOT NULL,
    answered_ms  INTEGER,
    ended_ms     INTEGER,
    direction    TEXT NOT NULL,
    trunk        TEXT,
    caller       TEXT,
    dialled      TEXT,
    ivr_path     TEXT,
    language     TEXT,
    queue        TEXT,
    wait_ms      INTEGER,
    agent        TEXT,
    talk_ms      INTEGER,
    wrapup_ms    INTEGER,
    disposition  TEXT,
    hangup_side  TEXT,
    hangup_cause TEXT,
    recording    TEXT
);
CREATE INDEX calls_started ON calls (started_ms);
CREATE INDEX calls_queue ON calls (queue, started_ms);
CREATE INDEX calls_caller ON calls (caller, started_ms);
CREATE INDEX calls_agent ON calls (agent, started_ms);
CREATE INDEX calls_call_id ON calls (call_id);
CREATE INDEX calls_open ON calls (id) WHERE ended_ms IS NULL;

CREATE TABLE legs (
    call        INTEGER NOT NULL,
    leg         INTEGER NOT NULL,
    role        TEXT NOT NULL,
    party       TEXT NOT NULL,
    call_id     TEXT,
    started_ms  INTEGER NOT NULL,
    answered_ms INTEGER,
    ended_ms    INTEGER,
    sip_code    INTEGER,
    end_cause   TEXT,
    codec       TEXT,
    PRIMARY KEY (call, leg)
) WITHOUT ROWID;
CREATE INDEX legs_open ON legs (call) WHERE ended_ms IS NULL;

CREATE TABLE queue_events (
    seq        INTEGER PRIMARY KEY,
    at_ms      INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    call       INTEGER NOT NULL,
    queue      TEXT NOT NULL,
    agent      TEXT,
    offer      INTEGER,
    priority   INTEGER,
    wait_ns    INTEGER,
    talk_ns    INTEGER,
    wrapup_ns  INTEGER,
    result     TEXT,
    sip_code   INTEGER,
    reason     TEXT,
    exit_key   TEXT
);
CREATE INDEX queue_events_at ON queue_events (at_ms);
CREATE INDEX queue_events_queue ON queue_events (queue, at_ms);
CREATE INDEX queue_events_call ON queue_events (call);

CREATE TABLE agent_events (
    seq    INTEGER PRIMARY KEY,
    at_ms  INTEGER NOT NULL,
    agent  TEXT NOT NULL,
    state  TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX agent_events_at ON agent_events (at_ms);
CREATE INDEX agent_events_agent ON agent_events (agent, at_ms);

CREATE TABLE agent_state (
    agent      TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    reason     TEXT,
    since_ms   INTEGER NOT NULL,
    stopped_ms INTEGER
) WITHOUT ROWID;

CREATE TABLE open_visits (
    call        INTEGER NOT NULL,
    queue       TEXT NOT NULL,
    joined_seq  INTEGER NOT NULL,
    answered_ms INTEGER,
    agent       TEXT,
    wait_ms     INTEGER,
    PRIMARY KEY (call, queue)
) WITHOUT ROWID;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE VIEW cdr AS
SELECT
    id,
    call_id,
    strftime('%Y-%m-%dT%H:%M:%S', started_ms / 1000, 'unixepoch')
        || printf('.%03dZ', started_ms % 1000) AS started_at,
    strftime('%Y-%m-%dT%H:%M:%S', answered_ms / 1000, 'unixepoch')
        || printf('.%03dZ', answered_ms % 1000) AS answered_at,
    strftime('%Y-%m-%dT%H:%M:%S', ended_ms / 1000, 'unixepoch')
        || printf('.%03dZ', ended_ms % 1000) AS ended_at,
    direction,
    trunk,
    caller,
    dialled,
    ivr_path,
    language,
    queue,
    round(wait_ms / 1000.0, 3) AS wait_s,
    agent,
    round(talk_ms / 1000.0, 3) AS talk_s,
    round(wrapup_ms / 1000.0, 3) AS wrapup_s,
    disposition,
    hangup_side,
    hangup_cause,
    recording
FROM calls;
";

/// Opens the read-write connection and sets it up: WAL, `synchronous=NORMAL` (the writer
/// raises it to `FULL` for the commits that must survive a power loss), the busy timeout.
pub(crate) fn open_rw(path: &Path, busy: Duration) -> Result<Connection, StoreError> {
    let fail = |e: &rusqlite::Error| error::sqlite(error::open, path, e);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| fail(&e))?;
    conn.busy_timeout(busy).map_err(|e| fail(&e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| fail(&e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Open {
            path: path.to_owned(),
            cause: error::SqliteCause::Other,
            message: format!("SQLite kept journal_mode={mode} instead of WAL"),
        });
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;")
        .map_err(|e| fail(&e))?;
    Ok(conn)
}

/// Opens a read-only connection (the busy timeout covers a checkpoint in progress).
pub(crate) fn open_ro(path: &Path, busy: Duration) -> Result<Connection, StoreError> {
    let fail = |e: &rusqlite::Error| error::sqlite(error::open, path, e);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| fail(&e))?;
    conn.busy_timeout(busy).map_err(|e| fail(&e))?;
    Ok(conn)
}

/// The file's `PRAGMA user_version`.
pub(crate) fn user_version(conn: &Connection, path: &Path) -> Result<u32, StoreError> {
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| error::sqlite(error::open, path, &e))?;
    // SQLite keeps it as a signed 32-bit number; a negative one is no version of ours.
    Ok(u32::try_from(v).unwrap_or(u32::MAX))
}

/// Applies the missing migrations; returns the version the file had before.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<u32, StoreError> {
    let supported = schema_version();
    let before = user_version(conn, path)?;
    if before > supported {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found: before,
            supported,
        });
    }
    for version in (before + 1)..=supported {
        let fail = |e: &rusqlite::Error| StoreError::Migration {
            path: path.to_owned(),
            version,
            cause: error::SqliteCause::of(e),
            message: e.to_string(),
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| fail(&e))?;
        // Another process may have migrated between our read and our lock.
        let now: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| fail(&e))?;
        if now >= i64::from(version) {
            continue;
        }
        let script = MIGRATIONS[version as usize - 1];
        tx.execute_batch(script).map_err(|e| fail(&e))?;
        tx.pragma_update(None, "user_version", version)
            .map_err(|e| fail(&e))?;
        tx.commit().map_err(|e| fail(&e))?;
        tracing::info!(path = %path.display(), version, "store schema migrated");
    }
    Ok(before)
}

/// Checks that a reader's file is exactly at this build's version.
pub(crate) fn check_version(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let found = user_version(conn, path)?;
    let supported = schema_version();
    match found.cmp(&supported) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found,
            supported,
        }),
        std::cmp::Ordering::Less => Err(StoreError::OlderSchema {
            path: path.to_owned(),
            found,
            supported,
        }),
    }
}
