//! RTCP for one call leg (RFC 3550 §6), sans-IO.
//!
//! A B2BUA *terminates* RTCP: the caller's reports describe the caller ↔ switch path, not the
//! agent's, so forwarding them would lie to both ends. Each leg therefore owns one
//! [`RtcpSession`] that reports what *we* sent to and received from that leg's peer (one SR or RR
//! with one report block, plus an SDES CNAME, §6.1), reads the peer's reports about us (loss,
//! jitter, round-trip time), and says BYE when the leg ends.
//!
//! # Driving it (the drain rule)
//! * Every RTCP datagram from the peer goes to [`RtcpSession::handle_incoming`] with the arrival
//!   `Instant`; it returns what the packet said, or a typed error for a malformed one (RFC 3550
//!   A.2 validity check, then `rtc-rtcp` for the bodies). Garbage never panics.
//! * On every wake-up the driver calls [`RtcpSession::poll_transmit`] with `now`, the wall clock
//!   as [`NtpTime`] and the leg's [`SenderStats`]/[`ReceiverStats`]; it returns the compound
//!   packet to send when one is due, and then [`RtcpSession::poll_timeout`] says when to wake
//!   next. The schedule is anchored by the first call that carries a `now` (before it,
//!   `poll_timeout` is `None`); the first report goes out after half the minimum interval.
//! * [`RtcpSession::bye`] builds the last packet when the leg ends; the session is then closed.
//!
//! # The interval (RFC 3550 §6.2, §6.3.1, A.7)
//! T = max(T_min, n · avg_rtcp_size / rtcp_bw) with T_min = 5 s (2.5 s before the first
//! report), n = 2 members (us and the peer), rtcp_bw = 5 % of the session bandwidth (64 kbit/s
//! unless told otherwise, split ¾ / ¼ when nobody sends), then multiplied by a uniform factor in
//! [0.5, 1.5] drawn from the seeded RNG. For voice T_min always wins. We do **not** divide by
//! the e − 3/2 compensation factor of §6.3.1: it offsets timer reconsideration, which matters
//! when membership changes quickly; a point-to-point leg has exactly two members for its whole
//! life, so we do no reconsideration and keep the average interval at T_min.
//!
//! # Round-trip time (RFC 3550 §6.4.1)
//! The RFC computes RTT = A − LSR − DLSR with A the arrival time in NTP units. We remember the
//! `Instant` at which each of our last SRs left, find the SR the peer's LSR names, and compute
//! `now − sent_at − DLSR` on the monotonic clock: the same quantity, immune to wall-clock steps,
//! and exact on a virtual clock.
//!
//! ```
//! use std::time::{Duration, Instant, SystemTime};
//! use switchboard_media::rtcp::{NtpTime, RtcpSession};
//! use switchboard_media::rtp::Ssrc;
//! use switchboard_media::stats::{ReceiverStats, SenderStats};
//!
//! let start = Instant::now();
//! let mut leg = RtcpSession::new(Ssrc(1), "leg-a@switchboard", 8000, 7);
//! let (tx, rx) = (SenderStats::new(8000), ReceiverStats::new(8000));
//! let ntp = NtpTime::from(SystemTime::UNIX_EPOCH);
//! assert!(leg.poll_transmit(start, ntp, &tx, &rx).is_none()); // anchors the schedule
//! let due = leg.poll_timeout().unwrap();
//! assert!(due >= start + Duration::from_millis(1250) && due <= start + Duration::from_millis(3750));
//! let report = leg.poll_transmit(due, ntp, &tx, &rx).unwrap();
//! assert_eq!(report[1], 201); // nothing sent yet: an RR, then the SDES
//! ```

mod ntp;
mod wire;

use std::time::{Duration, Instant};

use rtc_rtcp::goodbye::Goodbye;
use rtc_rtcp::packet::Packet;
use rtc_rtcp::receiver_report::ReceiverReport;
use rtc_rtcp::reception_report::ReceptionReport as WireBlock;
use rtc_rtcp::sender_report::SenderReport;
use rtc_rtcp::source_description::{SdesType, SourceDescription};

pub use ntp::{NtpTime, dlsr_to_duration, duration_to_dlsr};

use crate::rtp::Ssrc;
use crate::stats::{ReceiverStats, ReportMark, SenderStats};
use ntp::SplitMix64;
use wire::{Block, PT_BYE, PT_RR, PT_SDES, PT_SR, SenderInfo, SubPacket, Writer};

