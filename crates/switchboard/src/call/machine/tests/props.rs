//! Random calls: any sequence of what peers, the ACD, the media worker and the clock can do,
//! fed to the machine (direct calls and dialplan calls, legal or not), never panics, and when
//! the call is over:
//! * `Finish` came exactly once, last, and nothing after it;
//! * every outbound leg ended (hung up by us, or by its peer);
//! * the caller's leg got one final answer, never a rejection after a 200;
//! * every ACD offer the call was given got exactly one result;
//! * every agent the call held busy was released;
//! * a caller who joined a queue left it, overflowed, or was connected and its end reported;
//! * the record's times fit in the call.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use switchboard_acd::{AgentId, Input as AcdInput, OfferId, Output, OverflowReason, QueueId};
use switchboard_sip::ua::{HangupCause, LegEvent};

use super::*;
use crate::call::machine::Command;

#[derive(Debug, Clone)]
enum Step {
    Wait(u64),
    Key(char),
    PlayDone,
    CallerBye,
    /// An event on the n-th outbound leg (modulo how many there are).
    Callee(usize, CalleeStep),
    Offer(u8),
    CancelOffer(u8),
    Overflow,
    Announce,
    Claim(bool),
    Command(bool),
    MediaTimeout,
    RecordDone,
    Reinvite(bool),
}

#[derive(Debug, Clone, Copy)]
enum CalleeStep {
    Ringing,
    EarlyMedia,
    Answer,
    BadAnswer,
    Reject(u16),
    Bye,
}

fn step() -> impl Strategy<Value = Step> {
    let callee = prop_oneof![
        1 => Just(CalleeStep::Ringing),
        1 => Just(CalleeStep::EarlyMedia),
        3 => Just(CalleeStep::Answer),
        1 => Just(CalleeStep::BadAnswer),
        1 => prop_oneof![Just(486_u16), Just(603), Just(480), Just(404)].prop_map(CalleeStep::Reject),
        2 => Just(CalleeStep::Bye),
    ];
    prop_oneof![
        3 => (0_u64..20_000).prop_map(Step::Wait),
        3 => prop_oneof![Just('1'), Just('2'), Just('3'), Just('9'), Just('5')].prop_map(Step::Key),
        3 => Just(Step::PlayDone),
        1 => Just(Step::CallerBye),
        6 => ((0_usize..4), callee).prop_map(|(i, s)| Step::Callee(i, s)),
        3 => (0_u8..3).prop_map(Step::Offer),
        1 => (0_u8..6).prop_map(Step::CancelOffer),
        1 => Just(Step::Overflow),
        1 => Just(Step::Announce),
        2 => any::<bool>().prop_map(Step::Claim),
        1 => any::<bool>().prop_map(Step::Command),
        1 => Just(Step::MediaTimeout),
        1 => Just(Step::RecordDone),
        1 => any::<bool>().prop_map(Step::Reinvite),
    ]
}

fn start() -> impl Strategy<Value = (u8, bool)> {
    ((0_u8..4), any::<bool>())
}

/// What the environment remembers to check the invariants against.
#[derive(Default)]
struct Seen {
    offers_given: BTreeSet<u64>,
    next_offer: u64,
    /// Where in the command log each overflow was fed.
    overflows: Vec<usize>,
}

fn run(kind: u8, late_offer: bool, steps: &[Step]) {
    let route = match kind {
        0 => Route::Extension {
            extension: "1001".into(),
            targets: vec![contact("1001", 5071), contact("1001", 5072)],
        },
        3 => feature(AgentCommand::Login),
        _ => ivr_route(),
    };
    let caller = if kind == 3 { agent("1001") } else { trunk() };
    let offer = (!late_offer).then(|| sdp(40000));
    let mut h = Harness::with_offer(route, caller, offer);
    h.drain();
    let mut seen = Seen {
        next_offer: 1,
        ..Seen::default()
    };
    for step in steps {
        if h.m.is_finished() {
            break;
        }
        apply(&mut h, &mut seen, step);
    }
    // The caller always ends up hanging up, if nothing else ended the call.
    if !h.m.is_finished() {
        h.leg(bye(CALLER));
    }
    if !h.m.is_finished() {
        // A caller that never got a final answer can only CANCEL.
        h.leg(LegEvent::Hangup {
            leg: CALLER,
            cause: HangupCause::Cancelled,
        });
    }
    assert!(
        h.m.is_finished(),
        "the caller left and the call is not over"
    );
    check(&h, &seen);
}

