//! What `switchboard agents` and `switchboard queues` print: the ACD's live state with today's
//! figures, as plain serialisable rows (the control socket sends them as JSON; the CLI prints
//! them as tables or passes the JSON on with `--json`).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use switchboard_acd::stats::Stats;
use switchboard_acd::{Acd, StateKind};

use crate::clock::wall;

/// The ACD at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Every agent.
    pub agents: Vec<AgentRow>,
    /// Every queue.
    pub queues: Vec<QueueRow>,
    /// The ACD's routing decisions since start (enqueue to offer, when an agent was free).
    pub routing: RoutingRow,
}

/// Routing decision times, microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingRow {
    /// Decisions counted.
    pub decisions: u64,
    /// Median.
    pub p50_us: Option<u64>,
    /// 99th percentile.
    pub p99_us: Option<u64>,
    /// Longest.
    pub max_us: u64,
}

/// One agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRow {
    /// Its id (extension).
    pub agent: String,
    /// `logged-out`, `ready`, `reserved`, `on-call`, `busy`, `wrap-up`, `paused`.
    pub state: String,
    /// Why paused.
    pub reason: Option<String>,
    /// Seconds in that state.
    pub in_state_s: u64,
    /// Its phone can be rung.
    pub reachable: bool,
    /// A pause or logout waiting for its call to end.
    pub pending: Option<String>,
    /// Queue calls answered since it logged in.
    pub answered_since_login: u32,
    /// Queue calls answered today.
    pub answered_today: u32,
    /// Offers missed today.
    pub missed_today: u32,
    /// Talk time today, seconds.
    pub talk_today_s: u64,
    /// Occupancy today, percent.
    pub occupancy_today_pct: Option<f64>,
    /// Offers missed in a row now.
    pub misses_in_row: u32,
    /// Its queues.
    pub queues: Vec<String>,
}

/// One queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueRow {
    /// Its name.
    pub queue: String,
    /// Its strategy.
    pub strategy: String,
    /// Callers waiting now.
    pub waiting: u32,
    /// The longest current wait, seconds.
    pub longest_wait_s: u64,
    /// Members ready / ringing / on a queue call / busy / in wrap-up / paused / logged out.
    pub ready: u32,
    /// See `ready`.
    pub reserved: u32,
    /// See `ready`.
    pub on_call: u32,
    /// See `ready`.
    pub busy: u32,
    /// See `ready`.
    pub wrap_up: u32,
    /// See `ready`.
    pub paused: u32,
    /// See `ready`.
    pub logged_out: u32,
    /// Calls that joined today.
    pub offered_today: u32,
    /// Of those, answered.
    pub answered_today: u32,
    /// Abandoned (short abandons apart).
    pub abandoned_today: u32,
    /// Short abandons.
    pub short_abandoned_today: u32,
    /// Given back to the dialplan.
    pub overflowed_today: u32,
    /// Service level today, percent (the queue's definition).
    pub service_level_today_pct: Option<f64>,
    /// Average speed of answer today, seconds.
    pub asa_today_s: Option<f64>,
    /// Average handle time today, seconds.
    pub aht_today_s: Option<f64>,
}

impl View {
    pub(crate) fn new(
        acd: &Acd,
        stats: &Stats,
        tz: &jiff::tz::TimeZone,
        latency: &super::latency::Latency,
        now: Instant,
    ) -> View {
        let snapshot = acd.snapshot(now);
        let at = wall(now);
        let today = Some(at.to_zoned(tz.clone()).date());
        let agents = snapshot
            .agents
            .iter()
            .map(|a| {
                let day = today.and_then(|d| stats.agent_day(&a.id, d, at).ok());
                AgentRow {
                    agent: a.id.to_string(),
                    state: state_name(a.state).to_owned(),
                    reason: a.reason.as_ref().map(ToString::to_string),
                    in_state_s: now.saturating_duration_since(a.since).as_secs(),
                    reachable: a.reachable,
                    pending: a.pending.as_ref().map(|p| format!("{p:?}").to_lowercase()),
                    answered_since_login: a.answered,
                    answered_today: day.as_ref().map_or(0, |d| d.answered),
                    missed_today: day.as_ref().map_or(0, |d| d.missed_offers),
                    talk_today_s: day.as_ref().map_or(0, |d| d.time.on_call.as_secs()),
                    occupancy_today_pct: day.as_ref().and_then(|d| d.occupancy_percent()),
                    misses_in_row: a.misses,
                    queues: a.queues.iter().map(|(q, _)| q.to_string()).collect(),
                }
            })
            .collect();
        let queues = snapshot
            .queues
            .iter()
            .map(|q| {
                let day = today.and_then(|d| stats.queue_day(&q.id, d, at).ok());
                let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
                QueueRow {
                    queue: q.id.to_string(),
                    strategy: q.strategy.as_str().to_owned(),
                    waiting: u32::try_from(q.waiting.len()).unwrap_or(u32::MAX),
                    longest_wait_s: q.longest_wait.as_secs(),
                    ready: q.agents.ready,
                    reserved: q.agents.reserved,
                    on_call: q.agents.on_call,
                    busy: q.agents.busy,
                    wrap_up: q.agents.wrap_up,
                    paused: q.agents.paused,
                    logged_out: q.agents.logged_out,
                    offered_today: day.as_ref().map_or(0, |d| d.offered),
                    answered_today: day.as_ref().map_or(0, |d| d.answered),
                    abandoned_today: day.as_ref().map_or(0, |d| d.abandoned),
                    short_abandoned_today: day.as_ref().map_or(0, |d| d.short_abandoned),
                    overflowed_today: day.as_ref().map_or(0, |d| d.overflowed.total()),
                    service_level_today_pct: day.as_ref().and_then(|d| d.service_level_percent()),
                    asa_today_s: secs(day.as_ref().and_then(|d| d.asa())),
                    aht_today_s: secs(day.as_ref().and_then(|d| d.aht())),
                }
            })
            .collect();
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        View {
            at: at.to_string(),
            agents,
            queues,
            routing: RoutingRow {
                decisions: latency.count(),
                p50_us: latency.quantile(0.5).map(us),
                p99_us: latency.quantile(0.99).map(us),
                max_us: us(latency.max()),
            },
        }
    }

