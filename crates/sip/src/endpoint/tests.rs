//! The endpoint and its transactions on a virtual clock: two endpoints joined by a simulated
//! network with latency and chosen losses, no sockets, no sleeps.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ezk_sip_types::host::HostPort;
use ezk_sip_types::{Method, StatusCode};

use super::*;
use crate::message::{SipMessage, response_to};
use crate::wire::parse_message;

const LATENCY: Duration = Duration::from_millis(10);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn endpoint(port: u16, seed: u64) -> Endpoint {
    Endpoint::new(EndpointConfig {
        timers: Timers::default(),
        user_agent: "test".into(),
        via_sent_by: vec![(
            Transport::Udp,
            HostPort::from(std::net::SocketAddrV4::new([127, 0, 0, 1].into(), port)),
        )],
        allowed_methods: vec![
            Method::INVITE,
            Method::ACK,
            Method::CANCEL,
            Method::BYE,
            Method::OPTIONS,
        ],
        supported: vec!["path".into()],
        rng_seed: seed,
    })
}

/// A request as a TU hands it over: written with a placeholder Via (the wire layer insists on
/// one), which is removed so the endpoint adds its own.
fn parse_req(text: &str) -> Request {
    let text = text.replacen('\n', "\nVia: SIP/2.0/UDP placeholder;branch=z9hG4bKx\n", 1);
    match parse_message(text.replace('\n', "\r\n").as_bytes()) {
        Ok(SipMessage::Request(mut r)) => {
            r.headers.remove(&Name::VIA);
            r
        }
        other => panic!("bad test request: {other:?}"),
    }
}

/// An INVITE as a UAC's TU would hand it to the endpoint (no Via: the endpoint adds it).
fn invite() -> Request {
    parse_req(
        "INVITE sip:bob@127.0.0.1:5061 SIP/2.0
Max-Forwards: 70
From: <sip:alice@127.0.0.1>;tag=a1
To: <sip:bob@127.0.0.1>
Call-ID: call-1@test
CSeq: 1 INVITE
Contact: <sip:alice@127.0.0.1:5060>
Content-Length: 0

",
    )
}

fn options_req() -> Request {
    parse_req(
        "OPTIONS sip:bob@127.0.0.1:5061 SIP/2.0
Max-Forwards: 70
From: <sip:alice@127.0.0.1>;tag=a2
To: <sip:bob@127.0.0.1>
Call-ID: opt-1@test
CSeq: 7 OPTIONS
Content-Length: 0

",
    )
}

/// A datagram in flight.
struct Packet {
    at: Instant,
    to_b: bool,
    bytes: Bytes,
}

/// Two endpoints, A (port 5060) and B (port 5061), and the wire between them.
struct Pair {
    now: Instant,
    a: Endpoint,
    b: Endpoint,
    wire: Vec<Packet>,
    /// Indexes (in send order, counted over both directions) of datagrams the network loses.
    drop: Vec<usize>,
    sent: usize,
    /// (time, to_b, first line) of every datagram put on the wire, lost or not.
    log: Vec<(Duration, bool, String)>,
    start: Instant,
    a_events: VecDeque<Event>,
    b_events: VecDeque<Event>,
}

impl Pair {
    fn new() -> Self {
        let now = Instant::now();
        Pair {
            now,
            a: endpoint(5060, 1),
            b: endpoint(5061, 2),
            wire: Vec::new(),
            drop: Vec::new(),
            sent: 0,
            log: Vec::new(),
            start: now,
            a_events: VecDeque::new(),
            b_events: VecDeque::new(),
        }
    }

    fn peer(port: u16) -> Peer {
        Peer {
            transport: Transport::Udp,
            addr: addr(port),
        }
    }

    /// Moves outputs of both endpoints onto the wire or into their event queues.
    fn drain(&mut self) {
        for from_a in [true, false] {
            loop {
                let out = if from_a {
                    self.a.poll_output()
                } else {
                    self.b.poll_output()
                };
                let Some(out) = out else { break };
                match out {
                    Output::Transmit(t) => {
                        let line = String::from_utf8_lossy(&t.bytes)
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .to_owned();
                        self.log.push((self.now - self.start, from_a, line));
                        if !self.drop.contains(&self.sent) {
                            self.wire.push(Packet {
                                at: self.now + LATENCY,
                                to_b: from_a,
                                bytes: t.bytes,
                            });
                        }
                        self.sent += 1;
                    }
                    Output::Event(e) if from_a => self.a_events.push_back(e),
                    Output::Event(e) => self.b_events.push_back(e),
                }
            }
        }
    }

