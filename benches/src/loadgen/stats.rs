//! What the receiving side counts, per stream and per direction: packets, duplicates, late
//! (reordered) packets, added latency and interarrival jitter.
//!
//! Everything here is sans-IO: the receiver thread passes each datagram with its arrival time (ns
//! since the run's epoch) and nothing reads a clock, so the arithmetic is tested with exact
//! numbers. Per packet there is no allocation: the latency histogram is a fixed array of
//! counters allocated once per direction.
//!
//! * **Latency** (added by whatever sits between the generator's two sockets) is arrival time
//!   minus the send time in the payload stamp; both come from the same `Instant` epoch of one
//!   process, so no clock offset enters. Only stamped packets have it.
//! * **Jitter** is RFC 3550 §6.4.1 / A.8: `J += (|D| - J) / 16`, where `D` is the difference of
//!   two consecutive transit times. A stamped packet's transit is arrival minus stamp; an
//!   unstamped one (transcoded) uses its RTP timestamp, converted with the payload type's clock.
//! * **Loss** is computed by the caller of this module: packets the peer stream sent minus the
//!   unique packets that arrived here, after a drain.

use crate::loadgen::packet::{PacketError, RtpHeader, Stamp, StreamId};

/// Width of one latency bucket: 10 µs, well below the 5 ms p99 target.
pub const BUCKET_NS: u64 = 10_000;
/// Number of buckets: 10 µs × 20,000 = 200 ms; slower packets go to an overflow counter.
pub const BUCKETS: usize = 20_000;

/// A fixed-resolution histogram of latencies (ns), with the exact maximum kept aside.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    buckets: Vec<u64>,
    overflow: u64,
    count: u64,
    max_ns: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: vec![0; BUCKETS],
            overflow: 0,
            count: 0,
            max_ns: 0,
        }
    }
}

impl LatencyHistogram {
    /// Counts one sample.
    pub fn record(&mut self, ns: u64) {
        let bucket = usize::try_from(ns / BUCKET_NS).unwrap_or(usize::MAX);
        match self.buckets.get_mut(bucket) {
            Some(b) => *b += 1,
            None => self.overflow += 1,
        }
        self.count += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    /// Samples counted.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest sample, exactly; `None` when empty.
    #[must_use]
    pub fn max_ns(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max_ns)
    }

    /// Adds another histogram's samples to this one.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.overflow += other.overflow;
        self.count += other.count;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// The `q`-quantile (0 < q ≤ 1) by the nearest-rank method: the upper edge of the bucket that
    /// holds the ⌈q·n⌉-th smallest sample, never above the exact maximum (so the reported value is
    /// at most one bucket above the true one, never below it). `None` when empty.
    #[must_use]
    pub fn quantile_ns(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        // Nearest rank: the smallest rank r with r ≥ q·n, at least 1. The product is exact for the
        // counts we see (< 2^53), and the cast cannot truncate a value above `count`.
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let upper = (i as u64 + 1) * BUCKET_NS;
                return Some(upper.min(self.max_ns));
            }
        }
        Some(self.max_ns) // the rank falls among the overflow samples
    }
}

/// Interarrival jitter estimator of RFC 3550 §6.4.1, in the arithmetic of its appendix A.8, in
/// nanoseconds instead of timestamp units.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Jitter {
    last_transit: Option<i64>,
    jitter: f64,
}

impl Jitter {
    /// Feeds the transit time (arrival − send, any constant offset) of the next packet.
    pub fn on_transit(&mut self, transit_ns: i64) {
        if let Some(last) = self.last_transit {
            // A.8: d = transit - s->transit; if (d < 0) d = -d; jitter += (d - jitter) / 16.
            let d = transit_ns.abs_diff(last) as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit_ns);
    }

    /// The current estimate, ns.
    #[must_use]
    pub fn value_ns(&self) -> f64 {
        self.jitter
    }
}

/// What one arriving sequence number was, relative to those already seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Above every number seen so far (in order, possibly after a gap).
    InOrder,
    /// Below the highest seen and not seen before: reordered.
    Late,
    /// Seen before.
    Duplicate,
    /// So far below the highest that the window no longer remembers it; counted as late.
    TooOld,
}

/// Remembers which of the last 128 sequence numbers arrived, to tell late from duplicate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqWindow {
    highest: Option<u64>,
    /// Bit `k` set: `highest - k` arrived.
    seen: u128,
}

