//! The ACD's deadlines, in one ordered set, so [`crate::Acd::poll_timeout`] is the first entry
//! and a wake-up costs O(log n) whatever the number of agents and callers.
//!
//! Each owner (an offer, an agent, a caller) keeps the instant of its own entry in an
//! `Option<Instant>` field and changes it only through [`Timers::arm`], so the set never holds a
//! stale entry: what `poll_timeout` returns is always a real deadline.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::agent::CallRef;
use crate::io::OfferId;

/// What a deadline is for. The order of the variants is the order in which deadlines due at
/// the same instant are handled: an offer's deadline ends it before the caller's max wait is
/// looked at, so a caller whose offer and max wait expire together overflows at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// An offer's ring timeout + grace: the ACD releases the agent itself.
    OfferDeadline(OfferId),
    /// An agent's wrap-up ends (index into the agent table).
    WrapUp(usize),
    /// An agent's missed-offer delay ends: it may be offered calls again.
    Rest(usize),
    /// A restored agent whose phone has not registered is logged out.
    Reachability(usize),
    /// A caller's maximum wait.
    MaxWait(CallRef),
    /// A caller's skill requirements widen.
    Widen(CallRef),
    /// A caller's next position announcement.
    Announce(CallRef),
}

/// The set of armed deadlines.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    set: BTreeSet<(Instant, Timer)>,
}

impl Timers {
    /// Moves `timer` from the deadline stored in `slot` (if any) to `at` (if any), and stores
    /// `at` in `slot`.
    pub(crate) fn arm(&mut self, slot: &mut Option<Instant>, at: Option<Instant>, timer: Timer) {
        if *slot == at {
            return;
        }
        if let Some(old) = slot.take() {
            self.set.remove(&(old, timer));
        }
        if let Some(at) = at {
            self.set.insert((at, timer));
        }
        *slot = at;
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.set.first().map(|&(at, _)| at)
    }

    /// Removes and returns the earliest deadline if it is due at `now`. The owner must clear
    /// the slot it kept for it.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Timer)> {
        match self.set.first() {
            Some(&(at, _)) if at <= now => self.set.pop_first(),
            _ => None,
        }
    }

    /// How many deadlines are armed (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}
