//! A dialplan call: the interpreter (`switchboard_dialplan::interp`) decides — menus, branches,
//! languages — and this executes its commands against the call's legs and media, and feeds
//! back what happened: prompts done, key presses, timeouts, dial and queue outcomes, HTTP
//! answers, recordings. Every command that waits is a state here, so the call keeps taking
//! events (a hang-up, a re-INVITE, an ACD offer) whatever the interpreter waits for.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_acd::io::ClaimKind;
use switchboard_dialplan::DialplanSet;
use switchboard_dialplan::interp::{
    CallFacts, Command as DpCommand, DialOutcome, DialTarget, EnqueueOutcome, Event as DpEvent,
    Interpreter, Trace,
};
use switchboard_sip::ua::OutboundCall;

use super::cx::{Cx, Event};
use super::queue::{Join, Queued, Step};
use super::ringer::{Ringer, Rung};
use super::talk::{Talk, TalkEnd};
use super::{Command, MediaCommand, Outcome, ReqId};
use crate::media::{MediaEvent, ToneKind};
use crate::protocol::LegRole;

/// Longest `ivr_path` kept in the record.
const MAX_PATH: usize = 1000;
/// How long a `dial agent=` waits for the ACD's word before ringing anyway.
const CLAIM_WAIT: Duration = Duration::from_secs(2);
/// Playback id of the beep before a voicemail.
const BEEP: u64 = u64::MAX;

/// A dialplan call about to start: the set it runs on (kept for the whole call, whatever
/// reloads happen meanwhile) and the call's facts.
#[derive(Debug)]
pub struct Start {
    pub(crate) set: Arc<DialplanSet>,
    pub(crate) facts: CallFacts,
    pub(crate) sounds: PathBuf,
    pub(crate) voicemail_dir: PathBuf,
}

impl Start {
    /// The dialled number, for the log line that announces the call.
    #[must_use]
    pub fn entry(&self) -> &str {
        &self.facts.dialled
    }
}

/// What the interpreter waits for.
#[derive(Debug)]
enum Wait {
    /// Nothing: the interpreter runs.
    Running,
    /// A playback to end (or, with barge-in, a digit).
    Play { id: u64, barge_in: bool },
    /// A digit, until `until` (a menu or read; a pause).
    Input { until: Instant },
    /// The ACD's word on a `dial agent=`.
    Claim {
        agent: String,
        ring_timeout: Duration,
        until: Instant,
    },
    /// The contacts of the dialled agent or extension.
    Lookup {
        req: ReqId,
        name: String,
        ring_timeout: Duration,
    },
    /// The callee rings.
    Dial { ring: Ringer, name: String },
    /// The caller talks to the callee it dialled.
    Talk(Talk),
    /// The caller is in a queue.
    Queue(Box<Queued>),
    /// The beep before a voicemail.
    Beep {
        path: PathBuf,
        max: Duration,
        terminate: String,
    },
    /// The caller is being recorded.
    Record {
        terminate: String,
        terminated_by: Option<char>,
    },
    /// An HTTP request.
    Http { req: ReqId, url: String },
}

/// A dialplan call in progress.
#[derive(Debug)]
pub(crate) struct Ivr {
    interp: Interpreter,
    sounds: PathBuf,
    voicemail_dir: PathBuf,
    wait: Wait,
}

impl Ivr {
    /// Starts the interpreter; `Err` when no entry takes the call (any more).
    pub(crate) fn start(
        cx: &mut Cx,
        now: Instant,
        start: Start,
    ) -> Result<(Ivr, Option<Outcome>), Outcome> {
        let Start {
            set,
            mut facts,
            sounds,
            voicemail_dir,
        } = start;
        facts.call_id.clone_from(&cx.call_id);
        let mut interp = match Interpreter::new(set, facts) {
            Ok(interp) => interp,
            Err(err) => {
                tracing::info!(%err, "no dialplan entry (any more)");
                cx.end_caller(now, 404);
                return Err(Outcome::Unanswered(404));
            }
        };
        interp.enable_trace();
        tracing::info!(plan = interp.plan_name(), "dialplan started");
        if let Some(leg) = cx.caller_media() {
            let on = cx.cfg.inband_dtmf;
            cx.media(MediaCommand::DetectInband { leg, on });
        }
        let mut ivr = Ivr {
            interp,
            sounds,
            voicemail_dir,
            wait: Wait::Running,
        };
        let outcome = ivr.run(cx, now);
        Ok((ivr, outcome))
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match &self.wait {
            Wait::Input { until } | Wait::Claim { until, .. } => Some(*until),
            Wait::Dial { ring, .. } => ring.deadline(),
            Wait::Queue(q) => q.deadline(),
            _ => None,
        }
    }

