//! The four RFC 3261 §17 transaction machines, with RFC 6026's Accepted states.
//!
//! Each machine is its own type with its own state enum ([`client::ClientInvite`],
//! [`client::ClientNonInvite`], [`server::ServerInvite`], [`server::ServerNonInvite`]). They
//! hold the bytes they may have to send again, never a socket: a call returns what to do
//! ([`Step`]) and [`next_timeout`](client::ClientInvite::next_timeout) says when to call
//! `on_timeout(now)` next. The endpoint owns them and routes messages to them by key.

pub mod client;
pub mod server;

use std::time::Duration;

use bytes::Bytes;

/// RFC 3261 §17.1.1.1 timer values (Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate, 500 ms by default.
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Longest time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64·T1: Timers B, F, H, J, L, M.
    #[must_use]
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// What a machine asks its owner to do after an input or a timeout.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Bytes to (re)send to the transaction's peer.
    pub send: Option<Bytes>,
    /// Whether the input should go up to the transaction user (a response, or a timeout).
    pub to_tu: bool,
    /// The machine timed out waiting for its peer (Timer B/F; Timer H on the server side).
    pub timed_out: bool,
}

impl Step {
    fn send(bytes: Bytes) -> Self {
        Step {
            send: Some(bytes),
            ..Step::default()
        }
    }

    fn tu() -> Self {
        Step {
            to_tu: true,
            ..Step::default()
        }
    }
}

/// The earlier of a retransmission timer (time, interval) and a deadline.
fn earliest(
    retransmit: Option<(std::time::Instant, Duration)>,
    deadline: Option<std::time::Instant>,
) -> Option<std::time::Instant> {
    match (retransmit.map(|(at, _)| at), deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
