//! The admin HTTP API against the real binary: health and readiness, tokens, JSON errors, the
//! OpenAPI document, agents' states changed through it (and seen by `switchboard agents`), and
//! `/metrics` counting a real call placed by SIPp.

use std::time::Duration;

use switchboard_tests::http::request;
use switchboard_tests::phone::register;
use switchboard_tests::{API_TOKEN, Sipp, Switchboard, free_port, require_tool};

fn api(sb: &Switchboard) -> std::net::SocketAddr {
    sb.api.expect("the shipped config has an [api] section")
}

#[test]
fn health_ready_and_openapi_answer_without_a_token() {
    let sb = Switchboard::start("");
    let health = request(api(&sb), "GET", "/health", None, None);
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json()["status"], "ok");
    let ready = request(api(&sb), "GET", "/ready", None, None);
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["ready"], true);
    let doc = request(api(&sb), "GET", "/api/v1/openapi.json", None, None);
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert_eq!(doc["openapi"], "3.0.3");
    for path in [
        "/api/v1/agents",
        "/api/v1/agents/{agent}/pause",
        "/api/v1/queues",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} not documented");
    }
}

#[test]
fn requests_without_the_right_token_are_refused_logged_and_banned() {
    let sb = Switchboard::start("");
    let missing = request(api(&sb), "GET", "/api/v1/agents", None, None);
    assert_eq!(missing.status, 401, "{}", missing.body);
    assert_eq!(missing.json()["error"]["code"], "unauthorized");
    assert!(
        missing.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Authorization: Bearer")),
        "{}",
        missing.body
    );
    assert!(missing.header("www-authenticate").is_some());
    let metrics = request(api(&sb), "GET", "/metrics", None, None);
    assert_eq!(metrics.status, 401, "metrics need a token by default");
    // The shipped policy slows a source after 3 failures and bans it after 10 in a minute.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            request(
                api(&sb),
                "GET",
                "/api/v1/agents",
                Some("wrong-token-wrong-token"),
                None,
            )
            .status,
        );
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let log = sb.log();
    assert!(
        log.contains("api auth failed") && log.contains("reason=\"wrong-token\"")
            || log.contains("reason=wrong-token"),
        "{}",
        sb.log_tail(30)
    );
    assert!(log.contains("api source banned"), "{}", sb.log_tail(30));
    assert!(
        !log.contains("wrong-token-wrong-token"),
        "a presented token was logged"
    );
    assert!(!log.contains(API_TOKEN), "the configured token was logged");
    // Unknown endpoints are JSON errors too.
    let sb2 = Switchboard::start("");
    let unknown = request(api(&sb2), "GET", "/api/v1/nothing", Some(API_TOKEN), None);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], "not_found");
}

