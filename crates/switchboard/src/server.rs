//! `switchboard serve`: opens the store, binds the SIP sockets, builds the sans-IO cores from
//! the config (the ACD restored from the store, the statistics replayed from it), starts the
//! transport tasks, the SIP core and the ACD, and runs until SIGINT/SIGTERM.

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

use crate::acd::{ACD_QUEUE, AcdTask};
use crate::call::Services;
use crate::call::machine::CallConfig;
use crate::config::{Config, ConfigSource};
use crate::dialplans::DialplanStore;
use crate::media::MediaEngine;
use crate::records::Records;
use crate::sip::core::{CORE_QUEUE, Core};
use crate::sip::directory::{AgentEntry, Directory, TrunkEntry};
use crate::sip::route::Router;
use crate::sip::transport::{self, Sender, TransportStats};

/// The sockets a running server listens on (tests read the ports from here).
#[derive(Debug, Clone)]
pub struct Bound {
    /// UDP listen addresses, as bound.
    pub udp: Vec<SocketAddr>,
    /// TCP listen addresses, as bound.
    pub tcp: Vec<SocketAddr>,
}

/// What `run` needs of a started server to stop it well.
#[derive(Debug)]
pub struct Running {
    /// Its sockets.
    pub bound: Bound,
    /// Its records, flushed at the end.
    pub records: Records,
    /// Raised to refuse new calls.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// The calls in progress.
    pub live: crate::calls::Updates,
}

/// Runs the server until SIGINT or SIGTERM, then drains: new calls refused, those in progress
/// given `[control] drain_timeout_s` to end (a second signal ends the wait).
pub async fn run(config: Config, source: ConfigSource) -> anyhow::Result<()> {
    tracing::info!(config = %source, "starting switchboard {}", env!("CARGO_PKG_VERSION"));
    let running = start(&config, &source).await?;
    let Running {
        bound,
        records,
        draining,
        live,
    } = running;
    tracing::info!(udp = ?bound.udp, tcp = ?bound.tcp, "SIP listening");
    shutdown_signal().await;
    draining.store(true, std::sync::atomic::Ordering::SeqCst);
    drain(&live, Duration::from_secs(config.control.drain_timeout_s)).await;
    tracing::info!("shutting down");
    // Finished calls' records are durable already; this makes the last facts of the ACD so.
    if let Err(err) = records.flush().await {
        tracing::error!(%err, "the store could not be flushed at shutdown");
    }
    Ok(())
}

/// Where `[store] path` points: relative paths are beside the configuration file.
fn store_path(config: &Config, source: &ConfigSource) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(&config.store.path);
    match source {
        _ if path.is_absolute() => path,
        ConfigSource::File(file) | ConfigSource::WorkingDir(file) => file
            .parent()
            .map_or_else(|| path.clone(), |dir| dir.join(&path)),
        ConfigSource::Embedded => path,
    }
}

