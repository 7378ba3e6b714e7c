//! Journeys files: expected paths through the dialplans, kept next to them as regression
//! tests and run by `dialplan simulate --expect FILE`.
//!
//! ```kdl
//! journey "French caller in office hours reaches after-sales" {
//!     call to="+33180000000" from="+33612345678" trunk="local" at="2026-12-21T10:00:00+01:00"
//!     digits "1,1"                       // keys, `.` silence, `!` hang up
//!     http status=200 body=#"{"name":"Dupont"}"#   // without it every request fails
//!     dial "busy"                        // answered (default), busy, no-answer, unavailable, failed
//!     queue "overflow" reason="max-wait" // bridged (default), overflow
//!     plays "fr/welcome"                 // a prompt played, language/name
//!     never-plays "en/welcome"
//!     visits "main-menu"                 // a step entered
//!     reaches-queue "after-sales-fr"
//!     dials "agent 1001"                 // a dial target (prefix match)
//!     records                            // a recording (or voicemail) was made
//!     requests "GET http://crm"          // an HTTP request (prefix match)
//!     sets "customer" "Dupont"           // last value of a variable
//!     ends queue="after-sales-fr"        // or hangup="closed", dial="agent 1001", caller-hangup=#true
//! }
//! ```

use std::sync::Arc;

use kdl::{KdlDocument, KdlNode};
use miette::{NamedSource, SourceSpan};

use super::{Ending, Journey, Scenario, parse_inputs, simulate};
use crate::diag::{CheckError, Diagnostic, Diagnostics, Problem, suggest};
use crate::interp::{
    CallFacts, DialOutcome, EnqueueOutcome, HttpResponse, NoRoute, OverflowReason,
};
use crate::parse::NodeArgs;
use crate::set::{DialplanSet, Source};

/// One expectation about a journey.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expectation {
    /// This prompt (`fr/welcome`) was played.
    Plays(String),
    /// This prompt was never played.
    NeverPlays(String),
    /// This step was entered.
    Visits(String),
    /// This queue was entered.
    ReachesQueue(String),
    /// A dial target starting with this was called.
    Dials(String),
    /// Something was recorded.
    Records,
    /// An HTTP request starting with this was sent.
    Requests(String),
    /// The variable's last value.
    Sets(String, String),
    /// How the call ends.
    Ends(Ending),
}

/// A journey to run and what it must show.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneySpec {
    /// Its name.
    pub name: String,
    /// The scripted call.
    pub scenario: Scenario,
    /// What must hold.
    pub expectations: Vec<Expectation>,
}

/// The outcome of one journey.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyResult {
    /// The journey's name.
    pub name: String,
    /// What happened (or why no entry took the call).
    pub journey: Result<Journey, NoRoute>,
    /// Expectations that did not hold, explained.
    pub failures: Vec<String>,
}