#[test]
fn an_agent_is_paused_and_made_ready_through_the_api() {
    let sb = Switchboard::start("");
    let token = Some(API_TOKEN);
    let agents = request(api(&sb), "GET", "/api/v1/agents", token, None);
    assert_eq!(agents.status, 200, "{}", agents.body);
    let list = agents.json()["agents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(list.iter().any(|a| a["agent"] == "1001"), "{}", agents.body);

    let login = request(api(&sb), "POST", "/api/v1/agents/1001/login", token, None);
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.json()["state"], "ready");
    let pause = request(
        api(&sb),
        "POST",
        "/api/v1/agents/1001/pause",
        token,
        Some(r#"{"reason": "lunch"}"#),
    );
    assert_eq!(pause.status, 200, "{}", pause.body);
    assert_eq!(pause.json()["state"], "paused");
    let one = request(api(&sb), "GET", "/api/v1/agents/1001", token, None).json();
    assert_eq!(one["state"], "paused");
    assert_eq!(one["reason"], "lunch");
    // The CLI reads the same ACD.
    let cli = std::process::Command::new(switchboard_tests::binary())
        .args(["agents", "--json", "--config"])
        .arg(sb.dir.path().join("switchboard.toml"))
        .current_dir(sb.dir.path())
        .output()
        .expect("switchboard agents");
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).expect("agents --json");
    let row = cli["agents"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["agent"] == "1001").cloned())
        .expect("1001 in the CLI's view");
    assert_eq!(row["state"], "paused", "{cli}");

    let ready = request(api(&sb), "POST", "/api/v1/agents/1001/ready", token, None);
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["state"], "ready");

    let bad = request(
        api(&sb),
        "POST",
        "/api/v1/agents/1001/pause",
        token,
        Some("{}"),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.json()["error"]["code"], "bad_request");
    let nobody = request(api(&sb), "POST", "/api/v1/agents/9999/ready", token, None);
    assert_eq!(nobody.status, 404, "{}", nobody.body);
    let queues = request(api(&sb), "GET", "/api/v1/queues", token, None);
    assert_eq!(queues.status, 200, "{}", queues.body);
    let first = queues.json()["queues"][0]["queue"]
        .as_str()
        .map(str::to_owned);
    let first = first.expect("the shipped config has queues");
    let one = request(
        api(&sb),
        "GET",
        &format!("/api/v1/queues/{first}"),
        token,
        None,
    );
    assert_eq!(one.status, 200, "{}", one.body);
    let none = request(api(&sb), "GET", "/api/v1/queues/no-such-queue", token, None);
    assert_eq!(none.status, 404);
    let wrong_method = request(api(&sb), "DELETE", "/api/v1/queues", token, None);
    assert_eq!(wrong_method.status, 405, "{}", wrong_method.body);
    assert_eq!(wrong_method.json()["error"]["code"], "method_not_allowed");
}

