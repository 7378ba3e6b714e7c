//! Receiving telephone-events: packets in, one begin and one end per key press out.
//!
//! # How a press is recognised (RFC 4733 §2.5.2)
//! An event is identified by its RTP timestamp, not by the marker bit: the first packet (the one
//! with the marker) may be lost or arrive late, and some senders get the marker wrong. So:
//! * the first packet seen with a new timestamp begins the press, whatever its marker, and its
//!   start is dated back by the duration it reports (a press whose first packets were lost still
//!   counts, with the right start);
//! * packets with the timestamp of the press in progress only update its duration (the largest
//!   seen wins, so reordered updates do no harm);
//! * the E bit ends it; the two retransmitted end packets (§2.5.1.4), and any update that
//!   arrives after the end, find the timestamp among the recently ended ones and are dropped;
//! * a new segment of a long press (§2.5.1.3: same key, timestamp advanced by about 0xFFFF while
//!   the press is on) extends the press instead of beginning another;
//! * a packet with a newer timestamp while a press is on ends that press at its last known
//!   duration (its end packets were lost), then begins the new one;
//! * a packet older than the newest press (late, reordered) is dropped;
//! * if no packet arrives for [`ReceiverConfig::end_timeout`], the press ends at its last known
//!   duration ([`Receiver::handle_timeout`]).
//!
//! Event codes that are not DTMF keys (hook flash, RFC 4734 fax tones) are counted and ignored.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use super::{
    EventBlock, MAX_EVENTS_PER_PACKET, MAX_SEGMENT_TICKS, RATE_8K, Rfc4733Error, duration_to_ticks,
    parse_payload, ticks_to_duration,
};
use crate::dtmf::{Digit, DtmfEdge, DtmfEvent, DtmfSource, instant_before};

/// The fields of one received telephone-event RTP packet, as the RTP layer parsed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpEvent<'a> {
    /// RTP timestamp: the start of the event (or of its segment).
    pub timestamp: u32,
    /// RTP marker bit: set on an event's first packet. Informational only — see the module docs.
    pub marker: bool,
    /// RTP sequence number, used to drop network duplicates of the previous packet.
    pub sequence: u16,
    /// The telephone-event payload (one or more 4-byte blocks).
    pub payload: &'a [u8],
}

/// Receiver settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// Clock rate of the telephone-event payload type (the `rate` of its SDP `rtpmap`; 8000 by
    /// default, 48000 is common next to Opus).
    pub clock_rate: NonZeroU32,
    /// How long after a press's last packet it is ended if its end packets never came. Senders
    /// update every 20–50 ms, so 250 ms is several lost updates in a row, yet quick enough that a
    /// caller does not notice the wait.
    pub end_timeout: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            clock_rate: RATE_8K,
            end_timeout: Duration::from_millis(250),
        }
    }
}

/// Counters for operators: what the receiver dropped and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Packets handed to [`Receiver::handle_packet`] that parsed.
    pub packets: u64,
    /// Event blocks for an event already ended (the end retransmissions, late updates).
    pub after_end: u64,
    /// Packets repeating the previous packet's sequence number.
    pub duplicates: u64,
    /// Blocks older than the newest event (reordered across events).
    pub stale: u64,
    /// Blocks with an event code that is not a DTMF key.
    pub not_dtmf: u64,
    /// Presses ended by the timeout because their end never arrived.
    pub timeouts: u64,
    /// Presses ended because a newer event began before their end arrived.
    pub superseded: u64,
    /// Edges dropped because the caller did not drain [`Receiver::poll_output`].
    pub overflow: u64,
}

/// The press in progress.
#[derive(Debug, Clone, Copy)]
struct Active {
    digit: Digit,
    /// Timestamp of the current segment (the event's own for a press that fits in 0xFFFF ticks).
    segment_ts: u32,
    /// Ticks of the segments before the current one.
    earlier_ticks: u64,
    /// Largest duration seen in the current segment.
    segment_ticks: u16,
    started: Instant,
    last_packet: Instant,
}