    /// Advances the clock to the next packet arrival or timer, up to `until`; false when idle.
    fn step(&mut self, until: Instant) -> bool {
        self.drain();
        let next_packet = self.wire.iter().map(|p| p.at).min();
        let next = [next_packet, self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next.filter(|t| *t <= until) else {
            return false;
        };
        self.now = self.now.max(next);
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.wire)
            .into_iter()
            .partition(|p| p.at <= self.now);
        self.wire = later;
        for packet in due {
            let msg = parse_message(&packet.bytes).expect("endpoints print parseable messages");
            if packet.to_b {
                self.b.handle_message(self.now, Self::peer(5060), msg);
            } else {
                self.a.handle_message(self.now, Self::peer(5061), msg);
            }
        }
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.drain();
        true
    }

    /// Runs until nothing is pending before `now + d`.
    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.step(until) {}
        self.now = self.now.max(until);
    }

    /// Runs until B has an event (bounded).
    fn next_b(&mut self) -> Event {
        let until = self.now + Duration::from_secs(120);
        while self.b_events.is_empty() && self.step(until) {}
        self.b_events.pop_front().expect("an event at B")
    }

    fn next_a(&mut self) -> Event {
        let until = self.now + Duration::from_secs(120);
        while self.a_events.is_empty() && self.step(until) {}
        self.a_events.pop_front().expect("an event at A")
    }

    fn sends(&self, from_a: bool, prefix: &str) -> Vec<Duration> {
        self.log
            .iter()
            .filter(|(_, a, l)| *a == from_a && l.starts_with(prefix))
            .map(|(t, _, _)| *t)
            .collect()
    }
}

fn ms(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|m| Duration::from_millis(*m)).collect()
}

#[test]
fn non_invite_retransmits_per_timer_e_and_times_out_at_timer_f() {
    let mut p = Pair::new();
    p.drop = (0..100).collect(); // total loss
    let tx = p.a.send_request(p.now, options_req(), Pair::peer(5061));
    let Event::ClientTimeout { tx: t } = p.next_a() else {
        panic!("expected a timeout")
    };
    assert_eq!(t, tx);
    // RFC 3261 §17.1.2.2: 500 ms, doubling to T2 = 4 s, until Timer F = 64·T1 = 32 s.
    assert_eq!(
        p.sends(true, "OPTIONS"),
        ms(&[
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ])
    );
    assert_eq!(p.now - p.start, Duration::from_secs(32));
    p.run_for(Duration::from_secs(10));
    assert_eq!(p.a.transaction_count(), (0, 0));
}

#[test]
fn invite_timer_a_doubles_without_cap_until_timer_b() {
    let mut p = Pair::new();
    p.drop = (0..100).collect();
    p.a.send_request(p.now, invite(), Pair::peer(5061));
    assert!(matches!(p.next_a(), Event::ClientTimeout { .. }));
    assert_eq!(
        p.sends(true, "INVITE"),
        ms(&[0, 500, 1500, 3500, 7500, 15500, 31500])
    );
}

#[test]
fn reliable_transports_never_retransmit() {
    let mut p = Pair::new();
    p.drop = (0..100).collect();
    let tcp = Peer {
        transport: Transport::Tcp,
        addr: addr(5061),
    };
    p.a.send_request(p.now, options_req(), tcp);
    assert!(matches!(p.next_a(), Event::ClientTimeout { .. }));
    assert_eq!(p.sends(true, "OPTIONS"), ms(&[0]));
}