    /// Runs the interpreter until it waits for something or ends.
    fn run(&mut self, cx: &mut Cx, now: Instant) -> Option<Outcome> {
        loop {
            let command = self.interp.poll(cx.wall(now));
            self.fold_trace(cx);
            let Some(command) = command else {
                let cause = self.interp.end_cause().unwrap_or("normal").to_owned();
                return Some(Outcome::Dialplan(cause));
            };
            tracing::debug!(?command, "dialplan command");
            match command {
                DpCommand::Answer => match cx.answer_caller(now, &[]) {
                    Ok(()) => self.interp.handle(cx.wall(now), DpEvent::Answered),
                    Err(code) => return Some(Outcome::Unanswered(code)),
                },
                DpCommand::Log { message } => {
                    tracing::info!(plan = self.interp.plan_name(), "{message}");
                }
                DpCommand::Hangup { cause } => {
                    tracing::info!(%cause, "dialplan hangs up");
                    cx.end_caller(now, cause_status(&cause));
                    return Some(Outcome::Dialplan(cause));
                }
                other => {
                    if let Err(code) = cx.answer_caller(now, &[]) {
                        return Some(Outcome::Unanswered(code));
                    }
                    return self.begin(cx, now, other);
                }
            }
        }
    }

    /// Starts a command the interpreter waits on.
    fn begin(&mut self, cx: &mut Cx, now: Instant, command: DpCommand) -> Option<Outcome> {
        match command {
            DpCommand::Play { prompts, barge_in } => {
                let files = prompts
                    .iter()
                    .map(|p| inside(&self.sounds, &p.path))
                    .collect();
                let id = self.play(cx, files);
                self.wait = Wait::Play { id, barge_in };
                None
            }
            DpCommand::CollectDigits { timeout } | DpCommand::Wait(timeout) => {
                self.wait = Wait::Input {
                    until: now + timeout,
                };
                None
            }
            DpCommand::Enqueue {
                queue,
                priority,
                skills,
                max_wait,
                exit_keys,
            } => {
                let join = Join {
                    queue,
                    priority,
                    skills,
                    max_wait,
                    exit_keys,
                    language: self.interp.language().to_owned(),
                };
                self.wait = Wait::Queue(Box::new(Queued::start(cx, now, join)));
                None
            }
            DpCommand::Dial {
                target,
                ring_timeout,
            } => self.dial(cx, now, target, ring_timeout),
            DpCommand::Record {
                path,
                max_duration,
                beep,
                terminate_digits,
            } => {
                let path = inside(&self.voicemail_dir, &path);
                if beep {
                    if let Some(leg) = cx.caller_media() {
                        let rate = cx.caller_rate();
                        cx.out.push_back(Command::PlayBeep {
                            leg,
                            id: BEEP,
                            rate,
                        });
                    }
                    self.wait = Wait::Beep {
                        path,
                        max: max_duration,
                        terminate: terminate_digits,
                    };
                } else {
                    self.record(cx, path, max_duration, terminate_digits);
                }
                None
            }
            DpCommand::Http {
                method,
                url,
                body,
                timeout,
            } => {
                let req = cx.req();
                cx.out.push_back(Command::Http {
                    req,
                    method,
                    url: url.clone(),
                    body,
                    timeout,
                });
                self.wait = Wait::Http { req, url };
                None
            }
            DpCommand::Answer | DpCommand::Log { .. } | DpCommand::Hangup { .. } => None,
        }
    }

    fn play(&mut self, cx: &mut Cx, files: Vec<PathBuf>) -> u64 {
        let id = cx.req().0;
        let rate = cx.caller_rate();
        if let Some(leg) = cx.caller_media() {
            cx.out.push_back(Command::Play {
                leg,
                id,
                files,
                rate,
            });
        }
        id
    }

