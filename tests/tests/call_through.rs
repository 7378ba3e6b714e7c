//! Call-through against the real binary with SIPp as the carrier and as the agents' phones.

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_tests::phone::register;
use switchboard_tests::{Config, Sipp, Switchboard, free_port, options, require_tool};

/// Runs `agent_scenario` as the phone of `extension` and `caller_scenario` as the carrier
/// calling it; both must complete.
fn call(
    sb: &Switchboard,
    extension: &str,
    agent_scenario: &str,
    caller_scenario: &str,
) -> (Vec<String>, Vec<String>) {
    let agent_port = free_port();
    register(sb, extension, agent_port);
    let agent = Sipp::new(agent_scenario, None, agent_port).spawn();
    let caller = Sipp::new(caller_scenario, Some(sb.sip), free_port())
        .arg(&["-s", extension])
        .run();
    let agent = agent.wait();
    assert!(
        caller.ok(),
        "caller: {:?}\n{}\nagent: {:?}\n{}",
        caller.flow(),
        caller.errors,
        agent.flow(),
        sb.log()
    );
    assert!(
        agent.ok(),
        "agent: {:?}\n{}\ncaller: {:?}\n{}",
        agent.flow(),
        agent.errors,
        caller.flow(),
        sb.log()
    );
    (caller.flow(), agent.flow())
}

fn target(sb: &Switchboard) -> Option<SocketAddr> {
    Some(sb.sip)
}

#[test]
fn options_health_check_is_answered_200() {
    let sb = Switchboard::start("");
    let reply = options(sb.sip, Duration::from_secs(2)).expect("a reply");
    assert!(reply.starts_with("SIP/2.0 200 OK"), "{reply}");
    assert!(reply.contains("Allow: INVITE"), "{reply}");
}

#[test]
fn agent_registers_with_digest_and_unregisters() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    let result = Sipp::new("register.xml", target(&sb), free_port())
        .arg(&["-s", "1001", "-au", "1001", "-ap", "demo-1001"])
        .run();
    assert!(result.ok(), "{:?}\n{}", result.flow(), result.errors);
    assert_eq!(
        result.flow(),
        [
            "REGISTER sip:127.0.0.1 SIP/2.0",
            "SIP/2.0 401 Unauthorized",
            "REGISTER sip:127.0.0.1 SIP/2.0",
            "SIP/2.0 200 OK",
            "REGISTER sip:127.0.0.1 SIP/2.0",
            "SIP/2.0 401 Unauthorized",
            "REGISTER sip:127.0.0.1 SIP/2.0",
            "SIP/2.0 200 OK",
        ]
    );
    // Unregistered now: a trunk call to 1001 is refused with the 404 of a number that does
    // not exist ([security] reveal_unregistered is off by default).
    let caller = Sipp::new("caller_expect_404.xml", target(&sb), free_port())
        .arg(&["-s", "1001"])
        .run();
    assert!(
        caller.ok(),
        "{:?} (exit {:?})\n{}\n{}",
        caller.flow(),
        caller.code,
        caller.errors,
        sb.log_tail(60)
    );
}

#[test]
fn wrong_password_is_refused_403() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    let result = Sipp::new("register_only.xml", target(&sb), free_port())
        .arg(&["-s", "1001", "-au", "1001", "-ap", "wrong-password"])
        .run();
    assert!(!result.ok());
    assert!(
        result.flow().iter().any(|l| l == "SIP/2.0 403 Forbidden"),
        "{:?}",
        result.flow()
    );
}

#[test]
fn trunk_call_to_registered_agent_caller_hangs_up() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    let (caller, agent) = call(&sb, "1002", "agent_answer.xml", "caller_bye.xml");
    assert!(
        caller.contains(&"SIP/2.0 100 Trying".to_owned()),
        "{caller:?}"
    );
    assert!(
        caller.contains(&"SIP/2.0 180 Ringing".to_owned()),
        "{caller:?}"
    );
    assert!(agent.iter().any(|l| l.starts_with("BYE ")), "{agent:?}");
}

#[test]
fn trunk_call_agent_hangs_up() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    let (caller, _) = call(&sb, "1003", "agent_hangup.xml", "caller_wait_bye.xml");
    assert!(caller.iter().any(|l| l.starts_with("BYE ")), "{caller:?}");
}

#[test]
fn caller_cancels_while_the_agent_rings() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    let (caller, agent) = call(&sb, "1004", "agent_ring.xml", "caller_cancel.xml");
    assert!(
        caller.contains(&"SIP/2.0 487 Request Terminated".to_owned()),
        "{caller:?}"
    );
    assert!(agent.iter().any(|l| l.starts_with("CANCEL ")), "{agent:?}");
}

#[test]
fn busy_agent_gives_the_caller_486() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    call(&sb, "1002", "agent_busy.xml", "caller_expect_486.xml");
}

#[test]
fn unregistered_agent_is_480_and_unknown_extension_404() {
    if !require_tool("sipp") {
        return;
    }
    let config = Config::shipped().set("security", "reveal_unregistered", "true");
    let sb = Switchboard::start_config(config);
    let r = Sipp::new("caller_expect_480.xml", target(&sb), free_port())
        .arg(&["-s", "1003"])
        .run();
    assert!(r.ok(), "{:?}\n{}", r.flow(), r.errors);
    let r = Sipp::new("caller_expect_404.xml", target(&sb), free_port())
        .arg(&["-s", "7777"])
        .run();
    assert!(r.ok(), "{:?}\n{}", r.flow(), r.errors);
}

