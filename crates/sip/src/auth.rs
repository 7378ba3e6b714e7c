//! Digest authentication, server side (RFC 3261 §22, RFC 7616, RFC 8760 for SHA-256).
//!
//! Nonces are stateless: `hex(seconds since epoch) . hex(serial) . hex(HMAC-SHA256(key, both))`,
//! so any nonce we issued can be checked without remembering it (the serial makes every
//! challenge's nonce unique, which the nonce-count replay check relies on), and one older than its lifetime is
//! answered with `stale=true` (the phone retries at once with the same password, no prompt).
//! Nonce counts are remembered in a bounded map to refuse replays; a nonce that carried a wrong
//! password is spent (one guess per challenge), and one nonce authenticates at most 1,000
//! requests.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use ezk_sip_types::{Name, StatusCode};
use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::message::{Request, Response, response_to};

/// Most nonces whose counts we remember at once; the oldest are forgotten first.
const MAX_TRACKED_NONCES: usize = 65_536;
/// A nonce that carried a wrong password: it is spent, and no further guess is checked with it.
const SPENT: u32 = u32::MAX;
/// Most requests one nonce may authenticate (nonce-count); then the phone gets a fresh one.
const MAX_NONCE_USES: u32 = 1_000;

/// A digest hash algorithm (RFC 8760 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5, still what most phones send.
    Md5,
    /// SHA-256, preferred: offered first (RFC 8760 §2.4).
    Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses an algorithm name (`MD5`, `SHA-256`), case-insensitively.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if name.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

/// Why credentials were refused outright.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The Authorization header could not be parsed.
    #[error("malformed credentials: {0}")]
    Malformed(&'static str),
    /// The user is unknown.
    #[error("unknown user")]
    UnknownUser,
    /// The response hash is wrong: a wrong password.
    #[error("wrong password")]
    WrongPassword,
}

/// What the authenticator concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Good credentials for `user`.
    Authenticated {
        /// The authenticated user name.
        user: String,
    },
    /// No usable credentials (none, other realm, expired or replayed nonce): challenge.
    Challenge {
        /// The nonce was ours but too old: `stale=true`.
        stale: bool,
    },
    /// Credentials on a nonce that already carried a wrong password: challenge again with a
    /// fresh nonce (a phone whose user fixed the password gets in) but count it as a failed
    /// guess (a cracker replaying one nonce gets nowhere and gets banned).
    SpentNonce,
    /// Refuse with 403.
    Forbidden(AuthError),
}

/// The server side of digest authentication.
#[derive(Debug)]
pub struct DigestAuthenticator {
    realm: String,
    key: [u8; 32],
    nonce_ttl: Duration,
    epoch: Instant,
    /// Highest nonce-count seen per nonce (replay protection), with insertion order for eviction.
    counts: HashMap<String, u32>,
    order: std::collections::VecDeque<String>,
    /// Challenge algorithms, in the order offered.
    algorithms: Vec<Algorithm>,
    /// Makes each nonce unique; `Cell` because issuing a challenge is logically a read.
    serial: std::cell::Cell<u64>,
}

impl DigestAuthenticator {
    /// A new authenticator. `key` must come from a CSPRNG; `epoch` is any fixed instant (the
    /// driver's start).
    #[must_use]
    pub fn new(realm: String, key: [u8; 32], nonce_ttl: Duration, epoch: Instant) -> Self {
        DigestAuthenticator {
            realm,
            key,
            nonce_ttl,
            epoch,
            counts: HashMap::new(),
            order: std::collections::VecDeque::new(),
            serial: std::cell::Cell::new(0),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
        }
    }

