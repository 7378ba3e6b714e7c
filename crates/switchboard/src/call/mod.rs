//! Call control: one task per call owns its state and talks to the SIP core by message.
//!
//! For now a call is a B2BUA call-through: the inbound leg rings every contact of the dialled
//! agent at once (parallel fork), the first answer wins and the others are cancelled, and then
//! the two legs are bridged at the signalling level (re-INVITEs relayed, BYE from either side
//! ends both). The media issue anchors the SDP; here it passes through unchanged.

mod fork;

use std::time::Duration;

use bytes::Bytes;
use switchboard_sip::ua::{HangupCause, LegEvent, LegId, OutboundCall};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;

use crate::sip::core::{self, CoreInput};
use crate::sip::directory::Caller;

pub use fork::{fork_targets, select_final};

/// How long the callee may ring before the caller hears 480 (Asterisk's Dial timeout).
const RING_TIMEOUT: Duration = Duration::from_secs(60);

/// What a call task asks of the SIP core.
#[derive(Debug)]
pub enum CallCommand {
    /// Place an outbound leg; the core replies with its id and sends its events to `events`.
    Invite {
        /// What to send (boxed: it dwarfs the other commands).
        call: Box<OutboundCall>,
        /// Where the new leg's events go.
        events: mpsc::Sender<LegEvent>,
        /// The new leg's id.
        reply: oneshot::Sender<LegId>,
    },
    /// 180/183 on the inbound leg.
    Progress {
        /// The leg.
        leg: LegId,
        /// The status code.
        code: u16,
        /// Early-media SDP.
        sdp: Option<Bytes>,
    },
    /// 200 on the inbound leg.
    Answer {
        /// The leg.
        leg: LegId,
        /// The answer SDP.
        sdp: Option<Bytes>,
    },
    /// Final non-2xx on the inbound leg.
    Reject {
        /// The leg.
        leg: LegId,
        /// The status code.
        code: u16,
    },
    /// End a leg from our side (CANCEL or BYE as its state requires).
    Hangup {
        /// The leg.
        leg: LegId,
    },
    /// Send a re-INVITE on a leg, relaying one that `for_leg`'s remote side sent us; if it
    /// cannot be sent (one already pending), the core answers `for_leg`'s re-INVITE with 491.
    Reinvite {
        /// The leg to re-INVITE.
        leg: LegId,
        /// The offer.
        sdp: Option<Bytes>,
        /// The leg whose re-INVITE this relays.
        for_leg: LegId,
    },
    /// Answer a re-INVITE the leg's remote side sent.
    AnswerReinvite {
        /// The leg.
        leg: LegId,
        /// The status code.
        code: u16,
        /// The answer SDP on 2xx.
        sdp: Option<Bytes>,
    },
}

/// Everything a new call task starts from.
#[derive(Debug)]
pub struct CallSetup {
    /// The caller's leg, accepted but not yet answered.
    pub inbound: LegId,
    /// Who called (trunk or agent).
    pub caller: Caller,
    /// The INVITEs to send, one per contact of the callee.
    pub targets: Vec<OutboundCall>,
}

/// Runs one call to its end.
pub async fn run(
    setup: CallSetup,
    core: mpsc::Sender<CoreInput>,
    events: mpsc::Receiver<LegEvent>,
) {
    let span = tracing::info_span!("call", inbound = %setup.inbound, caller = %setup.caller);
    Bridge::new(setup.inbound, core, events)
        .run(setup.targets)
        .instrument(span)
        .await;
}

/// The state of a call-through.
struct Bridge {
    inbound: LegId,
    core: mpsc::Sender<CoreInput>,
    events: mpsc::Receiver<LegEvent>,
    /// Outbound legs still ringing.
    ringing: Vec<LegId>,
    /// Final codes of outbound legs that failed, to pick the caller's answer from.
    failures: Vec<u16>,
    /// The outbound leg that answered.
    answered: Option<LegId>,
    /// Whether the caller has heard a provisional response already.
    sent_progress: bool,
    /// A re-INVITE relayed from one leg to the other: (from, to).
    relaying: Option<(LegId, LegId)>,
}

impl Bridge {
    fn new(
        inbound: LegId,
        core: mpsc::Sender<CoreInput>,
        events: mpsc::Receiver<LegEvent>,
    ) -> Self {
        Bridge {
            inbound,
            core,
            events,
            ringing: Vec::new(),
            failures: Vec::new(),
            answered: None,
            sent_progress: false,
            relaying: None,
        }
    }