impl JourneyResult {
    /// Whether every expectation held.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Parses a journeys file.
///
/// # Errors
/// Every problem, placed in the file.
pub fn parse_journeys(source: &Source) -> Result<Vec<JourneySpec>, Diagnostics> {
    let named = Arc::new(NamedSource::new(&source.name, source.text.clone()).with_language("kdl"));
    let place = |problems: Vec<Problem>| {
        Diagnostics::new(
            problems
                .into_iter()
                .map(|p| Diagnostic::new(p, &named, &source.text))
                .collect(),
        )
    };
    let doc = KdlDocument::parse_v2(&source.text).map_err(|err| {
        place(
            err.diagnostics
                .into_iter()
                .map(|d| {
                    Problem::new(
                        CheckError::Syntax {
                            message: d.message.unwrap_or_else(|| "invalid KDL".into()),
                        },
                        d.span,
                        d.label.unwrap_or_else(|| "here".into()),
                    )
                })
                .collect(),
        )
    })?;
    let mut problems = Vec::new();
    let mut specs = Vec::new();
    for node in doc.nodes() {
        if node.name().value() != "journey" {
            problems.push(unknown(node, "top-level node", &["journey"]));
            continue;
        }
        if let Some(spec) = journey(node, &mut problems) {
            specs.push(spec);
        }
    }
    if problems.is_empty() {
        Ok(specs)
    } else {
        Err(place(problems))
    }
}

const CHILDREN: [&str; 14] = [
    "call",
    "digits",
    "http",
    "dial",
    "queue",
    "plays",
    "never-plays",
    "visits",
    "reaches-queue",
    "dials",
    "records",
    "requests",
    "sets",
    "ends",
];

fn journey(node: &KdlNode, p: &mut Vec<Problem>) -> Option<JourneySpec> {
    let mut a = NodeArgs::new(node);
    let name = a.req_str(p, 0, "a name");
    a.finish(p, "one name");
    let mut spec = JourneySpec {
        name: name.map(|n| n.0).unwrap_or_default(),
        scenario: Scenario::new(CallFacts::default(), jiff::Timestamp::UNIX_EPOCH),
        expectations: Vec::new(),
    };
    let mut has_call = false;
    for child in node.iter_children() {
        let mut c = NodeArgs::new(child);
        let text = |c: &mut NodeArgs<'_>, p: &mut Vec<Problem>, what: &str| {
            c.req_str(p, 0, what).map(|t| t.0)
        };
        match child.name().value() {
            "call" => has_call = call(&mut c, p, &mut spec.scenario),
            "digits" => {
                if let Some((script, span)) = c.req_str(p, 0, "keys such as \"1,2\"") {
                    match parse_inputs(&script) {
                        Ok(inputs) => spec.scenario.inputs = inputs,
                        Err(message) => p.push(invalid("digits", message, span)),
                    }
                }
            }
            "http" => {
                let status = c.uint_prop(p, "status", 200, 999);
                let body = c.str_prop(p, "body").map(|b| b.0).unwrap_or_default();
                spec.scenario.http = Some(HttpResponse {
                    status: u16::try_from(status).unwrap_or(200),
                    body,
                });
            }
            "dial" => {
                if let Some((outcome, span)) = c.req_str(p, 0, "an outcome") {
                    match dial_outcome(&outcome) {
                        Some(o) => spec.scenario.dial = o,
                        None => p.push(invalid(
                            "dial",
                            format!(
                                "`{outcome}`: answered, busy, no-answer, unavailable or failed"
                            ),
                            span,
                        )),
                    }
                }
            }
            "queue" => queue(&mut c, p, &mut spec.scenario),
            "plays" => spec
                .expectations
                .extend(text(&mut c, p, "a prompt").map(Expectation::Plays)),
            "never-plays" => {
                spec.expectations
                    .extend(text(&mut c, p, "a prompt").map(Expectation::NeverPlays));
            }
            "visits" => spec
                .expectations
                .extend(text(&mut c, p, "a step").map(Expectation::Visits)),
            "reaches-queue" => {
                spec.expectations
                    .extend(text(&mut c, p, "a queue").map(Expectation::ReachesQueue));
            }
            "dials" => spec
                .expectations
                .extend(text(&mut c, p, "a target").map(Expectation::Dials)),
            "records" => spec.expectations.push(Expectation::Records),
            "requests" => {
                spec.expectations
                    .extend(text(&mut c, p, "a request").map(Expectation::Requests));
            }
            "sets" => {
                let var = c.req_str(p, 0, "a variable");
                let value = c.req_str(p, 1, "its value");
                if let (Some(var), Some(value)) = (var, value) {
                    spec.expectations.push(Expectation::Sets(var.0, value.0));
                }
            }
            "ends" => spec.expectations.extend(ends(&mut c, p, child)),
            _ => {
                p.push(unknown(child, "journey line", &CHILDREN));
                continue;
            }
        }
        c.finish(p, "what the line takes");
    }
    if !has_call {
        p.push(
            Problem::new(
                CheckError::MissingArgument {
                    verb: "journey".into(),
                    what: "a `call to=… at=…` line".into(),
                },
                node.name().span(),
                "no call",
            )
            .help(
                "call to=\"+33180000000\" from=\"+33612345678\" at=\"2026-12-21T10:00:00+01:00\"",
            ),
        );
        return None;
    }
    Some(spec)
}

fn call(c: &mut NodeArgs<'_>, p: &mut Vec<Problem>, s: &mut Scenario) -> bool {
    let to = c.str_prop(p, "to");
    let from = c.str_prop(p, "from");
    let trunk = c.str_prop(p, "trunk");
    let name = c.str_prop(p, "name");
    let at = c.str_prop(p, "at");
    let (Some(to), Some(at)) = (to, at) else {
        p.push(Problem::new(
            CheckError::MissingArgument {
                verb: "call".into(),
                what: "to= and at=".into(),
            },
            c.span(),
            "incomplete call",
        ));
        return false;
    };
    match at.0.parse::<jiff::Timestamp>() {
        Ok(ts) => s.at = ts,
        Err(e) => {
            p.push(
                invalid("call", format!("at=\"{}\": {e}", at.0), at.1)
                    .help("an RFC 3339 time with its offset: 2026-12-24T21:00:00+01:00"),
            );
            return false;
        }
    }
    s.facts = CallFacts {
        dialled: to.0,
        caller_id: from.map_or_else(|| "anonymous".into(), |f| f.0),
        caller_name: name.map(|n| n.0),
        trunk: trunk.map(|t| t.0),
        call_id: "simulated".into(),
    };
    true
}

