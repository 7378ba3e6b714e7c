//! The ACD task: the one owner of the `switchboard_acd` core and of the live statistics. Calls
//! and the SIP core send it facts ([`AcdRequest`]); it answers each call on the channel the
//! call attached, stores every fact it records, and feeds the statistics with the same facts.
//!
//! It never waits on a call: a decision a call cannot take now (its channel full) is kept and
//! retried; one for a call that is gone is answered for it — an offer is reported
//! `Cancelled`, a vanished caller `Leave`s — so no agent stays reserved and no caller stays
//! queued for a call that is not there. Nor does it wait on the store: facts the store cannot
//! take yet (a stalled disk) are kept in order and retried, up to [`MAX_UNSTORED`]; past that
//! the oldest are dropped, counted and logged, rather than stopping every queue.

pub mod latency;
pub mod setup;
mod view;

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use switchboard_acd::io::LeaveReason;
use switchboard_acd::stats::Stats;
use switchboard_acd::{Acd, AcdEvent, AgentId, CallRef, Input, OfferResult, Output};
use tokio::sync::mpsc;

use crate::clock::wall;
use crate::protocol::AcdRequest;
use crate::records::Records;

pub use view::{AgentRow, QueueRow, RoutingRow, View, state_name};

/// Capacity of the ACD's input channel.
pub const ACD_QUEUE: usize = 4096;
/// Facts kept for the store while it cannot take them (about 20 MB at most).
pub const MAX_UNSTORED: usize = 100_000;
/// How often kept decisions and facts are tried again.
const RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// The task's state.
#[derive(Debug)]
pub struct AcdTask {
    acd: Acd,
    stats: Stats,
    calls: HashMap<CallRef, mpsc::Sender<Output>>,
    records: Records,
    /// The time zone "today" is in.
    tz: jiff::tz::TimeZone,
    /// The caller whose `Enqueue` is being handled, with when it joined: if its offer comes
    /// out of the same handling, that was a routing decision.
    routing: Option<(CallRef, Instant)>,
    /// Routing decision times.
    latency: latency::Latency,
    /// Decisions a call's full channel could not take yet, in order.
    undelivered: VecDeque<Output>,
    /// Facts the store could not take yet, in order.
    unstored: VecDeque<AcdEvent>,
    /// Facts dropped because the store stayed unavailable too long.
    dropped: u64,
    /// The agents each call holds (claims not yet released), to free them if the call's
    /// task dies without saying.
    claims: HashMap<CallRef, Vec<AgentId>>,
    /// The API's agent commands waiting for the ACD's answer, by the reference they were
    /// given (counted down from the top of the range, far from any call's).
    api_replies: HashMap<CallRef, ApiReply>,
    next_api_ref: u64,
}

/// Where the answer to an API agent command goes.
type ApiReply =
    tokio::sync::oneshot::Sender<Result<switchboard_acd::StateKind, switchboard_acd::AgentError>>;

impl AcdTask {
    /// A task over a core (already restored from the store) and statistics (already replayed).
    #[must_use]
    pub fn new(acd: Acd, stats: Stats, records: Records, tz: jiff::tz::TimeZone) -> AcdTask {
        AcdTask {
            acd,
            stats,
            calls: HashMap::new(),
            records,
            tz,
            routing: None,
            latency: latency::Latency::default(),
            undelivered: VecDeque::new(),
            unstored: VecDeque::new(),
            dropped: 0,
            claims: HashMap::new(),
            api_replies: HashMap::new(),
            next_api_ref: u64::MAX,
        }
    }

