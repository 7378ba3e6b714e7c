//! Agents: direct calls, pending requests, login policies, restored states, the record.

use super::*;
use crate::agent::{AgentError, Pending};
use crate::io::{ClaimKind, Restored};

fn claim(h: &mut H, call: u64, agent: &str, kind: ClaimKind) -> bool {
    let at = h.now;
    h.input(Input::Claim {
        call: CallRef(call),
        agent: id(agent),
        kind,
        at,
    });
    match h.take_outputs().as_slice() {
        [Output::ClaimResult { granted, .. }] => *granted,
        other => panic!("{other:?}"),
    }
}

fn release(h: &mut H, call: u64, agent: &str) {
    let at = h.now;
    h.input(Input::Release {
        call: CallRef(call),
        agent: id(agent),
        at,
    });
}

fn device(h: &mut H, agent: &str, up: bool) {
    let at = h.now;
    let agent = id(agent);
    h.input(if up {
        Input::DeviceUp { agent, at }
    } else {
        Input::DeviceDown { agent, at }
    });
}

#[test]
fn a_direct_call_makes_the_agent_busy_and_a_queue_call_protects_it_with_486() {
    let mut h = H::new(config(vec![queue("q", &["a"])], &["a"]));
    h.login(&["a"]);
    assert!(claim(&mut h, 100, "a", ClaimKind::Callee));
    assert_eq!(h.state("a"), StateKind::Busy);
    h.enqueue(1, "q");
    assert!(h.offers().is_empty(), "busy: not offered");
    assert!(
        claim(&mut h, 101, "a", ClaimKind::Callee),
        "call waiting on a direct call"
    );
    release(&mut h, 101, "a");
    assert!(
        claim(&mut h, 102, "a", ClaimKind::Caller),
        "its own call: granted"
    );
    release(&mut h, 100, "a");
    assert_eq!(h.state("a"), StateKind::Busy, "still on call 102");
    release(&mut h, 102, "a");
    let offer = h.one_offer();
    assert_eq!(offer.call, CallRef(1));
    assert!(!claim(&mut h, 103, "a", ClaimKind::Callee), "reserved: 486");
    h.result(offer.offer, OfferResult::Answered);
    assert!(
        !claim(&mut h, 104, "a", ClaimKind::Callee),
        "on a call: 486"
    );
    assert!(
        claim(&mut h, 105, "nobody", ClaimKind::Callee),
        "not an agent"
    );
}

#[test]
fn a_paused_agent_on_a_direct_call_stays_paused_but_is_busy() {
    let mut h = H::new(config(vec![queue("q", &["a"])], &["a"]));
    h.login(&["a"]);
    h.pause("a", "lunch");
    h.take_events();
    assert!(claim(&mut h, 100, "a", ClaimKind::Callee));
    assert!(h.take_events().is_empty(), "no state change");
    let a = h.agent("a");
    assert_eq!(
        (a.state, a.busy, a.call),
        (StateKind::Paused, true, Some(CallRef(100)))
    );
    h.enqueue(1, "q");
    h.command("a", AgentCommand::Ready);
    assert_eq!(h.state("a"), StateKind::Busy);
    assert!(h.offers().is_empty());
    release(&mut h, 100, "a");
    assert_eq!(h.one_offer().call, CallRef(1));
}

#[test]
fn pause_and_logout_on_a_call_are_applied_when_it_ends() {
    let mut q = queue("q", &["a"]);
    q.wrap_up = secs(10);
    let mut h = H::new(config(vec![q], &["a"]));
    h.login(&["a"]);
    h.enqueue(1, "q");
    let offer = h.one_offer();
    h.result(offer.offer, OfferResult::Answered);
    h.connected(1);
    let at = h.now;
    h.input(Input::Agent {
        agent: id("a"),
        command: AgentCommand::Pause(PauseReason::new("lunch")),
        reply_to: Some(CallRef(50)),
        at,
    });
    assert_eq!(
        h.take_outputs(),
        [Output::AgentCommandDone {
            call: CallRef(50),
            agent: id("a"),
            result: Ok(StateKind::OnCall)
        }]
    );
    assert_eq!(
        h.agent("a").pending,
        Some(Pending::Pause(PauseReason::new("lunch")))
    );
    h.until(20);
    h.end(1);
    assert_eq!(
        h.state("a"),
        StateKind::WrapUp,
        "the wrap-up is still granted"
    );
    h.until(30);
    let a = h.agent("a");
    assert_eq!(
        (a.state, a.reason),
        (StateKind::Paused, Some(PauseReason::new("lunch")))
    );

    // Logout while ringing: applied when the offer ends.
    h.command("a", AgentCommand::Ready);
    h.enqueue(2, "q");
    let offer = h.one_offer();
    h.command("a", AgentCommand::Logout);
    assert_eq!(h.state("a"), StateKind::Reserved);
    h.result(offer.offer, OfferResult::NoAnswer);
    assert_eq!(h.state("a"), StateKind::LoggedOut);
    assert_eq!(
        h.overflows(),
        [(CallRef(2), crate::io::OverflowReason::NoAgents)]
    );
}

#[test]
fn ready_or_login_cancel_what_was_pending() {
    let mut h = H::new(config(vec![queue("q", &["a"])], &["a"]));
    h.login(&["a"]);
    h.enqueue(1, "q");
    let offer = h.one_offer();
    h.command("a", AgentCommand::Logout);
    h.command("a", AgentCommand::Login);
    assert_eq!(h.agent("a").pending, None);
    h.pause("a", "x");
    h.command("a", AgentCommand::Ready);
    assert_eq!(h.agent("a").pending, None);
    h.result(offer.offer, OfferResult::Cancelled);
    assert_eq!(
        h.state("a"),
        StateKind::Reserved,
        "ready, and offered again"
    );
}

