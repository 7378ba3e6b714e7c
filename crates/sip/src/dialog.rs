//! Dialogs (RFC 3261 §12): the state two user agents share once an INVITE is answered, and the
//! requests built inside one (§12.2.1.1).

use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{CSeq, CallID, Contact, FromTo, MaxForwards};
use ezk_sip_types::print::AppendCtx;
use ezk_sip_types::uri::{NameAddr, SipUri};
use ezk_sip_types::{Method, Name};
use rand::Rng;

use crate::message::{HeadersExt, Request, Response};

/// A dialog's identity: Call-ID and the two tags (§12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// Why a dialog could not be made or a request in it was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A header a dialog needs is missing or malformed.
    #[error("missing or malformed {0}")]
    Missing(&'static str),
    /// §12.2.2: the remote CSeq went backwards.
    #[error("CSeq {got} is lower than the dialog's remote CSeq {expected}")]
    CSeqOutOfOrder {
        /// The request's CSeq number.
        got: u32,
        /// The highest seen so far.
        expected: u32,
    },
}

impl DialogError {
    /// The response status this error deserves (§12.2.2: 500 for an out-of-order CSeq).
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            DialogError::Missing(_) => 400,
            DialogError::CSeqOutOfOrder { .. } => 500,
        }
    }
}

/// A confirmed dialog.
#[derive(Debug, Clone)]
pub struct Dialog {
    id: DialogId,
    /// Our URI and display name (From in our requests).
    local: NameAddr,
    /// The peer's (To in our requests).
    remote: NameAddr,
    /// Where in-dialog requests go (the peer's Contact, refreshed by re-INVITE, §12.2).
    remote_target: SipUri,
    /// Route set, in the order to put into Route headers.
    route_set: Vec<BytesStr>,
    local_cseq: u32,
    remote_cseq: Option<u32>,
    /// Our Contact, sent in target-refresh requests.
    local_contact: SipUri,
}

impl Dialog {
    /// The dialog a UAS makes by sending `response` (1xx with tag or 2xx) to `request`
    /// (§12.1.1): route set from Record-Route as received, remote target from Contact.
    #[must_use]
    pub fn from_uas(request: &Request, response: &Response, local_contact: SipUri) -> Self {
        let to = response.header_to().or_else(|| request.header_to());
        let from = request.header_from();
        let remote_target =
            contact_uri(&request.headers).unwrap_or_else(|| request.line.uri.clone());
        Dialog {
            id: DialogId {
                call_id: request
                    .call_id()
                    .map(|c| c.0.to_string())
                    .unwrap_or_default(),
                local_tag: tag_of(to.as_ref()),
                remote_tag: tag_of(from.as_ref()),
            },
            local: to.map_or_else(|| NameAddr::uri(request.line.uri.clone()), |t| t.uri),
            remote: from.map_or_else(|| NameAddr::uri(remote_target.clone()), |f| f.uri),
            remote_target,
            route_set: request
                .headers
                .get_raw(&Name::RECORD_ROUTE)
                .flat_map(split_list)
                .collect(),
            local_cseq: 0,
            remote_cseq: request.cseq().map(|c| c.cseq),
            local_contact,
        }
    }

    /// The dialog a UAC makes from a response with a To tag to its `request` (§12.1.2): route
    /// set from Record-Route reversed, remote target from the response's Contact.
    pub fn from_uac(request: &Request, response: &Response) -> Result<Self, DialogError> {
        let to = response.header_to().ok_or(DialogError::Missing("To"))?;
        let remote_tag = to
            .tag
            .as_ref()
            .ok_or(DialogError::Missing("To tag"))?
            .to_string();
        let from = request.header_from().ok_or(DialogError::Missing("From"))?;
        let local_tag = from
            .tag
            .as_ref()
            .ok_or(DialogError::Missing("From tag"))?
            .to_string();
        let mut route_set: Vec<BytesStr> = response
            .headers
            .get_raw(&Name::RECORD_ROUTE)
            .flat_map(split_list)
            .collect();
        route_set.reverse();
        Ok(Dialog {
            id: DialogId {
                call_id: request
                    .call_id()
                    .ok_or(DialogError::Missing("Call-ID"))?
                    .0
                    .to_string(),
                local_tag,
                remote_tag,
            },
            local: from.uri,
            remote: to.uri,
            remote_target: contact_uri(&response.headers)
                .unwrap_or_else(|| request.line.uri.clone()),
            route_set,
            local_cseq: request.cseq().map_or(1, |c| c.cseq),
            remote_cseq: None,
            local_contact: contact_uri(&request.headers)
                .unwrap_or_else(|| request.line.uri.clone()),
        })
    }

    /// The dialog's identity.
    #[must_use]
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// Where in-dialog requests go.
    #[must_use]
    pub fn remote_target(&self) -> &SipUri {
        &self.remote_target
    }

