//! The interpreter: one call through a checked dialplan, sans-IO.
//!
//! The driver (the call task in the server, or the simulator) creates an [`Interpreter`] when a
//! call arrives, then loops:
//! 1. drain [`Interpreter::poll`] until it returns `None`, executing each [`Command`];
//! 2. wait for the event the last command asked for (or any digit or hang-up of the caller),
//!    and pass it to [`Interpreter::handle`]; back to 1.
//!
//! After [`Command::Hangup`] (always the last command), or after the caller's
//! [`Event::Hangup`], `poll` returns `None` for good and [`Interpreter::is_finished`] is true.
//! The interpreter owns no timer: waits are carried by commands (`CollectDigits { timeout }`,
//! `Wait`, `ring_timeout`…) and come back as events. Time-of-day decisions (`open(office)`) use
//! the `now` given to `poll` and `handle`.
//!
//! # Blocks and frames
//! Execution is a stack of frames, each a block of the plan and the index of the verb being
//! run. A verb that waits keeps its index until its event comes; a branch (a menu option, an
//! `on-failure`) is pushed as a new frame, and when it ends the verb after the one that pushed
//! it runs (or, for a menu's `on-timeout`/`on-invalid`, the menu's next attempt). `goto`
//! empties the stack. Running off the end of a step ends the call with cause `normal`.
//!
//! # The step budget
//! At most [`DEFAULT_STEP_BUDGET`] verbs run between two input events; past that the call is
//! ended with a log line and cause `dialplan-loop`, so no dialplan can spin a CPU. The checker
//! refuses the obvious cases (goto cycles without input) before they get here.
//!
//! # Digits
//! A digit is used by the `menu` or `read` waiting for it, cuts a `play … barge-in=#true` (and
//! is then kept for the next `menu` or `read`, so callers can type ahead), and is ignored at any
//! other time (during a non-barge-in prompt, an HTTP request, a pause), as Asterisk's Playback
//! does.

mod input;
mod io;

use jiff::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

pub use io::{
    CallFacts, Command, DialOutcome, DialTarget, EnqueueOutcome, Event, HttpFailure, HttpResponse,
    Method, NoRoute, OverflowReason, PromptRef, Trace,
};

use crate::ast::{BlockId, DialTargetDef, Plan, PromptName, VerbKind};
use crate::set::DialplanSet;

/// Verbs allowed between two input events (see the module docs).
pub const DEFAULT_STEP_BUDGET: u32 = 1000;

/// Longest type-ahead kept between a barge-in prompt and the next `menu`/`read`.
const TYPEAHEAD_MAX: usize = 32;

/// One call running through a dialplan.
#[derive(Debug)]
pub struct Interpreter {
    set: Arc<DialplanSet>,
    plan: usize,
    vars: HashMap<String, String>,
    stack: Vec<Frame>,
    state: State,
    out: VecDeque<Command>,
    now: Timestamp,
    typeahead: String,
    answered: bool,
    budget: u32,
    since_input: u32,
    trace: Option<Vec<Trace>>,
    end_cause: Option<String>,
    /// The first step, traced when the call starts running (tracing is enabled after `new`).
    start_step: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    block: BlockId,
    pc: usize,
    on_end: OnEnd,
}

/// What happens when a frame's block has run to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnEnd {
    /// The verb after the one that pushed the frame runs.
    Continue,
    /// The menu that pushed the frame tries again (attempt number).
    RetryMenu(u32),
    /// The menu that pushed the frame has failed for good.
    MenuFailed,
}

#[derive(Debug)]
enum State {
    Running,
    Playing { barge_in: bool, then: AfterPlay },
    Collecting(Collect),
    Waiting(Pending),
    Finished,
}

#[derive(Debug)]
enum AfterPlay {
    Next,
    Menu(u32),
    Read(ReadState),
    Record(String),
}

#[derive(Debug)]
enum Collect {
    Menu(u32),
    Read(ReadState),
}

#[derive(Debug, Default)]
struct ReadState {
    attempt: u32,
    digits: String,
}

#[derive(Debug)]
enum Pending {
    Timer,
    Dial,
    Enqueue,
    Http,
    Record(String),
}

