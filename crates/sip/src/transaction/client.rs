//! Client transactions: INVITE (RFC 3261 §17.1.1, RFC 6026 §7.2) and non-INVITE (§17.1.2).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Step, Timers};

/// States of an INVITE client transaction (Figure 5, with RFC 6026's Accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientInviteState {
    /// INVITE sent, nothing heard yet; Timer A retransmits (unreliable), Timer B gives up.
    Calling,
    /// A provisional response arrived; waiting for the final one.
    Proceeding,
    /// A 3xx–6xx arrived and was ACKed; Timer D absorbs retransmissions of it.
    Completed,
    /// A 2xx arrived (RFC 6026): further 2xx (retransmissions, other forks) go to the TU until
    /// Timer M.
    Accepted,
    /// Over.
    Terminated,
}

/// An INVITE client transaction.
#[derive(Debug)]
pub struct ClientInvite {
    state: ClientInviteState,
    timers: Timers,
    reliable: bool,
    request: Bytes,
    /// The ACK for a non-2xx final response, kept to answer its retransmissions (§17.1.1.2).
    ack: Option<Bytes>,
    /// Timer A: next retransmission, and its current interval.
    retransmit: Option<(Instant, Duration)>,
    /// Timer B, D or M, or the CANCEL guard, whichever applies in the current state.
    deadline: Option<Instant>,
}

impl ClientInvite {
    /// Starts the transaction: the INVITE is to be sent now (returned by the caller).
    #[must_use]
    pub fn new(now: Instant, request: Bytes, reliable: bool, timers: Timers) -> Self {
        ClientInvite {
            state: ClientInviteState::Calling,
            timers,
            reliable,
            request,
            ack: None,
            // RFC 3261 §17.1.1.2: Timer A starts at T1 on unreliable transports only.
            retransmit: (!reliable).then(|| (now + timers.t1, timers.t1)),
            deadline: Some(now + timers.t1x64()),
        }
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> ClientInviteState {
        self.state
    }

    /// The INVITE as sent.
    #[must_use]
    pub fn request(&self) -> &Bytes {
        &self.request
    }

    /// A response with status `code` arrived. `ack` builds the ACK for a non-2xx final.
    pub fn on_response(&mut self, now: Instant, code: u16, ack: impl FnOnce() -> Bytes) -> Step {
        use ClientInviteState::{Accepted, Calling, Completed, Proceeding, Terminated};
        match (self.state, code) {
            (Calling | Proceeding, 100..=199) => {
                self.state = Proceeding;
                self.retransmit = None;
                // No Timer B in Proceeding; a provisional may take minutes (the TU rings out).
                // We still bound it so a peer that never finishes cannot leak us: 3 minutes,
                // the proxy Timer C of RFC 3261 §16.6.
                self.deadline = Some(now + Duration::from_secs(180));
                Step::tu()
            }
            (Calling | Proceeding, 200..=299) => {
                self.state = Accepted;
                self.retransmit = None;
                self.deadline = Some(now + self.timers.t1x64()); // Timer M
                Step::tu()
            }
            (Calling | Proceeding, _) => {
                self.state = Completed;
                self.retransmit = None;
                let ack = ack();
                self.ack = Some(ack.clone());
                // Timer D: at least 32 s on unreliable transports, 0 on reliable ones.
                let d = if self.reliable {
                    Duration::ZERO
                } else {
                    Duration::from_secs(32)
                };
                self.deadline = Some(now + d);
                Step {
                    send: Some(ack),
                    to_tu: true,
                    timed_out: false,
                }
            }
            (Accepted, 200..=299) => Step::tu(),
            (Completed, 300..) => self.ack.clone().map(Step::send).unwrap_or_default(),
            (Completed | Accepted | Terminated, _) => Step::default(),
        }
    }

    /// A CANCEL was sent for this INVITE: RFC 3261 §9.1 lets the client give up 64·T1 later if
    /// no final response comes.
    pub fn on_cancel_sent(&mut self, now: Instant) {
        if matches!(
            self.state,
            ClientInviteState::Calling | ClientInviteState::Proceeding
        ) {
            let guard = now + self.timers.t1x64();
            self.deadline = Some(self.deadline.map_or(guard, |d| d.min(guard)));
        }
    }

    /// When to call [`ClientInvite::on_timeout`] next.
    #[must_use]
    pub fn next_timeout(&self) -> Option<Instant> {
        super::earliest(self.retransmit, self.deadline)
    }

    /// Fires the timers due at `now`.
    pub fn on_timeout(&mut self, now: Instant) -> Step {
        if self.deadline.is_some_and(|d| d <= now) {
            let was_pending = matches!(
                self.state,
                ClientInviteState::Calling | ClientInviteState::Proceeding
            );
            self.state = ClientInviteState::Terminated;
            self.retransmit = None;
            self.deadline = None;
            // Timer B (or the Proceeding/CANCEL guard): the TU treats it as 408.
            return Step {
                send: None,
                to_tu: was_pending,
                timed_out: was_pending,
            };
        }
        match self.retransmit {
            Some((at, interval)) if at <= now => {
                // RFC 3261 §17.1.1.2: Timer A doubles each time, without a cap.
                let next = interval * 2;
                self.retransmit = Some((now + next, next));
                Step::send(self.request.clone())
            }
            _ => Step::default(),
        }
    }

    /// Whether the machine is over and can be dropped.
    #[must_use]
    pub fn is_terminated(&self) -> bool {
        self.state == ClientInviteState::Terminated
    }
}

/// States of a non-INVITE client transaction (Figure 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientNonInviteState {
    /// Request sent; Timer E retransmits, Timer F gives up.
    Trying,
    /// A provisional arrived; Timer E keeps retransmitting at T2.
    Proceeding,
    /// A final arrived; Timer K absorbs retransmissions of it.
    Completed,
    /// Over.
    Terminated,
}

