//! The verbs: one function each, reading its node into a [`VerbKind`].
//!
//! Branches (`on-timeout`, `on-failure`, `option "1"`…) are written either as a block
//! (`on-failure { play "sorry"; hangup }`) or, when all they do is jump, as a step name
//! (`on-failure "closed"`, short for `{ goto "closed" }`).

use std::time::Duration;

use kdl::{KdlDocument, KdlNode};

use super::{Builder, NodeArgs, bad_language, is_language_code};
use crate::ast::{BlockId, Menu, PromptName, Read, SayKind, Verb, VerbKind};
use crate::cond::Cond;
use crate::diag::{CheckError, Problem, suggest};
use crate::template::{Template, is_var_name};
use crate::vars::is_read_only;

/// Every verb, for "did you mean" hints.
pub(crate) const VERBS: [&str; 18] = [
    "answer",
    "play",
    "say",
    "menu",
    "read",
    "set",
    "if",
    "else",
    "language",
    "goto",
    "enqueue",
    "dial",
    "record",
    "voicemail",
    "http",
    "hangup",
    "wait",
    "log",
];

impl Builder<'_> {
    /// One verb; `None` (with problems reported) when it cannot be built.
    pub(crate) fn verb(&mut self, node: &KdlNode) -> Option<VerbKind> {
        let name = node.name().value();
        let mut a = NodeArgs::new(node);
        let (kind, expected) = match name {
            "answer" => (Some(VerbKind::Answer), "no value"),
            "play" => (self.play(&mut a), "prompt names"),
            "say" => (self.say(&mut a), "what to say and the value"),
            "menu" => (self.menu(&mut a, node), "prompt names"),
            "read" => (self.read(&mut a, node), "one variable name"),
            "set" => (self.set(&mut a), "a variable name and a value"),
            "if" => (self.if_(&mut a, node), "one condition"),
            "language" => (self.language(&mut a), "one language code"),
            "goto" => (self.goto(&mut a), "one step name"),
            "enqueue" => (self.enqueue(&mut a, node), "one queue name"),
            "dial" => (
                self.dial(&mut a, node),
                "no value (use agent=, extension= or trunk=)",
            ),
            "record" => (self.record(&mut a, false), "one file path"),
            "voicemail" => (self.record(&mut a, true), "one mailbox name"),
            "http" => (self.http(&mut a, node), "a method and a URL"),
            "hangup" => (self.hangup(&mut a), "one cause"),
            "wait" => (self.wait(&mut a), "one duration"),
            "log" => (self.log(&mut a), "one message"),
            other => {
                self.unknown_verb(node, other);
                return None;
            }
        };
        a.finish(&mut self.problems, expected);
        if !matches!(name, "menu" | "read" | "if" | "enqueue" | "dial" | "http") {
            self.no_children(node);
        }
        kind
    }

    fn unknown_verb(&mut self, node: &KdlNode, name: &str) {
        let help = suggest(name, VERBS).or_else(|| match name {
            "step" | "entry" | "hours" => {
                Some(format!("`{name}` belongs at the top level of the file"))
            }
            "option" | "on-timeout" | "on-invalid" | "on-failure" => {
                Some(format!("`{name}` belongs inside a `menu {{ }}`"))
            }
            _ => Some(format!("verbs are: {}", VERBS.join(", "))),
        });
        self.problems.push(
            Problem::new(
                CheckError::UnknownVerb {
                    name: name.to_owned(),
                    place: "verb".into(),
                },
                node.name().span(),
                "not a verb",
            )
            .help_opt(help),
        );
    }

    pub(crate) fn attach_else(&mut self, node: &KdlNode, verbs: &mut [Verb]) {
        let a = NodeArgs::new(node);
        a.finish(&mut self.problems, "no value");
        let block = self.block(node.children().map_or(&[], KdlDocument::nodes));
        match verbs.last_mut() {
            Some(Verb {
                kind: VerbKind::If { otherwise, .. },
                ..
            }) if otherwise.is_none() => *otherwise = Some(block),
            _ => self.problems.push(
                Problem::new(
                    CheckError::UnknownVerb {
                        name: "else".into(),
                        place: "verb here".into(),
                    },
                    node.name().span(),
                    "no `if` before it",
                )
                .help("`else { … }` goes on the line right after an `if … { … }`"),
            ),
        }
    }

    pub(super) fn prompt(&mut self, a: &NodeArgs<'_>, e: &kdl::KdlEntry) -> Option<PromptName> {
        let (name, span) = a.string(&mut self.problems, e, "a prompt name")?;
        if name.is_empty() || name.contains("..") || name.starts_with('/') {
            self.problems
                .push(a.invalid(e, format!("`{name}` is not a prompt name")));
            return None;
        }
        let name = name.strip_suffix(".wav").unwrap_or(&name).to_owned();
        let template = a.template(&mut self.problems, self.src, e, &name);
        // A name that does not interpolate was reported; do not report it missing as well.
        Template::parse(&name).is_ok().then_some(PromptName {
            name: template,
            span,
        })
    }

    fn play(&mut self, a: &mut NodeArgs<'_>) -> Option<VerbKind> {
        let entries = a.args_from(0);
        if entries.is_empty() {
            self.missing(a, "at least one prompt name");
            return None;
        }
        let prompts: Vec<PromptName> = entries.iter().filter_map(|e| self.prompt(a, e)).collect();
        let barge_in = a.bool_prop(&mut self.problems, "barge-in", false);
        (prompts.len() == entries.len()).then_some(VerbKind::Play { prompts, barge_in })
    }

    fn say(&mut self, a: &mut NodeArgs<'_>) -> Option<VerbKind> {
        let what = a.req_str(&mut self.problems, 0, "what to say: digits, number or date")?;
        let what = match what.0.as_str() {
            "digits" => SayKind::Digits,
            "number" => SayKind::Number,
            "date" => SayKind::Date,
            other => {
                self.problems.push(
                    Problem::new(
                        CheckError::InvalidValue {
                            verb: "say".into(),
                            message: format!("cannot say `{other}`"),
                        },
                        what.1,
                        "unknown kind",
                    )
                    .help(
                        suggest(other, ["digits", "number", "date"])
                            .unwrap_or_else(|| "say digits, number or date".into()),
                    ),
                );
                return None;
            }
        };
        let value = match a.arg(1) {
            Some(e) => match e.value() {
                kdl::KdlValue::Integer(n) => Template::literal(&n.to_string()),
                _ => {
                    let (text, _) = a.string(&mut self.problems, e, "the value")?;
                    a.template(&mut self.problems, self.src, e, &text)
                }
            },
            None => {
                self.missing(a, "the value to say (e.g. \"${callback}\")");
                return None;
            }
        };
        let barge_in = a.bool_prop(&mut self.problems, "barge-in", false);
        Some(VerbKind::Say {
            what,
            value,
            barge_in,
        })
    }

    fn menu(&mut self, a: &mut NodeArgs<'_>, node: &KdlNode) -> Option<VerbKind> {
        let entries = a.args_from(0);
        let prompts: Vec<PromptName> = entries.iter().filter_map(|e| self.prompt(a, e)).collect();
        let timeout = a.dur_prop(&mut self.problems, "timeout", Duration::from_secs(5));
        let retries = a.uint_prop(&mut self.problems, "retries", 2, 10);
        let mut menu = Menu {
            prompts,
            timeout,
            retries,
            options: Vec::new(),
            on_timeout: None,
            on_invalid: None,
            on_failure: None,
        };
        for child in node.iter_children() {
            match child.name().value() {
                "option" => self.menu_option(child, &mut menu),
                "on-timeout" => menu.on_timeout = self.branch(child),
                "on-invalid" => menu.on_invalid = self.branch(child),
                "on-failure" => menu.on_failure = self.branch(child),
                other => self.unknown_branch(
                    child,
                    other,
                    &["option", "on-timeout", "on-invalid", "on-failure"],
                    "menu",
                ),
            }
        }
        if menu.options.is_empty() {
            self.missing(a, "at least one `option \"1\" { … }`");
        }
        Some(VerbKind::Menu(Box::new(menu)))
    }

    fn menu_option(&mut self, node: &KdlNode, menu: &mut Menu) {
        let mut a = NodeArgs::new(node);
        let digit = match a.arg(0) {
            Some(e) => match e.value() {
                kdl::KdlValue::Integer(n) if (0..=9).contains(n) => {
                    char::from_digit(u32::try_from(*n).unwrap_or(0), 10)
                }
                kdl::KdlValue::String(s) if s.len() == 1 && is_key(s) => s.chars().next(),
                _ => {
                    self.problems.push(
                        a.invalid(e, "an option is one key: 0-9, * or #".into())
                            .help("write option \"1\" { … }"),
                    );
                    None
                }
            },
            None => {
                self.missing(&a, "the key (option \"1\" { … })");
                None
            }
        };
        let goto = a.arg(1);
        let block = match (goto, node.children()) {
            (Some(e), None) => a
                .string(&mut self.problems, e, "a step name")
                .map(|(step, _)| self.goto_block(step, node)),
            (None, Some(children)) => Some(self.block(children.nodes())),
            _ => {
                self.problems.push(branch_shape(node));
                None
            }
        };
        a.finish(
            &mut self.problems,
            "a key and, without a block, a step name",
        );
        if let (Some(digit), Some(block)) = (digit, block) {
            if menu.options.iter().any(|(d, _)| *d == digit) {
                self.problems.push(Problem::new(
                    CheckError::Duplicate {
                        what: "menu option".into(),
                        name: digit.to_string(),
                    },
                    node.span(),
                    "second option for this key",
                ));
            }
            menu.options.push((digit, block));
        }
    }

    /// `on-x "step"` or `on-x { … }`.
    pub(crate) fn branch(&mut self, node: &KdlNode) -> Option<BlockId> {
        let mut a = NodeArgs::new(node);
        let goto = a.arg(0);
        let block = match (goto, node.children()) {
            (Some(e), None) => a
                .string(&mut self.problems, e, "a step name")
                .map(|(step, _)| self.goto_block(step, node)),
            (None, Some(children)) => Some(self.block(children.nodes())),
            _ => {
                self.problems.push(branch_shape(node));
                None
            }
        };
        a.finish(&mut self.problems, "one step name, or a block");
        block
    }

    fn goto_block(&mut self, step: String, node: &KdlNode) -> BlockId {
        let id = BlockId(u32::try_from(self.plan.blocks.len()).unwrap_or(u32::MAX));
        self.plan.blocks.push(vec![Verb {
            kind: VerbKind::Goto { step },
            span: node.span(),
        }]);
        id
    }

    pub(super) fn unknown_branch(
        &mut self,
        node: &KdlNode,
        name: &str,
        known: &[&str],
        parent: &str,
    ) {
        let help = suggest(name, known.iter().copied())
            .unwrap_or_else(|| format!("`{parent}` holds {}", known.join(", ")));
        self.problems.push(
            Problem::new(
                CheckError::UnknownVerb {
                    name: name.to_owned(),
                    place: format!("{parent} branch"),
                },
                node.name().span(),
                "not known here",
            )
            .help(help),
        );
    }

    fn read(&mut self, a: &mut NodeArgs<'_>, node: &KdlNode) -> Option<VerbKind> {
        let var = self.assigned_var(a, 0);
        let prompt = a.prop("prompt").and_then(|e| self.prompt(a, e));
        let min = a.uint_prop(&mut self.problems, "min", 1, 64);
        let max = a.uint_prop(&mut self.problems, "max", 20, 64);
        if max == 0 || min > max {
            let span = a.span();
            self.problems.push(Problem::new(
                CheckError::InvalidValue {
                    verb: "read".into(),
                    message: format!("min={min} max={max}: max must be at least 1 and min"),
                },
                span,
                "here",
            ));
        }
        let terminator = match a.prop("terminator") {
            None => Some('#'),
            Some(e) if e.value().is_null() => None,
            Some(e) => match e.value().as_string() {
                Some("") => None,
                Some(s) if s.len() == 1 && is_key(s) => s.chars().next(),
                _ => {
                    self.problems
                        .push(a.invalid(e, "terminator is one key (\"#\", \"*\") or #null".into()));
                    None
                }
            },
        };
        let timeout = a.dur_prop(&mut self.problems, "timeout", Duration::from_secs(5));
        let inter_digit = a.dur_prop(&mut self.problems, "inter-digit", Duration::from_secs(3));
        let retries = a.uint_prop(&mut self.problems, "retries", 0, 10);
        let mut on_failure = None;
        for child in node.iter_children() {
            match child.name().value() {
                "on-failure" => on_failure = self.branch(child),
                other => self.unknown_branch(child, other, &["on-failure"], "read"),
            }
        }
        Some(VerbKind::Read(Box::new(Read {
            var: var?,
            prompt,
            min,
            max,
            terminator,
            timeout,
            inter_digit,
            retries,
            on_failure,
        })))
    }

    /// The variable name at position `i`, which the verb assigns.
    pub(super) fn assigned_var(&mut self, a: &mut NodeArgs<'_>, i: usize) -> Option<String> {
        let (var, span) = a.req_str(&mut self.problems, i, "a variable name")?;
        if !is_var_name(&var) {
            self.problems.push(
                Problem::new(
                    CheckError::InvalidValue {
                        verb: a.verb().to_owned(),
                        message: format!("`{var}` is not a variable name"),
                    },
                    span,
                    "here",
                )
                .help("variable names are letters, digits, `_` and `-`, without `${}`"),
            );
            return None;
        }
        if is_read_only(&var) {
            let help = if var == "language" {
                "use the `language \"en\"` verb"
            } else {
                "pick another name"
            };
            self.problems.push(
                Problem::new(
                    CheckError::ReadOnlyVariable { name: var },
                    span,
                    "read-only",
                )
                .help(help),
            );
            return None;
        }
        Some(var)
    }

    fn set(&mut self, a: &mut NodeArgs<'_>) -> Option<VerbKind> {
        let var = self.assigned_var(a, 0);
        let value = match a.arg(1) {
            None => {
                self.missing(a, "a value (set \"name\" \"value\")");
                return None;
            }
            Some(e) => match e.value() {
                kdl::KdlValue::String(s) => a.template(&mut self.problems, self.src, e, s),
                kdl::KdlValue::Integer(n) => Template::literal(&n.to_string()),
                kdl::KdlValue::Float(f) => Template::literal(&f.to_string()),
                kdl::KdlValue::Bool(b) => Template::literal(&b.to_string()),
                kdl::KdlValue::Null => Template::literal(""),
            },
        };
        Some(VerbKind::Set { var: var?, value })
    }

    fn if_(&mut self, a: &mut NodeArgs<'_>, node: &KdlNode) -> Option<VerbKind> {
        let expr = a.arg(0);
        let open = a.prop("open");
        let cond = match (expr, open) {
            (Some(e), None) => {
                let (text, _) = a.string(&mut self.problems, e, "the condition")?;
                match Cond::parse(&text) {
                    Ok(c) => Some(self.shift_cond(c, e, &text)),
                    Err(err) => {
                        let span = super::inner_span(self.src, e, &text, err.offset, 1);
                        self.problems.push(
                            Problem::new(
                                CheckError::BadCondition {
                                    message: err.message,
                                },
                                span,
                                "here",
                            )
                            .help("e.g. if \"customer != '' and open(office)\" { … }"),
                        );
                        None
                    }
                }
            }
            (None, Some(e)) => {
                let (hours, span) = a.string(&mut self.problems, e, "open")?;
                Some(Cond::Open {
                    hours,
                    offset: span.offset(),
                })
            }
            _ => {
                self.missing(
                    a,
                    "one condition: if \"…\" { … } or if open=\"hours\" { … }",
                );
                None
            }
        };
        if node.children().is_none() {
            self.missing(a, "a block to run: if … { … }");
        }
        let then = self.block(node.children().map_or(&[], KdlDocument::nodes));
        Some(VerbKind::If {
            cond: cond?,
            then,
            otherwise: None,
        })
    }

    /// Moves the offsets of `open(…)` in a parsed condition from the text to the file.
    fn shift_cond(&self, cond: Cond, e: &kdl::KdlEntry, text: &str) -> Cond {
        match cond {
            Cond::Open { hours, offset } => {
                let span = super::inner_span(self.src, e, text, offset, hours.len());
                Cond::Open {
                    hours,
                    offset: span.offset(),
                }
            }
            Cond::Not(c) => Cond::Not(Box::new(self.shift_cond(*c, e, text))),
            Cond::All(cs) => Cond::All(
                cs.into_iter()
                    .map(|c| self.shift_cond(c, e, text))
                    .collect(),
            ),
            Cond::Any(cs) => Cond::Any(
                cs.into_iter()
                    .map(|c| self.shift_cond(c, e, text))
                    .collect(),
            ),
            other => other,
        }
    }

    fn language(&mut self, a: &mut NodeArgs<'_>) -> Option<VerbKind> {
        let (lang, span) = a.req_str(&mut self.problems, 0, "a language code (\"fr\")")?;
        if !is_language_code(&lang) {
            self.problems.push(bad_language(&lang, span));
            return None;
        }
        Some(VerbKind::Language(lang))
    }

    fn goto(&mut self, a: &mut NodeArgs<'_>) -> Option<VerbKind> {
        let (step, _) = a.req_str(&mut self.problems, 0, "a step name")?;
        Some(VerbKind::Goto { step })
    }

    fn wait(&mut self, a: &mut NodeArgs<'_>) -> Option<VerbKind> {
        match a.arg(0) {
            Some(e) => a
                .duration(&mut self.problems, e, "duration")
                .map(VerbKind::Wait),
            None => {
                self.missing(a, "a duration (wait 2, wait \"500ms\")");
                None
            }
        }
    }

    fn log(&mut self, a: &mut NodeArgs<'_>) -> Option<VerbKind> {
        let e = a.arg(0);
        let (text, _) = a.req_str(&mut self.problems, 0, "a message")?;
        let e = e?;
        Some(VerbKind::Log(a.template(
            &mut self.problems,
            self.src,
            e,
            &text,
        )))
    }

    pub(super) fn missing(&mut self, a: &NodeArgs<'_>, what: &str) {
        self.problems.push(Problem::new(
            CheckError::MissingArgument {
                verb: a.verb().to_owned(),
                what: what.to_owned(),
            },
            a.span(),
            format!("needs {what}"),
        ));
    }
}

fn branch_shape(node: &KdlNode) -> Problem {
    Problem::new(
        CheckError::InvalidValue {
            verb: node.name().value().to_owned(),
            message: "needs either a step name or a block, not both".into(),
        },
        node.span(),
        "here",
    )
    .help(format!(
        "{0} \"step\" jumps to a step; {0} {{ … }} runs verbs",
        node.name().value()
    ))
}

/// One DTMF key.
pub(super) fn is_key(s: &str) -> bool {
    matches!(
        s,
        "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "*" | "#"
    )
}
