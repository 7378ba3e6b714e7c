//! Routing policy for a new INVITE, sans-IO: is it acceptable at all, who is calling (a trunk
//! recognised by its source address, or an agent, who must prove it with digest), and where the
//! call goes (a feature code, a dialplan entry, an agent's phones). The SIP core asks, then
//! does what it is told; it holds no policy of its own.
//!
//! **Agents are agents wherever they call from.** A request that comes from an address where an
//! agent's phone is registered, or whose From names an agent's extension, is that agent's call
//! and is authenticated by digest even when a trunk's address range covers its source (on the
//! demo's loopback every phone is inside the `local` trunk's range). Otherwise the switch would
//! not know the agent is busy, and the record would not name it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use ezk_sip_types::Name;
use ezk_sip_types::header::typed::{FromTo, MaxForwards};
use ezk_sip_types::uri::NameAddr;
use switchboard_acd::PauseReason;
use switchboard_sip::registrar::Registrar;
use switchboard_sip::ua::OutboundCall;
use switchboard_sip::{Peer, Request};

use super::directory::{Caller, Directory};
use crate::dialplans::DialplanStore;
use crate::protocol::{AgentCommand, Route, Routing};

/// A refusal: the status and the To tag to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The status.
    pub code: u16,
    /// Our To tag for it.
    pub tag: &'static str,
}

impl Refusal {
    const fn new(code: u16, tag: &'static str) -> Self {
        Refusal { code, tag }
    }
}

/// Where a call goes.
#[derive(Debug)]
pub struct Routed {
    /// The number dialled.
    pub dialled: String,
    /// The caller's From.
    pub from: Option<NameAddr>,
    /// Max-Forwards for the legs we place (the INVITE's minus one).
    pub max_forwards: u8,
    /// The route, and the INVITE's source IP when its Via is unambiguous.
    pub route: Routing,
}

/// The policy, built once from the configuration.
#[derive(Debug)]
pub struct Router {
    directory: Arc<Directory>,
    dialplans: Arc<DialplanStore>,
    /// `*47N`: pause reason by code N.
    pause_reasons: BTreeMap<String, String>,
    /// Trunk callers hear 480 for an agent with no phone (else 404, as for no such number).
    reveal_unregistered: bool,
    /// When the last "unknown number" line was logged, and how many were not since: a scan
    /// from a trunk's range must not fill the disk with them.
    unknown_log: std::cell::Cell<(Option<Instant>, u64)>,
}

impl Router {
    /// A router over the agents and trunks, the dialplans, and the pause reasons of `*47N`.
    #[must_use]
    pub fn new(
        directory: Arc<Directory>,
        dialplans: Arc<DialplanStore>,
        pause_reasons: BTreeMap<String, String>,
    ) -> Router {
        Router {
            directory,
            dialplans,
            pause_reasons,
            reveal_unregistered: false,
            unknown_log: std::cell::Cell::new((None, 0)),
        }
    }

    /// Logs an INVITE to an unknown number: every one from an agent, at most one a second
    /// (with the count left out) from trunks.
    fn log_unknown(&self, now: Instant, caller: &Caller, dialled: &str) {
        if matches!(caller, Caller::Agent(_)) {
            tracing::info!(%caller, target = %crate::redact::number(dialled), "INVITE to an unknown number");
            return;
        }
        let (last, unlogged) = self.unknown_log.get();
        if last
            .is_some_and(|at| now.saturating_duration_since(at) < std::time::Duration::from_secs(1))
        {
            self.unknown_log.set((last, unlogged + 1));
            return;
        }
        tracing::info!(%caller, target = %crate::redact::number(dialled), more_not_logged = unlogged, "INVITE to an unknown number");
        self.unknown_log.set((Some(now), 0));
    }

    /// Whether trunk callers may tell an unregistered agent (480) from a number that does not
    /// exist (404); by default they cannot.
    #[must_use]
    pub fn reveal_unregistered(mut self, reveal: bool) -> Router {
        self.reveal_unregistered = reveal;
        self
    }