    fn record(&mut self, cx: &mut Cx, path: PathBuf, max: Duration, terminate: String) {
        tracing::info!(path = %path.display(), "recording the caller");
        if let Some(leg) = cx.caller_media() {
            cx.media(MediaCommand::RecordLeg { leg, path, max });
        }
        self.wait = Wait::Record {
            terminate,
            terminated_by: None,
        };
    }

    fn dial(
        &mut self,
        cx: &mut Cx,
        now: Instant,
        target: DialTarget,
        ring_timeout: Duration,
    ) -> Option<Outcome> {
        match target {
            DialTarget::Agent(ext) | DialTarget::Extension(ext) => {
                // An agent's phone is the ACD's to give: a busy agent is not rung.
                cx.claim(now, &ext, ClaimKind::Callee);
                self.wait = Wait::Claim {
                    agent: ext,
                    ring_timeout,
                    until: now + CLAIM_WAIT,
                };
                None
            }
            DialTarget::Trunk { trunk, number } => match trunk_call(cx, &trunk, &number) {
                Some(call) => self.ring(cx, now, number, vec![call], ring_timeout),
                None => self.feed(cx, now, DpEvent::DialResult(DialOutcome::Unavailable)),
            },
        }
    }

    fn lookup(&mut self, cx: &mut Cx, name: String, ring_timeout: Duration) {
        let req = cx.req();
        cx.out.push_back(Command::Lookup {
            req,
            extension: name.clone(),
            from: cx.from.clone(),
            max_forwards: cx.max_forwards,
        });
        self.wait = Wait::Lookup {
            req,
            name,
            ring_timeout,
        };
    }

    fn ring(
        &mut self,
        cx: &mut Cx,
        now: Instant,
        name: String,
        targets: Vec<OutboundCall>,
        ring_timeout: Duration,
    ) -> Option<Outcome> {
        if targets.is_empty() {
            cx.release(now, &name);
            return self.feed(cx, now, DpEvent::DialResult(DialOutcome::Unavailable));
        }
        if let Some(leg) = cx.caller_media() {
            cx.media(MediaCommand::Tone {
                leg,
                tone: ToneKind::Ringback,
            });
        }
        let mut ring = Ringer::new(LegRole::Callee, false);
        let rung = ring.ring(cx, now, 0, &name, targets, ring_timeout);
        self.wait = Wait::Dial { ring, name };
        match rung {
            Some(rung) => self.dialled(cx, now, rung),
            None => None,
        }
    }

    /// How a dial ended.
    fn dialled(&mut self, cx: &mut Cx, now: Instant, rung: Rung) -> Option<Outcome> {
        let Wait::Dial { ring, name } = &mut self.wait else {
            return None;
        };
        let name = name.clone();
        if let Some(leg) = cx.caller_media() {
            cx.media(MediaCommand::StopPlay { leg });
        }
        let outcome = match rung {
            Rung::Answered { leg, .. } => {
                let media = ring.take_media()?;
                self.wait = Wait::Talk(Talk::connect(cx, now, leg, media, &name));
                return None;
            }
            Rung::Failed {
                code: 486 | 600, ..
            } => DialOutcome::Busy,
            Rung::Failed {
                code: 404 | 480, ..
            } => DialOutcome::Unavailable,
            Rung::Failed { code, .. } => DialOutcome::Failed(code),
            Rung::NoAnswer { .. } => DialOutcome::NoAnswer,
        };
        ring.release_media(cx);
        cx.release(now, &name);
        self.feed(cx, now, DpEvent::DialResult(outcome))
    }

    /// Feeds the interpreter and runs it on.
    fn feed(&mut self, cx: &mut Cx, now: Instant, event: DpEvent) -> Option<Outcome> {
        self.wait = Wait::Running;
        self.interp.handle(cx.wall(now), event);
        self.run(cx, now)
    }

