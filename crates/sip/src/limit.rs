//! Per-source rate limits: a token bucket per address, checked before a message is parsed, so
//! a flood from one host costs a hash lookup per datagram instead of a parse and a transaction.
//!
//! Sans-IO with injected time. The table is bounded: idle buckets (full again) are forgotten
//! by [`RateLimiter::sweep`], and when the table is full of active sources a new source is
//! refused until room is made (fail closed: a flood spread over many addresses cannot push its
//! way past the limit by overflowing the table). Trusted sources (trunks, registered phones)
//! are not meant to be checked here at all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets per source address.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    max_sources: usize,
    buckets: HashMap<IpAddr, Bucket>,
    dropped: u64,
}

impl RateLimiter {
    /// `rate` messages per second sustained, up to `burst` at once, for at most `max_sources`
    /// addresses at a time.
    #[must_use]
    pub fn new(rate: u32, burst: u32, max_sources: usize) -> Self {
        RateLimiter {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            max_sources: max_sources.max(1),
            buckets: HashMap::new(),
            dropped: 0,
        }
    }

    /// Whether one more message from `source` is within its limit (and takes a token).
    pub fn allow(&mut self, now: Instant, source: IpAddr) -> bool {
        if !self.buckets.contains_key(&source) && self.buckets.len() >= self.max_sources {
            self.sweep(now);
            if self.buckets.len() >= self.max_sources {
                self.dropped += 1;
                return false;
            }
        }
        let (rate, burst) = (self.rate, self.burst);
        let bucket = self.buckets.entry(source).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// Forgets sources whose bucket has filled up again (they sent nothing for a while).
    pub fn sweep(&mut self, now: Instant) {
        let refill = Duration::from_secs_f64(self.burst / self.rate);
        self.buckets
            .retain(|_, b| now.saturating_duration_since(b.last) < refill);
    }

    /// Sources tracked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no source is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Messages refused so far.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(10, 20, 100);
        let allowed = (0..100).filter(|_| limiter.allow(t0, ip(1))).count();
        assert_eq!(allowed, 20);
        // One second later: ten more.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..100).filter(|_| limiter.allow(t1, ip(1))).count(), 10);
        // Another source has its own bucket.
        assert!(limiter.allow(t1, ip(2)));
        assert_eq!(limiter.dropped(), 170);
    }

    #[test]
    fn the_table_is_bounded_and_idle_sources_make_room() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(10, 20, 100);
        for n in 0..1000 {
            limiter.allow(t0, ip(n));
        }
        assert_eq!(limiter.len(), 100);
        assert!(
            !limiter.allow(t0, ip(5000)),
            "full of active sources: refused"
        );
        // After the refill time every bucket is full again: forgotten, room for newcomers.
        let later = t0 + Duration::from_secs(3);
        assert!(limiter.allow(later, ip(5000)));
        assert_eq!(limiter.len(), 1);
    }

    proptest! {
        /// Over any schedule, a source never gets more than `burst + rate × elapsed` messages
        /// through, and one that sends within its rate is never refused.
        #[test]
        fn never_more_than_the_bucket_allows(gaps in proptest::collection::vec(0u64..200, 1..500)) {
            let t0 = Instant::now();
            let mut limiter = RateLimiter::new(10, 20, 10);
            let mut now = t0;
            let mut allowed = 0u64;
            for gap in &gaps {
                now += Duration::from_millis(*gap);
                if limiter.allow(now, ip(1)) {
                    allowed += 1;
                }
                let bound = 20.0 + 10.0 * now.duration_since(t0).as_secs_f64();
                prop_assert!(allowed as f64 <= bound + 1e-9);
            }
            let mut polite = RateLimiter::new(10, 20, 10);
            let mut now = t0;
            for _ in &gaps {
                now += Duration::from_millis(100);
                prop_assert!(polite.allow(now, ip(2)));
            }
        }
    }
}
