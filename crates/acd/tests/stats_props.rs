//! Property tests of the statistics: any stream of events, legal or not, stamped at any times
//! (mostly forward, sometimes backwards, across local midnights and DST changes), never
//! panics; every period's books balance; a day's additive figures are the sums of its
//! intervals'; and replaying the same stream gives the same figures.

use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use switchboard_acd::agent::{AgentId, CallRef, PauseReason, StateKind};
use switchboard_acd::config::QueueId;
use switchboard_acd::event::EventKind;
use switchboard_acd::io::{OfferId, OfferResult, OverflowReason};
use switchboard_acd::stats::{
    AgentFigures, QueueFigures, QueueStatsConfig, SlDefinition, Stats, StatsConfig, StatsError,
};

const QUEUES: [&str; 2] = ["a", "b"];
const AGENTS: [&str; 2] = ["x", "y"];
const DEFINITIONS: [SlDefinition; 3] = [
    SlDefinition::OfOffered,
    SlDefinition::OfAnswered,
    SlDefinition::OfOfferedMinusShortAbandons,
];

fn queue(i: usize) -> QueueId {
    QueueId::new(QUEUES[i])
}

fn agent(i: usize) -> AgentId {
    AgentId::new(AGENTS[i])
}

fn reason() -> impl Strategy<Value = OverflowReason> {
    prop_oneof![
        Just(OverflowReason::NoAgents),
        Just(OverflowReason::MaxWait),
        Just(OverflowReason::Full),
        Just(OverflowReason::Key('1')),
    ]
}

fn offer_result() -> impl Strategy<Value = Option<OfferResult>> {
    prop_oneof![
        Just(None),
        Just(Some(OfferResult::NoAnswer)),
        Just(Some(OfferResult::Declined(486))),
        Just(Some(OfferResult::Unreachable)),
        Just(Some(OfferResult::Cancelled)),
    ]
}

fn state() -> impl Strategy<Value = (StateKind, Option<PauseReason>)> {
    let kind = prop_oneof![
        Just(StateKind::LoggedOut),
        Just(StateKind::Ready),
        Just(StateKind::Reserved),
        Just(StateKind::OnCall),
        Just(StateKind::Busy),
        Just(StateKind::WrapUp),
        Just(StateKind::Paused),
    ];
    let reason = prop_oneof![
        Just(None),
        Just(Some(PauseReason::new("lunch"))),
        Just(Some(PauseReason::new("break"))),
    ];
    (kind, reason)
}

/// Waits, talks and wrap-ups up to 20 minutes, in milliseconds.
fn dur() -> impl Strategy<Value = Duration> {
    (0_u64..1_200_000).prop_map(Duration::from_millis)
}

fn event() -> impl Strategy<Value = EventKind> {
    let call = (0_u64..6).prop_map(CallRef);
    let q = (0_usize..2).prop_map(queue);
    let a = (0_usize..2).prop_map(agent);
    prop_oneof![
        4 => (call.clone(), q.clone(), -5_i32..5)
            .prop_map(|(call, queue, priority)| EventKind::Joined { call, queue, priority }),
        2 => (call.clone(), q.clone(), a.clone(), dur())
            .prop_map(|(call, queue, agent, wait)| EventKind::Answered { call, queue, agent, wait }),
        2 => (call.clone(), q.clone(), dur().prop_map(|d| d / 100))
            .prop_map(|(call, queue, wait)| EventKind::Abandoned { call, queue, wait }),
        1 => (call.clone(), q.clone(), reason(), dur())
            .prop_map(|(call, queue, reason, wait)| EventKind::Overflowed { call, queue, reason, wait }),
        1 => (call.clone(), q.clone())
            .prop_map(|(call, queue)| EventKind::Interrupted { call, queue }),
        2 => (call.clone(), q.clone(), a.clone(), dur())
            .prop_map(|(call, queue, agent, talk)| EventKind::CallEnded { call, queue, agent, talk }),
        2 => (call.clone(), q.clone(), a.clone(), dur())
            .prop_map(|(call, queue, agent, wrap_up)| EventKind::WrapUpEnded { call, queue, agent, wrap_up }),
        1 => (call.clone(), q.clone(), a.clone(), 0_u64..100).prop_map(|(call, queue, agent, o)| {
            EventKind::Offered { call, queue, agent, offer: OfferId(o) }
        }),
        1 => (call.clone(), q.clone(), a.clone(), offer_result()).prop_map(|(call, queue, agent, result)| {
            EventKind::OfferEnded { call, queue, agent, offer: OfferId(0), result }
        }),
        1 => (call, q, a.clone())
            .prop_map(|(call, queue, agent)| EventKind::ConnectFailed { call, queue, agent }),
        3 => (a, state()).prop_map(|(agent, (state, reason))| EventKind::AgentState { agent, state, reason }),
    ]
}

