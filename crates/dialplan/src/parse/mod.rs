//! KDL text to a [`Plan`]: the top-level nodes (`languages`, `hours`, `entry`, `step`) here,
//! the verbs in [`verbs`].
//!
//! Parsing never stops at the first problem: a bad node is reported and skipped, so one run of
//! `dialplan check` lists everything that is wrong in a file. The only exceptions are KDL syntax
//! errors (the document has no tree to walk) and nesting deeper than [`MAX_DEPTH`], refused
//! before the KDL parser sees it because that parser recurses once per level and would exhaust
//! the stack on hostile input.

mod args;
mod calls;
mod scan;
mod verbs;

use jiff::tz::TimeZone;
use kdl::{KdlDocument, KdlNode};
use miette::SourceSpan;

use crate::ast::{BlockId, EntryDef, HoursDef, Matcher, Plan, StepDef, Verb};
use crate::diag::{CheckError, Problem, suggest};
use crate::hours::OpeningHours;
pub(crate) use args::NodeArgs;
use args::inner_span;

/// Deepest nesting of `{ }` blocks (and of `/* */` comments) accepted.
pub const MAX_DEPTH: usize = 24;

/// Years for which `holidays "FR"` closes the French public holidays.
const HOLIDAY_YEARS: std::ops::RangeInclusive<i16> = 2000..=2100;

const TOP_LEVEL: [&str; 4] = ["languages", "hours", "entry", "step"];

/// Parses one file; problems are returned alongside whatever could be built.
pub(crate) fn parse_plan(name: &str, text: &str) -> (Plan, Vec<Problem>) {
    let plan = Plan {
        name: name.to_owned(),
        ..Plan::default()
    };
    if let Err((offset, limit)) = scan::check_depth(text, MAX_DEPTH) {
        let problem = Problem::new(
            CheckError::TooDeep { limit },
            SourceSpan::from((offset, 1)),
            "too deep",
        )
        .help("split the flow into more steps and `goto` between them");
        return (plan, vec![problem]);
    }
    // `} else {` on one line is what admins write; KDL needs `else` on its own line.
    let split = scan::split_else(text);
    let doc = match KdlDocument::parse_v2(split.as_deref().unwrap_or(text)) {
        Ok(doc) => doc,
        Err(err) => {
            let problems = err
                .diagnostics
                .into_iter()
                .map(|d| {
                    Problem::new(
                        CheckError::Syntax {
                            message: d.message.unwrap_or_else(|| "invalid KDL".into()),
                        },
                        d.span,
                        d.label.unwrap_or_else(|| "here".into()),
                    )
                    .help_opt(d.help)
                })
                .collect();
            return (plan, problems);
        }
    };
    let mut builder = Builder {
        src: text,
        problems: Vec::new(),
        plan,
    };
    for node in doc.nodes() {
        builder.top_level(node);
    }
    (builder.plan, builder.problems)
}

/// Builds one plan, collecting problems.
pub(crate) struct Builder<'s> {
    pub(crate) src: &'s str,
    pub(crate) problems: Vec<Problem>,
    pub(crate) plan: Plan,
}

