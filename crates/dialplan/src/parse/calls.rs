//! The verbs that hand the call to someone or something else: `enqueue`, `dial`, `record` /
//! `voicemail`, `http`, and `hangup`.

use std::time::Duration;

use kdl::KdlNode;

use super::verbs::is_key;
use super::{Builder, NodeArgs};
use crate::ast::{Dial, DialTargetDef, Enqueue, Http, Method, Record, VerbKind};
use crate::diag::{CheckError, Problem};
use crate::template::{JsonPath, Template};

impl Builder<'_> {
    pub(super) fn enqueue(&mut self, a: &mut NodeArgs<'_>, node: &KdlNode) -> Option<VerbKind> {
        let queue = a.req_str(&mut self.problems, 0, "a queue name");
        let priority = a.int_prop(&mut self.problems, "priority", 0, 100);
        let max_wait = a
            .prop("max-wait")
            .and_then(|e| a.duration(&mut self.problems, e, "max-wait"));
        let exit_keys = self.keys_prop(a, "exit-keys", "");
        let mut skills = Vec::new();
        let mut on_overflow = None;
        for child in node.iter_children() {
            match child.name().value() {
                "skills" => {
                    let mut c = NodeArgs::new(child);
                    for e in c.args_from(0) {
                        if let Some((s, _)) = c.string(&mut self.problems, e, "a skill") {
                            skills.push(c.template(&mut self.problems, self.src, e, &s));
                        }
                    }
                    c.finish(&mut self.problems, "skill names");
                }
                "on-overflow" => on_overflow = self.branch(child),
                other => self.unknown_branch(child, other, &["skills", "on-overflow"], "enqueue"),
            }
        }
        let (queue, queue_span) = queue?;
        let entry = a.arg(0)?;
        let queue = a.template(&mut self.problems, self.src, entry, &queue);
        Some(VerbKind::Enqueue(Box::new(Enqueue {
            queue,
            queue_span,
            priority,
            skills,
            max_wait,
            exit_keys,
            on_overflow,
        })))
    }

    /// A property that lists DTMF keys (`terminate="#"`, `exit-keys="1*"`), `default` when absent.
    fn keys_prop(&mut self, a: &mut NodeArgs<'_>, name: &'static str, default: &str) -> String {
        match a.str_prop(&mut self.problems, name) {
            Some((keys, span)) if !keys.chars().all(|c| is_key(&c.to_string())) => {
                self.problems.push(Problem::new(
                    CheckError::InvalidValue {
                        verb: a.verb().to_owned(),
                        message: format!("{name}=\"{keys}\": keys are 0-9, * and #"),
                    },
                    span,
                    "here",
                ));
                default.to_owned()
            }
            Some((keys, _)) => keys,
            None => default.to_owned(),
        }
    }

    pub(super) fn dial(&mut self, a: &mut NodeArgs<'_>, node: &KdlNode) -> Option<VerbKind> {
        let agent = a.prop("agent");
        let extension = a.prop("extension");
        let trunk = a.prop("trunk");
        let number = a.prop("number");
        let ring_timeout = a.dur_prop(&mut self.problems, "ring-timeout", Duration::from_secs(30));
        let targets = [agent, extension, trunk].iter().flatten().count();
        let target = match (agent, extension, trunk) {
            _ if targets != 1 => {
                self.missing(
                    a,
                    "exactly one of agent=, extension= or trunk= (with number=)",
                );
                None
            }
            (Some(e), ..) => a.string(&mut self.problems, e, "agent").map(|(s, span)| {
                (
                    DialTargetDef::Agent(a.template(&mut self.problems, self.src, e, &s)),
                    span,
                )
            }),
            (_, Some(e), _) => a
                .string(&mut self.problems, e, "extension")
                .map(|(s, span)| {
                    (
                        DialTargetDef::Extension(a.template(&mut self.problems, self.src, e, &s)),
                        span,
                    )
                }),
            (.., Some(e)) => {
                let trunk = a.string(&mut self.problems, e, "trunk");
                let number = match number {
                    Some(n) => a
                        .string(&mut self.problems, n, "number")
                        .map(|(s, _)| a.template(&mut self.problems, self.src, n, &s)),
                    None => {
                        self.missing(a, "number= with trunk=");
                        None
                    }
                };
                match (trunk, number) {
                    (Some((trunk, span)), Some(number)) => {
                        Some((DialTargetDef::Trunk { trunk, number }, span))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let mut dial = Dial {
            target: DialTargetDef::Extension(Template::default()),
            target_span: a.span(),
            ring_timeout,
            on_answered: None,
            on_busy: None,
            on_no_answer: None,
            on_failed: None,
        };
        for child in node.iter_children() {
            match child.name().value() {
                "on-answered" => dial.on_answered = self.branch(child),
                "on-busy" => dial.on_busy = self.branch(child),
                "on-no-answer" => dial.on_no_answer = self.branch(child),
                "on-failed" => dial.on_failed = self.branch(child),
                other => self.unknown_branch(
                    child,
                    other,
                    &["on-answered", "on-busy", "on-no-answer", "on-failed"],
                    "dial",
                ),
            }
        }
        let (target, span) = target?;
        dial.target = target;
        dial.target_span = span;
        Some(VerbKind::Dial(Box::new(dial)))
    }

    pub(super) fn record(&mut self, a: &mut NodeArgs<'_>, voicemail: bool) -> Option<VerbKind> {
        let what = if voicemail {
            "a mailbox name"
        } else {
            "a file path"
        };
        let first = a.arg(0);
        let path = match first {
            Some(e) => {
                let (text, _) = a.string(&mut self.problems, e, what)?;
                if text.is_empty() || text.contains("..") || text.starts_with('/') {
                    self.problems
                        .push(a.invalid(e, format!("`{text}`: use a relative path without `..`")));
                    return None;
                }
                let text = if voicemail {
                    format!("{text}/${{call_id}}.wav")
                } else {
                    text
                };
                a.template(&mut self.problems, self.src, e, &text)
            }
            None => {
                self.missing(a, what);
                return None;
            }
        };
        let greeting = if voicemail {
            a.prop("greeting").and_then(|e| self.prompt(a, e))
        } else {
            None
        };
        let default_max = if voicemail { 120 } else { 60 };
        let max = a.dur_prop(&mut self.problems, "max", Duration::from_secs(default_max));
        let beep = a.bool_prop(&mut self.problems, "beep", true);
        let terminate = self.keys_prop(a, "terminate", "#");
        Some(VerbKind::Record(Box::new(Record {
            path,
            max,
            beep,
            terminate,
            greeting,
        })))
    }

    pub(super) fn http(&mut self, a: &mut NodeArgs<'_>, node: &KdlNode) -> Option<VerbKind> {
        let method = a.req_str(&mut self.problems, 0, "a method (\"GET\" or \"POST\")");
        let method = match method {
            Some((m, _)) if m.eq_ignore_ascii_case("get") => Some(Method::Get),
            Some((m, _)) if m.eq_ignore_ascii_case("post") => Some(Method::Post),
            Some((m, span)) => {
                self.problems.push(Problem::new(
                    CheckError::InvalidValue {
                        verb: "http".into(),
                        message: format!("method `{m}`: use \"GET\" or \"POST\""),
                    },
                    span,
                    "unknown method",
                ));
                None
            }
            None => None,
        };
        let url = match a.arg(1) {
            Some(e) => a
                .string(&mut self.problems, e, "the URL")
                .map(|(u, _)| a.template(&mut self.problems, self.src, e, &u)),
            None => {
                self.missing(a, "a URL");
                None
            }
        };
        let body = a.prop("body").and_then(|e| {
            let (text, _) = a.string(&mut self.problems, e, "body")?;
            Some(a.template(&mut self.problems, self.src, e, &text))
        });
        let timeout = a.dur_prop(&mut self.problems, "timeout", Duration::from_secs(2));
        let mut sets = Vec::new();
        let mut on_failure = None;
        for child in node.iter_children() {
            match child.name().value() {
                "set" => {
                    let mut c = NodeArgs::new(child);
                    let var = self.assigned_var(&mut c, 0);
                    let path = c.req_str(&mut self.problems, 1, "a JSON path (\"$.name\")");
                    if let Some((path, span)) = path {
                        match JsonPath::parse(&path) {
                            Ok(p) => sets.extend(var.map(|v| (v, p))),
                            Err(message) => self.problems.push(Problem::new(
                                CheckError::InvalidValue {
                                    verb: "set".into(),
                                    message,
                                },
                                span,
                                "not a JSON path",
                            )),
                        }
                    }
                    c.finish(&mut self.problems, "a variable name and a JSON path");
                }
                "on-failure" => on_failure = self.branch(child),
                other => self.unknown_branch(child, other, &["set", "on-failure"], "http"),
            }
        }
        Some(VerbKind::Http(Box::new(Http {
            method: method?,
            url: url?,
            body,
            timeout,
            sets,
            on_failure,
        })))
    }

    pub(super) fn hangup(&mut self, a: &mut NodeArgs<'_>) -> Option<VerbKind> {
        let entry = match (a.arg(0), a.prop("cause")) {
            (Some(_), Some(e)) => {
                self.problems
                    .push(a.invalid(e, "give the cause once: hangup cause=\"closed\"".into()));
                return None;
            }
            (Some(e), None) | (None, Some(e)) => e,
            (None, None) => {
                return Some(VerbKind::Hangup {
                    cause: Template::literal("normal"),
                });
            }
        };
        let (cause, span) = a.string(&mut self.problems, entry, "cause")?;
        let template = a.template(&mut self.problems, self.src, entry, &cause);
        let word = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let literal_ok = template.parts().iter().all(|p| match p {
            crate::template::Part::Lit(s) => word(s),
            crate::template::Part::Var(_) => true,
        });
        if cause.is_empty() || !literal_ok {
            self.problems.push(Problem::new(
                CheckError::InvalidValue {
                    verb: "hangup".into(),
                    message: format!(
                        "cause `{cause}`: use a word such as \"closed\" or \"no-input\""
                    ),
                },
                span,
                "here",
            ));
            return None;
        }
        Some(VerbKind::Hangup { cause: template })
    }
}
