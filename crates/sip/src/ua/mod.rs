//! The user-agent layer: turns transactions and dialogs into **legs** and their events.
//!
//! A B2BUA does not want raw SIP. The switch asks this layer to accept an incoming INVITE, to ring,
//! answer, reject or hang up a leg, to place an outgoing INVITE, or to re-INVITE; it hears back
//! [`LegEvent`]s: `Ringing`, `Answered`, `Hangup`, `Reinvite`, `ReinviteResult`, `Info`.
//! Everything that is not about a leg (REGISTER, OPTIONS, a new INVITE to route) comes out as
//! [`UaOutput::Request`] for the switch to decide, answered through [`UserAgent::respond`].
//!
//! Like every core in this crate it is sans-IO: `handle_*(now, …)`, then drain
//! [`UserAgent::poll_output`] until `None`, then sleep until [`UserAgent::poll_timeout`].
//!
//! Ownership rule: a leg the switch ends itself (`reject`, `hangup`) produces no `Hangup` event;
//! a leg the other side or a timer ends produces exactly one.

mod events;
mod leg;
mod requests;

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{Contact, ContentType};
use ezk_sip_types::uri::{NameAddr, SipUri};
use ezk_sip_types::{Method, Name, StatusCode};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::dialog::Dialog;
use crate::endpoint::{ClientTxId, Endpoint, Event, Output, ServerTxId, Transmit};
use crate::message::{HeadersExt, Peer, Request, Response, Transport, response_to};

pub use leg::{Direction, HangupCause, LegId};
use leg::{Leg, LegState, PendingReinvite};

/// What a leg reports to the switch.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LegEvent {
    /// An outbound leg got a provisional response (180 Ringing, 183 Session Progress).
    Ringing {
        /// The leg.
        leg: LegId,
        /// 180, 183, …
        code: u16,
        /// Early-media SDP, if the response carried one.
        sdp: Option<Bytes>,
    },
    /// An outbound leg was answered (2xx, already ACKed).
    Answered {
        /// The leg.
        leg: LegId,
        /// The answerer's SDP.
        sdp: Option<Bytes>,
    },
    /// The leg ended for a reason the switch did not cause (see the module's ownership rule).
    Hangup {
        /// The leg.
        leg: LegId,
        /// Why.
        cause: HangupCause,
    },
    /// The remote side re-INVITEd (hold, unhold, codec change); answer with
    /// [`UserAgent::answer_reinvite`].
    Reinvite {
        /// The leg.
        leg: LegId,
        /// The new offer, if any (an offerless re-INVITE asks us for one).
        sdp: Option<Bytes>,
    },
    /// The final response to a re-INVITE we sent with [`UserAgent::reinvite`].
    ReinviteResult {
        /// The leg.
        leg: LegId,
        /// The status code (2xx already ACKed).
        code: u16,
        /// The answer SDP on a 2xx.
        sdp: Option<Bytes>,
    },
    /// The ACK to a 2xx of ours carried SDP: the answer to the offer we put in that 2xx (an
    /// INVITE or re-INVITE that arrived without an offer).
    Ack {
        /// The leg.
        leg: LegId,
        /// The answer.
        sdp: Bytes,
    },
    /// An INFO in the dialog (DTMF relay, …); already answered 200.
    Info {
        /// The leg.
        leg: LegId,
        /// The body's Content-Type, if given.
        content_type: Option<String>,
        /// The body.
        body: Bytes,
    },
}

/// Output of the user agent.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "drained at once; boxing every request costs an allocation per message"
)]
pub enum UaOutput {
    /// Bytes to send.
    Transmit(Transmit),
    /// A request outside any leg for the switch to answer with [`UserAgent::respond`] (or, for an
    /// INVITE, to take with [`UserAgent::accept`]).
    Request {
        /// Its server transaction.
        tx: ServerTxId,
        /// Where it came from.
        source: Peer,
        /// The request.
        request: Request,
    },
    /// Something happened on a leg.
    Leg(LegEvent),
}

