//! Opening the store, and the handle every task writes through.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use switchboard_acd::{CallRef, EventKind};
use tokio::sync::{mpsc, oneshot};

use crate::codec::{self, EventRow};
use crate::error::{self, StoreError};
use crate::lock;
use crate::record::{CallRow, CallStart, CallUpdate, LegRow};
use crate::recovery::{self, Startup};
use crate::schema;
use crate::thread::WriterThread;

/// How the store behaves; [`StoreOptions::default`] is what the switch uses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Writes that may wait in the queue before `send` waits too (back-pressure).
    pub queue_capacity: usize,
    /// The most writes committed in one transaction.
    pub batch_max: usize,
    /// Under load, a commit follows the previous one by at least this much, gathering the
    /// writes that arrive meanwhile (group commit): one fsync serves more calls, at the cost
    /// of this much latency. An idle store commits a write at once.
    pub commit_interval: Duration,
    /// When idle, `meta.last_alive_ms` is rewritten at least this often, so the time of a
    /// crash is known to within it.
    pub heartbeat: Duration,
    /// The longest a committed write may stay without an fsync (`synchronous=FULL` commit):
    /// the most a power loss can take back of the writes nobody waited for.
    pub sync_every: Duration,
    /// How long SQLite waits for another connection's lock before failing with "busy".
    pub busy_timeout: Duration,
    /// The longest pause between two retries of a failing batch (the first is 50 ms, then
    /// doubling).
    pub retry_max: Duration,
    /// At shutdown, how long a failing batch is still retried before its writes are given up.
    pub shutdown_grace: Duration,
    /// A cap on the database file's size; past it writes fail as with a full disk (and are
    /// retried). `None`: as large as the disk allows.
    pub max_db_bytes: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 4096,
            batch_max: 512,
            commit_interval: Duration::from_millis(5),
            heartbeat: Duration::from_secs(5),
            sync_every: Duration::from_secs(1),
            busy_timeout: Duration::from_secs(5),
            retry_max: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(10),
            max_db_bytes: None,
        }
    }
}

/// The store: [`Store::open`] it once per process, then write through the [`Writer`] it
/// returns and read with [`crate::Reader`]s.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    done: oneshot::Receiver<Result<(), StoreError>>,
}

/// What [`Store::open`] returns.
#[derive(Debug)]
pub struct Opened {
    /// Wait on it at shutdown ([`Store::closed`]).
    pub store: Store,
    /// Clone it into every task that writes.
    pub writer: Writer,
    /// What the last run left: the state to restore, and what the recovery did.
    pub startup: Startup,
}

impl Store {
    /// Opens (creating if needed) the database at `path` with the default options.
    ///
    /// # Errors
    /// See [`Store::open_with`].
    pub fn open(path: impl AsRef<Path>) -> Result<Opened, StoreError> {
        Self::open_with(path, StoreOptions::default())
    }

    /// Opens (creating if needed) the database at `path`, applies the missing migrations,
    /// closes what the last run left open (see the crate docs, "Recovery"), then starts the
    /// writer thread. Blocking: call it before serving, or from `spawn_blocking`.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the file cannot be opened or set up,
    /// [`StoreError::Locked`] when another store has it open for writing,
    /// [`StoreError::NewerSchema`] when a newer Switchboard wrote it,
    /// [`StoreError::Migration`] when a migration fails, [`StoreError::Write`] when the
    /// recovery cannot be committed.
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Opened, StoreError> {
        let path = path.as_ref().to_owned();
        let lock = lock::acquire(&path)?;
        let mut conn = schema::open_rw(&path, options.busy_timeout)?;
        let migrated_from = schema::migrate(&mut conn, &path)?;
        let (startup, next_seq) = recovery::recover(&mut conn, &path, migrated_from)?;
        // After the recovery, which must never fail for want of room.
        if let Some(bytes) = options.max_db_bytes {
            let page: i64 = conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .map_err(|e| error::sqlite(error::open, &path, &e))?;
            let pages = i64::try_from(bytes).unwrap_or(i64::MAX) / page.max(1);
            conn.pragma_update(None, "max_page_count", pages.max(1))
                .map_err(|e| error::sqlite(error::open, &path, &e))?;
        }

        let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
        let (done_tx, done) = oneshot::channel();
        let thread = WriterThread::new(conn, path.clone(), rx, options, next_seq).with_lock(lock);
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                let result = thread.run();
                let _ = done_tx.send(result);
            })
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                cause: error::SqliteCause::Other,
                message: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(Opened {
            store: Store { path, done },
            writer: Writer { tx },
            startup,
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resolves when the writer thread has stopped: after every [`Writer`] clone is dropped,
    /// everything queued is committed (`synchronous=FULL`) and the stop is marked clean, so
    /// the next start does not report a crash.
    ///
    /// # Errors
    /// [`StoreError::Lost`] when writes could not be committed before
    /// [`StoreOptions::shutdown_grace`] ran out, [`StoreError::Closed`] if the thread died.
    pub async fn closed(self) -> Result<(), StoreError> {
        self.done.await.map_err(|_| StoreError::Closed)?
    }
}

/// One write. Writes from one task are committed in the order sent; writes from different
/// tasks in the order their sends completed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Write {
    /// A call started: inserts its `calls` row (nothing happens if the id is already stored).
    CallStarted(CallStart),
    /// The call was connected to a person: sets `answered_ms` if not set yet, so a call
    /// interrupted by a crash keeps it.
    CallAnswered {
        /// The call.
        call: CallRef,
        /// When.
        at: Timestamp,
    },
    /// What a call in progress has learnt (queue, agent, recording, IVR path): merged into its
    /// row, so a crash keeps it.
    CallUpdated(CallUpdate),
    /// A call ended: its complete row (inserted if `CallStarted` never was). Legs still open
    /// are closed at the call's end. Committed with `synchronous=FULL`.
    CallEnded(Box<CallRow>),
    /// A leg started, was answered, or ended: its row, merged with what is stored.
    Leg(LegRow),
    /// A fact of the ACD at its wall-clock time (the driver converts the event's `Instant`).
    Acd(Timestamp, EventKind),
    /// Nothing; `commit(Write::Flush)` resolves once everything sent before it is durable.
    Flush,
}

