//! Switchboard's automatic call distributor (ACD), sans-IO.
//!
//! Callers that a dialplan `enqueue`s wait in a queue while music and position announcements
//! play; the ACD decides which agent gets which call, from each queue's strategy, penalties
//! and the skills a call requires (its language, for instance), and records every fact for the
//! statistics the wallboard shows. The switch's call tasks execute its decisions: they ring the
//! chosen agent's extension and report back whether it answered. See `ARCHITECTURE.md`, "A call,
//! end to end", step 4, and [`io`] for who decides what.
//!
//! Like every core of Switchboard this crate owns no socket, no timer and no clock: every input
//! carries the current `now: Instant` (and the instant `at` the call observed its fact), so
//! queues and agents are tested with simulated time.
//!
//! Modules:
//! * [`config`], [`io`], [`event`]: the interface — what the ACD is told at start, what goes in
//!   and out, and the record of facts (with its guarantees).
//! * [`Acd`] (`machine.rs`, with `queue.rs`, `offers.rs`, `roster.rs`, `dispatch.rs`,
//!   `strategy.rs`, `setup.rs`): the distributor itself.
//! * [`agent`]: one agent's state machine (logged out, ready, reserved, on call, busy, wrap-up,
//!   paused), skills with levels, and time-in-state accounting.
//! * [`view`]: plain-data snapshots for the CLI and the wallboard.
//! * [`stats`]: figures computed from the events.
//!
//! # The drain rule
//! After every [`Acd::handle`], [`Acd::handle_timeout`], [`Acd::restore`] or
//! [`Acd::reconfigure`], drain [`Acd::poll_output`] (decisions for the calls) and
//! [`Acd::poll_event`] (facts for the store and statistics) until both return `None`, then ask
//! [`Acd::poll_timeout`] when to wake and call [`Acd::handle_timeout`] no later than that.
//! Outputs and events are only queued, never lost, so draining late delays them without
//! changing them; waking late only delays a deadline's effect (an offer released, a caller
//! overflowed, a wrap-up ended), and its event still carries the deadline's instant.
//!
//! Inputs carry `at`, the instant the call observed the fact. The ACD uses it for every event,
//! every wait, talk and wrap-up duration and every agent transition, clamped so it never goes
//! before what the ACD already recorded nor after `now`; timers are compared with `now`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchboard_acd::agent::{AgentId, CallRef, Skill};
//! use switchboard_acd::config::{AcdConfig, AgentConfig, Level, QueueConfig, QueueId};
//! use switchboard_acd::io::{AgentCommand, Input, OfferResult, Output};
//! use switchboard_acd::{Acd, EventKind, StateKind};
//!
//! let alice = AgentId::new("alice");
//! let support = QueueId::new("support");
//! let mut queue = QueueConfig::new(support.clone(), [alice.clone()]);
//! queue.wrap_up = Duration::from_secs(30);
//! let config = AcdConfig {
//!     queues: vec![queue],
//!     agents: vec![AgentConfig {
//!         id: alice.clone(),
//!         skills: vec![(Skill::new("fr"), Level::new(80))],
//!         always_reachable: true,
//!     }],
//!     ..AcdConfig::default()
//! };
//! let t0 = Instant::now(); // in a driver; tests advance a fixed start by hand
//! let mut acd = Acd::new(config, t0);
//! let mut drain = |acd: &mut Acd| {
//!     let outputs: Vec<Output> = std::iter::from_fn(|| acd.poll_output()).collect();
//!     let events: Vec<EventKind> = std::iter::from_fn(|| acd.poll_event()).map(|e| e.kind).collect();
//!     (outputs, events)
//! };
//!
//! acd.handle(t0, Input::Agent { agent: alice.clone(), command: AgentCommand::Login,
//!                               reply_to: None, at: t0 });
//! let call = CallRef(7);
//! acd.handle(t0, Input::Enqueue { call, queue: support.clone(), priority: 0,
//!                                 skills: vec![], max_wait: None, at: t0 });
//! let (outputs, _) = drain(&mut acd);
//! let Some(Output::Offer { offer, agent, .. }) = outputs.last().cloned() else { panic!() };
//! assert_eq!(agent, alice);
//!
//! let t1 = t0 + Duration::from_secs(4);
//! acd.handle(t1, Input::OfferResult { offer, result: OfferResult::Answered, at: t1 });
//! acd.handle(t1, Input::Connected { call, at: t1 });
//! let t2 = t1 + Duration::from_secs(60);
//! acd.handle(t2, Input::CallEnded { call, at: t2 });
//! let (_, events) = drain(&mut acd);
//! assert!(events.contains(&EventKind::Answered { call, queue: support.clone(),
//!                                                agent: alice.clone(), wait: Duration::from_secs(4) }));
//!
//! let wake = acd.poll_timeout().unwrap();              // end of the wrap-up
//! assert_eq!(wake, t2 + Duration::from_secs(30));
//! acd.handle_timeout(wake);
//! assert_eq!(acd.snapshot(wake).agents[0].state, StateKind::Ready);
//! assert_eq!(acd.agent(&alice).unwrap().totals(wake).talk, Duration::from_secs(60));
//! ```

#![warn(missing_docs)]

pub mod agent;
pub mod config;
mod dispatch;
pub mod event;
pub mod io;
mod machine;
mod offers;
mod queue;
mod roster;
mod setup;
pub mod stats;
mod strategy;
mod timers;
pub mod view;

#[cfg(test)]
mod tests;

pub use agent::{
    Agent, AgentError, AgentId, AgentState, CallRef, Extension, PauseReason, Skill, StateKind,
};
pub use config::{AcdConfig, QueueConfig, QueueId, Strategy};
pub use event::{AcdEvent, EventKind};
pub use io::{Input, OfferId, OfferResult, Output, OverflowReason};
pub use machine::Acd;
pub use roster::NO_ANSWER;
pub use view::Snapshot;
