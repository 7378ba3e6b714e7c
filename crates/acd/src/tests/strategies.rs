//! Who gets the caller: strategies, penalties, skills and their widening, eligibility.

use super::*;
use crate::config::{Member, Strategy, Widening};

fn with_strategy(strategy: Strategy, members: &[&str]) -> AcdConfig {
    let mut q = queue("q", members);
    q.strategy = strategy;
    let mut c = config(vec![q], members);
    // Declines in these tests are about order, not about resting agents.
    c.missed_offer_delay = Duration::ZERO;
    c.max_missed_offers = 0;
    c
}

#[test]
fn longest_idle_takes_the_agent_ready_the_longest_and_a_miss_keeps_its_place() {
    let mut c = with_strategy(Strategy::LongestIdle, &["a", "b", "c"]);
    c.missed_offer_delay = secs(5);
    let mut h = H::new(c);
    h.login(&["b"]);
    h.until(1);
    h.login(&["c"]);
    h.until(2);
    h.login(&["a"]);
    h.enqueue(1, "q");
    let first = h.one_offer();
    assert_eq!(first.agent, id("b"));
    h.handle_call(&first);
    h.enqueue(2, "q");
    let second = h.one_offer();
    assert_eq!(second.agent, id("c"), "b has just finished a call");
    // c declines and rests; a and b have been idle since 2 s: the tie goes to config order.
    h.result(second.offer, OfferResult::Declined(486));
    assert_eq!(h.one_offer().agent, id("a"));
    assert_eq!(h.agent("c").misses, 1);
    assert_eq!(
        h.acd.agents[2].idle_since,
        h.t(1),
        "a missed offer does not reset the idle time"
    );
}

#[test]
fn round_robin_remembers_the_last_agent_per_queue() {
    let mut h = H::new(with_strategy(Strategy::RoundRobin, &["a", "b", "c"]));
    h.login(&["c", "b", "a"]);
    h.enqueue(1, "q");
    let mut agents = Vec::new();
    for _ in 0..4 {
        let offer = h.one_offer();
        agents.push(offer.agent.clone());
        h.result(offer.offer, OfferResult::NoAnswer);
    }
    assert_eq!(agents, [id("a"), id("b"), id("c"), id("a")]);
    // The last miss moved caller 1 on to b; a new caller continues after b.
    h.leave(1, LeaveReason::Hangup);
    assert!(matches!(
        h.take_outputs().as_slice(),
        [Output::Offer { agent: offered, .. }, Output::CancelOffer { agent, .. }]
            if *offered == id("b") && *agent == id("b")
    ));
    h.enqueue(2, "q");
    assert_eq!(h.one_offer().agent, id("c"));
}

#[test]
fn fewest_calls_counts_answered_calls_since_login_ties_longest_idle() {
    let mut h = H::new(with_strategy(Strategy::FewestCalls, &["a", "b", "c"]));
    h.login(&["a", "b", "c"]);
    // Pause c so a and b take calls.
    h.pause("c", "x");
    for call in 1..=3 {
        h.enqueue(call, "q");
        let offer = h.one_offer();
        h.handle_call(&offer);
        h.until(call);
    }
    // a and b answered 2 and 1 (in some order); c none.
    h.command("c", AgentCommand::Ready);
    h.enqueue(10, "q");
    assert_eq!(h.one_offer().agent, id("c"));
    let answered: Vec<u32> = ["a", "b"].iter().map(|a| h.agent(a).answered).collect();
    assert_eq!(answered.iter().sum::<u32>(), 3);
    // A logout clears the count.
    h.command("a", AgentCommand::Logout);
    h.login(&["a"]);
    assert_eq!(h.agent("a").answered, 0);
}

#[test]
fn random_is_seeded_reproducible_and_spreads() {
    let run = |seed: u64| {
        let mut c = with_strategy(Strategy::Random, &["a", "b", "c", "d"]);
        c.rng_seed = seed;
        let mut h = H::new(c);
        h.login(&["a", "b", "c", "d"]);
        (0..200)
            .map(|call| {
                h.enqueue(call, "q");
                let offer = h.one_offer();
                h.handle_call(&offer);
                offer.agent
            })
            .collect::<Vec<_>>()
    };
    let one = run(7);
    assert_eq!(one, run(7), "same seed, same choices");
    assert_ne!(one, run(8));
    for agent in ["a", "b", "c", "d"] {
        let n = one.iter().filter(|a| **a == id(agent)).count();
        assert!((25..=75).contains(&n), "{agent} got {n} of 200");
    }
}

