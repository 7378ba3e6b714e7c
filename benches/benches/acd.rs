//! The ACD core's routing decision, alone: 500 agents (each serving two of 50 queues, English
//! at level 100, half of them with a second skill), the `Enqueue` of one caller while some
//! agents are free, drained to its `Offer`, then the offer answered, connected and ended so the
//! agent comes back (no wrap-up) and the next iteration finds the same picture. Two pictures:
//! most agents free (the offer comes at once), and every agent busy but one with 200 callers
//! waiting ahead in other queues (the dispatch walks the line before it finds the match).
//!
//! The switch measures the same decision end to end (with the trip through the ACD task's
//! channel) and shows it in `switchboard queues`; `benches/acd_load.sh` reads it under load.
//! Times are this thread's CPU time (see `ThreadCpuTime`).

mod common;

use std::time::{Duration, Instant};

use common::ThreadCpuTime;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use switchboard_acd::config::{AcdConfig, AgentConfig, Level, Member, QueueConfig, QueueId};
use switchboard_acd::io::{AgentCommand, Input, OfferResult, Output};
use switchboard_acd::{Acd, AgentId, CallRef, Skill};

const AGENTS: usize = 500;
const QUEUES: usize = 50;

fn config() -> AcdConfig {
    let agents = (0..AGENTS)
        .map(|i| {
            let mut skills = vec![(Skill::new("en"), Level::MAX)];
            if i % 2 == 0 {
                skills.push((Skill::new("returns"), Level::new(60)));
            }
            AgentConfig {
                id: AgentId::new(format!("{}", 2000 + i)),
                skills,
                always_reachable: true,
            }
        })
        .collect();
    let queues = (0..QUEUES)
        .map(|q| {
            let mut queue = QueueConfig::new(QueueId::new(format!("q-{q:02}")), []);
            queue.members = (0..AGENTS)
                .filter(|i| i % QUEUES == q || (i + 1) % QUEUES == q)
                .map(|i| Member {
                    agent: AgentId::new(format!("{}", 2000 + i)),
                    penalty: 0,
                })
                .collect();
            queue
        })
        .collect();
    AcdConfig {
        queues,
        agents,
        ..AcdConfig::default()
    }
}

struct Bench {
    acd: Acd,
    now: Instant,
    next_call: u64,
}

impl Bench {
    fn new(busy_all_but_one: bool) -> Bench {
        let now = Instant::now();
        let mut acd = Acd::new(config(), now);
        for i in 0..AGENTS {
            acd.handle(
                now,
                Input::Agent {
                    agent: AgentId::new(format!("{}", 2000 + i)),
                    command: AgentCommand::Login,
                    reply_to: None,
                    at: now,
                },
            );
        }
        let mut b = Bench {
            acd,
            now,
            next_call: 1,
        };
        b.drain();
        if busy_all_but_one {
            // Occupy every agent but 2000 (queues q-00 and q-49) with a call of its own queue,
            // then line 200 callers up in queues no free agent serves.
            for i in 1..AGENTS {
                let queue = format!("q-{:02}", i % QUEUES);
                let call = b.enqueue(&queue);
                b.take(call);
            }
            for n in 0..200 {
                let queue = format!("q-{:02}", 10 + n % 30);
                b.enqueue(&queue);
                b.drain();
            }
        }
        b
    }

    fn enqueue(&mut self, queue: &str) -> CallRef {
        let call = CallRef(self.next_call);
        self.next_call += 1;
        self.acd.handle(
            self.now,
            Input::Enqueue {
                call,
                queue: QueueId::new(queue),
                priority: 0,
                skills: vec![switchboard_acd::config::SkillReq::any_level(Skill::new(
                    "en",
                ))],
                max_wait: None,
                at: self.now,
            },
        );
        call
    }

    fn drain(&mut self) -> Option<Output> {
        let mut offer = None;
        while let Some(out) = self.acd.poll_output() {
            if matches!(out, Output::Offer { .. }) {
                offer = Some(out);
            }
        }
        while self.acd.poll_event().is_some() {}
        offer
    }

    /// Answers the caller's offer and connects it.
    fn take(&mut self, call: CallRef) {
        if let Some(Output::Offer { offer, .. }) = self.drain() {
            self.acd.handle(
                self.now,
                Input::OfferResult {
                    offer,
                    result: OfferResult::Answered,
                    at: self.now,
                },
            );
            self.acd
                .handle(self.now, Input::Connected { call, at: self.now });
            self.drain();
        }
    }

    /// One decision: a caller of q-00 joins and is offered to the free agent; then the call
    /// is taken and ended so the agent is free again.
    fn decide(&mut self) {
        self.now += Duration::from_millis(1);
        let call = self.enqueue("q-00");
        let offer = self.drain();
        let Some(Output::Offer { offer, .. }) = black_box(offer) else {
            panic!("no offer: the picture is wrong");
        };
        self.acd.handle(
            self.now,
            Input::OfferResult {
                offer,
                result: OfferResult::Answered,
                at: self.now,
            },
        );
        self.acd
            .handle(self.now, Input::Connected { call, at: self.now });
        self.acd
            .handle(self.now, Input::CallEnded { call, at: self.now });
        self.drain();
    }
}

fn routing(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = c.benchmark_group("acd");
    let mut free = Bench::new(false);
    group.bench_function("enqueue to offer and back, 500 agents free", |b| {
        b.iter(|| free.decide());
    });
    let mut busy = Bench::new(true);
    group.bench_function(
        "enqueue to offer and back, 1 agent free, 200 waiting",
        |b| {
            b.iter(|| busy.decide());
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::thread_cpu_config();
    targets = routing
}
criterion_main!(benches);