impl SeqWindow {
    /// Classifies `seq` and remembers it.
    pub fn observe(&mut self, seq: u64) -> Arrival {
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            self.seen = 1;
            return Arrival::InOrder;
        };
        if seq > highest {
            let shift = seq - highest;
            self.seen = if shift >= 128 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.highest = Some(seq);
            return Arrival::InOrder;
        }
        let back = highest - seq;
        if back >= 128 {
            return Arrival::TooOld;
        }
        let bit = 1_u128 << back;
        if self.seen & bit != 0 {
            Arrival::Duplicate
        } else {
            self.seen |= bit;
            Arrival::Late
        }
    }
}

/// Extends 16-bit RTP sequence numbers or 32-bit timestamps to 64 bits across wrap-around
/// (RFC 3550 A.1), assuming consecutive values are less than half the range apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unwrap {
    last: Option<(u32, i64)>,
}

impl Unwrap {
    /// Extends `value`, which wraps at `2^bits` (16 or 32). The first value maps to itself
    /// plus 2^40, so that values slightly before it stay positive.
    pub fn extend(&mut self, value: u32, bits: u32) -> u64 {
        let range = 1_i64 << bits;
        let extended = match self.last {
            None => i64::from(value) + (1 << 40),
            Some((last, last_ext)) => {
                let mut delta = i64::from(value) - i64::from(last);
                if delta > range / 2 {
                    delta -= range;
                } else if delta < -range / 2 {
                    delta += range;
                }
                last_ext + delta
            }
        };
        self.last = Some((value, extended));
        u64::try_from(extended).unwrap_or(0)
    }
}

/// The RTP clock rate of a payload type, for jitter of unstamped packets: the static G.711 and
/// G.722 types run at 8 kHz (RFC 3551 §4.5), dynamic ones are assumed to be Opus (48 kHz,
/// RFC 7587 §4.1), the only dynamic audio codec the generator negotiates.
#[must_use]
pub fn clock_rate(payload_type: u8) -> u64 {
    if payload_type >= 96 { 48_000 } else { 8_000 }
}

/// Counters of one class of packets (stamped or not) arriving on one socket.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Packets that arrived, duplicates included.
    pub received: u64,
    /// Of those, already seen before.
    pub duplicates: u64,
    /// Arrived after a higher sequence number (reordered).
    pub late: u64,
    seq: SeqWindow,
    jitter: Jitter,
}

impl Tally {
    /// Unique packets: what loss is computed from.
    #[must_use]
    pub fn unique(&self) -> u64 {
        self.received - self.duplicates
    }

    /// Current jitter estimate, ns.
    #[must_use]
    pub fn jitter_ns(&self) -> f64 {
        self.jitter.value_ns()
    }

    /// Counts a packet with sequence number `seq` and transit time `transit_ns`; `false` for a
    /// duplicate (which feeds neither jitter nor latency).
    fn count(&mut self, seq: u64, transit_ns: i64) -> bool {
        self.received += 1;
        match self.seq.observe(seq) {
            Arrival::Duplicate => {
                self.duplicates += 1;
                return false;
            }
            Arrival::Late | Arrival::TooOld => self.late += 1,
            Arrival::InOrder => {}
        }
        self.jitter.on_transit(transit_ns);
        true
    }
}

/// Everything counted for the packets arriving on one socket.
///
/// Stamped packets (the peer's, relayed unchanged) and unstamped ones (transcoded by the
/// switch, or audio the switch makes itself, such as ringback or a prompt) are kept apart: each
/// class has its own sequence space and its own transit clock, and a direction's loss is computed
/// from the class it carries (see [`DirectionReport::new`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RxStream {
    /// Packets with a valid stamp of the expected peer stream, by the stamp's sequence number;
    /// jitter from the stamp's send time, latency measured.
    pub stamped: Tally,
    /// Packets without a stamp, by their RTP sequence number; jitter from their RTP timestamp.
    pub unstamped: Tally,
    /// Carried a stamp of another stream: the middlebox crossed two calls.
    pub misrouted: u64,
    /// RTCP that arrived on the RTP socket (not counted as media).
    pub rtcp: u64,
    /// Datagrams that are not RTP.
    pub invalid: u64,
    rtp_seq: Unwrap,
    rtp_ts: Unwrap,
}

