use std::time::{Duration, Instant};

use super::*;
use crate::test_support::req;

const MUFASA_MD5: &str = "8ca523f5e9506fed4657c9700eebdbec";
const MUFASA_SHA256: &str = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1";

fn mufasa() -> Credentials {
    Credentials {
        username: "Mufasa".into(),
        realm: "http-auth@example.org".into(),
        nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
        uri: "/dir/index.html".into(),
        response: String::new(),
        algorithm: None,
        qop: Some("auth".into()),
        nc: Some("00000001".into()),
        cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into()),
    }
}

#[test]
fn rfc7616_worked_examples() {
    // RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256.
    let creds = mufasa();
    let args = ("Mufasa", "http-auth@example.org", "Circle of Life", "GET");
    assert_eq!(
        compute_response(Algorithm::Md5, args.0, args.1, args.2, args.3, &creds),
        MUFASA_MD5
    );
    assert_eq!(
        compute_response(Algorithm::Sha256, args.0, args.1, args.2, args.3, &creds),
        MUFASA_SHA256
    );
}

fn register(authorization: Option<&str>) -> Request {
    let auth = authorization
        .map(|a| format!("Authorization: {a}\n"))
        .unwrap_or_default();
    req(&format!(
        "REGISTER sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1
Max-Forwards: 70
From: <sip:1001@127.0.0.1>;tag=1
To: <sip:1001@127.0.0.1>
Call-ID: reg@test
CSeq: 1 REGISTER
{auth}Content-Length: 0

"
    ))
}

/// What a phone answers to `challenge` (the first header value), with nonce-count `nc`.
fn answer(challenge: &str, algorithm: Algorithm, password: &str, nc: u32) -> String {
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let mut creds = Credentials {
        username: "1001".into(),
        realm: "switchboard".into(),
        nonce: nonce.into(),
        uri: "sip:127.0.0.1".into(),
        qop: Some("auth".into()),
        nc: Some(format!("{nc:08x}")),
        cnonce: Some("abc".into()),
        ..Credentials::default()
    };
    creds.response = compute_response(
        algorithm,
        "1001",
        "switchboard",
        password,
        "REGISTER",
        &creds,
    );
    let alg = if algorithm == Algorithm::Md5 {
        "MD5"
    } else {
        "SHA-256"
    };
    format!(
        "Digest username=\"1001\", realm=\"switchboard\", nonce=\"{}\", uri=\"sip:127.0.0.1\", \
         response=\"{}\", algorithm={alg}, qop=auth, nc={:08x}, cnonce=\"abc\"",
        creds.nonce, creds.response, nc
    )
}

fn authenticator(epoch: Instant) -> DigestAuthenticator {
    DigestAuthenticator::new(
        "switchboard".into(),
        [7; 32],
        Duration::from_secs(300),
        epoch,
    )
}

fn password(user: &str) -> Option<String> {
    (user == "1001").then(|| "demo-1001".to_owned())
}

#[test]
fn challenge_then_accept_both_algorithms() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let challenge = auth.challenge(t0, false);
    assert_eq!(challenge.len(), 2);
    assert!(challenge[0].contains("algorithm=SHA-256") && challenge[1].contains("algorithm=MD5"));
    assert_eq!(
        auth.verify(t0, &register(None), Name::AUTHORIZATION, password),
        AuthOutcome::Challenge { stale: false }
    );
    for alg in [Algorithm::Sha256, Algorithm::Md5] {
        let challenge = auth.challenge(t0, false);
        let request = register(Some(&answer(&challenge[0], alg, "demo-1001", 1)));
        assert_eq!(
            auth.verify(t0, &request, Name::AUTHORIZATION, password),
            AuthOutcome::Authenticated {
                user: "1001".into()
            }
        );
    }
}

#[test]
fn wrong_password_is_forbidden_and_unknown_user_too() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let challenge = auth.challenge(t0, false);
    let request = register(Some(&answer(&challenge[0], Algorithm::Md5, "guess", 1)));
    assert_eq!(
        auth.verify(t0, &request, Name::AUTHORIZATION, password),
        AuthOutcome::Forbidden(AuthError::WrongPassword)
    );
    let response = auth.unauthorized_response(
        t0,
        &request,
        &AuthOutcome::Forbidden(AuthError::WrongPassword),
        false,
    );
    assert_eq!(response.code(), 403);
}

#[test]
fn old_nonce_is_stale_and_foreign_nonce_is_challenged() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let challenge = auth.challenge(t0, false);
    let request = register(Some(&answer(&challenge[0], Algorithm::Md5, "demo-1001", 1)));
    let later = t0 + Duration::from_secs(301);
    assert_eq!(
        auth.verify(later, &request, Name::AUTHORIZATION, password),
        AuthOutcome::Challenge { stale: true }
    );
    let stale = auth.unauthorized_response(
        later,
        &request,
        &AuthOutcome::Challenge { stale: true },
        false,
    );
    assert_eq!(stale.code(), 401);
    assert!(
        stale
            .headers
            .get_raw(&Name::WWW_AUTHENTICATE)
            .all(|v| v.contains("stale=true"))
    );
    // A nonce another server (another key) issued is not ours: plain challenge.
    let other =
        DigestAuthenticator::new("switchboard".into(), [9; 32], Duration::from_secs(300), t0);
    let foreign = register(Some(&answer(
        &other.challenge(t0, false)[0],
        Algorithm::Md5,
        "demo-1001",
        1,
    )));
    assert_eq!(
        auth.verify(t0, &foreign, Name::AUTHORIZATION, password),
        AuthOutcome::Challenge { stale: false }
    );
}

