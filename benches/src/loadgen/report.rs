//! What a run found, whether it meets the targets, and how it is printed: a Markdown table for
//! people (like README's Performance section) or one JSON object for scripts (`--json`).
//!
//! JSON is written by hand: a flat, fixed schema of numbers and our own strings does not justify
//! a serialisation dependency in the bench crate.

use std::fmt::Write as _;

use crate::loadgen::relay::RelayStats;
use crate::loadgen::signalling::SigCounters;
use crate::loadgen::stats::DirectionReport;

/// What "clean" means for a step of a sweep (the targets).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Loss must stay below this, percent, in each direction.
    pub max_loss_pct: f64,
    /// p99 added latency must stay below this, ms, in each measured direction.
    pub max_p99_ms: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_loss_pct: 0.1,
            max_p99_ms: 5.0,
        }
    }
}

/// CPU and memory of the process under test (the switch, or the baseline relay child).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcFigures {
    /// Its process id.
    pub pid: u32,
    /// CPU over the steady window (all calls up), percent of one core.
    pub cpu_pct: f64,
    /// RSS before the first call, KiB.
    pub rss_idle_kib: u64,
    /// RSS at the end of the steady window, KiB.
    pub rss_up_kib: u64,
    /// RSS after every call was hung up, KiB (`None` when the process was gone).
    pub rss_after_kib: Option<u64>,
}

impl ProcFigures {
    /// Memory each established call costs: (RSS with the calls up − idle RSS) / calls.
    #[must_use]
    pub fn kib_per_call(&self, calls: usize) -> f64 {
        if calls == 0 {
            return 0.0;
        }
        (self.rss_up_kib as f64 - self.rss_idle_kib as f64) / calls as f64
    }
}

/// How the generator itself fared: if it was starved, the figures say little about the target.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GeneratorFigures {
    /// The generator's CPU over the steady window, percent of one core.
    pub cpu_pct: f64,
    /// p99 of how late the pacer's slots started, ms.
    pub lag_p99_ms: f64,
    /// The latest slot, ms.
    pub lag_max_ms: f64,
    /// Packets the pacer failed to send.
    pub send_errors: u64,
    /// Receive errors other than "would block".
    pub recv_errors: u64,
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// `baseline`, `switch` or `direct`.
    pub mode: &'static str,
    /// What was measured, for people: the switch's address, "raw UDP relay (child process)"…
    pub target: String,
    /// Codec of the caller side.
    pub caller_codec: &'static str,
    /// Codec of the agent side.
    pub agent_codec: &'static str,
    /// Calls attempted.
    pub calls: usize,
    /// Calls that came up (both ends carrying RTP).
    pub established: usize,
    /// Calls that never came up, by reason.
    pub failures: Vec<(String, usize)>,
    /// Established calls the switch hung up before the generator did.
    pub remote_hangups: usize,
    /// Length of the steady window (every call up), seconds.
    pub steady_s: f64,
    /// Caller → agent, then agent → caller.
    pub directions: Vec<DirectionReport>,
    /// The process under test, when its pid was known.
    pub process: Option<ProcFigures>,
    /// The generator's own health.
    pub generator: GeneratorFigures,
    /// SIP oddities, when SIP was used.
    pub signalling: Option<SigCounters>,
    /// The baseline relay's own counters.
    pub relay: Option<RelayStats>,
}

impl RunReport {
    /// Every reason this run does not meet `t`; empty when clean.
    #[must_use]
    pub fn problems(&self, t: &Thresholds) -> Vec<String> {
        let mut problems = Vec::new();
        let failed: usize = self.failures.iter().map(|(_, n)| n).sum();
        if failed > 0 {
            problems.push(format!("{failed} of {} calls never came up", self.calls));
        }
        if self.remote_hangups > 0 {
            problems.push(format!("the switch hung up {} calls", self.remote_hangups));
        }
        for d in &self.directions {
            if d.loss_pct() >= t.max_loss_pct {
                problems.push(format!(
                    "{} loss {:.3} % >= {} %",
                    d.name,
                    d.loss_pct(),
                    t.max_loss_pct
                ));
            }
            if let Some(l) = d.latency
                && l.p99_ms >= t.max_p99_ms
            {
                problems.push(format!(
                    "{} p99 {:.2} ms >= {} ms",
                    d.name, l.p99_ms, t.max_p99_ms
                ));
            }
            if d.misrouted > 0 {
                problems.push(format!(
                    "{} packets of another call {}",
                    d.misrouted, d.name
                ));
            }
        }
        if self.generator.send_errors > 0 {
            problems.push(format!(
                "the generator failed to send {} packets",
                self.generator.send_errors
            ));
        }
        problems
    }

