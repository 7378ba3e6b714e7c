//! The SIP transports: UDP sockets and TCP connections. Their tasks read bytes, frame and parse
//! them (in parallel with the core, which is the point of parsing here), answer malformed
//! requests statelessly, and hand checked messages to the SIP core through a bounded channel.
//! When the core's channel is full a new request is shed with 503 + Retry-After, never queued
//! without limit.
//!
//! Sources the core has banned for guessing passwords are dropped here, before parsing, from a
//! snapshot the core publishes when its ban list changes. TCP connections are limited in total
//! and per source, and a message must arrive whole within a deadline from its first byte (a
//! sender trickling one byte at a time is cut off, whatever its pace).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ezk_sip_types::StatusCode;
use switchboard_sip::wire::{self, Frame, StreamFramer, WireError};
use switchboard_sip::{Peer, SipMessage, Transport, response_to};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};

use super::core::CoreInput;

/// Largest SIP message we accept on a stream before we call the connection broken.
const MAX_STREAM_MESSAGE: usize = 64 * 1024;
/// Outgoing messages queued per TCP connection before we give up on a slow peer.
const TCP_WRITE_QUEUE: usize = 256;
/// An idle TCP connection (no bytes either way) is closed after this long (RFC 5626 keepalives
/// every ~2 minutes keep a registered phone's flow open).
const TCP_IDLE: Duration = Duration::from_secs(600);
/// The message deadline on connections we opened (to a peer we chose).
const OUTBOUND_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Counters the transports keep (exported as metrics later).
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Datagrams or frames that were not SIP or were malformed and dropped without an answer.
    pub dropped_malformed: AtomicU64,
    /// Malformed requests answered statelessly (400, 416, 505…).
    pub rejected_malformed: AtomicU64,
    /// Requests shed with 503 because the core was saturated.
    pub shed_overload: AtomicU64,
    /// Datagrams and connections from banned sources dropped unread.
    pub dropped_banned: AtomicU64,
    /// Datagrams from strangers over their rate, dropped unread.
    pub dropped_rate: AtomicU64,
    /// Datagrams from known senders (trunks, registered phones) over their own, higher rate,
    /// dropped unread.
    pub dropped_known_rate: AtomicU64,
    /// Strangers' requests dropped because the core was busy (known senders still served).
    pub shed_strangers: AtomicU64,
    /// TCP connections closed at once: too many in total or from their source.
    pub tcp_refused: AtomicU64,
    /// TCP connections closed because a message did not arrive whole in time.
    pub tcp_message_timeouts: AtomicU64,
}

/// The banned sources and when each ban ends, as last published by the SIP core.
pub type Bans = watch::Receiver<Arc<HashMap<IpAddr, Instant>>>;

fn is_banned(bans: &Bans, ip: IpAddr) -> bool {
    let bans = bans.borrow();
    !bans.is_empty() && bans.get(&ip).is_some_and(|until| Instant::now() < *until)
}

/// The addresses of registered phones, as last published by the SIP core.
pub type Registered = watch::Receiver<Arc<std::collections::HashSet<IpAddr>>>;

/// What a UDP task checks before parsing a datagram: bans, a rate limit for strangers
/// (neither a trunk, nor a registered phone, nor a spared network), and a higher one for
/// everyone known (a trunk's address is easy to forge over UDP, and a broken carrier can loop:
/// neither may take the core from the others).
#[derive(Debug)]
pub struct Gate {
    /// Bans published by the core.
    pub bans: Bans,
    /// Registered phones' addresses published by the core.
    pub registered: Registered,
    /// Trunks' networks and `[security] never_ban`: never limited.
    pub trusted: Vec<crate::config::IpNet>,
    /// Per-source buckets for everyone else.
    pub limiter: switchboard_sip::limit::RateLimiter,
    /// Per-source buckets for known senders.
    pub known: switchboard_sip::limit::RateLimiter,
    last_sweep: Option<Instant>,
    /// Known senders' datagrams dropped since the last warning, and when it was.
    known_dropped: u64,
    warned_at: Option<Instant>,
}

/// What every gate is built from: the core's publications, the trusted networks and the rates.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// Bans published by the core.
    pub bans: Bans,
    /// Registered phones' addresses published by the core.
    pub registered: Registered,
    /// Trunks' networks and `[security] never_ban`.
    pub trusted: Vec<crate::config::IpNet>,
    /// Strangers' messages per second and bucket.
    pub source: (u32, u32),
    /// Known senders' messages per second and bucket.
    pub known: (u32, u32),
}

