//! One run, start to end: bind the sockets, start the pacer and the receiver, set the calls up
//! at the ramp rate (through the switch's SIP, or straight to the baseline relay, or socket to
//! socket), hold every call for the steady window while sampling the process under test, stop
//! the media, drain, hang up, and turn the counters into a [`RunReport`].
//!
//! This is the only module that reads the clock and owns the SIP sockets; the SIP logic itself
//! is [`crate::loadgen::signalling`], the media threads are [`crate::loadgen::media`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use crate::loadgen::media::{self, PacerCommand, PacerReport, Payloads, ReceiverReport};
use crate::loadgen::packet::{CallIndex, Side, StreamId};
use crate::loadgen::procstat::{self, ProcSample};
use crate::loadgen::relay::RelayChild;
use crate::loadgen::report::{GeneratorFigures, ProcFigures, RunReport};
use crate::loadgen::sdp::Codec;
use crate::loadgen::signalling::{CallMedia, FailReason, SigEvent, Signalling, SignallingConfig};
use crate::loadgen::stats::{DirectionReport, RxStream};

/// The most calls one run may hold (10,000 sockets on the generator's side).
pub const MAX_CALLS: usize = 5_000;
/// The longest steady window of one run.
pub const MAX_DURATION: Duration = Duration::from_secs(300);
/// The fastest ramp accepted, calls per second.
pub const MAX_RAMP: u32 = 2_000;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// What the calls go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A running switch: SIP to this address; `pid` is sampled when given.
    Switch {
        /// Its SIP address.
        sip: SocketAddr,
        /// Its process id, for CPU and RSS.
        pid: Option<u32>,
    },
    /// The raw UDP relay, started as a child process of this binary.
    Baseline,
    /// Nothing: the caller's socket sends to the agent's and back (the generator's own ceiling).
    Direct,
}

impl Target {
    /// The mode's name in reports: `switch`, `baseline` or `direct`.
    #[must_use]
    pub fn mode(&self) -> &'static str {
        match self {
            Target::Switch { .. } => "switch",
            Target::Baseline => "baseline",
            Target::Direct => "direct",
        }
    }
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// What the calls go through.
    pub target: Target,
    /// Concurrent calls.
    pub calls: usize,
    /// Steady window: how long every call is held up once all are up.
    pub duration: Duration,
    /// Calls set up (and hung up) per second.
    pub ramp: u32,
    /// Codec of the caller side.
    pub caller_codec: Codec,
    /// Codec of the agent side (`opus`: the switch must transcode).
    pub agent_codec: Codec,
    /// The agent's SIP port (its static contact in the switch's config).
    pub agent_port: u16,
    /// The extension dialled.
    pub extension: String,
    /// How long to keep receiving after the last packet was sent.
    pub drain: Duration,
    /// This binary, to start the relay child from.
    pub exe: PathBuf,
}

impl RunConfig {
    /// Checks the bounds every run must respect.
    ///
    /// # Errors
    /// A message naming the flag that is out of bounds.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=MAX_CALLS).contains(&self.calls),
            "--calls {}: use 1 to {MAX_CALLS}",
            self.calls
        );
        anyhow::ensure!(
            self.duration > Duration::ZERO && self.duration <= MAX_DURATION,
            "--duration {:?}: use 1 to {} seconds",
            self.duration,
            MAX_DURATION.as_secs()
        );
        anyhow::ensure!(
            (1..=MAX_RAMP).contains(&self.ramp),
            "--ramp {}: use 1 to {MAX_RAMP} calls per second",
            self.ramp
        );
        anyhow::ensure!(
            self.caller_codec != Codec::Opus,
            "--caller-codec: the caller side speaks G.711 (PCMA or PCMU)"
        );
        Ok(())
    }
}

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    Up,
    Failed(FailReason),
    HungUpBySwitch,
}

/// The switch's SIP, from the generator's two SIP sockets.
struct SipDriver {
    poll: Poll,
    events: Events,
    caller: UdpSocket,
    agent: UdpSocket,
    sig: Signalling,
    buf: Vec<u8>,
}

