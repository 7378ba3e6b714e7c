//! What every phase of a call works with: its legs (the caller's and the callees'), their SDP,
//! the outgoing command queue, the DTMF merger, the agents the call holds, and the record. The
//! events that mean the same in every phase (re-INVITEs, an answer in an ACK, SIP INFO digits,
//! media reports) are handled here before a phase sees anything.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ezk_sip_types::uri::NameAddr;
use jiff::Timestamp;
use switchboard_acd::io::ClaimKind;
use switchboard_media::codec::CodecKind;
use switchboard_media::dtmf::merge::{Merger, MergerConfig};
use switchboard_media::dtmf::{DtmfEvent, info};
use switchboard_sip::ua::{HangupCause, LegEvent, OutboundCall};

use super::{CallConfig, Command, Input, MediaCommand, Outcome, ReqId, SdpLeg};
use crate::media::{LocalMedia, MediaEvent, MediaLegId};
use crate::protocol::{
    CallCommand, CallRecord, CallRef, CallSetup, Caller, Direction, Disposition, HangupSide, LegId,
    LegRecord, LegRole, Route,
};

/// What a phase sees once the common handling is done.
#[derive(Debug)]
pub(crate) enum Event {
    /// A key press of the caller (merged from RFC 4733, in-band and SIP INFO).
    Digit(char),
    /// A leg event the phase acts on (ringing, answered, a callee's hangup…).
    Leg(LegEvent),
    /// The caller hung up (BYE, CANCEL, or its INVITE timed out).
    CallerLeft(HangupCause),
    /// A media event the phase acts on (playback done, voicemail done).
    Media(MediaEvent),
    /// A leg sent no RTP for the configured time.
    MediaTimeout,
    /// The ACD decided.
    Acd(switchboard_acd::Output),
    /// [`Input::Invited`].
    Invited(ReqId, Option<LegId>),
    /// [`Input::Contacts`].
    Contacts(ReqId, Vec<OutboundCall>),
    /// [`Input::MediaLeg`].
    MediaLeg(ReqId, Result<LocalMedia, String>),
    /// [`Input::Http`].
    Http(
        ReqId,
        Result<
            switchboard_dialplan::interp::HttpResponse,
            switchboard_dialplan::interp::HttpFailure,
        >,
    ),
}

/// The caller's leg.
#[derive(Debug)]
pub(crate) struct CallerLeg {
    /// Its SIP leg.
    pub(crate) sip: LegId,
    /// Its media, once allocated.
    pub(crate) media: Option<SdpLeg>,
    /// Its offer, until answered (None: a late offer).
    pub(crate) offer: Option<Bytes>,
    /// The IP its INVITE came from, when certain (vouches for its SDP address: see
    /// [`SdpLeg`]).
    pub(crate) signalling_ip: Option<std::net::IpAddr>,
    /// A final response went out (200 or a rejection).
    pub(crate) final_sent: bool,
    /// It has gone (BYE/CANCEL seen, or ended by us): nothing more is sent to it.
    pub(crate) gone: bool,
    /// When the caller was answered.
    pub(crate) answered: Option<Instant>,
    /// Why it ended, when known.
    pub(crate) end_cause: Option<String>,
}

/// A callee leg (a fork of a dial, an agent rung for a queue call).
#[derive(Debug)]
pub(crate) struct CalleeLeg {
    /// Its media (forks of one ringing share the media leg, each with its own SDP state).
    pub(crate) sdp: SdpLeg,
    /// Callee or agent.
    pub(crate) role: LegRole,
    /// Who.
    pub(crate) party: String,
    /// When the INVITE went.
    pub(crate) started: Instant,
    /// When it answered.
    pub(crate) answered: Option<Instant>,
    /// Its number among the call's legs.
    pub(crate) index: u32,
}

