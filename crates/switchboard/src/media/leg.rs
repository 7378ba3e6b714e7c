//! One leg's media inside a worker: its sockets, what the remote agreed to, latching, the
//! stream we send (SSRC, sequence, timestamp), and the decode path used when its audio is
//! needed (recording, transcoding, in-band DTMF, voicemail).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::num::NonZeroU32;
use switchboard_media::codec::{self, Decoder, Encoder};

use switchboard_media::dtmf::inband::Detector;
use switchboard_media::dtmf::rfc4733::{self, ReceiverConfig, SenderConfig};
use switchboard_media::jitter::{JitterBuffer, JitterConfig, Popped};
use switchboard_media::latch::{Latch, LatchPolicy};
use switchboard_media::prompt::Playback;
use switchboard_media::resample::Resampler;
use switchboard_media::rtcp::RtcpSession;
use switchboard_media::rtp::Ssrc;
use switchboard_media::stats::{ReceiverStats, SenderStats};
use switchboard_media::tone::ToneGenerator;

use super::ports::LeaseGuard;
use super::{MediaLegId, RemoteMedia};

fn dtmf_receiver(clock: u32) -> rfc4733::Receiver {
    rfc4733::Receiver::new(ReceiverConfig {
        clock_rate: NonZeroU32::new(clock).unwrap_or(NonZeroU32::MIN),
        ..ReceiverConfig::default()
    })
}

fn dtmf_sender(clock: u32) -> rfc4733::Sender {
    let config = SenderConfig {
        clock_rate: NonZeroU32::new(clock).unwrap_or(NonZeroU32::MIN),
        ..SenderConfig::default()
    };
    // The defaults (20 ms, a queue of presses) are valid at every RTP clock we negotiate.
    rfc4733::Sender::new(config).unwrap_or_else(|_| {
        rfc4733::Sender::new(SenderConfig::default())
            .expect("default RFC 4733 sender config is valid")
    })
}

/// Samples in one 20 ms tick at `rate`.
pub(crate) fn tick_samples(rate: u32) -> usize {
    (rate / 50) as usize
}

/// Decoded audio kept ahead of playout at most (drift or a burst beyond this is dropped).
const MAX_FIFO: Duration = Duration::from_millis(200);

/// A leg logs media from foreign sources (and moves of its latch) at most this often: a flood
/// must not become a log line per packet.
const LATCH_LOG_EVERY: Duration = Duration::from_secs(10);

/// What a leg hears.
#[derive(Debug)]
pub(crate) enum Source {
    /// Nothing is connected: we send encoded silence so NATs and carriers see a live stream.
    Silence,
    /// The bridged peer's packets, relayed as they arrive (same codec both sides).
    Relay,
    /// The bridged peer's decoded audio, re-encoded for this leg at each tick.
    Transcode,
    /// Prompts; `PlaybackDone { id }` when they end.
    Prompts { playback: Playback, id: u64 },
    /// Music on hold (the leg's own position in the playlist is kept in `Leg::moh`).
    MusicOnHold,
    /// A call-progress tone.
    Tone(Box<ToneGenerator>),
}

impl Source {
    /// Whether the tick generates this leg's packets (as opposed to relaying them on arrival).
    pub(crate) fn generated(&self) -> bool {
        !matches!(self, Source::Relay)
    }
}

/// The mapping of a relayed stream onto ours, fixed when the relay starts (or its SSRC changes).
#[derive(Debug, Clone, Copy)]
struct RelayMap {
    ssrc: u32,
    seq_offset: u16,
    ts_offset: u32,
}

/// The RTP stream we send on a leg: one SSRC for its whole life, whatever feeds it (prompt,
/// relay, music), with sequence numbers and timestamps that continue across every switch
/// (RFC 3550 §5.1; the marker bit flags each switch as a new talkspurt, RFC 3551 §4.1).
#[derive(Debug)]
pub(crate) struct OutStream {
    pub(crate) ssrc: u32,
    seq: u16,
    ts: u32,
    last_sent: Option<Instant>,
    relay: Option<RelayMap>,
    /// The next packet starts a talkspurt (marker bit).
    pub(crate) marker: bool,
    /// The RTP timestamp of the RFC 4733 event being sent.
    event_ts: u32,
}