impl GateConfig {
    /// A gate tracking at most `max_sources` addresses (a UDP socket's: many; a TCP
    /// connection's: its one peer).
    #[must_use]
    pub fn gate(&self, max_sources: usize) -> Gate {
        use switchboard_sip::limit::RateLimiter;
        Gate::new(
            self.bans.clone(),
            self.registered.clone(),
            self.trusted.clone(),
            RateLimiter::new(self.source.0, self.source.1, max_sources),
            RateLimiter::new(self.known.0, self.known.1, max_sources),
        )
    }
}

/// Who sent a datagram, as far as the gate can tell without parsing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A trunk, a registered phone, a spared network.
    Known,
    /// Anyone else, within its rate.
    Stranger,
}

impl Gate {
    /// A gate over the core's publications and the configured trusted networks.
    #[must_use]
    pub fn new(
        bans: Bans,
        registered: Registered,
        trusted: Vec<crate::config::IpNet>,
        limiter: switchboard_sip::limit::RateLimiter,
        known: switchboard_sip::limit::RateLimiter,
    ) -> Gate {
        Gate {
            bans,
            registered,
            trusted,
            limiter,
            known,
            last_sweep: None,
            known_dropped: 0,
            warned_at: None,
        }
    }

    /// `None`: drop the datagram unread.
    fn check(&mut self, now: Instant, ip: IpAddr, stats: &TransportStats) -> Option<Origin> {
        if is_banned(&self.bans, ip) {
            stats.dropped_banned.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if self
            .last_sweep
            .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(5))
        {
            self.limiter.sweep(now);
            self.known.sweep(now);
            self.last_sweep = Some(now);
        }
        if self.trusted.iter().any(|net| net.contains(ip)) || self.registered.borrow().contains(&ip)
        {
            if self.known.allow(now, ip) {
                return Some(Origin::Known);
            }
            stats.dropped_known_rate.fetch_add(1, Ordering::Relaxed);
            self.known_dropped += 1;
            if self
                .warned_at
                .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(10))
            {
                tracing::warn!(
                    source = %ip,
                    dropped = self.known_dropped,
                    "a trunk or registered phone sends more than [security] known_source_rate \
                     messages a second; the excess is dropped (raise the limit for a carrier \
                     that really sends that much)"
                );
                self.known_dropped = 0;
                self.warned_at = Some(now);
            }
            return None;
        }
        if self.limiter.allow(now, ip) {
            Some(Origin::Stranger)
        } else {
            stats.dropped_rate.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Limits on accepted TCP connections.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    /// At once, in total.
    pub max_connections: usize,
    /// At once, from one address.
    pub max_per_source: usize,
    /// From a message's first byte to its last.
    pub message_timeout: Duration,
}

/// Sends bytes on whichever transport a [`Peer`] names. Owned by the SIP core.
#[derive(Debug)]
pub struct Sender {
    udp: Option<Arc<UdpSocket>>,
    tcp: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    core: mpsc::Sender<CoreInput>,
    stats: Arc<TransportStats>,
}

impl Sender {
    /// A sender over the first UDP socket (if any); TCP connections register as they come up.
    #[must_use]
    pub fn new(
        udp: Option<Arc<UdpSocket>>,
        core: mpsc::Sender<CoreInput>,
        stats: Arc<TransportStats>,
    ) -> Self {
        Sender {
            udp,
            tcp: HashMap::new(),
            core,
            stats,
        }
    }

    /// A TCP connection (accepted or opened by us) is up: messages to `addr` go to `writer`.
    pub fn tcp_up(&mut self, addr: SocketAddr, writer: mpsc::Sender<Bytes>) {
        self.tcp.insert(addr, writer);
    }

    /// The connection to `addr` is gone.
    pub fn tcp_down(&mut self, addr: SocketAddr) {
        self.tcp.remove(&addr);
    }

