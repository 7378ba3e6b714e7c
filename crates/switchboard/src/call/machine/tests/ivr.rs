//! Dialplan calls: prompts and menus by key, a dial to a busy or answering agent, voicemail,
//! no input, a caller who hangs up mid-menu, and feature codes.

use std::time::Duration;

use switchboard_acd::io::ClaimKind;
use switchboard_acd::{AgentId, Input as AcdInput, Output, StateKind};
use switchboard_sip::ua::LegEvent;

use super::*;
use crate::call::machine::Command;
use crate::protocol::{Disposition, HangupSide};

/// The IVR answered and playing its welcome; the welcome's playback id.
fn welcome(h: &mut Harness) -> u64 {
    let out = h.drain();
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Answer { leg, sdp: Some(_) } if *leg == CALLER)
    ));
    let caller = h.caller_media();
    assert!(
        media(&out)
            .iter()
            .any(|m| matches!(m, MediaCommand::DetectInband { leg, on: true } if *leg == caller))
    );
    let played = plays(&out);
    assert_eq!(played.len(), 1, "{out:?}");
    assert_eq!(played[0].1, ["/sounds/fr/welcome.wav"]);
    played[0].0
}

/// Past the welcome, into the menu; the menu prompt's id.
fn menu(h: &mut Harness) -> u64 {
    let id = welcome(h);
    h.advance(Duration::from_secs(2));
    let leg = h.caller_media();
    let out = h.media(MediaEvent::PlaybackDone { leg, id });
    let played = plays(&out);
    assert_eq!(played[0].1, ["/sounds/fr/menu.wav"]);
    played[0].0
}

fn done(h: &mut Harness, id: u64) -> Vec<Command> {
    let leg = h.caller_media();
    h.media(MediaEvent::PlaybackDone { leg, id })
}

#[test]
fn a_key_interrupts_the_menu_and_dials_the_agent_who_talks_then_hangs_up() {
    let mut h = Harness::new(ivr_route(), trunk());
    menu(&mut h);
    let out = h.key('2');
    let caller = h.caller_media();
    assert!(
        media(&out)
            .iter()
            .any(|m| matches!(m, MediaCommand::StopPlay { leg } if *leg == caller)),
        "barge-in stops the menu"
    );
    assert!(acd(&out).iter().any(|i| matches!(i, AcdInput::Claim { agent, kind: ClaimKind::Callee, .. } if agent.as_str() == "1001")));
    let out = h.acd(Output::ClaimResult {
        call: CALL,
        agent: AgentId::new("1001"),
        granted: true,
    });
    assert!(
        media(&out)
            .iter()
            .any(|m| matches!(m, MediaCommand::Tone { .. })),
        "the caller hears ringback"
    );
    let legs = h.legs_to("1001");
    assert_eq!(legs.len(), 2);
    h.advance(Duration::from_secs(4));
    h.leg(LegEvent::Answered {
        leg: legs[1],
        sdp: Some(sdp(30000)),
    });
    h.advance(Duration::from_secs(20));
    let out = h.leg(bye(legs[1]));
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Hangup { leg } if *leg == CALLER)
    ));
    let rec = h.record();
    assert_eq!(rec.disposition, Some(Disposition::Answered));
    assert_eq!(rec.hangup_side, Some(HangupSide::Callee));
    assert_eq!(rec.talk, Some(Duration::from_secs(20)));
    assert_eq!(rec.ivr_path, "main[2]");
    assert_eq!(rec.answered, Some(h.t0 + Duration::from_secs(6)));
}

#[test]
fn a_busy_agent_takes_the_dialplans_on_busy_branch() {
    let mut h = Harness::new(ivr_route(), trunk());
    menu(&mut h);
    h.key('2');
    let out = h.acd(Output::ClaimResult {
        call: CALL,
        agent: AgentId::new("1001"),
        granted: false,
    });
    assert!(h.invited.is_empty(), "a busy agent's phone does not ring");
    assert!(sip(
        &out,
        |c| matches!(c, CallCommand::Hangup { leg } if *leg == CALLER)
    ));
    let rec = h.record();
    assert_eq!(rec.hangup_cause.as_deref(), Some("dialplan:busy"));
    assert_eq!(rec.disposition, Some(Disposition::Completed));
}

#[test]
fn no_answer_from_the_dialled_agent_releases_it_and_goes_on() {
    let mut h = Harness::new(ivr_route(), trunk());
    menu(&mut h);
    h.key('2');
    h.acd(Output::ClaimResult {
        call: CALL,
        agent: AgentId::new("1001"),
        granted: true,
    });
    let out = h.advance(Duration::from_secs(10));
    for leg in h.legs_to("1001") {
        assert!(sip(
            &out,
            |c| matches!(c, CallCommand::Hangup { leg: l } if *l == leg)
        ));
    }
    assert!(
        acd(&out)
            .iter()
            .any(|i| matches!(i, AcdInput::Release { agent, .. } if agent.as_str() == "1001"))
    );
    assert_eq!(
        h.record().hangup_cause.as_deref(),
        Some("dialplan:no-answer")
    );
}

