//! The SIP core task: the one owner of the user agent (transactions, dialogs, legs), the
//! registrar and the digest authenticator — a thin driver in the quinn style. Out-of-dialog
//! requests are answered by the sans-IO parts (the registrar, the authenticator, the
//! [`Router`]'s policy for new INVITEs); leg events go to the call tasks, whose commands it
//! performs; a phone's first registration and its last one ending go to the ACD.
//!
//! It never awaits on another task: call tasks get events through `try_send`, transports through
//! their queues, so a slow call or peer cannot stall signalling for everyone.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ezk_sip_types::{Method, Name, StatusCode};
use std::net::IpAddr;
use switchboard_sip::auth::{AuthError, AuthOutcome, DigestAuthenticator};
use switchboard_sip::endpoint::ServerTxId;
use switchboard_sip::guard::{Admission, Guard};
use switchboard_sip::registrar::Registrar;
use switchboard_sip::ua::{LegEvent, LegId, OutboundCall, UaOutput, UserAgent};
use switchboard_sip::{HeadersExt as _, Peer, Request, Response, SipMessage, response_to};
use tokio::sync::{mpsc, oneshot, watch};

use super::directory::Caller;
use super::route::{Refusal, Router};
use super::transport::Sender;
use crate::call::{self, Services};
use crate::config::IpNet;
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
/// Most refusals held back for slowed sources at once; beyond it they are dropped unanswered.
const MAX_DELAYED: usize = 10_000;

/// The guard against password guessing, and the refusals it holds back.
#[derive(Debug)]
pub struct Defences {
    /// Failure counts and bans.
    pub guard: Guard,
    /// Sources never slowed or banned.
    pub never_ban: Vec<IpNet>,
    /// Stateless refusals to send later, by due time (and a sequence number for ties).
    delayed: BTreeMap<(Instant, u64), (ServerTxId, Response)>,
    seq: u64,
    /// The ban list as the transports see it (they drop banned sources before parsing).
    published: watch::Sender<Arc<HashMap<IpAddr, Instant>>>,
    /// Registered phones' addresses as the transports see them (not rate-limited).
    registered: watch::Sender<Arc<std::collections::HashSet<IpAddr>>>,
    /// Calls from trunks in progress, and their limits.
    trunk_calls: TrunkCalls,
}

/// Calls from trunks in progress: at most `global` in all, and a trunk's own limit each.
#[derive(Debug, Default)]
struct TrunkCalls {
    global: usize,
    limits: HashMap<String, usize>,
    by_trunk: HashMap<String, usize>,
    total: usize,
    /// The trunk each inbound leg came from, until it ends.
    legs: HashMap<LegId, String>,
    /// Refusals not logged yet (one line a second at most).
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl TrunkCalls {
    /// Why a new call from `trunk` is refused, if it is.
    fn full(&self, trunk: &str) -> Option<&'static str> {
        if self.total >= self.global {
            return Some("refused:max-trunk-calls");
        }
        let limit = self.limits.get(trunk).copied().unwrap_or(usize::MAX);
        (self.by_trunk.get(trunk).copied().unwrap_or(0) >= limit)
            .then_some("refused:trunk-max-calls")
    }

    fn add(&mut self, leg: LegId, trunk: &str) {
        self.total += 1;
        *self.by_trunk.entry(trunk.to_owned()).or_default() += 1;
        self.legs.insert(leg, trunk.to_owned());
    }

