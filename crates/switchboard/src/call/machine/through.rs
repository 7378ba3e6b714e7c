//! A direct call to an agent's extension: the ACD is asked whether the agent is free (an agent
//! on a call, or being offered one, is busy: 486), then every phone the agent has registered
//! rings, their progress (and early media) reaches the caller, the caller is answered when one
//! answers, and they talk.

use std::time::{Duration, Instant};

use switchboard_acd::io::ClaimKind;
use switchboard_media::codec::CodecKind;
use switchboard_sip::ua::OutboundCall;

use super::Outcome;
use super::cx::{Cx, Event};
use super::ringer::{Ringer, Rung};
use super::talk::{Talk, TalkEnd};
use crate::protocol::LegRole;

/// How long a call waits for the ACD's word before ringing anyway (the ACD answers in
/// microseconds; a stuck ACD must not stop internal calls).
const CLAIM_WAIT: Duration = Duration::from_secs(2);

/// A direct call's state.
#[derive(Debug)]
pub(crate) enum Through {
    /// Waiting for the ACD to say the agent is free.
    Claiming {
        extension: String,
        targets: Vec<OutboundCall>,
        until: Instant,
    },
    /// The agent's phones ring.
    Ringing { extension: String, ring: Ringer },
    /// They talk.
    Talking(Talk),
}

impl Through {
    pub(crate) fn start(
        cx: &mut Cx,
        now: Instant,
        extension: String,
        targets: Vec<OutboundCall>,
    ) -> (Through, Option<Outcome>) {
        cx.claim(now, &extension, ClaimKind::Callee);
        (
            Through::Claiming {
                extension,
                targets,
                until: now + CLAIM_WAIT,
            },
            None,
        )
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Through::Claiming { until, .. } => Some(*until),
            Through::Ringing { ring, .. } => ring.deadline(),
            Through::Talking(_) => None,
        }
    }

    fn ring(&mut self, cx: &mut Cx, now: Instant) -> Option<Outcome> {
        let Through::Claiming {
            extension, targets, ..
        } = self
        else {
            return None;
        };
        let extension = std::mem::take(extension);
        let targets = std::mem::take(targets);
        let mut ring = Ringer::new(LegRole::Callee, true);
        let timeout = cx.cfg.extension_ring_timeout;
        let rung = ring.ring(cx, now, 0, &extension, targets, timeout);
        *self = Through::Ringing { extension, ring };
        rung.and_then(|r| self.rung(cx, now, r))
    }

    pub(crate) fn on_timeout(&mut self, cx: &mut Cx, now: Instant) -> Option<Outcome> {
        match self {
            Through::Claiming { until, .. } if *until <= now => {
                tracing::warn!("the ACD did not answer in time; ringing the agent anyway");
                self.ring(cx, now)
            }
            Through::Ringing { ring, .. } => {
                let rungs = ring.on_timeout(cx, now);
                rungs.into_iter().find_map(|r| self.rung(cx, now, r))
            }
            _ => None,
        }
    }

    pub(crate) fn on_event(&mut self, cx: &mut Cx, now: Instant, event: Event) -> Option<Outcome> {
        if let Event::MediaTimeout = event {
            return Some(Outcome::MediaTimeout);
        }
        match self {
            Through::Claiming { extension, .. } => match event {
                Event::Acd(switchboard_acd::Output::ClaimResult { agent, granted, .. })
                    if agent.as_str() == extension =>
                {
                    if granted {
                        self.ring(cx, now)
                    } else {
                        tracing::info!(agent = %crate::redact::number(extension), "agent busy: 486");
                        Some(Outcome::Unanswered(486))
                    }
                }
                Event::CallerLeft(_) => Some(Outcome::CallerHungUp),
                _ => None,
            },
            Through::Ringing { ring, .. } => {
                if let Event::CallerLeft(_) = event {
                    ring.cancel_all(cx, now);
                    return Some(Outcome::CallerHungUp);
                }
                let (_, rungs) = ring.on_event(cx, now, &event);
                rungs.into_iter().find_map(|r| self.rung(cx, now, r))
            }
            Through::Talking(talk) => match talk.on_event(cx, now, &event)? {
                TalkEnd::CallerLeft => Some(Outcome::CallerHungUp),
                TalkEnd::CalleeLeft => {
                    cx.end_caller(now, 480);
                    Some(Outcome::CalleeHungUp)
                }
                TalkEnd::MediaTimeout => Some(Outcome::MediaTimeout),
            },
        }
    }

    fn rung(&mut self, cx: &mut Cx, now: Instant, rung: Rung) -> Option<Outcome> {
        let Through::Ringing { extension, ring } = self else {
            return None;
        };
        match rung {
            Rung::Answered { leg, .. } => {
                let media = ring.take_media()?;
                let prefer: Vec<CodecKind> = cx
                    .callees
                    .get(&leg)
                    .and_then(|c| c.sdp.codec())
                    .into_iter()
                    .collect();
                if let Err(code) = cx.answer_caller(now, &prefer) {
                    cx.end_callee(now, leg);
                    return Some(Outcome::Unanswered(code));
                }
                let name = extension.clone();
                *self = Through::Talking(Talk::connect(cx, now, leg, media, &name));
                None
            }
            Rung::Failed { code, .. } => Some(Outcome::Unanswered(code)),
            Rung::NoAnswer { .. } => Some(Outcome::Unanswered(480)),
        }
    }

    /// The call ends for another reason: stop ringing, count the talk.
    pub(crate) fn abort(&mut self, cx: &mut Cx, now: Instant) {
        match self {
            Through::Ringing { ring, .. } => ring.cancel_all(cx, now),
            Through::Talking(talk) => talk.count(cx, now),
            Through::Claiming { .. } => {}
        }
    }
}
