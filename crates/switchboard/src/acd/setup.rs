//! The ACD's configuration and statistics from `switchboard.toml`, and its state restored from
//! the store at start.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use switchboard_acd::config::{
    AcdConfig, AgentConfig as AcdAgent, Announcements, Level, LoginPolicy, Member,
    QueueConfig as AcdQueue, QueueId, Widening,
};
use switchboard_acd::io::Restored;
use switchboard_acd::stats::{QueueStatsConfig, SlDefinition, Stats, StatsConfig};
use switchboard_acd::{Acd, AgentId, Skill, Strategy};
use switchboard_store::{Reader, Startup};

use crate::config::Config;

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

fn nonzero(s: u32) -> Option<Duration> {
    (s > 0).then(|| secs(s))
}

/// Each queue's members: its listed agents, else every agent with all the queue's skills.
#[must_use]
pub fn members(config: &Config) -> HashMap<String, Vec<String>> {
    config
        .queues
        .iter()
        .map(|q| {
            let has = |ext: &str| {
                config.agents.iter().any(|a| {
                    a.extension == ext
                        && q.skills.iter().all(|s| {
                            a.languages.iter().any(|l| l.eq_ignore_ascii_case(s))
                                || a.skills.keys().any(|k| k.eq_ignore_ascii_case(s))
                        })
                })
            };
            let members = if q.agents.is_empty() {
                config
                    .agents
                    .iter()
                    .map(|a| a.extension.clone())
                    .filter(|e| has(e))
                    .collect()
            } else {
                q.agents.clone()
            };
            (q.name.clone(), members)
        })
        .collect()
}

/// The ACD's configuration.
#[must_use]
pub fn acd_config(config: &Config, seed: u64) -> AcdConfig {
    let members = members(config);
    let queues = config
        .queues
        .iter()
        .map(|q| AcdQueue {
            id: QueueId::new(q.name.clone()),
            strategy: Strategy::parse(&q.strategy).unwrap_or_default(),
            members: members
                .get(&q.name)
                .into_iter()
                .flatten()
                .map(|ext| Member {
                    agent: AgentId::new(ext.clone()),
                    penalty: q.penalties.get(ext).copied().unwrap_or(0),
                })
                .collect(),
            ring_timeout: secs(q.ring_timeout_s),
            wrap_up: secs(q.wrapup_s),
            max_len: (q.max_len > 0).then_some(q.max_len),
            max_wait: nonzero(q.max_wait_s),
            widening: Widening {
                any_level_after: nonzero(q.widen_after_s),
                any_agent_after: nonzero(q.any_agent_after_s),
            },
            announcements: nonzero(q.announce_every_s).map(|every| Announcements {
                first_after: secs(q.announce_first_s),
                every,
                position: q.announce_position,
                expected_wait: q.announce_wait,
            }),
            service_level: secs(q.service_level_s),
            short_abandon: secs(q.short_abandon_s),
        })
        .collect();
    let agents = config
        .agents
        .iter()
        .map(|a| {
            let mut skills: Vec<(Skill, Level)> = a
                .languages
                .iter()
                .filter(|l| !a.skills.keys().any(|k| k.eq_ignore_ascii_case(l)))
                .map(|l| (Skill::new(l.clone()), Level::MAX))
                .collect();
            skills.extend(
                a.skills
                    .iter()
                    .map(|(s, level)| (Skill::new(s.clone()), Level::new(*level))),
            );
            AcdAgent {
                id: AgentId::new(a.extension.clone()),
                skills,
                always_reachable: a.contact.is_some(),
            }
        })
        .collect();
    AcdConfig {
        queues,
        agents,
        login: if config.acd.login == "explicit" {
            LoginPolicy::Explicit
        } else {
            LoginPolicy::Registration
        },
        max_missed_offers: config.acd.max_missed_offers,
        missed_offer_delay: secs(config.acd.missed_offer_delay_s),
        reachability_grace: secs(config.sip.max_expires),
        rng_seed: seed,
        ..AcdConfig::default()
    }
}

/// The statistics' configuration.
///
/// # Errors
/// When the time zone is unknown (the config check refuses that first).
pub fn stats_config(config: &Config, acd: &AcdConfig) -> anyhow::Result<StatsConfig> {
    let tz = jiff::tz::TimeZone::get(&config.acd.time_zone)?;
    let definition = match config.acd.service_level.as_str() {
        "answered" => SlDefinition::OfAnswered,
        "offered-minus-short" => SlDefinition::OfOfferedMinusShortAbandons,
        _ => SlDefinition::OfOffered,
    };
    let mut stats = StatsConfig::new(tz);
    stats.queues = acd
        .queues
        .iter()
        .map(|q| QueueStatsConfig::from_queue(q, definition))
        .collect();
    Ok(stats)
}

/// The ACD restored from the store: agents logged in and paused as they were.
#[must_use]
pub fn restored_acd(config: AcdConfig, startup: &Startup, now: Instant) -> Acd {
    let mut acd = Acd::new(config, now);
    for (agent, state) in &startup.agents {
        if *state != Restored::LoggedOut {
            tracing::info!(agent = %agent, state = ?state, "agent state restored");
        }
        acd.restore(now, agent, state.clone());
    }
    acd
}

/// Statistics with the stored events of the days they keep replayed, so the figures are the
/// ones before the restart.
///
/// # Errors
/// When the statistics' configuration is refused or the store cannot be read.
pub fn replayed_stats(config: StatsConfig, reader: &Reader) -> anyhow::Result<Stats> {
    let days = i64::from(config.days_kept.max(1));
    let tz = config.tz.clone();
    let mut stats = Stats::new(config)?;
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    let first = today
        .checked_sub(jiff::Span::new().days(days - 1))
        .unwrap_or(today);
    let since = first
        .to_zoned(tz)
        .map(|z| z.timestamp())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    // What each agent was doing when the window opens, then everything since.
    for kind in reader.agent_states_before(since)? {
        stats.record(since, &kind);
    }
    let events = reader.acd_events_since(since)?;
    let count = events.len();
    for (at, kind) in &events {
        stats.record(*at, kind);
    }
    tracing::info!(events = count, since = %since, "statistics rebuilt from the store");
    Ok(stats)
}
