//! Sending telephone-events: key presses in, event packets out on the caller's RTP stream.
//!
//! # Schedule of one press (RFC 4733 §2.5.1)
//! A press of duration `D` starting at `t0` (the event's RTP timestamp is the caller's media
//! timestamp at `t0`) produces, every `ptime` from `t0 + ptime` on:
//! * updates with the marker bit on the first one and the duration so far (`k × ptime`);
//! * at the first tick at or after `t0 + D`, the final packet: E bit, duration `D`, sent at
//!   that tick and the next two (three copies, §2.5.1.4), all with the same timestamp;
//! * if the press outlasts the 16-bit duration field (65,535 ticks), the segment is closed with
//!   a packet of duration 0xFFFF (sent three times as well) and a new segment begins, its
//!   timestamp 0xFFFF ticks later, without the marker (§2.5.1.3); [`EventPacket::timestamp_offset`]
//!   tells the caller which timestamp a packet carries.
//!
//! Presses given while one is being sent are queued; each starts no earlier than
//! [`SenderConfig::min_gap`] after the previous one ended.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use super::{EventBlock, MAX_SEGMENT_TICKS, RATE_8K, Rfc4733Error, Volume, duration_to_ticks};
use crate::dtmf::Digit;

/// Copies of the final packet of an event or segment (§2.5.1.4).
const FINAL_COPIES: u32 = 3;

/// Sender settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// Clock rate of the negotiated telephone-event payload type.
    pub clock_rate: NonZeroU32,
    /// Interval between updates: the stream's packetisation time (20 ms nearly everywhere).
    pub ptime: Duration,
    /// Least silence between two queued presses. 50 ms is above the 40 ms pause every Q.24
    /// receiver must accept, and leaves room for the three end packets (2 × ptime) before the
    /// next press's first packet.
    pub min_gap: Duration,
    /// How many presses may wait behind the one being sent.
    pub queue_capacity: usize,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            clock_rate: RATE_8K,
            ptime: Duration::from_millis(20),
            min_gap: Duration::from_millis(50),
            queue_capacity: 32,
        }
    }
}

/// One telephone-event packet to put on the RTP stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// The 4-byte payload.
    pub payload: [u8; 4],
    /// The RTP marker bit: set on the first packet of an event only.
    pub marker: bool,
    /// The E bit of the payload: this is one of the three final packets.
    pub end: bool,
    /// When the event started: the caller's media timestamp at this instant is the event's RTP
    /// timestamp.
    pub event_start: Instant,
    /// Ticks to add to that timestamp for this packet: 0 for the whole event unless it is long
    /// enough to be segmented, then `k × 0xFFFF` in segment `k` (wrapping like RTP timestamps).
    pub timestamp_offset: u32,
}

/// A press waiting to be sent.
#[derive(Debug, Clone, Copy)]
struct Press {
    digit: Digit,
    ticks: u64,
    volume: Volume,
}

/// The press being sent.
#[derive(Debug, Clone, Copy)]
struct Current {
    press: Press,
    start: Instant,
    /// Next update tick: packet `k` is due at `start + k × ptime`.
    next_tick: u32,
    /// Offset of the current segment from the event's timestamp.
    segment_offset: u64,
}

/// A packet and when it is due.
#[derive(Debug, Clone, Copy)]
struct Due {
    at: Instant,
    packet: EventPacket,
}

/// Turns key presses into [`EventPacket`]s on a ptime schedule. Sans-IO: call
/// [`Sender::poll`] until it returns `None` whenever [`Sender::poll_timeout`] is reached.
#[derive(Debug)]
pub struct Sender {
    config: SenderConfig,
    ptime_ticks: u64,
    queue: VecDeque<Press>,
    current: Option<Current>,
    /// Packets already built, by due time (retransmissions of final packets wait here).
    pending: VecDeque<Due>,
    /// The next press may not start before this instant (previous end + gap).
    next_start: Option<Instant>,
}

impl Sender {
    /// A sender with nothing queued.
    ///
    /// # Errors
    /// [`Rfc4733Error::InvalidConfig`] for a `ptime` that is zero or not below the segment
    /// length, or a zero `queue_capacity`.
    pub fn new(config: SenderConfig) -> Result<Sender, Rfc4733Error> {
        let ptime_ticks = duration_to_ticks(config.ptime, config.clock_rate);
        if ptime_ticks == 0 || ptime_ticks >= u64::from(MAX_SEGMENT_TICKS) {
            return Err(Rfc4733Error::InvalidConfig { field: "ptime" });
        }
        if config.queue_capacity == 0 {
            return Err(Rfc4733Error::InvalidConfig {
                field: "queue_capacity",
            });
        }
        Ok(Sender {
            config,
            ptime_ticks,
            queue: VecDeque::with_capacity(config.queue_capacity),
            current: None,
            pending: VecDeque::with_capacity(2 * FINAL_COPIES as usize + 2),
            next_start: None,
        })
    }

