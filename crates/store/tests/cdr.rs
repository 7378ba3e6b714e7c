//! The `cdr` view, the public schema: its columns, their values for a finished queue call
//! (wrap-up included once the ACD reports it), `Reader::cdr`'s filters, and the example
//! queries of `docs/cdr.md`, run against real rows.

mod common;

use std::time::Duration;

use common::{TempDir, at, ended, q, start};
use rusqlite::Connection;
use rusqlite::types::Value;
use switchboard_acd::io::OfferId;
use switchboard_acd::{AgentId, CallRef, EventKind};
use switchboard_store::{
    CallRow, CallUpdate, CdrFilter, Disposition, HangupSide, LegRole, LegRow, Opened, Reader,
    Store, Write, Writer,
};

/// Call 7: in at 09:00:00.123, 8.5 s in `support-fr`, answered by alice, 95.25 s of talk,
/// then 30.2 s of wrap-up reported by the ACD after the call's own record.
async fn queue_call(w: &Writer) {
    let t = |ms: i64| at(123 + ms);
    let mut s = start(7, 123);
    s.call_id = "a84b4c76e66710@pc33.example".into();
    w.send(Write::CallStarted(s.clone())).await.unwrap();
    let caller_leg = LegRow {
        call: CallRef(7),
        index: 0,
        role: LegRole::Caller,
        party: "+33612340007".into(),
        call_id: Some("a84b4c76e66710@pc33.example".into()),
        started: t(0),
        answered: Some(t(2_000)),
        ended: None,
        sip_code: Some(200),
        end_cause: None,
        codec: Some("PCMA".into()),
    };
    w.send(Write::Leg(caller_leg.clone())).await.unwrap();
    let (queue, alice) = (q("support-fr"), AgentId::new("alice"));
    let call = CallRef(7);
    for (ms, kind) in [
        (
            4_000,
            EventKind::Joined {
                call,
                queue: queue.clone(),
                priority: 0,
            },
        ),
        (
            9_000,
            EventKind::Offered {
                call,
                queue: queue.clone(),
                agent: alice.clone(),
                offer: OfferId(1),
            },
        ),
        (
            12_500,
            EventKind::Answered {
                call,
                queue: queue.clone(),
                agent: alice.clone(),
                wait: Duration::from_millis(8_500),
            },
        ),
    ] {
        w.send(Write::Acd(t(ms), kind)).await.unwrap();
    }
    w.send(Write::CallAnswered {
        call,
        at: t(12_500),
    })
    .await
    .unwrap();
    w.send(Write::Leg(LegRow {
        index: 1,
        role: LegRole::Agent,
        party: "alice".into(),
        call_id: Some("b2bua-1".into()),
        started: t(9_000),
        answered: Some(t(12_400)),
        ..caller_leg.clone()
    }))
    .await
    .unwrap();
    w.send(Write::Acd(
        t(107_750),
        EventKind::CallEnded {
            call,
            queue: queue.clone(),
            agent: alice.clone(),
            talk: Duration::from_millis(95_250),
        },
    ))
    .await
    .unwrap();
    // The caller's leg ends by BYE; the agent's is left open: the call's end closes it.
    w.send(Write::Leg(LegRow {
        ended: Some(t(107_750)),
        end_cause: Some("bye".into()),
        ..caller_leg
    }))
    .await
    .unwrap();
    let row = CallRow {
        answered: Some(t(12_500)),
        ivr_path: Some("after-sales/language/2/support".into()),
        language: Some("fr".into()),
        queue: Some(queue.clone()),
        wait: Some(Duration::from_millis(8_500)),
        agent: Some(alice.clone()),
        talk: Some(Duration::from_millis(95_250)),
        hangup_cause: Some("normal".into()),
        recording: Some("/var/lib/switchboard/recordings/2026-03-02/7.wav".into()),
        ..CallRow::ended(s, t(107_750), Disposition::Answered, HangupSide::Caller)
    };
    w.send(Write::CallEnded(Box::new(row))).await.unwrap();
    w.send(Write::Acd(
        t(137_950),
        EventKind::WrapUpEnded {
            call,
            queue,
            agent: alice,
            wrap_up: Duration::from_millis(30_200),
        },
    ))
    .await
    .unwrap();
}

