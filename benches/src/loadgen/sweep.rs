//! The sweep: for each path (baseline relay, switch, direct), the highest number of concurrent
//! calls that stays clean (loss < 0.1 %, p99 < 5 ms), stepping N up until the first step that
//! is not; and the ratio of each path's figure to the baseline's, measured in the same run.

use std::fmt::Write as _;
use std::time::Duration;

use crate::loadgen::report::{JsonObject, RunReport, Thresholds, json_number, json_string};
use crate::loadgen::run::{self, RunConfig, Target};

/// The steps the issue suggests.
pub const DEFAULT_STEPS: [usize; 9] = [100, 200, 400, 600, 800, 1000, 1200, 1400, 1600];

/// One step of one path.
#[derive(Debug, Clone)]
pub struct SweepStep {
    /// The run (the last attempt's).
    pub report: RunReport,
    /// Whether it met the thresholds.
    pub clean: bool,
    /// Attempts that were not clean before this one (see `retries` in [`sweep`]).
    pub retried: u32,
}

/// Every step of every path.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    /// In the order they ran.
    pub steps: Vec<SweepStep>,
}

/// How a sweep steps.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// Call counts, ascending.
    pub steps: Vec<usize>,
    /// Wait between runs, so that one run's teardown does not overlap the next.
    pub settle: Duration,
    /// Times an unclean step is run again before its path stops. On a machine shared with other
    /// work, one burst of someone else's load can stall every process for longer than the 5 ms
    /// budget; a retry tells such a burst from a limit. Reports say which steps needed one.
    pub retries: u32,
    /// What "clean" means.
    pub thresholds: Thresholds,
}

/// Runs the plan's steps for each of `targets`, with everything else from `base`; a path stops
/// at its first unclean step (after its retries). `progress` sees every attempt as it completes.
///
/// # Errors
/// When a run cannot be carried out at all (bad settings, sockets, relay child).
pub fn sweep(
    base: &RunConfig,
    targets: &[Target],
    plan: &SweepPlan,
    mut progress: impl FnMut(&SweepStep),
) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    let mut alive = vec![true; targets.len()];
    for &calls in &plan.steps {
        for (target, alive) in targets.iter().zip(alive.iter_mut()) {
            if !*alive {
                continue;
            }
            let config = RunConfig {
                target: target.clone(),
                calls,
                ..base.clone()
            };
            let mut retried = 0;
            let step = loop {
                let run = run::run(&config)?;
                let clean = run.clean(&plan.thresholds);
                let step = SweepStep {
                    report: run,
                    clean,
                    retried,
                };
                progress(&step);
                std::thread::sleep(plan.settle);
                if clean || retried >= plan.retries {
                    break step;
                }
                retried += 1;
            };
            *alive = step.clean;
            report.steps.push(step);
        }
        if !alive.iter().any(|a| *a) {
            break;
        }
    }
    Ok(report)
}

impl SweepReport {
    /// The highest clean step of `mode` below its first unclean one.
    #[must_use]
    pub fn best(&self, mode: &str) -> Option<&SweepStep> {
        self.steps
            .iter()
            .filter(|s| s.report.mode == mode)
            .take_while(|s| s.clean)
            .last()
    }

