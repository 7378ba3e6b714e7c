//! Reading a KDL node's values and `key=value` arguments, with typed errors and hints.
//!
//! Each verb asks for what it takes (`arg(0)`, `prop("timeout")`…); [`NodeArgs::finish`] then
//! reports whatever it did not ask for: surplus values, and unknown arguments with a "did you
//! mean" among the names the verb did ask for. So the list of a verb's arguments is written
//! once, in the code that reads them.

use std::time::Duration;

use kdl::{KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;

use crate::diag::{CheckError, Problem, suggest};
use crate::template::Template;

/// A node being read.
pub(crate) struct NodeArgs<'a> {
    node: &'a KdlNode,
    verb: String,
    used: Vec<bool>,
    known: Vec<&'static str>,
}

impl<'a> NodeArgs<'a> {
    pub(crate) fn new(node: &'a KdlNode) -> Self {
        NodeArgs {
            node,
            verb: node.name().value().to_owned(),
            used: vec![false; node.entries().len()],
            known: Vec::new(),
        }
    }

    pub(crate) fn verb(&self) -> &str {
        &self.verb
    }

    pub(crate) fn span(&self) -> SourceSpan {
        self.node.name().span()
    }

    /// The `i`-th value (not `key=value`).
    pub(crate) fn arg(&mut self, i: usize) -> Option<&'a KdlEntry> {
        let (index, entry) = self
            .node
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, e)| e.name().is_none())
            .nth(i)?;
        self.used[index] = true;
        Some(entry)
    }

    /// Every value from the `from`-th on.
    pub(crate) fn args_from(&mut self, from: usize) -> Vec<&'a KdlEntry> {
        let mut out = Vec::new();
        while let Some(e) = self.arg(from + out.len()) {
            out.push(e);
        }
        out
    }

    /// The `name=` argument (the last one when repeated).
    pub(crate) fn prop(&mut self, name: &'static str) -> Option<&'a KdlEntry> {
        self.known.push(name);
        let mut found = None;
        for (i, e) in self.node.entries().iter().enumerate() {
            if e.name().is_some_and(|n| n.value() == name) {
                self.used[i] = true;
                found = Some(e);
            }
        }
        found
    }

    /// Reports surplus values (`expected` says what the verb takes) and unknown arguments.
    pub(crate) fn finish(self, problems: &mut Vec<Problem>, expected: &str) {
        for (i, e) in self.node.entries().iter().enumerate() {
            if self.used[i] {
                continue;
            }
            match e.name() {
                None => problems.push(
                    Problem::new(
                        CheckError::TooManyValues {
                            verb: self.verb.clone(),
                            expected: expected.to_owned(),
                        },
                        e.span(),
                        "unexpected value",
                    )
                    .help_opt(
                        (!self.known.is_empty()).then(|| format!("it takes {}", list(&self.known))),
                    ),
                ),
                Some(name) => {
                    let help = suggest(name.value(), self.known.iter().copied()).or_else(|| {
                        (!self.known.is_empty())
                            .then(|| format!("`{}` takes {}", self.verb, list(&self.known)))
                    });
                    problems.push(
                        Problem::new(
                            CheckError::UnknownArgument {
                                verb: self.verb.clone(),
                                name: name.value().to_owned(),
                            },
                            e.span(),
                            "unknown argument",
                        )
                        .help_opt(help),
                    );
                }
            }
        }
    }

    /// A required string value at position `i`.
    pub(crate) fn req_str(
        &mut self,
        p: &mut Vec<Problem>,
        i: usize,
        what: &str,
    ) -> Option<(String, SourceSpan)> {
        match self.arg(i) {
            Some(e) => self.string(p, e, what),
            None => {
                p.push(Problem::new(
                    CheckError::MissingArgument {
                        verb: self.verb.clone(),
                        what: what.to_owned(),
                    },
                    self.span(),
                    format!("needs {what}"),
                ));
                None
            }
        }
    }

    /// The string in `e`, or a type error naming `what`.
    pub(crate) fn string(
        &self,
        p: &mut Vec<Problem>,
        e: &KdlEntry,
        what: &str,
    ) -> Option<(String, SourceSpan)> {
        if let Some(s) = e.value().as_string() {
            return Some((s.to_owned(), value_span(e)));
        }
        p.push(self.wrong_type(e, what, "text in quotes"));
        None
    }

    /// An optional string argument.
    pub(crate) fn str_prop(
        &mut self,
        p: &mut Vec<Problem>,
        name: &'static str,
    ) -> Option<(String, SourceSpan)> {
        let e = self.prop(name)?;
        self.string(p, e, name)
    }

    /// An optional boolean argument (`#true` / `#false`).
    pub(crate) fn bool_prop(
        &mut self,
        p: &mut Vec<Problem>,
        name: &'static str,
        default: bool,
    ) -> bool {
        let Some(e) = self.prop(name) else {
            return default;
        };
        if let Some(b) = e.value().as_bool() {
            return b;
        }
        p.push(
            self.wrong_type(e, name, "#true or #false")
                .help("KDL writes booleans #true and #false"),
        );
        default
    }

    /// An optional whole number in `0..=max`.
    pub(crate) fn uint_prop(
        &mut self,
        p: &mut Vec<Problem>,
        name: &'static str,
        default: u32,
        max: u32,
    ) -> u32 {
        let Some(e) = self.prop(name) else {
            return default;
        };
        match e.value().as_integer() {
            Some(n) if (0..=i128::from(max)).contains(&n) => u32::try_from(n).unwrap_or(default),
            Some(_) => {
                p.push(self.invalid(e, format!("`{name}` must be between 0 and {max}")));
                default
            }
            None => {
                p.push(self.wrong_type(e, name, "a whole number"));
                default
            }
        }
    }

    /// An optional whole number (may be negative), within `-max..=max`.
    pub(crate) fn int_prop(
        &mut self,
        p: &mut Vec<Problem>,
        name: &'static str,
        default: i32,
        max: i32,
    ) -> i32 {
        let Some(e) = self.prop(name) else {
            return default;
        };
        match e.value().as_integer() {
            Some(n) if n.abs() <= i128::from(max) => i32::try_from(n).unwrap_or(default),
            Some(_) => {
                p.push(self.invalid(e, format!("`{name}` must be between -{max} and {max}")));
                default
            }
            None => {
                p.push(self.wrong_type(e, name, "a whole number"));
                default
            }
        }
    }

    /// An optional duration argument.
    pub(crate) fn dur_prop(
        &mut self,
        p: &mut Vec<Problem>,
        name: &'static str,
        default: Duration,
    ) -> Duration {
        match self.prop(name) {
            Some(e) => self.duration(p, e, name).unwrap_or(default),
            None => default,
        }
    }

    /// A duration: seconds as a number (`5`, `1.5`) or text with a unit (`"1500ms"`, `"2m"`),
    /// at most one hour.
    pub(crate) fn duration(
        &self,
        p: &mut Vec<Problem>,
        e: &KdlEntry,
        name: &str,
    ) -> Option<Duration> {
        let secs = match e.value() {
            KdlValue::Integer(n) => Some(*n as f64),
            KdlValue::Float(f) => Some(*f),
            KdlValue::String(s) => parse_duration_text(s),
            _ => None,
        };
        match secs {
            Some(s) if (0.0..=3600.0).contains(&s) => Some(Duration::from_secs_f64(s)),
            Some(_) => {
                p.push(self.invalid(e, format!("`{name}` must be between 0 and 3600 seconds")));
                None
            }
            None => {
                p.push(
                    self.wrong_type(e, name, "a duration").help(
                        "seconds as a number (5, 1.5) or text with a unit (\"1500ms\", \"2m\")",
                    ),
                );
                None
            }
        }
    }

    /// Parses `text` (found in entry `e` of source `src`) as a template, reporting errors at
    /// their place in the file.
    pub(crate) fn template(
        &self,
        p: &mut Vec<Problem>,
        src: &str,
        e: &KdlEntry,
        text: &str,
    ) -> Template {
        match Template::parse(text) {
            Ok(t) => t,
            Err(err) => {
                p.push(Problem::new(
                    CheckError::BadTemplate {
                        message: err.message,
                    },
                    inner_span(src, e, text, err.offset, 2),
                    "here",
                ));
                Template::literal(text)
            }
        }
    }

    pub(crate) fn wrong_type(&self, e: &KdlEntry, name: &str, expected: &str) -> Problem {
        Problem::new(
            CheckError::WrongType {
                verb: self.verb.clone(),
                name: name.to_owned(),
                expected: expected.to_owned(),
            },
            e.span(),
            format!("expected {expected}"),
        )
    }

    pub(crate) fn invalid(&self, e: &KdlEntry, message: String) -> Problem {
        Problem::new(
            CheckError::InvalidValue {
                verb: self.verb.clone(),
                message,
            },
            e.span(),
            "here",
        )
    }
}

