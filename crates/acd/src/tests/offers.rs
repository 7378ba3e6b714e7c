//! Offers: results, ring-all races, failed connections, misses, deadlines, late answers.

use super::*;
use crate::config::Strategy;

fn ring_all(members: &[&str]) -> AcdConfig {
    let mut q = queue("q", members);
    q.strategy = Strategy::RingAll;
    config(vec![q], members)
}

fn offer_to<'a>(offers: &'a [Offered], agent: &str) -> &'a Offered {
    offers
        .iter()
        .find(|o| o.agent == id(agent))
        .unwrap_or_else(|| panic!("no offer to {agent} in {offers:?}"))
}

#[test]
fn ring_all_first_answer_wins_and_the_others_are_released_at_once() {
    let mut h = H::new(ring_all(&["a", "b", "c"]));
    h.login(&["a", "b", "c"]);
    h.enqueue(1, "q");
    let round = h.offers();
    assert_eq!(round.len(), 3);
    h.until(1);
    h.enqueue(2, "q");
    assert!(h.offers().is_empty(), "everyone rings for caller 1");
    h.until(4);
    h.take_events();
    h.result(offer_to(&round, "b").offer, OfferResult::Answered);
    let outputs = h.take_outputs();
    let cancelled: Vec<AgentId> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::CancelOffer { agent, call, .. } if *call == CallRef(1) => Some(agent.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, [id("a"), id("c")]);
    // Released without a miss, and caller 2 rings them in the same breath.
    let second: Vec<AgentId> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Offer { agent, call, .. } if *call == CallRef(2) => Some(agent.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(second, [id("a"), id("c")]);
    assert_eq!(h.agent("a").misses, 0);
    assert_eq!(h.state("b"), StateKind::OnCall);
    let ended: Vec<Option<OfferResult>> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            EventKind::OfferEnded { result, .. } => Some(result),
            _ => None,
        })
        .collect();
    assert_eq!(ended, [Some(OfferResult::Cancelled); 2]);
    // The call's reports of the cancelled offers are ignored.
    h.result(offer_to(&round, "a").offer, OfferResult::Cancelled);
    h.result(offer_to(&round, "c").offer, OfferResult::Answered);
    assert!(h.take_events().is_empty());
    assert_eq!(
        h.state("c"),
        StateKind::Reserved,
        "still ringing for caller 2"
    );
    h.until(6);
    h.connected(1);
    assert_eq!(
        h.take_events(),
        [EventKind::Answered {
            call: CallRef(1),
            queue: QueueId::new("q"),
            agent: id("b"),
            wait: secs(4)
        }]
    );
}

#[test]
fn connect_failed_puts_the_caller_back_at_its_place_without_wrap_up() {
    let mut q = queue("q", &["a"]);
    q.wrap_up = secs(30);
    let mut h = H::new(config(vec![q], &["a"]));
    h.login(&["a"]);
    h.enqueue(1, "q");
    let offer = h.one_offer();
    h.until(2);
    h.enqueue(2, "q");
    h.result(offer.offer, OfferResult::Answered);
    h.until(3);
    h.take_events();
    h.connect_failed(1);
    let again = h.one_offer();
    assert_eq!(
        again.call,
        CallRef(1),
        "back at its place, ahead of caller 2"
    );
    let events = h.take_events();
    assert_eq!(
        events[0],
        EventKind::ConnectFailed {
            call: CallRef(1),
            queue: QueueId::new("q"),
            agent: id("a")
        }
    );
    assert!(
        !events.iter().any(|e| matches!(
            e,
            EventKind::AgentState {
                state: StateKind::WrapUp,
                ..
            }
        )),
        "no wrap-up: {events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventKind::WrapUpEnded { .. })),
        "nothing was answered, so no wrap-up record"
    );
}

#[test]
fn ring_all_race_connect_failed_rings_everybody_again_at_once() {
    let mut h = H::new(ring_all(&["a", "b", "c"]));
    h.login(&["a", "b", "c"]);
    h.enqueue(1, "q");
    let round = h.offers();
    h.until(2);
    h.result(offer_to(&round, "a").offer, OfferResult::Answered);
    h.take_outputs();
    h.until(3);
    h.connect_failed(1);
    let mut second: Vec<AgentId> = h.offers().into_iter().map(|o| o.agent).collect();
    second.sort();
    assert_eq!(second, [id("a"), id("b"), id("c")]);
    // The late reports of b and c for the first round change nothing.
    h.result(offer_to(&round, "b").offer, OfferResult::Cancelled);
    h.result(offer_to(&round, "c").offer, OfferResult::Answered);
    assert_eq!(h.state("b"), StateKind::Reserved);
    assert_eq!(h.state("c"), StateKind::Reserved);
}