/// Binds and spawns everything; returns once the server is listening.
pub async fn start(config: &Config, source: &ConfigSource) -> anyhow::Result<Running> {
    let store_path = store_path(config, source);
    let opened = switchboard_store::Store::open(&store_path).with_context(|| {
        format!(
            "store: cannot open the call records at {} ([store] path)",
            store_path.display()
        )
    })?;
    if opened.startup.interrupted_calls > 0 {
        tracing::warn!(
            calls = opened.startup.interrupted_calls,
            "calls in progress when the switch last stopped are recorded as interrupted"
        );
    }
    let records = Records::new(opened.writer.clone());
    let mut udp_sockets = Vec::new();
    for addr in &config.sip.udp {
        let socket = UdpSocket::bind(addr).await.with_context(|| {
            format!("sip.udp: cannot bind UDP {addr} (in use, or not an address of this host?)")
        })?;
        size_udp_buffer(&socket, *addr, config.sip.udp_buffer_bytes);
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
            sdp_limits: switchboard_sip::sdp::SdpLimits {
                max_media: config.media.max_sdp_media,
            },
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

    let acd_config = crate::acd::setup::acd_config(config, seed);
    let stats_config = crate::acd::setup::stats_config(config, &acd_config)?;
    let tz = stats_config.tz.clone();
    let reader = switchboard_store::Reader::open(&store_path)
        .with_context(|| format!("store: cannot read {}", store_path.display()))?;
    let stats = crate::acd::setup::replayed_stats(stats_config, &reader)?;
    let acd = crate::acd::setup::restored_acd(acd_config, &opened.startup, now);
    let (acd_tx, acd_rx) = mpsc::channel(ACD_QUEUE);
    tokio::spawn(AcdTask::new(acd, stats, records.clone(), tz).run(acd_rx));
    // A phone with a fixed contact never registers: it is up from the start.
    for agent in config.agents.iter().filter(|a| a.contact.is_some()) {
        let up = switchboard_acd::Input::DeviceUp {
            agent: switchboard_acd::AgentId::new(agent.extension.clone()),
            at: now,
        };
        acd_tx
            .send(crate::protocol::AcdRequest::Input(up))
            .await
            .context("the ACD task stopped at start")?;
    }
    // The store's thread lives as long as its writers; the handle is not needed to keep it.
    drop(opened.store);

    let (live, live_rx) = mpsc::unbounded_channel();
    tokio::spawn(crate::calls::Registry::default().run(live_rx));
    let services = Arc::new(services(
        config,
        seed,
        acd_tx.clone(),
        records.clone(),
        opened.startup.next_call_id,
        live.clone(),
    )?);
    let router = Router::new(
        directory,
        services.dialplans.clone(),
        config.acd.pause_reasons.clone(),
    )
    .reveal_unregistered(config.security.reveal_unregistered);
    spawn_media_report(services.media.clone());
    let control = std::path::PathBuf::from(&config.control.socket);
    if let Err(err) = crate::control::serve(
        &control,
        services.dialplans.clone(),
        services.media.prompts().clone(),
        acd_tx,
        live.clone(),
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
    let (bans_tx, bans) = tokio::sync::watch::channel(Arc::new(std::collections::HashMap::new()));
    let (registered_tx, registered) =
        tokio::sync::watch::channel(Arc::new(std::collections::HashSet::new()));
    let defences = crate::sip::core::Defences::new(
        switchboard_sip::guard::Guard::new(config.security.guard_policy()),
        config.security.never_ban.clone(),
        bans_tx,
        registered_tx,
    )
    .with_trunk_limits(
        config.security.max_trunk_calls.min(
            usize::from(
                config
                    .media
                    .rtp_port_max
                    .saturating_sub(config.media.rtp_port_min)
                    / 4,
            )
            .max(1),
        ),
        config
            .trunks
            .iter()
            .filter_map(|t| Some((t.name.clone(), t.max_calls?)))
            .collect(),
    );
    let trusted: Vec<crate::config::IpNet> = config
        .trunks
        .iter()
        .flat_map(|t| t.allow_from.iter().copied())
        .chain(config.security.never_ban.iter().copied())
        .collect();
    let acd_for_api = services.acd.clone();
    let live_for_api = services.live.clone();
    let draining = services.draining.clone();
    let core = Core::new(
        ua,
        registrar,
        auth,
        defences,
        router,
        sender,
        core_tx.clone(),
        services,
    );
    let gates = transport::GateConfig {
        bans: bans.clone(),
        registered: registered.clone(),
        trusted: trusted.clone(),
        source: (config.security.source_rate, config.security.source_burst),
        known: (
            config.security.known_source_rate,
            config.security.known_source_burst,
        ),
    };
    for socket in udp_sockets {
        let gate = gates.gate(65_536);
        tokio::spawn(transport::run_udp(
            socket,
            core_tx.clone(),
            stats.clone(),
            gate,
        ));
    }
    let limits = transport::TcpLimits {
        max_connections: config.sip.tcp_max_connections,
        max_per_source: config.sip.tcp_max_per_source,
        message_timeout: Duration::from_secs(config.sip.tcp_message_timeout_s),
    };
    for listener in tcp_listeners {
        tokio::spawn(transport::run_tcp_listener(
            listener,
            core_tx.clone(),
            stats.clone(),
            gates.clone(),
            limits,
        ));
    }
    drop(core_tx);
    tokio::spawn(core.run(core_rx));
    if config.api.enabled {
        start_api(
            config,
            acd_for_api,
            live_for_api.clone(),
            draining.clone(),
            stats,
        )
        .await;
    }
    Ok(Running {
        bound,
        records,
        draining,
        live: live_for_api,
    })
}

/// Waits for the calls in progress to end, at most `limit` (a second SIGTERM or Ctrl-C ends
/// the wait), saying what it waits for.
async fn drain(live: &crate::calls::Updates, limit: Duration) {
    let count = || async {
        crate::calls::snapshot(live)
            .await
            .map_or(0, |c| c.calls.len())
    };
    let calls = count().await;
    if calls == 0 {
        return;
    }
    tracing::info!(
        calls,
        limit_s = limit.as_secs(),
        "draining: new calls are refused; waiting for the calls in progress to end (a second \
         SIGTERM stops at once)"
    );
    let deadline = tokio::time::Instant::now() + limit;
    let second = shutdown_signal();
    tokio::pin!(second);
    loop {
        tokio::select! {
            () = &mut second => {
                tracing::warn!(calls = count().await, "second signal: stopping now; calls still up are recorded as interrupted");
                return;
            }
            () = tokio::time::sleep_until(deadline) => break,
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if count().await == 0 {
                    tracing::info!("drained: no call in progress");
                    return;
                }
            }
        }
    }
    // Time is up: the switch ends the calls left, so their records and recordings close as
    // any call's do; what has not ended in a few seconds is recorded as interrupted.
    tracing::warn!(
        calls = count().await,
        "drain time over: hanging up the calls still in progress"
    );
    let _ = live.send(crate::calls::Update::HangupAll {
        reason: "shutdown".into(),
    });
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if count().await == 0 {
            tracing::info!("drained: the last calls were hung up");
            return;
        }
    }
    tracing::warn!(
        calls = count().await,
        "stopping; calls still up are recorded as interrupted"
    );
}