fn apply(h: &mut Harness, seen: &mut Seen, step: &Step) {
    let caller_media = h.media_legs.first().copied().unwrap_or(MediaLegId(0));
    match step {
        Step::Wait(ms) => {
            h.advance(Duration::from_millis(*ms));
        }
        Step::Key(k) => {
            h.key(*k);
        }
        Step::PlayDone => {
            let last = h.log.iter().rev().find_map(|(_, c)| match c {
                Command::Play { id, .. } | Command::PlayBeep { id, .. } => Some(*id),
                _ => None,
            });
            if let Some(id) = last {
                h.media(MediaEvent::PlaybackDone {
                    leg: caller_media,
                    id,
                });
            }
        }
        Step::CallerBye => {
            h.leg(bye(CALLER));
        }
        Step::Callee(i, s) => {
            if h.invited.is_empty() {
                return;
            }
            let leg = h.invited[i % h.invited.len()].0;
            let event = match s {
                CalleeStep::Ringing => LegEvent::Ringing {
                    leg,
                    code: 180,
                    sdp: None,
                },
                CalleeStep::EarlyMedia => LegEvent::Ringing {
                    leg,
                    code: 183,
                    sdp: Some(sdp(30000)),
                },
                CalleeStep::Answer => LegEvent::Answered {
                    leg,
                    sdp: Some(sdp(30000)),
                },
                CalleeStep::BadAnswer => LegEvent::Answered {
                    leg,
                    sdp: Some(bytes::Bytes::from_static(b"v=0\r\n")),
                },
                CalleeStep::Reject(code) => LegEvent::Hangup {
                    leg,
                    cause: HangupCause::Rejected(*code),
                },
                CalleeStep::Bye => bye(leg),
            };
            h.leg(event);
        }
        Step::Offer(agent) => {
            let id = seen.next_offer;
            seen.next_offer += 1;
            seen.offers_given.insert(id);
            h.acd(Output::Offer {
                offer: OfferId(id),
                call: CALL,
                queue: QueueId::new("support-en"),
                agent: AgentId::new(["1001", "1002", "1003"][usize::from(*agent)]),
                ring_timeout: Duration::from_secs(15),
            });
        }
        Step::CancelOffer(n) => {
            let id = u64::from(*n) + 1;
            h.acd(Output::CancelOffer {
                offer: OfferId(id),
                call: CALL,
                agent: AgentId::new("1001"),
            });
        }
        Step::Overflow => {
            seen.overflows.push(h.log.len());
            h.acd(Output::Overflow {
                call: CALL,
                reason: OverflowReason::MaxWait,
            });
        }
        Step::Announce => {
            h.acd(Output::Announce {
                call: CALL,
                position: 2,
                expected_wait: Some(Duration::from_secs(90)),
            });
        }
        Step::Claim(granted) => {
            h.acd(Output::ClaimResult {
                call: CALL,
                agent: AgentId::new("1001"),
                granted: *granted,
            });
        }
        Step::Command(ok) => {
            h.acd(Output::AgentCommandDone {
                call: CALL,
                agent: AgentId::new("1001"),
                result: if *ok {
                    Ok(switchboard_acd::StateKind::Ready)
                } else {
                    Err(switchboard_acd::AgentError::InvalidTransition {
                        state: switchboard_acd::StateKind::OnCall,
                        action: switchboard_acd::agent::Action::Login,
                    })
                },
            });
        }
        Step::MediaTimeout => {
            h.media(MediaEvent::Timeout {
                leg: caller_media,
                silent_for: Duration::from_secs(30),
            });
        }
        Step::RecordDone => {
            h.media(MediaEvent::RecordDone {
                leg: caller_media,
                duration: Duration::from_secs(3),
                reached_max: false,
            });
        }
        Step::Reinvite(hold) => {
            let body = if *hold {
                sdp_with(40000, "a=sendonly")
            } else {
                sdp(40000)
            };
            h.leg(LegEvent::Reinvite {
                leg: CALLER,
                sdp: Some(body),
            });
        }
    }
}

