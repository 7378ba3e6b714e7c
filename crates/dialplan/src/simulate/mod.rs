//! `dialplan simulate`: the real interpreter on scripted caller input, told as a journey.
//!
//! The simulator is a driver like the server's call task, with everything faked: prompts take
//! [`Scenario::prompt_time`] each, digits come from the script whenever the interpreter collects
//! one (a script that runs out means silence: timeouts), HTTP requests get the canned answer or
//! fail as if no CRM were reachable, dials and queues end as the scenario says. Time advances on
//! a virtual clock from [`Scenario::at`], so opening hours are decided as they would be at that
//! moment. The result is a [`Journey`]: one line per thing that happened, and the facts the
//! journeys file ([`expect`]) checks.

pub mod expect;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use crate::interp::{
    CallFacts, Command, DialOutcome, DialTarget, EnqueueOutcome, Event, HttpFailure, HttpResponse,
    Interpreter, NoRoute, OverflowReason, Trace,
};
use crate::set::DialplanSet;

/// What the caller does each time the interpreter waits for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Presses this key.
    Key(char),
    /// Says nothing (the wait times out).
    Silence,
    /// Hangs up.
    HangUp,
}

/// Parses a digits script: keys `0-9 * #`, `.` for silence, `!` to hang up; commas and spaces
/// are ignored (`"2,1"` is `"21"`).
///
/// # Errors
/// The first character that is none of these.
pub fn parse_inputs(script: &str) -> Result<Vec<Input>, String> {
    script
        .chars()
        .filter(|c| !matches!(c, ',' | ' '))
        .map(|c| match c {
            '0'..='9' | '*' | '#' => Ok(Input::Key(c)),
            '.' => Ok(Input::Silence),
            '!' => Ok(Input::HangUp),
            other => Err(format!(
                "`{other}` in the digits: use keys 0-9 * #, `.` for silence, `!` to hang up"
            )),
        })
        .collect()
}

/// One scripted call.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Who calls whom, on which trunk.
    pub facts: CallFacts,
    /// When the call starts.
    pub at: Timestamp,
    /// The caller's keys, one per wait.
    pub inputs: Vec<Input>,
    /// The answer to every HTTP request; `None`: every request fails (no CRM reachable).
    pub http: Option<HttpResponse>,
    /// How every `dial` ends.
    pub dial: DialOutcome,
    /// How every `enqueue` ends.
    pub queue: EnqueueOutcome,
    /// Simulated length of one prompt.
    pub prompt_time: Duration,
    /// Simulated length of a recording (capped by its `max`).
    pub record_time: Duration,
    /// Events after which a call that has not ended is abandoned.
    pub max_events: usize,
}

impl Scenario {
    /// A call with defaults: no keys, no CRM, dials answered, queues bridged.
    #[must_use]
    pub fn new(facts: CallFacts, at: Timestamp) -> Scenario {
        Scenario {
            facts,
            at,
            inputs: Vec::new(),
            http: None,
            dial: DialOutcome::AnsweredAndEnded,
            queue: EnqueueOutcome::BridgedAndEnded,
            prompt_time: Duration::from_secs(2),
            record_time: Duration::from_secs(10),
            max_events: 500,
        }
    }
}

/// How a simulated call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// An agent of this queue took the call.
    Queue(String),
    /// The dialled target answered (and the plan had nothing more to do).
    Dial(String),
    /// The dialplan hung up with this cause.
    Hangup(String),
    /// The script hung up (`!`).
    CallerHangup,
    /// Still running after [`Scenario::max_events`].
    Unfinished,
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Queue(q) => write!(f, "queue {q} (an agent answers)"),
            Ending::Dial(t) => write!(f, "dial {t} (answered)"),
            Ending::Hangup(c) => write!(f, "hangup, cause {c}"),
            Ending::CallerHangup => f.write_str("the caller hangs up"),
            Ending::Unfinished => f.write_str("still running: abandoned by the simulator"),
        }
    }
}

/// What happened in a simulated call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journey {
    /// The story, one line per step, prompt, key, branch, request, and the end.
    pub lines: Vec<String>,
    /// Steps entered, in order.
    pub steps: Vec<String>,
    /// Prompts played, as `language/name`.
    pub prompts: Vec<String>,
    /// Queues entered.
    pub queues: Vec<String>,
    /// Dial targets, as `agent 1001`, `extension 2000`, `trunk partner +33…`.
    pub dials: Vec<String>,
    /// Recording paths.
    pub records: Vec<String>,
    /// HTTP requests, as `GET url`.
    pub requests: Vec<String>,
    /// Last value of each variable the plan assigned.
    pub vars: BTreeMap<String, String>,
    /// How it ended.
    pub end: Ending,
}

