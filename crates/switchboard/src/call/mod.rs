//! Call control: one task per call, driving one sans-IO [`machine::CallMachine`].
//!
//! The machine owns everything about the call — its legs and their SDP, the dialplan
//! interpreter, the queue wait, the bridge, the record — and is tested on a virtual clock
//! ([`machine`]'s tests). The task ([`driver`]) owns the channels: it performs the machine's
//! commands against the SIP core, the media worker, the ACD, the HTTP client and the store, and
//! feeds back what happened.
//!
//! A call starts from an inbound leg the SIP core accepted and routed ([`crate::sip::route`]):
//! * a direct call to an agent's extension (the ACD says whether the agent is free; its phones
//!   ring; early media reaches the caller),
//! * a dialplan entry (prompts, menus, queues, dial, voicemail, CRM lookups),
//! * or an agent's feature code (`*45`…`*48`).
//!
//! Every bridged conversation is recorded in stereo; every call leaves a record.

pub mod driver;
mod fork;
pub mod http;
pub mod machine;

pub use driver::{Services, run};
pub use fork::{fork_targets, select_final};
pub use machine::Outcome;

/// The dialplan part of a call's setup.
pub mod ivr {
    pub use super::machine::Start;
}
