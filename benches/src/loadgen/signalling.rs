//! The generator's SIP, sans-IO: for every call it is the carrier (a UAC that INVITEs
//! `sip:<extension>@switch`) and the agent's phone (a UAS on the agent port that answers the
//! INVITE the switch sends on).
//!
//! The two halves of a call are paired by the caller's From user: call `i` calls from
//! `sip:lg-i@…`, and the switch copies the From user (and display name) into the INVITE it sends
//! the agent (`crates/switchboard/src/call/fork.rs`), so the agent side reads `i` back from it.
//!
//! Like the switch's own cores, this owns no socket and reads no clock: feed it
//! [`Signalling::handle_datagram`] and [`Signalling::handle_timeout`] with `now`, then drain
//! [`Signalling::poll_transmit`] and [`Signalling::poll_event`] until `None`, and wake no later
//! than [`Signalling::poll_timeout`]. Retransmissions follow RFC 3261 for the parts a load test
//! meets: the INVITE until a response (Timer A/B, §17.1.1.2), the 200 until its ACK (§13.3.1.4),
//! the BYE until its response (Timer E/F, §17.1.2.2).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::loadgen::caller_requests::{CallerRequests, request_uri};
use crate::loadgen::packet::{CallIndex, Side};
use crate::loadgen::sdp::{self, Codec};
use crate::loadgen::sip_text::{self, Message};

/// What the signalling needs to know about the run.
#[derive(Debug, Clone)]
pub struct SignallingConfig {
    /// The switch's SIP address: every request of the caller side goes there.
    pub switch: SocketAddr,
    /// The caller side's SIP socket (Via, Contact).
    pub caller_sip: SocketAddr,
    /// The agent side's SIP socket (Contact), the agent's static contact in the switch's config.
    pub agent_sip: SocketAddr,
    /// The extension the caller dials (the agent whose contact is `agent_sip`).
    pub extension: String,
    /// Codec the caller offers.
    pub caller_codec: Codec,
    /// Codec the agent answers with.
    pub agent_codec: Codec,
    /// Makes Call-IDs, tags and branches unique across runs against the same switch.
    pub run_id: u64,
    /// RFC 3261 T1 (500 ms).
    pub t1: Duration,
    /// RFC 3261 T2 (4 s), the cap of non-INVITE and 2xx retransmission intervals.
    pub t2: Duration,
}

/// Both RTP sockets of one call, as the SDP will advertise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallMedia {
    /// The caller side's RTP socket.
    pub caller: SocketAddr,
    /// The agent side's RTP socket.
    pub agent: SocketAddr,
}

/// A datagram to send from one of the two SIP sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Which socket sends it.
    pub from: Side,
    /// Where to.
    pub to: SocketAddr,
    /// The message.
    pub bytes: Vec<u8>,
}

/// Why a call never came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// The switch answered the INVITE with this final status.
    Rejected(u16),
    /// No final response within 64·T1 (Timer B).
    Timeout,
    /// The caller was answered but the agent side never saw the call's INVITE.
    NoAgentLeg,
    /// The 200's SDP named no usable address.
    BadSdp,
}

/// What the signalling reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigEvent {
    /// The caller got its 2xx (and ACKed it) and the agent side answered: both ends know where to
    /// send RTP and with which payload type.
    Established {
        /// The call.
        call: CallIndex,
        /// Where the caller side sends (the 200's SDP).
        caller_to: SocketAddr,
        /// Payload type the caller sends.
        caller_pt: u8,
        /// Where the agent side sends (the switch's INVITE SDP).
        agent_to: SocketAddr,
        /// Payload type the agent sends.
        agent_pt: u8,
    },
    /// The call never came up.
    Failed {
        /// The call.
        call: CallIndex,
        /// Why.
        reason: FailReason,
    },
    /// The switch sent a BYE to one side before the generator hung up.
    RemoteHangup {
        /// The call.
        call: CallIndex,
        /// The side that got the BYE.
        side: Side,
    },
    /// The generator's BYE got its final response (or Timer F fired).
    Ended {
        /// The call.
        call: CallIndex,
    },
}