#[test]
fn misses_rest_the_agent_then_pause_it_with_reason_no_answer() {
    let mut c = config(vec![queue("q", &["a"])], &["a"]);
    c.max_missed_offers = 2;
    c.missed_offer_delay = secs(10);
    let mut h = H::new(c);
    h.login(&["a"]);
    h.enqueue(1, "q");
    let first = h.one_offer();
    h.until(1);
    h.result(first.offer, OfferResult::NoAnswer);
    assert_eq!(h.state("a"), StateKind::Ready);
    assert_eq!(h.agent("a").misses, 1);
    h.until(10);
    assert!(h.offers().is_empty(), "resting until 11 s");
    h.until(11);
    let second = h.one_offer();
    h.take_events();
    h.result(second.offer, OfferResult::Unreachable);
    assert_eq!(h.state("a"), StateKind::Paused);
    assert!(h.take_events().contains(&EventKind::AgentState {
        agent: id("a"),
        state: StateKind::Paused,
        reason: Some(PauseReason::new(crate::NO_ANSWER))
    }));
    assert_eq!(h.agent("a").misses, 0);

    // Back to work: an answer resets the count, so one more miss only rests it.
    h.command("a", AgentCommand::Ready);
    let third = h.one_offer();
    h.result(third.offer, OfferResult::Declined(603));
    h.until(30);
    let fourth = h.one_offer();
    h.result(fourth.offer, OfferResult::Answered);
    assert_eq!(h.agent("a").misses, 0);
}

#[test]
fn a_cancel_by_the_call_is_no_miss() {
    let mut h = H::new(config(vec![queue("q", &["a"])], &["a"]));
    h.login(&["a"]);
    h.enqueue(1, "q");
    let offer = h.one_offer();
    h.result(offer.offer, OfferResult::Cancelled);
    assert_eq!(h.agent("a").misses, 0);
    assert_eq!(h.one_offer().call, CallRef(1), "offered again at once");
}

#[test]
fn the_deadline_releases_an_agent_whose_result_never_comes() {
    let mut h = H::new(config(vec![queue("q", &["a"])], &["a"]));
    h.login(&["a"]);
    h.enqueue(1, "q");
    let offer = h.one_offer();
    assert_eq!(
        h.acd.poll_timeout(),
        Some(h.t(30)),
        "20 s ring + 10 s grace"
    );
    h.until(29);
    assert_eq!(h.state("a"), StateKind::Reserved);
    h.take_events();
    h.until(30);
    assert_eq!(h.state("a"), StateKind::Ready);
    assert_eq!(
        h.take_outputs(),
        [Output::CancelOffer {
            offer: offer.offer,
            call: CallRef(1),
            agent: id("a")
        }]
    );
    assert_eq!(
        h.events.first(),
        Some(&(
            h.t(30),
            EventKind::OfferEnded {
                call: CallRef(1),
                queue: QueueId::new("q"),
                agent: id("a"),
                offer: offer.offer,
                result: None
            }
        ))
    );
    assert_eq!(h.agent("a").misses, 1, "a deadline counts as a miss");
    h.take_events();
    h.result(offer.offer, OfferResult::Cancelled);
    h.result(OfferId(999), OfferResult::NoAnswer);
    assert!(h.take_events().is_empty() && h.take_outputs().is_empty());
}

#[test]
fn a_late_answer_is_honoured_while_the_caller_still_waits() {
    let mut h = H::new(config(vec![queue("q", &["a"])], &["a"]));
    h.login(&["a"]);
    h.enqueue(1, "q");
    let offer = h.one_offer();
    h.until(31);
    assert_eq!(h.agent("a").resting_until, Some(h.t(35)));
    h.result(offer.offer, OfferResult::Answered);
    let a = h.agent("a");
    assert_eq!(
        (a.state, a.call, a.misses),
        (StateKind::OnCall, Some(CallRef(1)), 0)
    );
    assert_eq!(a.resting_until, None);
    h.connected(1);
    assert!(h.take_events().contains(&EventKind::Answered {
        call: CallRef(1),
        queue: QueueId::new("q"),
        agent: id("a"),
        wait: secs(31)
    }));
}