impl SipDriver {
    fn new(config: &RunConfig, switch: SocketAddr, media: &[CallMedia]) -> anyhow::Result<Self> {
        let poll = Poll::new()?;
        let mut caller = UdpSocket::bind(SocketAddr::new(LOOPBACK, 0))?;
        let mut agent = UdpSocket::bind(SocketAddr::new(LOOPBACK, config.agent_port))
            .with_context(|| {
                format!(
                    "--agent-port {}: cannot bind it (in use?)",
                    config.agent_port
                )
            })?;
        poll.registry()
            .register(&mut caller, Token(0), Interest::READABLE)?;
        poll.registry()
            .register(&mut agent, Token(1), Interest::READABLE)?;
        let sig_config = SignallingConfig {
            switch,
            caller_sip: caller.local_addr()?,
            agent_sip: agent.local_addr()?,
            extension: config.extension.clone(),
            caller_codec: config.caller_codec,
            agent_codec: config.agent_codec,
            run_id: run_id(),
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
        };
        Ok(SipDriver {
            poll,
            events: Events::with_capacity(256),
            caller,
            agent,
            sig: Signalling::new(sig_config, media),
            buf: vec![0; 65_535],
        })
    }

    /// Waits for SIP until `deadline` at most, handles what came and what is due, sends.
    fn step(&mut self, deadline: Instant) -> io::Result<()> {
        self.flush(); // what the ramp just started goes out before we wait
        let now = Instant::now();
        let wake = self
            .sig
            .poll_timeout()
            .map_or(deadline, |t| t.min(deadline));
        match self
            .poll
            .poll(&mut self.events, Some(wake.saturating_duration_since(now)))
        {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        for event in &self.events {
            let (socket, side) = if event.token() == Token(0) {
                (&self.caller, Side::Caller)
            } else {
                (&self.agent, Side::Agent)
            };
            loop {
                match socket.recv_from(&mut self.buf) {
                    Ok((n, source)) => {
                        self.sig
                            .handle_datagram(Instant::now(), side, source, &self.buf[..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
        }
        self.sig.handle_timeout(Instant::now());
        self.flush();
        Ok(())
    }

    fn flush(&mut self) {
        while let Some(t) = self.sig.poll_transmit() {
            let socket = match t.from {
                Side::Caller => &self.caller,
                Side::Agent => &self.agent,
            };
            // A lost send is recovered by the retransmission timers, like a lost datagram.
            let _ = socket.send_to(&t.bytes, t.to);
        }
    }
}

/// Makes the run's Call-IDs unique against earlier runs on the same switch.
fn run_id() -> u64 {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_unix.as_micros()).unwrap_or(0) ^ u64::from(std::process::id())
}

/// A run in progress.
struct Run<'a> {
    config: &'a RunConfig,
    sip: Option<SipDriver>,
    pacer: Sender<PacerCommand>,
    /// The generator's sockets, by stream index.
    addrs: Vec<SocketAddr>,
    /// The relay's sockets, by stream index (baseline only).
    relay_addrs: Vec<SocketAddr>,
    outcomes: Vec<Outcome>,
    ended: Vec<bool>,
}

impl Run<'_> {
    fn pending(&self) -> bool {
        self.outcomes.contains(&Outcome::Pending)
    }

    fn all_ended(&self) -> bool {
        self.outcomes
            .iter()
            .zip(&self.ended)
            .all(|(o, e)| *e || *o != Outcome::Up)
    }

    /// Both streams of `call` start: the caller's to `caller_to`, the agent's to `agent_to`.
    fn start_media(
        &mut self,
        call: CallIndex,
        caller_to: SocketAddr,
        caller_pt: u8,
        agent_to: SocketAddr,
        agent_pt: u8,
    ) {
        let sides = [
            (Side::Caller, caller_to, self.config.caller_codec, caller_pt),
            (Side::Agent, agent_to, self.config.agent_codec, agent_pt),
        ];
        for (side, to, codec, pt) in sides {
            if let Some(stream) = StreamId::of(call, side) {
                let _ = self.pacer.send(PacerCommand::Start {
                    stream,
                    to,
                    codec,
                    pt,
                });
            }
        }
        self.outcomes[call.0 as usize] = Outcome::Up;
    }

    /// Call `i` of the ramp is due: INVITE it, or start its media straight away.
    fn begin(&mut self, now: Instant, i: usize) {
        let call = CallIndex(u32::try_from(i).unwrap_or(u32::MAX));
        let (caller_to, agent_to) = match (&self.config.target, &mut self.sip) {
            (_, Some(sip)) => {
                sip.sig.start_call(now, call);
                return;
            }
            (Target::Baseline, None) => (self.relay_addrs[2 * i], self.relay_addrs[2 * i + 1]),
            _ => (self.addrs[2 * i + 1], self.addrs[2 * i]),
        };
        let (caller_pt, agent_pt) = (
            self.config.caller_codec.default_payload_type(),
            self.config.agent_codec.default_payload_type(),
        );
        self.start_media(call, caller_to, caller_pt, agent_to, agent_pt);
    }

    /// Call `i` of the hang-up ramp is due.
    fn end(&mut self, now: Instant, i: usize) {
        match &mut self.sip {
            Some(sip) => sip
                .sig
                .hangup(now, CallIndex(u32::try_from(i).unwrap_or(u32::MAX))),
            None => self.ended[i] = true,
        }
    }

    fn on_event(&mut self, event: SigEvent) {
        match event {
            SigEvent::Established {
                call,
                caller_to,
                caller_pt,
                agent_to,
                agent_pt,
            } => self.start_media(call, caller_to, caller_pt, agent_to, agent_pt),
            SigEvent::Failed { call, reason } => {
                self.outcomes[call.0 as usize] = Outcome::Failed(reason);
            }
            SigEvent::RemoteHangup { call, .. } => {
                if self.outcomes[call.0 as usize] == Outcome::Up {
                    self.outcomes[call.0 as usize] = Outcome::HungUpBySwitch;
                }
            }
            SigEvent::Ended { call } => self.ended[call.0 as usize] = true,
        }
    }

    /// When call `k` of `ramp` is due.
    fn due(&self, ramp: &Ramp<'_>, k: usize) -> Instant {
        let spacing = Duration::from_secs(1) / self.config.ramp;
        ramp.from + spacing * u32::try_from(k).unwrap_or(u32::MAX)
    }

    /// Runs SIP (if any) and `ramp` (at the configured calls per second), until `deadline`, or
    /// until the ramp is done and `done` holds.
    fn pump(
        &mut self,
        deadline: Instant,
        ramp: Option<Ramp<'_>>,
        done: fn(&Self) -> bool,
    ) -> io::Result<()> {
        let mut next = 0;
        loop {
            let now = Instant::now();
            if let Some(ramp) = &ramp {
                while next < ramp.calls.len() && self.due(ramp, next) <= now {
                    match ramp.action {
                        RampAction::Begin => self.begin(now, ramp.calls[next]),
                        RampAction::End => self.end(now, ramp.calls[next]),
                    }
                    next += 1;
                }
            }
            let ramp_due = ramp
                .as_ref()
                .filter(|r| next < r.calls.len())
                .map(|r| self.due(r, next));
            if now >= deadline || (ramp_due.is_none() && done(self)) {
                return Ok(());
            }
            let wake = deadline.min(ramp_due.unwrap_or(now + Duration::from_millis(10)));
            match &mut self.sip {
                Some(sip) => {
                    sip.step(wake)?;
                    let events: Vec<SigEvent> =
                        std::iter::from_fn(|| sip.sig.poll_event()).collect();
                    for event in events {
                        self.on_event(event);
                    }
                }
                None => std::thread::sleep(wake.saturating_duration_since(Instant::now())),
            }
        }
    }
}

/// What a ramp does to each of its calls.
#[derive(Debug, Clone, Copy)]
enum RampAction {
    /// Set it up.
    Begin,
    /// Hang it up.
    End,
}

/// Calls acted on one after the other at the ramp rate, starting at `from`.
#[derive(Debug, Clone, Copy)]
struct Ramp<'r> {
    calls: &'r [usize],
    from: Instant,
    action: RampAction,
}

/// Samples `pid`, or `None` when there is none or it is gone.
fn sample(pid: Option<u32>) -> Option<ProcSample> {
    pid.and_then(|p| procstat::sample(Some(p), Instant::now()).ok())
}

/// Runs one configuration to the end and reports.
///
/// # Errors
/// Out-of-bounds settings, sockets that cannot be bound, a relay child that misbehaves.
pub fn run(config: &RunConfig) -> anyhow::Result<RunReport> {
    config.validate()?;
    let ticks = procstat::ticks_per_second();
    let epoch = Instant::now();
    let poll = Poll::new()?;
    let (sockets, addrs) = media::bind_streams(LOOPBACK, 2 * config.calls, &poll)
        .context("binding the RTP sockets (ulimit -n?)")?;
    let sockets: Arc<[UdpSocket]> = sockets.into();
    let needs_opus = config.agent_codec == Codec::Opus;
    let payloads = Arc::new(Payloads::build(needs_opus).map_err(anyhow::Error::msg)?);
    let stop = Arc::new(AtomicBool::new(false));
    let receiver = media::spawn_receiver(poll, sockets.clone(), epoch, stop.clone());
    let (pacer_tx, pacer_rx) = mpsc::channel();
    let pacer = media::spawn_pacer(sockets, epoch, payloads, pacer_rx);

    let mut relay = None;
    let mut sip = None;
    let pid = match &config.target {
        Target::Baseline => {
            let mut child = RelayChild::spawn(&config.exe, config.calls)?;
            child.start(&addrs)?;
            let pid = child.pid();
            relay = Some(child);
            Some(pid)
        }
        Target::Switch { sip: switch, pid } => {
            let media: Vec<CallMedia> = addrs
                .chunks(2)
                .map(|pair| CallMedia {
                    caller: pair[0],
                    agent: pair[1],
                })
                .collect();
            sip = Some(SipDriver::new(config, *switch, &media)?);
            *pid
        }
        Target::Direct => None,
    };
    let mut run = Run {
        config,
        sip,
        pacer: pacer_tx,
        relay_addrs: relay.as_ref().map(|r| r.addrs.clone()).unwrap_or_default(),
        addrs,
        outcomes: vec![Outcome::Pending; config.calls],
        ended: vec![false; config.calls],
    };

    let idle = sample(pid);
    let all: Vec<usize> = (0..config.calls).collect();
    let ramp_time =
        Duration::from_secs(1) * u32::try_from(config.calls).unwrap_or(u32::MAX) / config.ramp;
    let start = Instant::now();
    // Timer B (32 s) bounds how long the last call can take to fail.
    run.pump(
        start + ramp_time + Duration::from_secs(40),
        Some(Ramp {
            calls: &all,
            from: start,
            action: RampAction::Begin,
        }),
        |r| !r.pending(),
    )?;

    let steady_start = Instant::now();
    let (proc_start, self_start) = (sample(pid), sample(Some(std::process::id())));
    run.pump(steady_start + config.duration, None, |_| false)?;
    let (proc_end, self_end) = (sample(pid), sample(Some(std::process::id())));
    let steady_s = steady_start.elapsed().as_secs_f64();

    let _ = run.pacer.send(PacerCommand::Stop);
    let sent = pacer
        .join()
        .map_err(|_| anyhow::anyhow!("pacer thread panicked"))?;
    run.pump(Instant::now() + config.drain, None, |_| false)?;
    stop.store(true, Ordering::Relaxed);
    let received = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver thread panicked"))??;

    let up: Vec<usize> = (0..config.calls)
        .filter(|&i| run.outcomes[i] == Outcome::Up)
        .collect();
    let hangup_start = Instant::now();
    let hangup_time = ramp_time + Duration::from_secs(35); // Timer F bounds the last BYE
    run.pump(
        hangup_start + hangup_time,
        Some(Ramp {
            calls: &up,
            from: hangup_start,
            action: RampAction::End,
        }),
        Run::all_ended,
    )?;
    let after = sample(pid);
    let relay_stats = relay.map(RelayChild::stop).transpose()?;

    let process = match (pid, idle, proc_start, proc_end) {
        (Some(pid), Some(idle), Some(a), Some(b)) => Some(ProcFigures {
            pid,
            cpu_pct: procstat::cpu_percent(&a, &b, ticks),
            rss_idle_kib: idle.rss_kib,
            rss_up_kib: b.rss_kib,
            rss_after_kib: after.map(|s| s.rss_kib),
        }),
        _ => None,
    };
    let generator = generator_figures(&sent, &received, self_start, self_end, ticks);
    Ok(RunReport {
        mode: config.target.mode(),
        target: match &config.target {
            Target::Switch { sip, .. } => format!("switch at {sip}"),
            Target::Baseline => "raw UDP relay (child process)".to_owned(),
            Target::Direct => "direct, socket to socket".to_owned(),
        },
        caller_codec: config.caller_codec.name(),
        agent_codec: config.agent_codec.name(),
        calls: config.calls,
        established: run
            .outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Up | Outcome::HungUpBySwitch))
            .count(),
        failures: failures(&run.outcomes),
        remote_hangups: run
            .outcomes
            .iter()
            .filter(|o| **o == Outcome::HungUpBySwitch)
            .count(),
        steady_s,
        directions: directions(&sent, &received),
        process,
        generator,
        signalling: run.sip.as_ref().map(|s| s.sig.counters()),
        relay: relay_stats,
    })
}

