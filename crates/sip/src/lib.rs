//! Sans-IO SIP for Switchboard.
//!
//! This crate owns no socket, no timer and no clock. Its machines take the current `Instant` with
//! every input and are asked what to do next:
//!
//! * [`headers`] holds a message's headers, found by name in constant time;
//! * [`wire`] turns bytes from a socket into a checked [`message::SipMessage`] (or says which
//!   error response a malformed request deserves), and frames messages on stream transports;
//! * [`transaction`] holds the four RFC 3261 §17 transaction machines and their timers;
//! * [`endpoint`] routes every message to the transaction or dialog that owns it;
//! * [`dialog`] keeps RFC 3261 §12 dialog state (route set, CSeq, remote target);
//! * [`registrar`] and [`auth`] implement REGISTER handling and digest authentication, and
//!   [`guard`] counts failed authentications, slows and bans the sources that keep guessing;
//! * [`sdp`] parses session descriptions and runs RFC 3264 offer/answer for the media anchor.
//!
//! # The drain rule
//! After every `handle_*(now, …)` call, drain `poll_*()` until it returns `None`, then ask
//! `poll_timeout()` when to wake up next and call `handle_timeout(now)` no later than that.
//! A driver that skips draining loses outputs; a driver that wakes late only delays them.

pub mod auth;
pub mod dialog;
pub mod endpoint;
pub mod guard;
pub mod headers;
pub mod limit;
pub mod message;
pub mod registrar;
pub mod sdp;
pub mod transaction;
pub mod ua;
pub mod wire;

/// The parsing crate underneath, for callers that build messages.
pub use ezk_sip_types as ezk;

pub use headers::Headers;
pub use message::{
    HeadersExt, Peer, Request, Response, SipMessage, Transport, response_to, uri_user,
};

#[cfg(test)]
mod test_support;
