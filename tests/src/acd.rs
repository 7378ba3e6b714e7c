//! What the ACD tests read back from a running switch: its agents and queues as
//! `switchboard agents --json` / `switchboard queues --json` print them (the fields are
//! `crates/switchboard/src/acd/view.rs`'s), and a call's row of the `cdr` view of its store
//! (`docs/cdr.md`), read the way a report would: read-only, beside the running switch.
//!
//! Both are polled with a deadline by the `wait_for_*` functions: the switch tells nobody when
//! an agent's wrap-up ends or a call's row is committed, so a test asks until the answer is the
//! one it waits for, or gives up with the last answer it got.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use serde_json::Value;

use crate::{Switchboard, binary};

/// How often the `wait_for_*` functions ask again.
const POLL: Duration = Duration::from_millis(100);

/// What `switchboard agents --json` prints: `{ at, agents: [...], queues: [...] }` (the CLI's
/// `queues --json` prints the same view).
///
/// # Errors
/// What the command printed when it failed (the server not running, its socket missing), or
/// why its output is not JSON.
///
/// # Panics
/// When the binary cannot be run.
pub fn acd_view(sb: &Switchboard) -> Result<Value, String> {
    acd_command(sb, "agents")
}

/// What `switchboard queues --json` prints (see [`acd_view`]).
///
/// # Errors
/// As [`acd_view`].
///
/// # Panics
/// When the binary cannot be run.
pub fn queues_view(sb: &Switchboard) -> Result<Value, String> {
    acd_command(sb, "queues")
}

/// `switchboard COMMAND --json --config FILE`, run in the switch's directory (a relative
/// `[control] socket` is relative to where the server runs).
fn acd_command(sb: &Switchboard, command: &str) -> Result<Value, String> {
    let out = Command::new(binary())
        .args([command, "--json", "--config"])
        .arg(sb.config_path())
        .current_dir(sb.dir.path())
        .output()
        .expect("switchboard agents/queues runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "switchboard {command} --json failed ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_str(&stdout).map_err(|e| format!("not JSON ({e}): {stdout}"))
}

/// The row of agent `id` in a view (`{"agent": "1003", "state": "ready", ...}`).
#[must_use]
pub fn agent<'a>(view: &'a Value, id: &str) -> Option<&'a Value> {
    row(view, "agents", "agent", id)
}

/// The row of queue `name` in a view (`{"queue": "support-en", "offered_today": 1, ...}`).
#[must_use]
pub fn queue<'a>(view: &'a Value, name: &str) -> Option<&'a Value> {
    row(view, "queues", "queue", name)
}

fn row<'a>(view: &'a Value, list: &str, key: &str, id: &str) -> Option<&'a Value> {
    view.get(list)?
        .as_array()?
        .iter()
        .find(|r| r.get(key).and_then(Value::as_str) == Some(id))
}

/// An agent's state and pause reason in a view: `("paused", Some("lunch"))`.
#[must_use]
pub fn agent_state(view: &Value, id: &str) -> Option<(String, Option<String>)> {
    let row = agent(view, id)?;
    let state = row.get("state")?.as_str()?.to_owned();
    let reason = row.get("reason").and_then(Value::as_str).map(str::to_owned);
    Some((state, reason))
}

