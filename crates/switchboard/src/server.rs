//! `switchboard serve`: binds the SIP sockets, builds the sans-IO cores from the config, starts
//! the transport tasks and the SIP core, and runs until SIGINT/SIGTERM.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ezk_sip_types::Method;
use ezk_sip_types::host::HostPort;
use ezk_sip_types::uri::SipUri;
use switchboard_sip::auth::{Algorithm, DigestAuthenticator};
use switchboard_sip::endpoint::{Endpoint, EndpointConfig};
use switchboard_sip::registrar::{Registrar, RegistrarConfig};
use switchboard_sip::transaction::Timers;
use switchboard_sip::ua::{UaConfig, UserAgent};
use switchboard_sip::{Peer, Transport};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::call::Services;
use crate::config::{Config, ConfigSource};
use crate::dialplans::DialplanStore;
use crate::media::MediaEngine;
use crate::sip::core::{CORE_QUEUE, Core};
use crate::sip::directory::{AgentEntry, Directory, TrunkEntry};
use crate::sip::transport::{self, Sender, TransportStats};

/// The sockets a running server listens on (tests read the ports from here).
#[derive(Debug, Clone)]
pub struct Bound {
    /// UDP listen addresses, as bound.
    pub udp: Vec<SocketAddr>,
    /// TCP listen addresses, as bound.
    pub tcp: Vec<SocketAddr>,
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(config: Config, source: ConfigSource) -> anyhow::Result<()> {
    tracing::info!(config = %source, "starting switchboard {}", env!("CARGO_PKG_VERSION"));
    let bound = start(&config).await?;
    tracing::info!(udp = ?bound.udp, tcp = ?bound.tcp, "SIP listening");
    shutdown_signal().await;
    tracing::info!("shutting down");
    Ok(())
}

/// Binds and spawns everything; returns once the server is listening.
pub async fn start(config: &Config) -> anyhow::Result<Bound> {
    let mut udp_sockets = Vec::new();
    for addr in &config.sip.udp {
        let socket = UdpSocket::bind(addr).await.with_context(|| {
            format!("sip.udp: cannot bind UDP {addr} (in use, or not an address of this host?)")
        })?;
        udp_sockets.push(Arc::new(socket));
    }
    let mut tcp_listeners = Vec::new();
    for addr in &config.sip.tcp {
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("sip.tcp: cannot bind TCP {addr} (in use, or not an address of this host?)")
        })?;
        tcp_listeners.push(listener);
    }
    let bound = Bound {
        udp: udp_sockets
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect(),
        tcp: tcp_listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect(),
    };

    let seed = config.rng_seed.unwrap_or_else(rand::random);
    let now = Instant::now();
    let contacts = advertised(config, &bound);
    let timers = Timers {
        t1: Duration::from_millis(config.sip.t1_ms),
        t2: Duration::from_millis(config.sip.t2_ms),
        t4: Duration::from_millis(config.sip.t4_ms),
    };
    let endpoint = Endpoint::new(EndpointConfig {
        timers,
        user_agent: config.sip.user_agent.clone(),
        via_sent_by: contacts
            .iter()
            .map(|(t, uri)| (*t, uri.host_port.clone()))
            .collect(),
        allowed_methods: vec![
            Method::INVITE,
            Method::ACK,
            Method::CANCEL,
            Method::BYE,
            Method::OPTIONS,
            Method::INFO,
            Method::REGISTER,
            Method::NOTIFY,
            Method::MESSAGE,
            Method::SUBSCRIBE,
            Method::PUBLISH,
            Method::UPDATE,
            Method::REFER,
            Method::PRACK,
        ],
        supported: vec!["path".into(), "outbound".into()],
        rng_seed: seed,
    });
    let host = contacts
        .first()
        .map(|(_, uri)| uri.host_port.host.to_string())
        .unwrap_or_default();
    let ua = UserAgent::new(
        endpoint,
        UaConfig {
            contacts,
            rng_seed: seed ^ 0x5eed,
            call_id_host: host,
        },
    );
    let registrar = Registrar::new(RegistrarConfig {
        min_expires: config.sip.min_expires,
        max_expires: config.sip.max_expires,
        default_expires: config.sip.max_expires.min(3600),
        max_contacts_per_aor: 10,
    });
    let auth = DigestAuthenticator::new(
        config.auth.realm.clone(),
        rand::random::<[u8; 32]>(),
        Duration::from_secs(300),
        now,
    )
    .with_algorithms(
        config
            .auth
            .algorithms
            .iter()
            .filter_map(|a| Algorithm::parse(a))
            .collect(),
    );
    let directory = Arc::new(directory(config));

    let services = Arc::new(services(config, seed)?);
    spawn_media_report(services.media.clone());
    let control = std::path::PathBuf::from(&config.control.socket);
    if let Err(err) = crate::control::serve(
        &control,
        services.dialplans.clone(),
        services.media.prompts().clone(),
    ) {
        tracing::warn!(%err, socket = %control.display(), "no control socket: `switchboard reload` will not reach this server (SIGHUP still works)");
    }
    crate::control::spawn_triggers(
        services.dialplans.clone(),
        services.media.prompts().clone(),
        config.dialplan.watch,
    );

    let stats = Arc::new(TransportStats::default());
    let (core_tx, core_rx) = mpsc::channel(CORE_QUEUE);
    let sender = Sender::new(udp_sockets.first().cloned(), core_tx.clone(), stats.clone());
    let core = Core::new(
        ua,
        registrar,
        auth,
        directory,
        sender,
        core_tx.clone(),
        services,
    );
    for socket in udp_sockets {
        tokio::spawn(transport::run_udp(socket, core_tx.clone(), stats.clone()));
    }
    for listener in tcp_listeners {
        tokio::spawn(transport::run_tcp_listener(
            listener,
            core_tx.clone(),
            stats.clone(),
        ));
    }
    drop(core_tx);
    tokio::spawn(core.run(core_rx));
    Ok(bound)
}

