//! The ACD task: the one owner of the `switchboard_acd` core and of the live statistics. Calls
//! and the SIP core send it facts ([`AcdRequest`]); it answers each call on the channel the
//! call attached, stores every fact it records, and feeds the statistics with the same facts.
//!
//! It never waits on a call: a decision a call cannot take (its channel full or gone) is
//! answered for it — an offer is reported `Cancelled`, a call that vanished `Leave`s — so no
//! agent stays reserved and no caller stays queued for a call that is not there. It does wait
//! on the store (back-pressure: facts are never dropped).

pub mod latency;
pub mod setup;
mod view;

use std::collections::HashMap;
use std::time::Instant;

use switchboard_acd::io::LeaveReason;
use switchboard_acd::stats::Stats;
use switchboard_acd::{Acd, CallRef, Input, OfferResult, Output};
use tokio::sync::mpsc;

use crate::clock::wall;
use crate::protocol::AcdRequest;
use crate::records::Records;

pub use view::{AgentRow, QueueRow, RoutingRow, View};

/// Capacity of the ACD's input channel.
pub const ACD_QUEUE: usize = 4096;

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
}

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
        }
    }

    /// Runs until every sender of `rx` is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<AcdRequest>) {
        loop {
            self.drain().await;
            let deadline = self.acd.poll_timeout();
            tokio::select! {
                request = rx.recv() => {
                    let Some(request) = request else { return };
                    self.request(Instant::now(), request);
                }
                () = sleep_until(deadline) => self.acd.handle_timeout(Instant::now()),
            }
        }
    }

    fn request(&mut self, now: Instant, request: AcdRequest) {
        match request {
            AcdRequest::Input(input) => {
                if let Input::Enqueue { call, at, .. } = &input {
                    self.routing = Some((*call, *at));
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
            }
            AcdRequest::Snapshot { reply } => {
                let view = View::new(&self.acd, &self.stats, &self.tz, &self.latency, now);
                // The asker may have given up: nothing to do then.
                let _ = reply.send(view);
            }
        }
    }

    /// Hands every decision to its call and every fact to the store and the statistics.
    async fn drain(&mut self) {
        loop {
            let mut idle = true;
            while let Some(output) = self.acd.poll_output() {
                idle = false;
                self.deliver(output);
            }
            while let Some(event) = self.acd.poll_event() {
                idle = false;
                self.stats.record(wall(event.at), &event.kind);
                self.records.acd(&event).await;
            }
            if idle {
                self.routing = None;
                return;
            }
        }
    }

    fn deliver(&mut self, output: Output) {
        let Some(call) = call_of(&output) else {
            return;
        };
        let now = Instant::now();
        if let (Output::Offer { .. }, Some((routed, at))) = (&output, self.routing)
            && routed == call
        {
            self.latency.record(now.saturating_duration_since(at));
            self.routing = None;
        }
        let sent = match self.calls.get(&call) {
            Some(tx) => match tx.try_send(output.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(
                        call = call.0,
                        "call not keeping up with the ACD; decision answered for it"
                    );
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.calls.remove(&call);
                    false
                }
            },
            None => false,
        };
        if sent {
            return;
        }
        match output {
            Output::Offer { offer, .. } => self.acd.handle(
                now,
                Input::OfferResult {
                    offer,
                    result: OfferResult::Cancelled,
                    at: now,
                },
            ),
            Output::Overflow { call, .. } | Output::Announce { call, .. }
                if !self.calls.contains_key(&call) =>
            {
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