    pub(crate) fn on_timeout(&mut self, cx: &mut Cx, now: Instant) -> Option<Outcome> {
        match &mut self.wait {
            Wait::Input { until } if *until <= now => self.feed(cx, now, DpEvent::Timeout),
            Wait::Claim {
                agent,
                ring_timeout,
                until,
            } if *until <= now => {
                tracing::warn!("the ACD did not answer in time; dialling anyway");
                let (agent, ring_timeout) = (agent.clone(), *ring_timeout);
                self.lookup(cx, agent, ring_timeout);
                None
            }
            Wait::Dial { ring, .. } => {
                let rungs = ring.on_timeout(cx, now);
                rungs.into_iter().find_map(|r| self.dialled(cx, now, r))
            }
            Wait::Queue(q) => {
                let step = q.on_timeout(cx, now);
                self.queue_step(cx, now, step)
            }
            _ => None,
        }
    }

    pub(crate) fn on_event(&mut self, cx: &mut Cx, now: Instant, event: Event) -> Option<Outcome> {
        match &mut self.wait {
            Wait::Queue(q) => {
                let step = q.on_event(cx, now, event);
                return self.queue_step(cx, now, step);
            }
            Wait::Talk(talk) => {
                if let Some(end) = talk.on_event(cx, now, &event) {
                    return match end {
                        TalkEnd::CallerLeft => Some(Outcome::CallerHungUp),
                        TalkEnd::MediaTimeout => Some(Outcome::MediaTimeout),
                        TalkEnd::CalleeLeft => {
                            talk.unbridge(cx);
                            let name = talk.name.clone();
                            cx.release(now, &name);
                            let next = self.feed(
                                cx,
                                now,
                                DpEvent::DialResult(DialOutcome::AnsweredAndEnded),
                            );
                            // A `dial` without `on-answered` ends the call with its
                            // conversation: the callee is who hung up.
                            match next {
                                Some(Outcome::Dialplan(cause)) if cause == "normal" => {
                                    Some(Outcome::CalleeHungUp)
                                }
                                other => other,
                            }
                        }
                    };
                }
            }
            Wait::Dial { ring, .. } => {
                if let Event::CallerLeft(_) = event {
                    ring.cancel_all(cx, now);
                    return Some(Outcome::CallerHungUp);
                }
                let (ours, rungs) = ring.on_event(cx, now, &event);
                if let Some(outcome) = rungs.into_iter().find_map(|r| self.dialled(cx, now, r)) {
                    return Some(outcome);
                }
                if ours {
                    return None;
                }
            }
            _ => {}
        }
        match event {
            Event::CallerLeft(_) => {
                if matches!(self.wait, Wait::Record { .. }) {
                    // Most callers end a voicemail by hanging up: the message is kept (the
                    // media session finalises the file when the call ends).
                    cx.voicemail = true;
                }
                Some(Outcome::CallerHungUp)
            }
            Event::MediaTimeout => Some(Outcome::MediaTimeout),
            Event::Digit(d) => self.digit(cx, now, d),
            Event::Media(MediaEvent::PlaybackDone { id, .. }) => self.played(cx, now, id),
            Event::Media(MediaEvent::RecordDone { duration, .. }) => {
                let Wait::Record { terminated_by, .. } = &self.wait else {
                    return None;
                };
                let terminated_by = *terminated_by;
                if !duration.is_zero() {
                    cx.voicemail = true;
                }
                self.feed(
                    cx,
                    now,
                    DpEvent::RecordDone {
                        duration,
                        terminated_by,
                    },
                )
            }
            Event::Http(req, result) => {
                let Wait::Http { req: wanted, url } = &self.wait else {
                    return None;
                };
                if *wanted != req {
                    return None;
                }
                if let Err(err) = &result {
                    // The query carries the caller's number (personal data): log where, not what.
                    let endpoint = url.split(['?', '#']).next().unwrap_or_default();
                    tracing::info!(%err, url = endpoint, "http request failed; the dialplan takes its fallback");
                }
                self.feed(cx, now, DpEvent::HttpResult(result))
            }
            Event::Acd(switchboard_acd::Output::ClaimResult { agent, granted, .. }) => {
                let Wait::Claim {
                    agent: wanted,
                    ring_timeout,
                    ..
                } = &self.wait
                else {
                    return None;
                };
                if agent.as_str() != wanted {
                    return None;
                }
                let (name, ring_timeout) = (wanted.clone(), *ring_timeout);
                if granted {
                    self.lookup(cx, name, ring_timeout);
                    None
                } else {
                    tracing::info!(agent = %crate::redact::number(&name), "dialled agent is busy");
                    self.feed(cx, now, DpEvent::DialResult(DialOutcome::Busy))
                }
            }
            Event::Acd(switchboard_acd::Output::Offer { offer, .. }) => {
                // Not in a queue any more (the offer crossed our leaving): not taken.
                cx.acd(switchboard_acd::Input::OfferResult {
                    offer,
                    result: switchboard_acd::OfferResult::Cancelled,
                    at: now,
                });
                None
            }
            Event::Contacts(req, targets) => {
                let Wait::Lookup {
                    req: wanted,
                    name,
                    ring_timeout,
                } = &self.wait
                else {
                    return None;
                };
                if *wanted != req {
                    return None;
                }
                let (name, ring_timeout) = (name.clone(), *ring_timeout);
                self.ring(cx, now, name, targets, ring_timeout)
            }
            _ => None,
        }
    }

