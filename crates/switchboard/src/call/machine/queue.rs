//! A caller in a queue: it hears music on hold (and its position and expected wait when the
//! queue announces them) while the ACD decides who takes it. Each ACD offer rings that agent's
//! phones; the first agent to answer is connected and every other offer is cancelled. The
//! caller leaves by hanging up, by an exit key, or when the ACD gives it back to the dialplan.
//!
//! The call reports every fact to the ACD with the instant it saw it (`at`), and each offer's
//! result exactly once, so the ACD's figures and this call's record agree.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchboard_acd::config::{Level, SkillReq};
use switchboard_acd::io::{LeaveReason, OfferResult};
use switchboard_acd::{OfferId, Output, QueueId, Skill};
use switchboard_dialplan::ast::SayKind;
use switchboard_dialplan::interp::OverflowReason;
use switchboard_dialplan::say::say;

use super::cx::{Cx, Event};
use super::ringer::{Ringer, Rung};
use super::talk::{Talk, TalkEnd};
use super::{Command, MediaCommand, Outcome, ReqId};
use crate::media::MediaEvent;
use crate::protocol::LegRole;

/// What the dialplan hears of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Still waiting or talking.
    Waiting,
    /// Back to the dialplan.
    Overflow(OverflowReason),
    /// The call is over (the caller hung up, or talked and one side hung up).
    Ended(Outcome),
}

#[derive(Debug)]
struct Offer {
    id: OfferId,
    agent: String,
    /// The contacts lookup, until it answers.
    lookup: Option<ReqId>,
    ring_timeout: Duration,
}

/// The queue phase of a dialplan call.
#[derive(Debug)]
pub(crate) struct Queued {
    queue: String,
    joined: Instant,
    exit_keys: String,
    language: String,
    ring: Ringer,
    offers: Vec<Offer>,
    /// The announcement playing, by playback id.
    announcing: Option<u64>,
    /// The conversation with the agent who answered.
    talk: Option<(Talk, String)>,
}

/// What the dialplan's `enqueue` asks.
#[derive(Debug)]
pub(crate) struct Join {
    pub(crate) queue: String,
    pub(crate) priority: i32,
    pub(crate) skills: Vec<String>,
    pub(crate) max_wait: Option<Duration>,
    pub(crate) exit_keys: String,
    pub(crate) language: String,
}

