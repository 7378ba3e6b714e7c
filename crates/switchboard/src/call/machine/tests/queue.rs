//! Queue calls: what the ACD is told and when, offers ringing agents' phones, ring-all with
//! the first answer winning, offers that ring out or are refused, overflow back into the
//! dialplan, exit keys, abandons, announcements, and offers that cross a caller leaving.

use std::time::Duration;

use switchboard_acd::config::Level;
use switchboard_acd::io::{LeaveReason, OfferResult};
use switchboard_acd::{
    AgentId, Input as AcdInput, OfferId, Output, OverflowReason, QueueId, Skill,
};
use switchboard_sip::ua::{HangupCause, LegEvent};

use super::*;
use crate::call::machine::Command;
use crate::protocol::{Disposition, HangupSide};

/// A caller through the menu (1: English) into `support-en`, 10 s after the call began.
fn queued() -> Harness {
    let mut h = Harness::new(ivr_route(), trunk());
    let out = h.drain();
    let welcome = plays(&out)[0].0;
    h.advance(Duration::from_secs(5));
    let leg = h.caller_media();
    let out = h.media(MediaEvent::PlaybackDone { leg, id: welcome });
    assert_eq!(plays(&out).len(), 1);
    h.advance(Duration::from_secs(5));
    let out = h.key('1');
    let caller = h.caller_media();
    assert!(
        media(&out)
            .iter()
            .any(|m| matches!(m, MediaCommand::Moh { leg } if *leg == caller)),
        "music while waiting"
    );
    let joined = acd(&out);
    let AcdInput::Enqueue {
        call,
        queue,
        priority,
        skills,
        max_wait,
        at,
    } = &joined[0]
    else {
        panic!("the ACD hears the caller join: {joined:?}")
    };
    assert_eq!(*call, CALL);
    assert_eq!(*queue, QueueId::new("support-en"));
    assert_eq!(*priority, 2);
    assert_eq!(skills[0].skill, Skill::new("en"));
    assert_eq!(skills[0].min_level, Level::MIN);
    assert_eq!(skills[1].skill, Skill::new("vip"));
    assert_eq!(skills[1].min_level, Level::new(50));
    assert_eq!(*max_wait, None);
    assert_eq!(*at, h.t0 + Duration::from_secs(10));
    h
}

fn offer(h: &mut Harness, id: u64, agent: &str) -> Vec<Command> {
    h.acd(Output::Offer {
        offer: OfferId(id),
        call: CALL,
        queue: QueueId::new("support-en"),
        agent: AgentId::new(agent),
        ring_timeout: Duration::from_secs(15),
    })
}

fn results(h: &Harness) -> Vec<(u64, OfferResult)> {
    h.log
        .iter()
        .filter_map(|(_, c)| match c {
            Command::Acd(AcdInput::OfferResult { offer, result, .. }) => Some((offer.0, *result)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_offer_rings_the_agents_phones_and_its_answer_connects_and_is_recorded() {
    let mut h = queued();
    h.advance(Duration::from_secs(8));
    offer(&mut h, 1, "1001");
    let legs = h.legs_to("1001");
    assert_eq!(legs.len(), 2, "every phone of the agent rings");
    h.advance(Duration::from_secs(4));
    let out = h.leg(LegEvent::Answered {
        leg: legs[0],
        sdp: Some(sdp(30000)),
    });
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Hangup { leg } if *leg == legs[1])
    ));
    let inputs = acd(&out);
    assert!(
        matches!(
            inputs.as_slice(),
            [
                AcdInput::OfferResult {
                    offer: OfferId(1),
                    result: OfferResult::Answered,
                    ..
                },
                AcdInput::Connected { call: CALL, .. }
            ]
        ),
        "{inputs:?}"
    );
    assert!(media(&out).iter().any(|m| matches!(m, MediaCommand::StartRecording { path, .. } if path.display().to_string() == "rec/abc@caller-1001.wav")));
    h.advance(Duration::from_secs(90));
    let out = h.leg(bye(CALLER));
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Hangup { leg } if *leg == legs[0])
    ));
    assert!(
        acd(&out)
            .iter()
            .any(|i| matches!(i, AcdInput::CallEnded { call: CALL, at } if *at == h.now))
    );
    let rec = h.record();
    assert_eq!(rec.disposition, Some(Disposition::Answered));
    assert_eq!(rec.hangup_side, Some(HangupSide::Caller));
    assert_eq!(rec.queue.as_deref(), Some("support-en"));
    assert_eq!(rec.agent.as_deref(), Some("1001"));
    assert_eq!(rec.wait, Some(Duration::from_secs(12)));
    assert_eq!(rec.talk, Some(Duration::from_secs(90)));
    assert_eq!(rec.language.as_deref(), Some("en"));
    assert_eq!(rec.ivr_path, "main[1] > queue");
}