#[test]
fn skills_based_prefers_the_highest_levels_then_longest_idle() {
    let mut c = with_strategy(Strategy::SkillsBased, &["a", "b", "c"]);
    c.agents[0].skills = vec![skill("en", 60), skill("fr", 100)];
    c.agents[1].skills = vec![skill("en", 90)];
    c.agents[2].skills = vec![skill("en", 90), skill("billing", 20)];
    let mut h = H::new(c);
    h.login(&["c"]);
    h.until(1);
    h.login(&["a", "b"]);
    h.enqueue_with(1, "q", 0, vec![req("en", 50)], None);
    assert_eq!(
        h.one_offer().agent,
        id("c"),
        "b and c tie at 90; c idle longer"
    );
    h.enqueue_with(2, "q", 0, vec![req("en", 50)], None);
    assert_eq!(h.one_offer().agent, id("b"), "90 beats 60");
}

#[test]
fn ring_all_offers_every_eligible_agent_of_the_lowest_tier() {
    let mut q = queue("q", &[]);
    q.strategy = Strategy::RingAll;
    q.members = ["a", "b", "c", "d"]
        .iter()
        .zip([0, 0, 0, 1])
        .map(|(a, penalty)| Member {
            agent: id(a),
            penalty,
        })
        .collect();
    let mut h = H::new(config(vec![q], &["a", "b", "c", "d"]));
    h.login(&["a", "b", "c", "d"]);
    h.pause("c", "x");
    h.enqueue(1, "q");
    let mut rung: Vec<AgentId> = h.offers().into_iter().map(|o| o.agent).collect();
    rung.sort();
    assert_eq!(rung, [id("a"), id("b")], "c paused, d has a higher penalty");
    assert_eq!(h.state("a"), StateKind::Reserved);
    assert_eq!(h.state("b"), StateKind::Reserved);
}

#[test]
fn penalties_the_higher_tier_only_when_the_lower_has_nobody_eligible() {
    let mut q = queue("q", &[]);
    q.members = vec![
        Member {
            agent: id("senior"),
            penalty: 0,
        },
        Member {
            agent: id("junior"),
            penalty: 2,
        },
    ];
    let mut h = H::new(config(vec![q], &["senior", "junior"]));
    h.login(&["junior"]);
    h.until(100);
    h.login(&["senior"]);
    h.enqueue(1, "q");
    assert_eq!(
        h.one_offer().agent,
        id("senior"),
        "penalty before idle time"
    );
    h.enqueue(2, "q");
    assert_eq!(h.one_offer().agent, id("junior"), "the senior is ringing");
}

#[test]
fn skill_levels_and_widening_with_the_wait() {
    let mut q = queue("q", &["expert", "novice", "other"]);
    q.widening = Widening {
        any_level_after: Some(secs(30)),
        any_agent_after: Some(secs(60)),
    };
    let mut c = config(vec![q], &["expert", "novice", "other"]);
    c.agents[0].skills = vec![skill("en", 80)];
    c.agents[1].skills = vec![skill("en", 30)];
    c.agents[2].skills = vec![skill("de", 90)];
    c.missed_offer_delay = secs(100);
    let mut h = H::new(c);
    h.login(&["novice", "other"]);
    h.enqueue_with(1, "q", 0, vec![req("en", 50)], None);
    assert!(
        h.offers().is_empty(),
        "en 30 is below 50; the expert is out"
    );
    h.until(29);
    assert!(h.offers().is_empty());
    h.until(30);
    let offer = h.one_offer();
    assert_eq!(offer.agent, id("novice"), "at 30 s any level of en will do");
    assert_eq!(h.now, h.t(30), "offered at the widening instant");
    h.result(offer.offer, OfferResult::Declined(603));
    // The novice now rests; at 60 s anybody in the queue will do.
    h.until(59);
    assert!(h.offers().is_empty());
    h.until(60);
    assert_eq!(h.one_offer().agent, id("other"));
}

#[test]
fn only_ready_reachable_rested_agents_are_offered() {
    let mut c = config(vec![queue("q", &["a", "b", "c"])], &["a", "b", "c"]);
    c.agents[2].always_reachable = false;
    c.missed_offer_delay = secs(20);
    let mut h = H::new(c);
    h.login(&["a", "b", "c"]);
    h.pause("b", "x");
    h.enqueue(1, "q");
    let offer = h.one_offer();
    assert_eq!(offer.agent, id("a"), "b paused, c not registered");
    h.result(offer.offer, OfferResult::NoAnswer);
    assert!(h.offers().is_empty(), "a rests after its miss");
    assert_eq!(h.agent("a").resting_until, Some(h.t(20)));
    let at = h.now;
    h.input(Input::DeviceUp { agent: id("c"), at });
    assert_eq!(h.one_offer().agent, id("c"));
}