    /// Sends `bytes` to `dest`. Never blocks the core: UDP uses `try_send_to` (a full socket
    /// buffer drops the datagram, which retransmission repairs); TCP queues to the connection
    /// task, opening a connection first when there is none.
    pub fn send(&mut self, dest: Peer, bytes: Bytes) {
        match dest.transport {
            Transport::Udp => {
                let Some(udp) = &self.udp else {
                    tracing::warn!(%dest.addr, "no UDP socket to send from");
                    return;
                };
                if let Err(err) = udp.try_send_to(&bytes, dest.addr) {
                    tracing::debug!(%dest.addr, %err, "UDP send failed");
                }
            }
            Transport::Tcp => {
                if let Some(writer) = self.tcp.get(&dest.addr) {
                    match writer.try_send(bytes) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            tracing::warn!(%dest.addr, "TCP peer too slow; message dropped");
                        }
                        Err(mpsc::error::TrySendError::Closed(bytes)) => {
                            self.tcp.remove(&dest.addr);
                            self.connect(dest.addr, bytes);
                        }
                    }
                } else {
                    self.connect(dest.addr, bytes);
                }
            }
            _ => tracing::warn!(?dest, "transport not supported for sending"),
        }
    }

    fn connect(&mut self, addr: SocketAddr, first: Bytes) {
        let (writer, queue) = mpsc::channel(TCP_WRITE_QUEUE);
        let _ = writer.try_send(first);
        self.tcp.insert(addr, writer.clone());
        let core = self.core.clone();
        let stats = self.stats.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    // A peer we chose to connect to is not rate-limited.
                    let conn = Connection {
                        addr,
                        core,
                        stats,
                        message_timeout: OUTBOUND_MESSAGE_TIMEOUT,
                        gate: None,
                    };
                    conn.run(stream, writer, queue).await;
                }
                Ok(Err(err)) => tracing::info!(%addr, %err, "TCP connect failed"),
                Err(_) => tracing::info!(%addr, "TCP connect timed out"),
            }
        });
    }
}

/// Reads datagrams from one UDP socket until the socket fails.
pub async fn run_udp(
    socket: Arc<UdpSocket>,
    core: mpsc::Sender<CoreInput>,
    stats: Arc<TransportStats>,
    mut gate: Gate,
) {
    let mut buf = vec![0u8; wire::MAX_DATAGRAM];
    let mut limiter = LogLimiter::default();
    loop {
        let (len, addr) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(err) => {
                // ICMP port unreachable surfaces here on some systems; it is not fatal.
                tracing::debug!(%err, "UDP receive error");
                continue;
            }
        };
        let Some(sender) = gate.check(Instant::now(), addr.ip(), &stats) else {
            continue;
        };
        let peer = Peer {
            transport: Transport::Udp,
            addr,
        };
        let datagram = &buf[..len];
        if datagram.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            continue; // RFC 5626 §4.4.1 keepalive CRLF over UDP carries nothing.
        }
        match wire::parse_message(datagram) {
            Ok(msg) => {
                if sender == Origin::Stranger && busy(&core) {
                    // The core is backing up: strangers wait outside, silently, so that
                    // trunks, phones and calls in progress keep its attention.
                    if matches!(msg, SipMessage::Request(_)) {
                        stats.shed_strangers.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
                if let Some(reply) = offer(&core, peer, msg, &stats) {
                    let _ = socket.try_send_to(&reply, addr);
                }
            }
            Err(err) => {
                if let Some(reply) = reject(&err, &stats, &mut limiter, peer) {
                    let _ = socket.try_send_to(&reply, addr);
                }
            }
        }
    }
}

