//! The generated world: a config, restored agents, and the operations of a run.

use std::time::Duration;

use proptest::prelude::*;
use switchboard_acd::agent::{AgentId, Skill};
use switchboard_acd::config::{
    AcdConfig, AgentConfig, Announcements, Level, LoginPolicy, Member, QueueConfig, QueueId,
    SkillReq, Strategy as Dist, Widening,
};
use switchboard_acd::io::OfferResult;

/// The skills callers ask for and agents have.
pub const SKILLS: [&str; 2] = ["en", "fr"];

/// One queue.
#[derive(Debug, Clone)]
pub struct QSetup {
    pub strategy: Dist,
    /// Members: agent index and penalty, in config order.
    pub members: Vec<(usize, u32)>,
    pub ring_s: u64,
    pub wrap_s: u64,
    pub max_len: Option<u32>,
    pub max_wait_s: Option<u64>,
    pub widen_level_s: Option<u64>,
    pub widen_any_s: Option<u64>,
    pub announce: Option<(u64, u64)>,
}

/// One agent.
#[derive(Debug, Clone)]
pub struct ASetup {
    /// Skill index and level, each skill at most once.
    pub skills: Vec<(usize, u8)>,
    pub always_reachable: bool,
    /// 0: not restored, 1: restored ready, 2: restored paused.
    pub restored: u8,
    /// Logs in by feature code at the start.
    pub starts_logged_in: bool,
}

/// The whole config of a run.
#[derive(Debug, Clone)]
pub struct Setup {
    pub queues: Vec<QSetup>,
    pub agents: Vec<ASetup>,
    pub registration: bool,
    pub max_missed: u32,
    pub miss_delay_s: u64,
    pub grace_s: u64,
    pub reach_grace_s: u64,
    pub ewt_window: usize,
    pub seed: u64,
    /// Offers whose id is a multiple of this are never reported by the switch.
    pub silent_mod: u64,
}

pub fn agent_id(i: usize) -> AgentId {
    AgentId::new(format!("a{i}"))
}

pub fn queue_id(q: usize) -> QueueId {
    QueueId::new(format!("q{q}"))
}

pub fn reqs(skills: &[(usize, u8)]) -> Vec<SkillReq> {
    skills
        .iter()
        .map(|&(s, level)| SkillReq {
            skill: Skill::new(SKILLS[s]),
            min_level: Level::new(level),
        })
        .collect()
}

impl Setup {
    pub fn config(&self) -> AcdConfig {
        let queues = self
            .queues
            .iter()
            .enumerate()
            .map(|(q, s)| {
                let mut c = QueueConfig::new(queue_id(q), []);
                c.strategy = s.strategy;
                c.members = s
                    .members
                    .iter()
                    .map(|&(a, penalty)| Member {
                        agent: agent_id(a),
                        penalty,
                    })
                    .collect();
                c.ring_timeout = Duration::from_secs(s.ring_s);
                c.wrap_up = Duration::from_secs(s.wrap_s);
                c.max_len = s.max_len;
                c.max_wait = s.max_wait_s.map(Duration::from_secs);
                c.widening = Widening {
                    any_level_after: s.widen_level_s.map(Duration::from_secs),
                    any_agent_after: s.widen_any_s.map(Duration::from_secs),
                };
                c.announcements = s.announce.map(|(first, every)| Announcements {
                    first_after: Duration::from_secs(first),
                    every: Duration::from_secs(every),
                    position: true,
                    expected_wait: true,
                });
                c
            })
            .collect();
        let agents = self
            .agents
            .iter()
            .enumerate()
            .map(|(i, a)| AgentConfig {
                id: agent_id(i),
                skills: a
                    .skills
                    .iter()
                    .map(|&(s, level)| (Skill::new(SKILLS[s]), Level::new(level)))
                    .collect(),
                always_reachable: a.always_reachable,
            })
            .collect();
        AcdConfig {
            queues,
            agents,
            login: if self.registration {
                LoginPolicy::Registration
            } else {
                LoginPolicy::Explicit
            },
            max_missed_offers: self.max_missed,
            missed_offer_delay: Duration::from_secs(self.miss_delay_s),
            offer_grace: Duration::from_secs(self.grace_s),
            reachability_grace: Duration::from_secs(self.reach_grace_s),
            ewt_window: self.ewt_window,
            rng_seed: self.seed,
        }
    }