/// A full call over a lossy network: the first INVITE and the first 200 are lost.
#[test]
fn call_survives_loss_and_retransmissions_are_absorbed() {
    let mut p = Pair::new();
    // Datagrams in send order: INVITE (lost), INVITE again, 100, 180, 200 (lost), …
    p.drop = vec![0, 4];
    let tx = p.a.send_request(p.now, invite(), Pair::peer(5061));
    let Event::Request {
        tx: stx, request, ..
    } = p.next_b()
    else {
        panic!()
    };
    assert_eq!(request.method(), &Method::INVITE);
    // received/rport stamped for the way back (RFC 3581)
    assert!(
        request
            .top_via()
            .unwrap()
            .params
            .get_val("rport")
            .is_some_and(|v| v == "5060")
    );
    p.b.send_response(
        p.now,
        stx,
        response_to(&request, StatusCode::RINGING, Some("b1")),
    )
    .unwrap();
    p.b.send_response(
        p.now,
        stx,
        response_to(&request, StatusCode::OK, Some("b1")),
    )
    .unwrap();
    let mut codes = Vec::new();
    while let Event::Response { tx: t, response } = p.next_a() {
        assert_eq!(t, tx);
        if response.code() > 100 {
            codes.push(response.code());
        }
        if response.code() == 200 {
            break;
        }
    }
    assert_eq!(codes, [180, 200]);
    // The 200 was lost once: B's UAS core retransmitted it (§13.3.1.4).
    assert!(p.sends(false, "SIP/2.0 200").len() >= 2);
    // Only one INVITE reached B's TU although A sent it twice.
    assert_eq!(p.sends(true, "INVITE").len(), 2);
    assert!(p.b_events.is_empty());
    // The ACK (built by the TU from the dialog; here by hand) stops B's retransmissions.
    let ack = parse_req(
        "ACK sip:bob@127.0.0.1:5061 SIP/2.0
Max-Forwards: 70
From: <sip:alice@127.0.0.1>;tag=a1
To: <sip:bob@127.0.0.1>;tag=b1
Call-ID: call-1@test
CSeq: 1 ACK
Content-Length: 0

",
    );
    p.a.send_stateless(p.now, ack, Pair::peer(5061));
    assert!(matches!(p.next_b(), Event::Ack { .. }));
    let before = p.sends(false, "SIP/2.0 200").len();
    p.run_for(Duration::from_secs(40));
    assert_eq!(
        p.sends(false, "SIP/2.0 200").len(),
        before,
        "2xx retransmission stops at the ACK"
    );
    assert!(p.b_events.is_empty(), "no AckTimeout");
    assert_eq!(p.a.transaction_count(), (0, 0));
    assert_eq!(p.b.transaction_count(), (0, 0));
}

#[test]
fn unacknowledged_2xx_gives_up_after_64_t1() {
    let mut p = Pair::new();
    p.a.send_request(p.now, invite(), Pair::peer(5061));
    let Event::Request { tx, request, .. } = p.next_b() else {
        panic!()
    };
    p.b.send_response(p.now, tx, response_to(&request, StatusCode::OK, Some("b1")))
        .unwrap();
    let start = p.now;
    let Event::AckTimeout { tx: t } = p.next_b() else {
        panic!("expected AckTimeout")
    };
    assert_eq!(t, tx);
    assert_eq!(p.now - start, Duration::from_secs(32));
    // T1 doubling, capped at T2: 0.5, 1.5, 3.5, 7.5, 11.5, … until 32 s.
    let twos = p.sends(false, "SIP/2.0 200");
    assert_eq!(twos.len(), 1 + 10, "{twos:?}");
}

#[test]
fn cancel_waits_for_a_provisional_and_ends_with_487() {
    let mut p = Pair::new();
    let tx = p.a.send_request(p.now, invite(), Pair::peer(5061));
    p.a.send_cancel(p.now, tx).unwrap();
    p.drain();
    assert!(
        p.sends(true, "CANCEL").is_empty(),
        "§9.1: no CANCEL before a provisional"
    );
    let Event::Request {
        tx: stx, request, ..
    } = p.next_b()
    else {
        panic!()
    };
    // 100 Trying went out at once; it lets A send the CANCEL.
    let Event::Cancelled { invite_tx, .. } = p.next_b() else {
        panic!("expected Cancelled")
    };
    assert_eq!(invite_tx, stx);
    p.b.send_response(
        p.now,
        stx,
        response_to(&request, StatusCode::REQUEST_TERMINATED, Some("b1")),
    )
    .unwrap();
    let mut seen = Vec::new();
    while let Some(Event::Response { response, .. }) = Some(p.next_a()) {
        seen.push(response.code());
        if response.code() == 487 {
            break;
        }
    }
    assert!(seen.ends_with(&[487]), "{seen:?}");
    p.run_for(Duration::from_secs(40));
    // The ACK for the 487 was sent by A's transaction and absorbed by B's (no Ack event at B).
    assert_eq!(p.sends(true, "ACK").len(), 1);
    assert!(p.b_events.is_empty(), "{:?}", p.b_events);
    assert_eq!(p.b.transaction_count(), (0, 0));
    assert_eq!(p.a.transaction_count(), (0, 0));
}