/// Accepts TCP connections until the listener fails, within `limits`; a banned source's
/// connection is closed at once.
pub async fn run_tcp_listener(
    listener: TcpListener,
    core: mpsc::Sender<CoreInput>,
    stats: Arc<TransportStats>,
    gates: GateConfig,
    limits: TcpLimits,
) {
    // The listener owns the counts; each connection reports its end on `closed`.
    let (closed_tx, mut closed) = mpsc::unbounded_channel::<IpAddr>();
    let mut per_source: HashMap<IpAddr, usize> = HashMap::new();
    let mut total = 0usize;
    let mut limiter = LogLimiter::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(ip) = closed.recv() => {
                total = total.saturating_sub(1);
                if let Some(n) = per_source.get_mut(&ip) {
                    *n -= 1;
                    if *n == 0 {
                        per_source.remove(&ip);
                    }
                }
                continue;
            }
        };
        match accepted {
            Ok((stream, addr)) => {
                let ip = addr.ip();
                if is_banned(&gates.bans, ip) {
                    stats.dropped_banned.fetch_add(1, Ordering::Relaxed);
                    continue; // dropping the stream closes it
                }
                let from_source = per_source.get(&ip).copied().unwrap_or(0);
                if total >= limits.max_connections || from_source >= limits.max_per_source {
                    stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
                    if limiter.allow(Instant::now()) {
                        tracing::warn!(
                            source = %ip,
                            from_source,
                            total,
                            max_per_source = limits.max_per_source,
                            max_connections = limits.max_connections,
                            "TCP connection refused: too many connections"
                        );
                    }
                    continue;
                }
                total += 1;
                *per_source.entry(ip).or_default() += 1;
                let (writer, queue) = mpsc::channel(TCP_WRITE_QUEUE);
                let conn = Connection {
                    addr,
                    core: core.clone(),
                    stats: stats.clone(),
                    message_timeout: limits.message_timeout,
                    gate: Some(gates.gate(1)),
                };
                let closed_tx = closed_tx.clone();
                tokio::spawn(async move {
                    conn.run(stream, writer, queue).await;
                    let _ = closed_tx.send(ip);
                });
            }
            Err(err) => {
                // Out of descriptors (EMFILE/ENFILE): TCP waits for connections to close; UDP
                // sockets are already open and keep carrying calls.
                if matches!(err.raw_os_error(), Some(23 | 24)) {
                    if limiter.allow(Instant::now()) {
                        tracing::error!(
                            %err,
                            open_tcp = total,
                            "out of file descriptors: new TCP connections wait; raise the limit (ulimit -n / LimitNOFILE) or lower sip.tcp_max_connections"
                        );
                    }
                } else {
                    tracing::warn!(%err, "TCP accept failed");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One TCP connection: frames what arrives, writes what the core queues.
struct Connection {
    addr: SocketAddr,
    core: mpsc::Sender<CoreInput>,
    stats: Arc<TransportStats>,
    message_timeout: Duration,
    /// Bans and the peer's message rate, for connections the peer opened (each connection
    /// has its own bucket; `sip.tcp_max_per_source` bounds how many one address has).
    gate: Option<Gate>,
}

impl Connection {
    async fn run(
        self,
        mut stream: TcpStream,
        writer: mpsc::Sender<Bytes>,
        mut queue: mpsc::Receiver<Bytes>,
    ) {
        let Connection {
            addr,
            core,
            stats,
            message_timeout,
            mut gate,
        } = self;
        let _ = stream.set_nodelay(true);
        if core.send(CoreInput::TcpUp { addr, writer }).await.is_err() {
            return;
        }
        let peer = Peer {
            transport: Transport::Tcp,
            addr,
        };
        let mut framer = StreamFramer::new(MAX_STREAM_MESSAGE);
        let mut buf = vec![0u8; 16 * 1024];
        let mut limiter = LogLimiter::default();
        // When the message now arriving must be complete (None between messages).
        let mut deadline: Option<tokio::time::Instant> = None;
        let (mut reader, mut write_half) = stream.split();
        'conn: loop {
            let cut_off = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                read = tokio::time::timeout(TCP_IDLE, reader.read(&mut buf)) => {
                    let n = match read {
                        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break 'conn,
                        Ok(Ok(n)) => n,
                    };
                    framer.push(&buf[..n]);
                    let mut completed = false;
                    while let Some(frame) = framer.next_frame() {
                        completed = true;
                        match frame {
                            Ok(Frame::Message(_)) if is_banned_now(gate.as_ref(), addr.ip()) => {
                                stats.dropped_banned.fetch_add(1, Ordering::Relaxed);
                                break 'conn;
                            }
                            Ok(Frame::Message(_))
                                if gate.as_mut().is_some_and(|g| {
                                    g.check(Instant::now(), addr.ip(), &stats).is_none()
                                }) =>
                            {
                                // Over its rate: dropped unread, like a datagram.
                            }
                            Ok(Frame::Message(bytes)) => match wire::parse_message(&bytes) {
                                Ok(msg) => {
                                    if let Some(reply) = offer(&core, peer, msg, &stats)
                                        && write_half.write_all(&reply).await.is_err()
                                    {
                                        break 'conn;
                                    }
                                }
                                Err(err) => {
                                    if let Some(reply) = reject(&err, &stats, &mut limiter, peer)
                                        && write_half.write_all(&reply).await.is_err()
                                    {
                                        break 'conn;
                                    }
                                }
                            },
                            // RFC 5626 §3.5.1: answer a double-CRLF ping with a single CRLF pong.
                            Ok(Frame::KeepAlivePing) => {
                                if write_half.write_all(b"\r\n").await.is_err() {
                                    break 'conn;
                                }
                            }
                            Ok(Frame::KeepAlivePong) => {}
                            Err(err) => {
                                tracing::info!(%addr, %err, "TCP stream broken; closing");
                                break 'conn;
                            }
                        }
                    }
                    // The clock starts at a message's first byte and is not reset by the next.
                    if framer.pending() == 0 {
                        deadline = None;
                    } else if deadline.is_none() || completed {
                        deadline = Some(tokio::time::Instant::now() + message_timeout);
                    }
                }
                () = cut_off => {
                    stats.tcp_message_timeouts.fetch_add(1, Ordering::Relaxed);
                    if limiter.allow(Instant::now()) {
                        tracing::info!(
                            %addr,
                            pending = framer.pending(),
                            timeout_s = message_timeout.as_secs(),
                            "TCP message not complete in time; closing"
                        );
                    }
                    break 'conn;
                }
                out = queue.recv() => {
                    let Some(bytes) = out else { break 'conn };
                    if write_half.write_all(&bytes).await.is_err() {
                        break 'conn;
                    }
                }
            }
        }
        let _ = core.send(CoreInput::TcpDown { addr }).await;
    }
}

/// Whether the gate (if any) knows `ip` as banned now: the connection is closed then.
fn is_banned_now(gate: Option<&Gate>, ip: IpAddr) -> bool {
    gate.is_some_and(|g| is_banned(&g.bans, ip))
}

/// Whether the core's queue is more than a quarter full.
fn busy(core: &mpsc::Sender<CoreInput>) -> bool {
    core.capacity() < core.max_capacity() * 3 / 4
}

/// Hands a parsed message to the core. Returns a 503 to send back when the core is saturated and
/// the message is a request that deserves an answer.
fn offer(
    core: &mpsc::Sender<CoreInput>,
    source: Peer,
    msg: SipMessage,
    stats: &TransportStats,
) -> Option<Bytes> {
    count_message(&msg);
    match core.try_send(CoreInput::Message { source, msg }) {
        Ok(()) => None,
        Err(mpsc::error::TrySendError::Full(CoreInput::Message {
            msg: SipMessage::Request(req),
            ..
        })) if req.method() != &ezk_sip_types::Method::ACK => {
            stats.shed_overload.fetch_add(1, Ordering::Relaxed);
            let mut response = response_to(&req, StatusCode::SERVICE_UNAVAILABLE, None);
            response
                .headers
                .insert(ezk_sip_types::Name::RETRY_AFTER, "1");
            Some(response.encode())
        }
        Err(_) => {
            stats.shed_overload.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Counts a parsed message for `/metrics` (methods we do not know are one label, `other`, so
/// a sender cannot grow the label set).
fn count_message(msg: &SipMessage) {
    match msg {
        SipMessage::Request(req) => {
            use ezk_sip_types::Method;
            const KNOWN: [(Method, &str); 9] = [
                (Method::INVITE, "INVITE"),
                (Method::ACK, "ACK"),
                (Method::BYE, "BYE"),
                (Method::CANCEL, "CANCEL"),
                (Method::OPTIONS, "OPTIONS"),
                (Method::REGISTER, "REGISTER"),
                (Method::INFO, "INFO"),
                (Method::NOTIFY, "NOTIFY"),
                (Method::SUBSCRIBE, "SUBSCRIBE"),
            ];
            let method = KNOWN
                .iter()
                .find(|(m, _)| m == req.method())
                .map_or("other", |(_, name)| name);
            metrics::counter!("switchboard_sip_requests_total", "method" => method).increment(1);
        }
        SipMessage::Response(resp) => {
            metrics::counter!("switchboard_sip_responses_total", "code" => resp.code().to_string())
                .increment(1);
        }
    }
}

/// Counts a malformed message and returns the stateless answer, if it deserves one.
fn reject(
    err: &WireError,
    stats: &TransportStats,
    limiter: &mut LogLimiter,
    peer: Peer,
) -> Option<Bytes> {
    if limiter.allow(Instant::now()) {
        tracing::info!(source = %peer.addr, %err, "malformed SIP message");
    }
    match err.response() {
        Some(response) => {
            stats.rejected_malformed.fetch_add(1, Ordering::Relaxed);
            Some(response.encode())
        }
        None => {
            stats.dropped_malformed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// At most a few log lines per second per task, so garbage floods cannot flood the log.
#[derive(Debug, Default)]
struct LogLimiter {
    window_start: Option<Instant>,
    in_window: u32,
}

impl LogLimiter {
    const PER_WINDOW: u32 = 5;

    fn allow(&mut self, now: Instant) -> bool {
        match self.window_start {
            Some(start) if now.duration_since(start) < Duration::from_secs(1) => {
                self.in_window += 1;
                self.in_window <= Self::PER_WINDOW
            }
            _ => {
                self.window_start = Some(now);
                self.in_window = 1;
                true
            }
        }
    }
}