/// How many ended (timestamp, code) pairs are remembered to drop their retransmissions. The
/// copies of an end packet come within 2 update intervals; eight covers a few fast presses in a
/// row plus the segments of a long one.
const ENDED_MEMORY: usize = 8;

/// Capacity of the output queue: one packet yields at most a begin and an end per block plus
/// the end of a superseded press.
const OUTPUT_CAPACITY: usize = 2 * MAX_EVENTS_PER_PACKET + 2;

/// Turns received telephone-event packets into [`DtmfEdge`]s. Sans-IO: see the module docs.
#[derive(Debug)]
pub struct Receiver {
    config: ReceiverConfig,
    /// §2.5.1.3: a next segment's timestamp is the previous one plus 0xFFFF, or a little less
    /// when the sender closed the segment on its last update; this is how much less we accept.
    segment_slack: u32,
    /// Packets up to this many ticks older than the newest event are late packets and dropped;
    /// older still is a timestamp discontinuity (a new stream) and starts afresh.
    stale_window: u32,
    active: Option<Active>,
    ended: [Option<(u32, u8)>; ENDED_MEMORY],
    ended_next: usize,
    newest_ts: Option<u32>,
    last_sequence: Option<u16>,
    out: VecDeque<DtmfEdge>,
    stats: ReceiverStats,
}

impl Receiver {
    /// A receiver with nothing in progress.
    #[must_use]
    pub fn new(config: ReceiverConfig) -> Receiver {
        let ticks = |ms| {
            let t = duration_to_ticks(Duration::from_millis(ms), config.clock_rate);
            u32::try_from(t).unwrap_or(u32::MAX)
        };
        Receiver {
            config,
            segment_slack: ticks(250),
            stale_window: ticks(10_000),
            active: None,
            ended: [None; ENDED_MEMORY],
            ended_next: 0,
            newest_ts: None,
            last_sequence: None,
            out: VecDeque::with_capacity(OUTPUT_CAPACITY),
            stats: ReceiverStats::default(),
        }
    }

