//! One call's logic as a sans-IO machine: it owns the call's state (legs, SDP, the dialplan
//! interpreter, the queue wait, the bridge, the record) and decides; the call task
//! ([`super::driver`]) only performs its commands and feeds it what happened.
//!
//! ```text
//!   Input::{Leg, Media, Acd, Invited, Contacts, MediaLeg, Http, MediaFailed}
//!            │                                  ▲
//!            ▼                                  │ reply inputs, fed back at once
//!   CallMachine::handle(now, input) ──► poll_command() ──► Command::{Sip, Invite, Lookup,
//!            ▲                                              Media, Play, Acd, Http, Store, Finish}
//!   handle_timeout(now) at poll_timeout()
//! ```
//!
//! # The drain rule
//! After [`CallMachine::new`], every [`CallMachine::handle`] and every
//! [`CallMachine::handle_timeout`], drain [`CallMachine::poll_command`] until it returns `None`,
//! performing each command in order. A command that asks something ([`Command::Invite`],
//! [`Command::Lookup`], [`Command::Media`] with `AddLeg`, [`Command::Http`]) is answered by an
//! input carrying its [`ReqId`]; `Invite` and `Lookup` must be answered before any other input
//! (the driver awaits the SIP core's reply right there), the others whenever they complete. Then
//! sleep until [`CallMachine::poll_timeout`] or the next input. After [`Command::Finish`] the
//! machine is over ([`CallMachine::is_finished`]); `Finish` is always the last command.
//!
//! Time: every input carries `now`; the wall clock the dialplan's opening hours and the
//! record's dates need is derived from the one given to [`CallMachine::new`], so a test on a
//! virtual clock is fully deterministic.

mod cx;
mod feature;
mod ivr;
mod queue;
mod ringer;
mod sdp_leg;
mod talk;
mod through;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use switchboard_dialplan::interp::{HttpFailure, HttpResponse, Method};
use switchboard_media::dtmf::Digit;
use switchboard_sip::ua::{LegEvent, OutboundCall};

use crate::config::{RecordingConfig, TrunkConfig};
use crate::media::{LocalMedia, MediaEvent, MediaLegId, Negotiation, RemoteMedia, Role, ToneKind};
use crate::protocol::{CallCommand, CallRecord, CallSetup, LegId, Route};

pub(crate) use cx::Cx;
pub use ivr::Start;
pub use sdp_leg::SdpLeg;

/// What every call shares: codec preferences, recording, trunks, prompts, time zone.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// Codec preferences.
    pub negotiation: Negotiation,
    /// `[recording]`.
    pub recording: RecordingConfig,
    /// Trunks by name (for `dial trunk=`).
    pub trunks: HashMap<String, TrunkConfig>,
    /// Detect in-band DTMF while the dialplan waits for digits.
    pub inband_dtmf: bool,
    /// Seed for SDP session ids.
    pub seed: u64,
    /// How long a direct call to an extension rings before the caller hears 480.
    pub extension_ring_timeout: Duration,
    /// The folder of prompts (`{sounds}/{language}/{name}.wav`), for feature codes and queue
    /// announcements.
    pub sounds: PathBuf,
    /// The language of prompts when the caller's is unknown.
    pub default_language: String,
    /// Each agent's first language (feature-code confirmations are spoken in it).
    pub agent_language: HashMap<String, String>,
    /// The time zone of `{date}` and `{time}` in recording paths.
    pub tz: jiff::tz::TimeZone,
    /// Per queue, the level a skill the dialplan names without one must have.
    pub queue_skill_level: HashMap<String, switchboard_acd::config::Level>,
}

/// Identifies a command that expects an answering input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReqId(pub u64);

