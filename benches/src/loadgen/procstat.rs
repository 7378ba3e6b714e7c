//! CPU time and resident memory of a process, from Linux's `/proc/PID/stat` and
//! `/proc/PID/status` (proc(5)), sampled around a run: CPU% over the steady window, RSS idle,
//! with every call up, and after.

use std::io;
use std::time::Instant;

/// One sample of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSample {
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// VmRSS, KiB.
    pub rss_kib: u64,
    /// When it was taken.
    pub at: Instant,
}

/// utime + stime (fields 14 and 15 of `/proc/PID/stat`). The command name (field 2) is in
/// parentheses and may itself contain spaces and parentheses, so fields are counted from the
/// last `)`.
#[must_use]
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // `after` starts at field 3 (state): utime is field 14, i.e. the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// VmRSS of `/proc/PID/status`, KiB.
#[must_use]
pub fn rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Samples process `pid` (or this process when `None`).
///
/// # Errors
/// When the process is gone or its files cannot be parsed.
pub fn sample(pid: Option<u32>, now: Instant) -> io::Result<ProcSample> {
    let dir = pid.map_or_else(|| "/proc/self".to_owned(), |p| format!("/proc/{p}"));
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{dir}/{what}"));
    let stat = std::fs::read_to_string(format!("{dir}/stat"))?;
    let status = std::fs::read_to_string(format!("{dir}/status"))?;
    Ok(ProcSample {
        cpu_ticks: cpu_ticks(&stat).ok_or_else(|| bad("stat"))?,
        rss_kib: rss_kib(&status).ok_or_else(|| bad("status"))?,
        at: now,
    })
}

/// Clock ticks per second (`getconf CLK_TCK`); 100, Linux's USER_HZ on every common
/// architecture, if `getconf` is missing.
#[must_use]
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// CPU used between two samples, in percent of one core.
#[must_use]
pub fn cpu_percent(before: &ProcSample, after: &ProcSample, ticks_per_second: u64) -> f64 {
    let wall = after.at.saturating_duration_since(before.at).as_secs_f64();
    if wall <= 0.0 || ticks_per_second == 0 {
        return 0.0;
    }
    let cpu = after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / ticks_per_second as f64;
    cpu * 100.0 / wall
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reads_utime_and_stime_past_a_tricky_name() {
        // Fields 1..=17 of a real stat line, with a command name holding ") (" and spaces.
        let stat = "4242 (sw) (x y) S 1 4242 4242 0 -1 4194560 1500 0 0 0 730 270 0 0 20 0 9";
        assert_eq!(cpu_ticks(stat), Some(1000));
        assert_eq!(cpu_ticks("4242 (sw) S 1"), None);
        assert_eq!(cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn reads_vmrss() {
        let status = "Name:\tswitchboard\nVmPeak:\t  9000 kB\nVmRSS:\t    4712 kB\nThreads:\t3\n";
        assert_eq!(rss_kib(status), Some(4712));
        assert_eq!(rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_percent_of_one_core() {
        let t0 = Instant::now();
        let a = ProcSample {
            cpu_ticks: 100,
            rss_kib: 0,
            at: t0,
        };
        let b = ProcSample {
            cpu_ticks: 250,
            rss_kib: 0,
            at: t0 + Duration::from_secs(2),
        };
        assert_eq!(cpu_percent(&a, &b, 100), 75.0); // 1.5 s of CPU in 2 s
        assert_eq!(cpu_percent(&b, &a, 100), 0.0);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(None, Instant::now()).unwrap();
        assert!(s.rss_kib > 0);
        assert!(ticks_per_second() > 0);
    }
}
