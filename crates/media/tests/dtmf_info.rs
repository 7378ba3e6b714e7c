//! SIP INFO DTMF bodies: the forms real senders produce, the errors for what is not a key
//! press (and the SIP status each maps to), and properties over arbitrary input.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use switchboard_media::dtmf::info::{InfoDigit, InfoError, MAX_BODY_LEN, parse};
use switchboard_media::dtmf::{Digit, DtmfSource};

const RELAY: &str = "application/dtmf-relay";

fn relay(body: &str) -> Result<InfoDigit, InfoError> {
    parse(RELAY, body.as_bytes())
}

fn ok(digit: Digit, ms: Option<u64>) -> Result<InfoDigit, InfoError> {
    Ok(InfoDigit {
        digit,
        duration: ms.map(Duration::from_millis),
    })
}

#[test]
fn dtmf_relay_as_phones_send_it() {
    assert_eq!(
        relay("Signal=5\r\nDuration=160\r\n"),
        ok(Digit::Five, Some(160))
    );
    // Without the final CRLF, LF only, spaces, other cases, extra lines in any order.
    assert_eq!(
        relay("Signal=5\r\nDuration=160"),
        ok(Digit::Five, Some(160))
    );
    assert_eq!(relay("Signal=1\nDuration=250\n"), ok(Digit::One, Some(250)));
    assert_eq!(
        relay("Signal = 9 \r\n Duration = 100 \r\n"),
        ok(Digit::Nine, Some(100))
    );
    assert_eq!(
        relay("signal=0\r\nduration=80\r\n"),
        ok(Digit::Zero, Some(80))
    );
    assert_eq!(
        relay("SIGNAL=7\r\nDURATION=40\r\n"),
        ok(Digit::Seven, Some(40))
    );
    assert_eq!(
        relay("Duration=120\r\nSignal=3\r\n"),
        ok(Digit::Three, Some(120))
    );
    assert_eq!(relay("Signal=8\r\n"), ok(Digit::Eight, None));
    assert_eq!(
        relay("\r\n\r\nSignal=2\r\nVolume=10\r\nfoo\r\n"),
        ok(Digit::Two, None)
    );
    assert_eq!(relay("Signal=\t4\t\r\n"), ok(Digit::Four, None));
}

#[test]
fn star_hash_and_the_fourth_column() {
    assert_eq!(relay("Signal=*\r\n"), ok(Digit::Star, None));
    assert_eq!(relay("Signal=#\r\n"), ok(Digit::Hash, None));
    // Their RFC 4733 codes, as some gateways write them.
    assert_eq!(relay("Signal=10\r\n"), ok(Digit::Star, None));
    assert_eq!(relay("Signal=11\r\n"), ok(Digit::Hash, None));
    for (c, d) in [
        ('A', Digit::A),
        ('b', Digit::B),
        ('C', Digit::C),
        ('d', Digit::D),
    ] {
        assert_eq!(relay(&format!("Signal={c}\r\n")), ok(d, None));
    }
    for (n, d) in [
        (12, Digit::A),
        (13, Digit::B),
        (14, Digit::C),
        (15, Digit::D),
    ] {
        assert_eq!(relay(&format!("Signal={n}\r\n")), ok(d, None));
    }
    assert_eq!(relay("Signal=05\r\n"), ok(Digit::Five, None));
}

#[test]
fn application_dtmf_is_the_key_alone() {
    for (body, d) in [
        ("5", Digit::Five),
        ("*\r\n", Digit::Star),
        (" # ", Digit::Hash),
        ("10", Digit::Star),
        ("a", Digit::A),
    ] {
        assert_eq!(
            parse("application/dtmf", body.as_bytes()),
            ok(d, None),
            "{body:?}"
        );
    }
    assert_eq!(
        parse("application/dtmf", b""),
        Err(InfoError::MissingSignal)
    );
    assert_eq!(
        parse("application/dtmf", b" \r\n"),
        Err(InfoError::MissingSignal)
    );
    assert_eq!(
        parse("application/dtmf", b"55"),
        Err(InfoError::InvalidSignal)
    );
}