/// What the call machine is told.
#[derive(Debug)]
#[non_exhaustive]
pub enum Input {
    /// Something happened on one of the call's SIP legs.
    Leg(LegEvent),
    /// The media worker reports.
    Media(MediaEvent),
    /// The ACD decided something about this call.
    Acd(switchboard_acd::Output),
    /// The answer to [`Command::Invite`]: the new leg (None: the SIP core is gone).
    Invited {
        /// The request.
        req: ReqId,
        /// The leg.
        leg: Option<LegId>,
    },
    /// The answer to [`Command::Lookup`].
    Contacts {
        /// The request.
        req: ReqId,
        /// One INVITE per registered contact (empty: not registered).
        targets: Vec<OutboundCall>,
    },
    /// The answer to [`MediaCommand::AddLeg`].
    MediaLeg {
        /// The request.
        req: ReqId,
        /// The leg's local address, or why there is none (no free port).
        result: Result<LocalMedia, String>,
    },
    /// The answer to [`Command::Http`].
    Http {
        /// The request.
        req: ReqId,
        /// The answer.
        result: Result<HttpResponse, HttpFailure>,
    },
    /// A media command could not be delivered (the worker stopped): the call cannot go on.
    MediaFailed {
        /// What failed.
        error: String,
    },
    /// The switch ends the call (an admin through the API, or the end of a drain): both
    /// legs are hung up and the record says why.
    Hangup {
        /// Why, e.g. `admin-hangup`, `shutdown`.
        reason: String,
    },
}

/// What the call machine asks its driver to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// A command for the SIP core that needs no answer.
    Sip(CallCommand),
    /// Place an outbound leg; answer with [`Input::Invited`] before anything else.
    Invite {
        /// The request.
        req: ReqId,
        /// The INVITE (its SDP already set).
        call: Box<OutboundCall>,
    },
    /// The contacts of an agent; answer with [`Input::Contacts`] before anything else.
    Lookup {
        /// The request.
        req: ReqId,
        /// The extension.
        extension: String,
        /// The From the callee will see.
        from: Option<ezk_sip_types::uri::NameAddr>,
        /// Max-Forwards for the new leg.
        max_forwards: u8,
    },
    /// A media operation.
    Media(MediaCommand),
    /// Load these prompt files at `rate` and play them to `leg` with playback `id`; if none
    /// loads, answer with [`MediaEvent::PlaybackDone`] yourself.
    Play {
        /// The leg.
        leg: MediaLegId,
        /// Playback id (echoed in `PlaybackDone`).
        id: u64,
        /// The files, in order.
        files: Vec<PathBuf>,
        /// The leg's audio rate.
        rate: u32,
    },
    /// Play the beep that says "speak now" (`id` echoed in `PlaybackDone`).
    PlayBeep {
        /// The leg.
        leg: MediaLegId,
        /// Playback id.
        id: u64,
        /// The leg's audio rate.
        rate: u32,
    },
    /// An input for the ACD.
    Acd(switchboard_acd::Input),
    /// An HTTP request; answer with [`Input::Http`].
    Http {
        /// The request.
        req: ReqId,
        /// GET or POST.
        method: Method,
        /// The URL.
        url: String,
        /// The body.
        body: Option<String>,
        /// Give up after this.
        timeout: Duration,
    },
    /// The call's record, as started (written at once so a crash leaves a trace).
    RecordStarted(Box<CallRecord>),
    /// What the call has learnt so far (answer time, queue, agent, recording, IVR path,
    /// language), written as it goes so a call cut by a crash keeps it.
    RecordProgress(Box<CallRecord>),
    /// A leg's row so far (the caller's at the start, the one that answered at the bridge;
    /// every leg is written whole at the end), for the same reason.
    RecordLeg(Box<crate::protocol::LegRecord>),
    /// The call is over: write its record (and wait until it is durable), then release the
    /// media and end the task. Always the last command.
    Finish(Box<CallRecord>),
}