/// Errors from commands the switch gives the user agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UaError {
    /// The leg is unknown or already over.
    #[error("{0} is unknown or already ended")]
    NoSuchLeg(LegId),
    /// The command does not fit the leg's state (answering an outbound leg, re-INVITE while early…).
    #[error("{leg}: cannot {action} in its current state")]
    WrongState {
        /// The leg.
        leg: LegId,
        /// What was asked.
        action: &'static str,
    },
    /// A re-INVITE is already under way on the leg (RFC 3261 §14.1).
    #[error("{0}: a re-INVITE is already in progress")]
    ReinvitePending(LegId),
}

/// What to put in an outgoing INVITE.
#[derive(Debug, Clone)]
pub struct OutboundCall {
    /// Where to send it (a registered flow, a trunk's address).
    pub dest: Peer,
    /// The Request-URI (the registered Contact, or the trunk's URI with the number).
    pub request_uri: SipUri,
    /// From (caller id as the callee will see it); we add our tag.
    pub from: NameAddr,
    /// To.
    pub to: NameAddr,
    /// Route set to use (a registration's Path, RFC 3327), topmost first.
    pub route: Vec<BytesStr>,
    /// The offer, if any.
    pub sdp: Option<Bytes>,
    /// Max-Forwards for the new leg (the inbound value minus one, for loop protection).
    pub max_forwards: u8,
}

/// Configuration of the user agent.
#[derive(Debug, Clone)]
pub struct UaConfig {
    /// Contact URI we advertise, per transport.
    pub contacts: Vec<(Transport, SipUri)>,
    /// Seed for tags and Call-IDs (tests pass a fixed one; the server a random one).
    pub rng_seed: u64,
    /// Host part for the Call-IDs we make (also our warn-agent in Warning headers).
    pub call_id_host: String,
    /// What an SDP body may ask of us: a 488 refusing an offer names the limit it broke.
    pub sdp_limits: crate::sdp::SdpLimits,
}

/// Which request of a leg a transaction carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxRole {
    Invite,
    Reinvite,
    Other,
}

/// The user agent: the endpoint below, legs above.
#[derive(Debug)]
pub struct UserAgent {
    endpoint: Endpoint,
    config: UaConfig,
    rng: ChaCha8Rng,
    next_leg: u64,
    legs: HashMap<LegId, Leg>,
    /// Server transactions belonging to legs (the initial INVITE until ACKed, re-INVITEs).
    server_txs: HashMap<ServerTxId, (LegId, TxRole)>,
    /// Client transactions belonging to legs.
    client_txs: HashMap<ClientTxId, (LegId, TxRole)>,
    /// Confirmed (or answered) dialogs: (Call-ID, our tag) → leg.
    dialogs: HashMap<(String, String), LegId>,
    /// Re-INVITEs received and not yet answered, by their server transaction.
    pending_reinvites: HashMap<ServerTxId, Request>,
    out: VecDeque<UaOutput>,
    /// The time of the last input, for endpoint outputs drained lazily by `poll_output`.
    now: Option<Instant>,
}

