//! The endpoint: owns every transaction and routes each message to the one that owns it.
//!
//! Requests that start a transaction, responses to ours, CANCEL, ACK for a 2xx and timeouts go
//! up as [`Event`]s; bytes to send come out as [`Transmit`]s. Besides §17 it does the UAS core
//! chores every user agent needs: 100 Trying at once for INVITE, 501/420 for methods and
//! extensions we do not support (§8.2.1, §8.2.2.3), 482 for merged requests (§8.2.2.2), CANCEL
//! handling (§9.2), and retransmitting a 2xx to INVITE until its ACK comes (§13.3.1.4).

mod keys;
mod uas;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{MaxForwards, Via};
use ezk_sip_types::host::HostPort;
use ezk_sip_types::{Method, Name};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::message::{HeadersExt, Peer, Request, Response, SipMessage, Transport};
use crate::transaction::Timers;
use crate::transaction::client::{ClientInvite, ClientNonInvite};
use crate::transaction::server::{ServerInvite, ServerNonInvite};

pub use keys::MAGIC_COOKIE;
use keys::{ClientKey, ServerKey};

/// Identifies a client transaction to the TU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(u64);

/// Identifies a server transaction to the TU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(u64);

/// Endpoint configuration.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Timer values.
    pub timers: Timers,
    /// Sent as User-Agent in requests and Server in responses.
    pub user_agent: String,
    /// What we put in our Via's sent-by, per transport.
    pub via_sent_by: Vec<(Transport, HostPort)>,
    /// Methods we accept; others get 501 Not Implemented (§8.2.1).
    pub allowed_methods: Vec<Method>,
    /// Option tags we support; a Require naming another gets 420 (§8.2.2.3).
    pub supported: Vec<String>,
    /// Seed for branches.
    pub rng_seed: u64,
}

/// What the endpoint asks its driver to do.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "drained at once; boxing every event costs an allocation per message"
)]
pub enum Output {
    /// Send bytes.
    Transmit(Transmit),
    /// Tell the TU.
    Event(Event),
}

/// Bytes for a peer.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// Where to.
    pub dest: Peer,
    /// The encoded message.
    pub bytes: Bytes,
}

/// What the endpoint tells its transaction user.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A new request with its own server transaction; answer with [`Endpoint::send_response`]
    /// (or [`Endpoint::send_stateless_response`] to refuse a stranger). An INVITE the TU has
    /// not answered by the next [`Endpoint::poll_output`] is answered 100 Trying then.
    Request {
        /// The transaction.
        tx: ServerTxId,
        /// Where it came from.
        source: Peer,
        /// The request (top Via stamped with received/rport).
        request: Request,
    },
    /// A CANCEL matched a pending INVITE; the CANCEL got its 200 already. Answer the INVITE
    /// with 487.
    Cancelled {
        /// The INVITE's transaction.
        invite_tx: ServerTxId,
        /// The CANCEL.
        request: Request,
    },
    /// An ACK outside any transaction: the ACK for a 2xx.
    Ack {
        /// Where it came from.
        source: Peer,
        /// The ACK.
        request: Request,
    },
    /// A response to one of our requests.
    Response {
        /// The transaction.
        tx: ClientTxId,
        /// The response.
        response: Response,
    },
    /// No final response in time (Timer B/F): act as on 408.
    ClientTimeout {
        /// The transaction.
        tx: ClientTxId,
    },
    /// Our 2xx to an INVITE was never ACKed (§13.3.1.4): the TU should send BYE.
    AckTimeout {
        /// The INVITE's transaction.
        tx: ServerTxId,
    },
}

/// Errors from TU calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The transaction is unknown or over.
    #[error("no such transaction")]
    NoTransaction,
    /// The request cannot be cancelled any more (final response received).
    #[error("the INVITE already has a final response")]
    NotCancellable,
}

#[derive(Debug)]
enum ClientMachine {
    Invite(ClientInvite),
    NonInvite(ClientNonInvite),
}

#[derive(Debug)]
struct ClientTx {
    machine: ClientMachine,
    key: ClientKey,
    dest: Peer,
    /// The INVITE as sent, kept only while a CANCEL or a non-2xx ACK may still be built from
    /// it; other transactions keep only their encoded bytes (a few KiB less per transaction).
    invite: Option<Request>,
    /// A CANCEL was asked for before any provisional arrived (§9.1: wait for one).
    cancel_pending: bool,
}