impl Interpreter {
    /// Routes a call to its entry point and prepares its variables.
    ///
    /// # Errors
    /// [`NoRoute`] when no entry point takes the dialled number on that trunk.
    pub fn new(set: Arc<DialplanSet>, facts: CallFacts) -> Result<Interpreter, NoRoute> {
        let route = set
            .route(&facts.dialled, facts.trunk.as_deref())
            .ok_or_else(|| NoRoute {
                dialled: facts.dialled.clone(),
                trunk: facts.trunk.clone(),
            })?;
        let plan = &set.plans()[route.plan];
        let entry = &plan.entries[route.entry];
        let language = entry
            .language
            .clone()
            .unwrap_or_else(|| set.default_language().to_owned());
        let mut vars = HashMap::from([
            ("caller_id".to_owned(), facts.caller_id),
            (
                "caller_name".to_owned(),
                facts.caller_name.unwrap_or_default(),
            ),
            ("dnis".to_owned(), facts.dialled),
            ("trunk".to_owned(), facts.trunk.unwrap_or_default()),
            ("call_id".to_owned(), facts.call_id),
            ("language".to_owned(), language),
        ]);
        for (i, capture) in route.captures.into_iter().enumerate() {
            vars.insert(i.to_string(), capture);
        }
        let start = plan.step(&entry.start).map(|s| (s.name.clone(), s.body));
        let mut interp = Interpreter {
            plan: route.plan,
            vars,
            stack: Vec::new(),
            state: State::Running,
            out: VecDeque::new(),
            now: Timestamp::UNIX_EPOCH,
            typeahead: String::new(),
            answered: false,
            budget: DEFAULT_STEP_BUDGET,
            since_input: 0,
            trace: None,
            end_cause: None,
            start_step: None,
            set: Arc::clone(&set),
        };
        if let Some((name, body)) = start {
            interp.push(body, OnEnd::Continue);
            interp.start_step = Some(name);
        }
        Ok(interp)
    }

    /// Changes the step budget (verbs between two input events).
    #[must_use]
    pub fn with_step_budget(mut self, budget: u32) -> Interpreter {
        self.budget = budget.max(1);
        self
    }

    /// Records a [`Trace`] of everything the call does, for [`Interpreter::take_trace`].
    pub fn enable_trace(&mut self) {
        self.trace.get_or_insert_with(Vec::new);
    }

    /// The trace recorded since the last call (empty unless enabled).
    pub fn take_trace(&mut self) -> Vec<Trace> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The name of the dialplan (file) the call runs in.
    #[must_use]
    pub fn plan_name(&self) -> &str {
        &self.plan().name
    }

    /// The value of a variable.
    #[must_use]
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The caller's current language.
    #[must_use]
    pub fn language(&self) -> &str {
        self.var("language").unwrap_or_default()
    }

    /// Whether the call is over (hung up by the plan or by the caller).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// Why the call ended: the `Hangup` cause, or `caller-hangup`.
    #[must_use]
    pub fn end_cause(&self) -> Option<&str> {
        self.end_cause.as_deref()
    }

    /// The next command, running the dialplan as far as it goes without input.
    pub fn poll(&mut self, now: Timestamp) -> Option<Command> {
        self.now = now;
        if self.out.is_empty() && matches!(self.state, State::Running) {
            self.run();
        }
        self.out.pop_front()
    }

    /// Takes an event into account. Events the interpreter is not waiting for are ignored
    /// (a late `PlaybackDone`, a digit during a non-barge-in prompt…).
    pub fn handle(&mut self, now: Timestamp, event: Event) {
        self.now = now;
        match event {
            _ if self.is_finished() => return,
            Event::Hangup => {
                self.out.clear();
                self.stack.clear();
                self.state = State::Finished;
                self.end_cause = Some("caller-hangup".into());
                self.record(Trace::Event(Event::Hangup));
                return;
            }
            Event::Answered => {
                self.answered = true;
                return;
            }
            Event::Digit(d) if !is_key(d) => return,
            _ => {}
        }
        let set = Arc::clone(&self.set);
        let plan = &set.plans()[self.plan];
        let state = std::mem::replace(&mut self.state, State::Running);
        // Traced before what it causes; taken back if the event turns out to be ignored.
        if self.trace.is_some() {
            self.record(Trace::Event(event.clone()));
        }
        match (state, event) {
            (State::Playing { then, .. }, Event::PlaybackDone) => self.after_play(plan, then),
            (
                State::Playing {
                    barge_in: true,
                    then,
                },
                Event::Digit(d),
            ) => {
                self.barge_in(plan, then, d);
            }
            (State::Collecting(c), Event::Digit(d)) => self.collected(plan, c, Some(d)),
            (State::Collecting(c), Event::Timeout) => self.collected(plan, c, None),
            (State::Waiting(Pending::Timer), Event::Timeout) => self.advance(),
            (State::Waiting(Pending::Dial), Event::DialResult(o)) => self.dial_done(plan, &o),
            (State::Waiting(Pending::Enqueue), Event::EnqueueResult(o)) => {
                self.enqueue_done(plan, o);
            }
            (State::Waiting(Pending::Http), Event::HttpResult(r)) => self.http_done(plan, r),
            (State::Waiting(Pending::Record(path)), Event::RecordDone { duration, .. }) => {
                self.set_var("record_path", path);
                self.set_var("record_duration", duration.as_secs().to_string());
                self.advance();
            }
            (state, _) => {
                self.state = state;
                if let Some(t) = &mut self.trace {
                    t.pop();
                }
                return;
            }
        }
        self.since_input = 0;
    }