/// The call's shared state.
#[derive(Debug)]
pub(crate) struct Cx {
    pub(crate) cfg: Arc<CallConfig>,
    pub(crate) call: CallRef,
    pub(crate) call_id: String,
    pub(crate) from: Option<NameAddr>,
    pub(crate) caller_class: Caller,
    pub(crate) max_forwards: u8,
    t0: Instant,
    wall0: Timestamp,
    pub(crate) out: VecDeque<Command>,
    next: u64,
    pub(crate) caller: CallerLeg,
    pub(crate) callees: HashMap<LegId, CalleeLeg>,
    dtmf: Merger,
    pub(crate) rec: CallRecord,
    /// Agents this call holds busy in the ACD (released when the call ends).
    pub(crate) claimed: Vec<String>,
    /// The caller talked to someone.
    pub(crate) bridged_ever: bool,
    /// The caller left a voicemail.
    pub(crate) voicemail: bool,
    /// The last queue gave the call back and nothing took it since.
    pub(crate) overflowed: bool,
    /// Media legs asked for and no longer wanted: freed as they arrive.
    pub(crate) discard_media: Vec<ReqId>,
    /// Legs placed so far (the caller's is 0).
    legs_placed: u32,
}

impl Cx {
    pub(crate) fn new(
        now: Instant,
        wall: Timestamp,
        setup: CallSetup,
        cfg: Arc<CallConfig>,
    ) -> (Cx, Route) {
        let caller_number = match (
            setup
                .from
                .as_ref()
                .and_then(|f| switchboard_sip::uri_user(&f.uri)),
            &setup.caller,
        ) {
            (_, Caller::Agent(ext)) => ext.clone(),
            (Some(user), _) => user,
            (None, Caller::Trunk(_)) => String::new(),
        };
        let (direction, trunk) = match (&setup.caller, &setup.route.route) {
            (Caller::Trunk(name), _) => (Direction::Inbound, Some(name.clone())),
            (Caller::Agent(_), _) => (Direction::Internal, None),
        };
        // The call's start counts from the INVITE, not from when the task got to it.
        let started = setup.at.min(now);
        let rec = CallRecord::new(
            setup.call,
            setup.call_id.clone(),
            started,
            direction,
            trunk,
            caller_number,
            setup.dialled.clone(),
        );
        let mut cx = Cx {
            cfg,
            call: setup.call,
            call_id: setup.call_id,
            from: setup.from,
            caller_class: setup.caller,
            max_forwards: setup.max_forwards,
            t0: now,
            wall0: wall,
            out: VecDeque::new(),
            next: 1,
            caller: CallerLeg {
                sip: setup.inbound,
                media: None,
                offer: setup.offer,
                signalling_ip: setup.route.signalling_ip,
                final_sent: false,
                gone: false,
                answered: None,
                end_cause: None,
            },
            callees: HashMap::new(),
            dtmf: Merger::new(MergerConfig::default()),
            rec,
            claimed: Vec::new(),
            bridged_ever: false,
            voicemail: false,
            overflowed: false,
            discard_media: Vec::new(),
            legs_placed: 0,
        };
        cx.out
            .push_back(Command::RecordStarted(Box::new(cx.rec.clone())));
        let caller_leg = cx.caller_leg(None);
        cx.out.push_back(Command::RecordLeg(Box::new(caller_leg)));
        (cx, setup.route.route)
    }

    /// The next leg's number.
    pub(crate) fn next_leg_index(&mut self) -> u32 {
        self.legs_placed += 1;
        self.legs_placed
    }

    /// The caller's leg as a record, ended at `ended`.
    fn caller_leg(&self, ended: Option<Instant>) -> LegRecord {
        LegRecord {
            index: 0,
            role: LegRole::Caller,
            party: self.rec.caller.clone(),
            started: self.rec.started,
            answered: self.caller.answered,
            ended,
            code: None,
            cause: ended
                .map(|_| {
                    self.caller
                        .end_cause
                        .clone()
                        .unwrap_or_else(|| "local".into())
                })
                .unwrap_or_default(),
            codec: self
                .caller
                .media
                .as_ref()
                .and_then(|m| m.remote.as_ref())
                .map(|r| r.codec.encoding_name().to_owned()),
        }
    }

    /// Writes the leg of the party the caller is now connected to, so a crash keeps it (the
    /// forks that did not answer are written at the end only: cheaper, and a crash loses
    /// nothing that matters about them).
    pub(crate) fn record_connected_leg(&mut self, leg: LegId) {
        if let Some(callee) = self.callees.get(&leg) {
            let record = LegRecord {
                index: callee.index,
                role: callee.role,
                party: callee.party.clone(),
                started: callee.started,
                answered: callee.answered,
                ended: None,
                code: None,
                cause: String::new(),
                codec: callee
                    .sdp
                    .remote
                    .as_ref()
                    .map(|r| r.codec.encoding_name().to_owned()),
            };
            self.out.push_back(Command::RecordLeg(Box::new(record)));
        }
    }