/// Time from the previous event, in ms: mostly forward (up to 20 min), sometimes backwards.
fn step() -> impl Strategy<Value = i64> {
    prop_oneof![10 => 0_i64..1_200_000, 1 => -5_000_i64..0]
}

/// Where streams start: an ordinary evening, and the evenings before Paris's DST changes.
fn start() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        Just("2026-05-04T19:00:00Z"),
        Just("2026-03-28T20:00:00Z"),
        Just("2026-10-24T20:00:00Z"),
    ]
    .prop_map(|s| s.parse::<Timestamp>().expect("valid"))
}

fn stream() -> impl Strategy<Value = Vec<(Timestamp, EventKind)>> {
    (start(), prop::collection::vec((step(), event()), 0..150)).prop_map(|(t0, steps)| {
        let mut t = t0;
        steps
            .into_iter()
            .map(|(ms, e)| {
                t = t
                    .saturating_add(SignedDuration::from_millis(ms))
                    .expect("small step");
                (t, e)
            })
            .collect()
    })
}

fn config(days_kept: u32) -> StatsConfig {
    let mut config = StatsConfig::new(TimeZone::get("Europe/Paris").expect("zone"));
    config.days_kept = days_kept;
    config.queues = vec![
        QueueStatsConfig::new(queue(0)),
        QueueStatsConfig {
            definition: SlDefinition::OfOfferedMinusShortAbandons,
            ..QueueStatsConfig::new(queue(1))
        },
    ];
    config
}

fn replay(days_kept: u32, events: &[(Timestamp, EventKind)]) -> Stats {
    let mut stats = Stats::new(config(days_kept)).expect("valid config");
    for (t, e) in events {
        stats.record(*t, e);
    }
    stats
}

/// The local days the stream touches, and a `now` after its last event.
fn days_and_now(events: &[(Timestamp, EventKind)]) -> (Vec<Date>, Timestamp) {
    let tz = TimeZone::get("Europe/Paris").expect("zone");
    let first = events.first().map_or(Timestamp::UNIX_EPOCH, |e| e.0);
    let last = events.iter().map(|e| e.0).max().unwrap_or(first);
    let now = last + Duration::from_secs(90);
    let mut days = vec![tz.to_datetime(first).date()];
    while let Some(&d) = days.last().filter(|d| **d < tz.to_datetime(now).date()) {
        days.push(d.tomorrow().expect("in range"));
    }
    (days, now)
}

fn assert_balanced(f: &QueueFigures, what: &str) {
    let outcomes = f.answered
        + f.abandoned
        + f.short_abandoned
        + f.overflowed.total()
        + f.interrupted
        + f.waiting;
    assert_eq!(outcomes, f.offered, "{what}: {f:?}");
    assert!(f.answered_within_target <= f.answered, "{what}");
    assert!(f.waiting_past_target <= f.waiting, "{what}");
    assert!(f.handled + f.handling_cut <= f.answered, "{what}");
    for def in DEFINITIONS {
        assert!(f.service_level_base(def) <= f.offered, "{what}");
        if let Some(pct) = f.service_level_percent_with(def) {
            assert!((0.0..=100.0).contains(&pct), "{what}");
        }
    }
}

/// The additive part of queue figures, summed by hand (not with the code under test).
fn queue_sums(rows: &[&QueueFigures]) -> [u128; 14] {
    let mut s = [0_u128; 14];
    for f in rows {
        let o = &f.overflowed;
        let counts = [
            f.offered,
            f.answered,
            f.answered_within_target,
            f.abandoned,
            f.short_abandoned,
            o.no_agents,
            o.max_wait,
            o.full,
            o.key,
            f.interrupted,
            f.waiting,
            f.waiting_past_target,
            f.handled,
        ];
        for (slot, n) in s.iter_mut().zip(counts) {
            *slot += u128::from(n);
        }
        s[13] += f.answered_wait.as_nanos() + f.handle_time.as_nanos() * 3;
    }
    s
}