/// Protocol oddities, counted rather than logged (a test tool's report shows them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigCounters {
    /// Retransmitted INVITEs, 200s and BYEs.
    pub retransmissions: u64,
    /// Datagrams that were not SIP the generator can read.
    pub unreadable: u64,
    /// Messages for no call the generator knows (stray, or from an earlier run).
    pub unmatched: u64,
    /// Requests the flows do not use, answered 501.
    pub unexpected: u64,
    /// 200s to the switch's INVITE that never got their ACK.
    pub ack_timeouts: u64,
    /// BYEs that never got a response.
    pub bye_timeouts: u64,
}

#[derive(Debug, Clone)]
enum Uac {
    Idle,
    Inviting {
        invite: Vec<u8>,
        next: Option<Instant>,
        interval: Duration,
        give_up: Instant,
    },
    Confirmed {
        to_tag: String,
        target: String,
        ack: Vec<u8>,
    },
    Byeing {
        bye: Vec<u8>,
        next: Instant,
        interval: Duration,
        give_up: Instant,
    },
    Done,
}

#[derive(Debug, Clone)]
struct Uas {
    /// The switch's Call-ID of the agent leg.
    call_id: String,
    /// Where the switch's requests came from: responses go back there.
    reply_to: SocketAddr,
    /// The 200, resent until its ACK.
    ok: Vec<u8>,
    retransmit: Option<(Instant, Duration)>,
    give_up: Instant,
    rtp_to: SocketAddr,
    pt: u8,
}

#[derive(Debug, Clone)]
struct CallState {
    media: CallMedia,
    call_id: String,
    uac: Uac,
    uas: Option<Uas>,
    /// Where the caller sends RTP, and with which payload type, once answered.
    caller_rtp: Option<(SocketAddr, u8)>,
    established: bool,
    /// The deadline queued in the heap for this call, to recognise stale heap entries.
    scheduled: Option<Instant>,
}

/// The SIP of every call of a run.
#[derive(Debug)]
pub struct Signalling {
    config: SignallingConfig,
    calls: Vec<CallState>,
    by_caller_id: HashMap<String, CallIndex>,
    by_agent_id: HashMap<String, CallIndex>,
    timers: BinaryHeap<Reverse<(Instant, CallIndex)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<SigEvent>,
    counters: SigCounters,
}