    /// Offers these algorithms, in this order (RFC 8760 §2.4 prefers SHA-256 first; clients
    /// that read only the first challenge, like SIPp 3.6 and baresip 1.0, need MD5 first).
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: Vec<Algorithm>) -> Self {
        if !algorithms.is_empty() {
            self.algorithms = algorithms;
        }
        self
    }

    /// The realm.
    #[must_use]
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Challenge header values, one per configured algorithm, sharing one nonce.
    #[must_use]
    pub fn challenge(&self, now: Instant, stale: bool) -> Vec<String> {
        let nonce = self.nonce(now);
        self.algorithms
            .iter()
            .copied()
            .map(|alg| {
                let mut value = format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"",
                    self.realm,
                    alg.name()
                );
                if stale {
                    value.push_str(", stale=true");
                }
                value
            })
            .collect()
    }

    fn nonce(&self, now: Instant) -> String {
        let secs = now.saturating_duration_since(self.epoch).as_secs();
        let serial = self.serial.get().wrapping_add(1);
        self.serial.set(serial);
        format!("{secs:x}.{serial:x}.{}", self.mac(secs, serial))
    }

    fn mac(&self, secs: u64, serial: u64) -> String {
        // HMAC accepts keys of any length, so this cannot fail; an empty MAC would never match.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(&secs.to_be_bytes());
        mac.update(&serial.to_be_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// Checks the credentials `request` carries in `header` (Authorization or
    /// Proxy-Authorization) against `password_of(user)`.
    pub fn verify(
        &mut self,
        now: Instant,
        request: &Request,
        header: Name,
        password_of: impl Fn(&str) -> Option<String>,
    ) -> AuthOutcome {
        let mut stale = false;
        // A phone may send credentials for several realms; use the one for ours.
        for value in request.headers.get_raw(&header) {
            let creds = match Credentials::parse(value) {
                Ok(creds) => creds,
                // RFC 4475 regaut01: a scheme we do not know is no credential at all: challenge.
                Err(AuthError::Malformed("not a Digest scheme")) => continue,
                Err(_) => {
                    return AuthOutcome::Forbidden(AuthError::Malformed(
                        "unparsable digest credentials",
                    ));
                }
            };
            if creds.realm != self.realm {
                continue;
            }
            match self.check_nonce(now, &creds.nonce) {
                NonceCheck::Invalid => continue,
                NonceCheck::Stale => {
                    stale = true;
                    continue;
                }
                NonceCheck::Fresh => {}
            }
            return self.check_response(request, &creds, &password_of);
        }
        AuthOutcome::Challenge { stale }
    }

    fn check_response(
        &mut self,
        request: &Request,
        creds: &Credentials,
        password_of: &impl Fn(&str) -> Option<String>,
    ) -> AuthOutcome {
        let Some(algorithm) = Algorithm::parse(creds.algorithm.as_deref().unwrap_or("MD5")) else {
            return AuthOutcome::Challenge { stale: false };
        };
        // RFC 7616 §3.4.6 / RFC 3261 §22.4: the digest covers this request's URI, not another.
        if !uri_matches(&creds.uri, request) {
            return AuthOutcome::Forbidden(AuthError::Malformed(
                "digest uri does not match the Request-URI",
            ));
        }
        // One nonce carries at most one wrong guess: a cracker must come back for a new
        // challenge (and be counted) for every password it tries. A phone that reuses the nonce
        // after its user fixed the password just gets a fresh challenge.
        if self.counts.get(&creds.nonce) == Some(&SPENT) {
            return AuthOutcome::SpentNonce;
        }
        let Some(password) = password_of(&creds.username) else {
            self.spend(&creds.nonce);
            return AuthOutcome::Forbidden(AuthError::UnknownUser);
        };
        let method = request.method().to_string();
        let expected = compute_response(
            algorithm,
            &creds.username,
            &self.realm,
            &password,
            &method,
            creds,
        );
        if !constant_time_eq(
            expected.as_bytes(),
            creds.response.to_ascii_lowercase().as_bytes(),
        ) {
            self.spend(&creds.nonce);
            return AuthOutcome::Forbidden(AuthError::WrongPassword);
        }
        if let Some(nc) = &creds.nc {
            let Ok(nc) = u32::from_str_radix(nc, 16) else {
                return AuthOutcome::Forbidden(AuthError::Malformed("nc is not hex"));
            };
            if !self.accept_count(&creds.nonce, nc) {
                return AuthOutcome::Challenge { stale: true };
            }
        }
        AuthOutcome::Authenticated {
            user: creds.username.clone(),
        }
    }

    /// Marks `nonce` as having carried a wrong guess.
    fn spend(&mut self, nonce: &str) {
        self.remember(nonce, SPENT);
    }

    fn remember(&mut self, nonce: &str, value: u32) {
        if let Some(slot) = self.counts.get_mut(nonce) {
            *slot = value;
            return;
        }
        if self.order.len() >= MAX_TRACKED_NONCES
            && let Some(old) = self.order.pop_front()
        {
            self.counts.remove(&old);
        }
        self.counts.insert(nonce.to_owned(), value);
        self.order.push_back(nonce.to_owned());
    }

    /// RFC 7616 §3.4.5: a nonce-count must grow; an equal or lower one is a replay. A nonce
    /// serves at most [`MAX_NONCE_USES`] requests.
    fn accept_count(&mut self, nonce: &str, nc: u32) -> bool {
        if nc > MAX_NONCE_USES {
            return false;
        }
        match self.counts.get_mut(nonce) {
            Some(last) if nc <= *last => false,
            Some(last) => {
                *last = nc;
                true
            }
            None => {
                self.remember(nonce, nc);
                true
            }
        }
    }

    fn check_nonce(&self, now: Instant, nonce: &str) -> NonceCheck {
        let mut parts = nonce.split('.');
        let (Some(secs), Some(serial), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return NonceCheck::Invalid;
        };
        let (Ok(secs), Ok(serial)) = (
            u64::from_str_radix(secs, 16),
            u64::from_str_radix(serial, 16),
        ) else {
            return NonceCheck::Invalid;
        };
        if !constant_time_eq(self.mac(secs, serial).as_bytes(), mac.as_bytes()) {
            return NonceCheck::Invalid;
        }
        let age = now
            .saturating_duration_since(self.epoch)
            .as_secs()
            .saturating_sub(secs);
        if age > self.nonce_ttl.as_secs() {
            NonceCheck::Stale
        } else {
            NonceCheck::Fresh
        }
    }

    /// The response refusing `request` for `outcome`: 401/407 with challenges, 403, or 400.
    #[must_use]
    pub fn unauthorized_response(
        &self,
        now: Instant,
        request: &Request,
        outcome: &AuthOutcome,
        proxy: bool,
    ) -> Response {
        match outcome {
            AuthOutcome::Forbidden(AuthError::Malformed(why)) => {
                let mut response = response_to(request, StatusCode::BAD_REQUEST, Some("sb-auth"));
                response.line.reason = Some((*why).into());
                response
            }
            AuthOutcome::Forbidden(_) => {
                response_to(request, StatusCode::FORBIDDEN, Some("sb-auth"))
            }
            AuthOutcome::Challenge { .. } | AuthOutcome::SpentNonce => {
                let stale = matches!(outcome, AuthOutcome::Challenge { stale: true });
                let (code, name) = if proxy {
                    (
                        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                        Name::PROXY_AUTHENTICATE,
                    )
                } else {
                    (StatusCode::UNAUTHORIZED, Name::WWW_AUTHENTICATE)
                };
                let mut response = response_to(request, code, Some("sb-auth"));
                for value in self.challenge(now, stale) {
                    response.headers.insert(name.clone(), value);
                }
                response
            }
            AuthOutcome::Authenticated { .. } => response_to(request, StatusCode::OK, None),
        }
    }
}

enum NonceCheck {
    Fresh,
    Stale,
    Invalid,
}

/// Parsed digest credentials (the parameters of an Authorization header).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// username
    pub username: String,
    /// realm
    pub realm: String,
    /// nonce
    pub nonce: String,
    /// uri (the digest-uri)
    pub uri: String,
    /// response (hex)
    pub response: String,
    /// algorithm, if given (MD5 when absent)
    pub algorithm: Option<String>,
    /// qop, if given
    pub qop: Option<String>,
    /// nc, if given
    pub nc: Option<String>,
    /// cnonce, if given
    pub cnonce: Option<String>,
}