/// Binds `[api] listen` and serves the admin API there; a port in use is logged and the switch
/// runs on without the API (calls matter more than the admin's view of them).
async fn start_api(
    config: &Config,
    acd: mpsc::Sender<crate::protocol::AcdRequest>,
    live: crate::calls::Updates,
    draining: Arc<std::sync::atomic::AtomicBool>,
    transport: Arc<TransportStats>,
) {
    let metrics = crate::metrics::install();
    let api = Arc::new(crate::api::Api::new(
        acd,
        live,
        draining,
        metrics,
        transport,
        &config.api,
        &config.security,
    ));
    match TcpListener::bind(config.api.listen).await {
        Ok(listener) => {
            let addr = listener.local_addr().unwrap_or(config.api.listen);
            if api.auth.has_tokens() {
                tracing::info!(%addr, "admin API listening");
            } else {
                tracing::warn!(
                    %addr,
                    "admin API listening, but no token is configured: only /health, /ready and \
                     /api/v1/openapi.json answer ([api] tokens or SWITCHBOARD_API_TOKEN)"
                );
            }
            crate::api::spawn(listener, api);
        }
        Err(err) => tracing::error!(
            addr = %config.api.listen,
            %err,
            "api.listen: cannot listen; the switch runs without its admin API (free the port or \
             change [api] listen)"
        ),
    }
}

/// Asks the kernel for a SIP UDP socket's receive buffer of `wanted` bytes; says so when it
/// granted less (Linux reports twice what it reserves for payload, and caps the request at
/// `net.core.rmem_max`).
fn size_udp_buffer(socket: &UdpSocket, addr: std::net::SocketAddr, wanted: usize) {
    let sock = socket2::SockRef::from(socket);
    if let Err(err) = sock.set_recv_buffer_size(wanted) {
        tracing::warn!(%addr, %err, "sip.udp_buffer_bytes: cannot size the UDP receive buffer");
        return;
    }
    match sock.recv_buffer_size() {
        Ok(granted) if granted < wanted => tracing::warn!(
            %addr,
            wanted,
            granted,
            "sip.udp_buffer_bytes: the kernel granted a smaller UDP receive buffer; bursts of \
             requests may be dropped (raise net.core.rmem_max with sysctl)"
        ),
        Ok(granted) => tracing::debug!(%addr, granted, "SIP UDP receive buffer"),
        Err(err) => tracing::debug!(%addr, %err, "cannot read the UDP receive buffer size"),
    }
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
fn services(
    config: &Config,
    seed: u64,
    acd: mpsc::Sender<crate::protocol::AcdRequest>,
    records: Records,
    next_call: u64,
    live: crate::calls::Updates,
) -> anyhow::Result<Services> {
    // SSRCs are seen by every peer and their generator is not a CSPRNG: unless a test fixed
    // rng_seed, they get a seed of their own, so that recovering it from SSRCs tells nothing
    // about the seed of SIP tags, branches and Call-IDs.
    let ssrc_seed = if config.rng_seed.is_some() {
        seed
    } else {
        rand::random()
    };
    let media = MediaEngine::start(&config.media, &config.recording, ssrc_seed)
        .context("media: cannot start the media workers")?;
    let dialplans = DialplanStore::load(config).map_err(|report| {
        anyhow::anyhow!("dialplan: the dialplans do not pass the check:\n{report}")
    })?;
    let call_config = CallConfig {
        negotiation: media
            .negotiation()
            .with_opus_rate(config.recording.sample_rate),
        recording: config.recording.clone(),
        trunks: config
            .trunks
            .iter()
            .map(|t| (t.name.clone(), t.clone()))
            .collect(),
        inband_dtmf: config.media.inband_dtmf,
        seed,
        extension_ring_timeout: Duration::from_secs(u64::from(
            config.dialplan.extension_ring_timeout_s,
        )),
        sounds: std::path::PathBuf::from(&config.dialplan.sounds),
        default_language: config.dialplan.default_language.clone(),
        agent_language: config
            .agents
            .iter()
            .filter_map(|a| Some((a.extension.clone(), a.languages.first()?.clone())))
            .collect(),
        tz: jiff::tz::TimeZone::get(&config.acd.time_zone)
            .unwrap_or_else(|_| jiff::tz::TimeZone::system()),
        queue_skill_level: config
            .queues
            .iter()
            .map(|q| {
                (
                    q.name.clone(),
                    switchboard_acd::config::Level::new(q.skill_level),
                )
            })
            .collect(),
    };
    Ok(Services {
        media,
        config: Arc::new(call_config),
        dialplans: Arc::new(dialplans),
        http: crate::call::http::HttpClient::new(),
        acd,
        records,
        call_ids: std::sync::atomic::AtomicU64::new(next_call),
        live,
        draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
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
