//! The SIP core task: the one owner of the user agent (transactions, dialogs, legs), the
//! registrar and the digest authenticator — a thin driver in the quinn style. Out-of-dialog
//! requests are answered by the sans-IO parts (the registrar, the authenticator, the
//! [`Router`]'s policy for new INVITEs); leg events go to the call tasks, whose commands it
//! performs; a phone's first registration and its last one ending go to the ACD.
//!
//! It never awaits on another task: call tasks get events through `try_send`, transports through
//! their queues, so a slow call or peer cannot stall signalling for everyone.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ezk_sip_types::{Method, Name, StatusCode};
use switchboard_sip::auth::{AuthOutcome, DigestAuthenticator};
use switchboard_sip::endpoint::ServerTxId;
use switchboard_sip::registrar::Registrar;
use switchboard_sip::ua::{LegEvent, LegId, OutboundCall, UaOutput, UserAgent};
use switchboard_sip::{HeadersExt as _, Peer, Request, response_to};
use tokio::sync::{mpsc, oneshot};

use super::directory::Caller;
use super::route::{Refusal, Router};
use super::transport::Sender;
use crate::call::{self, Services};
pub use crate::protocol::CoreInput;
use crate::protocol::{AcdRequest, CallCommand, CallSetup};

/// Capacity of the core's input channel; beyond it transports shed new requests with 503.
pub const CORE_QUEUE: usize = 4096;
/// Capacity of each call task's event channel (a call sees a handful of events).
const CALL_QUEUE: usize = 32;
/// How soon device changes the ACD could not take are tried again.
const ACD_RETRY: Duration = Duration::from_millis(20);
/// How often the core logs what it holds.
const REPORT_EVERY: Duration = Duration::from_secs(10);
/// Inputs handled per wake before timers are looked at again.
const BATCH: usize = 64;

/// The core's state.
#[derive(Debug)]
pub struct Core {
    ua: UserAgent,
    registrar: Registrar,
    auth: DigestAuthenticator,
    router: Router,
    sender: Sender,
    /// Which call task owns each leg.
    legs: HashMap<LegId, mpsc::Sender<LegEvent>>,
    /// Device changes the ACD's channel could not take yet, in order (retried: the core never
    /// waits on another task, and a lost change would leave an agent logged in or out).
    acd_backlog: VecDeque<switchboard_acd::Input>,
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
        router: Router,
        sender: Sender,
        input: mpsc::Sender<CoreInput>,
        services: Arc<Services>,
    ) -> Self {
        Core {
            ua,
            registrar,
            auth,
            router,
            sender,
            legs: HashMap::new(),
            acd_backlog: VecDeque::new(),
            input,
            services,
        }
    }

    /// Runs until every sender of `rx` is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<CoreInput>) {
        let mut next_report = Instant::now() + REPORT_EVERY;
        loop {
            let retry = (!self.acd_backlog.is_empty()).then(|| Instant::now() + ACD_RETRY);
            let deadline = [
                self.ua.poll_timeout(),
                self.registrar.poll_timeout(),
                retry,
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
                        if !self.registrar.is_registered(now, &user) {
                            self.device(now, &user, false);
                        }
                    }
                    if now >= next_report {
                        next_report = now + REPORT_EVERY;
                        self.report();
                    }
                }
            }
            self.drain(Instant::now());
            self.flush_acd();
        }
    }

    /// Hands the kept device changes to the ACD, in order, as far as it takes them.
    fn flush_acd(&mut self) {
        while let Some(input) = self.acd_backlog.pop_front() {
            match self.services.acd.try_send(AcdRequest::Input(input)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(AcdRequest::Input(input))) => {
                    self.acd_backlog.push_front(input);
                    return;
                }
                Err(_) => {
                    tracing::error!("the ACD task is gone; agents' devices are not followed");
                    self.acd_backlog.clear();
                    return;
                }
            }
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
        let directory = self.router.directory();
        let outcome = self.auth.verify(now, request, Name::AUTHORIZATION, |user| {
            directory.password(user).map(str::to_owned)
        });
        let response = match outcome {
            AuthOutcome::Authenticated { user } => {
                let before = self.registrar.is_registered(now, &user);
                let response = self.registrar.handle_register(now, request, source, &user);
                if response.code() == 200 {
                    tracing::info!(user = %user, source = %source.addr, "registered");
                }
                let after = self.registrar.is_registered(now, &user);
                if before != after {
                    self.device(now, &user, after);
                }
                response
            }
            other => self.auth.unauthorized_response(now, request, &other, false),
        };
        self.ua.respond(now, tx, response);
    }

    fn on_invite(&mut self, now: Instant, tx: ServerTxId, source: Peer, request: Request) {
        if let Some(refusal) = self.router.screen(&request) {
            self.refuse(now, tx, &request, refusal);
            return;
        }
        let caller = match self
            .router
            .trunk_caller(now, &request, source, &self.registrar)
        {
            Some(caller) => caller,
            None => {
                let directory = self.router.directory();
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
        let routed = match self.router.route(now, &request, &caller, &self.registrar) {
            Ok(routed) => routed,
            Err(refusal) => {
                self.refuse(now, tx, &request, refusal);
                return;
            }
        };
        let call_id = request
            .call_id()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        let offer = (!request.body.is_empty()).then(|| request.body.clone());
        let leg = self.ua.accept(tx, source, request);
        let (events_tx, events_rx) = mpsc::channel(CALL_QUEUE);
        self.legs.insert(leg, events_tx.clone());
        let setup = CallSetup {
            call: crate::protocol::CallRef(
                self.services
                    .call_ids
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ),
            inbound: leg,
            caller,
            call_id,
            from: routed.from,
            offer,
            dialled: routed.dialled,
            max_forwards: routed.max_forwards,
            route: routed.route,
            at: now,
        };
        tokio::spawn(call::run(
            setup,
            self.services.clone(),
            self.input.clone(),
            (events_tx, events_rx),
        ));
    }

    fn refuse(&mut self, now: Instant, tx: ServerTxId, request: &Request, refusal: Refusal) {
        let mut response = response_to(request, StatusCode::from(refusal.code), Some(refusal.tag));
        if matches!(refusal.code, 406 | 415) {
            response.headers.insert(Name::ACCEPT, "application/sdp");
        }
        self.ua.respond(now, tx, response);
    }

    /// An agent's phone came (its first binding) or went (its last one ended): the ACD hears.
    fn device(&self, now: Instant, user: &str, up: bool) {
        let agent = switchboard_acd::AgentId::new(user);
        let input = if up {
            switchboard_acd::Input::DeviceUp { agent, at: now }
        } else {
            switchboard_acd::Input::DeviceDown { agent, at: now }
        };
        // The core never waits on another task: a full ACD queue loses this one change, which
        // the next registration (or its expiry) repeats.
        if self
            .services
            .acd
            .try_send(AcdRequest::Input(input))
            .is_err()
        {
            tracing::warn!(user = %user, up, "ACD busy; device change not delivered");
        }
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
                extension,
                from,
                max_forwards,
                reply,
            } => {
                let found =
                    self.router
                        .contacts(now, &extension, from, max_forwards, &self.registrar);
                // The call may have ended meanwhile: nobody waits for the answer then.
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