    /// Handles one telephone-event packet received at `now`.
    ///
    /// # Errors
    /// A malformed payload ([`Rfc4733Error::Truncated`], [`Rfc4733Error::TrailingBytes`],
    /// [`Rfc4733Error::TooManyEvents`]); the receiver's state is then unchanged.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        packet: RtpEvent<'_>,
    ) -> Result<(), Rfc4733Error> {
        let blocks = parse_payload(packet.payload)?;
        self.stats.packets += 1;
        if self.last_sequence == Some(packet.sequence) {
            self.stats.duplicates += 1;
            return Ok(());
        }
        self.last_sequence = Some(packet.sequence);
        // §2.5.1.5: several blocks are consecutive events; each starts where the previous
        // one's duration ends, and all but the last are over.
        let last = blocks.len() - 1;
        let mut ts = packet.timestamp;
        for (i, mut block) in blocks.enumerate() {
            if i < last {
                block.end = true;
            }
            self.handle_block(now, ts, block);
            ts = ts.wrapping_add(u32::from(block.duration));
        }
        Ok(())
    }

    /// Ends a press whose packets stopped coming `end_timeout` ago.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.poll_timeout()
            && now >= deadline
        {
            self.stats.timeouts += 1;
            self.finish();
        }
    }

    /// The next edge to deliver, oldest first.
    pub fn poll_output(&mut self) -> Option<DtmfEdge> {
        self.out.pop_front()
    }

    /// When [`Receiver::handle_timeout`] must be called, if a press is in progress.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.active.map(|a| a.last_packet + self.config.end_timeout)
    }

    /// Forgets everything (a new RTP stream: SSRC change, re-INVITE); a press in progress ends.
    pub fn reset(&mut self) {
        self.finish();
        self.ended = [None; ENDED_MEMORY];
        self.newest_ts = None;
        self.last_sequence = None;
    }

    /// What was dropped so far.
    #[must_use]
    pub fn stats(&self) -> ReceiverStats {
        self.stats
    }

    fn handle_block(&mut self, now: Instant, ts: u32, block: EventBlock) {
        let Some(digit) = Digit::from_event_code(block.event) else {
            self.stats.not_dtmf += 1;
            return;
        };
        if self.ended.contains(&Some((ts, block.event))) {
            self.stats.after_end += 1;
            return;
        }
        if let Some(mut a) = self.active {
            let delta = ts.wrapping_sub(a.segment_ts);
            if delta == 0 && a.digit == digit {
                a.segment_ticks = a.segment_ticks.max(block.duration);
                a.last_packet = now;
                self.active = Some(a);
                if block.end {
                    self.finish();
                }
                return;
            }
            if delta != 0 && self.is_late(delta.wrapping_neg()) {
                self.stats.stale += 1;
                return;
            }
            if a.digit == digit && self.is_next_segment(delta) {
                // §2.5.1.3: the same press goes on under a new timestamp. Remember the old
                // segment as ended so that its retransmitted last packet is dropped.
                self.remember_ended(a.segment_ts, block.event);
                a.earlier_ticks += u64::from(delta);
                a.segment_ts = ts;
                a.segment_ticks = block.duration;
                a.last_packet = now;
                self.active = Some(a);
                self.newest_ts = Some(ts);
                if block.end {
                    self.finish();
                }
                return;
            }
            // A newer event (or, with the same timestamp, a sender that reuses timestamps for a
            // different key): the press in progress lost its end packets.
            self.stats.superseded += 1;
            self.finish();
        } else if let Some(newest) = self.newest_ts {
            let behind = newest.wrapping_sub(ts);
            if behind != 0 && self.is_late(behind) {
                self.stats.stale += 1;
                return;
            }
        }
        self.begin(now, ts, digit, block);
    }

    /// `behind` ticks before the newest event: a late packet (rather than a new stream whose
    /// timestamps restarted lower)?
    fn is_late(&self, behind: u32) -> bool {
        behind <= self.stale_window
    }

    fn is_next_segment(&self, delta: u32) -> bool {
        let max = u32::from(MAX_SEGMENT_TICKS);
        (max.saturating_sub(self.segment_slack)..=max).contains(&delta)
    }

    fn begin(&mut self, now: Instant, ts: u32, digit: Digit, block: EventBlock) {
        let so_far = ticks_to_duration(u64::from(block.duration), self.config.clock_rate);
        let started = instant_before(now, so_far);
        self.active = Some(Active {
            digit,
            segment_ts: ts,
            earlier_ticks: 0,
            segment_ticks: block.duration,
            started,
            last_packet: now,
        });
        self.newest_ts = Some(ts);
        self.emit(DtmfEdge::Begin {
            digit,
            source: DtmfSource::Rfc4733,
            started,
        });
        if block.end {
            self.finish();
        }
    }

    /// Ends the press in progress, if any, at its last known duration.
    fn finish(&mut self) {
        let Some(a) = self.active.take() else {
            return;
        };
        let ticks = a.earlier_ticks + u64::from(a.segment_ticks);
        self.remember_ended(a.segment_ts, a.digit.event_code());
        self.emit(DtmfEdge::End(DtmfEvent {
            digit: a.digit,
            source: DtmfSource::Rfc4733,
            started: a.started,
            duration: ticks_to_duration(ticks, self.config.clock_rate),
        }));
    }

    fn remember_ended(&mut self, ts: u32, code: u8) {
        self.ended[self.ended_next] = Some((ts, code));
        self.ended_next = (self.ended_next + 1) % ENDED_MEMORY;
    }

    fn emit(&mut self, edge: DtmfEdge) {
        if self.out.len() == OUTPUT_CAPACITY {
            // Never reallocate on the media path: the oldest undrained edge goes.
            self.out.pop_front();
            self.stats.overflow += 1;
        }
        self.out.push_back(edge);
    }
}