/// An encoded write on its way to the thread.
#[derive(Debug)]
pub(crate) enum Op {
    CallStarted(CallStart),
    CallAnswered(CallRef, Timestamp),
    CallUpdated(CallUpdate),
    CallEnded(Box<CallRow>),
    Leg(LegRow),
    Event(EventRow),
    Flush,
}

impl Op {
    fn encode(w: Write) -> Result<Self, StoreError> {
        Ok(match w {
            Write::CallStarted(s) => Op::CallStarted(s),
            Write::CallAnswered { call, at } => Op::CallAnswered(call, at),
            Write::CallUpdated(u) => Op::CallUpdated(u),
            Write::CallEnded(row) => Op::CallEnded(row),
            Write::Leg(leg) => Op::Leg(leg),
            Write::Acd(at, kind) => Op::Event(codec::encode(at, &kind)?),
            Write::Flush => Op::Flush,
        })
    }
}

/// A write with the one waiting for it, if any.
#[derive(Debug)]
pub(crate) struct Msg {
    pub op: Op,
    pub ack: Option<oneshot::Sender<Result<(), StoreError>>>,
}

/// The handle tasks write through: a bounded queue to the writer thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
}

impl Writer {
    /// Queues `w`, waiting while the queue is full (back-pressure: a write is never dropped).
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] for an event kind this crate cannot store (nothing queued),
    /// [`StoreError::Closed`] if the writer thread is gone.
    pub async fn send(&self, w: Write) -> Result<(), StoreError> {
        let msg = Msg {
            op: Op::encode(w)?,
            ack: None,
        };
        self.tx.send(msg).await.map_err(|_| StoreError::Closed)
    }

    /// Queues `w` and resolves once it is committed with `synchronous=FULL`: readable by any
    /// new [`crate::Reader`] and kept through a crash or a power loss.
    ///
    /// # Errors
    /// As [`Writer::send`]; and [`StoreError::Write`] when the batch holding `w` failed: the
    /// write is *not* durable yet, but it is still queued and retried, and lands when the
    /// cause (full disk, lock) goes away. [`StoreError::Rejected`] when SQLite refused this
    /// very write for good.
    pub async fn commit(&self, w: Write) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        let msg = Msg {
            op: Op::encode(w)?,
            ack: Some(ack),
        };
        self.tx.send(msg).await.map_err(|_| StoreError::Closed)?;
        done.await.map_err(|_| StoreError::Closed)?
    }

    /// `commit(Write::Flush)`: resolves once everything sent before is durable.
    ///
    /// # Errors
    /// As [`Writer::commit`].
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.commit(Write::Flush).await
    }

    /// [`Writer::send`] for threads outside the async runtime (it blocks while the queue is
    /// full). Panics if called from inside an async task, as tokio's `blocking_send` does.
    ///
    /// # Errors
    /// As [`Writer::send`].
    pub fn blocking_send(&self, w: Write) -> Result<(), StoreError> {
        let msg = Msg {
            op: Op::encode(w)?,
            ack: None,
        };
        self.tx.blocking_send(msg).map_err(|_| StoreError::Closed)
    }

    /// Queues `w` if there is room now, for a caller that must not wait.
    ///
    /// # Errors
    /// [`StoreError::Full`] when the queue is full (nothing queued), otherwise as
    /// [`Writer::send`].
    pub fn try_send(&self, w: Write) -> Result<(), StoreError> {
        let msg = Msg {
            op: Op::encode(w)?,
            ack: None,
        };
        self.tx.try_send(msg).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Full,
            mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
        })
    }
}
