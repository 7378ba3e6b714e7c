//! The generator's RTP: one pacing thread that sends every stream at exactly 50 packets/s, and
//! one receiving thread that reads every socket through a single `mio` poll.
//!
//! Why two threads and this shape: the generator must carry at least what the raw relay carries
//! (about 100,000 packets/s each way on the 2-core machine) without becoming the bottleneck, so
//! neither thread may wake per packet or per call.
//!
//! * **Pacing** is one timer wheel for all calls: the 20 ms period is cut into [`SLOTS`] slots,
//!   each stream is given a slot by its index (so phases are spread evenly over the period) and
//!   the thread wakes once per slot to send that slot's packets. Send times are absolute
//!   (`epoch + k·slot`), so a late wake sends late but never drifts or drops: every stream sends
//!   exactly one packet per period on average. How late the thread woke is recorded (the
//!   "pacer lag"); a large lag means the generator itself was starved of CPU.
//! * **Receiving** is one poll over all 2·N sockets, draining each ready socket until it would
//!   block, with one stack buffer; the statistics of [`crate::loadgen::stats`] allocate nothing
//!   per packet.
//!
//! Packets of G.711 streams carry a [`Stamp`] in the first 16 payload bytes (the rest is a
//! 400 Hz tone); Opus packets are real Opus frames of the same tone, encoded once at start with
//! libopus (`switchboard-opus`) and resent in a cycle, so a transcoding switch decodes real audio.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use switchboard_media::g711::{SAMPLES_PER_20MS, alaw, ulaw};

use crate::loadgen::packet::{MAX_PACKET, RTP_HEADER_LEN, RtpHeader, Side, Stamp, StreamId};
use crate::loadgen::sdp::Codec;
use crate::loadgen::stats::{LatencyHistogram, RxStream};

/// Packet interval of every stream.
pub const PERIOD: Duration = Duration::from_millis(20);
/// Slots of the pacing wheel per period: a wake every 500 µs.
pub const SLOTS: u32 = 40;
/// Frequency of the test tone: a whole number of cycles per 20 ms frame, so frames loop cleanly.
const TONE_HZ: f64 = 400.0;
/// Distinct Opus frames sent in a cycle (one second of tone).
const OPUS_FRAMES: usize = 50;

/// The payloads every stream sends, built once before the run.
#[derive(Debug, Clone)]
pub struct Payloads {
    pcma: [u8; SAMPLES_PER_20MS],
    pcmu: [u8; SAMPLES_PER_20MS],
    opus: Vec<Vec<u8>>,
}

fn tone(rate: f64, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|n| {
            let t = n as f64 / rate;
            (8_000.0 * (2.0 * std::f64::consts::PI * TONE_HZ * t).sin()) as i16
        })
        .collect()
}

impl Payloads {
    /// The G.711 tone frames, and `OPUS_FRAMES` Opus frames when `opus` is true.
    ///
    /// # Errors
    /// What the encoder says when it refuses to encode.
    pub fn build(opus: bool) -> Result<Payloads, String> {
        let pcm = tone(8_000.0, SAMPLES_PER_20MS);
        let mut pcma = [0_u8; SAMPLES_PER_20MS];
        let mut pcmu = [0_u8; SAMPLES_PER_20MS];
        alaw::encode_frame(&pcm, &mut pcma).map_err(|e| e.to_string())?;
        ulaw::encode_frame(&pcm, &mut pcmu).map_err(|e| e.to_string())?;
        let opus = if opus { opus_frames()? } else { Vec::new() };
        Ok(Payloads { pcma, pcmu, opus })
    }

    fn frame(&self, codec: Codec, seq: u32) -> &[u8] {
        match codec {
            Codec::Pcma => &self.pcma,
            Codec::Pcmu => &self.pcmu,
            Codec::Opus => self
                .opus
                .get(seq as usize % self.opus.len().max(1))
                .map_or(&[][..], Vec::as_slice),
        }
    }
}