    /// Whether the run meets `t`.
    #[must_use]
    pub fn clean(&self, t: &Thresholds) -> bool {
        self.problems(t).is_empty()
    }

    /// The worst loss of both directions, percent.
    #[must_use]
    pub fn worst_loss_pct(&self) -> f64 {
        self.directions
            .iter()
            .map(DirectionReport::loss_pct)
            .fold(0.0, f64::max)
    }

    /// The worst measured p99 of both directions, ms (`None` when no direction was measurable).
    #[must_use]
    pub fn worst_p99_ms(&self) -> Option<f64> {
        self.directions
            .iter()
            .filter_map(|d| d.latency.map(|l| l.p99_ms))
            .reduce(f64::max)
    }

    /// The human report: a heading, one table row per direction, the process and generator lines
    /// and the verdict.
    #[must_use]
    pub fn text(&self, t: &Thresholds) -> String {
        let mut s = String::new();
        let failed: usize = self.failures.iter().map(|(_, n)| n).sum();
        let _ = writeln!(
            s,
            "## {} — {}, {} ↔ {}, {} calls ({} up, {} failed), {:.1} s with every call up\n",
            self.mode,
            self.target,
            self.caller_codec,
            self.agent_codec,
            self.calls,
            self.established,
            failed,
            self.steady_s
        );
        s.push_str(
            "| direction | sent | received | lost | loss % | dup | late | p50 ms | p99 ms | max ms | jitter ms (mean / max) |\n\
             |---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for d in &self.directions {
            let (p50, p99, max) = d.latency.map_or_else(
                || ("n/a".to_owned(), "n/a".to_owned(), "n/a".to_owned()),
                |l| {
                    (
                        format!("{:.2}", l.p50_ms),
                        format!("{:.2}", l.p99_ms),
                        format!("{:.2}", l.max_ms),
                    )
                },
            );
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.3} | {} | {} | {p50} | {p99} | {max} | {:.3} / {:.3} |",
                d.name,
                d.sent,
                d.received,
                d.lost,
                d.loss_pct(),
                d.duplicates,
                d.late,
                d.jitter_mean_ms,
                d.jitter_max_ms
            );
        }
        s.push('\n');
        for d in self.directions.iter().filter(|d| d.other > 0) {
            let _ = writeln!(
                s,
                "{}: {} more packets without our stamp (audio the switch made itself)",
                d.name, d.other
            );
        }
        for d in self.directions.iter().filter(|d| !d.stamped) {
            let _ = writeln!(
                s,
                "{}: carries no stamp (Opus, or transcoded by the switch): loss from packet counts, latency not measurable, jitter from RTP timestamps (so it includes the sender's pacing)",
                d.name
            );
        }
        if let Some(p) = &self.process {
            let _ = writeln!(
                s,
                "process under test (pid {}): CPU {:.1} % of one core; RSS {:.1} MiB idle, {:.1} MiB with {} calls up ({:.1} KiB per call){}",
                p.pid,
                p.cpu_pct,
                kib_to_mib(p.rss_idle_kib),
                kib_to_mib(p.rss_up_kib),
                self.established,
                p.kib_per_call(self.established),
                p.rss_after_kib
                    .map_or_else(String::new, |a| format!(", {:.1} MiB after", kib_to_mib(a)))
            );
        } else {
            s.push_str("process under test: not sampled (no --switch-pid)\n");
        }
        let g = &self.generator;
        let _ = writeln!(
            s,
            "generator: CPU {:.1} % of one core; pacer lag p99 {:.2} ms, max {:.2} ms; {} send errors, {} receive errors",
            g.cpu_pct, g.lag_p99_ms, g.lag_max_ms, g.send_errors, g.recv_errors
        );
        if let Some(c) = &self.signalling {
            let _ = writeln!(
                s,
                "SIP: {} retransmissions, {} unmatched, {} unreadable, {} unexpected, {} ACK timeouts, {} BYE timeouts",
                c.retransmissions,
                c.unmatched,
                c.unreadable,
                c.unexpected,
                c.ack_timeouts,
                c.bye_timeouts
            );
        }
        for (reason, n) in &self.failures {
            let _ = writeln!(s, "failed calls: {n} × {reason}");
        }
        if let Some(r) = &self.relay {
            let _ = writeln!(
                s,
                "relay: {} relayed, {} dropped before latching, {} send errors",
                r.relayed, r.no_peer, r.send_errors
            );
        }
        let problems = self.problems(t);
        if problems.is_empty() {
            let _ = writeln!(
                s,
                "verdict: clean (loss < {} %, p99 < {} ms)",
                t.max_loss_pct, t.max_p99_ms
            );
        } else {
            let _ = writeln!(s, "verdict: NOT clean: {}", problems.join("; "));
        }
        s
    }

    /// One JSON object.
    #[must_use]
    pub fn json(&self, t: &Thresholds) -> String {
        let mut o = JsonObject::default();
        o.str("mode", self.mode);
        o.str("target", &self.target);
        o.str("caller_codec", self.caller_codec);
        o.str("agent_codec", self.agent_codec);
        o.num("calls", self.calls as f64);
        o.num("established", self.established as f64);
        o.num(
            "failed",
            self.failures.iter().map(|(_, n)| *n).sum::<usize>() as f64,
        );
        o.num("remote_hangups", self.remote_hangups as f64);
        o.num("steady_s", self.steady_s);
        let directions: Vec<String> = self.directions.iter().map(direction_json).collect();
        o.raw("directions", &format!("[{}]", directions.join(",")));
        o.num("worst_loss_pct", self.worst_loss_pct());
        o.opt("worst_p99_ms", self.worst_p99_ms());
        match &self.process {
            Some(p) => {
                let mut po = JsonObject::default();
                po.num("pid", f64::from(p.pid));
                po.num("cpu_pct", p.cpu_pct);
                po.num("rss_idle_kib", p.rss_idle_kib as f64);
                po.num("rss_up_kib", p.rss_up_kib as f64);
                po.opt("rss_after_kib", p.rss_after_kib.map(|v| v as f64));
                po.num("kib_per_call", p.kib_per_call(self.established));
                o.raw("process", &po.finish());
            }
            None => o.raw("process", "null"),
        }
        let g = &self.generator;
        let mut go = JsonObject::default();
        go.num("cpu_pct", g.cpu_pct);
        go.num("lag_p99_ms", g.lag_p99_ms);
        go.num("lag_max_ms", g.lag_max_ms);
        go.num("send_errors", g.send_errors as f64);
        go.num("recv_errors", g.recv_errors as f64);
        o.raw("generator", &go.finish());
        let problems: Vec<String> = self.problems(t).iter().map(|p| json_string(p)).collect();
        o.raw("clean", if problems.is_empty() { "true" } else { "false" });
        o.raw("problems", &format!("[{}]", problems.join(",")));
        o.finish()
    }
}
fn direction_json(d: &DirectionReport) -> String {
    let mut o = JsonObject::default();
    o.str("name", d.name);
    o.num("sent", d.sent as f64);
    o.num("received", d.received as f64);
    o.num("lost", d.lost as f64);
    o.num("loss_pct", d.loss_pct());
    o.num("duplicates", d.duplicates as f64);
    o.num("late", d.late as f64);
    o.num("misrouted", d.misrouted as f64);
    o.raw("stamped", if d.stamped { "true" } else { "false" });
    o.num("other", d.other as f64);
    o.opt("p50_ms", d.latency.map(|l| l.p50_ms));
    o.opt("p99_ms", d.latency.map(|l| l.p99_ms));
    o.opt("max_ms", d.latency.map(|l| l.max_ms));
    o.num("jitter_mean_ms", d.jitter_mean_ms);
    o.num("jitter_max_ms", d.jitter_max_ms);
    o.finish()
}
fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A JSON object written field by field.
#[derive(Debug, Default)]
pub struct JsonObject {
    fields: Vec<String>,
}