    fn digit(&mut self, cx: &mut Cx, now: Instant, d: char) -> Option<Outcome> {
        match &mut self.wait {
            Wait::Play { barge_in: true, .. } => {
                if let Some(leg) = cx.caller_media() {
                    cx.media(MediaCommand::StopPlay { leg });
                }
                self.feed(cx, now, DpEvent::Digit(d))
            }
            Wait::Input { .. } => self.feed(cx, now, DpEvent::Digit(d)),
            Wait::Record {
                terminate,
                terminated_by,
            } if terminate.contains(d) && terminated_by.is_none() => {
                *terminated_by = Some(d);
                if let Some(leg) = cx.caller_media() {
                    cx.media(MediaCommand::StopRecordLeg { leg });
                }
                None
            }
            // Ignored, as Asterisk's Playback does: a prompt without barge-in, a lookup, a pause
            // the interpreter does not collect during.
            _ => None,
        }
    }

    fn played(&mut self, cx: &mut Cx, now: Instant, done: u64) -> Option<Outcome> {
        match std::mem::replace(&mut self.wait, Wait::Running) {
            Wait::Play { id, .. } if id == done => self.feed(cx, now, DpEvent::PlaybackDone),
            Wait::Beep {
                path,
                max,
                terminate,
            } if done == BEEP => {
                self.record(cx, path, max, terminate);
                None
            }
            other => {
                self.wait = other;
                None
            }
        }
    }

    fn queue_step(&mut self, cx: &mut Cx, now: Instant, step: Step) -> Option<Outcome> {
        match step {
            Step::Waiting => None,
            Step::Overflow(reason) => self.feed(
                cx,
                now,
                DpEvent::EnqueueResult(EnqueueOutcome::Overflow(reason)),
            ),
            Step::Ended(outcome) => {
                if outcome == Outcome::CalleeHungUp {
                    // The dialplan ends a queue call when its conversation does.
                    self.interp.handle(
                        cx.wall(now),
                        DpEvent::EnqueueResult(EnqueueOutcome::BridgedAndEnded),
                    );
                    self.fold_trace(cx);
                }
                self.wait = Wait::Running;
                Some(outcome)
            }
        }
    }

    /// The call ends for a reason the current wait did not handle itself.
    pub(crate) fn abort(&mut self, cx: &mut Cx, now: Instant, _outcome: &Outcome) {
        match std::mem::replace(&mut self.wait, Wait::Running) {
            Wait::Queue(mut q) => q.abort(cx, now),
            Wait::Dial { mut ring, .. } => ring.cancel_all(cx, now),
            Wait::Talk(mut talk) => talk.count(cx, now),
            _ => {}
        }
        if !self.interp.is_finished() {
            self.interp.handle(cx.wall(now), DpEvent::Hangup);
        }
        self.fold_trace(cx);
    }

