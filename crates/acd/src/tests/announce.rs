//! Position and expected-wait announcements.

use super::*;
use crate::config::Announcements;

fn announced(h: &mut H) -> Vec<(u64, u32, Option<Duration>)> {
    h.take_outputs()
        .into_iter()
        .filter_map(|o| match o {
            Output::Announce {
                call,
                position,
                expected_wait,
            } => Some((call.0, position, expected_wait)),
            _ => None,
        })
        .collect()
}

fn announcing(first: u64, every: u64, members: &[&str]) -> QueueConfig {
    let mut q = queue("q", members);
    q.announcements = Some(Announcements {
        first_after: secs(first),
        every: secs(every),
        position: true,
        expected_wait: true,
    });
    q
}

#[test]
fn first_after_then_every_with_positions() {
    let mut h = H::new(config(vec![announcing(30, 60, &["a"])], &["a"]));
    h.login(&["a"]);
    h.pause("a", "x");
    h.enqueue(1, "q");
    h.until(10);
    h.enqueue(2, "q");
    h.until(29);
    assert!(announced(&mut h).is_empty());
    h.until(30);
    assert_eq!(
        announced(&mut h),
        [(1, 1, None)],
        "no handle time known yet"
    );
    h.until(40);
    assert_eq!(announced(&mut h), [(2, 2, None)]);
    h.leave(1, LeaveReason::Hangup);
    h.until(89);
    assert!(announced(&mut h).is_empty());
    h.until(100);
    assert_eq!(
        announced(&mut h),
        [(2, 1, None)],
        "caller 1 left: 2 moved up"
    );
}

#[test]
fn an_announcement_waits_for_the_ringing_to_end() {
    let mut h = H::new(config(vec![announcing(30, 60, &["a"])], &["a"]));
    h.login(&["a"]);
    h.pause("a", "x");
    h.enqueue(1, "q");
    h.until(25);
    h.command("a", AgentCommand::Ready);
    let offer = h.one_offer();
    h.until(34);
    assert!(announced(&mut h).is_empty(), "ringing at 30: held");
    h.result(offer.offer, OfferResult::NoAnswer);
    assert_eq!(announced(&mut h), [(1, 1, None)], "a rests: announce now");
    h.until(94);
    // Offered again at 39 (after the 5 s rest) and ringing until its 30 s deadline at 69,
    // then resting again until 74 and ringing from 74: the one due at 94 is held.
    assert!(announced(&mut h).is_empty());
}

#[test]
fn expected_wait_is_mean_handle_time_times_position_over_serving_agents() {
    let mut q = announcing(5, 1_000, &["a", "b", "c", "d"]);
    q.wrap_up = secs(30);
    let mut h = H::new(config(vec![q], &["a", "b", "c", "d"]));
    h.login(&["a", "b", "c"]);
    h.pause("c", "x"); // paused: does not count; d is logged out: neither
    h.enqueue(1, "q");
    let one = h.one_offer();
    h.result(one.offer, OfferResult::Answered);
    h.connected(1);
    h.enqueue(2, "q");
    let two = h.one_offer();
    h.result(two.offer, OfferResult::Answered);
    h.connected(2);
    h.until(60);
    h.end(1); // a: 60 s talk + 30 s wrap-up
    h.until(120);
    h.end(2); // b: 120 s talk + 30 s wrap-up
    h.until(150);
    // Both ready again: give them long calls so the next callers wait.
    for call in [3, 4] {
        h.enqueue(call, "q");
        let offer = h.one_offer();
        h.result(offer.offer, OfferResult::Answered);
        h.connected(call);
    }
    h.take_outputs();
    for call in [5, 6, 7] {
        h.enqueue(call, "q");
    }
    h.until(155);
    // Mean handle time (90 + 150) / 2 = 120 s; two agents serve (on a call counts).
    assert_eq!(
        announced(&mut h),
        [
            (5, 1, Some(secs(60))),
            (6, 2, Some(secs(120))),
            (7, 3, Some(secs(180)))
        ]
    );
}