    /// Writes what the call has learnt so far, so a crash keeps it.
    pub(crate) fn progress(&mut self) {
        self.out
            .push_back(Command::RecordProgress(Box::new(self.rec.clone())));
    }

    /// A fresh id for a request or a playback.
    pub(crate) fn req(&mut self) -> ReqId {
        self.next += 1;
        ReqId(self.next)
    }

    /// `now` on the wall clock.
    pub(crate) fn wall(&self, now: Instant) -> Timestamp {
        let since = now.saturating_duration_since(self.t0);
        jiff::SignedDuration::try_from(since)
            .ok()
            .and_then(|d| self.wall0.checked_add(d).ok())
            .unwrap_or(self.wall0)
    }

    pub(crate) fn sip(&mut self, command: CallCommand) {
        self.out.push_back(Command::Sip(command));
    }

    pub(crate) fn media(&mut self, command: MediaCommand) {
        self.out.push_back(Command::Media(command));
    }

    pub(crate) fn acd(&mut self, input: switchboard_acd::Input) {
        self.out.push_back(Command::Acd(input));
    }

    /// The caller's media leg, once allocated.
    pub(crate) fn caller_media(&self) -> Option<MediaLegId> {
        self.caller.media.as_ref().map(|m| m.local.leg)
    }

    /// The caller's PCM rate (what prompts are decoded at).
    pub(crate) fn caller_rate(&self) -> u32 {
        self.caller
            .media
            .as_ref()
            .and_then(|m| m.remote.as_ref())
            .map_or(8000, crate::media::pcm_rate)
    }

    pub(crate) fn set_caller_media(&mut self, local: LocalMedia) {
        let session_id = self.cfg.seed ^ local.leg.0.wrapping_mul(0x9E37_79B9);
        self.caller.media = Some(SdpLeg::new(
            self.caller.sip,
            local,
            session_id,
            self.caller.signalling_ip,
        ));
    }

    /// An agent's call holds it busy in the ACD (a caller agent is always granted).
    pub(crate) fn claim_caller(&mut self, now: Instant) {
        if let Caller::Agent(ext) = &self.caller_class {
            let agent = ext.clone();
            self.claim(now, &agent, ClaimKind::Caller);
        }
    }

    /// Asks the ACD to hold `agent` busy for this call.
    pub(crate) fn claim(&mut self, now: Instant, agent: &str, kind: ClaimKind) {
        self.claimed.push(agent.to_owned());
        self.acd(switchboard_acd::Input::Claim {
            call: self.call,
            agent: switchboard_acd::AgentId::new(agent),
            kind,
            at: now,
        });
    }

    /// The call no longer holds `agent`.
    pub(crate) fn release(&mut self, now: Instant, agent: &str) {
        if let Some(i) = self.claimed.iter().position(|a| a == agent) {
            self.claimed.swap_remove(i);
            self.acd(switchboard_acd::Input::Release {
                call: self.call,
                agent: switchboard_acd::AgentId::new(agent),
                at: now,
            });
        }
    }

    /// Answers the caller (200 with our SDP) if not done yet; `prefer` lists codecs to pick
    /// first (the callee's, so nothing is transcoded). `Err` carries the status the caller got.
    pub(crate) fn answer_caller(&mut self, now: Instant, prefer: &[CodecKind]) -> Result<(), u16> {
        if self.caller.final_sent {
            return if self.caller.gone { Err(487) } else { Ok(()) };
        }
        let sdp = match self.caller_sdp(prefer, None) {
            Ok(sdp) => sdp,
            Err(code) => {
                self.end_caller(now, code);
                return Err(code);
            }
        };
        self.caller.final_sent = true;
        self.caller.answered = Some(now);
        let leg = self.caller.sip;
        self.sip(CallCommand::Answer {
            leg,
            sdp: Some(sdp),
        });
        Ok(())
    }

    /// The status to refuse the caller with when its offer can never be answered (see
    /// `Negotiation::check_offer`); `None` for a usable offer or none at all (a late offer).
    pub(crate) fn unusable_offer(&self) -> Option<u16> {
        let offer = self.caller.offer.as_deref()?;
        let err = self.cfg.negotiation.check_offer(offer).err()?;
        tracing::info!(%err, status = err.status, "caller's offer refused");
        Some(err.status)
    }

