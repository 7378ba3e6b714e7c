//! The names the ACD deals in: agents, extensions, skills, pause reasons and queued calls.

use std::fmt;

/// An agent's login identity, unique within a switch (e.g. `"alice"`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(String);

impl AgentId {
    /// Wraps an agent's login name.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The login name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The extension an agent's softphone registers as (e.g. `"1001"`); the switch rings this
/// extension's registered contacts when the ACD offers the agent a call.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Extension(String);

impl Extension {
    /// Wraps an extension number or name.
    pub fn new(ext: impl Into<String>) -> Self {
        Self(ext.into())
    }

    /// The extension.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A routing skill, such as a language (`"fr"`, `"en"`) or a product line.
///
/// Invariant: stored in ASCII lowercase, so `"FR"` written in a config file and `"fr"` asked for
/// by a dialplan are the same skill.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Skill(String);

impl Skill {
    /// A skill, normalised to ASCII lowercase.
    pub fn new(name: impl Into<String>) -> Self {
        let mut name = name.into();
        name.make_ascii_lowercase();
        Self(name)
    }

    /// The skill's (lowercase) name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Skill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an agent is paused (`"lunch"`, `"training"`, `"no answer"`), shown on the wallboard.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PauseReason(String);

impl PauseReason {
    /// Wraps a pause reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }

    /// The reason.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An opaque handle for the queued call the ACD offers, chosen by the switch (its call id
/// table index). The ACD only compares handles, so an answer for another call is caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallRef(pub u64);

impl fmt::Display for CallRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