impl JsonObject {
    /// A string field.
    pub fn str(&mut self, key: &str, value: &str) {
        self.raw(key, &json_string(value));
    }

    /// A number field (`null` when not finite); integers print without a fraction.
    pub fn num(&mut self, key: &str, value: f64) {
        self.raw(key, &json_number(value));
    }

    /// A number or `null`.
    pub fn opt(&mut self, key: &str, value: Option<f64>) {
        self.raw(key, &value.map_or_else(|| "null".to_owned(), json_number));
    }

    /// A field whose value is already JSON.
    pub fn raw(&mut self, key: &str, json: &str) {
        self.fields.push(format!("{}:{json}", json_string(key)));
    }

    /// The object's text.
    #[must_use]
    pub fn finish(self) -> String {
        format!("{{{}}}", self.fields.join(","))
    }
}

/// A JSON number; `null` for NaN and infinities, which JSON cannot represent.
#[must_use]
pub fn json_number(value: f64) -> String {
    if !value.is_finite() {
        return "null".to_owned();
    }
    if value.fract() == 0.0 && value.abs() < 9e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}

/// A JSON string literal (RFC 8259 §7).
#[must_use]
pub fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::stats::LatencySummary;

    fn direction(
        name: &'static str,
        sent: u64,
        received: u64,
        p99: Option<f64>,
    ) -> DirectionReport {
        DirectionReport {
            name,
            sent,
            received,
            lost: sent - received,
            duplicates: 0,
            late: 0,
            misrouted: 0,
            stamped: true,
            other: 0,
            latency: p99.map(|p99_ms| LatencySummary {
                p50_ms: 0.1,
                p99_ms,
                max_ms: 9.0,
            }),
            jitter_mean_ms: 0.01,
            jitter_max_ms: 0.05,
        }
    }

    fn report(loss_to_agent: u64, p99: Option<f64>) -> RunReport {
        RunReport {
            mode: "switch",
            target: "127.0.0.1:5070".into(),
            caller_codec: "PCMA",
            agent_codec: "PCMA",
            calls: 100,
            established: 100,
            failures: Vec::new(),
            remote_hangups: 0,
            steady_s: 10.0,
            directions: vec![
                direction("caller->agent", 100_000, 100_000 - loss_to_agent, p99),
                direction("agent->caller", 100_000, 100_000, p99),
            ],
            process: Some(ProcFigures {
                pid: 7,
                cpu_pct: 40.0,
                rss_idle_kib: 4_000,
                rss_up_kib: 19_000,
                rss_after_kib: None,
            }),
            generator: GeneratorFigures::default(),
            signalling: None,
            relay: None,
        }
    }

    #[test]
    fn clean_means_below_both_thresholds() {
        let t = Thresholds::default();
        assert!(report(99, Some(4.99)).clean(&t), "0.099 % and 4.99 ms pass");
        let lossy = report(100, Some(1.0));
        assert_eq!(
            lossy.problems(&t),
            vec!["caller->agent loss 0.100 % >= 0.1 %"]
        );
        let slow = report(0, Some(5.0));
        assert_eq!(slow.problems(&t).len(), 2, "both directions are slow");
        assert!(
            report(0, None).clean(&t),
            "transcoded: latency not measurable, loss decides"
        );
        let mut failed = report(0, Some(1.0));
        failed.failures = vec![("rejected 503".into(), 2)];
        failed.remote_hangups = 1;
        assert_eq!(
            failed.problems(&t),
            vec!["2 of 100 calls never came up", "the switch hung up 1 calls"]
        );
    }

    #[test]
    fn memory_per_call_is_the_growth_over_idle() {
        let r = report(0, None);
        assert_eq!(r.process.unwrap().kib_per_call(100), 150.0);
        assert_eq!(r.process.unwrap().kib_per_call(0), 0.0);
    }

    #[test]
    fn text_has_the_table_and_verdict() {
        let text = report(500, Some(1.5)).text(&Thresholds::default());
        assert!(text.contains("| caller->agent | 100000 | 99500 | 500 | 0.500 | 0 | 0 | 0.10 | 1.50 | 9.00 | 0.010 / 0.050 |"));
        assert!(text.contains("CPU 40.0 % of one core; RSS 3.9 MiB idle, 18.6 MiB with 100 calls up (150.0 KiB per call)"));
        assert!(text.contains("verdict: NOT clean: caller->agent loss 0.500 % >= 0.1 %"));
        let na = report(0, None).text(&Thresholds::default());
        assert!(na.contains("| n/a | n/a | n/a |"));
    }

    #[test]
    fn json_is_well_formed_and_complete() {
        let json = report(0, Some(1.25)).json(&Thresholds::default());
        assert!(json.starts_with("{\"mode\":\"switch\",\"target\":\"127.0.0.1:5070\""));
        assert!(json.contains("\"p99_ms\":1.2500"));
        assert!(json.contains("\"kib_per_call\":150"));
        assert!(json.contains("\"rss_after_kib\":null"));
        assert!(json.contains("\"clean\":true,\"problems\":[]"));
        // Balanced braces and brackets outside strings.
        let (mut depth, mut in_str, mut escaped) = (0_i32, false, false);
        for c in json.chars() {
            match (in_str, escaped, c) {
                (true, true, _) => escaped = false,
                (true, false, '\\') => escaped = true,
                (_, false, '"') => in_str = !in_str,
                (false, _, '{' | '[') => depth += 1,
                (false, _, '}' | ']') => depth -= 1,
                _ => {}
            }
            assert!(depth >= 0);
        }
        assert_eq!((depth, in_str), (0, false));
    }

    #[test]
    fn json_strings_and_numbers_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
        assert_eq!(json_number(3.0), "3");
        assert_eq!(json_number(0.25), "0.2500");
        assert_eq!(json_number(f64::NAN), "null");
        assert_eq!(json_number(f64::INFINITY), "null");
    }
}
