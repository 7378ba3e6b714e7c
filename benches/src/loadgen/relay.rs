//! The baseline: a raw, single-threaded UDP relay, the least any media relay can cost.
//!
//! For each call it holds two sockets, one facing the caller and one facing the agent; a packet
//! arriving on one leaves through the other, to the address learnt from the first packet that
//! arrived there (symmetric latching, RFC 4961 style), or until then the address the generator
//! announced (as an SDP would). One `mio` poll, `recv_from` + `send_to`, one buffer, nothing
//! else: no parsing, no allocation, no lock per packet. Comparing the switch to it in the same
//! run, on the same machine, with the same generator, leaves our B2BUA and media engine as the
//! only difference.
//!
//! It runs as a child process of the generator (`loadgen relay --calls N`), so its CPU time and
//! memory are read from `/proc` exactly as the switch's are. The control protocol is three lines
//! of text on the child's stdin/stdout:
//! 1. the relay prints `PORTS p0 p1 …` (socket `2i` faces call `i`'s caller, `2i+1` its agent);
//! 2. the generator writes `PEERS a0 a1 …` (its own socket facing each relay socket), the relay
//!    answers `READY` and relays;
//! 3. the generator closes stdin; the relay prints `STATS relayed=… no_peer=… send_errors=…`
//!    and exits.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use crate::loadgen::packet::MAX_PACKET;

/// What the relay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Packets forwarded.
    pub relayed: u64,
    /// Packets dropped because the other side's address was not known yet.
    pub no_peer: u64,
    /// `send_to` failures.
    pub send_errors: u64,
}

impl RelayStats {
    /// Parses the `STATS …` line.
    #[must_use]
    pub fn parse(line: &str) -> Option<RelayStats> {
        let mut stats = RelayStats::default();
        for field in line.strip_prefix("STATS ")?.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            let value: u64 = value.parse().ok()?;
            match key {
                "relayed" => stats.relayed = value,
                "no_peer" => stats.no_peer = value,
                "send_errors" => stats.send_errors = value,
                _ => {}
            }
        }
        Some(stats)
    }

    /// The `STATS …` line.
    #[must_use]
    pub fn line(&self) -> String {
        format!(
            "STATS relayed={} no_peer={} send_errors={}",
            self.relayed, self.no_peer, self.send_errors
        )
    }
}

/// The relay's sockets and what each has latched.
#[derive(Debug)]
pub struct Relay {
    sockets: Vec<UdpSocket>,
    /// Where packets leaving socket `k` go.
    peers: Vec<Option<SocketAddr>>,
    /// Whether `peers[k]` was learnt from a packet (latched) rather than announced.
    latched: Vec<bool>,
}

impl Relay {
    /// Binds two sockets per call on `ip`, ephemeral ports.
    ///
    /// # Errors
    /// When a socket cannot be bound.
    pub fn bind(ip: IpAddr, calls: usize) -> io::Result<Relay> {
        let sockets = (0..2 * calls)
            .map(|_| UdpSocket::bind(SocketAddr::new(ip, 0)))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Relay {
            peers: vec![None; sockets.len()],
            latched: vec![false; sockets.len()],
            sockets,
        })
    }

    /// The relay's socket addresses, in order.
    ///
    /// # Errors
    /// When the OS cannot say.
    pub fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.sockets.iter().map(UdpSocket::local_addr).collect()
    }

    /// Announces where packets leaving socket `k` go until a packet arriving on `k` says
    /// otherwise.
    pub fn announce(&mut self, k: usize, peer: SocketAddr) {
        if let Some(p) = self.peers.get_mut(k) {
            *p = Some(peer);
        }
    }

    /// Relays until `stop` is set (checked at least every 50 ms).
    ///
    /// # Errors
    /// When polling fails.
    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<RelayStats> {
        let mut poll = Poll::new()?;
        for (k, socket) in self.sockets.iter_mut().enumerate() {
            poll.registry()
                .register(socket, Token(k), Interest::READABLE)?;
        }
        let mut events = Events::with_capacity(1024);
        let mut buf = [0_u8; MAX_PACKET];
        let mut stats = RelayStats::default();
        while !stop.load(Ordering::Relaxed) {
            match poll.poll(&mut events, Some(Duration::from_millis(50))) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in &events {
                self.drain(event.token().0, &mut buf, &mut stats);
            }
        }
        Ok(stats)
    }

    /// Forwards everything queued on socket `k` through its partner `k ^ 1`.
    fn drain(&mut self, k: usize, buf: &mut [u8; MAX_PACKET], stats: &mut RelayStats) {
        let other = k ^ 1;
        if k >= self.sockets.len() || other >= self.sockets.len() {
            return;
        }
        loop {
            let (n, source) = match self.sockets[k].recv_from(buf) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return,
            };
            if !self.latched[k] {
                self.latched[k] = true;
                self.peers[k] = Some(source);
            }
            let Some(to) = self.peers[other] else {
                stats.no_peer += 1;
                continue;
            };
            match self.sockets[other].send_to(&buf[..n], to) {
                Ok(_) => stats.relayed += 1,
                Err(_) => stats.send_errors += 1,
            }
        }
    }
}