fn generator_figures(
    sent: &PacerReport,
    received: &ReceiverReport,
    start: Option<ProcSample>,
    end: Option<ProcSample>,
    ticks: u64,
) -> GeneratorFigures {
    let ms = |ns: Option<u64>| ns.map_or(0.0, |n| n as f64 / 1e6);
    GeneratorFigures {
        cpu_pct: match (start, end) {
            (Some(a), Some(b)) => procstat::cpu_percent(&a, &b, ticks),
            _ => 0.0,
        },
        lag_p99_ms: ms(sent.lag.quantile_ns(0.99)),
        lag_max_ms: ms(sent.lag.max_ns()),
        send_errors: sent.send_errors,
        recv_errors: received.recv_errors,
    }
}

/// Caller → agent is measured at the agent sockets (odd streams), agent → caller at the caller
/// sockets (even streams).
fn directions(sent: &PacerReport, received: &ReceiverReport) -> Vec<DirectionReport> {
    let side = |parity: usize| -> (u64, Vec<&RxStream>) {
        let sent = sent.sent.iter().skip(parity).step_by(2).sum();
        let receivers = received
            .streams
            .iter()
            .skip(1 - parity)
            .step_by(2)
            .collect();
        (sent, receivers)
    };
    let (to_agent_sent, at_agents) = side(0);
    let (to_caller_sent, at_callers) = side(1);
    vec![
        DirectionReport::new(
            "caller->agent",
            to_agent_sent,
            &at_agents,
            &received.to_agent,
        ),
        DirectionReport::new(
            "agent->caller",
            to_caller_sent,
            &at_callers,
            &received.to_caller,
        ),
    ]
}