/// Runs `scenario` through `set`.
///
/// # Errors
/// [`NoRoute`] when no entry takes the call.
pub fn simulate(set: &Arc<DialplanSet>, scenario: &Scenario) -> Result<Journey, NoRoute> {
    let mut interp = Interpreter::new(Arc::clone(set), scenario.facts.clone())?;
    interp.enable_trace();
    // Shown in the time zone of the plan's opening hours, as its `if open(…)` decide.
    let at = set
        .plans()
        .iter()
        .find(|p| p.name == interp.plan_name())
        .and_then(|p| p.hours.values().next())
        .map_or_else(
            || scenario.at.to_string(),
            |h| scenario.at.to_zoned(h.hours.tz().clone()).to_string(),
        );
    let mut sim = Sim {
        journey: Journey {
            lines: vec![format!(
                "call from {} to {}{} at {} -> dialplan {}",
                scenario.facts.caller_id,
                scenario.facts.dialled,
                scenario
                    .facts
                    .trunk
                    .as_ref()
                    .map(|t| format!(" on trunk {t}"))
                    .unwrap_or_default(),
                at,
                interp.plan_name()
            )],
            steps: Vec::new(),
            prompts: Vec::new(),
            queues: Vec::new(),
            dials: Vec::new(),
            records: Vec::new(),
            requests: Vec::new(),
            vars: BTreeMap::new(),
            end: Ending::Unfinished,
        },
        inputs: scenario.inputs.iter().copied(),
        now: scenario.at,
        bridged: None,
    };
    for _ in 0..scenario.max_events {
        let mut waiting = None;
        while let Some(command) = interp.poll(sim.now) {
            if !matches!(
                command,
                Command::Answer | Command::Log { .. } | Command::Hangup { .. }
            ) {
                waiting = Some(command);
            }
        }
        sim.tell(interp.take_trace());
        if interp.is_finished() {
            break;
        }
        let Some(command) = waiting else { break };
        let (after, event) = sim
            .answer(scenario, &command)
            .unwrap_or((Duration::ZERO, Event::Hangup));
        sim.now = sim.now.checked_add(after).unwrap_or(sim.now);
        if let (
            Command::Enqueue { queue, .. },
            Event::EnqueueResult(EnqueueOutcome::BridgedAndEnded),
        ) = (&command, &event)
        {
            sim.bridged = Some(Ending::Queue(queue.clone()));
        }
        if let (Command::Dial { target, .. }, Event::DialResult(DialOutcome::AnsweredAndEnded)) =
            (&command, &event)
        {
            sim.bridged = Some(Ending::Dial(describe_target(target)));
        }
        interp.handle(sim.now, event);
    }
    sim.tell(interp.take_trace());
    let end = match interp.end_cause() {
        None => Ending::Unfinished,
        Some("caller-hangup") => Ending::CallerHangup,
        Some("normal") if sim.bridged.is_some() => {
            sim.bridged.clone().unwrap_or(Ending::Unfinished)
        }
        Some(cause) => Ending::Hangup(cause.to_owned()),
    };
    sim.journey.lines.push(format!("end: {end}"));
    sim.journey.end = end;
    Ok(sim.journey)
}

/// `agent 1001`, `extension 2000`, `trunk partner +33…`.
#[must_use]
pub fn describe_target(target: &DialTarget) -> String {
    match target {
        DialTarget::Agent(a) => format!("agent {a}"),
        DialTarget::Extension(e) => format!("extension {e}"),
        DialTarget::Trunk { trunk, number } => format!("trunk {trunk} {number}"),
    }
}

struct Sim<I> {
    journey: Journey,
    inputs: I,
    now: Timestamp,
    /// What the call was bridged to last, for the ending.
    bridged: Option<Ending>,
}

impl<I: Iterator<Item = Input>> Sim<I> {
    /// The event the fake world answers `command` with, after how long; `None` for commands
    /// that need no answer. Consumes an input for `CollectDigits`.
    fn answer(&mut self, s: &Scenario, command: &Command) -> Option<(Duration, Event)> {
        Some(match command {
            Command::Play { prompts, .. } => {
                let n = u32::try_from(prompts.len()).unwrap_or(u32::MAX);
                (s.prompt_time * n, Event::PlaybackDone)
            }
            Command::CollectDigits { timeout } => match self.inputs.next() {
                Some(Input::Key(k)) => (Duration::from_secs(1), Event::Digit(k)),
                Some(Input::HangUp) => (Duration::from_secs(1), Event::Hangup),
                Some(Input::Silence) | None => (*timeout, Event::Timeout),
            },
            Command::Wait(d) => (*d, Event::Timeout),
            Command::Enqueue { .. } => (
                Duration::from_secs(30),
                Event::EnqueueResult(s.queue.clone()),
            ),
            Command::Dial { .. } => (Duration::from_secs(10), Event::DialResult(s.dial.clone())),
            Command::Record { max_duration, .. } => {
                let d = s.record_time.min(*max_duration);
                (
                    d,
                    Event::RecordDone {
                        duration: d,
                        terminated_by: None,
                    },
                )
            }
            Command::Http { .. } => (
                Duration::from_millis(100),
                Event::HttpResult(s.http.clone().ok_or_else(|| {
                    HttpFailure::Connect("no CRM answer in the simulator (use --http FILE)".into())
                })),
            ),
            Command::Answer | Command::Log { .. } | Command::Hangup { .. } => return None,
        })
    }

