//! Offers and answered calls: ringing an agent, hearing how it went, connecting, ending.
//!
//! An offer reserves its agent until the call reports the result or the ACD's own deadline
//! (ring timeout + `offer_grace`) passes, whichever comes first. The first answer of a caller
//! wins: its other offers (a ring-all round) are cancelled and their agents are ready again at
//! once, without a miss.
//!
//! # Late answers
//! A result for an offer the ACD no longer has is ignored, except an `Answered` for an offer
//! its deadline ended: the call only says that if the agent picked up before the call heard
//! the `CancelOffer`, so the agent really is talking to the caller and the call is bridging
//! them. If the caller still waits in the line (nobody else answered it, it did not leave) and
//! the agent is logged in and not on another call, the answer is honoured as if it had come in
//! time: the agent goes on call (a ringing offer of another caller is cancelled, a wrap-up or
//! pause ends), the miss its deadline counted is forgotten, and `Connected`/`ConnectFailed`
//! follow as usual. Otherwise the call has no caller left to give that agent and hangs its
//! leg up, so the ACD changes nothing.

use std::time::{Duration, Instant};

use crate::agent::CallRef;
use crate::event::EventKind;
use crate::io::{OfferId, OfferResult, Output};
use crate::machine::Acd;
use crate::queue::Phase;
use crate::roster::WrapRecord;
use crate::timers::Timer;

/// An outstanding offer.
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    pub call: CallRef,
    pub agent: usize,
    pub queue: usize,
    /// Its deadline in the timer set.
    pub deadline: Option<Instant>,
}

/// An offer the ACD's deadline ended, kept until its result is heard or its caller leaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExpiredOffer {
    pub call: CallRef,
    pub agent: usize,
}

/// A connected queue call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Talk {
    pub agent: usize,
    pub queue: usize,
    pub connected: Instant,
}

impl Acd {
    /// Offers waiting caller `call` to ready agent `i`.
    pub(crate) fn make_offer(&mut self, now: Instant, call: CallRef, i: usize) {
        let Some(caller) = self.callers.get(&call) else {
            return;
        };
        let q = caller.queue;
        if self.agents[i].agent.offer(now, call).is_err() {
            debug_assert!(
                false,
                "dispatch offered a call to an agent that is not ready"
            );
            self.refresh(i);
            return;
        }
        // A zero ring timeout is a config slip, not a wish never to ring.
        let ring_timeout = self.queues[q].cfg.ring_timeout.max(Duration::from_secs(1));
        let id = self.next_offer_id();
        let mut offer = Offer {
            call,
            agent: i,
            queue: q,
            deadline: None,
        };
        let deadline = now.checked_add(ring_timeout + self.settings.offer_grace);
        self.timers
            .arm(&mut offer.deadline, deadline, Timer::OfferDeadline(id));
        self.offers.insert(id, offer);
        self.agents[i].offer = Some(id);
        if let Some(caller) = self.callers.get_mut(&call) {
            caller.offers.push(id);
        }
        let queue = self.queues[q].cfg.id.clone();
        let agent = self.agents[i].agent.id().clone();
        self.output(Output::Offer {
            offer: id,
            call,
            queue: queue.clone(),
            agent: agent.clone(),
            ring_timeout,
        });
        self.emit(
            now,
            EventKind::Offered {
                call,
                queue,
                agent,
                offer: id,
            },
        );
        self.reconcile(i, now);
    }

    /// The call reports how an offer ended.
    pub(crate) fn offer_result(&mut self, at: Instant, id: OfferId, result: OfferResult) {
        if let Some(offer) = self.offers.get(&id) {
            let call = offer.call;
            match result {
                OfferResult::Answered => self.answered(at, id),
                OfferResult::Cancelled => {
                    self.end_offer(at, id, Some(result), false);
                    self.caller_offers_ended(at, call);
                }
                OfferResult::NoAnswer | OfferResult::Declined(_) | OfferResult::Unreachable => {
                    self.end_offer(at, id, Some(result), true);
                    self.caller_offers_ended(at, call);
                }
            }
        } else if let Some(expired) = self.expired.remove(&id) {
            if let Some(caller) = self.callers.get_mut(&expired.call) {
                caller.expired_offers.retain(|&o| o != id);
            }
            if result == OfferResult::Answered {
                self.late_answer(at, expired.call, expired.agent);
            }
        }
        // Anything else: a result for an offer already finished, reported twice, or unknown.
    }