/// A counter of queue `name` in a view (`offered_today`…), 0 when absent.
#[must_use]
pub fn queue_count(view: &Value, name: &str, field: &str) -> u64 {
    queue(view, name)
        .and_then(|q| q.get(field))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// Asks `switchboard agents --json` until `done` holds for the view, at most `timeout`.
///
/// # Errors
/// The last view (or the last failure) when `done` never held.
pub fn wait_for_view(
    sb: &Switchboard,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Result<Value, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = acd_view(sb);
        if let Ok(view) = &last
            && done(view)
        {
            return last;
        }
        if Instant::now() >= deadline {
            return Err(match last {
                Ok(view) => format!("after {timeout:?}, the view is still:\n{view:#}"),
                Err(e) => e,
            });
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until agent `id` is in `state` (and, when given, paused for `reason`), at most
/// `timeout`; the view then.
///
/// # Errors
/// The last view when it never was.
pub fn wait_for_agent(
    sb: &Switchboard,
    id: &str,
    state: &str,
    reason: Option<&str>,
    timeout: Duration,
) -> Result<Value, String> {
    wait_for_view(sb, timeout, |view| {
        agent_state(view, id).is_some_and(|(s, r)| {
            s == state && reason.is_none_or(|want| r.as_deref() == Some(want))
        })
    })
    .map_err(|e| format!("agent {id} never became {state} {reason:?}: {e}"))
}

/// One row of the `cdr` view, every column (their meanings are in `docs/cdr.md`); a NULL is
/// `None`, as it is for every column that does not apply yet while the call is in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct CdrRow {
    /// The switch's number for the call.
    pub id: i64,
    /// The SIP Call-ID of the leg that started the call.
    pub call_id: Option<String>,
    /// When the first INVITE arrived (UTC, `2026-03-02T09:00:00.123Z`).
    pub started_at: Option<String>,
    /// When a person (agent, extension) first answered.
    pub answered_at: Option<String>,
    /// When the last leg ended (for `interrupted`: the switch's last sign of life).
    pub ended_at: Option<String>,
    /// `inbound`, `outbound`, `internal`.
    pub direction: Option<String>,
    /// The trunk's name.
    pub trunk: Option<String>,
    /// The calling number or extension.
    pub caller: Option<String>,
    /// The number dialled.
    pub dialled: Option<String>,
    /// Steps and menu keys (`welcome > language[2] > …`).
    pub ivr_path: Option<String>,
    /// The prompt language when the call ended.
    pub language: Option<String>,
    /// The last queue the call waited in.
    pub queue: Option<String>,
    /// Seconds in that queue.
    pub wait_s: Option<f64>,
    /// The agent who took the call.
    pub agent: Option<String>,
    /// Seconds connected to the person who answered.
    pub talk_s: Option<f64>,
    /// The agent's after-call work, seconds (filled when it ends).
    pub wrapup_s: Option<f64>,
    /// `answered`, `abandoned`, `overflow`, `interrupted`…
    pub disposition: Option<String>,
    /// `caller`, `callee`, `switch`.
    pub hangup_side: Option<String>,
    /// Why, as the switch names it.
    pub hangup_cause: Option<String>,
    /// The recording's path.
    pub recording: Option<String>,
}

impl CdrRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<CdrRow> {
        Ok(CdrRow {
            id: row.get("id")?,
            call_id: row.get("call_id")?,
            started_at: row.get("started_at")?,
            answered_at: row.get("answered_at")?,
            ended_at: row.get("ended_at")?,
            direction: row.get("direction")?,
            trunk: row.get("trunk")?,
            caller: row.get("caller")?,
            dialled: row.get("dialled")?,
            ivr_path: row.get("ivr_path")?,
            language: row.get("language")?,
            queue: row.get("queue")?,
            wait_s: row.get("wait_s")?,
            agent: row.get("agent")?,
            talk_s: row.get("talk_s")?,
            wrapup_s: row.get("wrapup_s")?,
            disposition: row.get("disposition")?,
            hangup_side: row.get("hangup_side")?,
            hangup_cause: row.get("hangup_cause")?,
            recording: row.get("recording")?,
        })
    }
}

/// The `cdr` row of the call whose first leg had SIP Call-ID `call_id`, from the store at
/// `db`, opened read-only (the switch may be running: SQLite's WAL lets readers in).
///
/// # Errors
/// Why the file or the view could not be read.
pub fn cdr_row(db: &Path, call_id: &str) -> Result<Option<CdrRow>, String> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("open {}: {e}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    conn.query_row(
        "SELECT * FROM cdr WHERE call_id = ?1 ORDER BY id DESC LIMIT 1",
        [call_id],
        CdrRow::from_row,
    )
    .optional()
    .map_err(|e| format!("read the cdr view of {}: {e}", db.display()))
}