/// `loadgen relay --calls N`: the child side of the protocol in the module docs.
///
/// # Errors
/// When the sockets cannot be bound, or the generator speaks out of protocol.
pub fn child_main(calls: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=crate::loadgen::run::MAX_CALLS).contains(&calls),
        "--calls {calls}: use 1 to {}",
        crate::loadgen::run::MAX_CALLS
    );
    let mut relay = Relay::bind(IpAddr::from([127, 0, 0, 1]), calls)?;
    let ports: Vec<String> = relay
        .local_addrs()?
        .iter()
        .map(|a| a.port().to_string())
        .collect();
    let mut out = io::stdout().lock();
    writeln!(out, "PORTS {}", ports.join(" "))?;
    out.flush()?;
    let mut stdin = BufReader::new(io::stdin());
    let mut line = String::new();
    stdin.read_line(&mut line)?;
    let peers = line
        .strip_prefix("PEERS ")
        .ok_or_else(|| anyhow::anyhow!("expected PEERS, got {line:?}"))?;
    for (k, peer) in peers.split_whitespace().enumerate() {
        relay.announce(k, peer.parse()?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // Anything else the generator writes is ignored; EOF (stdin closed) means stop.
            let mut rest = String::new();
            while matches!(stdin.read_line(&mut rest), Ok(n) if n > 0) {
                rest.clear();
            }
            stop.store(true, Ordering::Relaxed);
        })
    };
    writeln!(out, "READY")?;
    out.flush()?;
    let stats = relay.run(&stop)?;
    let _ = watcher.join();
    writeln!(out, "{}", stats.line())?;
    out.flush()?;
    Ok(())
}

/// The generator's handle on a relay child.
#[derive(Debug)]
pub struct RelayChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The relay's socket addresses, in order.
    pub addrs: Vec<SocketAddr>,
}

impl RelayChild {
    /// Starts `exe relay --calls N` and reads its ports.
    ///
    /// # Errors
    /// When the child cannot start or does not print its ports.
    pub fn spawn(exe: &Path, calls: usize) -> anyhow::Result<RelayChild> {
        let mut child = Command::new(exe)
            .args(["relay", "--calls", &calls.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("relay child has no stdout"))?;
        let mut relay = RelayChild {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            addrs: Vec::new(),
        };
        let line = relay.read_line()?;
        let ports = line
            .strip_prefix("PORTS ")
            .ok_or_else(|| anyhow::anyhow!("relay said {line:?}, expected PORTS"))?;
        relay.addrs = ports
            .split_whitespace()
            .map(|p| Ok(SocketAddr::from(([127, 0, 0, 1], p.parse::<u16>()?))))
            .collect::<anyhow::Result<_>>()?;
        anyhow::ensure!(
            relay.addrs.len() == 2 * calls,
            "relay bound {} sockets",
            relay.addrs.len()
        );
        Ok(relay)
    }

    /// The child's process id, for `/proc` sampling.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Announces the generator's socket facing each relay socket and waits for `READY`.
    ///
    /// # Errors
    /// When the child is gone or answers otherwise.
    pub fn start(&mut self, peers: &[SocketAddr]) -> anyhow::Result<()> {
        let list: Vec<String> = peers.iter().map(ToString::to_string).collect();
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("relay stdin closed"))?;
        writeln!(stdin, "PEERS {}", list.join(" "))?;
        stdin.flush()?;
        let line = self.read_line()?;
        anyhow::ensure!(line == "READY", "relay said {line:?}, expected READY");
        Ok(())
    }

