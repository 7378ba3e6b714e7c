//! A real softphone: baresip registers to the running switch with digest auth and answers calls
//! put through to it; a second baresip calls the first.

use std::time::Duration;

use switchboard_tests::baresip::{Baresip, registered};
use switchboard_tests::{Sipp, Switchboard, free_port, require_tool};

#[test]
fn baresip_registers_and_answers_a_trunk_call() {
    if !require_tool("baresip") || !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    let phone = Baresip::start(&sb, "1003", free_port(), &[]);
    assert!(
        registered(&sb, "1003"),
        "baresip did not register:\n{}\n{}",
        phone.log(),
        sb.log()
    );
    let caller = Sipp::new("caller_bye.xml", Some(sb.sip), free_port())
        .arg(&["-s", "1003"])
        .run();
    assert!(
        caller.ok(),
        "{:?}\n{}\nbaresip:\n{}\nswitch:\n{}",
        caller.flow(),
        caller.errors,
        phone.log(),
        sb.log()
    );
    assert!(
        phone.wait_for("Call established", Duration::from_secs(5)),
        "{}",
        phone.log()
    );
    assert!(
        phone.wait_for("session closed", Duration::from_secs(5)),
        "the caller's BYE reached baresip:\n{}",
        phone.log()
    );
}

#[test]
fn baresip_calls_baresip_through_the_switch() {
    if !require_tool("baresip") {
        return;
    }
    let sb = Switchboard::start("");
    let callee = Baresip::start(&sb, "1002", free_port(), &[]);
    assert!(registered(&sb, "1002"), "{}", callee.log());
    let dial = format!("/dial sip:1002@{}", sb.sip);
    // The caller dials at start and quits (hanging up) after 6 s.
    let caller = Baresip::start(&sb, "1001", free_port(), &["-e", &dial, "-t", "6"]);
    assert!(
        caller.wait_for("Call established", Duration::from_secs(10)),
        "caller:\n{}\nswitch:\n{}",
        caller.log(),
        sb.log()
    );
    assert!(
        callee.wait_for("Call established", Duration::from_secs(5)),
        "{}",
        callee.log()
    );
    assert!(
        callee.wait_for("session closed", Duration::from_secs(10)),
        "hang-up reached the callee:\n{}",
        callee.log()
    );
}
