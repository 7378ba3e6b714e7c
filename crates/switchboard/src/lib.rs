//! Switchboard, the binary's library: configuration, the SIP drivers, call control and the
//! server that ties them together. `main.rs` is a thin CLI over this, so tests and benches can
//! start a switch in-process too.

pub mod acd;
pub mod api;
pub mod call;
pub mod calls;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod dialplans;
pub mod media;
pub mod metrics;
pub mod protocol;
pub mod records;
pub mod redact;
pub mod server;
pub mod sip;