/// Minimum report interval (RFC 3550 §6.2).
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);
/// Default session bandwidth, bits per second: one G.711 stream's payload.
pub const DEFAULT_SESSION_BANDWIDTH: u32 = 64_000;
/// How many of our SRs we remember to match the LSR of incoming report blocks.
const SENT_SR_MEMORY: usize = 4;
/// IPv4 + UDP headers, counted in the average RTCP size (RFC 3550 §6.2).
const LOWER_LAYER_OVERHEAD: usize = 28;

/// Why an incoming RTCP datagram was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    /// Shorter than a header and an SSRC.
    #[error("RTCP datagram of {len} octets is too short")]
    TooShort {
        /// Length of the datagram.
        len: usize,
    },
    /// A packet of the compound is not version 2.
    #[error("RTCP packet at offset {offset} has version {version}, expected 2")]
    BadVersion {
        /// Offset of the packet in the datagram.
        offset: usize,
        /// The version found.
        version: u8,
    },
    /// The compound does not begin with an SR or an RR (RFC 3550 §6.1, A.2).
    #[error("RTCP compound begins with packet type {packet_type}, not SR or RR")]
    FirstNotReport {
        /// The first packet's type.
        packet_type: u8,
    },
    /// Padding on a packet that is not the last of the compound, or on the first (A.2).
    #[error("RTCP padding on the packet at offset {offset}, which may not carry it")]
    MisplacedPadding {
        /// Offset of the packet in the datagram.
        offset: usize,
    },
    /// A packet's length field runs past the datagram, or the lengths do not add up to it.
    #[error("RTCP packet at offset {offset} does not fit the {len}-octet datagram")]
    LengthMismatch {
        /// Offset of the packet in the datagram.
        offset: usize,
        /// Length of the datagram.
        len: usize,
    },
    /// The padding count of the last packet is 0 or larger than the packet's body.
    #[error("RTCP padding count {count} is invalid for the packet at offset {offset}")]
    BadPadding {
        /// Offset of the packet in the datagram.
        offset: usize,
        /// The padding count (last octet).
        count: u8,
    },
    /// The packet's body is malformed (counts and lengths disagree).
    #[error("RTCP packet of type {packet_type} is malformed")]
    Malformed {
        /// The packet's type.
        packet_type: u8,
    },
    /// The session has said BYE.
    #[error("RTCP session is closed")]
    Closed,
}

/// The sender info of the peer's last SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteSenderReport {
    /// The peer's SSRC.
    pub ssrc: Ssrc,
    /// The peer's wall clock when it sent the SR.
    pub ntp: NtpTime,
    /// The RTP timestamp matching `ntp` on the peer's media clock.
    pub rtp_timestamp: u32,
    /// Packets the peer has sent.
    pub packet_count: u32,
    /// Payload octets the peer has sent.
    pub octet_count: u32,
}

/// What the peer reports about the stream we send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportAboutUs {
    /// Fraction of our packets lost since its previous report, in 1/256.
    pub fraction_lost: u8,
    /// Our packets lost since the start (24-bit signed).
    pub cumulative_lost: i32,
    /// Low 32 bits of the highest extended sequence number it received.
    pub extended_highest: u32,
    /// Interarrival jitter it measured, in timestamp units.
    pub jitter: u32,
    /// Round-trip time, when the block names one of our recent SRs (LSR ≠ 0).
    pub rtt: Option<Duration>,
}

/// A BYE from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bye {
    /// The sources leaving.
    pub sources: Vec<Ssrc>,
    /// The reason, if one was given (lossy UTF-8).
    pub reason: Option<String>,
}

/// What one incoming compound packet said that a leg cares about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RtcpInfo {
    /// The sender info, when the packet was an SR.
    pub sender_report: Option<RemoteSenderReport>,
    /// The report block about our SSRC, if any.
    pub report_about_us: Option<ReportAboutUs>,
    /// The sender's CNAME, from its SDES.
    pub cname: Option<String>,
    /// A BYE, if the compound carried one.
    pub bye: Option<Bye>,
}

