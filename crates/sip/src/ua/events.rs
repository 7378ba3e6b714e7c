//! How the user agent reacts to what the endpoint reports: requests inside a leg's dialog,
//! CANCEL, ACK, responses to our INVITEs, re-INVITEs and BYEs, and timeouts.

use std::time::Instant;

use bytes::Bytes;
use ezk_sip_types::{Method, Name, StatusCode};

use super::leg::{Direction, HangupCause, LegId, LegState, PendingReinvite};
use super::{LegEvent, TxRole, UaOutput, UserAgent, dialog_key, to_tag};
use crate::dialog::Dialog;
use crate::endpoint::{ClientTxId, ServerTxId};
use crate::message::{HeadersExt, Peer, Request, Response, response_to};

impl UserAgent {
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        source: Peer,
        request: Request,
    ) {
        let Some(tag) = to_tag(&request) else {
            // Outside any dialog: REGISTER, OPTIONS, a new INVITE. The switch decides.
            self.out.push_back(UaOutput::Request {
                tx,
                source,
                request,
            });
            return;
        };
        let call_id = request
            .call_id()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        let Some(&leg_id) = self.dialogs.get(&(call_id, tag)) else {
            // RFC 3261 §12.2.2: a request with a To tag that matches no dialog gets 481.
            let response = response_to(&request, StatusCode::from(481), None);
            self.respond(now, tx, response);
            return;
        };
        let checked = match self
            .legs
            .get_mut(&leg_id)
            .and_then(|leg| leg.dialog.as_mut())
        {
            Some(dialog) => dialog.handle_request(&request),
            None => return,
        };
        if let Err(err) = checked {
            let response = response_to(&request, StatusCode::from(err.status()), None);
            self.respond(now, tx, response);
            return;
        }
        let method = request.method().clone();
        if method == Method::BYE {
            self.respond(now, tx, response_to(&request, StatusCode::OK, None));
            self.forget_leg(leg_id);
            self.emit(LegEvent::Hangup {
                leg: leg_id,
                cause: HangupCause::RemoteBye,
            });
        } else if method == Method::INVITE {
            self.on_reinvite(now, leg_id, tx, request);
        } else if method == Method::INFO {
            let content_type = request
                .headers
                .get_raw(&Name::CONTENT_TYPE)
                .next()
                .map(|v| v.to_string());
            let body = request.body.clone();
            self.respond(now, tx, response_to(&request, StatusCode::OK, None));
            self.emit(LegEvent::Info {
                leg: leg_id,
                content_type,
                body,
            });
        } else if method == Method::OPTIONS || method == Method::NOTIFY {
            self.respond(now, tx, response_to(&request, StatusCode::OK, None));
        } else {
            // In-dialog UPDATE, REFER, MESSAGE…: not offered by this B2BUA yet.
            let mut response = response_to(&request, StatusCode::from(501), None);
            response.headers.insert(Name::ALLOW, super::requests::ALLOW);
            self.respond(now, tx, response);
        }
    }

    fn on_reinvite(&mut self, now: Instant, leg_id: LegId, tx: ServerTxId, request: Request) {
        let Some(leg) = self.legs.get_mut(&leg_id) else {
            return;
        };
        match leg.reinvite {
            // RFC 3261 §14.2: a re-INVITE while ours is pending → 491; while theirs is → 500.
            Some(PendingReinvite::Outgoing) => {
                let response = response_to(&request, StatusCode::from(491), None);
                self.respond(now, tx, response);
            }
            Some(PendingReinvite::Incoming(_)) => {
                let mut response = response_to(&request, StatusCode::from(500), None);
                response.headers.insert(Name::RETRY_AFTER, "1");
                self.respond(now, tx, response);
            }
            None => {
                let sdp = (!request.body.is_empty()).then(|| request.body.clone());
                leg.reinvite = Some(PendingReinvite::Incoming(tx));
                if sdp.is_some() {
                    leg.remote_sdp.clone_from(&sdp);
                }
                self.server_txs.insert(tx, (leg_id, TxRole::Reinvite));
                self.pending_reinvites.insert(tx, request);
                self.emit(LegEvent::Reinvite { leg: leg_id, sdp });
            }
        }
    }

    pub(super) fn on_cancelled(&mut self, now: Instant, invite_tx: ServerTxId) {
        let Some((leg_id, TxRole::Invite)) = self.server_txs.get(&invite_tx).copied() else {
            return;
        };
        let Some(leg) = self.legs.get(&leg_id) else {
            return;
        };
        if leg.state != LegState::Early {
            return;
        }
        // RFC 3261 §9.2: the endpoint answered the CANCEL; the INVITE ends with 487.
        let response = response_to(
            &leg.invite,
            StatusCode::REQUEST_TERMINATED,
            Some(&leg.local_tag),
        );
        self.forget_leg(leg_id);
        self.respond(now, invite_tx, response);
        self.emit(LegEvent::Hangup {
            leg: leg_id,
            cause: HangupCause::Cancelled,
        });
    }

    pub(super) fn on_ack(&mut self, request: &Request) {
        let Some(tag) = to_tag(request) else { return };
        let call_id = request
            .call_id()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        let Some(&leg_id) = self.dialogs.get(&(call_id, tag)) else {
            return;
        };
        let Some(leg) = self.legs.get_mut(&leg_id) else {
            return;
        };
        // The ACK confirms our 2xx: the INVITE server transaction needs no more attention.
        if let Some(tx) = leg.invite_server_tx.take() {
            self.server_txs.remove(&tx);
        }
        if !request.body.is_empty() {
            // RFC 3264 §4 / RFC 3261 §13.2.1: the answer to an offer we made in a 2xx (the
            // INVITE came without SDP: a late offer) arrives in the ACK.
            leg.remote_sdp = Some(request.body.clone());
            self.emit(LegEvent::Ack {
                leg: leg_id,
                sdp: request.body.clone(),
            });
        }
    }

    pub(super) fn on_response(&mut self, now: Instant, tx: ClientTxId, response: Response) {
        let Some(&(leg_id, role)) = self.client_txs.get(&tx) else {
            return;
        };
        let code = response.code();
        if code >= 200 && role != TxRole::Invite {
            self.client_txs.remove(&tx);
        }
        match role {
            TxRole::Invite => self.on_invite_response(now, tx, leg_id, response),
            TxRole::Reinvite => self.on_reinvite_response(now, leg_id, &response),
            TxRole::Other => {}
        }
    }

    fn on_invite_response(
        &mut self,
        now: Instant,
        tx: ClientTxId,
        leg_id: LegId,
        response: Response,
    ) {
        let code = response.code();
        let sdp = (!response.body.is_empty()).then(|| response.body.clone());
        let state = self.legs.get(&leg_id).map(|leg| leg.state);
        match code {
            100 => {}
            101..=199 => {
                if state == Some(LegState::Early) {
                    self.emit(LegEvent::Ringing {
                        leg: leg_id,
                        code,
                        sdp,
                    });
                }
            }
            200..=299 => self.on_invite_2xx(now, leg_id, &response, sdp),
            _ => {
                self.client_txs.remove(&tx);
                if let Some(leg) = self.legs.get_mut(&leg_id) {
                    leg.invite_client_tx = None;
                }
                match state {
                    Some(LegState::Early) => {
                        self.forget_leg(leg_id);
                        self.emit(LegEvent::Hangup {
                            leg: leg_id,
                            cause: HangupCause::Rejected(code),
                        });
                    }
                    Some(LegState::Cancelling) => self.forget_leg(leg_id),
                    _ => {}
                }
            }
        }
    }

    /// A 2xx to our INVITE: the first one confirms the leg; a retransmission is ACKed again; a
    /// 2xx that arrives after we gave up (CANCEL race, RFC 3261 §9.1) or from another fork is
    /// ACKed and ended with BYE (§13.2.2.4).
    fn on_invite_2xx(
        &mut self,
        now: Instant,
        leg_id: LegId,
        response: &Response,
        sdp: Option<Bytes>,
    ) {
        let Some(leg) = self.legs.get_mut(&leg_id) else {
            return;
        };
        let invite_cseq = leg.invite.cseq().map_or(1, |c| c.cseq);
        let remote_tag = to_tag(response);
        let known = leg
            .dialog
            .as_ref()
            .is_some_and(|d| Some(d.id().remote_tag.to_string()) == remote_tag);
        if known {
            if let Some(dialog) = leg.dialog.as_ref() {
                let ack = dialog.create_ack(invite_cseq);
                self.endpoint.send_stateless(now, ack, leg.peer);
            }
            return;
        }
        let Ok(mut dialog) = Dialog::from_uac(&leg.invite, response) else {
            tracing::debug!(leg = %leg_id, "2xx that makes no dialog ignored");
            return;
        };
        let ack = dialog.create_ack(invite_cseq);
        self.endpoint.send_stateless(now, ack, leg.peer);
        if leg.state == LegState::Early && leg.dialog.is_none() {
            leg.state = LegState::Confirmed;
            leg.remote_sdp.clone_from(&sdp);
            self.dialogs.insert(dialog_key(&dialog), leg_id);
            leg.dialog = Some(dialog);
            self.emit(LegEvent::Answered { leg: leg_id, sdp });
        } else {
            let bye = dialog.create_request(Method::BYE);
            let tx = self.endpoint.send_request(now, bye, leg.peer);
            self.client_txs.insert(tx, (leg_id, TxRole::Other));
            if leg.state == LegState::Cancelling {
                self.forget_leg(leg_id);
            }
        }
        self.drain_endpoint(now);
    }

    fn on_reinvite_response(&mut self, now: Instant, leg_id: LegId, response: &Response) {
        let code = response.code();
        if code < 200 {
            return;
        }
        let Some(leg) = self.legs.get_mut(&leg_id) else {
            return;
        };
        leg.reinvite = None;
        let sdp = (!response.body.is_empty()).then(|| response.body.clone());
        if (200..300).contains(&code) {
            if let Some(dialog) = leg.dialog.as_mut() {
                dialog.handle_response(response);
                let cseq = response.cseq().map_or(1, |c| c.cseq);
                let ack = dialog.create_ack(cseq);
                self.endpoint.send_stateless(now, ack, leg.peer);
                self.drain_endpoint(now);
            }
            if sdp.is_some()
                && let Some(leg) = self.legs.get_mut(&leg_id)
            {
                leg.remote_sdp.clone_from(&sdp);
            }
        }
        self.emit(LegEvent::ReinviteResult {
            leg: leg_id,
            code,
            sdp,
        });
    }

    pub(super) fn on_client_timeout(&mut self, now: Instant, tx: ClientTxId) {
        let Some((leg_id, role)) = self.client_txs.remove(&tx) else {
            return;
        };
        let Some(leg) = self.legs.get_mut(&leg_id) else {
            return;
        };
        match role {
            TxRole::Invite => {
                leg.invite_client_tx = None;
                let early = leg.state == LegState::Early;
                let direction = leg.direction;
                if matches!(leg.state, LegState::Early | LegState::Cancelling) {
                    self.forget_leg(leg_id);
                }
                if early && direction == Direction::Outbound {
                    self.emit(LegEvent::Hangup {
                        leg: leg_id,
                        cause: HangupCause::Timeout,
                    });
                }
            }
            TxRole::Reinvite => {
                leg.reinvite = None;
                // RFC 3261 §14.1: a re-INVITE that times out ends the dialog.
                self.send_bye(now, leg_id);
                self.emit(LegEvent::Hangup {
                    leg: leg_id,
                    cause: HangupCause::Timeout,
                });
            }
            TxRole::Other => {}
        }
    }
}
