//! The waiting line: order, limits, overflows, leaving.

use super::*;
use crate::io::OverflowReason;

#[test]
fn fifo_within_a_priority_and_higher_priority_first() {
    let mut h = H::new(config(vec![queue("q", &["a"])], &["a"]));
    h.login(&["a"]);
    h.pause("a", "meeting");
    h.enqueue(1, "q");
    h.until(1);
    h.enqueue(2, "q");
    h.until(2);
    h.enqueue_with(3, "q", 5, vec![], None);
    h.until(3);
    h.enqueue(4, "q");
    assert!(h.offers().is_empty(), "paused: nobody is offered");
    let waiting: Vec<u64> = h.acd.snapshot(h.now).queues[0]
        .waiting
        .iter()
        .map(|w| w.call.0)
        .collect();
    assert_eq!(waiting, [3, 1, 2, 4]);

    h.command("a", AgentCommand::Ready);
    let mut served = Vec::new();
    for _ in 0..4 {
        let offer = h.one_offer();
        served.push(offer.call.0);
        h.handle_call(&offer);
    }
    assert_eq!(served, [3, 1, 2, 4]);
}

#[test]
fn an_agent_of_two_queues_takes_the_best_caller_of_both() {
    let mut h = H::new(config(
        vec![queue("sales", &["a"]), queue("support", &["a"])],
        &["a"],
    ));
    h.login(&["a"]);
    h.pause("a", "x");
    h.enqueue(1, "sales");
    h.until(5);
    h.enqueue(2, "support");
    h.enqueue_with(3, "support", 1, vec![], None);
    h.command("a", AgentCommand::Ready);
    let order: Vec<u64> = (0..3)
        .map(|_| {
            let offer = h.one_offer();
            h.handle_call(&offer);
            offer.call.0
        })
        .collect();
    assert_eq!(
        order,
        [3, 1, 2],
        "priority first, then the longest wait across queues"
    );
}

#[test]
fn a_full_queue_overflows_at_once_with_a_record() {
    let mut q = queue("q", &["a"]);
    q.max_len = Some(2);
    let mut h = H::new(config(vec![q], &["a"]));
    h.login(&["a"]);
    h.pause("a", "x");
    h.take_events();
    h.enqueue(1, "q");
    h.enqueue(2, "q");
    h.enqueue(3, "q");
    assert_eq!(h.overflows(), [(CallRef(3), OverflowReason::Full)]);
    let events = h.take_events();
    assert_eq!(
        events[events.len() - 2..],
        [
            EventKind::Joined {
                call: CallRef(3),
                queue: QueueId::new("q"),
                priority: 0
            },
            EventKind::Overflowed {
                call: CallRef(3),
                queue: QueueId::new("q"),
                reason: OverflowReason::Full,
                wait: Duration::ZERO
            }
        ]
    );
}

#[test]
fn no_agents_at_join_counts_paused_members_and_skills() {
    let mut h = H::new(config(vec![queue("q", &["a", "b"])], &["a", "b"]));
    h.enqueue(1, "q");
    assert_eq!(h.overflows(), [(CallRef(1), OverflowReason::NoAgents)]);

    h.login(&["a"]);
    h.pause("a", "lunch");
    h.enqueue(2, "q");
    assert!(
        h.overflows().is_empty(),
        "a paused member is still logged in"
    );
    // Nobody has `de`, and the queue never widens: nobody could ever take it.
    h.enqueue_with(3, "q", 0, vec![req("de", 1)], None);
    assert_eq!(h.overflows(), [(CallRef(3), OverflowReason::NoAgents)]);
    // A queue unknown to the config: no-agents, and nothing recorded.
    h.take_events();
    h.enqueue(4, "nope");
    assert_eq!(h.overflows(), [(CallRef(4), OverflowReason::NoAgents)]);
    assert!(h.take_events().is_empty());
}

#[test]
fn waiting_callers_overflow_when_the_last_member_who_could_serve_them_logs_out() {
    let mut acd_config = config(vec![queue("q", &["a", "b"])], &["a", "b"]);
    acd_config.agents[0].skills = vec![skill("fr", 90)];
    let mut h = H::new(acd_config);
    h.login(&["a", "b"]);
    h.pause("a", "x");
    h.pause("b", "x");
    h.enqueue_with(1, "q", 0, vec![req("fr", 50)], None);
    h.enqueue(2, "q");
    h.until(10);
    h.command("a", AgentCommand::Logout);
    let overflows = h.overflows();
    assert_eq!(overflows, [(CallRef(1), OverflowReason::NoAgents)]);
    assert!(h.take_events().contains(&EventKind::Overflowed {
        call: CallRef(1),
        queue: QueueId::new("q"),
        reason: OverflowReason::NoAgents,
        wait: secs(10)
    }));
    h.command("b", AgentCommand::Logout);
    assert_eq!(h.overflows(), [(CallRef(2), OverflowReason::NoAgents)]);
}

#[test]
fn max_wait_overflows_at_its_deadline_and_the_enqueue_overrides_the_queue() {
    let mut q = queue("q", &["a"]);
    q.max_wait = Some(secs(60));
    let mut h = H::new(config(vec![q], &["a"]));
    h.login(&["a"]);
    h.pause("a", "x");
    h.enqueue(1, "q");
    h.enqueue_with(2, "q", 0, vec![], Some(secs(20)));
    h.until(19);
    assert!(h.overflows().is_empty());
    h.until(20);
    assert_eq!(h.overflows(), [(CallRef(2), OverflowReason::MaxWait)]);
    h.until(100);
    assert_eq!(h.overflows(), [(CallRef(1), OverflowReason::MaxWait)]);
    let waits: Vec<(Instant, Duration)> = h
        .events
        .iter()
        .filter_map(|(at, e)| match e {
            EventKind::Overflowed { wait, .. } => Some((*at, *wait)),
            _ => None,
        })
        .collect();
    assert_eq!(waits, [(h.t(20), secs(20)), (h.t(60), secs(60))]);
    assert_eq!(h.acd.timers.len(), 0, "no timer left behind");
}

