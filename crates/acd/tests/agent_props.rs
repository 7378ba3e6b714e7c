//! Property tests of the agent machine: any sequence of inputs, legal or not, at any times
//! (including times that go backwards), never panics, and the time-in-state totals always add
//! up to the time logged in.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use switchboard_acd::agent::{Agent, AgentId, AgentState, CallRef, Extension, PauseReason, Skill};
use switchboard_acd::config::Level;
use switchboard_acd::io::ClaimKind;

#[derive(Debug, Clone)]
enum Op {
    Login,
    Logout,
    Pause,
    Ready,
    Offer(u64),
    Answer(u64),
    Decline(u64),
    EndCall(u64),
    Abort(u64),
    Take(u64),
    Claim(u64, bool),
    Release(u64),
    RequestPause,
    RequestLogout,
    CancelPending,
    Timeout,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Login),
        Just(Op::Logout),
        Just(Op::Pause),
        Just(Op::Ready),
        (0..3_u64).prop_map(Op::Offer),
        (0..3_u64).prop_map(Op::Answer),
        (0..3_u64).prop_map(Op::Decline),
        (0..3_u64).prop_map(Op::EndCall),
        (0..3_u64).prop_map(Op::Abort),
        (0..3_u64).prop_map(Op::Take),
        (3..5_u64, any::<bool>()).prop_map(|(c, callee)| Op::Claim(c, callee)),
        (3..5_u64).prop_map(Op::Release),
        Just(Op::RequestPause),
        Just(Op::RequestLogout),
        Just(Op::CancelPending),
        Just(Op::Timeout),
    ]
}

/// Time offset of an input from the previous one, in ms: mostly forward, sometimes backwards.
fn step() -> impl Strategy<Value = i64> {
    prop_oneof![8 => 0_i64..60_000, 1 => -5_000_i64..0]
}

fn apply(agent: &mut Agent, now: Instant, op: &Op) {
    // Errors are expected for illegal inputs; what matters is no panic and the invariants.
    let _ = match *op {
        Op::Login => agent.login(now),
        Op::Logout => agent.logout(now),
        Op::Pause => agent.pause(now, PauseReason::new("p")),
        Op::Ready => agent.ready(now),
        Op::Offer(c) => agent.offer(now, CallRef(c)),
        Op::Answer(c) => agent.answer(now, CallRef(c)),
        Op::Decline(c) => agent.decline(now, CallRef(c)),
        Op::EndCall(c) => agent.end_call(now, CallRef(c)),
        Op::Abort(c) => agent.abort_call(now, CallRef(c)),
        Op::Take(c) => agent.take_call(now, CallRef(c)),
        Op::Claim(c, callee) => {
            let kind = if callee {
                ClaimKind::Callee
            } else {
                ClaimKind::Caller
            };
            agent.claim(now, CallRef(c), kind)
        }
        Op::Release(c) => agent.release(now, CallRef(c)),
        Op::RequestPause => agent.request_pause(now, PauseReason::new("p")).map(drop),
        Op::RequestLogout => agent.request_logout(now).map(drop),
        Op::CancelPending => {
            agent.cancel_pending();
            Ok(())
        }
        Op::Timeout => {
            agent.handle_timeout(now);
            Ok(())
        }
    };
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn totals_always_sum_to_logged_in_time(
        ops in proptest::collection::vec((step(), op()), 0..60),
        wrap_secs in 0_u64..120,
    ) {
        let base = Instant::now() + Duration::from_secs(3_600);
        let mut agent = Agent::new(
            AgentId::new("a"), Extension::new("1"), [(Skill::new("fr"), Level::MAX)],
            Duration::from_secs(wrap_secs),
        );
        let mut offset_ms: i64 = 0;
        let mut latest = base;
        for (delta, op) in &ops {
            offset_ms = (offset_ms + delta).max(0);
            let now = base + Duration::from_millis(offset_ms.unsigned_abs());
            latest = latest.max(now);
            apply(&mut agent, now, op);

            let totals = agent.totals(latest);
            prop_assert_eq!(totals.sum(), agent.logged_in_time(latest));
            // The wrap-up deadline is only asked for in wrap-up, and is in its future.
            match agent.state() {
                AgentState::WrapUp { until } => prop_assert_eq!(agent.poll_timeout(), Some(*until)),
                _ => prop_assert_eq!(agent.poll_timeout(), None),
            }
            // Ready means not on any call; busy names one of the agent's direct calls.
            match agent.state() {
                AgentState::Ready => prop_assert!(agent.claims().is_empty()),
                AgentState::Busy { call } => prop_assert!(agent.claims().contains(call)),
                _ => {}
            }
            if *agent.state() == AgentState::LoggedOut {
                // Nothing accrues while logged out.
                let later = latest + Duration::from_secs(1_000);
                prop_assert_eq!(agent.totals(later), totals);
            }
        }
    }
}
