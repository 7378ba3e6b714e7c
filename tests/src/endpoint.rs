//! A phone's media, played by the test process: an RTP socket that listens, decodes and talks.
//!
//! SIPp signals for the agent's phone, but its SDP names an [`RtpEndpoint`]'s port, so the audio
//! the switch sends the agent arrives *here*, where the test can decode and analyse it, and the
//! agent's own voice (a tone) leaves from here.
//!
//! * **Receiving**: every datagram is kept with its arrival time and source; RTP is parsed
//!   ([`crate::rtp`]), PCMA/PCMU payloads decode to 16-bit samples with
//!   `switchboard_media::g711`, RFC 4733 events are grouped into key presses.
//! * **Sending**: a scripted [`RtpStream`] paced by its own offsets (20 ms apart), to the
//!   address the first packet came from (symmetric RTP, as phones behind NAT are treated), or to
//!   an address the test names with [`Running::send_to`] (the SDP address, for a leg that hears
//!   nothing first). Nothing is sent before a target is known.
//! * **Bounded**: the background thread stops after `run_for`, at [`Running::stop`], or on drop,
//!   whichever comes first; waits for an event ([`Running::wait_for`]) take a timeout.
//!
//! ```no_run
//! use std::time::Duration;
//! use switchboard_tests::endpoint::{Plan, RtpEndpoint};
//! use switchboard_tests::rtp::RtpStream;
//! use switchboard_tests::signal::Dbm0;
//!
//! let phone = RtpEndpoint::bind().unwrap();
//! let port = phone.port(); // goes into the SDP of the agent's 200 OK
//! let running = phone.start(Plan::reply(RtpStream::pcma_tone(600.0, 10.0, Dbm0(-10.0)),
//!                                       Duration::from_secs(15)));
//! let heard = running.wait_for(Duration::from_secs(5), |r| r.audio_packets() >= 50);
//! let received = running.stop();
//! ```

use std::collections::BTreeSet;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use switchboard_media::g711::{alaw, ulaw};

use crate::rtp::{PCMA, PCMU, RATE_HZ, RtpPacket, RtpStream, TELEPHONE_EVENT, TelephoneEvent};
use crate::signal::{dominant_frequency, rms};

/// The longest the receive loop blocks, so `stop` is noticed promptly.
const POLL: Duration = Duration::from_millis(5);

/// A bound UDP socket on 127.0.0.1 that will act as a phone's media.
#[derive(Debug)]
pub struct RtpEndpoint {
    socket: UdpSocket,
}

/// What the phone does once started.
#[derive(Debug, Clone)]
pub struct Plan {
    /// What it says, if anything.
    pub send: Option<RtpStream>,
    /// Where to send before [`Running::send_to`] names a target: `true` for the source of the
    /// first packet received (symmetric RTP); `false` to wait for an explicit target.
    pub symmetric: bool,
    /// The longest the phone runs.
    pub run_for: Duration,
}

impl Plan {
    /// Only listen, for at most `run_for`.
    #[must_use]
    pub fn listen(run_for: Duration) -> Plan {
        Plan {
            send: None,
            symmetric: false,
            run_for,
        }
    }

    /// Listen, and answer with `stream` to whoever sends first (symmetric RTP).
    #[must_use]
    pub fn reply(stream: RtpStream, run_for: Duration) -> Plan {
        Plan {
            send: Some(stream),
            symmetric: true,
            run_for,
        }
    }

    /// Listen, and send `stream` once [`Running::send_to`] names the target.
    #[must_use]
    pub fn send_when_told(stream: RtpStream, run_for: Duration) -> Plan {
        Plan {
            send: Some(stream),
            symmetric: false,
            run_for,
        }
    }
}

impl RtpEndpoint {
    /// Binds 127.0.0.1 on a free port.
    ///
    /// # Errors
    /// When no socket can be bound.
    pub fn bind() -> io::Result<RtpEndpoint> {
        RtpEndpoint::bind_on(std::net::IpAddr::from([127, 0, 0, 1]))
    }