/// Media operations on the call's session.
#[derive(Debug)]
#[non_exhaustive]
pub enum MediaCommand {
    /// Allocate a port pair; answer with [`Input::MediaLeg`].
    AddLeg {
        /// The request.
        req: ReqId,
        /// Caller (left channel) or callee (right).
        role: Role,
    },
    /// What the remote end agreed to.
    SetRemote {
        /// The leg.
        leg: MediaLegId,
        /// The terms.
        remote: RemoteMedia,
    },
    /// Each leg hears the other.
    Bridge {
        /// One leg.
        a: MediaLegId,
        /// The other.
        b: MediaLegId,
    },
    /// No leg hears another.
    Unbridge,
    /// Music on hold, looping.
    Moh {
        /// The leg.
        leg: MediaLegId,
    },
    /// A call-progress tone.
    Tone {
        /// The leg.
        leg: MediaLegId,
        /// Which.
        tone: ToneKind,
    },
    /// Stop what plays to the leg.
    StopPlay {
        /// The leg.
        leg: MediaLegId,
    },
    /// In-band DTMF detection on or off.
    DetectInband {
        /// The leg.
        leg: MediaLegId,
        /// On or off.
        on: bool,
    },
    /// Key presses to the leg (RFC 4733, or tones).
    SendDigits {
        /// The leg.
        leg: MediaLegId,
        /// The keys.
        digits: Vec<Digit>,
    },
    /// Stereo recording of the bridge.
    StartRecording {
        /// Left channel.
        caller: MediaLegId,
        /// Right channel.
        callee: MediaLegId,
        /// The file.
        path: PathBuf,
    },
    /// Record one leg (voicemail).
    RecordLeg {
        /// The leg.
        leg: MediaLegId,
        /// The file.
        path: PathBuf,
        /// The longest.
        max: Duration,
    },
    /// End a one-leg recording early.
    StopRecordLeg {
        /// The leg.
        leg: MediaLegId,
    },
    /// Free a leg's ports.
    RemoveLeg {
        /// The leg.
        leg: MediaLegId,
    },
}

/// How a call ended, for its last log line and its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The caller hung up.
    CallerHungUp,
    /// The callee hung up after talking.
    CalleeHungUp,
    /// Nobody answered; the caller got this status.
    Unanswered(u16),
    /// The dialplan hung up, with its cause.
    Dialplan(String),
    /// No RTP from a leg for the configured time.
    MediaTimeout,
    /// Something of ours failed.
    Failed(String),
    /// The switch ended it on purpose (an admin, a shutdown).
    Ended(String),
}

impl Outcome {
    /// A short stable name for logs and records.
    #[must_use]
    pub fn cause(&self) -> String {
        match self {
            Outcome::CallerHungUp => "caller-hangup".into(),
            Outcome::CalleeHungUp => "callee-hangup".into(),
            Outcome::Unanswered(code) => format!("unanswered-{code}"),
            Outcome::Dialplan(cause) => format!("dialplan:{cause}"),
            Outcome::MediaTimeout => "media-timeout".into(),
            Outcome::Failed(why) => format!("failed:{why}"),
            Outcome::Ended(why) => format!("switch:{why}"),
        }
    }
}

/// Where the call is.
#[derive(Debug)]
enum Phase {
    /// Waiting for the caller's media leg.
    Starting { req: ReqId, route: Option<Route> },
    /// A direct call to an extension.
    Through(through::Through),
    /// The dialplan runs.
    Ivr(Box<ivr::Ivr>),
    /// A feature code.
    Feature(feature::Feature),
    /// Over.
    Done,
}

/// One call.
#[derive(Debug)]
pub struct CallMachine {
    cx: Cx,
    phase: Phase,
}

impl CallMachine {
    /// A call from its setup, at `now` (= `wall` on the wall clock). Its first commands record
    /// the call's start and ask for the caller's media leg; a caller's offer we could never
    /// answer (not SDP: 400; multicast, too many streams, no codec of ours: 488) is refused at
    /// once instead, before a port is taken or a phone rings.
    #[must_use]
    pub fn new(now: Instant, wall: Timestamp, setup: CallSetup, cfg: Arc<CallConfig>) -> Self {
        let (mut cx, route) = Cx::new(now, wall, setup, cfg);
        if let Some(status) = cx.unusable_offer() {
            cx.finish(now, &Outcome::Unanswered(status));
            return CallMachine {
                cx,
                phase: Phase::Done,
            };
        }
        let req = cx.req();
        cx.media(MediaCommand::AddLeg {
            req,
            role: Role::Caller,
        });
        CallMachine {
            cx,
            phase: Phase::Starting {
                req,
                route: Some(route),
            },
        }
    }

    /// The call's id.
    #[must_use]
    pub fn call(&self) -> crate::protocol::CallRef {
        self.cx.call
    }

