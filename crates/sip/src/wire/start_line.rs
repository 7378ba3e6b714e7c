//! The start line, checked before ezk parses it: ezk's request line takes only sip/sips URIs
//! and SIP/2.0, so an unknown scheme (416) or version (505) needs our own split first.

use bytes::Bytes;
use ezk_sip_types::msg::{RequestLine, StatusLine};
use ezk_sip_types::parse::Parse;

use super::WireError;

/// What the start line says.
pub(super) enum Start {
    /// A request. `line` is `None` when the Request-URI could not be parsed; `malformed` when
    /// the line itself breaks RFC 3261 §7.1 (extra or trailing spaces, LWS in the URI).
    Request {
        line: Option<RequestLine>,
        version_ok: bool,
        scheme_ok: bool,
        malformed: bool,
    },
    /// A response.
    Response(StatusLine),
}

/// Classifies and parses the start line.
pub(super) fn classify(first: &str) -> Result<Start, WireError> {
    if first.starts_with("SIP/") {
        return response(first);
    }
    let method = first.split(' ').next().unwrap_or_default();
    if method.is_empty() || !method.bytes().all(is_token) {
        return Err(WireError::NotSip("method is not a token"));
    }
    let mut parts = first.split(' ');
    let (Some(_), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        // RFC 4475 lwsruri, lwsstart, trws: a request whose line is malformed gets 400. Only a
        // line that still ends in a SIP version is taken for a request at all.
        if first
            .trim_end()
            .rsplit(' ')
            .next()
            .is_some_and(|v| v.starts_with("SIP/"))
        {
            return Ok(Start::Request {
                line: None,
                version_ok: true,
                scheme_ok: true,
                malformed: true,
            });
        }
        return Err(WireError::NotSip(
            "request line is not METHOD SP URI SP VERSION",
        ));
    };
    let version_ok = version == "SIP/2.0";
    if !version.starts_with("SIP/") {
        return Err(WireError::NotSip("no SIP version in the request line"));
    }
    if !super::syntax::has_scheme(uri) {
        // RFC 4475 ltgtruri: `<sip:…>` is no scheme at all: 400, not 416.
        return Ok(Start::Request {
            line: None,
            version_ok,
            scheme_ok: true,
            malformed: true,
        });
    }
    let scheme = uri.split(':').next().unwrap_or_default();
    let scheme_ok = scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips");
    let line = if scheme_ok && version_ok {
        let src = Bytes::copy_from_slice(first.as_bytes());
        let text = std::str::from_utf8(&src).unwrap_or_default();
        match RequestLine::parse(&src)(text) {
            // ezk matches method names by prefix and case-insensitively; RFC 3261 §7.1 makes
            // them case-sensitive, so anything not spelled exactly is left to the URI check.
            Ok((rest, line)) if rest.trim().is_empty() && line.method.to_string() == method => {
                Some(line)
            }
            _ => None,
        }
    } else {
        None
    };
    Ok(Start::Request {
        line,
        version_ok,
        scheme_ok,
        malformed: false,
    })
}

fn response(first: &str) -> Result<Start, WireError> {
    if !first.starts_with("SIP/2.0 ") {
        return Err(WireError::BadResponse("unsupported SIP version".into()));
    }
    let src = Bytes::copy_from_slice(first.as_bytes());
    let text = std::str::from_utf8(&src).unwrap_or_default();
    match StatusLine::parse(&src)(text) {
        Ok((_, line)) if (100..700).contains(&line.code.into_u16()) => Ok(Start::Response(line)),
        _ => Err(WireError::BadResponse("malformed status line".into())),
    }
}

/// RFC 3261 §25.1 `token` characters.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}
