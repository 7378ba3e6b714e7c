//! The switch against a password guesser and a scanner, on loopback: failures are logged in the
//! fail2ban format, the guessing source is slowed and banned and heard again when the ban ends,
//! and strangers' requests are answered once, statelessly.
//!
//! These speak SIP over a plain UDP socket (no SIPp needed): the requests are exactly what a
//! cracker sends, and every datagram the switch returns is counted.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use switchboard_sip::auth::{Algorithm, Credentials, compute_response};
use switchboard_tests::{Config, Switchboard};

/// A SIP client on its own loopback port.
struct Client {
    socket: UdpSocket,
    to: SocketAddr,
    n: u32,
}

impl Client {
    fn new(to: SocketAddr) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        Client { socket, to, n: 0 }
    }

    fn port(&self) -> u16 {
        self.socket.local_addr().expect("local").port()
    }

    /// A REGISTER for 1001 with `authorization` if given; returns its Call-ID.
    fn register(&mut self, authorization: Option<&str>) {
        self.n += 1;
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let text = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKguess{n}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:1001@127.0.0.1>;tag=g{n}\r\n\
             To: <sip:1001@127.0.0.1>\r\n\
             Call-ID: guess-{port}@127.0.0.1\r\n\
             CSeq: {n} REGISTER\r\n\
             Contact: <sip:1001@127.0.0.1:{port}>\r\n\
             Expires: 60\r\n\
             {auth}Content-Length: 0\r\n\r\n",
            port = self.port(),
            n = self.n,
        );
        self.socket.send_to(text.as_bytes(), self.to).expect("send");
    }

    /// Every datagram received within `wait`.
    fn receive_for(&self, wait: Duration) -> Vec<String> {
        let until = Instant::now() + wait;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_535];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return got;
            }
            self.socket.set_read_timeout(Some(left)).expect("timeout");
            match self.socket.recv_from(&mut buf) {
                Ok((n, _)) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(_) => return got,
            }
        }
    }

    /// The first datagram within `wait`.
    fn receive(&self, wait: Duration) -> Option<String> {
        self.socket.set_read_timeout(Some(wait)).expect("timeout");
        let mut buf = vec![0u8; 65_535];
        let (n, _) = self.socket.recv_from(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Challenge, then answer it with `password`: the final status line and how long the
    /// answer took.
    fn try_password(&mut self, password: &str, wait: Duration) -> Option<(String, Duration)> {
        self.register(None);
        let challenge = self.receive(Duration::from_secs(6))?;
        assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
        let header = authorization(&nonce_of(&challenge), 1, password);
        let sent = Instant::now();
        self.register(Some(&header));
        let answer = self.receive(wait)?;
        Some((
            answer.lines().next().unwrap_or_default().to_owned(),
            sent.elapsed(),
        ))
    }
}

/// The nonce of a challenge.
fn nonce_of(challenge: &str) -> String {
    challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a nonce")
        .to_owned()
}

/// What a phone answers, as user 1001 with `password`, to `nonce` with nonce-count `nc`.
fn authorization(nonce: &str, nc: u32, password: &str) -> String {
    let mut creds = Credentials {
        username: "1001".into(),
        realm: "switchboard".into(),
        nonce: nonce.to_owned(),
        uri: "sip:127.0.0.1".into(),
        qop: Some("auth".into()),
        nc: Some(format!("{nc:08x}")),
        cnonce: Some("c0ffee".into()),
        ..Credentials::default()
    };
    creds.response = compute_response(
        Algorithm::Md5,
        "1001",
        "switchboard",
        password,
        "REGISTER",
        &creds,
    );
    format!(
        "Digest username=\"1001\", realm=\"switchboard\", nonce=\"{nonce}\", \
         uri=\"sip:127.0.0.1\", response=\"{}\", algorithm=MD5, qop=auth, nc={nc:08x}, \
         cnonce=\"c0ffee\"",
        creds.response
    )
}

fn guarded() -> Switchboard {
    Switchboard::start_config(
        Config::shipped()
            .set("security", "auth_slow_after", "2")
            .set("security", "auth_slow_step_ms", "300")
            .set("security", "auth_ban_after", "5")
            .set("security", "auth_ban_s", "3"),
    )
}

#[test]
fn a_password_guesser_is_logged_slowed_banned_and_heard_again_after_the_ban() {
    let sb = guarded();
    let mut cracker = Client::new(sb.sip);
    let mut delays = Vec::new();
    for guess in ["123456", "password", "1001", "demo"] {
        let (status, took) = cracker
            .try_password(guess, Duration::from_secs(5))
            .expect("an answer while not banned");
        assert_eq!(status, "SIP/2.0 403 Forbidden", "{guess}");
        delays.push(took);
    }
    // The first two refusals come at once, the third 300 ms late, the fourth 600 ms late.
    assert!(delays[0] < Duration::from_millis(250), "{delays:?}");
    assert!(delays[2] >= Duration::from_millis(300), "{delays:?}");
    assert!(delays[3] >= Duration::from_millis(600), "{delays:?}");
    // The fifth failure bans: no answer to it, and none to anything else from 127.0.0.1,
    // even the right password from another port.
    assert_eq!(
        cracker.try_password("qwerty", Duration::from_millis(800)),
        None
    );
    let mut agent = Client::new(sb.sip);
    agent.register(None);
    assert_eq!(
        agent.receive(Duration::from_millis(800)),
        None,
        "banned source answered"
    );
    let log = sb.log();
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("sip auth failed"))
        .collect();
    assert_eq!(failures.len(), 5, "{log}");
    for line in &failures {
        // The fail2ban filter of docs/security.md relies on this shape.
        assert!(
            line.contains(" WARN ")
                && line.contains("source=127.0.0.1 ")
                && line.contains("user=\"1001\"")
                && line.contains("method=REGISTER")
                && line.contains("reason=wrong-password"),
            "{line}"
        );
    }
    assert!(
        log.lines()
            .any(|l| l.contains("sip source banned") && l.contains("source=127.0.0.1")),
        "{log}"
    );
    // The ban lasts 3 s: afterwards the real password registers.
    std::thread::sleep(Duration::from_millis(3_200));
    let (status, _) = agent
        .try_password("demo-1001", Duration::from_secs(5))
        .expect("heard again after the ban");
    assert_eq!(status, "SIP/2.0 200 OK");
}

