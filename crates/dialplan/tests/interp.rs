//! The interpreter, verb by verb, on scripted events and a virtual clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Call, collect, hangup, monday_10am, plan, played};
use switchboard_dialplan::interp::{
    CallFacts, Command, DialOutcome, DialTarget, EnqueueOutcome, Event, HttpFailure, HttpResponse,
    Interpreter, Method, OverflowReason, PromptRef, Trace,
};

const S: Duration = Duration::from_secs(1);

fn call(text: &str) -> Call {
    Call::new(&plan(text), "100", monday_10am())
}

fn play_one(path: &str, barge_in: bool) -> Command {
    let (language, name) = path.split_once('/').unwrap();
    Command::Play {
        prompts: vec![PromptRef {
            name: name.trim_end_matches(".wav").into(),
            language: language.into(),
            path: path.into(),
        }],
        barge_in,
    }
}

#[test]
fn answer_play_and_hang_up_in_order() {
    let mut c = call(
        "entry \"100\" start=\"a\"\nstep \"a\" {\n answer\n answer\n log \"hi ${caller_name} ${dnis}\"\n play \"welcome\"\n hangup cause=\"done\"\n}\n",
    );
    assert_eq!(
        c.drain(),
        [
            Command::Answer,
            Command::Log {
                message: "hi Alice 100".into()
            },
            play_one("fr/welcome.wav", false),
        ]
    );
    assert_eq!(c.on(Event::Answered), []);
    assert_eq!(c.on(Event::PlaybackDone), [hangup("done")]);
    assert!(c.interp.is_finished());
    assert_eq!(c.interp.end_cause(), Some("done"));
    assert_eq!(c.on(Event::PlaybackDone), []);
    assert_eq!(c.interp.poll(c.now), None);
}

#[test]
fn running_off_the_end_of_a_step_hangs_up_normally() {
    let mut c = call("entry \"100\" start=\"a\"\nstep \"a\" { set \"x\" \"1\" }\n");
    assert_eq!(c.drain(), [hangup("normal")]);
}

#[test]
fn digits_during_a_plain_prompt_are_ignored_and_barge_in_keeps_them() {
    let text = r#"entry "100" start="a"
step "a" {
    play "welcome"
    play "hold" "thanks" barge-in=#true
    menu "menu" { option "3" { hangup "three" } }
}
"#;
    let mut c = call(text);
    assert_eq!(c.drain(), [play_one("fr/welcome.wav", false)]);
    assert_eq!(c.on(Event::Digit('1')), [], "ignored like Playback()");
    let next = c.on(Event::PlaybackDone);
    assert_eq!(played(&next), ["fr/hold.wav", "fr/thanks.wav"]);
    // The key cuts the barge-in prompt and answers the menu at once, without its prompt.
    assert_eq!(c.on(Event::Digit('3')), [hangup("three")]);
}

#[test]
fn menu_retries_on_timeout_and_invalid_then_fails() {
    let text = r#"entry "100" start="a"
step "a" {
    menu "menu" timeout=4 retries=2 {
        option "1" { hangup "one" }
        on-timeout { play "sorry" }
        on-invalid { play "invalid" }
        on-failure { hangup "no-input" }
    }
}
"#;
    let mut c = call(text);
    assert_eq!(c.drain(), [play_one("fr/menu.wav", true)]);
    assert_eq!(c.on(Event::PlaybackDone), [collect(4)]);
    assert_eq!(
        c.send(4 * S, Event::Timeout),
        [play_one("fr/sorry.wav", false)]
    );
    assert_eq!(c.on(Event::PlaybackDone), [play_one("fr/menu.wav", true)]);
    // A key during the prompt answers it.
    assert_eq!(c.on(Event::Digit('7')), [play_one("fr/invalid.wav", false)]);
    assert_eq!(c.on(Event::PlaybackDone), [play_one("fr/menu.wav", true)]);
    assert_eq!(c.on(Event::PlaybackDone), [collect(4)]);
    assert_eq!(c.on(Event::Timeout), [play_one("fr/sorry.wav", false)]);
    assert_eq!(c.on(Event::PlaybackDone), [hangup("no-input")]);
}