    /// `switchboard agents` as a table.
    #[must_use]
    pub fn agents_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<8} {:<10} {:<14} {:>9} {:>6} {:>8} {:>6} {:>9} {:>6}  QUEUES",
            "AGENT", "STATE", "REASON", "IN STATE", "PHONE", "ANSWERED", "MISSED", "TALK", "OCC%"
        );
        for a in &self.agents {
            let _ = writeln!(
                out,
                "{:<8} {:<10} {:<14} {:>9} {:>6} {:>8} {:>6} {:>9} {:>6}  {}",
                a.agent,
                a.state,
                a.reason.as_deref().unwrap_or("-"),
                clock(a.in_state_s),
                if a.reachable { "up" } else { "down" },
                a.answered_today,
                a.missed_today,
                clock(a.talk_today_s),
                a.occupancy_today_pct
                    .map_or_else(|| "-".to_owned(), |p| format!("{p:.0}")),
                a.queues.join(","),
            );
        }
        out
    }

    /// `switchboard queues` as a table.
    #[must_use]
    pub fn queues_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<16} {:>7} {:>8} {:>20} {:>7} {:>8} {:>9} {:>9} {:>6} {:>6} {:>6}",
            "QUEUE",
            "WAITING",
            "LONGEST",
            "RDY/RNG/ON/BSY/WU/PS",
            "OFFERED",
            "ANSWERED",
            "ABANDONED",
            "OVERFLOW",
            "SL%",
            "ASA",
            "AHT"
        );
        for q in &self.queues {
            let agents = format!(
                "{}/{}/{}/{}/{}/{}",
                q.ready, q.reserved, q.on_call, q.busy, q.wrap_up, q.paused
            );
            let secs = |s: Option<f64>| s.map_or_else(|| "-".to_owned(), |s| format!("{s:.0}s"));
            let _ = writeln!(
                out,
                "{:<16} {:>7} {:>8} {:>20} {:>7} {:>8} {:>9} {:>9} {:>6} {:>6} {:>6}",
                q.queue,
                q.waiting,
                clock(q.longest_wait_s),
                agents,
                q.offered_today,
                q.answered_today,
                format!("{}+{}", q.abandoned_today, q.short_abandoned_today),
                q.overflowed_today,
                q.service_level_today_pct
                    .map_or_else(|| "-".to_owned(), |p| format!("{p:.0}")),
                secs(q.asa_today_s),
                secs(q.aht_today_s),
            );
        }
        if self.routing.decisions > 0 {
            let us = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v} µs"));
            let _ = writeln!(
                out,
                "routing decisions: {}, p50 {}, p99 {}, max {} µs",
                self.routing.decisions,
                us(self.routing.p50_us),
                us(self.routing.p99_us),
                self.routing.max_us
            );
        }
        out
    }
}

/// The stored and displayed name of a state.
#[must_use]
pub fn state_name(state: StateKind) -> &'static str {
    match state {
        StateKind::LoggedOut => "logged-out",
        StateKind::Ready => "ready",
        StateKind::Reserved => "reserved",
        StateKind::OnCall => "on-call",
        StateKind::Busy => "busy",
        StateKind::WrapUp => "wrap-up",
        StateKind::Paused => "paused",
        _ => "unknown",
    }
}

/// `h:mm:ss`.
fn clock(secs: u64) -> String {
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}
