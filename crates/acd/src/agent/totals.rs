//! Time-in-state accounting of one agent.

use std::time::Duration;

use super::StateKind;

/// Time spent in each logged-in state. Invariant: the six totals add up to the time the agent
/// has been logged in (see [`Agent::logged_in_time`](super::Agent::logged_in_time)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateTotals {
    /// Waiting for a call.
    pub ready: Duration,
    /// Reserved: phone ringing with an offered call.
    pub ringing: Duration,
    /// On a queue call.
    pub talk: Duration,
    /// On a direct or outbound call while otherwise ready.
    pub busy: Duration,
    /// In after-call work.
    pub wrap_up: Duration,
    /// Paused, whatever the reason.
    pub paused: Duration,
}

impl StateTotals {
    /// The sum of all six totals.
    #[must_use]
    pub fn sum(&self) -> Duration {
        self.ready + self.ringing + self.talk + self.busy + self.wrap_up + self.paused
    }

    /// Adds `d` to the total of the state `kind` (logged-out time is not accounted).
    pub(super) fn add(&mut self, kind: StateKind, d: Duration) {
        let slot = match kind {
            StateKind::LoggedOut => return,
            StateKind::Ready => &mut self.ready,
            StateKind::Reserved => &mut self.ringing,
            StateKind::OnCall => &mut self.talk,
            StateKind::Busy => &mut self.busy,
            StateKind::WrapUp => &mut self.wrap_up,
            StateKind::Paused => &mut self.paused,
        };
        *slot += d;
    }
}
