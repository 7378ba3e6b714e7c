//! The writer thread: the one owner of the read-write connection.
//!
//! It takes the first queued write (or wakes for the heartbeat), drains up to
//! [`StoreOptions::batch_max`] more — waiting, under load, until
//! [`StoreOptions::commit_interval`] after the previous commit (group commit) — and commits
//! them in one transaction
//! together with `meta.last_alive_ms`; then it answers the `commit` waiters. A batch that fails
//! for a reason that may pass (full disk, lock, I/O) is kept and retried with backoff, the
//! waiters told at the first failure; a write SQLite refuses for good is isolated, logged and
//! dropped so it cannot hold the others back.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::mpsc;

use crate::apply::{self, meta};
use crate::codec;
use crate::error::{self, SqliteCause, StoreError};
use crate::writer::{Msg, Op, StoreOptions};

/// The first pause after a failed batch; it doubles up to [`StoreOptions::retry_max`].
const FIRST_RETRY: Duration = Duration::from_millis(50);
/// While a batch keeps failing, the error is logged again this often (not at every retry).
const RELOG_EVERY: Duration = Duration::from_secs(30);

/// The thread's state.
pub(crate) struct WriterThread {
    conn: Connection,
    path: PathBuf,
    rx: mpsc::Receiver<Msg>,
    options: StoreOptions,
    /// The next `seq` of `queue_events`/`agent_events` (one sequence for both, so the two logs
    /// merge back in the order written).
    next_seq: i64,
    /// Whether the connection is at `synchronous=FULL` now.
    full_sync: bool,
    /// Since when commits have been made without an fsync; `None` when all are synced.
    unsynced_since: Option<Instant>,
    /// When the last batch was committed (group commit: see `StoreOptions::commit_interval`).
    last_commit: Option<Instant>,
    /// The store's lock file, held until the thread ends (see [`crate::lock`]).
    _lock: Option<std::fs::File>,
}

/// How a batch ended.
enum Outcome {
    Committed,
    /// Shutdown and the grace ran out: the writes left in the batch are lost.
    GaveUp,
}

impl WriterThread {
    pub(crate) fn new(
        conn: Connection,
        path: PathBuf,
        rx: mpsc::Receiver<Msg>,
        options: StoreOptions,
        next_seq: i64,
    ) -> Self {
        Self {
            conn,
            path,
            rx,
            options,
            next_seq,
            full_sync: false,
            unsynced_since: None,
            last_commit: None,
            _lock: None,
        }
    }

    /// Keeps the store's lock for the thread's life.
    pub(crate) fn with_lock(mut self, lock: std::fs::File) -> Self {
        self._lock = Some(lock);
        self
    }

