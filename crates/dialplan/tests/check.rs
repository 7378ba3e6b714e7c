//! `dialplan check`: each class of error is caught, at the right file, line and column, with a
//! hint; several in one run; and a correct plan passes.

use std::collections::{BTreeMap, BTreeSet};

use switchboard_dialplan::{CheckContext, CheckError, Diagnostics, DialplanSet, Source};

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn ctx() -> CheckContext {
    let mut prompts = BTreeMap::new();
    let common = ["welcome", "menu", "closed", "sorry", "enter-number"];
    for lang in ["fr", "en"] {
        let mut names = set(&common);
        let table = switchboard_dialplan::say::fragments(lang).unwrap();
        names.extend(table.iter().map(|(k, _)| format!("say/{k}")));
        prompts.insert(lang.to_owned(), names);
    }
    prompts.get_mut("fr").unwrap().insert("only-fr".into());
    CheckContext {
        queues: set(&["after-sales-fr", "after-sales-en"]),
        agents: set(&["1001", "1002"]),
        trunks: set(&["local", "partner"]),
        outbound_trunks: set(&["partner"]),
        prompts,
        default_language: "fr".into(),
    }
}

fn load(files: &[(&str, &str)]) -> Result<DialplanSet, Diagnostics> {
    let sources = files
        .iter()
        .map(|(name, text)| Source {
            name: (*name).to_owned(),
            text: (*text).to_owned(),
        })
        .collect();
    DialplanSet::load(sources, &ctx())
}

/// The errors of one file, as (error, line, column, help).
fn errors(text: &str) -> Vec<(CheckError, usize, usize, Option<String>)> {
    match load(&[("t.kdl", text)]) {
        Ok(_) => Vec::new(),
        Err(d) => d
            .items()
            .iter()
            .map(|d| {
                (
                    d.error.clone(),
                    d.location.line,
                    d.location.column,
                    d.help.clone(),
                )
            })
            .collect(),
    }
}

/// The single error of `text`.
fn one(text: &str) -> (CheckError, usize, usize, Option<String>) {
    let mut all = errors(text);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    all.remove(0)
}

const GOOD: &str = r##"
languages "fr" "en"
hours "office" tz="Europe/Paris" {
    rule "mon-sat 08:00-20:00"
    holidays "FR"
    rule "2026-12-24 08:00-17:00"
}
entry "+33180000000" start="welcome"
entry pattern=#"^\+3318(\d+)$"# start="welcome" trunk="local"
step "welcome" {
    answer
    http "GET" "http://crm/c?phone=${caller_id}" timeout="1500ms" {
        set "customer" "$.name"
        on-failure "menu"
    }
    play "welcome" barge-in=#true
    goto "menu"
}
step "menu" {
    menu "menu" timeout=5 retries=2 {
        option "1" { language "fr"; goto "open?" }
        option "2" { language "en"; goto "open?" }
        option "3" "callback"
        on-timeout { play "sorry" }
        on-failure { hangup cause="no-input" }
    }
}
step "open?" {
    if open="office" { enqueue "after-sales-${language}" } else { goto "closed" }
}
step "closed" {
    if "customer != '' and not open(office)" {
        log "closed for ${customer}"
    }
    voicemail "after-sales" greeting="closed" max=120
    hangup "closed"
}
step "callback" {
    read "number" prompt="enter-number" min=10 max=10 timeout=10 {
        on-failure "closed"
    }
    say digits "${number}"
    dial trunk="partner" number="${number}" ring-timeout=20 {
        on-busy { wait 1; goto "callback" }
    }
}
"##;

#[test]
fn a_correct_plan_passes() {
    let plans = load(&[("good.kdl", GOOD)]).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(plans.plans().len(), 1);
    assert_eq!(plans.entry_count(), 2);
}

#[test]
fn syntax_errors_point_into_the_file() {
    let (e, line, col, _) = one("step \"a\" {\n    play \"x\n}\n");
    assert!(matches!(e, CheckError::Syntax { .. }), "{e:?}");
    assert_eq!(line, 2, "{e:?} at {line}:{col}");
}