#[test]
fn ring_all_the_first_agent_to_answer_wins_and_the_others_are_cancelled() {
    let mut h = queued();
    offer(&mut h, 1, "1001");
    offer(&mut h, 2, "1002");
    let (a, b) = (h.legs_to("1001"), h.legs_to("1002"));
    assert_eq!((a.len(), b.len()), (2, 1));
    let out = h.leg(LegEvent::Answered {
        leg: b[0],
        sdp: Some(sdp(30000)),
    });
    for leg in &a {
        assert!(sip(
            &out,
            |c| matches!(c, CallCommand::Hangup { leg: l } if l == leg)
        ));
    }
    assert_eq!(
        results(&h),
        [(1, OfferResult::Cancelled), (2, OfferResult::Answered)]
    );
    // A 200 of a cancelled fork that crossed our CANCEL is not wanted.
    let out = h.leg(LegEvent::Answered {
        leg: a[0],
        sdp: Some(sdp(30002)),
    });
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Hangup { leg } if *leg == a[0])
    ));
    assert_eq!(results(&h).len(), 2, "every offer is reported once");
    // The agent hangs up: the caller is hung up, the ACD hears the end.
    let out = h.leg(bye(b[0]));
    assert!(
        acd(&out)
            .iter()
            .any(|i| matches!(i, AcdInput::CallEnded { .. }))
    );
    assert!(sip(&out, |c| matches!(
        c,
        CallCommand::Hangup { leg: CALLER }
    )));
    assert_eq!(h.record().hangup_side, Some(HangupSide::Callee));
}

#[test]
fn an_offer_that_rings_out_is_reported_and_the_caller_keeps_waiting() {
    let mut h = queued();
    offer(&mut h, 1, "1001");
    let out = h.advance(Duration::from_secs(15));
    for leg in h.legs_to("1001") {
        assert!(sip(
            &out,
            |c| matches!(c, CallCommand::Hangup { leg: l } if *l == leg)
        ));
    }
    assert_eq!(results(&h), [(1, OfferResult::NoAnswer)]);
    assert!(!h.m.is_finished());
    assert!(
        !media(&out)
            .iter()
            .any(|m| matches!(m, MediaCommand::StopPlay { .. })),
        "the music goes on"
    );
    // The next offer reuses the callee media leg: no new port.
    let before = h.media_legs.len();
    offer(&mut h, 2, "1002");
    assert_eq!(h.media_legs.len(), before);
}

#[test]
fn refusals_unreachable_phones_and_unusable_answers_are_told_apart() {
    let mut h = queued();
    offer(&mut h, 1, "1002");
    let leg = h.legs_to("1002")[0];
    h.leg(LegEvent::Hangup {
        leg,
        cause: HangupCause::Rejected(603),
    });
    h.contacts.insert("1002".into(), Vec::new());
    offer(&mut h, 2, "1002");
    h.contacts
        .insert("1002".into(), vec![contact("1002", 5073)]);
    offer(&mut h, 3, "1002");
    let leg = *h.legs_to("1002").last().unwrap();
    let out = h.leg(LegEvent::Answered {
        leg,
        sdp: Some(bytes::Bytes::from_static(b"v=0\r\nnot sdp")),
    });
    assert!(
        sip(
            &out,
            |c| matches!(c, CallCommand::Hangup { leg: l } if *l == leg)
        ),
        "an answer we cannot use is hung up"
    );
    assert_eq!(
        results(&h),
        [
            (1, OfferResult::Declined(603)),
            (2, OfferResult::Unreachable),
            (3, OfferResult::Declined(488)),
        ]
    );
    assert!(!h.m.is_finished(), "the caller waits on");
}

#[test]
fn an_overflow_takes_the_dialplans_branch_and_is_the_disposition() {
    let mut h = queued();
    h.advance(Duration::from_secs(300));
    let out = h.acd(Output::Overflow {
        call: CALL,
        reason: OverflowReason::MaxWait,
    });
    let caller = h.caller_media();
    assert!(
        media(&out)
            .iter()
            .any(|m| matches!(m, MediaCommand::StopPlay { leg } if *leg == caller))
    );
    let played = plays(&out);
    assert_eq!(played[0].1, ["/sounds/en/sorry.wav"]);
    done_playing(&mut h, played[0].0);
    let rec = h.record();
    assert_eq!(
        rec.hangup_cause.as_deref(),
        Some("dialplan:overflow-max-wait")
    );
    assert_eq!(rec.disposition, Some(Disposition::Overflow));
    assert_eq!(rec.wait, Some(Duration::from_secs(300)));
}

