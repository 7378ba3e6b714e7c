//! The writer thread: what `commit` promises, concurrency, the heartbeat, and failures that
//! are reported (never panicked) and retried until they pass.

mod common;

use std::time::Duration;

use common::{TempDir, at, ended, q, start};
use rusqlite::Connection;
use switchboard_acd::{CallRef, EventKind};
use switchboard_store::{
    CdrFilter, Disposition, Opened, Reader, SqliteCause, Store, StoreError, StoreOptions, Write,
};

fn count(path: &std::path::Path, sql: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn commit_resolves_only_once_a_fresh_reader_sees_the_row() {
    let dir = TempDir::new("commit-visible");
    let Opened { store, writer, .. } = Store::open(dir.db()).unwrap();
    for id in 1..=50 {
        writer
            .commit(Write::CallStarted(start(id, 0)))
            .await
            .unwrap();
        let reader = Reader::open(dir.db()).unwrap();
        assert!(reader.call(CallRef(id)).unwrap().is_some(), "call {id}");
    }
    // `flush` covers everything sent before it, committed or not.
    for id in 51..=60 {
        writer.send(Write::CallStarted(start(id, 0))).await.unwrap();
    }
    writer.flush().await.unwrap();
    assert_eq!(
        Reader::open(dir.db())
            .unwrap()
            .cdr(&CdrFilter::default())
            .unwrap()
            .len(),
        60
    );
    drop(writer);
    store.closed().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_writers_lose_nothing() {
    const TASKS: u64 = 32;
    const CALLS: u64 = 100;
    let dir = TempDir::new("concurrent");
    let mut options = StoreOptions::default();
    options.queue_capacity = 16; // small, so senders do wait on a full queue
    let Opened { store, writer, .. } = Store::open_with(dir.db(), options).unwrap();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..CALLS {
                let id = task * CALLS + n + 1;
                writer.send(Write::CallStarted(start(id, 0))).await.unwrap();
                let joined = EventKind::Joined {
                    call: CallRef(id),
                    queue: q("q"),
                    priority: 0,
                };
                writer.send(Write::Acd(at(1), joined)).await.unwrap();
                let row = Box::new(ended(id, 0, 5, Disposition::Abandoned));
                if n % 10 == 0 {
                    writer.commit(Write::CallEnded(row)).await.unwrap();
                } else {
                    writer.send(Write::CallEnded(row)).await.unwrap();
                }
            }
        }));
    }
    // And one thread outside the runtime.
    let blocking = writer.clone();
    let thread = std::thread::spawn(move || {
        for id in 10_001..=10_100 {
            blocking
                .blocking_send(Write::CallStarted(start(id, 0)))
                .unwrap();
        }
    });
    for t in tasks {
        t.await.unwrap();
    }
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
    drop(writer);
    store.closed().await.unwrap();

    let total = i64::try_from(TASKS * CALLS).unwrap();
    let db = dir.db();
    assert_eq!(count(&db, "SELECT count(*) FROM calls"), total + 100);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM calls WHERE disposition = 'abandoned'"
        ),
        total
    );
    assert_eq!(count(&db, "SELECT count(*) FROM queue_events"), total);
    // One sequence, no gap: the log's order is the order of the commits.
    assert_eq!(
        count(&db, "SELECT max(seq) - min(seq) + 1 FROM queue_events"),
        total
    );
    // Every task's writes in the order it sent them: its Joined before its ended call.
    assert_eq!(
        count(&db, "SELECT count(*) FROM open_visits"),
        total,
        "no outcome was sent"
    );
}

