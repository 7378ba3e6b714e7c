//! `switchboard.toml`: the model, its embedded defaults (the repository's own `switchboard.toml`)
//! and validation with errors that name the key and say what to do.

mod acd;
mod api;
mod ipnet;
mod media;
mod routing;
mod security;

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use acd::{AcdSection, StoreSection};
pub use api::ApiConfig;
pub use ipnet::IpNet;
pub use media::{KNOWN_CODECS, MediaConfig, RecordingConfig};
pub use routing::{DialplanConfig, QueueConfig};
pub use security::SecurityConfig;

/// The shipped `switchboard.toml`, which is also the default configuration.
pub const DEFAULT_TOML: &str = include_str!("../../../switchboard.toml");

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// SIP listeners and protocol settings.
    #[serde(default)]
    pub sip: SipConfig,
    /// Digest authentication.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// RTP: addresses, ports, codecs, timeouts.
    #[serde(default)]
    pub media: MediaConfig,
    /// Call recording.
    #[serde(default)]
    pub recording: RecordingConfig,
    /// Dialplans and prompts.
    #[serde(default)]
    pub dialplan: DialplanConfig,
    /// Queues that dialplans enqueue callers into.
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
    /// The control socket (`switchboard reload`).
    #[serde(default)]
    pub control: ControlConfig,
    /// The ACD: login policy, missed offers, pause reasons, statistics.
    #[serde(default)]
    pub acd: AcdSection,
    /// Call records.
    #[serde(default)]
    pub store: StoreSection,
    /// Password-guessing defences and what strangers are told.
    #[serde(default)]
    pub security: SecurityConfig,
    /// The admin HTTP API.
    #[serde(default)]
    pub api: ApiConfig,
    /// Agents (phones that register, or have a fixed contact).
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    /// Trunks recognised by source address.
    #[serde(default)]
    pub trunks: Vec<TrunkConfig>,
    /// Seed for tags, branches and Call-IDs; tests set it for reproducible runs. Random if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rng_seed: Option<u64>,
}

/// `[sip]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// UDP listen addresses.
    pub udp: Vec<SocketAddr>,
    /// TCP listen addresses.
    pub tcp: Vec<SocketAddr>,
    /// Host advertised in Via and Contact, when not the listen address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertised_host: Option<String>,
    /// User-Agent / Server header value.
    pub user_agent: String,
    /// Shortest registration accepted, seconds.
    pub min_expires: u32,
    /// Longest registration granted, seconds.
    pub max_expires: u32,
    /// RFC 3261 T1, ms.
    pub t1_ms: u64,
    /// RFC 3261 T2, ms.
    pub t2_ms: u64,
    /// RFC 3261 T4, ms.
    pub t4_ms: u64,
    /// Most TCP connections accepted at once (beyond it new ones are closed at once).
    pub tcp_max_connections: usize,
    /// Most TCP connections accepted at once from one address.
    pub tcp_max_per_source: usize,
    /// Seconds a message on a TCP connection may take from its first byte to its last.
    pub tcp_message_timeout_s: u64,
    /// Receive buffer asked of the kernel for each SIP UDP socket, bytes: a burst queues here
    /// while the transport task is busy instead of being dropped (Linux caps it at
    /// `net.core.rmem_max`; the switch warns when it got less).
    pub udp_buffer_bytes: usize,
}

impl Default for SipConfig {
    fn default() -> Self {
        let loopback: SocketAddr = ([127, 0, 0, 1], 5060).into();
        SipConfig {
            udp: vec![loopback],
            tcp: vec![loopback],
            advertised_host: None,
            user_agent: "Switchboard".into(),
            min_expires: 60,
            max_expires: 3600,
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            tcp_max_connections: 4096,
            tcp_max_per_source: 32,
            tcp_message_timeout_s: 10,
            udp_buffer_bytes: 4 << 20,
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Digest realm.
    pub realm: String,
    /// Digest algorithms offered, in order (`MD5`, `SHA-256`).
    pub algorithms: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            realm: "switchboard".into(),
            algorithms: vec!["MD5".into()],
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Default level (RUST_LOG overrides).
    pub level: String,
    /// Mask numbers in logs.
    pub redact_numbers: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            redact_numbers: false,
        }
    }
}

/// `[[agents]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Extension (digits).
    pub extension: String,
    /// Digest password.
    pub password: String,
    /// Name shown to people this agent calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Language skills (each at level 100, native).
    #[serde(default)]
    pub languages: Vec<String>,
    /// Other skills with their level (1-100), e.g. `{ returns = 60, en = 40 }` (a language
    /// listed here too takes this level).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub skills: std::collections::BTreeMap<String, u8>,
    /// A fixed address for a phone that does not register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<SocketAddr>,
}

