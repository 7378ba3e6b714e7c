//! Registrar and location service (RFC 3261 §10.3), with the NAT handling phones behind a
//! router need (RFC 3581: reach the phone where its REGISTER really came from).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{Contact, Expires, MinExpires};
use ezk_sip_types::host::Host;
use ezk_sip_types::print::AppendCtx;
use ezk_sip_types::uri::SipUri;
use ezk_sip_types::{Name, StatusCode};

use crate::message::{HeadersExt, Peer, Request, Response, Transport, response_to};

/// Registrar limits.
#[derive(Debug, Clone, Copy)]
pub struct RegistrarConfig {
    /// Shorter registrations get 423 (§10.3 step 7).
    pub min_expires: u32,
    /// Longer ones are shortened to this.
    pub max_expires: u32,
    /// When the REGISTER names no expiry.
    pub default_expires: u32,
    /// Most contacts one agent may register.
    pub max_contacts_per_aor: usize,
}

/// One registered contact.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The Contact URI: the Request-URI of INVITEs to this phone.
    pub contact: SipUri,
    /// Where to send them: the address the REGISTER came from when the Contact is not
    /// reachable as written (private address seen from elsewhere, or a stream connection).
    pub flow: Peer,
    /// Path headers (RFC 3327), to use as the route set.
    pub path: Vec<String>,
    /// When the binding lapses.
    pub expires_at: Instant,
    /// The REGISTER's Call-ID and CSeq, for §10.3 step 7 ordering.
    call_id: String,
    cseq: u32,
    /// `+sip.instance` (RFC 5626), when given.
    pub instance: Option<String>,
    /// The phone's User-Agent header.
    pub user_agent: Option<String>,
}

impl Binding {
    /// The contact as text, for logs.
    #[must_use]
    pub fn contact_display(&self) -> String {
        self.contact.default_print_ctx().to_string()
    }
}

/// The location service.
#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    bindings: HashMap<String, Vec<Binding>>,
}

impl Registrar {
    /// An empty registrar.
    #[must_use]
    pub fn new(config: RegistrarConfig) -> Self {
        Registrar {
            config,
            bindings: HashMap::new(),
        }
    }

    /// Handles a REGISTER from `source` whose credentials authenticated `user` (§10.3).
    pub fn handle_register(
        &mut self,
        now: Instant,
        request: &Request,
        source: Peer,
        user: &str,
    ) -> Response {
        let tag = Some("sb-reg");
        // Step 6 (authorisation): an agent registers its own address of record only.
        let aor_user = request
            .header_to()
            .and_then(|to| crate::uri_user(&to.uri.uri));
        if aor_user.as_deref() != Some(user) {
            return response_to(request, StatusCode::FORBIDDEN, tag);
        }
        let contacts = match request.headers.get_named::<Vec<Contact>>() {
            Ok(c) => c,
            Err(_) if !request.headers.contains(&Name::CONTACT) => Vec::new(),
            Err(_) => return bad(request, "Malformed Contact"),
        };
        let header_expires = request.headers.get_named::<Expires>().ok().map(|e| e.0);
        let wildcard = request
            .headers
            .get_raw(&Name::CONTACT)
            .any(|v| v.trim() == "*");
        let call_id = request
            .call_id()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        let cseq = request.cseq().map_or(0, |c| c.cseq);
        if wildcard {
            // Step 6: `*` only alone and only with Expires: 0.
            if header_expires != Some(0) || request.headers.get_raw(&Name::CONTACT).count() != 1 {
                return bad(request, "Wildcard Contact needs Expires: 0");
            }
            self.bindings.remove(user);
            return self.ok(now, request, user);
        }
        let mut updates = Vec::new();
        for contact in contacts {
            let expires = contact
                .params
                .get_val("expires")
                .and_then(|v| v.parse::<u32>().ok())
                .or(header_expires)
                .unwrap_or(self.config.default_expires);
            if expires != 0 && expires < self.config.min_expires {
                let mut response = response_to(request, StatusCode::from(423), tag);
                response
                    .headers
                    .insert_named(&MinExpires(self.config.min_expires));
                return response;
            }
            updates.push((contact, expires.min(self.config.max_expires)));
        }
        let list = self.bindings.entry(user.to_owned()).or_default();
        for (contact, expires) in updates {
            let uri = contact.uri.uri.clone();
            let existing = list.iter().position(|b| b.contact.compare(&uri));
            if let Some(i) = existing {
                // Step 7: a replay or reordering of the same registration is refused.
                if list[i].call_id == call_id && cseq <= list[i].cseq {
                    return response_to(request, StatusCode::SERVER_INTERNAL_ERROR, tag);
                }
                list.remove(i);
            }
            if expires == 0 {
                continue;
            }
            if list.len() >= self.config.max_contacts_per_aor {
                // The oldest registration makes way (phones re-register after a reboot with a
                // new Call-ID; dropping the oldest keeps the newest reachable).
                list.remove(list.len() - 1);
            }
            list.insert(
                0,
                Binding {
                    flow: flow_for(&uri, source),
                    contact: uri,
                    path: request
                        .headers
                        .get_raw(&Name::from("Path"))
                        .map(ToString::to_string)
                        .collect(),
                    expires_at: now + Duration::from_secs(u64::from(expires)),
                    call_id: call_id.clone(),
                    cseq,
                    instance: contact
                        .params
                        .get_val("+sip.instance")
                        .map(|v| v.trim_matches('"').to_owned()),
                    user_agent: request
                        .headers
                        .get_raw(&Name::USER_AGENT)
                        .next()
                        .map(ToString::to_string),
                },
            );
        }
        if list.is_empty() {
            self.bindings.remove(user);
        }
        self.ok(now, request, user)
    }

