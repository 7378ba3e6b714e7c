//! `[acd]` (how agents log in and are offered calls, pause reasons, statistics) and `[store]`
//! (where call records go).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[acd]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcdSection {
    /// `registration`: a phone registering logs its agent in (ready) and its last
    /// registration ending logs it out; `explicit`: only feature codes (`*45`/`*46`) do.
    pub login: String,
    /// Offers missed in a row before the agent is paused with reason `no-answer` (0: never).
    pub max_missed_offers: u32,
    /// After a missed offer, the agent is offered nothing for this many seconds.
    pub missed_offer_delay_s: u32,
    /// Pause reasons for `*47N`: code → reason (`*47` alone pauses with reason `paused`).
    pub pause_reasons: BTreeMap<String, String>,
    /// The time zone days and 15-minute intervals of statistics are cut in.
    pub time_zone: String,
    /// Service level: `offered` (answered within target / offered), `answered` (/ answered)
    /// or `offered-minus-short` (/ offered without short abandons).
    pub service_level: String,
}

impl Default for AcdSection {
    fn default() -> Self {
        AcdSection {
            login: "registration".into(),
            max_missed_offers: 3,
            missed_offer_delay_s: 5,
            pause_reasons: [("1", "break"), ("2", "lunch"), ("3", "training")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            time_zone: "Europe/Paris".into(),
            service_level: "offered".into(),
        }
    }
}

impl AcdSection {
    /// Values that make sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| {
            Err(ConfigError::Invalid {
                key: format!("acd.{key}"),
                message,
            })
        };
        if !matches!(self.login.as_str(), "registration" | "explicit") {
            return invalid(
                "login",
                format!("{:?}: use \"registration\" or \"explicit\"", self.login),
            );
        }
        if !matches!(
            self.service_level.as_str(),
            "offered" | "answered" | "offered-minus-short"
        ) {
            return invalid(
                "service_level",
                format!(
                    "{:?}: use \"offered\", \"answered\" or \"offered-minus-short\"",
                    self.service_level
                ),
            );
        }
        if jiff::tz::TimeZone::get(&self.time_zone).is_err() {
            return invalid(
                "time_zone",
                format!(
                    "{:?} is not a time zone name (like \"Europe/Paris\")",
                    self.time_zone
                ),
            );
        }
        for (code, reason) in &self.pause_reasons {
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) || code.len() > 2 {
                return invalid(
                    "pause_reasons",
                    format!("{code:?}: codes are one or two digits (dialled as *47{code})"),
                );
            }
            if reason.is_empty() {
                return invalid("pause_reasons", format!("code {code} has an empty reason"));
            }
        }
        Ok(())
    }
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// The SQLite file of call records, queue events and agent states; relative paths are
    /// beside the configuration file (the working directory for the embedded defaults).
    pub path: String,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            path: "switchboard.db".into(),
        }
    }
}
