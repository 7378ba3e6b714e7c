//! What a wallboard shows now: callers waiting, the longest current wait, agents by state.

use std::time::Duration;

use jiff::Timestamp;

use crate::agent::{PauseReason, StateKind};

/// How many agents are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Logged out, or never seen logging in.
    pub logged_out: u32,
    /// Ready.
    pub ready: u32,
    /// Reserved (ringing).
    pub reserved: u32,
    /// On a queue call.
    pub on_call: u32,
    /// On a direct or outbound call.
    pub busy: u32,
    /// In wrap-up.
    pub wrap_up: u32,
    /// Paused, whatever the reason.
    pub paused: u32,
}

impl StateCounts {
    pub(crate) fn count(&mut self, state: StateKind) {
        let slot = match state {
            StateKind::LoggedOut => &mut self.logged_out,
            StateKind::Ready => &mut self.ready,
            StateKind::Reserved => &mut self.reserved,
            StateKind::OnCall => &mut self.on_call,
            StateKind::Busy => &mut self.busy,
            StateKind::WrapUp => &mut self.wrap_up,
            StateKind::Paused => &mut self.paused,
        };
        *slot += 1;
    }
}

/// A queue right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveQueue {
    /// Callers waiting, whenever they joined.
    pub waiting: u32,
    /// How long the caller waiting longest has waited so far; `None` when nobody waits.
    pub longest_wait: Option<Duration>,
    /// The queue's configured members by their current state.
    pub agents: StateCounts,
}

/// An agent right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAgent {
    /// Its state.
    pub state: StateKind,
    /// Why it is paused, when paused with a reason.
    pub reason: Option<PauseReason>,
    /// When it entered that state.
    pub since: Timestamp,
    /// How long it has been in that state at `now`.
    pub in_state: Duration,
}