    /// The ACD's own deadline for an offer passed: release the agent (a miss) and ask the
    /// call to stop ringing.
    pub(crate) fn offer_deadline(&mut self, at: Instant, id: OfferId) {
        let Some(offer) = self.offers.get_mut(&id) else {
            return;
        };
        offer.deadline = None;
        let (call, i) = (offer.call, offer.agent);
        let agent = self.agents[i].agent.id().clone();
        self.output(Output::CancelOffer {
            offer: id,
            call,
            agent,
        });
        self.end_offer(at, id, None, true);
        if let Some(caller) = self.callers.get_mut(&call) {
            caller.expired_offers.push(id);
            self.expired.insert(id, ExpiredOffer { call, agent: i });
        }
        self.caller_offers_ended(at, call);
    }

    /// Closes an offer that was not answered: the agent is ready again (or what it asked
    /// for), with a miss if it was its fault. The caller's own follow-up (overflow once no
    /// offer is left) is the caller of this function's business.
    fn end_offer(&mut self, at: Instant, id: OfferId, result: Option<OfferResult>, miss: bool) {
        let Some(mut offer) = self.offers.remove(&id) else {
            return;
        };
        self.timers
            .arm(&mut offer.deadline, None, Timer::OfferDeadline(id));
        let i = offer.agent;
        self.agents[i].offer = None;
        let _ = self.agents[i].agent.decline(at, offer.call);
        if let Some(caller) = self.callers.get_mut(&offer.call) {
            caller.offers.retain(|&o| o != id);
        }
        let kind = EventKind::OfferEnded {
            call: offer.call,
            queue: self.queues[offer.queue].cfg.id.clone(),
            agent: self.agents[i].agent.id().clone(),
            offer: id,
            result,
        };
        self.emit(at, kind);
        if miss {
            self.count_miss(i, at);
        }
        self.reconcile(i, at);
    }

    /// Cancels `offers` of `call` (the ACD asks the call to stop ringing; no miss for the
    /// agents).
    pub(crate) fn cancel_offers(&mut self, at: Instant, call: CallRef, offers: &[OfferId]) {
        for &id in offers {
            if let Some(offer) = self.offers.get(&id) {
                let agent = self.agents[offer.agent].agent.id().clone();
                self.output(Output::CancelOffer {
                    offer: id,
                    call,
                    agent,
                });
            }
            self.end_offer(at, id, Some(OfferResult::Cancelled), false);
        }
    }

    /// An outstanding offer was answered: the agent is on the call, the caller connecting,
    /// every other offer of it cancelled.
    fn answered(&mut self, at: Instant, id: OfferId) {
        let Some(mut offer) = self.offers.remove(&id) else {
            return;
        };
        self.timers
            .arm(&mut offer.deadline, None, Timer::OfferDeadline(id));
        let (call, i) = (offer.call, offer.agent);
        self.agents[i].offer = None;
        let taken = self.agents[i].agent.answer(at, call).is_ok();
        self.count_answer(i);
        self.reconcile(i, at);
        if let Some(caller) = self.callers.get_mut(&call) {
            caller.offers.retain(|&o| o != id);
        }
        if taken {
            self.connecting(at, call, i);
        } else {
            self.caller_offers_ended(at, call);
        }
    }

    /// Agent `i` picked up waiting caller `call`: out of the line, other offers cancelled.
    fn connecting(&mut self, at: Instant, call: CallRef, i: usize) {
        let Some(caller) = self.callers.get_mut(&call) else {
            return;
        };
        caller.phase = Phase::Connecting {
            agent: i,
            picked_up: at,
        };
        let caller = caller.clone();
        self.leave_line(&caller);
        self.cancel_offers(at, call, &caller.offers);
    }