    /// Binds `ip` (another loopback address, 127.0.0.2, plays a third host) on a free port.
    ///
    /// # Errors
    /// When no socket can be bound.
    pub fn bind_on(ip: std::net::IpAddr) -> io::Result<RtpEndpoint> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
        socket.set_read_timeout(Some(POLL))?;
        Ok(RtpEndpoint { socket })
    }

    /// Its address.
    ///
    /// # Errors
    /// When the socket has none (never, once bound).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Its port (0 if the socket could not tell, which a bound socket always can).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.socket.local_addr().map_or(0, |a| a.port())
    }

    /// Runs `plan` on a background thread.
    #[must_use]
    pub fn start(self, plan: Plan) -> Running {
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
            std::thread::spawn(move || run(&self.socket, &plan, &shared, &stop))
        };
        Running {
            shared,
            stop,
            thread: Some(thread),
        }
    }
}

/// State shared between the endpoint's thread and the test.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    received: Received,
    /// Explicit target set by the test; wins over the symmetric one.
    target: Option<SocketAddr>,
    /// Packets sent so far.
    sent: usize,
    /// The last send error, if sending failed.
    send_error: Option<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in the endpoint thread must not hide what it had received.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The endpoint's thread: receive until told to stop or `run_for` is over, sending on time.
fn run(socket: &UdpSocket, plan: &Plan, shared: &Shared, stop: &AtomicBool) {
    let deadline = Instant::now() + plan.run_for;
    let packets = plan.send.as_ref().map_or(&[][..], RtpStream::packets);
    let mut next = 0;
    let mut started: Option<Instant> = None;
    let mut symmetric: Option<SocketAddr> = None;
    let mut buf = vec![0u8; 2048];
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let at = Instant::now();
                if plan.symmetric && symmetric.is_none() {
                    symmetric = Some(from);
                }
                let mut state = shared.lock();
                state.received.push(at, from, &buf[..n]);
                drop(state);
                shared.changed.notify_all();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                // An ICMP port unreachable for an earlier send: the peer is not there yet.
            }
            Err(e) => {
                shared.lock().send_error = Some(format!("receive failed: {e}"));
                break;
            }
        }
        let target = shared.lock().target.or(symmetric);
        let Some(target) = target else { continue };
        // Pace from the moment a target is known; a later `send_to` changes only the address.
        let start = *started.get_or_insert_with(Instant::now);
        let now = Instant::now();
        while next < packets.len() && start + packets[next].at <= now {
            // Held across the send, so `sent()` never lags a packet the peer already has.
            let mut state = shared.lock();
            match socket.send_to(&packets[next].bytes, target) {
                Ok(_) => state.sent += 1,
                Err(e) => state.send_error = Some(format!("send to {target} failed: {e}")),
            }
            next += 1;
        }
    }
    shared.changed.notify_all();
}

/// A started endpoint. Dropping it stops the thread.
#[derive(Debug)]
pub struct Running {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Sends to `target` from now on (instead of the symmetric address, if any).
    pub fn send_to(&self, target: SocketAddr) {
        self.shared.lock().target = Some(target);
    }

    /// A copy of what was received so far.
    #[must_use]
    pub fn snapshot(&self) -> Received {
        self.shared.lock().received.clone()
    }

    /// How many packets were sent so far, and the last send error if any.
    #[must_use]
    pub fn sent(&self) -> (usize, Option<String>) {
        let state = self.shared.lock();
        (state.sent, state.send_error.clone())
    }

    /// Waits until `done` holds for what was received, at most `timeout`; whether it held.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&Received) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if done(&state.received) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || self.thread.as_ref().is_none_or(JoinHandle::is_finished) {
                return done(&state.received);
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, (deadline - now).min(Duration::from_millis(50)))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Stops the thread and returns everything received.
    #[must_use]
    pub fn stop(mut self) -> Received {
        self.halt();
        std::mem::take(&mut self.shared.lock().received)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.halt();
    }
}

/// One datagram received, parsed if it was RTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPacket {
    /// When it arrived.
    pub at: Instant,
    /// Where it came from.
    pub from: SocketAddr,
    /// The RTP packet.
    pub rtp: RtpPacket,
}

