//! SIP messages as this crate passes them around: a start line, the headers ([`Headers`]: raw
//! values, decoded to typed headers on demand), and the body.
//!
//! Parsing bytes into these types, with the checks RFC 3261 and RFC 4475 ask for, lives in
//! [`crate::wire`]; this module only holds and prints them.

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{CSeq, CallID, FromTo, Via};
use ezk_sip_types::msg::{RequestLine, StatusLine};
use ezk_sip_types::print::{AppendCtx, PrintCtx};
use ezk_sip_types::{Method, Name, StatusCode};

use crate::headers::Headers;

/// Transport a message arrived on or leaves by.
///
/// `#[non_exhaustive]` because TLS and WebSocket transports slot in here later (RFC 5630, RFC 7118);
/// code matching on it must already say what it does with an unknown transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// Datagrams: every message is one datagram, losses are repaired by retransmission.
    Udp,
    /// A byte stream framed by Content-Length (RFC 3261 §18.3); reliable, so no retransmission.
    Tcp,
}

impl Transport {
    /// Reliable transports do not retransmit (RFC 3261 §17.1.1.2: Timer A only for unreliable).
    #[must_use]
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The token used in a Via header's sent-protocol (`SIP/2.0/UDP`).
    #[must_use]
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// Parses a Via sent-protocol transport token, case-insensitively.
    #[must_use]
    pub fn from_via_token(token: &str) -> Option<Self> {
        if token.eq_ignore_ascii_case("udp") {
            Some(Transport::Udp)
        } else if token.eq_ignore_ascii_case("tcp") {
            Some(Transport::Tcp)
        } else {
            None
        }
    }
}

/// Where a message came from or goes to: the transport and the peer's socket address.
///
/// For a stream transport the address names the connection (the driver keeps one per peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Transport of the connection or datagram.
    pub transport: Transport,
    /// The remote socket address as the socket reported it (not what the message claims).
    pub addr: SocketAddr,
}

/// A SIP request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method and Request-URI.
    pub line: RequestLine,
    /// All headers, in arrival order per name; Content-Length is rewritten on [`Request::encode`].
    pub headers: Headers,
    /// The message body (SDP, DTMF relay, …); empty when there is none.
    pub body: Bytes,
}

/// A SIP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code and reason phrase.
    pub line: StatusLine,
    /// All headers; Content-Length is rewritten on [`Response::encode`].
    pub headers: Headers,
    /// The message body; empty when there is none.
    pub body: Bytes,
}

