//! DTMF in SIP INFO requests: the body formats phones and PBXs actually send.
//!
//! There is no RFC for these bodies (RFC 6086 defines INFO itself, not DTMF packages); two
//! formats are in common use and both are accepted:
//! * `application/dtmf-relay` (Cisco's format, sent by most phones that do INFO):
//!   `Signal=5\r\nDuration=160\r\n` — the key, then how long it was held in milliseconds;
//! * `application/dtmf`: the body is the key alone (`5`).
//!
//! Senders vary, so parsing is tolerant where it costs nothing: media type and keys in any case,
//! parameters after the media type ignored, spaces around `=` and at line ends, LF-only or CRLF
//! lines, unknown lines ignored, `*`/`#` written as `10`/`11` (their RFC 4733 codes, as some
//! gateways do) and A–D as `12`–`15`. What would make the key ambiguous is an error: no
//! `Signal`, two of them, a value that is not a key, a duration that is not a number of ms.

use std::time::{Duration, Instant};

use super::{Digit, DtmfEvent, DtmfSource};

/// Largest body we parse; a DTMF body is a few dozen bytes.
pub const MAX_BODY_LEN: usize = 1_024;

/// Longest `Duration` we believe, in ms (a minute; phones send 100–250).
const MAX_DURATION_MS: u64 = 60_000;

/// A key press from an INFO body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoDigit {
    /// The key.
    pub digit: Digit,
    /// How long it was held, if the body says (`application/dtmf-relay` only).
    pub duration: Option<Duration>,
}

impl InfoDigit {
    /// The press as an event that arrived at `now`, lasting `default_duration` if the body gave
    /// no (or a zero) duration.
    #[must_use]
    pub fn into_event(self, now: Instant, default_duration: Duration) -> DtmfEvent {
        let duration = self
            .duration
            .filter(|d| !d.is_zero())
            .unwrap_or(default_duration);
        DtmfEvent {
            digit: self.digit,
            source: DtmfSource::SipInfo,
            started: now,
            duration,
        }
    }
}

/// Why an INFO body is not a key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InfoError {
    /// The Content-Type is neither `application/dtmf-relay` nor `application/dtmf`.
    #[error("INFO body type is not application/dtmf-relay or application/dtmf")]
    UnsupportedContentType,
    /// The body is longer than [`MAX_BODY_LEN`].
    #[error("INFO body of {len} bytes is too long for a key press")]
    BodyTooLarge {
        /// Length of the body.
        len: usize,
    },
    /// No `Signal` line (or an empty `application/dtmf` body).
    #[error("INFO body names no key")]
    MissingSignal,
    /// Two `Signal` lines.
    #[error("INFO body names more than one key")]
    DuplicateSignal,
    /// The signal is not a key.
    #[error("INFO body's signal is not a DTMF key")]
    InvalidSignal,
    /// The `Duration` is not a number of milliseconds up to a minute.
    #[error("INFO body's duration is not a number of milliseconds")]
    InvalidDuration,
}

impl InfoError {
    /// The SIP response to send for this INFO: 415 Unsupported Media Type for a body type we do
    /// not take (RFC 3261 §21.4.13), 413 for an oversized body, 400 for a malformed one.
    #[must_use]
    pub fn status_code(&self) -> u16 {
        match self {
            InfoError::UnsupportedContentType => 415,
            InfoError::BodyTooLarge { .. } => 413,
            _ => 400,
        }
    }
}

/// The media types we take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyType {
    DtmfRelay,
    Dtmf,
}

/// Parses an INFO request's body, given its Content-Type header value.
///
/// # Errors
/// See [`InfoError`].
///
/// ```
/// use std::time::Duration;
/// use switchboard_media::dtmf::{info, Digit};
///
/// let d = info::parse("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n").unwrap();
/// assert_eq!(d.digit, Digit::Five);
/// assert_eq!(d.duration, Some(Duration::from_millis(160)));
/// assert_eq!(info::parse("Application/DTMF", b"#\n").unwrap().digit, Digit::Hash);
/// assert_eq!(info::parse("text/plain", b"5").unwrap_err().status_code(), 415);
/// ```
pub fn parse(content_type: &str, body: &[u8]) -> Result<InfoDigit, InfoError> {
    let kind = body_type(content_type).ok_or(InfoError::UnsupportedContentType)?;
    if body.len() > MAX_BODY_LEN {
        return Err(InfoError::BodyTooLarge { len: body.len() });
    }
    match kind {
        BodyType::Dtmf => {
            let value = body.trim_ascii();
            if value.is_empty() {
                return Err(InfoError::MissingSignal);
            }
            let digit = parse_signal(value).ok_or(InfoError::InvalidSignal)?;
            Ok(InfoDigit {
                digit,
                duration: None,
            })
        }
        BodyType::DtmfRelay => parse_relay(body),
    }
}

/// The media type of a Content-Type value, parameters and case ignored.
fn body_type(content_type: &str) -> Option<BodyType> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case("application/dtmf-relay") {
        Some(BodyType::DtmfRelay)
    } else if media.eq_ignore_ascii_case("application/dtmf") {
        Some(BodyType::Dtmf)
    } else {
        None
    }
}

/// `Key=Value` lines of `application/dtmf-relay`.
fn parse_relay(body: &[u8]) -> Result<InfoDigit, InfoError> {
    let mut digit = None;
    let mut duration = None;
    // Splitting on LF and trimming also takes CRLF and stray spaces.
    for line in body.split(|&b| b == b'\n') {
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (key, value) = (line[..eq].trim_ascii(), line[eq + 1..].trim_ascii());
        if key.eq_ignore_ascii_case(b"signal") {
            if digit.is_some() {
                return Err(InfoError::DuplicateSignal);
            }
            digit = Some(parse_signal(value).ok_or(InfoError::InvalidSignal)?);
        } else if key.eq_ignore_ascii_case(b"duration") {
            let ms = parse_decimal(value).filter(|&ms| ms <= MAX_DURATION_MS);
            duration = Some(Duration::from_millis(ms.ok_or(InfoError::InvalidDuration)?));
        }
    }
    let digit = digit.ok_or(InfoError::MissingSignal)?;
    Ok(InfoDigit { digit, duration })
}

/// A key: its character, or its RFC 4733 event code in decimal (`10` = `*`, `11` = `#`).
fn parse_signal(value: &[u8]) -> Option<Digit> {
    match value {
        [c] => Digit::from_char(char::from(*c)),
        _ => parse_decimal(value)
            .and_then(|n| u8::try_from(n).ok())
            .and_then(Digit::from_event_code),
    }
}

/// A short unsigned decimal number (at most 6 digits: none of ours is longer).
fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 6 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
}
