//! The checks that need the whole file and the configuration: references, prompts in every
//! language, variables, reachability, and loops that never wait for the caller.
//!
//! # Which languages a prompt must exist in
//! Every prompt written literally (`play "welcome"`) must exist in every language the file can
//! run in: the default language, the ones it declares (`languages "fr" "en"`), the ones its
//! entries start in (`language=`) and every `language "xx"` verb in it. This is stricter than
//! following each path of the flow, and simpler to reason about: a plan that switches to
//! English anywhere needs all its prompts in English. Prompts whose names interpolate a
//! variable (`play "product-${product}"`) cannot be checked and fall back at run time.
//!
//! # Loops without input
//! A cycle of `goto`s in which no verb waits (play, say, menu, read, wait, enqueue, dial,
//! record) would spin the CPU until the step budget ends the call. For each step the checker
//! finds the steps it can jump to before anything waits, following both sides of every `if`
//! and the failure branch of `http` (an unreachable CRM fails at once), and reports every cycle
//! of that graph.

use std::collections::{BTreeSet, VecDeque};

use miette::SourceSpan;

use crate::ast::{BlockId, DialTargetDef, Plan, PromptName, Verb, VerbKind};
use crate::diag::{CheckError, Problem, suggest};
use crate::set::CheckContext;
use crate::template::Template;
use crate::vars::{BUILTIN_VARS, is_read_only};

pub(crate) fn check_plan(plan: &Plan, ctx: &CheckContext, flow: bool) -> Vec<Problem> {
    let mut c = Checker {
        plan,
        ctx,
        languages: languages(plan, ctx),
        assigned: assigned_vars(plan),
        problems: Vec::new(),
    };
    c.entries();
    for step in &plan.steps {
        plan.walk(step.body, &mut |verb| c.verb(verb));
    }
    if flow {
        c.reachability();
        c.loops();
    }
    c.problems
}

/// Every language the plan can run in (see the module docs).
pub(crate) fn languages(plan: &Plan, ctx: &CheckContext) -> BTreeSet<String> {
    let mut langs: BTreeSet<String> = plan.declared_languages.clone();
    langs.insert(ctx.default_language.clone());
    langs.extend(plan.entries.iter().filter_map(|e| e.language.clone()));
    for step in &plan.steps {
        plan.walk(step.body, &mut |v| {
            if let VerbKind::Language(l) = &v.kind {
                langs.insert(l.clone());
            }
        });
    }
    langs
}

/// Variables some verb of the plan assigns.
fn assigned_vars(plan: &Plan) -> BTreeSet<String> {
    let mut vars = BTreeSet::new();
    for step in &plan.steps {
        plan.walk(step.body, &mut |v| match &v.kind {
            VerbKind::Set { var, .. } => {
                vars.insert(var.clone());
            }
            VerbKind::Read(r) => {
                vars.insert(r.var.clone());
            }
            VerbKind::Http(h) => vars.extend(h.sets.iter().map(|(v, _)| v.clone())),
            _ => {}
        });
    }
    vars
}

