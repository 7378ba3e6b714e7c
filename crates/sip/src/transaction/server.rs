//! Server transactions: INVITE (RFC 3261 §17.2.1, RFC 6026 §7.1) and non-INVITE (§17.2.2).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Step, Timers};

/// How long a server transaction waits for its TU's final response before it gives up
/// (a TU bug must not leak transactions; the TU normally answers at once or rings out).
const TU_GUARD: Duration = Duration::from_secs(300);

/// States of an INVITE server transaction (Figure 7, with RFC 6026's Accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerInviteState {
    /// 100 Trying sent; provisionals may follow; waiting for the TU's final response.
    Proceeding,
    /// A 3xx–6xx was sent; Timer G retransmits it, Timer H gives up waiting for the ACK.
    Completed,
    /// The ACK arrived; Timer I absorbs ACK retransmissions.
    Confirmed,
    /// A 2xx was sent (RFC 6026): INVITE retransmissions are absorbed until Timer L.
    Accepted,
    /// Over.
    Terminated,
}

/// An INVITE server transaction.
#[derive(Debug)]
pub struct ServerInvite {
    state: ServerInviteState,
    timers: Timers,
    reliable: bool,
    /// The last response sent, to resend on a retransmitted INVITE or on Timer G.
    last: Option<Bytes>,
    retransmit: Option<(Instant, Duration)>,
    deadline: Option<Instant>,
}

impl ServerInvite {
    /// A new transaction; the owner sends 100 Trying at once through [`ServerInvite::respond`].
    #[must_use]
    pub fn new(now: Instant, reliable: bool, timers: Timers) -> Self {
        ServerInvite {
            state: ServerInviteState::Proceeding,
            timers,
            reliable,
            last: None,
            retransmit: None,
            deadline: Some(now + TU_GUARD),
        }
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> ServerInviteState {
        self.state
    }

    /// The TU sends a response with status `code`, encoded as `bytes`. Returns what to send
    /// (nothing when the state does not allow it).
    pub fn respond(&mut self, now: Instant, code: u16, bytes: Bytes) -> Step {
        match (self.state, code) {
            (ServerInviteState::Proceeding, 100..=199) => {
                self.last = Some(bytes.clone());
                Step::send(bytes)
            }
            (ServerInviteState::Proceeding, 200..=299) => {
                self.state = ServerInviteState::Accepted;
                self.last = Some(bytes.clone());
                self.deadline = Some(now + self.timers.t1x64()); // Timer L
                Step::send(bytes)
            }
            (ServerInviteState::Proceeding, _) => {
                self.state = ServerInviteState::Completed;
                self.last = Some(bytes.clone());
                // Timer G on unreliable transports; Timer H always.
                self.retransmit = (!self.reliable).then(|| (now + self.timers.t1, self.timers.t1));
                self.deadline = Some(now + self.timers.t1x64());
                Step::send(bytes)
            }
            // RFC 6026 §7.1: 2xx retransmissions from the TU pass through in Accepted.
            (ServerInviteState::Accepted, 200..=299) => Step::send(bytes),
            _ => Step::default(),
        }
    }

    /// The INVITE arrived again: resend the last response (Proceeding, Completed), absorb it
    /// otherwise.
    pub fn on_retransmission(&mut self) -> Step {
        match self.state {
            ServerInviteState::Proceeding | ServerInviteState::Completed => {
                self.last.clone().map(Step::send).unwrap_or_default()
            }
            _ => Step::default(),
        }
    }

    /// An ACK matched this transaction (an ACK for our non-2xx final).
    pub fn on_ack(&mut self, now: Instant) -> Step {
        if self.state == ServerInviteState::Completed {
            self.state = ServerInviteState::Confirmed;
            self.retransmit = None;
            // Timer I: T4 on unreliable transports, 0 on reliable ones.
            let i = if self.reliable {
                Duration::ZERO
            } else {
                self.timers.t4
            };
            self.deadline = Some(now + i);
        }
        Step::default()
    }

    /// When to call [`ServerInvite::on_timeout`] next.
    #[must_use]
    pub fn next_timeout(&self) -> Option<Instant> {
        super::earliest(self.retransmit, self.deadline)
    }

    /// Fires the timers due at `now`.
    pub fn on_timeout(&mut self, now: Instant) -> Step {
        if self.deadline.is_some_and(|d| d <= now) {
            // Timer H: the ACK never came (a lost caller); L and I: quiet end.
            let timed_out = self.state == ServerInviteState::Completed;
            self.state = ServerInviteState::Terminated;
            self.retransmit = None;
            self.deadline = None;
            return Step {
                send: None,
                to_tu: timed_out,
                timed_out,
            };
        }
        match self.retransmit {
            Some((at, interval)) if at <= now => {
                // RFC 3261 §17.2.1: Timer G doubles up to T2.
                let next = (interval * 2).min(self.timers.t2);
                self.retransmit = Some((now + next, next));
                self.last.clone().map(Step::send).unwrap_or_default()
            }
            _ => Step::default(),
        }
    }

    /// Whether the machine is over.
    #[must_use]
    pub fn is_terminated(&self) -> bool {
        self.state == ServerInviteState::Terminated
    }
}

/// States of a non-INVITE server transaction (Figure 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerNonInviteState {
    /// Request received, nothing sent yet.
    Trying,
    /// A provisional was sent.
    Proceeding,
    /// The final was sent; Timer J answers retransmissions with it.
    Completed,
    /// Over.
    Terminated,
}

