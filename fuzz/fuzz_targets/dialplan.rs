//! The dialplan parser and checker on any text, then the interpreter on what loads, driven by
//! a fake driver whose answers come from the same input; and the journeys-file parser. None of
//! it may panic, and every call must end or wait within the step budget.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use switchboard_dialplan::interp::{
    CallFacts, Command, DialOutcome, EnqueueOutcome, Event, HttpFailure, HttpResponse, Interpreter,
    OverflowReason,
};
use switchboard_dialplan::simulate::expect::parse_journeys;
use switchboard_dialplan::{CheckContext, DialplanSet, Source, Timestamp};

fn context() -> CheckContext {
    let names = |items: &[&str]| {
        items
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<_>>()
    };
    let mut prompts = BTreeMap::new();
    for lang in ["fr", "en"] {
        let mut set = names(&["welcome", "menu", "sorry"]);
        if let Some(table) = switchboard_dialplan::say::fragments(lang) {
            set.extend(table.iter().map(|(k, _)| format!("say/{k}")));
        }
        prompts.insert(lang.to_owned(), set);
    }
    CheckContext {
        queues: names(&["q"]),
        agents: names(&["1001"]),
        trunks: names(&["local", "out"]),
        outbound_trunks: names(&["out"]),
        prompts,
        default_language: "fr".into(),
    }
}

fn answer(command: &Command, pick: u8) -> Option<Event> {
    Some(match command {
        Command::Play { .. } if pick.is_multiple_of(5) => Event::Digit('1'),
        Command::Play { .. } => Event::PlaybackDone,
        Command::CollectDigits { .. } if pick.is_multiple_of(4) => Event::Timeout,
        Command::CollectDigits { .. } => {
            Event::Digit(char::from(b"0123456789*#"[usize::from(pick) % 12]))
        }
        Command::Wait(_) => Event::Timeout,
        Command::Enqueue { .. } => Event::EnqueueResult(if pick.is_multiple_of(2) {
            EnqueueOutcome::BridgedAndEnded
        } else {
            EnqueueOutcome::Overflow(OverflowReason::MaxWait)
        }),
        Command::Dial { .. } => Event::DialResult(match pick % 4 {
            0 => DialOutcome::AnsweredAndEnded,
            1 => DialOutcome::Busy,
            2 => DialOutcome::NoAnswer,
            _ => DialOutcome::Failed(503),
        }),
        Command::Record { .. } => Event::RecordDone {
            duration: Duration::from_secs(1),
            terminated_by: None,
        },
        Command::Http { .. } if pick.is_multiple_of(2) => {
            Event::HttpResult(Err(HttpFailure::Timeout))
        }
        Command::Http { .. } => Event::HttpResult(Ok(HttpResponse {
            status: 200,
            body: "{\"a\":1}".into(),
        })),
        Command::Answer | Command::Log { .. } | Command::Hangup { .. } => return None,
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Source {
        name: "fuzz.kdl".into(),
        text: text.to_owned(),
    };
    let _ = parse_journeys(&source);
    let set = match DialplanSet::load(vec![source], &context()) {
        Ok(set) => Arc::new(set),
        Err(diagnostics) => {
            let _ = diagnostics.to_string();
            return;
        }
    };
    let dialled: Vec<String> = set
        .plans()
        .iter()
        .flat_map(|p| p.entries.iter())
        .filter_map(|e| match &e.matcher {
            switchboard_dialplan::ast::Matcher::Exact(n)
            | switchboard_dialplan::ast::Matcher::Prefix(n) => Some(n.clone()),
            switchboard_dialplan::ast::Matcher::Pattern(_) => None,
        })
        .collect();
    for to in dialled.into_iter().take(4) {
        let facts = CallFacts {
            dialled: to,
            caller_id: "+33612345678".into(),
            ..CallFacts::default()
        };
        let Ok(mut call) = Interpreter::new(Arc::clone(&set), facts) else {
            continue;
        };
        let mut now = Timestamp::UNIX_EPOCH;
        let mut pending = None;
        for &pick in data.iter().cycle().take(512) {
            let mut drained = 0;
            while let Some(c) = call.poll(now) {
                drained += 1;
                assert!(drained <= 1002, "a drain past the step budget");
                if answer(&c, 1).is_some() {
                    pending = Some(c);
                }
            }
            if call.is_finished() {
                break;
            }
            let Some(event) = pending.as_ref().and_then(|c| answer(c, pick)) else {
                break;
            };
            now = now.checked_add(Duration::from_secs(1)).unwrap_or(now);
            call.handle(now, event);
        }
        call.handle(now, Event::Hangup);
        assert!(call.is_finished());
        assert!(call.poll(now).is_none());
    }
});