impl OutStream {
    fn new(ssrc: u32) -> Self {
        // Random starting points (RFC 3550 §5.1) derived from the SSRC, which is random already.
        OutStream {
            ssrc,
            seq: (ssrc >> 7) as u16,
            ts: ssrc.rotate_left(11),
            last_sent: None,
            relay: None,
            marker: true,
            event_ts: 0,
        }
    }

    /// Sequence number and timestamp for a packet we generate, `ticks` after the last one.
    pub(crate) fn next_generated(&mut self, now: Instant, clock: u32, ticks: u32) -> (u16, u32) {
        self.relay = None;
        let ts = match self.last_sent {
            // Steady: exactly one frame on.
            Some(last) if now.saturating_duration_since(last) < Duration::from_millis(35) => {
                self.ts.wrapping_add(ticks)
            }
            // After a pause or a switch: as far on as real time went, so the far end plays it
            // at the right moment.
            Some(last) => self
                .ts
                .wrapping_add(elapsed_ticks(now, last, clock).max(ticks)),
            None => self.ts,
        };
        self.seq = self.seq.wrapping_add(1);
        self.ts = ts;
        self.last_sent = Some(now);
        (self.seq, ts)
    }

    /// Sequence number and timestamp for a relayed packet; `true` when it starts a talkspurt.
    /// Sequence number and timestamp for an RFC 4733 packet: the media clock goes on as for
    /// audio, but every packet of one event carries the event's start timestamp (plus the
    /// segment offset of a long press, RFC 4733 §2.5.1.1 and §2.5.1.3).
    pub(crate) fn next_event_packet(
        &mut self,
        now: Instant,
        clock: u32,
        first: bool,
        offset: u32,
    ) -> (u16, u32) {
        let (seq, ts) = self.next_generated(now, clock, clock / 50);
        if first {
            self.event_ts = ts;
        }
        (seq, self.event_ts.wrapping_add(offset))
    }

    pub(crate) fn map_relayed(
        &mut self,
        now: Instant,
        clock: u32,
        ssrc: u32,
        seq: u16,
        ts: u32,
    ) -> (u16, u32, bool) {
        let map = match self.relay {
            Some(map) if map.ssrc == ssrc => map,
            _ => {
                let next_ts = match self.last_sent {
                    Some(last) => self.ts.wrapping_add(elapsed_ticks(now, last, clock).max(1)),
                    None => self.ts,
                };
                let map = RelayMap {
                    ssrc,
                    seq_offset: self.seq.wrapping_add(1).wrapping_sub(seq),
                    ts_offset: next_ts.wrapping_sub(ts),
                };
                self.relay = Some(map);
                self.marker = true;
                map
            }
        };
        let out_seq = seq.wrapping_add(map.seq_offset);
        let out_ts = ts.wrapping_add(map.ts_offset);
        // Only move forward: a reordered packet keeps its place without rewinding our state.
        if out_seq.wrapping_sub(self.seq) < 0x8000 {
            self.seq = out_seq;
            self.ts = out_ts;
            self.last_sent = Some(now);
        }
        let marker = std::mem::take(&mut self.marker);
        (out_seq, out_ts, marker)
    }
}

fn elapsed_ticks(now: Instant, last: Instant, clock: u32) -> u32 {
    let ms = now.saturating_duration_since(last).as_millis();
    u32::try_from(ms * u128::from(clock) / 1000).unwrap_or(u32::MAX)
}

/// A leg's encoder (the trait object has no `Debug` of its own).
pub(crate) struct Enc(pub(crate) Box<dyn Encoder>);

impl std::fmt::Debug for Enc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Encoder({} Hz)", self.0.sample_rate())
    }
}

/// A leg's decoder.
pub(crate) struct Dec(Box<dyn Decoder>);

impl std::fmt::Debug for Dec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Decoder({} Hz)", self.0.sample_rate())
    }
}

/// Decoding what a leg sends: jitter buffer → decoder → a FIFO of samples at the codec's rate.
#[derive(Debug)]
pub(crate) struct DecodePath {
    jitter: JitterBuffer,
    decoder: Dec,
    fifo: VecDeque<i16>,
    scratch: Vec<i16>,
    /// The last 20 ms frame taken at a tick (valid while `has_frame`).
    pub(crate) frame: Vec<i16>,
    pub(crate) has_frame: bool,
    pub(crate) rate: u32,
}

