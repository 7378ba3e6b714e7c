//! The generator's SIP against a scripted switch on a virtual clock: the test plays the B2BUA
//! (answers the caller, calls the agent) with messages written the way the switch writes them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::loadgen::sip_text::{parse, response, tag, uri_of};

const SWITCH: &str = "127.0.0.1:5070";
const AGENT_SIP: &str = "127.0.0.1:5090";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn media(i: u16) -> CallMedia {
    CallMedia {
        caller: SocketAddr::from(([127, 0, 0, 1], 30_000 + 2 * i)),
        agent: SocketAddr::from(([127, 0, 0, 1], 31_000 + 2 * i)),
    }
}

fn signalling(calls: u16, agent_codec: Codec) -> Signalling {
    let config = SignallingConfig {
        switch: addr(SWITCH),
        caller_sip: addr("127.0.0.1:40000"),
        agent_sip: addr(AGENT_SIP),
        extension: "1002".into(),
        caller_codec: Codec::Pcma,
        agent_codec,
        run_id: 0xabc,
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
    };
    let media: Vec<CallMedia> = (0..calls).map(media).collect();
    Signalling::new(config, &media)
}

fn transmits(sig: &mut Signalling) -> Vec<Transmit> {
    std::iter::from_fn(|| sig.poll_transmit()).collect()
}

fn events(sig: &mut Signalling) -> Vec<SigEvent> {
    std::iter::from_fn(|| sig.poll_event()).collect()
}

