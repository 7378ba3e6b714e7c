//! Per-stream RTP statistics for RTCP reports: the receiver side of RFC 3550 Appendix A.1
//! (sequence validation), A.3 (loss) and A.8 (jitter), and the sender counters an SR carries.
//!
//! A B2BUA terminates RTCP on each leg, so each leg keeps one [`ReceiverStats`] for the stream it
//! receives from its peer and one [`SenderStats`] for the stream it sends there; the RTCP session
//! ([`crate::rtcp`]) turns them into report blocks. Both are plain counters updated once per
//! packet, without allocation, and take the packet's arrival or send time as `now: Instant`; the
//! media worker owns the clock.
//!
//! # The receiver algorithm (RFC 3550 A.1), and its constants
//! * A new source is on **probation** until [`MIN_SEQUENTIAL`] (2) packets arrive in sequence; the
//!   packets of the probation are not counted, so the *base* sequence number is that of the
//!   packet that ends it (as in the RFC's `init_seq` / `update_seq`).
//! * A step forward of less than [`MAX_DROPOUT`] (3000) is accepted, losses included; crossing
//!   65535 → 0 counts a cycle.
//! * A packet less than [`MAX_MISORDER`] (100) behind the highest is late or a duplicate: it counts as
//!   received (so cumulative loss can go negative, RFC 3550 §6.4.1) and does not move the highest.
//!   We tell the two apart with a 128-bit window of recently seen numbers.
//! * Anything else is a jump: dropped, unless the next packet follows it in sequence, which means
//!   the sender restarted; the stream is then re-based on that packet.
//! * A new SSRC is a new source (a peer that re-INVITEs often changes it): the counters restart
//!   with a new probation.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchboard_media::rtp::{PayloadType, RtpHeader, Ssrc};
//! use switchboard_media::stats::ReceiverStats;
//!
//! let start = Instant::now();
//! let mut rx = ReceiverStats::new(8000);
//! for i in 0..10_u16 {
//!     if i == 5 { continue; } // lost
//!     let header = RtpHeader {
//!         marker: false,
//!         payload_type: PayloadType::PCMA,
//!         sequence: 100 + i,
//!         timestamp: 160 * u32::from(i),
//!         ssrc: Ssrc(7),
//!     };
//!     rx.record(start + Duration::from_millis(20 * u64::from(i)), &header);
//! }
//! let report = rx.take_report();
//! assert_eq!(report.cumulative_lost, 1); // packet 105; 100 was probation
//! assert_eq!(report.extended_highest, 109);
//! ```

use std::time::{Duration, Instant};

use crate::rtp::{RtpHeader, SeqNo, Ssrc};

/// Packets in sequence before a new source is valid (RFC 3550 A.1).
pub const MIN_SEQUENTIAL: u32 = 2;
/// Largest forward step accepted as loss rather than a jump (RFC 3550 A.1).
pub const MAX_DROPOUT: u16 = 3000;
/// Largest backward step accepted as a late or duplicate packet (RFC 3550 A.1).
pub const MAX_MISORDER: u16 = 100;
/// Span of the 16-bit sequence number.
const SEQ_MOD: u32 = 1 << 16;
/// Cumulative loss is a 24-bit signed field in a report block (RFC 3550 §6.4.1).
const LOST_MAX: i64 = 0x7F_FFFF;
/// Most negative 24-bit cumulative loss.
const LOST_MIN: i64 = -0x80_0000;

/// What the receiver made of one packet (RFC 3550 A.1 `update_seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeqVerdict {
    /// The new highest sequence number (possibly after a loss or a wrap).
    InOrder,
    /// Behind the highest by less than [`MAX_MISORDER`] and not seen before.
    Late,
    /// Seen before (within the 128-packet window).
    Duplicate,
    /// The source is still on probation; not counted.
    Probation,
    /// A jump of [`MAX_DROPOUT`] or more forward or [`MAX_MISORDER`] or more back; dropped until the
    /// next packet confirms it.
    Jump,
    /// The packet after a jump followed it: the sender restarted; counting restarts here.
    Restarted,
}