    async fn run(mut self, targets: Vec<OutboundCall>) {
        // The core registered the inbound leg with `self.events`; outbound legs report on a
        // second channel of ours, read in the same select.
        let (tx, mut rx) = mpsc::channel(32);
        for target in targets {
            match core::invite(&self.core, target, tx.clone()).await {
                Some(leg) => {
                    tracing::debug!(%leg, "ringing contact");
                    self.ringing.push(leg);
                }
                None => return,
            }
        }
        drop(tx);
        let deadline = tokio::time::Instant::now() + RING_TIMEOUT;
        loop {
            let event = tokio::select! {
                e = self.events.recv() => e,
                e = rx.recv() => e,
                () = tokio::time::sleep_until(deadline), if self.answered.is_none() => {
                    tracing::info!("no answer before the ring timeout");
                    self.give_up(480).await;
                    return;
                }
            };
            let Some(event) = event else { return };
            if self.on_event(event).await.is_break() {
                return;
            }
        }
    }

    async fn on_event(&mut self, event: LegEvent) -> std::ops::ControlFlow<()> {
        use std::ops::ControlFlow::Continue;
        match event {
            LegEvent::Ringing { leg, code, sdp } if self.ringing.contains(&leg) => {
                // Relay the first 180, and any 183 with early media.
                if !self.sent_progress || sdp.is_some() {
                    self.sent_progress = true;
                    self.send(CallCommand::Progress {
                        leg: self.inbound,
                        code,
                        sdp,
                    })
                    .await;
                }
            }
            LegEvent::Answered { leg, sdp } => {
                if self.answered.is_some() || !self.ringing.contains(&leg) {
                    self.send(CallCommand::Hangup { leg }).await;
                    return Continue(());
                }
                tracing::info!(%leg, "answered");
                self.ringing.retain(|l| *l != leg);
                self.answered = Some(leg);
                for other in std::mem::take(&mut self.ringing) {
                    self.send(CallCommand::Hangup { leg: other }).await;
                }
                self.send(CallCommand::Answer {
                    leg: self.inbound,
                    sdp,
                })
                .await;
            }
            LegEvent::Hangup { leg, cause } => return self.on_hangup(leg, cause).await,
            LegEvent::Reinvite { leg, sdp } => self.relay_reinvite(leg, sdp).await,
            LegEvent::ReinviteResult { leg, code, sdp } => {
                if let Some((from, to)) = self.relaying.take()
                    && to == leg
                {
                    self.send(CallCommand::AnswerReinvite {
                        leg: from,
                        code,
                        sdp,
                    })
                    .await;
                }
            }
            other => tracing::debug!(?other, "leg event not used by call-through"),
        }
        // Only a Hangup can leave nothing ringing and nothing answered: see on_hangup.
        Continue(())
    }

    async fn on_hangup(&mut self, leg: LegId, cause: HangupCause) -> std::ops::ControlFlow<()> {
        use std::ops::ControlFlow::{Break, Continue};
        tracing::info!(%leg, cause = cause.as_str(), "leg ended");
        if leg == self.inbound {
            // The caller left: cancel what still rings, hang up what answered.
            for other in std::mem::take(&mut self.ringing)
                .into_iter()
                .chain(self.answered)
            {
                self.send(CallCommand::Hangup { leg: other }).await;
            }
            return Break(());
        }
        if Some(leg) == self.answered {
            self.send(CallCommand::Hangup { leg: self.inbound }).await;
            return Break(());
        }
        self.ringing.retain(|l| *l != leg);
        self.failures.push(match cause {
            HangupCause::Rejected(code) => code,
            HangupCause::Timeout => 408,
            _ => 480,
        });
        if self.answered.is_none() && self.ringing.is_empty() {
            let code = select_final(&self.failures);
            tracing::info!(code, "every contact failed");
            self.send(CallCommand::Reject {
                leg: self.inbound,
                code,
            })
            .await;
            return Break(());
        }
        Continue(())
    }

    async fn relay_reinvite(&mut self, from: LegId, sdp: Option<Bytes>) {
        let Some(answered) = self.answered else {
            self.send(CallCommand::AnswerReinvite {
                leg: from,
                code: 491,
                sdp: None,
            })
            .await;
            return;
        };
        let to = if from == self.inbound {
            answered
        } else {
            self.inbound
        };
        if self.relaying.is_some() {
            self.send(CallCommand::AnswerReinvite {
                leg: from,
                code: 491,
                sdp: None,
            })
            .await;
            return;
        }
        self.relaying = Some((from, to));
        self.send(CallCommand::Reinvite {
            leg: to,
            sdp,
            for_leg: from,
        })
        .await;
    }

    async fn give_up(&mut self, code: u16) {
        for leg in std::mem::take(&mut self.ringing) {
            self.send(CallCommand::Hangup { leg }).await;
        }
        self.send(CallCommand::Reject {
            leg: self.inbound,
            code,
        })
        .await;
    }

    async fn send(&self, command: CallCommand) {
        if self.core.send(CoreInput::Call(command)).await.is_err() {
            tracing::warn!("SIP core gone; call abandoned");
        }
    }
}