#[test]
fn one_nonce_cannot_carry_a_second_guess() {
    let sb = guarded();
    let mut cracker = Client::new(sb.sip);
    cracker.register(None);
    let challenge = cracker.receive(Duration::from_secs(5)).expect("challenge");
    let nonce = nonce_of(&challenge);
    // Pipelined guesses on one nonce with growing nonce-counts, as the cracker in the issue
    // sent: the first is checked (403); the rest, even the right password, are challenged.
    let mut answers = Vec::new();
    for (nc, password) in [(1, "guess-a"), (2, "guess-b"), (3, "demo-1001")] {
        cracker.register(Some(&authorization(&nonce, nc, password)));
        let answer = cracker.receive(Duration::from_secs(5)).expect("answer");
        answers.push(answer.lines().next().unwrap_or_default().to_owned());
    }
    assert_eq!(
        answers,
        [
            "SIP/2.0 403 Forbidden",
            "SIP/2.0 401 Unauthorized",
            "SIP/2.0 401 Unauthorized"
        ]
    );
    // Each guess counted as a failure: the checked one, and the two on a spent nonce.
    let log = sb.log();
    let reasons: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("sip auth failed"))
        .filter_map(|l| l.split("reason=").nth(1))
        .filter_map(|r| r.split(' ').next())
        .collect();
    assert_eq!(
        reasons,
        ["wrong-password", "spent-nonce", "spent-nonce"],
        "{log}"
    );
}

