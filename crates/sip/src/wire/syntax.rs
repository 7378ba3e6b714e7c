//! Syntax checks of our own for the headers where `ezk-sip-types` is silently lenient or wrongly
//! strict (RFC 4475): name-addr / addr-spec values of From, To and Contact (escaped quotes and
//! non-SIP schemes are valid; unbalanced quotes, unquoted commas and spaces inside `<>` are not),
//! Via lists without empty elements, and GMT-only Date. Also a tag reader that works on any
//! valid From/To, whatever ezk makes of it.

/// RFC 3261 §25.1 `token` characters.
pub(crate) fn is_token(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

fn is_lws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `scheme ":"` with scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1).
pub(crate) fn has_scheme(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
}

/// Splits a header value on commas outside quotes and angle brackets.
pub(crate) fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut angle, mut start) = (false, false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// Splits a name-addr/addr-spec value into (URI, parameters text), or `None` when malformed.
fn split_name_addr(value: &str) -> Option<(&str, &str)> {
    let v = value.trim_matches(is_lws);
    let (rest, needs_angle) = if let Some(after) = v.strip_prefix('"') {
        // quoted-string display name: ends at the first unescaped quote.
        let mut escaped = false;
        let end = after.char_indices().find_map(|(i, c)| match c {
            _ if escaped => {
                escaped = false;
                None
            }
            '\\' => {
                escaped = true;
                None
            }
            '"' => Some(i),
            _ => None,
        })?;
        (&after[end + 1..], true)
    } else if let Some(i) = v.find('<') {
        // token display name: tokens separated by LWS, nothing else (no commas: RFC 4475 baddn).
        if !v[..i].chars().all(|c| is_token(c) || is_lws(c)) {
            return None;
        }
        (&v[i..], true)
    } else {
        (v, false)
    };
    let rest = rest.trim_start_matches(is_lws);
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        let uri = &inner[..end];
        // RFC 4475 badaspec: no LWS inside the angle brackets.
        if uri.chars().any(is_lws) || !has_scheme(uri) {
            return None;
        }
        Some((uri, &inner[end + 1..]))
    } else if needs_angle {
        None
    } else {
        // addr-spec form: the URI ends at the first ';' (its parameters are the header's), and
        // may not contain '?' headers, ',' or LWS (RFC 3261 §20.10, RFC 4475 regbadct).
        let end = rest
            .find(|c: char| c == ';' || is_lws(c))
            .unwrap_or(rest.len());
        let uri = &rest[..end];
        if uri.contains(['?', ',', '<', '>', '"']) || !has_scheme(uri) {
            return None;
        }
        Some((uri, &rest[end..]))
    }
}

/// Parameters `*( SEMI generic-param )`: each `token [ EQUAL (token / host / quoted-string) ]`.
fn params(text: &str) -> Option<Vec<(String, String)>> {
    let text = text.trim_matches(is_lws);
    if text.is_empty() {
        return Some(Vec::new());
    }
    let text = text.strip_prefix(';')?;
    let mut out = Vec::new();
    for part in text.split(';') {
        let part = part.trim_matches(is_lws);
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim_matches(is_lws), v.trim_matches(is_lws)),
            None => (part, ""),
        };
        // RFC 4475 badinv01: empty parameters (";;") are malformed.
        if name.is_empty() || !name.chars().all(is_token) {
            return None;
        }
        if part.contains('=') && value.is_empty() {
            return None;
        }
        out.push((name.to_ascii_lowercase(), value.to_owned()));
    }
    Some(out)
}

/// Whether a From/To/Contact value is a well-formed name-addr or addr-spec with parameters.
pub(crate) fn name_addr_ok(value: &str) -> bool {
    split_name_addr(value)
        .and_then(|(_, p)| params(p))
        .is_some()
}

/// The `tag` parameter of a From/To value, read leniently (ezk cannot type every valid value).
pub(crate) fn tag_of(value: &str) -> Option<String> {
    let (_, p) = split_name_addr(value)?;
    params(p)?
        .into_iter()
        .find(|(n, _)| n == "tag")
        .map(|(_, v)| v)
}

/// Every comma-separated Via value parses and none is empty (RFC 4475 badinv01: `;;,;,,`).
pub(crate) fn via_list_ok(value: &str) -> bool {
    use ezk_sip_types::header::HeaderParse;
    use ezk_sip_types::header::typed::Via;
    split_list(value).into_iter().all(|item| {
        let item = item.trim_matches(is_lws);
        let src = bytes::Bytes::copy_from_slice(item.as_bytes());
        let text = std::str::from_utf8(&src).unwrap_or_default();
        !item.is_empty()
            && matches!(Via::parse(&src, text), Ok((rest, _)) if rest.trim_matches(is_lws).is_empty())
    })
}

/// RFC 3261 §20.17: the Date is always in GMT (RFC 4475 baddate).
pub(crate) fn date_ok(value: &str) -> bool {
    value.trim_matches(is_lws).ends_with(" GMT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        for ok in [
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
            "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
            "<http://www.example.com>;tag=3234233",
            "isbn:2983792873",
            "Bob <sip:bob@biloxi.com>;tag=a6c85cf",
            "\"Watson, Thomas\" <sip:t.watson@example.org>",
            "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>",
        ] {
            assert!(name_addr_ok(ok), "{ok}");
        }
        for bad in [
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "\"Mr. J. User <sip:j.user@example.com>",
            "\"Watson, Thomas\" < sip:t.watson@example.org >",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "\"Joe\" <sip:joe@example.org>;;;;",
            "\"Joe\" sip:joe@example.org",
        ] {
            assert!(!name_addr_ok(bad), "{bad}");
        }
        assert_eq!(tag_of("\"a \\\"b\" <sip:x@y>;tag=z").as_deref(), Some("z"));
    }

    #[test]
    fn via_lists_and_dates() {
        assert!(via_list_ok(
            "SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b:5060;branch=z9hG4bK2"
        ));
        assert!(!via_list_ok("SIP/2.0/UDP 192.0.2.15;;,;,,"));
        assert!(date_ok("Sat, 13 Nov 2010 23:29:00 GMT"));
        assert!(!date_ok("Fri, 01 Jan 2010 16:00:00 EST"));
    }
}