#[test]
fn voicemail_beeps_records_and_is_the_disposition() {
    let mut h = Harness::new(ivr_route(), trunk());
    menu(&mut h);
    let out = h.key('3');
    let beep = out.iter().find_map(|c| match c {
        Command::PlayBeep { id, .. } => Some(*id),
        _ => None,
    });
    let out = done(&mut h, beep.expect("a beep first"));
    let path = media(&out).iter().find_map(|m| match m {
        MediaCommand::RecordLeg { path, max, .. } => Some((path.clone(), *max)),
        _ => None,
    });
    let (path, max) = path.expect("recording the caller");
    assert!(path.starts_with("/vm/box"), "{}", path.display());
    assert_eq!(max, Duration::from_secs(60));
    h.advance(Duration::from_secs(12));
    let leg = h.caller_media();
    h.media(MediaEvent::RecordDone {
        leg,
        duration: Duration::from_secs(12),
        reached_max: false,
    });
    let rec = h.record();
    assert_eq!(rec.disposition, Some(Disposition::Voicemail));
    assert_eq!(rec.ivr_path, "main[3] > voicemail");
}

#[test]
fn no_input_ends_in_the_ivr_as_completed() {
    let mut h = Harness::new(ivr_route(), trunk());
    let id = menu(&mut h);
    done(&mut h, id);
    h.advance(Duration::from_secs(5));
    let replay = h
        .log
        .iter()
        .filter(|(_, c)| matches!(c, Command::Play { .. }))
        .count();
    assert_eq!(replay, 3, "the menu is played again after its timeout");
    let id = plays(&h.log.iter().map(|(_, c)| clone_cmd(c)).collect::<Vec<_>>())
        .last()
        .unwrap()
        .0;
    done(&mut h, id);
    h.advance(Duration::from_secs(5));
    let rec = h.record();
    assert_eq!(rec.disposition, Some(Disposition::Completed));
    assert_eq!(rec.hangup_cause.as_deref(), Some("dialplan:no-input"));
    assert_eq!(rec.hangup_side, Some(HangupSide::Switch));
}

fn clone_cmd(c: &Command) -> Command {
    super::clone_command(c)
}

#[test]
fn a_caller_who_hangs_up_in_the_menu_abandons_in_the_ivr() {
    let mut h = Harness::new(ivr_route(), trunk());
    menu(&mut h);
    let out = h.leg(bye(CALLER));
    assert!(matches!(out.last(), Some(Command::Finish(_))));
    assert!(!sip(&out, |c| matches!(
        c,
        CallCommand::Hangup { leg: CALLER }
    )));
    let rec = h.record();
    assert_eq!(rec.disposition, Some(Disposition::Abandoned));
    assert_eq!(rec.queue, None);
    assert_eq!(rec.ivr_path, "main");
}

#[test]
fn feature_codes_ask_the_acd_and_confirm_in_the_agents_language() {
    for (command, state, prompt) in [
        (AgentCommand::Login, Ok(StateKind::Ready), "agent-logged-in"),
        (
            AgentCommand::Logout,
            Ok(StateKind::LoggedOut),
            "agent-logged-out",
        ),
        (
            AgentCommand::Pause(switchboard_acd::PauseReason::new("lunch")),
            Ok(StateKind::Paused),
            "agent-paused",
        ),
        (AgentCommand::Ready, Ok(StateKind::Ready), "agent-ready"),
        (
            AgentCommand::Ready,
            Err(switchboard_acd::AgentError::InvalidTransition {
                state: StateKind::LoggedOut,
                action: switchboard_acd::agent::Action::Ready,
            }),
            "agent-refused",
        ),
    ] {
        let mut h = Harness::new(feature(command.clone()), agent("1001"));
        let out = h.drain();
        assert!(sip(&out, |c| matches!(c, CallCommand::Answer { .. })));
        assert!(acd(&out).iter().any(|i| matches!(i, AcdInput::Agent { command: c, reply_to: Some(CALL), .. } if *c == command)));
        assert!(
            !acd(&out)
                .iter()
                .any(|i| matches!(i, AcdInput::Claim { .. })),
            "a feature code holds nobody busy (a pause would wait for its own call)"
        );
        let out = h.acd(Output::AgentCommandDone {
            call: CALL,
            agent: AgentId::new("1001"),
            result: state,
        });
        let played = plays(&out);
        assert_eq!(
            played[0].1,
            [format!("/sounds/en/{prompt}.wav")],
            "{command:?}"
        );
        let out = done(&mut h, played[0].0);
        assert!(sip(&out, |c| matches!(
            c,
            CallCommand::Hangup { leg: CALLER }
        )));
        assert_eq!(h.record().disposition, Some(Disposition::Completed));
    }
}

#[test]
fn a_feature_code_the_acd_never_answers_says_so() {
    let mut h = Harness::new(feature(AgentCommand::Login), agent("1001"));
    h.drain();
    let out = h.advance(Duration::from_secs(5));
    assert_eq!(plays(&out)[0].1, ["/sounds/en/agent-refused.wav"]);
}

#[test]
fn the_switch_hangs_up_a_call_in_the_menu_and_says_why() {
    let mut h = Harness::new(ivr_route(), trunk());
    menu(&mut h);
    let out = h.input(Input::Hangup {
        reason: "admin-hangup".into(),
    });
    assert!(
        sip(
            &out,
            |c| matches!(c, CallCommand::Hangup { leg } if *leg == CALLER)
        ),
        "the caller's leg is hung up"
    );
    let rec = h.record();
    assert_eq!(rec.hangup_cause.as_deref(), Some("switch:admin-hangup"));
    assert_eq!(rec.hangup_side, Some(HangupSide::Switch));
    assert_eq!(rec.disposition, Some(Disposition::Completed));
    // Once over, more hang-ups change nothing.
    assert!(
        h.input(Input::Hangup {
            reason: "shutdown".into()
        })
        .is_empty()
    );
}