struct Checker<'a> {
    plan: &'a Plan,
    ctx: &'a CheckContext,
    languages: BTreeSet<String>,
    assigned: BTreeSet<String>,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn entries(&mut self) {
        for entry in &self.plan.entries {
            self.step_ref(&entry.start, entry.start_span);
            if let Some(trunk) = &entry.trunk
                && !self.ctx.trunks.contains(trunk)
            {
                self.unknown("trunk", trunk, entry.trunk_span, &self.ctx.trunks.clone());
            }
        }
    }

    fn unknown(&mut self, what: &str, name: &str, span: SourceSpan, known: &BTreeSet<String>) {
        let help = suggest(name, known.iter().map(String::as_str)).or_else(|| {
            Some(if known.is_empty() {
                format!("no {what} is defined")
            } else {
                format!(
                    "known: {}",
                    known
                        .iter()
                        .take(12)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        });
        self.problems.push(
            Problem::new(
                CheckError::UnknownReference {
                    what: what.into(),
                    name: name.into(),
                },
                span,
                format!("no such {what}"),
            )
            .help_opt(help),
        );
    }

    fn step_ref(&mut self, name: &str, span: SourceSpan) {
        if self.plan.step(name).is_none() {
            let steps: BTreeSet<String> = self.plan.steps.iter().map(|s| s.name.clone()).collect();
            self.unknown("step", name, span, &steps);
        }
    }

    fn verb(&mut self, verb: &Verb) {
        for t in templates(&verb.kind) {
            self.vars(t.vars(), verb.span);
        }
        match &verb.kind {
            VerbKind::Play { prompts, .. } => prompts.iter().for_each(|p| self.prompt(p)),
            VerbKind::Menu(m) => m.prompts.iter().for_each(|p| self.prompt(p)),
            VerbKind::Read(r) => r.prompt.iter().for_each(|p| self.prompt(p)),
            VerbKind::Record(r) => r.greeting.iter().for_each(|p| self.prompt(p)),
            VerbKind::Say { .. } => self.say(verb.span),
            VerbKind::Goto { step } => self.step_ref(step, verb.span),
            VerbKind::If { cond, .. } => {
                let mut hours = Vec::new();
                cond.hours_refs(&mut hours);
                for (name, offset) in hours {
                    if !self.plan.hours.contains_key(&name) {
                        let known = self.plan.hours.keys().cloned().collect();
                        let span = SourceSpan::from((offset, name.len().max(1)));
                        self.unknown("hours", &name, span, &known);
                    }
                }
                let mut vars = Vec::new();
                cond.vars(&mut vars);
                self.vars(vars.into_iter(), verb.span);
            }
            VerbKind::Enqueue(e) => self.queue(&e.queue, e.queue_span),
            VerbKind::Dial(d) => self.dial_target(&d.target, d.target_span),
            _ => {}
        }
    }

    /// A literal queue name must exist; one that interpolates only `${language}` must exist
    /// for every language of the plan (`after-sales-${language}`); others cannot be checked.
    fn queue(&mut self, queue: &Template, span: SourceSpan) {
        let names: Vec<String> = if let Some(name) = queue.as_literal() {
            vec![name]
        } else if queue.vars().all(|v| v == "language") {
            self.languages
                .iter()
                .map(|lang| {
                    let vars =
                        std::collections::HashMap::from([("language".to_owned(), lang.clone())]);
                    queue.expand(&vars)
                })
                .collect()
        } else {
            Vec::new()
        };
        for name in names {
            if !self.ctx.queues.contains(&name) {
                self.unknown("queue", &name, span, &self.ctx.queues.clone());
            }
        }
    }

    fn dial_target(&mut self, target: &DialTargetDef, span: SourceSpan) {
        match target {
            DialTargetDef::Agent(t) => {
                if let Some(ext) = t.as_literal()
                    && !self.ctx.agents.contains(&ext)
                {
                    self.unknown("agent", &ext, span, &self.ctx.agents.clone());
                }
            }
            DialTargetDef::Extension(_) => {}
            DialTargetDef::Trunk { trunk, .. } => {
                if !self.ctx.trunks.contains(trunk) {
                    self.unknown("trunk", trunk, span, &self.ctx.trunks.clone());
                } else if !self.ctx.outbound_trunks.contains(trunk) {
                    self.problems.push(
                        Problem::new(
                            CheckError::TrunkCannotDial {
                                name: trunk.clone(),
                            },
                            span,
                            "no address",
                        )
                        .help(format!(
                            "give [[trunks]] `{trunk}` an address = \"host:port\" in switchboard.toml"
                        )),
                    );
                }
            }
        }
    }

    fn vars<'v>(&mut self, vars: impl Iterator<Item = &'v str>, span: SourceSpan) {
        for var in vars {
            if is_read_only(var) || self.assigned.contains(var) {
                continue;
            }
            let known: Vec<&str> = BUILTIN_VARS
                .iter()
                .map(|(n, _)| *n)
                .chain(self.assigned.iter().map(String::as_str))
                .collect();
            let help = suggest(var, known).or_else(|| {
                Some(format!(
                    "`{var}` is never set: assign it with set, read or http's set"
                ))
            });
            self.problems.push(
                Problem::new(
                    CheckError::UnknownReference {
                        what: "variable".into(),
                        name: var.to_owned(),
                    },
                    span,
                    "reads an unknown variable",
                )
                .help_opt(help),
            );
        }
    }

    fn prompt(&mut self, prompt: &PromptName) {
        let Some(name) = prompt.name.as_literal() else {
            return;
        };
        for lang in self.languages.clone() {
            let present = self.ctx.prompts.get(&lang);
            if present.is_some_and(|p| p.contains(&name)) {
                continue;
            }
            let help = present
                .and_then(|p| suggest(&name, p.iter().map(String::as_str)))
                .unwrap_or_else(|| {
                    format!(
                        "record sounds/{lang}/{name}.wav (8 kHz mono 16-bit), or check the \
                         languages this plan uses"
                    )
                });
            self.problems.push(
                Problem::new(
                    CheckError::MissingPrompt {
                        prompt: name.clone(),
                        language: lang.clone(),
                    },
                    prompt.span,
                    format!("missing in {lang}"),
                )
                .help(help),
            );
        }
    }

    fn say(&mut self, span: SourceSpan) {
        for lang in self.languages.clone() {
            let Some(table) = crate::say::fragments(&lang) else {
                self.problems.push(
                    Problem::new(
                        CheckError::SayUnsupported {
                            language: lang.clone(),
                        },
                        span,
                        "cannot speak it",
                    )
                    .help("play recorded prompts for this language instead"),
                );
                continue;
            };
            let present = self.ctx.prompts.get(&lang);
            let missing: Vec<String> = table
                .iter()
                .map(|(key, _)| format!("say/{key}"))
                .filter(|name| !present.is_some_and(|p| p.contains(name)))
                .collect();
            if let Some(first) = missing.first() {
                self.problems.push(
                    Problem::new(
                        CheckError::MissingPrompt {
                            prompt: first.clone(),
                            language: lang.clone(),
                        },
                        span,
                        format!("say fragments missing in {lang}"),
                    )
                    .help(format!(
                        "{} of the {} `say` fragments are missing in sounds/{lang}/say/: \
                         run sounds/make-prompts.sh",
                        missing.len(),
                        table.len()
                    )),
                );
            }
        }
    }

    fn reachability(&mut self) {
        let mut reached = vec![false; self.plan.steps.len()];
        let mut queue: VecDeque<usize> = self
            .plan
            .entries
            .iter()
            .filter_map(|e| self.plan.step_index.get(&e.start).copied())
            .collect();
        while let Some(i) = queue.pop_front() {
            if std::mem::replace(&mut reached[i], true) {
                continue;
            }
            self.plan.walk(self.plan.steps[i].body, &mut |v| {
                if let VerbKind::Goto { step } = &v.kind {
                    queue.extend(self.plan.step_index.get(step).copied());
                }
            });
        }
        for (step, _) in self.plan.steps.iter().zip(&reached).filter(|(_, r)| !**r) {
            self.problems.push(
                Problem::new(
                    CheckError::UnreachableStep {
                        name: step.name.clone(),
                    },
                    step.name_span,
                    "never reached",
                )
                .help("no entry starts here and no `goto` leads here: remove it or add a goto"),
            );
        }
    }

    fn loops(&mut self) {
        let edges: Vec<Vec<(usize, SourceSpan)>> = self
            .plan
            .steps
            .iter()
            .map(|s| {
                let mut out = Vec::new();
                instant_gotos(self.plan, s.body, &mut out);
                out.into_iter()
                    .filter_map(|(name, span)| self.plan.step_index.get(&name).map(|&i| (i, span)))
                    .collect()
            })
            .collect();
        let mut reported: BTreeSet<Vec<usize>> = BTreeSet::new();
        for start in 0..edges.len() {
            let Some((cycle, span)) = find_cycle(&edges, start) else {
                continue;
            };
            let mut key = cycle.clone();
            key.sort_unstable();
            if !reported.insert(key) {
                continue;
            }
            let mut names: Vec<String> = cycle
                .iter()
                .map(|&i| self.plan.steps[i].name.clone())
                .collect();
            names.push(names[0].clone());
            self.problems.push(
                Problem::new(
                    CheckError::InputlessLoop { cycle: names },
                    span,
                    "loops back",
                )
                .help("something in the loop must wait for the caller: a menu, read, play or wait"),
            );
        }
    }
}

/// The `goto`s of `block` reached before any verb waits; whether the block can end that way.
fn instant_gotos(plan: &Plan, block: BlockId, out: &mut Vec<(String, SourceSpan)>) -> bool {
    for verb in plan.block(block) {
        match &verb.kind {
            VerbKind::Goto { step } => {
                out.push((step.clone(), verb.span));
                return false;
            }
            VerbKind::Hangup { .. } => return false,
            VerbKind::If {
                then, otherwise, ..
            } => {
                let a = instant_gotos(plan, *then, out);
                let b = otherwise.is_none_or(|o| instant_gotos(plan, o, out));
                if !a && !b {
                    return false;
                }
            }
            VerbKind::Http(h) => {
                if let Some(failure) = h.on_failure {
                    instant_gotos(plan, failure, out);
                }
            }
            kind if kind.waits() => return false,
            _ => {}
        }
    }
    true
}

/// A shortest cycle through `start` in `edges`, with the span of the edge that closes it.
fn find_cycle(
    edges: &[Vec<(usize, SourceSpan)>],
    start: usize,
) -> Option<(Vec<usize>, SourceSpan)> {
    let mut parent: Vec<Option<usize>> = vec![None; edges.len()];
    let mut seen = vec![false; edges.len()];
    let mut queue = VecDeque::from([start]);
    seen[start] = true;
    while let Some(node) = queue.pop_front() {
        for &(next, span) in &edges[node] {
            if next == start {
                let mut cycle = vec![node];
                let mut at = node;
                while let Some(p) = parent[at] {
                    cycle.push(p);
                    at = p;
                }
                cycle.reverse();
                return Some((cycle, span));
            }
            if !seen[next] {
                seen[next] = true;
                parent[next] = Some(node);
                queue.push_back(next);
            }
        }
    }
    None
}

/// The templates a verb interpolates.
fn templates(kind: &VerbKind) -> Vec<&Template> {
    fn prompts(p: &[PromptName]) -> Vec<&Template> {
        p.iter().map(|p| &p.name).collect()
    }
    match kind {
        VerbKind::Play { prompts: p, .. } => prompts(p),
        VerbKind::Say { value, .. }
        | VerbKind::Set { value, .. }
        | VerbKind::Log(value)
        | VerbKind::Hangup { cause: value } => vec![value],
        VerbKind::Menu(m) => prompts(&m.prompts),
        VerbKind::Read(r) => r.prompt.iter().map(|p| &p.name).collect(),
        VerbKind::Enqueue(e) => std::iter::once(&e.queue).chain(&e.skills).collect(),
        VerbKind::Dial(d) => match &d.target {
            DialTargetDef::Agent(t) | DialTargetDef::Extension(t) => vec![t],
            DialTargetDef::Trunk { number, .. } => vec![number],
        },
        VerbKind::Record(r) => std::iter::once(&r.path)
            .chain(r.greeting.iter().map(|g| &g.name))
            .collect(),
        VerbKind::Http(h) => std::iter::once(&h.url).chain(h.body.as_ref()).collect(),
        _ => Vec::new(),
    }
}
