//! Just enough SIP text (RFC 3261) for a test tool: read the start line, a few headers and the
//! body of the messages the switch sends the generator, and write the generator's own requests
//! and responses.
//!
//! This is not a SIP stack: no header is typed beyond what the call flows need (Via, From, To,
//! Call-ID, CSeq, Contact, Content-Length), values are borrowed slices of the datagram, and
//! anything unexpected is an error value the caller counts and drops. Compact header forms
//! (RFC 3261 §7.3.3) are recognised because any peer may use them.

use std::fmt;
use std::fmt::Write as _;

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `METHOD uri SIP/2.0`.
    Request {
        /// The method, as written.
        method: &'a str,
        /// The Request-URI.
        uri: &'a str,
    },
    /// `SIP/2.0 code reason`.
    Response {
        /// The status code.
        code: u16,
    },
}

/// One parsed datagram; every slice borrows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// Request or response line.
    pub start: StartLine<'a>,
    /// `(name, value)` in order, values trimmed.
    headers: Vec<(&'a str, &'a str)>,
    /// Exactly Content-Length bytes (the rest of the datagram without it).
    pub body: &'a [u8],
}

/// Why a datagram is not a SIP message the generator can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SipTextError {
    /// The head is not UTF-8.
    NotUtf8,
    /// No empty line ends the head.
    NoEndOfHead,
    /// The start line is neither a request nor a response line.
    BadStartLine,
    /// A header line without a colon.
    BadHeader,
    /// Content-Length is not a number, or larger than the datagram.
    BadContentLength,
}

impl fmt::Display for SipTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SipTextError::NotUtf8 => "SIP head is not UTF-8",
            SipTextError::NoEndOfHead => "SIP head does not end",
            SipTextError::BadStartLine => "malformed SIP start line",
            SipTextError::BadHeader => "malformed SIP header line",
            SipTextError::BadContentLength => "bad Content-Length",
        })
    }
}

impl std::error::Error for SipTextError {}

/// RFC 3261 §7.3.3 compact forms of the headers we read.
const COMPACT: [(&str, &str); 7] = [
    ("v", "Via"),
    ("f", "From"),
    ("t", "To"),
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
];

/// The full name of a header written in its compact form; any other name unchanged.
fn full_name(name: &str) -> &str {
    COMPACT
        .iter()
        .find(|(short, _)| name.eq_ignore_ascii_case(short))
        .map_or(name, |(_, long)| long)
}

fn same_header(a: &str, b: &str) -> bool {
    full_name(a).eq_ignore_ascii_case(full_name(b))
}

/// Parses one datagram.
///
/// # Errors
/// [`SipTextError`] for anything that is not a well-formed SIP message head.
pub fn parse(datagram: &[u8]) -> Result<Message<'_>, SipTextError> {
    let end = datagram
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(SipTextError::NoEndOfHead)?;
    let head = std::str::from_utf8(&datagram[..end]).map_err(|_| SipTextError::NotUtf8)?;
    let rest = &datagram[end + 4..];
    let mut lines = head.split("\r\n");
    let start = start_line(lines.next().unwrap_or_default())?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(SipTextError::BadHeader)?;
        headers.push((name.trim(), value.trim()));
    }
    let mut message = Message {
        start,
        headers,
        body: rest,
    };
    if let Some(len) = message.header("Content-Length") {
        let len: usize = len.parse().map_err(|_| SipTextError::BadContentLength)?;
        message.body = rest.get(..len).ok_or(SipTextError::BadContentLength)?;
    }
    Ok(message)
}

fn start_line(line: &str) -> Result<StartLine<'_>, SipTextError> {
    let mut parts = line.splitn(3, ' ');
    let first = parts.next().unwrap_or_default();
    let second = parts.next().ok_or(SipTextError::BadStartLine)?;
    if first == "SIP/2.0" {
        let code = second.parse().map_err(|_| SipTextError::BadStartLine)?;
        return Ok(StartLine::Response { code });
    }
    if parts.next() != Some("SIP/2.0") || first.is_empty() {
        return Err(SipTextError::BadStartLine);
    }
    Ok(StartLine::Request {
        method: first,
        uri: second,
    })
}

