//! RFC 4475's torture messages sent as datagrams to the running switch: each gets the answer
//! the RFC asks for (or none, for broken responses), and the switch stays up throughout.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use switchboard_tests::{Switchboard, options, workspace};

/// The first final response (or the only response) to `datagram`, or None within `wait`.
fn exchange(
    socket: &UdpSocket,
    to: std::net::SocketAddr,
    datagram: &[u8],
    wait: Duration,
) -> Option<u16> {
    socket.send_to(datagram, to).ok()?;
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 65_535];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let (n, _) = socket.recv_from(&mut buf).ok()?;
        let code: u16 = String::from_utf8_lossy(&buf[..n])
            .get(8..11)?
            .parse()
            .ok()?;
        if code >= 200 {
            return Some(code);
        }
    }
}

#[test]
fn torture_messages_get_the_answers_rfc4475_asks_for() {
    let sb = Switchboard::start("");
    // (file, expected final status or None for no answer)
    let cases: &[(&str, Option<u16>)] = &[
        ("wsinv", Some(481)),   // valid; its To has a tag and no such dialog exists: 481
        ("intmeth", Some(501)), // valid; an extension method we do not implement
        ("esc01", Some(404)),
        ("escnull", Some(401)), // REGISTER: challenged
        ("esc02", Some(501)),
        ("lwsdisp", Some(200)), // OPTIONS to us
        ("longreq", Some(404)),
        ("dblreq", Some(401)),
        ("semiuri", Some(200)),
        ("transports", Some(200)),
        ("mpart01", Some(405)), // MESSAGE outside a dialog: not offered
        ("unreason", None),     // responses that match nothing: ignored
        ("noreason", None),
        ("badinv01", Some(400)),
        ("clerr", Some(400)),
        ("scalar02", Some(400)),
        ("scalarlg", None),
        ("quotbal", Some(400)),
        ("ltgtruri", Some(400)),
        ("lwsruri", Some(400)),
        ("lwsstart", Some(400)),
        ("trws", Some(400)),
        ("escruri", Some(400)),
        ("baddate", Some(400)),
        ("regbadct", Some(400)),
        ("badaspec", Some(400)),
        ("baddn", Some(400)),
        ("badvers", Some(505)),
        ("mismatch01", Some(400)),
        ("mismatch02", Some(400)),
        ("bigcode", None),
        ("insuf", Some(400)),
        ("unkscm", Some(416)),
        ("novelsc", Some(416)),
        ("bext01", Some(420)),   // Require: nothing we support
        ("invut", Some(415)),    // body of an unknown type
        ("regaut01", Some(401)), // unknown authorization scheme: challenged
        ("multi01", Some(400)),
        ("mcl01", Some(400)),
        ("bcast", None),
        ("zeromf", Some(200)), // OPTIONS addressed to us: Max-Forwards 0 does not matter
        ("sdp01", Some(406)),  // accepts no SDP in return
        ("inv2543", Some(404)),
    ];
    let mut wrong = Vec::new();
    for (name, expected) in cases {
        let bytes = std::fs::read(
            workspace()
                .join("tests/rfc4475")
                .join(format!("{name}.dat")),
        )
        .unwrap();
        // A final answer comes at once; silence is waited for briefly.
        let wait = if expected.is_some() {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(300)
        };
        // A socket of its own per message: retransmitted finals of one (we never ACK them)
        // must not be read as the answer to the next.
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let got = exchange(&socket, sb.sip, &bytes, wait);
        if got != *expected {
            wrong.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}\n{}", wrong.join("\n"), sb.log());
    let reply = options(sb.sip, Duration::from_secs(2)).expect("still answering");
    assert!(reply.starts_with("SIP/2.0 200"), "{reply}");
}

#[test]
fn garbage_and_oversized_datagrams_are_dropped_and_the_switch_stays_up() {
    let mut sb = Switchboard::start("");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut junk = vec![0xffu8; 60_000];
    junk[..8].copy_from_slice(b"INVITE s");
    for datagram in [
        &b"\x00\x01\x02\x03"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        &junk,
        b"SIP/2.0 200\r\n\r\n",
    ] {
        assert_eq!(
            exchange(&socket, sb.sip, datagram, Duration::from_millis(200)),
            None
        );
    }
    assert!(sb.is_running());
    assert!(options(sb.sip, Duration::from_secs(2)).is_some_and(|r| r.starts_with("SIP/2.0 200")));
}
