//! Switchboard's dialplan: the language admins write call flows in, its checker, a sans-IO
//! interpreter that runs one call through a flow, and a simulator built on that interpreter.
//!
//! Admins describe what happens to a call as KDL documents in `dialplans/` (reference:
//! `docs/dialplan.md`): entry points matched on the dialled number and trunk, named steps, and
//! verbs — answer, play, say, menu, read, set, if/else, language, goto, enqueue, dial, record,
//! voicemail, http, hangup, wait, log. See `ARCHITECTURE.md`, "Dialplan".
//!
//! # Layers
//! * `parse` (private): KDL text to the typed
//!   [`ast::Plan`], keeping the byte span of every node; every problem is reported, not the
//!   first one only.
//! * `check`: references (steps, queues, hours, agents, trunks, variables, prompts in every
//!   language the plan can run in), unreachable steps, `goto` cycles that never wait for the
//!   caller, duplicate entry points across files. [`DialplanSet::load`] runs both and returns
//!   the set or [`Diagnostics`] (miette diagnostics with file, line, column, source line, hint).
//! * [`interp`]: one call. The driver feeds [`interp::Event`]s and executes
//!   [`interp::Command`]s; the interpreter owns no timer and reads no clock.
//! * [`simulate`]: the interpreter on scripted input, as `switchboard dialplan simulate` runs
//!   it, and journeys files for `--expect`.
//! * [`hours`], [`holidays`], [`say`]: opening hours in a time zone, French public holidays,
//!   numbers/digits/dates from prompt fragments in French and English.
//!
//! # Driving a call (the drain rule)
//! After [`interp::Interpreter::new`] and after every [`interp::Interpreter::handle`], drain
//! [`interp::Interpreter::poll`] until it returns `None`, executing each command in order; then
//! wait for the event the last command asked for (a digit or the caller's hang-up may come at
//! any time). Waits are carried by the commands (`CollectDigits { timeout }`, `Wait`,
//! `ring_timeout`, `max_wait`) and come back as events, so the driver owns every timer. After
//! [`interp::Command::Hangup`], always the last command, `poll` returns `None` for good.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use switchboard_dialplan::interp::{CallFacts, Command, Event, Interpreter};
//! use switchboard_dialplan::{CheckContext, DialplanSet, Source, Timestamp};
//!
//! let text = r#"
//!     entry "+33180000000" start="welcome"
//!     step "welcome" {
//!         answer
//!         menu "choose" timeout=5 retries=0 {
//!             option "1" { enqueue "sales" }
//!             on-failure { hangup cause="no-input" }
//!         }
//!     }
//! "#;
//! let mut ctx = CheckContext { default_language: "fr".into(), ..CheckContext::default() };
//! ctx.queues.insert("sales".into());
//! ctx.prompts.entry("fr".into()).or_default().insert("choose".into());
//! let source = Source { name: "demo.kdl".into(), text: text.into() };
//! let plans = Arc::new(DialplanSet::load(vec![source], &ctx).expect("checks clean"));
//!
//! let facts = CallFacts { dialled: "+33180000000".into(), ..CallFacts::default() };
//! let mut call = Interpreter::new(plans, facts).expect("an entry takes the call");
//! let now: Timestamp = "2026-12-21T09:00:00Z".parse().unwrap();
//! assert_eq!(call.poll(now), Some(Command::Answer));
//! assert!(matches!(call.poll(now), Some(Command::Play { barge_in: true, .. })));
//! assert_eq!(call.poll(now), None); // waiting for PlaybackDone (or a key)
//! call.handle(now, Event::PlaybackDone);
//! assert_eq!(call.poll(now), Some(Command::CollectDigits { timeout: Duration::from_secs(5) }));
//! call.handle(now, Event::Timeout);
//! assert_eq!(call.poll(now), Some(Command::Hangup { cause: "no-input".into() }));
//! assert_eq!(call.poll(now), None);
//! assert!(call.is_finished());
//! ```
//!
//! # Invariants
//! * A set that loads has no dangling reference: every `goto`, entry start, queue, agent,
//!   trunk, hours name and literal prompt exists (prompts in every language of the plan).
//! * At most [`interp::DEFAULT_STEP_BUDGET`] verbs run between two input events; a call that
//!   exceeds it ends with cause `dialplan-loop`.
//! * Nothing here panics on outside input: dialplan text, journeys files and event sequences
//!   are errors or ignored, never a crash (property tests and `fuzz/fuzz_targets/dialplan.rs`).

#![warn(missing_docs)]

pub mod ast;
mod check;
pub mod cond;
pub mod diag;
pub mod holidays;
pub mod hours;
mod hours_parse;
pub mod interp;
mod parse;
pub mod say;
pub mod set;
pub mod simulate;
pub mod template;
pub mod vars;

pub use jiff::Timestamp;

pub use diag::{CheckError, Diagnostic, Diagnostics, Location};
pub use holidays::{Holiday, french_public_holidays};
pub use hours::{
    HoursParseError, HoursParseErrorKind, OpeningHours, OpeningHoursBuilder, TimeRange,
};
pub use parse::MAX_DEPTH;
pub use set::{CheckContext, DialplanSet, Route, Source};