impl Credentials {
    /// Parses `Digest k=v, k="v", …`.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        let rest = value.trim();
        let Some(rest) = rest
            .strip_prefix("Digest")
            .or_else(|| rest.strip_prefix("digest"))
        else {
            return Err(AuthError::Malformed("not a Digest scheme"));
        };
        let mut creds = Credentials::default();
        for (key, val) in params(rest)? {
            let slot = match key.to_ascii_lowercase().as_str() {
                "username" => &mut creds.username,
                "realm" => &mut creds.realm,
                "nonce" => &mut creds.nonce,
                "uri" => &mut creds.uri,
                "response" => &mut creds.response,
                "algorithm" => {
                    creds.algorithm = Some(val);
                    continue;
                }
                "qop" => {
                    creds.qop = Some(val);
                    continue;
                }
                "nc" => {
                    creds.nc = Some(val);
                    continue;
                }
                "cnonce" => {
                    creds.cnonce = Some(val);
                    continue;
                }
                _ => continue,
            };
            *slot = val;
        }
        if creds.username.is_empty() || creds.nonce.is_empty() || creds.response.is_empty() {
            return Err(AuthError::Malformed("username, nonce or response missing"));
        }
        Ok(creds)
    }
}

/// Splits `k=v, k="quoted, with \"escapes\""` pairs.
fn params(input: &str) -> Result<Vec<(String, String)>, AuthError> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.trim().is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            return Err(AuthError::Malformed("parameter without value"));
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => val.extend(chars.next()),
                    Some('"') => break,
                    Some(c) => val.push(c),
                    None => return Err(AuthError::Malformed("unterminated quoted string")),
                }
            }
        } else {
            val = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_owned();
        }
        out.push((key.trim().to_owned(), val));
    }
    Ok(out)
}