    fn remove(&mut self, leg: LegId) {
        let Some(trunk) = self.legs.remove(&leg) else {
            return;
        };
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.by_trunk.get_mut(&trunk) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Defences {
    /// Defences with `guard`, sparing `never_ban`, publishing bans to the transports on
    /// `published` and registered phones' addresses on `registered`.
    #[must_use]
    pub fn new(
        guard: Guard,
        never_ban: Vec<IpNet>,
        published: watch::Sender<Arc<HashMap<IpAddr, Instant>>>,
        registered: watch::Sender<Arc<std::collections::HashSet<IpAddr>>>,
    ) -> Self {
        Defences {
            guard,
            never_ban,
            delayed: BTreeMap::new(),
            seq: 0,
            published,
            registered,
            trunk_calls: TrunkCalls {
                global: usize::MAX,
                ..TrunkCalls::default()
            },
        }
    }

    /// At most `global` calls from trunks at once, and each trunk's own limit in `per_trunk`.
    #[must_use]
    pub fn with_trunk_limits(mut self, global: usize, per_trunk: HashMap<String, usize>) -> Self {
        self.trunk_calls.global = global;
        self.trunk_calls.limits = per_trunk;
        self
    }

    /// Hands the transports the registered phones' addresses, when they changed (and sets the
    /// registrations gauges).
    fn publish_registered(&self, registrar: &Registrar, now: Instant) {
        let (agents, bindings) = registrar.counts(now);
        #[allow(clippy::cast_precision_loss, reason = "counts of phones")]
        {
            metrics::gauge!("switchboard_registrations", "kind" => "agents").set(agents as f64);
            metrics::gauge!("switchboard_registrations", "kind" => "bindings").set(bindings as f64);
        }
        let ips = registrar.flow_ips(now);
        if **self.registered.borrow() != ips {
            self.registered.send_replace(Arc::new(ips));
        }
    }

    /// Hands the transports the bans in force (called when the list changes: rare).
    fn publish(&self, now: Instant) {
        let bans: HashMap<IpAddr, Instant> = self
            .guard
            .bans(now)
            .into_iter()
            .map(|ban| (ban.source, ban.until))
            .collect();
        self.published.send_replace(Arc::new(bans));
    }

    fn spared(&self, ip: std::net::IpAddr) -> bool {
        self.never_ban.iter().any(|net| net.contains(ip))
    }
}

/// The core's state.
#[derive(Debug)]
pub struct Core {
    ua: UserAgent,
    registrar: Registrar,
    auth: DigestAuthenticator,
    defences: Defences,
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
    #[allow(
        clippy::too_many_arguments,
        reason = "the core's parts, each built by the server"
    )]
    pub fn new(
        ua: UserAgent,
        registrar: Registrar,
        auth: DigestAuthenticator,
        defences: Defences,
        router: Router,
        sender: Sender,
        input: mpsc::Sender<CoreInput>,
        services: Arc<Services>,
    ) -> Self {
        Core {
            ua,
            registrar,
            auth,
            defences,
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
                self.defences.delayed.keys().next().map(|(at, _)| *at),
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
                    self.send_delayed(now);
                    let mut expired = false;
                    for (user, binding) in self.registrar.sweep(now) {
                        expired = true;
                        tracing::info!(user = %user, contact = %binding.contact_display(), "registration expired");
                        if !self.registrar.is_registered(now, &user) {
                            self.device(now, &user, false);
                        }
                    }
                    if expired {
                        self.defences.publish_registered(&self.registrar, now);
                    }
                    if now >= next_report {
                        next_report = now + REPORT_EVERY;
                        let lifted = self.defences.guard.sweep(now);
                        for source in &lifted {
                            tracing::info!(source = %source, "sip ban lifted");
                        }
                        if !lifted.is_empty() {
                            self.defences.publish(now);
                        }
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
        let (guarded_sources, guarded_users, bans) = self.defences.guard.tracked();
        let counters = self.defences.guard.counters();
        tracing::debug!(
            legs = self.ua.leg_count(),
            routed_legs = self.legs.len(),
            client_txs,
            server_txs,
            guarded_sources,
            guarded_users,
            bans,
            auth_failures = counters.failures,
            bans_total = counters.bans,
            banned_dropped = counters.dropped,
            delayed = self.defences.delayed.len(),
            "sip core state"
        );
    }

    fn handle(&mut self, now: Instant, input: CoreInput) {
        match input {
            CoreInput::Message { source, msg } => {
                if self.banned(now, source, &msg) {
                    return;
                }
                self.ua.handle_message(now, source, msg);
            }
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
            self.defences.trunk_calls.remove(leg);
        }
    }

    fn on_request(&mut self, now: Instant, tx: ServerTxId, source: Peer, request: Request) {
        let method = request.method().clone();
        if method == Method::REGISTER {
            self.on_register(now, tx, source, &request);
        } else if method == Method::OPTIONS && self.draining() {
            // A load balancer's health check: this node takes no new calls.
            let mut response = response_to(
                &request,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("sb-options"),
            );
            response.headers.insert(Name::RETRY_AFTER, "30");
            self.ua.respond(now, tx, response);
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
                let after = self.registrar.is_registered(now, &user);
                match response.code() {
                    // Expires: 0 (or every contact removed): the phone is gone, not registered.
                    200 if !after => {
                        tracing::info!(user = %user, source = %source.addr, "unregistered");
                    }
                    200 if before => {
                        tracing::debug!(user = %user, source = %source.addr, "registration refreshed");
                    }
                    200 => tracing::info!(user = %user, source = %source.addr, "registered"),
                    code => tracing::info!(
                        user = %user,
                        source = %source.addr,
                        code,
                        reason = response.line.reason.as_deref().unwrap_or(""),
                        "registration refused"
                    ),
                }
                if before != after {
                    self.device(now, &user, after);
                }
                self.defences.publish_registered(&self.registrar, now);
                response
            }
            other => {
                self.refuse_credentials(now, tx, source, request, &other, false);
                return;
            }
        };
        self.ua.respond(now, tx, response);
    }

    /// Drops what a banned source sends (unread beyond the parse the transport did), counted.
    fn banned(&mut self, now: Instant, source: Peer, msg: &SipMessage) -> bool {
        let ip = source.addr.ip();
        if self.defences.spared(ip) {
            return false;
        }
        match self.defences.guard.admit(now, ip) {
            Admission::Allow => false,
            Admission::Banned { .. } => {
                tracing::trace!(source = %source.addr, request = matches!(msg, SipMessage::Request(_)), "banned source; dropped");
                true
            }
        }
    }

    /// Answers a request whose credentials were missing or refused: statelessly (a stranger
    /// gets one answer per request it sends, never retransmissions), late for a source that
    /// keeps failing, not at all once this failure banned it. Every refusal of presented
    /// credentials is a logged, counted failure.
    fn refuse_credentials(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        source: Peer,
        request: &Request,
        outcome: &AuthOutcome,
        proxy: bool,
    ) {
        let ip = source.addr.ip();
        let spared = self.defences.spared(ip);
        let mut delay = Duration::ZERO;
        let refused = match outcome {
            AuthOutcome::Forbidden(AuthError::WrongPassword) => Some("wrong-password"),
            AuthOutcome::Forbidden(AuthError::UnknownUser) => Some("unknown-user"),
            AuthOutcome::Forbidden(_) => Some("malformed"),
            AuthOutcome::SpentNonce => Some("spent-nonce"),
            AuthOutcome::Challenge { .. } | AuthOutcome::Authenticated { .. } => None,
        };
        if let Some(reason) = refused {
            let user = claimed_user(request, proxy);
            let method = request.method().to_string();
            let reaction = if spared {
                None
            } else {
                Some(self.defences.guard.failure(now, ip, &user))
            };
            let failures = reaction.map_or(0, |r| r.source_failures);
            metrics::counter!("switchboard_sip_auth_failures_total", "reason" => reason)
                .increment(1);
            // One stable line per failure, for fail2ban (docs/security.md).
            tracing::warn!(
                source = %ip,
                port = source.addr.port(),
                user = ?user,
                method = %method,
                reason = %reason,
                failures,
                "sip auth failed"
            );
            if let Some(reaction) = reaction {
                if reaction.user_alert {
                    tracing::warn!(
                        user = ?user,
                        failures = reaction.user_failures,
                        window_s = self.defences.guard.policy().window.as_secs(),
                        "sip auth failing for one user from many sources"
                    );
                }
                if let Some(until) = reaction.banned_until {
                    metrics::counter!("switchboard_sip_bans_total").increment(1);
                    tracing::warn!(
                        source = %ip,
                        failures,
                        ban_s = until.saturating_duration_since(now).as_secs(),
                        "sip source banned"
                    );
                    // Banned by this very failure: it hears nothing more, not even this.
                    self.ua.discard(tx);
                    self.defences.publish(now);
                    return;
                }
                delay = reaction.delay;
            }
        } else if !spared {
            delay = self.defences.guard.delay_for(now, ip);
        }
        let response = self
            .auth
            .unauthorized_response(now, request, outcome, proxy);
        if delay.is_zero() {
            self.ua.respond_stateless(now, tx, response);
        } else if self.defences.delayed.len() < MAX_DELAYED {
            self.defences.seq += 1;
            let key = (now + delay, self.defences.seq);
            self.defences.delayed.insert(key, (tx, response));
        } else {
            // Too many held back: a flood; it gets no answer at all.
            self.ua.discard(tx);
        }
    }

    /// Sends the held-back refusals that are due.
    fn send_delayed(&mut self, now: Instant) {
        while let Some(entry) = self.defences.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (tx, response) = entry.remove();
            self.ua.respond_stateless(now, tx, response);
        }
    }

