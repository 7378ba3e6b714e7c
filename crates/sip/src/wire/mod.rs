//! Bytes from a socket → a checked [`SipMessage`], or the error that says what to answer.
//!
//! `ezk-sip-types` parses the start line, splits header lines and types headers on demand; the
//! framing and the checks RFC 3261 and RFC 4475 ask for are ours:
//! * the head ends at the first empty line; the body is exactly Content-Length bytes (a datagram
//!   with more is truncated, RFC 3261 §18.3; with less is an error);
//! * a request needs Via, From, To, Call-ID and CSeq, each single-valued one exactly once, a
//!   CSeq method equal to the request line's and a CSeq number below 2^31 (§8.1.1.5);
//! * a Request-URI scheme other than sip/sips gets 416, a SIP version other than 2.0 gets 505;
//! * a response with any problem is dropped: nobody to answer.

mod framing;
mod start_line;
pub(crate) mod syntax;

use bytes::Bytes;
use ezk_sip_types::msg::{Line, PullParser};
use ezk_sip_types::{Name, StatusCode};

use crate::headers::Headers;

pub use framing::{Frame, StreamFramer};

use crate::message::{Request, Response, SipMessage, response_to};

/// The largest datagram we read.
pub const MAX_DATAGRAM: usize = 65_535;

/// The headers the checks below count, by their canonical print names (ezk maps every spelling,
/// compact forms included, of a known header to its canonical name, so an exact comparison
/// suffices; counting while parsing spares a dozen linear lookups per message).
const COUNTED: [&str; 10] = [
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "Date",
    "Contact",
];
/// Indexes into [`COUNTED`] of headers that may appear at most once (RFC 3261 §7.3).
const SINGLE: [usize; 7] = [1, 2, 3, 4, 5, 6, 7];
/// Indexes into [`COUNTED`] of headers every request must carry (RFC 3261 §8.1.1).
const REQUIRED: [usize; 5] = [0, 1, 2, 3, 4];
const DATE: usize = 8;
const CONTACT: usize = 9;

/// How many times each [`COUNTED`] header appeared (header lines, not comma-separated values).
#[derive(Debug, Default, Clone, Copy)]
struct Counts([u16; COUNTED.len()]);

impl Counts {
    fn add(&mut self, name: &Name) {
        let printed = name.as_print_str();
        if let Some(i) = COUNTED.iter().position(|c| *c == printed) {
            self.0[i] = self.0[i].saturating_add(1);
        }
    }
}

/// What was wrong with the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Not a SIP message at all (no start line we recognise, binary noise, invalid UTF-8).
    #[error("not a SIP message: {0}")]
    NotSip(&'static str),
    /// The head never ends (no empty line) — a truncated datagram.
    #[error("message head is incomplete")]
    Incomplete,
    /// A request we can answer, with what is wrong and the status to answer with.
    #[error("bad request ({status}): {reason}")]
    BadRequest {
        /// 400, 416 or 505.
        status: u16,
        /// What is wrong, sent as the reason phrase.
        reason: String,
        /// The request's headers, enough to build the response (§8.2.6).
        head: Box<RequestHead>,
    },
    /// A malformed response: dropped.
    #[error("malformed response: {0}")]
    BadResponse(String),
}

/// The part of a rejected request needed to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// `(name, value)` of Via, From, To, Call-ID, CSeq as they arrived.
    pub headers: Vec<(String, String)>,
}

impl WireError {
    /// The stateless response to send back, or `None` when the input is dropped silently.
    #[must_use]
    pub fn response(&self) -> Option<Response> {
        let WireError::BadRequest {
            status,
            reason,
            head,
        } = self
        else {
            return None;
        };
        // A request without a Via cannot be answered: there is nowhere to send a response.
        if !head.headers.iter().any(|(n, _)| Name::VIA == *n.as_str()) {
            return None;
        }
        let mut response = Response::new(StatusCode::from(*status));
        response.line.reason = Some(bytesstr::BytesStr::from(sanitize_reason(reason)));
        for (name, value) in &head.headers {
            response
                .headers
                .insert(Name::from(name.as_str()), value.as_str());
        }
        Some(response)
    }
}