/// Logs what the media workers carried and dropped every 10 s (debug), like the SIP core does.
fn spawn_media_report(media: Arc<MediaEngine>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(10));
        every.tick().await;
        loop {
            every.tick().await;
            tracing::debug!(counters = %media.stats().summary(), "media state");
        }
    });
}

/// The media engine, the dialplans and the configuration calls act on.
fn services(config: &Config, seed: u64) -> anyhow::Result<Services> {
    let media = MediaEngine::start(&config.media, &config.recording, seed)
        .context("media: cannot start the media workers")?;
    let dialplans = DialplanStore::load(config).map_err(|report| {
        anyhow::anyhow!("dialplan: the dialplans do not pass the check:\n{report}")
    })?;
    Ok(Services {
        negotiation: media
            .negotiation()
            .with_opus_rate(config.recording.sample_rate),
        media,
        recording: config.recording.clone(),
        queues: config
            .queues
            .iter()
            .map(|q| (q.name.clone(), q.clone()))
            .collect(),
        agent_skills: config
            .agents
            .iter()
            .map(|a| (a.extension.clone(), a.languages.clone()))
            .collect(),
        trunks: config
            .trunks
            .iter()
            .map(|t| (t.name.clone(), t.clone()))
            .collect(),
        dialplans: Arc::new(dialplans),
        seed,
        inband_dtmf: config.media.inband_dtmf,
        http: crate::call::http::HttpClient::new(),
    })
}

/// The Contact URI we advertise per transport: the configured public host, or the bound address.
fn advertised(config: &Config, bound: &Bound) -> Vec<(Transport, SipUri)> {
    let mut out = Vec::new();
    for (transport, addr) in bound
        .udp
        .iter()
        .map(|a| (Transport::Udp, a))
        .chain(bound.tcp.iter().map(|a| (Transport::Tcp, a)))
    {
        if out.iter().any(|(t, _)| *t == transport) {
            continue;
        }
        let host_port = match &config.sip.advertised_host {
            Some(host) => HostPort {
                host: ezk_sip_types::host::Host::Name(host.as_str().into()),
                port: Some(addr.port()),
            },
            None => HostPort::from(*addr),
        };
        let mut uri = SipUri::new(host_port);
        if transport == Transport::Tcp {
            uri.uri_params
                .push(ezk_sip_types::uri::params::Param::value("transport", "tcp"));
        }
        out.push((transport, uri));
    }
    out
}

fn directory(config: &Config) -> Directory {
    let agents = config
        .agents
        .iter()
        .map(|a| {
            let static_contact = a.contact.as_ref().map(|addr| {
                let uri = SipUri::new(HostPort::from(*addr)).user(a.extension.as_str().into());
                (
                    uri,
                    Peer {
                        transport: Transport::Udp,
                        addr: *addr,
                    },
                )
            });
            let entry = AgentEntry {
                password: a.password.clone(),
                display_name: a.display_name.clone(),
                static_contact,
            };
            (a.extension.clone(), entry)
        })
        .collect::<HashMap<_, _>>();
    let trunks = config
        .trunks
        .iter()
        .map(|t| TrunkEntry {
            name: t.name.clone(),
            allow_from: t.allow_from.clone(),
        })
        .collect();
    Directory::new(agents, trunks)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