#[test]
fn an_unauthenticated_invite_gets_one_407_and_nothing_more() {
    let sb = Switchboard::start("");
    let stranger = Client::new(sb.sip);
    // From a registered-looking agent address (its From names agent 1001), so it must
    // authenticate; it never sends the ACK, as a scanner would not.
    let port = stranger.port();
    let invite = format!(
        "INVITE sip:1002@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKscan1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1001@127.0.0.1>;tag=scan\r\n\
         To: <sip:1002@127.0.0.1>\r\n\
         Call-ID: scan-{port}@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:1001@127.0.0.1:{port}>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    stranger
        .socket
        .send_to(invite.as_bytes(), sb.sip)
        .expect("send");
    // A stateful 407 would be retransmitted at 0.5, 1.5, 3.5 s… until an ACK (11 times).
    let got = stranger.receive_for(Duration::from_secs(4));
    let lines: Vec<&str> = got.iter().filter_map(|m| m.lines().next()).collect();
    assert_eq!(
        lines,
        ["SIP/2.0 407 Proxy Authentication Required"],
        "{got:?}"
    );
}

/// SIPVicious, the scanner every SIP port on the internet meets. It sends from 127.0.0.1 (its
/// `-b` does not change the source), so the demo trunk's range is moved off that address: the
/// scanner is a stranger, as it would be on the internet.
fn scanned_switch() -> Switchboard {
    Switchboard::start_config(Config::shipped().set_entry(
        "trunks",
        "local",
        "allow_from",
        "[\"127.0.0.9/32\"]",
    ))
}

fn sipvicious(tool: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("timeout")
        .arg("120")
        .arg(tool)
        .args(args)
        .output()
        .expect("sipvicious runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn svwar_finds_no_extension() {
    if !switchboard_tests::require_tool("sipvicious_svwar") {
        return;
    }
    let sb = scanned_switch();
    let target = format!("udp://127.0.0.1:{}", sb.sip.port());
    for method in ["REGISTER", "INVITE", "OPTIONS"] {
        let out = sipvicious(
            "sipvicious_svwar",
            &["-e", "1000-1010", "-m", method, &target],
        );
        assert!(out.contains("found nothing"), "{method}: {out}");
        for extension in ["1001", "1002", "1003", "1004"] {
            assert!(!out.contains(&format!("| {extension}")), "{method}: {out}");
        }
    }
}

/// One svcrack run against its own switch; returns what it printed and the switch's log.
fn svcrack(extra: &[&str]) -> (String, String) {
    let sb = scanned_switch();
    let dir = switchboard_tests::tempdir::Dir::new("svcrack");
    // The right password is the 30th guess: past the ban (10 failures), never reached.
    let mut words: Vec<String> = (1..=29).map(|i| format!("guess{i}")).collect();
    words.push("demo-1001".into());
    words.extend((31..=50).map(|i| format!("guess{i}")));
    let dictionary = dir.path().join("dictionary.txt");
    std::fs::write(&dictionary, words.join("\n")).expect("dictionary");
    let dictionary = dictionary.display().to_string();
    let target = format!("udp://127.0.0.1:{}", sb.sip.port());
    let mut args = vec!["-u", "1001", "-d", &dictionary];
    args.extend_from_slice(extra);
    args.push(&target);
    let out = sipvicious("sipvicious_svcrack", &args);
    (out, sb.log())
}

#[test]
fn svcrack_finds_no_password_and_is_banned_with_or_without_reusing_nonces() {
    if !switchboard_tests::require_tool("sipvicious_svcrack") {
        return;
    }
    let runs: Vec<(&str, (String, String))> = std::thread::scope(|s| {
        let plain = s.spawn(|| svcrack(&[]));
        let reuse = s.spawn(|| svcrack(&["-n"]));
        vec![
            ("svcrack", plain.join().expect("svcrack")),
            ("svcrack -n", reuse.join().expect("svcrack -n")),
        ]
    });
    for (run, (out, log)) in runs {
        assert!(out.contains("found nothing"), "{run}: {out}");
        assert!(!out.contains("demo-1001"), "{run}: {out}");
        assert!(
            log.lines()
                .any(|l| l.contains("sip source banned") && l.contains("source=127.0.0.1 ")),
            "{run}: not banned:\n{log}"
        );
        assert!(!log.contains("registered"), "{run}: {log}");
    }
}

/// Whether the server closed `stream` within `wait` (a read returning 0 or an error).
fn closed_within(stream: &mut std::net::TcpStream, wait: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(wait)).expect("timeout");
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn tcp_connections_are_limited_per_source_and_udp_keeps_working() {
    let sb = Switchboard::start_config(Config::shipped().set("sip", "tcp_max_per_source", "5"));
    let mut held: Vec<std::net::TcpStream> = (0..8)
        .map(|_| std::net::TcpStream::connect(sb.sip).expect("connect"))
        .collect();
    let closed: Vec<bool> = held
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_millis(700)))
        .collect();
    assert_eq!(
        closed,
        [false, false, false, false, false, true, true, true],
        "the first five stay open, the rest are closed at once"
    );
    // Signalling over UDP is not affected.
    let reply =
        switchboard_tests::options(sb.sip, Duration::from_secs(3)).expect("OPTIONS over UDP");
    assert!(reply.starts_with("SIP/2.0 200"), "{reply}");
    // A connection that closes frees its place.
    held.truncate(4);
    std::thread::sleep(Duration::from_millis(300));
    let mut again = std::net::TcpStream::connect(sb.sip).expect("connect");
    assert!(!closed_within(&mut again, Duration::from_millis(700)));
    assert!(
        sb.log()
            .contains("TCP connection refused: too many connections"),
        "{}",
        sb.log()
    );
}