impl DecodePath {
    fn new(remote: &RemoteMedia, min: Duration, max: Duration) -> Result<Self, codec::CodecError> {
        let decoder = codec::new_decoder(remote.codec, &remote.params)?;
        let rate = decoder.sample_rate();
        let clock = remote.codec.rtp_clock_rate();
        let jitter = JitterBuffer::new(JitterConfig {
            clock_rate: clock,
            frame_ticks: clock / 50,
            min_delay: min,
            max_delay: max,
            capacity: 32,
        })
        .or_else(|_| JitterBuffer::new(JitterConfig::voice(clock, clock / 50)))
        .map_err(|_| codec::CodecError::Unsupported {
            codec: remote.codec,
            reason: "no jitter buffer for this clock rate",
        })?;
        Ok(DecodePath {
            jitter,
            decoder: Dec(decoder),
            fifo: VecDeque::with_capacity(tick_samples(rate) * 4),
            // Room for the longest frame a peer may send: 120 ms (Opus's longest packet; G.711
            // phones send 60 ms at most) at the decoder's rate.
            scratch: vec![0; tick_samples(rate) * 6],
            frame: vec![0; tick_samples(rate)],
            has_frame: false,
            rate,
        })
    }

    pub(crate) fn push(
        &mut self,
        now: Instant,
        seq: u16,
        ts: u32,
        ssrc: u32,
        marker: bool,
        payload: &[u8],
    ) {
        let _ = self.jitter.push(now, seq, ts, ssrc, marker, payload);
    }

    /// Decodes what is due and takes one 20 ms frame into `self.frame`.
    pub(crate) fn take_frame(&mut self, now: Instant) {
        while let Some(item) = self.jitter.pop(now) {
            let n = match item {
                Popped::Packet { payload, .. } => self
                    .decoder
                    .0
                    .decode(payload, &mut self.scratch)
                    .unwrap_or(0),
                Popped::Lost { .. } => self.decoder.0.conceal(&mut self.scratch),
            };
            self.fifo.extend(&self.scratch[..n.min(self.scratch.len())]);
        }
        let cap = (self.rate as usize * MAX_FIFO.as_millis() as usize) / 1000;
        if self.fifo.len() > cap {
            let excess = self.fifo.len() - cap;
            self.fifo.drain(..excess);
        }
        let want = self.frame.len();
        self.has_frame = self.fifo.len() >= want;
        if self.has_frame {
            // Two slice copies (the FIFO's ring may wrap) rather than a drain element by
            // element, which showed as 2 % of a worker recording 1,200 calls.
            let (a, b) = self.fifo.as_slices();
            let from_a = a.len().min(want);
            self.frame[..from_a].copy_from_slice(&a[..from_a]);
            self.frame[from_a..want].copy_from_slice(&b[..want - from_a]);
            self.fifo.drain(..want);
        }
    }

    /// The current frame, if the tick produced one.
    pub(crate) fn current(&self) -> Option<&[i16]> {
        self.has_frame.then_some(&self.frame[..])
    }
}

/// In-band DTMF detection on a leg (the detector works at 8 kHz).
#[derive(Debug)]
pub(crate) struct Inband {
    pub(crate) detector: Detector,
    pub(crate) to_8k: Option<(u32, Resampler)>,
    pub(crate) buf: Vec<i16>,
}

/// A single-leg recording (voicemail) in progress.
#[derive(Debug)]
pub(crate) struct MonoTap {
    pub(crate) id: u64,
    pub(crate) channel: switchboard_media::recorder::RecordingChannel,
    pub(crate) pending: Vec<i16>,
    pub(crate) written: Duration,
    pub(crate) max: Duration,
}

/// One leg in a worker.
#[derive(Debug)]
pub(crate) struct Leg {
    pub(crate) id: MediaLegId,
    pub(crate) session: usize,
    pub(crate) rtp: mio::net::UdpSocket,
    pub(crate) rtcp: mio::net::UdpSocket,
    pub(crate) _lease: LeaseGuard,
    pub(crate) remote: Option<RemoteMedia>,
    pub(crate) latch: Latch,
    /// Where the remote's RTCP comes from (learnt from the first valid report).
    pub(crate) rtcp_from: Option<SocketAddr>,
    pub(crate) rx: ReceiverStats,
    pub(crate) tx_stats: SenderStats,
    pub(crate) rtcp_session: RtcpSession,
    /// When the remote last sent RTP (or when we started expecting it).
    pub(crate) last_rx: Instant,
    pub(crate) timed_out: bool,
    pub(crate) out: OutStream,
    pub(crate) decode: Option<DecodePath>,
    pub(crate) encoder: Option<Enc>,
    pub(crate) source: Source,
    /// What it hears when nothing overrides it (recomputed by the session).
    pub(crate) overridden: bool,
    pub(crate) moh: Option<Playback>,
    /// Converts the bridged peer's audio to our encode rate when transcoding across rates.
    pub(crate) from_peer: Option<(u32, Resampler)>,