impl UserAgent {
    /// A user agent over `endpoint`.
    #[must_use]
    pub fn new(endpoint: Endpoint, config: UaConfig) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(config.rng_seed);
        UserAgent {
            endpoint,
            config,
            rng,
            next_leg: 1,
            legs: HashMap::new(),
            server_txs: HashMap::new(),
            client_txs: HashMap::new(),
            dialogs: HashMap::new(),
            pending_reinvites: HashMap::new(),
            out: VecDeque::new(),
            now: None,
        }
    }

    /// Number of legs alive (for metrics and leak tests).
    #[must_use]
    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// Live transactions (client, server), for metrics and leak checks.
    #[must_use]
    pub fn transaction_count(&self) -> (usize, usize) {
        self.endpoint.transaction_count()
    }

    /// A message from the wire, already checked by [`crate::wire`].
    pub fn handle_message(&mut self, now: Instant, source: Peer, msg: crate::SipMessage) {
        self.endpoint.handle_message(now, source, msg);
        self.drain_endpoint(now);
    }

    /// Time passed: fire due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.drain_endpoint(now);
    }

    /// Next output to perform.
    pub fn poll_output(&mut self) -> Option<UaOutput> {
        loop {
            if let Some(output) = self.out.pop_front() {
                return Some(output);
            }
            let now = self.now?;
            if !self.drain_endpoint(now) {
                return None;
            }
        }
    }

    /// When to call [`UserAgent::handle_timeout`] next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.endpoint.poll_timeout()
    }

    /// Answers a request that [`UaOutput::Request`] handed to the switch.
    pub fn respond(&mut self, now: Instant, tx: ServerTxId, response: Response) {
        if let Err(err) = self.endpoint.send_response(now, tx, response) {
            tracing::debug!(%err, "response on a finished transaction dropped");
        }
        self.drain_endpoint(now);
    }

    /// Refuses an out-of-dialog request statelessly: the response goes out once and the
    /// transaction is forgotten (see [`Endpoint::send_stateless_response`]).
    pub fn respond_stateless(&mut self, now: Instant, tx: ServerTxId, response: Response) {
        if let Err(err) = self.endpoint.send_stateless_response(tx, response) {
            tracing::debug!(%err, "stateless response on a finished transaction dropped");
        }
        self.drain_endpoint(now);
    }

    /// Forgets an out-of-dialog request's transaction without answering it.
    pub fn discard(&mut self, tx: ServerTxId) {
        self.endpoint.discard_server_transaction(tx);
    }

    /// Takes an incoming INVITE as a new inbound leg. Nothing is sent yet: follow with
    /// [`UserAgent::progress`], [`UserAgent::answer`] or [`UserAgent::reject`].
    pub fn accept(&mut self, tx: ServerTxId, source: Peer, invite: Request) -> LegId {
        let leg = self.new_leg_id();
        let local_tag = crate::dialog::generate_tag(&mut self.rng);
        let remote_sdp = (!invite.body.is_empty()).then(|| invite.body.clone());
        self.server_txs.insert(tx, (leg, TxRole::Invite));
        self.legs.insert(
            leg,
            Leg {
                direction: Direction::Inbound,
                state: LegState::Early,
                peer: source,
                invite,
                invite_server_tx: Some(tx),
                invite_client_tx: None,
                local_tag,
                dialog: None,
                reinvite: None,
                remote_sdp,
            },
        );
        leg
    }

    /// Sends a provisional response (180, 183 with early-media SDP) on an inbound leg.
    pub fn progress(
        &mut self,
        now: Instant,
        leg: LegId,
        code: u16,
        sdp: Option<Bytes>,
    ) -> Result<(), UaError> {
        let (tx, response) =
            self.inbound_response(leg, code, sdp, "send a provisional response")?;
        self.respond(now, tx, response);
        Ok(())
    }

    /// Answers an inbound leg with 200 OK; the endpoint retransmits it until the ACK comes.
    pub fn answer(
        &mut self,
        now: Instant,
        leg_id: LegId,
        sdp: Option<Bytes>,
    ) -> Result<(), UaError> {
        let (tx, response) = self.inbound_response(leg_id, 200, sdp, "answer")?;
        let contact = self.contact_for(self.leg(leg_id)?.peer.transport);
        let leg = self
            .legs
            .get_mut(&leg_id)
            .ok_or(UaError::NoSuchLeg(leg_id))?;
        let dialog = Dialog::from_uas(&leg.invite, &response, contact);
        self.dialogs.insert(dialog_key(&dialog), leg_id);
        leg.dialog = Some(dialog);
        leg.state = LegState::Confirmed;
        self.respond(now, tx, response);
        Ok(())
    }

    /// Rejects an early inbound leg with a final non-2xx status. The leg is over.
    pub fn reject(&mut self, now: Instant, leg_id: LegId, code: u16) -> Result<(), UaError> {
        let (tx, response) = self.inbound_response(leg_id, code, None, "reject")?;
        self.server_txs.remove(&tx);
        self.legs.remove(&leg_id);
        self.respond(now, tx, response);
        Ok(())
    }

    /// Ends a leg from our side: reject (inbound, early, with 480), CANCEL (outbound, early) or
    /// BYE (confirmed). No `Hangup` event follows.
    pub fn hangup(&mut self, now: Instant, leg_id: LegId) -> Result<(), UaError> {
        let leg = self.leg(leg_id)?;
        match (leg.direction, leg.state) {
            (Direction::Inbound, LegState::Early) => self.reject(now, leg_id, 480),
            (Direction::Outbound, LegState::Early) => {
                let tx = leg.invite_client_tx;
                if let Some(leg) = self.legs.get_mut(&leg_id) {
                    leg.state = LegState::Cancelling;
                }
                if let Some(tx) = tx
                    && let Err(err) = self.endpoint.send_cancel(now, tx)
                {
                    tracing::debug!(%leg_id, %err, "CANCEL not sent");
                }
                self.drain_endpoint(now);
                Ok(())
            }
            (_, LegState::Confirmed) => {
                self.send_bye(now, leg_id);
                Ok(())
            }
            (_, LegState::Cancelling | LegState::Ended) => Ok(()),
        }
    }

    /// Places a call: a new outbound leg with a fresh Call-ID and From tag.
    pub fn invite(&mut self, now: Instant, call: OutboundCall) -> LegId {
        let leg_id = self.new_leg_id();
        let local_tag = crate::dialog::generate_tag(&mut self.rng);
        let call_id = crate::dialog::generate_call_id(&mut self.rng, &self.config.call_id_host);
        let contact = self.contact_for(call.dest.transport);
        let request = requests::build_invite(&call, &local_tag, &call_id, contact);
        let tx = self.endpoint.send_request(now, request.clone(), call.dest);
        self.client_txs.insert(tx, (leg_id, TxRole::Invite));
        self.legs.insert(
            leg_id,
            Leg {
                direction: Direction::Outbound,
                state: LegState::Early,
                peer: call.dest,
                invite: request,
                invite_server_tx: None,
                invite_client_tx: Some(tx),
                local_tag,
                dialog: None,
                reinvite: None,
                remote_sdp: None,
            },
        );
        self.drain_endpoint(now);
        leg_id
    }

    /// Sends a re-INVITE on a confirmed leg (relaying hold/unhold or a new offer).
    pub fn reinvite(
        &mut self,
        now: Instant,
        leg_id: LegId,
        sdp: Option<Bytes>,
    ) -> Result<(), UaError> {
        let leg = self
            .legs
            .get_mut(&leg_id)
            .ok_or(UaError::NoSuchLeg(leg_id))?;
        if leg.reinvite.is_some() {
            return Err(UaError::ReinvitePending(leg_id));
        }
        let Some(dialog) = leg
            .dialog
            .as_mut()
            .filter(|_| leg.state == LegState::Confirmed)
        else {
            return Err(UaError::WrongState {
                leg: leg_id,
                action: "re-INVITE",
            });
        };
        let mut request = dialog.create_request(Method::INVITE);
        let contact = contact_in(&self.config, leg.peer.transport);
        request
            .headers
            .insert_named(&Contact::new(NameAddr::uri(contact)));
        set_sdp(&mut request.headers, &mut request.body, sdp);
        let tx = self.endpoint.send_request(now, request, leg.peer);
        leg.reinvite = Some(PendingReinvite::Outgoing);
        self.client_txs.insert(tx, (leg_id, TxRole::Reinvite));
        self.drain_endpoint(now);
        Ok(())
    }

    /// Answers a re-INVITE the remote side sent (see [`LegEvent::Reinvite`]).
    pub fn answer_reinvite(
        &mut self,
        now: Instant,
        leg_id: LegId,
        code: u16,
        sdp: Option<Bytes>,
    ) -> Result<(), UaError> {
        let leg = self
            .legs
            .get_mut(&leg_id)
            .ok_or(UaError::NoSuchLeg(leg_id))?;
        let Some(PendingReinvite::Incoming(tx)) = leg.reinvite else {
            return Err(UaError::WrongState {
                leg: leg_id,
                action: "answer a re-INVITE",
            });
        };
        leg.reinvite = None;
        let Some(request) = self.pending_reinvites.remove(&tx) else {
            return Err(UaError::WrongState {
                leg: leg_id,
                action: "answer a re-INVITE",
            });
        };
        let mut response = response_to(&request, StatusCode::from(code), Some(&leg.local_tag));
        if (200..300).contains(&code) {
            let contact = contact_in(&self.config, leg.peer.transport);
            response
                .headers
                .insert_named(&Contact::new(NameAddr::uri(contact)));
            set_sdp(&mut response.headers, &mut response.body, sdp);
        }
        warn_refusal(&self.config, &mut response, &request.body);
        self.server_txs.remove(&tx);
        self.respond(now, tx, response);
        Ok(())
    }

    fn new_leg_id(&mut self) -> LegId {
        let id = LegId(self.next_leg);
        self.next_leg += 1;
        id
    }

    fn leg(&self, leg: LegId) -> Result<&Leg, UaError> {
        self.legs.get(&leg).ok_or(UaError::NoSuchLeg(leg))
    }

    fn contact_for(&self, transport: Transport) -> SipUri {
        contact_in(&self.config, transport)
    }

    /// A response to the INVITE of an early inbound leg, with our tag, Contact and SDP.
    fn inbound_response(
        &self,
        leg_id: LegId,
        code: u16,
        sdp: Option<Bytes>,
        action: &'static str,
    ) -> Result<(ServerTxId, Response), UaError> {
        let leg = self.leg(leg_id)?;
        let (Direction::Inbound, LegState::Early, Some(tx)) =
            (leg.direction, leg.state, leg.invite_server_tx)
        else {
            return Err(UaError::WrongState {
                leg: leg_id,
                action,
            });
        };
        let mut response = response_to(&leg.invite, StatusCode::from(code), Some(&leg.local_tag));
        if code < 300 {
            let contact = self.contact_for(leg.peer.transport);
            response
                .headers
                .insert_named(&Contact::new(NameAddr::uri(contact)));
            // RFC 3261 §12.1.1: the UAS copies Record-Route into responses that make a dialog.
            for rr in leg.invite.headers.get_raw(&Name::RECORD_ROUTE) {
                response.headers.insert(Name::RECORD_ROUTE, rr.clone());
            }
            set_sdp(&mut response.headers, &mut response.body, sdp);
        }
        warn_refusal(&self.config, &mut response, &leg.invite.body);
        Ok((tx, response))
    }

    fn send_bye(&mut self, now: Instant, leg_id: LegId) {
        let Some(leg) = self.legs.get_mut(&leg_id) else {
            return;
        };
        leg.state = LegState::Ended;
        if let Some(dialog) = leg.dialog.as_mut() {
            let bye = dialog.create_request(Method::BYE);
            let tx = self.endpoint.send_request(now, bye, leg.peer);
            self.client_txs.insert(tx, (leg_id, TxRole::Other));
        }
        self.forget_leg(leg_id);
        self.drain_endpoint(now);
    }

    /// Drops a leg and every index that points to it.
    fn forget_leg(&mut self, leg_id: LegId) {
        if let Some(leg) = self.legs.remove(&leg_id) {
            if let Some(dialog) = &leg.dialog {
                self.dialogs.remove(&dialog_key(dialog));
            }
            if let Some(tx) = leg.invite_server_tx {
                self.server_txs.remove(&tx);
            }
            if let Some(PendingReinvite::Incoming(tx)) = leg.reinvite {
                self.server_txs.remove(&tx);
                self.pending_reinvites.remove(&tx);
            }
        }
        // Client transactions (BYE, CANCEL, INVITE) stay mapped until their final response so
        // a late 2xx can still be ACKed and ended; they point at a leg id that no longer exists.
    }

    fn emit(&mut self, event: LegEvent) {
        self.out.push_back(UaOutput::Leg(event));
    }

    /// Takes the endpoint's outputs, up to and including one that hands a request to the
    /// switch: the rest wait for [`UserAgent::poll_output`], so that what the switch answers at
    /// once (a stateless refusal) goes out before the endpoint's automatic 100 Trying, which it
    /// then makes unnecessary. Whether anything was taken.
    fn drain_endpoint(&mut self, now: Instant) -> bool {
        self.now = Some(now);
        let mut took = false;
        while let Some(output) = self.endpoint.poll_output() {
            took = true;
            match output {
                Output::Transmit(t) => self.out.push_back(UaOutput::Transmit(t)),
                Output::Event(event) => {
                    let handed = matches!(event, Event::Request { .. });
                    self.on_event(now, event);
                    if handed && matches!(self.out.back(), Some(UaOutput::Request { .. })) {
                        break;
                    }
                }
            }
        }
        took
    }

    fn on_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Request {
                tx,
                source,
                request,
            } => self.on_request(now, tx, source, request),
            Event::Cancelled { invite_tx, .. } => self.on_cancelled(now, invite_tx),
            Event::Ack { request, .. } => self.on_ack(&request),
            Event::Response { tx, response } => self.on_response(now, tx, response),
            Event::ClientTimeout { tx } => self.on_client_timeout(now, tx),
            Event::AckTimeout { tx } => {
                if let Some((leg, TxRole::Invite)) = self.server_txs.remove(&tx) {
                    self.send_bye(now, leg);
                    self.emit(LegEvent::Hangup {
                        leg,
                        cause: HangupCause::AckTimeout,
                    });
                }
            }
        }
    }
}