impl SeqVerdict {
    /// Whether the packet was counted as received (RFC 3550 A.1 `update_seq` returned 1).
    #[must_use]
    pub const fn counted(self) -> bool {
        matches!(
            self,
            Self::InOrder | Self::Late | Self::Duplicate | Self::Restarted
        )
    }
}

/// What a report block says about the stream received (RFC 3550 §6.4.1, computed as in A.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceptionReport {
    /// The source reported on.
    pub ssrc: Ssrc,
    /// Packets lost since the previous report, as a fraction of those expected, in 1/256.
    pub fraction_lost: u8,
    /// Expected minus received since the start, clamped to the 24-bit signed field.
    pub cumulative_lost: i32,
    /// Low 32 bits of the extended highest sequence number received.
    pub extended_highest: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
}

/// Receiver statistics for the one remote source of a leg.
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    /// RTP clock rate of the stream (Hz); converts arrival `Instant`s to timestamp units.
    clock_rate: u32,
    /// The source being counted; `None` before the first packet.
    ssrc: Option<Ssrc>,
    /// Highest sequence number seen (RFC `max_seq`).
    max_seq: u16,
    /// Wraps of `max_seq`, shifted by 16 (RFC `cycles`).
    cycles: u64,
    /// First counted sequence number, extended (RFC `base_seq`).
    base_seq: u64,
    /// Last jump + 1; a packet with this number confirms a restart (RFC `bad_seq`).
    bad_seq: u32,
    /// Packets still needed in sequence before the source is valid (RFC `probation`).
    probation: u32,
    /// Packets counted (RFC `received`), duplicates and late ones included.
    received: u64,
    /// Counts at the last [`Self::take_report`] (RFC `expected_prior` / `received_prior`).
    mark: ReportMark,
    /// Incremented whenever counting restarts (`init_seq`), so an old [`ReportMark`] is
    /// recognised as stale.
    generation: u64,
    /// Bit `i` set: `max_seq - i` was received. Tells duplicates from late packets.
    window: u128,
    /// Packets counted as [`SeqVerdict::Duplicate`].
    duplicates: u64,
    /// Packets counted as [`SeqVerdict::Late`].
    late: u64,
    /// Instant at which arrival time is 0 in timestamp units; set by the first packet.
    epoch: Option<Instant>,
    /// Relative transit time of the previous counted packet (RFC A.8 `transit`).
    transit: Option<u32>,
    /// Jitter estimate in timestamp units, scaled by 16 (RFC A.8 integer form).
    jitter_q4: u64,
    /// Arrival of the last packet of any kind, for media timeouts.
    last_arrival: Option<Instant>,
}