    pub(crate) dtmf_rx: rfc4733::Receiver,
    pub(crate) dtmf_tx: rfc4733::Sender,
    pub(crate) inband: Option<Inband>,
    pub(crate) voicemail: Option<MonoTap>,
    pub(crate) packets_in: u64,
    pub(crate) packets_out: u64,
    pub(crate) dropped: u64,
    /// RTP and RTCP from sources other than the latched one (counted in `dropped` too).
    pub(crate) foreign: u64,
    /// When a foreign drop was last logged (see [`LATCH_LOG_EVERY`]).
    foreign_logged: Option<Instant>,
    /// When a move of the latch was last logged.
    moved_logged: Option<Instant>,
}

impl Leg {
    pub(crate) fn new(
        id: MediaLegId,
        session: usize,
        sockets: (mio::net::UdpSocket, mio::net::UdpSocket, LeaseGuard),
        ssrc: u32,
        now: Instant,
    ) -> Self {
        let (rtp, rtcp, lease) = sockets;
        Leg {
            id,
            session,
            rtp,
            rtcp,
            _lease: lease,
            remote: None,
            latch: Latch::new(LatchPolicy::default()),
            rtcp_from: None,
            rx: ReceiverStats::new(8000),
            tx_stats: SenderStats::new(8000),
            rtcp_session: RtcpSession::new(
                Ssrc(ssrc),
                &format!("switchboard-{}", id.0),
                8000,
                u64::from(ssrc),
            ),
            last_rx: now,
            timed_out: false,
            out: OutStream::new(ssrc),
            decode: None,
            encoder: None,
            source: Source::Silence,
            overridden: false,
            moh: None,
            from_peer: None,
            dtmf_rx: dtmf_receiver(8000),
            dtmf_tx: dtmf_sender(8000),
            inband: None,
            voicemail: None,
            packets_in: 0,
            packets_out: 0,
            dropped: 0,
            foreign: 0,
            foreign_logged: None,
            moved_logged: None,
        }
    }

    /// Applies a (new) SDP agreement: codec, addresses, directions.
    pub(crate) fn set_remote(
        &mut self,
        remote: RemoteMedia,
        now: Instant,
        jitter: (Duration, Duration),
    ) -> Result<(), codec::CodecError> {
        let changed_codec = self.remote.as_ref().is_none_or(|r| {
            r.codec != remote.codec
                || r.params != remote.params
                || r.payload_type != remote.payload_type
        });
        // A new address (or new signalling) starts learning again; the same SDP again (a
        // session refresh, a codec change) keeps the latched source.
        if self
            .remote
            .as_ref()
            .is_none_or(|r| r.rtp != remote.rtp || r.signalling != remote.signalling)
        {
            self.latch.reset(remote.rtp, remote.signalling);
            self.rtcp_from = None;
        }
        if changed_codec {
            let clock = remote.codec.rtp_clock_rate();
            self.encoder = Some(Enc(codec::new_encoder(remote.codec, &remote.params)?));
            self.rx = ReceiverStats::new(clock);
            self.tx_stats = SenderStats::new(clock);
            self.rtcp_session = RtcpSession::new(
                Ssrc(self.out.ssrc),
                &format!("switchboard-{}", self.id.0),
                clock,
                u64::from(self.out.ssrc),
            );
            self.dtmf_rx = dtmf_receiver(clock);
            self.dtmf_tx = dtmf_sender(clock);
            if self.decode.is_some() {
                self.decode = Some(DecodePath::new(&remote, jitter.0, jitter.1)?);
            }
            self.out.marker = true;
        }
        self.last_rx = now;
        self.timed_out = false;
        self.remote = Some(remote);
        Ok(())
    }

    /// Starts or stops decoding this leg's audio.
    pub(crate) fn want_decode(&mut self, on: bool, jitter: (Duration, Duration)) {
        match (on, &self.decode, &self.remote) {
            (true, None, Some(remote)) => {
                self.decode = DecodePath::new(remote, jitter.0, jitter.1).ok();
            }
            (false, Some(_), _) => self.decode = None,
            _ => {}
        }
    }