#[test]
fn a_stranger_over_tcp_is_held_to_its_message_rate() {
    // The demo trunk narrowed to 127.0.0.1: 127.0.0.5 is a stranger.
    let sb = Switchboard::start_config(Config::shipped().set_entry(
        "trunks",
        "local",
        "allow_from",
        "[\"127.0.0.1/32\"]",
    ));
    // A stranger (127.0.0.5) pipelines 400 OPTIONS on one connection.
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 5], 0)).into())
        .expect("bind 127.0.0.5");
    socket.connect(&sb.sip.into()).expect("connect");
    let mut stream: std::net::TcpStream = socket.into();
    let port = stream.local_addr().expect("local").port();
    let mut burst = String::new();
    for i in 0..400 {
        burst.push_str(&format!(
            "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.5:{port};branch=z9hG4bKtcp{i}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.5>;tag=t{i}\r\nTo: <sip:127.0.0.1>\r\n\
             Call-ID: tcp-rate-{i}@127.0.0.5\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ));
    }
    let started = Instant::now();
    std::io::Write::write_all(&mut stream, burst.as_bytes()).expect("send");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut heard = Vec::new();
    let mut buf = [0u8; 65_536];
    while started.elapsed() < Duration::from_secs(2) {
        match std::io::Read::read(&mut stream, &mut buf) {
            Ok(0) => break,
            Ok(n) => heard.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let took = started.elapsed();
    let answers = String::from_utf8_lossy(&heard)
        .matches("SIP/2.0 200 OK")
        .count();
    // Its bucket: 100 at once, then 50 a second.
    let allowed = 100.0 + 50.0 * took.as_secs_f64();
    assert!(
        answers >= 100,
        "only {answers} answers: the burst was not served"
    );
    assert!(
        (answers as f64) <= allowed + 5.0,
        "{answers} answers to 400 OPTIONS in {took:?} (allowed {allowed:.0})"
    );
}

#[test]
fn a_message_trickled_a_byte_at_a_time_is_cut_off_at_its_deadline() {
    use std::io::Write;
    let sb = Switchboard::start_config(Config::shipped().set("sip", "tcp_message_timeout_s", "2"));
    let mut slow = std::net::TcpStream::connect(sb.sip).expect("connect");
    let started = Instant::now();
    let head =
        b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKslow\r\n";
    let mut cut = None;
    // One byte every 200 ms: an idle timer restarted by each byte would never fire.
    for byte in head.iter().cycle().take(40) {
        if slow.write_all(&[*byte]).is_err() || closed_within(&mut slow, Duration::from_millis(200))
        {
            cut = Some(started.elapsed());
            break;
        }
    }
    let cut = cut.expect("the trickling connection was never closed");
    assert!(
        cut >= Duration::from_millis(1_800) && cut < Duration::from_secs(5),
        "closed after {cut:?}"
    );
    assert!(
        sb.log().contains("TCP message not complete in time"),
        "{}",
        sb.log()
    );
}

/// Floods the switch with INVITEs to an unknown number from `source` while SIPp places 30
/// calls at 10 a second from the demo trunk (narrowed to 127.0.0.1) to a registered agent;
/// asserts every real call completes and RSS stays within 20 %. Returns the INVITEs sent, the
/// answers heard, and how long the flood lasted.
fn flood_while_calling(source: &str) -> (u64, u64, Duration) {
    // A second trunk, "carrier", at 127.0.0.9: a trunk's address is easy to forge over UDP.
    let sb = Switchboard::start_config(
        Config::shipped()
            .set_entry("trunks", "local", "allow_from", "[\"127.0.0.1/32\"]")
            .append("[[trunks]]\nname = \"carrier\"\nallow_from = [\"127.0.0.9/32\"]\n"),
    );
    let agent_port = switchboard_tests::free_port();
    switchboard_tests::phone::register(&sb, "1002", agent_port);
    let calls = "30";
    let agent = switchboard_tests::Sipp::new("agent_answer.xml", None, agent_port)
        .arg(&["-m", calls])
        .spawn();
    let rss_before = sb.rss_kib().expect("RSS before");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (caller, flood) = std::thread::scope(|s| {
        let flood = s.spawn(|| {
            let socket = UdpSocket::bind((source, 0)).expect("bind the flood's source");
            socket
                .set_read_timeout(Some(Duration::from_millis(1)))
                .expect("timeout");
            let port = socket.local_addr().expect("local").port();
            let (mut sent, mut answers) = (0u64, 0u64);
            let mut buf = vec![0u8; 65_535];
            let started = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && started.elapsed() < Duration::from_secs(20)
                && sent < 2_000_000
            {
                for _ in 0..200 {
                    let invite = format!(
                        "INVITE sip:7777@127.0.0.1 SIP/2.0\r\n\
                         Via: SIP/2.0/UDP {source}:{port};branch=z9hG4bKflood{sent}\r\n\
                         Max-Forwards: 70\r\nFrom: <sip:flood@{source}>;tag=f{sent}\r\n\
                         To: <sip:7777@127.0.0.1>\r\nCall-ID: flood-{sent}@{source}\r\n\
                         CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
                    );
                    if socket.send_to(invite.as_bytes(), sb.sip).is_ok() {
                        sent += 1;
                    }
                }
                while socket.recv_from(&mut buf).is_ok() {
                    answers += 1;
                }
            }
            (sent, answers, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(500));
        let caller = switchboard_tests::Sipp::new(
            "caller_bye.xml",
            Some(sb.sip),
            switchboard_tests::free_port(),
        )
        .arg(&["-s", "1002", "-m", calls, "-r", "10"])
        .run();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (caller, flood.join().expect("flood"))
    });
    let agent = agent.wait();
    let (sent, answers, took) = flood;
    // What the flood left behind: nothing of it is kept (refusals are stateless, the limiter's
    // table holds one address).
    let rss_after = sb.rss_kib().expect("RSS after");
    eprintln!(
        "flood from {source}: {sent} INVITEs in {took:?}, {answers} answered; {calls} of {calls} real calls \
         completed; RSS {rss_before} KiB before, {rss_after} KiB after"
    );
    assert!(
        rss_after <= rss_before + rss_before / 5,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    assert!(
        caller.ok(),
        "legitimate calls failed under a flood of {sent} INVITEs: {}\n{}",
        caller.errors,
        sb.log_tail(40)
    );
    assert!(agent.ok(), "{}", agent.errors);
    (sent, answers, took)
}

#[test]
fn a_flood_from_one_stranger_does_not_keep_real_calls_out() {
    if !switchboard_tests::require_tool("sipp") {
        return;
    }
    let (sent, answers, took) = flood_while_calling("127.0.0.5");
    assert!(
        sent > 10 * answers,
        "the flood was not a flood: {sent} sent"
    );
    // The stranger was heard at its rate (50/s, 100 at once) and no more.
    let allowed = 100.0 + 50.0 * took.as_secs_f64();
    assert!(
        (answers as f64) <= allowed * 1.1 + 10.0,
        "{answers} answers to {sent} INVITEs in {took:?}"
    );
}

#[test]
fn a_flood_from_a_trunk_address_does_not_keep_another_trunks_calls_out() {
    if !switchboard_tests::require_tool("sipp") {
        return;
    }
    let (sent, answers, took) = flood_while_calling("127.0.0.9");
    // A trunk is heard at its own rate (known_source_rate 2000/s, 4000 at once), no more.
    let allowed = 4000.0 + 2000.0 * took.as_secs_f64();
    assert!(
        (answers as f64) <= allowed * 1.1 + 10.0,
        "{answers} answers to {sent} INVITEs in {took:?}"
    );
}

#[test]
fn a_trunk_at_its_call_limit_gets_503_and_the_refusal_is_recorded() {
    // The demo trunk may carry two calls at once; the IVR answers each (a raw INVITE that never
    // sends the ACK keeps its call up while the test looks).
    let root = switchboard_tests::workspace();
    let sb = Switchboard::start_config(
        Config::shipped()
            .set_entry("trunks", "local", "max_calls", "2")
            .set("dialplan", "dir", &format!("{:?}", root.join("dialplans")))
            .set("dialplan", "sounds", &format!("{:?}", root.join("sounds"))),
    );
    let carrier = Client::new(sb.sip);
    let port = carrier.port();
    let mut first_lines = Vec::new();
    for n in 1..=3 {
        let invite = format!(
            "INVITE sip:+33180000000@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKlimit{n}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:+3361234567{n}@carrier.invalid>;tag=l{n}\r\n\
             To: <sip:+33180000000@127.0.0.1>\r\n\
             Call-ID: limit-{n}-{port}@carrier\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:carrier@127.0.0.1:{port}>\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: 129\r\n\r\n\
             v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
        );
        carrier
            .socket
            .send_to(invite.as_bytes(), sb.sip)
            .expect("send");
        // Wait for this INVITE's final answer (the IVR answers 200; the third gets 503).
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut final_line = None;
        while Instant::now() < deadline && final_line.is_none() {
            for message in carrier.receive_for(Duration::from_millis(200)) {
                let line = message.lines().next().unwrap_or_default().to_owned();
                if message.contains(&format!("Call-ID: limit-{n}-"))
                    && !line.starts_with("SIP/2.0 1")
                {
                    if line.starts_with("SIP/2.0 503") {
                        assert!(message.contains("Retry-After: 5"), "{message}");
                    }
                    final_line = Some(line);
                }
            }
        }
        first_lines.push(final_line.unwrap_or_else(|| format!("no answer to INVITE {n}")));
    }
    assert_eq!(
        first_lines,
        [
            "SIP/2.0 200 OK",
            "SIP/2.0 200 OK",
            "SIP/2.0 503 Service Unavailable"
        ],
        "{}",
        sb.log_tail(30)
    );
    let row = switchboard_tests::acd::wait_for_cdr(
        &sb,
        &format!("limit-3-{port}@carrier"),
        Duration::from_secs(5),
        |row| row.disposition.is_some(),
    )
    .expect("the refused call has a record");
    assert_eq!(row.disposition.as_deref(), Some("failed"));
    assert_eq!(row.hangup_cause.as_deref(), Some("refused:trunk-max-calls"));
    assert_eq!(row.trunk.as_deref(), Some("local"));
    assert!(
        sb.log().contains("trunk call refused: too many calls"),
        "{}",
        sb.log()
    );
}