/// A parsed SIP message of either kind.
#[derive(Debug, Clone)]
pub enum SipMessage {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Request {
    /// A request with the given method and URI, no headers and no body.
    #[must_use]
    pub fn new(method: Method, uri: ezk_sip_types::uri::SipUri) -> Self {
        Request {
            line: RequestLine { method, uri },
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// The request method.
    #[must_use]
    pub fn method(&self) -> &Method {
        &self.line.method
    }

    /// The IP this request came from, read back from its top Via, when that is certain.
    ///
    /// The endpoint stamps every request it takes (RFC 3261 §18.2.1): when the Via's sent-by
    /// host is not the source IP it sets `received` to the source IP. So if sent-by is an IP
    /// literal and `received` is absent or the same IP, that IP is the source. Any other case
    /// (a host name, a NAT that made us write `received`, a `received` the sender wrote itself
    /// that differs from its sent-by) is ambiguous: `None`. A sender cannot make this name an
    /// address other than its own: if it lies in sent-by we overwrite `received`, and then the
    /// two differ.
    ///
    /// For requests that went through [`crate::endpoint::Endpoint`] only; a request built or
    /// received otherwise proves nothing.
    #[must_use]
    pub fn stamped_source_ip(&self) -> Option<std::net::IpAddr> {
        let via = self.top_via()?;
        let sent_by = match via.sent_by.host {
            ezk_sip_types::host::Host::IP4(ip) => std::net::IpAddr::V4(ip),
            ezk_sip_types::host::Host::IP6(ip) => std::net::IpAddr::V6(ip),
            ezk_sip_types::host::Host::Name(_) => return None,
        };
        // The same lookup the stamping uses (the first parameter named exactly `received`).
        match via.params.get_val("received") {
            None => Some(sent_by),
            Some(received) => {
                let received: std::net::IpAddr = received
                    .as_str()
                    .trim_matches(|c| c == '[' || c == ']')
                    .parse()
                    .ok()?;
                (received == sent_by).then_some(sent_by)
            }
        }
    }

    /// Prints the request as it goes on the wire, with a Content-Length equal to the body's.
    #[must_use]
    pub fn encode(&self) -> Bytes {
        let ctx = PrintCtx {
            method: Some(&self.line.method),
            uri: None,
        };
        let mut out = String::with_capacity(256 + self.headers.printed_len() + self.body.len());
        let _ = write!(out, "{}\r\n", self.line.print_ctx(ctx));
        finish_encoding(out, &self.headers, &self.body)
    }
}

impl Response {
    /// A response with the given status code and its default reason phrase.
    #[must_use]
    pub fn new(code: StatusCode) -> Self {
        let reason = code.text().map(BytesStr::from_static);
        Response {
            line: StatusLine { code, reason },
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// The status code as a number.
    #[must_use]
    pub fn code(&self) -> u16 {
        self.line.code.into_u16()
    }

    /// Prints the response as it goes on the wire, with a Content-Length equal to the body's.
    #[must_use]
    pub fn encode(&self) -> Bytes {
        let mut out = String::with_capacity(256 + self.headers.printed_len() + self.body.len());
        let _ = write!(out, "{}\r\n", self.line);
        finish_encoding(out, &self.headers, &self.body)
    }
}

fn finish_encoding(mut out: String, headers: &Headers, body: &Bytes) -> Bytes {
    for (name, value) in headers.iter() {
        if *name == Name::CONTENT_LENGTH {
            continue;
        }
        let _ = write!(out, "{}: {}\r\n", name.as_print_str(), value);
    }
    let _ = write!(out, "Content-Length: {}\r\n\r\n", body.len());
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    Bytes::from(bytes)
}

/// Typed access to the headers every transaction and dialog needs.
///
/// These decode on each call; callers on a hot path keep the decoded value.
pub trait HeadersExt {
    /// The headers.
    fn headers(&self) -> &Headers;

    /// The topmost Via, if present and well formed.
    fn top_via(&self) -> Option<Via> {
        let raw = self.headers().get_raw(&Name::VIA).next()?;
        // A Via line may carry several comma-separated values; the first one is the top Via.
        <Via as ezk_sip_types::header::HeaderParse>::parse(raw.as_ref(), raw.as_str())
            .ok()
            .map(|(_, via)| via)
    }

    /// The Call-ID.
    fn call_id(&self) -> Option<CallID> {
        self.headers().get_named::<CallID>().ok()
    }

    /// The CSeq number and method.
    fn cseq(&self) -> Option<CSeq> {
        self.headers().get_named::<CSeq>().ok()
    }

    /// The From header.
    fn header_from(&self) -> Option<FromTo> {
        self.headers().get::<FromTo>(Name::FROM).ok()
    }

    /// The To header.
    fn header_to(&self) -> Option<FromTo> {
        self.headers().get::<FromTo>(Name::TO).ok()
    }

    /// The From tag, read from any valid From (also those ezk cannot type, RFC 4475 wsinv).
    fn tag_from(&self) -> Option<String> {
        let raw = self.headers().get_raw(&Name::FROM).next()?;
        crate::wire::syntax::tag_of(raw)
    }

    /// The To tag, read like [`HeadersExt::tag_from`].
    fn tag_to(&self) -> Option<String> {
        let raw = self.headers().get_raw(&Name::TO).next()?;
        crate::wire::syntax::tag_of(raw)
    }
}

impl HeadersExt for Request {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

impl HeadersExt for Response {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

/// Builds a response to `request` as RFC 3261 §8.2.6.2 asks: the Via headers (all of them, in
/// order), From, Call-ID and CSeq copied, To copied with `to_tag` added when the request's To has
/// no tag yet (a 100 Trying carries none: pass `None`).
#[must_use]
pub fn response_to(request: &Request, code: StatusCode, to_tag: Option<&str>) -> Response {
    let mut response = Response::new(code);
    for name in [Name::VIA, Name::FROM, Name::TO, Name::CALL_ID, Name::CSEQ] {
        for value in request.headers.get_raw(&name) {
            response.headers.insert(name.clone(), value.clone());
        }
    }
    if let Some(tag) = to_tag
        && request.tag_to().is_none()
        && let Some(to) = response
            .headers
            .remove(&Name::TO)
            .and_then(|v| v.into_iter().next())
    {
        // Appended as text: it works for every valid To, also those ezk cannot type.
        response
            .headers
            .insert(Name::TO, format!("{};tag={tag}", to.trim_end()));
    }
    // RFC 3261 §8.2.6.1: a 100 Trying copies the Timestamp header.
    if code == StatusCode::TRYING {
        for value in request.headers.get_raw(&Name::TIMESTAMP) {
            response.headers.insert(Name::TIMESTAMP, value.clone());
        }
    }
    response
}

/// The user part of a SIP URI (an extension or a number), if it has one.
#[must_use]
pub fn uri_user(uri: &ezk_sip_types::uri::SipUri) -> Option<String> {
    use ezk_sip_types::uri::SipUriUserPart;
    match &uri.user_part {
        SipUriUserPart::User(user) => Some(user.to_string()),
        SipUriUserPart::UserPw(up) => Some(up.user.to_string()),
        SipUriUserPart::Empty => None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};
    use std::time::Instant;

    use ezk_sip_types::host::HostPort;

    use super::*;
    use crate::endpoint::{Endpoint, EndpointConfig, Event, Output};
    use crate::transaction::Timers;

    /// The request as the endpoint hands it up after taking it from `source`, so the test
    /// holds [`Request::stamped_source_ip`] to the stamping it relies on.
    fn through_endpoint(via: &str, source: &str) -> Request {
        let host = HostPort::from(std::net::SocketAddrV4::new([127, 0, 0, 1].into(), 5060));
        let mut endpoint = Endpoint::new(EndpointConfig {
            timers: Timers::default(),
            user_agent: String::new(),
            via_sent_by: vec![(Transport::Udp, host)],
            allowed_methods: vec![Method::INVITE, Method::ACK, Method::CANCEL, Method::BYE],
            supported: Vec::new(),
            rng_seed: 1,
        });
        let text = format!(
            "INVITE sip:100@127.0.0.1 SIP/2.0\nVia: {via}\nFrom: <sip:a@x>;tag=1\n\
             To: <sip:100@127.0.0.1>\nCall-ID: c-{via}\nCSeq: 1 INVITE\nMax-Forwards: 70\n\
             Content-Length: 0\n\n"
        );
        let request = crate::test_support::req(&text);
        let source = Peer {
            transport: Transport::Udp,
            addr: source.parse::<SocketAddr>().unwrap(),
        };
        endpoint.handle_message(Instant::now(), source, SipMessage::Request(request));
        while let Some(out) = endpoint.poll_output() {
            if let Output::Event(Event::Request { request, .. }) = out {
                return request;
            }
        }
        panic!("the endpoint handed up no request for Via {via}");
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_source_is_read_back_when_the_via_is_unambiguous() {
        let cases = [
            // A trunk that writes its own address.
            (
                "SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bK1",
                "192.0.2.5:5060",
                ip("192.0.2.5"),
            ),
            // Another port (rport answers) is still the same host.
            (
                "SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bK2;rport",
                "192.0.2.5:40000",
                ip("192.0.2.5"),
            ),
            // Behind NAT: we write received, it differs from sent-by: ambiguous.
            (
                "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK3",
                "192.0.2.5:5060",
                None,
            ),
            // A host name.
            (
                "SIP/2.0/UDP pbx.example.com;branch=z9hG4bK4",
                "192.0.2.5:5060",
                None,
            ),
            // A liar naming a victim as sent-by: we overwrite received, the two differ.
            (
                "SIP/2.0/UDP 198.51.100.9;branch=z9hG4bK5",
                "192.0.2.5:5060",
                None,
            ),
            (
                "SIP/2.0/UDP 198.51.100.9;received=198.51.100.9;branch=z9hG4bK6",
                "192.0.2.5:5060",
                None,
            ),
            // A liar naming a victim in received: its sent-by is its own, they differ.
            (
                "SIP/2.0/UDP 192.0.2.5;received=198.51.100.9;branch=z9hG4bK7",
                "192.0.2.5:5060",
                None,
            ),
            // Two received parameters, the second a victim's: we overwrite the first one.
            (
                "SIP/2.0/UDP 198.51.100.9;received=192.0.2.5;received=198.51.100.9;branch=z9hG4bK8",
                "192.0.2.5:5060",
                None,
            ),
            (
                "SIP/2.0/UDP [2001:db8::5]:5060;branch=z9hG4bK9",
                "[2001:db8::5]:5060",
                ip("2001:db8::5"),
            ),
        ];
        for (via, source, want) in cases {
            let request = through_endpoint(via, source);
            assert_eq!(request.stamped_source_ip(), want, "{via} from {source}");
        }
    }
}
