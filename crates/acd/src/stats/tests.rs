//! Unit tests of the rules `docs/statistics.md` states, one rule per test, in UTC unless the
//! rule is about local time.

use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::date;
use jiff::tz::TimeZone;

use super::*;
use crate::agent::{CallRef, PauseReason};
use crate::io::{OfferId, OverflowReason};

fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn q() -> QueueId {
    QueueId::new("q")
}

fn ann() -> AgentId {
    AgentId::new("ann")
}

/// UTC statistics with queue `q`: 20 s target, 5 s short abandon, of offered.
fn stats() -> Stats {
    let mut config = StatsConfig::new(TimeZone::UTC);
    config.queues = vec![QueueStatsConfig::new(q())];
    Stats::new(config).expect("valid config")
}

fn joined(call: u64) -> EventKind {
    EventKind::Joined {
        call: CallRef(call),
        queue: q(),
        priority: 0,
    }
}

fn answered(call: u64, wait: u64) -> EventKind {
    EventKind::Answered {
        call: CallRef(call),
        queue: q(),
        agent: ann(),
        wait: secs(wait),
    }
}

fn call_ended(call: u64, talk: u64) -> EventKind {
    EventKind::CallEnded {
        call: CallRef(call),
        queue: q(),
        agent: ann(),
        talk: secs(talk),
    }
}

fn wrap_up_ended(call: u64, wrap_up: u64) -> EventKind {
    EventKind::WrapUpEnded {
        call: CallRef(call),
        queue: q(),
        agent: ann(),
        wrap_up: secs(wrap_up),
    }
}

fn interrupted(call: u64) -> EventKind {
    EventKind::Interrupted {
        call: CallRef(call),
        queue: q(),
    }
}

fn state(kind: StateKind, reason: Option<&str>) -> EventKind {
    EventKind::AgentState {
        agent: ann(),
        state: kind,
        reason: reason.map(PauseReason::new),
    }
}

/// The books balance: every offered visit has exactly one outcome or still waits.
fn assert_balanced(f: &QueueFigures) {
    let closed = f.answered
        + f.abandoned
        + f.short_abandoned
        + f.overflowed.total()
        + f.interrupted
        + f.waiting;
    assert_eq!(closed, f.offered, "{f:?}");
}

#[test]
fn config_is_checked() {
    let mut config = StatsConfig::new(TimeZone::UTC);
    config.days_kept = 0;
    assert_eq!(Stats::new(config).err(), Some(StatsError::NoDaysKept));
    let mut config = StatsConfig::new(TimeZone::UTC);
    config.interval = secs(25 * 60);
    assert_eq!(
        Stats::new(config).err(),
        Some(StatsError::Interval(secs(1500)))
    );
}

#[test]
fn an_interrupted_waiting_call_fails_the_service_level_but_is_not_abandoned() {
    let mut s = stats();
    s.record(ts("2026-05-04T10:00:00Z"), &joined(1));
    s.record(ts("2026-05-04T10:00:05Z"), &interrupted(1));
    let f = s
        .queue_interval(&q(), ts("2026-05-04T10:00:00Z"), ts("2026-05-04T10:01:00Z"))
        .expect("kept");
    assert_eq!(
        f,
        QueueFigures {
            offered: 1,
            interrupted: 1,
            ..QueueFigures::default()
        }
    );
    assert_eq!(f.service_level_base(SlDefinition::OfOffered), 1);
    assert_eq!(
        f.service_level_base(SlDefinition::OfOfferedMinusShortAbandons),
        1
    );
    assert_eq!(f.service_level_base(SlDefinition::OfAnswered), 0);
    assert_eq!(f.service_level_percent(), Some(0.0));
    assert_eq!(s.live(&q(), ts("2026-05-04T10:01:00Z")).waiting, 0);
}