/// A non-INVITE client transaction (also used for CANCEL and BYE).
#[derive(Debug)]
pub struct ClientNonInvite {
    state: ClientNonInviteState,
    timers: Timers,
    reliable: bool,
    request: Bytes,
    retransmit: Option<(Instant, Duration)>,
    deadline: Option<Instant>,
}

impl ClientNonInvite {
    /// Starts the transaction: the request is to be sent now (by the caller).
    #[must_use]
    pub fn new(now: Instant, request: Bytes, reliable: bool, timers: Timers) -> Self {
        ClientNonInvite {
            state: ClientNonInviteState::Trying,
            timers,
            reliable,
            request,
            retransmit: (!reliable).then(|| (now + timers.t1, timers.t1)),
            deadline: Some(now + timers.t1x64()), // Timer F
        }
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> ClientNonInviteState {
        self.state
    }

    /// A response with status `code` arrived.
    pub fn on_response(&mut self, now: Instant, code: u16) -> Step {
        use ClientNonInviteState::{Completed, Proceeding, Trying};
        match (self.state, code) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                Step::tu()
            }
            (Trying | Proceeding, _) => {
                self.state = Completed;
                self.retransmit = None;
                // Timer K: T4 on unreliable transports, 0 on reliable ones.
                let k = if self.reliable {
                    Duration::ZERO
                } else {
                    self.timers.t4
                };
                self.deadline = Some(now + k);
                Step::tu()
            }
            _ => Step::default(),
        }
    }

    /// When to call [`ClientNonInvite::on_timeout`] next.
    #[must_use]
    pub fn next_timeout(&self) -> Option<Instant> {
        super::earliest(self.retransmit, self.deadline)
    }

    /// Fires the timers due at `now`.
    pub fn on_timeout(&mut self, now: Instant) -> Step {
        if self.deadline.is_some_and(|d| d <= now) {
            let pending = self.state != ClientNonInviteState::Completed;
            self.state = ClientNonInviteState::Terminated;
            self.retransmit = None;
            self.deadline = None;
            return Step {
                send: None,
                to_tu: pending,
                timed_out: pending,
            };
        }
        match self.retransmit {
            Some((at, interval)) if at <= now => {
                // RFC 3261 §17.1.2.2: Timer E doubles up to T2 in Trying, stays at T2 in
                // Proceeding.
                let next = match self.state {
                    ClientNonInviteState::Trying => (interval * 2).min(self.timers.t2),
                    _ => self.timers.t2,
                };
                self.retransmit = Some((now + next, next));
                Step::send(self.request.clone())
            }
            _ => Step::default(),
        }
    }

    /// Whether the machine is over.
    #[must_use]
    pub fn is_terminated(&self) -> bool {
        self.state == ClientNonInviteState::Terminated
    }
}
