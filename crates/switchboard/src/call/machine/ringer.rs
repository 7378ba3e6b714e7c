//! Ringing callees: one INVITE per contact (a parallel fork), all offering the same media leg
//! of ours, in groups that ring and time out together: a direct call or a dialplan `dial` is
//! one group; a queue call has one group per ACD offer (ring-all: one per agent). The first
//! usable answer anywhere wins and every other fork is cancelled (RFC 3261 §16.7 in a B2BUA's
//! terms); a group whose forks all failed reports the most telling status.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use switchboard_media::codec::CodecKind;
use switchboard_sip::ua::{HangupCause, LegEvent, OutboundCall};

use super::cx::{CalleeLeg, Cx, Event};
use super::{Command, MediaCommand, ReqId, SdpLeg};
use crate::call::select_final;
use crate::media::{MediaLegId, Role};
use crate::protocol::{CallCommand, LegId, LegRole};

/// How a group of forks ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rung {
    /// This fork answered with usable media; every other fork is being cancelled. Its media
    /// leg is now the winner's ([`Ringer::take_media`]).
    Answered {
        /// The group.
        key: u64,
        /// The fork.
        leg: LegId,
    },
    /// Every fork of the group failed; the most telling status.
    Failed {
        /// The group.
        key: u64,
        /// The status.
        code: u16,
    },
    /// The group rang for its whole ring timeout.
    NoAnswer {
        /// The group.
        key: u64,
    },
}

#[derive(Debug)]
enum Slot {
    /// Not asked for yet.
    Idle,
    /// Asked for.
    Requested(ReqId),
    /// Ours, with the offer made on it (each fork clones it). Boxed: an SDP leg dwarfs the
    /// other states.
    Ready(Box<SdpLeg>),
    /// No port could be had.
    Failed,
}

#[derive(Debug)]
struct Group {
    key: u64,
    party: String,
    /// Targets waiting for the media leg.
    queued: Vec<OutboundCall>,
    /// INVITEs sent whose leg id has not come back yet, with the IP each went to (the fork's
    /// signalling source, which vouches for the SDP address its answer names).
    inviting: Vec<(ReqId, IpAddr)>,
    forks: Vec<LegId>,
    failures: Vec<u16>,
    deadline: Instant,
}

impl Group {
    fn is_spent(&self, slot: &Slot) -> bool {
        self.forks.is_empty()
            && self.inviting.is_empty()
            && (self.queued.is_empty() || matches!(slot, Slot::Failed))
    }
}

/// The forks of a call and the callee media leg they share.
#[derive(Debug)]
pub(crate) struct Ringer {
    role: LegRole,
    slot: Slot,
    groups: Vec<Group>,
    /// Relay the callees' progress (180, 183 with early media) to the unanswered caller.
    early: bool,
    sent_progress: bool,
}

impl Ringer {
    pub(crate) fn new(role: LegRole, early: bool) -> Ringer {
        Ringer {
            role,
            slot: Slot::Idle,
            groups: Vec::new(),
            early,
            sent_progress: false,
        }
    }

    /// Whether nothing rings.
    pub(crate) fn is_idle(&self) -> bool {
        self.groups.is_empty()
    }

