//! The server side of the endpoint: new requests, retransmissions, CANCEL, ACK, responses from
//! the TU and the UAS core's 2xx retransmission (§13.3.1.4). Also the two requests the client
//! side derives from an INVITE: CANCEL (§9.1) and the ACK for a non-2xx (§17.1.1.3).

use std::time::{Duration, Instant};

use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{CSeq, MaxForwards};
use ezk_sip_types::{Method, Name, StatusCode};

use super::keys::{self, ServerKey};
use super::{Endpoint, EndpointError, Event, ServerMachine, ServerTx, ServerTxId, TimerRef};
use crate::message::{HeadersExt, Peer, Request, Response, response_to};
use crate::transaction::server::{ServerInvite, ServerInviteState, ServerNonInvite};
use std::cmp::Reverse;

/// A 2xx to INVITE being retransmitted until the ACK (§13.3.1.4).
#[derive(Debug)]
pub(super) struct Retransmit2xx {
    bytes: Bytes,
    dest: Peer,
    next: Instant,
    interval: Duration,
    give_up: Instant,
}

impl Endpoint {
    pub(super) fn on_request(&mut self, now: Instant, source: Peer, mut request: Request) {
        keys::stamp_received(&mut request, source);
        let Some(via) = request.top_via() else { return };
        let key = keys::server_key(&request, &via);
        let method = request.method().clone();
        if let Some(&id) = self.server_keys.get(&key) {
            self.on_known_request(now, id, &method, source, request);
            return;
        }
        if method == Method::ACK {
            self.on_2xx_ack(&request);
            self.emit(Event::Ack { source, request });
            return;
        }
        if method == Method::CANCEL {
            self.on_cancel(now, source, request, &via);
            return;
        }
        let merge_key = merge_key(&request);
        if let Some(mk) = &merge_key
            && self.merge_keys.contains_key(mk)
        {
            // §8.2.2.2: same request arrived by another path (a fork we already serve).
            let id = self.new_server_tx(now, source, request.clone(), key, None);
            self.respond_internal(
                now,
                id,
                response_to(&request, StatusCode::from(482), Some("merged")),
            );
            return;
        }
        let id = self.new_server_tx(now, source, request.clone(), key, merge_key);
        if let Some(code) = self.precheck(&request) {
            let mut response = response_to(&request, StatusCode::from(code), Some("sb-reject"));
            if code == 420 {
                for tag in unsupported(&request, &self.config.supported) {
                    response.headers.insert(Name::UNSUPPORTED, tag);
                }
            }
            if code == 501 {
                let allow = self
                    .config
                    .allowed_methods
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                response.headers.insert(Name::ALLOW, allow);
            }
            self.respond_internal(now, id, response);
            return;
        }
        let trying = (method == Method::INVITE)
            .then(|| Box::new(response_to(&request, StatusCode::TRYING, None)));
        self.emit(Event::Request {
            tx: id,
            source,
            request,
        });
        if let Some(response) = trying {
            // 100 Trying without waiting for the TU: it stops the caller's INVITE
            // retransmissions (§17.2.1). Queued behind the request so that a TU refusing at
            // once sends only its refusal.
            self.out.push_back(super::Pending::Trying {
                tx: id,
                now,
                response,
            });
        }
    }

    /// 501 for methods we do not implement, 420 for extensions we do not support.
    fn precheck(&self, request: &Request) -> Option<u16> {
        if !self.config.allowed_methods.contains(request.method()) {
            return Some(501);
        }
        if !unsupported(request, &self.config.supported).is_empty() {
            return Some(420);
        }
        None
    }

    fn new_server_tx(
        &mut self,
        now: Instant,
        source: Peer,
        request: Request,
        key: ServerKey,
        merge_key: Option<(String, String, u32)>,
    ) -> ServerTxId {
        let id = ServerTxId(self.next());
        let reliable = source.transport.is_reliable();
        let machine = if *request.method() == Method::INVITE {
            ServerMachine::Invite(ServerInvite::new(now, reliable, self.config.timers))
        } else {
            ServerMachine::NonInvite(ServerNonInvite::new(now, reliable, self.config.timers))
        };
        let reply_to = keys::response_destination(source);
        self.server_keys.insert(key.clone(), id);
        if let Some(mk) = &merge_key {
            self.merge_keys.insert(mk.clone(), id);
        }
        self.servers.insert(
            id,
            ServerTx {
                machine,
                key,
                reply_to,
                merge_key,
                responded: false,
            },
        );
        self.schedule_server(id);
        id
    }

    fn on_known_request(
        &mut self,
        now: Instant,
        id: ServerTxId,
        method: &Method,
        source: Peer,
        request: Request,
    ) {
        let Some(tx) = self.servers.get_mut(&id) else {
            return;
        };
        let step = match (&mut tx.machine, *method == Method::ACK) {
            (ServerMachine::Invite(m), true) => {
                if m.state() == ServerInviteState::Accepted {
                    // An ACK for our 2xx reusing the INVITE's branch (RFC 2543 style).
                    self.on_2xx_ack(&request);
                    self.emit(Event::Ack { source, request });
                    return;
                }
                m.on_ack(now)
            }
            (ServerMachine::Invite(m), false) => m.on_retransmission(),
            (ServerMachine::NonInvite(m), _) => m.on_retransmission(),
        };
        let dest = tx.reply_to;
        if let Some(bytes) = step.send {
            self.transmit(dest, bytes);
        }
        self.finish_server(id);
    }

