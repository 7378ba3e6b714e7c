use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
}

fn policy() -> GuardPolicy {
    GuardPolicy {
        window: Duration::from_secs(60),
        slow_after: 3,
        slow_step: Duration::from_millis(500),
        slow_max: Duration::from_secs(2),
        ban_after: 6,
        ban_for: Duration::from_secs(30),
        user_alert_after: 4,
        max_tracked: 100,
    }
}

#[test]
fn a_guessing_source_is_slowed_then_banned_then_heard_again() {
    let t0 = Instant::now();
    let mut guard = Guard::new(policy());
    let delays: Vec<Duration> = (0..5)
        .map(|i| {
            guard
                .failure(t0 + Duration::from_secs(i), ip(1), "1001")
                .delay
        })
        .collect();
    assert_eq!(
        delays,
        [
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
            Duration::from_millis(500),
            Duration::from_secs(1)
        ]
    );
    let sixth = guard.failure(t0 + Duration::from_secs(5), ip(1), "1001");
    assert_eq!(sixth.banned_until, Some(t0 + Duration::from_secs(35)));
    assert_eq!(
        guard.admit(t0 + Duration::from_secs(6), ip(1)),
        Admission::Banned {
            until: t0 + Duration::from_secs(35)
        }
    );
    // Another source is not touched by the ban.
    assert_eq!(
        guard.admit(t0 + Duration::from_secs(6), ip(2)),
        Admission::Allow
    );
    // Ban over: heard again, and its count starts from zero.
    assert_eq!(guard.sweep(t0 + Duration::from_secs(35)), vec![ip(1)]);
    assert_eq!(
        guard.admit(t0 + Duration::from_secs(35), ip(1)),
        Admission::Allow
    );
    let after = guard.failure(t0 + Duration::from_secs(36), ip(1), "1001");
    assert_eq!(after.source_failures, 1);
    assert_eq!(after.delay, Duration::ZERO);
    let c = guard.counters();
    assert_eq!((c.failures, c.bans, c.delayed, c.dropped), (7, 1, 2, 1));
}

#[test]
fn the_delay_is_capped() {
    let t0 = Instant::now();
    let mut guard = Guard::new(GuardPolicy {
        ban_after: 0,
        ..policy()
    });
    let last = (0..50)
        .map(|_| guard.failure(t0, ip(1), "x"))
        .last()
        .unwrap();
    assert_eq!(last.delay, Duration::from_secs(2));
    assert_eq!(last.banned_until, None, "ban_after 0 never bans");
}

#[test]
fn failures_outside_the_window_are_forgotten() {
    let t0 = Instant::now();
    let mut guard = Guard::new(policy());
    for i in 0..5 {
        guard.failure(t0 + Duration::from_secs(i * 20), ip(1), "1001");
    }
    // Never more than three in any 60 s: no ban, and never past the slow threshold.
    let r = guard.failure(t0 + Duration::from_secs(100), ip(1), "1001");
    assert_eq!(r.source_failures, 3);
    assert_eq!(r.banned_until, None);
    guard.sweep(t0 + Duration::from_secs(1000));
    assert_eq!(guard.tracked(), (0, 0, 0));
}

#[test]
fn a_user_guessed_at_from_many_sources_is_never_locked_but_raises_one_alert() {
    let t0 = Instant::now();
    let mut guard = Guard::new(policy());
    let alerts: Vec<bool> = (1..=10)
        .map(|n| guard.failure(t0, ip(n), "1001").user_alert)
        .collect();
    assert_eq!(alerts.iter().filter(|a| **a).count(), 1);
    assert!(alerts[3], "the fourth failure crosses the threshold");
    // No source is banned (each failed once) and nothing refuses the user itself.
    for n in 1..=10 {
        assert_eq!(guard.admit(t0, ip(n)), Admission::Allow);
    }
    // The real agent at its own address is heard whatever the user's count.
    assert_eq!(guard.admit(t0, ip(200)), Admission::Allow);
}