#[test]
fn a_late_answer_takes_the_agent_from_another_callers_offer() {
    let mut c = config(vec![queue("q", &["a"])], &["a"]);
    c.missed_offer_delay = Duration::ZERO;
    let mut h = H::new(c);
    h.login(&["a"]);
    h.enqueue(1, "q");
    let first = h.one_offer();
    h.until(5);
    h.enqueue_with(2, "q", 5, vec![], None);
    h.until(30);
    let second = h.one_offer();
    assert_eq!(
        second.call,
        CallRef(2),
        "the higher priority caller is next"
    );
    h.result(first.offer, OfferResult::Answered);
    assert_eq!(
        h.take_outputs(),
        [Output::CancelOffer {
            offer: second.offer,
            call: CallRef(2),
            agent: id("a")
        }]
    );
    assert_eq!(h.agent("a").call, Some(CallRef(1)));
    let waiting = &h.acd.snapshot(h.now).queues[0].waiting;
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].call, CallRef(2));
}

#[test]
fn a_late_answer_for_a_caller_that_left_changes_nothing() {
    let mut h = H::new(config(vec![queue("q", &["a"])], &["a"]));
    h.login(&["a"]);
    h.enqueue(1, "q");
    let offer = h.one_offer();
    h.until(31);
    h.leave(1, LeaveReason::Hangup);
    h.take_events();
    h.result(offer.offer, OfferResult::Answered);
    assert_eq!(h.state("a"), StateKind::Ready);
    assert!(h.take_events().is_empty());
}

#[test]
fn a_call_ending_sends_the_agent_to_the_longest_wrap_up_of_its_queues() {
    let mut short = queue("short", &["a"]);
    short.wrap_up = secs(10);
    let mut long = queue("long", &["a"]);
    long.wrap_up = secs(45);
    let mut h = H::new(config(vec![short, long], &["a"]));
    h.login(&["a"]);
    h.enqueue(1, "short");
    let offer = h.one_offer();
    h.result(offer.offer, OfferResult::Answered);
    h.connected(1);
    h.until(60);
    h.take_events();
    h.end(1);
    assert_eq!(
        h.take_events(),
        [
            EventKind::CallEnded {
                call: CallRef(1),
                queue: QueueId::new("short"),
                agent: id("a"),
                talk: secs(60)
            },
            EventKind::AgentState {
                agent: id("a"),
                state: StateKind::WrapUp,
                reason: None
            }
        ]
    );
    h.until(104);
    assert_eq!(h.state("a"), StateKind::WrapUp);
    h.until(200);
    assert_eq!(
        h.events.first(),
        Some(&(
            h.t(105),
            EventKind::WrapUpEnded {
                call: CallRef(1),
                queue: QueueId::new("short"),
                agent: id("a"),
                wrap_up: secs(45)
            }
        ))
    );
    assert_eq!(h.state("a"), StateKind::Ready);
}

#[test]
fn exactly_one_wrap_up_end_however_the_wrap_up_ends() {
    let mut q = queue("q", &["a"]);
    q.wrap_up = secs(30);
    let mut zero = queue("zero", &["b"]);
    zero.wrap_up = Duration::ZERO;
    let mut h = H::new(config(vec![q, zero], &["a", "b"]));
    h.login(&["a", "b"]);
    let wrap_ends = |h: &mut H| {
        h.take_events()
            .into_iter()
            .filter_map(|e| match e {
                EventKind::WrapUpEnded { call, wrap_up, .. } => Some((call.0, wrap_up)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // Ended early by the agent.
    h.enqueue(1, "q");
    let offer = h.one_offer();
    h.handle_call(&offer);
    h.until(5);
    h.command("a", AgentCommand::Ready);
    // Ended by a pause, then by a logout.
    h.enqueue(2, "q");
    let offer = h.one_offer();
    h.handle_call(&offer);
    h.until(6);
    h.pause("a", "coffee");
    h.command("a", AgentCommand::Ready);
    h.enqueue(3, "q");
    let offer = h.one_offer();
    h.handle_call(&offer);
    h.until(8);
    h.command("a", AgentCommand::Logout);
    // A queue with no wrap-up: closed at once with zero.
    h.enqueue(4, "zero");
    let offer = h.one_offer();
    h.handle_call(&offer);
    assert_eq!(
        wrap_ends(&mut h),
        [
            (1, secs(5)),
            (2, secs(1)),
            (3, secs(2)),
            (4, Duration::ZERO)
        ]
    );
    h.until(100);
    assert!(wrap_ends(&mut h).is_empty());
    assert_eq!(h.state("b"), StateKind::Ready);
}
