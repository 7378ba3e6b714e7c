use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::test_support::req;

fn registrar() -> Registrar {
    Registrar::new(RegistrarConfig {
        min_expires: 60,
        max_expires: 3600,
        default_expires: 600,
        max_contacts_per_aor: 3,
    })
}

fn source(port: u16) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

fn register(user: &str, contact: &str, expires: Option<u32>, call_id: &str, cseq: u32) -> Request {
    let contact = if contact.is_empty() {
        String::new()
    } else {
        format!("Contact: {contact}\n")
    };
    let expires = expires
        .map(|e| format!("Expires: {e}\n"))
        .unwrap_or_default();
    req(&format!(
        "REGISTER sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{cseq}
Max-Forwards: 70
From: <sip:{user}@127.0.0.1>;tag=1
To: <sip:{user}@127.0.0.1>
Call-ID: {call_id}
CSeq: {cseq} REGISTER
{contact}{expires}Content-Length: 0

"
    ))
}

#[test]
fn registers_lists_and_expires_contacts() {
    let mut r = registrar();
    let t0 = Instant::now();
    let ok = r.handle_register(
        t0,
        &register("1001", "<sip:1001@127.0.0.1:5070>", Some(120), "c1", 1),
        source(5070),
        "1001",
    );
    assert_eq!(ok.code(), 200);
    assert_eq!(
        ok.headers
            .get_raw(&Name::CONTACT)
            .next()
            .map(ToString::to_string)
            .as_deref(),
        Some("<sip:1001@127.0.0.1:5070>;expires=120")
    );
    let ok = r.handle_register(
        t0,
        &register(
            "1001",
            "<sip:1001@127.0.0.1:5071>;expires=300",
            None,
            "c2",
            1,
        ),
        source(5071),
        "1001",
    );
    assert_eq!(
        ok.headers.get_raw(&Name::CONTACT).count(),
        2,
        "the 200 lists every binding"
    );
    let bindings = r.lookup(t0, "1001");
    assert_eq!(bindings.len(), 2);
    assert_eq!(
        bindings[0].contact.host_port.port,
        Some(5071),
        "newest first"
    );
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(120)));
    let gone = r.sweep(t0 + Duration::from_secs(121));
    assert_eq!(gone.len(), 1);
    assert!(r.is_registered(t0 + Duration::from_secs(121), "1001"));
    assert!(!r.is_registered(t0 + Duration::from_secs(301), "1001"));
}

#[test]
fn too_brief_is_423_with_min_expires_and_too_long_is_clamped() {
    let mut r = registrar();
    let t0 = Instant::now();
    let brief = r.handle_register(
        t0,
        &register("1001", "<sip:1001@127.0.0.1:5070>", Some(30), "c", 1),
        source(5070),
        "1001",
    );
    assert_eq!(brief.code(), 423);
    assert_eq!(
        brief
            .headers
            .get_raw(&Name::MIN_EXPIRES)
            .next()
            .map(ToString::to_string)
            .as_deref(),
        Some("60")
    );
    let long = r.handle_register(
        t0,
        &register("1001", "<sip:1001@127.0.0.1:5070>", Some(86_400), "c", 2),
        source(5070),
        "1001",
    );
    assert_eq!(long.code(), 200);
    assert_eq!(
        r.lookup(t0, "1001")[0].expires_at,
        t0 + Duration::from_secs(3600)
    );
}

#[test]
fn expires_zero_and_wildcard_unregister() {
    let mut r = registrar();
    let t0 = Instant::now();
    for (port, cseq) in [(5070, 1), (5071, 2)] {
        let c = format!("<sip:1001@127.0.0.1:{port}>");
        r.handle_register(
            t0,
            &register("1001", &c, Some(120), "c", cseq),
            source(port),
            "1001",
        );
    }
    r.handle_register(
        t0,
        &register("1001", "<sip:1001@127.0.0.1:5070>", Some(0), "c", 3),
        source(5070),
        "1001",
    );
    assert_eq!(r.lookup(t0, "1001").len(), 1);
    let bad = r.handle_register(
        t0,
        &register("1001", "*", Some(60), "c", 4),
        source(5070),
        "1001",
    );
    assert_eq!(bad.code(), 400, "* needs Expires: 0");
    let ok = r.handle_register(
        t0,
        &register("1001", "*", Some(0), "c", 5),
        source(5070),
        "1001",
    );
    assert_eq!(ok.code(), 200);
    assert!(r.lookup(t0, "1001").is_empty());
}