#[test]
fn an_interrupted_answered_call_stays_answered_without_a_handle_time() {
    let mut s = stats();
    s.record(ts("2026-05-04T10:00:00Z"), &joined(1));
    s.record(ts("2026-05-04T10:00:10Z"), &answered(1, 10));
    s.record(ts("2026-05-04T10:03:00Z"), &interrupted(1));
    // Whatever the store writes after the restart for that call is not a handle time.
    s.record(ts("2026-05-04T10:04:00Z"), &call_ended(1, 60));
    s.record(ts("2026-05-04T10:04:00Z"), &wrap_up_ended(1, 0));
    let now = ts("2026-05-04T10:05:00Z");
    let f = s.queue_interval(&q(), now, now).expect("kept");
    let f0 = s
        .queue_interval(&q(), ts("2026-05-04T10:00:00Z"), now)
        .expect("kept");
    assert_eq!(f, f0);
    assert_eq!(
        (f.answered, f.interrupted, f.handled, f.handling_cut),
        (1, 0, 0, 1)
    );
    assert_balanced(&f);
    let a = s.agent_interval(&ann(), now, now).expect("kept");
    assert_eq!((a.answered, a.handled, a.aht()), (1, 0, None));
}

#[test]
fn a_lost_call_end_cuts_the_handling() {
    let mut s = stats();
    s.record(ts("2026-05-04T10:00:00Z"), &joined(1));
    s.record(ts("2026-05-04T10:00:10Z"), &answered(1, 10));
    s.record(ts("2026-05-04T10:02:00Z"), &wrap_up_ended(1, 30));
    let now = ts("2026-05-04T10:05:00Z");
    let f = s.queue_interval(&q(), now, now).expect("kept");
    assert_eq!((f.handled, f.handling_cut), (0, 1));
}

#[test]
fn an_outcome_without_its_join_is_counted_where_the_call_joined() {
    // A replay that starts at 10:00 sees an answer for a call that joined at 09:59:50.
    let mut s = stats();
    s.record(ts("2026-05-04T10:00:05Z"), &answered(1, 15));
    let now = ts("2026-05-04T10:01:00Z");
    let earlier = s
        .queue_interval(&q(), ts("2026-05-04T09:59:50Z"), now)
        .expect("kept");
    assert_eq!(
        earlier,
        QueueFigures {
            offered: 1,
            answered: 1,
            answered_within_target: 1,
            answered_wait: secs(15),
            longest_wait: Some(secs(15)),
            ..QueueFigures::default()
        }
    );
    assert_eq!(s.queue_interval(&q(), now, now).expect("kept").offered, 0);
}

#[test]
fn a_second_join_of_a_waiting_call_closes_the_first_as_interrupted() {
    let mut s = stats();
    s.record(ts("2026-05-04T10:00:00Z"), &joined(1));
    s.record(ts("2026-05-04T10:20:00Z"), &joined(1));
    let now = ts("2026-05-04T10:21:00Z");
    let day = s.queue_day(&q(), date(2026, 5, 4), now).expect("kept");
    assert_eq!((day.offered, day.interrupted, day.waiting), (2, 1, 1));
    assert_balanced(&day);
}

#[test]
fn a_call_that_overflows_is_a_new_call_of_the_next_queue() {
    let mut s = stats();
    let other = QueueId::new("other");
    s.record(ts("2026-05-04T10:00:00Z"), &joined(1));
    s.record(
        ts("2026-05-04T10:00:00Z"),
        &EventKind::Overflowed {
            call: CallRef(1),
            queue: q(),
            reason: OverflowReason::Full,
            wait: Duration::ZERO,
        },
    );
    s.record(
        ts("2026-05-04T10:00:01Z"),
        &EventKind::Joined {
            call: CallRef(1),
            queue: other.clone(),
            priority: 0,
        },
    );
    let now = ts("2026-05-04T10:00:30Z");
    let first = s.queue_interval(&q(), now, now).expect("kept");
    assert_eq!(
        (first.offered, first.overflowed.full, first.waiting),
        (1, 1, 0)
    );
    // An unconfigured queue gets the default 20 s target: 29 s waited is past it.
    let second = s.queue_interval(&other, now, now).expect("kept");
    assert_eq!(
        (second.offered, second.waiting, second.waiting_past_target),
        (1, 1, 1)
    );
    assert_eq!(s.queues().count(), 2);
}