#[test]
fn unknown_verbs_and_arguments_get_hints() {
    let text = "entry \"1\" start=\"a\"\nstep \"a\" {\n    plya \"welcome\"\n    play \"welcome\" bargein=#true\n    menu \"menu\" timeot=3 {\n        option \"1\" { hangup }\n        on-timout { hangup }\n    }\n}\n";
    let all = errors(text);
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(
        all[0],
        (
            CheckError::UnknownVerb {
                name: "plya".into(),
                place: "verb".into()
            },
            3,
            5,
            Some("did you mean `play`?".into())
        )
    );
    assert_eq!(
        (&all[1].0, all[1].1, all[1].2, all[1].3.as_deref()),
        (
            &CheckError::UnknownArgument {
                verb: "play".into(),
                name: "bargein".into()
            },
            4,
            20,
            Some("did you mean `barge-in`?")
        )
    );
    assert_eq!((all[2].1, all[2].2), (5, 17));
    assert_eq!(all[2].3.as_deref(), Some("did you mean `timeout`?"));
    assert_eq!((all[3].1, all[3].2), (7, 9));
    assert_eq!(all[3].3.as_deref(), Some("did you mean `on-timeout`?"));
}

#[test]
fn wrong_types_are_named() {
    let (e, line, col, help) =
        one("entry \"1\" start=\"a\"\nstep \"a\" {\n    play \"welcome\" barge-in=\"yes\"\n}\n");
    assert_eq!(
        e,
        CheckError::WrongType {
            verb: "play".into(),
            name: "barge-in".into(),
            expected: "#true or #false".into()
        }
    );
    assert_eq!((line, col), (3, 20));
    assert!(help.unwrap().contains("#true"));
    let (e, ..) = one("entry \"1\" start=\"a\"\nstep \"a\" {\n    wait \"soon\"\n}\n");
    assert!(matches!(e, CheckError::WrongType { .. }), "{e:?}");
    let (e, ..) = one(
        "entry \"1\" start=\"a\"\nstep \"a\" {\n    menu \"menu\" retries=\"2\" { option 1 { hangup } }\n}\n",
    );
    assert!(
        matches!(e, CheckError::WrongType { ref name, .. } if name == "retries"),
        "{e:?}"
    );
}

#[test]
fn exit_keys_must_be_keys() {
    let (e, line, col, _) = one(
        "entry \"1\" start=\"a\"\nstep \"a\" {\n    enqueue \"after-sales-fr\" exit-keys=\"1x\"\n}\n",
    );
    assert!(
        matches!(e, CheckError::InvalidValue { ref message, .. } if message.contains("exit-keys")),
        "{e:?}"
    );
    assert_eq!((line, col), (3, 40));
}

#[test]
fn unreachable_steps_are_reported() {
    let (e, line, col, _) =
        one("entry \"1\" start=\"a\"\nstep \"a\" { hangup }\nstep \"orphan\" { hangup }\n");
    assert_eq!(
        e,
        CheckError::UnreachableStep {
            name: "orphan".into()
        }
    );
    assert_eq!((line, col), (3, 6));
}

#[test]
fn unknown_references_of_each_kind() {
    let text = r#"entry "1" start="a" trunk="lcoal"
step "a" {
    goto "b"
}
step "b" {
    if open="offfice" { enqueue "after-sales-de" }
    dial agent="1009"
    dial trunk="local" number="123"
    dial trunk="nowhere" number="123"
    goto "c"
}
"#;
    let all = errors(text);
    let kinds: Vec<(String, String, usize, usize)> = all
        .iter()
        .map(|(e, l, c, _)| match e {
            CheckError::UnknownReference { what, name } => (what.clone(), name.clone(), *l, *c),
            CheckError::TrunkCannotDial { name } => ("dial-trunk".into(), name.clone(), *l, *c),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("trunk".into(), "lcoal".into(), 1, 27),
            ("hours".into(), "offfice".into(), 6, 13),
            ("queue".into(), "after-sales-de".into(), 6, 33),
            ("agent".into(), "1009".into(), 7, 16),
            ("dial-trunk".into(), "local".into(), 8, 16),
            ("trunk".into(), "nowhere".into(), 9, 16),
            ("step".into(), "c".into(), 10, 5),
        ]
    );
    assert_eq!(all[0].3.as_deref(), Some("did you mean `local`?"));
}