    /// 200 OK listing every current binding with its remaining lifetime (§10.3 step 8).
    fn ok(&self, now: Instant, request: &Request, user: &str) -> Response {
        let mut response = response_to(request, StatusCode::OK, Some("sb-reg"));
        for binding in self.lookup(now, user) {
            let left = binding.expires_at.saturating_duration_since(now).as_secs();
            let value = format!("<{}>;expires={left}", binding.contact.default_print_ctx());
            response
                .headers
                .insert(Name::CONTACT, BytesStr::from(value));
        }
        response
    }

    /// Live bindings of `user`, newest first.
    #[must_use]
    pub fn lookup(&self, now: Instant, user: &str) -> Vec<Binding> {
        self.bindings
            .get(user)
            .map(|list| {
                list.iter()
                    .filter(|b| b.expires_at > now)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `user` has a live binding.
    #[must_use]
    pub fn is_registered(&self, now: Instant, user: &str) -> bool {
        self.bindings
            .get(user)
            .is_some_and(|l| l.iter().any(|b| b.expires_at > now))
    }

    /// The user whose live binding reaches `addr` (its flow, where INVITEs to that phone go):
    /// a request from there comes from that user's phone, whatever address range covers it.
    #[must_use]
    pub fn user_at(&self, now: Instant, addr: std::net::SocketAddr) -> Option<&str> {
        self.bindings.iter().find_map(|(user, list)| {
            list.iter()
                .any(|b| b.expires_at > now && b.flow.addr == addr)
                .then_some(user.as_str())
        })
    }

    /// The addresses live bindings' flows reach (registered phones), for the transports to
    /// tell known phones from strangers.
    #[must_use]
    pub fn flow_ips(&self, now: Instant) -> std::collections::HashSet<std::net::IpAddr> {
        self.bindings
            .values()
            .flatten()
            .filter(|b| b.expires_at > now)
            .map(|b| b.flow.addr.ip())
            .collect()
    }

    /// How many agents have a live binding, and how many live bindings there are in all.
    #[must_use]
    pub fn counts(&self, now: Instant) -> (usize, usize) {
        self.bindings.values().fold((0, 0), |(users, all), list| {
            let live = list.iter().filter(|b| b.expires_at > now).count();
            (users + usize::from(live > 0), all + live)
        })
    }

    /// Removes lapsed bindings and returns them.
    pub fn sweep(&mut self, now: Instant) -> Vec<(String, Binding)> {
        let mut gone = Vec::new();
        self.bindings.retain(|user, list| {
            list.retain(|b| {
                let live = b.expires_at > now;
                if !live {
                    gone.push((user.clone(), b.clone()));
                }
                live
            });
            !list.is_empty()
        });
        gone
    }

    /// When the next binding lapses.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bindings.values().flatten().map(|b| b.expires_at).min()
    }
}

/// Where to reach a contact: over the same connection for stream transports (the phone's flow,
/// RFC 5626 style); for UDP, the REGISTER's source when the Contact names a private or loopback
/// address other than that source (a phone behind NAT writes its LAN address), else the
/// Contact's own host and port.
fn flow_for(contact: &SipUri, source: Peer) -> Peer {
    if source.transport != Transport::Udp {
        return source;
    }
    let wants_tcp = contact
        .uri_params
        .get_val("transport")
        .is_some_and(|t| t.eq_ignore_ascii_case("tcp"));
    let ip = match &contact.host_port.host {
        Host::IP4(ip) => Some(IpAddr::V4(*ip)),
        Host::IP6(ip) => Some(IpAddr::V6(*ip)),
        Host::Name(_) => None,
    };
    match ip {
        Some(ip) if !(wants_tcp || (is_private(ip) && ip != source.addr.ip())) => Peer {
            transport: Transport::Udp,
            addr: std::net::SocketAddr::new(ip, contact.host_port.port.unwrap_or(5060)),
        },
        _ => source,
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00
        }
    }
}

fn bad(request: &Request, reason: &'static str) -> Response {
    let mut response = response_to(request, StatusCode::BAD_REQUEST, Some("sb-reg"));
    response.line.reason = Some(reason.into());
    response
}

#[cfg(test)]
mod tests;
