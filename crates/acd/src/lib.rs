//! Switchboard's automatic call distributor (ACD), sans-IO.
//!
//! Callers that a dialplan `enqueue`s wait in a queue while music and position announcements
//! play; the ACD decides which agent gets which call, from each queue's strategy and the skills
//! a call requires (its language, for instance), and keeps the time-in-state and service-level
//! statistics the wallboard shows. The switch's call tasks execute its decisions: they ring the
//! chosen agent's extension and report back whether it answered. See `ARCHITECTURE.md`, "A call,
//! end to end", step 4.
//!
//! Like every core of Switchboard this crate owns no socket, no timer and no clock: every input
//! carries the current `now: Instant`, so queues and agents are tested with simulated time.
//!
//! Modules so far:
//! * [`agent`]: one agent's state machine (logged out, ready, reserved, on call, wrap-up,
//!   paused), skills, and time-in-state accounting.
//!
//! Queues, distribution strategies and service-level statistics come with the ACD issue.
//!
//! # The drain rule
//! After every `handle_*(now, …)` or transition call, drain the `poll_*()` outputs until they
//! return `None` (the agent machine has none yet; queues will), then ask `poll_timeout()` when to
//! wake and call `handle_timeout(now)` no later than that. Waking late only delays a change (an
//! agent leaving wrap-up), it never loses it, and the statistics are computed as if it had woken
//! on time.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchboard_acd::agent::{Agent, AgentId, AgentState, CallRef, Extension, Skill};
//!
//! let t0 = Instant::now(); // in a driver; tests advance a fixed start by hand
//! let mut alice = Agent::new(AgentId::new("alice"), Extension::new("1001"),
//!                            [Skill::new("fr")], Duration::from_secs(30));
//! alice.login(t0)?;
//! alice.offer(t0, CallRef(1))?;
//! alice.answer(t0 + Duration::from_secs(3), CallRef(1))?;
//! alice.end_call(t0 + Duration::from_secs(63), CallRef(1))?;
//! let wake = alice.poll_timeout().unwrap();          // end of wrap-up
//! alice.handle_timeout(wake);
//! assert_eq!(alice.state(), &AgentState::Ready);
//! assert_eq!(alice.totals(wake).talk, Duration::from_secs(60));
//! # Ok::<(), switchboard_acd::agent::AgentError>(())
//! ```

#![warn(missing_docs)]

pub mod agent;
pub mod config;
pub mod event;
pub mod io;
pub mod stats;

pub use agent::{Agent, AgentError, AgentId, AgentState, CallRef, Extension, PauseReason, Skill, StateKind};
pub use config::{AcdConfig, QueueConfig, QueueId, Strategy};
pub use event::{AcdEvent, EventKind};
pub use io::{Input, OfferId, OfferResult, Output, OverflowReason};
