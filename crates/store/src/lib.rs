//! Switchboard's records in SQLite: one row per call (the CDR), its SIP legs, and the ACD's
//! event log (every queue fact and agent state change), from which statistics are rebuilt.
//!
//! A crate of its own so that it compiles and tests alone, and so that readers — the CLI,
//! tests, later the admin API — use it without the server. The public, stable interface for
//! people and reports is the `cdr` view, documented with every table in `docs/cdr.md`.
//!
//! # Design
//! * **One writer.** [`Store::open`] runs the migrations and the recovery on the calling
//!   thread, then hands the read-write connection to one writer thread, fed by a bounded
//!   queue. Call tasks and the ACD write through cheap [`Writer`] clones; the thread commits
//!   up to [`StoreOptions::batch_max`] writes per transaction and, under load, commits at
//!   most every [`StoreOptions::commit_interval`] (5 ms, group commit), so one commit (and one
//!   fsync) serves many calls. A full queue makes [`Writer::send`] wait: writes are never
//!   dropped to make room.
//! * **One writer per file.** The writer holds an exclusive lock on `<path>-lock` for its
//!   life, so a second switch on the same file is refused ([`StoreError::Locked`]) instead of
//!   taking the first one's live calls for a crash's leftovers.
//! * **Many readers.** A [`Reader`] is its own read-only connection. The file is in WAL mode,
//!   so readers and the writer never block each other.
//! * **Versioned schema.** `PRAGMA user_version` counts the migration scripts applied; each
//!   runs in its own transaction. A file from a newer build is refused
//!   ([`StoreError::NewerSchema`]) and left untouched.
//! * **Heartbeat.** Every commit, and an idle commit at least every
//!   [`StoreOptions::heartbeat`] (5 s), records `meta.last_alive_ms`, so the time of a crash
//!   is known to within seconds.
//!
//! # What is guaranteed
//! * [`Writer::commit`] resolves `Ok` only once its write — and everything sent before it
//!   through the same queue — is committed with `synchronous=FULL`: a new [`Reader`] sees it,
//!   and it survives a crash of the process, of the OS, or a power loss.
//! * A finished call's record ([`Write::CallEnded`]) is committed with `synchronous=FULL`
//!   too, whether anyone waits for it or not.
//! * Everything else is committed with `synchronous=NORMAL` (in WAL mode: durable against a
//!   crash of the process, not yet fsynced), and an fsync follows within
//!   [`StoreOptions::sync_every`] (1 s). So a `kill -9` loses only what was still queued
//!   (not yet committed); a power loss loses at most that plus about one second of
//!   unfinished calls' facts — never a finished call's row or an acknowledged commit.
//!   `docs/cdr.md` has the measurements behind this choice.
//! * A write that fails for a reason that may pass (full disk, read-only file, lock, I/O
//!   error) is kept and retried with backoff (50 ms doubling to 5 s); the error is logged
//!   with the path and what to do, and returned to `commit` waiters at the first failure
//!   ([`StoreError::Write`]: not durable *yet*). Meanwhile the queue fills and senders wait.
//!   Only at shutdown, after [`StoreOptions::shutdown_grace`], are such writes given up
//!   ([`StoreError::Lost`], with their count). A write SQLite refuses for good (a bug) is
//!   logged and dropped alone ([`StoreError::Rejected`]).
//!
//! # Recovery
//! At open, if the last run left calls open (a crash, or a stop without ending them): every
//! call without an end becomes `interrupted` at the last sign of life; every queue visit
//! without an outcome gets an ACD `Interrupted` event; every agent still logged in gets an
//! `AgentState LoggedOut` event (the downtime counts as logged out) while its stored state
//! is kept so [`Startup::agents`] can restore it. [`Startup::next_call_id`] keeps call
//! handles unique across restarts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), switchboard_store::StoreError> {
//! use switchboard_store::{CallStart, Direction, Opened, Reader, Store, Write};
//! use switchboard_acd::CallRef;
//!
//! let Opened { store, writer, startup } = Store::open("switchboard.db")?;
//! let id = CallRef(startup.next_call_id);
//! writer.send(Write::CallStarted(CallStart {
//!     id,
//!     call_id: "a84b4c76e66710@pc33".into(),
//!     started: jiff::Timestamp::now(),
//!     direction: Direction::Inbound,
//!     trunk: Some("carrier".into()),
//!     caller: Some("+33612345678".into()),
//!     dialled: Some("+33180000000".into()),
//! })).await?;
//! writer.flush().await?;                                  // durable now
//! assert!(Reader::open("switchboard.db")?.call(id)?.is_some());
//! drop(writer);                                           // every clone, at shutdown
//! store.closed().await?;                                  // queue committed, stop marked clean
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod apply;
mod codec;
mod error;
mod lock;
mod reader;
mod record;
mod recovery;
mod schema;
mod thread;
mod writer;

pub use error::{SqliteCause, StoreError};
pub use reader::Reader;
pub use record::{
    AgentStateRow, CallRow, CallStart, CallUpdate, CdrFilter, CdrRow, Direction, Disposition,
    HangupSide, LegRole, LegRow,
};
pub use recovery::Startup;
pub use schema::schema_version;
pub use writer::{Opened, Store, StoreOptions, Write, Writer};
