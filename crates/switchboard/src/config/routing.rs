//! `[dialplan]` and `[[queues]]`: where the IVR scripts and their prompts live, and the queues
//! a dialplan can `enqueue` callers into.

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
}

impl Default for DialplanConfig {
    fn default() -> Self {
        DialplanConfig {
            dir: "dialplans".into(),
            sounds: "sounds".into(),
            default_language: "fr".into(),
            watch: true,
        }
    }
}

/// `[[queues]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// The name dialplans use in `enqueue`.
    pub name: String,
    /// Member agents by extension; empty: every agent who has all of `skills`.
    #[serde(default)]
    pub agents: Vec<String>,
    /// Skills (languages) a member needs.
    #[serde(default)]
    pub skills: Vec<String>,
    /// How long one attempt rings the members before trying again, seconds.
    #[serde(default = "default_ring_s")]
    pub ring_timeout_s: u32,
}

fn default_ring_s() -> u32 {
    20
}

impl QueueConfig {
    /// Name present and a ring timeout that makes sense.
    pub fn validate(&self, i: usize) -> Result<(), ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::Invalid {
                key: format!("queues[{i}].name"),
                message: "every queue needs a name".into(),
            });
        }
        if self.ring_timeout_s == 0 || self.ring_timeout_s > 600 {
            return Err(ConfigError::Invalid {
                key: format!("queues[{i}].ring_timeout_s"),
                message: format!("{}: use 1 to 600 seconds", self.ring_timeout_s),
            });
        }
        Ok(())
    }
}
