//! Figures on Europe/Paris's DST days: 2026-03-29 has 23 hours (92 intervals, 02:00-03:00
//! never happens), 2026-10-25 has 25 hours (100 intervals, 02:00-03:00 happens twice). Times
//! are given in UTC with their Paris reading beside them.

use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use switchboard_acd::agent::{AgentId, CallRef, StateKind};
use switchboard_acd::config::QueueId;
use switchboard_acd::event::EventKind;
use switchboard_acd::stats::{QueueStatsConfig, Stats, StatsConfig};

const QUARTER: Duration = Duration::from_mins(15);

fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn queue() -> QueueId {
    QueueId::new("q")
}

fn agent() -> AgentId {
    AgentId::new("ann")
}

fn stats() -> Stats {
    let mut config = StatsConfig::new(TimeZone::get("Europe/Paris").expect("zone"));
    config.queues = vec![QueueStatsConfig::new(queue())];
    Stats::new(config).expect("valid config")
}

fn agent_state(stats: &mut Stats, at: &str, state: StateKind) {
    let event = EventKind::AgentState {
        agent: agent(),
        state,
        reason: None,
    };
    stats.record(ts(at), &event);
}

fn join(stats: &mut Stats, at: &str, call: u64) {
    let event = EventKind::Joined {
        call: CallRef(call),
        queue: queue(),
        priority: 0,
    };
    stats.record(ts(at), &event);
}

/// An agent ready from 23:00 the evening before to 01:00 the morning after is ready the whole
/// DST day: every interval full, the day `hours` long.
fn check_whole_day(stats: &Stats, day: Date, intervals: usize, hours: u64, now: Timestamp) {
    let rows = stats.agent_intervals(&agent(), day, now).expect("kept");
    assert_eq!(rows.len(), intervals);
    for (interval, figures) in &rows {
        assert_eq!(interval.length(), QUARTER, "{interval:?}");
        assert_eq!(figures.time.ready, QUARTER, "{interval:?}");
    }
    let whole = stats.agent_day(&agent(), day, now).expect("kept");
    assert_eq!(whole.time.ready, Duration::from_secs(hours * 3600));
    for neighbour in [day.yesterday().expect("day"), day.tomorrow().expect("day")] {
        let hour = stats.agent_day(&agent(), neighbour, now).expect("kept");
        assert_eq!(hour.time.ready, Duration::from_secs(3600), "{neighbour}");
    }
}

#[test]
fn spring_forward_day() {
    let mut stats = stats();
    let day = date(2026, 3, 29);
    // 2026-03-28 23:00 (+01) to 2026-03-30 01:00 (+02).
    agent_state(&mut stats, "2026-03-28T22:00:00Z", StateKind::Ready);
    join(&mut stats, "2026-03-29T00:59:59Z", 1); // 01:59:59 (+01)
    join(&mut stats, "2026-03-29T01:00:00Z", 2); // 03:00:00 (+02), one second later
    agent_state(&mut stats, "2026-03-29T23:00:00Z", StateKind::LoggedOut);
    let now = ts("2026-03-30T00:00:00Z");
    check_whole_day(&stats, day, 92, 23, now);

    let rows = stats.queue_intervals(&queue(), day, now).expect("kept");
    assert_eq!(rows.len(), 92);
    // Interval 7 is 01:45-02:00 (+01), interval 8 is 03:00-03:15 (+02).
    let offered: Vec<u32> = rows.iter().map(|(_, f)| f.offered).collect();
    assert_eq!(offered.iter().sum::<u32>(), 2);
    assert_eq!((offered[7], offered[8]), (1, 1));
    assert_eq!(rows[7].0.start, ts("2026-03-29T00:45:00Z"));
    assert_eq!(rows[8].0.start, ts("2026-03-29T01:00:00Z"));
    let whole = stats.queue_day(&queue(), day, now).expect("kept");
    assert_eq!((whole.offered, whole.waiting), (2, 2));
}

#[test]
fn fall_back_day() {
    let mut stats = stats();
    let day = date(2026, 10, 25);
    // 2026-10-24 23:00 (+02) to 2026-10-26 01:00 (+01).
    agent_state(&mut stats, "2026-10-24T21:00:00Z", StateKind::Ready);
    join(&mut stats, "2026-10-25T00:50:00Z", 1); // 02:50 (+02)
    join(&mut stats, "2026-10-25T01:50:00Z", 2); // 02:50 again (+01)
    agent_state(&mut stats, "2026-10-26T00:00:00Z", StateKind::LoggedOut);
    let now = ts("2026-10-26T01:00:00Z");
    check_whole_day(&stats, day, 100, 25, now);

    // Two intervals read "02:45" locally: the 12th (+02) and the 16th (+01).
    let rows = stats.queue_intervals(&queue(), day, now).expect("kept");
    assert_eq!(rows.len(), 100);
    assert_eq!(rows[11].0.start, ts("2026-10-25T00:45:00Z"));
    assert_eq!(rows[15].0.start, ts("2026-10-25T01:45:00Z"));
    assert_eq!((rows[11].1.offered, rows[15].1.offered), (1, 1));
    let others: u32 = rows.iter().map(|(_, f)| f.offered).sum();
    assert_eq!(others, 2);
    // Both have waited past the 20 s target by `now`.
    let whole = stats.queue_day(&queue(), day, now).expect("kept");
    assert_eq!((whole.waiting, whole.waiting_past_target), (2, 2));
    assert_eq!(
        stats
            .queue_interval(&queue(), ts("2026-10-25T01:50:00Z"), now)
            .expect("kept"),
        rows[15].1
    );
}
