//! Failed authentications, counted per source and per user; slow answers and bans for sources
//! that keep guessing (what Kamailio's pike/htable and fail2ban do together, in the core).
//!
//! * Every refused credential (wrong password, unknown user, unparsable or spent credentials)
//!   is a failure of its source address (the IP, not the port: a cracker changes ports for
//!   free) and of the user it named.
//! * A source's failures are counted over a sliding [`GuardPolicy::window`]. Past
//!   [`GuardPolicy::slow_after`] its refusals are answered late (one more
//!   [`GuardPolicy::slow_step`] per failure, at most [`GuardPolicy::slow_max`]); at
//!   [`GuardPolicy::ban_after`] it is banned for [`GuardPolicy::ban_for`]: everything it sends
//!   is dropped unread.
//! * A user's failures are counted too, for the log and the counters, but never lock the
//!   account: a password guessed at from elsewhere must not keep the real agent out. Many
//!   failures for one user from many sources raise one alert per window instead.
//! * Memory is bounded: at most [`GuardPolicy::max_tracked`] sources and users each, idle
//!   entries forgotten by [`Guard::sweep`].
//!
//! Sans-IO: the driver passes `now` with every call and decides what "drop" and "answer late"
//! mean on its sockets.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Longest user name kept as a key; longer names are cut (they are attacker-chosen).
const MAX_USER_KEY: usize = 64;

/// Thresholds and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardPolicy {
    /// Failures are counted over this sliding window.
    pub window: Duration,
    /// Failures in the window after which a source's refusals are answered late.
    pub slow_after: u32,
    /// Extra delay per failure beyond `slow_after`.
    pub slow_step: Duration,
    /// The longest delay.
    pub slow_max: Duration,
    /// Failures in the window that ban the source.
    pub ban_after: u32,
    /// How long a ban lasts.
    pub ban_for: Duration,
    /// Failures in the window for one user (from any sources) that raise an alert.
    pub user_alert_after: u32,
    /// Most sources (and, separately, users) tracked at once.
    pub max_tracked: usize,
}

impl Default for GuardPolicy {
    fn default() -> Self {
        GuardPolicy {
            window: Duration::from_secs(60),
            slow_after: 3,
            slow_step: Duration::from_millis(500),
            slow_max: Duration::from_secs(4),
            ban_after: 10,
            ban_for: Duration::from_secs(600),
            user_alert_after: 20,
            max_tracked: 65_536,
        }
    }
}

/// Whether a source may be heard at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Process its message.
    Allow,
    /// Banned: drop the message unread.
    Banned {
        /// When the ban ends.
        until: Instant,
    },
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reaction {
    /// The source's failures in the window, this one included.
    pub source_failures: u32,
    /// The user's failures in the window, this one included.
    pub user_failures: u32,
    /// Answer the refusal this much later (zero: at once).
    pub delay: Duration,
    /// This failure banned the source, until then: drop the refusal too.
    pub banned_until: Option<Instant>,
    /// This failure crossed the user's alert threshold (reported once per window).
    pub user_alert: bool,
}

/// Running totals, for the operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardCounters {
    /// Failed authentications.
    pub failures: u64,
    /// Refusals answered late.
    pub delayed: u64,
    /// Bans imposed.
    pub bans: u64,
    /// Messages dropped because their source was banned.
    pub dropped: u64,
    /// Failures of sources not tracked because the table was full of recent ones.
    pub untracked: u64,
}

/// A ban in force, as listed to an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ban {
    /// The banned address.
    pub source: IpAddr,
    /// When it ends.
    pub until: Instant,
}

#[derive(Debug, Default)]
struct Record {
    /// Failure times inside the window, oldest first (at most the threshold that matters).
    failures: VecDeque<Instant>,
    /// For users: the window in which an alert was last raised.
    alerted_at: Option<Instant>,
}

impl Record {
    fn push(&mut self, now: Instant, window: Duration, keep: usize) -> u32 {
        self.expire(now, window);
        self.failures.push_back(now);
        while self.failures.len() > keep {
            self.failures.pop_front();
        }
        u32::try_from(self.failures.len()).unwrap_or(u32::MAX)
    }

    fn expire(&mut self, now: Instant, window: Duration) {
        while self
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            self.failures.pop_front();
        }
    }

    fn last(&self) -> Option<Instant> {
        self.failures.back().copied()
    }
}

/// The failure counters and the ban list.
#[derive(Debug)]
pub struct Guard {
    policy: GuardPolicy,
    sources: HashMap<IpAddr, Record>,
    users: HashMap<String, Record>,
    bans: HashMap<IpAddr, Instant>,
    counters: GuardCounters,
}