    /// The agents and trunks.
    #[must_use]
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// An INVITE we refuse whoever sends it: no hop budget left (RFC 3261 §16.3 step 3, applied
    /// to the leg we would create, 483), a body we cannot read (415, RFC 4475 invut), or no SDP
    /// accepted in return (406, RFC 4475 sdp01, §21.4.7).
    #[must_use]
    pub fn screen(&self, invite: &Request) -> Option<Refusal> {
        if max_forwards(invite) == 0 {
            return Some(Refusal::new(483, "sb-483"));
        }
        let content_type = invite
            .headers
            .get_raw(&Name::CONTENT_TYPE)
            .next()
            .map(|v| v.to_ascii_lowercase());
        if !invite.body.is_empty()
            && !content_type
                .as_deref()
                .is_some_and(|t| t.trim().starts_with("application/sdp"))
        {
            return Some(Refusal::new(415, "sb-media"));
        }
        let accepts: Vec<String> = invite
            .headers
            .get_raw(&Name::ACCEPT)
            .flat_map(|v| {
                v.split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .collect();
        let sdp_ok = accepts.is_empty()
            || accepts.iter().any(|t| {
                t.starts_with("application/sdp")
                    || t.starts_with("application/*")
                    || t.starts_with("*/*")
            });
        (!sdp_ok).then_some(Refusal::new(406, "sb-media"))
    }

    /// A trunk call, when the source is in a trunk's networks and nothing says an agent sends
    /// it: no credentials, not from an address where an agent's phone is registered, and no
    /// From naming an agent's extension. `None`: the caller must authenticate.
    #[must_use]
    pub fn trunk_caller(
        &self,
        now: Instant,
        request: &Request,
        source: Peer,
        registrar: &Registrar,
    ) -> Option<Caller> {
        if request.headers.contains(&Name::PROXY_AUTHORIZATION) {
            return None;
        }
        if registrar.user_at(now, source.addr).is_some() {
            return None;
        }
        let from_agent = from(request)
            .and_then(|f| switchboard_sip::uri_user(&f.uri))
            .is_some_and(|user| self.directory.is_agent(&user));
        if from_agent {
            return None;
        }
        self.directory.trunk_for(source.addr.ip())
    }

    /// Where `caller`'s INVITE goes, or what it is answered.
    ///
    /// # Errors
    /// 404 for a number nothing answers, 480 for an agent with no phone registered.
    pub fn route(
        &self,
        now: Instant,
        request: &Request,
        caller: &Caller,
        registrar: &Registrar,
    ) -> Result<Routed, Refusal> {
        let dialled = switchboard_sip::uri_user(&request.line.uri).unwrap_or_default();
        let from = from(request);
        let max_forwards = max_forwards(request).saturating_sub(1);
        let signalling_ip = request.stamped_source_ip();
        let routing = |route| Routing {
            route,
            signalling_ip,
        };
        if let Caller::Agent(agent) = caller
            && let Some(command) = self.feature(&dialled)
        {
            return Ok(Routed {
                dialled,
                from,
                max_forwards,
                route: routing(Route::Feature {
                    agent: agent.clone(),
                    command,
                }),
            });
        }
        let trunk = match caller {
            Caller::Trunk(name) => Some(name.as_str()),
            Caller::Agent(_) => None,
        };
        if let Some(start) = self.dialplans.route(&dialled, trunk, caller, from.as_ref()) {
            tracing::info!(%caller, dialled = %crate::redact::number(&dialled), entry = %start.entry(), "dialplan call");
            return Ok(Routed {
                dialled,
                from,
                max_forwards,
                route: routing(Route::Dialplan(Box::new(start))),
            });
        }
        if self.directory.is_agent(&dialled) {
            let targets = self.contacts(now, &dialled, from.clone(), max_forwards, registrar);
            if targets.is_empty() {
                if matches!(caller, Caller::Trunk(_)) && !self.reveal_unregistered {
                    // Word for word the answer to a number that does not exist, in the log too.
                    self.log_unknown(now, caller, &dialled);
                    return Err(Refusal::new(404, "sb-404"));
                }
                tracing::info!(%caller, target = %crate::redact::number(&dialled), "INVITE to an unregistered agent");
                return Err(Refusal::new(480, "sb-480"));
            }
            return Ok(Routed {
                route: routing(Route::Extension {
                    extension: dialled.clone(),
                    targets,
                }),
                dialled,
                from,
                max_forwards,
            });
        }
        self.log_unknown(now, caller, &dialled);
        Err(Refusal::new(404, "sb-404"))
    }

    /// One INVITE per contact of `extension` (registered bindings, newest first, then a static
    /// contact).
    #[must_use]
    pub fn contacts(
        &self,
        now: Instant,
        extension: &str,
        from: Option<NameAddr>,
        max_forwards: u8,
        registrar: &Registrar,
    ) -> Vec<OutboundCall> {
        let bindings = registrar.lookup(now, extension);
        let static_contact = self.directory.static_contact(extension);
        crate::call::fork_targets(
            from,
            extension,
            &bindings,
            static_contact,
            max_forwards,
            &self.directory,
        )
    }

    /// `*45` log in, `*46` log out, `*47` pause (`*47N`: with reason N of `[acd]
    /// pause_reasons`), `*48` ready.
    fn feature(&self, dialled: &str) -> Option<AgentCommand> {
        let code = dialled.strip_prefix('*')?;
        match code {
            "45" => Some(AgentCommand::Login),
            "46" => Some(AgentCommand::Logout),
            "48" => Some(AgentCommand::Ready),
            _ => {
                let n = code.strip_prefix("47")?;
                // An unknown reason code is an unknown number (404), not a free-form reason: the
                // wallboard's pause reasons are the ones the admin configured.
                let reason = if n.is_empty() {
                    "paused".to_owned()
                } else {
                    self.pause_reasons.get(n).cloned()?
                };
                Some(AgentCommand::Pause(PauseReason::new(reason)))
            }
        }
    }
}

fn from(request: &Request) -> Option<NameAddr> {
    request
        .headers
        .get::<FromTo>(Name::FROM)
        .ok()
        .map(|f| f.uri)
}

fn max_forwards(request: &Request) -> u8 {
    request
        .headers
        .get_named::<MaxForwards>()
        .map_or(70, |m| m.0)
}