impl Signalling {
    /// Signalling for one call per entry of `media` (call `i` uses `media[i]`).
    #[must_use]
    pub fn new(config: SignallingConfig, media: &[CallMedia]) -> Signalling {
        let mut by_caller_id = HashMap::with_capacity(media.len());
        let calls = media
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let call_id = format!("lg{i}-{:x}@loadgen", config.run_id);
                let index = CallIndex(u32::try_from(i).unwrap_or(u32::MAX));
                by_caller_id.insert(call_id.clone(), index);
                CallState {
                    media: *m,
                    call_id,
                    uac: Uac::Idle,
                    uas: None,
                    caller_rtp: None,
                    established: false,
                    scheduled: None,
                }
            })
            .collect();
        Signalling {
            config,
            calls,
            by_caller_id,
            by_agent_id: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: SigCounters::default(),
        }
    }

    /// What was counted so far.
    #[must_use]
    pub fn counters(&self) -> SigCounters {
        self.counters
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<SigEvent> {
        self.events.pop_front()
    }

    /// When [`Signalling::handle_timeout`] is next due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Sends call `call`'s INVITE. Calls out of range, or already started, are ignored.
    pub fn start_call(&mut self, now: Instant, call: CallIndex) {
        let Some(state) = self.calls.get(call.0 as usize) else {
            return;
        };
        if !matches!(state.uac, Uac::Idle) {
            return;
        }
        let invite = self.requests(call).invite(state.media);
        self.send(Side::Caller, self.config.switch, invite.clone());
        let state = &mut self.calls[call.0 as usize];
        state.uac = Uac::Inviting {
            invite,
            next: Some(now + self.config.t1),
            interval: self.config.t1,
            give_up: now + 64 * self.config.t1,
        };
        self.schedule(call);
    }

    /// Ends call `call` from the caller side: BYE once established, CANCEL while inviting.
    pub fn hangup(&mut self, now: Instant, call: CallIndex) {
        let Some(state) = self.calls.get_mut(call.0 as usize) else {
            return;
        };
        match std::mem::replace(&mut state.uac, Uac::Done) {
            Uac::Confirmed { to_tag, target, .. } => {
                let bye = self.requests(call).in_dialog("BYE", 2, &to_tag, &target);
                self.send(Side::Caller, self.config.switch, bye.clone());
                self.calls[call.0 as usize].uac = Uac::Byeing {
                    bye,
                    next: now + self.config.t1,
                    interval: self.config.t1,
                    give_up: now + 64 * self.config.t1,
                };
                self.schedule(call);
            }
            Uac::Inviting { .. } => {
                // RFC 3261 §9.1: CANCEL repeats the INVITE's Request-URI, Via branch and CSeq number.
                let cancel = self.requests(call).invite_like("CANCEL", "");
                self.send(Side::Caller, self.config.switch, cancel);
                self.events.push_back(SigEvent::Ended { call });
            }
            other => self.calls[call.0 as usize].uac = other,
        }
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, call))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(state) = self.calls.get_mut(call.0 as usize) else {
                continue;
            };
            if state.scheduled != Some(at) {
                continue; // superseded by a later schedule
            }
            state.scheduled = None;
            self.on_timer(now, call);
            self.schedule(call);
        }
    }

    /// A datagram arrived on the `side` SIP socket from `source`.
    pub fn handle_datagram(&mut self, now: Instant, side: Side, source: SocketAddr, bytes: &[u8]) {
        let Ok(msg) = sip_text::parse(bytes) else {
            self.counters.unreadable += 1;
            return;
        };
        match (side, msg.method()) {
            (Side::Caller, None) => self.uac_response(now, &msg),
            (Side::Caller, Some(method)) => self.uac_request(source, method, &msg),
            (Side::Agent, Some(method)) => self.uas_request(now, source, method, &msg),
            (Side::Agent, None) => self.counters.unmatched += 1, // the agent sends no requests
        }
    }

    fn on_timer(&mut self, now: Instant, call: CallIndex) {
        let t2 = self.config.t2;
        let i = call.0 as usize;
        let mut resend = Vec::new();
        match &mut self.calls[i].uac {
            Uac::Inviting { give_up, .. } if *give_up <= now => {
                self.calls[i].uac = Uac::Done;
                self.events.push_back(SigEvent::Failed {
                    call,
                    reason: FailReason::Timeout,
                });
            }
            Uac::Inviting {
                invite,
                next: Some(next),
                interval,
                ..
            } if *next <= now => {
                // §17.1.1.2: Timer A doubles each time, with no cap.
                *interval *= 2;
                *next = now + *interval;
                resend.push((Side::Caller, self.config.switch, invite.clone()));
            }
            Uac::Byeing { give_up, .. } if *give_up <= now => {
                self.calls[i].uac = Uac::Done;
                self.counters.bye_timeouts += 1;
                self.events.push_back(SigEvent::Ended { call });
            }
            Uac::Byeing {
                bye,
                next,
                interval,
                ..
            } if *next <= now => {
                // §17.1.2.2: Timer E doubles up to T2.
                *interval = (*interval * 2).min(t2);
                *next = now + *interval;
                resend.push((Side::Caller, self.config.switch, bye.clone()));
            }
            _ => {}
        }
        if let Some(uas) = &mut self.calls[i].uas
            && let Some((next, interval)) = uas.retransmit
        {
            if uas.give_up <= now {
                // §13.3.1.4: no ACK within 64·T1; the call stays (the switch did answer us).
                uas.retransmit = None;
                self.counters.ack_timeouts += 1;
            } else if next <= now {
                let interval = (interval * 2).min(t2);
                uas.retransmit = Some((now + interval, interval));
                resend.push((Side::Agent, uas.reply_to, uas.ok.clone()));
            }
        }
        for (side, to, bytes) in resend {
            self.counters.retransmissions += 1;
            self.send(side, to, bytes);
        }
    }

    fn uac_response(&mut self, now: Instant, msg: &Message<'_>) {
        let call = msg
            .call_id()
            .and_then(|id| self.by_caller_id.get(id))
            .copied();
        let (Some(call), Some(code), Some((_, method))) = (call, msg.code(), msg.cseq()) else {
            self.counters.unmatched += 1;
            return;
        };
        match method {
            "INVITE" => self.invite_response(now, call, code, msg),
            "BYE" if code >= 200 => {
                let state = &mut self.calls[call.0 as usize];
                if matches!(state.uac, Uac::Byeing { .. }) {
                    state.uac = Uac::Done;
                    self.events.push_back(SigEvent::Ended { call });
                }
            }
            _ => {}
        }
    }

    fn invite_response(&mut self, now: Instant, call: CallIndex, code: u16, msg: &Message<'_>) {
        let i = call.0 as usize;
        let to_tag = msg
            .header("To")
            .and_then(sip_text::tag)
            .unwrap_or_default()
            .to_owned();
        if code < 200 {
            if let Uac::Inviting { next, .. } = &mut self.calls[i].uac {
                *next = None; // §17.1.1.2: a provisional stops Timer A, Timer B keeps running
            }
            return;
        }
        if code >= 300 {
            // §17.1.1.3: the ACK of a failure reuses the INVITE's branch; send it for every copy.
            let ack = self.requests(call).invite_like("ACK", &to_tag);
            self.send(Side::Caller, self.config.switch, ack);
            if matches!(self.calls[i].uac, Uac::Inviting { .. }) {
                self.calls[i].uac = Uac::Done;
                self.events.push_back(SigEvent::Failed {
                    call,
                    reason: FailReason::Rejected(code),
                });
            }
            return;
        }
        match &self.calls[i].uac {
            Uac::Inviting { .. } => {}
            Uac::Confirmed { ack, .. } => {
                // §13.2.2.4: every retransmission of the 200 gets the same ACK.
                let ack = ack.clone();
                self.send(Side::Caller, self.config.switch, ack);
                return;
            }
            _ => return,
        }
        let target = msg.header("Contact").map_or_else(
            || request_uri(&self.config),
            |c| sip_text::uri_of(c).to_owned(),
        );
        let ack = self.requests(call).in_dialog("ACK", 1, &to_tag, &target);
        self.send(Side::Caller, self.config.switch, ack.clone());
        self.calls[i].uac = Uac::Confirmed {
            to_tag,
            target,
            ack,
        };
        match sdp::parse(msg.body_text()) {
            Ok(answer) => {
                let codec = self.config.caller_codec;
                let pt = answer
                    .payload_type_of(codec.name())
                    .unwrap_or(codec.default_payload_type());
                self.calls[i].caller_rtp = Some((answer.rtp, pt));
                self.try_establish(call);
            }
            Err(_) => self.fail_established(now, call, FailReason::BadSdp),
        }
        if !self.calls[i].established && matches!(self.calls[i].uac, Uac::Confirmed { .. }) {
            // The switch answered the caller but never called our agent: a pairing fault.
            self.fail_established(now, call, FailReason::NoAgentLeg);
        }
        self.schedule(call);
    }

    /// An answered call that cannot carry media: report it and hang it up.
    fn fail_established(&mut self, now: Instant, call: CallIndex, reason: FailReason) {
        self.events.push_back(SigEvent::Failed { call, reason });
        self.hangup(now, call);
    }

    fn try_establish(&mut self, call: CallIndex) {
        let state = &mut self.calls[call.0 as usize];
        if state.established {
            return;
        }
        if let (Some((caller_to, caller_pt)), Some(uas)) = (state.caller_rtp, &state.uas) {
            state.established = true;
            self.events.push_back(SigEvent::Established {
                call,
                caller_to,
                caller_pt,
                agent_to: uas.rtp_to,
                agent_pt: uas.pt,
            });
        }
    }

    /// A request from the switch to the caller side: only BYE belongs to the flows.
    fn uac_request(&mut self, source: SocketAddr, method: &str, msg: &Message<'_>) {
        if method == "ACK" {
            return;
        }
        let call = msg
            .call_id()
            .and_then(|id| self.by_caller_id.get(id))
            .copied();
        let code = match (method, call) {
            ("BYE", Some(call)) => {
                let state = &mut self.calls[call.0 as usize];
                if matches!(state.uac, Uac::Confirmed { .. }) {
                    state.uac = Uac::Done;
                    self.events.push_back(SigEvent::RemoteHangup {
                        call,
                        side: Side::Caller,
                    });
                }
                200
            }
            ("OPTIONS", _) => 200,
            (_, None) => {
                self.counters.unmatched += 1;
                481
            }
            _ => {
                self.counters.unexpected += 1;
                501
            }
        };
        let reason = reason_phrase(code);
        self.send(
            Side::Caller,
            source,
            sip_text::response(code, reason, msg, None, &[], ""),
        );
    }

    fn uas_request(&mut self, now: Instant, source: SocketAddr, method: &str, msg: &Message<'_>) {
        let known = msg
            .call_id()
            .and_then(|id| self.by_agent_id.get(id))
            .copied();
        match (method, known) {
            ("INVITE", None) => self.agent_invite(now, source, msg),
            ("INVITE", Some(call)) => {
                // A retransmission (or a re-INVITE, which the call-through never sends us).
                if let Some(uas) = &self.calls[call.0 as usize].uas {
                    let ok = uas.ok.clone();
                    self.send(Side::Agent, source, ok);
                }
            }
            ("ACK", Some(call)) => {
                if let Some(uas) = &mut self.calls[call.0 as usize].uas {
                    uas.retransmit = None;
                }
            }
            ("ACK", None) => self.counters.unmatched += 1,
            ("BYE", Some(call)) => {
                self.reply_agent(source, msg, call, 200);
                let state = &self.calls[call.0 as usize];
                if matches!(state.uac, Uac::Confirmed { .. }) {
                    self.events.push_back(SigEvent::RemoteHangup {
                        call,
                        side: Side::Agent,
                    });
                }
            }
            ("OPTIONS" | "CANCEL", _) => {
                let reply = sip_text::response(200, "OK", msg, None, &[], "");
                self.send(Side::Agent, source, reply);
            }
            (_, None) => {
                self.counters.unmatched += 1;
                let reply = sip_text::response(481, reason_phrase(481), msg, None, &[], "");
                self.send(Side::Agent, source, reply);
            }
            (_, Some(call)) => {
                self.counters.unexpected += 1;
                self.reply_agent(source, msg, call, 501);
            }
        }
    }

    fn reply_agent(&mut self, source: SocketAddr, msg: &Message<'_>, call: CallIndex, code: u16) {
        let tag = agent_tag(call, self.config.run_id);
        let reply = sip_text::response(code, reason_phrase(code), msg, Some(&tag), &[], "");
        self.send(Side::Agent, source, reply);
    }

    /// The switch's INVITE to the agent: find the call by the From user, answer 180 then 200.
    fn agent_invite(&mut self, now: Instant, source: SocketAddr, msg: &Message<'_>) {
        let call = msg
            .header("From")
            .and_then(sip_text::uri_user)
            .and_then(|user| user.strip_prefix("lg-"))
            .and_then(|n| n.parse::<u32>().ok())
            .map(CallIndex)
            .filter(|c| {
                self.calls
                    .get(c.0 as usize)
                    .is_some_and(|s| s.uas.is_none())
            });
        let (Some(call), Some(call_id)) = (call, msg.call_id()) else {
            self.counters.unmatched += 1;
            let reply = sip_text::response(404, reason_phrase(404), msg, Some("lg-none"), &[], "");
            self.send(Side::Agent, source, reply);
            return;
        };
        let Ok(offer) = sdp::parse(msg.body_text()) else {
            self.reply_agent(source, msg, call, 488);
            return;
        };
        let media = self.calls[call.0 as usize].media;
        let (body, pt) = sdp::answer(
            &offer,
            media.agent.ip(),
            media.agent.port(),
            self.config.agent_codec,
            u64::from(call.0),
        );
        let tag = agent_tag(call, self.config.run_id);
        let contact = format!("<sip:{}@{}>", self.config.extension, self.config.agent_sip);
        let headers = [("Contact", contact.as_str())];
        let ringing = sip_text::response(180, "Ringing", msg, Some(&tag), &headers, "");
        let headers = [
            ("Contact", contact.as_str()),
            ("Content-Type", "application/sdp"),
        ];
        let ok = sip_text::response(200, "OK", msg, Some(&tag), &headers, &body);
        self.send(Side::Agent, source, ringing);
        self.send(Side::Agent, source, ok.clone());
        self.by_agent_id.insert(call_id.to_owned(), call);
        self.calls[call.0 as usize].uas = Some(Uas {
            call_id: call_id.to_owned(),
            reply_to: source,
            ok,
            retransmit: Some((now + self.config.t1, self.config.t1)),
            give_up: now + 64 * self.config.t1,
            rtp_to: offer.rtp,
            pt,
        });
        self.schedule(call);
    }

    fn schedule(&mut self, call: CallIndex) {
        let Some(state) = self.calls.get_mut(call.0 as usize) else {
            return;
        };
        let uac = match &state.uac {
            Uac::Inviting { next, give_up, .. } => Some(next.map_or(*give_up, |n| n.min(*give_up))),
            Uac::Byeing { next, give_up, .. } => Some((*next).min(*give_up)),
            _ => None,
        };
        let uas = state
            .uas
            .as_ref()
            .and_then(|u| u.retransmit.map(|(next, _)| next.min(u.give_up)));
        let due = [uac, uas].into_iter().flatten().min();
        if due != state.scheduled {
            state.scheduled = due;
            if let Some(at) = due {
                self.timers.push(Reverse((at, call)));
            }
        }
    }

    fn send(&mut self, from: Side, to: SocketAddr, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { from, to, bytes });
    }

    fn requests(&self, call: CallIndex) -> CallerRequests<'_> {
        CallerRequests {
            config: &self.config,
            call,
            call_id: &self.calls[call.0 as usize].call_id,
        }
    }

    /// The agent leg's Call-ID of `call`, once the switch has sent it (tests and diagnostics).
    #[must_use]
    pub fn agent_call_id(&self, call: CallIndex) -> Option<&str> {
        self.calls
            .get(call.0 as usize)?
            .uas
            .as_ref()
            .map(|u| u.call_id.as_str())
    }
}

fn agent_tag(call: CallIndex, run_id: u64) -> String {
    format!("lga{}-{run_id:x}", call.0)
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        404 => "Not Found",
        481 => "Call/Transaction Does Not Exist",
        488 => "Not Acceptable Here",
        _ => "Not Implemented",
    }
}

#[cfg(test)]
#[path = "signalling_tests.rs"]
mod tests;