#[derive(Debug)]
enum ServerMachine {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

#[derive(Debug)]
struct ServerTx {
    machine: ServerMachine,
    key: ServerKey,
    /// Where responses go (§18.2.2).
    reply_to: Peer,
    /// §8.2.2.2 key (From tag, Call-ID, CSeq) while the request has no To tag.
    merge_key: Option<(String, String, u32)>,
    /// The TU (or the endpoint) has sent a response on it.
    responded: bool,
}

/// An output, or the 100 Trying an INVITE gets unless the TU answered it first.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "as for Output: drained at once, boxing each costs an allocation per message"
)]
enum Pending {
    Ready(Output),
    Trying {
        tx: ServerTxId,
        now: Instant,
        response: Box<Response>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerRef {
    Client(ClientTxId),
    Server(ServerTxId),
    Retransmit2xx(ServerTxId),
}

/// The endpoint.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    rng: ChaCha8Rng,
    next_id: u64,
    clients: HashMap<ClientTxId, ClientTx>,
    client_keys: HashMap<ClientKey, ClientTxId>,
    servers: HashMap<ServerTxId, ServerTx>,
    server_keys: HashMap<ServerKey, ServerTxId>,
    merge_keys: HashMap<(String, String, u32), ServerTxId>,
    /// 2xx responses to INVITE being retransmitted until ACKed, by (Call-ID, CSeq number).
    pending_2xx: HashMap<(String, u32), uas::Retransmit2xx>,
    pending_2xx_by_tx: HashMap<ServerTxId, (String, u32)>,
    /// Lazily-deleted timer queue: an entry is acted on only if its owner still wants that time.
    timers: BinaryHeap<Reverse<(Instant, TimerRef)>>,
    out: VecDeque<Pending>,
}

impl Endpoint {
    /// A new endpoint.
    #[must_use]
    pub fn new(config: EndpointConfig) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(config.rng_seed);
        Endpoint {
            config,
            rng,
            next_id: 1,
            clients: HashMap::new(),
            client_keys: HashMap::new(),
            servers: HashMap::new(),
            server_keys: HashMap::new(),
            merge_keys: HashMap::new(),
            pending_2xx: HashMap::new(),
            pending_2xx_by_tx: HashMap::new(),
            timers: BinaryHeap::new(),
            out: VecDeque::new(),
        }
    }

    /// Live transactions (client, server): for metrics and leak tests.
    #[must_use]
    pub fn transaction_count(&self) -> (usize, usize) {
        (self.clients.len(), self.servers.len())
    }

    /// Next output to perform.
    pub fn poll_output(&mut self) -> Option<Output> {
        loop {
            match self.out.pop_front()? {
                Pending::Ready(output) => return Some(output),
                Pending::Trying { tx, now, response } => {
                    // The TU saw the INVITE first: a refusal it sent at once (a challenge, a
                    // 404) needs no 100 before it, and a stateless one left no transaction.
                    if self.servers.get(&tx).is_some_and(|t| !t.responded) {
                        self.respond_internal(now, tx, *response);
                    }
                }
            }
        }
    }

    /// When to call [`Endpoint::handle_timeout`] next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// A checked message from the wire.
    pub fn handle_message(&mut self, now: Instant, source: Peer, msg: SipMessage) {
        match msg {
            SipMessage::Request(request) => self.on_request(now, source, request),
            SipMessage::Response(response) => self.on_response(now, response),
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match timer {
                TimerRef::Client(id) => self.client_timeout(now, id),
                TimerRef::Server(id) => self.server_timeout(now, id),
                TimerRef::Retransmit2xx(id) => self.retransmit_2xx(now, id),
            }
        }
    }

    /// Sends a request in a new client transaction.
    pub fn send_request(&mut self, now: Instant, mut request: Request, dest: Peer) -> ClientTxId {
        let branch = self.push_via(&mut request, dest.transport);
        self.prepare_request(&mut request);
        let id = ClientTxId(self.next());
        let method = request.method().clone();
        let bytes = request.encode();
        let reliable = dest.transport.is_reliable();
        let machine = if method == Method::INVITE {
            ClientMachine::Invite(ClientInvite::new(
                now,
                bytes.clone(),
                reliable,
                self.config.timers,
            ))
        } else {
            ClientMachine::NonInvite(ClientNonInvite::new(
                now,
                bytes.clone(),
                reliable,
                self.config.timers,
            ))
        };
        let method_is_invite = method == Method::INVITE;
        let key = ClientKey { branch, method };
        self.client_keys.insert(key.clone(), id);
        self.clients.insert(
            id,
            ClientTx {
                machine,
                key,
                dest,
                invite: (method_is_invite).then_some(request),
                cancel_pending: false,
            },
        );
        self.transmit(dest, bytes);
        self.schedule_client(id);
        id
    }

