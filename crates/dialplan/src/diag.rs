//! What `dialplan check` reports: every problem of every file, each with its file, line, column,
//! the source line and a hint.
//!
//! [`CheckError`] says what is wrong (typed, so tests and the server can match on it);
//! [`Diagnostic`] adds where, as a [`miette::Diagnostic`] with the file as source code, so the CLI
//! renders it with miette's graphical handler; [`Diagnostics`] is the whole report, whose
//! `Display` is a plain-text rendering (`file:line:col: message`, the line, a caret, the hint)
//! for the server's log when a reload is refused.

use std::fmt;
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, SourceSpan};

use crate::hours::HoursParseErrorKind;

/// One kind of problem in a dialplan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// Not KDL.
    #[error("syntax error: {message}")]
    Syntax {
        /// The KDL parser's message.
        message: String,
    },
    /// Blocks nested deeper than the checker allows.
    #[error("blocks nested deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// A node that is not a verb (or not allowed where it is).
    #[error("unknown {place} `{name}`")]
    UnknownVerb {
        /// What was written.
        name: String,
        /// "verb", "top-level node", "menu branch"…
        place: String,
    },
    /// A `key=value` the verb does not take.
    #[error("`{verb}` has no argument `{name}`")]
    UnknownArgument {
        /// The verb.
        verb: String,
        /// The argument.
        name: String,
    },
    /// More values than the verb takes.
    #[error("`{verb}` takes {expected}")]
    TooManyValues {
        /// The verb.
        verb: String,
        /// What it takes.
        expected: String,
    },
    /// A required value or argument is absent.
    #[error("`{verb}` needs {what}")]
    MissingArgument {
        /// The verb.
        verb: String,
        /// What is missing.
        what: String,
    },
    /// A value of the wrong type.
    #[error("`{verb}`: `{name}` must be {expected}")]
    WrongType {
        /// The verb.
        verb: String,
        /// Argument name or position.
        name: String,
        /// The expected type.
        expected: String,
    },
    /// A value of the right type that makes no sense.
    #[error("`{verb}`: {message}")]
    InvalidValue {
        /// The verb.
        verb: String,
        /// What is wrong.
        message: String,
    },
    /// Two steps, or two hours, of the same name in one file.
    #[error("{what} `{name}` is defined twice")]
    Duplicate {
        /// "step" or "hours".
        what: String,
        /// The name.
        name: String,
    },
    /// No entry point and no `goto` leads to the step.
    #[error("step `{name}` can never be reached")]
    UnreachableStep {
        /// The step.
        name: String,
    },
    /// A reference to something that does not exist.
    #[error("unknown {what} `{name}`")]
    UnknownReference {
        /// "step", "queue", "hours", "agent", "trunk", "variable", "language".
        what: String,
        /// What was written.
        name: String,
    },
    /// `dial trunk=` names a trunk without an `address` to send calls to.
    #[error("trunk `{name}` has no `address`, so calls cannot be sent through it")]
    TrunkCannotDial {
        /// The trunk.
        name: String,
    },
    /// A prompt file missing in a language the call can be in.
    #[error("prompt `{prompt}` is missing in `{language}` (sounds/{language}/{prompt}.wav)")]
    MissingPrompt {
        /// Prompt name.
        prompt: String,
        /// Language.
        language: String,
    },
    /// `say` in a language it cannot speak.
    #[error("`say` cannot speak `{language}` (it knows fr and en)")]
    SayUnsupported {
        /// Language.
        language: String,
    },
    /// Assigning a variable the interpreter owns.
    #[error("`{name}` is set by the switch and cannot be assigned")]
    ReadOnlyVariable {
        /// Variable.
        name: String,
    },
    /// A cycle of `goto`s with no verb that waits for the caller.
    #[error("endless loop without waiting for the caller: {}", cycle.join(" -> "))]
    InputlessLoop {
        /// Steps of the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// The same entry point twice.
    #[error("entry {entry} is already defined at {first}")]
    DuplicateEntry {
        /// The entry as written.
        entry: String,
        /// `file:line:col` of the first one.
        first: String,
    },
    /// A `pattern=` that is not a regular expression.
    #[error("invalid regular expression: {message}")]
    InvalidRegex {
        /// The regex crate's message.
        message: String,
    },
    /// A `tz=` unknown to the time-zone database.
    #[error("unknown time zone `{name}`")]
    UnknownTimeZone {
        /// What was written.
        name: String,
    },
    /// An opening-hours rule that does not parse.
    #[error("bad opening-hours rule: {kind}")]
    BadHoursRule {
        /// Why.
        kind: HoursParseErrorKind,
    },
    /// An `if` condition that does not parse.
    #[error("bad condition: {message}")]
    BadCondition {
        /// Why.
        message: String,
    },
    /// `${…}` interpolation that does not parse.
    #[error("bad interpolation: {message}")]
    BadTemplate {
        /// Why.
        message: String,
    },
}