    /// The next command to perform.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.cx.out.pop_front()
    }

    /// When to call [`CallMachine::handle_timeout`].
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Through(t) => t.deadline(),
            Phase::Ivr(i) => i.deadline(),
            Phase::Feature(f) => f.deadline(),
            Phase::Starting { .. } | Phase::Done => None,
        }
    }

    /// Whether the call is over (its `Finish` was emitted).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// Applies the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let outcome = match &mut self.phase {
            Phase::Through(t) => t.on_timeout(&mut self.cx, now),
            Phase::Ivr(i) => i.on_timeout(&mut self.cx, now),
            Phase::Feature(f) => f.on_timeout(&mut self.cx, now),
            Phase::Starting { .. } | Phase::Done => None,
        };
        if let Some(outcome) = outcome {
            self.finish(now, &outcome);
        }
    }

    /// Takes one input.
    pub fn handle(&mut self, now: Instant, input: Input) {
        if matches!(self.phase, Phase::Done) {
            return;
        }
        let outcome = match input {
            Input::MediaLeg { req, result } if self.is_start(req) => self.started(now, result),
            Input::MediaFailed { error } => {
                tracing::error!(%error, "media engine unavailable; ending the call");
                Some(Outcome::Failed("media".into()))
            }
            Input::Hangup { reason } => {
                tracing::info!(%reason, "the switch ends the call");
                Some(Outcome::Ended(reason))
            }
            input => match self.cx.filter(now, input) {
                Some(event) => self.dispatch(now, event),
                None => None,
            },
        };
        if let Some(outcome) = outcome {
            self.finish(now, &outcome);
        }
    }

    fn is_start(&self, req: ReqId) -> bool {
        matches!(self.phase, Phase::Starting { req: r, .. } if r == req)
    }

    /// The caller's media leg is there (or not): the route starts.
    fn started(&mut self, now: Instant, result: Result<LocalMedia, String>) -> Option<Outcome> {
        let Phase::Starting { route, .. } = &mut self.phase else {
            return None;
        };
        let route = route.take()?;
        let local = match result {
            Ok(local) => local,
            Err(err) => {
                tracing::error!(%err, "no media for the call; refused with 503");
                self.cx.end_caller(now, 503);
                return Some(Outcome::Failed("no-rtp-port".into()));
            }
        };
        if self.cx.caller.gone {
            return Some(Outcome::CallerHungUp);
        }
        self.cx.set_caller_media(local);
        // A feature code changes the agent's own state: that call holds nobody busy.
        if !matches!(route, Route::Feature { .. }) {
            self.cx.claim_caller(now);
        }
        let (phase, outcome) = match route {
            Route::Extension { extension, targets } => {
                let (t, o) = through::Through::start(&mut self.cx, now, extension, targets);
                (Phase::Through(t), o)
            }
            Route::Dialplan(start) => match ivr::Ivr::start(&mut self.cx, now, *start) {
                Ok((i, o)) => (Phase::Ivr(Box::new(i)), o),
                Err(outcome) => (Phase::Done, Some(outcome)),
            },
            Route::Feature { agent, command } => {
                let (f, o) = feature::Feature::start(&mut self.cx, now, agent, command);
                (Phase::Feature(f), o)
            }
        };
        self.phase = phase;
        outcome
    }

    fn dispatch(&mut self, now: Instant, event: cx::Event) -> Option<Outcome> {
        if let cx::Event::Acd(switchboard_acd::Output::Offer { offer, .. }) = &event
            && !matches!(self.phase, Phase::Ivr(_))
        {
            // Only a dialplan call waits in a queue; an offer for anything else is refused at
            // once, so its agent is free again.
            self.cx.acd(switchboard_acd::Input::OfferResult {
                offer: *offer,
                result: switchboard_acd::OfferResult::Cancelled,
                at: now,
            });
            return None;
        }
        match &mut self.phase {
            Phase::Starting { .. } => match event {
                // Hung up before its media leg came: nothing else to undo.
                cx::Event::CallerLeft(_) => Some(Outcome::CallerHungUp),
                _ => None,
            },
            Phase::Through(t) => t.on_event(&mut self.cx, now, event),
            Phase::Ivr(i) => i.on_event(&mut self.cx, now, event),
            Phase::Feature(f) => f.on_event(&mut self.cx, now, event),
            Phase::Done => None,
        }
    }

    /// Ends every leg still up, releases the agents the call held, and emits the record.
    fn finish(&mut self, now: Instant, outcome: &Outcome) {
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        match phase {
            Phase::Ivr(mut i) => i.abort(&mut self.cx, now, outcome),
            Phase::Through(mut t) => t.abort(&mut self.cx, now),
            Phase::Starting { .. } | Phase::Feature(_) | Phase::Done => {}
        }
        self.cx.finish(now, outcome);
    }
}
