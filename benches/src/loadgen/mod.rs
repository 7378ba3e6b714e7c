//! The media load generator behind `loadgen` (`src/bin/loadgen.rs`): N concurrent calls through
//! a running switch, with real RTP both ways, measured against a raw UDP relay in the same run.
//!
//! # What a run does
//! The generator plays both ends of every call. As the carrier it INVITEs the agent's extension
//! at the switch (which treats 127.0.0.1 as a trunk); as the agent's phone it answers the INVITE
//! the switch sends to the agent's static contact. Once a call is up, each end sends 20 ms
//! packets at exactly 50 packets/s to whatever address the SDP it received names, so the same
//! generator works whether the switch passes SDP through (RTP flows socket to socket, as on main
//! today) or anchors the media (RTP flows through the switch's ports). With every call up it
//! holds them for the steady window, samples the process under test (`/proc` CPU and RSS), stops
//! the media, drains, and hangs up. Two other paths use the same calls without SIP: the
//! *baseline*, a raw single-threaded relay in a child process ([`relay`]), and *direct*, socket to
//! socket, which measures the generator's own ceiling.
//!
//! # What it measures, and how
//! Per direction: packets sent and received, loss (sent − unique received, after the drain),
//! duplicates, late packets, added latency p50/p99/max from a send-time stamp in the payload
//! ([`packet::Stamp`]; a relay rewrites RTP headers but not payloads), and RFC 3550 jitter
//! ([`stats`]). A transcoded direction carries no stamp: its latency is reported as not
//! measurable and its loss comes from packet counts. The [`sweep`] finds, per path, the highest
//! N that stays below 0.1 % loss and 5 ms p99, and the ratio to the baseline.
//!
//! # Layout
//! Sans-IO pieces, tested with exact numbers and a virtual clock: [`packet`] (RTP header and
//! stamp), [`stats`] (histogram, jitter, sequence window), [`sdp`], [`sip_text`],
//! [`signalling`] (the UAC and UAS state machine with RFC 3261 retransmissions) and
//! [`caller_requests`] (its requests as text), [`report`],
//! [`procstat`] (parsing of `/proc`). Drivers that own threads and sockets: [`media`] (the pacing
//! wheel and the receive poll), [`relay`] (the baseline), [`run`] (one run), [`sweep`].
//!
//! # Bounds
//! Everything binds 127.0.0.1 only; a run holds at most [`run::MAX_CALLS`] calls for at most
//! [`run::MAX_DURATION`], and stops by itself.

pub mod caller_requests;
pub mod media;
pub mod packet;
pub mod procstat;
pub mod relay;
pub mod report;
pub mod run;
pub mod sdp;
pub mod signalling;
pub mod sip_text;
pub mod stats;
pub mod sweep;