impl CheckError {
    /// A short stable code for the kind, shown by miette (`dialplan::unknown-verb`).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            CheckError::Syntax { .. } => "dialplan::syntax",
            CheckError::TooDeep { .. } => "dialplan::too-deep",
            CheckError::UnknownVerb { .. } => "dialplan::unknown-verb",
            CheckError::UnknownArgument { .. } => "dialplan::unknown-argument",
            CheckError::TooManyValues { .. } => "dialplan::too-many-values",
            CheckError::MissingArgument { .. } => "dialplan::missing-argument",
            CheckError::WrongType { .. } => "dialplan::wrong-type",
            CheckError::InvalidValue { .. } => "dialplan::invalid-value",
            CheckError::Duplicate { .. } => "dialplan::duplicate",
            CheckError::UnreachableStep { .. } => "dialplan::unreachable",
            CheckError::UnknownReference { .. } => "dialplan::unknown-reference",
            CheckError::TrunkCannotDial { .. } => "dialplan::trunk-cannot-dial",
            CheckError::MissingPrompt { .. } => "dialplan::missing-prompt",
            CheckError::SayUnsupported { .. } => "dialplan::say-language",
            CheckError::ReadOnlyVariable { .. } => "dialplan::read-only",
            CheckError::InputlessLoop { .. } => "dialplan::loop",
            CheckError::DuplicateEntry { .. } => "dialplan::duplicate-entry",
            CheckError::InvalidRegex { .. } => "dialplan::regex",
            CheckError::UnknownTimeZone { .. } => "dialplan::time-zone",
            CheckError::BadHoursRule { .. } => "dialplan::hours-rule",
            CheckError::BadCondition { .. } => "dialplan::condition",
            CheckError::BadTemplate { .. } => "dialplan::interpolation",
        }
    }
}

/// A problem found in one file, before it is placed (line and column) for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) error: CheckError,
    pub(crate) span: SourceSpan,
    pub(crate) label: String,
    pub(crate) help: Option<String>,
}

impl Problem {
    pub(crate) fn new(error: CheckError, span: SourceSpan, label: impl Into<String>) -> Self {
        Problem {
            error,
            span,
            label: label.into(),
            help: None,
        }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub(crate) fn help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
}

/// Where a problem is: source name, 1-based line and column (in characters), byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The source (file) name.
    pub source: String,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
    /// Byte span in the source.
    pub span: SourceSpan,
}

impl Location {
    /// Places byte `span` of `text`.
    #[must_use]
    pub fn of(source: &str, text: &str, span: SourceSpan) -> Location {
        let offset = span.offset().min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location {
            source: source.to_owned(),
            line,
            column,
            span,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.line, self.column)
    }
}

/// One placed problem, renderable by miette.
#[derive(Clone)]
pub struct Diagnostic {
    /// What is wrong.
    pub error: CheckError,
    /// Where.
    pub location: Location,
    /// The text under the caret.
    pub label: String,
    /// How to fix it, when there is something to say.
    pub help: Option<String>,
    source: Arc<NamedSource<String>>,
    line_text: String,
}