impl Builder<'_> {
    fn top_level(&mut self, node: &KdlNode) {
        match node.name().value() {
            "languages" => self.languages(node),
            "hours" => self.hours(node),
            "entry" => self.entry(node),
            "step" => self.step(node),
            other => {
                let help = suggest(other, TOP_LEVEL).or_else(|| {
                    verbs::VERBS
                        .contains(&other)
                        .then(|| format!("`{other}` is a verb: put it inside a `step {{ }}`"))
                });
                self.problems.push(
                    Problem::new(
                        CheckError::UnknownVerb {
                            name: other.to_owned(),
                            place: "top-level node".into(),
                        },
                        node.name().span(),
                        "not known here",
                    )
                    .help_opt(help.or_else(|| {
                        Some("a dialplan holds `languages`, `hours`, `entry` and `step`".into())
                    })),
                );
            }
        }
    }

    /// Reports children on a node that takes none.
    pub(crate) fn no_children(&mut self, node: &KdlNode) {
        if let Some(children) = node.children() {
            self.problems.push(Problem::new(
                CheckError::InvalidValue {
                    verb: node.name().value().to_owned(),
                    message: "takes no `{ }` block".into(),
                },
                children.span(),
                "unexpected block",
            ));
        }
    }

    fn languages(&mut self, node: &KdlNode) {
        let mut a = NodeArgs::new(node);
        for e in a.args_from(0) {
            if let Some((lang, span)) = a.string(&mut self.problems, e, "a language code") {
                if is_language_code(&lang) {
                    self.plan.declared_languages.insert(lang);
                } else {
                    self.problems.push(bad_language(&lang, span));
                }
            }
        }
        a.finish(&mut self.problems, "language codes such as \"fr\" \"en\"");
        self.no_children(node);
    }

    fn hours(&mut self, node: &KdlNode) {
        let mut a = NodeArgs::new(node);
        let name = a.req_str(&mut self.problems, 0, "a name (`hours \"office\" …`)");
        let tz = match a.prop("tz") {
            None => {
                self.problems.push(
                    Problem::new(
                        CheckError::MissingArgument {
                            verb: "hours".into(),
                            what: "a time zone".into(),
                        },
                        node.name().span(),
                        "no tz=",
                    )
                    .help("add tz=\"Europe/Paris\" (an IANA time-zone name)"),
                );
                None
            }
            Some(e) => a
                .string(&mut self.problems, e, "tz")
                .and_then(|(tz, span)| self.time_zone(&tz, span)),
        };
        a.finish(&mut self.problems, "one name");
        // A bad tz is reported; the rules are still checked, and the name stays defined so
        // `open(…)` references to it are not reported as well.
        let mut hours = OpeningHours::builder(tz.unwrap_or(TimeZone::UTC));
        for child in node.iter_children() {
            self.hours_rule(child, &mut hours);
        }
        let Some((name, name_span)) = name else {
            return;
        };
        if self.plan.hours.contains_key(&name) {
            self.problems.push(duplicate("hours", &name, name_span));
            return;
        }
        self.plan.hours.insert(
            name.clone(),
            HoursDef {
                name,
                hours: hours.build(),
                span: node.span(),
            },
        );
    }

    fn time_zone(&mut self, name: &str, span: SourceSpan) -> Option<TimeZone> {
        match TimeZone::get(name) {
            Ok(tz) => Some(tz),
            Err(_) => {
                let names: Vec<String> = jiff::tz::db()
                    .available()
                    .map(|n| n.as_str().to_owned())
                    .collect();
                let help = suggest(name, names.iter().map(String::as_str))
                    .unwrap_or_else(|| "use an IANA name such as \"Europe/Paris\"".into());
                self.problems.push(
                    Problem::new(
                        CheckError::UnknownTimeZone {
                            name: name.to_owned(),
                        },
                        span,
                        "not a time zone",
                    )
                    .help(help),
                );
                None
            }
        }
    }

    fn hours_rule(&mut self, node: &KdlNode, hours: &mut crate::hours::OpeningHoursBuilder) {
        let mut a = NodeArgs::new(node);
        match node.name().value() {
            "rule" => {
                for e in a.args_from(0) {
                    let Some((rule, _)) = a.string(&mut self.problems, e, "a rule") else {
                        continue;
                    };
                    if let Err(err) = hours.rule(&rule) {
                        let span = inner_span(self.src, e, &rule, err.offset, err.len());
                        self.problems.push(
                            Problem::new(CheckError::BadHoursRule { kind: err.kind }, span, "here")
                                .help(
                                    "rules look like \"mon-sat 08:00-20:00\", \"sun closed\" or \
                                 \"2026-12-24 08:00-17:00\"",
                                ),
                        );
                    }
                }
            }
            "holidays" => {
                if let Some((country, span)) = a.req_str(&mut self.problems, 0, "a country") {
                    if country.eq_ignore_ascii_case("FR") {
                        let dates = HOLIDAY_YEARS
                            .filter_map(crate::holidays::french_public_holidays)
                            .flat_map(|days| days.map(|h| h.date));
                        hours.closed_on(dates);
                    } else {
                        self.problems.push(
                            Problem::new(
                                CheckError::InvalidValue {
                                    verb: "holidays".into(),
                                    message: format!("no public holidays known for `{country}`"),
                                },
                                span,
                                "unknown country",
                            )
                            .help(
                                "\"FR\" is known; close other days with rule \"YYYY-MM-DD closed\"",
                            ),
                        );
                    }
                }
            }
            other => {
                self.problems.push(
                    Problem::new(
                        CheckError::UnknownVerb {
                            name: other.to_owned(),
                            place: "hours rule".into(),
                        },
                        node.name().span(),
                        "not known here",
                    )
                    .help(
                        suggest(other, ["rule", "holidays"])
                            .unwrap_or_else(|| "`hours` holds `rule` and `holidays`".into()),
                    ),
                );
                return;
            }
        }
        a.finish(&mut self.problems, "text values");
        self.no_children(node);
    }

    fn entry(&mut self, node: &KdlNode) {
        let mut a = NodeArgs::new(node);
        let exact = a.arg(0);
        let prefix = a.prop("prefix");
        let pattern = a.prop("pattern");
        let given = [exact, prefix, pattern]
            .iter()
            .filter(|e| e.is_some())
            .count();
        let mut matcher = None;
        if given != 1 {
            self.problems.push(
                Problem::new(
                    CheckError::MissingArgument {
                        verb: "entry".into(),
                        what: "exactly one of a number, prefix= or pattern=".into(),
                    },
                    node.name().span(),
                    "ambiguous entry",
                )
                .help("entry \"+33180000000\" start=…, entry prefix=\"+33\" start=…, or entry pattern=\"^\\\\+331(\\\\d+)$\" start=…"),
            );
        } else if let Some(e) = exact {
            matcher = a
                .string(&mut self.problems, e, "the dialled number")
                .map(|(n, _)| Matcher::Exact(n));
        } else if let Some(e) = prefix {
            matcher = a
                .string(&mut self.problems, e, "prefix")
                .map(|(n, _)| Matcher::Prefix(n));
        } else if let Some(e) = pattern {
            matcher = a
                .string(&mut self.problems, e, "pattern")
                .and_then(|(re, span)| self.regex(&re, span));
        }
        let start = match a.prop("start") {
            Some(e) => a.string(&mut self.problems, e, "start"),
            None => {
                self.problems.push(
                    Problem::new(
                        CheckError::MissingArgument {
                            verb: "entry".into(),
                            what: "the first step (start=\"…\")".into(),
                        },
                        node.name().span(),
                        "no start=",
                    )
                    .help("add start=\"welcome\" naming the step the call begins with"),
                );
                None
            }
        };
        let trunk = a.str_prop(&mut self.problems, "trunk");
        let language = a.str_prop(&mut self.problems, "language");
        if let Some((lang, span)) = &language
            && !is_language_code(lang)
        {
            self.problems.push(bad_language(lang, *span));
        }
        a.finish(&mut self.problems, "one dialled number");
        self.no_children(node);
        if let (Some(matcher), Some((start, start_span))) = (matcher, start) {
            self.plan.entries.push(EntryDef {
                matcher,
                trunk_span: trunk.as_ref().map_or(node.span(), |t| t.1),
                trunk: trunk.map(|t| t.0),
                start,
                start_span,
                language: language.map(|l| l.0),
                span: node.span(),
            });
        }
    }

    fn regex(&mut self, re: &str, span: SourceSpan) -> Option<Matcher> {
        match regex::Regex::new(re) {
            Ok(r) => Some(Matcher::Pattern(r)),
            Err(err) => {
                let message = match &err {
                    regex::Error::Syntax(s) => s.lines().last().unwrap_or(s).to_owned(),
                    other => other.to_string(),
                };
                self.problems.push(
                    Problem::new(CheckError::InvalidRegex { message }, span, "not a regex")
                        .help("in KDL, \"\\\\d\" is the regex \\d; a raw string #\"^\\+33(\\d+)$\"# needs no doubling"),
                );
                None
            }
        }
    }

    fn step(&mut self, node: &KdlNode) {
        let mut a = NodeArgs::new(node);
        let name = a.req_str(&mut self.problems, 0, "a name (`step \"welcome\" { … }`)");
        a.finish(&mut self.problems, "one name");
        let body = self.block(node.children().map_or(&[], KdlDocument::nodes));
        let Some((name, name_span)) = name else {
            return;
        };
        if self.plan.step_index.contains_key(&name) {
            self.problems.push(duplicate("step", &name, name_span));
            return;
        }
        self.plan
            .step_index
            .insert(name.clone(), self.plan.steps.len());
        self.plan.steps.push(StepDef {
            name,
            body,
            span: node.span(),
            name_span,
        });
    }

    /// Allocates a block for `nodes`, parsing each verb.
    pub(crate) fn block(&mut self, nodes: &[KdlNode]) -> BlockId {
        let id = BlockId(u32::try_from(self.plan.blocks.len()).unwrap_or(u32::MAX));
        self.plan.blocks.push(Vec::new());
        let mut verbs: Vec<Verb> = Vec::with_capacity(nodes.len());
        for node in nodes {
            if node.name().value() == "else" {
                self.attach_else(node, &mut verbs);
                continue;
            }
            if let Some(kind) = self.verb(node) {
                verbs.push(Verb {
                    kind,
                    span: node.span(),
                });
            }
        }
        if let Some(slot) = self.plan.blocks.get_mut(id.index()) {
            *slot = verbs;
        }
        id
    }
}

fn duplicate(what: &str, name: &str, span: SourceSpan) -> Problem {
    Problem::new(
        CheckError::Duplicate {
            what: what.into(),
            name: name.into(),
        },
        span,
        "second definition",
    )
    .help(format!("rename one of the two {what} definitions"))
}

pub(crate) fn bad_language(lang: &str, span: SourceSpan) -> Problem {
    Problem::new(
        CheckError::InvalidValue {
            verb: "language".into(),
            message: format!("`{lang}` is not a language code"),
        },
        span,
        "not a language",
    )
    .help("use a lowercase code such as \"fr\" or \"en\" (it names the folder sounds/fr)")
}

/// `fr`, `en`, `pt-br`: lowercase letters with an optional `-region`.
pub(crate) fn is_language_code(s: &str) -> bool {
    let (lang, region) = s.split_once('-').unwrap_or((s, "a"));
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && !region.is_empty()
        && region.bytes().all(|b| b.is_ascii_alphanumeric())
}