    /// A new request in the dialog (§12.2.1.1), with the next local CSeq. ACK has its own
    /// builder ([`Dialog::create_ack`]); the endpoint adds Via.
    pub fn create_request(&mut self, method: Method) -> Request {
        self.local_cseq += 1;
        let mut request = self.base_request(method.clone(), self.local_cseq);
        if method == Method::INVITE {
            request
                .headers
                .insert_named(&Contact::new(NameAddr::uri(self.local_contact.clone())));
        }
        request
    }

    /// The ACK for a 2xx to the INVITE (or re-INVITE) with CSeq number `invite_cseq` (§13.2.2.4).
    #[must_use]
    pub fn create_ack(&self, invite_cseq: u32) -> Request {
        self.base_request(Method::ACK, invite_cseq)
    }

    fn base_request(&self, method: Method, cseq: u32) -> Request {
        // §12.2.1.1: loose routing when the first route has `lr`, strict routing otherwise
        // (the first route becomes the Request-URI and the remote target the last Route).
        let strict = self.route_set.first().is_some_and(|r| !r.contains(";lr"));
        let (uri, routes): (SipUri, Vec<BytesStr>) = if strict {
            let first = self.route_set[0].trim().trim_start_matches('<');
            let first = first.split('>').next().unwrap_or_default();
            match first.parse::<SipUri>() {
                Ok(uri) => {
                    let mut routes: Vec<BytesStr> = self.route_set[1..].to_vec();
                    routes.push(format!("<{}>", self.remote_target.default_print_ctx()).into());
                    (uri, routes)
                }
                Err(_) => (self.remote_target.clone(), self.route_set.clone()),
            }
        } else {
            (self.remote_target.clone(), self.route_set.clone())
        };
        let mut request = Request::new(method.clone(), uri);
        for route in routes {
            request.headers.insert(Name::ROUTE, route);
        }
        request.headers.insert_named(&MaxForwards(70));
        request.headers.insert_type(
            Name::FROM,
            &FromTo::new(self.local.clone(), Some(self.id.local_tag.as_str().into())),
        );
        request.headers.insert_type(
            Name::TO,
            &FromTo::new(
                self.remote.clone(),
                Some(self.id.remote_tag.as_str().into()),
            ),
        );
        request
            .headers
            .insert_named(&CallID::new(BytesStr::from(self.id.call_id.as_str())));
        request.headers.insert_named(&CSeq::new(cseq, method));
        request
    }

    /// Checks a request the peer sent in the dialog (§12.2.2): CSeq must not go backwards; a
    /// re-INVITE refreshes the remote target.
    pub fn handle_request(&mut self, request: &Request) -> Result<(), DialogError> {
        let cseq = request.cseq().ok_or(DialogError::Missing("CSeq"))?.cseq;
        let method = request.method();
        if *method != Method::ACK && *method != Method::CANCEL {
            if let Some(expected) = self.remote_cseq
                && cseq < expected
            {
                return Err(DialogError::CSeqOutOfOrder {
                    got: cseq,
                    expected,
                });
            }
            self.remote_cseq = Some(cseq);
        }
        if *method == Method::INVITE
            && let Some(target) = contact_uri(&request.headers)
        {
            self.remote_target = target;
        }
        Ok(())
    }

    /// A 2xx to a re-INVITE we sent refreshes the remote target (§12.2.1.2).
    pub fn handle_response(&mut self, response: &Response) {
        if (200..300).contains(&response.code())
            && let Some(target) = contact_uri(&response.headers)
        {
            self.remote_target = target;
        }
    }
}

fn tag_of(header: Option<&FromTo>) -> String {
    header
        .and_then(|h| h.tag.as_ref())
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn contact_uri(headers: &crate::Headers) -> Option<SipUri> {
    headers
        .get_named::<Vec<Contact>>()
        .ok()?
        .into_iter()
        .next()
        .map(|c| c.uri.uri)
}

/// Splits a comma-separated header value (Record-Route may combine several).
fn split_list(value: &BytesStr) -> Vec<BytesStr> {
    let mut out = Vec::new();
    let mut depth = 0u32;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(BytesStr::from(value[start..i].trim()));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(BytesStr::from(value[start..].trim()));
    out
}

/// A tag with 64 bits of randomness (§19.3 asks for at least 32).
pub fn generate_tag(rng: &mut impl Rng) -> String {
    format!("{:016x}", rng.random::<u64>())
}

/// A Call-ID with 128 bits of randomness, `@host` appended (§8.1.1.4).
pub fn generate_call_id(rng: &mut impl Rng, host: &str) -> String {
    format!(
        "{:016x}{:016x}@{host}",
        rng.random::<u64>(),
        rng.random::<u64>()
    )
}

#[cfg(test)]
mod tests;
