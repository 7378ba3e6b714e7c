//! A hand-worked morning of two queues and three agents, every figure checked against numbers
//! computed by hand (in the comments and literals below), not by the code under test.
//!
//! Europe/Paris, Monday 2026-05-04 (CEST, UTC+2); all times local; figures asked at 11:00:00.
//!
//! Queues: `sales` (target 20 s, short abandon < 5 s, members alice and bob, SL of offered)
//!         `support` (target 30 s, short abandon < 10 s, members bob and carol, SL of answered)
//!
//! | call | queue   | joined   | outcome            | at       | wait | agent | talk | wrap-up |
//! |------|---------|----------|--------------------|----------|------|-------|------|---------|
//! | c1   | sales   | 09:00:10 | answered           | 09:00:18 |    8 | alice |  240 |      30 |
//! | c2   | sales   | 09:02:00 | answered (1)       | 09:04:53 |  173 | alice |  120 |      20 |
//! | c3   | sales   | 09:03:00 | short abandon      | 09:03:03 |    3 |       |      |         |
//! | c4   | sales   | 09:05:00 | abandoned          | 09:06:00 |   60 |       |      |         |
//! | c5   | sales   | 09:14:50 | answered (2)       | 09:15:05 |   15 | bob   |  300 |     145 |
//! | c6   | support | 09:22:40 | answered           | 09:22:50 |   10 | bob   |  480 |      30 |
//! | c7   | sales   | 09:23:00 | overflow max-wait  | 09:25:00 |  120 |       |      |         |
//! | c8   | support | 09:26:00 | answered           | 09:30:06 |  246 | carol |  180 |       0 |
//! | c9   | sales   | 09:39:00 | answered           | 09:39:04 |    4 | alice |  600 |      60 |
//! | c10  | sales   | 09:44:00 | overflow key '1'   | 09:44:40 |   40 |       |      |         |
//! | c11  | support | 09:50:00 | overflow no-agents | 09:50:10 |   10 | (3)   |      |         |
//! | c12  | support | 09:55:00 | overflow no-agents | 09:55:00 |    0 |       |      |         |
//! | c13  | sales   | 09:58:00 | answered           | 09:58:09 |    9 | alice |  600 |      45 |
//! | c14  | sales   | 10:01:00 | abandoned          | 10:03:30 |  150 |       |      |         |
//! | c15  | support | 10:06:00 | answered (= target)| 10:06:30 |   30 | bob   |  240 |     120 |
//! | c16  | sales   | 10:20:00 | answered (> target)| 10:20:21 |   21 | alice |  300 |      30 |
//! | c17  | support | 10:30:00 | answered, talking  | 10:30:12 |   12 | carol |  ... |         |
//! | c18  | support | 10:45:00 | answered, wrap-up  | 10:45:06 |    6 | bob   |  600 |     ... |
//! | c19  | sales   | 10:58:00 | waiting (120 s > 20 s target at 11:00)                    |
//! | c20  | support | 10:59:40 | waiting (20 s < 30 s target at 11:00)                     |
//!
//! (1) first offered to bob at 09:02:02, who let it ring out (no answer, 09:02:22): a miss.
//! (2) joined in the 09:00 interval, answered in the 09:15 one: a 09:00 call.
//! (3) offered to carol at 09:50:01, declined (486) at 09:50:03: a miss; carol then logs out
//!     at 09:50:10 and, bob being logged out too, the caller overflows with `no-agents`.
//!
//! Agent states (from the time given until the next line):
//! * alice: 08:55:00 ready · 09:00:12 reserved · 09:00:18 on call · 09:04:18 wrap-up ·
//!   09:04:48 ready · 09:04:50 reserved · 09:04:53 on call · 09:06:53 wrap-up · 09:07:13 ready ·
//!   09:08:00 paused "lunch" · 09:38:00 ready · 09:39:01 reserved · 09:39:04 on call ·
//!   09:49:04 wrap-up · 09:50:04 ready · 09:58:01 reserved · 09:58:09 on call ·
//!   10:08:09 wrap-up · 10:08:54 ready · 10:20:02 reserved · 10:20:21 on call ·
//!   10:25:21 wrap-up · 10:25:51 ready · 10:40:00 paused "break" (still at 11:00).
//! * bob: 09:00:00 ready · 09:02:02 reserved · 09:02:22 ready · 09:02:30 paused "break" ·
//!   09:14:58 ready · 09:15:00 reserved · 09:15:05 on call · 09:20:05 wrap-up ·
//!   09:22:30 ready · 09:22:42 reserved · 09:22:50 on call · 09:30:50 wrap-up · 09:31:20 ready ·
//!   09:35:00 logged out · 10:05:00 ready · 10:06:01 reserved · 10:06:30 on call ·
//!   10:10:30 wrap-up · 10:12:30 ready · 10:45:01 reserved · 10:45:06 on call ·
//!   10:55:06 wrap-up (still at 11:00).
//! * carol: 09:10:00 ready · 09:12:00 busy (a direct call) · 09:30:00 ready ·
//!   09:30:01 reserved · 09:30:06 on call · 09:33:06 ready (no wrap-up) · 09:50:01 reserved ·
//!   09:50:03 ready · 09:50:10 logged out · 10:10:00 ready · 10:30:02 reserved ·
//!   10:30:12 on call (still at 11:00).

