//! What an fsync costs on this disk, and what the store's batching and sync policy make of
//! it. The figures in `docs/cdr.md` ("Durability") come from this.
//!
//! ```sh
//! cargo run --release -p switchboard-store --example sync_cost [DIR]
//! ```
//! DIR (default: the system temp dir) should be on the disk the switch will use.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use switchboard_acd::{CallRef, EventKind, QueueId};
use switchboard_store::{
    CallRow, CallStart, Direction, Disposition, HangupSide, Opened, Store, Write,
};

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(std::env::temp_dir, PathBuf::from)
        .join(format!("switchboard-sync-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the work dir");
    println!("disk: {}", dir.display());
    raw_commits(&dir, "NORMAL", 2000);
    raw_commits(&dir, "FULL", 2000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(through_the_store(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

/// One row per transaction straight through rusqlite, WAL mode, at a given `synchronous`.
fn raw_commits(dir: &Path, sync: &str, n: u32) {
    let path = dir.join(format!("raw-{sync}.db"));
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; CREATE TABLE t (x INTEGER, y TEXT);"
    ))
    .expect("setup");
    let start = Instant::now();
    for i in 0..n {
        conn.execute(
            "INSERT INTO t VALUES (?1, 'a call record of about this size')",
            [i],
        )
        .expect("insert");
    }
    let per = start.elapsed() / n;
    println!("raw rusqlite, synchronous={sync:6}: {per:>10.1?} per single-row commit");
}

fn call(id: u64) -> CallStart {
    CallStart {
        id: CallRef(id),
        call_id: format!("{id}@bench"),
        started: jiff::Timestamp::now(),
        direction: Direction::Inbound,
        trunk: Some("carrier".into()),
        caller: Some("+33612345678".into()),
        dialled: Some("+33180000000".into()),
    }
}

async fn through_the_store(dir: &Path) {
    // One `commit` at a time: one FULL transaction each, the latency a waiter sees.
    let Opened { store, writer, .. } = Store::open(dir.join("commit.db")).expect("open");
    let n = 1000;
    let start = Instant::now();
    for id in 1..=n {
        writer
            .commit(Write::CallStarted(call(id)))
            .await
            .expect("commit");
    }
    let per = start.elapsed() / u32::try_from(n).unwrap_or(1);
    println!("store, commit() one by one:           {per:>10.1?} per write");
    drop(writer);
    store.closed().await.expect("close");

    // Finished calls as fast as they come: CallEnded forces FULL, batching shares the fsync.
    let calls = 20_000u64;
    let Opened { store, writer, .. } = Store::open(dir.join("calls.db")).expect("open");
    let start = Instant::now();
    for id in 1..=calls {
        let s = call(id);
        writer
            .send(Write::CallStarted(s.clone()))
            .await
            .expect("send");
        let row = CallRow::ended(
            s,
            jiff::Timestamp::now(),
            Disposition::Completed,
            HangupSide::Caller,
        );
        writer
            .send(Write::CallEnded(Box::new(row)))
            .await
            .expect("send");
    }
    writer.flush().await.expect("flush");
    report(
        "store, CallStarted+CallEnded, sent",
        calls * 2,
        start.elapsed(),
    );
    drop(writer);
    store.closed().await.expect("close");

    // ACD facts alone: NORMAL commits, an fsync at most every second.
    let events = 40_000u64;
    let Opened { store, writer, .. } = Store::open(dir.join("events.db")).expect("open");
    let start = Instant::now();
    for id in 1..=events {
        let kind = EventKind::Joined {
            call: CallRef(id),
            queue: QueueId::new("q"),
            priority: 0,
        };
        writer
            .send(Write::Acd(jiff::Timestamp::now(), kind))
            .await
            .expect("send");
    }
    writer.flush().await.expect("flush");
    report("store, ACD events, sent", events, start.elapsed());
    drop(writer);
    store.closed().await.expect("close");

    // A trickle: one finished call every 2 ms (500 calls/s), each its own FULL batch.
    let Opened { store, writer, .. } = Store::open(dir.join("trickle.db")).expect("open");
    let start = Instant::now();
    let mut lag = Duration::ZERO;
    for id in 1..=500u64 {
        let s = call(id);
        let row = CallRow::ended(
            s,
            jiff::Timestamp::now(),
            Disposition::Completed,
            HangupSide::Caller,
        );
        let t = Instant::now();
        writer
            .commit(Write::CallEnded(Box::new(row)))
            .await
            .expect("commit");
        lag = lag.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!(
        "store, 500 calls at ~500/s, commit(): slowest {lag:.1?}, total {:.1?}",
        start.elapsed()
    );
    drop(writer);
    store.closed().await.expect("close");
}

fn report(what: &str, writes: u64, took: Duration) {
    #[allow(clippy::cast_precision_loss, reason = "a figure to print")]
    let rate = writes as f64 / took.as_secs_f64();
    println!("{what:38} {rate:>10.0} writes/s ({writes} in {took:.2?})");
}