/// A non-INVITE server transaction.
#[derive(Debug)]
pub struct ServerNonInvite {
    state: ServerNonInviteState,
    timers: Timers,
    reliable: bool,
    last: Option<Bytes>,
    deadline: Option<Instant>,
}

impl ServerNonInvite {
    /// A new transaction for a request just received.
    #[must_use]
    pub fn new(now: Instant, reliable: bool, timers: Timers) -> Self {
        ServerNonInvite {
            state: ServerNonInviteState::Trying,
            timers,
            reliable,
            last: None,
            deadline: Some(now + TU_GUARD),
        }
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> ServerNonInviteState {
        self.state
    }

    /// The TU sends a response.
    pub fn respond(&mut self, now: Instant, code: u16, bytes: Bytes) -> Step {
        match self.state {
            ServerNonInviteState::Trying | ServerNonInviteState::Proceeding => {
                self.last = Some(bytes.clone());
                if code >= 200 {
                    self.state = ServerNonInviteState::Completed;
                    // Timer J: 64·T1 on unreliable transports, 0 on reliable ones.
                    let j = if self.reliable {
                        Duration::ZERO
                    } else {
                        self.timers.t1x64()
                    };
                    self.deadline = Some(now + j);
                } else {
                    self.state = ServerNonInviteState::Proceeding;
                }
                Step::send(bytes)
            }
            _ => Step::default(),
        }
    }

    /// The request arrived again: resend the last response, if any (§17.2.2).
    pub fn on_retransmission(&mut self) -> Step {
        match self.state {
            ServerNonInviteState::Proceeding | ServerNonInviteState::Completed => {
                self.last.clone().map(Step::send).unwrap_or_default()
            }
            _ => Step::default(),
        }
    }

    /// When to call [`ServerNonInvite::on_timeout`] next.
    #[must_use]
    pub fn next_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Fires the timers due at `now`.
    pub fn on_timeout(&mut self, now: Instant) -> Step {
        if self.deadline.is_some_and(|d| d <= now) {
            self.state = ServerNonInviteState::Terminated;
            self.deadline = None;
        }
        Step::default()
    }

    /// Whether the machine is over.
    #[must_use]
    pub fn is_terminated(&self) -> bool {
        self.state == ServerNonInviteState::Terminated
    }
}