fn view_row(path: &std::path::Path, id: i64) -> Vec<(String, Value)> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT * FROM cdr WHERE id = ?1").unwrap();
    let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    stmt.query_row([id], |r| {
        Ok(names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), r.get::<_, Value>(i).unwrap()))
            .collect())
    })
    .unwrap()
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

#[tokio::test]
async fn the_cdr_view_of_a_finished_queue_call() {
    let dir = TempDir::new("cdr-view");
    let Opened { store, writer, .. } = Store::open(dir.db()).unwrap();
    queue_call(&writer).await;
    writer.flush().await.unwrap();

    let row = view_row(&dir.db(), 7);
    let expected = vec![
        ("id", Value::Integer(7)),
        ("call_id", text("a84b4c76e66710@pc33.example")),
        ("started_at", text("2026-03-02T09:00:00.123Z")),
        ("answered_at", text("2026-03-02T09:00:12.623Z")),
        ("ended_at", text("2026-03-02T09:01:47.873Z")),
        ("direction", text("inbound")),
        ("trunk", text("carrier")),
        ("caller", text("+33612340007")),
        ("dialled", text("+33180000000")),
        ("ivr_path", text("after-sales/language/2/support")),
        ("language", text("fr")),
        ("queue", text("support-fr")),
        ("wait_s", Value::Real(8.5)),
        ("agent", text("alice")),
        ("talk_s", Value::Real(95.25)),
        ("wrapup_s", Value::Real(30.2)),
        ("disposition", text("answered")),
        ("hangup_side", text("caller")),
        ("hangup_cause", text("normal")),
        (
            "recording",
            text("/var/lib/switchboard/recordings/2026-03-02/7.wav"),
        ),
    ];
    let expected: Vec<(String, Value)> = expected
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect();
    assert_eq!(row, expected);

    // The typed view of the same row.
    let reader = Reader::open(dir.db()).unwrap();
    let cdr = reader.call(CallRef(7)).unwrap().unwrap();
    assert_eq!(cdr.wrap_up, Some(Duration::from_millis(30_200)));
    assert_eq!(cdr.ended, Some(at(107_873)));
    let legs = reader.legs(CallRef(7)).unwrap();
    assert_eq!(legs.len(), 2);
    assert_eq!(legs[0].end_cause.as_deref(), Some("bye"));
    assert_eq!(legs[1].role, LegRole::Agent);
    assert_eq!(legs[1].ended, Some(at(107_873)), "closed by the call's end");
    assert_eq!(legs[1].end_cause, None);
    drop(writer);
    store.closed().await.unwrap();
}

#[tokio::test]
async fn times_of_an_unfinished_call_are_null_in_the_view() {
    let dir = TempDir::new("cdr-open");
    let Opened { writer, .. } = Store::open(dir.db()).unwrap();
    writer
        .commit(Write::CallStarted(start(1, 5)))
        .await
        .unwrap();
    let row = view_row(&dir.db(), 1);
    let get = |name: &str| row.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(get("started_at"), text("2026-03-02T09:00:00.005Z"));
    for column in [
        "answered_at",
        "ended_at",
        "wait_s",
        "talk_s",
        "wrapup_s",
        "disposition",
    ] {
        assert_eq!(get(column), Value::Null, "{column}");
    }
}