    /// Cancels a pending INVITE (§9.1): now if a provisional arrived, else once one does.
    pub fn send_cancel(&mut self, now: Instant, invite: ClientTxId) -> Result<(), EndpointError> {
        let tx = self
            .clients
            .get_mut(&invite)
            .ok_or(EndpointError::NoTransaction)?;
        let ClientMachine::Invite(machine) = &tx.machine else {
            return Err(EndpointError::NotCancellable);
        };
        use crate::transaction::client::ClientInviteState as S;
        match machine.state() {
            S::Calling => {
                tx.cancel_pending = true;
                Ok(())
            }
            S::Proceeding => {
                self.cancel_now(now, invite);
                Ok(())
            }
            _ => Err(EndpointError::NotCancellable),
        }
    }

    /// Sends a request outside any transaction (the ACK for a 2xx, §13.2.2.4).
    pub fn send_stateless(&mut self, _now: Instant, mut request: Request, dest: Peer) {
        self.push_via(&mut request, dest.transport);
        self.prepare_request(&mut request);
        self.transmit(dest, request.encode());
    }

    fn cancel_now(&mut self, now: Instant, invite: ClientTxId) {
        let Some(tx) = self.clients.get_mut(&invite) else {
            return;
        };
        tx.cancel_pending = false;
        if let ClientMachine::Invite(machine) = &mut tx.machine {
            machine.on_cancel_sent(now);
        }
        let Some(cancel) = tx.invite.as_ref().map(uas::build_cancel) else {
            return;
        };
        let dest = tx.dest;
        let branch = tx.key.branch.clone();
        self.schedule_client(invite);
        let id = ClientTxId(self.next());
        let bytes = cancel.encode();
        let machine = ClientNonInvite::new(
            now,
            bytes.clone(),
            dest.transport.is_reliable(),
            self.config.timers,
        );
        let key = ClientKey {
            branch,
            method: Method::CANCEL,
        };
        self.client_keys.insert(key.clone(), id);
        self.clients.insert(
            id,
            ClientTx {
                machine: ClientMachine::NonInvite(machine),
                key,
                dest,
                invite: None,
                cancel_pending: false,
            },
        );
        self.transmit(dest, bytes);
        self.schedule_client(id);
    }

    /// Prepends our Via with a fresh branch; returns the branch.
    fn push_via(&mut self, request: &mut Request, transport: Transport) -> String {
        let branch = format!("{MAGIC_COOKIE}{:016x}", self.rng.random::<u64>());
        let sent_by = self
            .config
            .via_sent_by
            .iter()
            .find(|(t, _)| *t == transport)
            .or(self.config.via_sent_by.first())
            .map(|(_, hp)| hp.clone())
            .unwrap_or_else(|| HostPort::host_name("invalid"));
        let mut via = Via::new(transport.via_token(), sent_by, branch.as_str());
        via.params
            .push(ezk_sip_types::uri::params::Param::name("rport"));
        request.headers.insert_named_front(&via);
        branch
    }

    fn prepare_request(&self, request: &mut Request) {
        if !request.headers.contains(&Name::MAX_FORWARDS) {
            request.headers.insert_named(&MaxForwards(70));
        }
        if !request.headers.contains(&Name::USER_AGENT) && !self.config.user_agent.is_empty() {
            request.headers.insert(
                Name::USER_AGENT,
                BytesStr::from(self.config.user_agent.as_str()),
            );
        }
    }

