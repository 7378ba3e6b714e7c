//! RFC 4475 (SIP torture tests) through the wire layer: every message of the RFC, byte-exact
//! from its archive (tests/rfc4475), with what the RFC says a parser must do with it.
//!
//! Application-level answers (420 for bext01, 415 for invut, 406 for sdp01, 401 for regaut01,
//! 483/200 for zeromf) come from the endpoint and the switch, and are checked end to end in
//! tests/tests/rfc4475.rs against the running binary.

use switchboard_sip::SipMessage;
use switchboard_sip::wire::parse_message;

/// What the wire layer must make of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A valid request: parsed.
    Request,
    /// A valid response: parsed.
    Response,
    /// Rejected with this status, answered statelessly.
    Reject(u16),
    /// Dropped without an answer (a broken response: nobody to answer).
    Drop,
}

use Expect::{Drop, Reject, Request, Response};

/// (file, RFC section, expectation).
const CASES: &[(&str, &str, Expect)] = &[
    // §3.1.1 Valid messages: all must parse.
    ("wsinv", "3.1.1.1 short tortuous INVITE", Request),
    ("intmeth", "3.1.1.2 wide range of valid characters", Request),
    ("esc01", "3.1.1.3 valid % escaping", Request),
    ("escnull", "3.1.1.4 escaped nulls in URIs", Request),
    ("esc02", "3.1.1.5 % that is not an escape", Request),
    (
        "lwsdisp",
        "3.1.1.6 message with no LWS between display name and <",
        Request,
    ),
    ("longreq", "3.1.1.7 long values in header fields", Request),
    (
        "dblreq",
        "3.1.1.8 extra trailing octets in a UDP datagram",
        Request,
    ),
    (
        "semiuri",
        "3.1.1.9 semicolon-separated parameters in URI user part",
        Request,
    ),
    (
        "transports",
        "3.1.1.10 varied and unknown transport types",
        Request,
    ),
    ("mpart01", "3.1.1.11 multipart MIME message", Request),
    ("unreason", "3.1.1.12 unusual reason phrase", Response),
    ("noreason", "3.1.1.13 empty reason phrase", Response),
    // §3.1.2 Invalid messages: 400 for requests (505 for the version), responses dropped.
    (
        "badinv01",
        "3.1.2.1 extraneous header field separators",
        Reject(400),
    ),
    (
        "clerr",
        "3.1.2.2 Content-Length larger than message",
        Reject(400),
    ),
    ("scalar02", "3.1.2.3 negative Content-Length", Reject(400)),
    (
        "scalarlg",
        "3.1.2.4 request scalar fields with overlarge values",
        Drop,
    ),
    (
        "quotbal",
        "3.1.2.6 unterminated quoted string in display name",
        Reject(400),
    ),
    ("ltgtruri", "3.1.2.7 <> enclosing Request-URI", Reject(400)),
    (
        "lwsruri",
        "3.1.2.8 malformed SIP Request-URI (embedded LWS)",
        Reject(400),
    ),
    (
        "lwsstart",
        "3.1.2.9 multiple SP separating Request-Line elements",
        Reject(400),
    ),
    (
        "trws",
        "3.1.2.10 SP characters at end of Request-Line",
        Reject(400),
    ),
    (
        "escruri",
        "3.1.2.11 escaped headers in SIP Request-URI",
        Reject(400),
    ),
    (
        "baddate",
        "3.1.2.12 invalid time zone in Date header field",
        Reject(400),
    ),
    (
        "regbadct",
        "3.1.2.13 failure to enclose name-addr URI in <>",
        Reject(400),
    ),
    ("badaspec", "3.1.2.14 spaces within addr-spec", Reject(400)),
    (
        "baddn",
        "3.1.2.15 non-token characters in display name",
        Reject(400),
    ),
    ("badvers", "3.1.2.16 unknown protocol version", Reject(505)),
    (
        "mismatch01",
        "3.1.2.17 start line and CSeq method mismatch",
        Reject(400),
    ),
    (
        "mismatch02",
        "3.1.2.18 unknown method with CSeq method mismatch (400 allowed)",
        Reject(400),
    ),
    ("bigcode", "3.1.2.19 overlarge response code", Drop),
    // §3.2 Transaction layer semantics.
    (
        "badbranch",
        "3.2.1 missing transaction identifier (branch is only the cookie)",
        Request,
    ),
    // §3.3 Application layer semantics: syntactically these parse, except as noted.
    ("insuf", "3.3.1 missing required header fields", Reject(400)),
    (
        "unkscm",
        "3.3.2 Request-URI with unknown scheme",
        Reject(416),
    ),
    (
        "novelsc",
        "3.3.3 Request-URI with known but atypical scheme",
        Reject(416),
    ),
    (
        "unksm2",
        "3.3.4 unknown URI schemes in header fields",
        Request,
    ),
    (
        "bext01",
        "3.3.5 proxy-require and require (420 from the endpoint)",
        Request,
    ),
    (
        "invut",
        "3.3.6 unknown content-type (415 from the switch)",
        Request,
    ),
    (
        "regaut01",
        "3.3.7 unknown authorization scheme (401 from the registrar)",
        Request,
    ),
    (
        "multi01",
        "3.3.8 multiple values in single-value required header fields",
        Reject(400),
    ),
    ("mcl01", "3.3.9 multiple Content-Length values", Reject(400)),
    (
        "bcast",
        "3.3.10 200 OK with broadcast Via (no transaction: ignored)",
        Response,
    ),
    ("zeromf", "3.3.11 Max-Forwards of zero", Request),
    (
        "cparam01",
        "3.3.12 REGISTER with a contact header parameter",
        Request,
    ),
    ("cparam02", "3.3.13 REGISTER with a URL parameter", Request),
    (
        "regescrt",
        "3.3.14 REGISTER with a URL escaped header",
        Request,
    ),
    (
        "sdp01",
        "3.3.15 unacceptable Accept offering (406 from the switch)",
        Request,
    ),
    // §3.4 Backward compatibility.
    ("inv2543", "3.4.1 INVITE with RFC 2543 syntax", Request),
    (
        "ncl",
        "(archive) negative Content-Length in a response-less request",
        Reject(400),
    ),
];

fn load(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/rfc4475")
        .join(format!("{name}.dat"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_rfc4475_message_is_handled_as_the_rfc_says() {
    let mut wrong = Vec::new();
    for (name, section, expect) in CASES {
        let got = match parse_message(&load(name)) {
            Ok(SipMessage::Request(_)) => Request,
            Ok(SipMessage::Response(_)) => Response,
            Err(err) => match err.response() {
                Some(response) => Reject(response.code()),
                None => Drop,
            },
        };
        if got != *expect {
            wrong.push(format!(
                "{name} ({section}): expected {expect:?}, got {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_table_covers_the_whole_archive() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/rfc4475");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .path()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .collect();
    files.sort();
    let mut names: Vec<String> = CASES.iter().map(|(n, _, _)| (*n).to_owned()).collect();
    names.sort();
    assert_eq!(files, names);
    assert_eq!(files.len(), 49);
}

#[test]
fn rejections_answer_to_the_sender_with_its_dialog_headers() {
    let err = parse_message(&load("badinv01")).unwrap_err();
    let response = err.response().unwrap();
    let text = String::from_utf8(response.encode().to_vec()).unwrap();
    assert!(text.starts_with("SIP/2.0 400 "), "{text}");
    assert!(
        text.contains("Call-ID: badinv01.0ha0isndaksdjasdf3234nas"),
        "{text}"
    );
    assert!(text.contains(";tag="), "the To gets a tag: {text}");
}