#[test]
fn max_wait_waits_for_a_ringing_offer_to_end() {
    let mut q = queue("q", &["a", "b"]);
    q.max_wait = Some(secs(10));
    let mut h = H::new(config(vec![q], &["a", "b"]));
    h.login(&["a"]);
    h.enqueue(1, "q");
    h.until(5);
    let offer = h.one_offer();
    h.until(8);
    h.enqueue(2, "q");
    h.until(12);
    assert!(h.overflows().is_empty(), "ringing: no overflow yet");
    h.login(&["b"]);
    assert_eq!(
        h.one_offer().call,
        CallRef(2),
        "a timed-out caller is offered no more"
    );
    h.result(offer.offer, OfferResult::NoAnswer);
    assert_eq!(h.overflows(), [(CallRef(1), OverflowReason::MaxWait)]);
    assert!(h.take_events().contains(&EventKind::Overflowed {
        call: CallRef(1),
        queue: QueueId::new("q"),
        reason: OverflowReason::MaxWait,
        wait: secs(12)
    }));
}

#[test]
fn an_answer_after_the_max_wait_still_wins() {
    let mut q = queue("q", &["a"]);
    q.max_wait = Some(secs(10));
    let mut h = H::new(config(vec![q], &["a"]));
    h.login(&["a"]);
    h.enqueue(1, "q");
    let offer = h.one_offer();
    h.until(15);
    h.result(offer.offer, OfferResult::Answered);
    h.until(16);
    h.connected(1);
    assert!(h.overflows().is_empty());
    assert!(h.take_events().contains(&EventKind::Answered {
        call: CallRef(1),
        queue: QueueId::new("q"),
        agent: id("a"),
        wait: secs(15)
    }));
    assert_eq!(h.acd.timers.len(), 0, "the max wait died with the caller");
}

#[test]
fn a_hangup_abandons_with_its_wait_and_frees_the_ringing_agent_without_a_miss() {
    let mut h = H::new(config(vec![queue("q", &["a"])], &["a"]));
    h.login(&["a"]);
    h.until(3);
    h.enqueue(1, "q");
    let offer = h.one_offer();
    h.until(10);
    h.leave(1, LeaveReason::Hangup);
    assert_eq!(
        h.take_outputs(),
        [Output::CancelOffer {
            offer: offer.offer,
            call: CallRef(1),
            agent: id("a")
        }]
    );
    let events = h.take_events();
    let tail = &events[events.len() - 3..];
    assert_eq!(
        tail,
        [
            EventKind::OfferEnded {
                call: CallRef(1),
                queue: QueueId::new("q"),
                agent: id("a"),
                offer: offer.offer,
                result: Some(OfferResult::Cancelled)
            },
            EventKind::AgentState {
                agent: id("a"),
                state: StateKind::Ready,
                reason: None
            },
            EventKind::Abandoned {
                call: CallRef(1),
                queue: QueueId::new("q"),
                wait: secs(7)
            },
        ]
    );
    assert_eq!(h.agent("a").misses, 0);
    // The call's own report of the cancelled offer is ignored.
    h.result(offer.offer, OfferResult::Cancelled);
    assert!(h.take_events().is_empty());
    // Ready at once: the next caller rings it.
    h.enqueue(2, "q");
    assert_eq!(h.one_offer().agent, id("a"));
}

#[test]
fn an_exit_key_is_an_overflow_with_reason_key_and_gone_is_an_abandon() {
    let mut h = H::new(config(vec![queue("q", &["a"])], &["a"]));
    h.login(&["a"]);
    h.pause("a", "x");
    h.enqueue(1, "q");
    h.enqueue(2, "q");
    h.until(4);
    h.take_events();
    h.leave(1, LeaveReason::Key('0'));
    h.leave(2, LeaveReason::Gone);
    assert!(
        h.overflows().is_empty(),
        "the call left on its own: no decision to send"
    );
    assert_eq!(
        h.take_events(),
        [
            EventKind::Overflowed {
                call: CallRef(1),
                queue: QueueId::new("q"),
                reason: OverflowReason::Key('0'),
                wait: secs(4)
            },
            EventKind::Abandoned {
                call: CallRef(2),
                queue: QueueId::new("q"),
                wait: secs(4)
            },
        ]
    );
    assert!(h.acd.snapshot(h.now).queues[0].waiting.is_empty());
}

#[test]
fn inputs_at_instants_out_of_range_are_clamped() {
    let mut h = H::new(config(vec![queue("q", &["a"])], &["a"]));
    h.login(&["a"]);
    h.pause("a", "x");
    h.until(10);
    // Observed "in the future": recorded at now.
    let late = h.t(50);
    h.input(Input::Enqueue {
        call: CallRef(1),
        queue: QueueId::new("q"),
        priority: 0,
        skills: vec![],
        max_wait: None,
        at: late,
    });
    assert_eq!(h.events.last().map(|(at, _)| *at), Some(h.t(10)));
    // Observed before the last recorded fact: recorded at that fact's instant.
    let early = h.t(1);
    h.input(Input::Leave {
        call: CallRef(1),
        reason: LeaveReason::Hangup,
        at: early,
    });
    assert_eq!(
        h.events.last(),
        Some(&(
            h.t(10),
            EventKind::Abandoned {
                call: CallRef(1),
                queue: QueueId::new("q"),
                wait: Duration::ZERO
            }
        ))
    );
}
