//! `[security]`: what the switch does about sources that guess passwords, and what it tells
//! strangers.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_sip::guard::GuardPolicy;

use super::{ConfigError, IpNet};

fn invalid(key: &str, message: String) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid {
        key: format!("security.{key}"),
        message,
    })
}

/// `[security]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Failed authentications are counted per source over this many seconds.
    pub auth_window_s: u64,
    /// Failures in the window after which the source's refusals and challenges are answered
    /// late.
    pub auth_slow_after: u32,
    /// Extra delay per failure beyond `auth_slow_after`, in milliseconds.
    pub auth_slow_step_ms: u64,
    /// The longest delay, in milliseconds.
    pub auth_slow_max_ms: u64,
    /// Failures in the window that ban the source (0: never ban).
    pub auth_ban_after: u32,
    /// How long a ban lasts, in seconds.
    pub auth_ban_s: u64,
    /// Failures in the window for one user, from any sources, that log an alert (the account
    /// itself is never locked).
    pub auth_user_alert_after: u32,
    /// Networks never slowed or banned (a partner site's NAT, the monitoring host).
    pub never_ban: Vec<IpNet>,
    /// SIP messages per second one address may send when it is neither a trunk, a registered
    /// phone nor in `never_ban` (beyond it they are dropped before they are parsed).
    pub source_rate: u32,
    /// How many such messages it may send at once (the bucket).
    pub source_burst: u32,
    /// SIP messages per second one address may send when it is a trunk, a registered phone or
    /// in `never_ban` (a forged trunk address or a looping carrier cannot take the core).
    pub known_source_rate: u32,
    /// How many such messages it may send at once.
    pub known_source_burst: u32,
    /// Most calls from all trunks at once: each holds an RTP port pair from the IVR's answer
    /// on, so a flood of unanswered calls must not take every port the agents need. Never
    /// more than half the RTP port pairs, whatever is written here.
    pub max_trunk_calls: usize,
    /// Whether a trunk caller dialling an agent whose phone is not registered hears 480
    /// (true) or the same 404 as for a number that does not exist (false: a scanner on a trunk
    /// cannot tell which extensions exist).
    pub reveal_unregistered: bool,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            auth_window_s: 60,
            auth_slow_after: 3,
            auth_slow_step_ms: 500,
            auth_slow_max_ms: 4_000,
            auth_ban_after: 10,
            auth_ban_s: 600,
            auth_user_alert_after: 20,
            never_ban: Vec::new(),
            source_rate: 50,
            source_burst: 100,
            known_source_rate: 2000,
            known_source_burst: 4000,
            max_trunk_calls: 1000,
            reveal_unregistered: false,
        }
    }
}

impl SecurityConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.auth_window_s == 0 {
            return invalid(
                "auth_window_s",
                "0: failures need a window of at least 1 second to be counted in".to_owned(),
            );
        }
        if self.auth_ban_after > 0 && self.auth_ban_s == 0 {
            return invalid(
                "auth_ban_s",
                "0: give bans a duration, or set auth_ban_after = 0 to never ban".to_owned(),
            );
        }
        if self.source_rate == 0 || self.source_burst == 0 {
            return invalid(
                "source_rate",
                "0 would refuse every unknown phone's first REGISTER; give at least 1 (and a \
                 burst of at least 1)"
                    .to_owned(),
            );
        }
        if self.known_source_rate < self.source_rate || self.known_source_burst < self.source_burst
        {
            return invalid(
                "known_source_rate",
                format!(
                    "{}/s (burst {}) is below what strangers get ({}/s, burst {}): trunks and \
                     registered phones need at least as much",
                    self.known_source_rate,
                    self.known_source_burst,
                    self.source_rate,
                    self.source_burst
                ),
            );
        }
        if self.max_trunk_calls == 0 {
            return invalid(
                "max_trunk_calls",
                "0 would refuse every call from a trunk; give at least 1".to_owned(),
            );
        }
        if self.auth_slow_max_ms > 30_000 {
            return invalid(
                "auth_slow_max_ms",
                format!(
                    "{}: above 30000 a phone's transaction times out before the answer comes",
                    self.auth_slow_max_ms
                ),
            );
        }
        Ok(())
    }

    /// The guard's policy.
    #[must_use]
    pub fn guard_policy(&self) -> GuardPolicy {
        GuardPolicy {
            window: Duration::from_secs(self.auth_window_s),
            slow_after: self.auth_slow_after,
            slow_step: Duration::from_millis(self.auth_slow_step_ms),
            slow_max: Duration::from_millis(self.auth_slow_max_ms),
            ban_after: self.auth_ban_after,
            ban_for: Duration::from_secs(self.auth_ban_s),
            user_alert_after: self.auth_user_alert_after.max(1),
            max_tracked: 65_536,
        }
    }
}