#[test]
fn a_trunk_caller_cannot_tell_an_unregistered_agent_from_no_agent() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    // 1003 exists but has no phone registered; 7777 does not exist: the same answer, with no
    // 100 Trying before it (refused as soon as seen).
    let mut answers = Vec::new();
    for number in ["1003", "7777"] {
        let r = Sipp::new("caller_expect_404.xml", target(&sb), free_port())
            .arg(&["-s", number])
            .run();
        assert!(r.ok(), "{number}: {:?}\n{}", r.flow(), r.errors);
        let flow: Vec<String> = r
            .flow()
            .into_iter()
            .filter(|l| l.starts_with("SIP/2.0"))
            .collect();
        answers.push(flow);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], ["SIP/2.0 404 Not Found"], "{answers:?}");
}

#[test]
fn max_forwards_zero_is_483() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    let r = Sipp::new("caller_expect_483.xml", target(&sb), free_port())
        .arg(&["-s", "1002"])
        .run();
    assert!(r.ok(), "{:?}\n{}", r.flow(), r.errors);
}

#[test]
fn hold_reinvite_is_answered_by_the_switch_not_relayed() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    // Media is anchored: the caller's hold (a=sendonly) is answered on its own leg with
    // a=recvonly (checked by the scenario); the agent keeps its call as it was and hears music
    // on hold instead of the caller (the media tests check the audio).
    let (caller, agent) = call(&sb, "1002", "agent_answer.xml", "caller_hold.xml");
    assert_eq!(
        agent.iter().filter(|l| l.starts_with("INVITE ")).count(),
        1,
        "{agent:?}"
    );
    assert_eq!(
        caller
            .iter()
            .filter(|l| l.as_str() == "SIP/2.0 200 OK")
            .count(),
        3,
        "{caller:?}"
    );
}

#[test]
fn agent_calls_agent_after_a_proxy_challenge() {
    if !require_tool("sipp") {
        return;
    }
    // No trunk covers loopback here: every INVITE must authenticate as an agent.
    let defaults =
        std::fs::read_to_string(switchboard_tests::workspace().join("switchboard.toml")).unwrap();
    let port = free_port();
    let config = format!(
        "rng_seed = 3\n{}",
        defaults
            .replace("127.0.0.1:5060", &format!("127.0.0.1:{port}"))
            .replace("127.0.0.0/8", "192.0.2.0/24")
    );
    let sb = Switchboard::start_with(&config, port);
    let agent_port = free_port();
    register(&sb, "1002", agent_port);
    let agent = Sipp::new("agent_answer.xml", None, agent_port).spawn();
    let caller = Sipp::new("agent_calls_agent.xml", Some(sb.sip), free_port())
        .arg(&["-s", "1002", "-au", "1001", "-ap", "demo-1001"])
        .run();
    let agent = agent.wait();
    assert!(
        caller.ok(),
        "{:?}\n{}\n{}",
        caller.flow(),
        caller.errors,
        sb.log()
    );
    assert!(agent.ok(), "{:?}\n{}", agent.flow(), agent.errors);
    assert!(
        caller
            .flow()
            .contains(&"SIP/2.0 407 Proxy Authentication Required".to_owned())
    );
    // Without credentials the same call is only challenged, never put through.
    let anonymous = Sipp::new("caller_expect_480.xml", Some(sb.sip), free_port())
        .arg(&["-s", "1002"])
        .run();
    assert!(
        anonymous
            .flow()
            .contains(&"SIP/2.0 407 Proxy Authentication Required".to_owned()),
        "{:?}",
        anonymous.flow()
    );
}

#[test]
fn register_and_call_over_tcp() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    let reg = Sipp::new("register.xml", target(&sb), free_port())
        .arg(&["-t", "t1", "-s", "1001", "-au", "1001", "-ap", "demo-1001"])
        .run();
    assert!(reg.ok(), "{:?}\n{}", reg.flow(), reg.errors);
    // The caller's leg over TCP, the agent's over UDP: the B2BUA bridges transports.
    let agent_port = free_port();
    register(&sb, "1003", agent_port);
    let agent = Sipp::new("agent_answer.xml", None, agent_port).spawn();
    let caller = Sipp::new("caller_bye.xml", target(&sb), free_port())
        .arg(&["-t", "t1", "-s", "1003"])
        .run();
    let agent = agent.wait();
    assert!(
        caller.ok(),
        "{:?}\n{}\n{}",
        caller.flow(),
        caller.errors,
        sb.log()
    );
    assert!(agent.ok(), "{:?}\n{}", agent.flow(), agent.errors);
}

#[test]
fn parallel_fork_first_answer_wins_and_the_other_contact_is_cancelled() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    // Agent 1002 is logged in on two phones: one answers, the other keeps ringing.
    let (desk, headset) = (free_port(), free_port());
    register(&sb, "1002", desk);
    register(&sb, "1002", headset);
    let answers = Sipp::new("agent_answer.xml", None, desk).spawn();
    let rings = Sipp::new("agent_ring.xml", None, headset).spawn();
    let caller = Sipp::new("caller_bye.xml", target(&sb), free_port())
        .arg(&["-s", "1002"])
        .run();
    let (answers, rings) = (answers.wait(), rings.wait());
    assert!(
        caller.ok(),
        "{:?}\n{}\n{}",
        caller.flow(),
        caller.errors,
        sb.log()
    );
    assert!(answers.ok(), "{:?}\n{}", answers.flow(), answers.errors);
    assert!(
        rings.ok(),
        "the ringing phone was cancelled: {:?}\n{}",
        rings.flow(),
        rings.errors
    );
    assert!(
        rings.flow().iter().any(|l| l.starts_with("CANCEL ")),
        "{:?}",
        rings.flow()
    );
}