fn queue(c: &mut NodeArgs<'_>, p: &mut Vec<Problem>, s: &mut Scenario) {
    let Some((outcome, span)) = c.req_str(p, 0, "an outcome") else {
        return;
    };
    let reason = c.str_prop(p, "reason").map(|r| r.0);
    s.queue = match outcome.as_str() {
        "bridged" => EnqueueOutcome::BridgedAndEnded,
        "overflow" => EnqueueOutcome::Overflow(match reason.as_deref() {
            None | Some("max-wait") => OverflowReason::MaxWait,
            Some("no-agents") => OverflowReason::NoAgents,
            Some("full") => OverflowReason::QueueFull,
            Some(key) if key.len() > 4 && key.starts_with("key:") => {
                OverflowReason::Key(key.chars().nth(4).unwrap_or('#'))
            }
            Some(other) => OverflowReason::Other(other.to_owned()),
        }),
        other => {
            p.push(invalid(
                "queue",
                format!("`{other}`: bridged or overflow"),
                span,
            ));
            return;
        }
    };
}

fn ends(c: &mut NodeArgs<'_>, p: &mut Vec<Problem>, node: &KdlNode) -> Option<Expectation> {
    let queue = c.str_prop(p, "queue");
    let hangup = c.str_prop(p, "hangup");
    let dial = c.str_prop(p, "dial");
    let caller = c.bool_prop(p, "caller-hangup", false);
    let ending = match (queue, hangup, dial, caller) {
        (Some(q), None, None, false) => Ending::Queue(q.0),
        (None, Some(h), None, false) => Ending::Hangup(h.0),
        (None, None, Some(d), false) => Ending::Dial(d.0),
        (None, None, None, true) => Ending::CallerHangup,
        _ => {
            p.push(Problem::new(
                CheckError::MissingArgument {
                    verb: "ends".into(),
                    what: "one of queue=, hangup=, dial= or caller-hangup=#true".into(),
                },
                node.name().span(),
                "how does it end?",
            ));
            return None;
        }
    };
    Some(Expectation::Ends(ending))
}

fn dial_outcome(text: &str) -> Option<DialOutcome> {
    Some(match text {
        "answered" => DialOutcome::AnsweredAndEnded,
        "busy" => DialOutcome::Busy,
        "no-answer" => DialOutcome::NoAnswer,
        "unavailable" => DialOutcome::Unavailable,
        "failed" => DialOutcome::Failed(503),
        _ => return None,
    })
}

fn unknown(node: &KdlNode, place: &str, known: &[&str]) -> Problem {
    let name = node.name().value();
    Problem::new(
        CheckError::UnknownVerb {
            name: name.to_owned(),
            place: place.into(),
        },
        node.name().span(),
        "not known here",
    )
    .help(
        suggest(name, known.iter().copied())
            .unwrap_or_else(|| format!("known: {}", known.join(", "))),
    )
}

fn invalid(verb: &str, message: String, span: SourceSpan) -> Problem {
    Problem::new(
        CheckError::InvalidValue {
            verb: verb.into(),
            message,
        },
        span,
        "here",
    )
}

/// Runs one journey and checks its expectations.
#[must_use]
pub fn run_journey(set: &Arc<DialplanSet>, spec: &JourneySpec) -> JourneyResult {
    let journey = simulate(set, &spec.scenario);
    let failures = match &journey {
        Err(no_route) => vec![no_route.to_string()],
        Ok(j) => spec
            .expectations
            .iter()
            .filter_map(|e| failure(e, j))
            .collect(),
    };
    JourneyResult {
        name: spec.name.clone(),
        journey,
        failures,
    }
}

/// Why `e` does not hold for `j`, if it does not.
fn failure(e: &Expectation, j: &Journey) -> Option<String> {
    let has = |list: &[String], x: &str| list.iter().any(|i| i == x);
    let starts = |list: &[String], x: &str| list.iter().any(|i| i.starts_with(x));
    let (ok, what, seen) = match e {
        Expectation::Plays(p) => (
            has(&j.prompts, p),
            format!("plays {p}"),
            j.prompts.join(", "),
        ),
        Expectation::NeverPlays(p) => (
            !has(&j.prompts, p),
            format!("never plays {p}"),
            j.prompts.join(", "),
        ),
        Expectation::Visits(s) => (
            has(&j.steps, s),
            format!("visits step {s}"),
            j.steps.join(", "),
        ),
        Expectation::ReachesQueue(q) => (
            has(&j.queues, q),
            format!("reaches queue {q}"),
            j.queues.join(", "),
        ),
        Expectation::Dials(t) => (
            starts(&j.dials, t),
            format!("dials {t}"),
            j.dials.join(", "),
        ),
        Expectation::Records => (!j.records.is_empty(), "records".into(), String::new()),
        Expectation::Requests(r) => (
            starts(&j.requests, r),
            format!("requests {r}"),
            j.requests.join(", "),
        ),
        Expectation::Sets(var, value) => (
            j.vars.get(var) == Some(value),
            format!("sets {var} = {value:?}"),
            j.vars
                .get(var)
                .map(|v| format!("{v:?}"))
                .unwrap_or_else(|| "unset".into()),
        ),
        Expectation::Ends(end) => (j.end == *end, format!("ends with {end}"), j.end.to_string()),
    };
    (!ok).then(|| {
        if seen.is_empty() {
            format!("expected: {what}; it did not happen")
        } else {
            format!("expected: {what}; got: {seen}")
        }
    })
}
