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
//! * [`comfort_noise`]: RFC 3389 comfort noise payloads and a seeded noise generator at a level
//!   and spectral shape, so a muted or silent leg does not sound dead.
//! * [`g711`]: G.711 A-law / µ-law companding, table-driven and bit-exact with ITU-T G.191.
//! * [`latch`]: symmetric RTP latching, strict against third-party floods.
//! * [`mixer`]: N-way mixing minus self with a who-hears-whom matrix (supervisor listen,
//!   whisper, barge; conferences), exact `i32` sums clamped once, allocation-free per tick.
//! * [`prompt`]: WAV prompts decoded once (hound) into shared mono 16-bit buffers at the leg's
//!   rate; playback of playlists, looping music on hold, gain, silence and the `record` beep.
//! * [`recorder`]: stereo call recording (caller left, agent right) and mono voicemail as
//!   16-bit WAV, written incrementally with a header valid at every instant; typed I/O failures
//!   that never stop the call; per-side rate conversion that survives codec changes.
//! * [`resample`]: streaming 8/16/48 kHz sample-rate conversion (rubato's FFT resampler), exact
//!   ratio, half a frame of delay, allocation-free per frame.
//! * [`codec`]: the codecs of a leg behind one encoder/decoder interface — G.711, G.722, Opus
//!   (with RFC 7587 fmtp handling) — with packet loss concealment and no allocation per frame.
//! * [`jitter`]: the adaptive jitter buffer in front of every decoder: reordering, loss,
//!   duplicates, SSRC and timestamp resyncs, clock drift, on injected time.
//! * [`rtp`]: zero-copy RTP parsing, in-place header rewrite for the relay, packet writing, and
//!   RTP/RTCP/STUN demultiplexing (RFC 3550 §5, RFC 5761, RFC 7983).
//! * [`stats`]: receiver statistics (RFC 3550 A.1 sequence validation, A.3 loss, A.8 jitter) and
//!   sender counters.
//! * [`rtcp`]: one RTCP session per leg (SR/RR, SDES, BYE, RTT), terminated by the B2BUA.
//!
//! The audio modules (comfort noise, mixer, prompts, recorder, resampler) are per-frame
//! transforms called once per 20 ms tick: their only clock is the count of frames they have
//! been given, so they take no `now` and own no timer. The recorder and prompt loader work over
//! `Read`/`Write + Seek` handed in by the driver and never open a file themselves.
//!
//! RTP/RTCP sessions, the jitter buffer, RFC 4733 and in-band DTMF arrive with the media issue,
//! each as its own module behind the same sans-IO rule: after every `handle_*(now, …)` call,
//! drain `poll_*()` until it returns `None`, then wake no later than `poll_timeout()`.

#![warn(missing_docs)]

pub mod codec;
pub mod comfort_noise;
pub mod g711;
pub mod jitter;
pub mod latch;
pub mod mixer;
pub mod prompt;
pub mod recorder;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod stats;

pub use g711::G711Error;
pub use rtcp::RtcpError;
pub use rtp::RtpError;