fn first_line(t: &Transmit) -> String {
    String::from_utf8_lossy(&t.bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The INVITE the switch sends the agent for a caller INVITE, SDP passed through as on main.
fn switch_invite(caller_invite: &[u8], call_id: &str) -> Vec<u8> {
    let msg = parse(caller_invite).unwrap();
    let from_user = crate::loadgen::sip_text::uri_user(msg.header("From").unwrap()).unwrap();
    let body = msg.body_text();
    format!(
        "INVITE sip:1002@{AGENT_SIP} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {SWITCH};branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 69\r\n\
         From: \"{from_user}\" <sip:{from_user}@switchboard.invalid>;tag=sw-{call_id}\r\n\
         To: \"Agent 1002\" <sip:1002@{AGENT_SIP}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:{SWITCH}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Starts call 0 and plays the switch up to the caller's 200; returns the clock and the 200.
fn establish(sig: &mut Signalling, t0: Instant) -> Vec<u8> {
    sig.start_call(t0, CallIndex(0));
    let invite = transmits(sig).remove(0);
    sig.handle_datagram(
        t0,
        Side::Agent,
        addr(SWITCH),
        &switch_invite(&invite.bytes, "agentleg0"),
    );
    let answer = transmits(sig);
    let agent_ok = parse(&answer[1].bytes).unwrap();
    let msg = parse(&invite.bytes).unwrap();
    let ok = response(
        200,
        "OK",
        &msg,
        Some("sw-caller"),
        &[
            ("Contact", "<sip:127.0.0.1:5070>"),
            ("Content-Type", "application/sdp"),
        ],
        agent_ok.body_text(),
    );
    sig.handle_datagram(t0, Side::Caller, addr(SWITCH), &ok);
    ok
}

#[test]
fn a_call_goes_up_and_down_through_the_switch() {
    let t0 = Instant::now();
    let mut sig = signalling(2, Codec::Pcma);
    sig.start_call(t0, CallIndex(1));
    let out = transmits(&mut sig);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].from, out[0].to), (Side::Caller, addr(SWITCH)));
    assert_eq!(
        first_line(&out[0]),
        "INVITE sip:1002@127.0.0.1:5070 SIP/2.0"
    );
    let invite = parse(&out[0].bytes).unwrap();
    assert_eq!(
        crate::loadgen::sip_text::uri_user(invite.header("From").unwrap()),
        Some("lg-1")
    );
    assert!(invite.body_text().contains("m=audio 30002 RTP/AVP 8 101"));

    // The switch calls the agent: the agent rings and answers at once, from the agent socket.
    let agent_invite = switch_invite(&out[0].bytes, "agentleg1");
    sig.handle_datagram(t0, Side::Agent, addr(SWITCH), &agent_invite);
    let answer = transmits(&mut sig);
    assert_eq!(answer.len(), 2);
    assert!(
        answer
            .iter()
            .all(|t| t.from == Side::Agent && t.to == addr(SWITCH))
    );
    assert_eq!(first_line(&answer[0]), "SIP/2.0 180 Ringing");
    let ok = parse(&answer[1].bytes).unwrap();
    assert_eq!(ok.code(), Some(200));
    assert_eq!(tag(ok.header("To").unwrap()), Some("lga1-abc"));
    assert_eq!(
        uri_of(ok.header("Contact").unwrap()),
        "sip:1002@127.0.0.1:5090"
    );
    assert!(ok.body_text().contains("m=audio 31002 RTP/AVP 8 101"));
    assert_eq!(sig.agent_call_id(CallIndex(1)), Some("agentleg1"));
    assert!(
        events(&mut sig).is_empty(),
        "not established before the caller is answered"
    );

    // The switch answers the caller with the agent's SDP (pass-through): ACK, then Established.
    let caller_ok = response(
        200,
        "OK",
        &invite,
        Some("sw-caller"),
        &[
            ("Contact", "<sip:switch@127.0.0.1:5070>"),
            ("Content-Type", "application/sdp"),
        ],
        ok.body_text(),
    );
    sig.handle_datagram(t0, Side::Caller, addr(SWITCH), &caller_ok);
    let ack = transmits(&mut sig);
    assert_eq!(first_line(&ack[0]), "ACK sip:switch@127.0.0.1:5070 SIP/2.0");
    assert_eq!(
        events(&mut sig),
        vec![SigEvent::Established {
            call: CallIndex(1),
            caller_to: addr("127.0.0.1:31002"),
            caller_pt: 8,
            agent_to: addr("127.0.0.1:30002"),
            agent_pt: 8,
        }]
    );
    // A retransmitted 200 gets the same ACK again, and no second event.
    sig.handle_datagram(t0, Side::Caller, addr(SWITCH), &caller_ok);
    assert_eq!(transmits(&mut sig), ack);
    assert!(events(&mut sig).is_empty());

    // The switch ACKs the agent's 200: no retransmission of it afterwards.
    let agent_ack = format!(
        "ACK sip:1002@{AGENT_SIP} SIP/2.0\r\nVia: SIP/2.0/UDP {SWITCH};branch=z9hG4bKack\r\n\
         From: <sip:lg-1@switchboard.invalid>;tag=sw-agentleg1\r\nTo: <sip:1002@{AGENT_SIP}>;tag=lga1-abc\r\n\
         Call-ID: agentleg1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    sig.handle_datagram(t0, Side::Agent, addr(SWITCH), agent_ack.as_bytes());
    sig.handle_timeout(t0 + Duration::from_secs(10));
    assert!(transmits(&mut sig).is_empty());

    // Hang up: BYE from the caller, relayed by the switch to the agent, 200 both ways.
    let t1 = t0 + Duration::from_secs(10);
    sig.hangup(t1, CallIndex(1));
    let bye = transmits(&mut sig).remove(0);
    assert_eq!(first_line(&bye), "BYE sip:switch@127.0.0.1:5070 SIP/2.0");
    let bye_msg = parse(&bye.bytes).unwrap();
    assert_eq!(bye_msg.cseq(), Some((2, "BYE")));
    assert_eq!(tag(bye_msg.header("To").unwrap()), Some("sw-caller"));
    let agent_bye = agent_ack
        .replace("ACK", "BYE")
        .replace("CSeq: 1 BYE", "CSeq: 2 BYE");
    sig.handle_datagram(t1, Side::Agent, addr(SWITCH), agent_bye.as_bytes());
    let bye_ok = transmits(&mut sig).remove(0);
    assert_eq!(
        (first_line(&bye_ok).as_str(), bye_ok.from),
        ("SIP/2.0 200 OK", Side::Agent)
    );
    assert!(
        events(&mut sig).is_empty(),
        "the BYE the switch relays is ours, not a remote hangup"
    );
    sig.handle_datagram(
        t1,
        Side::Caller,
        addr(SWITCH),
        &response(200, "OK", &bye_msg, None, &[], ""),
    );
    assert_eq!(
        events(&mut sig),
        vec![SigEvent::Ended { call: CallIndex(1) }]
    );
    assert_eq!(sig.counters(), SigCounters::default());
}

#[test]
fn invite_is_resent_on_timer_a_until_timer_b() {
    let t0 = Instant::now();
    let mut sig = signalling(1, Codec::Pcma);
    sig.start_call(t0, CallIndex(0));
    assert_eq!(transmits(&mut sig).len(), 1);
    let mut resent_at = Vec::new();
    let mut t = t0;
    while t < t0 + Duration::from_secs(40) {
        t += Duration::from_millis(100);
        sig.handle_timeout(t);
        if !transmits(&mut sig).is_empty() {
            resent_at.push((t - t0).as_millis());
        }
        if !events(&mut sig).is_empty() {
            break;
        }
    }
    // §17.1.1.2: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; then Timer B at 32 s.
    assert_eq!(resent_at, vec![500, 1500, 3500, 7500, 15_500, 31_500]);
    assert_eq!((t - t0).as_millis(), 32_000);
    assert_eq!(sig.counters().retransmissions, 6);
    assert_eq!(sig.poll_timeout(), None, "a failed call holds no timer");
}

#[test]
fn a_provisional_stops_retransmissions_and_a_failure_is_acked() {
    let t0 = Instant::now();
    let mut sig = signalling(1, Codec::Pcma);
    sig.start_call(t0, CallIndex(0));
    let invite = transmits(&mut sig).remove(0);
    let msg = parse(&invite.bytes).unwrap();
    sig.handle_datagram(
        t0,
        Side::Caller,
        addr(SWITCH),
        &response(100, "Trying", &msg, None, &[], ""),
    );
    sig.handle_timeout(t0 + Duration::from_secs(5));
    assert!(transmits(&mut sig).is_empty());
    let busy = response(486, "Busy Here", &msg, Some("sw1"), &[], "");
    sig.handle_datagram(t0, Side::Caller, addr(SWITCH), &busy);
    let ack = transmits(&mut sig).remove(0);
    assert_eq!(first_line(&ack), "ACK sip:1002@127.0.0.1:5070 SIP/2.0");
    let ack = parse(&ack.bytes).unwrap();
    assert_eq!(
        ack.header("Via"),
        msg.header("Via"),
        "§17.1.1.3: same branch as the INVITE"
    );
    assert_eq!(tag(ack.header("To").unwrap()), Some("sw1"));
    assert_eq!(
        events(&mut sig),
        vec![SigEvent::Failed {
            call: CallIndex(0),
            reason: FailReason::Rejected(486)
        }]
    );
    // A retransmitted 486 is ACKed again without a second event.
    sig.handle_datagram(t0, Side::Caller, addr(SWITCH), &busy);
    assert_eq!(transmits(&mut sig).len(), 1);
    assert!(events(&mut sig).is_empty());
}

#[test]
fn the_agents_200_is_resent_until_acked() {
    let t0 = Instant::now();
    let mut sig = signalling(1, Codec::Pcma);
    sig.start_call(t0, CallIndex(0));
    let invite = transmits(&mut sig).remove(0);
    let agent_invite = switch_invite(&invite.bytes, "leg");
    sig.handle_datagram(t0, Side::Agent, addr(SWITCH), &agent_invite);
    let ok = transmits(&mut sig).remove(1);
    // The switch retransmits its INVITE: the agent answers with the same 200.
    sig.handle_datagram(t0, Side::Agent, addr(SWITCH), &agent_invite);
    assert_eq!(transmits(&mut sig), vec![ok.clone()]);
    let mut resent_at = Vec::new();
    for step in 1..=400 {
        let t = t0 + Duration::from_millis(100 * step);
        sig.handle_timeout(t);
        // (The caller's INVITE, never answered in this test, is resent too: not counted here.)
        for tx in transmits(&mut sig)
            .into_iter()
            .filter(|t| t.from == Side::Agent)
        {
            assert_eq!(tx, ok);
            resent_at.push(100 * step);
        }
    }
    // §13.3.1.4: T1 doubling up to T2 (4 s), until 64·T1 = 32 s.
    assert_eq!(
        resent_at,
        vec![
            500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
        ]
    );
    assert_eq!(sig.counters().ack_timeouts, 1);
}

#[test]
fn the_bye_is_resent_on_timer_e_until_timer_f() {
    let t0 = Instant::now();
    let mut sig = signalling(1, Codec::Pcma);
    establish(&mut sig, t0);
    transmits(&mut sig);
    events(&mut sig);
    sig.handle_datagram(
        t0,
        Side::Agent,
        addr(SWITCH),
        b"ACK sip:1002@x SIP/2.0\r\nCall-ID: agentleg0\r\nContent-Length: 0\r\n\r\n",
    );
    sig.hangup(t0, CallIndex(0));
    assert_eq!(transmits(&mut sig).len(), 1);
    let mut resent = 0;
    for step in 1..=330 {
        sig.handle_timeout(t0 + Duration::from_millis(100 * step));
        resent += transmits(&mut sig).len();
    }
    // 0.5, 1.5, 3.5, 7.5, then every 4 s up to 31.5 s: 10 resends; Timer F ends it at 32 s.
    assert_eq!(resent, 10);
    assert_eq!(
        events(&mut sig),
        vec![SigEvent::Ended { call: CallIndex(0) }]
    );
    assert_eq!(sig.counters().bye_timeouts, 1);
}

#[test]
fn opus_agent_answers_with_opus() {
    let t0 = Instant::now();
    let mut sig = signalling(1, Codec::Opus);
    let ok = establish(&mut sig, t0);
    let ok = parse(&ok).unwrap();
    assert!(ok.body_text().contains("a=rtpmap:111 opus/48000/2"));
    let established = events(&mut sig);
    assert!(matches!(
        established.as_slice(),
        [SigEvent::Established {
            caller_pt: 8,
            agent_pt: 111,
            ..
        }]
    ));
}

#[test]
fn switch_hangups_are_reported_per_side() {
    let t0 = Instant::now();
    let mut sig = signalling(1, Codec::Pcma);
    establish(&mut sig, t0);
    transmits(&mut sig);
    events(&mut sig);
    let bye = format!(
        "BYE sip:lg-0@127.0.0.1:40000 SIP/2.0\r\nVia: SIP/2.0/UDP {SWITCH};branch=z9hG4bKb\r\n\
         From: <sip:1002@x>;tag=sw-caller\r\nTo: <sip:lg-0@y>;tag=lgc0-abc\r\n\
         Call-ID: lg0-abc@loadgen\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    sig.handle_datagram(t0, Side::Caller, addr(SWITCH), bye.as_bytes());
    let ok = transmits(&mut sig).remove(0);
    assert_eq!(
        (first_line(&ok).as_str(), ok.from),
        ("SIP/2.0 200 OK", Side::Caller)
    );
    assert_eq!(
        events(&mut sig),
        vec![SigEvent::RemoteHangup {
            call: CallIndex(0),
            side: Side::Caller
        }]
    );
    // Our hangup after that sends nothing: the dialog is gone.
    sig.hangup(t0, CallIndex(0));
    assert!(transmits(&mut sig).is_empty());
}

#[test]
fn strangers_get_answers_and_are_counted() {
    let t0 = Instant::now();
    let mut sig = signalling(1, Codec::Pcma);
    // An INVITE for a call index this run does not have.
    let stray = switch_invite(
        &sip_text::request(
            "INVITE",
            "sip:x",
            &[("From", "<sip:lg-9@h>;tag=1")],
            "v=0\r\n",
        ),
        "stray",
    );
    sig.handle_datagram(t0, Side::Agent, addr(SWITCH), &stray);
    assert_eq!(first_line(&transmits(&mut sig)[0]), "SIP/2.0 404 Not Found");
    // A response to nothing, a BYE for no dialog, and noise.
    sig.handle_datagram(
        t0,
        Side::Caller,
        addr(SWITCH),
        b"SIP/2.0 200 OK\r\nCall-ID: nope\r\nCSeq: 1 INVITE\r\n\r\n",
    );
    sig.handle_datagram(
        t0,
        Side::Agent,
        addr(SWITCH),
        b"BYE sip:x SIP/2.0\r\nCall-ID: nope\r\nCSeq: 1 BYE\r\n\r\n",
    );
    assert_eq!(
        first_line(&transmits(&mut sig)[0]),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
    sig.handle_datagram(t0, Side::Agent, addr(SWITCH), b"\x80\x08 rtp?");
    let c = sig.counters();
    assert_eq!((c.unmatched, c.unreadable), (3, 1));
    assert!(events(&mut sig).is_empty());
}

#[test]
fn an_answer_without_the_agent_leg_fails_the_call() {
    let t0 = Instant::now();
    let mut sig = signalling(1, Codec::Pcma);
    sig.start_call(t0, CallIndex(0));
    let invite = transmits(&mut sig).remove(0);
    let msg = parse(&invite.bytes).unwrap();
    let sdp = sdp::offer(addr("127.0.0.1:1").ip(), 9_000, Codec::Pcma, 1);
    let ok = response(
        200,
        "OK",
        &msg,
        Some("t"),
        &[("Content-Type", "application/sdp")],
        &sdp,
    );
    sig.handle_datagram(t0, Side::Caller, addr(SWITCH), &ok);
    let out: Vec<String> = transmits(&mut sig).iter().map(first_line).collect();
    assert_eq!(out.len(), 2, "ACK then BYE: {out:?}");
    assert!(out[1].starts_with("BYE "));
    assert_eq!(
        events(&mut sig),
        vec![SigEvent::Failed {
            call: CallIndex(0),
            reason: FailReason::NoAgentLeg
        }]
    );
}

proptest! {
    #[test]
    fn any_datagram_is_handled_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), agent: bool) {
        let t0 = Instant::now();
        let mut sig = signalling(2, Codec::Pcma);
        sig.start_call(t0, CallIndex(0));
        let side = if agent { Side::Agent } else { Side::Caller };
        sig.handle_datagram(t0, side, addr(SWITCH), &bytes);
        sig.handle_timeout(t0 + Duration::from_secs(1));
        prop_assert!(!transmits(&mut sig).is_empty());
    }

    #[test]
    fn sip_shaped_text_is_handled_without_panic(
        line in prop_oneof![Just("INVITE sip:1002@h SIP/2.0"), Just("SIP/2.0 200 OK"), Just("BYE sip:a SIP/2.0"), Just("ACK sip:a SIP/2.0")],
        from in "lg-[0-9]{1,3}",
        cseq in "[0-9]{0,3} (INVITE|BYE|ACK)",
        body in "\\PC{0,80}",
        agent: bool,
    ) {
        let t0 = Instant::now();
        let mut sig = signalling(2, Codec::Opus);
        sig.start_call(t0, CallIndex(0));
        let text = format!(
            "{line}\r\nFrom: <sip:{from}@h>;tag=x\r\nTo: <sip:1002@h>\r\nCall-ID: lg0-abc@loadgen\r\n\
             CSeq: {cseq}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let side = if agent { Side::Agent } else { Side::Caller };
        sig.handle_datagram(t0, side, addr(SWITCH), text.as_bytes());
        sig.hangup(t0, CallIndex(0));
        sig.handle_timeout(t0 + Duration::from_secs(40));
    }
}
