//! Switchboard's media engine, sans-IO.
//!
//! Every call's audio passes through this crate: RTP packets are received and relayed between the
//! legs of a call, transcoded when the legs do not share a codec, tapped by the recorder and the
//! DTMF detector, and mixed for supervisors. The hot path (datagram in → session lookup → rewrite
//! → datagram out) must not allocate, lock or log per packet; see `ARCHITECTURE.md`, "Media
//! engine". Like the other cores, nothing here owns a socket, a timer or a clock: the media workers
//! in the `switchboard` binary own the sockets and the 20 ms playout tick and feed this crate.
//!
//! Modules:
//! * [`rtp`]: zero-copy RTP parsing, in-place header rewrite for relaying, the packet writer, and
//!   RTP/RTCP/STUN demultiplexing (RFC 3550 §5, RFC 5761, RFC 7983).
//! * [`stats`]: RFC 3550 receiver and sender statistics (A.1 sequence validation, A.3 loss,
//!   A.8 jitter).
//! * [`rtcp`]: one terminated RTCP session per leg (SR/RR with SDES, BYE, RTT from LSR/DLSR).
//! * [`latch`]: symmetric RTP latching, strict against third-party floods: a latched source is
//!   moved only by a new SDP or by its own stream (same SSRC, next sequence numbers), never by
//!   silence; and nothing is sent to an address that neither sent media nor was vouched for by
//!   the signalling.
//! * [`jitter`]: the adaptive jitter buffer in front of every decoder: reordering, loss,
//!   duplicates, SSRC and timestamp resyncs, clock drift, on injected time.
//! * [`codec`]: the codecs of a leg behind one encoder/decoder interface — G.711, G.722, Opus
//!   (with RFC 7587 fmtp handling) — with packet loss concealment and no allocation per frame.
//! * [`g711`]: G.711 A-law / µ-law companding, table-driven and bit-exact with ITU-T G.191.
//! * [`resample`]: streaming 8/16/48 kHz sample-rate conversion (rubato's FFT resampler), exact
//!   ratio, half a frame of delay, allocation-free per frame.
//! * [`dtmf`]: key presses from RFC 4733 events, in-band tones (Goertzel, ITU-T Q.24) and SIP
//!   INFO, merged into one event stream; RFC 4733 sending.
//! * [`tone`]: call-progress tones per country (ITU-T E.180) and DTMF tones.
//! * [`prompt`]: WAV prompts decoded once (hound) into shared mono 16-bit buffers at the leg's
//!   rate; playback of playlists, looping music on hold, gain, silence and the `record` beep.
//! * [`recorder`]: stereo call recording (caller left, agent right) and mono voicemail as
//!   16-bit WAV, written incrementally with a header valid at every instant; typed I/O failures
//!   that never stop the call; per-side rate conversion that survives codec changes.
//! * [`mixer`]: N-way mixing minus self with a who-hears-whom matrix (supervisor listen,
//!   whisper, barge; conferences), exact `i32` sums clamped once, allocation-free per tick.
//! * [`comfort_noise`]: RFC 3389 comfort noise payloads and a seeded noise generator at a level
//!   and spectral shape, so a muted or silent leg does not sound dead.
//!
//! # The sans-IO rule
//! Protocol cores (RTCP, the jitter buffer, RFC 4733, the in-band detector, the DTMF merger)
//! take `now: Instant` with every input: after every `handle_*(now, …)` call, drain
//! `poll_*()` until it returns `None`, then wake no later than `poll_timeout()`. The audio modules
//! (comfort noise, mixer, prompts, recorder, resampler, tones) are per-frame transforms called
//! once per 20 ms tick: their only clock is the count of frames they have been given. Latching
//! has no clock at all, by design: silence must never change who owns a leg. The
//! recorder and prompt loader work over `Read`/`Write + Seek` handed in by the driver and never
//! open a file themselves.

#![warn(missing_docs)]

pub mod codec;
pub mod comfort_noise;
pub mod dtmf;
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
pub mod tone;

pub use g711::G711Error;
pub use rtcp::RtcpError;
pub use rtp::RtpError;
