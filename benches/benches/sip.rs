//! SIP header handling: a message parsed and looked up the way the switch does it for every
//! INVITE, with our header map (`switchboard_sip::Headers`) and, in the same run, with
//! `ezk_sip_types::Headers` (the map the switch used before: a list searched name by name, each
//! value re-printed on insert) as the baseline. Two messages: an ordinary INVITE from a trunk
//! (14 header lines) and a datagram of 6,500 distinct header names (an attack: quadratic in the
//! old map).
//!
//!     cargo bench -p switchboard-benches --bench sip

use bytes::Bytes;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use ezk_sip_types::Name;
use ezk_sip_types::header::typed::{CSeq, CallID, FromTo, MaxForwards};
use ezk_sip_types::msg::{Line, PullParser};
use switchboard_sip::wire::parse_message;

const INVITE: &str = "INVITE sip:0800123456@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:0800123456@192.0.2.10>\r\n\
From: \"Jeanne Martin\" <sip:+33612345678@198.51.100.7>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@198.51.100.7\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:+33612345678@198.51.100.7:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO\r\n\
Supported: timer, 100rel\r\n\
P-Asserted-Identity: <sip:+33612345678@carrier.example>\r\n\
User-Agent: CarrierSBC/4.2\r\n\
Session-Expires: 1800\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 0\r\n\r\n";

fn flood() -> String {
    let mut text = String::from(
        "OPTIONS sip:probe@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKx\r\n\
         From: <sip:a@203.0.113.9>;tag=1\r\nTo: <sip:probe@192.0.2.10>\r\nCall-ID: flood\r\n\
         CSeq: 1 OPTIONS\r\n",
    );
    for i in 0..6_500 {
        text.push_str(&format!("X-{i}: v\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    text
}

/// The lookups the switch makes on an INVITE between the socket and the call (transaction key,
/// dialog, routing, authentication), by name.
const LOOKUPS: [Name; 12] = [
    Name::VIA,
    Name::CALL_ID,
    Name::CSEQ,
    Name::FROM,
    Name::TO,
    Name::MAX_FORWARDS,
    Name::CONTENT_LENGTH,
    Name::CONTENT_TYPE,
    Name::PROXY_AUTHORIZATION,
    Name::REQUIRE,
    Name::CONTACT,
    Name::ROUTE,
];

/// The baseline: the same header lines into ezk's map, the same lookups and typed reads.
fn ezk_headers(buffer: &Bytes) -> usize {
    let mut parser = PullParser::new(buffer, 0);
    let _start = parser.next();
    let mut headers = ezk_sip_types::Headers::new();
    for line in &mut parser {
        let line = std::str::from_utf8(line.expect("complete")).expect("utf-8");
        if let Ok((_, parsed)) = Line::parse(buffer, line) {
            headers.insert(parsed.name, parsed.value);
        }
    }
    let mut found = 0;
    for _ in 0..3 {
        for name in &LOOKUPS {
            found += headers.get_raw(name).len();
        }
    }
    found += usize::from(headers.get_named::<CSeq>().is_ok());
    found += usize::from(headers.get_named::<CallID>().is_ok());
    found += usize::from(headers.get::<FromTo>(Name::FROM).is_ok());
    found += usize::from(headers.get_named::<MaxForwards>().is_ok());
    found
}

/// Ours: the whole parse with its RFC 3261 checks, then the same lookups and typed reads.
fn our_headers(bytes: &[u8]) -> usize {
    let Ok(switchboard_sip::SipMessage::Request(request)) = parse_message(bytes) else {
        panic!("the bench message parses");
    };
    let headers = &request.headers;
    let mut found = 0;
    for _ in 0..3 {
        for name in &LOOKUPS {
            found += headers.get_raw(name).len();
        }
    }
    found += usize::from(headers.get_named::<CSeq>().is_ok());
    found += usize::from(headers.get_named::<CallID>().is_ok());
    found += usize::from(headers.get::<FromTo>(Name::FROM).is_ok());
    found += usize::from(headers.get_named::<MaxForwards>().is_ok());
    found
}

fn bench(c: &mut Criterion) {
    for (label, text) in [("invite", INVITE.to_owned()), ("6500_names", flood())] {
        let buffer = Bytes::from(text.clone().into_bytes());
        assert_eq!(our_headers(text.as_bytes()), ezk_headers(&buffer));
        let mut group = c.benchmark_group(format!("sip_headers_{label}"));
        group.bench_function("ezk_headers_baseline", |b| {
            b.iter(|| ezk_headers(black_box(&buffer)));
        });
        group.bench_function("switchboard_parse_and_lookups", |b| {
            b.iter(|| our_headers(black_box(text.as_bytes())));
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
