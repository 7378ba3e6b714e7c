//! Switchboard's media engine, sans-IO.
//!
//! Every call's audio passes through this crate: RTP packets are received and relayed between the
//! legs of a call, transcoded when the legs do not share a codec, tapped by the recorder and the
//! DTMF detector, and mixed for supervisors. The hot path (datagram in → session lookup → rewrite
//! → datagram out) must not allocate, lock or log per packet; see `ARCHITECTURE.md`, "Media
//! engine". Like the other cores, nothing here owns a socket, a timer or a clock: the media workers
//! in the `switchboard` binary own the sockets and the 20 ms playout tick and feed this crate.
//!
//! Modules so far:
//! * [`g711`]: G.711 A-law / µ-law companding, table-driven and bit-exact with ITU-T G.191.
//! * [`rtp`]: zero-copy RTP parsing, in-place header rewrite for the relay, packet writing, and
//!   RTP/RTCP/STUN demultiplexing (RFC 3550 §5, RFC 5761, RFC 7983).
//! * [`stats`]: receiver statistics (RFC 3550 A.1 sequence validation, A.3 loss, A.8 jitter) and
//!   sender counters.
//! * [`rtcp`]: one RTCP session per leg (SR/RR, SDES, BYE, RTT), terminated by the B2BUA.
//!
//! RTP/RTCP sessions, the jitter buffer, RFC 4733 and in-band DTMF, prompt playout, the mixer and
//! the recorder arrive with the media issue, each as its own module behind the same sans-IO rule:
//! after every `handle_*(now, …)` call, drain `poll_*()` until it returns `None`, then wake no later
//! than `poll_timeout()`.

#![warn(missing_docs)]

pub mod g711;
pub mod rtcp;
pub mod rtp;
pub mod stats;

pub use g711::G711Error;
pub use rtcp::RtcpError;
pub use rtp::RtpError;