#[test]
fn short_abandons_are_strictly_under_the_threshold() {
    let mut s = stats();
    for (call, wait) in [(1, 4), (2, 5)] {
        s.record(ts("2026-05-04T10:00:00Z"), &joined(call));
        s.record(
            ts("2026-05-04T10:00:10Z"),
            &EventKind::Abandoned {
                call: CallRef(call),
                queue: q(),
                wait: secs(wait),
            },
        );
    }
    let now = ts("2026-05-04T10:01:00Z");
    let f = s.queue_interval(&q(), now, now).expect("kept");
    assert_eq!((f.short_abandoned, f.abandoned), (1, 1));
    assert_eq!(f.service_level_base(SlDefinition::OfOffered), 2);
    assert_eq!(
        f.service_level_base(SlDefinition::OfOfferedMinusShortAbandons),
        1
    );
}

#[test]
fn earlier_stamps_are_taken_as_the_latest_seen() {
    let mut s = stats();
    s.record(ts("2026-05-04T10:15:01Z"), &joined(1));
    s.record(ts("2026-05-04T10:14:59Z"), &joined(2)); // 2 s out of order
    let now = ts("2026-05-04T10:16:00Z");
    assert_eq!(s.queue_interval(&q(), now, now).expect("kept").offered, 2);
    let before = s
        .queue_interval(&q(), ts("2026-05-04T10:14:59Z"), now)
        .expect("kept");
    assert_eq!(before.offered, 0);
}

#[test]
fn agent_time_is_split_at_interval_edges() {
    // A 20-minute call from 10:10: 5 minutes in 10:00, 15 in 10:15.
    let mut s = stats();
    s.record(ts("2026-05-04T10:10:00Z"), &state(StateKind::OnCall, None));
    s.record(ts("2026-05-04T10:30:00Z"), &state(StateKind::Ready, None));
    let now = ts("2026-05-04T10:40:00Z");
    let at = |t: &str| s.agent_interval(&ann(), ts(t), now).expect("kept");
    assert_eq!(at("2026-05-04T10:00:00Z").time.on_call, secs(300));
    assert_eq!(at("2026-05-04T10:15:00Z").time.on_call, secs(900));
    let last = at("2026-05-04T10:30:00Z").time;
    assert_eq!((last.on_call, last.ready), (Duration::ZERO, secs(600)));
    assert_eq!(at("2026-05-04T10:45:00Z").time.ready, Duration::ZERO);
    assert_eq!(
        s.live_agent(&ann(), now).map(|a| a.in_state),
        Some(secs(600))
    );
}

#[test]
fn agent_time_is_split_at_local_midnight() {
    let mut config = StatsConfig::new(TimeZone::get("Europe/Paris").expect("zone"));
    config.days_kept = 2;
    let mut s = Stats::new(config).expect("valid");
    // 23:50 to 00:10 local (+02): 10 minutes on each day.
    s.record(ts("2026-05-04T21:50:00Z"), &state(StateKind::Ready, None));
    s.record(
        ts("2026-05-04T22:10:00Z"),
        &state(StateKind::LoggedOut, None),
    );
    let now = ts("2026-05-04T23:00:00Z");
    for day in [date(2026, 5, 4), date(2026, 5, 5)] {
        let f = s.agent_day(&ann(), day, now).expect("kept");
        assert_eq!(f.time.logged_in(), secs(600), "{day}");
    }
}

#[test]
fn a_pause_reason_only_counts_while_paused() {
    let mut s = stats();
    s.record(ts("2026-05-04T10:00:00Z"), &state(StateKind::Paused, None));
    s.record(
        ts("2026-05-04T10:01:00Z"),
        &state(StateKind::Ready, Some("stray")),
    );
    s.record(
        ts("2026-05-04T10:02:00Z"),
        &state(StateKind::Paused, Some("lunch")),
    );
    let now = ts("2026-05-04T10:05:00Z");
    let f = s.agent_interval(&ann(), now, now).expect("kept");
    assert_eq!(
        f.time.paused,
        vec![
            (None, secs(60)),
            (Some(PauseReason::new("lunch")), secs(180))
        ]
    );
    assert_eq!(f.time.ready, secs(60));
    assert_eq!(f.time.paused_for(None), secs(60));
    assert_eq!(f.occupancy_percent(), Some(0.0));
    assert_eq!(
        s.live_agent(&ann(), now).and_then(|a| a.reason),
        Some(PauseReason::new("lunch"))
    );
}