/// `[[trunks]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Name, for logs and CDRs.
    pub name: String,
    /// Source networks allowed to send calls without authentication.
    #[serde(default)]
    pub allow_from: Vec<IpNet>,
    /// Where calls out through this trunk go (`dial` in a dialplan): the carrier's or partner
    /// site's SIP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<SocketAddr>,
    /// Most calls from this trunk at once (IVR, queue or extension); beyond it the carrier
    /// hears 503 and may try another route. None: only `[security] max_trunk_calls` applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<usize>,
}

/// `[control]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Unix socket path of the running server.
    pub socket: String,
    /// On SIGTERM, how long calls in progress may take to end while new ones are refused,
    /// seconds; then the switch stops (a second SIGTERM stops it at once).
    pub drain_timeout_s: u64,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: "switchboard.ctl".into(),
            drain_timeout_s: 60,
        }
    }
}

/// Where the running configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `--config FILE`.
    File(PathBuf),
    /// `./switchboard.toml`, found in the working directory.
    WorkingDir(PathBuf),
    /// The defaults built into the binary.
    Embedded,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{} (--config)", p.display()),
            ConfigSource::WorkingDir(p) => {
                write!(f, "{} (found in the working directory)", p.display())
            }
            ConfigSource::Embedded => {
                f.write_str("embedded defaults (no --config, no ./switchboard.toml)")
            }
        }
    }
}

/// A configuration problem, phrased for the admin who has to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// TOML syntax, an unknown key or a wrong type.
    #[error("{source_name}: {message}")]
    Parse {
        /// The file (or "embedded defaults").
        source_name: String,
        /// toml's message, which names the key, line and column.
        message: String,
    },
    /// A value that parses but makes no sense.
    #[error("{key}: {message}")]
    Invalid {
        /// The key, e.g. `agents[2].extension`.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Several of those, from different sections.
    #[error("{} problems:\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Many(Vec<ConfigError>),
}

