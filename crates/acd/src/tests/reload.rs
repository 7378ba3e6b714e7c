//! Config reloads and snapshots.

use super::*;
use crate::config::Member;
use crate::io::OverflowReason;
use crate::view::{AgentCounts, WaitingView};

#[test]
fn a_reload_keeps_states_and_callers_and_applies_the_new_memberships() {
    let base = config(
        vec![queue("sales", &["a", "b"]), queue("old", &["a"])],
        &["a", "b"],
    );
    let mut h = H::new(base.clone());
    h.login(&["a", "b"]);
    h.pause("a", "lunch");
    h.pause("b", "lunch");
    h.enqueue(1, "sales");
    h.enqueue(2, "old");
    h.enqueue_with(3, "sales", 0, vec![req("fr", 1)], None);
    assert_eq!(h.overflows(), [(CallRef(3), OverflowReason::NoAgents)]);
    h.until(10);
    h.take_events();

    // b leaves the config; c joins sales; queue "old" goes away.
    let mut next = config(vec![queue("sales", &["a", "c"])], &["a", "c"]);
    next.queues[0].members.push(Member {
        agent: id("b"),
        penalty: 0,
    });
    let now = h.now;
    h.acd.reconfigure(now, next);
    h.drain();
    assert_eq!(h.overflows(), [(CallRef(2), OverflowReason::NoAgents)]);
    assert_eq!(h.state("a"), StateKind::Paused, "states are kept");
    let snapshot = h.acd.snapshot(h.now);
    let names: Vec<&str> = snapshot.agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(names, ["a", "c"], "b retired and logged out");
    assert!(h.take_events().contains(&EventKind::AgentState {
        agent: id("b"),
        state: StateKind::LoggedOut,
        reason: None
    }));
    assert_eq!(snapshot.queues.len(), 1);
    assert_eq!(
        snapshot.queues[0].waiting.len(),
        1,
        "caller 1 kept its place"
    );
    h.login(&["c"]);
    assert_eq!(h.one_offer().agent, id("c"));
    h.enqueue(4, "old");
    assert_eq!(h.overflows(), [(CallRef(4), OverflowReason::NoAgents)]);
}

#[test]
fn a_retired_agent_on_a_call_finishes_it_then_logs_out() {
    let mut h = H::new(config(vec![queue("q", &["a", "b"])], &["a", "b"]));
    h.login(&["a", "b"]);
    h.enqueue(1, "q");
    let offer = h.one_offer();
    h.result(offer.offer, OfferResult::Answered);
    h.connected(1);
    let now = h.now;
    h.acd
        .reconfigure(now, config(vec![queue("q", &["b"])], &["b"]));
    h.drain();
    assert_eq!(h.state(offer.agent.as_str()), StateKind::OnCall);
    h.until(30);
    h.end(1);
    let events = h.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EventKind::CallEnded { .. }))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EventKind::WrapUpEnded { .. }))
    );
    assert!(events.contains(&EventKind::AgentState {
        agent: offer.agent.clone(),
        state: StateKind::LoggedOut,
        reason: None
    }));
}

#[test]
fn snapshot_shows_agents_and_queues_for_the_cli() {
    let mut c = config(vec![queue("q", &["a", "b", "c"])], &["a", "b", "c"]);
    c.queues[0].members[2].penalty = 3;
    let mut h = H::new(c);
    h.login(&["a", "b"]);
    h.pause("b", "lunch");
    h.until(5);
    h.enqueue(1, "q");
    let offer = h.one_offer();
    h.until(7);
    h.enqueue_with(2, "q", 0, vec![], None);
    h.until(8);
    h.enqueue_with(3, "q", 9, vec![], None);
    h.until(20);
    let s = h.acd.snapshot(h.now);
    let a = &s.agents[0];
    assert_eq!(
        (a.state, a.since, a.call, a.reachable, a.busy),
        (StateKind::Reserved, h.t(5), Some(CallRef(1)), true, false)
    );
    assert_eq!(a.queues, [(QueueId::new("q"), 0)]);
    assert_eq!(s.agents[1].reason, Some(PauseReason::new("lunch")));
    assert_eq!(s.agents[2].queues, [(QueueId::new("q"), 3)]);
    let q = &s.queues[0];
    assert_eq!(
        q.waiting,
        [
            WaitingView {
                call: CallRef(3),
                position: 1,
                priority: 9,
                joined: h.t(8),
                offered: false
            },
            WaitingView {
                call: CallRef(1),
                position: 2,
                priority: 0,
                joined: h.t(5),
                offered: true
            },
            WaitingView {
                call: CallRef(2),
                position: 3,
                priority: 0,
                joined: h.t(7),
                offered: false
            },
        ]
    );
    assert_eq!(q.longest_wait, secs(15));
    assert_eq!(
        q.agents,
        AgentCounts {
            logged_out: 1,
            reserved: 1,
            paused: 1,
            ..AgentCounts::default()
        }
    );
    h.result(offer.offer, OfferResult::Answered);
    assert_eq!(h.acd.snapshot(h.now).queues[0].connecting, 1);
}
