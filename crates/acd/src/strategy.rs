//! How a queue's strategy picks among the agents that may take a caller.
//!
//! Dispatch hands over the eligible agents of the lowest penalty tier (see
//! [`crate::config::Strategy`]); this module only orders them. Every order ends in the agent's
//! index in the config, so two runs on the same inputs make the same offers, and `random`
//! draws from a generator seeded by the config (`rng_seed`), never from the OS.

use std::time::Instant;

use crate::config::Strategy;

/// One agent that may take the caller, with what the strategies look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Index in the agent table.
    pub agent: usize,
    /// Position among the queue's members, in config order (round-robin).
    pub pos: usize,
    /// When it last became ready after something other than an unanswered offer.
    pub idle_since: Instant,
    /// Calls of this queue it answered since it logged in (fewest-calls).
    pub answered: u32,
    /// Sum of its levels in the skills the caller asked for (skills-based).
    pub score: u32,
}

/// Whom to offer the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// Every candidate at once (ring-all).
    All,
    /// The candidate at this index.
    One(usize),
}

/// Orders `candidates` (never empty) by `strategy`. `rr_start` is the member position
/// round-robin starts from (the one after the last offered), `members` the queue's size.
pub(crate) fn pick(
    strategy: Strategy,
    candidates: &[Candidate],
    rr_start: usize,
    members: usize,
    rng: &mut SplitMix64,
) -> Pick {
    let best = |key: &dyn Fn(&Candidate) -> (u64, Instant)| {
        (0..candidates.len())
            .min_by_key(|&i| {
                let (k, idle) = key(&candidates[i]);
                (k, idle, candidates[i].agent)
            })
            .map_or(Pick::All, Pick::One)
    };
    match strategy {
        Strategy::RingAll => Pick::All,
        Strategy::LongestIdle => best(&|c| (0, c.idle_since)),
        Strategy::FewestCalls => best(&|c| (u64::from(c.answered), c.idle_since)),
        Strategy::SkillsBased => best(&|c| (u64::from(u32::MAX - c.score), c.idle_since)),
        Strategy::RoundRobin => {
            let members = members.max(1);
            best(&|c| {
                let distance = (c.pos + members - rr_start % members) % members;
                (distance as u64, c.idle_since)
            })
        }
        Strategy::Random => Pick::One(rng.below(candidates.len())),
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and good enough to spread calls; not for
/// secrets. Seeded from the config so tests are reproducible.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0). Multiply-shift (Lemire) without the rejection
    /// step: its bias is below 2^-50 for the few hundred agents a tier holds.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let wide = u128::from(self.next_u64()) * n as u128;
        // The high half of a 64×64-bit product is below `n`, so it fits a usize.
        usize::try_from(wide >> 64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cand(agent: usize, pos: usize, idle: u64, answered: u32, score: u32) -> Candidate {
        let t0 = Instant::now();
        Candidate {
            agent,
            pos,
            idle_since: t0 + Duration::from_secs(idle),
            answered,
            score,
        }
    }

    #[test]
    fn each_strategy_picks_its_agent() {
        let mut rng = SplitMix64::new(1);
        let cs = [
            cand(0, 0, 30, 5, 150),
            cand(1, 1, 10, 7, 90),
            cand(2, 2, 20, 5, 150),
        ];
        let p = |s, start| pick(s, &cs, start, 3, &mut SplitMix64::new(1));
        assert_eq!(p(Strategy::RingAll, 0), Pick::All);
        assert_eq!(p(Strategy::LongestIdle, 0), Pick::One(1));
        // Fewest calls: 0 and 2 tie at 5, 2 has been idle longer.
        assert_eq!(p(Strategy::FewestCalls, 0), Pick::One(2));
        assert_eq!(p(Strategy::SkillsBased, 0), Pick::One(2));
        assert_eq!(p(Strategy::RoundRobin, 0), Pick::One(0));
        assert_eq!(p(Strategy::RoundRobin, 2), Pick::One(2));
        assert_eq!(p(Strategy::RoundRobin, 3), Pick::One(0), "wraps around");
        assert!(matches!(pick(Strategy::Random, &cs, 0, 3, &mut rng), Pick::One(i) if i < 3));
    }

    #[test]
    fn the_generator_is_seeded_and_spreads_evenly() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        assert_eq!(a.next_u64(), b.next_u64());
        let mut counts = [0_u32; 4];
        for _ in 0..4_000 {
            counts[a.below(4)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(a.below(0), 0);
    }
}