#[test]
fn queue_names_may_follow_the_language() {
    // Every language of the plan needs its queue: here fr, en and de.
    let text = "languages \"de\"\nentry \"1\" start=\"a\"\nstep \"a\" { enqueue \"after-sales-${language}\" }\n";
    let (e, line, col, _) = one(text);
    assert_eq!(
        e,
        CheckError::UnknownReference {
            what: "queue".into(),
            name: "after-sales-de".into()
        }
    );
    assert_eq!((line, col), (3, 20));
}

#[test]
fn a_prompt_missing_in_one_language_is_an_error() {
    let text = "entry \"1\" start=\"a\"\nstep \"a\" {\n    play \"only-fr\"\n    language \"en\"\n    play \"welcom\"\n}\n";
    let all = errors(text);
    assert_eq!(all.len(), 3, "{all:#?}");
    assert_eq!(
        all[0].0,
        CheckError::MissingPrompt {
            prompt: "only-fr".into(),
            language: "en".into()
        }
    );
    assert_eq!((all[0].1, all[0].2), (3, 10));
    // Missing in both languages, with a hint at the near name.
    assert_eq!((all[1].1, all[1].2), (5, 10));
    assert_eq!(all[1].3.as_deref(), Some("did you mean `welcome`?"));
    // Without English in the plan, the French-only prompt is fine.
    assert!(errors("entry \"1\" start=\"a\"\nstep \"a\" { play \"only-fr\" }\n").is_empty());
}

#[test]
fn say_needs_its_fragments_and_a_known_language() {
    let text = "entry \"1\" start=\"a\" language=\"de\"\nstep \"a\" { say digits \"12\" }\n";
    let all = errors(text);
    assert!(
        all.iter().any(|(e, l, c, _)| *e
            == CheckError::SayUnsupported {
                language: "de".into()
            }
            && (*l, *c) == (2, 12)),
        "{all:#?}"
    );
}

#[test]
fn loops_without_input_are_found() {
    let text = r#"entry "1" start="a"
step "a" {
    set "x" "1"
    goto "b"
}
step "b" {
    if "x == '1'" { goto "a" }
    play "welcome"
    goto "a"
}
"#;
    let (e, line, col, help) = one(text);
    assert_eq!(
        e,
        CheckError::InputlessLoop {
            cycle: vec!["a".into(), "b".into(), "a".into()]
        }
    );
    assert_eq!((line, col), (7, 21));
    assert!(help.unwrap().contains("wait for the caller"));
    // A self-loop through an http failure.
    let text = "entry \"1\" start=\"a\"\nstep \"a\" {\n    http \"GET\" \"http://x\" { on-failure \"a\" }\n    hangup\n}\n";
    let (e, ..) = one(text);
    assert!(matches!(e, CheckError::InputlessLoop { .. }), "{e:?}");
    // A loop through a menu waits for the caller: fine.
    let text = "entry \"1\" start=\"a\"\nstep \"a\" {\n    menu \"menu\" { option \"1\" \"a\" }\n    goto \"a\"\n}\n";
    assert!(errors(text).is_empty(), "{:?}", errors(text));
}

#[test]
fn duplicate_entries_across_files() {
    let a = "entry \"+33180000000\" start=\"s\"\nstep \"s\" { hangup }\n";
    let b = "\n\nentry \"+33180000000\" start=\"t\"\nstep \"t\" { hangup }\n";
    let err = load(&[("a.kdl", a), ("b.kdl", b)]).unwrap_err();
    assert_eq!(err.len(), 1, "{err}");
    let d = &err.items()[0];
    assert_eq!(
        d.error,
        CheckError::DuplicateEntry {
            entry: "\"+33180000000\"".into(),
            first: "a.kdl:1:1".into()
        }
    );
    assert_eq!(d.location.to_string(), "b.kdl:3:1");
    // The same number on another trunk is a different entry.
    let c = "entry \"+33180000000\" trunk=\"local\" start=\"t\"\nstep \"t\" { hangup }\n";
    assert!(load(&[("a.kdl", a), ("c.kdl", c)]).is_ok());
}

