//! Properties: random valid dialplans driven by random event sequences never panic, every drain
//! of `poll` is bounded by the step budget, nothing follows a `Hangup`, and every call ends;
//! loading arbitrary or mangled text never panics.

mod common;

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use switchboard_dialplan::interp::{
    CallFacts, Command, DEFAULT_STEP_BUDGET, DialOutcome, EnqueueOutcome, Event, HttpFailure,
    HttpResponse, Interpreter, OverflowReason,
};
use switchboard_dialplan::{DialplanSet, Source};

/// One random verb of step `i` of `n`; `j` picks a target step.
fn verb(kind: u8, j: usize, r: u8) -> String {
    let s = format!("s{j}");
    match kind % 16 {
        0 => "set \"v\" \"x${caller_id}\"".into(),
        1 => "log \"v is ${v}\"".into(),
        2 => format!(
            "if \"v == 'x' or open(office)\" {{ set \"v\" \"1\" }}\n else {{ goto \"{s}\" }}"
        ),
        3 => format!(
            "menu \"menu\" timeout=1 retries={} {{\n option \"1\" \"{s}\"\n option \"2\" {{ set \"v\" \"2\" }}\n on-timeout {{ play \"sorry\" }}\n on-invalid \"{s}\"\n }}",
            r % 3
        ),
        4 => format!(
            "read \"v\" prompt=\"enter-number\" min=1 max={} retries=1 {{ on-failure \"{s}\" }}",
            1 + r % 4
        ),
        5 => "say number \"${v}\"".into(),
        6 => "say digits \"${caller_id}\" barge-in=#true".into(),
        7 => format!(
            "enqueue \"q-fr\" max-wait=30 {{ skills \"${{language}}\"; on-overflow \"{s}\" }}"
        ),
        8 => {
            format!("dial agent=\"1001\" {{ on-busy \"{s}\"; on-answered {{ play \"thanks\" }} }}")
        }
        9 => format!(
            "http \"GET\" \"http://crm/${{v}}\" {{ set \"v\" \"$.a\"; on-failure \"{s}\" }}"
        ),
        10 => "wait 1".into(),
        11 => "language \"en\"".into(),
        12 => "voicemail \"box\" greeting=\"greeting\"".into(),
        13 => "play \"hold\" barge-in=#true".into(),
        14 => format!("goto \"{s}\""),
        _ => "hangup \"x\"".into(),
    }
}

/// A dialplan that passes the checker: every step starts by playing a prompt (so no goto cycle
/// is input-less), and the first step's final menu reaches every step.
fn dialplan() -> impl Strategy<Value = String> {
    (1usize..7)
        .prop_flat_map(|n| {
            proptest::collection::vec(
                proptest::collection::vec((any::<u8>(), 0..n, any::<u8>()), 0..6),
                n,
            )
        })
        .prop_map(|steps| {
            let n = steps.len();
            let mut text = String::from(
                "hours \"office\" tz=\"Europe/Paris\" {\n rule \"mon-fri 09:00-17:00\"\n}\nentry \"100\" start=\"s0\"\n",
            );
            for (i, verbs) in steps.iter().enumerate() {
                text.push_str(&format!("step \"s{i}\" {{\n play \"welcome\"\n"));
                if i == 0 {
                    text.push_str(" set \"v\" \"0\"\n");
                }
                for &(kind, j, r) in verbs {
                    text.push_str(&verb(kind, j, r));
                    text.push('\n');
                }
                if i == 0 {
                    text.push_str(" menu \"menu\" {\n");
                    for k in 0..n {
                        text.push_str(&format!("  option \"{k}\" \"s{k}\"\n"));
                    }
                    text.push_str(" }\n");
                }
                text.push_str("}\n");
            }
            text
        })
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::PlaybackDone),
        Just(Event::Timeout),
        Just(Event::Answered),
        proptest::sample::select(vec!['0', '1', '2', '3', '9', '#', '*', 'x'])
            .prop_map(Event::Digit),
        proptest::sample::select(vec![
            DialOutcome::AnsweredAndEnded,
            DialOutcome::Busy,
            DialOutcome::NoAnswer,
            DialOutcome::Unavailable,
            DialOutcome::Failed(503),
        ])
        .prop_map(Event::DialResult),
        proptest::sample::select(vec![
            EnqueueOutcome::BridgedAndEnded,
            EnqueueOutcome::Overflow(OverflowReason::MaxWait),
            EnqueueOutcome::Overflow(OverflowReason::NoAgents),
        ])
        .prop_map(Event::EnqueueResult),
        proptest::sample::select(vec![
            Ok(HttpResponse {
                status: 200,
                body: r#"{"a":"7"}"#.into()
            }),
            Ok(HttpResponse {
                status: 500,
                body: String::new()
            }),
            Err(HttpFailure::Timeout),
        ])
        .prop_map(Event::HttpResult),
        (0u64..200).prop_map(|s| Event::RecordDone {
            duration: Duration::from_secs(s),
            terminated_by: None
        }),
    ]
}

fn load(text: &str) -> Arc<DialplanSet> {
    let source = Source {
        name: "p.kdl".into(),
        text: text.into(),
    };
    match DialplanSet::load(vec![source], &common::ctx()) {
        Ok(set) => Arc::new(set),
        Err(d) => panic!("generated plan rejected:\n{d}\n{text}"),
    }
}

fn start(set: &Arc<DialplanSet>) -> Interpreter {
    let facts = CallFacts {
        dialled: "100".into(),
        caller_id: "+33612345678".into(),
        caller_name: None,
        trunk: None,
        call_id: "p".into(),
    };
    Interpreter::new(Arc::clone(set), facts).expect("entry 100")
}