/// The digest response (RFC 7616 §3.4.1, RFC 2617 without qop), lower-case hex. Also what a
/// client computes — our trunk registration uses it.
#[must_use]
pub fn compute_response(
    algorithm: Algorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    creds: &Credentials,
) -> String {
    let ha1 = algorithm.hash(&format!("{username}:{realm}:{password}"));
    let ha2 = algorithm.hash(&format!("{method}:{}", creds.uri));
    let mut data = String::with_capacity(256);
    match (&creds.qop, &creds.nc, &creds.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => {
            let _ = write!(data, "{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", creds.nonce);
        }
        _ => {
            let _ = write!(data, "{ha1}:{}:{ha2}", creds.nonce);
        }
    }
    algorithm.hash(&data)
}

/// Whether the credentials' `uri` names the request's target host: the same text, or the same
/// scheme and host, with the same port when both name one. Lenient on purpose: SIPp writes
/// `sip:host:port` (no user, the port it sent to) whatever the Request-URI; what this check
/// stops is credentials computed for another server being replayed to us.
pub(crate) fn uri_matches(digest_uri: &str, request: &Request) -> bool {
    use ezk_sip_types::print::AppendCtx;
    let target = &request.line.uri;
    if digest_uri == target.default_print_ctx().to_string() {
        return true;
    }
    let Ok(uri) = digest_uri.parse::<ezk_sip_types::uri::SipUri>() else {
        return false;
    };
    let ports_agree = match (uri.host_port.port, target.host_port.port) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    uri.sips == target.sips && uri.host_port.host == target.host_port.host && ports_agree
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