    /// An answer for an offer the deadline ended (see the module docs).
    fn late_answer(&mut self, at: Instant, call: CallRef, i: usize) {
        if !self
            .callers
            .get(&call)
            .is_some_and(|c| c.phase == Phase::Waiting)
        {
            return;
        }
        if let Some(other) = self.agents[i].offer {
            if self.offers.get(&other).is_some_and(|o| o.call == call) {
                // Offered the same caller again since: that is the offer it answered.
                self.answered(at, other);
                return;
            }
            let other_call = self.offers.get(&other).map(|o| o.call);
            let agent = self.agents[i].agent.id().clone();
            if let Some(other_call) = other_call {
                self.output(Output::CancelOffer {
                    offer: other,
                    call: other_call,
                    agent,
                });
                self.end_offer(at, other, Some(OfferResult::Cancelled), false);
                self.caller_offers_ended(at, other_call);
            }
        }
        if self.agents[i].agent.take_call(at, call).is_err() {
            return;
        }
        self.count_answer(i);
        self.reconcile(i, at);
        self.connecting(at, call, i);
    }

    /// The bridge is up: the call is answered.
    pub(crate) fn connected(&mut self, at: Instant, call: CallRef) {
        let Some(Phase::Connecting { agent, picked_up }) = self.callers.get(&call).map(|c| c.phase)
        else {
            return;
        };
        let Some(caller) = self.remove_caller(call) else {
            return;
        };
        let slot = &mut self.agents[agent];
        slot.answered_total += 1;
        if let Some(m) = slot
            .memberships
            .iter_mut()
            .find(|m| m.queue == caller.queue)
        {
            m.answered += 1;
        }
        self.talking.insert(
            call,
            Talk {
                agent,
                queue: caller.queue,
                connected: at,
            },
        );
        let kind = EventKind::Answered {
            call,
            queue: self.queues[caller.queue].cfg.id.clone(),
            agent: self.agents[agent].agent.id().clone(),
            wait: picked_up.saturating_duration_since(caller.joined),
        };
        self.emit(at, kind);
    }

    /// The agent left before the bridge was up: it is ready again (no wrap-up), the caller
    /// back at its place, and dispatch (which follows) gives the others their chance at once.
    pub(crate) fn connect_failed(&mut self, at: Instant, call: CallRef) {
        let Some(caller) = self.callers.get_mut(&call) else {
            return;
        };
        let Phase::Connecting { agent, .. } = caller.phase else {
            return;
        };
        caller.phase = Phase::Waiting;
        let caller = caller.clone();
        self.enter_line(call, &caller);
        let kind = EventKind::ConnectFailed {
            call,
            queue: self.queues[caller.queue].cfg.id.clone(),
            agent: self.agents[agent].agent.id().clone(),
        };
        self.emit(at, kind);
        let _ = self.agents[agent].agent.abort_call(at, call);
        self.reconcile(agent, at);
        self.caller_offers_ended(at, call);
    }

    /// A connected call ended: the agent goes to wrap-up (one `WrapUpEnded` follows when it
    /// ends, however it ends).
    pub(crate) fn call_ended(&mut self, at: Instant, call: CallRef) {
        let Some(talk) = self.talking.remove(&call) else {
            if self
                .callers
                .get(&call)
                .is_some_and(|c| matches!(c.phase, Phase::Connecting { .. }))
            {
                // Ended before the bridge was up: the caller is gone.
                self.leave(at, call, crate::io::LeaveReason::Gone);
            }
            return;
        };
        let i = talk.agent;
        let talk_time = at.saturating_duration_since(talk.connected);
        let kind = EventKind::CallEnded {
            call,
            queue: self.queues[talk.queue].cfg.id.clone(),
            agent: self.agents[i].agent.id().clone(),
            talk: talk_time,
        };
        self.emit(at, kind);
        let slot = &mut self.agents[i];
        // Recorded even if the agent were somehow not on this call any more: `reconcile`
        // then closes it with a zero wrap-up, so the record still gets its `WrapUpEnded`.
        slot.wrap = Some(WrapRecord {
            call,
            queue: talk.queue,
            started: at,
            talk: talk_time,
        });
        let _ = slot.agent.end_call(at, call);
        self.reconcile(i, at);
    }
}