/// RFC 3261 §20.43: a 488 Not Acceptable Here to an offer says why in a Warning header. The
/// switch decides to refuse; the offer it refused is re-read here to name the reason (a limit
/// it broke, a multicast address, no audio, no common codec), so every 488 carries one.
fn warn_refusal(config: &UaConfig, response: &mut Response, offer: &[u8]) {
    if response.code() != 488 || offer.is_empty() {
        return;
    }
    let Some(warning) = crate::sdp::refusal_warning(offer, &config.sdp_limits) else {
        return;
    };
    let agent = if config.call_id_host.is_empty() {
        "switchboard"
    } else {
        config.call_id_host.as_str()
    };
    response
        .headers
        .insert(Name::WARNING, warning.header_value(agent));
}

fn contact_in(config: &UaConfig, transport: Transport) -> SipUri {
    config
        .contacts
        .iter()
        .find(|(t, _)| *t == transport)
        .or(config.contacts.first())
        .map(|(_, uri)| uri.clone())
        .unwrap_or_else(|| {
            SipUri::new(ezk_sip_types::host::HostPort::from(
                std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 5060),
            ))
        })
}

fn dialog_key(dialog: &Dialog) -> (String, String) {
    (
        dialog.id().call_id.to_string(),
        dialog.id().local_tag.to_string(),
    )
}

/// Puts `sdp` (or nothing) as the body with its Content-Type.
fn set_sdp(headers: &mut crate::Headers, body: &mut Bytes, sdp: Option<Bytes>) {
    headers.remove(&Name::CONTENT_TYPE);
    match sdp {
        Some(sdp) if !sdp.is_empty() => {
            headers.insert_named(&ContentType(BytesStr::from_static("application/sdp")));
            *body = sdp;
        }
        _ => *body = Bytes::new(),
    }
}

/// The To tag of a message, if any.
fn to_tag(msg: &impl HeadersExt) -> Option<String> {
    msg.tag_to()
}

#[cfg(test)]
mod tests;