    /// The audio rate we encode to this leg at (its encoder's PCM rate).
    pub(crate) fn encode_rate(&self) -> Option<u32> {
        self.encoder.as_ref().map(|e| e.0.sample_rate())
    }

    /// Where our RTP goes, if we may send at all: never to an address that has not sent us
    /// media, unless the signalling came from its IP (see `switchboard_media::latch`).
    pub(crate) fn send_target(&self) -> Option<SocketAddr> {
        let remote = self.remote.as_ref()?;
        if !remote.send || remote.rtp.port() == 0 {
            return None;
        }
        self.latch.target()
    }

    /// Where our RTCP goes: where the remote's RTCP comes from; until it has sent some, the
    /// SDP's RTCP address only if it is on the host our RTP may go to (no reflection either).
    pub(crate) fn rtcp_target(&self) -> Option<SocketAddr> {
        let remote = self.remote.as_ref()?;
        if remote.rtp.port() == 0 {
            return None;
        }
        if remote.rtcp_mux {
            return self.latch.target();
        }
        if let Some(from) = self.rtcp_from {
            return Some(from);
        }
        let rtp = self.latch.target()?;
        (rtp.ip().to_canonical() == remote.rtcp.ip().to_canonical()).then_some(remote.rtcp)
    }

    /// A datagram from `from`, which is not this leg's remote, was dropped: counted, and
    /// logged once per [`LATCH_LOG_EVERY`] at most.
    pub(crate) fn foreign_dropped(&mut self, now: Instant, from: SocketAddr, rtcp: bool) {
        self.dropped += 1;
        self.foreign += 1;
        if self
            .foreign_logged
            .is_none_or(|t| now.saturating_duration_since(t) >= LATCH_LOG_EVERY)
        {
            self.foreign_logged = Some(now);
            tracing::debug!(
                leg = %self.id,
                %from,
                rtcp,
                latched = ?self.latch.latched(),
                foreign = self.foreign,
                "media from a foreign source dropped"
            );
        }
    }

    /// The latched source moved to `to` (same SSRC, continuing sequence: a NAT rebinding).
    pub(crate) fn latch_moved(&mut self, now: Instant, to: SocketAddr) {
        // The NAT rebound the RTCP flow too: learn it again from the next report.
        self.rtcp_from = None;
        if self
            .moved_logged
            .is_none_or(|t| now.saturating_duration_since(t) >= LATCH_LOG_EVERY)
        {
            self.moved_logged = Some(now);
            tracing::info!(leg = %self.id, %to, "RTP source moved (same stream from a new address)");
        }
    }

    /// The leg is on hold from the remote's side: it asked us not to send (sendonly/inactive).
    pub(crate) fn holds(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| !r.send)
    }

    /// The RTP clock rate on this leg.
    pub(crate) fn clock(&self) -> u32 {
        self.remote
            .as_ref()
            .map_or(8000, |r| r.codec.rtp_clock_rate())
    }
}

impl Leg {
    /// Converts one tick of the peer's audio (`frame`, 20 ms at `rate`) into `pcm`, 20 ms at
    /// our encode rate; `false` if it cannot.
    pub(crate) fn transcode_into(&mut self, frame: &[i16], rate: u32, pcm: &mut [i16]) -> bool {
        let ours = self.encode_rate().unwrap_or(8000);
        if rate == ours {
            let n = frame.len().min(pcm.len());
            pcm[..n].copy_from_slice(&frame[..n]);
            return n == pcm.len();
        }
        if self
            .from_peer
            .as_ref()
            .is_none_or(|(from, _)| *from != rate)
        {
            self.from_peer = Resampler::per_20ms(rate, ours).ok().map(|r| (rate, r));
        }
        match self.from_peer.as_mut() {
            Some((_, resampler)) => resampler.process(frame, pcm).is_ok(),
            None => false,
        }
    }

    /// The leg's counters, for the call's log line.
    pub(crate) fn summary(&self) -> super::LegSummary {
        super::LegSummary {
            packets_in: self.packets_in,
            packets_out: self.packets_out,
            lost: i64::from(self.rx.cumulative_lost()),
            jitter_ms: f64::from(self.rx.jitter()) * 1000.0 / f64::from(self.clock().max(1)),
            dropped: self.dropped,
            foreign: self.foreign,
        }
    }
}
