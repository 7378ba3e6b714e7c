//! Ringing callees: one INVITE per contact (parallel fork), all offering the same media leg of
//! ours; the first answer wins and the others are cancelled (RFC 3261 §16.7 in a B2BUA's
//! terms). Used by a direct extension call, the dialplan's `dial`, and queues.

use std::time::Duration;

use switchboard_media::codec::CodecKind;
use switchboard_sip::ua::{HangupCause, LegEvent, LegId, OutboundCall};

use super::context::{Call, Event, after};
use super::sdp_leg::SdpLeg;
use super::{CallCommand, select_final};
use crate::media::Role;

/// How a dial attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DialResult {
    /// This leg answered; its media is set up (not yet bridged).
    Answered(LegId),
    /// Every contact failed; the most telling final status.
    Failed(u16),
    /// Nobody answered in time (every fork was cancelled).
    NoAnswer,
    /// The caller hung up while it rang.
    CallerGone,
    /// The caller's media timed out while it rang.
    MediaTimeout,
}

/// Rings `targets` for at most `ring_timeout`. With `early`, the caller is not answered yet and
/// hears the callee's progress: the first 180 is relayed, and a 183 with SDP is answered with
/// our SDP and its early media bridged through.
pub(crate) async fn dial(
    call: &mut Call,
    targets: Vec<OutboundCall>,
    ring_timeout: Duration,
    early: bool,
) -> DialResult {
    if targets.is_empty() {
        return DialResult::Failed(480);
    }
    let local = match call.media.add_leg(Role::Callee).await {
        Ok(local) => local,
        Err(err) => {
            tracing::error!(%err, "no RTP port for the callee");
            return DialResult::Failed(503);
        }
    };
    let negotiation = call.services.negotiation.clone();
    // List the caller's codecs first, so the callee can choose one and we relay untouched.
    let first: Vec<CodecKind> = match (call.caller.codec(), call.caller_offer.as_deref()) {
        (Some(codec), _) => vec![codec],
        (None, Some(offer)) => negotiation.offered(offer),
        (None, None) => Vec::new(),
    };
    let session_id = call.services.seed ^ local.leg.0.rotate_left(17);
    let mut template = SdpLeg::new(LegId(0), local, session_id);
    let offer = template.offer(&negotiation, &first);
    let mut ringing = Vec::new();
    for target in targets {
        if let Some(leg) = call.invite(target, offer.clone()).await {
            tracing::debug!(%leg, "ringing contact");
            let mut fork = template.clone();
            fork.sip = leg;
            call.callees.insert(leg, fork);
            call.media_of.insert(local.leg, leg);
            ringing.push(leg);
        }
    }
    if ringing.is_empty() {
        let _ = call.media.remove_leg(local.leg).await;
        return DialResult::Failed(503);
    }
    let deadline = after(ring_timeout);
    let mut failures = Vec::new();
    let mut sent_progress = false;
    loop {
        let Some(event) = call.next(deadline).await else {
            cancel_all(call, &mut ringing).await;
            return DialResult::CallerGone;
        };
        match event {
            Event::Leg(LegEvent::Ringing { leg, code, sdp }) if ringing.contains(&leg) => {
                if !early {
                    continue;
                }
                match sdp {
                    Some(sdp) if early_media(call, leg, &sdp).await => sent_progress = true,
                    _ if !sent_progress => {
                        sent_progress = true;
                        call.send(CallCommand::Progress {
                            leg: call.caller.sip,
                            code,
                            sdp: None,
                        })
                        .await;
                    }
                    _ => {}
                }
            }
            Event::Leg(LegEvent::Answered { leg, sdp }) => {
                if !ringing.contains(&leg) {
                    call.send(CallCommand::Hangup { leg }).await;
                    continue;
                }
                ringing.retain(|l| *l != leg);
                if let Some(sdp) = sdp
                    && !callee_answer(call, leg, &sdp).await
                {
                    call.end_callee(leg).await;
                    failures.push(488);
                    if ringing.is_empty() {
                        return DialResult::Failed(select_final(&failures));
                    }
                    continue;
                }
                tracing::info!(%leg, "answered");
                cancel_all(call, &mut ringing).await;
                call.media_of.insert(local.leg, leg);
                return DialResult::Answered(leg);
            }
            Event::Leg(LegEvent::Hangup { leg, .. }) if leg == call.caller.sip => {
                cancel_all(call, &mut ringing).await;
                return DialResult::CallerGone;
            }
            Event::Leg(LegEvent::Hangup { leg, cause }) if ringing.contains(&leg) => {
                ringing.retain(|l| *l != leg);
                call.drop_callee(leg).await;
                failures.push(match cause {
                    HangupCause::Rejected(code) => code,
                    HangupCause::Timeout => 408,
                    _ => 480,
                });
                if ringing.is_empty() {
                    let code = select_final(&failures);
                    tracing::info!(code, "every contact failed");
                    return DialResult::Failed(code);
                }
            }
            Event::Deadline => {
                tracing::info!("no answer before the ring timeout");
                cancel_all(call, &mut ringing).await;
                return DialResult::NoAnswer;
            }
            Event::MediaTimeout => {
                cancel_all(call, &mut ringing).await;
                return DialResult::MediaTimeout;
            }
            other => tracing::trace!(?other, "not used while ringing"),
        }
    }
}

async fn cancel_all(call: &mut Call, ringing: &mut Vec<LegId>) {
    for leg in std::mem::take(ringing) {
        call.end_callee(leg).await;
    }
}

/// Reads a callee's SDP answer and pushes it to its media leg; `false` if unusable.
async fn callee_answer(call: &mut Call, leg: LegId, sdp: &[u8]) -> bool {
    let negotiation = call.services.negotiation.clone();
    let other = call.caller.codec();
    let Some(callee) = call.callees.get_mut(&leg) else {
        return false;
    };
    if let Err(err) = callee.accept(&negotiation, sdp, other) {
        tracing::info!(%leg, %err, "callee's answer unusable");
        return false;
    }
    let (media_leg, remote) = (callee.local.leg, callee.remote.clone());
    if let Some(remote) = remote {
        let _ = call.media.set_remote(media_leg, remote).await;
    }
    true
}

/// A 183 with SDP while the caller is not answered: the caller gets our answer in a 183 and
/// hears the callee's early media through us.
async fn early_media(call: &mut Call, leg: LegId, sdp: &[u8]) -> bool {
    // A caller that sent no offer would need ours in a reliable 18x (RFC 3262): plain 180 then.
    if call.caller_offer.is_none() || !callee_answer(call, leg, sdp).await {
        return false;
    }
    let callee_codec = call.callees.get(&leg).and_then(SdpLeg::codec);
    let prefer: Vec<CodecKind> = callee_codec.into_iter().collect();
    let Ok(answer) = call.caller_sdp(&prefer, callee_codec).await else {
        return false;
    };
    if let Some(callee) = call.callees.get(&leg) {
        let _ = call
            .media
            .bridge(call.caller.local.leg, callee.local.leg)
            .await;
    }
    call.send(CallCommand::Progress {
        leg: call.caller.sip,
        code: 183,
        sdp: Some(answer),
    })
    .await;
    true
}