#[test]
fn commands_answer_with_the_new_state_or_the_refusal() {
    let mut h = H::new(config(vec![queue("q", &["a"])], &["a"]));
    let ask = |h: &mut H, agent: &str, command| {
        let at = h.now;
        h.input(Input::Agent {
            agent: id(agent),
            command,
            reply_to: Some(CallRef(9)),
            at,
        });
        match h.take_outputs().as_slice() {
            [Output::AgentCommandDone { result, .. }] => result.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(ask(&mut h, "a", AgentCommand::Login), Ok(StateKind::Ready));
    assert!(matches!(
        ask(&mut h, "a", AgentCommand::Login),
        Err(AgentError::InvalidTransition { .. })
    ));
    assert_eq!(
        ask(&mut h, "zed", AgentCommand::Login),
        Err(AgentError::UnknownAgent { agent: id("zed") })
    );
    assert_eq!(
        ask(&mut h, "a", AgentCommand::Logout),
        Ok(StateKind::LoggedOut)
    );
}

#[test]
fn registration_logs_in_on_the_first_registration_only_and_out_on_the_last() {
    let mut c = config(vec![queue("q", &["a"])], &["a"]);
    c.login = LoginPolicy::Registration;
    c.agents[0].always_reachable = false;
    let mut h = H::new(c);
    device(&mut h, "a", true);
    assert_eq!(h.state("a"), StateKind::Ready);
    h.command("a", AgentCommand::Logout);
    device(&mut h, "a", true); // a refresh
    assert_eq!(h.state("a"), StateKind::LoggedOut, "the logout stands");
    h.command("a", AgentCommand::Login);
    device(&mut h, "a", false);
    assert_eq!(h.state("a"), StateKind::LoggedOut);
    device(&mut h, "a", true);
    assert_eq!(h.state("a"), StateKind::Ready);

    // Unregistering during a call logs out after it.
    h.enqueue(1, "q");
    let offer = h.one_offer();
    h.result(offer.offer, OfferResult::Answered);
    h.connected(1);
    device(&mut h, "a", false);
    assert_eq!(h.state("a"), StateKind::OnCall);
    h.end(1);
    assert_eq!(h.state("a"), StateKind::LoggedOut);
}

#[test]
fn explicit_policy_devices_only_change_reachability() {
    let mut c = config(vec![queue("q", &["a"])], &["a"]);
    c.agents[0].always_reachable = false;
    let mut h = H::new(c);
    device(&mut h, "a", true);
    assert_eq!(h.state("a"), StateKind::LoggedOut);
    h.login(&["a"]);
    device(&mut h, "a", false);
    let a = h.agent("a");
    assert_eq!((a.state, a.reachable), (StateKind::Ready, false));
    h.enqueue(1, "q");
    assert!(
        h.offers().is_empty(),
        "unreachable: not offered, but no overflow"
    );
    assert!(h.overflows().is_empty());
    device(&mut h, "a", true);
    assert_eq!(h.one_offer().agent, id("a"));
}

#[test]
fn restored_agents_wait_for_their_phones_within_the_grace() {
    let mut c = config(vec![queue("q", &["a", "b", "c"])], &["a", "b", "c"]);
    for agent in &mut c.agents[..2] {
        agent.always_reachable = false;
    }
    c.reachability_grace = secs(60);
    let mut h = H::new(c);
    let now = h.now;
    h.acd.restore(now, &id("a"), Restored::Ready);
    h.acd
        .restore(now, &id("b"), Restored::Paused(PauseReason::new("lunch")));
    h.acd.restore(now, &id("c"), Restored::LoggedOut);
    h.drain();
    assert_eq!(
        h.take_events(),
        [
            EventKind::AgentState {
                agent: id("a"),
                state: StateKind::Ready,
                reason: None
            },
            EventKind::AgentState {
                agent: id("b"),
                state: StateKind::Paused,
                reason: Some(PauseReason::new("lunch"))
            },
        ],
        "the store ended the last run with everyone logged out: the restored states are changes"
    );
    assert_eq!(h.state("a"), StateKind::Ready);
    assert_eq!(h.state("b"), StateKind::Paused);
    assert!(!h.agent("a").reachable);
    h.enqueue(1, "q");
    assert!(
        h.offers().is_empty(),
        "a is logged in but its phone has not registered"
    );
    h.until(10);
    device(&mut h, "a", true);
    assert_eq!(h.one_offer().agent, id("a"));
    h.until(70);
    assert_eq!(h.state("a"), StateKind::Reserved, "registered: kept");
    assert_eq!(
        h.state("b"),
        StateKind::LoggedOut,
        "never registered: logged out"
    );
    assert!(h.events.contains(&(
        h.t(60),
        EventKind::AgentState {
            agent: id("b"),
            state: StateKind::LoggedOut,
            reason: None
        }
    )));
}

#[test]
fn agent_state_events_follow_every_change_and_never_repeat() {
    let mut h = H::new(config(vec![queue("q", &["a"])], &["a"]));
    h.login(&["a"]);
    h.pause("a", "lunch");
    h.pause("a", "lunch");
    h.pause("a", "training");
    h.command("a", AgentCommand::Ready);
    h.command("a", AgentCommand::Ready); // refused: already ready
    h.command("a", AgentCommand::Logout);
    let states: Vec<(StateKind, Option<String>)> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            EventKind::AgentState { state, reason, .. } => {
                Some((state, reason.map(|r| r.as_str().to_owned())))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        [
            (StateKind::Ready, None),
            (StateKind::Paused, Some("lunch".to_owned())),
            (StateKind::Paused, Some("training".to_owned())),
            (StateKind::Ready, None),
            (StateKind::LoggedOut, None),
        ]
    );
}
