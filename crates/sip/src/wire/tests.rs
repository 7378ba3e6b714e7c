use super::*;

const INVITE: &str = "INVITE sip:1002@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: <sip:1002@127.0.0.1>\r\n\
From: \"Alice\" <sip:1001@127.0.0.1>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33\r\n\
CSeq: 314159 INVITE\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

fn bad(text: &str) -> (u16, String) {
    match parse_message(text.as_bytes()) {
        Err(WireError::BadRequest { status, reason, .. }) => (status, reason),
        other => panic!("expected BadRequest, got {other:?}"),
    }
}

#[test]
fn parses_a_request_with_its_body() {
    let SipMessage::Request(req) = parse_message(INVITE.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(req.line.method, ezk_sip_types::Method::INVITE);
    assert_eq!(&req.body[..], b"v=0\n");
}

#[test]
fn datagram_longer_than_content_length_is_truncated() {
    let text = format!("{INVITE}garbage");
    let SipMessage::Request(req) = parse_message(text.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(&req.body[..], b"v=0\n");
}

#[test]
fn body_shorter_than_content_length_is_400() {
    let text = INVITE.replace("Content-Length: 4", "Content-Length: 40");
    assert_eq!(bad(&text).0, 400);
}

#[test]
fn cseq_method_mismatch_is_400() {
    let text = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 ACK");
    assert_eq!(
        bad(&text),
        (400, "CSeq method does not match the request line".into())
    );
}

#[test]
fn duplicate_call_id_is_400() {
    let text = INVITE.replace(
        "Call-ID: a84b4c76e66710@pc33\r\n",
        "Call-ID: a@b\r\nCall-ID: c@d\r\n",
    );
    assert_eq!(bad(&text).0, 400);
}

#[test]
fn missing_cseq_is_400_naming_it() {
    let text = INVITE.replace("CSeq: 314159 INVITE\r\n", "");
    assert_eq!(bad(&text), (400, "Missing CSeq header".into()));
}

#[test]
fn unknown_version_is_505_and_unknown_scheme_416() {
    assert_eq!(
        bad(&INVITE.replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia")).0,
        505
    );
    assert_eq!(
        bad(&INVITE.replace("INVITE sip:1002@", "INVITE tel:1002@")).0,
        416
    );
}

#[test]
fn error_response_copies_the_dialog_headers() {
    let text = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE");
    let err = parse_message(text.as_bytes()).unwrap_err();
    let response = err.response().unwrap();
    assert_eq!(response.code(), 400);
    let encoded = String::from_utf8(response.encode().to_vec()).unwrap();
    assert!(
        encoded.contains("Call-ID: a84b4c76e66710@pc33"),
        "{encoded}"
    );
    assert!(encoded.contains("branch=z9hG4bK776asdhds"), "{encoded}");
}

#[test]
fn garbage_and_bad_responses_get_no_answer() {
    for input in [
        &b"\x00\x01\x02"[..],
        b"hello world\r\n\r\n",
        b"SIP/2.0 999 Odd\r\n\r\n",
        b"",
    ] {
        let err = parse_message(input).unwrap_err();
        assert!(err.response().is_none(), "{err:?}");
    }
}

#[test]
fn stream_framer_splits_messages_and_keepalives() {
    let mut framer = StreamFramer::new(64 * 1024);
    framer.push(b"\r\n\r\n");
    framer.push(INVITE.as_bytes());
    framer.push(&INVITE.as_bytes()[..20]);
    assert_eq!(framer.next_frame(), Some(Ok(Frame::KeepAlivePing)));
    let Some(Ok(Frame::Message(msg))) = framer.next_frame() else {
        panic!()
    };
    assert_eq!(&msg[..], INVITE.as_bytes());
    assert_eq!(framer.next_frame(), None);
    framer.push(&INVITE.as_bytes()[20..]);
    assert!(matches!(framer.next_frame(), Some(Ok(Frame::Message(_)))));
}

#[test]
fn stream_without_content_length_is_broken() {
    let mut framer = StreamFramer::new(64 * 1024);
    framer.push(INVITE.replace("Content-Length: 4\r\n", "").as_bytes());
    assert!(matches!(framer.next_frame(), Some(Err(_))));
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let _ = parse_message(&bytes).map_err(|e| e.response());
        let mut framer = StreamFramer::new(1024);
        framer.push(&bytes);
        while let Some(Ok(_)) = framer.next_frame() {}
    }

    #[test]
    fn mutated_invites_never_panic(pos in 0usize..400, byte in proptest::num::u8::ANY) {
        let mut bytes = INVITE.as_bytes().to_vec();
        let at = pos % bytes.len();
        bytes[at] = byte;
        let _ = parse_message(&bytes).map_err(|e| e.response());
    }
}