    fn plan(&self) -> &Plan {
        &self.set.plans()[self.plan]
    }

    fn record(&mut self, trace: Trace) {
        if let Some(t) = &mut self.trace {
            t.push(trace);
        }
    }

    fn emit(&mut self, command: Command) {
        if self.trace.is_some() {
            self.record(Trace::Command(command.clone()));
        }
        self.out.push_back(command);
    }

    fn set_var(&mut self, name: &str, value: String) {
        if self.trace.is_some() {
            self.record(Trace::Var {
                name: name.to_owned(),
                value: value.clone(),
            });
        }
        self.vars.insert(name.to_owned(), value);
    }

    fn branch(&mut self, verb: &'static str, taken: impl Into<String>) {
        if self.trace.is_some() {
            self.record(Trace::Branch {
                verb,
                taken: taken.into(),
            });
        }
    }

    fn push(&mut self, block: BlockId, on_end: OnEnd) {
        self.stack.push(Frame {
            block,
            pc: 0,
            on_end,
        });
    }

    /// The current verb is done: the next one runs.
    fn advance(&mut self) {
        if let Some(frame) = self.stack.last_mut() {
            frame.pc += 1;
        }
        self.state = State::Running;
    }

    /// Runs verbs until one waits or the call ends.
    fn run(&mut self) {
        if let Some(step) = self.start_step.take() {
            self.record(Trace::Step(step));
        }
        let set = Arc::clone(&self.set);
        let plan = &set.plans()[self.plan];
        while matches!(self.state, State::Running) {
            if self.since_input >= self.budget {
                self.emit(Command::Log {
                    message: format!(
                        "dialplan {}: {} verbs without any input, ending the call",
                        plan.name, self.budget
                    ),
                });
                self.finish("dialplan-loop");
                return;
            }
            let Some(&frame) = self.stack.last() else {
                self.finish("normal");
                return;
            };
            let Some(verb) = plan.block(frame.block).get(frame.pc) else {
                self.end_frame(plan);
                continue;
            };
            self.since_input += 1;
            self.exec(plan, &verb.kind);
        }
    }