impl<'a> Message<'a> {
    /// The first value of header `name` (full or compact form, any case).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers_named(name).next()
    }

    /// Every value of header `name`, in order (one per header line).
    pub fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| same_header(n, name))
            .map(|(_, v)| *v)
    }

    /// The method of a request.
    #[must_use]
    pub fn method(&self) -> Option<&'a str> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    #[must_use]
    pub fn code(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// Call-ID.
    #[must_use]
    pub fn call_id(&self) -> Option<&'a str> {
        self.header("Call-ID")
    }

    /// CSeq number and method.
    #[must_use]
    pub fn cseq(&self) -> Option<(u32, &'a str)> {
        let (num, method) = self.header("CSeq")?.split_once(' ')?;
        Some((num.trim().parse().ok()?, method.trim()))
    }

    /// The body as text (SDP); empty when it is not UTF-8.
    #[must_use]
    pub fn body_text(&self) -> &'a str {
        std::str::from_utf8(self.body).unwrap_or_default()
    }
}

/// The `tag` parameter of a From or To value (RFC 3261 §19.3).
#[must_use]
pub fn tag(value: &str) -> Option<&str> {
    let params = value.rsplit_once('>').map_or(value, |(_, after)| after);
    params
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("tag"))
        .map(|(_, v)| v.trim())
}

/// The URI of a name-addr or addr-spec value: inside `<…>` if present, else up to the first `;`.
#[must_use]
pub fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.split(';').next().unwrap_or_default().trim(),
    }
}

/// The user part of a From/To/Contact value's SIP URI: `sip:lg-17@host` → `lg-17`.
#[must_use]
pub fn uri_user(value: &str) -> Option<&str> {
    let uri = uri_of(value);
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let (user, _) = rest.split_once('@')?;
    Some(user.split(';').next().unwrap_or(user))
}

/// Writes a request: the start line, `headers` in order, Content-Length, then `body`.
#[must_use]
pub fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut text = format!("{method} {uri} SIP/2.0\r\n");
    finish(&mut text, headers, body);
    text.into_bytes()
}

/// Writes a response to `req` (RFC 3261 §8.2.6.2): its Via lines, From, Call-ID and CSeq
/// copied, its To with `to_tag` added when it has none, then `headers`, Content-Length, `body`.
#[must_use]
pub fn response(
    code: u16,
    reason: &str,
    req: &Message<'_>,
    to_tag: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    let mut text = format!("SIP/2.0 {code} {reason}\r\n");
    for via in req.headers_named("Via") {
        let _ = write!(text, "Via: {via}\r\n");
    }
    if let Some(from) = req.header("From") {
        let _ = write!(text, "From: {from}\r\n");
    }
    if let Some(to) = req.header("To") {
        match to_tag {
            Some(t) if tag(to).is_none() => {
                let _ = write!(text, "To: {to};tag={t}\r\n");
            }
            _ => {
                let _ = write!(text, "To: {to}\r\n");
            }
        }
    }
    for name in ["Call-ID", "CSeq"] {
        if let Some(value) = req.header(name) {
            let _ = write!(text, "{name}: {value}\r\n");
        }
    }
    finish(&mut text, headers, body);
    text.into_bytes()
}

