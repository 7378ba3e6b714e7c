//! The loaded, checked dialplans of a server, and routing a call to its entry point.
//!
//! [`DialplanSet::load`] is what `dialplan check` and a reload call: it parses every source,
//! checks each file against the configuration ([`CheckContext`]) and the files against each
//! other (an entry point may be defined once across all of them), and returns either a set the
//! interpreter can run or every problem found. The crate does no IO: the caller reads the files
//! and lists the prompts it has.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use miette::NamedSource;

use crate::ast::{EntryDef, Matcher, Plan};
use crate::diag::{CheckError, Diagnostic, Diagnostics, Location, Problem};

/// A dialplan's text and the name to report it under (its file name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// File name, e.g. `after-sales.kdl`.
    pub name: String,
    /// The KDL text.
    pub text: String,
}

/// What the dialplans may refer to, from the configuration and the sounds folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckContext {
    /// `[[queues]]` names.
    pub queues: BTreeSet<String>,
    /// `[[agents]]` extensions.
    pub agents: BTreeSet<String>,
    /// `[[trunks]]` names (for `entry … trunk=`).
    pub trunks: BTreeSet<String>,
    /// Trunks with an `address`, through which `dial trunk=` can send calls.
    pub outbound_trunks: BTreeSet<String>,
    /// Prompts present, per language: `"fr"` → `{"welcome", "say/42", …}` (names without
    /// `.wav`, relative to `sounds/fr`).
    pub prompts: BTreeMap<String, BTreeSet<String>>,
    /// Language of calls that have not chosen one, and of the fallback prompts.
    pub default_language: String,
}

/// Checked dialplans, ready to run; shared by every call (`Arc<DialplanSet>`).
#[derive(Debug, Clone)]
pub struct DialplanSet {
    plans: Vec<Plan>,
    prompts: BTreeMap<String, BTreeSet<String>>,
    default_language: String,
}

/// The entry point a call matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Index of the plan in the set.
    pub plan: usize,
    /// Index of the entry in the plan.
    pub entry: usize,
    /// Pattern captures: `${0}` (the whole match), `${1}`…
    pub captures: Vec<String>,
}

impl DialplanSet {
    /// Parses and checks `sources` against `ctx`.
    ///
    /// # Errors
    /// Every problem of every source, placed in its file.
    pub fn load(sources: Vec<Source>, ctx: &CheckContext) -> Result<DialplanSet, Diagnostics> {
        let mut plans = Vec::with_capacity(sources.len());
        let mut diagnostics = Vec::new();
        let mut named = Vec::with_capacity(sources.len());
        for source in sources {
            let (plan, mut problems) = crate::parse::parse_plan(&source.name, &source.text);
            // Flow checks (reachability, loops) only make sense on a file whose verbs all
            // parsed: a dropped `goto` would make its target look unreachable.
            let whole = problems.is_empty();
            problems.extend(crate::check::check_plan(&plan, ctx, whole));
            let shared =
                Arc::new(NamedSource::new(&source.name, source.text.clone()).with_language("kdl"));
            diagnostics.extend(
                problems
                    .into_iter()
                    .map(|p| Diagnostic::new(p, &shared, &source.text)),
            );
            plans.push(plan);
            named.push((shared, source.text));
        }
        diagnostics.extend(duplicate_entries(&plans, &named));
        if !diagnostics.is_empty() {
            return Err(Diagnostics::new(diagnostics));
        }
        Ok(DialplanSet {
            plans,
            prompts: ctx.prompts.clone(),
            default_language: ctx.default_language.clone(),
        })
    }

    /// The plans, one per source, in the order given.
    #[must_use]
    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    /// How many entry points in all.
    #[must_use]
    pub fn entry_count(&self) -> usize {
        self.plans.iter().map(|p| p.entries.len()).sum()
    }

    /// The default language.
    #[must_use]
    pub fn default_language(&self) -> &str {
        &self.default_language
    }

    /// Whether prompt `name` exists in `language`.
    #[must_use]
    pub fn has_prompt(&self, language: &str, name: &str) -> bool {
        self.prompts.get(language).is_some_and(|p| p.contains(name))
    }

    /// The entry point for a call to `dialled` arriving on `trunk`.
    ///
    /// The most specific wins: an exact number, then patterns (in file order), then the
    /// longest prefix; at each level an entry restricted to the call's trunk before one that
    /// takes every trunk. An entry with `trunk=` never takes calls from another trunk, nor
    /// internal calls (`trunk` is `None`).
    #[must_use]
    pub fn route(&self, dialled: &str, trunk: Option<&str>) -> Option<Route> {
        let candidates = || {
            self.plans.iter().enumerate().flat_map(|(p, plan)| {
                plan.entries
                    .iter()
                    .enumerate()
                    .filter(move |(_, e)| e.trunk.is_none() || e.trunk.as_deref() == trunk)
                    .map(move |(i, e)| (p, i, e))
            })
        };
        let rank = |e: &EntryDef| usize::from(e.trunk.is_none());
        let exact = candidates()
            .filter(|(_, _, e)| matches!(&e.matcher, Matcher::Exact(n) if n == dialled))
            .min_by_key(|(_, _, e)| rank(e));
        if let Some((plan, entry, _)) = exact {
            return Some(Route {
                plan,
                entry,
                captures: vec![dialled.to_owned()],
            });
        }
        let pattern = candidates()
            .filter_map(|(p, i, e)| match &e.matcher {
                Matcher::Pattern(re) => re.captures(dialled).map(|c| (p, i, e, c)),
                _ => None,
            })
            .min_by_key(|(_, _, e, _)| rank(e));
        if let Some((plan, entry, _, caps)) = pattern {
            let captures = caps
                .iter()
                .map(|m| m.map_or_else(String::new, |m| m.as_str().to_owned()))
                .collect();
            return Some(Route {
                plan,
                entry,
                captures,
            });
        }
        candidates()
            .filter_map(|(p, i, e)| match &e.matcher {
                Matcher::Prefix(pre) if dialled.starts_with(pre.as_str()) => {
                    Some((p, i, pre.len(), rank(e)))
                }
                _ => None,
            })
            .min_by_key(|&(_, _, len, r)| (std::cmp::Reverse(len), r))
            .map(|(plan, entry, _, _)| Route {
                plan,
                entry,
                captures: vec![dialled.to_owned()],
            })
    }
}

/// The same matcher and trunk defined twice, in one file or across files.
fn duplicate_entries(
    plans: &[Plan],
    named: &[(Arc<NamedSource<String>>, String)],
) -> Vec<Diagnostic> {
    let mut seen: BTreeMap<(String, Option<String>), Location> = BTreeMap::new();
    let mut out = Vec::new();
    for (plan, (source, text)) in plans.iter().zip(named) {
        for entry in &plan.entries {
            let key = (entry.matcher.describe(), entry.trunk.clone());
            let here = Location::of(source.name(), text, entry.span);
            if let Some(first) = seen.get(&key) {
                let problem = Problem::new(
                    CheckError::DuplicateEntry {
                        entry: describe_entry(entry),
                        first: first.to_string(),
                    },
                    entry.span,
                    "defined again",
                )
                .help("a dialled number can start only one flow: remove one, or restrict it with trunk=");
                out.push(Diagnostic::new(problem, source, text));
            } else {
                seen.insert(key, here);
            }
        }
    }
    out
}

fn describe_entry(entry: &EntryDef) -> String {
    match &entry.trunk {
        Some(t) => format!("{} trunk=\"{t}\"", entry.matcher.describe()),
        None => entry.matcher.describe(),
    }
}
