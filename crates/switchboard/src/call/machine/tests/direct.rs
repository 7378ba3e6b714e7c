//! Direct calls to an agent's extension: the ACD's word, forking, progress and early media,
//! the first answer winning, hold, tear-down from either side, and what the record says.

use std::time::Duration;

use switchboard_acd::io::ClaimKind;
use switchboard_acd::{AgentId, Input as AcdInput, Output};
use switchboard_sip::ua::{HangupCause, LegEvent};

use super::*;
use crate::call::machine::Command;
use crate::protocol::{Disposition, HangupSide, LegRole};

fn direct() -> Route {
    Route::Extension {
        extension: "1001".into(),
        targets: vec![contact("1001", 5071), contact("1001", 5072)],
    }
}

/// A direct call whose agent the ACD granted; returns the harness with both forks ringing.
fn ringing(caller: Caller) -> Harness {
    let mut h = Harness::new(direct(), caller);
    let first = h.drain();
    assert!(
        matches!(first.first(), Some(Command::RecordStarted(r)) if r.call == CALL),
        "the record is started first: {first:?}"
    );
    let claims = acd(&first);
    assert!(
        claims.iter().any(|i| matches!(i, AcdInput::Claim { agent, kind: ClaimKind::Callee, .. } if agent.as_str() == "1001")),
        "the agent is claimed before it rings: {claims:?}"
    );
    assert!(h.invited.is_empty(), "nothing rings before the ACD says so");
    h.acd(Output::ClaimResult {
        call: CALL,
        agent: AgentId::new("1001"),
        granted: true,
    });
    assert_eq!(h.legs_to("1001").len(), 2, "both phones of the agent ring");
    h
}

#[test]
fn a_direct_call_rings_every_phone_and_the_first_answer_wins() {
    let mut h = ringing(trunk());
    let [a, b] = h.legs_to("1001")[..] else {
        panic!("two forks")
    };
    // 180 from one phone: the caller hears it once.
    let out = h.leg(LegEvent::Ringing {
        leg: a,
        code: 180,
        sdp: None,
    });
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Progress { leg, code: 180, sdp: None } if *leg == CALLER)
    ));
    let out = h.leg(LegEvent::Ringing {
        leg: b,
        code: 180,
        sdp: None,
    });
    assert!(out.is_empty(), "progress is relayed once: {out:?}");

    h.advance(Duration::from_secs(3));
    let out = h.leg(LegEvent::Answered {
        leg: b,
        sdp: Some(sdp(30000)),
    });
    assert!(
        sip(
            &out,
            |c| matches!(c, CallCommand::Hangup { leg } if *leg == a)
        ),
        "the other fork is cancelled"
    );
    assert!(
        sip(
            &out,
            |c| matches!(c, CallCommand::Answer { leg, sdp: Some(_) } if *leg == CALLER)
        ),
        "the caller is answered when the agent is"
    );
    let caller = h.caller_media();
    assert!(
        media(&out)
            .iter()
            .any(|m| matches!(m, MediaCommand::Bridge { a, .. } if *a == caller))
    );
    assert!(media(&out).iter().any(|m| matches!(m, MediaCommand::StartRecording { path, .. } if path.display().to_string() == "rec/abc@caller-1001.wav")));

    h.advance(Duration::from_secs(60));
    let out = h.leg(bye(b));
    assert!(
        sip(
            &out,
            |c| matches!(c, CallCommand::Hangup { leg } if *leg == CALLER)
        ),
        "the caller is hung up after the agent"
    );
    assert!(
        acd(&out)
            .iter()
            .any(|i| matches!(i, AcdInput::Release { agent, .. } if agent.as_str() == "1001")),
        "the agent is released"
    );
    assert!(
        matches!(out.last(), Some(Command::Finish(_))),
        "Finish is last"
    );
    assert!(h.m.is_finished());

    let rec = h.record();
    assert_eq!(rec.disposition, Some(Disposition::Answered));
    assert_eq!(rec.hangup_side, Some(HangupSide::Callee));
    assert_eq!(rec.talk, Some(Duration::from_secs(60)));
    assert_eq!(rec.agent.as_deref(), Some("1001"));
    assert_eq!(rec.answered, Some(h.t0 + Duration::from_secs(3)));
    assert_eq!(rec.ended, Some(h.t0 + Duration::from_secs(63)));
    let roles: Vec<LegRole> = rec.legs.iter().map(|l| l.role).collect();
    assert_eq!(roles, [LegRole::Caller, LegRole::Callee, LegRole::Callee]);
    assert!(
        rec.legs
            .iter()
            .any(|l| l.answered.is_some() && l.cause == "remote-bye")
    );
    assert!(
        rec.legs
            .iter()
            .any(|l| l.answered.is_none() && l.cause == "local")
    );
}

