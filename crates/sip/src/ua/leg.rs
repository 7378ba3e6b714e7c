//! One call leg as the user agent tracks it: its direction, where it stands in the INVITE
//! exchange, its dialog once there is one, and the transactions still open on it.

use bytes::Bytes;

use crate::dialog::Dialog;
use crate::endpoint::{ClientTxId, ServerTxId};
use crate::message::{Peer, Request};

/// Identifies a leg for as long as the user agent knows it. Never reused within one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

impl std::fmt::Display for LegId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "leg-{}", self.0)
    }
}

/// Why a leg ended. The switch turns this into a CDR disposition and a cause for the other leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HangupCause {
    /// The remote party sent BYE.
    RemoteBye,
    /// The caller cancelled before the call was answered (CANCEL → 487).
    Cancelled,
    /// The callee answered with a final non-2xx status (busy, unavailable, declined…).
    Rejected(u16),
    /// No final response in time (Timer B/F), treated as 408 (RFC 3261 §8.1.3.1).
    Timeout,
    /// We answered with 2xx but never saw the ACK (RFC 3261 §13.3.1.4); we sent BYE.
    AckTimeout,
    /// Our side ended the leg (BYE, CANCEL or a final response we sent).
    Local,
}

impl HangupCause {
    /// A short stable name for logs and CDRs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            HangupCause::RemoteBye => "remote-bye",
            HangupCause::Cancelled => "cancelled",
            HangupCause::Rejected(_) => "rejected",
            HangupCause::Timeout => "timeout",
            HangupCause::AckTimeout => "ack-timeout",
            HangupCause::Local => "local",
        }
    }
}

/// Which side of the INVITE this leg is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// We received the INVITE (caller → us).
    Inbound,
    /// We sent the INVITE (us → callee).
    Outbound,
}

/// Where a leg stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LegState {
    /// INVITE sent or received, no final response yet.
    Early,
    /// Outbound: we asked to cancel; waiting for the 487 (or a racing 2xx, which we ACK and BYE).
    Cancelling,
    /// 2xx exchanged; the dialog is confirmed.
    Confirmed,
    /// The leg is over; kept only until its last transaction ends.
    Ended,
}

/// A re-INVITE in progress on a leg (one at a time: RFC 3261 §14.1 answers a second with 491).
#[derive(Debug)]
pub(crate) enum PendingReinvite {
    /// The remote side re-INVITEd us; the server transaction waits for the switch's answer.
    Incoming(ServerTxId),
    /// We re-INVITEd the remote side; the client transaction waits for its response.
    Outgoing,
}

/// The user agent's record of one leg.
#[derive(Debug)]
pub(crate) struct Leg {
    pub(crate) direction: Direction,
    pub(crate) state: LegState,
    /// Where requests for this leg go (the flow it came from, or the registered flow we called).
    pub(crate) peer: Peer,
    /// The initial INVITE: received (inbound) or sent (outbound). Dialogs and CANCEL derive from it.
    pub(crate) invite: Request,
    /// Inbound: the INVITE's server transaction, until the final response is sent.
    pub(crate) invite_server_tx: Option<ServerTxId>,
    /// Outbound: the INVITE's client transaction, until it completes.
    pub(crate) invite_client_tx: Option<ClientTxId>,
    /// Our tag: To tag on inbound legs, From tag on outbound legs.
    pub(crate) local_tag: String,
    /// The dialog, once a 2xx made it confirmed (early dialogs are not tracked separately).
    pub(crate) dialog: Option<Dialog>,
    /// A re-INVITE under way, if any.
    pub(crate) reinvite: Option<PendingReinvite>,
    /// The last SDP the remote side sent us, kept for logs and for re-INVITE glare decisions.
    pub(crate) remote_sdp: Option<Bytes>,
}