    /// Runs until every sender of `rx` is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<AcdRequest>) {
        loop {
            self.drain();
            let deadline = self.acd.poll_timeout();
            let retry = (!self.undelivered.is_empty() || !self.unstored.is_empty())
                .then(|| Instant::now() + RETRY);
            tokio::select! {
                request = rx.recv() => {
                    let Some(request) = request else { return };
                    self.request(Instant::now(), request);
                }
                () = sleep_until(deadline) => self.acd.handle_timeout(Instant::now()),
                () = sleep_until(retry) => {}
            }
        }
    }

    fn request(&mut self, now: Instant, request: AcdRequest) {
        match request {
            AcdRequest::Input(input) => {
                match &input {
                    Input::Enqueue { call, at, .. } => self.routing = Some((*call, *at)),
                    Input::Claim { call, agent, .. } => {
                        self.claims.entry(*call).or_default().push(agent.clone());
                    }
                    Input::Release { call, agent, .. } => {
                        if let Some(held) = self.claims.get_mut(call) {
                            if let Some(i) = held.iter().position(|a| a == agent) {
                                held.swap_remove(i);
                            }
                            if held.is_empty() {
                                self.claims.remove(call);
                            }
                        }
                    }
                    _ => {}
                }
                self.acd.handle(now, input);
            }
            AcdRequest::Attach { call, events } => {
                self.calls.insert(call, events);
            }
            AcdRequest::Detach { call } => {
                self.calls.remove(&call);
                // A call ends by telling the ACD how; these are ignored then. A call task
                // that died without saying (a panic) still frees its place and its agent.
                self.acd.handle(
                    now,
                    Input::Leave {
                        call,
                        reason: LeaveReason::Gone,
                        at: now,
                    },
                );
                self.acd.handle(now, Input::CallEnded { call, at: now });
                for agent in self.claims.remove(&call).unwrap_or_default() {
                    self.acd.handle(
                        now,
                        Input::Release {
                            call,
                            agent,
                            at: now,
                        },
                    );
                }
                self.undelivered.retain(|o| call_of(o) != Some(call));
            }
            AcdRequest::Command {
                agent,
                command,
                reply,
            } => {
                let call = CallRef(self.next_api_ref);
                self.next_api_ref -= 1;
                self.api_replies.insert(call, reply);
                self.acd.handle(
                    now,
                    Input::Agent {
                        agent,
                        command,
                        reply_to: Some(call),
                        at: now,
                    },
                );
            }
            AcdRequest::Snapshot { reply } => {
                let view = View::new(&self.acd, &self.stats, &self.tz, &self.latency, now);
                // The asker may have given up: nothing to do then.
                let _ = reply.send(view);
            }
        }
    }

    /// Hands every decision to its call and every fact to the store and the statistics.
    fn drain(&mut self) {
        // Decisions kept from before go first, in order.
        for output in std::mem::take(&mut self.undelivered) {
            self.deliver(output);
        }
        loop {
            let mut idle = true;
            while let Some(output) = self.acd.poll_output() {
                idle = false;
                self.deliver(output);
            }
            while let Some(event) = self.acd.poll_event() {
                idle = false;
                log(&event.kind);
                self.stats.record(wall(event.at), &event.kind);
                self.unstored.push_back(event);
            }
            if idle {
                self.routing = None;
                break;
            }
        }
        self.store();
    }

    /// Hands the kept facts to the store, in order, as far as it takes them.
    fn store(&mut self) {
        while let Some(event) = self.unstored.front() {
            match self.records.try_acd(event) {
                Ok(()) => {
                    self.unstored.pop_front();
                }
                Err(switchboard_store::StoreError::Full) => break,
                Err(err) => {
                    tracing::error!(%err, "ACD event not stored");
                    self.unstored.pop_front();
                }
            }
        }
        let excess = self.unstored.len().saturating_sub(MAX_UNSTORED);
        if excess > 0 {
            self.unstored.drain(..excess);
            self.dropped += excess as u64;
            tracing::error!(
                dropped = self.dropped,
                "the store has not taken the ACD's events for too long: the oldest are dropped \
                 (statistics rebuilt after a restart will miss them); see the store's errors"
            );
        }
    }

    fn deliver(&mut self, output: Output) {
        let Some(call) = call_of(&output) else {
            return;
        };
        if let Output::AgentCommandDone { result, .. } = &output
            && let Some(reply) = self.api_replies.remove(&call)
        {
            // The API may have given up waiting: nothing to do then.
            let _ = reply.send(result.clone());
            return;
        }
        let now = Instant::now();
        if let (Output::Offer { .. }, Some((routed, at))) = (&output, self.routing)
            && routed == call
        {
            self.latency.record(now.saturating_duration_since(at));
            self.routing = None;
        }
        let output = match self.calls.get(&call) {
            Some(tx) => match tx.try_send(output) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(output)) => {
                    // The call is busy: it gets this once it has room (an offer's deadline
                    // still frees the agent if it never does).
                    tracing::debug!(
                        call = call.0,
                        "call not keeping up with the ACD; decision kept"
                    );
                    self.undelivered.push_back(output);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(output)) => {
                    self.calls.remove(&call);
                    output
                }
            },
            None => output,
        };
        // The call is gone: answer for it.
        match output {
            Output::Offer { offer, .. } => self.acd.handle(
                now,
                Input::OfferResult {
                    offer,
                    result: OfferResult::Cancelled,
                    at: now,
                },
            ),
            Output::Overflow { call, .. } | Output::Announce { call, .. } => {
                self.acd.handle(
                    now,
                    Input::Leave {
                        call,
                        reason: LeaveReason::Gone,
                        at: now,
                    },
                );
            }
            _ => {}
        }
    }
}

/// What an operator reads in the log of the ACD's facts: agents' logins, logouts and pauses
/// (an automatic `no-answer` pause says so at warn), queues' overflows. The rest is counted,
/// not logged (a line per offer would drown the log under load).
fn log(kind: &switchboard_acd::EventKind) {
    use switchboard_acd::{EventKind, StateKind};
    match kind {
        EventKind::AgentState {
            agent,
            state: StateKind::Paused,
            reason: Some(reason),
        } if reason.as_str() == switchboard_acd::NO_ANSWER => {
            tracing::warn!(agent = %agent, reason = reason.as_str(), "agent paused: it missed its offers in a row ([acd] max_missed_offers)");
        }
        EventKind::AgentState {
            agent,
            state: state @ (StateKind::LoggedOut | StateKind::Paused | StateKind::Ready),
            reason,
        } => {
            tracing::debug!(agent = %agent, state = view::state_name(*state), reason = reason.as_ref().map(|r| r.as_str()), "agent state");
        }
        EventKind::Overflowed { queue, reason, .. } => {
            tracing::debug!(queue = %queue, reason = reason.as_str(), "queue overflow");
        }
        _ => {}
    }
}

/// The call a decision is for.
fn call_of(output: &Output) -> Option<CallRef> {
    match output {
        Output::Offer { call, .. }
        | Output::CancelOffer { call, .. }
        | Output::Overflow { call, .. }
        | Output::Announce { call, .. }
        | Output::ClaimResult { call, .. }
        | Output::AgentCommandDone { call, .. } => Some(*call),
        _ => None,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