fn sanitize_reason(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect()
}

/// Parses one datagram, or one message framed from a stream.
pub fn parse_message(bytes: &[u8]) -> Result<SipMessage, WireError> {
    match parse_complete(bytes) {
        // A datagram whose head ends at its last CRLF, without the empty line (RFC 4475 baddn
        // as archived): the end of the datagram ends the head.
        Err(WireError::Incomplete) if bytes.ends_with(b"\r\n") && !bytes.ends_with(b"\r\n\r\n") => {
            let mut padded = bytes.to_vec();
            padded.extend_from_slice(b"\r\n");
            parse_complete(&padded)
        }
        other => other,
    }
}

fn parse_complete(bytes: &[u8]) -> Result<SipMessage, WireError> {
    let buffer = Bytes::copy_from_slice(bytes);
    let mut parser = PullParser::new(&buffer, 0);
    let first = match parser.next() {
        Some(Ok(line)) => line,
        Some(Err(_)) => return Err(WireError::Incomplete),
        None => return Err(WireError::NotSip("empty")),
    };
    let first =
        std::str::from_utf8(first).map_err(|_| WireError::NotSip("start line is not UTF-8"))?;
    let start = start_line::classify(first)?;
    let mut headers = Headers::new();
    let mut counts = Counts::default();
    let mut head_fault: Option<String> = None;
    for item in &mut parser {
        let line = item.map_err(|_| WireError::Incomplete)?;
        let Ok(line) = std::str::from_utf8(line) else {
            head_fault.get_or_insert_with(|| "header line is not UTF-8".into());
            continue;
        };
        match Line::parse(&buffer, line) {
            Ok((_, parsed)) => {
                counts.add(&parsed.name);
                headers.insert(parsed.name, parsed.value);
            }
            Err(_) => {
                head_fault.get_or_insert_with(|| format!("malformed header line {:.40}", line));
            }
        }
    }
    let head_end = parser.head_end();
    match start {
        start_line::Start::Request {
            line,
            version_ok,
            scheme_ok,
            malformed,
        } => {
            let fault = head_fault
                .map(|r| (400, r))
                .or_else(|| malformed.then(|| (400, "Malformed Request-Line".to_owned())))
                .or_else(|| (!version_ok).then(|| (505, "SIP Version Not Supported".to_owned())))
                .or_else(|| (!scheme_ok).then(|| (416, "Unsupported URI Scheme".to_owned())));
            let body = body_of(&buffer, head_end, &headers);
            let checked = fault.map_or_else(|| check_request(&headers, counts, line.as_ref()), Err);
            match (checked, body, line) {
                (Ok(()), Ok(body), Some(line)) => Ok(SipMessage::Request(Request {
                    line,
                    headers,
                    body,
                })),
                (Err((status, reason)), _, _) | (Ok(()), Err((status, reason)), _) => {
                    Err(bad_request(status, reason, &headers))
                }
                (Ok(()), Ok(_), None) => Err(bad_request(400, "Bad Request-URI".into(), &headers)),
            }
        }
        start_line::Start::Response(line) => {
            if let Some(fault) = head_fault {
                return Err(WireError::BadResponse(fault));
            }
            check_single(counts).map_err(|(_, r)| WireError::BadResponse(r))?;
            let body =
                body_of(&buffer, head_end, &headers).map_err(|(_, r)| WireError::BadResponse(r))?;
            if headers
                .get_named::<ezk_sip_types::header::typed::CSeq>()
                .is_err()
                || !headers.contains(&Name::VIA)
            {
                return Err(WireError::BadResponse(
                    "missing or malformed CSeq/Via".into(),
                ));
            }
            Ok(SipMessage::Response(Response {
                line,
                headers,
                body,
            }))
        }
    }
}

