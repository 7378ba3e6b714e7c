//! Wall-clock time for records: every task turns the `Instant`s its cores work with into
//! wall-clock time through one anchor taken at start, so a call's record and the ACD's events
//! about that call carry the very same timestamps (a call's wait in the `cdr` view equals the
//! wait the statistics count, to the millisecond).
//!
//! The anchor follows the monotonic clock: a step of the system clock (an admin setting the
//! date) does not move the timestamps of a running switch; NTP's gradual corrections apply to
//! both clocks alike on Linux.

use std::sync::OnceLock;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

static ANCHOR: OnceLock<(Instant, Timestamp)> = OnceLock::new();

fn anchor() -> (Instant, Timestamp) {
    *ANCHOR.get_or_init(|| (Instant::now(), Timestamp::now()))
}

/// `at` on the wall clock.
#[must_use]
pub fn wall(at: Instant) -> Timestamp {
    let (instant, timestamp) = anchor();
    let offset = if at >= instant {
        SignedDuration::try_from(at - instant).unwrap_or(SignedDuration::MAX)
    } else {
        -SignedDuration::try_from(instant - at).unwrap_or(SignedDuration::MAX)
    };
    timestamp.checked_add(offset).unwrap_or(timestamp)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn instants_map_to_the_wall_clock_one_to_one() {
        let now = Instant::now();
        let later = now + Duration::from_millis(1500);
        let gap = wall(later).duration_since(wall(now));
        assert_eq!(gap, SignedDuration::from_millis(1500));
        assert!(wall(now).duration_since(Timestamp::now()).abs() < SignedDuration::from_secs(5));
    }
}
