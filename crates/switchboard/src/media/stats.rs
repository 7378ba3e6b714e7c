//! Counters of the media workers: what was carried and what was dropped, and why.
//!
//! Workers count into their own plain fields on the hot path and add them here once per tick,
//! so the shared atomics are touched 50 times a second per worker, not once per packet.

use std::sync::atomic::{AtomicU64, Ordering};

/// Engine-wide counters (exported as metrics, logged at shutdown).
#[derive(Debug, Default)]
pub struct MediaStats {
    /// RTP packets received and accepted.
    pub packets_in: AtomicU64,
    /// RTP packets sent (relayed or generated).
    pub packets_out: AtomicU64,
    /// Datagrams that were not valid RTP/RTCP (bad version, truncated, lying padding…).
    pub dropped_malformed: AtomicU64,
    /// RTP with a payload type the leg did not negotiate.
    pub dropped_payload_type: AtomicU64,
    /// RTP and RTCP from an address other than the leg's remote (no hijack by a third party;
    /// see `switchboard_media::latch`). Each leg also logs them at debug, once per 10 s.
    pub dropped_foreign: AtomicU64,
    /// Packets that arrived for a leg whose remote is not known yet, or too late for playout.
    pub dropped_other: AtomicU64,
    /// Sends the kernel refused (full buffer, unreachable).
    pub send_errors: AtomicU64,
    /// Recording frames that could not be written (disk full…).
    pub recording_dropped_frames: AtomicU64,
    /// Recordings that failed.
    pub recording_failures: AtomicU64,
    /// Legs ended for sending no RTP.
    pub media_timeouts: AtomicU64,
    /// The longest 20 ms tick (playout, mixing, recording feed for every session of a worker)
    /// since the last summary, in µs: while it runs, that worker relays nothing, so it bounds the
    /// latency the tick adds.
    pub slowest_tick_us: AtomicU64,
}

/// One worker's counters since its last flush.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LocalStats {
    pub(crate) packets_in: u64,
    pub(crate) packets_out: u64,
    pub(crate) dropped_malformed: u64,
    pub(crate) dropped_payload_type: u64,
    pub(crate) dropped_foreign: u64,
    pub(crate) dropped_other: u64,
    pub(crate) send_errors: u64,
    pub(crate) slowest_tick_us: u64,
}

impl LocalStats {
    /// Adds these counts to the shared ones and starts again from zero.
    pub(crate) fn flush(&mut self, to: &MediaStats) {
        let pairs = [
            (&to.packets_in, self.packets_in),
            (&to.packets_out, self.packets_out),
            (&to.dropped_malformed, self.dropped_malformed),
            (&to.dropped_payload_type, self.dropped_payload_type),
            (&to.dropped_foreign, self.dropped_foreign),
            (&to.dropped_other, self.dropped_other),
            (&to.send_errors, self.send_errors),
        ];
        for (counter, value) in pairs {
            if value > 0 {
                counter.fetch_add(value, Ordering::Relaxed);
            }
        }
        to.slowest_tick_us
            .fetch_max(self.slowest_tick_us, Ordering::Relaxed);
        *self = LocalStats::default();
    }
}

impl MediaStats {
    /// A one-line summary for logs; the slowest tick starts again from zero.
    #[must_use]
    pub fn summary(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "in={} out={} malformed={} bad_pt={} foreign={} other={} send_errors={} \
             rec_dropped={} rec_failures={} timeouts={} slowest_tick_us={}",
            get(&self.packets_in),
            get(&self.packets_out),
            get(&self.dropped_malformed),
            get(&self.dropped_payload_type),
            get(&self.dropped_foreign),
            get(&self.dropped_other),
            get(&self.send_errors),
            get(&self.recording_dropped_frames),
            get(&self.recording_failures),
            get(&self.media_timeouts),
            self.slowest_tick_us.swap(0, Ordering::Relaxed),
        )
    }
}