    /// Modes in the order they first ran.
    #[must_use]
    pub fn modes(&self) -> Vec<&'static str> {
        let mut modes = Vec::new();
        for s in &self.steps {
            if !modes.contains(&s.report.mode) {
                modes.push(s.report.mode);
            }
        }
        modes
    }

    /// `mode`'s best against the baseline's, when both have one.
    #[must_use]
    pub fn ratio(&self, mode: &str) -> Option<f64> {
        let base = self.best("baseline")?.report.calls;
        let this = self.best(mode)?.report.calls;
        let ratio = this as f64 / base as f64;
        Some(ratio)
    }

    /// The summary table, in the layout of README's Performance section, and one line per step.
    #[must_use]
    pub fn text(&self, thresholds: &Thresholds) -> String {
        let mut s = format!(
            "steps (clean: loss < {} %, p99 < {} ms in both directions):\n",
            thresholds.max_loss_pct, thresholds.max_p99_ms
        );
        for step in &self.steps {
            let r = &step.report;
            let _ = writeln!(
                s,
                "  {:<8} {:>5} calls: {}{} (worst loss {:.3} %, worst p99 {}, CPU {})",
                r.mode,
                r.calls,
                if step.clean { "clean" } else { "NOT clean" },
                match step.retried {
                    0 => String::new(),
                    n => format!(" after {n} unclean attempt(s)"),
                },
                r.worst_loss_pct(),
                r.worst_p99_ms()
                    .map_or_else(|| "n/a".to_owned(), |p| format!("{p:.2} ms")),
                r.process
                    .map_or_else(|| "n/a".to_owned(), |p| format!("{:.1} %", p.cpu_pct)),
            );
        }
        s.push_str(
            "\n| path | highest clean calls | ratio to baseline | worst loss % | worst p99 ms | CPU % of one core | RSS KiB per call |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for mode in self.modes() {
            let Some(best) = self.best(mode) else {
                let _ = writeln!(
                    s,
                    "| {mode} | none (first step failed) | - | - | - | - | - |"
                );
                continue;
            };
            let r = &best.report;
            let _ = writeln!(
                s,
                "| {mode} | {} | {} | {:.3} | {} | {} | {} |",
                r.calls,
                self.ratio(mode)
                    .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}")),
                r.worst_loss_pct(),
                r.worst_p99_ms()
                    .map_or_else(|| "n/a".to_owned(), |p| format!("{p:.2}")),
                r.process
                    .map_or_else(|| "n/a".to_owned(), |p| format!("{:.1}", p.cpu_pct)),
                r.process.map_or_else(
                    || "n/a".to_owned(),
                    |p| format!("{:.1}", p.kib_per_call(r.established))
                ),
            );
        }
        s
    }

    /// One JSON object: `steps` (each a run's JSON with `clean`), `best` and `ratio` per mode.
    #[must_use]
    pub fn json(&self, thresholds: &Thresholds) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| {
                // The run's object, with the step's retries added before its closing brace.
                let run = s.report.json(thresholds);
                let body = run.strip_suffix('}').unwrap_or(&run);
                format!("{body},\"retried\":{}}}", s.retried)
            })
            .collect();
        let mut best = JsonObject::default();
        let mut ratio = JsonObject::default();
        for mode in self.modes() {
            best.opt(mode, self.best(mode).map(|b| b.report.calls as f64));
            ratio.opt(mode, self.ratio(mode));
        }
        let mut o = JsonObject::default();
        o.raw("steps", &format!("[{}]", steps.join(",")));
        o.raw("best", &best.finish());
        o.raw("ratio", &ratio.finish());
        o.raw(
            "thresholds",
            &format!(
                "{{{}:{},{}:{}}}",
                json_string("max_loss_pct"),
                json_number(thresholds.max_loss_pct),
                json_string("max_p99_ms"),
                json_number(thresholds.max_p99_ms)
            ),
        );
        o.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::report::GeneratorFigures;

    fn step(mode: &'static str, calls: usize, clean: bool) -> SweepStep {
        SweepStep {
            report: RunReport {
                mode,
                target: String::new(),
                caller_codec: "PCMA",
                agent_codec: "PCMA",
                calls,
                established: calls,
                failures: Vec::new(),
                remote_hangups: 0,
                steady_s: 1.0,
                directions: Vec::new(),
                process: None,
                generator: GeneratorFigures::default(),
                signalling: None,
                relay: None,
            },
            clean,
            retried: 0,
        }
    }

    #[test]
    fn best_is_the_last_clean_step_before_the_first_failure() {
        let report = SweepReport {
            steps: vec![
                step("baseline", 100, true),
                step("switch", 100, true),
                step("baseline", 200, true),
                step("switch", 200, false),
                step("baseline", 400, false),
                step("baseline", 600, true), // never reached in a real sweep; ignored anyway
            ],
        };
        assert_eq!(report.best("baseline").map(|s| s.report.calls), Some(200));
        assert_eq!(report.best("switch").map(|s| s.report.calls), Some(100));
        assert_eq!(report.ratio("switch"), Some(0.5));
        assert_eq!(report.ratio("baseline"), Some(1.0));
        assert_eq!(report.modes(), vec!["baseline", "switch"]);
        let text = report.text(&Thresholds::default());
        assert!(text.contains("| switch | 100 | 0.50 |"));
        let json = report.json(&Thresholds::default());
        assert!(json.contains("\"best\":{\"baseline\":200,\"switch\":100}"));
        assert!(json.contains("\"ratio\":{\"baseline\":1,\"switch\":0.5000}"));
        assert!(json.contains("\"retried\":0}"));
    }

    #[test]
    fn a_path_that_fails_its_first_step_has_no_best() {
        let report = SweepReport {
            steps: vec![step("baseline", 100, true), step("switch", 100, false)],
        };
        assert!(report.best("switch").is_none());
        assert_eq!(report.ratio("switch"), None);
        assert!(
            report
                .text(&Thresholds::default())
                .contains("| switch | none (first step failed)")
        );
        assert!(
            report
                .json(&Thresholds::default())
                .contains("\"switch\":null")
        );
    }
}