#[test]
fn menu_option_continues_after_the_menu_and_goto_leaves_it() {
    let text = r#"entry "100" start="a"
step "a" {
    menu "menu" retries=0 {
        option "1" { set "picked" "one" }
        option "2" "b"
    }
    hangup "after-${picked}"
}
step "b" { hangup "in-b" }
"#;
    let mut c = call(text);
    c.drain();
    assert_eq!(c.on(Event::Digit('1')), [hangup("after-one")]);
    let mut c = call(text);
    c.drain();
    c.on(Event::PlaybackDone);
    assert_eq!(c.on(Event::Digit('2')), [hangup("in-b")]);
    // No option, no branches, no retries: the verb after the menu runs.
    let mut c = call(text);
    c.drain();
    c.on(Event::PlaybackDone);
    assert_eq!(c.on(Event::Timeout), [hangup("after-")]);
}

#[test]
fn read_collects_with_terminator_limits_and_retries() {
    let text = r#"entry "100" start="a"
step "a" {
    read "num" prompt="enter-number" min=3 max=5 timeout=6 inter-digit=2 retries=1 {
        on-failure { hangup "bad-${num}" }
    }
    hangup "got-${num}"
}
"#;
    // Terminator.
    let mut c = call(text);
    assert_eq!(c.drain(), [play_one("fr/enter-number.wav", true)]);
    assert_eq!(c.on(Event::Digit('1')), [collect(2)], "barge-in digit kept");
    assert_eq!(c.on(Event::Digit('2')), [collect(2)]);
    assert_eq!(c.on(Event::Digit('3')), [collect(2)]);
    assert_eq!(c.on(Event::Digit('#')), [hangup("got-123")]);
    // Max reached ends at once.
    let mut c = call(text);
    c.drain();
    assert_eq!(c.on(Event::PlaybackDone), [collect(6)]);
    for d in ['9', '8', '7', '6'] {
        assert_eq!(c.on(Event::Digit(d)), [collect(2)]);
    }
    assert_eq!(c.on(Event::Digit('5')), [hangup("got-98765")]);
    // Too short twice: retry with the prompt, then the failure branch with an empty variable.
    let mut c = call(text);
    c.drain();
    c.on(Event::PlaybackDone);
    c.on(Event::Digit('1'));
    assert_eq!(
        c.on(Event::Timeout),
        [play_one("fr/enter-number.wav", true)]
    );
    c.on(Event::PlaybackDone);
    assert_eq!(c.on(Event::Timeout), [hangup("bad-")]);
}

#[test]
fn if_uses_hours_at_now_and_variables() {
    let text = r#"hours "office" tz="Europe/Paris" {
    rule "mon-sat 08:00-20:00"
    holidays "FR"
}
entry "100" start="a"
step "a" {
    if "open(office) and caller_id starts-with '+33'" { hangup "open" }
    else { hangup "closed" }
}
"#;
    let set = plan(text);
    let mut c = Call::new(&set, "100", monday_10am());
    assert_eq!(c.drain(), [hangup("open")]);
    let christmas = "2026-12-25T10:00:00Z".parse().unwrap();
    let mut c = Call::new(&set, "100", christmas);
    assert_eq!(c.drain(), [hangup("closed")]);
    let evening = "2026-12-21T19:30:00Z".parse().unwrap();
    let mut c = Call::new(&set, "100", evening);
    assert_eq!(c.drain(), [hangup("closed")]);
}

#[test]
fn language_switches_prompts_with_fallback_to_the_default() {
    let text = r#"entry "100" start="a"
step "a" {
    set "name" "only-fr"
    language "en"
    play "welcome" "${name}"
    say number 71
    language "fr"
    say number 71
    say digits "${caller_id}"
}
"#;
    let mut c = call(text);
    let cmds = c.drain();
    assert_eq!(played(&cmds), ["en/welcome.wav", "fr/only-fr.wav"]);
    assert_eq!(c.interp.language(), "en");
    assert_eq!(
        played(&c.on(Event::PlaybackDone)),
        ["en/say/70.wav", "en/say/1.wav"]
    );
    assert_eq!(
        played(&c.on(Event::PlaybackDone)),
        ["fr/say/60.wav", "fr/say/and.wav", "fr/say/11.wav"]
    );
    let digits = played(&c.on(Event::PlaybackDone));
    assert_eq!(digits.len(), 11);
    assert_eq!(digits[0], "fr/say/3.wav");
}