    /// §9.2: a CANCEL matches the INVITE with the same branch and sent-by. It gets 200 when it
    /// does (and the INVITE is told), 481 when it does not.
    fn on_cancel(
        &mut self,
        now: Instant,
        source: Peer,
        request: Request,
        via: &ezk_sip_types::header::typed::Via,
    ) {
        let own_key = keys::server_key(&request, via);
        let invite_key = keys::server_key_as(&request, via, Method::INVITE);
        let invite = self.server_keys.get(&invite_key).copied();
        let id = self.new_server_tx(now, source, request.clone(), own_key, None);
        let Some(invite_tx) = invite else {
            let response = response_to(&request, StatusCode::from(481), Some("sb-nocancel"));
            self.respond_internal(now, id, response);
            return;
        };
        self.respond_internal(
            now,
            id,
            response_to(&request, StatusCode::OK, Some("sb-cancel")),
        );
        let pending = self.servers.get(&invite_tx).is_some_and(|tx| {
            matches!(&tx.machine, ServerMachine::Invite(m) if m.state() == ServerInviteState::Proceeding)
        });
        if pending {
            self.emit(Event::Cancelled { invite_tx, request });
        }
    }

    /// Sends a response on a server transaction.
    pub fn send_response(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        response: Response,
    ) -> Result<(), EndpointError> {
        if !self.servers.contains_key(&tx) {
            return Err(EndpointError::NoTransaction);
        }
        self.respond_internal(now, tx, response);
        Ok(())
    }

    /// Sends a final response once and forgets the transaction (RFC 3261 §8.2.7, §16.11): for
    /// refusing strangers' out-of-dialog requests without holding state for them or
    /// retransmitting to an address that may not be theirs. A retransmitted request starts a
    /// new transaction and gets its own answer; nothing is ever sent unasked.
    pub fn send_stateless_response(
        &mut self,
        tx: ServerTxId,
        mut response: Response,
    ) -> Result<(), EndpointError> {
        let tx = self.forget(tx).ok_or(EndpointError::NoTransaction)?;
        if !self.config.user_agent.is_empty() && !response.headers.contains(&Name::SERVER) {
            response.headers.insert(
                Name::SERVER,
                BytesStr::from(self.config.user_agent.as_str()),
            );
        }
        self.transmit(tx.reply_to, response.encode());
        Ok(())
    }

    /// Forgets a server transaction without answering (a banned source's last request);
    /// whether there was one.
    pub fn discard_server_transaction(&mut self, tx: ServerTxId) -> bool {
        self.forget(tx).is_some()
    }

    fn forget(&mut self, id: ServerTxId) -> Option<super::ServerTx> {
        let tx = self.servers.remove(&id)?;
        self.server_keys.remove(&tx.key);
        if let Some(key) = &tx.merge_key {
            self.merge_keys.remove(key);
        }
        if let Some(key) = self.pending_2xx_by_tx.remove(&id) {
            self.pending_2xx.remove(&key);
        }
        Some(tx)
    }

    pub(super) fn respond_internal(
        &mut self,
        now: Instant,
        id: ServerTxId,
        mut response: Response,
    ) {
        let Some(tx) = self.servers.get_mut(&id) else {
            return;
        };
        tx.responded = true;
        if !self.config.user_agent.is_empty() && !response.headers.contains(&Name::SERVER) {
            response.headers.insert(
                Name::SERVER,
                BytesStr::from(self.config.user_agent.as_str()),
            );
        }
        let code = response.code();
        let bytes = response.encode();
        let is_invite = matches!(tx.machine, ServerMachine::Invite(_));
        let step = match &mut tx.machine {
            ServerMachine::Invite(m) => m.respond(now, code, bytes.clone()),
            ServerMachine::NonInvite(m) => m.respond(now, code, bytes.clone()),
        };
        let dest = tx.reply_to;
        if code >= 200 {
            // Final: the request is no longer a merge candidate.
            if let Some(mk) = tx.merge_key.take() {
                self.merge_keys.remove(&mk);
            }
        }
        if is_invite && (200..300).contains(&code) && step.send.is_some() {
            self.start_2xx_retransmission(now, id, &response, bytes, dest);
        }
        if let Some(bytes) = step.send {
            self.transmit(dest, bytes);
        }
        self.finish_server(id);
    }