#[test]
fn tables_stay_bounded_under_a_spread_flood() {
    let t0 = Instant::now();
    let mut guard = Guard::new(policy());
    for i in 0..10_000u32 {
        let [a, b, c, d] = i.to_be_bytes();
        let source = IpAddr::V4(Ipv4Addr::new(10, a | b, c, d));
        guard.failure(t0, source, &format!("user{i}-{}", "x".repeat(500)));
    }
    let (sources, users, _) = guard.tracked();
    assert!(sources <= 100 && users <= 100, "{sources} {users}");
    assert!(guard.counters().untracked > 0);
    // After the window the full table makes room again.
    let r = guard.failure(t0 + Duration::from_secs(61), ip(9), "1001");
    assert_eq!(r.source_failures, 1);
    assert!(guard.tracked().0 <= 100);
}

#[test]
fn long_and_multibyte_user_names_are_cut_safely() {
    assert_eq!(user_key(&"é".repeat(100)).len(), 64);
    assert_eq!(user_key("1001"), "1001");
}

#[test]
fn a_ban_can_be_lifted_by_hand() {
    let t0 = Instant::now();
    let mut guard = Guard::new(policy());
    for _ in 0..6 {
        guard.failure(t0, ip(1), "1001");
    }
    assert_eq!(guard.bans(t0).len(), 1);
    assert!(guard.unban(ip(1)));
    assert_eq!(guard.admit(t0, ip(1)), Admission::Allow);
    assert!(!guard.unban(ip(1)));
}

proptest! {
    /// Whatever the sequence of failures over time: a source is banned exactly when it has
    /// failed `ban_after` times within one window since its last ban, the delay never exceeds
    /// the cap, and the tables never exceed their bound.
    #[test]
    fn bans_follow_the_sliding_window(
        steps in proptest::collection::vec((0u8..4, 0u64..30_000), 1..300)
    ) {
        let p = policy();
        let t0 = Instant::now();
        let mut guard = Guard::new(p);
        let mut now = t0;
        // Oracle: per source, failure times since its last ban ended.
        let mut history: std::collections::HashMap<u8, Vec<Instant>> = Default::default();
        let mut banned: std::collections::HashMap<u8, Instant> = Default::default();
        for (who, gap_ms) in steps {
            now += Duration::from_millis(gap_ms);
            let source = ip(who);
            if let Some(until) = banned.get(&who).copied() {
                if now < until {
                    prop_assert!(
                        matches!(guard.admit(now, source), Admission::Banned { .. }),
                        "banned source admitted",
                    );
                    continue;
                }
                banned.remove(&who);
                history.remove(&who);
            }
            prop_assert_eq!(guard.admit(now, source), Admission::Allow);
            let h = history.entry(who).or_default();
            h.push(now);
            h.retain(|t| now.saturating_duration_since(*t) < p.window);
            let expected = u32::try_from(h.len()).unwrap();
            let r = guard.failure(now, source, "u");
            prop_assert_eq!(r.source_failures, expected);
            prop_assert!(r.delay <= p.slow_max);
            if expected >= p.ban_after {
                prop_assert_eq!(r.banned_until, Some(now + p.ban_for));
                banned.insert(who, now + p.ban_for);
            } else {
                prop_assert_eq!(r.banned_until, None);
            }
            let (s, u, b) = guard.tracked();
            prop_assert!(s <= p.max_tracked && u <= p.max_tracked && b <= 4);
        }
    }
}

#[test]
fn challenges_to_a_slowed_source_are_as_late_as_its_next_refusal() {
    let t0 = Instant::now();
    let mut guard = Guard::new(policy());
    assert_eq!(guard.delay_for(t0, ip(1)), Duration::ZERO);
    for _ in 0..3 {
        guard.failure(t0, ip(1), "1001");
    }
    assert_eq!(guard.delay_for(t0, ip(1)), Duration::from_millis(500));
    assert_eq!(
        guard.failure(t0, ip(1), "1001").delay,
        Duration::from_millis(500)
    );
    assert_eq!(guard.delay_for(t0, ip(1)), Duration::from_secs(1));
    assert_eq!(
        guard.delay_for(t0 + Duration::from_secs(60), ip(1)),
        Duration::ZERO
    );
    assert_eq!(guard.delay_for(t0, ip(2)), Duration::ZERO);
}