/// One key press seen as RFC 4733 events: all packets with one SSRC, timestamp and event code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPress {
    /// The digit (`None` for a non-DTMF event code).
    pub digit: Option<char>,
    /// The event code.
    pub event: u8,
    /// The SSRC of its stream.
    pub ssrc: u32,
    /// Its timestamp (the event's start, RFC 4733 §2.5.1).
    pub timestamp: u32,
    /// Whether a packet with the E bit arrived.
    pub ended: bool,
    /// The longest duration announced, in timestamp units.
    pub duration: u16,
    /// How many of its packets arrived.
    pub packets: usize,
}

/// Everything an endpoint received, in arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    packets: Vec<ReceivedPacket>,
    /// Datagrams that did not parse as RTP.
    not_rtp: usize,
}

impl Received {
    fn push(&mut self, at: Instant, from: SocketAddr, datagram: &[u8]) {
        match RtpPacket::parse(datagram) {
            Ok(rtp) => self.packets.push(ReceivedPacket { at, from, rtp }),
            Err(_) => self.not_rtp += 1,
        }
    }

    /// The RTP packets.
    #[must_use]
    pub fn packets(&self) -> &[ReceivedPacket] {
        &self.packets
    }

    /// How many datagrams were not RTP.
    #[must_use]
    pub fn not_rtp(&self) -> usize {
        self.not_rtp
    }

    /// How many PCMA/PCMU packets arrived.
    #[must_use]
    pub fn audio_packets(&self) -> usize {
        self.packets.iter().filter(|p| is_g711(&p.rtp)).count()
    }

    /// The source addresses packets came from.
    #[must_use]
    pub fn sources(&self) -> BTreeSet<SocketAddr> {
        self.packets.iter().map(|p| p.from).collect()
    }

    /// The SSRCs seen.
    #[must_use]
    pub fn ssrcs(&self) -> BTreeSet<u32> {
        self.packets.iter().map(|p| p.rtp.ssrc).collect()
    }

    /// All G.711 audio decoded to 16-bit samples, packet after packet in arrival order (what a
    /// phone without a jitter buffer would play; on loopback arrival order is sending order).
    #[must_use]
    pub fn audio(&self) -> Vec<i16> {
        decode(self.packets.iter())
    }

    /// The audio of the packets that arrived in `[from, to)`.
    #[must_use]
    pub fn audio_between(&self, from: Instant, to: Instant) -> Vec<i16> {
        decode(self.packets.iter().filter(|p| p.at >= from && p.at < to))
    }

    /// The audio cut into windows of `packets` consecutive audio packets (the last may be
    /// shorter), for following what was heard over time.
    #[must_use]
    pub fn audio_windows(&self, packets: usize) -> Vec<Vec<i16>> {
        let audio: Vec<&ReceivedPacket> = self.packets.iter().filter(|p| is_g711(&p.rtp)).collect();
        audio
            .chunks(packets.max(1))
            .map(|chunk| decode(chunk.iter().copied()))
            .collect()
    }

    /// What was heard over time: for each window of `packets` consecutive audio packets, its
    /// dominant frequency, or `None` where it is quieter than `silence_rms` (silence, comfort
    /// noise).
    #[must_use]
    pub fn dominant_over_time(&self, packets: usize, silence_rms: f64) -> Vec<Option<f64>> {
        self.audio_windows(packets)
            .iter()
            .map(|w| {
                if rms(w) < silence_rms {
                    None
                } else {
                    dominant_frequency(w, RATE_HZ)
                }
            })
            .collect()
    }

    /// [`Received::audio_windows`] with the arrival time of each window's first packet, to line
    /// what was heard up with what the test did meanwhile (a reload, a key press).
    #[must_use]
    pub fn audio_windows_at(&self, packets: usize) -> Vec<(Instant, Vec<i16>)> {
        let audio: Vec<&ReceivedPacket> = self.packets.iter().filter(|p| is_g711(&p.rtp)).collect();
        audio
            .chunks(packets.max(1))
            .map(|chunk| (chunk[0].at, decode(chunk.iter().copied())))
            .collect()
    }