impl RxStream {
    /// Accounts one datagram that arrived on `own` (so from its peer stream) at `arrival_ns`;
    /// latency of stamped packets goes into `latency`.
    pub fn on_datagram(
        &mut self,
        own: StreamId,
        datagram: &[u8],
        arrival_ns: u64,
        latency: &mut LatencyHistogram,
    ) {
        let (header, payload) = match RtpHeader::parse(datagram) {
            Ok(parsed) => parsed,
            Err(PacketError::Rtcp) => {
                self.rtcp += 1;
                return;
            }
            Err(_) => {
                self.invalid += 1;
                return;
            }
        };
        match Stamp::read(payload) {
            Some(stamp) if stamp.stream != own.peer() => self.misrouted += 1,
            Some(stamp) => {
                let transit = signed(arrival_ns) - signed(stamp.sent_ns);
                if self.stamped.count(u64::from(stamp.seq), transit) {
                    latency.record(arrival_ns.saturating_sub(stamp.sent_ns));
                }
            }
            None => {
                let seq = self.rtp_seq.extend(u32::from(header.seq), 16);
                let ts = self.rtp_ts.extend(header.timestamp, 32);
                let media_ns =
                    u128::from(ts) * 1_000_000_000 / u128::from(clock_rate(header.payload_type));
                let transit =
                    signed(arrival_ns) - signed(u64::try_from(media_ns).unwrap_or(u64::MAX));
                self.unstamped.count(seq, transit);
            }
        }
    }
}

/// `u64` ns to `i64` for differences (the run lasts far less than 292 years).
fn signed(ns: u64) -> i64 {
    i64::try_from(ns).unwrap_or(i64::MAX)
}

/// Added latency of a direction, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

impl LatencySummary {
    /// From a histogram; `None` when no stamped packet arrived (transcoded directions).
    #[must_use]
    pub fn of(histogram: &LatencyHistogram) -> Option<LatencySummary> {
        Some(LatencySummary {
            p50_ms: ms(histogram.quantile_ns(0.50)?),
            p99_ms: ms(histogram.quantile_ns(0.99)?),
            max_ms: ms(histogram.max_ns()?),
        })
    }
}
fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// One direction of every call, summed (caller → agent, or agent → caller).
#[derive(Debug, Clone, PartialEq)]
pub struct DirectionReport {
    /// `"caller->agent"` or `"agent->caller"`.
    pub name: &'static str,
    /// Packets the sending sockets sent.
    pub sent: u64,
    /// Unique packets of the direction's class that arrived at the receiving sockets.
    pub received: u64,
    /// `sent - received`, never negative.
    pub lost: u64,
    /// Duplicates that arrived.
    pub duplicates: u64,
    /// Reordered packets.
    pub late: u64,
    /// Packets that arrived on another call's socket.
    pub misrouted: u64,
    /// Whether the direction carried stamped packets (relayed unchanged), so that its loss,
    /// latency and jitter are those of the stamps; otherwise (transcoded) of the RTP headers.
    pub stamped: bool,
    /// Unstamped packets that arrived in a stamped direction: audio the switch made itself.
    pub other: u64,
    /// Added latency of stamped packets.
    pub latency: Option<LatencySummary>,
    /// Mean of the streams' final RFC 3550 jitter, ms.
    pub jitter_mean_ms: f64,
    /// Largest stream jitter, ms.
    pub jitter_max_ms: f64,
}

impl DirectionReport {
    /// Sums the receiving streams of one direction; `sent` is what their peers sent. When any
    /// stamped packet arrived, the direction is relayed and only stamped packets count (a stream
    /// that got none lost them all); otherwise every unstamped packet counts.
    #[must_use]
    pub fn new(
        name: &'static str,
        sent: u64,
        receivers: &[&RxStream],
        latency: &LatencyHistogram,
    ) -> DirectionReport {
        let stamped = receivers.iter().any(|r| r.stamped.received > 0);
        let tallies: Vec<&Tally> = receivers
            .iter()
            .map(|r| if stamped { &r.stamped } else { &r.unstamped })
            .collect();
        let received = tallies.iter().map(|t| t.unique()).sum::<u64>();
        let jitters: Vec<f64> = tallies
            .iter()
            .filter(|t| t.received > 1)
            .map(|t| t.jitter_ns() / 1e6)
            .collect();
        let jitter_mean_ms = if jitters.is_empty() {
            0.0
        } else {
            jitters.iter().sum::<f64>() / jitters.len() as f64
        };
        DirectionReport {
            name,
            sent,
            received,
            lost: sent.saturating_sub(received),
            duplicates: tallies.iter().map(|t| t.duplicates).sum(),
            late: tallies.iter().map(|t| t.late).sum(),
            misrouted: receivers.iter().map(|r| r.misrouted).sum(),
            stamped,
            other: if stamped {
                receivers.iter().map(|r| r.unstamped.received).sum()
            } else {
                0
            },
            latency: LatencySummary::of(latency),
            jitter_mean_ms,
            jitter_max_ms: jitters.iter().copied().fold(0.0, f64::max),
        }
    }