#[test]
fn say_of_a_bad_value_logs_and_goes_on() {
    let mut c =
        call("entry \"100\" start=\"a\"\nstep \"a\" {\n say date \"tomorrow\"\n hangup\n}\n");
    let cmds = c.drain();
    assert!(matches!(&cmds[0], Command::Log { message } if message.contains("tomorrow")));
    assert_eq!(cmds[1], hangup("normal"));
}

#[test]
fn enqueue_overflow_and_bridge() {
    let text = r#"entry "100" start="a"
step "a" {
    language "en"
    enqueue "q-en" priority=5 max-wait=300 {
        skills "${language}" "vip"
        on-overflow { hangup "overflow-${overflow_reason}" }
    }
    hangup "unreached"
}
"#;
    let mut c = call(text);
    assert_eq!(
        c.drain(),
        [Command::Enqueue {
            queue: "q-en".into(),
            priority: 5,
            skills: vec!["en".into(), "vip".into()],
            max_wait: Some(Duration::from_secs(300)),
            exit_keys: String::new(),
        }]
    );
    assert_eq!(c.on(Event::Timeout), [], "not what enqueue waits for");
    assert_eq!(
        c.send(
            300 * S,
            Event::EnqueueResult(EnqueueOutcome::Overflow(OverflowReason::MaxWait))
        ),
        [hangup("overflow-max-wait")]
    );
    let mut c = call(text);
    c.drain();
    assert_eq!(
        c.on(Event::EnqueueResult(EnqueueOutcome::BridgedAndEnded)),
        [hangup("normal")]
    );
}

#[test]
fn enqueue_exit_key_overflows_with_the_key() {
    let text = r#"entry "100" start="a"
step "a" {
    enqueue "q-en" exit-keys="1*" {
        on-overflow { hangup "left-${overflow_reason}-${overflow_key}" }
    }
}
"#;
    let mut c = call(text);
    assert!(matches!(
        &c.drain()[..],
        [Command::Enqueue { exit_keys, .. }] if exit_keys == "1*"
    ));
    assert_eq!(
        c.on(Event::EnqueueResult(EnqueueOutcome::Overflow(
            OverflowReason::Key('*')
        ))),
        [hangup("left-key-*")]
    );
}

#[test]
fn dial_branches_per_outcome() {
    let text = r#"entry "100" start="a"
step "a" {
    dial trunk="partner" number="+33${dnis}" ring-timeout=15 {
        on-busy { hangup "busy" }
        on-no-answer { hangup "no-answer" }
        on-failed { hangup "failed-${dial_code}" }
    }
    hangup "after-${dial_status}"
}
"#;
    let outcomes = [
        (DialOutcome::Busy, "busy"),
        (DialOutcome::NoAnswer, "no-answer"),
        (DialOutcome::Failed(503), "failed-503"),
        (DialOutcome::Unavailable, "failed-"),
        (DialOutcome::AnsweredAndEnded, "normal"),
    ];
    for (outcome, cause) in outcomes {
        let mut c = call(text);
        assert_eq!(
            c.drain(),
            [Command::Dial {
                target: DialTarget::Trunk {
                    trunk: "partner".into(),
                    number: "+33100".into()
                },
                ring_timeout: Duration::from_secs(15),
            }]
        );
        assert_eq!(c.on(Event::DialResult(outcome)), [hangup(cause)]);
    }
    let text = "entry \"100\" start=\"a\"\nstep \"a\" {\n dial agent=\"1001\" { on-answered { play \"thanks\" } }\n hangup \"after-${dial_status}\"\n}\n";
    let mut c = call(text);
    assert!(
        matches!(&c.drain()[0], Command::Dial { target: DialTarget::Agent(a), ring_timeout } if a == "1001" && ring_timeout.as_secs() == 30)
    );
    assert_eq!(
        c.on(Event::DialResult(DialOutcome::AnsweredAndEnded)),
        [play_one("fr/thanks.wav", false)]
    );
    assert_eq!(c.on(Event::PlaybackDone), [hangup("after-answered")]);
    let mut c = call(text);
    c.drain();
    assert_eq!(
        c.on(Event::DialResult(DialOutcome::Busy)),
        [hangup("after-busy")]
    );
}

