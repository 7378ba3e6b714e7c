//! Who may call and who can be called: the agents (extensions, passwords, static contacts) and
//! the trunks (source networks), as the SIP core needs them, built once from the config.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use ezk_sip_types::uri::SipUri;
use switchboard_sip::Peer;

use crate::config::IpNet;

/// An agent as the core sees it.
#[derive(Debug, Clone)]
pub struct AgentEntry {
    /// Digest password.
    pub password: String,
    /// Name shown to callees when this agent calls.
    pub display_name: Option<String>,
    /// A fixed contact for phones that do not register (like Asterisk's `host=`), as a URI.
    pub static_contact: Option<(SipUri, Peer)>,
}

/// A trunk as the core sees it.
#[derive(Debug, Clone)]
pub struct TrunkEntry {
    /// Its name in the config (for logs and CDRs).
    pub name: String,
    /// Source networks from which INVITEs are accepted without authentication.
    pub allow_from: Vec<IpNet>,
}

/// Who placed a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A trunk recognised by its source address.
    Trunk(String),
    /// An agent who authenticated with digest.
    Agent(String),
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Trunk(name) => write!(f, "trunk:{name}"),
            Caller::Agent(ext) => write!(f, "agent:{ext}"),
        }
    }
}

/// Agents and trunks.
#[derive(Debug, Default)]
pub struct Directory {
    agents: HashMap<String, AgentEntry>,
    trunks: Vec<TrunkEntry>,
}

impl Directory {
    /// A directory of these agents (by extension) and trunks.
    #[must_use]
    pub fn new(agents: HashMap<String, AgentEntry>, trunks: Vec<TrunkEntry>) -> Self {
        Directory { agents, trunks }
    }

    /// The digest password of `extension`, if it is an agent.
    #[must_use]
    pub fn password(&self, extension: &str) -> Option<&str> {
        self.agents.get(extension).map(|a| a.password.as_str())
    }

    /// Whether `extension` is an agent's.
    #[must_use]
    pub fn is_agent(&self, extension: &str) -> bool {
        self.agents.contains_key(extension)
    }

    /// The agent's display name, if configured.
    #[must_use]
    pub fn display_name(&self, extension: &str) -> Option<&str> {
        self.agents.get(extension)?.display_name.as_deref()
    }

    /// The agent's static contact, if configured.
    #[must_use]
    pub fn static_contact(&self, extension: &str) -> Option<&(SipUri, Peer)> {
        self.agents.get(extension)?.static_contact.as_ref()
    }

    /// The trunk whose networks hold `ip`, as a caller.
    #[must_use]
    pub fn trunk_for(&self, ip: IpAddr) -> Option<Caller> {
        self.trunks
            .iter()
            .find(|t| t.allow_from.iter().any(|net| net.contains(ip)))
            .map(|t| Caller::Trunk(t.name.clone()))
    }
}
