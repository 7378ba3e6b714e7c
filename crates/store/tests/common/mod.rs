//! Shared by the integration tests: a temporary directory per test, fixed instants, and the
//! rows of a typical call.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use switchboard_acd::{CallRef, QueueId};
use switchboard_store::{CallRow, CallStart, Direction, Disposition, HangupSide};

/// A directory of its own under the system's temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(test: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "switchboard-store-{test}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn db(&self) -> PathBuf {
        self.0.join("switchboard.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// 2026-03-02T09:00:00Z plus `ms` milliseconds.
pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(1_772_442_000_000 + ms).expect("in range")
}

/// The start of an inbound call `id` at `at(start_ms)`.
pub fn start(id: u64, start_ms: i64) -> CallStart {
    CallStart {
        id: CallRef(id),
        call_id: format!("call-{id}@trunk.example"),
        started: at(start_ms),
        direction: Direction::Inbound,
        trunk: Some("carrier".into()),
        caller: Some(format!("+3361234{id:04}")),
        dialled: Some("+33180000000".into()),
    }
}

/// Call `id` ended after `secs` seconds, answered by nobody.
pub fn ended(id: u64, start_ms: i64, secs: u64, disposition: Disposition) -> CallRow {
    CallRow::ended(
        start(id, start_ms),
        at(start_ms + i64::try_from(secs * 1000).unwrap()),
        disposition,
        HangupSide::Caller,
    )
}

pub fn q(name: &str) -> QueueId {
    QueueId::new(name)
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}