    /// Turns the interpreter's trace into journey lines and facts.
    fn tell(&mut self, trace: Vec<Trace>) {
        for t in trace {
            let line = match t {
                Trace::Step(name) => {
                    self.journey.steps.push(name.clone());
                    format!("step {name}")
                }
                Trace::Command(c) => match self.command(c) {
                    Some(line) => line,
                    None => continue,
                },
                Trace::Event(e) => match event_line(&e) {
                    Some(line) => line,
                    None => continue,
                },
                Trace::Branch { verb, taken } => format!("    {verb}: {taken}"),
                Trace::Var { name, value } => {
                    let line = format!("    set {name} = {value:?}");
                    self.journey.vars.insert(name, value);
                    line
                }
                Trace::Language(l) => format!("  language {l}"),
            };
            self.journey.lines.push(line);
        }
    }

    fn command(&mut self, c: Command) -> Option<String> {
        Some(match c {
            Command::Answer => "  answer".into(),
            Command::Play { prompts, barge_in } => {
                let mut line = String::from("  play");
                for p in &prompts {
                    self.journey
                        .prompts
                        .push(format!("{}/{}", p.language, p.name));
                    let _ = write!(line, " {}", p.path);
                }
                if barge_in {
                    line.push_str(" (a key interrupts)");
                }
                line
            }
            Command::CollectDigits { timeout } => format!("  wait for a key ({}s)", secs(timeout)),
            Command::Wait(d) => format!("  pause {}s", secs(d)),
            Command::Enqueue {
                queue,
                priority,
                skills,
                max_wait,
                exit_keys,
            } => {
                self.journey.queues.push(queue.clone());
                format!(
                    "  enqueue {queue} priority={priority} skills=[{}]{}{}",
                    skills.join(", "),
                    max_wait
                        .map(|d| format!(" max-wait={}s", secs(d)))
                        .unwrap_or_default(),
                    if exit_keys.is_empty() {
                        String::new()
                    } else {
                        format!(" exit-keys={exit_keys}")
                    }
                )
            }
            Command::Dial {
                target,
                ring_timeout,
            } => {
                let target = describe_target(&target);
                self.journey.dials.push(target.clone());
                format!("  dial {target} (ring {}s)", secs(ring_timeout))
            }
            Command::Record {
                path,
                max_duration,
                beep,
                terminate_digits,
            } => {
                self.journey.records.push(path.clone());
                format!(
                    "  record {path} (max {}s{}, stop on {terminate_digits})",
                    secs(max_duration),
                    if beep { ", beep" } else { "" }
                )
            }
            Command::Http {
                method,
                url,
                body,
                timeout,
            } => {
                let request = format!("{} {url}", method.as_str());
                self.journey.requests.push(request.clone());
                format!(
                    "  http {request}{} (timeout {}ms)",
                    body.map(|b| format!(" body {b}")).unwrap_or_default(),
                    timeout.as_millis()
                )
            }
            Command::Log { message } => format!("  log: {message}"),
            Command::Hangup { cause } => format!("  hangup (cause {cause})"),
        })
    }
}

fn event_line(e: &Event) -> Option<String> {
    Some(match e {
        Event::Digit(k) => format!("    caller presses {k}"),
        Event::Timeout => "    (time out)".into(),
        Event::DialResult(o) => format!("    dial result: {o:?}"),
        Event::EnqueueResult(EnqueueOutcome::BridgedAndEnded) => {
            "    an agent answers; the conversation ends".into()
        }
        Event::EnqueueResult(EnqueueOutcome::Overflow(r)) => {
            format!("    queue overflow: {}", overflow(r))
        }
        Event::HttpResult(Ok(r)) => format!("    http answer {}: {}", r.status, r.body.trim()),
        Event::HttpResult(Err(f)) => format!("    http failed: {f}"),
        Event::RecordDone { duration, .. } => format!("    recorded {}s", secs(*duration)),
        Event::Hangup => "    the caller hangs up".into(),
        Event::PlaybackDone | Event::Answered => return None,
    })
}

fn overflow(r: &OverflowReason) -> &str {
    r.as_str()
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_scripts() {
        assert_eq!(
            parse_inputs("2,1").unwrap(),
            [Input::Key('2'), Input::Key('1')]
        );
        assert_eq!(parse_inputs("21").unwrap(), parse_inputs("2, 1").unwrap());
        assert_eq!(
            parse_inputs(".#!").unwrap(),
            [Input::Silence, Input::Key('#'), Input::HangUp]
        );
        assert!(parse_inputs("1a").unwrap_err().contains("`a`"));
    }
}