#[test]
fn content_types() {
    let body = b"Signal=6\r\n";
    for ct in [
        "application/dtmf-relay",
        "Application/DTMF-Relay",
        " application/dtmf-relay ",
        "application/dtmf-relay;charset=UTF-8",
        "application/dtmf-relay ; x=y",
    ] {
        assert_eq!(parse(ct, body).map(|d| d.digit), Ok(Digit::Six), "{ct:?}");
    }
    for ct in [
        "text/plain",
        "application/sdp",
        "application/dtmf-relayx",
        "",
        "application",
    ] {
        let err = parse(ct, body).unwrap_err();
        assert_eq!(err, InfoError::UnsupportedContentType, "{ct:?}");
        assert_eq!(err.status_code(), 415);
    }
}

#[test]
fn what_is_not_a_key_press_is_an_error() {
    let cases: [(&str, InfoError); 11] = [
        ("", InfoError::MissingSignal),
        ("Duration=100\r\n", InfoError::MissingSignal),
        ("Signal=\r\n", InfoError::InvalidSignal),
        ("Signal=E\r\n", InfoError::InvalidSignal),
        ("Signal=16\r\n", InfoError::InvalidSignal),
        ("Signal=55\r\n", InfoError::InvalidSignal),
        ("Signal=1 2\r\n", InfoError::InvalidSignal),
        ("Signal=1\r\nSignal=2\r\n", InfoError::DuplicateSignal),
        ("Signal=1\r\nDuration=abc\r\n", InfoError::InvalidDuration),
        ("Signal=1\r\nDuration=-5\r\n", InfoError::InvalidDuration),
        ("Signal=1\r\nDuration=60001\r\n", InfoError::InvalidDuration),
    ];
    for (body, err) in cases {
        let got = relay(body);
        assert_eq!(got, Err(err), "{body:?}");
        assert_eq!(err.status_code(), 400);
    }
    let big = format!("Signal=1\r\n{}", " ".repeat(MAX_BODY_LEN));
    let err = relay(&big).unwrap_err();
    assert_eq!(
        err,
        InfoError::BodyTooLarge {
            len: MAX_BODY_LEN + 10
        }
    );
    assert_eq!(err.status_code(), 413);
    // Not UTF-8 is just bytes that are not a key.
    assert_eq!(
        parse(RELAY, b"Signal=\xff\r\n"),
        Err(InfoError::InvalidSignal)
    );
    assert_eq!(
        parse(RELAY, b"\xfe\xff\r\nSignal=3"),
        ok(Digit::Three, None)
    );
}

#[test]
fn into_event() {
    let now = Instant::now();
    let default = Duration::from_millis(250);
    let e = relay("Signal=4\r\nDuration=90\r\n")
        .unwrap()
        .into_event(now, default);
    assert_eq!(
        (e.digit, e.source, e.started, e.duration),
        (
            Digit::Four,
            DtmfSource::SipInfo,
            now,
            Duration::from_millis(90)
        )
    );
    let e = relay("Signal=4\r\n").unwrap().into_event(now, default);
    assert_eq!(e.duration, default);
    let e = relay("Signal=4\r\nDuration=0\r\n")
        .unwrap()
        .into_event(now, default);
    assert_eq!(e.duration, default, "a zero duration is no duration");
}

proptest! {
    /// Any content type and any bytes: an answer, never a panic.
    #[test]
    fn never_panics(ct in ".{0,40}", body in prop::collection::vec(any::<u8>(), 0..1_200)) {
        let _ = parse(&ct, &body);
        let _ = parse(RELAY, &body);
        let _ = parse("application/dtmf", &body);
    }

    /// Every key and duration, written in any of the styles senders use, reads back.
    #[test]
    fn any_style_reads_back(
        code in 0_u8..16,
        ms in 0_u64..=60_000,
        numeric in any::<bool>(),
        lower in any::<bool>(),
        crlf in any::<bool>(),
        pad in " {0,2}",
        duration_first in any::<bool>(),
    ) {
        let digit = Digit::from_event_code(code).unwrap();
        let signal = if numeric { code.to_string() } else { digit.as_char().to_string() };
        let nl = if crlf { "\r\n" } else { "\n" };
        let (s, d) = if lower { ("signal", "duration") } else { ("Signal", "Duration") };
        let sig_line = format!("{s}{pad}={pad}{signal}{pad}{nl}");
        let dur_line = format!("{d}={ms}{nl}");
        let body = if duration_first { dur_line + &sig_line } else { sig_line + &dur_line };
        prop_assert_eq!(relay(&body), ok(digit, Some(ms)));
    }
}