    /// Stops the relay (closes its stdin) and returns its counters.
    ///
    /// # Errors
    /// When the child does not report.
    pub fn stop(mut self) -> anyhow::Result<RelayStats> {
        drop(self.stdin.take());
        let line = self.read_line()?;
        let _ = self.child.wait();
        RelayStats::parse(&line).ok_or_else(|| anyhow::anyhow!("relay said {line:?}"))
    }

    fn read_line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line)?;
        anyhow::ensure!(n > 0, "relay child exited");
        Ok(line.trim_end().to_owned())
    }
}

impl Drop for RelayChild {
    fn drop(&mut self) {
        // Normally reaped by `stop`; on an error path, do not leave the child running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn std_socket() -> std::net::UdpSocket {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap(); // a bound, not a wait
        s
    }

    #[test]
    fn relays_both_ways_and_latches_the_sender() {
        let mut relay = Relay::bind(IpAddr::from([127, 0, 0, 1]), 1).unwrap();
        let addrs = relay.local_addrs().unwrap();
        let caller = std_socket();
        let agent = std_socket();
        // Announced: the caller at a port nobody uses; the caller's first packet corrects it.
        relay.announce(0, "127.0.0.1:9".parse().unwrap());
        relay.announce(1, agent.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let running = {
            let stop = stop.clone();
            std::thread::spawn(move || relay.run(&stop))
        };
        let mut buf = [0_u8; 64];
        for i in 0..3_u8 {
            caller.send_to(&[i; 20], addrs[0]).unwrap();
            let (n, from) = agent.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&[i; 20][..], addrs[1]));
        }
        agent.send_to(b"back", addrs[1]).unwrap();
        let (n, from) = caller.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"back"[..], addrs[0]),
            "latched, not announced"
        );
        stop.store(true, Ordering::Relaxed);
        let stats = running.join().unwrap().unwrap();
        assert_eq!(
            stats,
            RelayStats {
                relayed: 4,
                no_peer: 0,
                send_errors: 0
            }
        );
    }

    #[test]
    fn without_an_address_the_packet_is_counted_and_dropped() {
        let mut relay = Relay::bind(IpAddr::from([127, 0, 0, 1]), 2).unwrap();
        let addrs = relay.local_addrs().unwrap();
        assert_eq!(addrs.len(), 4);
        let caller = std_socket();
        caller.send_to(b"x", addrs[2]).unwrap(); // call 1's caller side; its agent is unknown
        let stop = AtomicBool::new(false);
        let mut buf = [0_u8; MAX_PACKET];
        let mut stats = RelayStats::default();
        relay.drain(2, &mut buf, &mut stats);
        assert_eq!(
            stats,
            RelayStats {
                relayed: 0,
                no_peer: 1,
                send_errors: 0
            }
        );
        stop.store(true, Ordering::Relaxed);
        assert_eq!(relay.run(&stop).unwrap(), RelayStats::default());
    }

    #[test]
    fn stats_line_round_trips() {
        let stats = RelayStats {
            relayed: 12,
            no_peer: 3,
            send_errors: 1,
        };
        assert_eq!(stats.line(), "STATS relayed=12 no_peer=3 send_errors=1");
        assert_eq!(RelayStats::parse(&stats.line()), Some(stats));
        assert_eq!(RelayStats::parse("STATS relayed=x"), None);
        assert_eq!(RelayStats::parse("READY"), None);
    }
}