/// RTCP state of one leg. See the module docs for the drain rule.
#[derive(Debug)]
pub struct RtcpSession {
    /// Our SSRC on this leg (the one our RTP carries).
    local_ssrc: Ssrc,
    /// Our CNAME, at most 255 octets.
    cname: String,
    /// RTP clock rate of the leg's audio.
    clock_rate: u32,
    /// Spreads report times.
    rng: SplitMix64,
    /// Session bandwidth in bits per second (SDP `b=AS`), 5 % of which RTCP may use.
    session_bandwidth: u32,
    /// Moving average of compound sizes, lower layers included (RFC 3550 A.7 `avg_rtcp_size`).
    avg_rtcp_size: f64,
    /// When the next report is due; `None` until the first call that carries `now`.
    next_report: Option<Instant>,
    /// Whether we have sent a report yet (the first interval uses half of T_min).
    initial: bool,
    /// Packets sent at the last report and at the one before (RFC 3550 §6.4 SR choice).
    sent_at_reports: [u64; 2],
    /// Our recent SRs: middle 32 bits of their NTP time and when they left.
    sent_srs: [Option<(u32, Instant)>; SENT_SR_MEMORY],
    /// Next slot of `sent_srs` to overwrite.
    sent_sr_next: usize,
    /// The peer's last SR: its SSRC, the middle 32 bits of its NTP time and its arrival.
    last_remote_sr: Option<(Ssrc, u32, Instant)>,
    /// The last RTT measured.
    rtt: Option<Duration>,
    /// Receiver counts at our last report block, for its `fraction_lost`.
    mark: ReportMark,
    /// Whether BYE was sent.
    closed: bool,
}

impl RtcpSession {
    /// A session for a leg whose RTP we send with `local_ssrc`, at `clock_rate`. `cname` is cut
    /// to 255 octets (the SDES item limit); `rng_seed` makes the report schedule reproducible.
    #[must_use]
    pub fn new(local_ssrc: Ssrc, cname: &str, clock_rate: u32, rng_seed: u64) -> Self {
        let cname = wire::truncate_text(cname).to_owned();
        // RFC 3550 A.7: start from the probable size of our first compound (RR + SDES).
        let first = 8 + 4 + 4 + 2 + cname.len() + 4 + LOWER_LAYER_OVERHEAD;
        Self {
            local_ssrc,
            cname,
            clock_rate: if clock_rate == 0 { 8000 } else { clock_rate },
            rng: SplitMix64::new(rng_seed),
            session_bandwidth: DEFAULT_SESSION_BANDWIDTH,
            avg_rtcp_size: first as f64,
            next_report: None,
            initial: true,
            sent_at_reports: [0; 2],
            sent_srs: [None; SENT_SR_MEMORY],
            sent_sr_next: 0,
            last_remote_sr: None,
            rtt: None,
            mark: ReportMark::default(),
            closed: false,
        }
    }

    /// Sets the session bandwidth (bits per second, e.g. from SDP `b=AS:` × 1000).
    pub fn set_session_bandwidth(&mut self, bits_per_second: u32) {
        self.session_bandwidth = bits_per_second.max(1);
    }

    /// Our SSRC.
    #[must_use]
    pub fn local_ssrc(&self) -> Ssrc {
        self.local_ssrc
    }

    /// The RTP clock rate the session was made for.
    #[must_use]
    pub fn clock_rate(&self) -> u32 {
        self.clock_rate
    }

