//! What the ACD is told at start: its queues (strategy, members with penalties, timers,
//! announcements, skill widening) and its agents (skills with levels).
//!
//! The switch builds this from `switchboard.toml`; the ACD never reads files. Values are
//! already validated by the switch's config checker (names unique, members known, levels in
//! 1..=100); the ACD still copes with odd values (a zero ring timeout is treated as one
//! second, a member that names no agent is ignored) rather than panicking.

use std::fmt;
use std::time::Duration;

use crate::agent::{AgentId, Skill};

/// A queue's name as dialplans and the config use it (`support-en`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(String);

impl QueueId {
    /// Wraps a queue name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A skill level, 1 (knows a little) to 100 (native, expert).
///
/// Invariant: within 1..=100 ([`Level::new`] clamps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(u8);

impl Level {
    /// The lowest level: "has the skill at all".
    pub const MIN: Level = Level(1);
    /// The highest level.
    pub const MAX: Level = Level(100);

    /// A level, clamped into 1..=100.
    #[must_use]
    pub fn new(level: u8) -> Self {
        Self(level.clamp(1, 100))
    }

    /// The number.
    #[must_use]
    pub fn get(self) -> u8 {
        self.0
    }
}

/// A skill a caller needs, at least at `min_level` (`en` at 50: an agent with `en` at 60
/// qualifies, one with `en` at 30 does not, until the queue widens the requirement).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SkillReq {
    /// The skill.
    pub skill: Skill,
    /// The least level that meets it.
    pub min_level: Level,
}

impl SkillReq {
    /// `skill` at any level.
    #[must_use]
    pub fn any_level(skill: Skill) -> Self {
        Self {
            skill,
            min_level: Level::MIN,
        }
    }
}

/// How a queue picks among the agents that may take a caller.
///
/// Whatever the strategy, an agent must be ready, reachable, a member of the queue, and meet
/// the caller's (possibly widened) skills; among those only the lowest penalty present is
/// considered. The strategy then orders that tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// Offer the caller to every eligible agent at once; the first to answer takes it.
    RingAll,
    /// The agent idle (ready without a call) the longest. The default, as in mod_callcenter.
    #[default]
    LongestIdle,
    /// Members in their configured order, starting after the one offered last (memory kept
    /// per queue across callers, Asterisk's `rrmemory`).
    RoundRobin,
    /// The agent who has answered the fewest calls of this queue today (ties: longest idle).
    FewestCalls,
    /// Any eligible agent, uniformly, from the ACD's seeded generator.
    Random,
    /// The agent whose levels exceed the caller's requirements by the most (sum of the levels
    /// of the required skills); ties: longest idle.
    SkillsBased,
}

impl Strategy {
    /// The config spelling: `ring-all`, `longest-idle`, `round-robin`, `fewest-calls`, `random`,
    /// `skills`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RingAll => "ring-all",
            Strategy::LongestIdle => "longest-idle",
            Strategy::RoundRobin => "round-robin",
            Strategy::FewestCalls => "fewest-calls",
            Strategy::Random => "random",
            Strategy::SkillsBased => "skills",
        }
    }

    /// Parses the config spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Strategy> {
        [
            Strategy::RingAll,
            Strategy::LongestIdle,
            Strategy::RoundRobin,
            Strategy::FewestCalls,
            Strategy::Random,
            Strategy::SkillsBased,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// An agent's membership of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The agent.
    pub agent: AgentId,
    /// Lower is tried first: members with penalty 1 get callers only when no eligible member
    /// with penalty 0 is ready (Asterisk's penalty).
    pub penalty: u32,
}

/// When a caller's skill requirements loosen with its wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Widening {
    /// After this wait, every required skill is met at [`Level::MIN`] (any level).
    pub any_level_after: Option<Duration>,
    /// After this wait, skills are not required at all: any member of the queue.
    pub any_agent_after: Option<Duration>,
}

/// Position and expected-wait announcements to waiting callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcements {
    /// The first one, this long after joining.
    pub first_after: Duration,
    /// Then every this long.
    pub every: Duration,
    /// Say the caller's position.
    pub position: bool,
    /// Say the expected wait (when the ACD can estimate it).
    pub expected_wait: bool,
}