    /// Lost packets as a percentage of those sent (0 when nothing was sent).
    #[must_use]
    pub fn loss_pct(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        self.lost as f64 * 100.0 / self.sent as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::packet::{RTP_HEADER_LEN, STAMP_LEN};
    use proptest::prelude::*;

    fn hist(samples: &[u64]) -> LatencyHistogram {
        let mut h = LatencyHistogram::default();
        for &s in samples {
            h.record(s);
        }
        h
    }

    #[test]
    fn quantiles_are_nearest_rank_bucket_upper_edges() {
        // 100 samples: 1..=100 × 10 µs minus 1 ns, one per bucket 0..=99.
        let samples: Vec<u64> = (1..=100).map(|i| i * BUCKET_NS - 1).collect();
        let h = hist(&samples);
        assert_eq!(h.count(), 100);
        // Rank 50 is in bucket 49, whose upper edge is 500 µs.
        assert_eq!(h.quantile_ns(0.50), Some(500_000));
        // Rank 99 is in bucket 98: 990 µs.
        assert_eq!(h.quantile_ns(0.99), Some(990_000));
        // Rank 100: the bucket edge (1 ms) is capped at the exact maximum.
        assert_eq!(h.quantile_ns(1.0), Some(999_999));
        assert_eq!(h.max_ns(), Some(999_999));
        assert_eq!(h.quantile_ns(0.0), Some(10_000), "rank is at least 1");
    }

    #[test]
    fn quantile_of_few_samples_and_overflow() {
        assert_eq!(LatencyHistogram::default().quantile_ns(0.5), None);
        assert_eq!(LatencyHistogram::default().max_ns(), None);
        let h = hist(&[25_000]);
        assert_eq!(h.quantile_ns(0.5), Some(25_000));
        // Two samples beyond 200 ms: the p99 is the exact maximum.
        let h = hist(&[1_000, 300_000_000, 400_000_000]);
        assert_eq!(h.quantile_ns(0.33), Some(10_000));
        assert_eq!(
            h.quantile_ns(0.34),
            Some(400_000_000),
            "a rank among the overflow reports the exact maximum: never below the truth"
        );
    }

    #[test]
    fn merge_adds_counts_and_keeps_the_max() {
        let mut a = hist(&[5_000, 15_000]);
        a.merge(&hist(&[25_000, 7_000_000]));
        assert_eq!(a.count(), 4);
        assert_eq!(a.max_ns(), Some(7_000_000));
        assert_eq!(a.quantile_ns(0.5), Some(20_000));
    }

    #[test]
    fn jitter_follows_rfc3550_a8_exactly() {
        let mut j = Jitter::default();
        j.on_transit(0);
        assert_eq!(j.value_ns(), 0.0, "one packet: no difference yet");
        j.on_transit(1_000); // D = 1000: J = 1000/16
        assert_eq!(j.value_ns(), 62.5);
        j.on_transit(1_000); // D = 0: J = 62.5 - 62.5/16
        assert_eq!(j.value_ns(), 58.593_75);
        j.on_transit(-1_000); // D = 2000 (absolute value)
        assert_eq!(j.value_ns(), 58.593_75 + (2_000.0 - 58.593_75) / 16.0);
        assert_eq!(j.value_ns(), 179.931_640_625);
    }

    #[test]
    fn constant_transit_has_no_jitter() {
        let mut j = Jitter::default();
        for _ in 0..100 {
            j.on_transit(5_000_000); // a constant delay, whatever its size
        }
        assert_eq!(j.value_ns(), 0.0);
    }

    #[test]
    fn window_tells_late_from_duplicate() {
        let mut w = SeqWindow::default();
        assert_eq!(w.observe(10), Arrival::InOrder);
        assert_eq!(w.observe(12), Arrival::InOrder);
        assert_eq!(w.observe(11), Arrival::Late);
        assert_eq!(w.observe(11), Arrival::Duplicate);
        assert_eq!(w.observe(12), Arrival::Duplicate);
        assert_eq!(w.observe(300), Arrival::InOrder);
        assert_eq!(w.observe(173), Arrival::Late, "127 back: still remembered");
        assert_eq!(w.observe(172), Arrival::TooOld);
        assert_eq!(w.observe(173), Arrival::Duplicate);
    }

    #[test]
    fn unwrap_crosses_the_wrap_both_ways() {
        let mut u = Unwrap::default();
        let a = u.extend(65_534, 16);
        let b = u.extend(1, 16);
        assert_eq!(b - a, 3);
        let c = u.extend(65_535, 16);
        assert_eq!(b - c, 2);
        let mut t = Unwrap::default();
        let x = t.extend(u32::MAX - 159, 32);
        assert_eq!(t.extend(0, 32) - x, 160);
    }

    fn packet(pt: u8, seq: u16, ts: u32, stamp: Option<Stamp>) -> Vec<u8> {
        let mut p = vec![0xD5_u8; RTP_HEADER_LEN + 160];
        let header = RtpHeader {
            marker: false,
            payload_type: pt,
            seq,
            timestamp: ts,
            ssrc: 1,
        };
        header.write(&mut p);
        if let Some(stamp) = stamp {
            stamp.write(&mut p[RTP_HEADER_LEN..]);
        }
        p
    }

    #[test]
    fn stamped_packets_give_latency_loss_and_dups() {
        let own = StreamId(3); // agent side of call 1: its peer is stream 2
        let mut rx = RxStream::default();
        let mut lat = LatencyHistogram::default();
        let stamp = |seq: u32| Stamp {
            stream: StreamId(2),
            seq,
            sent_ns: u64::from(seq) * 20_000_000,
        };
        // seq 0 after 100 µs, seq 2 after 300 µs, seq 1 late after 20.5 ms, seq 2 again.
        rx.on_datagram(own, &packet(8, 900, 0, Some(stamp(0))), 100_000, &mut lat);
        rx.on_datagram(
            own,
            &packet(8, 902, 0, Some(stamp(2))),
            40_300_000,
            &mut lat,
        );
        rx.on_datagram(
            own,
            &packet(8, 901, 0, Some(stamp(1))),
            40_500_000,
            &mut lat,
        );
        rx.on_datagram(
            own,
            &packet(8, 902, 0, Some(stamp(2))),
            40_600_000,
            &mut lat,
        );
        let t = rx.stamped;
        assert_eq!((t.received, t.duplicates, t.late, t.unique()), (4, 1, 1, 3));
        assert_eq!(rx.unstamped, Tally::default());
        assert_eq!(lat.count(), 3);
        assert_eq!(lat.max_ns(), Some(20_500_000));
        // Transits 100 µs, 300 µs, 20.5 ms: D = 200 µs then 20.2 ms.
        let j1 = 200_000.0 / 16.0;
        assert_eq!(rx.stamped.jitter_ns(), j1 + (20_200_000.0 - j1) / 16.0);
        let report = DirectionReport::new("caller->agent", 4, &[&rx], &lat);
        assert_eq!((report.sent, report.received, report.lost), (4, 3, 1));
        assert!(report.stamped);
        assert_eq!(report.loss_pct(), 25.0);
        assert_eq!(report.latency.map(|l| l.max_ms), Some(20.5));
    }

    #[test]
    fn foreign_stamps_rtcp_and_noise_are_not_media() {
        let mut rx = RxStream::default();
        let mut lat = LatencyHistogram::default();
        let foreign = Stamp {
            stream: StreamId(8),
            seq: 0,
            sent_ns: 0,
        };
        rx.on_datagram(StreamId(3), &packet(8, 1, 0, Some(foreign)), 10, &mut lat);
        let mut rtcp = packet(8, 1, 0, None);
        rtcp[1] = 201;
        rx.on_datagram(StreamId(3), &rtcp, 10, &mut lat);
        rx.on_datagram(StreamId(3), b"hello", 10, &mut lat);
        assert_eq!((rx.misrouted, rx.rtcp, rx.invalid), (1, 1, 1));
        assert_eq!(rx.stamped.received + rx.unstamped.received, 0);
    }

    #[test]
    fn unstamped_packets_use_the_rtp_clock() {
        // Transcoded PCMA: no stamp; 8 kHz timestamps 160 apart (20 ms), arrivals 20 ms apart
        // except the third, 1 ms late. Transits: 0, 0, +1 ms, 0.
        let mut rx = RxStream::default();
        let mut lat = LatencyHistogram::default();
        let base = 7_000_000_000;
        for (i, extra) in [0_u64, 0, 1_000_000, 0].into_iter().enumerate() {
            let i16 = u16::try_from(i).unwrap();
            let p = packet(8, 65_534_u16.wrapping_add(i16), 320 * u32::from(i16), None);
            rx.on_datagram(
                StreamId(0),
                &p,
                base + 40_000_000 * i as u64 + extra,
                &mut lat,
            );
        }
        // 320 ticks at 8 kHz = 40 ms, matching the arrival spacing.
        assert_eq!(
            (
                rx.unstamped.received,
                rx.unstamped.late,
                rx.stamped.received
            ),
            (4, 0, 0)
        );
        assert_eq!(lat.count(), 0);
        let j = 1_000_000.0 / 16.0;
        assert_eq!(rx.unstamped.jitter_ns(), j + (1_000_000.0 - j) / 16.0);
        let report = DirectionReport::new("agent->caller", 4, &[&rx], &lat);
        assert_eq!(report.latency, None);
        assert!(!report.stamped);
        assert_eq!((report.lost, report.other), (0, 0));
    }

    #[test]
    fn the_switchs_own_audio_does_not_hide_loss() {
        // Two calls relayed unchanged: call 0 gets its stamped packets plus some ringback the
        // switch made; call 1 gets only ringback, so all its peer's packets are lost.
        let stamp = |stream: u16, seq: u32| Stamp {
            stream: StreamId(stream),
            seq,
            sent_ns: 0,
        };
        let mut lat = LatencyHistogram::default();
        let (mut call0, mut call1) = (RxStream::default(), RxStream::default());
        for seq in 0..3 {
            call0.on_datagram(
                StreamId(1),
                &packet(8, 0, 0, Some(stamp(0, seq))),
                1_000,
                &mut lat,
            );
        }
        for seq in 0..5 {
            call0.on_datagram(StreamId(1), &packet(8, seq, 0, None), 1_000, &mut lat);
            call1.on_datagram(StreamId(3), &packet(8, seq, 0, None), 1_000, &mut lat);
        }
        let report = DirectionReport::new("caller->agent", 6, &[&call0, &call1], &lat);
        assert!(report.stamped);
        assert_eq!((report.received, report.lost, report.other), (3, 3, 10));
    }

    #[test]
    fn stamp_starts_after_the_header() {
        assert_eq!(RTP_HEADER_LEN + STAMP_LEN, 28);
    }

    proptest! {
        #[test]
        fn quantiles_are_ordered_and_bounded(samples in proptest::collection::vec(0_u64..300_000_000, 1..200)) {
            let h = hist(&samples);
            let max = *samples.iter().max().unwrap();
            let p50 = h.quantile_ns(0.5).unwrap();
            let p99 = h.quantile_ns(0.99).unwrap();
            prop_assert!(p50 <= p99);
            prop_assert!(p99 <= max);
            prop_assert_eq!(h.max_ns(), Some(max));
            // Never below the true nearest-rank value, at most one bucket above it.
            let mut sorted = samples.clone();
            sorted.sort_unstable();
            let rank = ((0.99 * sorted.len() as f64).ceil() as usize).max(1);
            let truth = sorted[rank - 1];
            prop_assert!(p99 >= truth);
            if truth < BUCKET_NS * BUCKETS as u64 {
                prop_assert!(p99 <= truth + BUCKET_NS);
            }
        }

        #[test]
        fn receiving_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), at: u64) {
            let mut rx = RxStream::default();
            let mut lat = LatencyHistogram::default();
            rx.on_datagram(StreamId(1), &bytes, at, &mut lat);
            prop_assert!(rx.stamped.unique() <= rx.stamped.received);
            prop_assert!(rx.unstamped.unique() <= rx.unstamped.received);
        }
    }
}