    /// A penalty of agent `a` in queue `q`, if a member.
    pub fn penalty(&self, q: usize, a: usize) -> Option<u32> {
        self.queues[q]
            .members
            .iter()
            .find(|&&(m, _)| m == a)
            .map(|&(_, p)| p)
    }
}

/// One ring-all queue of three reachable agents, no skills, explicit logins.
pub fn fixed_ring_all() -> Setup {
    Setup {
        queues: vec![QSetup {
            strategy: Dist::RingAll,
            members: vec![(0, 0), (1, 0), (2, 0)],
            ring_s: 20,
            wrap_s: 0,
            max_len: None,
            max_wait_s: None,
            widen_level_s: None,
            widen_any_s: None,
            announce: None,
        }],
        agents: vec![
            ASetup {
                skills: vec![],
                always_reachable: true,
                restored: 0,
                starts_logged_in: false,
            };
            3
        ],
        registration: false,
        max_missed: 3,
        miss_delay_s: 5,
        grace_s: 10,
        reach_grace_s: 60,
        ewt_window: 5,
        seed: 1,
        silent_mod: u64::MAX,
    }
}

/// What happens next in a run.
#[derive(Debug, Clone)]
pub enum Op {
    /// A new caller joins.
    Join {
        queue: usize,
        priority: i32,
        skills: Vec<(usize, u8)>,
        max_wait: Option<u64>,
    },
    /// A live call (waiting, connecting or talking) leaves: 0 hangup, 1 key, 2 gone.
    Leave { pick: usize, kind: u8 },
    /// The switch reports a pending offer: 0-1 answered, 2 no answer, 3 declined,
    /// 4 unreachable, 5 cancelled, 6 not now.
    Report { pick: usize, result: u8 },
    /// The switch reports the newest pending offer to this agent.
    ReportAs { agent: usize, result: OfferResult },
    /// An answered call is connected or fails.
    Connect { pick: usize, ok: bool },
    /// A talking call ends.
    End { pick: usize },
    /// A feature code: 0 login, 1 logout, 2 pause, 3 ready.
    Command { agent: usize, cmd: u8 },
    /// A phone registers or unregisters.
    Device { agent: usize, up: bool },
    /// A direct call to (callee) or from the agent.
    Claim { agent: usize, callee: bool },
    /// A direct call ends.
    Release { pick: usize },
    /// Time passes.
    Advance { ms: u64 },
}

fn queue_setup(na: usize) -> impl Strategy<Value = QSetup> {
    let strategies = [
        Dist::RingAll,
        Dist::LongestIdle,
        Dist::RoundRobin,
        Dist::FewestCalls,
        Dist::Random,
        Dist::SkillsBased,
    ];
    (
        proptest::sample::select(strategies.to_vec()),
        proptest::collection::vec(
            prop_oneof![1 => Just(None), 5 => (0..3_u32).prop_map(Some)],
            na,
        ),
        (1..=30_u64, prop_oneof![Just(0_u64), 1..=20_u64]),
        (
            proptest::option::weighted(0.3, 0..=4_u32),
            proptest::option::weighted(0.4, 5..=120_u64),
        ),
        (
            proptest::option::of(1..=60_u64),
            proptest::option::of(1..=90_u64),
        ),
        proptest::option::of((0..=20_u64, 0..=40_u64)),
    )
        .prop_map(
            |(strategy, members, (ring_s, wrap_s), (max_len, max_wait_s), widen, announce)| {
                QSetup {
                    strategy,
                    members: members
                        .into_iter()
                        .enumerate()
                        .filter_map(|(a, p)| p.map(|p| (a, p)))
                        .collect(),
                    ring_s,
                    wrap_s,
                    max_len,
                    max_wait_s,
                    widen_level_s: widen.0,
                    widen_any_s: widen.1,
                    announce,
                }
            },
        )
}