/// The body: Content-Length bytes after the head (RFC 3261 §18.3), the rest of the datagram when
/// the header is absent.
fn body_of(buffer: &Bytes, head_end: usize, headers: &Headers) -> Result<Bytes, (u16, String)> {
    let rest = buffer.len().saturating_sub(head_end);
    let mut values = headers.get_raw(&Name::CONTENT_LENGTH);
    let Some(raw) = values.next() else {
        return Ok(buffer.slice(head_end.min(buffer.len())..));
    };
    if values.next().is_some() {
        return Err((400, "Multiple Content-Length values".into()));
    }
    let len: usize = raw
        .trim()
        .parse()
        .map_err(|_| (400, "Malformed Content-Length".to_owned()))?;
    if len > rest {
        return Err((400, "Content-Length larger than the message body".into()));
    }
    Ok(buffer.slice(head_end..head_end + len))
}

fn check_single(counts: Counts) -> Result<(), (u16, String)> {
    match SINGLE.into_iter().find(|i| counts.0[*i] > 1) {
        Some(i) => Err((400, format!("Duplicate {} header", COUNTED[i]))),
        None => Ok(()),
    }
}

fn check_request(
    headers: &Headers,
    counts: Counts,
    line: Option<&ezk_sip_types::msg::RequestLine>,
) -> Result<(), (u16, String)> {
    use ezk_sip_types::header::typed::{CSeq, CallID, MaxForwards};
    if let Some(i) = REQUIRED.into_iter().find(|i| counts.0[*i] == 0) {
        return Err((400, format!("Missing {} header", COUNTED[i])));
    }
    check_single(counts)?;
    let cseq = headers
        .get_named::<CSeq>()
        .map_err(|_| (400, "Malformed CSeq".to_owned()))?;
    if cseq.cseq >= 1 << 31 {
        return Err((400, "CSeq number out of range".into()));
    }
    if let Some(line) = line {
        if cseq.method != line.method {
            return Err((400, "CSeq method does not match the request line".into()));
        }
        if !line.uri.header_params.is_empty() {
            return Err((400, "Headers in the Request-URI".into()));
        }
    }
    headers
        .get_named::<CallID>()
        .map_err(|_| (400, "Malformed Call-ID".to_owned()))?;
    // Our own checks, not ezk's: it rejects valid values (escaped quotes, non-SIP URIs) and
    // accepts invalid ones (unbalanced quotes, empty parameters).
    for (name, what) in [(Name::FROM, "Malformed From"), (Name::TO, "Malformed To")] {
        if !headers.get_raw(&name).all(|v| syntax::name_addr_ok(v)) {
            return Err((400, what.into()));
        }
    }
    let contacts_ok = counts.0[CONTACT] == 0
        || headers
            .get_raw(&Name::CONTACT)
            .flat_map(|v| syntax::split_list(v))
            .all(|c| c.trim() == "*" || syntax::name_addr_ok(c));
    if !contacts_ok {
        return Err((400, "Malformed Contact".into()));
    }
    if !headers.get_raw(&Name::VIA).all(|v| syntax::via_list_ok(v)) {
        return Err((400, "Malformed Via".into()));
    }
    if counts.0[DATE] > 0 && !headers.get_raw(&Name::DATE).all(|v| syntax::date_ok(v)) {
        return Err((400, "Date must be in GMT".into()));
    }
    if let Some(Err(_)) = headers.try_get_named::<MaxForwards>() {
        return Err((400, "Malformed Max-Forwards".into()));
    }
    Ok(())
}

fn bad_request(status: u16, reason: String, headers: &Headers) -> WireError {
    let mut head = RequestHead {
        headers: Vec::new(),
    };
    for name in [Name::VIA, Name::FROM, Name::TO, Name::CALL_ID, Name::CSEQ] {
        for value in headers.get_raw(&name) {
            head.headers
                .push((name.as_print_str().to_owned(), value.to_string()));
        }
    }
    WireError::BadRequest {
        status,
        reason,
        head: Box::new(head),
    }
}

/// Builds the response [`WireError::response`] would, from a parsed request (for callers that
/// reject after parsing, e.g. the endpoint's 420).
#[must_use]
pub fn reject(request: &Request, status: u16) -> Response {
    response_to(request, StatusCode::from(status), None)
}

#[cfg(test)]
mod tests;