fn check(h: &Harness, seen: &Seen) {
    let commands: Vec<&Command> = h.log.iter().map(|(_, c)| c).collect();
    let finishes = commands
        .iter()
        .filter(|c| matches!(c, Command::Finish(_)))
        .count();
    assert_eq!(finishes, 1, "Finish exactly once");
    assert!(
        matches!(commands.last(), Some(Command::Finish(_))),
        "Finish last"
    );

    // Every outbound leg ended: by us, or by its peer.
    let by_us: BTreeSet<LegId> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Sip(CallCommand::Hangup { leg }) => Some(*leg),
            _ => None,
        })
        .collect();
    for (leg, _) in &h.invited {
        assert!(
            by_us.contains(leg) || h.peer_ended.contains(leg),
            "leg {leg} left up"
        );
    }

    // The caller: at most one 200, never a rejection after it.
    let answers = commands
        .iter()
        .filter(|c| matches!(c, Command::Sip(CallCommand::Answer { leg, .. }) if *leg == CALLER))
        .count();
    let rejections = commands
        .iter()
        .filter(|c| matches!(c, Command::Sip(CallCommand::Reject { leg, .. }) if *leg == CALLER))
        .count();
    assert!(
        answers + rejections <= 1,
        "{answers} answers, {rejections} rejections"
    );

    // Offers: exactly one result each.
    let mut results: BTreeMap<u64, usize> = BTreeMap::new();
    for c in &commands {
        if let Command::Acd(AcdInput::OfferResult { offer, .. }) = c {
            *results.entry(offer.0).or_default() += 1;
        }
    }
    for offer in &seen.offers_given {
        assert_eq!(
            results.get(offer).copied().unwrap_or(0),
            1,
            "offer {offer} results: {results:?}"
        );
    }

    // Claims: each released once.
    let mut held: BTreeMap<String, i32> = BTreeMap::new();
    for c in &commands {
        match c {
            Command::Acd(AcdInput::Claim { agent, .. }) => {
                *held.entry(agent.to_string()).or_default() += 1;
            }
            Command::Acd(AcdInput::Release { agent, .. }) => {
                *held.entry(agent.to_string()).or_default() -= 1;
            }
            _ => {}
        }
    }
    assert!(
        held.values().all(|n| *n == 0),
        "claims not released: {held:?}"
    );

    // Queue visits: each one left, overflowed while queued, or connected and its end told.
    let connected = commands
        .iter()
        .filter(|c| matches!(c, Command::Acd(AcdInput::Connected { .. })))
        .count();
    let ended_calls = commands
        .iter()
        .filter(|c| matches!(c, Command::Acd(AcdInput::CallEnded { .. })))
        .count();
    assert_eq!(connected, ended_calls, "every connected call's end is told");
    let joins: Vec<usize> = commands
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c, Command::Acd(AcdInput::Enqueue { .. })))
        .map(|(i, _)| i)
        .collect();
    for (n, &from) in joins.iter().enumerate() {
        let to = joins.get(n + 1).copied().unwrap_or(commands.len());
        let closed = commands[from..to].iter().any(|c| {
            matches!(
                c,
                Command::Acd(AcdInput::Leave { .. } | AcdInput::Connected { .. })
            )
        }) || seen.overflows.iter().any(|&at| at > from && at <= to);
        assert!(closed, "the visit joined at command {from} was left open");
    }

    // The record's times fit in the call.
    let record = h.record();
    let span = record.ended.expect("ended") - record.started;
    assert!(record.talk.unwrap_or_default() <= span);
    assert!(record.wait.unwrap_or_default() <= span);
    assert!(record.disposition.is_some() && record.hangup_side.is_some());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_sequence_ends_cleanly((kind, late) in start(), steps in prop::collection::vec(step(), 0..60)) {
        run(kind, late, &steps);
    }
}
