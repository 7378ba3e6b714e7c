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
//! * [`dtmf`]: key presses from RFC 4733 events, in-band tones (Goertzel, ITU-T Q.24) and SIP
//!   INFO, merged into one event stream; RFC 4733 sending.
//! * [`tone`]: call-progress tones per country (ITU-T E.180) and DTMF tones.
//!
//! RTP/RTCP sessions, the jitter buffer, prompt playout, the mixer and
//! the recorder arrive with the media issue, each as its own module behind the same sans-IO rule:
//! after every `handle_*(now, …)` call, drain `poll_*()` until it returns `None`, then wake no later
//! than `poll_timeout()`.

#![warn(missing_docs)]

pub mod dtmf;
pub mod g711;
pub mod tone;

pub use g711::G711Error;