    /// Our SDP for the caller: the answer to its offer (made once, then repeated), or our offer
    /// when it sent none. `Err` is the status to refuse the call with (488, 400).
    pub(crate) fn caller_sdp(
        &mut self,
        prefer: &[CodecKind],
        other: Option<CodecKind>,
    ) -> Result<Bytes, u16> {
        let negotiation = self.cfg.negotiation.clone();
        let offer = self.caller.offer.clone();
        let Some(media) = self.caller.media.as_mut() else {
            return Err(503);
        };
        if let (Some(sdp), Some(_)) = (&media.last_sdp, &media.remote) {
            return Ok(sdp.clone());
        }
        match offer {
            Some(offer) => {
                let sdp = media
                    .answer(&negotiation, &offer, prefer, other)
                    .map_err(|err| {
                        tracing::info!(%err, "caller's offer refused");
                        err.status
                    })?;
                if let Some(remote) = media.remote.clone() {
                    let leg = media.local.leg;
                    self.media(MediaCommand::SetRemote { leg, remote });
                }
                Ok(sdp)
            }
            None => Ok(media.offer(&negotiation, prefer)),
        }
    }

    /// Ends the caller's leg: BYE once answered, else the final status `code`.
    pub(crate) fn end_caller(&mut self, _now: Instant, code: u16) {
        if self.caller.gone {
            return;
        }
        self.caller.gone = true;
        let leg = self.caller.sip;
        if self.caller.final_sent {
            self.caller.end_cause.get_or_insert_with(|| "local".into());
            self.sip(CallCommand::Hangup { leg });
        } else {
            self.caller.final_sent = true;
            self.caller
                .end_cause
                .get_or_insert_with(|| format!("rejected-{code}"));
            self.sip(CallCommand::Reject { leg, code });
        }
    }

    /// Ends a callee leg from our side (CANCEL or BYE) and records it.
    pub(crate) fn end_callee(&mut self, now: Instant, leg: LegId) {
        if self.callees.contains_key(&leg) {
            self.sip(CallCommand::Hangup { leg });
            self.drop_callee(now, leg, "local", None);
        }
    }

    /// Forgets a callee leg that ended, recording how. Its media leg is its owner's to free.
    pub(crate) fn drop_callee(&mut self, now: Instant, leg: LegId, cause: &str, code: Option<u16>) {
        if let Some(callee) = self.callees.remove(&leg) {
            let record = LegRecord {
                index: callee.index,
                role: callee.role,
                party: callee.party,
                started: callee.started,
                answered: callee.answered,
                ended: Some(now),
                code,
                cause: cause.to_owned(),
                codec: callee
                    .sdp
                    .remote
                    .as_ref()
                    .map(|r| r.codec.encoding_name().to_owned()),
            };
            self.out
                .push_back(Command::RecordLeg(Box::new(record.clone())));
            self.rec.legs.push(record);
        }
    }

    /// The common handling: what every phase treats the same way. `None` when the input is
    /// dealt with.
    pub(crate) fn filter(&mut self, now: Instant, input: Input) -> Option<Event> {
        match input {
            Input::Leg(event) => self.leg_event(now, event),
            Input::Media(event) => self.media_event(now, event),
            Input::Acd(output) => Some(Event::Acd(output)),
            Input::Invited { req, leg } => Some(Event::Invited(req, leg)),
            Input::Contacts { req, targets } => Some(Event::Contacts(req, targets)),
            Input::MediaLeg { req, result } => {
                if let Some(i) = self.discard_media.iter().position(|r| *r == req) {
                    self.discard_media.swap_remove(i);
                    if let Ok(local) = result {
                        self.media(MediaCommand::RemoveLeg { leg: local.leg });
                    }
                    return None;
                }
                Some(Event::MediaLeg(req, result))
            }
            Input::Http { req, result } => Some(Event::Http(req, result)),
            Input::MediaFailed { .. } | Input::Hangup { .. } => None,
        }
    }