#[test]
fn voicemail_plays_the_greeting_then_records() {
    let text = r#"entry "100" start="a"
step "a" {
    voicemail "sales" greeting="greeting" max=90
    hangup "vm-${record_duration}s"
}
"#;
    let mut c = call(text);
    assert_eq!(c.drain(), [play_one("fr/greeting.wav", true)]);
    let record = Command::Record {
        path: "sales/c1.wav".into(),
        max_duration: Duration::from_secs(90),
        beep: true,
        terminate_digits: "#".into(),
    };
    assert_eq!(
        c.on(Event::Digit('5')),
        std::slice::from_ref(&record),
        "a key skips the greeting"
    );
    assert_eq!(
        c.send(
            12 * S,
            Event::RecordDone {
                duration: Duration::from_secs(12),
                terminated_by: Some('#')
            }
        ),
        [hangup("vm-12s")]
    );
    assert_eq!(c.interp.var("record_path"), Some("sales/c1.wav"));
    let mut c = call(
        "entry \"100\" start=\"a\"\nstep \"a\" { record \"rec/${call_id}.wav\" beep=#false terminate=\"*#\" }\n",
    );
    assert_eq!(
        c.drain(),
        [Command::Record {
            path: "rec/c1.wav".into(),
            max_duration: Duration::from_secs(60),
            beep: false,
            terminate_digits: "*#".into(),
        }]
    );
}

const HTTP: &str = r#"entry "100" start="a"
step "a" {
    http "POST" "${url}/customers?phone=${caller_id}" body="{\"n\":\"${caller_id}\"}" timeout="1500ms" {
        set "customer" "$.name"
        set "tier" "$.tier"
        on-failure { hangup "crm-down" }
    }
    hangup "hello-${customer}-${tier}-${http_status}"
}
"#;

fn http_call(url: &str) -> Call {
    let mut c = call(&HTTP.replace("${url}", url));
    c.interp.enable_trace();
    c
}

#[test]
fn http_success_fills_variables() {
    let mut c = http_call("http://crm");
    assert_eq!(
        c.drain(),
        [Command::Http {
            method: Method::Post,
            // The caller id is a URI component: `+` would read as a space in a query.
            url: "http://crm/customers?phone=%2B33612345678".into(),
            body: Some("{\"n\":\"+33612345678\"}".into()),
            timeout: Duration::from_millis(1500),
        }]
    );
    let ok = HttpResponse {
        status: 200,
        body: r#"{"name":"Dupont"}"#.into(),
    };
    assert_eq!(
        c.on(Event::HttpResult(Ok(ok))),
        [hangup("hello-Dupont--200")]
    );
}

#[test]
fn http_failures_take_the_fallback() {
    let failures = [
        Err(HttpFailure::Timeout),
        Err(HttpFailure::Connect("refused".into())),
        Ok(HttpResponse {
            status: 404,
            body: "{}".into(),
        }),
        Ok(HttpResponse {
            status: 200,
            body: "<html>".into(),
        }),
    ];
    for result in failures {
        let mut c = http_call("http://crm");
        c.drain();
        assert_eq!(
            c.on(Event::HttpResult(result.clone())),
            [hangup("crm-down")],
            "{result:?}"
        );
    }
    // No CRM configured: no request at all.
    let mut c = http_call("");
    let cmds = c.drain();
    assert!(matches!(&cmds[0], Command::Log { .. }), "{cmds:?}");
    assert_eq!(cmds[1], hangup("crm-down"));
    let trace = c.interp.take_trace();
    assert!(trace.iter().any(
        |t| matches!(t, Trace::Branch { verb: "http", taken } if taken.starts_with("on-failure"))
    ));
}