fn done_playing(h: &mut Harness, id: u64) -> Vec<Command> {
    let leg = h.caller_media();
    h.media(MediaEvent::PlaybackDone { leg, id })
}

#[test]
fn an_exit_key_leaves_the_queue_at_once() {
    let mut h = queued();
    offer(&mut h, 1, "1001");
    h.advance(Duration::from_secs(3));
    let out = h.key('9');
    let inputs = acd(&out);
    assert!(
        matches!(
            inputs.first(),
            Some(AcdInput::Leave {
                reason: LeaveReason::Key('9'),
                ..
            })
        ),
        "the ACD hears the leave first: {inputs:?}"
    );
    assert_eq!(results(&h), [(1, OfferResult::Cancelled)]);
    let played = plays(&out);
    assert_eq!(played[0].1, ["/sounds/en/sorry.wav"]);
    done_playing(&mut h, played[0].0);
    assert_eq!(
        h.record().hangup_cause.as_deref(),
        Some("dialplan:overflow-key")
    );
    // Other keys do nothing while waiting.
    let mut h = queued();
    let out = h.key('5');
    assert!(acd(&out).is_empty());
}

#[test]
fn a_caller_who_hangs_up_while_queued_abandons_with_its_wait() {
    let mut h = queued();
    h.advance(Duration::from_secs(30));
    offer(&mut h, 1, "1001");
    h.advance(Duration::from_secs(12));
    let out = h.leg(bye(CALLER));
    let inputs = acd(&out);
    assert!(
        matches!(inputs.first(), Some(AcdInput::Leave { reason: LeaveReason::Hangup, at, .. }) if *at == h.now),
        "{inputs:?}"
    );
    for leg in h.legs_to("1001") {
        assert!(sip(
            &out,
            |c| matches!(c, CallCommand::Hangup { leg: l } if *l == leg)
        ));
    }
    let rec = h.record();
    assert_eq!(rec.disposition, Some(Disposition::Abandoned));
    assert_eq!(rec.wait, Some(Duration::from_secs(42)));
    assert_eq!(rec.queue.as_deref(), Some("support-en"));
}

#[test]
fn announcements_say_position_and_wait_in_the_callers_language_then_music() {
    let mut h = queued();
    let out = h.acd(Output::Announce {
        call: CALL,
        position: 3,
        expected_wait: Some(Duration::from_secs(230)),
    });
    let played = plays(&out);
    assert_eq!(
        played[0].1,
        [
            "/sounds/en/queue-position.wav",
            "/sounds/en/say/3.wav",
            "/sounds/en/queue-wait.wav",
            "/sounds/en/say/4.wav",
            "/sounds/en/queue-minutes.wav",
        ]
    );
    let out = done_playing(&mut h, played[0].0);
    let caller = h.caller_media();
    assert!(
        media(&out)
            .iter()
            .any(|m| matches!(m, MediaCommand::Moh { leg } if *leg == caller))
    );
    let out = h.acd(Output::Announce {
        call: CALL,
        position: 1,
        expected_wait: Some(Duration::from_secs(40)),
    });
    assert_eq!(
        plays(&out)[0].1,
        [
            "/sounds/en/queue-position.wav",
            "/sounds/en/say/1.wav",
            "/sounds/en/queue-wait-short.wav",
        ]
    );
}

#[test]
fn an_offer_that_crosses_the_caller_leaving_is_given_back() {
    let mut h = queued();
    let out = h.key('9');
    let played = plays(&out);
    offer(&mut h, 7, "1001");
    assert!(
        h.legs_to("1001").is_empty(),
        "no phone rings for a caller who left"
    );
    assert_eq!(results(&h), [(7, OfferResult::Cancelled)]);
    done_playing(&mut h, played[0].0);
    assert!(h.m.is_finished());
}

#[test]
fn the_acd_cancelling_an_offer_stops_its_phones_only() {
    let mut h = queued();
    offer(&mut h, 1, "1001");
    offer(&mut h, 2, "1002");
    let out = h.acd(Output::CancelOffer {
        offer: OfferId(1),
        call: CALL,
        agent: AgentId::new("1001"),
    });
    for leg in h.legs_to("1001") {
        assert!(sip(
            &out,
            |c| matches!(c, CallCommand::Hangup { leg: l } if *l == leg)
        ));
    }
    assert!(!sip(
        &out,
        |c| matches!(c, CallCommand::Hangup { leg } if *leg == h.legs_to("1002")[0])
    ));
    assert_eq!(results(&h), [(1, OfferResult::Cancelled)]);
}