    /// The longest time between two consecutive audio packets that arrived in `[from, to)`
    /// (zero with fewer than two): a stream that stopped, even for a moment, shows here.
    #[must_use]
    pub fn longest_gap(&self, from: Instant, to: Instant) -> Duration {
        let times: Vec<Instant> = self
            .packets
            .iter()
            .filter(|p| is_g711(&p.rtp) && p.at >= from && p.at < to)
            .map(|p| p.at)
            .collect();
        times
            .windows(2)
            .map(|w| w[1].saturating_duration_since(w[0]))
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// The key presses, in the order their first packet arrived.
    #[must_use]
    pub fn key_presses(&self) -> Vec<KeyPress> {
        let mut presses: Vec<KeyPress> = Vec::new();
        for p in self
            .packets
            .iter()
            .filter(|p| p.rtp.payload_type == TELEPHONE_EVENT)
        {
            let Ok(ev) = TelephoneEvent::parse(&p.rtp.payload) else {
                continue;
            };
            let same = |k: &&mut KeyPress| {
                k.ssrc == p.rtp.ssrc && k.timestamp == p.rtp.timestamp && k.event == ev.event
            };
            if let Some(k) = presses.iter_mut().find(same) {
                k.ended |= ev.end;
                k.duration = k.duration.max(ev.duration);
                k.packets += 1;
            } else {
                presses.push(KeyPress {
                    digit: ev.digit(),
                    event: ev.event,
                    ssrc: p.rtp.ssrc,
                    timestamp: p.rtp.timestamp,
                    ended: ev.end,
                    duration: ev.duration,
                    packets: 1,
                });
            }
        }
        presses
    }

    /// The digits of the key presses, in order.
    #[must_use]
    pub fn digits(&self) -> String {
        self.key_presses().iter().filter_map(|k| k.digit).collect()
    }
}

fn is_g711(rtp: &RtpPacket) -> bool {
    rtp.payload_type == PCMA || rtp.payload_type == PCMU
}

fn decode<'a>(packets: impl Iterator<Item = &'a ReceivedPacket>) -> Vec<i16> {
    let mut out = Vec::new();
    for p in packets {
        match p.rtp.payload_type {
            PCMA => out.extend(p.rtp.payload.iter().map(|&c| alaw::decode(c))),
            PCMU => out.extend(p.rtp.payload.iter().map(|&c| ulaw::decode(c))),
            _ => {}
        }
    }
    out
}

/// A stream sent from a socket of its own to a fixed address, on a background thread: the
/// third party of a hijack attempt, or a caller's media without SIPp.
#[derive(Debug)]
pub struct Sender {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<usize>>>,
    /// The address it sends from.
    pub from: SocketAddr,
}