#[test]
fn cancel_for_nothing_gets_481() {
    let mut p = Pair::new();
    let cancel = parse_req(
        "CANCEL sip:bob@127.0.0.1:5061 SIP/2.0
Max-Forwards: 70
From: <sip:alice@127.0.0.1>;tag=a1
To: <sip:bob@127.0.0.1>
Call-ID: nothing@test
CSeq: 1 CANCEL
Content-Length: 0

",
    );
    let tx = p.a.send_request(p.now, cancel, Pair::peer(5061));
    let Event::Response { tx: t, response } = p.next_a() else {
        panic!()
    };
    assert_eq!((t, response.code()), (tx, 481));
}

#[test]
fn merged_request_is_482_and_unknown_method_501_and_require_420() {
    let mut p = Pair::new();
    // Two copies of one request with different branches: the second is a merge (§8.2.2.2).
    p.a.send_request(p.now, options_req(), Pair::peer(5061));
    let Event::Request { .. } = p.next_b() else {
        panic!()
    };
    p.a.send_request(p.now, options_req(), Pair::peer(5061));
    let Event::Response { response, .. } = p.next_a() else {
        panic!()
    };
    assert_eq!(response.code(), 482);

    let mut sub = options_req();
    sub.line.method = Method::SUBSCRIBE;
    sub.headers.remove(&Name::CSEQ);
    sub.headers
        .insert_named(&ezk_sip_types::header::typed::CSeq::new(
            1,
            Method::SUBSCRIBE,
        ));
    sub.headers.remove(&Name::CALL_ID);
    sub.headers.insert(Name::CALL_ID, "sub@test");
    p.a.send_request(p.now, sub, Pair::peer(5061));
    let Event::Response { response, .. } = p.next_a() else {
        panic!()
    };
    assert_eq!(response.code(), 501);
    assert!(response.headers.get_raw(&Name::ALLOW).next().is_some());

    let mut req = options_req();
    req.headers.remove(&Name::CALL_ID);
    req.headers.insert(Name::CALL_ID, "req@test");
    req.headers.insert(Name::REQUIRE, "100rel, path");
    p.a.send_request(p.now, req, Pair::peer(5061));
    let Event::Response { response, .. } = p.next_a() else {
        panic!()
    };
    assert_eq!(response.code(), 420);
    assert_eq!(
        response
            .headers
            .get_raw(&Name::UNSUPPORTED)
            .next()
            .map(|v| v.to_string())
            .as_deref(),
        Some("100rel")
    );
}

#[test]
fn rfc2543_request_retransmission_matches_without_a_branch_cookie() {
    let mut b = endpoint(5061, 3);
    let now = Instant::now();
    let text = "OPTIONS sip:bob@127.0.0.1:5061 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=old-style-1\r\n\
Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=t\r\nTo: <sip:bob@x>\r\nCall-ID: 2543@x\r\nCSeq: 3 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let from = Peer {
        transport: Transport::Udp,
        addr: addr(5070),
    };
    b.handle_message(now, from, parse_message(text.as_bytes()).unwrap());
    let mut requests = 0;
    let mut tx = None;
    while let Some(out) = b.poll_output() {
        if let Output::Event(Event::Request { tx: t, .. }) = out {
            requests += 1;
            tx = Some(t);
        }
    }
    let SipMessage::Request(req) = parse_message(text.as_bytes()).unwrap() else {
        panic!()
    };
    b.send_response(
        now,
        tx.unwrap(),
        response_to(&req, StatusCode::OK, Some("b")),
    )
    .unwrap();
    while b.poll_output().is_some() {}
    // The retransmission is matched by the RFC 2543 key and answered from the transaction.
    b.handle_message(now, from, parse_message(text.as_bytes()).unwrap());
    let mut resent = 0;
    while let Some(out) = b.poll_output() {
        match out {
            Output::Event(Event::Request { .. }) => requests += 1,
            Output::Transmit(t) => {
                assert!(t.bytes.starts_with(b"SIP/2.0 200"));
                assert_eq!(t.dest, from);
                resent += 1;
            }
            Output::Event(_) => {}
        }
    }
    assert_eq!((requests, resent), (1, 1));
}