impl ReceiverStats {
    /// Statistics for a stream with this RTP clock rate (8000 for G.711 and G.722, 48000 for
    /// Opus). A rate of 0 is treated as 8000 rather than dividing by zero.
    #[must_use]
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: if clock_rate == 0 { 8000 } else { clock_rate },
            ssrc: None,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            mark: ReportMark::default(),
            generation: 0,
            window: 0,
            duplicates: 0,
            late: 0,
            epoch: None,
            transit: None,
            jitter_q4: 0,
            last_arrival: None,
        }
    }

    /// RFC 3550 A.1 `init_seq`: counting (re)starts at `seq`.
    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u64::from(seq);
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.generation += 1;
        self.window = 1;
        self.duplicates = 0;
        self.late = 0;
    }

    /// A packet from a source we have not counted yet: start its probation.
    fn new_source(&mut self, ssrc: Ssrc, seq: u16) {
        let (clock_rate, generation) = (self.clock_rate, self.generation);
        *self = Self::new(clock_rate);
        self.generation = generation;
        self.ssrc = Some(ssrc);
        self.init_seq(seq);
        self.max_seq = seq.wrapping_sub(1);
        self.window = 0;
        self.probation = MIN_SEQUENTIAL;
    }

    /// Records one received packet, arrived at `now`, and says what it was.
    pub fn record(&mut self, now: Instant, header: &RtpHeader) -> SeqVerdict {
        if self.ssrc != Some(header.ssrc) {
            self.new_source(header.ssrc, header.sequence);
        }
        self.last_arrival = Some(now);
        let verdict = self.update_seq(header.sequence);
        if verdict == SeqVerdict::Restarted {
            // A restarted sender picks a new random timestamp base (RFC 3550 §5.1): the old
            // transit time would read as one huge jitter sample.
            self.transit = None;
        }
        if verdict.counted() {
            self.update_jitter(now, header.timestamp);
        }
        verdict
    }

    /// RFC 3550 A.1 `update_seq`, plus the duplicate/late split.
    fn update_seq(&mut self, seq: u16) -> SeqVerdict {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SeqVerdict::InOrder;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqVerdict::Probation;
        }
        if udelta < MAX_DROPOUT {
            if udelta == 0 {
                self.duplicates += 1;
                self.received += 1;
                return SeqVerdict::Duplicate;
            }
            if seq < self.max_seq {
                self.cycles += u64::from(SEQ_MOD);
            }
            self.max_seq = seq;
            self.window = if udelta >= 128 {
                1
            } else {
                (self.window << udelta) | 1
            };
            self.received += 1;
            return SeqVerdict::InOrder;
        }
        if u32::from(udelta) <= SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets after a jump: the other side restarted (RFC 3550 A.1).
                self.init_seq(seq);
                self.received += 1;
                return SeqVerdict::Restarted;
            }
            self.bad_seq = (u32::from(seq) + 1) & (SEQ_MOD - 1);
            return SeqVerdict::Jump;
        }
        // Behind the highest by 1..MAX_MISORDER.
        let behind = u32::from(self.max_seq.wrapping_sub(seq));
        let bit = 1_u128 << behind;
        self.received += 1;
        if self.window & bit != 0 {
            self.duplicates += 1;
            SeqVerdict::Duplicate
        } else {
            self.window |= bit;
            self.late += 1;
            SeqVerdict::Late
        }
    }

    /// RFC 3550 A.8: `J += (|D| - J) / 16`, in the integer form scaled by 16.
    fn update_jitter(&mut self, now: Instant, timestamp: u32) {
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = to_timestamp_units(now.saturating_duration_since(epoch), self.clock_rate);
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(previous) = self.transit {
            let d = u64::from((transit.wrapping_sub(previous) as i32).unsigned_abs());
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// The source being counted, once a packet has arrived.
    #[must_use]
    pub fn ssrc(&self) -> Option<Ssrc> {
        self.ssrc
    }

    /// Whether the source has passed probation, i.e. a report block about it makes sense.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.ssrc.is_some() && self.probation == 0
    }

    /// Extended highest sequence number received (RFC 3550 A.3 `extended_max`).
    #[must_use]
    pub fn extended_highest(&self) -> SeqNo {
        SeqNo(self.cycles + u64::from(self.max_seq))
    }

    /// Packets expected since the base (RFC 3550 A.3), 0 during probation.
    #[must_use]
    pub fn expected(&self) -> u64 {
        if self.is_valid() {
            (self.extended_highest().0 + 1).saturating_sub(self.base_seq)
        } else {
            0
        }
    }

    /// Packets counted as received, late ones and duplicates included.
    #[must_use]
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Duplicate packets counted.
    #[must_use]
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Late (reordered) packets counted.
    #[must_use]
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Expected minus received, clamped to the 24-bit signed range of a report block.
    #[must_use]
    pub fn cumulative_lost(&self) -> i32 {
        let lost = i128::from(self.expected()) - i128::from(self.received);
        // The clamp keeps it within 24 bits, so the narrowing cannot fail.
        i32::try_from(lost.clamp(i128::from(LOST_MIN), i128::from(LOST_MAX))).unwrap_or(0)
    }

    /// Interarrival jitter in timestamp units (RFC 3550 A.8 `jitter >> 4`).
    #[must_use]
    pub fn jitter(&self) -> u32 {
        u32::try_from(self.jitter_q4 >> 4).unwrap_or(u32::MAX)
    }

    /// Arrival of the last packet, counted or not.
    #[must_use]
    pub fn last_arrival(&self) -> Option<Instant> {
        self.last_arrival
    }

    /// The report block for now, and the start of the next reporting interval (RFC 3550 A.3:
    /// `fraction_lost` is computed over the packets since the previous call).
    pub fn take_report(&mut self) -> ReceptionReport {
        let (report, mark) = self.report_since(self.mark);
        self.mark = mark;
        report
    }

    /// The report block with `fraction_lost` computed since `mark` (RFC 3550 A.3), and the mark
    /// for the next one, without changing the statistics: the RTCP session keeps its own mark,
    /// so it only needs to borrow the stats. A mark taken before counting restarted (new SSRC,
    /// sender restart) counts as "nothing before".
    #[must_use]
    pub fn report_since(&self, mark: ReportMark) -> (ReceptionReport, ReportMark) {
        let prior = if mark.generation == self.generation {
            mark
        } else {
            ReportMark::default()
        };
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(prior.expected);
        let received_interval = self.received.saturating_sub(prior.received);
        let lost_interval = i128::from(expected_interval) - i128::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            // lost_interval <= expected_interval, so the quotient is at most 256; a full loss
            // of the interval reports 255, the largest the 8-bit field holds.
            u8::try_from((lost_interval << 8) / i128::from(expected_interval)).unwrap_or(u8::MAX)
        };
        let report = ReceptionReport {
            ssrc: self.ssrc.unwrap_or_default(),
            fraction_lost,
            cumulative_lost: self.cumulative_lost(),
            // The field carries the low 32 bits (RFC 3550 §6.4.1).
            extended_highest: (self.extended_highest().0 & 0xFFFF_FFFF) as u32,
            jitter: self.jitter(),
        };
        let next = ReportMark {
            generation: self.generation,
            expected,
            received: self.received,
        };
        (report, next)
    }
}