#[test]
fn only_ones_own_aor_and_no_replays() {
    let mut r = registrar();
    let t0 = Instant::now();
    let other = r.handle_register(
        t0,
        &register("1002", "<sip:1002@127.0.0.1:5070>", Some(120), "c", 1),
        source(5070),
        "1001",
    );
    assert_eq!(other.code(), 403);
    r.handle_register(
        t0,
        &register("1001", "<sip:1001@127.0.0.1:5070>", Some(120), "c", 5),
        source(5070),
        "1001",
    );
    let replay = r.handle_register(
        t0,
        &register("1001", "<sip:1001@127.0.0.1:5070>", Some(120), "c", 5),
        source(5070),
        "1001",
    );
    assert_eq!(
        replay.code(),
        500,
        "§10.3 step 7: same Call-ID, CSeq not higher"
    );
    let query = r.handle_register(
        t0,
        &register("1001", "", None, "c", 6),
        source(5070),
        "1001",
    );
    assert_eq!(query.code(), 200);
    assert_eq!(
        query.headers.get_raw(&Name::CONTACT).count(),
        1,
        "no Contact = query"
    );
}

#[test]
fn nat_private_contact_is_reached_at_the_source_and_tcp_by_its_connection() {
    let mut r = registrar();
    let t0 = Instant::now();
    let nat = Peer {
        transport: Transport::Udp,
        addr: "203.0.113.7:40000".parse().unwrap(),
    };
    r.handle_register(
        t0,
        &register("1001", "<sip:1001@192.168.1.20:5060>", Some(120), "c", 1),
        nat,
        "1001",
    );
    assert_eq!(r.lookup(t0, "1001")[0].flow, nat);
    assert_eq!(
        r.lookup(t0, "1001")[0].contact.host_port.port,
        Some(5060),
        "the Request-URI stays the Contact"
    );
    let tcp = Peer {
        transport: Transport::Tcp,
        addr: "127.0.0.1:41000".parse().unwrap(),
    };
    r.handle_register(
        t0,
        &register(
            "1002",
            "<sip:1002@127.0.0.1:5062;transport=tcp>",
            Some(120),
            "d",
            1,
        ),
        tcp,
        "1002",
    );
    assert_eq!(r.lookup(t0, "1002")[0].flow, tcp);
    // A public contact is reached as written.
    let public = Peer {
        transport: Transport::Udp,
        addr: "198.51.100.9:5060".parse().unwrap(),
    };
    r.handle_register(
        t0,
        &register("1003", "<sip:1003@198.51.100.9:5080>", Some(120), "e", 1),
        public,
        "1003",
    );
    assert_eq!(
        r.lookup(t0, "1003")[0].flow.addr,
        "198.51.100.9:5080".parse().unwrap()
    );
}

#[test]
fn contact_limit_drops_the_oldest() {
    let mut r = registrar();
    let t0 = Instant::now();
    for port in 5070..5075 {
        let c = format!("<sip:1001@127.0.0.1:{port}>");
        r.handle_register(
            t0,
            &register("1001", &c, Some(120), &format!("c{port}"), 1),
            source(port),
            "1001",
        );
    }
    let ports: Vec<_> = r
        .lookup(t0, "1001")
        .iter()
        .map(|b| b.contact.host_port.port)
        .collect();
    assert_eq!(ports, [Some(5074), Some(5073), Some(5072)]);
}

#[test]
fn a_phone_is_known_by_the_address_it_is_reached_at() {
    let mut r = registrar();
    let t0 = Instant::now();
    let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(r.user_at(t0, at(5070)), None);
    let ok = r.handle_register(
        t0,
        &register("1001", "<sip:1001@127.0.0.1:5070>", Some(120), "c1", 1),
        source(5070),
        "1001",
    );
    assert_eq!(ok.code(), 200);
    assert_eq!(r.user_at(t0, at(5070)), Some("1001"));
    assert_eq!(
        r.user_at(t0, at(5071)),
        None,
        "another port is another phone"
    );
    let later = t0 + Duration::from_secs(121);
    assert_eq!(r.user_at(later, at(5070)), None, "a lapsed binding");
}