    /// Queues a press of `digit` lasting `duration` at `volume`; it starts at `now` if nothing
    /// is being sent, else after the presses before it.
    ///
    /// # Errors
    /// [`Rfc4733Error::ZeroDuration`] if `duration` is under half a tick,
    /// [`Rfc4733Error::QueueFull`] if `queue_capacity` presses are waiting.
    pub fn start(
        &mut self,
        now: Instant,
        digit: Digit,
        duration: Duration,
        volume: Volume,
    ) -> Result<(), Rfc4733Error> {
        let ticks = duration_to_ticks(duration, self.config.clock_rate);
        if ticks == 0 {
            return Err(Rfc4733Error::ZeroDuration);
        }
        if self.queue.len() == self.config.queue_capacity {
            return Err(Rfc4733Error::QueueFull {
                capacity: self.config.queue_capacity,
            });
        }
        self.queue.push_back(Press {
            digit,
            ticks,
            volume,
        });
        if self.current.is_none() {
            self.start_next(now);
        }
        Ok(())
    }

    /// The next packet due at `now`, if any. Call until it returns `None`.
    pub fn poll(&mut self, now: Instant) -> Option<EventPacket> {
        loop {
            let tick = self
                .current
                .map(|c| (c, self.tick_instant(&c, c.next_tick)));
            let front = self.pending.front().map(|d| d.at);
            match (tick, front) {
                // Build the next tick first unless something older (or as old: it was built
                // earlier) is waiting, so packets come out in due order even if polled late.
                (Some((cur, at)), f) if at <= now && f.is_none_or(|f| at < f) => {
                    self.build_tick(cur, at);
                }
                (_, Some(f)) if f <= now => return self.pending.pop_front().map(|d| d.packet),
                _ => return None,
            }
        }
    }

    /// When [`Sender::poll`] has something next, if anything is queued or being sent.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tick = self.current.map(|c| self.tick_instant(&c, c.next_tick));
        let pending = self.pending.front().map(|d| d.at);
        match (tick, pending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Nothing being sent, queued, or waiting to be retransmitted.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.queue.is_empty() && self.pending.is_empty()
    }

    fn tick_instant(&self, cur: &Current, k: u32) -> Instant {
        cur.start + self.config.ptime * k
    }

    /// Builds the packets of update tick `cur.next_tick` (due at `at`) into `pending`.
    fn build_tick(&mut self, mut cur: Current, at: Instant) {
        let elapsed = u64::from(cur.next_tick) * self.ptime_ticks;
        let target = elapsed.min(cur.press.ticks);
        let max = u64::from(MAX_SEGMENT_TICKS);
        // §2.5.1.3: close every segment the press has outgrown since the last tick.
        while target - cur.segment_offset > max {
            let close = self.packet(&cur, MAX_SEGMENT_TICKS, false, false);
            self.push_copies(at, close);
            cur.segment_offset += max;
        }
        let so_far = u16::try_from(target - cur.segment_offset).unwrap_or(MAX_SEGMENT_TICKS);
        let first = cur.next_tick == 1 && cur.segment_offset == 0;
        if target == cur.press.ticks {
            // §2.5.1.4: the final packet, three times.
            let last = self.packet(&cur, so_far, true, first);
            self.push_copies(at, last);
            self.current = None;
            let tone_end = cur.start + self.ticks_duration(cur.press.ticks);
            self.next_start = Some(tone_end + self.config.min_gap);
            self.start_next(at);
        } else {
            let update = self.packet(&cur, so_far, false, first);
            self.insert(Due { at, packet: update });
            cur.next_tick += 1;
            self.current = Some(cur);
        }
    }

    fn packet(&self, cur: &Current, duration: u16, end: bool, marker: bool) -> EventPacket {
        let block = EventBlock {
            event: cur.press.digit.event_code(),
            end,
            volume: cur.press.volume,
            duration,
        };
        EventPacket {
            payload: block.to_bytes(),
            marker,
            end,
            event_start: cur.start,
            // RTP timestamps wrap at 2^32; so does the offset.
            timestamp_offset: (cur.segment_offset & u64::from(u32::MAX)) as u32,
        }
    }

    /// Schedules `packet` at `at` and its retransmissions one and two ptimes later.
    fn push_copies(&mut self, at: Instant, packet: EventPacket) {
        for i in 0..FINAL_COPIES {
            self.insert(Due {
                at: at + self.config.ptime * i,
                packet,
            });
        }
    }

    /// Inserts in due order, after packets due at the same instant (they were built first).
    fn insert(&mut self, due: Due) {
        let pos = self
            .pending
            .iter()
            .position(|d| d.at > due.at)
            .unwrap_or(self.pending.len());
        self.pending.insert(pos, due);
    }

    /// Starts the next queued press, at `now` or after the inter-digit gap.
    fn start_next(&mut self, now: Instant) {
        let Some(press) = self.queue.pop_front() else {
            return;
        };
        let start = self.next_start.map_or(now, |s| s.max(now));
        self.current = Some(Current {
            press,
            start,
            next_tick: 1,
            segment_offset: 0,
        });
    }

    fn ticks_duration(&self, ticks: u64) -> Duration {
        super::ticks_to_duration(ticks, self.config.clock_rate)
    }
}