impl Queued {
    pub(crate) fn start(cx: &mut Cx, now: Instant, join: Join) -> Queued {
        tracing::info!(queue = join.queue.as_str(), priority = join.priority, skills = ?join.skills, "caller queued");
        if let Some(leg) = cx.caller_media() {
            cx.media(MediaCommand::Moh { leg });
        }
        let level = cx
            .cfg
            .queue_skill_level
            .get(&join.queue)
            .copied()
            .unwrap_or(Level::MIN);
        let skills = join
            .skills
            .iter()
            .filter_map(|s| skill_req(s, level))
            .collect();
        cx.acd(switchboard_acd::Input::Enqueue {
            call: cx.call,
            queue: QueueId::new(join.queue.clone()),
            priority: join.priority,
            skills,
            max_wait: join.max_wait,
            at: now,
        });
        cx.rec.queue = Some(join.queue.clone());
        cx.rec.wait = None;
        cx.overflowed = false;
        cx.progress();
        Queued {
            queue: join.queue,
            joined: now,
            exit_keys: join.exit_keys,
            language: join.language,
            ring: Ringer::new(LegRole::Agent, false),
            offers: Vec::new(),
            announcing: None,
            talk: None,
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.ring.deadline()
    }

    pub(crate) fn on_timeout(&mut self, cx: &mut Cx, now: Instant) -> Step {
        let rungs = self.ring.on_timeout(cx, now);
        self.rungs(cx, now, rungs)
    }

    pub(crate) fn on_event(&mut self, cx: &mut Cx, now: Instant, event: Event) -> Step {
        if self.talk.is_some() {
            return self.talking(cx, now, &event);
        }
        match event {
            Event::Acd(output) => self.acd(cx, now, output),
            Event::Contacts(req, targets) => {
                let Some(offer) = self.offers.iter_mut().find(|o| o.lookup == Some(req)) else {
                    return Step::Waiting;
                };
                offer.lookup = None;
                let (key, agent, ring_timeout) =
                    (offer.id.0, offer.agent.clone(), offer.ring_timeout);
                let rung = self.ring.ring(cx, now, key, &agent, targets, ring_timeout);
                self.rungs(cx, now, rung.into_iter().collect())
            }
            Event::Media(MediaEvent::PlaybackDone { id, .. }) if self.announcing == Some(id) => {
                self.announcing = None;
                if let Some(leg) = cx.caller_media() {
                    cx.media(MediaCommand::Moh { leg });
                }
                Step::Waiting
            }
            Event::Digit(key) if self.exit_keys.contains(key) => {
                tracing::info!(queue = self.queue.as_str(), %key, "caller pressed an exit key");
                self.leave(cx, now, LeaveReason::Key(key));
                cx.overflowed = true;
                Step::Overflow(OverflowReason::Key(key))
            }
            Event::CallerLeft(_) => {
                self.leave(cx, now, LeaveReason::Hangup);
                Step::Ended(Outcome::CallerHungUp)
            }
            Event::MediaTimeout => {
                self.leave(cx, now, LeaveReason::Gone);
                Step::Ended(Outcome::MediaTimeout)
            }
            other => {
                let (_, rungs) = self.ring.on_event(cx, now, &other);
                self.rungs(cx, now, rungs)
            }
        }
    }

    fn acd(&mut self, cx: &mut Cx, now: Instant, output: Output) -> Step {
        match output {
            Output::Offer {
                offer,
                agent,
                ring_timeout,
                ..
            } => {
                tracing::info!(queue = self.queue.as_str(), %offer, agent = %crate::redact::number(agent.as_str()), "offered to an agent");
                let req = cx.req();
                cx.out.push_back(Command::Lookup {
                    req,
                    extension: agent.as_str().to_owned(),
                    from: cx.from.clone(),
                    max_forwards: cx.max_forwards,
                });
                self.offers.push(Offer {
                    id: offer,
                    agent: agent.as_str().to_owned(),
                    lookup: Some(req),
                    ring_timeout,
                });
                Step::Waiting
            }
            Output::CancelOffer { offer, .. } => {
                if let Some(i) = self.offers.iter().position(|o| o.id == offer) {
                    self.offers.remove(i);
                    self.ring.cancel(cx, now, offer.0);
                    report(cx, now, offer, OfferResult::Cancelled);
                }
                Step::Waiting
            }
            Output::Overflow { reason, .. } => {
                tracing::info!(
                    queue = self.queue.as_str(),
                    reason = reason.as_str(),
                    "queue gave the caller back"
                );
                self.stop_waiting(cx, now);
                cx.overflowed = true;
                Step::Overflow(match reason {
                    switchboard_acd::OverflowReason::NoAgents => OverflowReason::NoAgents,
                    switchboard_acd::OverflowReason::MaxWait => OverflowReason::MaxWait,
                    switchboard_acd::OverflowReason::Full => OverflowReason::QueueFull,
                    switchboard_acd::OverflowReason::Key(k) => OverflowReason::Key(k),
                    other => OverflowReason::Other(other.as_str().to_owned()),
                })
            }
            Output::Announce {
                position,
                expected_wait,
                ..
            } => {
                self.announce(cx, position, expected_wait);
                Step::Waiting
            }
            _ => Step::Waiting,
        }
    }

    fn rungs(&mut self, cx: &mut Cx, now: Instant, rungs: Vec<Rung>) -> Step {
        for rung in rungs {
            match rung {
                Rung::Answered { key, leg } => {
                    let Some(i) = self.offers.iter().position(|o| o.id.0 == key) else {
                        continue;
                    };
                    let won = self.offers.remove(i);
                    // Every other offer stopped ringing with the answer (the ringer cancelled them).
                    for other in std::mem::take(&mut self.offers) {
                        self.ring.cancel(cx, now, other.id.0);
                        report(cx, now, other.id, OfferResult::Cancelled);
                    }
                    report(cx, now, won.id, OfferResult::Answered);
                    let Some(media) = self.ring.take_media() else {
                        continue;
                    };
                    self.announcing = None;
                    let talk = Talk::connect(cx, now, leg, media, &won.agent);
                    cx.acd(switchboard_acd::Input::Connected {
                        call: cx.call,
                        at: now,
                    });
                    cx.rec.wait = Some(now.saturating_duration_since(self.joined));
                    tracing::info!(queue = self.queue.as_str(), agent = %crate::redact::number(&won.agent), "agent answered");
                    self.talk = Some((talk, won.agent));
                }
                Rung::Failed { key, code } => {
                    if let Some(offer) = self.take_offer(key) {
                        let result = match code {
                            404 | 408 | 410 | 480 | 503 => OfferResult::Unreachable,
                            code => OfferResult::Declined(code),
                        };
                        report(cx, now, offer.id, result);
                    }
                }
                Rung::NoAnswer { key } => {
                    if let Some(offer) = self.take_offer(key) {
                        report(cx, now, offer.id, OfferResult::NoAnswer);
                    }
                }
            }
        }
        Step::Waiting
    }

    fn take_offer(&mut self, key: u64) -> Option<Offer> {
        let i = self.offers.iter().position(|o| o.id.0 == key)?;
        Some(self.offers.remove(i))
    }

    fn talking(&mut self, cx: &mut Cx, now: Instant, event: &Event) -> Step {
        if let Event::Acd(Output::Offer { offer, .. }) = event {
            // An offer that crossed the answer: not needed any more.
            report(cx, now, *offer, OfferResult::Cancelled);
            return Step::Waiting;
        }
        let Some((talk, _)) = &mut self.talk else {
            return Step::Waiting;
        };
        let Some(end) = talk.on_event(cx, now, event) else {
            return Step::Waiting;
        };
        cx.acd(switchboard_acd::Input::CallEnded {
            call: cx.call,
            at: now,
        });
        self.talk = None;
        Step::Ended(match end {
            TalkEnd::CallerLeft => Outcome::CallerHungUp,
            TalkEnd::CalleeLeft => {
                cx.end_caller(now, 480);
                Outcome::CalleeHungUp
            }
            TalkEnd::MediaTimeout => Outcome::MediaTimeout,
        })
    }

    /// The caller leaves on its own: the ACD is told first, then every offer still out is
    /// cancelled (their results follow, and the ACD ignores them).
    fn leave(&mut self, cx: &mut Cx, now: Instant, reason: LeaveReason) {
        cx.acd(switchboard_acd::Input::Leave {
            call: cx.call,
            reason,
            at: now,
        });
        self.stop_waiting(cx, now);
    }

    fn stop_waiting(&mut self, cx: &mut Cx, now: Instant) {
        for offer in std::mem::take(&mut self.offers) {
            self.ring.cancel(cx, now, offer.id.0);
            report(cx, now, offer.id, OfferResult::Cancelled);
        }
        self.ring.release_media(cx);
        if let Some(leg) = cx.caller_media()
            && !cx.caller.gone
        {
            cx.media(MediaCommand::StopPlay { leg });
        }
        cx.rec.wait = Some(now.saturating_duration_since(self.joined));
    }

    /// The call ends while in the queue for a reason the queue did not see (the dialplan is
    /// aborted): the ACD hears about it.
    pub(crate) fn abort(&mut self, cx: &mut Cx, now: Instant) {
        match &mut self.talk {
            Some((talk, _)) => {
                talk.count(cx, now);
                cx.acd(switchboard_acd::Input::CallEnded {
                    call: cx.call,
                    at: now,
                });
                self.talk = None;
            }
            None => self.leave(cx, now, LeaveReason::Gone),
        }
    }

    /// "You are caller number N. Your expected wait is about M minutes." in the caller's
    /// language, then music again.
    fn announce(&mut self, cx: &mut Cx, position: u32, wait: Option<Duration>) {
        if self.announcing.is_some() || !self.ring.is_idle() {
            return;
        }
        let Some(leg) = cx.caller_media() else {
            return;
        };
        let lang = self.language.clone();
        let dir = cx.cfg.sounds.join(&lang);
        let file = |name: &str| -> PathBuf { dir.join(format!("{name}.wav")) };
        let mut files = Vec::new();
        if position > 0 {
            files.push(file("queue-position"));
            files.extend(
                say(SayKind::Number, &position.to_string(), &lang)
                    .unwrap_or_default()
                    .iter()
                    .map(|f| file(f)),
            );
        }
        if let Some(wait) = wait {
            let minutes = wait.as_secs().div_ceil(60);
            if minutes <= 1 {
                files.push(file("queue-wait-short"));
            } else {
                files.push(file("queue-wait"));
                files.extend(
                    say(SayKind::Number, &minutes.to_string(), &lang)
                        .unwrap_or_default()
                        .iter()
                        .map(|f| file(f)),
                );
                files.push(file("queue-minutes"));
            }
        }
        if files.is_empty() {
            return;
        }
        let id = cx.req().0;
        let rate = cx.caller_rate();
        cx.out.push_back(Command::Play {
            leg,
            id,
            files,
            rate,
        });
        self.announcing = Some(id);
    }
}

fn report(cx: &mut Cx, now: Instant, offer: OfferId, result: OfferResult) {
    cx.acd(switchboard_acd::Input::OfferResult {
        offer,
        result,
        at: now,
    });
}

/// `en` (at the queue's level) or `en:50`.
fn skill_req(text: &str, default: Level) -> Option<SkillReq> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let (name, level) = match text.rsplit_once(':') {
        Some((name, level)) => match level.parse::<u32>() {
            Ok(l) => (name, Level::new(u8::try_from(l).unwrap_or(u8::MAX))),
            Err(_) => (text, default),
        },
        None => (text, default),
    };
    Some(SkillReq {
        skill: Skill::new(name),
        min_level: level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skills_name_their_level_or_take_the_queues() {
        let five = Level::new(5);
        assert_eq!(
            skill_req("EN", five),
            Some(SkillReq {
                skill: Skill::new("en"),
                min_level: five
            })
        );
        assert_eq!(
            skill_req("returns:50", five).unwrap().min_level,
            Level::new(50)
        );
        assert_eq!(skill_req("x:500", five).unwrap().min_level, Level::MAX);
        assert_eq!(skill_req("  ", five), None);
    }
}