impl Sender {
    /// Sends `stream` to `to`, one packet every `every` (its own 20 ms timing is ignored, so a
    /// flood can go faster than real time), from a new socket on 127.0.0.1.
    ///
    /// # Errors
    /// When no socket can be bound.
    pub fn spawn(to: SocketAddr, stream: RtpStream, every: Duration) -> io::Result<Sender> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let from = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut sent = 0;
            for (i, p) in stream.packets().iter().enumerate() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let due = start + every * u32::try_from(i).unwrap_or(u32::MAX);
                // Pacing, not waiting for an event: the sleep *is* the stream's timing.
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                match socket.send_to(&p.bytes, to) {
                    Ok(_) => sent += 1,
                    // Nobody listening (yet): ICMP refusals are part of a flood's life.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(sent)
        });
        Ok(Sender {
            stop,
            thread: Some(thread),
            from,
        })
    }

    /// Waits for the stream to be sent (its length bounds this) and returns how many packets
    /// left.
    ///
    /// # Errors
    /// When sending failed.
    pub fn finish(mut self) -> io::Result<usize> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("sender thread panicked")),
            None => Ok(0),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Dbm0;

    const WAIT: Duration = Duration::from_secs(5);

    #[test]
    fn a_phone_hears_tone_and_digits_and_answers_whoever_spoke_first() {
        let phone = RtpEndpoint::bind().unwrap();
        let phone_addr = phone.local_addr().unwrap();
        let answer = RtpStream::pcmu_tone(600.0, 0.4, Dbm0(-10.0)).with_ssrc(2);
        let phone = phone.start(Plan::reply(answer, WAIT));
        let caller = RtpEndpoint::bind().unwrap();
        let caller_addr = caller.local_addr().unwrap();
        let stream = RtpStream::pcma_tone(1000.0, 0.6, Dbm0(-10.0))
            .with_rfc4733_digits(
                "1#",
                Duration::from_millis(100),
                Duration::from_millis(200),
                Duration::from_millis(60),
            )
            .unwrap();
        let expected = stream.packets().len();
        let caller = caller.start(Plan::send_when_told(stream, WAIT));
        caller.send_to(phone_addr);
        assert!(phone.wait_for(WAIT, |r| r.packets().len() == expected));
        assert!(caller.wait_for(WAIT, |r| r.packets().len() == 20));
        let heard = phone.stop();
        assert_eq!(heard.sources(), BTreeSet::from([caller_addr]));
        assert_eq!(heard.digits(), "1#");
        // 60 ms: 3 updates (the last with E) and 2 more end packets each.
        assert!(
            heard
                .key_presses()
                .iter()
                .all(|k| k.ended && k.packets == 5)
        );
        assert_eq!(dominant_frequency(&heard.audio(), 8000), Some(1000.0));
        let answered = caller.stop();
        assert_eq!(answered.sources(), BTreeSet::from([phone_addr]));
        assert_eq!(answered.ssrcs(), BTreeSet::from([2]));
        assert_eq!(dominant_frequency(&answered.audio(), 8000), Some(600.0));
        assert_eq!(answered.audio().len(), 20 * 160);
    }

    #[test]
    fn without_a_target_nothing_is_sent_and_junk_is_counted_not_kept() {
        let listener = RtpEndpoint::bind().unwrap();
        let listener_addr = listener.local_addr().unwrap();
        let listener = listener.start(Plan::listen(WAIT));
        let talker = RtpEndpoint::bind().unwrap();
        let talker_addr = talker.local_addr().unwrap();
        let stream = RtpStream::pcma_tone(440.0, 0.1, Dbm0(-20.0));
        let talker = talker.start(Plan::send_when_told(stream, WAIT));
        // Junk reaches the talker first: no RTP, and not a target either (not symmetric).
        let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
        junk.send_to(b"hello", talker_addr).unwrap();
        assert!(talker.wait_for(WAIT, |r| r.not_rtp() == 1));
        assert_eq!(talker.sent(), (0, None));
        talker.send_to(listener_addr);
        assert!(listener.wait_for(WAIT, |r| r.audio_packets() == 5));
        assert_eq!(talker.sent(), (5, None));
        assert!(talker.snapshot().packets().is_empty());
    }

    #[test]
    fn a_sender_floods_faster_than_real_time() {
        let target = RtpEndpoint::bind().unwrap();
        let addr = target.local_addr().unwrap();
        let target = target.start(Plan::listen(WAIT));
        let flood = RtpStream::pcma_tone(2000.0, 1.0, Dbm0(-10.0)).with_ssrc(66);
        let start = Instant::now();
        let sender = Sender::spawn(addr, flood, Duration::from_millis(2)).unwrap();
        let from = sender.from;
        assert_eq!(sender.finish().unwrap(), 50);
        assert!(
            start.elapsed() < Duration::from_millis(900),
            "{:?}",
            start.elapsed()
        );
        assert!(target.wait_for(WAIT, |r| r.audio_packets() == 50));
        let heard = target.stop();
        assert_eq!(heard.sources(), BTreeSet::from([from]));
        assert_eq!(dominant_frequency(&heard.audio(), 8000), Some(2000.0));
    }

    fn received(packets: &[(u64, RtpPacket)]) -> Received {
        let base = Instant::now();
        let from = SocketAddr::from(([127, 0, 0, 1], 4000));
        let mut r = Received::default();
        for (ms, p) in packets {
            r.push(base + Duration::from_millis(*ms), from, &p.to_bytes());
        }
        r
    }

    fn event(ssrc: u32, ts: u32, code: u8, end: bool, duration: u16) -> RtpPacket {
        RtpPacket {
            payload_type: TELEPHONE_EVENT,
            marker: false,
            seq: 0,
            timestamp: ts,
            ssrc,
            payload: TelephoneEvent {
                event: code,
                end,
                volume: 10,
                duration,
            }
            .to_bytes()
            .to_vec(),
        }
    }

    #[test]
    fn key_presses_are_keyed_by_ssrc_timestamp_and_event() {
        let r = received(&[
            (0, event(1, 800, 5, false, 160)),
            (20, event(1, 800, 5, true, 320)),
            (40, event(1, 800, 5, true, 320)),
            (60, event(1, 800, 5, true, 320)),
            // The same digit again later: a second press.
            (200, event(1, 2400, 5, true, 160)),
            // Same timestamp, another stream: another press (a relay that regenerates).
            (210, event(9, 2400, 5, false, 160)),
            (220, event(1, 4000, 99, true, 160)),
        ]);
        let presses = r.key_presses();
        assert_eq!(presses.len(), 4);
        assert_eq!(
            (presses[0].packets, presses[0].ended, presses[0].duration),
            (4, true, 320)
        );
        assert!(!presses[2].ended);
        assert_eq!(presses[3].digit, None);
        assert_eq!(r.digits(), "555");
    }

    #[test]
    fn what_was_heard_over_time_follows_the_tones_and_the_silence() {
        let mut packets = Vec::new();
        let streams = [
            RtpStream::pcma_tone(1000.0, 0.2, Dbm0(-10.0)),
            RtpStream::pcma_tone(1000.0, 0.2, Dbm0(-60.0)), // quieter than the threshold
            RtpStream::pcma_tone(440.0, 0.3, Dbm0(-10.0)),
        ];
        for (i, p) in streams.iter().flat_map(RtpStream::packets).enumerate() {
            let ms = 20 * u64::try_from(i).unwrap();
            packets.push((ms, RtpPacket::parse(&p.bytes).unwrap()));
        }
        let r = received(&packets);
        assert_eq!(
            r.dominant_over_time(5, 200.0),
            [
                Some(1000.0),
                Some(1000.0),
                None,
                None,
                Some(440.0),
                Some(440.0),
                Some(440.0)
            ]
        );
    }

    #[test]
    fn windows_carry_their_arrival_time_and_gaps_are_measured_inside_a_span() {
        let streams = [
            RtpStream::pcma_tone(440.0, 0.2, Dbm0(-10.0)),
            RtpStream::pcma_tone(1000.0, 0.2, Dbm0(-10.0)),
        ];
        let mut packets = Vec::new();
        for (i, p) in streams.iter().flat_map(RtpStream::packets).enumerate() {
            // 20 ms apart, with one 300 ms hole before the 8th packet.
            let ms = 20 * u64::try_from(i).unwrap() + if i >= 7 { 300 } else { 0 };
            packets.push((ms, RtpPacket::parse(&p.bytes).unwrap()));
        }
        let r = received(&packets);
        let base = r.packets()[0].at;
        let at = |ms| base + Duration::from_millis(ms);
        let windows: Vec<(Instant, Option<f64>)> = r
            .audio_windows_at(10)
            .iter()
            .map(|(t, pcm)| (*t, dominant_frequency(pcm, 8000)))
            .collect();
        assert_eq!(windows, [(at(0), Some(440.0)), (at(500), Some(1000.0))]);
        assert_eq!(r.longest_gap(at(0), at(10_000)), Duration::from_millis(320));
        assert_eq!(
            r.longest_gap(at(440), at(10_000)),
            Duration::from_millis(20)
        );
        assert_eq!(r.longest_gap(at(0), at(1)), Duration::ZERO);
    }

    #[test]
    fn audio_decodes_both_laws_skips_events_and_windows_by_packet() {
        let a = RtpPacket {
            payload_type: PCMA,
            marker: false,
            seq: 1,
            timestamp: 0,
            ssrc: 1,
            payload: vec![0xD5; 160],
        };
        let u = RtpPacket {
            payload_type: PCMU,
            payload: vec![0x80; 160],
            ..a.clone()
        };
        let r = received(&[(0, a), (20, event(1, 0, 1, true, 160)), (40, u)]);
        let audio = r.audio();
        assert_eq!(audio.len(), 320);
        assert!(audio[..160].iter().all(|&s| s == 8));
        assert!(audio[160..].iter().all(|&s| s == 32_124));
        let windows = r.audio_windows(1);
        assert_eq!(windows.len(), 2);
        let base = r.packets()[0].at;
        assert_eq!(
            r.audio_between(
                base + Duration::from_millis(10),
                base + Duration::from_secs(1)
            )
            .len(),
            160
        );
        assert_eq!(r.audio_packets(), 2);
    }
}
