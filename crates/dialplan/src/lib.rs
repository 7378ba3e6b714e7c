//! Switchboard's dialplan: the language admins write call flows in, sans-IO.
//!
//! Admins describe what happens to a call as KDL documents in `dialplans/`: entry points
//! (dialled numbers or patterns) and steps — answer, play, menus, reading digits, branching on
//! variables, caller id or time of day against named opening hours and holidays, language
//! selection, enqueue into the ACD, dial, voicemail, an HTTP lookup in a CRM, hang up. This crate
//! parses, validates (`switchboard dialplan check` refuses a reload that references a missing
//! step, prompt, queue or hours) and interprets them. See `ARCHITECTURE.md`, "Dialplan".
//!
//! The interpreter will be a sans-IO machine like the other cores: it is fed results
//! (`PlaybackDone`, `Digits`, `Timeout`…) with the current time, and emits commands (`Play`,
//! `CollectDigits`, `Enqueue`…) that the call task executes. Drain rule: after every
//! `handle_*(now, …)`, drain `poll_*()` until `None`, then wake no later than `poll_timeout()`.
//! Time-of-day decisions take the instant as a parameter; nothing here reads a clock.
//!
//! Modules so far:
//! * [`hours`]: opening hours in a time zone (weekly ranges, exceptions, DST-correct
//!   `is_open` / `next_change`) built from short rule strings;
//! * [`holidays`]: French public holidays, Easter-based ones included.
//!
//! The KDL language itself (parser, validation with `miette` diagnostics, interpreter) comes with
//! the dialplan issue; it will hand the hours rule strings to [`hours::OpeningHoursBuilder::rule`]
//! and map the error offsets to file, line and column.

#![warn(missing_docs)]

pub mod holidays;
pub mod hours;
mod hours_parse;

pub use holidays::{Holiday, french_public_holidays};
pub use hours::{
    HoursParseError, HoursParseErrorKind, OpeningHours, OpeningHoursBuilder, TimeRange,
};