    fn leg_event(&mut self, now: Instant, event: LegEvent) -> Option<Event> {
        match event {
            LegEvent::Reinvite { leg, sdp } => {
                self.on_reinvite(leg, sdp);
                None
            }
            LegEvent::Ack { leg, sdp } => {
                self.on_ack_answer(now, leg, &sdp);
                None
            }
            LegEvent::Info {
                leg,
                content_type,
                body,
            } => {
                if leg != self.caller.sip {
                    return None;
                }
                let digit = info::parse(content_type.as_deref().unwrap_or(""), &body).ok()?;
                let event: DtmfEvent = digit.into_event(now, Duration::from_millis(100));
                self.dtmf
                    .push(now, event)
                    .map(|e| Event::Digit(e.digit.as_char()))
            }
            LegEvent::Hangup { leg, cause } if leg == self.caller.sip => {
                self.caller.gone = true;
                self.caller.final_sent = true;
                self.caller.end_cause = Some(cause.as_str().to_owned());
                Some(Event::CallerLeft(cause))
            }
            other => Some(Event::Leg(other)),
        }
    }

    fn media_event(&mut self, now: Instant, event: MediaEvent) -> Option<Event> {
        match event {
            MediaEvent::Dtmf { leg, event } => {
                // Digits count from the caller only; an agent's key presses are not the IVR's.
                if Some(leg) != self.caller_media() {
                    return None;
                }
                self.dtmf
                    .push(now, event)
                    .map(|e| Event::Digit(e.digit.as_char()))
            }
            MediaEvent::Timeout { leg, silent_for } => {
                let (role, party) = self.party_of(leg);
                tracing::info!(
                    role,
                    party = %crate::redact::number(&party),
                    leg = %leg,
                    silent_s = silent_for.as_secs(),
                    "no RTP from this party: hanging up"
                );
                Some(Event::MediaTimeout)
            }
            MediaEvent::RecordingFailed { path, error } => {
                tracing::error!(path = %path.display(), %error, "recording failed; the call goes on");
                None
            }
            MediaEvent::LegSummary { leg, summary } => {
                summary.log(leg);
                None
            }
            other => Some(Event::Media(other)),
        }
    }

    /// Who a media leg is: the caller (with its number) or a callee (an agent's extension, a
    /// dialled number), for log lines an operator reads.
    fn party_of(&self, leg: MediaLegId) -> (&'static str, String) {
        if Some(leg) == self.caller_media() {
            return ("caller", self.rec.caller.clone());
        }
        self.callees
            .values()
            .find(|c| c.sdp.local.leg == leg)
            .map_or_else(
                || ("unknown", String::new()),
                |c| {
                    let role = match c.role {
                        LegRole::Agent => "agent",
                        _ => "callee",
                    };
                    (role, c.party.clone())
                },
            )
    }

    /// The codec the leg on the other side of `leg` runs.
    fn other_codec(&self, leg: LegId) -> Option<CodecKind> {
        if leg == self.caller.sip {
            self.callees
                .values()
                .find(|c| c.answered.is_some())
                .and_then(|c| c.sdp.codec())
        } else {
            self.caller.media.as_ref().and_then(SdpLeg::codec)
        }
    }

    fn sdp_leg_mut(&mut self, leg: LegId) -> Option<&mut SdpLeg> {
        if leg == self.caller.sip {
            self.caller.media.as_mut()
        } else {
            self.callees.get_mut(&leg).map(|c| &mut c.sdp)
        }
    }

    /// A re-INVITE is answered on the leg that sent it (hold, unhold, codec change): with an
    /// offer, our answer; without one, our offer (its answer comes in the ACK).
    fn on_reinvite(&mut self, leg: LegId, sdp: Option<Bytes>) {
        let negotiation = self.cfg.negotiation.clone();
        let other = self.other_codec(leg);
        let Some(state) = self.sdp_leg_mut(leg) else {
            self.sip(CallCommand::AnswerReinvite {
                leg,
                code: 481,
                sdp: None,
            });
            return;
        };
        let current: Vec<CodecKind> = state.codec().into_iter().collect();
        let (code, answer) = match sdp {
            Some(offer) => match state.answer(&negotiation, &offer, &current, other) {
                Ok(answer) => (200, Some(answer)),
                Err(err) => {
                    tracing::info!(%err, "re-INVITE refused; media unchanged");
                    (err.status, None)
                }
            },
            None => (200, Some(state.offer(&negotiation, &current))),
        };
        let remote = (code == 200).then(|| state.remote.clone()).flatten();
        let media_leg = state.local.leg;
        if let Some(remote) = remote {
            tracing::info!(%leg, send = remote.send, recv = remote.recv, codec = %remote.codec, "re-INVITE answered");
            self.media(MediaCommand::SetRemote {
                leg: media_leg,
                remote,
            });
        }
        self.sip(CallCommand::AnswerReinvite {
            leg,
            code,
            sdp: answer,
        });
    }