impl Diagnostic {
    pub(crate) fn new(problem: Problem, source: &Arc<NamedSource<String>>, text: &str) -> Self {
        let location = Location::of(source.name(), text, problem.span);
        let line_text = text
            .lines()
            .nth(location.line - 1)
            .unwrap_or_default()
            .to_owned();
        Diagnostic {
            error: problem.error,
            location,
            label: problem.label,
            help: problem.help,
            source: Arc::clone(source),
            line_text,
        }
    }

    /// Plain-text rendering: `file:line:col: error: message`, the line, a caret, the hint.
    #[must_use]
    pub fn render_plain(&self) -> String {
        let number = self.location.line.to_string();
        let pad = " ".repeat(number.len());
        let caret_at = " ".repeat(self.location.column.saturating_sub(1));
        let width = self
            .line_text
            .chars()
            .skip(self.location.column.saturating_sub(1))
            .count()
            .min(self.location.span.len())
            .max(1);
        let mut out = format!(
            "{}: error: {}\n{pad} |\n{number} | {}\n{pad} | {caret_at}{} {}\n",
            self.location,
            self.error,
            self.line_text,
            "^".repeat(width),
            self.label
        );
        if let Some(help) = &self.help {
            out.push_str(&format!("{pad} = help: {help}\n"));
        }
        out
    }
}

impl PartialEq for Diagnostic {
    fn eq(&self, other: &Self) -> bool {
        self.error == other.error
            && self.location == other.location
            && self.label == other.label
            && self.help == other.help
    }
}

impl fmt::Debug for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diagnostic")
            .field("error", &self.error)
            .field("location", &self.location)
            .field("help", &self.help)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.error.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&*self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.label.clone()),
            self.location.span,
        ))))
    }
}

/// Every problem found in one check, in file then position order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn new(mut items: Vec<Diagnostic>) -> Self {
        items.sort_by(|a, b| {
            (&a.location.source, a.location.span.offset())
                .cmp(&(&b.location.source, b.location.span.offset()))
        });
        Diagnostics { items }
    }

    /// The problems.
    #[must_use]
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// How many.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            f.write_str(&d.render_plain())?;
        }
        write!(
            f,
            "{} error{}",
            self.items.len(),
            if self.items.len() == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Diagnostics {}

impl miette::Diagnostic for Diagnostics {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        Some(Box::new(
            self.items.iter().map(|d| d as &dyn miette::Diagnostic),
        ))
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
#[must_use]
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `help: did you mean `x`?` when there is a near candidate.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    did_you_mean(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Edit distance (insertions, deletions, substitutions and swaps of two neighbours, the
/// commonest typo), on characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * width + j] = if i == 0 || j == 0 {
                i + j
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[(i - 1) * width + j] + 1)
                    .min(d[i * width + j - 1] + 1)
                    .min(d[(i - 1) * width + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[(i - 2) * width + j - 2] + 1);
                }
                best
            };
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        let verbs = ["play", "menu", "goto", "hangup", "enqueue"];
        assert_eq!(did_you_mean("plya", verbs), Some("play"));
        assert_eq!(did_you_mean("hangpu", verbs), Some("hangup"));
        assert_eq!(did_you_mean("enqeue", verbs), Some("enqueue"));
        assert_eq!(did_you_mean("transfer", verbs), None);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("plya", "play"), 1);
    }

    #[test]
    fn locations_count_lines_and_characters() {
        let text = "a\nbé cd\n";
        let at = |offset| Location::of("f.kdl", text, SourceSpan::from((offset, 1)));
        assert_eq!((at(0).line, at(0).column), (1, 1));
        assert_eq!((at(2).line, at(2).column), (2, 1));
        assert_eq!((at(6).line, at(6).column), (2, 4), "é is one column");
        assert_eq!(at(6).to_string(), "f.kdl:2:4");
    }
}
