//! An agent's feature code (`*45` log in, `*46` log out, `*47[N]` pause, `*48` ready): the
//! call is answered, the ACD is asked, a short prompt in the agent's language confirms what
//! happened (or says it could not be done), and the switch hangs up.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchboard_acd::AgentId;

use super::cx::{Cx, Event};
use super::{Command, Outcome};
use crate::media::MediaEvent;
use crate::protocol::AgentCommand;

/// How long to wait for the ACD's answer before telling the agent it failed.
const ACD_WAIT: Duration = Duration::from_secs(5);

/// A feature-code call's state.
#[derive(Debug)]
pub(crate) enum Feature {
    /// Waiting for the ACD.
    Asking {
        agent: String,
        command: AgentCommand,
        until: Instant,
    },
    /// The confirmation plays.
    Playing { id: u64 },
}

impl Feature {
    pub(crate) fn start(
        cx: &mut Cx,
        now: Instant,
        agent: String,
        command: AgentCommand,
    ) -> (Feature, Option<Outcome>) {
        let waiting = Feature::Asking {
            agent: agent.clone(),
            command: command.clone(),
            until: now + ACD_WAIT,
        };
        if let Err(code) = cx.answer_caller(now, &[]) {
            return (waiting, Some(Outcome::Unanswered(code)));
        }
        tracing::info!(agent = %crate::redact::number(&agent), ?command, "feature code");
        cx.acd(switchboard_acd::Input::Agent {
            agent: AgentId::new(agent),
            command,
            reply_to: Some(cx.call),
            at: now,
        });
        (waiting, None)
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Feature::Asking { until, .. } => Some(*until),
            Feature::Playing { .. } => None,
        }
    }

    pub(crate) fn on_timeout(&mut self, cx: &mut Cx, now: Instant) -> Option<Outcome> {
        match self {
            Feature::Asking { agent, until, .. } if *until <= now => {
                tracing::warn!("the ACD did not answer the feature code");
                let agent = agent.clone();
                self.confirm(cx, &agent, "agent-refused");
                None
            }
            _ => None,
        }
    }

    pub(crate) fn on_event(&mut self, cx: &mut Cx, _now: Instant, event: Event) -> Option<Outcome> {
        match (&*self, event) {
            (_, Event::CallerLeft(_)) => Some(Outcome::CallerHungUp),
            (_, Event::MediaTimeout) => Some(Outcome::MediaTimeout),
            (
                Feature::Asking { agent, command, .. },
                Event::Acd(switchboard_acd::Output::AgentCommandDone { result, .. }),
            ) => {
                // What was asked decides the words (a pause asked on a call is taken, and
                // applies when the call ends: "you are paused" is still the answer).
                let prompt = match (&result, command) {
                    (Err(err), _) => {
                        tracing::info!(%err, "feature code refused");
                        "agent-refused"
                    }
                    (Ok(_), AgentCommand::Login) => "agent-logged-in",
                    (Ok(_), AgentCommand::Logout) => "agent-logged-out",
                    (Ok(_), AgentCommand::Pause(_)) => "agent-paused",
                    (Ok(_), AgentCommand::Ready) => "agent-ready",
                };
                if let Ok(state) = &result {
                    tracing::info!(%state, "agent state after the feature code");
                }
                let agent = agent.clone();
                self.confirm(cx, &agent, prompt);
                None
            }
            (Feature::Playing { id }, Event::Media(MediaEvent::PlaybackDone { id: done, .. }))
                if *id == done =>
            {
                Some(Outcome::Dialplan("feature-code".into()))
            }
            _ => None,
        }
    }

    fn confirm(&mut self, cx: &mut Cx, agent: &str, prompt: &str) {
        let language = cx
            .cfg
            .agent_language
            .get(agent)
            .cloned()
            .unwrap_or_else(|| cx.cfg.default_language.clone());
        let file: PathBuf = cx.cfg.sounds.join(language).join(format!("{prompt}.wav"));
        let id = cx.req().0;
        let rate = cx.caller_rate();
        if let Some(leg) = cx.caller_media() {
            cx.out.push_back(Command::Play {
                leg,
                id,
                files: vec![file],
                rate,
            });
        }
        *self = Feature::Playing { id };
    }
}