    fn start_2xx_retransmission(
        &mut self,
        now: Instant,
        id: ServerTxId,
        response: &Response,
        bytes: Bytes,
        dest: Peer,
    ) {
        let Some(key) = ack_key(response) else { return };
        if self.pending_2xx.contains_key(&key) {
            return;
        }
        let t1 = self.config.timers.t1;
        // On a reliable transport the 2xx is not retransmitted, but we still wait for the ACK.
        let interval = if dest.transport.is_reliable() {
            self.config.timers.t1x64()
        } else {
            t1
        };
        let entry = Retransmit2xx {
            bytes,
            dest,
            next: now + interval,
            interval,
            give_up: now + self.config.timers.t1x64(),
        };
        self.timers.push(Reverse((
            entry.next.min(entry.give_up),
            TimerRef::Retransmit2xx(id),
        )));
        self.pending_2xx.insert(key.clone(), entry);
        self.pending_2xx_by_tx.insert(id, key);
    }

    pub(super) fn retransmit_2xx(&mut self, now: Instant, id: ServerTxId) {
        let Some(key) = self.pending_2xx_by_tx.get(&id).cloned() else {
            return;
        };
        let Some(entry) = self.pending_2xx.get_mut(&key) else {
            return;
        };
        if entry.give_up <= now {
            self.pending_2xx.remove(&key);
            self.pending_2xx_by_tx.remove(&id);
            self.emit(Event::AckTimeout { tx: id });
            return;
        }
        if entry.next > now {
            return; // stale heap entry
        }
        // §13.3.1.4: T1, doubling up to T2.
        entry.interval = (entry.interval * 2).min(self.config.timers.t2);
        entry.next = now + entry.interval;
        let (bytes, dest, at) = (
            entry.bytes.clone(),
            entry.dest,
            entry.next.min(entry.give_up),
        );
        self.timers.push(Reverse((at, TimerRef::Retransmit2xx(id))));
        self.transmit(dest, bytes);
    }

    fn on_2xx_ack(&mut self, ack: &Request) {
        let (Some(call_id), Some(cseq)) = (ack.call_id(), ack.cseq()) else {
            return;
        };
        let key = (call_id.0.to_string(), cseq.cseq);
        if self.pending_2xx.remove(&key).is_some() {
            self.pending_2xx_by_tx.retain(|_, k| *k != key);
        }
    }
}

fn ack_key(response: &Response) -> Option<(String, u32)> {
    Some((response.call_id()?.0.to_string(), response.cseq()?.cseq))
}

fn merge_key(request: &Request) -> Option<(String, String, u32)> {
    if request.tag_to().is_some() {
        return None;
    }
    let from_tag = request.tag_from()?;
    Some((
        from_tag,
        request.call_id()?.0.to_string(),
        request.cseq()?.cseq,
    ))
}

/// Option tags in Require that we do not support (not checked for ACK and CANCEL, §8.2.2.3).
fn unsupported(request: &Request, supported: &[String]) -> Vec<String> {
    if matches!(request.method(), m if *m == Method::ACK || *m == Method::CANCEL) {
        return Vec::new();
    }
    request
        .headers
        .get_raw(&Name::REQUIRE)
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|tag| !tag.is_empty() && !supported.iter().any(|s| s.eq_ignore_ascii_case(tag)))
        .map(str::to_owned)
        .collect()
}

/// §9.1: the CANCEL for an INVITE we sent.
pub(super) fn build_cancel(invite: &Request) -> Request {
    let mut cancel = Request::new(Method::CANCEL, invite.line.uri.clone());
    copy_first(invite, &mut cancel, &Name::VIA);
    for name in [Name::ROUTE] {
        for value in invite.headers.get_raw(&name) {
            cancel.headers.insert(name.clone(), value.clone());
        }
    }
    cancel.headers.insert_named(&MaxForwards(70));
    for name in [Name::FROM, Name::TO, Name::CALL_ID] {
        copy_first(invite, &mut cancel, &name);
    }
    let number = invite.cseq().map_or(1, |c| c.cseq);
    cancel
        .headers
        .insert_named(&CSeq::new(number, Method::CANCEL));
    cancel
}

/// §17.1.1.3: the ACK for a non-2xx final, built by the INVITE client transaction.
pub(super) fn build_non2xx_ack(invite: &Request, response: &Response) -> Request {
    let mut ack = Request::new(Method::ACK, invite.line.uri.clone());
    copy_first(invite, &mut ack, &Name::VIA);
    for value in invite.headers.get_raw(&Name::ROUTE) {
        ack.headers.insert(Name::ROUTE, value.clone());
    }
    ack.headers.insert_named(&MaxForwards(70));
    for name in [Name::FROM, Name::CALL_ID] {
        copy_first(invite, &mut ack, &name);
    }
    match response.headers.get_raw(&Name::TO).next() {
        Some(to) => ack.headers.insert(Name::TO, to.clone()),
        None => copy_first(invite, &mut ack, &Name::TO),
    }
    let number = invite.cseq().map_or(1, |c| c.cseq);
    ack.headers.insert_named(&CSeq::new(number, Method::ACK));
    ack
}

/// Copies the first value of `name` (for Via: the first Via of a possibly combined line).
fn copy_first(from: &Request, to: &mut Request, name: &Name) {
    if let Some(value) = from.headers.get_raw(name).next() {
        let value = if *name == Name::VIA {
            value
                .split(',')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        } else {
            value.to_string()
        };
        to.headers.insert(name.clone(), value);
    }
}
