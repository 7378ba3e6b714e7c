//! Network delay estimation from packet transit times.
//!
//! A packet's *transit* is its arrival time minus its RTP timestamp, both in RTP ticks: an
//! unknown constant (the clocks' offset) plus the network delay. Two statistics matter:
//! * the **base**: the minimum transit over the last [`WINDOW`] packets, the fastest path. The
//!   buffer plays a packet `delay` ticks after the base, so the base is what the playout delay
//!   is measured from. A minimum over a sliding window also follows clock drift: a fast sender
//!   clock lowers transit steadily (the newest packets set the minimum), a slow one raises it
//!   (old minima leave the window).
//! * the **jitter** `J` of RFC 3550 §6.4.1 / Appendix A.8: the mean deviation of the difference
//!   in transit between consecutive arrivals, smoothed with gain 1/16. It is cheap, standard (the
//!   same number goes in RTCP reports) and robust to clock offset and drift.

/// Packets over which the minimum transit is taken: 1.28 s of 20 ms packets. Long enough to
/// see the fast path through a burst of queueing, short enough to follow a route change.
pub(super) const WINDOW: usize = 64;

/// Transit statistics of the current stream.
#[derive(Debug, Clone)]
pub(super) struct Estimator {
    /// Ring of recent transits; `len` of them valid.
    ring: [i64; WINDOW],
    next: usize,
    len: usize,
    /// Minimum of the valid ring entries.
    base: i64,
    last: Option<i64>,
    /// RFC 3550 A.8 jitter, scaled by 16.
    jitter_x16: i64,
}

impl Estimator {
    pub(super) fn new() -> Self {
        Self {
            ring: [0; WINDOW],
            next: 0,
            len: 0,
            base: 0,
            last: None,
            jitter_x16: 0,
        }
    }

    /// Whether any packet has been seen since the last reset.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets the history, keeping the jitter estimate only if `keep_jitter` (a resync within
    /// the same stream keeps what it learned of the network).
    pub(super) fn reset(&mut self, keep_jitter: bool) {
        let jitter = self.jitter_x16;
        *self = Self::new();
        if keep_jitter {
            self.jitter_x16 = jitter;
        }
    }

    /// Records the transit of one arriving packet.
    pub(super) fn update(&mut self, transit: i64) {
        if let Some(last) = self.last {
            // RFC 3550 A.8: J += (|D| - J) / 16, in fixed point with J scaled by 16.
            let d = (transit - last).abs();
            self.jitter_x16 += d - ((self.jitter_x16 + 8) >> 4);
        }
        self.last = Some(transit);
        let evicted = (self.len == WINDOW).then(|| self.ring[self.next]);
        self.ring[self.next] = transit;
        self.next = (self.next + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
        if self.len == 1 || transit < self.base {
            self.base = transit;
        } else if evicted == Some(self.base) {
            // The minimum left the window: rescan (64 entries, only when it happens).
            self.base = self.ring[..self.len]
                .iter()
                .copied()
                .min()
                .unwrap_or(transit);
        }
    }

    /// Minimum transit over the window (0 before any packet).
    pub(super) fn base(&self) -> i64 {
        self.base
    }

    /// The RFC 3550 interarrival jitter, in ticks.
    pub(super) fn jitter(&self) -> i64 {
        self.jitter_x16 >> 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_follows_rfc_3550_a8() {
        let mut e = Estimator::new();
        e.update(100);
        assert_eq!(e.jitter(), 0);
        // Alternating transit 100/260: |D| = 160 every packet; J converges to 160.
        for i in 0..400 {
            e.update(if i % 2 == 0 { 260 } else { 100 });
        }
        assert!((e.jitter() - 160).abs() <= 1, "{}", e.jitter());
        assert_eq!(e.base(), 100);
        // One step of the recursion, exactly: J16 = 16*J; J16 += |D| - round(J16/16).
        let mut e = Estimator::new();
        e.update(0);
        e.update(160);
        assert_eq!(e.jitter_x16, 160);
        e.update(160);
        assert_eq!(e.jitter_x16, 160 - 10);
    }

    #[test]
    fn base_is_a_sliding_minimum() {
        let mut e = Estimator::new();
        e.update(50);
        for _ in 0..WINDOW - 1 {
            e.update(80);
        }
        assert_eq!(e.base(), 50);
        e.update(90); // evicts the 50
        assert_eq!(e.base(), 80);
        e.update(10);
        assert_eq!(e.base(), 10);
        e.reset(true);
        assert!(e.is_empty());
        e.update(500);
        assert_eq!(e.base(), 500);
    }
}