/// One metric's value in Prometheus text, by its full name with labels as printed.
fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_count_a_real_call() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    let agent_port = free_port();
    register(&sb, "1002", agent_port);
    let agent = Sipp::new("agent_answer.xml", None, agent_port).spawn();
    let caller = Sipp::new("caller_bye.xml", Some(sb.sip), free_port())
        .arg(&["-s", "1002"])
        .run();
    let agent = agent.wait();
    assert!(
        caller.ok() && agent.ok(),
        "{:?} {:?}\n{}",
        caller.flow(),
        agent.flow(),
        sb.log_tail(40)
    );
    // The call's end is counted when its task finishes, just after the BYE's answer.
    let mut text = String::new();
    for _ in 0..50 {
        let reply = request(api(&sb), "GET", "/metrics", Some(API_TOKEN), None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        text = reply.body;
        if metric(&text, "switchboard_calls_active") == Some(0.0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        metric(&text, "switchboard_calls_started_total{from=\"trunk\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "switchboard_calls_active"),
        Some(0.0),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("switchboard_calls_ended_total{")
                && l.contains("disposition=\"answered\"")
                && l.ends_with(" 1")),
        "{text}"
    );
    assert!(
        metric(&text, "switchboard_sip_requests_total{method=\"INVITE\"}")
            .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        metric(&text, "switchboard_sip_requests_total{method=\"REGISTER\"}")
            .is_some_and(|n| n >= 2.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "switchboard_registrations{kind=\"agents\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.contains("switchboard_agents{state=\"ready\"}"),
        "{text}"
    );
    assert!(text.contains("switchboard_queue_waiting{queue="), "{text}");
    assert!(
        text.contains("# HELP switchboard_calls_started_total"),
        "{text}"
    );
}

#[test]
fn a_call_in_progress_is_listed_by_the_api_and_the_cli_until_it_ends() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    // Talking within a second or two; look while it is.
    let (listed, caller, agent) = call_talking(&sb, "caller_talk.xml", &["-d", "4000"]);
    let call = &listed["calls"][0];
    assert_eq!(call["state"], "talking", "{listed}");
    assert_eq!(call["agent"], "1002", "{listed}");
    assert_eq!(call["dialled"], "1002", "{listed}");
    assert_eq!(call["direction"], "inbound", "{listed}");
    assert_eq!(call["trunk"], "local", "{listed}");
    assert_eq!(
        listed["calls"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let cli = std::process::Command::new(switchboard_tests::binary())
        .args(["calls", "--json", "--config"])
        .arg(sb.dir.path().join("switchboard.toml"))
        .current_dir(sb.dir.path())
        .output()
        .expect("switchboard calls");
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).expect("calls --json");
    assert_eq!(cli["calls"][0]["call"], call["call"], "{cli}");
    let table = std::process::Command::new(switchboard_tests::binary())
        .args(["calls", "--config"])
        .arg(sb.dir.path().join("switchboard.toml"))
        .current_dir(sb.dir.path())
        .output()
        .expect("switchboard calls");
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(
        table.contains("talking") && table.contains("1 calls in progress"),
        "{table}"
    );
    let caller = caller.wait();
    let agent = agent.wait();
    assert!(
        caller.ok() && agent.ok(),
        "{:?} {:?}",
        caller.flow(),
        agent.flow()
    );
    let mut after = serde_json::Value::Null;
    for _ in 0..30 {
        after = request(api(&sb), "GET", "/api/v1/calls", Some(API_TOKEN), None).json();
        if after["calls"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(after["calls"].as_array().map(Vec::len), Some(0), "{after}");
}

#[test]
fn sigterm_lets_the_call_in_progress_end_and_refuses_new_ones() {
    if !require_tool("sipp") {
        return;
    }
    let mut sb = Switchboard::start("");
    let (_, caller, agent) = call_talking(&sb, "caller_talk.xml", &["-d", "4000"]);
    sb.signal_term();
    assert!(
        sb.wait_for_log(Duration::from_secs(5), |log| log.contains("draining"))
            .is_some(),
        "{}",
        sb.log_tail(20)
    );
    // A load balancer sees the node going; a new call is turned away.
    let ready = request(api(&sb), "GET", "/ready", None, None);
    assert_eq!(ready.status, 503, "{}", ready.body);
    let options = switchboard_tests::options(sb.sip, Duration::from_secs(2)).expect("OPTIONS");
    assert!(options.starts_with("SIP/2.0 503"), "{options}");
    assert!(options.contains("Retry-After:"), "{options}");
    let invite = "INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKdrain\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+33612345678@127.0.0.1>;tag=d1\r\nTo: <sip:1002@127.0.0.1>\r\n\
         Call-ID: drain-1@127.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let refused =
        switchboard_tests::udp_exchange(sb.sip, invite.as_bytes(), Duration::from_secs(2))
            .expect("an answer to the new INVITE");
    assert!(refused.starts_with("SIP/2.0 503"), "{refused}");
    // The call in progress ends as it would have, and then the switch stops by itself.
    let caller = caller.wait();
    let agent = agent.wait();
    assert!(
        caller.ok() && agent.ok(),
        "{:?} {:?}\n{}",
        caller.flow(),
        agent.flow(),
        sb.log_tail(40)
    );
    wait_stopped(&mut sb);
    assert!(
        !sb.is_running(),
        "still running after its last call\n{}",
        sb.log_tail(20)
    );
    let log = sb.log();
    assert!(
        log.contains("drained: no call in progress"),
        "{}",
        sb.log_tail(20)
    );
    assert!(
        log.contains("call ended") && log.contains("disposition=\"answered\""),
        "{}",
        sb.log_tail(30)
    );
}

/// Places a SIPp call (`scenario` with `args`) from the trunk to agent 1002, and waits until
/// the API lists it as talking; returns that listing and the two SIPp runs.
fn call_talking(
    sb: &Switchboard,
    scenario: &str,
    args: &[&str],
) -> (
    serde_json::Value,
    switchboard_tests::SippRunning,
    switchboard_tests::SippRunning,
) {
    let agent_port = free_port();
    register(sb, "1002", agent_port);
    let agent = Sipp::new("agent_answer.xml", None, agent_port).spawn();
    let caller = Sipp::new(scenario, Some(sb.sip), free_port())
        .arg(&["-s", "1002"])
        .arg(args)
        .spawn();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let reply = request(api(sb), "GET", "/api/v1/calls", Some(API_TOKEN), None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let listed = reply.json();
        if listed["calls"][0]["state"] == "talking" {
            return (listed, caller, agent);
        }
    }
    panic!("the call never started talking\n{}", sb.log_tail(40));
}

/// A call that stays up until the switch hangs it up; its call number and SIPp runs.
fn call_until_hung_up(
    sb: &Switchboard,
) -> (
    u64,
    switchboard_tests::SippRunning,
    switchboard_tests::SippRunning,
) {
    let (listed, caller, agent) = call_talking(sb, "caller_wait_bye.xml", &[]);
    let call = listed["calls"][0]["call"].as_u64().expect("a call number");
    (call, caller, agent)
}

#[test]
fn an_admin_hangs_up_a_call_through_the_api() {
    if !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    let (call, caller, agent) = call_until_hung_up(&sb);
    let path = format!("/api/v1/calls/{call}/hangup");
    let refused = request(api(&sb), "POST", &path, None, None);
    assert_eq!(refused.status, 401, "a hang-up needs the token");
    let done = request(api(&sb), "POST", &path, Some(API_TOKEN), None);
    assert_eq!(done.status, 202, "{}", done.body);
    // Both parties get a BYE and answer it.
    let caller = caller.wait();
    let agent = agent.wait();
    assert!(
        caller.ok() && agent.ok(),
        "{:?} {:?}\n{}",
        caller.flow(),
        agent.flow(),
        sb.log_tail(40)
    );
    assert!(
        sb.wait_for_log(Duration::from_secs(5), |log| log.contains(
            "call ended cause=switch:admin-hangup disposition=\"answered\""
        ))
        .is_some(),
        "{}",
        sb.log_tail(30)
    );
    // Once its record is written the call leaves the table: then it is unknown.
    let mut again = request(api(&sb), "POST", &path, Some(API_TOKEN), None);
    for _ in 0..50 {
        if again.status == 404 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        again = request(api(&sb), "POST", &path, Some(API_TOKEN), None);
    }
    assert_eq!(again.status, 404, "{}", again.body);
    let nonsense = request(
        api(&sb),
        "POST",
        "/api/v1/calls/abc/hangup",
        Some(API_TOKEN),
        None,
    );
    assert_eq!(nonsense.status, 400, "{}", nonsense.body);
}

#[test]
fn at_the_end_of_the_drain_the_switch_hangs_up_the_calls_left() {
    if !require_tool("sipp") {
        return;
    }
    let mut sb = Switchboard::start_config(
        switchboard_tests::Config::shipped()
            .set("control", "drain_timeout_s", "1")
            .set("api", "listen", &format!("\"127.0.0.1:{}\"", free_port())),
    );
    let (_call, caller, agent) = call_until_hung_up(&sb);
    sb.signal_term();
    let caller = caller.wait();
    let agent = agent.wait();
    assert!(
        caller.ok() && agent.ok(),
        "{:?} {:?}\n{}",
        caller.flow(),
        agent.flow(),
        sb.log_tail(40)
    );
    wait_stopped(&mut sb);
    assert!(!sb.is_running(), "still running\n{}", sb.log_tail(20));
    let log = sb.log();
    assert!(
        log.contains("drain time over: hanging up"),
        "{}",
        sb.log_tail(20)
    );
    assert!(
        log.contains("drained: the last calls were hung up"),
        "{}",
        sb.log_tail(20)
    );
    assert!(
        log.contains("call ended cause=switch:shutdown disposition=\"answered\""),
        "{}",
        sb.log_tail(30)
    );
}

/// Gives a draining switch 10 s to exit by itself.
fn wait_stopped(sb: &mut Switchboard) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sb.is_running() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}
