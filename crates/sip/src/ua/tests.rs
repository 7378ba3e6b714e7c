//! Two user agents on a virtual clock: the leg life cycle a B2BUA relies on.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ezk_sip_types::host::HostPort;
use ezk_sip_types::uri::{NameAddr, SipUri};

use super::*;
use crate::endpoint::{Endpoint, EndpointConfig};
use crate::transaction::Timers;
use crate::wire::parse_message;

fn peer(port: u16) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

fn agent(port: u16, seed: u64) -> UserAgent {
    let host = HostPort::from(std::net::SocketAddrV4::new([127, 0, 0, 1].into(), port));
    let endpoint = Endpoint::new(EndpointConfig {
        timers: Timers::default(),
        user_agent: String::new(),
        via_sent_by: vec![(Transport::Udp, host.clone())],
        allowed_methods: vec![
            Method::INVITE,
            Method::ACK,
            Method::CANCEL,
            Method::BYE,
            Method::OPTIONS,
            Method::INFO,
        ],
        supported: Vec::new(),
        rng_seed: seed,
    });
    UserAgent::new(
        endpoint,
        UaConfig {
            contacts: vec![(Transport::Udp, SipUri::new(host))],
            rng_seed: seed,
            call_id_host: "test".into(),
            sdp_limits: crate::sdp::SdpLimits::default(),
        },
    )
}

/// A (port 5060) and B (port 5061) with instant delivery and a clock moved by hand.
struct Pair {
    now: Instant,
    a: UserAgent,
    b: UserAgent,
    a_out: Vec<UaOutput>,
    b_out: Vec<UaOutput>,
}

impl Pair {
    fn new() -> Self {
        Pair {
            now: Instant::now(),
            a: agent(5060, 1),
            b: agent(5061, 2),
            a_out: Vec::new(),
            b_out: Vec::new(),
        }
    }