    /// The answer to the offer we put in a 2xx, carried by the ACK.
    fn on_ack_answer(&mut self, now: Instant, leg: LegId, sdp: &[u8]) {
        let negotiation = self.cfg.negotiation.clone();
        let other = self.other_codec(leg);
        let Some(state) = self.sdp_leg_mut(leg) else {
            return;
        };
        match state.accept(&negotiation, sdp, other) {
            Ok(()) => {
                let (media_leg, remote) = (state.local.leg, state.remote.clone());
                if let Some(remote) = remote {
                    self.media(MediaCommand::SetRemote {
                        leg: media_leg,
                        remote,
                    });
                }
            }
            // RFC 3261 §13.3.1.4 leaves us only BYE for an unusable answer in an ACK.
            Err(err) => {
                tracing::info!(%err, %leg, "the answer in the ACK is unusable: hanging up");
                if leg == self.caller.sip {
                    self.end_caller(now, 488);
                } else {
                    self.end_callee(now, leg);
                }
            }
        }
    }

    /// Where the recording of a conversation with `agent` goes.
    pub(crate) fn recording_path(&self, now: Instant, agent: &str) -> Option<PathBuf> {
        let rec = &self.cfg.recording;
        if !rec.enabled {
            return None;
        }
        let zoned = self.wall(now).to_zoned(self.cfg.tz.clone());
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "+-_.@".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        Some(PathBuf::from(
            rec.path
                .replace("{date}", &zoned.strftime("%Y-%m-%d").to_string())
                .replace("{time}", &zoned.strftime("%H%M%S").to_string())
                .replace("{call_id}", &safe(&self.call_id))
                .replace("{caller}", &safe(&self.rec.caller))
                .replace("{callee}", &safe(agent))
                .replace("{agent}", &safe(agent)),
        ))
    }

    /// The call is over: every leg still up is ended, the agents it held are released, and
    /// its record goes out last.
    pub(crate) fn finish(&mut self, now: Instant, outcome: &Outcome) {
        let code = match outcome {
            Outcome::Unanswered(code) => *code,
            Outcome::Failed(_) => 500,
            _ => 480,
        };
        let mut legs: Vec<LegId> = self.callees.keys().copied().collect();
        legs.sort_unstable();
        for leg in legs {
            self.end_callee(now, leg);
        }
        self.end_caller(now, code);
        for agent in std::mem::take(&mut self.claimed) {
            self.acd(switchboard_acd::Input::Release {
                call: self.call,
                agent: switchboard_acd::AgentId::new(agent),
                at: now,
            });
        }
        let caller_leg = self.caller_leg(Some(now));
        self.rec.legs.insert(0, caller_leg);
        self.rec.legs.sort_by_key(|l| l.index);
        self.rec.ended = Some(now);
        self.rec.disposition = Some(self.disposition(outcome));
        self.rec.hangup_side = Some(match outcome {
            Outcome::CallerHungUp => HangupSide::Caller,
            Outcome::CalleeHungUp => HangupSide::Callee,
            _ => HangupSide::Switch,
        });
        self.rec.hangup_cause = Some(outcome.cause());
        tracing::info!(
            cause = %outcome.cause(),
            disposition = self.rec.disposition.map_or("", Disposition::as_str),
            duration_s = now.saturating_duration_since(self.rec.started).as_secs(),
            "call ended"
        );
        let record = Box::new(self.rec.clone());
        self.out.push_back(Command::Finish(record));
    }

    fn disposition(&self, outcome: &Outcome) -> Disposition {
        if self.bridged_ever {
            return Disposition::Answered;
        }
        match outcome {
            Outcome::Failed(_) | Outcome::Unanswered(_) => Disposition::Failed,
            Outcome::Dialplan(cause) if cause == "callback" => Disposition::Callback,
            _ if self.voicemail => Disposition::Voicemail,
            Outcome::Dialplan(cause) if cause == "voicemail" => Disposition::Voicemail,
            _ if self.overflowed => Disposition::Overflow,
            Outcome::Dialplan(_) | Outcome::Ended(_) => Disposition::Completed,
            Outcome::CallerHungUp | Outcome::MediaTimeout | Outcome::CalleeHungUp => {
                Disposition::Abandoned
            }
        }
    }
}