fn finish(text: &mut String, headers: &[(&str, &str)], body: &str) {
    for (name, value) in headers {
        let _ = write!(text, "{name}: {value}\r\n");
    }
    let _ = write!(text, "Content-Length: {}\r\n\r\n{body}", body.len());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An INVITE as the switch prints one to the agent (ezk-sip-types layout), with two Vias.
    const SWITCH_INVITE: &str = "INVITE sip:1002@127.0.0.1:5090 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc\r\n\
        Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKdef, SIP/2.0/UDP 10.0.0.8\r\n\
        Max-Forwards: 69\r\n\
        From: \"lg-17\" <sip:lg-17@switchboard.invalid>;tag=sbtag1\r\n\
        To: \"Agent 1002\" <sip:1002@127.0.0.1:5090>\r\n\
        Call-ID: 4f2c@127.0.0.1\r\n\
        CSeq: 1 INVITE\r\n\
        Contact: <sip:127.0.0.1:5070>\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 4\r\n\r\nv=0\r\nEXTRA";

    #[test]
    fn reads_what_the_switch_sends() {
        let m = parse(SWITCH_INVITE.as_bytes()).unwrap();
        assert_eq!(
            m.start,
            StartLine::Request {
                method: "INVITE",
                uri: "sip:1002@127.0.0.1:5090"
            }
        );
        assert_eq!(m.method(), Some("INVITE"));
        assert_eq!(m.code(), None);
        assert_eq!(m.call_id(), Some("4f2c@127.0.0.1"));
        assert_eq!(m.cseq(), Some((1, "INVITE")));
        assert_eq!(m.headers_named("via").count(), 2);
        assert_eq!(m.body, b"v=0\r");
        let from = m.header("From").unwrap();
        assert_eq!(uri_user(from), Some("lg-17"));
        assert_eq!(tag(from), Some("sbtag1"));
        assert_eq!(tag(m.header("To").unwrap()), None);
        assert_eq!(uri_of(m.header("Contact").unwrap()), "sip:127.0.0.1:5070");
        assert_eq!(uri_user(m.header("Contact").unwrap()), None);
    }

    #[test]
    fn response_copies_the_dialog_headers_and_adds_the_tag() {
        let m = parse(SWITCH_INVITE.as_bytes()).unwrap();
        let bytes = response(
            200,
            "OK",
            &m,
            Some("agent7"),
            &[("Contact", "<sip:1002@127.0.0.1:5090>")],
            "v=0\r\n",
        );
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc\r\nVia: SIP/2.0/UDP 10.0.0.9"));
        assert!(text.contains("To: \"Agent 1002\" <sip:1002@127.0.0.1:5090>;tag=agent7\r\n"));
        assert!(text.ends_with("Content-Length: 5\r\n\r\nv=0\r\n"));
        let back = parse(&bytes).unwrap();
        assert_eq!(back.code(), Some(200));
        assert_eq!(back.cseq(), Some((1, "INVITE")));
        assert_eq!(tag(back.header("To").unwrap()), Some("agent7"));
        // A To that already has a tag keeps it.
        let again = response(200, "OK", &back, Some("other"), &[], "");
        assert_eq!(
            tag(parse(&again).unwrap().header("t").unwrap()),
            Some("agent7")
        );
    }

    #[test]
    fn compact_forms_and_bad_input() {
        let m =
            parse(b"BYE sip:x@y SIP/2.0\r\ni: abc\r\nf: <sip:a@b>;tag=1\r\nl: 0\r\n\r\n").unwrap();
        assert_eq!(m.call_id(), Some("abc"));
        assert_eq!(tag(m.header("From").unwrap()), Some("1"));
        assert_eq!(
            parse(b"SIP/2.0 180 Ringing\r\n\r\n").unwrap().code(),
            Some(180)
        );
        assert_eq!(
            parse(b"INVITE sip:x SIP/2.0\r\n"),
            Err(SipTextError::NoEndOfHead)
        );
        assert_eq!(parse(b"HELLO\r\n\r\n"), Err(SipTextError::BadStartLine));
        assert_eq!(
            parse(b"SIP/2.0 abc x\r\n\r\n"),
            Err(SipTextError::BadStartLine)
        );
        assert_eq!(
            parse(b"BYE sip:x SIP/2.0\r\nnocolon\r\n\r\n"),
            Err(SipTextError::BadHeader)
        );
        assert_eq!(
            parse(b"BYE sip:x SIP/2.0\r\nContent-Length: 9\r\n\r\nabc"),
            Err(SipTextError::BadContentLength)
        );
        assert_eq!(
            parse(b"BYE sip:x SIP/2.0\r\nCSeq: x BYE\r\n\r\n")
                .unwrap()
                .cseq(),
            None
        );
    }

    #[test]
    fn request_layout() {
        let bytes = request(
            "BYE",
            "sip:1002@127.0.0.1:5070",
            &[("Call-ID", "c1"), ("CSeq", "2 BYE")],
            "",
        );
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "BYE sip:1002@127.0.0.1:5070 SIP/2.0\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(m) = parse(&bytes) {
                let _ = (m.cseq(), m.call_id(), m.header("From").map(tag), m.header("To").map(uri_user));
            }
        }

        #[test]
        fn text_with_an_end_never_panics(head in "\\PC{0,200}", body in "\\PC{0,50}") {
            let text = format!("{head}\r\n\r\n{body}");
            if let Ok(m) = parse(text.as_bytes()) {
                let _ = (m.cseq(), m.header("Via").map(uri_of), m.body_text());
            }
        }
    }
}