    /// The last round-trip time measured from the peer's reports.
    #[must_use]
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// When the next report is due (`None` before the schedule is anchored and after BYE).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed { None } else { self.next_report }
    }

    /// RFC 3550 §6.3.1 / A.7 `rtcp_interval` for two members (see the module docs).
    fn interval(&mut self, we_sent: bool, remote_sends: bool) -> Duration {
        let min = if self.initial {
            MIN_INTERVAL / 2
        } else {
            MIN_INTERVAL
        };
        let members = 2.0_f64;
        let senders = f64::from(u8::from(we_sent) + u8::from(remote_sends));
        let mut rtcp_bw = f64::from(self.session_bandwidth) * 0.05 / 8.0; // octets per second
        let mut n = members;
        if senders <= members * 0.25 {
            if we_sent {
                rtcp_bw *= 0.25;
                n = senders;
            } else {
                rtcp_bw *= 0.75;
                n -= senders;
            }
        }
        let t = (self.avg_rtcp_size * n / rtcp_bw).max(min.as_secs_f64());
        Duration::from_secs_f64(t * (0.5 + self.rng.next_unit()))
    }

    /// RFC 3550 A.7: `avg_rtcp_size = size / 16 + avg_rtcp_size * 15 / 16`.
    fn update_avg_size(&mut self, datagram_len: usize) {
        let size = (datagram_len + LOWER_LAYER_OVERHEAD) as f64;
        self.avg_rtcp_size = size / 16.0 + self.avg_rtcp_size * 15.0 / 16.0;
    }

    /// Arms the schedule at the first `now` the driver gives us.
    fn anchor(&mut self, now: Instant) {
        if self.next_report.is_none() && !self.closed {
            let t = self.interval(false, false);
            self.next_report = Some(now + t);
        }
    }

    /// Parses and validates one incoming compound packet (RFC 3550 §6.1, A.2) and returns what
    /// it says about the peer and about us.
    ///
    /// # Errors
    /// An [`RtcpError`] for a datagram that fails the validity check or whose SR, RR, SDES or
    /// BYE body is malformed; the session state is left as it was. Other packet types (APP,
    /// feedback, XR) are skipped: a leg has no use for them.
    pub fn handle_incoming(
        &mut self,
        now: Instant,
        datagram: &[u8],
    ) -> Result<RtcpInfo, RtcpError> {
        let mut parsed: Vec<(u8, Box<dyn Packet>)> = Vec::new();
        wire::walk(datagram, |sub| {
            if matches!(sub.packet_type, PT_SR | PT_RR | PT_SDES | PT_BYE) {
                parsed.push((sub.packet_type, parse_body(sub)?));
            }
            Ok(())
        })?;
        self.anchor(now);
        self.update_avg_size(datagram.len());
        let mut info = RtcpInfo::default();
        for (_, packet) in &parsed {
            let any = packet.as_any();
            if let Some(sr) = any.downcast_ref::<SenderReport>() {
                let ntp = NtpTime(sr.ntp_time);
                let ssrc = Ssrc(sr.ssrc);
                self.last_remote_sr = Some((ssrc, ntp.middle32(), now));
                info.sender_report = Some(RemoteSenderReport {
                    ssrc,
                    ntp,
                    rtp_timestamp: sr.rtp_time,
                    packet_count: sr.packet_count,
                    octet_count: sr.octet_count,
                });
                self.read_blocks(now, &sr.reports, &mut info);
            } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                self.read_blocks(now, &rr.reports, &mut info);
            } else if let Some(sdes) = any.downcast_ref::<SourceDescription>() {
                let cname = sdes
                    .chunks
                    .iter()
                    .flat_map(|c| &c.items)
                    .find(|i| i.sdes_type == SdesType::SdesCname);
                if let Some(item) = cname {
                    info.cname = Some(String::from_utf8_lossy(&item.text).into_owned());
                }
            } else if let Some(bye) = any.downcast_ref::<Goodbye>() {
                info.bye = Some(Bye {
                    sources: bye.sources.iter().map(|&s| Ssrc(s)).collect(),
                    reason: (!bye.reason.is_empty())
                        .then(|| String::from_utf8_lossy(&bye.reason).into_owned()),
                });
            }
        }
        Ok(info)
    }

    /// Takes the report block about our SSRC and computes the RTT from its LSR/DLSR.
    fn read_blocks(&mut self, now: Instant, blocks: &[WireBlock], info: &mut RtcpInfo) {
        let Some(block) = blocks.iter().find(|b| b.ssrc == self.local_ssrc.0) else {
            return;
        };
        let rtt = if block.last_sender_report == 0 {
            None
        } else {
            self.sent_srs
                .iter()
                .flatten()
                .find(|(mid, _)| *mid == block.last_sender_report)
                .map(|&(_, sent_at)| {
                    now.saturating_duration_since(sent_at)
                        .saturating_sub(dlsr_to_duration(block.delay))
                })
        };
        if rtt.is_some() {
            self.rtt = rtt;
        }
        // 24-bit two's complement (RFC 3550 §6.4.1).
        let raw = block.total_lost & 0x00FF_FFFF;
        let cumulative_lost = if raw & 0x0080_0000 != 0 {
            raw as i32 - 0x0100_0000
        } else {
            raw as i32
        };
        info.report_about_us = Some(ReportAboutUs {
            fraction_lost: block.fraction_lost,
            cumulative_lost,
            extended_highest: block.last_sequence_number,
            jitter: block.jitter,
            rtt,
        });
    }

    /// The compound report due at `now`, if one is: an SR when we sent RTP since the last report
    /// or the one before (RFC 3550 §6.4), else an RR; one report block about the peer once its
    /// stream is valid; then our SDES CNAME (§6.1). `wallclock` stamps the SR.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        wallclock: NtpTime,
        sender: &SenderStats,
        receiver: &ReceiverStats,
    ) -> Option<Vec<u8>> {
        if self.closed {
            return None;
        }
        self.anchor(now);
        if now < self.next_report? {
            return None;
        }
        let we_sent = sender.packets() > self.sent_at_reports[1];
        let sender_info = if we_sent {
            sender.timestamp_at(now).map(|rtp_timestamp| SenderInfo {
                ntp: wallclock.0,
                rtp_timestamp,
                // The SR fields carry the counts modulo 2³² (RFC 3550 §6.4.1).
                packets: (sender.packets() & 0xFFFF_FFFF) as u32,
                octets: (sender.octets() & 0xFFFF_FFFF) as u32,
            })
        } else {
            None
        };
        let mut w = Writer::default();
        let block = self.block_for(now, receiver);
        w.report(self.local_ssrc, sender_info, block.as_ref());
        w.sdes_cname(self.local_ssrc, &self.cname);
        let bytes = w.into_bytes();
        if sender_info.is_some() {
            self.sent_srs[self.sent_sr_next] = Some((wallclock.middle32(), now));
            self.sent_sr_next = (self.sent_sr_next + 1) % SENT_SR_MEMORY;
        }
        self.sent_at_reports = [sender.packets(), self.sent_at_reports[0]];
        self.update_avg_size(bytes.len());
        self.initial = false;
        let remote_sends = self.last_remote_sr.is_some();
        let t = self.interval(sender_info.is_some(), remote_sends);
        self.next_report = Some(now + t);
        Some(bytes)
    }

    /// The report block about the peer's stream, once it passed probation.
    fn block_for(&mut self, now: Instant, receiver: &ReceiverStats) -> Option<Block> {
        let ssrc = receiver.ssrc().filter(|_| receiver.is_valid())?;
        let (report, mark) = receiver.report_since(self.mark);
        self.mark = mark;
        let (lsr, dlsr) = match self.last_remote_sr {
            Some((sr_ssrc, mid, at)) if sr_ssrc == ssrc => {
                (mid, duration_to_dlsr(now.saturating_duration_since(at)))
            }
            _ => (0, 0),
        };
        Some(Block { report, lsr, dlsr })
    }

    /// The BYE compound for the end of the leg (RFC 3550 §6.6: an empty RR first, our SDES,
    /// then the BYE last). The session is closed afterwards. It is due at once: the BYE
    /// back-off of §6.3.7 only applies to sessions of more than 50 members, so `now` changes
    /// nothing for a two-member leg; it is taken like every other input.
    ///
    /// # Errors
    /// [`RtcpError::Closed`] if BYE was already sent.
    pub fn bye(&mut self, now: Instant, reason: Option<&str>) -> Result<Vec<u8>, RtcpError> {
        if self.closed {
            return Err(RtcpError::Closed);
        }
        let _ = now;
        let mut w = Writer::default();
        w.report(self.local_ssrc, None, None);
        w.sdes_cname(self.local_ssrc, &self.cname);
        w.bye(self.local_ssrc, reason.map(wire::truncate_text));
        self.closed = true;
        self.next_report = None;
        Ok(w.into_bytes())
    }
}