/// The span of an entry's value: for `key=value`, the part after `=`.
pub(crate) fn value_span(e: &KdlEntry) -> SourceSpan {
    let span = e.span();
    match e.name() {
        Some(name) => {
            let start = name.span().offset() + name.span().len() + 1;
            let end = span.offset() + span.len();
            if name.span().offset() >= span.offset() && start < end {
                SourceSpan::from((start, end - start))
            } else {
                span
            }
        }
        None => span,
    }
}

/// `5s`, `1500ms`, `2m`, `1.5` (seconds).
fn parse_duration_text(s: &str) -> Option<f64> {
    let s = s.trim();
    let (number, factor) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number.trim().parse().ok()?;
    value.is_finite().then_some(value * factor)
}

/// The span of `len` bytes at `offset` inside the string `value` written in entry `e`: found by
/// looking for the value's text in the entry's source (exact for strings without escapes), else
/// the entry itself.
pub(crate) fn inner_span(
    src: &str,
    e: &KdlEntry,
    value: &str,
    offset: usize,
    len: usize,
) -> SourceSpan {
    let span = e.span();
    let start = span.offset();
    let Some(slice) = src.get(start..start + span.len()) else {
        return span;
    };
    let value_start = if value.is_empty() {
        slice.find('"').map(|i| i + 1)
    } else {
        slice.rfind(value)
    };
    match value_start {
        Some(at) if offset <= value.len() => {
            let len = len.min(value.len().saturating_sub(offset)).max(1);
            SourceSpan::from((start + at + offset, len))
        }
        _ => span,
    }
}

fn list(names: &[&str]) -> String {
    let mut names: Vec<&str> = names.to_vec();
    names.sort_unstable();
    names.dedup();
    names
        .iter()
        .map(|n| format!("`{n}=`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration_text("1500ms"), Some(1.5));
        assert_eq!(parse_duration_text("5s"), Some(5.0));
        assert_eq!(parse_duration_text("2m"), Some(120.0));
        assert_eq!(parse_duration_text("3"), Some(3.0));
        assert_eq!(parse_duration_text("soon"), None);
        assert_eq!(parse_duration_text("infs"), None);
    }
}