#[test]
fn a_busy_agent_gets_no_call_and_the_caller_hears_486() {
    let mut h = Harness::new(direct(), trunk());
    h.drain();
    let out = h.acd(Output::ClaimResult {
        call: CALL,
        agent: AgentId::new("1001"),
        granted: false,
    });
    assert!(h.invited.is_empty());
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Reject { leg, code: 486 } if *leg == CALLER)
    ));
    assert_eq!(
        acd(&out)
            .iter()
            .filter(|i| matches!(i, AcdInput::Release { call: CALL, .. }))
            .count(),
        1,
        "every claim is released, refused or not (the ACD ignores what it did not grant)"
    );
    assert_eq!(h.record().disposition, Some(Disposition::Failed));
}

#[test]
fn a_caller_who_cancels_while_it_rings_abandons_and_every_fork_is_cancelled() {
    let mut h = ringing(trunk());
    h.advance(Duration::from_secs(7));
    let out = h.leg(LegEvent::Hangup {
        leg: CALLER,
        cause: HangupCause::Cancelled,
    });
    for leg in h.legs_to("1001") {
        assert!(sip(
            &out,
            |c| matches!(c, CallCommand::Hangup { leg: l } if *l == leg)
        ));
    }
    assert!(
        !sip(&out, |c| matches!(
            c,
            CallCommand::Reject { .. } | CallCommand::Hangup { leg: CALLER }
        )),
        "nothing more to the caller who left"
    );
    let rec = h.record();
    assert_eq!(rec.disposition, Some(Disposition::Abandoned));
    assert_eq!(rec.hangup_side, Some(HangupSide::Caller));
    assert_eq!(rec.legs[0].cause, "cancelled");
}

#[test]
fn nobody_answering_in_a_minute_is_480_and_busy_phones_are_486() {
    let mut h = ringing(trunk());
    let out = h.advance(Duration::from_secs(59));
    assert!(out.is_empty());
    let out = h.advance(Duration::from_secs(1));
    assert_eq!(h.legs_to("1001").len(), 2);
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Reject { leg, code: 480 } if *leg == CALLER)
    ));

    let mut h = ringing(trunk());
    for leg in h.legs_to("1001") {
        h.leg(LegEvent::Hangup {
            leg,
            cause: HangupCause::Rejected(486),
        });
    }
    assert!(
        h.log
            .iter()
            .any(|(_, c)| matches!(c, Command::Sip(CallCommand::Reject { code: 486, .. })))
    );
}

#[test]
fn early_media_is_answered_in_a_183_and_bridged() {
    let mut h = ringing(trunk());
    let a = h.legs_to("1001")[0];
    let out = h.leg(LegEvent::Ringing {
        leg: a,
        code: 183,
        sdp: Some(sdp(30000)),
    });
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Progress { leg, code: 183, sdp: Some(_) } if *leg == CALLER)
    ));
    assert!(
        media(&out)
            .iter()
            .any(|m| matches!(m, MediaCommand::Bridge { .. }))
    );
    // The 200 repeats the answer the 183 gave.
    let out = h.leg(LegEvent::Answered { leg: a, sdp: None });
    let early = h.log.iter().find_map(|(_, c)| match c {
        Command::Sip(CallCommand::Progress { sdp: Some(s), .. }) => Some(s.clone()),
        _ => None,
    });
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Answer { sdp, .. } if *sdp == early)
    ));
}

#[test]
fn hold_is_answered_on_the_leg_that_asked_and_the_other_is_untouched() {
    let mut h = ringing(trunk());
    let a = h.legs_to("1001")[0];
    h.leg(LegEvent::Answered {
        leg: a,
        sdp: Some(sdp(30000)),
    });
    let out = h.leg(LegEvent::Reinvite {
        leg: CALLER,
        sdp: Some(sdp_with(40000, "a=sendonly")),
    });
    let answer = out.iter().find_map(|c| match c {
        Command::Sip(CallCommand::AnswerReinvite {
            leg,
            code: 200,
            sdp: Some(s),
        }) if *leg == CALLER => Some(s.clone()),
        _ => None,
    });
    let answer = String::from_utf8_lossy(&answer.expect("200 to the re-INVITE")).into_owned();
    assert!(answer.contains("a=recvonly"), "{answer}");
    assert!(media(&out).iter().any(
        |m| matches!(m, MediaCommand::SetRemote { remote, .. } if !remote.send && remote.recv)
    ));
    assert!(!sip(
        &out,
        |c| matches!(c, CallCommand::AnswerReinvite { leg, .. } if *leg == a)
    ));
    // A re-INVITE on a leg that is gone: 481.
    let out = h.leg(LegEvent::Reinvite {
        leg: LegId(9999),
        sdp: None,
    });
    assert!(sip(&out, |c| matches!(
        c,
        CallCommand::AnswerReinvite { code: 481, .. }
    )));
}