    /// Adds the steps and menu choices the interpreter went through to the record.
    fn fold_trace(&mut self, cx: &mut Cx) {
        for entry in self.interp.take_trace() {
            match entry {
                Trace::Step(name) => {
                    if cx.rec.ivr_path.len() + name.len() + 3 > MAX_PATH {
                        if !cx.rec.ivr_path.ends_with('…') {
                            cx.rec.ivr_path.push_str(" > …");
                        }
                        continue;
                    }
                    if !cx.rec.ivr_path.is_empty() {
                        cx.rec.ivr_path.push_str(" > ");
                    }
                    cx.rec.ivr_path.push_str(&name);
                }
                Trace::Branch {
                    verb: "menu",
                    taken,
                } => {
                    if let Some(key) = taken.strip_prefix("option ")
                        && cx.rec.ivr_path.len() + key.len() + 2 <= MAX_PATH
                    {
                        cx.rec.ivr_path.push('[');
                        cx.rec.ivr_path.push_str(key);
                        cx.rec.ivr_path.push(']');
                    }
                }
                Trace::Language(language) => cx.rec.language = Some(language),
                _ => {}
            }
        }
    }
}

/// The INVITE that sends a call out through `trunk` to `number` (None: no such trunk, or it has
/// no `address`).
fn trunk_call(cx: &Cx, trunk: &str, number: &str) -> Option<OutboundCall> {
    use ezk_sip_types::host::HostPort;
    use ezk_sip_types::uri::{NameAddr, SipUri};
    let address = cx.cfg.trunks.get(trunk)?.address?;
    let uri = SipUri::new(HostPort::from(address)).user(number.into());
    let from = cx
        .from
        .clone()
        .unwrap_or_else(|| NameAddr::uri(SipUri::new(HostPort::host_name("switchboard.invalid"))));
    Some(OutboundCall {
        dest: switchboard_sip::Peer {
            transport: switchboard_sip::Transport::Udp,
            addr: address,
        },
        request_uri: uri.clone(),
        from,
        to: NameAddr::uri(uri),
        route: Vec::new(),
        sdp: None,
        max_forwards: cx.max_forwards,
    })
}

/// `relative` under `base`, whatever variables brought into it.
///
/// The interpreter hands over paths with its variables expanded, and some of those come from
/// outside: `voicemail "box"` records to `voicemail/box/${call_id}.wav`, and the Call-ID is
/// the caller's to choose (RFC 3261 §25.1 allows `/` and `.` in it), as are `${caller_id}` and
/// CRM answers. `dialplan check` refuses `..` in what the admin wrote, but a Call-ID of
/// `../../../x` would still have written the voicemail outside its folder (and `play` of such a
/// name would read any WAV, another caller's recording included). So only the plain names of
/// the path are kept: `..`, `.` and a root are dropped, and the file stays under `base`.
pub(crate) fn inside(base: &Path, relative: &str) -> PathBuf {
    let mut path = base.to_path_buf();
    let mut dropped = false;
    for part in Path::new(relative).components() {
        match part {
            Component::Normal(name) => path.push(name),
            _ => dropped = true,
        }
    }
    if dropped {
        // Not the path itself: what its variables hold may be personal data (a number).
        tracing::warn!(base = %base.display(), "a path left its folder; kept inside");
    }
    path
}

/// The final status for a dialplan `hangup` before the call was answered.
fn cause_status(cause: &str) -> u16 {
    match cause {
        "busy" => 486,
        "rejected" | "declined" => 603,
        "not-found" => 404,
        "congestion" | "failure" => 503,
        _ => 480,
    }
}

#[cfg(test)]
mod tests {
    use super::inside;
    use std::path::Path;

    #[test]
    fn paths_from_variables_stay_inside_their_folder() {
        let base = Path::new("/srv/voicemail");
        let at = |relative: &str| inside(base, relative);
        assert_eq!(
            at("voicemail/box/1-2@host.wav"),
            base.join("voicemail/box/1-2@host.wav")
        );
        assert_eq!(
            at("voicemail/box/../../../escape-1@h.wav"),
            base.join("voicemail/box/escape-1@h.wav")
        );
        assert_eq!(at("/etc/cron.d/x.wav"), base.join("etc/cron.d/x.wav"));
        assert_eq!(at("./fr/./welcome.wav"), base.join("fr/welcome.wav"));
        for hostile in ["..", "../..", "/", "a/../../b/../../../c"] {
            assert!(at(hostile).starts_with(base), "{hostile}");
        }
    }
}
