//! Every ACD event kind written with `Write::Acd` comes back identical from
//! `Reader::acd_events_since`, in the order written, across both event tables.

mod common;

use std::time::Duration;

use common::{TempDir, at, q};
use switchboard_acd::io::{OfferId, OfferResult, OverflowReason};
use switchboard_acd::{AgentId, CallRef, EventKind, PauseReason, StateKind};
use switchboard_store::{Opened, Reader, Store, Write};

fn every_kind() -> Vec<EventKind> {
    let call = CallRef(42);
    let big = CallRef(u64::MAX); // a handle past i64::MAX survives the signed column
    let queue = q("support-fr");
    let alice = AgentId::new("alice");
    let wait = Duration::new(12, 345_678_901); // nanoseconds survive too
    let mut kinds = vec![
        EventKind::Joined {
            call,
            queue: queue.clone(),
            priority: -100,
        },
        EventKind::Joined {
            call: big,
            queue: q("vip"),
            priority: i32::MAX,
        },
        EventKind::Offered {
            call,
            queue: queue.clone(),
            agent: alice.clone(),
            offer: OfferId(7),
        },
        EventKind::Offered {
            call: big,
            queue: q("vip"),
            agent: alice.clone(),
            offer: OfferId(u64::MAX),
        },
    ];
    let results = [
        None,
        Some(OfferResult::Answered),
        Some(OfferResult::NoAnswer),
        Some(OfferResult::Declined(486)),
        Some(OfferResult::Declined(603)),
        Some(OfferResult::Unreachable),
        Some(OfferResult::Cancelled),
    ];
    for (i, result) in results.into_iter().enumerate() {
        kinds.push(EventKind::OfferEnded {
            call,
            queue: queue.clone(),
            agent: alice.clone(),
            offer: OfferId(8 + i as u64),
            result,
        });
    }
    kinds.extend([
        EventKind::Answered {
            call,
            queue: queue.clone(),
            agent: alice.clone(),
            wait,
        },
        EventKind::ConnectFailed {
            call,
            queue: queue.clone(),
            agent: alice.clone(),
        },
        EventKind::Abandoned {
            call,
            queue: queue.clone(),
            wait: Duration::ZERO,
        },
    ]);
    for reason in [
        OverflowReason::NoAgents,
        OverflowReason::MaxWait,
        OverflowReason::Full,
        OverflowReason::Key('#'),
        OverflowReason::Key('0'),
        OverflowReason::Key('é'),
    ] {
        kinds.push(EventKind::Overflowed {
            call,
            queue: queue.clone(),
            reason,
            wait,
        });
    }
    kinds.extend([
        EventKind::CallEnded {
            call,
            queue: queue.clone(),
            agent: alice.clone(),
            talk: Duration::from_nanos(1),
        },
        EventKind::WrapUpEnded {
            call,
            queue: queue.clone(),
            agent: alice.clone(),
            wrap_up: Duration::ZERO,
        },
        EventKind::WrapUpEnded {
            call,
            queue: queue.clone(),
            agent: alice.clone(),
            wrap_up: Duration::from_secs(86_400 * 365),
        },
        EventKind::Interrupted {
            call,
            queue: queue.clone(),
        },
    ]);
    for state in [
        StateKind::LoggedOut,
        StateKind::Ready,
        StateKind::Reserved,
        StateKind::OnCall,
        StateKind::Busy,
        StateKind::WrapUp,
        StateKind::Paused,
    ] {
        kinds.push(EventKind::AgentState {
            agent: alice.clone(),
            state,
            reason: None,
        });
    }
    kinds.push(EventKind::AgentState {
        agent: AgentId::new("bob"),
        state: StateKind::Paused,
        reason: Some(PauseReason::new("lunch")),
    });
    kinds.push(EventKind::AgentState {
        agent: AgentId::new("bob"),
        state: StateKind::Paused,
        reason: Some(PauseReason::new("")), // an empty reason is not "no reason"
    });
    kinds
}

#[tokio::test]
async fn every_event_kind_comes_back_identical_and_in_order() {
    let dir = TempDir::new("events");
    let Opened { store, writer, .. } = Store::open(dir.db()).unwrap();
    // Agent and queue events interleaved, as the ACD writes them.
    let mut kinds = every_kind();
    let half = kinds.len() / 2;
    kinds.rotate_left(half);
    let written: Vec<_> = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| (at(1_000 + i as i64), kind))
        .collect();
    // One event before the window, which `acd_events_since` must leave out.
    writer
        .send(Write::Acd(
            at(0),
            EventKind::Interrupted {
                call: CallRef(1),
                queue: q("x"),
            },
        ))
        .await
        .unwrap();
    for (ts, kind) in &written {
        writer.send(Write::Acd(*ts, kind.clone())).await.unwrap();
    }
    writer.flush().await.unwrap();

    let read = Reader::open(dir.db())
        .unwrap()
        .acd_events_since(at(1_000))
        .unwrap();
    assert_eq!(read.len(), written.len());
    for (got, want) in read.iter().zip(&written) {
        assert_eq!(got, want);
    }
    drop(writer);
    store.closed().await.unwrap();
}

#[tokio::test]
async fn event_times_are_kept_to_the_millisecond() {
    let dir = TempDir::new("event-times");
    let Opened { writer, .. } = Store::open(dir.db()).unwrap();
    let fine = at(5).checked_add(Duration::from_micros(999)).unwrap();
    let kind = EventKind::Interrupted {
        call: CallRef(3),
        queue: q("sales"),
    };
    writer.commit(Write::Acd(fine, kind.clone())).await.unwrap();
    let read = Reader::open(dir.db())
        .unwrap()
        .acd_events_since(at(0))
        .unwrap();
    assert_eq!(read, vec![(at(5), kind)]);
}

#[tokio::test]
async fn a_replay_learns_what_each_agent_was_doing_when_it_starts() {
    let dir = TempDir::new("agent-states-before");
    let Opened { writer, .. } = Store::open(dir.db()).unwrap();
    let state = |agent: &str, state: StateKind, reason: Option<&str>| EventKind::AgentState {
        agent: AgentId::new(agent),
        state,
        reason: reason.map(PauseReason::new),
    };
    let log = [
        (10, state("1001", StateKind::Ready, None)),
        (20, state("1002", StateKind::Ready, None)),
        (30, state("1001", StateKind::Paused, Some("lunch"))),
        (40, state("1002", StateKind::OnCall, None)),
        // After the replay's start: not what the agent was doing before it.
        (60, state("1001", StateKind::Ready, None)),
        (70, state("1003", StateKind::Ready, None)),
    ];
    for (ms, kind) in &log {
        writer
            .send(Write::Acd(at(*ms), kind.clone()))
            .await
            .unwrap();
    }
    writer.flush().await.unwrap();
    let before = Reader::open(dir.db())
        .unwrap()
        .agent_states_before(at(50))
        .unwrap();
    assert_eq!(
        before,
        vec![
            state("1001", StateKind::Paused, Some("lunch")),
            state("1002", StateKind::OnCall, None),
        ]
    );
}
