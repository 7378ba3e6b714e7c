//! Unit tests for [`super::Agent`], on a hand-advanced clock.

use super::*;
use crate::config::{Level, SkillReq};

const WRAP: Duration = Duration::from_secs(30);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn alice() -> Agent {
    Agent::new(
        AgentId::new("alice"),
        Extension::new("1001"),
        [
            (Skill::new("fr"), Level::MAX),
            (Skill::new("EN"), Level::new(40)),
        ],
        WRAP,
    )
}

fn logged_in(t0: Instant) -> Agent {
    let mut a = alice();
    a.login(t0).unwrap();
    a
}

#[test]
fn a_new_agent_is_logged_out_and_unaccounted() {
    let t0 = Instant::now();
    let a = alice();
    assert_eq!(a.state(), &AgentState::LoggedOut);
    assert_eq!(a.id().as_str(), "alice");
    assert_eq!(a.extension().to_string(), "1001");
    assert_eq!(a.poll_timeout(), None);
    assert_eq!(a.totals(t0 + secs(100)), StateTotals::default());
    assert_eq!(a.logged_in_time(t0 + secs(100)), Duration::ZERO);
}

#[test]
fn full_call_cycle_with_wrap_up_expiring_on_its_timer() {
    let t0 = Instant::now();
    let mut a = logged_in(t0);
    let call = CallRef(7);
    a.offer(t0 + secs(10), call).unwrap();
    assert_eq!(a.state(), &AgentState::Reserved { call });
    a.answer(t0 + secs(15), call).unwrap();
    assert_eq!(a.state(), &AgentState::OnCall { call });
    a.end_call(t0 + secs(115), call).unwrap();
    let until = t0 + secs(145);
    assert_eq!(a.state(), &AgentState::WrapUp { until });
    assert_eq!(a.poll_timeout(), Some(until));

    a.handle_timeout(until - Duration::from_millis(1));
    assert_eq!(
        a.state().kind(),
        StateKind::WrapUp,
        "not before the deadline"
    );
    a.handle_timeout(until);
    assert_eq!(a.state(), &AgentState::Ready);
    assert_eq!(a.poll_timeout(), None);

    let totals = a.totals(t0 + secs(200));
    assert_eq!(
        totals,
        StateTotals {
            ready: secs(10 + 55),
            ringing: secs(5),
            talk: secs(100),
            busy: Duration::ZERO,
            wrap_up: secs(30),
            paused: Duration::ZERO,
        }
    );
    assert_eq!(totals.sum(), a.logged_in_time(t0 + secs(200)));
}

#[test]
fn late_timeout_counts_wrap_up_only_until_its_deadline() {
    let t0 = Instant::now();
    let mut a = logged_in(t0);
    a.offer(t0, CallRef(1)).unwrap();
    a.answer(t0, CallRef(1)).unwrap();
    a.end_call(t0 + secs(60), CallRef(1)).unwrap();
    // Before anyone calls handle_timeout, the totals already split at the deadline.
    assert_eq!(a.totals(t0 + secs(100)).wrap_up, WRAP);
    assert_eq!(a.totals(t0 + secs(100)).ready, secs(10));
    // The driver wakes 40 s late.
    a.handle_timeout(t0 + secs(130));
    assert_eq!(a.state(), &AgentState::Ready);
    let totals = a.totals(t0 + secs(130));
    assert_eq!(totals.wrap_up, WRAP);
    assert_eq!(totals.ready, secs(40));
}

#[test]
fn an_input_after_the_deadline_applies_the_expired_wrap_up_first() {
    let t0 = Instant::now();
    let mut a = logged_in(t0);
    a.offer(t0, CallRef(1)).unwrap();
    a.answer(t0, CallRef(1)).unwrap();
    a.end_call(t0, CallRef(1)).unwrap();
    // No handle_timeout: the offer still succeeds because the wrap-up is over.
    assert_eq!(a.offer(t0 + secs(31), CallRef(2)), Ok(()));
    assert_eq!(a.totals(t0 + secs(31)).ready, secs(1));
}

