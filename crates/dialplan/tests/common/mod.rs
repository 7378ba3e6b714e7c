//! Shared test support: a configuration context, plan loading, and a scripted call.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use switchboard_dialplan::interp::{CallFacts, Command, Event, Interpreter};
use switchboard_dialplan::{CheckContext, DialplanSet, Source};

/// Prompts present in both languages in [`ctx`].
pub const PROMPTS: [&str; 10] = [
    "welcome",
    "menu",
    "sorry",
    "invalid",
    "bye",
    "enter-number",
    "closed",
    "greeting",
    "hold",
    "thanks",
];

pub fn names(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Queues q-fr/q-en, agents 1001/1002, trunks local (in) and partner (out), prompts in fr and
/// en (plus `only-fr`), every say fragment.
pub fn ctx() -> CheckContext {
    let mut prompts = BTreeMap::new();
    for lang in ["fr", "en"] {
        let mut set = names(&PROMPTS);
        let table = switchboard_dialplan::say::fragments(lang).unwrap_or_default();
        set.extend(table.iter().map(|(k, _)| format!("say/{k}")));
        prompts.insert(lang.to_owned(), set);
    }
    if let Some(fr) = prompts.get_mut("fr") {
        fr.insert("only-fr".into());
    }
    CheckContext {
        queues: names(&["q-fr", "q-en"]),
        agents: names(&["1001", "1002"]),
        trunks: names(&["local", "partner"]),
        outbound_trunks: names(&["partner"]),
        prompts,
        default_language: "fr".into(),
    }
}

/// Loads one plan or panics with the rendered diagnostics.
pub fn plan(text: &str) -> Arc<DialplanSet> {
    let source = Source {
        name: "test.kdl".into(),
        text: text.into(),
    };
    match DialplanSet::load(vec![source], &ctx()) {
        Ok(set) => Arc::new(set),
        Err(d) => panic!("plan does not load:\n{d}"),
    }
}

/// Monday 21 December 2026, 10:00 in Paris.
pub fn monday_10am() -> Timestamp {
    "2026-12-21T09:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A call on a virtual clock.
pub struct Call {
    pub interp: Interpreter,
    pub now: Timestamp,
}

impl Call {
    /// A call from +33612345678 to `to` on trunk `local`, at `now`.
    pub fn new(set: &Arc<DialplanSet>, to: &str, now: Timestamp) -> Call {
        let facts = CallFacts {
            dialled: to.into(),
            caller_id: "+33612345678".into(),
            caller_name: Some("Alice".into()),
            trunk: Some("local".into()),
            call_id: "c1".into(),
        };
        let interp = Interpreter::new(Arc::clone(set), facts).expect("routes");
        Call { interp, now }
    }

    /// Every command until the interpreter waits.
    pub fn drain(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        while let Some(c) = self.interp.poll(self.now) {
            out.push(c);
            assert!(out.len() < 10_000, "poll never returned None");
        }
        out
    }

    /// Moves the clock, sends `event`, and drains.
    pub fn send(&mut self, after: Duration, event: Event) -> Vec<Command> {
        self.now = self.now.checked_add(after).unwrap_or(self.now);
        self.interp.handle(self.now, event);
        self.drain()
    }

    /// Sends `event` now and drains.
    pub fn on(&mut self, event: Event) -> Vec<Command> {
        self.send(Duration::ZERO, event)
    }
}

/// The paths of a `Play` command.
pub fn played(commands: &[Command]) -> Vec<String> {
    commands
        .iter()
        .flat_map(|c| match c {
            Command::Play { prompts, .. } => prompts.iter().map(|p| p.path.clone()).collect(),
            _ => Vec::new(),
        })
        .collect()
}

pub fn hangup(cause: &str) -> Command {
    Command::Hangup {
        cause: cause.into(),
    }
}

pub fn collect(secs: u64) -> Command {
    Command::CollectDigits {
        timeout: Duration::from_secs(secs),
    }
}