    fn next(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn transmit(&mut self, dest: Peer, bytes: Bytes) {
        self.out
            .push_back(Pending::Ready(Output::Transmit(Transmit { dest, bytes })));
    }

    fn emit(&mut self, event: Event) {
        self.out.push_back(Pending::Ready(Output::Event(event)));
    }

    fn schedule_client(&mut self, id: ClientTxId) {
        let at = self.clients.get(&id).and_then(|tx| match &tx.machine {
            ClientMachine::Invite(m) => m.next_timeout(),
            ClientMachine::NonInvite(m) => m.next_timeout(),
        });
        if let Some(at) = at {
            self.timers.push(Reverse((at, TimerRef::Client(id))));
        }
    }

    fn schedule_server(&mut self, id: ServerTxId) {
        let at = self.servers.get(&id).and_then(|tx| match &tx.machine {
            ServerMachine::Invite(m) => m.next_timeout(),
            ServerMachine::NonInvite(m) => m.next_timeout(),
        });
        if let Some(at) = at {
            self.timers.push(Reverse((at, TimerRef::Server(id))));
        }
    }

    fn on_response(&mut self, now: Instant, response: Response) {
        let Some(via) = response.top_via() else {
            return;
        };
        let Some(cseq) = response.cseq() else { return };
        let branch = via
            .params
            .get_val("branch")
            .map(|b| b.to_string())
            .unwrap_or_default();
        let key = ClientKey {
            branch,
            method: cseq.method,
        };
        let Some(&id) = self.client_keys.get(&key) else {
            tracing::trace!("response matching no transaction dropped");
            return;
        };
        let Some(tx) = self.clients.get_mut(&id) else {
            return;
        };
        let code = response.code();
        let step = match &mut tx.machine {
            ClientMachine::Invite(m) => match &tx.invite {
                Some(invite) => m.on_response(now, code, || {
                    uas::build_non2xx_ack(invite, &response).encode()
                }),
                None => m.on_response(now, code, Bytes::new),
            },
            ClientMachine::NonInvite(m) => m.on_response(now, code),
        };
        let dest = tx.dest;
        let cancel = tx.cancel_pending && (100..200).contains(&code);
        if code >= 200 {
            // Final: no CANCEL and no new ACK will be built from the INVITE any more.
            tx.cancel_pending = false;
            tx.invite = None;
        }
        if let Some(bytes) = step.send {
            self.transmit(dest, bytes);
        }
        if step.to_tu {
            self.emit(Event::Response { tx: id, response });
        }
        if cancel {
            self.cancel_now(now, id);
        }
        self.finish_client(id);
    }

    fn client_timeout(&mut self, now: Instant, id: ClientTxId) {
        let Some(tx) = self.clients.get_mut(&id) else {
            return;
        };
        let due = match &tx.machine {
            ClientMachine::Invite(m) => m.next_timeout(),
            ClientMachine::NonInvite(m) => m.next_timeout(),
        };
        if due.is_none_or(|at| at > now) {
            return; // a stale heap entry
        }
        let step = match &mut tx.machine {
            ClientMachine::Invite(m) => m.on_timeout(now),
            ClientMachine::NonInvite(m) => m.on_timeout(now),
        };
        let dest = tx.dest;
        if let Some(bytes) = step.send {
            self.transmit(dest, bytes);
        }
        if step.timed_out {
            self.emit(Event::ClientTimeout { tx: id });
        }
        self.finish_client(id);
    }

    /// Drops a terminated client transaction, or schedules its next timer.
    fn finish_client(&mut self, id: ClientTxId) {
        let terminated = self.clients.get(&id).is_some_and(|tx| match &tx.machine {
            ClientMachine::Invite(m) => m.is_terminated(),
            ClientMachine::NonInvite(m) => m.is_terminated(),
        });
        if terminated {
            if let Some(tx) = self.clients.remove(&id) {
                self.client_keys.remove(&tx.key);
            }
        } else {
            self.schedule_client(id);
        }
    }

    fn server_timeout(&mut self, now: Instant, id: ServerTxId) {
        let Some(tx) = self.servers.get_mut(&id) else {
            return;
        };
        let due = match &tx.machine {
            ServerMachine::Invite(m) => m.next_timeout(),
            ServerMachine::NonInvite(m) => m.next_timeout(),
        };
        if due.is_none_or(|at| at > now) {
            return;
        }
        let step = match &mut tx.machine {
            ServerMachine::Invite(m) => m.on_timeout(now),
            ServerMachine::NonInvite(m) => m.on_timeout(now),
        };
        let dest = tx.reply_to;
        if let Some(bytes) = step.send {
            self.transmit(dest, bytes);
        }
        self.finish_server(id);
    }

    fn finish_server(&mut self, id: ServerTxId) {
        let terminated = self.servers.get(&id).is_some_and(|tx| match &tx.machine {
            ServerMachine::Invite(m) => m.is_terminated(),
            ServerMachine::NonInvite(m) => m.is_terminated(),
        });
        if terminated {
            if let Some(tx) = self.servers.remove(&id) {
                self.server_keys.remove(&tx.key);
                if let Some(key) = tx.merge_key {
                    self.merge_keys.remove(&key);
                }
            }
        } else {
            self.schedule_server(id);
        }
    }
}

#[cfg(test)]
mod tests;