    /// Whether the switch is stopping (new calls refused).
    fn draining(&self) -> bool {
        self.services
            .draining
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn on_invite(&mut self, now: Instant, tx: ServerTxId, source: Peer, request: Request) {
        if self.draining() {
            // Stopping: another node (or a retry) takes the call.
            let mut response =
                response_to(&request, StatusCode::SERVICE_UNAVAILABLE, Some("sb-drain"));
            response.headers.insert(Name::RETRY_AFTER, "30");
            self.ua.respond_stateless(now, tx, response);
            metrics::counter!("switchboard_calls_refused_total", "cause" => "refused:draining")
                .increment(1);
            return;
        }
        if let Some(refusal) = self.router.screen(&request) {
            // Nobody is authenticated yet: answered statelessly.
            self.refuse(now, tx, &request, refusal, true);
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
                        self.refuse_credentials(now, tx, source, &request, &other, true);
                        return;
                    }
                }
            }
        };
        let routed = match self.router.route(now, &request, &caller, &self.registrar) {
            Ok(routed) => routed,
            Err(refusal) => {
                // A trunk's caller is trusted by address only: refused statelessly like any
                // stranger; an agent's refusal is an ordinary transaction.
                let stateless = matches!(caller, Caller::Trunk(_));
                self.refuse(now, tx, &request, refusal, stateless);
                return;
            }
        };
        let call_id = request
            .call_id()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        if let Caller::Trunk(trunk) = &caller
            && let Some(cause) = self.defences.trunk_calls.full(trunk)
        {
            self.refuse_trunk_call(now, tx, &request, trunk, cause, &routed.dialled, call_id);
            return;
        }
        let offer = (!request.body.is_empty()).then(|| request.body.clone());
        let leg = self.ua.accept(tx, source, request);
        crate::metrics::call_started(match caller {
            Caller::Trunk(_) => "trunk",
            Caller::Agent(_) => "agent",
        });
        if let Caller::Trunk(trunk) = &caller {
            self.defences.trunk_calls.add(leg, trunk);
        }
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
            // The address the INVITE really came from (not what its Via claims): media may be
            // sent to the SDP's address before the caller sends any only if it is this host.
            route: crate::protocol::Routing {
                signalling_ip: Some(source.addr.ip()),
                ..routed.route
            },
            at: now,
        };
        tokio::spawn(call::run(
            setup,
            self.services.clone(),
            self.input.clone(),
            (events_tx, events_rx),
        ));
    }

    /// A trunk at its limit (or all trunks at theirs): 503 with Retry-After (the carrier may
    /// try another route), a log line at most every second, and a call record saying why.
    #[allow(
        clippy::too_many_arguments,
        reason = "what the record of a refused call holds"
    )]
    fn refuse_trunk_call(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        request: &Request,
        trunk: &str,
        cause: &'static str,
        dialled: &str,
        call_id: String,
    ) {
        let mut response = response_to(request, StatusCode::SERVICE_UNAVAILABLE, Some("sb-full"));
        response.headers.insert(Name::RETRY_AFTER, "5");
        self.ua.respond_stateless(now, tx, response);
        let calls = &mut self.defences.trunk_calls;
        calls.unlogged += 1;
        if calls
            .logged_at
            .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1))
        {
            tracing::warn!(
                trunk = %trunk,
                cause,
                refused = calls.unlogged,
                trunk_calls = calls.by_trunk.get(trunk).copied().unwrap_or(0),
                total = calls.total,
                "trunk call refused: too many calls"
            );
            calls.unlogged = 0;
            calls.logged_at = Some(now);
        }
        let mut record = crate::protocol::CallRecord::new(
            crate::protocol::CallRef(
                self.services
                    .call_ids
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ),
            call_id,
            now,
            crate::protocol::Direction::Inbound,
            Some(trunk.to_owned()),
            from_user(request).unwrap_or_default(),
            dialled.to_owned(),
        );
        record.ended = Some(now);
        record.disposition = Some(crate::protocol::Disposition::Failed);
        record.hangup_side = Some(crate::protocol::HangupSide::Switch);
        record.hangup_cause = Some(cause.to_owned());
        metrics::counter!("switchboard_calls_refused_total", "cause" => cause).increment(1);
        // Never waits: a refusal flood must not stall signalling on the disk.
        self.services.records.refused(&record);
    }

    fn refuse(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        request: &Request,
        refusal: Refusal,
        stateless: bool,
    ) {
        let mut response = response_to(request, StatusCode::from(refusal.code), Some(refusal.tag));
        if matches!(refusal.code, 406 | 415) {
            response.headers.insert(Name::ACCEPT, "application/sdp");
        }
        if stateless {
            self.ua.respond_stateless(now, tx, response);
        } else {
            self.ua.respond(now, tx, response);
        }
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
                self.defences.trunk_calls.remove(leg);
                self.ua.reject(now, leg, code)
            }
            CallCommand::Hangup { leg } => {
                self.legs.remove(&leg);
                self.defences.trunk_calls.remove(leg);
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

/// The user a refused request claimed to be: its credentials' username, else its From user
/// (attacker-chosen either way: logged quoted, and cut by the guard).
fn claimed_user(request: &Request, proxy: bool) -> String {
    let header = if proxy {
        Name::PROXY_AUTHORIZATION
    } else {
        Name::AUTHORIZATION
    };
    request
        .headers
        .get_raw(&header)
        .find_map(|value| switchboard_sip::auth::Credentials::parse(value).ok())
        .map(|creds| creds.username)
        .or_else(|| from_user(request))
        .unwrap_or_default()
}

/// The user part of the request's From.
fn from_user(request: &Request) -> Option<String> {
    request
        .headers
        .get::<ezk_sip_types::header::typed::FromTo>(Name::FROM)
        .ok()
        .and_then(|from| switchboard_sip::uri_user(&from.uri.uri))
}

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