#[tokio::test]
async fn what_a_call_learns_as_it_goes_is_in_its_row_before_it_ends() {
    let dir = TempDir::new("cdr-updated");
    let Opened { writer, .. } = Store::open(dir.db()).unwrap();
    writer.send(Write::CallStarted(start(2, 5))).await.unwrap();
    let update = CallUpdate {
        id: CallRef(2),
        answered: Some(at(9_005)),
        ivr_path: Some("main[1] > queue".into()),
        language: Some("en".into()),
        queue: Some(q("support-en")),
        agent: Some(AgentId::new("1003")),
        recording: Some("rec/2-1003.wav".into()),
    };
    writer
        .send(Write::CallUpdated(update.clone()))
        .await
        .unwrap();
    // A later update that knows less erases nothing.
    writer
        .commit(Write::CallUpdated(CallUpdate {
            ivr_path: Some("main[1] > queue > sorry".into()),
            answered: None,
            language: None,
            queue: None,
            agent: None,
            recording: None,
            ..update
        }))
        .await
        .unwrap();
    let row = view_row(&dir.db(), 2);
    let get = |name: &str| row.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(get("ivr_path"), text("main[1] > queue > sorry"));
    assert_eq!(get("language"), text("en"));
    assert_eq!(get("queue"), text("support-en"));
    assert_eq!(get("agent"), text("1003"));
    assert_eq!(get("recording"), text("rec/2-1003.wav"));
    assert_eq!(get("answered_at"), text("2026-03-02T09:00:09.005Z"));
    assert_eq!(get("ended_at"), Value::Null, "still in progress");
}

#[tokio::test]
async fn a_wrap_up_reported_before_the_call_record_is_kept() {
    let dir = TempDir::new("cdr-wrapup-first");
    let Opened { writer, .. } = Store::open(dir.db()).unwrap();
    writer.send(Write::CallStarted(start(3, 0))).await.unwrap();
    let wrap = EventKind::WrapUpEnded {
        call: CallRef(3),
        queue: q("sales"),
        agent: AgentId::new("bob"),
        wrap_up: Duration::ZERO,
    };
    writer.send(Write::Acd(at(60_000), wrap)).await.unwrap();
    writer
        .commit(Write::CallEnded(Box::new(ended(
            3,
            0,
            60,
            Disposition::Answered,
        ))))
        .await
        .unwrap();
    let cdr = Reader::open(dir.db())
        .unwrap()
        .call(CallRef(3))
        .unwrap()
        .unwrap();
    assert_eq!(cdr.wrap_up, Some(Duration::ZERO));
}

/// A day of calls over two queues and two callers, for the filters and the doc queries.
async fn a_day(w: &Writer) {
    let day = 24 * 3600 * 1000;
    let mut calls = vec![
        (1, 0, Some("support"), Disposition::Answered),
        (2, 60_000, Some("support"), Disposition::Abandoned),
        (3, 120_000, Some("sales"), Disposition::Abandoned),
        (4, 180_000, None, Disposition::Completed),
        (5, day + 1, Some("support"), Disposition::Answered), // the next day
    ];
    for (id, start_ms, queue, disposition) in calls.drain(..) {
        let mut row = ended(id, start_ms, 30, disposition);
        row.queue = queue.map(q);
        row.wait = queue.map(|_| Duration::from_secs(20));
        if disposition == Disposition::Answered {
            row.agent = Some(AgentId::new("alice"));
            row.talk = Some(Duration::from_secs(10));
        }
        if id == 3 {
            row.caller = Some("+33612340001".into()); // the same caller as call 1
        }
        w.send(Write::CallStarted(start(id, start_ms)))
            .await
            .unwrap();
        w.send(Write::CallEnded(Box::new(row))).await.unwrap();
    }
    w.flush().await.unwrap();
}