    /// The earliest ring timeout.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.groups.iter().map(|g| g.deadline).min()
    }

    /// Rings `targets` as group `key` for at most `ring_timeout`. No target: the group fails
    /// at once with 480.
    pub(crate) fn ring(
        &mut self,
        cx: &mut Cx,
        now: Instant,
        key: u64,
        party: &str,
        targets: Vec<OutboundCall>,
        ring_timeout: Duration,
    ) -> Option<Rung> {
        if targets.is_empty() {
            return Some(Rung::Failed { key, code: 480 });
        }
        let mut group = Group {
            key,
            party: party.to_owned(),
            queued: targets,
            inviting: Vec::new(),
            forks: Vec::new(),
            failures: Vec::new(),
            deadline: now + ring_timeout,
        };
        match &self.slot {
            Slot::Idle => {
                let req = cx.req();
                cx.media(MediaCommand::AddLeg {
                    req,
                    role: Role::Callee,
                });
                self.slot = Slot::Requested(req);
            }
            Slot::Requested(_) => {}
            Slot::Ready(template) => {
                let template = template.as_ref().clone();
                Self::invite(cx, &template, &mut group);
            }
            Slot::Failed => return Some(Rung::Failed { key, code: 503 }),
        }
        self.groups.push(group);
        None
    }

    fn invite(cx: &mut Cx, template: &SdpLeg, group: &mut Group) {
        let offer = template.last_sdp.clone();
        for mut target in std::mem::take(&mut group.queued) {
            target.sdp.clone_from(&offer);
            let req = cx.req();
            let dest = target.dest.addr.ip();
            cx.out.push_back(Command::Invite {
                req,
                call: Box::new(target),
            });
            group.inviting.push((req, dest));
        }
    }

    /// Takes the events that concern the forks; what comes back is every group that ended.
    /// `false` in the first place: not ours.
    pub(crate) fn on_event(
        &mut self,
        cx: &mut Cx,
        now: Instant,
        event: &Event,
    ) -> (bool, Vec<Rung>) {
        let mut done = Vec::new();
        let ours = match event {
            Event::MediaLeg(req, result) if matches!(self.slot, Slot::Requested(r) if r == *req) => {
                self.on_media(cx, result.clone(), &mut done);
                true
            }
            Event::Invited(req, leg) => self.on_invited(cx, now, *req, *leg, &mut done),
            Event::Leg(LegEvent::Ringing { leg, code, sdp }) if self.owns(*leg) => {
                self.on_ringing(cx, *leg, *code, sdp.as_deref());
                true
            }
            Event::Leg(LegEvent::Answered { leg, sdp }) if self.owns(*leg) => {
                self.on_answered(cx, now, *leg, sdp.as_deref(), &mut done);
                true
            }
            Event::Leg(LegEvent::Hangup { leg, cause }) if self.owns(*leg) => {
                self.on_fork_ended(cx, now, *leg, *cause, &mut done);
                true
            }
            _ => false,
        };
        (ours, done)
    }

    fn owns(&self, leg: LegId) -> bool {
        self.groups.iter().any(|g| g.forks.contains(&leg))
    }

    fn on_media(
        &mut self,
        cx: &mut Cx,
        result: Result<crate::media::LocalMedia, String>,
        done: &mut Vec<Rung>,
    ) {
        match result {
            Ok(local) => {
                let negotiation = cx.cfg.negotiation.clone();
                // The caller's codec first, so the callee can pick it and we relay untouched.
                let first: Vec<CodecKind> = match (
                    cx.caller.media.as_ref().and_then(SdpLeg::codec),
                    cx.caller.offer.as_deref(),
                ) {
                    (Some(codec), _) => vec![codec],
                    (None, Some(offer)) => negotiation.offered(offer),
                    (None, None) => Vec::new(),
                };
                let session_id = cx.cfg.seed ^ local.leg.0.rotate_left(17);
                let mut template = SdpLeg::new(LegId(0), local, session_id, None);
                template.offer(&negotiation, &first);
                for group in &mut self.groups {
                    Self::invite(cx, &template, group);
                }
                self.slot = Slot::Ready(Box::new(template));
            }
            Err(err) => {
                tracing::error!(%err, "no RTP port for the callee");
                self.slot = Slot::Failed;
                for group in &mut self.groups {
                    group.failures.push(503);
                }
                self.sweep(done);
            }
        }
    }

    fn on_invited(
        &mut self,
        cx: &mut Cx,
        now: Instant,
        req: ReqId,
        leg: Option<LegId>,
        done: &mut Vec<Rung>,
    ) -> bool {
        let Some(group) = self
            .groups
            .iter_mut()
            .find(|g| g.inviting.iter().any(|(r, _)| *r == req))
        else {
            return false;
        };
        let dest = group
            .inviting
            .iter()
            .find(|(r, _)| *r == req)
            .map(|(_, dest)| *dest);
        group.inviting.retain(|(r, _)| *r != req);
        match (leg, &self.slot) {
            (Some(leg), Slot::Ready(template)) => {
                tracing::debug!(%leg, party = %crate::redact::number(&group.party), "ringing contact");
                let mut sdp = template.as_ref().clone();
                sdp.sip = leg;
                sdp.signalling = dest;
                group.forks.push(leg);
                let index = cx.next_leg_index();
                cx.callees.insert(
                    leg,
                    CalleeLeg {
                        sdp,
                        role: self.role,
                        party: group.party.clone(),
                        started: now,
                        answered: None,
                        index,
                    },
                );
            }
            _ => group.failures.push(503),
        }
        self.sweep(done);
        true
    }

    fn on_ringing(&mut self, cx: &mut Cx, leg: LegId, code: u16, sdp: Option<&[u8]>) {
        if !self.early || cx.caller.final_sent {
            return;
        }
        match sdp {
            Some(sdp) if early_media(cx, leg, sdp) => self.sent_progress = true,
            _ if !self.sent_progress => {
                self.sent_progress = true;
                let caller = cx.caller.sip;
                cx.sip(CallCommand::Progress {
                    leg: caller,
                    code,
                    sdp: None,
                });
            }
            _ => {}
        }
    }

    fn on_answered(
        &mut self,
        cx: &mut Cx,
        now: Instant,
        leg: LegId,
        sdp: Option<&[u8]>,
        done: &mut Vec<Rung>,
    ) {
        let Some(gi) = self.groups.iter().position(|g| g.forks.contains(&leg)) else {
            return;
        };
        self.groups[gi].forks.retain(|l| *l != leg);
        if let Some(sdp) = sdp
            && !callee_answer(cx, leg, sdp)
        {
            cx.end_callee(now, leg);
            self.groups[gi].failures.push(488);
            self.sweep(done);
            return;
        }
        tracing::info!(%leg, "answered");
        if let Some(callee) = cx.callees.get_mut(&leg) {
            callee.answered = Some(now);
        }
        let key = self.groups[gi].key;
        for group in std::mem::take(&mut self.groups) {
            for fork in group.forks {
                cx.end_callee(now, fork);
            }
        }
        done.push(Rung::Answered { key, leg });
    }

    fn on_fork_ended(
        &mut self,
        cx: &mut Cx,
        now: Instant,
        leg: LegId,
        cause: HangupCause,
        done: &mut Vec<Rung>,
    ) {
        let code = match cause {
            HangupCause::Rejected(code) => code,
            HangupCause::Timeout => 408,
            _ => 480,
        };
        cx.drop_callee(now, leg, cause.as_str(), Some(code));
        if let Some(group) = self.groups.iter_mut().find(|g| g.forks.contains(&leg)) {
            group.forks.retain(|l| *l != leg);
            group.failures.push(code);
        }
        self.sweep(done);
    }

    /// Groups with nothing left ringing end with their most telling failure.
    fn sweep(&mut self, done: &mut Vec<Rung>) {
        let slot = &self.slot;
        let mut kept = Vec::with_capacity(self.groups.len());
        for group in std::mem::take(&mut self.groups) {
            if group.is_spent(slot) {
                let code = select_final(&group.failures);
                tracing::info!(code, "every contact failed");
                done.push(Rung::Failed {
                    key: group.key,
                    code,
                });
            } else {
                kept.push(group);
            }
        }
        self.groups = kept;
    }

    /// Groups past their ring timeout are cancelled and reported.
    pub(crate) fn on_timeout(&mut self, cx: &mut Cx, now: Instant) -> Vec<Rung> {
        let mut done = Vec::new();
        let mut kept = Vec::with_capacity(self.groups.len());
        for group in std::mem::take(&mut self.groups) {
            if group.deadline <= now {
                tracing::info!("no answer before the ring timeout");
                for fork in group.forks {
                    cx.end_callee(now, fork);
                }
                done.push(Rung::NoAnswer { key: group.key });
            } else {
                kept.push(group);
            }
        }
        self.groups = kept;
        done
    }

    /// Stops ringing group `key` (no [`Rung`] for it).
    pub(crate) fn cancel(&mut self, cx: &mut Cx, now: Instant, key: u64) {
        if let Some(i) = self.groups.iter().position(|g| g.key == key) {
            let group = self.groups.remove(i);
            for fork in group.forks {
                cx.end_callee(now, fork);
            }
        }
    }

    /// Stops ringing everything (no [`Rung`]s).
    pub(crate) fn cancel_all(&mut self, cx: &mut Cx, now: Instant) {
        for group in std::mem::take(&mut self.groups) {
            for fork in group.forks {
                cx.end_callee(now, fork);
            }
        }
    }

    /// The winner's media leg: the ringer no longer owns it.
    pub(crate) fn take_media(&mut self) -> Option<MediaLegId> {
        match std::mem::replace(&mut self.slot, Slot::Idle) {
            Slot::Ready(template) => Some(template.local.leg),
            other => {
                self.slot = other;
                None
            }
        }
    }

    /// Frees the media leg (nothing answered and nothing rings any more); one still being
    /// allocated is freed when it arrives.
    pub(crate) fn release_media(&mut self, cx: &mut Cx) {
        match std::mem::replace(&mut self.slot, Slot::Idle) {
            Slot::Ready(template) => cx.media(MediaCommand::RemoveLeg {
                leg: template.local.leg,
            }),
            Slot::Requested(req) => cx.discard_media.push(req),
            Slot::Idle | Slot::Failed => {}
        }
    }
}

