//! SDP sanity (issue 11): how many streams a body may ask for, which addresses we will send
//! to, and the Warning each refusal carries (RFC 3261 §20.43).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use switchboard_sip::sdp::{self, MediaDirection, SdpError, SdpLimits, Warning};

fn body(connection: &str, media: &str) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 {connection}\r\nt=0 0\r\n{media}")
}

fn audio_lines(n: usize) -> String {
    (0..n)
        .map(|i| format!("m=audio {} RTP/AVP 8\r\n", 4000 + 2 * i))
        .collect()
}

fn warning(code: u16) -> Option<u16> {
    Some(code)
}

#[test]
fn a_body_may_have_sixteen_media_lines_by_default_and_no_more() {
    assert_eq!(SdpLimits::default().max_media, 16);
    assert_eq!(
        sdp::parse(body("192.0.2.1", &audio_lines(16)).as_bytes())
            .unwrap()
            .media
            .len(),
        16
    );
    let err = sdp::parse(body("192.0.2.1", &audio_lines(17)).as_bytes()).unwrap_err();
    assert_eq!(err, SdpError::TooManyMedia { max: 16 });
    assert_eq!(err.status(), 488);
    assert_eq!(err.warning().map(|w| w.code), warning(399));
    // The limit is the caller's to set.
    let two = SdpLimits { max_media: 2 };
    assert!(sdp::parse_with(body("192.0.2.1", &audio_lines(2)).as_bytes(), &two).is_ok());
    assert_eq!(
        sdp::parse_with(body("192.0.2.1", &audio_lines(3)).as_bytes(), &two),
        Err(SdpError::TooManyMedia { max: 2 })
    );
}

#[test]
fn a_thousand_media_lines_are_refused_before_they_are_parsed() {
    let huge = body("192.0.2.1", &audio_lines(1000));
    let started = Instant::now();
    for _ in 0..100 {
        assert_eq!(
            sdp::parse(huge.as_bytes()),
            Err(SdpError::TooManyMedia { max: 16 })
        );
    }
    // Generous bound for a debug build on a shared machine: the point is that the cost does
    // not grow with the body past the limit.
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn multicast_and_broadcast_addresses_are_refused_with_488() {
    let refused = [
        // Session level, with and without the TTL multicast lines carry (RFC 4566 §5.7).
        (body("224.2.1.1/127", &audio_lines(1)), 330),
        (body("239.255.255.250", &audio_lines(1)), 330),
        (body("255.255.255.255", &audio_lines(1)), 301),
        // Media level.
        (
            body(
                "192.0.2.1",
                "m=audio 4000 RTP/AVP 8\r\nc=IN IP4 233.252.0.1/32\r\n",
            ),
            330,
        ),
        (
            "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 ff02::1\r\nt=0 0\r\n\
             m=audio 4000 RTP/AVP 8\r\n"
                .to_owned(),
            330,
        ),
        (
            "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 ::ffff:224.1.1.1\r\nt=0 0\r\n\
             m=audio 4000 RTP/AVP 8\r\n"
                .to_owned(),
            330,
        ),
        // An a=rtcp address is an address we would send to as well.
        (
            body(
                "192.0.2.1",
                "m=audio 4000 RTP/AVP 8\r\na=rtcp:4001 IN IP4 224.0.0.9\r\n",
            ),
            330,
        ),
    ];
    for (text, code) in refused {
        let err = sdp::parse(text.as_bytes()).unwrap_err();
        assert!(matches!(err, SdpError::NotUnicast(_)), "{text}: {err:?}");
        assert_eq!(err.status(), 488, "{text}");
        assert_eq!(err.warning().map(|w| w.code), warning(code), "{text}");
        // The whole offer's refusal says the same.
        assert_eq!(
            sdp::refusal_warning(text.as_bytes(), &SdpLimits::default()).map(|w| w.code),
            warning(code),
            "{text}"
        );
    }
}

#[test]
fn the_unspecified_address_is_still_a_hold() {
    for (connection, ip) in [
        ("IN IP4 0.0.0.0", IpAddr::from([0, 0, 0, 0])),
        ("IN IP6 ::", "::".parse().unwrap()),
    ] {
        let text = format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc={connection}\r\nt=0 0\r\n\
             m=audio 4000 RTP/AVP 8\r\n"
        );
        let offer = sdp::parse(text.as_bytes()).unwrap();
        assert_eq!(offer.media[0].connection, Some(ip));
        assert_eq!(offer.media[0].direction, MediaDirection::SendOnly);
    }
    // An unspecified a=rtcp address means nothing: RTCP follows the RTP host.
    let offer = sdp::parse(
        body(
            "192.0.2.1",
            "m=audio 4000 RTP/AVP 8\r\na=rtcp:4001 IN IP4 0.0.0.0\r\n",
        )
        .as_bytes(),
    )
    .unwrap();
    let rtcp = offer.media[0].rtcp.expect("a=rtcp");
    assert_eq!((rtcp.port, rtcp.addr), (4001, None));
}

#[test]
fn every_488_refusal_of_an_offer_names_its_reason() {
    let limits = SdpLimits::default();
    let cases = [
        // Audio over RTP, but in codecs we do not have.
        (
            body("192.0.2.1", "m=audio 4000 RTP/AVP 18\r\n"),
            warning(305),
        ),
        // No audio at all.
        (
            body("192.0.2.1", "m=video 4000 RTP/AVP 31\r\n"),
            warning(304),
        ),
        (body("192.0.2.1", "m=audio 0 RTP/AVP 8\r\n"), warning(304)),
        // Audio, but only over a transport we do not serve (SRTP).
        (
            body("192.0.2.1", "m=audio 4000 RTP/SAVP 8\r\n"),
            warning(302),
        ),
        // A host name in c=.
        (body("pbx.example.com", &audio_lines(1)), warning(301)),
        (body("192.0.2.1", &audio_lines(40)), warning(399)),
        // Not SDP: that is a 400, which carries no warning.
        ("hello".to_owned(), None),
        (body("192.0.2.1", "m=audio x RTP/AVP 8\r\n"), None),
    ];
    for (text, want) in cases {
        assert_eq!(
            sdp::refusal_warning(text.as_bytes(), &limits).map(|w| w.code),
            want,
            "{text}"
        );
    }
}

#[test]
fn the_warning_header_follows_rfc_3261() {
    let w = Warning {
        code: 305,
        text: "Incompatible media format",
    };
    // warning-value = warn-code SP warn-agent SP warn-text (a quoted string).
    assert_eq!(
        w.header_value("sb.example.com:5060"),
        "305 sb.example.com:5060 \"Incompatible media format\""
    );
}