    fn end_frame(&mut self, plan: &Plan) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        if self.stack.is_empty() {
            self.finish("normal");
            return;
        }
        match frame.on_end {
            OnEnd::Continue => self.advance(),
            OnEnd::RetryMenu(attempt) => self.menu_attempt(plan, attempt),
            OnEnd::MenuFailed => self.menu_failed(plan),
        }
    }

    pub(crate) fn finish(&mut self, cause: &str) {
        self.emit(Command::Hangup {
            cause: cause.to_owned(),
        });
        self.stack.clear();
        self.state = State::Finished;
        self.end_cause = Some(cause.to_owned());
    }

    fn goto(&mut self, plan: &Plan, step: &str) {
        self.stack.clear();
        self.record(Trace::Step(step.to_owned()));
        match plan.step(step) {
            Some(s) => self.push(s.body, OnEnd::Continue),
            None => {
                // Only a plan that bypassed the checker can get here.
                self.emit(Command::Log {
                    message: format!("dialplan {}: no step `{step}`", plan.name),
                });
                self.finish("dialplan-error");
            }
        }
    }

    fn exec(&mut self, plan: &Plan, kind: &VerbKind) {
        match kind {
            VerbKind::Answer => {
                if !std::mem::replace(&mut self.answered, true) {
                    self.emit(Command::Answer);
                }
                self.advance();
            }
            VerbKind::Play { prompts, barge_in } => {
                let prompts = self.resolve(prompts);
                self.play(prompts, *barge_in, AfterPlay::Next);
            }
            VerbKind::Say {
                what,
                value,
                barge_in,
            } => self.say(*what, &value.expand(&self.vars), *barge_in),
            VerbKind::Menu(_) => self.menu_attempt(plan, 0),
            VerbKind::Read(_) => self.read_attempt(plan, 0),
            VerbKind::Set { var, value } => {
                let value = value.expand(&self.vars);
                self.set_var(var, value);
                self.advance();
            }
            VerbKind::If {
                cond,
                then,
                otherwise,
            } => {
                let now = self.now;
                let open = |name: &str| plan.hours.get(name).is_some_and(|h| h.hours.is_open(now));
                if cond.eval(&self.vars, &open) {
                    self.branch("if", "then");
                    self.push(*then, OnEnd::Continue);
                } else if let Some(block) = otherwise {
                    self.branch("if", "else");
                    self.push(*block, OnEnd::Continue);
                } else {
                    self.branch("if", "skipped");
                    self.advance();
                }
            }
            VerbKind::Language(lang) => {
                self.vars.insert("language".into(), lang.clone());
                self.record(Trace::Language(lang.clone()));
                self.advance();
            }
            VerbKind::Goto { step } => self.goto(plan, step),
            VerbKind::Enqueue(e) => {
                let skills = e.skills.iter().map(|s| s.expand(&self.vars)).collect();
                self.emit(Command::Enqueue {
                    queue: e.queue.expand(&self.vars),
                    priority: e.priority,
                    skills,
                    max_wait: e.max_wait,
                    exit_keys: e.exit_keys.clone(),
                });
                self.state = State::Waiting(Pending::Enqueue);
            }
            VerbKind::Dial(d) => {
                let target = match &d.target {
                    DialTargetDef::Agent(t) => DialTarget::Agent(t.expand(&self.vars)),
                    DialTargetDef::Extension(t) => DialTarget::Extension(t.expand(&self.vars)),
                    DialTargetDef::Trunk { trunk, number } => DialTarget::Trunk {
                        trunk: trunk.clone(),
                        number: number.expand(&self.vars),
                    },
                };
                self.emit(Command::Dial {
                    target,
                    ring_timeout: d.ring_timeout,
                });
                self.state = State::Waiting(Pending::Dial);
            }
            VerbKind::Record(r) => {
                let path = r.path.expand(&self.vars);
                match &r.greeting {
                    Some(g) => {
                        let prompts = self.resolve(std::slice::from_ref(g));
                        self.play(prompts, true, AfterPlay::Record(path));
                    }
                    None => self.start_record(plan, path),
                }
            }
            VerbKind::Http(h) => self.http(plan, h),
            VerbKind::Hangup { cause } => {
                let cause = cause.expand(&self.vars);
                self.finish(if cause.is_empty() { "normal" } else { &cause });
            }
            VerbKind::Wait(d) if d.is_zero() => self.advance(),
            VerbKind::Wait(d) => {
                self.emit(Command::Wait(*d));
                self.state = State::Waiting(Pending::Timer);
            }
            VerbKind::Log(message) => {
                let message = message.expand(&self.vars);
                self.emit(Command::Log { message });
                self.advance();
            }
        }
    }

    /// Resolves prompt names in the caller's language, falling back to the default language.
    fn resolve(&self, prompts: &[PromptName]) -> Vec<PromptRef> {
        prompts
            .iter()
            .map(|p| self.prompt_ref(p.name.expand(&self.vars)))
            .collect()
    }

    fn prompt_ref(&self, name: String) -> PromptRef {
        let lang = self.language();
        let default = self.set.default_language();
        let language = if !self.set.has_prompt(lang, &name) && self.set.has_prompt(default, &name) {
            default
        } else {
            lang
        };
        PromptRef {
            path: format!("{language}/{name}.wav"),
            language: language.to_owned(),
            name,
        }
    }

    fn play(&mut self, prompts: Vec<PromptRef>, barge_in: bool, then: AfterPlay) {
        if prompts.is_empty() {
            let set = Arc::clone(&self.set);
            self.after_play(&set.plans()[self.plan], then);
            return;
        }
        self.emit(Command::Play { prompts, barge_in });
        self.state = State::Playing { barge_in, then };
    }

    fn say(&mut self, what: crate::ast::SayKind, value: &str, barge_in: bool) {
        let lang = self.language().to_owned();
        let spoken = crate::say::say(what, value, &lang)
            .or_else(|| crate::say::say(what, value, self.set.default_language()));
        match spoken {
            Some(names) => {
                let prompts = names.into_iter().map(|n| self.prompt_ref(n)).collect();
                self.play(prompts, barge_in, AfterPlay::Next);
            }
            None => {
                self.emit(Command::Log {
                    message: format!("say: cannot say {value:?} as {what:?} in {lang}"),
                });
                self.advance();
            }
        }
    }

    fn after_play(&mut self, plan: &Plan, then: AfterPlay) {
        match then {
            AfterPlay::Next => self.advance(),
            AfterPlay::Menu(attempt) => self.menu_collect(plan, attempt),
            AfterPlay::Read(rs) => self.read_collect(plan, rs),
            AfterPlay::Record(path) => self.start_record(plan, path),
        }
    }

    fn barge_in(&mut self, plan: &Plan, then: AfterPlay, digit: char) {
        match then {
            AfterPlay::Next => {
                if self.typeahead.len() < TYPEAHEAD_MAX {
                    self.typeahead.push(digit);
                }
                self.advance();
            }
            AfterPlay::Menu(attempt) => self.menu_digit(plan, attempt, digit),
            AfterPlay::Read(rs) => self.read_input(plan, rs, Some(digit)),
            // A key skips the voicemail greeting; it is not kept.
            AfterPlay::Record(path) => self.start_record(plan, path),
        }
    }

    fn collected(&mut self, plan: &Plan, collect: Collect, digit: Option<char>) {
        match (collect, digit) {
            (Collect::Menu(attempt), Some(d)) => self.menu_digit(plan, attempt, d),
            (Collect::Menu(attempt), None) => self.menu_timeout(plan, attempt),
            (Collect::Read(rs), d) => self.read_input(plan, rs, d),
        }
    }

    fn start_record(&mut self, plan: &Plan, path: String) {
        let Some(VerbKind::Record(r)) = self.current(plan) else {
            self.advance();
            return;
        };
        self.emit(Command::Record {
            path: path.clone(),
            max_duration: r.max,
            beep: r.beep,
            terminate_digits: r.terminate.clone(),
        });
        self.state = State::Waiting(Pending::Record(path));
    }

    /// The verb the top frame is at.
    fn current<'p>(&self, plan: &'p Plan) -> Option<&'p VerbKind> {
        let frame = self.stack.last()?;
        plan.block(frame.block).get(frame.pc).map(|v| &v.kind)
    }

    fn dial_done(&mut self, plan: &Plan, outcome: &DialOutcome) {
        let Some(VerbKind::Dial(d)) = self.current(plan) else {
            self.advance();
            return;
        };
        let (status, branch) = match outcome {
            DialOutcome::AnsweredAndEnded => ("answered", d.on_answered),
            DialOutcome::Busy => ("busy", d.on_busy),
            DialOutcome::NoAnswer => ("no-answer", d.on_no_answer),
            DialOutcome::Unavailable => ("unavailable", d.on_failed),
            DialOutcome::Failed(code) => {
                self.set_var("dial_code", code.to_string());
                ("failed", d.on_failed)
            }
        };
        self.set_var("dial_status", status.to_owned());
        match branch {
            Some(block) => {
                self.branch("dial", format!("on-{}", branch_name(status)));
                self.push(block, OnEnd::Continue);
                self.state = State::Running;
            }
            None if *outcome == DialOutcome::AnsweredAndEnded => self.finish("normal"),
            None => self.advance(),
        }
    }

    fn enqueue_done(&mut self, plan: &Plan, outcome: EnqueueOutcome) {
        let Some(VerbKind::Enqueue(e)) = self.current(plan) else {
            self.advance();
            return;
        };
        match outcome {
            EnqueueOutcome::BridgedAndEnded => self.finish("normal"),
            EnqueueOutcome::Overflow(reason) => {
                self.set_var("overflow_reason", reason.as_str().to_owned());
                if let OverflowReason::Key(key) = reason {
                    self.set_var("overflow_key", key.to_string());
                }
                match e.on_overflow {
                    Some(block) => {
                        self.branch("enqueue", "on-overflow");
                        self.push(block, OnEnd::Continue);
                        self.state = State::Running;
                    }
                    None => self.advance(),
                }
            }
        }
    }
}

fn branch_name(status: &str) -> &str {
    match status {
        "unavailable" => "failed",
        other => other,
    }
}

/// A DTMF key (RFC 4733 §3.2 events 0-15: 0-9, *, #, A-D).
fn is_key(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')
}
