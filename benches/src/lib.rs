//! Benchmarks.
//!
//! # Media load generator
//! `loadgen` (the binary `src/bin/loadgen.rs`, its parts in [`loadgen`]) sets up N concurrent
//! calls through a running switch with real RTP both ways, and reports loss, added latency,
//! jitter and the switch's CPU and memory next to a raw UDP relay it runs itself in the same
//! run. `benches/loadgen.sh` builds the release switch, writes its config, and sweeps the
//! baseline and the switch's relay, recording and transcoding modes into one table.

#![warn(missing_docs)]

pub mod loadgen;