/// One second of the tone as 20 ms Opus frames, encoded from 8 kHz mono (VoIP mode, 20 kbit/s):
/// narrowband, as a softphone sends when the switch's SDP says `maxplaybackrate=8000` (what it
/// offers when the other leg is G.711). The RTP clock stays 48 kHz (RFC 7587).
fn opus_frames() -> Result<Vec<Vec<u8>>, String> {
    let opus_error = |e: switchboard_opus::Error| format!("opus encoder: {e}");
    let mut encoder = switchboard_opus::Encoder::new(8_000, switchboard_opus::Application::Voip)
        .map_err(opus_error)?;
    encoder.set_bitrate(20_000).map_err(opus_error)?;
    let pcm = tone(8_000.0, 160 * OPUS_FRAMES);
    let mut out = [0_u8; 1500];
    pcm.chunks(160)
        .map(|frame| {
            let n = encoder.encode(frame, &mut out).map_err(opus_error)?;
            Ok(out[..n].to_vec())
        })
        .collect()
}

/// Binds `streams` RTP sockets on `ip` (ephemeral ports), non-blocking, and registers them with
/// `poll` under their stream index.
///
/// # Errors
/// When a socket cannot be bound (out of ports or file descriptors) or registered.
pub fn bind_streams(
    ip: IpAddr,
    streams: usize,
    poll: &Poll,
) -> io::Result<(Vec<UdpSocket>, Vec<SocketAddr>)> {
    let mut sockets = Vec::with_capacity(streams);
    let mut addrs = Vec::with_capacity(streams);
    for i in 0..streams {
        let mut socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
        poll.registry()
            .register(&mut socket, Token(i), Interest::READABLE)?;
        addrs.push(socket.local_addr()?);
        sockets.push(socket);
    }
    Ok((sockets, addrs))
}

/// What the pacer is told while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacerCommand {
    /// Start sending `stream` to `to`, with `codec` as payload type `pt`.
    Start {
        /// The stream (its socket sends).
        stream: StreamId,
        /// Destination.
        to: SocketAddr,
        /// What to send.
        codec: Codec,
        /// RTP payload type.
        pt: u8,
    },
    /// Stop every stream and return the report.
    Stop,
}

/// What the pacer did.
#[derive(Debug, Clone)]
pub struct PacerReport {
    /// Packets sent per stream.
    pub sent: Vec<u64>,
    /// `send_to` failures (the packet was not sent).
    pub send_errors: u64,
    /// How late each slot's sending started against its schedule.
    pub lag: LatencyHistogram,
}

#[derive(Debug, Clone, Copy)]
struct TxStream {
    to: SocketAddr,
    codec: Codec,
    pt: u8,
    seq: u32,
    ssrc: u32,
    rtp_seq: u16,
    timestamp: u32,
}

/// The slot of the wheel that stream `index` of `streams` sends in.
#[must_use]
pub fn slot_of(index: usize, streams: usize) -> usize {
    index * SLOTS as usize / streams.max(1)
}

