//! Transaction keys (RFC 3261 §17.1.3, §17.2.3) and the Via handling around them (§18.2.1,
//! §18.2.2, RFC 3581).

use ezk_sip_types::Method;
use ezk_sip_types::header::typed::Via;
use ezk_sip_types::host::Host;
use ezk_sip_types::print::AppendCtx;

use crate::message::{HeadersExt, Peer, Request};

/// RFC 3261 §8.1.1.7: branches of RFC 3261 agents start with this cookie.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Client transactions are keyed by our branch and the CSeq method (CANCEL has its own).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    pub(crate) branch: String,
    pub(crate) method: Method,
}

/// Server transactions: branch + sent-by + method (ACK counts as INVITE) for RFC 3261 peers;
/// for RFC 2543 peers (no magic cookie), Call-ID + CSeq number + From tag + top Via + method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerKey {
    Rfc3261 {
        branch: String,
        sent_by: String,
        method: Method,
    },
    Rfc2543 {
        call_id: String,
        cseq: u32,
        from_tag: String,
        via: String,
        method: Method,
    },
}

/// The method a request is matched under: ACK matches the INVITE's transaction.
fn match_method(method: &Method) -> Method {
    if *method == Method::ACK {
        Method::INVITE
    } else {
        method.clone()
    }
}

pub(crate) fn server_key(request: &Request, via: &Via) -> ServerKey {
    server_key_as(request, via, match_method(request.method()))
}

/// The key `request` would have if its method were `method` (CANCEL looks up its INVITE).
pub(crate) fn server_key_as(request: &Request, via: &Via, method: Method) -> ServerKey {
    let branch = via
        .params
        .get_val("branch")
        .map(|b| b.to_string())
        .unwrap_or_default();
    if branch.starts_with(MAGIC_COOKIE) {
        ServerKey::Rfc3261 {
            branch,
            sent_by: via.sent_by.default_print_ctx().to_string(),
            method,
        }
    } else {
        ServerKey::Rfc2543 {
            call_id: request
                .call_id()
                .map(|c| c.0.to_string())
                .unwrap_or_default(),
            cseq: request.cseq().map_or(0, |c| c.cseq),
            from_tag: request.tag_from().unwrap_or_default(),
            via: via.default_print_ctx().to_string(),
            method,
        }
    }
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: record where the request really came from in its top Via
/// (`received` when the host differs, `rport` filled in when asked), so responses find the way
/// back through NAT.
pub(crate) fn stamp_received(request: &mut Request, source: Peer) {
    let mut values = request
        .headers
        .remove(&ezk_sip_types::Name::VIA)
        .unwrap_or_default();
    let Some(first) = values.first().cloned() else {
        return;
    };
    // The first header line may hold several Vias; only the first one is ours to stamp.
    let (top, rest) = split_first_via(&first);
    let src = bytes::Bytes::copy_from_slice(top.as_bytes());
    let stamped = match <Via as ezk_sip_types::header::HeaderParse>::parse(
        &src,
        std::str::from_utf8(&src).unwrap_or_default(),
    ) {
        Ok((_, mut via)) => {
            let source_host = Host::from(source.addr.ip());
            if via.sent_by.host != source_host {
                via.params
                    .push_or_edit("received", source.addr.ip().to_string());
            }
            if via.params.get("rport").is_some() {
                via.params
                    .push_or_edit("rport", source.addr.port().to_string());
            }
            via.default_print_ctx().to_string()
        }
        Err(_) => top.to_owned(),
    };
    values[0] = match rest {
        Some(rest) => format!("{stamped}, {rest}").into(),
        None => stamped.into(),
    };
    for value in values {
        request.headers.insert(ezk_sip_types::Name::VIA, value);
    }
}

fn split_first_via(value: &str) -> (&str, Option<&str>) {
    match value.find(',') {
        Some(i) => (value[..i].trim(), Some(value[i + 1..].trim())),
        None => (value.trim(), None),
    }
}

/// Where a response to a request from `source` goes: back to where the request came from,
/// on the same connection for streams and to the source address and port for UDP.
///
/// RFC 3261 §18.2.2 sends UDP responses to the Via's sent-by port unless the client asked for
/// `rport` (RFC 3581). We always answer symmetrically, as Asterisk's `force_rport` does: contact
/// centre phones sit behind NAT that rewrites ports, and a phone that listens on another port
/// than it sends from is rarer than one behind such a NAT. Both facts are stamped in the Via.
pub(crate) fn response_destination(source: Peer) -> Peer {
    source
}