/// Parses one SR, RR, SDES or BYE with `rtc-rtcp`. A padded packet (the last of a compound) is
/// handed over without its padding: `rtc-rtcp` would read the padding octets as more chunks.
fn parse_body(sub: SubPacket<'_>) -> Result<Box<dyn Packet>, RtcpError> {
    let unpadded;
    let mut buf = if sub.bytes[0] & 0x20 != 0 {
        let count = sub.bytes[sub.bytes.len() - 1];
        let body = sub.bytes.len() - 4;
        // RFC 3550 §6.4.1: the count includes itself; padding keeps 32-bit alignment.
        if count == 0 || usize::from(count) > body || !count.is_multiple_of(4) {
            return Err(RtcpError::BadPadding {
                offset: sub.offset,
                count,
            });
        }
        let mut copy = sub.bytes[..sub.bytes.len() - usize::from(count)].to_vec();
        let words = u16::try_from(copy.len() / 4 - 1).unwrap_or(0).to_be_bytes();
        copy[0] &= !0x20;
        copy[2] = words[0];
        copy[3] = words[1];
        unpadded = copy;
        &unpadded[..]
    } else {
        sub.bytes
    };
    let mut packets = rtc_rtcp::packet::unmarshal(&mut buf).map_err(|_| RtcpError::Malformed {
        packet_type: sub.packet_type,
    })?;
    match (packets.pop(), packets.is_empty()) {
        (Some(p), true) => Ok(p),
        _ => Err(RtcpError::Malformed {
            packet_type: sub.packet_type,
        }),
    }
}