impl Guard {
    /// A guard with nothing counted.
    #[must_use]
    pub fn new(policy: GuardPolicy) -> Self {
        Guard {
            policy,
            sources: HashMap::new(),
            users: HashMap::new(),
            bans: HashMap::new(),
            counters: GuardCounters::default(),
        }
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &GuardPolicy {
        &self.policy
    }

    /// Whether `source` is heard; a banned source's message is counted as dropped. An expired
    /// ban is lifted here (and by [`Guard::sweep`]).
    pub fn admit(&mut self, now: Instant, source: IpAddr) -> Admission {
        match self.bans.get(&source) {
            Some(&until) if now < until => {
                self.counters.dropped += 1;
                Admission::Banned { until }
            }
            Some(_) => {
                self.bans.remove(&source);
                Admission::Allow
            }
            None => Admission::Allow,
        }
    }

    /// Whether `source` is banned at `now` (without counting anything).
    #[must_use]
    pub fn is_banned(&self, now: Instant, source: IpAddr) -> bool {
        self.bans.get(&source).is_some_and(|until| now < *until)
    }

    /// A refused credential from `source` naming `user`.
    pub fn failure(&mut self, now: Instant, source: IpAddr, user: &str) -> Reaction {
        self.counters.failures += 1;
        let policy = self.policy;
        // Enough history to reach the ban and the longest delay, and no more.
        let steps_to_cap =
            (policy.slow_max.as_millis() / policy.slow_step.as_millis().max(1)).min(1_000) as u32;
        let keep = policy
            .ban_after
            .max(policy.slow_after.saturating_add(steps_to_cap))
            .max(1) as usize;
        let source_failures = match tracked(&mut self.sources, source, now, &policy) {
            Some(record) => record.push(now, policy.window, keep),
            None => {
                self.counters.untracked += 1;
                1
            }
        };
        let user_key = user_key(user);
        let (user_failures, user_alert) = match tracked(&mut self.users, user_key, now, &policy) {
            Some(record) => {
                let n = record.push(now, policy.window, policy.user_alert_after.max(1) as usize);
                let fresh = record
                    .alerted_at
                    .is_none_or(|at| now.saturating_duration_since(at) >= policy.window);
                let alert = n >= policy.user_alert_after && fresh;
                if alert {
                    record.alerted_at = Some(now);
                }
                (n, alert)
            }
            None => (1, false),
        };
        let mut reaction = Reaction {
            source_failures,
            user_failures,
            delay: Duration::ZERO,
            banned_until: None,
            user_alert,
        };
        if policy.ban_after > 0 && source_failures >= policy.ban_after {
            let until = now + policy.ban_for;
            self.bans.insert(source, until);
            self.sources.remove(&source);
            self.counters.bans += 1;
            reaction.banned_until = Some(until);
        } else if source_failures > policy.slow_after {
            let steps = source_failures - policy.slow_after;
            reaction.delay = policy.slow_step.saturating_mul(steps).min(policy.slow_max);
            self.counters.delayed += 1;
        }
        reaction
    }

    /// How late a challenge or refusal to `source` should go out now: as late as its next
    /// failure's refusal would (zero below the threshold).
    #[must_use]
    pub fn delay_for(&self, now: Instant, source: IpAddr) -> Duration {
        let Some(record) = self.sources.get(&source) else {
            return Duration::ZERO;
        };
        let recent = record
            .failures
            .iter()
            .filter(|t| now.saturating_duration_since(**t) < self.policy.window)
            .count();
        let next = u32::try_from(recent).unwrap_or(u32::MAX).saturating_add(1);
        if next > self.policy.slow_after {
            let steps = next - self.policy.slow_after;
            self.policy
                .slow_step
                .saturating_mul(steps)
                .min(self.policy.slow_max)
        } else {
            Duration::ZERO
        }
    }

    /// Forgets failures older than the window and lifts ended bans; returns the sources whose
    /// bans ended.
    pub fn sweep(&mut self, now: Instant) -> Vec<IpAddr> {
        let window = self.policy.window;
        self.sources.retain(|_, r| {
            r.expire(now, window);
            !r.failures.is_empty()
        });
        self.users.retain(|_, r| {
            r.expire(now, window);
            !r.failures.is_empty()
                || r.alerted_at
                    .is_some_and(|at| now.saturating_duration_since(at) < window)
        });
        let lifted: Vec<IpAddr> = self
            .bans
            .iter()
            .filter(|(_, until)| now >= **until)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in &lifted {
            self.bans.remove(ip);
        }
        lifted
    }

    /// The bans in force.
    #[must_use]
    pub fn bans(&self, now: Instant) -> Vec<Ban> {
        let mut bans: Vec<Ban> = self
            .bans
            .iter()
            .filter(|(_, until)| now < **until)
            .map(|(source, until)| Ban {
                source: *source,
                until: *until,
            })
            .collect();
        bans.sort_by_key(|b| (b.until, b.source));
        bans
    }

    /// Lifts a ban by hand; whether there was one.
    pub fn unban(&mut self, source: IpAddr) -> bool {
        self.sources.remove(&source);
        self.bans.remove(&source).is_some()
    }

    /// The running totals.
    #[must_use]
    pub fn counters(&self) -> GuardCounters {
        self.counters
    }

    /// Entries held (sources, users, bans): for leak tests and the operator.
    #[must_use]
    pub fn tracked(&self) -> (usize, usize, usize) {
        (self.sources.len(), self.users.len(), self.bans.len())
    }
}

fn user_key(user: &str) -> String {
    let mut end = user.len().min(MAX_USER_KEY);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    user[..end].to_owned()
}

/// The record for `key`, made if there is room: a full table first forgets what has aged out of
/// the window, and if that frees nothing the new key goes untracked (the table stays bounded;
/// the sources already in it keep their counts).
fn tracked<'a, K: std::hash::Hash + Eq>(
    map: &'a mut HashMap<K, Record>,
    key: K,
    now: Instant,
    policy: &GuardPolicy,
) -> Option<&'a mut Record> {
    if !map.contains_key(&key) && map.len() >= policy.max_tracked {
        map.retain(|_, r| {
            r.last()
                .is_some_and(|t| now.saturating_duration_since(t) < policy.window)
        });
        if map.len() >= policy.max_tracked {
            return None;
        }
    }
    Some(map.entry(key).or_default())
}

#[cfg(test)]
mod tests;