#[tokio::test]
async fn reader_filters() {
    let dir = TempDir::new("cdr-filters");
    let Opened { writer, .. } = Store::open(dir.db()).unwrap();
    a_day(&writer).await;
    let r = Reader::open(dir.db()).unwrap();
    let ids = |f: CdrFilter| -> Vec<u64> { r.cdr(&f).unwrap().iter().map(|c| c.id.0).collect() };
    assert_eq!(ids(CdrFilter::default()), [1, 2, 3, 4, 5]);
    let today = CdrFilter {
        from: Some(at(0)),
        until: Some(at(24 * 3600 * 1000)),
        ..Default::default()
    };
    assert_eq!(ids(today.clone()), [1, 2, 3, 4]);
    assert_eq!(
        ids(CdrFilter {
            queue: Some(q("support")),
            ..today.clone()
        }),
        [1, 2]
    );
    assert_eq!(
        ids(CdrFilter {
            disposition: Some(Disposition::Abandoned),
            ..Default::default()
        }),
        [2, 3]
    );
    assert_eq!(
        ids(CdrFilter {
            caller: Some("+33612340001".into()),
            ..Default::default()
        }),
        [1, 3]
    );
    assert_eq!(
        ids(CdrFilter {
            agent: Some(AgentId::new("alice")),
            limit: Some(1),
            ..Default::default()
        }),
        [1]
    );
    assert_eq!(
        ids(CdrFilter {
            in_progress: true,
            ..Default::default()
        }),
        Vec::<u64>::new()
    );
}

/// Every ```sql block of docs/cdr.md runs and returns what its comment says.
#[tokio::test]
async fn the_documented_queries_run() {
    let dir = TempDir::new("cdr-docs");
    let Opened { writer, .. } = Store::open(dir.db()).unwrap();
    a_day(&writer).await;
    queue_call(&writer).await;
    let paused = EventKind::AgentState {
        agent: AgentId::new("alice"),
        state: switchboard_acd::StateKind::Paused,
        reason: Some(switchboard_acd::PauseReason::new("lunch")),
    };
    writer.send(Write::Acd(at(1_000), paused)).await.unwrap();
    writer.flush().await.unwrap();
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cdr.md"),
    )
    .unwrap();
    let blocks: Vec<&str> = doc
        .split("```sql")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 5, "docs/cdr.md has its five example queries");
    let conn =
        Connection::open_with_flags(dir.db(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut results = Vec::new();
    for sql in blocks {
        // Parameters in the docs are written :day, :queue, :caller.
        let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{e}\n{sql}"));
        let mut args: Vec<(&str, &dyn rusqlite::ToSql)> = Vec::new();
        for i in 1..=stmt.parameter_count() {
            match stmt.parameter_name(i).unwrap() {
                ":day" => args.push((":day", &"2026-03-02")),
                ":queue" => args.push((":queue", &"support")),
                ":caller" => args.push((":caller", &"+33612340001")),
                ":agent" => args.push((":agent", &"alice")),
                other => panic!("unknown parameter {other} in\n{sql}"),
            }
        }
        let rows: Vec<Vec<Value>> = stmt
            .query_map(args.as_slice(), |r| {
                (0..r.as_ref().column_count())
                    .map(|i| r.get::<_, Value>(i))
                    .collect()
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        results.push(rows);
    }
    // Calls of 2026-03-02 in `support` (calls 1 and 2, not 5 of the next day).
    assert_eq!(results[0].len(), 2, "{:?}", results[0]);
    // Abandoned calls with their wait: 2 and 3.
    assert_eq!(results[1].len(), 2, "{:?}", results[1]);
    assert_eq!(results[1][0][results[1][0].len() - 1], Value::Real(20.0));
    // A caller's calls: 1 and 3.
    assert_eq!(results[2].len(), 2, "{:?}", results[2]);
    // The day per queue: sales, support (2 calls, 1 answered, 1 abandoned), support-fr.
    assert_eq!(results[3].len(), 3, "{:?}", results[3]);
    assert_eq!(
        results[3][1][..4],
        [
            text("support"),
            Value::Integer(2),
            Value::Integer(1),
            Value::Integer(1)
        ]
    );
    // Alice's state changes of the day.
    assert_eq!(
        results[4],
        vec![vec![
            text("2026-03-02T09:00:01.000Z"),
            text("paused"),
            text("lunch")
        ]]
    );
}