#[test]
fn only_the_agents_own_failures_are_missed_offers() {
    let mut s = stats();
    let results = [
        Some(OfferResult::NoAnswer),
        Some(OfferResult::Declined(603)),
        Some(OfferResult::Unreachable),
        Some(OfferResult::Cancelled),
        None,
    ];
    for (n, result) in (0_u64..).zip(results) {
        let at = ts("2026-05-04T10:00:00Z");
        let (call, queue, agent, offer) = (CallRef(n), q(), ann(), OfferId(n));
        s.record(
            at,
            &EventKind::Offered {
                call,
                queue: queue.clone(),
                agent: agent.clone(),
                offer,
            },
        );
        s.record(
            at,
            &EventKind::OfferEnded {
                call,
                queue,
                agent,
                offer,
                result,
            },
        );
    }
    let now = ts("2026-05-04T10:01:00Z");
    let f = s.agent_interval(&ann(), now, now).expect("kept");
    assert_eq!((f.offers, f.missed_offers), (5, 3));
}

#[test]
fn a_new_target_applies_to_calls_still_waiting_only() {
    let mut s = stats();
    s.record(ts("2026-05-04T10:00:00Z"), &joined(1));
    s.record(ts("2026-05-04T10:00:15Z"), &answered(1, 15));
    s.record(ts("2026-05-04T10:00:20Z"), &joined(2));
    let mut tighter = QueueStatsConfig::new(q());
    tighter.service_level = secs(10);
    tighter.definition = SlDefinition::OfAnswered;
    s.set_queue(tighter);
    let now = ts("2026-05-04T10:00:32Z"); // call 2 has waited 12 s
    let f = s.queue_interval(&q(), now, now).expect("kept");
    assert_eq!((f.answered_within_target, f.waiting_past_target), (1, 1));
    assert_eq!(f.definition, SlDefinition::OfAnswered);
}

#[test]
fn old_days_are_forgotten() {
    let mut config = StatsConfig::new(TimeZone::UTC);
    config.days_kept = 2;
    config.queues = vec![QueueStatsConfig::new(q())];
    let mut s = Stats::new(config).expect("valid");
    assert_eq!(s.kept_from(), None);
    s.record(ts("2026-05-04T10:00:00Z"), &joined(1)); // waits forever (a lost event)
    s.record(ts("2026-05-04T10:00:00Z"), &state(StateKind::Ready, None));
    s.record(ts("2026-05-05T10:00:00Z"), &joined(2));
    assert_eq!(s.kept_from(), Some(ts("2026-05-04T00:00:00Z")));
    let now = ts("2026-05-06T10:00:00Z");
    s.record(now, &joined(3));
    assert_eq!(s.kept_from(), Some(ts("2026-05-05T00:00:00Z")));
    assert_eq!(
        s.queue_day(&q(), date(2026, 5, 4), now),
        Err(StatsError::Forgotten {
            start: ts("2026-05-04T00:00:00Z"),
            kept_from: ts("2026-05-05T00:00:00Z"),
        })
    );
    assert!(s.agent_day(&ann(), date(2026, 5, 4), now).is_err());
    // Call 1 is forgotten with its day; calls 2 and 3 wait on.
    assert_eq!(s.live(&q(), now).waiting, 2);
    // The agent, ready since the forgotten day, counts from the first day kept.
    let day = s.agent_day(&ann(), date(2026, 5, 5), now).expect("kept");
    assert_eq!(day.time.ready, secs(86_400));
    let today = s.agent_day(&ann(), date(2026, 5, 6), now).expect("kept");
    assert_eq!(today.time.ready, secs(36_000));
}

#[test]
fn unknown_queues_and_agents_have_empty_figures() {
    let s = stats();
    let now = ts("2026-05-04T10:00:00Z");
    let nobody = QueueId::new("nobody");
    assert_eq!(
        s.queue_interval(&nobody, now, now),
        Ok(QueueFigures::default())
    );
    assert_eq!(s.live(&nobody, now), LiveQueue::default());
    assert_eq!(
        s.agent_day(&ann(), date(2026, 5, 4), now),
        Ok(AgentFigures::default())
    );
    assert_eq!(
        s.queue_day(&nobody, date(9999, 12, 31), now),
        Err(StatsError::DayOutOfRange(date(9999, 12, 31)))
    );
}