#[tokio::test]
async fn the_heartbeat_moves_while_idle() {
    let dir = TempDir::new("heartbeat");
    let mut options = StoreOptions::default();
    options.heartbeat = Duration::from_millis(20);
    let Opened { writer, .. } = Store::open_with(dir.db(), options).unwrap();
    let reader = Reader::open(dir.db()).unwrap();
    let first = reader.last_alive().unwrap().unwrap();
    // Wait for the event (the heartbeat's commit), with a deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = reader.last_alive().unwrap().unwrap();
        if now > first {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no heartbeat in 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(writer);
}

/// Another process holds the write lock: commits fail with `busy` (reported to the waiter),
/// the writes stay queued, the queue fills, and everything lands once the lock is gone.
#[tokio::test]
async fn a_locked_database_is_reported_and_the_writes_land_later() {
    let dir = TempDir::new("busy");
    let mut options = StoreOptions::default();
    options.busy_timeout = Duration::from_millis(20);
    options.retry_max = Duration::from_millis(50);
    options.queue_capacity = 2;
    let Opened { store, writer, .. } = Store::open_with(dir.db(), options).unwrap();

    let locker = Connection::open(dir.db()).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = writer
        .commit(Write::CallStarted(start(1, 0)))
        .await
        .unwrap_err();
    match &err {
        StoreError::Write {
            cause: SqliteCause::Busy,
            path,
            ..
        } => assert_eq!(path, &dir.db()),
        other => panic!("expected a busy write error, got {other:?}"),
    }
    assert!(err.to_string().contains("kept and retried"), "{err}");
    // The thread is retrying call 1; the queue takes two more, then is full.
    writer.try_send(Write::CallStarted(start(2, 0))).unwrap();
    writer.try_send(Write::CallStarted(start(3, 0))).unwrap();
    assert_eq!(
        writer.try_send(Write::CallStarted(start(4, 0))),
        Err(StoreError::Full)
    );

    locker.execute_batch("ROLLBACK").unwrap();
    writer.flush().await.unwrap();
    let ids: Vec<u64> = Reader::open(dir.db())
        .unwrap()
        .cdr(&CdrFilter::default())
        .unwrap()
        .iter()
        .map(|c| c.id.0)
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    drop(writer);
    store.closed().await.unwrap();
}

/// A full disk (here: the database's size cap) is reported with its cause; at shutdown the
/// writes that never fit are counted as lost, and nothing panics.
#[tokio::test]
async fn a_full_disk_is_reported_and_counted_at_shutdown() {
    let dir = TempDir::new("full");
    let mut options = StoreOptions::default();
    options.max_db_bytes = Some(1); // no room past what the file holds now
    options.retry_max = Duration::from_millis(20);
    options.shutdown_grace = Duration::from_millis(100);
    let Opened { store, writer, .. } = Store::open_with(dir.db(), options).unwrap();

    let mut big = ended(1, 0, 1, Disposition::Completed);
    big.ivr_path = Some("x".repeat(256 * 1024));
    let err = writer
        .commit(Write::CallEnded(Box::new(big)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Write {
                cause: SqliteCause::DiskFull,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("free space"), "{err}");
    writer.send(Write::CallStarted(start(2, 0))).await.unwrap();
    drop(writer);
    let closed = store.closed().await.unwrap_err();
    assert!(
        matches!(closed, StoreError::Lost { lost: 2, .. }),
        "{closed:?}"
    );
    // What was committed before is intact and readable.
    assert!(
        Reader::open(dir.db())
            .unwrap()
            .last_alive()
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_clean_stop_is_not_reported_as_a_crash() {
    let dir = TempDir::new("clean");
    let Opened { store, writer, .. } = Store::open(dir.db()).unwrap();
    writer.send(Write::CallStarted(start(1, 0))).await.unwrap();
    writer
        .send(Write::CallEnded(Box::new(ended(
            1,
            0,
            3,
            Disposition::Completed,
        ))))
        .await
        .unwrap();
    drop(writer);
    store.closed().await.unwrap();
    let Opened { startup, .. } = Store::open(dir.db()).unwrap();
    assert_eq!(startup.crashed_at, None);
    assert_eq!(startup.interrupted_calls, 0);
    assert_eq!(startup.next_call_id, 2);
}

#[tokio::test]
async fn a_second_store_on_the_same_file_is_refused() {
    let dir = TempDir::new("locked");
    let Opened { store, writer, .. } = Store::open(dir.db()).unwrap();
    writer
        .commit(Write::CallStarted(start(1, 0)))
        .await
        .unwrap();
    let err = Store::open(dir.db()).unwrap_err();
    assert_eq!(
        err,
        StoreError::Locked {
            path: dir.db(),
            holder: Some(std::process::id())
        }
    );
    assert!(
        err.to_string().contains("in use by another switchboard"),
        "{err}"
    );
    // Readers are welcome, and the open call was left alone.
    let reader = Reader::open(dir.db()).unwrap();
    assert_eq!(
        reader
            .cdr(&CdrFilter {
                in_progress: true,
                ..Default::default()
            })
            .unwrap()
            .len(),
        1
    );
    drop(writer);
    store.closed().await.unwrap();
    // Free again once the first store has stopped.
    let Opened { startup, .. } = Store::open(dir.db()).unwrap();
    assert_eq!(startup.interrupted_calls, 1, "now it is a leftover");
}
