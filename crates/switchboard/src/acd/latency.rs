//! The ACD's routing decision time, enqueue to offer, as an operator and the load benchmark
//! read it: a fixed-size log-linear histogram (16 buckets per doubling, so a percentile is
//! within 6.25 % of the true value), no allocation per sample and bounded memory however long
//! the switch runs.
//!
//! A decision is counted when the caller's `Enqueue` itself produced its offer (an agent was
//! free): from the instant the call saw the caller join (`at`) to the instant the ACD handed
//! the offer to the call's channel, so it includes the trip through the ACD's queue. A caller
//! who waits for an agent is not a routing decision but a wait, and is not counted.

use std::time::Duration;

/// Sub-buckets per power of two.
const SUB: usize = 16;
/// Powers of two covered, from 1 µs: up to 2^32 µs (over an hour).
const POWERS: usize = 32;

/// The histogram.
#[derive(Debug, Clone)]
pub struct Latency {
    buckets: Box<[u64; SUB * POWERS + SUB]>,
    count: u64,
    max: Duration,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            buckets: Box::new([0; SUB * POWERS + SUB]),
            count: 0,
            max: Duration::ZERO,
        }
    }
}

impl Latency {
    /// Counts one decision.
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.buckets[index(us)] += 1;
        self.count += 1;
        self.max = self.max.max(d);
    }

    /// Decisions counted.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The longest.
    #[must_use]
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The `q` quantile (0.5, 0.99), as the upper bound of its bucket (never above `max`);
    /// `None` before any decision.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        // The rank of the sample at quantile q, 1-based: ceil(q * count), at least 1.
        let wanted = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= wanted {
                return Some(Duration::from_micros(upper(i)).min(self.max));
            }
        }
        Some(self.max)
    }
}

/// The bucket of `us` microseconds: values below `SUB` have a bucket each; above, each power
/// of two is split into `SUB` equal parts.
fn index(us: u64) -> usize {
    if us < SUB as u64 {
        return us as usize;
    }
    let power = 63 - us.leading_zeros() as usize; // us >= 16: power >= 4
    let shift = power - 4; // SUB = 2^4
    let sub = ((us >> shift) as usize) & (SUB - 1);
    let i = (power - 3) * SUB + sub;
    i.min(SUB * POWERS + SUB - 1)
}

/// The largest value of bucket `i`.
fn upper(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let power = i / SUB + 3;
    let sub = (i % SUB) as u64;
    let shift = power - 4;
    ((SUB as u64 + sub + 1) << shift) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values_within_a_sixteenth() {
        for us in [
            0_u64,
            1,
            15,
            16,
            17,
            31,
            32,
            100,
            999,
            1000,
            12_345,
            1 << 20,
        ] {
            let i = index(us);
            assert!(upper(i) >= us, "{us} above its bucket {i} ({})", upper(i));
            let lower = if i == 0 { 0 } else { upper(i - 1) + 1 };
            assert!(lower <= us, "{us} below its bucket {i}");
            assert!(upper(i) - lower <= us / 16 + 1, "{us}: bucket too wide");
        }
    }

    #[test]
    fn quantiles_of_a_known_spread() {
        let mut l = Latency::default();
        assert_eq!(l.quantile(0.5), None);
        for us in 1..=100 {
            l.record(Duration::from_micros(us * 10));
        }
        assert_eq!(l.count(), 100);
        let p50 = l.quantile(0.5).unwrap().as_micros();
        assert!((500..=532).contains(&p50), "{p50}");
        let p99 = l.quantile(0.99).unwrap().as_micros();
        assert!((990..=1000).contains(&p99), "{p99}");
        assert_eq!(l.quantile(1.0).unwrap(), Duration::from_micros(1000));
        assert_eq!(l.max(), Duration::from_micros(1000));
    }
}