/// One queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// Its name.
    pub id: QueueId,
    /// How agents are chosen.
    pub strategy: Strategy,
    /// Its members.
    pub members: Vec<Member>,
    /// How long one offer rings an agent before it counts as missed.
    pub ring_timeout: Duration,
    /// After-call work granted to an agent after a call of this queue (an agent serving
    /// several queues gets the longest wrap-up of its queues).
    pub wrap_up: Duration,
    /// Most callers waiting at once; a caller beyond overflows with `full` (None: no limit).
    pub max_len: Option<u32>,
    /// How long a caller waits before overflowing with `max-wait`, unless the dialplan's
    /// `enqueue … max-wait=` says otherwise (None: no limit).
    pub max_wait: Option<Duration>,
    /// How skill requirements widen with the wait.
    pub widening: Widening,
    /// Announcements to waiting callers (None: music only).
    pub announcements: Option<Announcements>,
    /// Service level target: answered within this counts as within service.
    pub service_level: Duration,
    /// Abandons shorter than this are counted apart as short abandons.
    pub short_abandon: Duration,
}

impl QueueConfig {
    /// A queue with the defaults (longest idle, 20 s ring, no wrap-up, no limits, 20 s service
    /// level target, 5 s short abandon) and these members at penalty 0.
    #[must_use]
    pub fn new(id: QueueId, members: impl IntoIterator<Item = AgentId>) -> Self {
        Self {
            id,
            strategy: Strategy::default(),
            members: members
                .into_iter()
                .map(|agent| Member { agent, penalty: 0 })
                .collect(),
            ring_timeout: Duration::from_secs(20),
            wrap_up: Duration::ZERO,
            max_len: None,
            max_wait: None,
            widening: Widening {
                any_level_after: None,
                any_agent_after: None,
            },
            announcements: None,
            service_level: Duration::from_secs(20),
            short_abandon: Duration::from_secs(5),
        }
    }
}

/// One agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// Its id (the switch uses the extension).
    pub id: AgentId,
    /// Its skills with their levels.
    pub skills: Vec<(Skill, Level)>,
    /// The agent's phone has a fixed contact (it never registers): always reachable.
    pub always_reachable: bool,
}

/// When agents are logged in and out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LoginPolicy {
    /// A phone registering logs its agent in, ready (once: a refresh does not undo a logout);
    /// its last registration ending or expiring logs the agent out. Feature codes still work.
    #[default]
    Registration,
    /// Only explicit commands (feature codes, the API) log agents in and out; registration
    /// only makes an agent reachable.
    Explicit,
}

/// The whole ACD configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AcdConfig {
    /// The queues.
    pub queues: Vec<QueueConfig>,
    /// The agents.
    pub agents: Vec<AgentConfig>,
    /// How agents log in.
    pub login: LoginPolicy,
    /// Offers missed in a row (no answer, declined, unreachable) after which the agent is
    /// paused with reason `no-answer` (0: never).
    pub max_missed_offers: u32,
    /// After a missed offer the agent is not offered any call for this long (it stays ready;
    /// mod_callcenter's `no_answer_delay_time`).
    pub missed_offer_delay: Duration,
    /// Past an offer's ring timeout, how long the ACD waits for the call's result before it
    /// releases the agent itself (so no reservation is ever stuck).
    pub offer_grace: Duration,
    /// Agents restored as logged in at start stay logged in this long without a registration,
    /// then are logged out (their phones may re-register after the restart).
    pub reachability_grace: Duration,
    /// Recent handle times kept per queue for the expected-wait estimate.
    pub ewt_window: usize,
    /// Seed of the `random` strategy's generator.
    pub rng_seed: u64,
}

impl Default for AcdConfig {
    fn default() -> Self {
        Self {
            queues: Vec::new(),
            agents: Vec::new(),
            login: LoginPolicy::default(),
            max_missed_offers: 3,
            missed_offer_delay: Duration::from_secs(5),
            offer_grace: Duration::from_secs(10),
            reachability_grace: Duration::from_secs(3600),
            ewt_window: 20,
            rng_seed: 0,
        }
    }
}
