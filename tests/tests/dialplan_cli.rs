//! `switchboard dialplan check` and `switchboard dialplan simulate`, run as an admin runs them:
//! the real binary, from the repository root (where the shipped switchboard.toml, dialplans/
//! and sounds/ are) or from a scratch folder.

use std::path::Path;
use std::process::Command;

use switchboard_tests::{binary, tempdir::Dir, workspace};

/// Runs the binary in `dir`; exit code, stdout, stderr.
fn run_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("switchboard runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run(args: &[&str]) -> (i32, String, String) {
    run_in(&workspace(), args)
}

#[test]
fn check_accepts_the_shipped_dialplans() {
    let (code, out, err) = run(&["dialplan", "check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok: 1 dialplan, 1 entry"), "{out}");
    let (code, out, _) = run(&[
        "dialplan",
        "check",
        "dialplans",
        "--config",
        "switchboard.toml",
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with("ok: 1 dialplan, 1 entry"), "{out}");
}

/// A scratch site: the shipped config and sounds, and `files` as its dialplans.
fn site(files: &[(&str, &str)]) -> Dir {
    let dir = Dir::new("dialplan-cli");
    let root = workspace();
    std::fs::copy(
        root.join("switchboard.toml"),
        dir.path().join("switchboard.toml"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("dialplans")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join("dialplans").join(name), text).unwrap();
    }
    // Only the prompts the tests use: welcome in both languages, only-fr in French.
    for (lang, names) in [
        ("fr", &["welcome", "only-fr"][..]),
        ("en", &["welcome"][..]),
    ] {
        std::fs::create_dir_all(dir.path().join("sounds").join(lang)).unwrap();
        for name in names {
            std::fs::copy(
                root.join("sounds/fr/welcome.wav"),
                dir.path()
                    .join("sounds")
                    .join(lang)
                    .join(format!("{name}.wav")),
            )
            .unwrap();
        }
    }
    dir
}

#[test]
fn check_reports_every_problem_with_its_line_and_exits_1() {
    let a = r#"entry "+33180000000" start="welcome"
step "welcome" {
    plya "welcome"
    play "only-fr"
    language "en"
    enqueue "after-sales-de"
    goto "nowhere"
}
step "orphan" {
    play "welcome"
}
step "spin" {
    goto "spin"
}
"#;
    let b = "\nentry \"+33180000000\" start=\"s\"\nentry pattern=\"^(+33\" start=\"s\"\nhours \"h\" tz=\"Europe/Pariss\" { rule \"mon-fro 08:00-20:00\" }\nstep \"s\" { hangup }\n";
    let dir = site(&[
        ("a.kdl", a),
        ("b.kdl", b),
        ("a.journeys.kdl", "not a dialplan {"),
    ]);
    let (code, out, err) = run_in(dir.path(), &["dialplan", "check"]);
    assert_eq!(code, 1, "{out}{err}");
    let expected = [
        (
            "dialplans/a.kdl:3:5",
            "unknown verb `plya`",
            "did you mean `play`?",
        ),
        (
            "dialplans/a.kdl:4:10",
            "prompt `only-fr` is missing in `en`",
            "sounds/en/only-fr.wav",
        ),
        (
            "dialplans/a.kdl:6:13",
            "unknown queue `after-sales-de`",
            "did you mean `after-sales-en`?",
        ),
        (
            "dialplans/a.kdl:7:5",
            "unknown step `nowhere`",
            "known: orphan, spin, welcome",
        ),
        (
            "dialplans/b.kdl:2:1",
            "is already defined at dialplans/a.kdl:1:1",
            "trunk=",
        ),
        (
            "dialplans/b.kdl:3:15",
            "invalid regular expression",
            "raw string",
        ),
        (
            "dialplans/b.kdl:4:14",
            "unknown time zone `Europe/Pariss`",
            "did you mean `Europe/Paris`?",
        ),
        (
            "dialplans/b.kdl:4:42",
            "bad opening-hours rule: unknown weekday",
            "mon-sat 08:00-20:00",
        ),
    ];
    for (place, message, help) in expected {
        let at = err
            .find(&format!("[{place}]"))
            .unwrap_or_else(|| panic!("{place} missing from:\n{err}"));
        // The message comes just before its source block, the hint just after.
        let before = &err[..at];
        let after = &err[at..];
        assert!(
            before
                .rsplit("dialplan::")
                .next()
                .unwrap()
                .contains(message),
            "{place}: {message}\n{err}"
        );
        assert!(
            after.split("dialplan::").next().unwrap().contains(help),
            "{place}: {help}\n{err}"
        );
    }
    assert!(
        err.contains("3 │     plya \"welcome\""),
        "source line shown:\n{err}"
    );
    // With a.kdl's own errors fixed, its flow problems show too (unreachable, loop).
    assert!(err.ends_with("error: 8 problems in 2 dialplans (checked against switchboard.toml (found in the working directory))\n"), "{err}");
    let fixed = a
        .replace("plya", "play")
        .replace("    play \"only-fr\"\n", "")
        .replace("after-sales-de", "after-sales-en")
        .replace("goto \"nowhere\"", "goto \"welcome\"");
    let dir = site(&[("a.kdl", &fixed)]);
    let (code, _, err) = run_in(dir.path(), &["dialplan", "check"]);
    assert_eq!(code, 1);
    assert!(err.contains("step `orphan` can never be reached"), "{err}");
    assert!(err.contains("[dialplans/a.kdl:8:6]"), "{err}");
    assert!(
        err.contains("endless loop without waiting for the caller: spin -> spin"),
        "{err}"
    );
    assert!(err.contains("[dialplans/a.kdl:12:5]"), "{err}");
}

#[test]
fn check_names_a_missing_folder() {
    let dir = Dir::new("dialplan-cli");
    let (code, _, err) = run_in(dir.path(), &["dialplan", "check", "nowhere"]);
    assert_eq!(code, 1);
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn simulate_prints_the_journey() {
    let (code, out, err) = run(&[
        "dialplan",
        "simulate",
        "--to",
        "+33180000000",
        "--from",
        "+33612345678",
        "--trunk",
        "local",
        "--digits",
        "2,1",
        "--at",
        "2026-12-21T10:00:00+01:00",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for needle in [
        "call from +33612345678 to +33180000000 on trunk local",
        "http GET http://127.0.0.1:8089/customers?phone=%2B33612345678",
        "http failed",
        "play fr/welcome.wav",
        "caller presses 2",
        "menu: option 2",
        "language en",
        "play en/main-menu.wav",
        "enqueue after-sales-en",
        "end: queue after-sales-en (an agent answers)",
    ] {
        assert!(out.contains(needle), "{needle} missing from:\n{out}");
    }
}

#[test]
fn simulate_christmas_eve_evening_with_a_crm_answer() {
    let dir = Dir::new("dialplan-cli");
    let crm = dir.path().join("crm.json");
    std::fs::write(&crm, r#"{"name":"Dupont","id":"C-1"}"#).unwrap();
    let (code, out, err) = run(&[
        "dialplan",
        "simulate",
        "--to",
        "+33180000000",
        "--from",
        "+33612345678",
        "--digits",
        "1,1,0612345678,1",
        "--at",
        "2026-12-24T21:00:00+01:00",
        "--http",
        crm.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for needle in [
        "set customer = \"Dupont\"",
        "step closed",
        "play fr/closed.wav",
        "step callback",
        "play fr/say/0.wav fr/say/6.wav fr/say/1.wav",
        "http POST http://127.0.0.1:8089/callbacks",
        "end: hangup, cause callback",
    ] {
        assert!(out.contains(needle), "{needle} missing from:\n{out}");
    }
}

#[test]
fn simulate_refuses_an_unknown_number_and_bad_flags() {
    let (code, _, err) = run(&[
        "dialplan",
        "simulate",
        "--to",
        "+33999",
        "--at",
        "2026-12-21T10:00:00+01:00",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("no dialplan entry for +33999"), "{err}");
    let (code, _, err) = run(&[
        "dialplan",
        "simulate",
        "--to",
        "+33180000000",
        "--digits",
        "1x",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("`x`"), "{err}");
    let (code, _, err) = run(&[
        "dialplan",
        "simulate",
        "--to",
        "+33180000000",
        "--at",
        "tomorrow",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("RFC 3339"), "{err}");
}

#[test]
fn simulate_expect_passes_the_shipped_journeys() {
    let (code, out, err) = run(&[
        "dialplan",
        "simulate",
        "--expect",
        "dialplans/after-sales.journeys.kdl",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("PASS Christmas Day (public holiday)"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    assert!(out.trim_end().ends_with(" passed, 0 failed"), "{out}");
}

#[test]
fn simulate_expect_fails_with_the_journey_when_an_expectation_does_not_hold() {
    let dir = Dir::new("dialplan-cli");
    let journeys = dir.path().join("wrong.journeys.kdl");
    std::fs::write(
        &journeys,
        r#"journey "wrong queue" {
    call to="+33180000000" from="+33612345678" at="2026-12-21T10:00:00+01:00"
    digits "1,1"
    ends queue="after-sales-en"
}
journey "right queue" {
    call to="+33180000000" from="+33612345678" at="2026-12-21T10:00:00+01:00"
    digits "1,1"
    ends queue="after-sales-fr"
}
"#,
    )
    .unwrap();
    let (code, out, _) = run(&[
        "dialplan",
        "simulate",
        "--expect",
        journeys.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL wrong queue"), "{out}");
    assert!(
        out.contains(
            "expected: ends with queue after-sales-en (an agent answers); got: queue after-sales-fr"
        ),
        "{out}"
    );
    assert!(out.contains("journey:"), "{out}");
    assert!(out.contains("PASS right queue"), "{out}");
    assert!(out.trim_end().ends_with("1 passed, 1 failed"), "{out}");
    // A journeys file with a typo is reported like a dialplan.
    std::fs::write(
        &journeys,
        "journey \"x\" {\n    cal to=\"1\" at=\"2026-12-21T10:00:00+01:00\"\n}\n",
    )
    .unwrap();
    let (code, _, err) = run(&[
        "dialplan",
        "simulate",
        "--expect",
        journeys.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("did you mean `call`?"), "{err}");
}
