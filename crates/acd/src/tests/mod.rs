//! Unit tests of the ACD machine, one file per behaviour, on a hand-advanced clock.

mod agents;
mod announce;
mod offers;
mod queueing;
mod reload;
mod strategies;

use std::time::{Duration, Instant};

use crate::agent::{AgentId, CallRef, PauseReason, Skill, StateKind};
use crate::config::{AcdConfig, AgentConfig, Level, LoginPolicy, QueueConfig, QueueId, SkillReq};
use crate::event::EventKind;
use crate::io::{AgentCommand, Input, LeaveReason, OfferId, OfferResult, Output};
use crate::machine::Acd;
use crate::view::AgentView;

pub(super) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A queue with these members at penalty 0 and no wrap-up.
pub(super) fn queue(name: &str, members: &[&str]) -> QueueConfig {
    QueueConfig::new(QueueId::new(name), members.iter().map(|m| AgentId::new(*m)))
}

/// Agents with fixed contacts (reachable without registering) and no skills.
pub(super) fn config(queues: Vec<QueueConfig>, agents: &[&str]) -> AcdConfig {
    AcdConfig {
        queues,
        agents: agents
            .iter()
            .map(|a| AgentConfig {
                id: AgentId::new(*a),
                skills: Vec::new(),
                always_reachable: true,
            })
            .collect(),
        login: LoginPolicy::Explicit,
        ..AcdConfig::default()
    }
}

pub(super) fn skill(name: &str, level: u8) -> (Skill, Level) {
    (Skill::new(name), Level::new(level))
}

pub(super) fn req(name: &str, level: u8) -> SkillReq {
    SkillReq {
        skill: Skill::new(name),
        min_level: Level::new(level),
    }
}

pub(super) fn id(name: &str) -> AgentId {
    AgentId::new(name)
}

/// An offer as the switch sees it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Offered {
    pub offer: OfferId,
    pub call: CallRef,
    pub agent: AgentId,
}

/// The ACD, the clock, and everything it said so far that the test has not looked at.
pub(super) struct H {
    pub acd: Acd,
    pub t0: Instant,
    pub now: Instant,
    pub outputs: Vec<Output>,
    pub events: Vec<(Instant, EventKind)>,
}

impl H {
    pub fn new(config: AcdConfig) -> Self {
        let t0 = Instant::now();
        let mut h = Self {
            acd: Acd::new(config, t0),
            t0,
            now: t0,
            outputs: Vec::new(),
            events: Vec::new(),
        };
        h.drain();
        h
    }

    /// The instant `s` seconds after the start.
    pub fn t(&self, s: u64) -> Instant {
        self.t0 + secs(s)
    }

    fn drain(&mut self) {
        while let Some(o) = self.acd.poll_output() {
            self.outputs.push(o);
        }
        while let Some(e) = self.acd.poll_event() {
            assert!(e.at <= self.now, "event ahead of the clock: {e:?}");
            if let Some((last, _)) = self.events.last() {
                assert!(e.at >= *last, "event goes back in time: {e:?}");
            }
            self.events.push((e.at, e.kind));
        }
    }

    /// Feeds an input observed now.
    pub fn input(&mut self, input: Input) {
        self.acd.handle(self.now, input);
        self.drain();
    }

    /// Moves the clock to `s` seconds after the start, waking at every deadline on the way.
    pub fn until(&mut self, s: u64) {
        let target = self.t(s);
        while let Some(wake) = self.acd.poll_timeout().filter(|&w| w <= target) {
            self.now = wake.max(self.now);
            self.acd.handle_timeout(self.now);
            self.drain();
        }
        self.now = target.max(self.now);
    }

    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    pub fn take_events(&mut self) -> Vec<EventKind> {
        std::mem::take(&mut self.events)
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }

    /// The offers made since the last look (other outputs are dropped).
    pub fn offers(&mut self) -> Vec<Offered> {
        self.take_outputs()
            .into_iter()
            .filter_map(|o| match o {
                Output::Offer {
                    offer, call, agent, ..
                } => Some(Offered { offer, call, agent }),
                _ => None,
            })
            .collect()
    }

    /// The single offer made since the last look.
    pub fn one_offer(&mut self) -> Offered {
        let offers = self.offers();
        assert_eq!(offers.len(), 1, "{offers:?}");
        offers.into_iter().next().unwrap_or_else(|| unreachable!())
    }

    pub fn command(&mut self, agent: &str, command: AgentCommand) {
        let at = self.now;
        self.input(Input::Agent {
            agent: id(agent),
            command,
            reply_to: None,
            at,
        });
    }

    pub fn login(&mut self, agents: &[&str]) {
        for a in agents {
            self.command(a, AgentCommand::Login);
        }
    }

    pub fn pause(&mut self, agent: &str, reason: &str) {
        self.command(agent, AgentCommand::Pause(PauseReason::new(reason)));
    }

    pub fn enqueue(&mut self, call: u64, queue: &str) {
        self.enqueue_with(call, queue, 0, Vec::new(), None);
    }

    pub fn enqueue_with(
        &mut self,
        call: u64,
        queue: &str,
        priority: i32,
        skills: Vec<SkillReq>,
        max_wait: Option<Duration>,
    ) {
        let at = self.now;
        self.input(Input::Enqueue {
            call: CallRef(call),
            queue: QueueId::new(queue),
            priority,
            skills,
            max_wait,
            at,
        });
    }

    pub fn result(&mut self, offer: OfferId, result: OfferResult) {
        let at = self.now;
        self.input(Input::OfferResult { offer, result, at });
    }

    pub fn connected(&mut self, call: u64) {
        let at = self.now;
        self.input(Input::Connected {
            call: CallRef(call),
            at,
        });
    }

    pub fn connect_failed(&mut self, call: u64) {
        let at = self.now;
        self.input(Input::ConnectFailed {
            call: CallRef(call),
            at,
        });
    }

    pub fn end(&mut self, call: u64) {
        let at = self.now;
        self.input(Input::CallEnded {
            call: CallRef(call),
            at,
        });
    }

    pub fn leave(&mut self, call: u64, reason: LeaveReason) {
        let at = self.now;
        self.input(Input::Leave {
            call: CallRef(call),
            reason,
            at,
        });
    }

    /// Answers `offer`, connects and ends the call at once.
    pub fn handle_call(&mut self, offer: &Offered) {
        self.result(offer.offer, OfferResult::Answered);
        self.connected(offer.call.0);
        self.end(offer.call.0);
    }

    pub fn agent(&self, agent: &str) -> AgentView {
        self.acd
            .snapshot(self.now)
            .agents
            .into_iter()
            .find(|a| a.id == id(agent))
            .unwrap_or_else(|| panic!("no agent {agent}"))
    }

    pub fn state(&self, agent: &str) -> StateKind {
        self.agent(agent).state
    }

    /// The overflows decided since the last look, with their reason.
    pub fn overflows(&mut self) -> Vec<(CallRef, crate::io::OverflowReason)> {
        self.take_outputs()
            .into_iter()
            .filter_map(|o| match o {
                Output::Overflow { call, reason } => Some((call, reason)),
                _ => None,
            })
            .collect()
    }
}