fn skill_levels() -> impl Strategy<Value = Vec<(usize, u8)>> {
    proptest::collection::vec(
        (
            0..SKILLS.len(),
            proptest::sample::select(vec![20_u8, 50, 80]),
        ),
        0..=2,
    )
}

fn agent_setup() -> impl Strategy<Value = ASetup> {
    (
        skill_levels(),
        proptest::bool::weighted(0.75),
        prop_oneof![6 => Just(0_u8), 1 => Just(1_u8), 1 => Just(2_u8)],
        proptest::bool::weighted(0.7),
    )
        .prop_map(
            |(mut skills, always_reachable, restored, starts_logged_in)| {
                let mut seen = Vec::new();
                skills.retain(|&(s, _)| {
                    let fresh = !seen.contains(&s);
                    seen.push(s);
                    fresh
                });
                ASetup {
                    skills,
                    always_reachable,
                    restored,
                    starts_logged_in,
                }
            },
        )
}

/// A config of 1-3 queues and 2-5 agents.
pub fn setup() -> impl Strategy<Value = Setup> {
    (1..=3_usize, 2..=5_usize).prop_flat_map(|(nq, na)| {
        (
            proptest::collection::vec(queue_setup(na), nq),
            proptest::collection::vec(agent_setup(), na),
            (
                any::<bool>(),
                0..=3_u32,
                prop_oneof![Just(0_u64), 1..=10_u64],
                0..=15_u64,
                1..=200_u64,
                0..=5_usize,
            ),
            (any::<u64>(), 4..=40_u64),
        )
            .prop_map(
                |(
                    queues,
                    agents,
                    (registration, max_missed, miss_delay_s, grace_s, reach, ewt),
                    (seed, silent_mod),
                )| Setup {
                    queues,
                    agents,
                    registration,
                    max_missed,
                    miss_delay_s,
                    grace_s,
                    reach_grace_s: reach,
                    ewt_window: ewt,
                    seed,
                    silent_mod,
                },
            )
    })
}

/// An operation, with the lag of its `at` behind `now` in ms (negative: ahead of it).
pub fn op(nq: usize, na: usize) -> impl Strategy<Value = (i64, Op)> {
    let lag = prop_oneof![6 => Just(0_i64), 3 => 0..3_000_i64, 1 => -2_000..0_i64];
    let op = prop_oneof![
        4 => (0..nq, -1..=1_i32, skill_levels(), proptest::option::weighted(0.3, 3..=90_u64)).prop_map(
            |(queue, priority, skills, max_wait)| Op::Join { queue, priority, skills, max_wait }
        ),
        1 => (any::<usize>(), 0..3_u8).prop_map(|(pick, kind)| Op::Leave { pick, kind }),
        6 => (any::<usize>(), 0..7_u8).prop_map(|(pick, result)| Op::Report { pick, result }),
        2 => (any::<usize>(), proptest::bool::weighted(0.75))
            .prop_map(|(pick, ok)| Op::Connect { pick, ok }),
        2 => any::<usize>().prop_map(|pick| Op::End { pick }),
        3 => (0..na, prop_oneof![3 => Just(0_u8), 1 => Just(1_u8), 2 => Just(2_u8), 3 => Just(3_u8)])
            .prop_map(|(agent, cmd)| Op::Command { agent, cmd }),
        1 => (0..na, proptest::bool::weighted(0.7)).prop_map(|(agent, up)| Op::Device { agent, up }),
        1 => (0..na, any::<bool>()).prop_map(|(agent, callee)| Op::Claim { agent, callee }),
        1 => any::<usize>().prop_map(|pick| Op::Release { pick }),
        4 => prop_oneof![0..5_000_u64, 5_000..60_000_u64].prop_map(|ms| Op::Advance { ms }),
    ];
    (lag, op)
}