/// Reads a callee's SDP answer and pushes it to its media leg; `false` if unusable.
pub(crate) fn callee_answer(cx: &mut Cx, leg: LegId, sdp: &[u8]) -> bool {
    let negotiation = cx.cfg.negotiation.clone();
    let other = cx.caller.media.as_ref().and_then(SdpLeg::codec);
    let Some(callee) = cx.callees.get_mut(&leg) else {
        return false;
    };
    if let Err(err) = callee.sdp.accept(&negotiation, sdp, other) {
        tracing::info!(%leg, %err, "callee's answer unusable");
        return false;
    }
    let (media_leg, remote) = (callee.sdp.local.leg, callee.sdp.remote.clone());
    if let Some(remote) = remote {
        cx.media(MediaCommand::SetRemote {
            leg: media_leg,
            remote,
        });
    }
    true
}

/// A 183 with SDP while the caller is not answered: the caller gets our answer in a 183 and
/// hears the callee's early media through us.
fn early_media(cx: &mut Cx, leg: LegId, sdp: &[u8]) -> bool {
    // A caller that sent no offer would need ours in a reliable 18x (RFC 3262): plain 180 then.
    if cx.caller.offer.is_none() || !callee_answer(cx, leg, sdp) {
        return false;
    }
    let callee_codec = cx.callees.get(&leg).and_then(|c| c.sdp.codec());
    let prefer: Vec<CodecKind> = callee_codec.into_iter().collect();
    let Ok(answer) = cx.caller_sdp(&prefer, callee_codec) else {
        return false;
    };
    if let (Some(caller), Some(callee)) = (cx.caller_media(), cx.callees.get(&leg)) {
        let b = callee.sdp.local.leg;
        cx.media(MediaCommand::Bridge { a: caller, b });
    }
    let caller = cx.caller.sip;
    cx.sip(CallCommand::Progress {
        leg: caller,
        code: 183,
        sdp: Some(answer),
    });
    true
}
