//! Property tests of the ACD machine: thousands of random runs on simulated time.
//!
//! The harness plays a plausible switch: callers join and leave, it reports each offer once
//! (with a random result, `Cancelled` after a `CancelOffer` unless an answer crossed it, and
//! sometimes never), connects or fails answered calls, ends them, places direct calls, and
//! agents press feature codes and register or unregister. Inputs are stamped a little in the
//! past (sometimes in the future). After each step an oracle rebuilt from the event record
//! alone checks the invariants:
//! * events: times never go back nor ahead of `now`; per visit one `Joined`, then exactly one
//!   of `Answered`/`Abandoned`/`Overflowed`, offers only in between; one `CallEnded` per
//!   `Answered`, then one `WrapUpEnded`; `AgentState` never twice alike; outputs match events;
//! * offers: a caller is offered to two agents at once only within one ring-all round; an
//!   agent offered a call is ready and has no other offer or call; nobody stays reserved past
//!   its offer's deadline; no overflow while an offer of that caller is out;
//! * dispatch: when an agent is offered a caller, no better caller (higher priority, or same
//!   priority and earlier) waiting without an offer could have taken that agent; after every
//!   step, no waiting caller could take an available agent (nobody idles while a caller
//!   waits); no caller waits past its max wait or with nobody logged in who could serve it;
//! * agents: the ACD's states match the record, and time-in-state totals add up.
//!
//! At the end the switch answers what it can and time runs out: every caller has exactly one
//! outcome, or still waits with a live reason; every answered call got its end and wrap-up.

use proptest::prelude::*;
use switchboard_acd::agent::CallRef;
use switchboard_acd::io::OfferResult;

#[path = "acd_props/model.rs"]
mod model;
#[path = "acd_props/oracle.rs"]
mod oracle;

use model::{Op, op, setup};
use oracle::Sim;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn acd_invariants_hold_on_random_runs(
        (setup, ops) in setup().prop_flat_map(|s| {
            let (nq, na) = (s.queues.len(), s.agents.len());
            (Just(s), proptest::collection::vec(op(nq, na), 0..120))
        })
    ) {
        let mut sim = Sim::new(&setup)?;
        for (lag, op) in &ops {
            sim.apply(*lag, op)?;
        }
        sim.finish()?;
    }
}

/// The ring-all race, spelled out: an agent answers, then fails to connect, while the other
/// agents had offers; they are released at once and all rung again at once.
#[test]
fn ring_all_race_connect_failed_with_other_offers_out() {
    let mut s = model::fixed_ring_all();
    s.max_missed = 0;
    let mut sim = Sim::new(&s).expect("setup");
    let ops = [
        Op::Command { agent: 0, cmd: 0 },
        Op::Command { agent: 1, cmd: 0 },
        Op::Command { agent: 2, cmd: 0 },
        Op::Join {
            queue: 0,
            priority: 0,
            skills: vec![],
            max_wait: None,
        },
        Op::Advance { ms: 2_000 },
        Op::ReportAs {
            agent: 1,
            result: OfferResult::Answered,
        },
        Op::Advance { ms: 500 },
        Op::Connect { pick: 0, ok: false },
        Op::ReportAs {
            agent: 0,
            result: OfferResult::Answered,
        },
        Op::Connect { pick: 0, ok: true },
    ];
    for op in &ops {
        sim.apply(0, op).expect("invariants");
    }
    let offered = sim.offered_per_call(CallRef(1));
    assert_eq!(offered, 6, "two ring-all rounds of three");
    sim.finish().expect("invariants at the end");
    assert!(sim.answered(CallRef(1)));
}