    /// Delivers every datagram until both sides are quiet; keeps their other outputs.
    fn settle(&mut self) {
        loop {
            let mut moved = false;
            while let Some(out) = self.a.poll_output() {
                match out {
                    UaOutput::Transmit(t) => {
                        moved = true;
                        self.b.handle_message(
                            self.now,
                            peer(5060),
                            parse_message(&t.bytes).unwrap(),
                        );
                    }
                    other => self.a_out.push(other),
                }
            }
            while let Some(out) = self.b.poll_output() {
                match out {
                    UaOutput::Transmit(t) => {
                        moved = true;
                        self.a.handle_message(
                            self.now,
                            peer(5061),
                            parse_message(&t.bytes).unwrap(),
                        );
                    }
                    other => self.b_out.push(other),
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            self.settle();
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = until;
    }

    fn call(&mut self) -> LegId {
        let to = NameAddr::uri(SipUri::new(HostPort::from(std::net::SocketAddrV4::new(
            [127, 0, 0, 1].into(),
            5061,
        ))));
        self.a.invite(
            self.now,
            OutboundCall {
                dest: peer(5061),
                request_uri: to.uri.clone(),
                from: NameAddr::uri(SipUri::new(HostPort::host_name("a.example"))),
                to,
                route: Vec::new(),
                sdp: Some(Bytes::from_static(b"v=0\r\n")),
                max_forwards: 70,
            },
        )
    }

    /// B takes the INVITE it was handed.
    fn b_accepts(&mut self) -> LegId {
        self.settle();
        let pos = self.b_out.iter().position(|o| matches!(o, UaOutput::Request { request, .. } if request.method() == &Method::INVITE));
        let Some(UaOutput::Request {
            tx,
            source,
            request,
        }) = pos.map(|i| self.b_out.remove(i))
        else {
            panic!("B got no INVITE: {:?}", self.b_out)
        };
        assert_eq!(&request.body[..], b"v=0\r\n");
        self.b.accept(tx, source, request)
    }

    fn a_events(&mut self) -> Vec<LegEvent> {
        self.settle();
        take_events(&mut self.a_out)
    }

    fn b_events(&mut self) -> Vec<LegEvent> {
        self.settle();
        take_events(&mut self.b_out)
    }
}

fn take_events(out: &mut Vec<UaOutput>) -> Vec<LegEvent> {
    let (events, rest): (Vec<_>, Vec<_>) = std::mem::take(out)
        .into_iter()
        .partition(|o| matches!(o, UaOutput::Leg(_)));
    *out = rest;
    events
        .into_iter()
        .filter_map(|o| {
            if let UaOutput::Leg(e) = o {
                Some(e)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn ring_answer_and_remote_bye() {
    let mut p = Pair::new();
    let a_leg = p.call();
    let b_leg = p.b_accepts();
    p.b.progress(p.now, b_leg, 180, None).unwrap();
    assert!(matches!(
        p.a_events()[..],
        [LegEvent::Ringing { code: 180, .. }]
    ));
    p.b.answer(p.now, b_leg, Some(Bytes::from_static(b"v=0 answer\r\n")))
        .unwrap();
    let events = p.a_events();
    let [
        LegEvent::Answered {
            leg,
            sdp: Some(sdp),
        },
    ] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!((*leg, &sdp[..]), (a_leg, &b"v=0 answer\r\n"[..]));
    // B hangs up: A hears about it, B (who did it) does not.
    p.b.hangup(p.now, b_leg).unwrap();
    assert!(matches!(
        p.a_events()[..],
        [LegEvent::Hangup {
            cause: HangupCause::RemoteBye,
            ..
        }]
    ));
    assert!(p.b_events().is_empty());
    p.advance(Duration::from_secs(60));
    assert_eq!((p.a.leg_count(), p.b.leg_count()), (0, 0));
    assert!(
        p.a_events().is_empty() && p.b_events().is_empty(),
        "no ACK timeout: the 2xx was ACKed"
    );
}

#[test]
fn caller_cancels_while_ringing() {
    let mut p = Pair::new();
    let a_leg = p.call();
    let b_leg = p.b_accepts();
    p.b.progress(p.now, b_leg, 180, None).unwrap();
    p.settle();
    p.a.hangup(p.now, a_leg).unwrap();
    let events = p.b_events();
    assert!(
        matches!(
            events[..],
            [LegEvent::Hangup {
                cause: HangupCause::Cancelled,
                ..
            }]
        ),
        "{events:?}"
    );
    p.advance(Duration::from_secs(40));
    let _ = p.b_events();
    assert_eq!((p.a.leg_count(), p.b.leg_count()), (0, 0));
    assert!(
        p.b.answer(p.now, b_leg, None).is_err(),
        "a cancelled leg cannot be answered"
    );
}

#[test]
fn cancel_reaches_the_callee_as_a_hangup() {
    let mut p = Pair::new();
    let a_leg = p.call();
    let b_leg = p.b_accepts();
    p.b.progress(p.now, b_leg, 180, None).unwrap();
    let _ = p.a_events();
    p.a.hangup(p.now, a_leg).unwrap();
    let events = p.b_events();
    assert!(
        matches!(events[..], [LegEvent::Hangup { leg, cause: HangupCause::Cancelled }] if leg == b_leg),
        "{events:?}"
    );
    assert!(
        p.a_events().is_empty(),
        "the side that cancelled hears nothing more"
    );
}

#[test]
fn rejected_call_reports_the_code() {
    let mut p = Pair::new();
    let a_leg = p.call();
    let b_leg = p.b_accepts();
    p.b.reject(p.now, b_leg, 486).unwrap();
    let events = p.a_events();
    assert!(
        matches!(events[..], [LegEvent::Hangup { leg, cause: HangupCause::Rejected(486) }] if leg == a_leg),
        "{events:?}"
    );
    p.advance(Duration::from_secs(40));
    assert_eq!((p.a.leg_count(), p.b.leg_count()), (0, 0));
}

#[test]
fn reinvite_round_trip_and_glare() {
    let mut p = Pair::new();
    let a_leg = p.call();
    let b_leg = p.b_accepts();
    p.b.answer(p.now, b_leg, Some(Bytes::from_static(b"v=0\r\n")))
        .unwrap();
    let _ = p.a_events();
    p.a.reinvite(p.now, a_leg, Some(Bytes::from_static(b"v=0 hold\r\n")))
        .unwrap();
    let events = p.b_events();
    assert!(
        matches!(&events[..], [LegEvent::Reinvite { sdp: Some(s), .. }] if &s[..] == b"v=0 hold\r\n"),
        "{events:?}"
    );
    p.b.answer_reinvite(p.now, b_leg, 200, Some(Bytes::from_static(b"v=0 held\r\n")))
        .unwrap();
    let events = p.a_events();
    assert!(
        matches!(
            &events[..],
            [LegEvent::ReinviteResult {
                code: 200,
                sdp: Some(_),
                ..
            }]
        ),
        "{events:?}"
    );
    // Both re-INVITE at once: each side already has its own pending, so each answers 491.
    p.a.reinvite(p.now, a_leg, None).unwrap();
    p.b.reinvite(p.now, b_leg, None).unwrap();
    let (a, b) = (p.a_events(), p.b_events());
    assert!(
        a.iter()
            .any(|e| matches!(e, LegEvent::ReinviteResult { code: 491, .. })),
        "{a:?}"
    );
    assert!(
        b.iter()
            .any(|e| matches!(e, LegEvent::ReinviteResult { code: 491, .. })),
        "{b:?}"
    );
    assert_eq!(
        p.a.reinvite(p.now, a_leg, None),
        Ok(()),
        "after the glare a new re-INVITE may go"
    );
}

#[test]
fn info_in_dialog_is_reported_and_unknown_dialog_gets_481() {
    let mut p = Pair::new();
    let _ = p.call();
    let b_leg = p.b_accepts();
    p.b.answer(p.now, b_leg, None).unwrap();
    let _ = p.a_events();
    // A BYE for a dialog B does not know: 481 (RFC 3261 §12.2.2).
    let stray = "BYE sip:x@127.0.0.1:5061 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKstray\r\n\
Max-Forwards: 70\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:z@y>;tag=nope\r\nCall-ID: stray@x\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    p.b.handle_message(p.now, peer(5070), parse_message(stray.as_bytes()).unwrap());
    let mut answered = None;
    while let Some(out) = p.b.poll_output() {
        if let UaOutput::Transmit(t) = out {
            answered = Some(
                String::from_utf8_lossy(&t.bytes)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    assert_eq!(
        answered.as_deref(),
        Some("SIP/2.0 481 Call/Transaction Does Not Exist")
    );
}

/// A late offer: the INVITE had no SDP, our 2xx carried the offer, and the ACK brings the answer.
#[test]
fn answer_in_the_ack_is_reported() {
    let mut p = Pair::new();
    let _ = p.call();
    let b_leg = p.b_accepts();
    p.b.answer(p.now, b_leg, Some(Bytes::from_static(b"v=0 offer\r\n")))
        .unwrap();
    // Deliver B's 200 to A by hand, then A's ACK to B with an answer added.
    let mut ack = None;
    while let Some(out) = p.b.poll_output() {
        if let UaOutput::Transmit(t) = out {
            p.a.handle_message(p.now, peer(5061), parse_message(&t.bytes).unwrap());
        }
    }
    while let Some(out) = p.a.poll_output() {
        if let UaOutput::Transmit(t) = out
            && t.bytes.starts_with(b"ACK ")
        {
            ack = Some(t.bytes);
        }
    }
    let ack = String::from_utf8(ack.expect("A ACKed").to_vec()).unwrap();
    let body = "v=0 answer\r\n";
    let ack = ack.replace(
        "Content-Length: 0\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n",
            body.len()
        ),
    ) + body;
    p.b.handle_message(p.now, peer(5060), parse_message(ack.as_bytes()).unwrap());
    let events = p.b_events();
    let [LegEvent::Ack { leg, sdp }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!((*leg, &sdp[..]), (b_leg, body.as_bytes()));
}

/// What B sends when it refuses an INVITE carrying `sdp` with `code`.
fn refusal_to(sdp: &str, code: u16) -> String {
    let mut b = agent(5061, 2);
    let now = Instant::now();
    let invite = format!(
        "INVITE sip:100@127.0.0.1:5061 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKw{code}\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: w-{code}\r\n\
         CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    b.handle_message(now, peer(5060), parse_message(invite.as_bytes()).unwrap());
    let mut leg = None;
    while let Some(out) = b.poll_output() {
        if let UaOutput::Request {
            tx,
            source,
            request,
        } = out
        {
            leg = Some(b.accept(tx, source, request));
        }
    }
    b.reject(now, leg.expect("the INVITE came up"), code)
        .unwrap();
    let mut sent = String::new();
    while let Some(out) = b.poll_output() {
        if let UaOutput::Transmit(t) = out {
            sent = String::from_utf8_lossy(&t.bytes).into_owned();
        }
    }
    sent
}

#[test]
fn a_488_says_why_the_offer_was_refused() {
    let multicast = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 224.2.1.1/127\r\nt=0 0\r\n\
                     m=audio 4000 RTP/AVP 8\r\n";
    let sent = refusal_to(multicast, 488);
    assert!(sent.starts_with("SIP/2.0 488"), "{sent}");
    assert!(
        sent.contains("Warning: 330 test \"Multicast not available\"\r\n"),
        "{sent}"
    );
    let g729 = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                m=audio 4000 RTP/AVP 18\r\n";
    assert!(refusal_to(g729, 488).contains("Warning: 305 test \"Incompatible media format\"\r\n"));
    // Other refusals carry none.
    assert!(!refusal_to(g729, 486).contains("Warning"));
}