#[test]
fn invalid_regex_time_zone_and_hours_rule() {
    let text = r#"hours "office" tz="Europe/Pariss" {
    rule "mon-sat 08:00-20:00"
    rule "mon-fro 08:00-20:00"
}
entry pattern="^(+33" start="a"
step "a" { hangup }
"#;
    let all = errors(text);
    assert_eq!(all.len(), 3, "{all:#?}");
    assert_eq!(
        all[0].0,
        CheckError::UnknownTimeZone {
            name: "Europe/Pariss".into()
        }
    );
    assert_eq!((all[0].1, all[0].2), (1, 19));
    assert_eq!(all[0].3.as_deref(), Some("did you mean `Europe/Paris`?"));
    assert_eq!(
        all[1].0,
        CheckError::BadHoursRule {
            kind: switchboard_dialplan::HoursParseErrorKind::UnknownWeekday
        }
    );
    // `fro` inside the rule string: line 3, column 15.
    assert_eq!((all[1].1, all[1].2), (3, 15));
    assert!(matches!(all[2].0, CheckError::InvalidRegex { .. }));
    assert_eq!((all[2].1, all[2].2), (5, 15));
}

#[test]
fn conditions_templates_and_variables() {
    let text = "entry \"1\" start=\"a\"\nstep \"a\" {\n    if \"caller_id = '1'\" { hangup }\n    log \"${caller_idd}\"\n    set \"dnis\" \"x\"\n    play \"${oops\"\n}\n";
    let all = errors(text);
    assert_eq!(all.len(), 4, "{all:#?}");
    assert!(matches!(all[0].0, CheckError::BadCondition { .. }));
    assert_eq!((all[0].1, all[0].2), (3, 19));
    assert_eq!(
        all[1].0,
        CheckError::UnknownReference {
            what: "variable".into(),
            name: "caller_idd".into()
        }
    );
    assert_eq!(all[1].3.as_deref(), Some("did you mean `caller_id`?"));
    assert_eq!(
        all[2].0,
        CheckError::ReadOnlyVariable {
            name: "dnis".into()
        }
    );
    assert!(matches!(all[3].0, CheckError::BadTemplate { .. }));
}

#[test]
fn many_errors_in_one_run_render_with_their_lines() {
    let text = "entry \"1\" start=\"nowhere\"\nstep \"a\" {\n    plya \"x\"\n}\n";
    let err = load(&[("many.kdl", text)]).unwrap_err();
    assert_eq!(err.len(), 2);
    let plain = err.to_string();
    assert!(
        plain.contains("many.kdl:1:17: error: unknown step `nowhere`"),
        "{plain}"
    );
    assert!(plain.contains("3 |     plya \"x\""), "{plain}");
    assert!(plain.contains("help: did you mean `play`?"), "{plain}");
    assert!(plain.ends_with("2 errors"), "{plain}");
    // The miette rendering shows the file, line and column and the source line.
    let mut out = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
    handler.render_report(&mut out, &err.items()[1]).unwrap();
    assert!(out.contains("many.kdl:3:5"), "{out}");
    assert!(out.contains("plya \"x\""), "{out}");
    assert!(out.contains("did you mean `play`?"), "{out}");
}

#[test]
fn hostile_nesting_is_refused_not_a_crash() {
    let text = "step \"a\" {".repeat(5000);
    let (e, line, col, _) = one(&text);
    assert!(matches!(e, CheckError::TooDeep { .. }));
    assert_eq!(line, 1);
    assert!(col > 1);
}

#[test]
fn else_must_follow_an_if() {
    let (e, line, col, _) = one(
        "entry \"1\" start=\"a\"\nstep \"a\" {\n    play \"welcome\"\n    else { hangup }\n}\n",
    );
    assert!(matches!(e, CheckError::UnknownVerb { ref name, .. } if name == "else"));
    assert_eq!((line, col), (4, 5));
}
