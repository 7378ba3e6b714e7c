//! Switchboard's dialplan: the language admins write call flows in, its checker, and a sans-IO
//! interpreter that runs one call through it.
//!
//! (Full crate documentation below.)

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

pub use diag::{CheckError, Diagnostic, Diagnostics, Location};
pub use holidays::{Holiday, french_public_holidays};
pub use hours::{
    HoursParseError, HoursParseErrorKind, OpeningHours, OpeningHoursBuilder, TimeRange,
};
pub use set::{CheckContext, DialplanSet, Route, Source};