fn failures(outcomes: &[Outcome]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for o in outcomes {
        let reason = match o {
            Outcome::Up | Outcome::HungUpBySwitch => continue,
            Outcome::Pending => "still setting up at the deadline".to_owned(),
            Outcome::Failed(FailReason::Rejected(code)) => format!("rejected with {code}"),
            Outcome::Failed(FailReason::Timeout) => "no final response (Timer B)".to_owned(),
            Outcome::Failed(FailReason::NoAgentLeg) => {
                "answered, but the agent side never got an INVITE".to_owned()
            }
            Outcome::Failed(FailReason::BadSdp) => "answer SDP unusable".to_owned(),
        };
        match out.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => out.push((reason, 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(target: Target, calls: usize) -> RunConfig {
        RunConfig {
            target,
            calls,
            duration: Duration::from_millis(300),
            ramp: 200,
            caller_codec: Codec::Pcma,
            agent_codec: Codec::Pcma,
            agent_port: 0,
            extension: "1002".into(),
            drain: Duration::from_millis(200),
            exe: PathBuf::new(),
        }
    }

    #[test]
    fn bounds_are_refused_with_the_flag_named() {
        let err = |c: RunConfig| c.validate().unwrap_err().to_string();
        assert!(err(config(Target::Direct, 5_001)).starts_with("--calls 5001"));
        assert!(err(config(Target::Direct, 0)).starts_with("--calls 0"));
        let mut long = config(Target::Direct, 1);
        long.duration = Duration::from_secs(301);
        assert!(err(long).starts_with("--duration"));
        let mut fast = config(Target::Direct, 1);
        fast.ramp = 0;
        assert!(err(fast).starts_with("--ramp 0"));
        let mut opus = config(Target::Direct, 1);
        opus.caller_codec = Codec::Opus;
        assert!(err(opus).starts_with("--caller-codec"));
        assert!(config(Target::Direct, 5_000).validate().is_ok());
    }

    #[test]
    fn a_short_direct_run_loses_nothing() {
        // Two calls socket to socket for 0.3 s: the whole run machinery, no peer needed.
        let report = run(&config(Target::Direct, 2)).unwrap();
        assert_eq!((report.calls, report.established), (2, 2));
        assert!(report.failures.is_empty());
        for d in &report.directions {
            assert!(d.sent >= 2 * 10, "{}: {} sent", d.name, d.sent);
            assert_eq!(d.lost, 0, "{}", d.name);
            assert!(d.stamped);
            assert!(d.latency.is_some());
        }
        assert_eq!(report.generator.send_errors, 0);
        assert!(report.process.is_none(), "no pid in direct mode");
    }

    #[test]
    fn failures_are_grouped_by_reason() {
        let outcomes = [
            Outcome::Up,
            Outcome::Failed(FailReason::Rejected(503)),
            Outcome::Pending,
            Outcome::Failed(FailReason::Rejected(503)),
            Outcome::HungUpBySwitch,
        ];
        assert_eq!(
            failures(&outcomes),
            vec![
                ("rejected with 503".to_owned(), 2),
                ("still setting up at the deadline".to_owned(), 1)
            ]
        );
    }
}