/// The additive part of agent figures, summed by hand.
fn agent_sums(rows: &[&AgentFigures]) -> Vec<u128> {
    let mut s = vec![0_u128; 12];
    for f in rows {
        let t = &f.time;
        let values = [
            u128::from(f.offers),
            u128::from(f.missed_offers),
            u128::from(f.answered),
            u128::from(f.handled),
            f.talk.as_nanos(),
            f.wrap_up.as_nanos(),
            t.ready.as_nanos(),
            t.reserved.as_nanos(),
            t.on_call.as_nanos(),
            t.busy.as_nanos(),
            t.wrap_up.as_nanos(),
            t.paused_for(Some(&PauseReason::new("lunch"))).as_nanos()
                + 7 * t.paused_for(None).as_nanos()
                + 13 * t.paused_for(Some(&PauseReason::new("break"))).as_nanos(),
        ];
        for (slot, v) in s.iter_mut().zip(values) {
            *slot += v;
        }
    }
    s
}

fn check_queues(stats: &Stats, days: &[Date], now: Timestamp) {
    let mut live_waiting = 0;
    for q in [queue(0), queue(1)] {
        for &day in days {
            let what = format!("{q} {day}");
            let whole = stats.queue_day(&q, day, now).expect("kept");
            assert_balanced(&whole, &what);
            let rows = stats.queue_intervals(&q, day, now).expect("kept");
            for (interval, f) in &rows {
                assert_balanced(f, &format!("{what} {interval:?}"));
            }
            let parts: Vec<&QueueFigures> = rows.iter().map(|(_, f)| f).collect();
            assert_eq!(queue_sums(&parts), queue_sums(&[&whole]), "{what}");
            let longest = parts.iter().filter_map(|f| f.longest_wait).max();
            assert_eq!(longest, whole.longest_wait, "{what}");
            let oldest = parts.iter().filter_map(|f| f.oldest_waiting).max();
            assert_eq!(oldest, whole.oldest_waiting, "{what}");
            live_waiting += whole.waiting;
        }
    }
    let live: u32 = [queue(0), queue(1)]
        .iter()
        .map(|q| stats.live(q, now).waiting)
        .sum();
    assert_eq!(
        live, live_waiting,
        "every waiting call belongs to a kept day"
    );
}

fn check_agents(stats: &Stats, days: &[Date], now: Timestamp) {
    for a in [agent(0), agent(1)] {
        for &day in days {
            let what = format!("{a} {day}");
            let whole = stats.agent_day(&a, day, now).expect("kept");
            let rows = stats.agent_intervals(&a, day, now).expect("kept");
            for (interval, f) in &rows {
                assert!(
                    f.time.logged_in() <= interval.length(),
                    "{what} {interval:?}"
                );
                if let Some(pct) = f.occupancy_percent() {
                    assert!((0.0..=100.0).contains(&pct), "{what}");
                }
            }
            let parts: Vec<&AgentFigures> = rows.iter().map(|(_, f)| f).collect();
            assert_eq!(agent_sums(&parts), agent_sums(&[&whole]), "{what}");
            let by_queue: u32 = whole.answered_by_queue.values().sum();
            assert_eq!(by_queue, whole.answered, "{what}");
            let day_length = stats.day(day).expect("day").length();
            assert!(whole.time.logged_in() <= day_length, "{what}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn books_balance_and_days_add_up(events in stream()) {
        let stats = replay(30, &events);
        let (days, now) = days_and_now(&events);
        check_queues(&stats, &days, now);
        check_agents(&stats, &days, now);
    }

    #[test]
    fn replaying_gives_identical_figures(events in stream()) {
        let (days, now) = days_and_now(&events);
        let once = replay(30, &events);
        let twice = replay(30, &events);
        for day in days {
            for q in [queue(0), queue(1)] {
                prop_assert_eq!(
                    once.queue_intervals(&q, day, now).expect("kept"),
                    twice.queue_intervals(&q, day, now).expect("kept")
                );
                prop_assert_eq!(once.live(&q, now), twice.live(&q, now));
            }
            for a in [agent(0), agent(1)] {
                prop_assert_eq!(
                    once.agent_intervals(&a, day, now).expect("kept"),
                    twice.agent_intervals(&a, day, now).expect("kept")
                );
                prop_assert_eq!(once.live_agent(&a, now), twice.live_agent(&a, now));
            }
        }
    }

    /// Keeping one day forgets at every midnight; the days kept still balance, and the
    /// forgotten ones answer with an error rather than wrong figures.
    #[test]
    fn forgetting_keeps_the_books_balanced(events in stream()) {
        let stats = replay(1, &events);
        let (days, now) = days_and_now(&events);
        for q in [queue(0), queue(1)] {
            for &day in &days {
                match stats.queue_day(&q, day, now) {
                    Ok(f) => assert_balanced(&f, &format!("{q} {day}")),
                    Err(e) => {
                        let forgotten = matches!(e, StatsError::Forgotten { .. });
                        prop_assert!(forgotten, "{}", e);
                    }
                }
            }
        }
    }
}
