//! Migrations: from nothing, from an empty file, reopening, and refusing files this build
//! cannot read.

mod common;

use common::{TempDir, start};
use rusqlite::Connection;
use switchboard_acd::CallRef;
use switchboard_store::{Opened, Reader, SqliteCause, Store, StoreError, Write, schema_version};

fn user_version(path: &std::path::Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn tables(path: &std::path::Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn a_new_file_and_an_empty_file_are_migrated_to_the_current_version() {
    let dir = TempDir::new("schema-new");
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    for path in [dir.db(), empty] {
        let Opened {
            store,
            writer,
            startup,
        } = Store::open(&path).unwrap();
        assert_eq!(startup.migrated_from, 0);
        assert_eq!(startup.next_call_id, 1);
        assert_eq!(startup.crashed_at, None);
        assert_eq!(startup.interrupted_calls, 0);
        assert!(startup.agents.is_empty());
        drop(writer);
        store.closed().await.unwrap();
        assert_eq!(user_version(&path), i64::from(schema_version()));
        let mode: String = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(
            tables(&path),
            [
                "agent_events",
                "agent_state",
                "calls",
                "cdr",
                "legs",
                "meta",
                "open_visits",
                "queue_events"
            ]
        );
    }
}

#[tokio::test]
async fn reopening_changes_nothing_and_keeps_the_data() {
    let dir = TempDir::new("schema-reopen");
    let Opened { store, writer, .. } = Store::open(dir.db()).unwrap();
    writer
        .commit(Write::CallStarted(start(7, 0)))
        .await
        .unwrap();
    drop(writer);
    store.closed().await.unwrap();
    let before = tables(&dir.db());

    for _ in 0..3 {
        let Opened {
            store,
            writer,
            startup,
        } = Store::open(dir.db()).unwrap();
        assert_eq!(startup.migrated_from, schema_version());
        assert_eq!(startup.next_call_id, 8);
        assert_eq!(startup.crashed_at, None, "the stop was clean");
        drop(writer);
        store.closed().await.unwrap();
    }
    assert_eq!(tables(&dir.db()), before);
    assert_eq!(user_version(&dir.db()), i64::from(schema_version()));
    let reader = Reader::open(dir.db()).unwrap();
    assert!(reader.call(CallRef(7)).unwrap().is_some());
}

#[tokio::test]
async fn a_file_from_a_newer_switchboard_is_refused_untouched() {
    let dir = TempDir::new("schema-newer");
    let Opened { store, writer, .. } = Store::open(dir.db()).unwrap();
    drop(writer);
    store.closed().await.unwrap();
    let newer = schema_version() + 1;
    Connection::open(dir.db())
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();

    let err = Store::open(dir.db()).unwrap_err();
    assert_eq!(
        err,
        StoreError::NewerSchema {
            path: dir.db(),
            found: newer,
            supported: schema_version()
        }
    );
    let text = err.to_string();
    assert!(text.contains(&format!("schema version {newer}")), "{text}");
    assert!(text.contains("newer switchboard"), "{text}");
    assert!(matches!(
        Reader::open(dir.db()),
        Err(StoreError::NewerSchema { .. })
    ));
    assert_eq!(user_version(&dir.db()), i64::from(newer), "left as it was");
}

#[test]
fn a_reader_refuses_a_file_that_was_never_migrated() {
    let dir = TempDir::new("schema-older");
    Connection::open(dir.db())
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    assert_eq!(
        Reader::open(dir.db()).unwrap_err(),
        StoreError::OlderSchema {
            path: dir.db(),
            found: 0,
            supported: schema_version()
        }
    );
}

#[test]
fn a_file_that_is_not_a_database_is_refused_with_its_cause() {
    let dir = TempDir::new("schema-notdb");
    std::fs::write(dir.db(), vec![b'x'; 8192]).unwrap();
    match Store::open(dir.db()) {
        Err(StoreError::Open {
            cause: SqliteCause::Corrupt,
            path,
            ..
        }) => {
            assert_eq!(path, dir.db());
        }
        other => panic!("expected a corrupt-file error, got {other:?}"),
    }
}

#[test]
fn a_location_that_cannot_hold_a_file_is_reported_not_panicked() {
    // Even root cannot create files under /proc.
    let err = Store::open("/proc/switchboard-store-test/switchboard.db").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Open {
                cause: SqliteCause::CannotOpen,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("/proc/switchboard-store-test/switchboard.db")
    );
    let dir = TempDir::new("schema-dir");
    let sub = dir.path().join("a-directory");
    std::fs::create_dir(&sub).unwrap();
    assert!(matches!(Store::open(&sub), Err(StoreError::Open { .. })));
    assert!(matches!(
        Reader::open(dir.path().join("missing.db")),
        Err(StoreError::Open {
            cause: SqliteCause::CannotOpen,
            ..
        })
    ));
}