/// Drains, checking the bound and that nothing follows a hangup.
fn drain(i: &mut Interpreter, now: jiff::Timestamp) -> Vec<Command> {
    let mut out = Vec::new();
    while let Some(c) = i.poll(now) {
        assert!(
            !matches!(out.last(), Some(Command::Hangup { .. })),
            "a command after Hangup: {c:?}"
        );
        out.push(c);
        assert!(
            out.len() <= DEFAULT_STEP_BUDGET as usize + 2,
            "drain exceeded the budget"
        );
    }
    if matches!(out.last(), Some(Command::Hangup { .. })) {
        assert!(i.is_finished());
    }
    out
}

/// The event a well-behaved driver sends back for `command`, chosen by `pick`.
fn answer(command: &Command, pick: u8) -> Option<Event> {
    Some(match command {
        Command::Play { .. } if pick.is_multiple_of(4) => Event::Digit(char::from(b'0' + pick % 3)),
        Command::Play { .. } => Event::PlaybackDone,
        Command::CollectDigits { .. } if pick.is_multiple_of(3) => Event::Timeout,
        Command::CollectDigits { .. } => Event::Digit(char::from(b'0' + pick % 4)),
        Command::Wait(_) => Event::Timeout,
        Command::Enqueue { .. } => Event::EnqueueResult(if pick.is_multiple_of(2) {
            EnqueueOutcome::BridgedAndEnded
        } else {
            EnqueueOutcome::Overflow(OverflowReason::NoAgents)
        }),
        Command::Dial { .. } => Event::DialResult(if pick.is_multiple_of(2) {
            DialOutcome::Busy
        } else {
            DialOutcome::AnsweredAndEnded
        }),
        Command::Record { .. } => Event::RecordDone {
            duration: Duration::from_secs(3),
            terminated_by: Some('#'),
        },
        Command::Http { .. } => Event::HttpResult(Err(HttpFailure::Timeout)),
        Command::Answer | Command::Log { .. } | Command::Hangup { .. } => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_events_never_panic_and_the_call_ends(
        text in dialplan(),
        events in proptest::collection::vec(event(), 0..80),
        hour in 0i64..24,
    ) {
        let set = load(&text);
        let mut i = start(&set);
        let mut now = jiff::Timestamp::from_second(1_798_000_000 + hour * 3600).unwrap();
        drain(&mut i, now);
        for e in events {
            now = now.checked_add(Duration::from_secs(1)).unwrap();
            i.handle(now, e);
            drain(&mut i, now);
        }
        i.handle(now, Event::Hangup);
        prop_assert!(i.is_finished());
        prop_assert_eq!(i.poll(now), None);
    }

    #[test]
    fn a_responsive_driver_always_gets_an_answer_or_an_end(
        text in dialplan(),
        picks in proptest::collection::vec(any::<u8>(), 1..300),
    ) {
        let set = load(&text);
        let mut i = start(&set);
        let now = jiff::Timestamp::from_second(1_798_000_000).unwrap();
        let mut pending: Option<Command> = None;
        for pick in picks {
            let commands = drain(&mut i, now);
            if i.is_finished() {
                break;
            }
            // A running call always waits on one thing: the last command that wants an answer
            // (kept when an answer was ignored, such as a digit during a plain prompt).
            if let Some(c) = commands.iter().rev().find(|c| answer(c, 1).is_some()) {
                pending = Some(c.clone());
            }
            let waiting = pending.as_ref().and_then(|c| answer(c, pick));
            prop_assert!(waiting.is_some(), "waiting without a command to answer: {commands:?}");
            if let Some(e) = waiting {
                i.handle(now, e);
            }
        }
    }

    #[test]
    fn conditions_templates_and_paths_never_panic(text in "\\PC{0,80}") {
        let _ = switchboard_dialplan::cond::Cond::parse(&text);
        let _ = switchboard_dialplan::template::Template::parse(&text);
        let _ = switchboard_dialplan::template::JsonPath::parse(&text);
        let _ = switchboard_dialplan::simulate::parse_inputs(&text);
    }

    #[test]
    fn condition_like_token_soup_never_panics(
        tokens in proptest::collection::vec(proptest::sample::select(vec![
            "open(", "office", ")", "'a'", "==", "!=", ">=", "and", "or", "not", "(", "${x}",
            "matches", "'('", " ", "'", "\"", "<", "starts-with", "!", "&&", "||", "3", "é",
        ]), 0..14),
    ) {
        let text = tokens.concat();
        if let Ok(c) = switchboard_dialplan::cond::Cond::parse(&text) {
            let _ = c.eval(&std::collections::HashMap::new(), &|_| true);
        }
    }

    #[test]
    fn loading_arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = DialplanSet::load(vec![Source { name: "x".into(), text }], &common::ctx());
    }

    #[test]
    fn loading_mangled_plans_never_panics(
        text in dialplan(),
        edits in proptest::collection::vec((any::<usize>(), any::<char>()), 1..6),
    ) {
        let mut chars: Vec<char> = text.chars().collect();
        for (at, c) in edits {
            let at = at % chars.len();
            chars[at] = c;
        }
        let text: String = chars.into_iter().collect();
        if let Err(d) = DialplanSet::load(vec![Source { name: "x".into(), text }], &common::ctx()) {
            // Every problem is placed and renders.
            for item in d.items() {
                prop_assert!(item.location.line >= 1);
                prop_assert!(!item.render_plain().is_empty());
            }
        }
    }
}