/// One row of the `legs` table: `(role, party, ended, end_cause)`.
pub type LegRow = (String, String, bool, Option<String>);

/// The legs of the call whose first leg had SIP Call-ID `call_id`, in order, from the `legs`
/// table (`docs/cdr.md`).
///
/// # Errors
/// Why the file or the table could not be read.
pub fn legs(db: &Path, call_id: &str) -> Result<Vec<LegRow>, String> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("open {}: {e}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    let mut stmt = conn
        .prepare(
            "SELECT role, party, ended_ms IS NOT NULL, end_cause FROM legs
             WHERE call = (SELECT max(id) FROM calls WHERE call_id = ?1) ORDER BY leg",
        )
        .map_err(|e| e.to_string())?;
    stmt.query_map([call_id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .and_then(Iterator::collect)
    .map_err(|e| format!("read the legs of {}: {e}", db.display()))
}

/// Reads the `cdr` row of `call_id` from `sb`'s store until `done` holds for it, at most
/// `timeout` (a call's row is completed when the call ends, its `wrapup_s` when the agent's
/// wrap-up ends).
///
/// # Errors
/// The last row read (or why none could be) when `done` never held.
pub fn wait_for_cdr(
    sb: &Switchboard,
    call_id: &str,
    timeout: Duration,
    done: impl Fn(&CdrRow) -> bool,
) -> Result<CdrRow, String> {
    let db = sb.store_path();
    let deadline = Instant::now() + timeout;
    loop {
        let last = cdr_row(&db, call_id);
        if let Ok(Some(row)) = &last
            && done(row)
        {
            return Ok(row.clone());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "after {timeout:?}, the cdr row of {call_id} is still {last:#?}"
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// The interval in seconds from one `cdr` time (`2026-03-02T09:00:00.123Z`) to another:
/// the view's times are UTC with milliseconds, so within a day their clock parts subtract.
///
/// # Panics
/// When either is not a time of that form, or they are on different days.
#[must_use]
pub fn seconds_between(from: &str, to: &str) -> f64 {
    let parse = |t: &str| -> (String, f64) {
        let (date, time) = t
            .trim_end_matches('Z')
            .split_once('T')
            .unwrap_or_else(|| panic!("not a cdr time: {t}"));
        let mut parts = time.split(':').map(|p| {
            p.parse::<f64>()
                .unwrap_or_else(|_| panic!("not a cdr time: {t}"))
        });
        let (h, m, s) = (
            parts.next().unwrap_or(0.0),
            parts.next().unwrap_or(0.0),
            parts.next().unwrap_or(0.0),
        );
        (date.to_owned(), h * 3600.0 + m * 60.0 + s)
    };
    let (d1, s1) = parse(from);
    let (d2, s2) = parse(to);
    assert_eq!(d1, d2, "{from} and {to} are on different days");
    s2 - s1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdr_times_subtract() {
        let d = seconds_between("2026-03-02T09:00:00.123Z", "2026-03-02T09:01:02.623Z");
        assert!((d - 62.5).abs() < 1e-9, "{d}");
    }

    #[test]
    fn rows_of_a_view_are_found_by_name() {
        let view: Value = serde_json::from_str(
            r#"{"at":"x","agents":[{"agent":"1003","state":"paused","reason":"lunch"},
               {"agent":"1004","state":"ready","reason":null}],
               "queues":[{"queue":"support-en","offered_today":2}]}"#,
        )
        .unwrap();
        assert_eq!(
            agent_state(&view, "1003"),
            Some(("paused".into(), Some("lunch".into())))
        );
        assert_eq!(agent_state(&view, "1004"), Some(("ready".into(), None)));
        assert_eq!(agent_state(&view, "1005"), None);
        assert_eq!(queue_count(&view, "support-en", "offered_today"), 2);
        assert_eq!(queue_count(&view, "support-en", "answered_today"), 0);
    }
}
