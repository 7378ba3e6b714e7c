//! What the benches share: a criterion measurement of this thread's CPU time.

use std::time::Duration;

use criterion::Criterion;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// This thread's CPU time, in ns, from `/proc/thread-self/schedstat` (Linux): the project's
/// machines are shared with builds, and wall time would count the time the bench sat
/// preempted. The kernel updates the figure at each scheduler tick (4 ms here), so samples
/// are made long (see [`thread_cpu_config`]) and criterion's regression over them averages that out.
pub struct ThreadCpuTime;

/// Criterion's own nanosecond formatting, borrowed for our nanoseconds.
static WALL: WallTime = WallTime;

fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }

    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    #[allow(clippy::cast_precision_loss)] // nanoseconds of a bench run fit 2^53
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

/// Criterion measuring [`ThreadCpuTime`]: 20 samples of 4 s after 0.5 s of warm-up.
pub fn thread_cpu_config() -> Criterion<ThreadCpuTime> {
    Criterion::default()
        .with_measurement(ThreadCpuTime)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
}