#[test]
fn replayed_nonce_count_is_refused() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let challenge = auth.challenge(t0, false);
    let first = register(Some(&answer(&challenge[0], Algorithm::Md5, "demo-1001", 1)));
    assert!(matches!(
        auth.verify(t0, &first, Name::AUTHORIZATION, password),
        AuthOutcome::Authenticated { .. }
    ));
    assert_eq!(
        auth.verify(t0, &first, Name::AUTHORIZATION, password),
        AuthOutcome::Challenge { stale: true }
    );
    let second = register(Some(&answer(&challenge[0], Algorithm::Md5, "demo-1001", 2)));
    assert!(matches!(
        auth.verify(t0, &second, Name::AUTHORIZATION, password),
        AuthOutcome::Authenticated { .. }
    ));
}

#[test]
fn every_challenge_has_its_own_nonce() {
    let t0 = Instant::now();
    let auth = authenticator(t0);
    assert_ne!(auth.challenge(t0, false)[0], auth.challenge(t0, false)[0]);
}

#[test]
fn malformed_credentials_are_400() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let request = register(Some("Digest username=\"1001\", nonce=\"unterminated"));
    let outcome = auth.verify(t0, &request, Name::AUTHORIZATION, password);
    assert!(matches!(
        outcome,
        AuthOutcome::Forbidden(AuthError::Malformed(_))
    ));
    assert_eq!(
        auth.unauthorized_response(t0, &request, &outcome, false)
            .code(),
        400
    );
}

proptest::proptest! {
    #[test]
    fn credential_parsing_never_panics(text in ".{0,200}") {
        let _ = Credentials::parse(&text);
    }
}

#[test]
fn credentials_for_another_uri_are_refused() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let challenge = auth.challenge(t0, false);
    let answer = answer(&challenge[0], Algorithm::Md5, "demo-1001", 1)
        .replace("uri=\"sip:127.0.0.1\"", "uri=\"sip:evil.example\"");
    let outcome = auth.verify(t0, &register(Some(&answer)), Name::AUTHORIZATION, password);
    assert!(
        matches!(outcome, AuthOutcome::Forbidden(AuthError::Malformed(_))),
        "{outcome:?}"
    );
}

#[test]
fn digest_uri_with_the_default_port_names_the_same_target() {
    let request = register(None);
    assert!(uri_matches("sip:127.0.0.1", &request));
    assert!(uri_matches("sip:127.0.0.1:5060", &request));
    assert!(
        uri_matches("sip:127.0.0.1:5070", &request),
        "the Request-URI names no port"
    );
    assert!(!uri_matches("sip:evil.example", &request));
}

#[test]
fn one_nonce_carries_one_wrong_guess() {
    // A pipelined cracker reusing one nonce with growing nonce-counts: only its first guess is
    // checked; every later one (even the right password) is sent back for a fresh challenge,
    // and counted as a failure by the caller.
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let challenge = auth.challenge(t0, false);
    let guess = register(Some(&answer(&challenge[0], Algorithm::Md5, "guess-1", 1)));
    assert_eq!(
        auth.verify(t0, &guess, Name::AUTHORIZATION, password),
        AuthOutcome::Forbidden(AuthError::WrongPassword)
    );
    for (nc, pw) in [(2, "guess-2"), (3, "guess-3"), (4, "demo-1001")] {
        let response = auth.unauthorized_response(t0, &guess, &AuthOutcome::SpentNonce, false);
        assert_eq!(response.code(), 401, "a fresh challenge, not a 403");
        let again = register(Some(&answer(&challenge[0], Algorithm::Md5, pw, nc)));
        assert_eq!(
            auth.verify(t0, &again, Name::AUTHORIZATION, password),
            AuthOutcome::SpentNonce,
            "{pw}"
        );
    }
    // The phone whose user fixed the password gets in with the next nonce.
    let fresh = auth.challenge(t0, false);
    let right = register(Some(&answer(&fresh[0], Algorithm::Md5, "demo-1001", 1)));
    assert!(matches!(
        auth.verify(t0, &right, Name::AUTHORIZATION, password),
        AuthOutcome::Authenticated { .. }
    ));
}

#[test]
fn a_nonce_serves_a_bounded_number_of_requests() {
    let t0 = Instant::now();
    let mut auth = authenticator(t0);
    let challenge = auth.challenge(t0, false);
    let ok = register(Some(&answer(
        &challenge[0],
        Algorithm::Md5,
        "demo-1001",
        1000,
    )));
    assert!(matches!(
        auth.verify(t0, &ok, Name::AUTHORIZATION, password),
        AuthOutcome::Authenticated { .. }
    ));
    let worn = register(Some(&answer(
        &challenge[0],
        Algorithm::Md5,
        "demo-1001",
        1001,
    )));
    assert_eq!(
        auth.verify(t0, &worn, Name::AUTHORIZATION, password),
        AuthOutcome::Challenge { stale: true }
    );
}