use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use switchboard_acd::agent::{AgentId, CallRef, PauseReason, StateKind};
use switchboard_acd::config::QueueId;
use switchboard_acd::event::EventKind;
use switchboard_acd::io::{OfferId, OfferResult, OverflowReason};
use switchboard_acd::stats::{
    AgentFigures, LiveAgent, LiveQueue, Overflows, QueueFigures, QueueStatsConfig, SlDefinition,
    StateCounts, StateTimes, Stats, StatsConfig,
};

const DAY: Date = date(2026, 5, 4);

fn tz() -> TimeZone {
    TimeZone::get("Europe/Paris").expect("bundled zone")
}

/// Local time on the test day.
fn at(h: i8, m: i8, s: i8) -> Timestamp {
    DAY.at(h, m, s, 0)
        .to_zoned(tz())
        .expect("valid local time")
        .timestamp()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn sales() -> QueueId {
    QueueId::new("sales")
}
fn support() -> QueueId {
    QueueId::new("support")
}
fn alice() -> AgentId {
    AgentId::new("alice")
}
fn bob() -> AgentId {
    AgentId::new("bob")
}
fn carol() -> AgentId {
    AgentId::new("carol")
}

fn config() -> StatsConfig {
    let mut config = StatsConfig::new(tz());
    config.queues = vec![
        QueueStatsConfig {
            queue: sales(),
            service_level: secs(20),
            short_abandon: secs(5),
            definition: SlDefinition::OfOffered,
            members: vec![alice(), bob()],
        },
        QueueStatsConfig {
            queue: support(),
            service_level: secs(30),
            short_abandon: secs(10),
            definition: SlDefinition::OfAnswered,
            members: vec![bob(), carol()],
        },
    ];
    config
}

/// Builds the day's events; [`Events::sorted`] orders them by time, keeping the order of
/// events given for the same instant.
#[derive(Default)]
struct Events {
    list: Vec<(Timestamp, EventKind)>,
    offers: u64,
}

#[rustfmt::skip]
impl Events {
    fn push(&mut self, t: Timestamp, kind: EventKind) {
        self.list.push((t, kind));
    }

    fn state(&mut self, agent: &AgentId, moves: &[(Timestamp, StateKind, Option<&str>)]) {
        for &(t, state, reason) in moves {
            let (agent, reason) = (agent.clone(), reason.map(PauseReason::new));
            self.push(t, EventKind::AgentState { agent, state, reason });
        }
    }

    fn join(&mut self, t: Timestamp, call: u64, queue: &QueueId) {
        let (call, queue) = (CallRef(call), queue.clone());
        self.push(t, EventKind::Joined { call, queue, priority: 0 });
    }

    fn offer(&mut self, t: Timestamp, call: u64, queue: &QueueId, agent: &AgentId) -> OfferId {
        self.offers += 1;
        let offer = OfferId(self.offers);
        let (call, queue, agent) = (CallRef(call), queue.clone(), agent.clone());
        self.push(t, EventKind::Offered { call, queue, agent, offer });
        offer
    }

    /// Offered at `offered`, ended without an answer at `ended`.
    fn miss(&mut self, (offered, ended): (Timestamp, Timestamp), call: u64, queue: &QueueId, agent: &AgentId, result: OfferResult) {
        let offer = self.offer(offered, call, queue, agent);
        let (call, queue, agent, result) = (CallRef(call), queue.clone(), agent.clone(), Some(result));
        self.push(ended, EventKind::OfferEnded { call, queue, agent, offer, result });
    }

    /// Offered at `offered`, answered at `answered` after `wait`, then talk and wrap-up
    /// (each `None` while still going on).
    #[allow(clippy::too_many_arguments, reason = "one line per hand-worked call")]
    fn answer(&mut self, call: u64, queue: &QueueId, agent: &AgentId, offered: Timestamp, answered: Timestamp, wait: u64, talk: Option<u64>, wrap_up: Option<u64>) {
        self.offer(offered, call, queue, agent);
        let (call, q, a) = (CallRef(call), queue.clone(), agent.clone());
        self.push(answered, EventKind::Answered { call, queue: q.clone(), agent: a.clone(), wait: secs(wait) });
        let Some(talk) = talk.map(secs) else { return };
        let ended = answered + talk;
        self.push(ended, EventKind::CallEnded { call, queue: q.clone(), agent: a.clone(), talk });
        let Some(wrap_up) = wrap_up.map(secs) else { return };
        self.push(ended + wrap_up, EventKind::WrapUpEnded { call, queue: q, agent: a, wrap_up });
    }

    fn abandon(&mut self, t: Timestamp, call: u64, queue: &QueueId, wait: u64) {
        let (call, queue, wait) = (CallRef(call), queue.clone(), secs(wait));
        self.push(t, EventKind::Abandoned { call, queue, wait });
    }

    fn overflow(&mut self, t: Timestamp, call: u64, queue: &QueueId, reason: OverflowReason, wait: u64) {
        let (call, queue, wait) = (CallRef(call), queue.clone(), secs(wait));
        self.push(t, EventKind::Overflowed { call, queue, reason, wait });
    }

    fn sorted(mut self) -> Vec<(Timestamp, EventKind)> {
        self.list.sort_by_key(|(t, _)| *t); // stable
        self.list
    }
}

#[rustfmt::skip]
fn the_day() -> Vec<(Timestamp, EventKind)> {
    use StateKind::{LoggedOut, OnCall, Paused, Ready, Reserved, WrapUp, Busy};
    let mut e = Events::default();
    let (s, p) = (&sales(), &support());
    let (a, b, c) = (&alice(), &bob(), &carol());

    e.state(a, &[
        (at(8, 55, 0), Ready, None), (at(9, 0, 12), Reserved, None), (at(9, 0, 18), OnCall, None),
        (at(9, 4, 18), WrapUp, None), (at(9, 4, 48), Ready, None), (at(9, 4, 50), Reserved, None),
        (at(9, 4, 53), OnCall, None), (at(9, 6, 53), WrapUp, None), (at(9, 7, 13), Ready, None),
        (at(9, 8, 0), Paused, Some("lunch")), (at(9, 38, 0), Ready, None),
        (at(9, 39, 1), Reserved, None), (at(9, 39, 4), OnCall, None), (at(9, 49, 4), WrapUp, None),
        (at(9, 50, 4), Ready, None), (at(9, 58, 1), Reserved, None), (at(9, 58, 9), OnCall, None),
        (at(10, 8, 9), WrapUp, None), (at(10, 8, 54), Ready, None), (at(10, 20, 2), Reserved, None),
        (at(10, 20, 21), OnCall, None), (at(10, 25, 21), WrapUp, None), (at(10, 25, 51), Ready, None),
        (at(10, 40, 0), Paused, Some("break")),
    ]);
    e.state(b, &[
        (at(9, 0, 0), Ready, None), (at(9, 2, 2), Reserved, None), (at(9, 2, 22), Ready, None),
        (at(9, 2, 30), Paused, Some("break")), (at(9, 14, 58), Ready, None),
        (at(9, 15, 0), Reserved, None), (at(9, 15, 5), OnCall, None), (at(9, 20, 5), WrapUp, None),
        (at(9, 22, 30), Ready, None), (at(9, 22, 42), Reserved, None), (at(9, 22, 50), OnCall, None),
        (at(9, 30, 50), WrapUp, None), (at(9, 31, 20), Ready, None), (at(9, 35, 0), LoggedOut, None),
        (at(10, 5, 0), Ready, None), (at(10, 6, 1), Reserved, None), (at(10, 6, 30), OnCall, None),
        (at(10, 10, 30), WrapUp, None), (at(10, 12, 30), Ready, None),
        (at(10, 45, 1), Reserved, None), (at(10, 45, 6), OnCall, None), (at(10, 55, 6), WrapUp, None),
    ]);
    e.state(c, &[
        (at(9, 10, 0), Ready, None), (at(9, 12, 0), Busy, None), (at(9, 30, 0), Ready, None),
        (at(9, 30, 1), Reserved, None), (at(9, 30, 6), OnCall, None), (at(9, 33, 6), Ready, None),
        (at(9, 50, 1), Reserved, None), (at(9, 50, 3), Ready, None), (at(9, 50, 10), LoggedOut, None),
        (at(10, 10, 0), Ready, None), (at(10, 30, 2), Reserved, None), (at(10, 30, 12), OnCall, None),
    ]);

    e.join(at(9, 0, 10), 1, s);
    e.answer(1, s, a, at(9, 0, 12), at(9, 0, 18), 8, Some(240), Some(30));
    e.join(at(9, 2, 0), 2, s);
    e.miss((at(9, 2, 2), at(9, 2, 22)), 2, s, b, OfferResult::NoAnswer);
    e.answer(2, s, a, at(9, 4, 50), at(9, 4, 53), 173, Some(120), Some(20));
    e.join(at(9, 3, 0), 3, s);
    e.abandon(at(9, 3, 3), 3, s, 3);
    e.join(at(9, 5, 0), 4, s);
    e.abandon(at(9, 6, 0), 4, s, 60);
    e.join(at(9, 14, 50), 5, s);
    e.answer(5, s, b, at(9, 15, 0), at(9, 15, 5), 15, Some(300), Some(145));
    e.join(at(9, 22, 40), 6, p);
    e.answer(6, p, b, at(9, 22, 42), at(9, 22, 50), 10, Some(480), Some(30));
    e.join(at(9, 23, 0), 7, s);
    e.overflow(at(9, 25, 0), 7, s, OverflowReason::MaxWait, 120);
    e.join(at(9, 26, 0), 8, p);
    e.answer(8, p, c, at(9, 30, 1), at(9, 30, 6), 246, Some(180), Some(0));
    e.join(at(9, 39, 0), 9, s);
    e.answer(9, s, a, at(9, 39, 1), at(9, 39, 4), 4, Some(600), Some(60));
    e.join(at(9, 44, 0), 10, s);
    e.overflow(at(9, 44, 40), 10, s, OverflowReason::Key('1'), 40);
    e.join(at(9, 50, 0), 11, p);
    e.miss((at(9, 50, 1), at(9, 50, 3)), 11, p, c, OfferResult::Declined(486));
    e.overflow(at(9, 50, 10), 11, p, OverflowReason::NoAgents, 10);
    e.join(at(9, 55, 0), 12, p);
    e.overflow(at(9, 55, 0), 12, p, OverflowReason::NoAgents, 0);
    e.join(at(9, 58, 0), 13, s);
    e.answer(13, s, a, at(9, 58, 1), at(9, 58, 9), 9, Some(600), Some(45));
    e.join(at(10, 1, 0), 14, s);
    e.abandon(at(10, 3, 30), 14, s, 150);
    e.join(at(10, 6, 0), 15, p);
    e.answer(15, p, b, at(10, 6, 1), at(10, 6, 30), 30, Some(240), Some(120));
    e.join(at(10, 20, 0), 16, s);
    e.answer(16, s, a, at(10, 20, 2), at(10, 20, 21), 21, Some(300), Some(30));
    e.join(at(10, 30, 0), 17, p);
    e.answer(17, p, c, at(10, 30, 2), at(10, 30, 12), 12, None, None);
    e.join(at(10, 45, 0), 18, p);
    e.answer(18, p, b, at(10, 45, 1), at(10, 45, 6), 6, Some(600), None);
    e.join(at(10, 58, 0), 19, s);
    e.join(at(10, 59, 40), 20, p);
    e.sorted()
}

fn now() -> Timestamp {
    at(11, 0, 0)
}

/// Statistics fed the events stamped at or before `until`.
fn stats_until(until: Timestamp) -> Stats {
    let mut stats = Stats::new(config()).expect("valid config");
    for (t, event) in the_day().iter().filter(|(t, _)| *t <= until) {
        stats.record(*t, event);
    }
    stats
}

fn assert_close(actual: Option<f64>, expected: Option<f64>, what: &str) {
    match (actual, expected) {
        (Some(a), Some(e)) => assert!((a - e).abs() < 1e-6, "{what}: {a} != {e}"),
        _ => assert_eq!(actual, expected, "{what}"),
    }
}

/// Checks the service level under the three definitions: [of offered, of answered, of
/// offered minus short abandons], as percentages computed by hand.
fn assert_sl(f: &QueueFigures, bases: [u32; 3], percents: [Option<f64>; 3], what: &str) {
    let defs = [
        SlDefinition::OfOffered,
        SlDefinition::OfAnswered,
        SlDefinition::OfOfferedMinusShortAbandons,
    ];
    for ((def, base), pct) in defs.into_iter().zip(bases).zip(percents) {
        assert_eq!(f.service_level_base(def), base, "{what} {def:?} base");
        assert_close(
            f.service_level_percent_with(def),
            pct,
            &format!("{what} {def:?}"),
        );
    }
}

// ---- sales -------------------------------------------------------------------------------

/// One interval: its start, the figures, the SL bases and percentages (of offered, of
/// answered, of offered minus short abandons), ASA and AHT.
type QueueRow = (
    (i8, i8),
    QueueFigures,
    [u32; 3],
    [Option<f64>; 3],
    Option<Duration>,
    Option<Duration>,
);

/// Checks every interval of `queue`'s day against `expected` (absent ones must be empty) and
/// that the configured definition is the one at `configured` in the SL arrays.
fn check_queue_intervals(
    stats: &Stats,
    queue: &QueueId,
    definition: SlDefinition,
    configured: usize,
    expected: &[QueueRow],
) {
    let rows = stats.queue_intervals(queue, DAY, now()).expect("kept");
    assert_eq!(rows.len(), 96);
    for (interval, figures) in &rows {
        let Some((hm, want, bases, pcts, asa, aht)) = expected
            .iter()
            .find(|r| at(r.0.0, r.0.1, 0) == interval.start)
        else {
            let empty = QueueFigures {
                definition,
                ..QueueFigures::default()
            };
            assert_eq!(figures, &empty, "{queue} {interval:?} should be empty");
            continue;
        };
        let what = format!("{queue} {hm:?}");
        assert_eq!(figures, want, "{what}");
        assert_sl(figures, *bases, *pcts, &what);
        assert_close(figures.service_level_percent(), pcts[configured], &what);
        assert_eq!(
            (figures.asa(), figures.aht()),
            (*asa, *aht),
            "{what} ASA, AHT"
        );
        let alone = stats
            .queue_interval(queue, interval.start, now())
            .expect("kept");
        assert_eq!(&alone, figures, "{what}");
    }
}

#[test]
#[rustfmt::skip]
fn sales_intervals_and_day() {
    let stats = stats_until(now());
    let of = SlDefinition::OfOffered;
    let expected: [QueueRow; 7] = [
        // c1 (8, within), c2 (173), c3 short (3), c4 abandoned (60), c5 (15, within).
        ((9, 0), QueueFigures {
            offered: 5, answered: 3, answered_within_target: 2, abandoned: 1, short_abandoned: 1,
            answered_wait: secs(8 + 173 + 15), longest_wait: Some(secs(173)),
            handled: 3, handle_time: secs(270 + 140 + 445), definition: of,
            ..QueueFigures::default()
        }, [5, 3, 4], [Some(40.0), Some(66.666_666_667), Some(50.0)],
        Some(Duration::from_nanos(65_333_333_333)), Some(secs(285))),
        // c7 overflows with max-wait after 120 s.
        ((9, 15), QueueFigures {
            offered: 1, overflowed: Overflows { max_wait: 1, ..Overflows::default() },
            longest_wait: Some(secs(120)), definition: of, ..QueueFigures::default()
        }, [1, 0, 1], [Some(0.0), None, Some(0.0)], None, None),
        // c9 (4, within; handled 600 + 60), c10 key overflow after 40 s.
        ((9, 30), QueueFigures {
            offered: 2, answered: 1, answered_within_target: 1,
            overflowed: Overflows { key: 1, ..Overflows::default() },
            answered_wait: secs(4), longest_wait: Some(secs(40)),
            handled: 1, handle_time: secs(660), definition: of, ..QueueFigures::default()
        }, [2, 1, 2], [Some(50.0), Some(100.0), Some(50.0)], Some(secs(4)), Some(secs(660))),
        // c13 (9, within; handled 600 + 45).
        ((9, 45), QueueFigures {
            offered: 1, answered: 1, answered_within_target: 1, answered_wait: secs(9),
            longest_wait: Some(secs(9)), handled: 1, handle_time: secs(645), definition: of,
            ..QueueFigures::default()
        }, [1, 1, 1], [Some(100.0); 3], Some(secs(9)), Some(secs(645))),
        // c14 abandons after 150 s.
        ((10, 0), QueueFigures {
            offered: 1, abandoned: 1, longest_wait: Some(secs(150)), definition: of,
            ..QueueFigures::default()
        }, [1, 0, 1], [Some(0.0), None, Some(0.0)], None, None),
        // c16 answered 1 s after the target (handled 300 + 30).
        ((10, 15), QueueFigures {
            offered: 1, answered: 1, answered_wait: secs(21), longest_wait: Some(secs(21)),
            handled: 1, handle_time: secs(330), definition: of, ..QueueFigures::default()
        }, [1, 1, 1], [Some(0.0); 3], Some(secs(21)), Some(secs(330))),
        // c19 has waited 120 s at 11:00: already failed, in the bases but not in answered.
        ((10, 45), QueueFigures {
            offered: 1, waiting: 1, waiting_past_target: 1, oldest_waiting: Some(secs(120)),
            definition: of, ..QueueFigures::default()
        }, [1, 0, 1], [Some(0.0), None, Some(0.0)], None, None),
    ];
    check_queue_intervals(&stats, &sales(), of, 0, &expected);

    // The day: 12 offered = 6 answered + 2 abandoned + 1 short + 2 overflowed + 1 waiting.
    let day = stats.queue_day(&sales(), DAY, now()).expect("kept");
    assert_eq!(day, QueueFigures {
        offered: 12, answered: 6, answered_within_target: 4, abandoned: 2, short_abandoned: 1,
        overflowed: Overflows { max_wait: 1, key: 1, ..Overflows::default() },
        waiting: 1, waiting_past_target: 1,
        answered_wait: secs(8 + 173 + 15 + 4 + 9 + 21), longest_wait: Some(secs(173)),
        oldest_waiting: Some(secs(120)),
        handled: 6, handle_time: secs(270 + 140 + 445 + 660 + 645 + 330),
        definition: of, ..QueueFigures::default()
    });
    // 4 within of 12 known (6 + 1 + 2 + 2 + 1 past target), of 6 answered, of 11 (no short).
    assert_sl(&day, [12, 6, 11], [Some(33.333_333_333), Some(66.666_666_667), Some(36.363_636_364)], "sales day");
    assert_close(day.service_level_percent(), Some(33.333_333_333), "sales day configured");
    assert_eq!(day.asa(), Some(Duration::from_nanos(38_333_333_333))); // 230 s / 6
    assert_eq!(day.aht(), Some(secs(415))); // 2490 s / 6
}

// ---- support -----------------------------------------------------------------------------

#[test]
#[rustfmt::skip]
fn support_intervals_and_day() {
    let stats = stats_until(now());
    let oa = SlDefinition::OfAnswered;
    let expected: [QueueRow; 5] = [
        // c6 (10, within; 480 + 30), c8 (246, late; 180 + 0).
        ((9, 15), QueueFigures {
            offered: 2, answered: 2, answered_within_target: 1, answered_wait: secs(256),
            longest_wait: Some(secs(246)), handled: 2, handle_time: secs(510 + 180),
            definition: oa, ..QueueFigures::default()
        }, [2, 2, 2], [Some(50.0); 3], Some(secs(128)), Some(secs(345))),
        // c11 overflows after 10 s, c12 at once: both no-agents.
        ((9, 45), QueueFigures {
            offered: 2, overflowed: Overflows { no_agents: 2, ..Overflows::default() },
            longest_wait: Some(secs(10)), definition: oa, ..QueueFigures::default()
        }, [2, 0, 2], [Some(0.0), None, Some(0.0)], None, None),
        // c15 answered after exactly the 30 s target: within (240 + 120).
        ((10, 0), QueueFigures {
            offered: 1, answered: 1, answered_within_target: 1, answered_wait: secs(30),
            longest_wait: Some(secs(30)), handled: 1, handle_time: secs(360),
            definition: oa, ..QueueFigures::default()
        }, [1, 1, 1], [Some(100.0); 3], Some(secs(30)), Some(secs(360))),
        // c17 answered, still talking: not handled yet.
        ((10, 30), QueueFigures {
            offered: 1, answered: 1, answered_within_target: 1, answered_wait: secs(12),
            longest_wait: Some(secs(12)), definition: oa, ..QueueFigures::default()
        }, [1, 1, 1], [Some(100.0); 3], Some(secs(12)), None),
        // c18 answered, in wrap-up; c20 has waited 20 s < 30 s: in no base yet.
        ((10, 45), QueueFigures {
            offered: 2, answered: 1, answered_within_target: 1, waiting: 1,
            answered_wait: secs(6), longest_wait: Some(secs(6)), oldest_waiting: Some(secs(20)),
            definition: oa, ..QueueFigures::default()
        }, [1, 1, 1], [Some(100.0); 3], Some(secs(6)), None),
    ];
    check_queue_intervals(&stats, &support(), oa, 1, &expected);

    let day = stats.queue_day(&support(), DAY, now()).expect("kept");
    assert_eq!(day, QueueFigures {
        offered: 8, answered: 5, answered_within_target: 4,
        overflowed: Overflows { no_agents: 2, ..Overflows::default() }, waiting: 1,
        answered_wait: secs(10 + 246 + 30 + 12 + 6), longest_wait: Some(secs(246)),
        oldest_waiting: Some(secs(20)), handled: 3, handle_time: secs(510 + 180 + 360),
        definition: oa, ..QueueFigures::default()
    });
    assert_sl(&day, [7, 5, 7], [Some(57.142_857_143), Some(80.0), Some(57.142_857_143)], "support day");
    assert_close(day.service_level_percent(), Some(80.0), "support day configured");
    assert_eq!(day.asa(), Some(Duration::from_millis(60_800))); // 304 s / 5
    assert_eq!(day.aht(), Some(secs(350))); // 1050 s / 3
}

// ---- agents ------------------------------------------------------------------------------

fn times(
    ready: u64,
    reserved: u64,
    on_call: u64,
    busy: u64,
    wrap_up: u64,
    paused: &[(&str, u64)],
) -> StateTimes {
    StateTimes {
        ready: secs(ready),
        reserved: secs(reserved),
        on_call: secs(on_call),
        busy: secs(busy),
        wrap_up: secs(wrap_up),
        paused: paused
            .iter()
            .map(|(r, s)| (Some(PauseReason::new(*r)), secs(*s)))
            .collect(),
    }
}

/// Calls of one agent: offers, missed, answered by (sales, support), handled, talk, wrap-up.
fn calls(
    offers: u32,
    missed: u32,
    (on_sales, on_support): (u32, u32),
    handled: u32,
    talk: u64,
    wrap_up: u64,
    time: StateTimes,
) -> AgentFigures {
    let mut answered_by_queue = std::collections::BTreeMap::new();
    if on_sales > 0 {
        answered_by_queue.insert(sales(), on_sales);
    }
    if on_support > 0 {
        answered_by_queue.insert(support(), on_support);
    }
    AgentFigures {
        offers,
        missed_offers: missed,
        answered: on_sales + on_support,
        answered_by_queue,
        handled,
        talk: secs(talk),
        wrap_up: secs(wrap_up),
        time,
    }
}

/// (interval start, figures, AHT, occupancy %) per interval the agent was logged in.
type AgentRow = ((i8, i8), AgentFigures, Option<Duration>, Option<f64>);

fn check_agent(
    agent: &AgentId,
    rows: &[AgentRow],
    day: &AgentFigures,
    day_aht: Option<Duration>,
    day_occupancy: f64,
) {
    let stats = stats_until(now());
    let got = stats.agent_intervals(agent, DAY, now()).expect("kept");
    assert_eq!(got.len(), 96);
    for (interval, figures) in &got {
        let Some((hm, want, aht, occupancy)) =
            rows.iter().find(|r| at(r.0.0, r.0.1, 0) == interval.start)
        else {
            assert_eq!(
                figures,
                &AgentFigures::default(),
                "{agent} {interval:?} should be empty"
            );
            continue;
        };
        let what = format!("{agent} {hm:?}");
        assert_eq!(figures, want, "{what}");
        assert_eq!(figures.aht(), *aht, "{what} AHT");
        assert_close(
            figures.occupancy_percent(),
            *occupancy,
            &format!("{what} occupancy"),
        );
        assert!(figures.time.logged_in() <= interval.length(), "{what}");
    }
    let got_day = stats.agent_day(agent, DAY, now()).expect("kept");
    assert_eq!(&got_day, day, "{agent} day");
    assert_eq!(got_day.aht(), day_aht, "{agent} day AHT");
    assert_close(
        got_day.occupancy_percent(),
        Some(day_occupancy),
        &format!("{agent} day occupancy"),
    );
}

#[test]
#[rustfmt::skip]
fn alice_figures() {
    let rows: Vec<AgentRow> = vec![
        ((8, 45), calls(0, 0, (0, 0), 0, 0, 0, times(300, 0, 0, 0, 0, &[])), None, Some(0.0)),
        // ready 12+2+47, reserved 6+3, on call 240+120, wrap-up 30+20, lunch 09:08-09:15.
        ((9, 0), calls(2, 0, (2, 0), 2, 360, 50, times(61, 9, 360, 0, 50, &[("lunch", 420)])),
            Some(secs(205)), Some(100.0 * 410.0 / 480.0)),
        ((9, 15), calls(0, 0, (0, 0), 0, 0, 0, times(0, 0, 0, 0, 0, &[("lunch", 900)])), None, None),
        // lunch to 09:38, ready 61, reserved 3, on call 09:39:04-09:45 (c9 counted here).
        ((9, 30), calls(1, 0, (1, 0), 1, 600, 60, times(61, 3, 356, 0, 0, &[("lunch", 480)])),
            Some(secs(660)), Some(100.0 * 356.0 / 420.0)),
        // on call 244 + 111, wrap-up 60, ready 477, reserved 8 (c13 counted here).
        ((9, 45), calls(1, 0, (1, 0), 1, 600, 45, times(477, 8, 355, 0, 60, &[])),
            Some(secs(645)), Some(100.0 * 415.0 / 900.0)),
        ((10, 0), calls(0, 0, (0, 0), 0, 0, 0, times(366, 0, 489, 0, 45, &[])), None, Some(100.0 * 534.0 / 900.0)),
        ((10, 15), calls(1, 0, (1, 0), 1, 300, 30, times(302 + 249, 19, 300, 0, 30, &[])),
            Some(secs(330)), Some(100.0 * 330.0 / 900.0)),
        ((10, 30), calls(0, 0, (0, 0), 0, 0, 0, times(600, 0, 0, 0, 0, &[("break", 300)])), None, Some(0.0)),
        ((10, 45), calls(0, 0, (0, 0), 0, 0, 0, times(0, 0, 0, 0, 0, &[("break", 900)])), None, None),
    ];
    // 08:55 to 11:00 = 7500 s logged in.
    let day = calls(5, 0, (5, 0), 5, 1860, 185, times(2416, 39, 1860, 0, 185, &[("break", 1200), ("lunch", 1800)]));
    assert_eq!(day.time.logged_in(), secs(7500));
    check_agent(&alice(), &rows, &day, Some(secs(409)), 100.0 * 2045.0 / 4500.0);
}

#[test]
#[rustfmt::skip]
fn bob_figures() {
    let rows: Vec<AgentRow> = vec![
        // ready 122+8+2, reserved 20 (c2, missed), break 09:02:30-09:14:58.
        ((9, 0), calls(1, 1, (0, 0), 0, 0, 0, times(132, 20, 0, 0, 0, &[("break", 748)])), None, Some(0.0)),
        // c5 (sales) and c6 (support) answered and handled here: talk 300+480, wrap 145+30.
        ((9, 15), calls(2, 0, (1, 1), 2, 780, 175, times(12, 13, 730, 0, 145, &[])),
            Some(Duration::from_millis(477_500)), Some(100.0 * 875.0 / 900.0)),
        // on call to 09:30:50, wrap-up 30, ready 220, logged out at 09:35.
        ((9, 30), calls(0, 0, (0, 0), 0, 0, 0, times(220, 0, 50, 0, 30, &[])), None, Some(100.0 * 80.0 / 300.0)),
        // logged in again at 10:05: c15.
        ((10, 0), calls(1, 0, (0, 1), 1, 240, 120, times(61 + 150, 29, 240, 0, 120, &[])),
            Some(secs(360)), Some(60.0)),
        ((10, 15), calls(0, 0, (0, 0), 0, 0, 0, times(900, 0, 0, 0, 0, &[])), None, Some(0.0)),
        ((10, 30), calls(0, 0, (0, 0), 0, 0, 0, times(900, 0, 0, 0, 0, &[])), None, Some(0.0)),
        // c18 answered, its wrap-up still running at 11:00: answered, not handled.
        ((10, 45), calls(1, 0, (0, 1), 0, 0, 0, times(1, 5, 600, 0, 294, &[])), None, Some(100.0 * 894.0 / 900.0)),
    ];
    // 09:00-09:35 and 10:05-11:00: 5400 s logged in.
    let day = calls(5, 1, (1, 3), 3, 1020, 295, times(2376, 67, 1620, 0, 589, &[("break", 748)]));
    assert_eq!(day.time.logged_in(), secs(5400));
    check_agent(&bob(), &rows, &day, Some(Duration::from_nanos(438_333_333_333)), 100.0 * 2209.0 / 4652.0);
}

#[test]
#[rustfmt::skip]
fn carol_figures() {
    let rows: Vec<AgentRow> = vec![
        ((9, 0), calls(0, 0, (0, 0), 0, 0, 0, times(120, 0, 0, 180, 0, &[])), None, Some(60.0)),
        ((9, 15), calls(0, 0, (0, 0), 0, 0, 0, times(0, 0, 0, 900, 0, &[])), None, Some(100.0)),
        // c8: on call 180, no wrap-up; handled here.
        ((9, 30), calls(1, 0, (0, 1), 1, 180, 0, times(1 + 714, 5, 180, 0, 0, &[])), Some(secs(180)), Some(20.0)),
        // c11 declined (a miss), then logged out at 09:50:10.
        ((9, 45), calls(1, 1, (0, 0), 0, 0, 0, times(301 + 7, 2, 0, 0, 0, &[])), None, Some(0.0)),
        ((10, 0), calls(0, 0, (0, 0), 0, 0, 0, times(300, 0, 0, 0, 0, &[])), None, Some(0.0)),
        ((10, 15), calls(0, 0, (0, 0), 0, 0, 0, times(900, 0, 0, 0, 0, &[])), None, Some(0.0)),
        // c17, still talking at 11:00.
        ((10, 30), calls(1, 0, (0, 1), 0, 0, 0, times(2, 10, 888, 0, 0, &[])), None, Some(100.0 * 888.0 / 900.0)),
        ((10, 45), calls(0, 0, (0, 0), 0, 0, 0, times(0, 0, 900, 0, 0, &[])), None, Some(100.0)),
    ];
    // 09:10-09:50:10 and 10:10-11:00: 5410 s logged in.
    let day = calls(3, 1, (0, 2), 1, 180, 0, times(2345, 17, 1968, 1080, 0, &[]));
    assert_eq!(day.time.logged_in(), secs(5410));
    check_agent(&carol(), &rows, &day, Some(secs(180)), 100.0 * 3048.0 / 5410.0);
}

// ---- live, in progress, replay -----------------------------------------------------------

#[test]
fn live_view_at_eleven() {
    let stats = stats_until(now());
    assert_eq!(
        stats.live(&sales(), now()),
        LiveQueue {
            waiting: 1,
            longest_wait: Some(secs(120)),
            agents: StateCounts {
                paused: 1,
                wrap_up: 1,
                ..StateCounts::default()
            },
        }
    );
    assert_eq!(
        stats.live(&support(), now()),
        LiveQueue {
            waiting: 1,
            longest_wait: Some(secs(20)),
            agents: StateCounts {
                wrap_up: 1,
                on_call: 1,
                ..StateCounts::default()
            },
        }
    );
    assert_eq!(
        stats.live_agent(&alice(), now()),
        Some(LiveAgent {
            state: StateKind::Paused,
            reason: Some(PauseReason::new("break")),
            since: at(10, 40, 0),
            in_state: secs(1200),
        })
    );
    assert_eq!(stats.live_agent(&AgentId::new("dave"), now()), None);
}

/// Figures of an interval change while its calls are in progress.
#[test]
fn a_waiting_call_counts_once_its_target_has_passed() {
    // 09:02:15: c1 answered within target, c2 waiting 15 s (< 20): only c1 is in the base.
    let early = stats_until(at(9, 2, 15));
    let f = early
        .queue_interval(&sales(), at(9, 0, 0), at(9, 2, 15))
        .expect("kept");
    assert_eq!(
        (f.offered, f.answered, f.waiting, f.waiting_past_target),
        (2, 1, 1, 0)
    );
    assert_sl(&f, [1, 1, 1], [Some(100.0); 3], "09:02:15");
    // 09:02:20: c2 has waited exactly the 20 s target: not failed yet; one second later it is.
    let edge = stats_until(at(9, 2, 20));
    let f = edge
        .queue_interval(&sales(), at(9, 0, 0), at(9, 2, 20))
        .expect("kept");
    assert_eq!((f.waiting, f.waiting_past_target), (1, 0));
    let f = edge
        .queue_interval(&sales(), at(9, 0, 0), at(9, 2, 21))
        .expect("kept");
    assert_eq!((f.waiting, f.waiting_past_target), (1, 1));
    // 09:02:30: c2 has waited 30 s: failed already, before it is answered.
    let later = stats_until(at(9, 2, 30));
    let f = later
        .queue_interval(&sales(), at(9, 0, 0), at(9, 2, 30))
        .expect("kept");
    assert_eq!(
        (f.waiting, f.waiting_past_target, f.oldest_waiting),
        (1, 1, Some(secs(30)))
    );
    assert_sl(
        &f,
        [2, 1, 2],
        [Some(50.0), Some(100.0), Some(50.0)],
        "09:02:30",
    );
    // 09:15:02: c5 joined at 09:14:50 and waits in the 09:00 interval, not the 09:15 one.
    let spanning = stats_until(at(9, 15, 2));
    let f = spanning
        .queue_interval(&sales(), at(9, 0, 0), at(9, 15, 2))
        .expect("kept");
    assert_eq!(
        (f.offered, f.waiting, f.oldest_waiting),
        (5, 1, Some(secs(12)))
    );
    let next = spanning
        .queue_interval(&sales(), at(9, 15, 0), at(9, 15, 2))
        .expect("kept");
    assert_eq!(next.offered, 0);
}

#[test]
fn replaying_the_day_gives_the_same_figures() {
    let once = stats_until(now());
    let twice = stats_until(now());
    for queue in [sales(), support()] {
        assert_eq!(
            once.queue_intervals(&queue, DAY, now()).expect("kept"),
            twice.queue_intervals(&queue, DAY, now()).expect("kept")
        );
    }
    for agent in [alice(), bob(), carol()] {
        assert_eq!(
            once.agent_intervals(&agent, DAY, now()).expect("kept"),
            twice.agent_intervals(&agent, DAY, now()).expect("kept")
        );
    }
}
