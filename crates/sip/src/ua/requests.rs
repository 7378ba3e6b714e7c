//! Requests the user agent builds outside a dialog: the initial INVITE of an outbound leg.

use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{CSeq, CallID, Contact, FromTo, MaxForwards};
use ezk_sip_types::uri::{NameAddr, SipUri};
use ezk_sip_types::{Method, Name};

use super::{OutboundCall, set_sdp};
use crate::message::Request;

/// The methods this user agent accepts (sent in Allow).
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REGISTER, NOTIFY";

/// An initial INVITE per RFC 3261 §8.1.1; the endpoint adds the Via.
pub(super) fn build_invite(
    call: &OutboundCall,
    from_tag: &str,
    call_id: &str,
    contact: SipUri,
) -> Request {
    let mut request = Request::new(Method::INVITE, call.request_uri.clone());
    let headers = &mut request.headers;
    for route in &call.route {
        headers.insert(Name::ROUTE, route.clone());
    }
    headers.insert_named(&MaxForwards(call.max_forwards));
    headers.insert_type(
        Name::FROM,
        &FromTo::new(call.from.clone(), Some(BytesStr::from(from_tag))),
    );
    headers.insert_type(Name::TO, &FromTo::new(call.to.clone(), None));
    headers.insert_named(&CallID::new(BytesStr::from(call_id)));
    headers.insert_named(&CSeq::new(1, Method::INVITE));
    headers.insert_named(&Contact::new(NameAddr::uri(contact)));
    headers.insert(Name::ALLOW, ALLOW);
    set_sdp(&mut request.headers, &mut request.body, call.sdp.clone());
    request
}
