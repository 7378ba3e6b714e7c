//! Who a call-through rings, and what the caller hears when nobody answers.

use bytesstr::BytesStr;
use ezk_sip_types::host::HostPort;
use ezk_sip_types::uri::{NameAddr, SipUri};
use switchboard_sip::Peer;
use switchboard_sip::registrar::Binding;
use switchboard_sip::ua::OutboundCall;

use crate::sip::directory::Directory;

/// One INVITE per contact of `extension` (registered bindings, newest first, then a static
/// contact), carrying the caller's From display and user; the offer is the call task's.
#[must_use]
pub fn fork_targets(
    from: Option<NameAddr>,
    extension: &str,
    bindings: &[Binding],
    static_contact: Option<&(SipUri, Peer)>,
    max_forwards: u8,
    directory: &Directory,
) -> Vec<OutboundCall> {
    let contacts = bindings
        .iter()
        .map(|b| (b.contact.clone(), b.flow, b.path.clone()))
        .chain(static_contact.map(|(uri, peer)| (uri.clone(), *peer, Vec::new())));
    contacts
        .map(|(contact, flow, path)| {
            let to_uri = SipUri::new(HostPort::from(flow.addr)).user(BytesStr::from(extension));
            let to = NameAddr {
                name: directory.display_name(extension).map(BytesStr::from),
                uri: to_uri,
            };
            let from = from.clone().map_or_else(
                || NameAddr::uri(SipUri::new(HostPort::host_name("switchboard.invalid"))),
                |mut from| {
                    // The callee sees the caller's name and number, at our host.
                    from.uri.host_port = HostPort::host_name("switchboard.invalid");
                    from
                },
            );
            OutboundCall {
                dest: flow,
                request_uri: contact,
                from,
                to,
                route: path.into_iter().map(BytesStr::from).collect(),
                // The call task puts its own offer here (media is anchored on our ports).
                sdp: None,
                max_forwards,
            }
        })
        .collect()
}

/// The one final status the caller gets when every contact failed (RFC 3261 §16.7 step 6, in
/// the spirit of a forking proxy's choice): a 6xx wins, then busy, then the lowest other 4xx/5xx,
/// and 480 when nothing better is known (timeouts included).
#[must_use]
pub fn select_final(codes: &[u16]) -> u16 {
    if let Some(&code) = codes.iter().find(|c| (600..700).contains(*c)) {
        return code;
    }
    if codes.contains(&486) {
        return 486;
    }
    codes
        .iter()
        .copied()
        .filter(|c| (400..600).contains(c) && !matches!(c, 408 | 487))
        .min()
        .unwrap_or(480)
}

#[cfg(test)]
mod tests {
    use super::select_final;

    #[test]
    fn caller_hears_the_most_telling_failure() {
        assert_eq!(select_final(&[]), 480);
        assert_eq!(select_final(&[408, 408]), 480);
        assert_eq!(select_final(&[480, 486]), 486);
        assert_eq!(select_final(&[486, 603]), 603);
        assert_eq!(select_final(&[503, 404]), 404);
        assert_eq!(select_final(&[487]), 480);
    }
}
