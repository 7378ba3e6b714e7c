//! `[dialplan]` and `[[queues]]`: where the IVR scripts and their prompts live, and the queues
//! a dialplan can `enqueue` callers into.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[dialplan]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialplanConfig {
    /// Folder of `*.kdl` dialplans (relative to the working directory).
    pub dir: String,
    /// Folder of prompts: `{sounds}/{language}/{name}.wav`.
    pub sounds: String,
    /// Language whose prompts are played when a prompt is missing in the caller's language.
    pub default_language: String,
    /// Reload the dialplans when a file in `dir` changes (as `switchboard reload` or SIGHUP do).
    pub watch: bool,
    /// How long a call to an agent's extension rings (an agent calling another, or a trunk
    /// number that is an extension) before the caller hears it was not answered, seconds.
    pub extension_ring_timeout_s: u32,
}

impl Default for DialplanConfig {
    fn default() -> Self {
        DialplanConfig {
            dir: "dialplans".into(),
            sounds: "sounds".into(),
            default_language: "fr".into(),
            watch: true,
            extension_ring_timeout_s: 60,
        }
    }
}

impl DialplanConfig {
    /// Checks the ring timeout.
    ///
    /// # Errors
    /// A timeout of 0 or above 600 s.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.extension_ring_timeout_s == 0 || self.extension_ring_timeout_s > 600 {
            return Err(ConfigError::Invalid {
                key: "dialplan.extension_ring_timeout_s".into(),
                message: format!(
                    "{}: use 1 to 600 seconds (60 is usual)",
                    self.extension_ring_timeout_s
                ),
            });
        }
        Ok(())
    }
}

/// `[[queues]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// The name dialplans use in `enqueue`.
    pub name: String,
    /// How agents are chosen: `ring-all`, `longest-idle`, `round-robin`, `fewest-calls`,
    /// `random`, `skills`.
    #[serde(default = "default_strategy")]
    pub strategy: String,
    /// Member agents by extension; empty: every agent who has all of `skills`.
    #[serde(default)]
    pub agents: Vec<String>,
    /// Penalties of members (extension → penalty; absent: 0). Members with a higher penalty
    /// get callers only when no member with a lower one is ready.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub penalties: BTreeMap<String, u32>,
    /// Skills (languages) a member needs.
    #[serde(default)]
    pub skills: Vec<String>,
    /// The level (1-100) a skill the dialplan names without one must have.
    #[serde(default = "default_skill_level")]
    pub skill_level: u8,
    /// After this wait (seconds), a caller's skills are met at any level (0: never).
    #[serde(default)]
    pub widen_after_s: u32,
    /// After this wait (seconds), any member may take the caller, skills or not (0: never).
    #[serde(default)]
    pub any_agent_after_s: u32,
    /// How long one offer rings an agent, seconds.
    #[serde(default = "default_ring_s")]
    pub ring_timeout_s: u32,
    /// After-call work granted after a call of this queue, seconds (an agent in several queues
    /// gets the longest of them).
    #[serde(default)]
    pub wrapup_s: u32,
    /// Most callers waiting at once (0: no limit); beyond, `enqueue` overflows with `full`.
    #[serde(default)]
    pub max_len: u32,
    /// How long a caller waits before overflowing with `max-wait`, unless the dialplan says
    /// (0: no limit).
    #[serde(default)]
    pub max_wait_s: u32,
    /// Announce position and expected wait every this many seconds (0: music only).
    #[serde(default)]
    pub announce_every_s: u32,
    /// The first announcement, this many seconds after joining.
    #[serde(default = "default_announce_first")]
    pub announce_first_s: u32,
    /// Say the caller's position.
    #[serde(default = "yes")]
    pub announce_position: bool,
    /// Say the expected wait.
    #[serde(default = "yes")]
    pub announce_wait: bool,
    /// Service level target: answered within this many seconds.
    #[serde(default = "default_service_level")]
    pub service_level_s: u32,
    /// Abandons shorter than this many seconds are counted apart (short abandons).
    #[serde(default = "default_short_abandon")]
    pub short_abandon_s: u32,
}

fn default_strategy() -> String {
    "longest-idle".into()
}

fn default_skill_level() -> u8 {
    1
}

fn default_ring_s() -> u32 {
    20
}

fn default_announce_first() -> u32 {
    30
}

fn default_service_level() -> u32 {
    20
}

fn default_short_abandon() -> u32 {
    5
}

fn yes() -> bool {
    true
}

impl QueueConfig {
    /// Values that make sense.
    pub fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| {
            Err(ConfigError::Invalid {
                key: format!("queues[{i}].{key}"),
                message,
            })
        };
        if self.name.is_empty() {
            return invalid("name", "every queue needs a name".into());
        }
        if switchboard_acd::Strategy::parse(&self.strategy).is_none() {
            return invalid(
                "strategy",
                format!(
                    "{:?}: use ring-all, longest-idle, round-robin, fewest-calls, random or skills",
                    self.strategy
                ),
            );
        }
        if self.ring_timeout_s == 0 || self.ring_timeout_s > 600 {
            return invalid(
                "ring_timeout_s",
                format!("{}: use 1 to 600 seconds", self.ring_timeout_s),
            );
        }
        if !(1..=100).contains(&self.skill_level) {
            return invalid(
                "skill_level",
                format!("{}: levels go from 1 to 100", self.skill_level),
            );
        }
        if self.announce_every_s != 0 && self.announce_every_s < 10 {
            return invalid(
                "announce_every_s",
                format!(
                    "{}: at least 10 seconds, or 0 for no announcements",
                    self.announce_every_s
                ),
            );
        }
        for member in self.penalties.keys() {
            if !self.agents.is_empty() && !self.agents.contains(member) {
                return invalid(
                    "penalties",
                    format!("{member:?} has a penalty but is not in this queue's agents"),
                );
            }
        }
        Ok(())
    }
}