#[test]
fn zero_wrap_up_goes_straight_to_ready() {
    let t0 = Instant::now();
    let mut a = Agent::new(
        AgentId::new("bob"),
        Extension::new("1002"),
        [],
        Duration::ZERO,
    );
    a.login(t0).unwrap();
    a.offer(t0, CallRef(1)).unwrap();
    a.answer(t0, CallRef(1)).unwrap();
    a.end_call(t0 + secs(5), CallRef(1)).unwrap();
    assert_eq!(a.state(), &AgentState::Ready);
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn offering_to_a_paused_agent_is_refused_and_changes_nothing() {
    let t0 = Instant::now();
    let mut a = logged_in(t0);
    a.pause(t0 + secs(1), PauseReason::new("lunch")).unwrap();
    let before = a.clone();
    let err = a.offer(t0 + secs(2), CallRef(1)).unwrap_err();
    assert_eq!(
        err,
        AgentError::InvalidTransition {
            state: StateKind::Paused,
            action: Action::Offer
        }
    );
    assert_eq!(
        err.to_string(),
        "agent cannot be offered a call while paused"
    );
    assert_eq!(a.state(), before.state());
    assert_eq!(a.totals(t0 + secs(9)), before.totals(t0 + secs(9)));
}

#[test]
fn illegal_transitions_are_typed_errors() {
    let t0 = Instant::now();
    let invalid = |state, action| Err(AgentError::InvalidTransition { state, action });
    let mut a = alice();
    assert_eq!(
        a.offer(t0, CallRef(1)),
        invalid(StateKind::LoggedOut, Action::Offer)
    );
    assert_eq!(a.logout(t0), invalid(StateKind::LoggedOut, Action::Logout));
    assert_eq!(a.ready(t0), invalid(StateKind::LoggedOut, Action::Ready));
    a.login(t0).unwrap();
    assert_eq!(a.login(t0), invalid(StateKind::Ready, Action::Login));
    assert_eq!(a.ready(t0), invalid(StateKind::Ready, Action::Ready));
    assert_eq!(
        a.answer(t0, CallRef(1)),
        invalid(StateKind::Ready, Action::Answer)
    );
    assert_eq!(
        a.end_call(t0, CallRef(1)),
        invalid(StateKind::Ready, Action::EndCall)
    );
    a.offer(t0, CallRef(1)).unwrap();
    assert_eq!(
        a.offer(t0, CallRef(2)),
        invalid(StateKind::Reserved, Action::Offer)
    );
    assert_eq!(a.logout(t0), invalid(StateKind::Reserved, Action::Logout));
    let reason = PauseReason::new("x");
    assert_eq!(
        a.pause(t0, reason.clone()),
        invalid(StateKind::Reserved, Action::Pause)
    );
    a.answer(t0, CallRef(1)).unwrap();
    assert_eq!(a.logout(t0), invalid(StateKind::OnCall, Action::Logout));
    assert_eq!(
        a.pause(t0, reason),
        invalid(StateKind::OnCall, Action::Pause)
    );
    assert_eq!(
        a.decline(t0, CallRef(1)),
        invalid(StateKind::OnCall, Action::Decline)
    );
}

#[test]
fn answering_or_ending_another_call_is_a_wrong_call_error() {
    let t0 = Instant::now();
    let mut a = logged_in(t0);
    a.offer(t0, CallRef(1)).unwrap();
    let wrong = Err(AgentError::WrongCall {
        expected: CallRef(1),
        got: CallRef(2),
    });
    assert_eq!(a.answer(t0, CallRef(2)), wrong);
    assert_eq!(a.decline(t0, CallRef(2)), wrong);
    a.answer(t0, CallRef(1)).unwrap();
    assert_eq!(a.end_call(t0, CallRef(2)), wrong);
    assert_eq!(
        AgentError::WrongCall {
            expected: CallRef(1),
            got: CallRef(2)
        }
        .to_string(),
        "call #2 is not the agent's call #1"
    );
}

#[test]
fn decline_returns_the_agent_to_ready() {
    let t0 = Instant::now();
    let mut a = logged_in(t0);
    a.offer(t0, CallRef(1)).unwrap();
    a.decline(t0 + secs(20), CallRef(1)).unwrap();
    assert_eq!(a.state(), &AgentState::Ready);
    assert_eq!(a.totals(t0 + secs(20)).ringing, secs(20));
}

#[test]
fn ready_ends_wrap_up_early_and_pause_and_logout_are_allowed_in_wrap_up() {
    let t0 = Instant::now();
    let mut a = logged_in(t0);
    a.offer(t0, CallRef(1)).unwrap();
    a.answer(t0, CallRef(1)).unwrap();
    a.end_call(t0, CallRef(1)).unwrap();
    a.ready(t0 + secs(5)).unwrap();
    assert_eq!(a.totals(t0 + secs(5)).wrap_up, secs(5));

    a.offer(t0 + secs(5), CallRef(2)).unwrap();
    a.answer(t0 + secs(5), CallRef(2)).unwrap();
    a.end_call(t0 + secs(6), CallRef(2)).unwrap();
    a.pause(t0 + secs(7), PauseReason::new("coffee")).unwrap();
    assert_eq!(
        a.state(),
        &AgentState::Paused {
            reason: PauseReason::new("coffee")
        }
    );
    a.logout(t0 + secs(20)).unwrap();
    assert_eq!(a.state(), &AgentState::LoggedOut);
    let totals = a.totals(t0 + secs(99));
    assert_eq!(totals.paused, secs(13));
    assert_eq!(totals.sum(), secs(20));
    assert_eq!(a.logged_in_time(t0 + secs(99)), secs(20));
}

#[test]
fn pause_reason_can_change_and_sessions_accumulate() {
    let t0 = Instant::now();
    let mut a = logged_in(t0);
    a.pause(t0 + secs(1), PauseReason::new("lunch")).unwrap();
    a.pause(t0 + secs(2), PauseReason::new("training")).unwrap();
    a.logout(t0 + secs(3)).unwrap();
    a.login(t0 + secs(100)).unwrap();
    let totals = a.totals(t0 + secs(110));
    assert_eq!(totals.ready, secs(11));
    assert_eq!(totals.paused, secs(2));
    assert_eq!(a.logged_in_time(t0 + secs(110)), secs(13));
}

#[test]
fn time_going_backwards_counts_as_no_time() {
    let t0 = Instant::now();
    let mut a = logged_in(t0 + secs(10));
    a.pause(t0, PauseReason::new("x")).unwrap();
    a.ready(t0 + secs(15)).unwrap();
    let totals = a.totals(t0 + secs(20));
    assert_eq!(totals.ready, secs(5));
    assert_eq!(totals.paused, secs(5));
    assert_eq!(totals.sum(), a.logged_in_time(t0 + secs(20)));
}

#[test]
fn skills_match_case_insensitively_and_require_all() {
    let a = alice();
    let req = |s: &str, l: u8| SkillReq {
        skill: Skill::new(s),
        min_level: Level::new(l),
    };
    assert!(a.meets(&[req("fr", 100), req("en", 40)], false));
    assert!(!a.meets(&[req("en", 50)], false), "40 is below 50");
    assert!(a.meets(&[req("en", 50)], true), "widened: any level");
    assert!(
        !a.meets(&[req("de", 1)], true),
        "widening never grants a missing skill"
    );
    assert_eq!(a.level(&Skill::new("EN")), Some(Level::new(40)));
    assert!(a.matches(&[]));
    assert!(a.matches(&[Skill::new("fr")]));
    assert!(a.matches(&[Skill::new("FR"), Skill::new("en")]));
    assert!(!a.matches(&[Skill::new("fr"), Skill::new("de")]));
    assert_eq!(Skill::new("EN").as_str(), "en");
    assert_eq!(a.skills().len(), 2);
}

#[test]
fn a_direct_call_makes_a_ready_agent_busy_and_a_second_one_waits_on_it() {
    let t0 = Instant::now();
    let mut a = logged_in(t0);
    a.claim(t0 + secs(1), CallRef(10), ClaimKind::Callee)
        .unwrap();
    assert_eq!(a.state(), &AgentState::Busy { call: CallRef(10) });
    // Call waiting: a second direct call rings a phone already on a direct call.
    a.claim(t0 + secs(2), CallRef(11), ClaimKind::Callee)
        .unwrap();
    a.release(t0 + secs(2), CallRef(11)).unwrap();
    // Placing a call is always allowed; claiming the same call again is a no-op.
    a.claim(t0 + secs(2), CallRef(12), ClaimKind::Caller)
        .unwrap();
    a.claim(t0 + secs(2), CallRef(10), ClaimKind::Callee)
        .unwrap();
    assert_eq!(a.claims(), &[CallRef(10), CallRef(12)]);
    a.release(t0 + secs(5), CallRef(10)).unwrap();
    assert_eq!(a.state(), &AgentState::Busy { call: CallRef(12) });
    a.release(t0 + secs(6), CallRef(12)).unwrap();
    assert_eq!(a.state(), &AgentState::Ready);
    assert_eq!(
        a.release(t0 + secs(6), CallRef(12)),
        Err(AgentError::InvalidTransition {
            state: StateKind::Ready,
            action: Action::Release
        })
    );
    let totals = a.totals(t0 + secs(6));
    assert_eq!(totals.busy, secs(5));
    assert_eq!(totals.sum(), secs(6));
}

#[test]
fn a_paused_agent_on_a_direct_call_stays_paused_and_comes_back_busy() {
    let t0 = Instant::now();
    let mut a = logged_in(t0);
    a.pause(t0, PauseReason::new("lunch")).unwrap();
    a.claim(t0 + secs(1), CallRef(10), ClaimKind::Callee)
        .unwrap();
    assert_eq!(a.state().kind(), StateKind::Paused);
    a.ready(t0 + secs(2)).unwrap();
    assert_eq!(a.state(), &AgentState::Busy { call: CallRef(10) });
    assert_eq!(
        a.offer(t0 + secs(2), CallRef(1)),
        Err(AgentError::InvalidTransition {
            state: StateKind::Busy,
            action: Action::Offer
        })
    );
}

#[test]
fn pause_asked_on_a_call_waits_for_the_end_of_the_wrap_up() {
    let t0 = Instant::now();
    let mut a = logged_in(t0);
    a.offer(t0, CallRef(1)).unwrap();
    a.answer(t0, CallRef(1)).unwrap();
    let lunch = PauseReason::new("lunch");
    assert_eq!(
        a.request_pause(t0 + secs(5), lunch.clone()),
        Ok(Applied::Pending)
    );
    assert_eq!(a.state().kind(), StateKind::OnCall);
    assert_eq!(a.pending(), Some(&Pending::Pause(lunch.clone())));
    a.end_call(t0 + secs(10), CallRef(1)).unwrap();
    assert_eq!(
        a.state().kind(),
        StateKind::WrapUp,
        "notes still get written"
    );
    a.handle_timeout(t0 + secs(40));
    assert_eq!(a.state(), &AgentState::Paused { reason: lunch });
    assert_eq!(a.pending(), None);
    assert_eq!(a.totals(t0 + secs(50)).paused, secs(10));
}

#[test]
fn logout_asked_while_ringing_applies_when_the_offer_ends_and_ready_cancels_it() {
    let t0 = Instant::now();
    let mut a = logged_in(t0);
    a.offer(t0, CallRef(1)).unwrap();
    assert_eq!(a.request_logout(t0 + secs(1)), Ok(Applied::Pending));
    a.decline(t0 + secs(3), CallRef(1)).unwrap();
    assert_eq!(a.state(), &AgentState::LoggedOut);
    assert_eq!(a.logged_in_time(t0 + secs(9)), secs(3));

    a.login(t0 + secs(10)).unwrap();
    a.offer(t0 + secs(10), CallRef(2)).unwrap();
    a.request_logout(t0 + secs(11)).unwrap();
    assert_eq!(a.cancel_pending(), Some(Pending::Logout));
    a.decline(t0 + secs(12), CallRef(2)).unwrap();
    assert_eq!(a.state(), &AgentState::Ready);
    assert_eq!(
        a.request_pause(t0 + secs(12), PauseReason::new("x")),
        Ok(Applied::Now)
    );
    a.logout(t0 + secs(13)).unwrap();
    assert_eq!(
        a.request_logout(t0 + secs(14)),
        Err(AgentError::InvalidTransition {
            state: StateKind::LoggedOut,
            action: Action::Logout
        })
    );
}

#[test]
fn an_aborted_call_skips_wrap_up_and_a_late_answer_takes_the_agent_from_pause() {
    let t0 = Instant::now();
    let mut a = logged_in(t0);
    a.offer(t0, CallRef(1)).unwrap();
    a.answer(t0 + secs(1), CallRef(1)).unwrap();
    a.abort_call(t0 + secs(2), CallRef(1)).unwrap();
    assert_eq!(a.state(), &AgentState::Ready);
    assert_eq!(a.poll_timeout(), None);

    a.pause(t0 + secs(3), PauseReason::new("no-answer"))
        .unwrap();
    a.take_call(t0 + secs(4), CallRef(2)).unwrap();
    assert_eq!(a.state(), &AgentState::OnCall { call: CallRef(2) });
    a.claim(t0 + secs(5), CallRef(3), ClaimKind::Caller)
        .unwrap();
    a.end_call(t0 + secs(6), CallRef(2)).unwrap();
    assert!(
        a.take_call(t0 + secs(7), CallRef(4)).is_err(),
        "on a direct call: cannot be talking to a queue caller too"
    );
    a.handle_timeout(t0 + secs(36));
    assert_eq!(a.state(), &AgentState::Busy { call: CallRef(3) });
    let totals = a.totals(t0 + secs(40));
    assert_eq!(totals.sum(), a.logged_in_time(t0 + secs(40)));
}
