//! The SIP core task: the one owner of the user agent (transactions, dialogs, legs), the
//! registrar and the digest authenticator. It decides what out-of-dialog requests get (REGISTER,
//! OPTIONS, a new INVITE) and routes leg events to the call tasks, whose commands it performs.
//!
//! It never awaits on another task: call tasks get events through `try_send`, transports through
//! their queues, so a slow call or peer cannot stall signalling for everyone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ezk_sip_types::header::typed::{FromTo, MaxForwards};
use ezk_sip_types::uri::NameAddr;
use ezk_sip_types::{Method, Name, StatusCode};
use switchboard_sip::auth::{AuthOutcome, DigestAuthenticator};
use switchboard_sip::endpoint::ServerTxId;
use switchboard_sip::registrar::Registrar;
use switchboard_sip::ua::{LegEvent, LegId, OutboundCall, UaOutput, UserAgent};
use switchboard_sip::{HeadersExt as _, Peer, Request, SipMessage, response_to};
use tokio::sync::{mpsc, oneshot};

use super::directory::{Caller, Directory};
use super::transport::Sender;
use crate::call::{self, CallCommand, Route, Services};

/// Capacity of the core's input channel; beyond it transports shed new requests with 503.
pub const CORE_QUEUE: usize = 4096;
/// Capacity of each call task's event channel (a call sees a handful of events).
const CALL_QUEUE: usize = 32;
/// How often the core logs what it holds.
const REPORT_EVERY: Duration = Duration::from_secs(10);
/// Inputs handled per wake before timers are looked at again.
const BATCH: usize = 64;

/// What reaches the core.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every input is a Message; boxing it costs an allocation each"
)]
pub enum CoreInput {
    /// A checked message from a transport.
    Message {
        /// Where it came from.
        source: Peer,
        /// The message.
        msg: SipMessage,
    },
    /// A TCP connection is up; messages to `addr` go to `writer`.
    TcpUp {
        /// The peer.
        addr: std::net::SocketAddr,
        /// The connection's write queue.
        writer: mpsc::Sender<Bytes>,
    },
    /// The TCP connection to `addr` closed.
    TcpDown {
        /// The peer.
        addr: std::net::SocketAddr,
    },
    /// A call task asks for something.
    Call(CallCommand),
}

/// The core's state.
#[derive(Debug)]
pub struct Core {
    ua: UserAgent,
    registrar: Registrar,
    auth: DigestAuthenticator,
    directory: Arc<Directory>,
    sender: Sender,
    /// Which call task owns each leg.
    legs: HashMap<LegId, mpsc::Sender<LegEvent>>,
    /// The core's own input, cloned into every call task.
    input: mpsc::Sender<CoreInput>,
    /// What call tasks share (media engine, dialplans, queues…).
    services: Arc<Services>,
}

impl Core {
    /// A core over its parts; `input` is the sending side of the channel [`Core::run`] reads.
    #[must_use]
    pub fn new(
        ua: UserAgent,
        registrar: Registrar,
        auth: DigestAuthenticator,
        directory: Arc<Directory>,
        sender: Sender,
        input: mpsc::Sender<CoreInput>,
        services: Arc<Services>,
    ) -> Self {
        Core {
            ua,
            registrar,
            auth,
            directory,
            sender,
            legs: HashMap::new(),
            input,
            services,
        }
    }