#[test]
fn caller_hangup_ends_everything() {
    let mut c =
        call("entry \"100\" start=\"a\"\nstep \"a\" {\n play \"welcome\"\n hangup \"x\"\n}\n");
    c.drain();
    assert_eq!(c.on(Event::Hangup), []);
    assert!(c.interp.is_finished());
    assert_eq!(c.interp.end_cause(), Some("caller-hangup"));
    assert_eq!(c.on(Event::PlaybackDone), []);
}

#[test]
fn the_step_budget_stops_a_spinning_plan() {
    // `say` of an empty value waits for nothing, so this passes the checker but spins.
    let text = "entry \"100\" start=\"a\"\nstep \"a\" {\n say digits \"${nothing}\"\n set \"nothing\" \"\"\n goto \"a\"\n}\n";
    let mut c = call(text);
    let cmds = c.drain();
    assert_eq!(cmds.last(), Some(&hangup("dialplan-loop")));
    assert!(cmds.len() < 1000, "{} commands", cmds.len());
    assert!(
        matches!(&cmds[cmds.len() - 2], Command::Log { message } if message.contains("1000 verbs"))
    );
    let set = plan(text);
    let facts = CallFacts {
        dialled: "100".into(),
        ..CallFacts::default()
    };
    let mut i = Interpreter::new(Arc::clone(&set), facts)
        .unwrap()
        .with_step_budget(10);
    let mut n = 0;
    while i.poll(monday_10am()).is_some() {
        n += 1;
    }
    assert!(n <= 10, "{n}");
    assert_eq!(i.end_cause(), Some("dialplan-loop"));
}

#[test]
fn wait_is_answered_by_timeout() {
    let mut c = call("entry \"100\" start=\"a\"\nstep \"a\" {\n wait 2.5\n wait 0\n hangup\n}\n");
    assert_eq!(c.drain(), [Command::Wait(Duration::from_millis(2500))]);
    assert_eq!(c.on(Event::Digit('1')), []);
    assert_eq!(c.send(3 * S, Event::Timeout), [hangup("normal")]);
}

#[test]
fn routing_prefers_exact_then_pattern_then_longest_prefix_and_respects_trunks() {
    let text = r##"entry "+33180000000" start="exact"
entry pattern=#"^\+3318(\d)(\d+)$"# start="pattern"
entry prefix="+33" start="short"
entry prefix="+331" start="long"
entry prefix="+44" trunk="partner" start="partner"
step "exact" { hangup "exact" }
step "pattern" { hangup "pattern-${1}-${2}" }
step "short" { hangup "short" }
step "long" { hangup "long" }
step "partner" { hangup "partner" }
"##;
    let set = plan(text);
    let first = |to: &str| Call::new(&set, to, monday_10am()).drain();
    assert_eq!(first("+33180000000"), [hangup("exact")]);
    assert_eq!(first("+33181234"), [hangup("pattern-1-234")]);
    assert_eq!(first("+33170000000"), [hangup("long")]);
    assert_eq!(first("+33270000000"), [hangup("short")]);
    let facts = CallFacts {
        dialled: "+44123".into(),
        trunk: Some("local".into()),
        ..CallFacts::default()
    };
    let err = Interpreter::new(Arc::clone(&set), facts).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no dialplan entry for +44123 on trunk local"
    );
}

#[test]
fn the_trace_tells_the_journey() {
    let text = r#"entry "100" start="a"
step "a" {
    menu "menu" { option "1" { language "en"; goto "b" } }
}
step "b" { hangup "bye" }
"#;
    let mut c = call(text);
    c.interp.enable_trace();
    c.drain();
    c.on(Event::Digit('1'));
    let trace = c.interp.take_trace();
    assert_eq!(trace[0], Trace::Step("a".into()));
    assert!(matches!(&trace[1], Trace::Command(Command::Play { .. })));
    assert_eq!(
        trace[3],
        Trace::Branch {
            verb: "menu",
            taken: "option 1".into()
        }
    );
    assert_eq!(trace[4], Trace::Language("en".into()));
    assert_eq!(trace[5], Trace::Step("b".into()));
    assert_eq!(trace[6], Trace::Command(hangup("bye")));
}