/// The counts at a report, from which the next report's `fraction_lost` is computed
/// (RFC 3550 A.3 `expected_prior`, `received_prior`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportMark {
    /// [`ReceiverStats`]' restart count when the mark was taken.
    generation: u64,
    /// Packets expected at the mark.
    expected: u64,
    /// Packets received at the mark.
    received: u64,
}

/// Converts a duration to RTP timestamp units at `clock_rate`, wrapping like the timestamps.
#[must_use]
pub fn to_timestamp_units(d: Duration, clock_rate: u32) -> u32 {
    let units = d.as_nanos() * u128::from(clock_rate) / 1_000_000_000;
    (units & 0xFFFF_FFFF) as u32
}

/// What we sent on a leg, for the sender info of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Default)]
pub struct SenderStats {
    /// RTP clock rate of the stream we send (Hz).
    clock_rate: u32,
    /// Packets sent since the start.
    packets: u64,
    /// Payload octets sent since the start (headers and padding excluded).
    octets: u64,
    /// Timestamp of the last packet sent and when it was sent.
    last: Option<(u32, Instant)>,
}

impl SenderStats {
    /// Counters for a stream with this RTP clock rate (0 is treated as 8000).
    #[must_use]
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: if clock_rate == 0 { 8000 } else { clock_rate },
            ..Self::default()
        }
    }

    /// Records one packet sent at `now` with `payload_len` payload octets.
    pub fn record(&mut self, now: Instant, header: &RtpHeader, payload_len: usize) {
        self.packets += 1;
        self.octets += payload_len as u64;
        self.last = Some((header.timestamp, now));
    }

    /// Packets sent since the start.
    #[must_use]
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Payload octets sent since the start.
    #[must_use]
    pub fn octets(&self) -> u64 {
        self.octets
    }

    /// The last RTP timestamp sent and the `Instant` it was sent at.
    #[must_use]
    pub fn last_timestamp(&self) -> Option<(u32, Instant)> {
        self.last
    }

    /// The RTP timestamp that corresponds to `now` on the stream's clock, extrapolated from the
    /// last packet sent, as an SR must carry (RFC 3550 §6.4.1: "the same time as the NTP
    /// timestamp"). `None` before the first packet.
    #[must_use]
    pub fn timestamp_at(&self, now: Instant) -> Option<u32> {
        let (ts, at) = self.last?;
        let forward = to_timestamp_units(now.saturating_duration_since(at), self.clock_rate);
        let backward = to_timestamp_units(at.saturating_duration_since(now), self.clock_rate);
        Some(ts.wrapping_add(forward).wrapping_sub(backward))
    }
}