    /// Runs until every sender of `rx` is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<CoreInput>) {
        let mut next_report = Instant::now() + REPORT_EVERY;
        loop {
            let deadline = [
                self.ua.poll_timeout(),
                self.registrar.poll_timeout(),
                Some(next_report),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_report);
            tokio::select! {
                input = rx.recv() => {
                    let Some(input) = input else { return };
                    self.handle(Instant::now(), input);
                    for _ in 1..BATCH {
                        match rx.try_recv() {
                            Ok(input) => self.handle(Instant::now(), input),
                            Err(_) => break,
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    self.ua.handle_timeout(now);
                    for (user, binding) in self.registrar.sweep(now) {
                        tracing::info!(user = %user, contact = %binding.contact_display(), "registration expired");
                    }
                    if now >= next_report {
                        next_report = now + REPORT_EVERY;
                        self.report();
                    }
                }
            }
            self.drain(Instant::now());
        }
    }

    /// What the core holds, for operators (and for spotting leaks under load).
    fn report(&self) {
        let (client_txs, server_txs) = self.ua.transaction_count();
        tracing::debug!(
            legs = self.ua.leg_count(),
            routed_legs = self.legs.len(),
            client_txs,
            server_txs,
            "sip core state"
        );
    }

    fn handle(&mut self, now: Instant, input: CoreInput) {
        match input {
            CoreInput::Message { source, msg } => self.ua.handle_message(now, source, msg),
            CoreInput::TcpUp { addr, writer } => self.sender.tcp_up(addr, writer),
            CoreInput::TcpDown { addr } => self.sender.tcp_down(addr),
            CoreInput::Call(command) => self.on_call_command(now, command),
        }
        self.drain(now);
    }

    fn drain(&mut self, now: Instant) {
        while let Some(output) = self.ua.poll_output() {
            match output {
                UaOutput::Transmit(t) => self.sender.send(t.dest, t.bytes),
                UaOutput::Request {
                    tx,
                    source,
                    request,
                } => self.on_request(now, tx, source, request),
                UaOutput::Leg(event) => self.route_leg_event(event),
            }
        }
    }

    fn route_leg_event(&mut self, event: LegEvent) {
        let leg = leg_of(&event);
        let ended = matches!(event, LegEvent::Hangup { .. });
        let Some(call) = self.legs.get(&leg) else {
            tracing::debug!(%leg, "event for a leg no call owns");
            return;
        };
        if call.try_send(event).is_err() {
            tracing::warn!(%leg, "call task not keeping up; leg event dropped");
        }
        if ended {
            self.legs.remove(&leg);
        }
    }

    fn on_request(&mut self, now: Instant, tx: ServerTxId, source: Peer, request: Request) {
        let method = request.method().clone();
        if method == Method::REGISTER {
            self.on_register(now, tx, source, &request);
        } else if method == Method::OPTIONS {
            let mut response = response_to(&request, StatusCode::OK, Some("sb-options"));
            response.headers.insert(Name::ALLOW, ALLOW);
            response.headers.insert(Name::ACCEPT, "application/sdp");
            self.ua.respond(now, tx, response);
        } else if method == Method::INVITE {
            self.on_invite(now, tx, source, request);
        } else if method == Method::BYE || method == Method::INFO {
            // Out-of-dialog BYE/INFO (no To tag): there is no such dialog.
            self.ua.respond(
                now,
                tx,
                response_to(&request, StatusCode::from(481), Some("sb-nodlg")),
            );
        } else {
            let mut response = response_to(&request, StatusCode::from(405), Some("sb-405"));
            response.headers.insert(Name::ALLOW, ALLOW);
            self.ua.respond(now, tx, response);
        }
    }

    fn on_register(&mut self, now: Instant, tx: ServerTxId, source: Peer, request: &Request) {
        let directory = self.directory.clone();
        let outcome = self.auth.verify(now, request, Name::AUTHORIZATION, |user| {
            directory.password(user).map(str::to_owned)
        });
        let response = match outcome {
            AuthOutcome::Authenticated { user } => {
                let response = self.registrar.handle_register(now, request, source, &user);
                if response.code() == 200 {
                    tracing::info!(user = %user, source = %source.addr, "registered");
                }
                response
            }
            other => self.auth.unauthorized_response(now, request, &other, false),
        };
        self.ua.respond(now, tx, response);
    }

    fn on_invite(&mut self, now: Instant, tx: ServerTxId, source: Peer, request: Request) {
        let max_forwards = request
            .headers
            .get_named::<MaxForwards>()
            .map_or(70, |m| m.0);
        // RFC 3261 §16.3 step 3, applied to the leg we would create: no hop budget left.
        if max_forwards == 0 {
            let response = response_to(&request, StatusCode::from(483), Some("sb-483"));
            self.ua.respond(now, tx, response);
            return;
        }
        if let Some(code) = offer_problem(&request) {
            let mut response = response_to(&request, StatusCode::from(code), Some("sb-media"));
            response.headers.insert(Name::ACCEPT, "application/sdp");
            self.ua.respond(now, tx, response);
            return;
        }
        let caller = match self.directory.classify(&request, source) {
            Some(caller) => caller,
            None => {
                let directory = self.directory.clone();
                let outcome = self
                    .auth
                    .verify(now, &request, Name::PROXY_AUTHORIZATION, |user| {
                        directory.password(user).map(str::to_owned)
                    });
                match outcome {
                    AuthOutcome::Authenticated { user } => Caller::Agent(user),
                    other => {
                        let response = self.auth.unauthorized_response(now, &request, &other, true);
                        self.ua.respond(now, tx, response);
                        return;
                    }
                }
            }
        };
        let target = switchboard_sip::uri_user(&request.line.uri).unwrap_or_default();
        let trunk = match &caller {
            Caller::Trunk(name) => Some(name.as_str()),
            Caller::Agent(_) => None,
        };
        let from = request
            .headers
            .get::<FromTo>(Name::FROM)
            .ok()
            .map(|f| f.uri);
        let call_id = request
            .call_id()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        let route = if let Some(mut start) =
            self.services
                .dialplans
                .route(&target, trunk, &caller, from.as_ref())
        {
            start.facts.call_id.clone_from(&call_id);
            tracing::info!(%caller, dialled = %crate::redact::number(&target), entry = %start.entry(), "dialplan call");
            Route::Dialplan(Box::new(start))
        } else if self.directory.is_agent(&target) {
            let targets = self.contacts_of(now, &target, from.clone(), max_forwards - 1);
            if targets.is_empty() {
                tracing::info!(%caller, target = %crate::redact::number(&target), "INVITE to an unregistered agent");
                let response = response_to(
                    &request,
                    StatusCode::TEMPORARILY_UNAVAILABLE,
                    Some("sb-480"),
                );
                self.ua.respond(now, tx, response);
                return;
            }
            Route::Extension {
                extension: target.clone(),
                targets: targets.into_iter().map(|(_, t)| t).collect(),
            }
        } else {
            tracing::info!(%caller, target = %crate::redact::number(&target), "INVITE to an unknown number");
            self.ua.respond(
                now,
                tx,
                response_to(&request, StatusCode::NOT_FOUND, Some("sb-404")),
            );
            return;
        };
        let offer = (!request.body.is_empty()).then(|| request.body.clone());
        let leg = self.ua.accept(tx, source, request);
        let (events_tx, events_rx) = mpsc::channel(CALL_QUEUE);
        self.legs.insert(leg, events_tx);
        let setup = call::CallSetup {
            inbound: leg,
            caller,
            call_id,
            from,
            offer,
            dialled: target,
            max_forwards: max_forwards - 1,
            route,
        };
        tokio::spawn(call::run(
            setup,
            self.services.clone(),
            self.input.clone(),
            events_rx,
        ));
    }

    /// One INVITE per contact of each extension (registered bindings, then a static contact).
    fn contacts_of(
        &self,
        now: Instant,
        extension: &str,
        from: Option<NameAddr>,
        max_forwards: u8,
    ) -> Vec<(String, OutboundCall)> {
        let bindings = self.registrar.lookup(now, extension);
        let static_contact = self.directory.static_contact(extension);
        call::fork_targets(
            from,
            extension,
            &bindings,
            static_contact,
            max_forwards,
            &self.directory,
        )
        .into_iter()
        .map(|t| (extension.to_owned(), t))
        .collect()
    }

    fn on_call_command(&mut self, now: Instant, command: CallCommand) {
        let result = match command {
            CallCommand::Invite {
                call,
                events,
                reply,
            } => {
                let leg = self.ua.invite(now, *call);
                self.legs.insert(leg, events);
                let _ = reply.send(leg);
                Ok(())
            }
            CallCommand::Lookup {
                extensions,
                from,
                max_forwards,
                reply,
            } => {
                let found = extensions
                    .iter()
                    .flat_map(|e| self.contacts_of(now, e, from.clone(), max_forwards))
                    .collect();
                let _ = reply.send(found);
                Ok(())
            }
            CallCommand::Progress { leg, code, sdp } => self.ua.progress(now, leg, code, sdp),
            CallCommand::Answer { leg, sdp } => self.ua.answer(now, leg, sdp),
            CallCommand::Reject { leg, code } => {
                self.legs.remove(&leg);
                self.ua.reject(now, leg, code)
            }
            CallCommand::Hangup { leg } => {
                self.legs.remove(&leg);
                self.ua.hangup(now, leg)
            }
            CallCommand::AnswerReinvite { leg, code, sdp } => {
                self.ua.answer_reinvite(now, leg, code, sdp)
            }
        };
        if let Err(err) = result {
            tracing::debug!(%err, "call command not carried out");
        }
    }
}

/// 415 for an INVITE body we cannot read (RFC 4475 invut), 406 when the caller accepts no SDP
/// in return (RFC 4475 sdp01, RFC 3261 §21.4.7).
fn offer_problem(invite: &Request) -> Option<u16> {
    let content_type = invite
        .headers
        .get_raw(&Name::CONTENT_TYPE)
        .next()
        .map(|v| v.to_ascii_lowercase());
    if !invite.body.is_empty()
        && !content_type
            .as_deref()
            .is_some_and(|t| t.trim().starts_with("application/sdp"))
    {
        return Some(415);
    }
    let accepts: Vec<String> = invite
        .headers
        .get_raw(&Name::ACCEPT)
        .flat_map(|v| {
            v.split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    let sdp_ok = accepts.is_empty()
        || accepts.iter().any(|t| {
            t.starts_with("application/sdp")
                || t.starts_with("application/*")
                || t.starts_with("*/*")
        });
    (!sdp_ok).then_some(406)
}

/// The methods we accept.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REGISTER, NOTIFY";

fn leg_of(event: &LegEvent) -> LegId {
    match event {
        LegEvent::Ringing { leg, .. }
        | LegEvent::Answered { leg, .. }
        | LegEvent::Hangup { leg, .. }
        | LegEvent::Reinvite { leg, .. }
        | LegEvent::ReinviteResult { leg, .. }
        | LegEvent::Info { leg, .. }
        | LegEvent::Ack { leg, .. } => *leg,
        _ => LegId(0),
    }
}

/// Sends an INVITE for a call task and waits for the leg id.
pub(crate) async fn invite(
    core: &mpsc::Sender<CoreInput>,
    call: OutboundCall,
    events: mpsc::Sender<LegEvent>,
) -> Option<LegId> {
    let (reply, rx) = oneshot::channel();
    core.send(CoreInput::Call(CallCommand::Invite {
        call: Box::new(call),
        events,
        reply,
    }))
    .await
    .ok()?;
    rx.await.ok()
}