    /// Runs until every sender is dropped and the queue is committed.
    pub(crate) fn run(mut self) -> Result<(), StoreError> {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(path = %self.path.display(), cause = %e,
                    "the store's writer thread cannot start its timer; nothing will be written");
                return Err(StoreError::Closed);
            }
        };
        let mut batch: Vec<Msg> = Vec::with_capacity(self.options.batch_max);
        loop {
            let wait = self.idle_wait();
            let rx = &mut self.rx;
            // The timer must be created inside the runtime, hence the async block.
            match rt.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
                Ok(Some(msg)) => batch.push(msg),
                Ok(None) => break,
                Err(_) => {} // idle: a heartbeat (and an fsync if one is due)
            }
            self.gather(&rt, &mut batch);
            if let Outcome::GaveUp = self.commit_batch(&mut batch) {
                return self.give_up(batch);
            }
            self.last_commit = Some(Instant::now());
        }
        self.stop()
    }

    /// Adds what is queued to `batch`, up to `batch_max`; under load (the last commit less
    /// than `commit_interval` ago) it also waits for what arrives until then, so one commit
    /// and its fsync serve many writes. An idle store does not wait.
    fn gather(&mut self, rt: &tokio::runtime::Runtime, batch: &mut Vec<Msg>) {
        let max = self.options.batch_max.max(1);
        let until = self
            .last_commit
            .map(|t| t + self.options.commit_interval)
            .filter(|&u| u > Instant::now() && !batch.is_empty());
        loop {
            while batch.len() < max {
                match self.rx.try_recv() {
                    Ok(msg) => batch.push(msg),
                    Err(_) => break,
                }
            }
            let Some(until) = until else { return };
            let left = until.saturating_duration_since(Instant::now());
            if batch.len() >= max || left.is_zero() {
                return;
            }
            let rx = &mut self.rx;
            match rt.block_on(async { tokio::time::timeout(left, rx.recv()).await }) {
                Ok(Some(msg)) => batch.push(msg),
                // Closed (shutdown) or the interval is over: commit what there is.
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// How long to wait for a write before the next heartbeat or the sync that is due.
    fn idle_wait(&self) -> Duration {
        match self.unsynced_since {
            Some(t) => self
                .options
                .heartbeat
                .min(self.options.sync_every.saturating_sub(t.elapsed())),
            None => self.options.heartbeat,
        }
    }

    /// Whether this batch is committed with `synchronous=FULL`.
    fn needs_sync(&self, batch: &[Msg]) -> bool {
        let due = self
            .unsynced_since
            .is_some_and(|t| t.elapsed() >= self.options.sync_every);
        due || batch.is_empty() && self.unsynced_since.is_some()
            || batch
                .iter()
                .any(|m| m.ack.is_some() || matches!(m.op, Op::CallEnded(_) | Op::Flush))
    }

    /// Commits `batch`, retrying while the failure may pass. Empties `batch` unless it gives up.
    fn commit_batch(&mut self, batch: &mut Vec<Msg>) -> Outcome {
        let mut backoff = FIRST_RETRY;
        let mut failing_since: Option<Instant> = None;
        let mut logged_at: Option<Instant> = None;
        loop {
            match self.try_commit(batch) {
                Ok(()) => {
                    for m in batch.drain(..) {
                        if let Some(ack) = m.ack {
                            let _ = ack.send(Ok(()));
                        }
                    }
                    if let Some(since) = failing_since {
                        tracing::info!(path = %self.path.display(),
                            failed_for_ms = since.elapsed().as_millis(),
                            "store writes succeed again");
                    }
                    return Outcome::Committed;
                }
                Err(e) if !SqliteCause::of(&e).is_transient() => {
                    self.isolate(batch);
                    if batch.is_empty() {
                        return Outcome::Committed;
                    }
                }
                Err(e) => {
                    let err = error::sqlite(error::write, &self.path, &e);
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if logged_at.is_none_or(|t| t.elapsed() >= RELOG_EVERY) {
                        logged_at = Some(Instant::now());
                        tracing::error!(path = %self.path.display(), cause = %e,
                            kind = SqliteCause::of(&e).as_str(),
                            advice = SqliteCause::of(&e).advice(),
                            waiting = batch.len() + self.rx.len(),
                            "cannot commit to the store; the writes are kept and retried");
                    }
                    for m in batch.iter_mut() {
                        if let Some(ack) = m.ack.take() {
                            let _ = ack.send(Err(err.clone()));
                        }
                    }
                    if self.rx.is_closed() && since.elapsed() >= self.options.shutdown_grace {
                        return Outcome::GaveUp;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(self.options.retry_max.max(FIRST_RETRY));
                }
            }
        }
    }

    /// One transaction: every write of `batch`, then the heartbeat.
    fn try_commit(&mut self, batch: &[Msg]) -> rusqlite::Result<()> {
        let sync = self.needs_sync(batch);
        if sync != self.full_sync {
            let mode = if sync { "FULL" } else { "NORMAL" };
            self.conn.pragma_update(None, "synchronous", mode)?;
            self.full_sync = sync;
        }
        let mut seq = self.next_seq;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for m in batch {
            apply::apply(&tx, &m.op, &mut seq)?;
        }
        apply::set_meta(&tx, meta::LAST_ALIVE, codec::ms(Timestamp::now()))?;
        tx.commit()?;
        self.next_seq = seq;
        if sync {
            self.unsynced_since = None;
        } else if self.unsynced_since.is_none() {
            self.unsynced_since = Some(Instant::now());
        }
        Ok(())
    }

    /// After a permanent failure: commits the writes one by one, dropping those SQLite
    /// refuses. Stops at a failure that may pass, leaving it and the rest in `batch`.
    fn isolate(&mut self, batch: &mut Vec<Msg>) {
        let mut rest = std::mem::take(batch).into_iter();
        while let Some(mut m) = rest.next() {
            match self.try_commit(std::slice::from_ref(&m)) {
                Ok(()) => {
                    if let Some(ack) = m.ack.take() {
                        let _ = ack.send(Ok(()));
                    }
                }
                Err(e) if !SqliteCause::of(&e).is_transient() => {
                    tracing::error!(path = %self.path.display(), cause = %e,
                        write = describe(&m.op),
                        "the store refused a write; it is dropped (a bug: please report it)");
                    if let Some(ack) = m.ack.take() {
                        let _ = ack.send(Err(error::sqlite(error::rejected, &self.path, &e)));
                    }
                }
                Err(_) => {
                    batch.push(m);
                    batch.extend(rest);
                    return;
                }
            }
        }
    }

    /// Every sender is gone and the queue is committed: mark the stop clean, fsynced.
    fn stop(mut self) -> Result<(), StoreError> {
        let clean = (|| -> rusqlite::Result<()> {
            self.conn.pragma_update(None, "synchronous", "FULL")?;
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            apply::set_meta(&tx, meta::LAST_ALIVE, codec::ms(Timestamp::now()))?;
            apply::set_meta(&tx, meta::CLEAN_STOP, 1)?;
            tx.commit()
        })();
        if let Err(e) = clean {
            // The writes are all in; the next start will only report a crash it can't tell
            // from this stop.
            tracing::warn!(path = %self.path.display(), cause = %e,
                "cannot mark the store's stop as clean");
        }
        if let Err((_, e)) = self.conn.close() {
            tracing::warn!(path = %self.path.display(), cause = %e, "closing the store failed");
        }
        tracing::info!(path = %self.path.display(), "store closed");
        Ok(())
    }

    /// Shutdown while the disk fails: what is left is lost; say how much.
    fn give_up(mut self, batch: Vec<Msg>) -> Result<(), StoreError> {
        let mut lost = batch.len();
        let mut rest = Vec::new();
        while let Ok(m) = self.rx.try_recv() {
            rest.push(m);
        }
        lost += rest.len();
        tracing::error!(path = %self.path.display(), lost,
            "the store stopped with writes it could not commit; they are lost");
        for m in batch.into_iter().chain(rest) {
            if let Some(ack) = m.ack {
                let _ = ack.send(Err(StoreError::Lost {
                    path: self.path.clone(),
                    lost,
                }));
            }
        }
        Err(StoreError::Lost {
            path: self.path,
            lost,
        })
    }
}

/// A write named for a log line, without personal data (no numbers).
fn describe(op: &Op) -> String {
    match op {
        Op::CallStarted(s) => format!("CallStarted {}", s.id),
        Op::CallAnswered(call, _) => format!("CallAnswered {call}"),
        Op::CallUpdated(u) => format!("CallUpdated {}", u.id),
        Op::CallEnded(r) => format!("CallEnded {}", r.id),
        Op::Leg(l) => format!("Leg {} #{}", l.call, l.index),
        Op::Event(codec::EventRow::Queue(q)) => {
            format!("queue event {} of call {}", q.kind, q.call)
        }
        Op::Event(codec::EventRow::Agent(a)) => format!("agent event {} of {}", a.state, a.agent),
        Op::Flush => "Flush".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{CallRow, Disposition, HangupSide};
    use crate::schema;
    use switchboard_acd::{CallRef, EventKind, QueueId};
    use tokio::sync::oneshot;

    fn thread() -> (WriterThread, mpsc::Sender<Msg>) {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        let (tx, rx) = mpsc::channel(4);
        let t = WriterThread::new(conn, ":memory:".into(), rx, StoreOptions::default(), 1);
        (t, tx)
    }

    fn msg(op: Op) -> Msg {
        Msg { op, ack: None }
    }

    fn event() -> Op {
        let kind = EventKind::Interrupted {
            call: CallRef(1),
            queue: QueueId::new("q"),
        };
        Op::Event(codec::encode(Timestamp::UNIX_EPOCH, &kind).unwrap())
    }

    fn call_ended() -> Op {
        let start = crate::record::CallStart {
            id: CallRef(1),
            call_id: "x".into(),
            started: Timestamp::UNIX_EPOCH,
            direction: crate::record::Direction::Inbound,
            trunk: None,
            caller: None,
            dialled: None,
        };
        let row = CallRow::ended(
            start,
            Timestamp::UNIX_EPOCH,
            Disposition::Completed,
            HangupSide::Caller,
        );
        Op::CallEnded(Box::new(row))
    }

    #[test]
    fn finished_calls_and_waited_writes_are_fsynced_the_rest_within_sync_every() {
        let (mut t, _tx) = thread();
        assert!(
            !t.needs_sync(&[]),
            "an idle heartbeat with nothing unsynced"
        );
        assert!(!t.needs_sync(&[msg(event())]));
        assert!(t.needs_sync(&[msg(event()), msg(call_ended())]));
        assert!(t.needs_sync(&[msg(Op::Flush)]));
        let (ack, _done) = oneshot::channel();
        assert!(t.needs_sync(&[Msg {
            op: event(),
            ack: Some(ack)
        }]));

        // A NORMAL commit leaves something unsynced: the next wait is bounded by sync_every,
        // and the heartbeat that ends it syncs.
        t.try_commit(&[msg(event())]).unwrap();
        assert!(!t.full_sync);
        assert!(t.unsynced_since.is_some());
        assert!(t.idle_wait() <= t.options.sync_every);
        assert!(t.needs_sync(&[]));
        t.try_commit(&[]).unwrap();
        assert!(t.full_sync);
        assert_eq!(t.unsynced_since, None);
        assert_eq!(t.idle_wait(), t.options.heartbeat);
        assert_eq!(t.next_seq, 2, "one event written");
    }

    #[test]
    fn a_failed_batch_gives_back_its_sequence_numbers() {
        let (mut t, _tx) = thread();
        t.conn.execute_batch("DROP TABLE open_visits").unwrap(); // `joined` now fails
        let kind = EventKind::Joined {
            call: CallRef(1),
            queue: QueueId::new("q"),
            priority: 0,
        };
        let joined = Op::Event(codec::encode(Timestamp::UNIX_EPOCH, &kind).unwrap());
        assert!(t.try_commit(&[msg(event()), msg(joined)]).is_err());
        assert_eq!(t.next_seq, 1);
        let n: i64 = t
            .conn
            .query_row("SELECT count(*) FROM queue_events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "rolled back whole");
    }

    #[test]
    fn a_write_sqlite_refuses_for_good_is_dropped_alone() {
        let (mut t, _tx) = thread();
        // RAISE(ABORT) is an SQLITE_CONSTRAINT failure, like a real constraint violation.
        t.conn
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON calls WHEN NEW.id = 2
                 BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .unwrap();
        let started = |id| {
            let (ack, done) = oneshot::channel();
            let op = Op::CallStarted(crate::record::CallStart {
                id: CallRef(id),
                call_id: format!("{id}"),
                started: Timestamp::UNIX_EPOCH,
                direction: crate::record::Direction::Inbound,
                trunk: None,
                caller: None,
                dialled: None,
            });
            (Msg { op, ack: Some(ack) }, done)
        };
        let (m1, d1) = started(1);
        let (m2, d2) = started(2);
        let (m3, d3) = started(3);
        let mut batch = vec![m1, m2, m3];
        assert!(matches!(t.commit_batch(&mut batch), Outcome::Committed));
        assert!(batch.is_empty());
        assert_eq!(d1.blocking_recv().unwrap(), Ok(()));
        assert!(matches!(
            d2.blocking_recv().unwrap(),
            Err(StoreError::Rejected {
                cause: SqliteCause::Refused,
                ..
            })
        ));
        assert_eq!(d3.blocking_recv().unwrap(), Ok(()));
        let ids: Vec<i64> = t
            .conn
            .prepare("SELECT id FROM calls ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ids, [1, 3]);
    }
}