/// Nanoseconds from `epoch` to `now` (0 before it).
#[must_use]
pub fn since(epoch: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

/// Sends every started stream on the wheel until [`PacerCommand::Stop`] (or until the command
/// channel is closed).
#[must_use]
pub fn run_pacer(
    sockets: &[UdpSocket],
    epoch: Instant,
    payloads: &Payloads,
    commands: &Receiver<PacerCommand>,
) -> PacerReport {
    let streams = sockets.len();
    let mut wheel: Vec<Vec<usize>> = vec![Vec::new(); SLOTS as usize];
    let mut active: Vec<Option<TxStream>> = vec![None; streams];
    let mut report = PacerReport {
        sent: vec![0; streams],
        send_errors: 0,
        lag: LatencyHistogram::default(),
    };
    let slot_len = PERIOD / SLOTS;
    let mut buf = [0_u8; MAX_PACKET];
    let mut tick = since(epoch, Instant::now()) / slot_len.as_nanos() as u64 + 1;
    loop {
        let due = epoch + slot_len * u32::try_from(tick).unwrap_or(u32::MAX);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        loop {
            match commands.try_recv() {
                Ok(PacerCommand::Start {
                    stream,
                    to,
                    codec,
                    pt,
                }) => {
                    let i = stream.index();
                    if i < streams && active[i].is_none() {
                        wheel[slot_of(i, streams)].push(i);
                        active[i] = Some(TxStream {
                            to,
                            codec,
                            pt,
                            seq: 0,
                            ssrc: 0x4C47_0000 | u32::from(stream.0),
                            rtp_seq: stream.0.wrapping_mul(7_919),
                            timestamp: u32::from(stream.0).wrapping_mul(104_729),
                        });
                    }
                }
                Ok(PacerCommand::Stop) | Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    return report;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
            }
        }
        let slot = usize::try_from(tick % u64::from(SLOTS)).unwrap_or(0);
        report.lag.record(since(due, Instant::now()));
        for &i in &wheel[slot] {
            let Some(stream) = active[i].as_mut() else {
                continue;
            };
            let len = build_packet(&mut buf, stream, i, epoch, payloads);
            match sockets[i].send_to(&buf[..len], stream.to) {
                Ok(_) => report.sent[i] += 1,
                Err(_) => report.send_errors += 1,
            }
        }
        tick += 1;
    }
}

/// Writes the next packet of `stream` into `buf` and advances its counters; returns its length.
fn build_packet(
    buf: &mut [u8; MAX_PACKET],
    stream: &mut TxStream,
    index: usize,
    epoch: Instant,
    payloads: &Payloads,
) -> usize {
    let frame = payloads.frame(stream.codec, stream.seq);
    let len = (RTP_HEADER_LEN + frame.len()).min(MAX_PACKET);
    RtpHeader {
        marker: stream.seq == 0,
        payload_type: stream.pt,
        seq: stream.rtp_seq,
        timestamp: stream.timestamp,
        ssrc: stream.ssrc,
    }
    .write(buf);
    buf[RTP_HEADER_LEN..len].copy_from_slice(&frame[..len - RTP_HEADER_LEN]);
    if stream.codec != Codec::Opus {
        Stamp {
            stream: StreamId(u16::try_from(index).unwrap_or(u16::MAX)),
            seq: stream.seq,
            sent_ns: since(epoch, Instant::now()),
        }
        .write(&mut buf[RTP_HEADER_LEN..len]);
    }
    stream.seq = stream.seq.wrapping_add(1);
    stream.rtp_seq = stream.rtp_seq.wrapping_add(1);
    stream.timestamp = stream
        .timestamp
        .wrapping_add(stream.codec.ticks_per_packet());
    len
}

/// What the receiver counted.
#[derive(Debug, Clone)]
pub struct ReceiverReport {
    /// Per socket (stream index).
    pub streams: Vec<RxStream>,
    /// Latency of packets that arrived at caller sockets (agent → caller).
    pub to_caller: LatencyHistogram,
    /// Latency of packets that arrived at agent sockets (caller → agent).
    pub to_agent: LatencyHistogram,
    /// `recv_from` failures other than "would block".
    pub recv_errors: u64,
}

/// Reads every socket registered with `poll` until `stop` is set, then reads every socket once
/// more until it would block, so that whatever was queued before the stop is counted.
///
/// # Errors
/// When polling itself fails.
pub fn run_receiver(
    mut poll: Poll,
    sockets: &[UdpSocket],
    epoch: Instant,
    stop: &AtomicBool,
) -> io::Result<ReceiverReport> {
    let mut report = ReceiverReport {
        streams: vec![RxStream::default(); sockets.len()],
        to_caller: LatencyHistogram::default(),
        to_agent: LatencyHistogram::default(),
        recv_errors: 0,
    };
    let mut events = Events::with_capacity(1024);
    let mut buf = [0_u8; MAX_PACKET];
    while !stop.load(Ordering::Relaxed) {
        match poll.poll(&mut events, Some(Duration::from_millis(5))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in &events {
            drain_socket(&mut report, sockets, event.token().0, epoch, &mut buf);
        }
    }
    for i in 0..sockets.len() {
        drain_socket(&mut report, sockets, i, epoch, &mut buf);
    }
    Ok(report)
}

/// Reads socket `i` until it would block (mio is edge-triggered: a ready socket must be drained).
fn drain_socket(
    report: &mut ReceiverReport,
    sockets: &[UdpSocket],
    i: usize,
    epoch: Instant,
    buf: &mut [u8; MAX_PACKET],
) {
    let Some(socket) = sockets.get(i) else {
        return;
    };
    let own = StreamId(u16::try_from(i).unwrap_or(u16::MAX));
    let latency = match own.side() {
        Side::Caller => &mut report.to_caller,
        Side::Agent => &mut report.to_agent,
    };
    loop {
        match socket.recv_from(buf) {
            Ok((n, _)) => {
                let at = since(epoch, Instant::now());
                report.streams[i].on_datagram(own, &buf[..n], at, latency);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => {
                report.recv_errors += 1;
                break;
            }
        }
    }
}

/// Runs the receiver on its own thread over shared sockets.
#[must_use]
pub fn spawn_receiver(
    poll: Poll,
    sockets: Arc<[UdpSocket]>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<io::Result<ReceiverReport>> {
    std::thread::spawn(move || run_receiver(poll, &sockets, epoch, &stop))
}

/// Runs the pacer on its own thread over shared sockets.
#[must_use]
pub fn spawn_pacer(
    sockets: Arc<[UdpSocket]>,
    epoch: Instant,
    payloads: Arc<Payloads>,
    commands: Receiver<PacerCommand>,
) -> std::thread::JoinHandle<PacerReport> {
    std::thread::spawn(move || run_pacer(&sockets, epoch, &payloads, &commands))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::packet::CallIndex;

    #[test]
    fn phases_are_spread_evenly_over_the_period() {
        let slots: Vec<usize> = (0..8).map(|i| slot_of(i, 8)).collect();
        assert_eq!(slots, vec![0, 5, 10, 15, 20, 25, 30, 35]);
        // Many streams: every slot gets its share, none more than one above another.
        let mut per_slot = vec![0; SLOTS as usize];
        for i in 0..2_000 {
            per_slot[slot_of(i, 2_000)] += 1;
        }
        assert!(per_slot.iter().all(|&n| n == 50));
    }

    #[test]
    fn g711_packets_are_172_bytes_and_stamped() {
        let payloads = Payloads::build(false).unwrap();
        let epoch = Instant::now();
        let mut stream = TxStream {
            to: "127.0.0.1:9".parse().unwrap(),
            codec: Codec::Pcma,
            pt: 8,
            seq: 0,
            ssrc: 5,
            rtp_seq: u16::MAX,
            timestamp: u32::MAX - 100,
        };
        let mut buf = [0_u8; MAX_PACKET];
        let len = build_packet(&mut buf, &mut stream, 6, epoch, &payloads);
        assert_eq!(len, 172, "12-byte header + 160 bytes of PCMA");
        let (header, payload) = RtpHeader::parse(&buf[..len]).unwrap();
        assert!(header.marker);
        assert_eq!(
            (header.payload_type, header.seq, header.ssrc),
            (8, u16::MAX, 5)
        );
        let stamp = Stamp::read(payload).unwrap();
        assert_eq!((stamp.stream, stamp.seq), (StreamId(6), 0));
        assert_eq!(&payload[16..], &payloads.pcma[16..]);
        build_packet(&mut buf, &mut stream, 6, epoch, &payloads);
        let (header, payload) = RtpHeader::parse(&buf[..len]).unwrap();
        assert!(!header.marker);
        assert_eq!((header.seq, header.timestamp), (0, 59), "both wrap");
        assert_eq!(Stamp::read(payload).map(|s| s.seq), Some(1));
    }

    #[test]
    fn opus_frames_are_real_opus_and_unstamped() {
        let payloads = Payloads::build(true).unwrap();
        assert_eq!(payloads.opus.len(), OPUS_FRAMES);
        let mut decoder = switchboard_opus::Decoder::new(48_000).unwrap();
        let mut pcm = [0_i16; 960];
        let mut energy = 0.0;
        for frame in &payloads.opus {
            assert!(
                frame.len() > 10 && frame.len() < 200,
                "{} bytes",
                frame.len()
            );
            assert_eq!(decoder.decode(frame, &mut pcm, false), Ok(960));
            energy += pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
        }
        // Above a 1 %-of-full-scale signal's energy: the tone, not silence.
        assert!(energy > 1e6, "the frames decode to the tone, not silence");
        let mut stream = TxStream {
            to: "127.0.0.1:9".parse().unwrap(),
            codec: Codec::Opus,
            pt: 111,
            seq: 3,
            ssrc: 1,
            rtp_seq: 0,
            timestamp: 0,
        };
        let mut buf = [0_u8; MAX_PACKET];
        let len = build_packet(&mut buf, &mut stream, 1, Instant::now(), &payloads);
        let (header, payload) = RtpHeader::parse(&buf[..len]).unwrap();
        assert_eq!(payload, payloads.opus[3].as_slice());
        assert_eq!(Stamp::read(payload), None);
        build_packet(&mut buf, &mut stream, 1, Instant::now(), &payloads);
        let (next, _) = RtpHeader::parse(&buf[..len]).unwrap();
        assert_eq!(next.timestamp - header.timestamp, 960);
    }

    #[test]
    fn pacer_sends_each_stream_in_sequence() {
        let poll = Poll::new().unwrap();
        let (sockets, _) = bind_streams(IpAddr::from([127, 0, 0, 1]), 2, &poll).unwrap();
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sink.set_read_timeout(Some(Duration::from_secs(5))).unwrap(); // a bound, not a wait
        let epoch = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        let payloads = Arc::new(Payloads::build(false).unwrap());
        let pacer = spawn_pacer(sockets.into(), epoch, payloads, rx);
        let stream = StreamId::of(CallIndex(0), Side::Agent).unwrap();
        let to = sink.local_addr().unwrap();
        tx.send(PacerCommand::Start {
            stream,
            to,
            codec: Codec::Pcmu,
            pt: 0,
        })
        .unwrap();
        let mut buf = [0_u8; MAX_PACKET];
        let mut stamps = Vec::new();
        for _ in 0..3 {
            let n = sink.recv(&mut buf).unwrap();
            assert_eq!(n, 172);
            let (header, payload) = RtpHeader::parse(&buf[..n]).unwrap();
            assert_eq!(header.payload_type, 0);
            stamps.push(Stamp::read(payload).unwrap());
        }
        tx.send(PacerCommand::Stop).unwrap();
        let report = pacer.join().unwrap();
        assert_eq!(
            stamps.iter().map(|s| s.seq).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert!(stamps.iter().all(|s| s.stream == stream));
        assert!(stamps.windows(2).all(|w| w[0].sent_ns < w[1].sent_ns));
        assert_eq!(report.sent[0], 0, "stream 0 was never started");
        assert!(report.sent[1] >= 3);
        assert_eq!(report.send_errors, 0);
        assert!(report.lag.count() > 0);
    }

    #[test]
    fn receiver_counts_everything_queued_before_the_stop() {
        let poll = Poll::new().unwrap();
        let (sockets, addrs) = bind_streams(IpAddr::from([127, 0, 0, 1]), 4, &poll).unwrap();
        let sockets: Arc<[UdpSocket]> = sockets.into();
        let epoch = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let receiver = spawn_receiver(poll, sockets, epoch, stop.clone());
        // Call 1's caller (stream 2) sends 3 packets to call 1's agent socket (3), one twice;
        // call 0's agent (stream 1) sends one to call 1's caller socket (2): crossed calls.
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let packet = |stream: u16, seq: u32| {
            let mut p = vec![0xD5; 172];
            RtpHeader {
                marker: false,
                payload_type: 8,
                seq: 0,
                timestamp: 0,
                ssrc: 1,
            }
            .write(&mut p);
            Stamp {
                stream: StreamId(stream),
                seq,
                sent_ns: since(epoch, Instant::now()),
            }
            .write(&mut p[RTP_HEADER_LEN..]);
            p
        };
        for seq in [0, 1, 1, 2] {
            peer.send_to(&packet(2, seq), addrs[3]).unwrap();
        }
        peer.send_to(&packet(1, 0), addrs[2]).unwrap();
        // Loopback delivers into the receiving socket's queue before send_to returns.
        stop.store(true, Ordering::Relaxed);
        let report = receiver.join().unwrap().unwrap();
        let agent = &report.streams[3].stamped;
        assert_eq!(
            (agent.received, agent.duplicates, agent.unique()),
            (4, 1, 3)
        );
        assert_eq!(report.to_agent.count(), 3);
        assert_eq!(report.streams[2].misrouted, 1);
        assert_eq!(report.to_caller.count(), 0);
        assert_eq!(report.recv_errors, 0);
    }
}