#[test]
fn an_agent_calling_is_claimed_as_the_caller_and_released_at_the_end() {
    let mut h = Harness::new(direct(), agent("1002"));
    let out = h.drain();
    assert!(acd(&out).iter().any(|i| matches!(i, AcdInput::Claim { agent, kind: ClaimKind::Caller, .. } if agent.as_str() == "1002")));
    h.acd(Output::ClaimResult {
        call: CALL,
        agent: AgentId::new("1001"),
        granted: true,
    });
    let out = h.leg(bye(CALLER));
    let released: Vec<String> = acd(&out)
        .iter()
        .filter_map(|i| match i {
            AcdInput::Release { agent, .. } => Some(agent.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(released.len(), 2, "{released:?}");
}

#[test]
fn no_rtp_port_refuses_the_call_with_503() {
    let mut h = Harness::new(direct(), trunk());
    h.no_ports = true;
    let out = h.drain();
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Reject { leg, code: 503 } if *leg == CALLER)
    ));
    assert!(h.m.is_finished());
    assert_eq!(h.record().disposition, Some(Disposition::Failed));
}

#[test]
fn a_media_timeout_while_talking_ends_both_legs() {
    let mut h = ringing(trunk());
    let a = h.legs_to("1001")[0];
    h.leg(LegEvent::Answered {
        leg: a,
        sdp: Some(sdp(30000)),
    });
    h.advance(Duration::from_secs(30));
    let leg = h.caller_media();
    let out = h.media(MediaEvent::Timeout {
        leg,
        silent_for: Duration::from_secs(30),
    });
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Hangup { leg } if *leg == a)
    ));
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Hangup { leg } if *leg == CALLER)
    ));
    let rec = h.record();
    assert_eq!(rec.hangup_cause.as_deref(), Some("media-timeout"));
    assert_eq!(rec.talk, Some(Duration::from_secs(30)), "talk counted once");
}

#[test]
fn each_leg_tells_the_media_where_its_signalling_comes_from() {
    // The agent's phone is registered from another host than the caller's trunk: each media
    // leg is told its own leg's signalling IP (the caller's INVITE source; the address the
    // callee's INVITE went to), which alone may vouch for its SDP address.
    let phone = std::net::IpAddr::from([192, 0, 2, 7]);
    let mut target = contact("1001", 5071);
    target.dest.addr = SocketAddr::new(phone, 5071);
    let route = Route::Extension {
        extension: "1001".into(),
        targets: vec![target],
    };
    let mut h = Harness::new(route, trunk());
    h.drain();
    h.acd(Output::ClaimResult {
        call: CALL,
        agent: AgentId::new("1001"),
        granted: true,
    });
    let [fork] = h.legs_to("1001")[..] else {
        panic!("one fork")
    };
    let out = h.leg(LegEvent::Answered {
        leg: fork,
        sdp: Some(sdp(30000)),
    });
    let signalling: Vec<_> = media(&out)
        .iter()
        .filter_map(|m| match m {
            MediaCommand::SetRemote { remote, .. } => Some((remote.rtp.port(), remote.signalling)),
            _ => None,
        })
        .collect();
    assert!(
        signalling.contains(&(30000, Some(phone))),
        "the callee's leg: {signalling:?}"
    );
    assert!(
        signalling.contains(&(40000, Some(std::net::IpAddr::from([127, 0, 0, 1])))),
        "the caller's leg: {signalling:?}"
    );
}

#[test]
fn an_offer_we_could_never_answer_is_refused_before_anything_rings() {
    let multicast = Bytes::from_static(
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 239.1.1.1\r\nt=0 0\r\n\
          m=audio 4000 RTP/AVP 8\r\n",
    );
    let g729 = Bytes::from_static(
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
          m=audio 4000 RTP/AVP 18\r\n",
    );
    let garbage = Bytes::from_static(b"not sdp");
    for (offer, status) in [(multicast, 488), (g729, 488), (garbage, 400)] {
        let mut h = Harness::with_offer(direct(), trunk(), Some(offer));
        let out = h.drain();
        assert!(
            sip(
                &out,
                |c| matches!(c, CallCommand::Reject { leg, code } if *leg == CALLER && *code == status)
            ),
            "{status}: {out:?}"
        );
        assert!(media(&out).is_empty(), "no port taken: {out:?}");
        assert!(h.invited.is_empty(), "nothing rang");
        assert!(matches!(out.last(), Some(Command::Finish(_))), "{out:?}");
        assert_eq!(
            h.record().hangup_cause.as_deref(),
            Some(format!("unanswered-{status}").as_str())
        );
    }
}