proptest::proptest! {
    /// Whatever the network loses, every transaction ends and the tables empty out.
    #[test]
    fn every_transaction_ends_whatever_is_lost(drops in proptest::collection::vec(0usize..30, 0..12), answer in proptest::bool::ANY) {
        let mut p = Pair::new();
        p.drop = drops;
        p.a.send_request(p.now, invite(), Pair::peer(5061));
        p.a.send_request(p.now, options_req(), Pair::peer(5061));
        let until = p.now + Duration::from_secs(5);
        while p.step(until) {
            while let Some(event) = p.b_events.pop_front() {
                if let Event::Request { tx, request, .. } = event {
                    let code = if answer { StatusCode::OK } else { StatusCode::BUSY_HERE };
                    p.b.send_response(p.now, tx, response_to(&request, code, Some("b"))).unwrap();
                }
            }
        }
        p.run_for(Duration::from_secs(400));
        proptest::prop_assert_eq!(p.a.transaction_count(), (0, 0));
        proptest::prop_assert_eq!(p.b.transaction_count(), (0, 0));
        proptest::prop_assert!(p.b.pending_2xx.is_empty());
    }
}

const STRANGER_INVITE: &str = "INVITE sip:1002@127.0.0.1:5061 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKstranger\r\n\
Max-Forwards: 70\r\nFrom: <sip:scan@x>;tag=t\r\nTo: <sip:1002@x>\r\nCall-ID: scan@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

/// Feeds `text` from port 5070; returns what went out (first lines) and the request's tx.
fn feed(b: &mut Endpoint, now: Instant, text: &str) -> (Vec<String>, Option<ServerTxId>) {
    let from = Peer {
        transport: Transport::Udp,
        addr: addr(5070),
    };
    b.handle_message(now, from, parse_message(text.as_bytes()).unwrap());
    let mut sent = Vec::new();
    let mut tx = None;
    while let Some(out) = b.poll_output() {
        match out {
            Output::Event(Event::Request { tx: t, .. }) => tx = Some(t),
            Output::Transmit(t) => sent.push(first_line(&t.bytes)),
            Output::Event(_) => {}
        }
    }
    (sent, tx)
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_stateless_refusal_is_sent_once_and_keeps_nothing() {
    let mut b = endpoint(5061, 4);
    let now = Instant::now();
    let from = Peer {
        transport: Transport::Udp,
        addr: addr(5070),
    };
    b.handle_message(
        now,
        from,
        parse_message(STRANGER_INVITE.as_bytes()).unwrap(),
    );
    // The TU refuses as soon as it sees the request: no 100 Trying goes out before it.
    let Some(Output::Event(Event::Request { tx, request, .. })) = b.poll_output() else {
        panic!("the request comes first")
    };
    let refusal = response_to(
        &request,
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        Some("b"),
    );
    b.send_stateless_response(tx, refusal).unwrap();
    let mut sent = Vec::new();
    while let Some(out) = b.poll_output() {
        if let Output::Transmit(t) = out {
            sent.push(first_line(&t.bytes));
        }
    }
    assert_eq!(sent, ["SIP/2.0 407 Proxy Authentication Required"]);
    assert_eq!(b.transaction_count(), (0, 0));
    // No timer retransmits it: an amplifier it is not.
    for secs in [1, 4, 32, 64, 128] {
        b.handle_timeout(now + Duration::from_secs(secs));
        assert!(b.poll_output().is_none(), "something sent at {secs} s");
    }
    // A retransmission of the INVITE is a new request, answered once more (one answer each).
    let (sent, tx) = feed(&mut b, now + Duration::from_millis(500), STRANGER_INVITE);
    assert_eq!(
        sent,
        ["SIP/2.0 100 Trying"],
        "unanswered by the TU: 100 at the poll"
    );
    assert!(tx.is_some());
    assert_eq!(
        b.send_stateless_response(ServerTxId(999), response_to(&request, StatusCode::OK, None)),
        Err(EndpointError::NoTransaction)
    );
}

#[test]
fn an_invite_the_tu_does_not_answer_at_once_gets_100_trying() {
    let mut b = endpoint(5061, 5);
    let now = Instant::now();
    let (sent, tx) = feed(&mut b, now, STRANGER_INVITE);
    assert_eq!(sent, ["SIP/2.0 100 Trying"]);
    // Its retransmission is absorbed by the transaction and answered with the 100 again.
    let (sent, again) = feed(&mut b, now + Duration::from_millis(500), STRANGER_INVITE);
    assert_eq!(
        (sent.as_slice(), again),
        (["SIP/2.0 100 Trying".to_owned()].as_slice(), None)
    );
    assert!(tx.is_some());
}