impl Config {
    /// The embedded defaults.
    pub fn default_embedded() -> Result<Config, ConfigError> {
        Config::parse(DEFAULT_TOML, "embedded defaults")
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            source_name: source_name.to_owned(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// `--config FILE` if given, else `./switchboard.toml` if present, else the embedded defaults.
    pub fn resolve(explicit: Option<&Path>) -> Result<(Config, ConfigSource), ConfigError> {
        if let Some(path) = explicit {
            return Ok((Config::load(path)?, ConfigSource::File(path.to_owned())));
        }
        let local = PathBuf::from("switchboard.toml");
        if local.is_file() {
            return Ok((Config::load(&local)?, ConfigSource::WorkingDir(local)));
        }
        Ok((Config::default_embedded()?, ConfigSource::Embedded))
    }

    /// Checks what serde cannot: duplicates, ranges, and the demo-password guard. Every
    /// section is checked, so one mistake does not hide the others: several problems come
    /// back together as [`ConfigError::Many`] (each section still stops at its first).
    ///
    /// # Errors
    /// What is wrong, naming each key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems: Vec<ConfigError> = [
            self.check_core(),
            self.media.validate(),
            self.recording.validate(),
            self.security.validate(),
            self.api.validate(),
            self.dialplan.validate(),
            self.acd.validate(),
            self.check_demo_passwords(),
        ]
        .into_iter()
        .filter_map(Result::err)
        .collect();
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(ConfigError::Many(problems)),
        }
    }

    /// SIP, agents, trunks, queues and the control socket.
    fn check_core(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| Err(ConfigError::Invalid { key, message });
        if self.sip.udp.is_empty() && self.sip.tcp.is_empty() {
            return invalid(
                "sip".into(),
                "no listen address: set sip.udp or sip.tcp".into(),
            );
        }
        if self.sip.min_expires > self.sip.max_expires {
            return invalid(
                "sip.min_expires".into(),
                format!(
                    "{} is above sip.max_expires ({})",
                    self.sip.min_expires, self.sip.max_expires
                ),
            );
        }
        if self.sip.t1_ms == 0 || self.sip.t2_ms < self.sip.t1_ms {
            return invalid(
                "sip.t1_ms".into(),
                "T1 must be above 0 and T2 at least T1".into(),
            );
        }
        let mut seen = HashSet::new();
        for (i, agent) in self.agents.iter().enumerate() {
            let key = format!("agents[{i}]");
            if agent.extension.is_empty() || !agent.extension.bytes().all(|b| b.is_ascii_digit()) {
                return invalid(
                    format!("{key}.extension"),
                    format!(
                        "{:?}: extensions are digits only, like \"1001\"",
                        agent.extension
                    ),
                );
            }
            if !seen.insert(agent.extension.as_str()) {
                return invalid(
                    format!("{key}.extension"),
                    format!(
                        "{} is used by two agents; each extension belongs to one agent",
                        agent.extension
                    ),
                );
            }
            if agent.password.len() < 8 {
                return invalid(
                    format!("{key}.password"),
                    "passwords need at least 8 characters (phones send a digest of it)".into(),
                );
            }
        }
        for (i, name) in self.auth.algorithms.iter().enumerate() {
            if switchboard_sip::auth::Algorithm::parse(name).is_none() {
                return invalid(
                    format!("auth.algorithms[{i}]"),
                    format!("{name:?}: use \"MD5\" or \"SHA-256\""),
                );
            }
        }
        if self.auth.algorithms.is_empty() {
            return invalid(
                "auth.algorithms".into(),
                "list at least one of \"MD5\", \"SHA-256\"".into(),
            );
        }
        for (i, trunk) in self.trunks.iter().enumerate() {
            if trunk.name.is_empty() {
                return invalid(
                    format!("trunks[{i}].name"),
                    "every trunk needs a name".into(),
                );
            }
        }
        for (i, agent) in self.agents.iter().enumerate() {
            for (skill, level) in &agent.skills {
                if !(1..=100).contains(level) {
                    return invalid(
                        format!("agents[{i}].skills.{skill}"),
                        format!("{level}: levels go from 1 (a little) to 100 (native)"),
                    );
                }
            }
        }
        if self.control.drain_timeout_s > 86_400 {
            return invalid(
                "control.drain_timeout_s".into(),
                format!(
                    "{} s: give at most a day (86400); 0 stops at once",
                    self.control.drain_timeout_s
                ),
            );
        }
        for (key, value) in [
            ("sip.tcp_max_connections", self.sip.tcp_max_connections),
            ("sip.tcp_max_per_source", self.sip.tcp_max_per_source),
            (
                "sip.tcp_message_timeout_s",
                self.sip.tcp_message_timeout_s as usize,
            ),
        ] {
            if value == 0 {
                return invalid(
                    key.into(),
                    "0 would refuse every TCP connection or message; give at least 1".into(),
                );
            }
        }
        if self.sip.udp_buffer_bytes < 65_536 {
            return invalid(
                "sip.udp_buffer_bytes".into(),
                format!(
                    "{} bytes cannot hold even one largest datagram; give at least 65536 (default 4194304)",
                    self.sip.udp_buffer_bytes
                ),
            );
        }
        if self.sip.tcp_max_per_source > self.sip.tcp_max_connections {
            return invalid(
                "sip.tcp_max_per_source".into(),
                format!(
                    "{} is more than tcp_max_connections ({})",
                    self.sip.tcp_max_per_source, self.sip.tcp_max_connections
                ),
            );
        }
        let mut queue_names = HashSet::new();
        for (i, queue) in self.queues.iter().enumerate() {
            queue.validate(i)?;
            if !queue_names.insert(queue.name.as_str()) {
                return invalid(
                    format!("queues[{i}].name"),
                    format!("{:?} is the name of two queues", queue.name),
                );
            }
            for (j, member) in queue
                .agents
                .iter()
                .chain(queue.penalties.keys())
                .enumerate()
            {
                if !seen.contains(member.as_str()) {
                    return invalid(
                        format!("queues[{i}].agents[{j}]"),
                        format!("{member:?} is not the extension of any agent"),
                    );
                }
            }
        }
        Ok(())
    }

    /// Refuses demo passwords on any listener outside loopback: they are published in README.
    fn check_demo_passwords(&self) -> Result<(), ConfigError> {
        let api = self.api.enabled.then_some(&self.api.listen);
        let exposed = self
            .sip
            .udp
            .iter()
            .chain(&self.sip.tcp)
            .chain(api)
            .find(|addr| !addr.ip().is_loopback());
        let demo = self
            .agents
            .iter()
            .position(|a| a.password.starts_with("demo-"));
        if let (Some(addr), Some(i)) = (exposed, demo) {
            return Err(ConfigError::Invalid {
                key: format!("agents[{i}].password"),
                message: format!(
                    "agent {} still has its published demo password while the switch listens on {addr}, \
                     which is not loopback; give every agent its own password (or listen on \
                     127.0.0.1 only) before exposing the switch",
                    self.agents[i].extension
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
