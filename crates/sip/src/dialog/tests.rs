use ezk_sip_types::host::HostPort;

use super::*;
use crate::test_support::{req, resp};

fn invite() -> Request {
    req("INVITE sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@biloxi.com>
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.com>
Record-Route: <sip:p2.biloxi.com;lr>, <sip:p1.atlanta.com;lr>
Content-Length: 0

")
}

fn ok() -> Response {
    resp(
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
To: Bob <sip:bob@biloxi.com>;tag=a6c85cf
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 INVITE
Contact: <sip:bob@192.0.2.4>
Record-Route: <sip:p2.biloxi.com;lr>, <sip:p1.atlanta.com;lr>
Content-Length: 0

",
    )
}

fn routes(r: &Request) -> Vec<String> {
    r.headers
        .get_raw(&Name::ROUTE)
        .map(ToString::to_string)
        .collect()
}

#[test]
fn uac_dialog_reverses_the_route_set_and_targets_the_contact() {
    let mut d = Dialog::from_uac(&invite(), &ok()).unwrap();
    assert_eq!(d.id().local_tag, "1928301774");
    assert_eq!(d.id().remote_tag, "a6c85cf");
    let bye = d.create_request(Method::BYE);
    assert_eq!(
        bye.line.uri.default_print_ctx().to_string(),
        "sip:bob@192.0.2.4"
    );
    assert_eq!(
        routes(&bye),
        ["<sip:p1.atlanta.com;lr>", "<sip:p2.biloxi.com;lr>"]
    );
    assert_eq!(bye.cseq().unwrap().cseq, 314_160);
    assert_eq!(bye.header_to().unwrap().tag.unwrap(), "a6c85cf");
    let ack = d.create_ack(314_159);
    assert_eq!(
        ack.cseq().unwrap(),
        ezk_sip_types::header::typed::CSeq::new(314_159, Method::ACK)
    );
}

#[test]
fn uas_dialog_keeps_the_route_order_and_swaps_tags() {
    let contact = SipUri::new(HostPort::host_name("switch.example"));
    let mut d = Dialog::from_uas(&invite(), &ok(), contact);
    assert_eq!(d.id().local_tag, "a6c85cf");
    assert_eq!(d.id().remote_tag, "1928301774");
    let bye = d.create_request(Method::BYE);
    assert_eq!(
        bye.line.uri.default_print_ctx().to_string(),
        "sip:alice@pc33.atlanta.com"
    );
    assert_eq!(
        routes(&bye),
        ["<sip:p2.biloxi.com;lr>", "<sip:p1.atlanta.com;lr>"]
    );
    assert_eq!(bye.header_from().unwrap().tag.unwrap(), "a6c85cf");
    assert_eq!(bye.cseq().unwrap().cseq, 1);
}

#[test]
fn strict_route_becomes_the_request_uri() {
    let invite = req(&invite()
        .encode()
        .iter()
        .map(|b| *b as char)
        .collect::<String>()
        .replace(
            "Record-Route: <sip:p2.biloxi.com;lr>, <sip:p1.atlanta.com;lr>",
            "Record-Route: <sip:p2.biloxi.com>",
        ));
    let contact = SipUri::new(HostPort::host_name("switch.example"));
    let mut d = Dialog::from_uas(&invite, &ok(), contact);
    let bye = d.create_request(Method::BYE);
    // §12.2.1.1: strict routing puts the first route in the Request-URI and the remote target last.
    assert_eq!(
        bye.line.uri.default_print_ctx().to_string(),
        "sip:p2.biloxi.com"
    );
    assert_eq!(routes(&bye), ["<sip:alice@pc33.atlanta.com>"]);
}

#[test]
fn remote_cseq_must_not_go_back_and_reinvite_refreshes_the_target() {
    let contact = SipUri::new(HostPort::host_name("switch.example"));
    let mut d = Dialog::from_uas(&invite(), &ok(), contact);
    let reinvite = req("INVITE sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK2
Max-Forwards: 70
To: Bob <sip:bob@biloxi.com>;tag=a6c85cf
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314160 INVITE
Contact: <sip:alice@198.51.100.1:5062>
Content-Length: 0

");
    d.handle_request(&reinvite).unwrap();
    assert_eq!(
        d.remote_target().default_print_ctx().to_string(),
        "sip:alice@198.51.100.1:5062"
    );
    let old =
        req(&String::from_utf8_lossy(&reinvite.encode()).replace("CSeq: 314160", "CSeq: 314000"));
    let err = d.handle_request(&old).unwrap_err();
    assert_eq!(
        err,
        DialogError::CSeqOutOfOrder {
            got: 314_000,
            expected: 314_160
        }
    );
    assert_eq!(err.status(), 500);
}

#[test]
fn a_response_without_to_tag_makes_no_dialog() {
    let no_tag = resp(&String::from_utf8_lossy(&ok().encode()).replace(";tag=a6c85cf", ""));
    assert_eq!(
        Dialog::from_uac(&invite(), &no_tag).unwrap_err(),
        DialogError::Missing("To tag")
    );
}

#[test]
fn tags_and_call_ids_are_random_enough_and_seeded() {
    use rand::SeedableRng;
    let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut b = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    assert_eq!(generate_tag(&mut a), generate_tag(&mut b));
    assert_eq!(generate_tag(&mut a).len(), 16);
    assert!(generate_call_id(&mut a, "h").ends_with("@h"));
}
