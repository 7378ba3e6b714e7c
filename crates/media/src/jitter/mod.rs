//! Adaptive jitter buffer: turns RTP packets arriving at uneven times, out of order, duplicated
//! or not at all into a steady, in-order playout, for every consumer that decodes audio
//! (transcoding, the recorder, DTMF detection, the mixer).
//!
//! # Driving it (sans-IO)
//! The buffer owns no clock and no timer. The media worker calls [`JitterBuffer::push`] with each
//! received packet and the time it arrived, and on its 20 ms tick calls [`JitterBuffer::pop`]
//! **repeatedly until it returns `None`**; each call yields, in timestamp order, one thing whose
//! playout time has come: [`Popped::Packet`] (decode it) or [`Popped::Lost`] (conceal that many
//! ticks). Nothing is yielded before the first packet, nor after the buffer has run dry
//! (underrun: the sender stopped, went silent, or the network stalled); the caller plays
//! silence then. Running dry is declared after three frames concealed with nothing buffered,
//! so that a short burst of loss is concealed like any other loss.
//! [`JitterBuffer::next_due`] says when the next item becomes due, for a driver that would
//! rather sleep until then.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchboard_media::jitter::{JitterBuffer, JitterConfig, Popped, PushOutcome};
//!
//! let mut jb = JitterBuffer::new(JitterConfig::voice(8_000, 160)).unwrap(); // PCMA, 20 ms
//! let t0 = Instant::now(); // in tests: any fixed instant, plus offsets
//! assert_eq!(jb.push(t0, 1, 1_000, 0xCAFE, true, &[0xD5; 160]), PushOutcome::Accepted);
//! assert!(jb.pop(t0).is_none()); // held for the playout delay (40 ms at first)
//! let t = t0 + Duration::from_millis(40);
//! assert!(matches!(jb.pop(t), Some(Popped::Packet { ts: 1_000, .. })));
//! assert!(jb.pop(t).is_none());
//! ```
//!
//! # How playout time is chosen
//! Each packet's *transit* is its arrival minus its RTP timestamp, in ticks. The buffer tracks
//! the minimum transit over the last 64 packets (the fastest path, "base") and the RFC 3550
//! A.8 interarrival jitter `J` (see `estimator`). A packet with timestamp `ts` is due when the
//! local clock reaches `ts + offset`, where the playout offset aims at
//! `base + target`, with `target = clamp(4·J, min_delay, max_delay)`: four mean deviations
//! cover the late tail of ordinary network jitter (the same rule as the classic adaptive
//! playout algorithms, delay = mean + 4 × variation), and the bounds keep it sane.
//!
//! The offset only moves in ways that do not chop audio:
//! * at a **talk-spurt start** (RTP marker bit, RFC 3551 §4.1), freely: the silence before it
//!   absorbs the change;
//! * otherwise **one frame at a time**, at most once every 10 frames: when the delay is a frame
//!   or more above target the buffer *drops* one frame (skips it, preferring a gap over a
//!   packet); when it is half a frame or more below, it *inserts* one (yields a
//!   [`Popped::Lost`] of one frame that the decoder conceals, and plays the packet that was due
//!   one frame later). A packet arriving too late lifts the 10-frame spacing for the next
//!   insertion: packets are being lost for want of delay, and an inserted frame costs less.
//!
//! The same mechanism absorbs **clock drift**: a sender clock 0.5 % fast makes transit fall by
//! 5 ms per second, the base follows, and the buffer drops a frame every 4 s; a slow one
//! inserts. Neither grows nor drains the buffer for good.
//!
//! # What it handles (each has a test in `tests/jitter.rs`)
//! * loss: a gap at the head when it is due becomes `Lost` frames (never more than the gap);
//! * reordering within the buffer, duplicates (by sequence number and by timestamp), late
//!   packets (behind the playout point: dropped, counted);
//! * sequence and timestamp wrap (both are unwrapped to 64 bits internally);
//! * SSRC change: flush and start over ([`PushOutcome::Reset`]);
//! * timestamp jumps forward or backward (transit off by more than `max_delay` + 2 frames):
//!   the first such packet is dropped, the second consecutive one confirms the jump and the
//!   buffer resyncs on it ([`PushOutcome::Reset`]), so one corrupt packet cannot derail it;
//! * bursts after a network stall: the buffer underruns, then restarts on the burst with a
//!   delay that keeps all of it (up to `max_delay`) and works the delay back down;
//! * a sender that stops: the buffer drains, conceals at most three frames, and yields nothing
//!   more — no endless `Lost`.
//!
//! # Invariants
//! * `Packet` timestamps strictly increase and no packet is yielded twice; `Lost` ranges never
//!   cover a timestamp that is yielded as a `Packet`, except that an inserted frame is
//!   reported as `Lost { ts }` where `ts` is the packet it precedes (concealment *before* `ts`).
//! * Memory is fixed at construction: `capacity` slots, each payload at most [`MAX_PAYLOAD`].
//! * One buffer serves one stream of audio frames. RFC 4733 telephone-events, whose packets
//!   repeat a timestamp, must be split off by payload type before it.

mod estimator;
mod seq;
mod store;

use std::time::{Duration, Instant};

use estimator::Estimator;
use seq::{SeqClass, SeqWindow};
use store::Store;

/// Largest payload the buffer stores; a larger one is refused as [`PushOutcome::Overflow`]. An
/// Ethernet MTU's worth, more than any audio frame we carry (a 120 ms Opus packet of one frame
/// is at most 1,275 octets, RFC 6716 §3.2.1).
pub const MAX_PAYLOAD: usize = 1_500;

/// Frames between two delay corrections (drop or insert) outside talk-spurt starts.
const CORRECTION_SPACING: u32 = 10;
/// `target = JITTER_MULTIPLE × J` before clamping.
const JITTER_MULTIPLE: i64 = 4;
/// Frames concealed while the buffer is empty before it declares an underrun: a burst of up
/// to three lost packets (60 ms of 20 ms packets) is concealed even when nothing later has
/// arrived yet; a longer gap is a stall, a pause or the end of the stream, and is silence.
const EMPTY_CONCEAL_FRAMES: u32 = 3;

/// Configuration of one buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock rate of the stream (8,000 for G.711 and G.722, 48,000 for Opus).
    pub clock_rate: u32,
    /// Nominal packet duration in RTP ticks (160 for 20 ms at 8 kHz). The buffer then learns
    /// the peer's actual packet duration from consecutive packets.
    pub frame_ticks: u32,
    /// Smallest playout delay. At least two frames is wise: the drift correction lets the
    /// delay sag by up to half a frame, plus the lag of the minimum-transit window.
    pub min_delay: Duration,
    /// Largest playout delay; also the horizon for detecting timestamp jumps.
    pub max_delay: Duration,
    /// Packets the buffer can hold (at least `max_delay` worth, plus room for bursts).
    pub capacity: usize,
}

impl JitterConfig {
    /// Defaults for a voice stream: 40 ms to 300 ms of delay and 32 packets of room (300 ms of
    /// 20 ms packets plus a burst of the same again).
    #[must_use]
    pub const fn voice(clock_rate: u32, frame_ticks: u32) -> Self {
        Self {
            clock_rate,
            frame_ticks,
            min_delay: Duration::from_millis(40),
            max_delay: Duration::from_millis(300),
            capacity: 32,
        }
    }
}

/// Errors from building a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JitterError {
    /// A configuration value is out of range.
    #[error("invalid jitter buffer configuration: {0}")]
    InvalidConfig(&'static str),
}

/// What happened to a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushOutcome {
    /// Stored for playout.
    Accepted,
    /// Already buffered or already played (same sequence number or timestamp); dropped.
    Duplicate,
    /// Its playout time has passed; dropped.
    TooLate,
    /// So far ahead of the playout point that it looks like a timestamp jump; dropped unless
    /// the next packet confirms the jump.
    TooEarly,
    /// No room (every slot taken) or larger than [`MAX_PAYLOAD`]; dropped.
    Overflow,
    /// A new SSRC or a confirmed timestamp jump: the buffer was flushed and playout restarts
    /// from this packet, which is stored.
    Reset,
}

/// One item of playout, in timestamp order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Popped<'a> {
    /// A packet to decode now.
    Packet {
        /// Its RTP timestamp.
        ts: u32,
        /// Its marker bit (start of a talk spurt).
        marker: bool,
        /// Its payload.
        payload: &'a [u8],
    },
    /// `ticks` of audio to conceal now, starting at `ts`: a packet that never came, or one
    /// frame inserted to raise the delay (then `ts` is that of the packet that follows).
    Lost {
        /// RTP timestamp the concealed audio stands for.
        ts: u32,
        /// Its duration, in RTP ticks: at most one packet's worth per item.
        ticks: u32,
    },
}

/// Counters and the current state of the delay control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStats {
    /// Current playout delay, measured from the fastest recent packets.
    pub delay: Duration,
    /// Delay the buffer steers towards.
    pub target: Duration,
    /// RFC 3550 interarrival jitter estimate.
    pub jitter: Duration,
    /// Packets waiting.
    pub buffered: usize,
    /// Packets stored.
    pub accepted: u64,
    /// Packets dropped because their playout time had passed.
    pub late: u64,
    /// Frames concealed because their packet never came (not counting the up to three frames
    /// concealed before an underrun, which may have been a pause).
    pub lost: u64,
    /// Duplicate packets dropped.
    pub duplicate: u64,
    /// Packets that arrived after one with a higher sequence number.
    pub reordered: u64,
    /// Packets dropped as too early (suspected timestamp jump).
    pub too_early: u64,
    /// Packets dropped for lack of room or size.
    pub overflow: u64,
    /// Flushes: SSRC changes and confirmed timestamp jumps.
    pub resets: u64,
    /// Times the buffer ran dry while playing.
    pub underruns: u64,
    /// Frames skipped to lower the delay (fast sender clock, or the target came down).
    pub frames_dropped: u64,
    /// Frames concealed to raise the delay (slow sender clock, or the target went up).
    pub frames_inserted: u64,
}

/// The decision at a due playout point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Something was skipped; look at the new head.
    Retry,
    /// Yield a `Lost` of `ticks` at `ts`.
    Conceal { ts: i64, ticks: i64 },
    /// Yield the head packet.
    Play,
}

/// Where playout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for packets to (re)start from: before the first one, after an underrun or a
    /// reset. The offset is chosen when playout starts.
    Buffering,
    /// Yielding on schedule.
    Playing,
}

/// The adaptive jitter buffer (see the module docs).
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    min_ticks: i64,
    max_ticks: i64,
    store: Store,
    seq: SeqWindow,
    est: Estimator,
    ssrc: Option<u32>,
    /// Instant of local tick 0 (the first push).
    origin: Option<Instant>,
    /// Highest extended timestamp seen; the reference for unwrapping the next one.
    high_ts: i64,
    phase: Phase,
    /// Next timestamp to play. Meaningful once `played` is set.
    play_ts: i64,
    /// Whether anything was yielded since the last reset (then older packets are late).
    played: bool,
    /// A packet with timestamp `ts` is due at local tick `ts + offset`.
    offset: i64,
    /// Packet duration in ticks, learned from consecutive packets.
    pkt_ticks: i64,
    /// Frames yielded since the last drop or insert.
    since_correction: u32,
    /// Consecutive frames concealed with nothing buffered. They count as lost once a packet
    /// follows them; if the buffer runs dry instead they were a pause, not loss.
    empty_run: u32,
    /// A packet arrived too late since the last correction: the delay is too short *now*, so
    /// the next insertion need not wait for [`CORRECTION_SPACING`].
    late_since_correction: bool,
    /// Timestamp of the marker packet the offset was last re-anchored on.
    anchored_ts: Option<i64>,
    /// Transit of a packet that looked like a timestamp jump, awaiting confirmation.
    jump: Option<i64>,
    stats: JitterStats,
}

impl JitterBuffer {
    /// Builds a buffer; all memory is allocated here.
    ///
    /// # Errors
    /// [`JitterError::InvalidConfig`] for a zero clock rate or frame, a frame longer than a
    /// second, `min_delay > max_delay`, `max_delay` over 10 s, or a capacity outside 2..=1024.
    pub fn new(cfg: JitterConfig) -> Result<Self, JitterError> {
        let bad = |m| Err(JitterError::InvalidConfig(m));
        if cfg.clock_rate == 0 {
            return bad("clock_rate must be positive");
        }
        if cfg.frame_ticks == 0 || cfg.frame_ticks > cfg.clock_rate {
            return bad("frame_ticks must be 1 tick to 1 second");
        }
        if cfg.min_delay > cfg.max_delay || cfg.max_delay > Duration::from_secs(10) {
            return bad("need min_delay <= max_delay <= 10 s");
        }
        if !(2..=1024).contains(&cfg.capacity) {
            return bad("capacity must be 2 to 1024");
        }
        let to_ticks = |d: Duration| duration_ticks(d, cfg.clock_rate);
        Ok(Self {
            cfg,
            min_ticks: to_ticks(cfg.min_delay),
            max_ticks: to_ticks(cfg.max_delay),
            store: Store::new(cfg.capacity),
            seq: SeqWindow::default(),
            est: Estimator::new(),
            ssrc: None,
            origin: None,
            high_ts: 0,
            phase: Phase::Buffering,
            play_ts: 0,
            played: false,
            offset: 0,
            pkt_ticks: i64::from(cfg.frame_ticks),
            since_correction: 0,
            empty_run: 0,
            late_since_correction: false,
            anchored_ts: None,
            jump: None,
            stats: JitterStats {
                target: cfg.min_delay,
                ..JitterStats::default()
            },
        })
    }

    /// Offers one received packet, which arrived at `now`. The payload is copied.
    pub fn push(
        &mut self,
        now: Instant,
        seq: u16,
        ts: u32,
        ssrc: u32,
        marker: bool,
        payload: &[u8],
    ) -> PushOutcome {
        if payload.len() > MAX_PAYLOAD {
            self.stats.overflow += 1;
            return PushOutcome::Overflow;
        }
        let origin = *self.origin.get_or_insert(now);
        let now_t = ticks_since(origin, now, self.cfg.clock_rate);
        let mut reset = false;
        if self.ssrc != Some(ssrc) {
            if self.ssrc.is_some() {
                self.restart(false);
                self.stats.resets += 1;
                reset = true;
            }
            self.ssrc = Some(ssrc);
        }
        let fresh = self.est.is_empty();
        let ext = if fresh {
            i64::from(ts)
        } else {
            self.unwrap_ts(ts)
        };
        let transit = now_t - ext;
        let mut class = self.seq.classify(seq);
        if class == SeqClass::Duplicate || self.store.contains(ext) {
            self.stats.duplicate += 1;
            return PushOutcome::Duplicate;
        }
        if !fresh && let Some(outcome) = self.check_jump(transit) {
            if outcome != PushOutcome::Reset {
                return outcome;
            }
            self.restart(true);
            self.stats.resets += 1;
            reset = true;
            class = self.seq.classify(seq);
        }
        if class == SeqClass::Reordered {
            self.stats.reordered += 1;
        }
        self.learn_packet_duration(class, marker, ext);
        let restarted = self.est.is_empty();
        self.est.update(transit);
        self.high_ts = if restarted {
            ext
        } else {
            self.high_ts.max(ext)
        };
        if self.played && ext < self.play_ts {
            self.stats.late += 1;
            self.late_since_correction = true;
            return PushOutcome::TooLate;
        }
        if !self.store.insert(ext, now_t, marker, payload) {
            self.stats.overflow += 1;
            return PushOutcome::Overflow;
        }
        self.stats.accepted += 1;
        if reset {
            PushOutcome::Reset
        } else {
            PushOutcome::Accepted
        }
    }

    /// Yields the next item whose playout time has come by `now`, or `None`. Call it until it
    /// returns `None` at each tick.
    pub fn pop(&mut self, now: Instant) -> Option<Popped<'_>> {
        let origin = self.origin?;
        let now_t = ticks_since(origin, now, self.cfg.clock_rate);
        if self.phase == Phase::Buffering {
            self.start_playout()?;
        }
        loop {
            if self.play_ts + self.offset > now_t {
                return None;
            }
            let Some(head) = self.store.front() else {
                return self.on_empty();
            };
            let (head_ts, head_marker) = (head.ts, head.marker);
            self.end_empty_run(head_marker);
            if self.realign(now_t, head_ts, head_marker) {
                continue;
            }
            match self.next_action(head_ts) {
                Action::Retry => {}
                Action::Conceal { ts, ticks } => {
                    return Some(Popped::Lost {
                        ts: wire_ts(ts),
                        ticks: u32::try_from(ticks).unwrap_or(u32::MAX),
                    });
                }
                Action::Play => {
                    self.play_ts = head_ts + self.pkt_ticks;
                    self.played = true;
                    self.since_correction = self.since_correction.saturating_add(1);
                    let slot = self.store.pop_front()?;
                    return Some(Popped::Packet {
                        ts: wire_ts(slot.ts),
                        marker: slot.marker,
                        payload: &slot.payload,
                    });
                }
            }
        }
    }

    /// When the next item becomes due, if one is known: the driver may sleep until then
    /// instead of ticking. `None` while nothing is buffered.
    #[must_use]
    pub fn next_due(&self) -> Option<Instant> {
        let origin = self.origin?;
        let head = self.store.front()?;
        let at = match self.phase {
            Phase::Playing => self.play_ts.min(head.ts) + self.offset,
            Phase::Buffering => head.ts + self.start_offset(head.ts, head.arrival),
        };
        let nanos =
            u128::try_from(at.max(0)).ok()? * 1_000_000_000 / u128::from(self.cfg.clock_rate);
        Some(origin + Duration::from_nanos(u64::try_from(nanos).ok()?))
    }

    /// Counters and the state of the delay control.
    #[must_use]
    pub fn stats(&self) -> JitterStats {
        let mut s = self.stats;
        let rate = self.cfg.clock_rate;
        s.delay = ticks_duration(self.delay_ticks(), rate);
        s.target = ticks_duration(self.target_ticks(), rate);
        s.jitter = ticks_duration(self.est.jitter(), rate);
        s.buffered = self.store.len();
        s
    }

    /// Bytes of payload storage currently allocated (bounded by `capacity × MAX_PAYLOAD`).
    #[must_use]
    pub fn payload_bytes(&self) -> usize {
        self.store.payload_bytes()
    }

    // --- internals -----------------------------------------------------------------------

    /// Flushes the stream state; `keep_jitter` keeps the jitter estimate (same SSRC).
    fn restart(&mut self, keep_jitter: bool) {
        self.store.clear();
        self.seq.clear();
        self.est.reset(keep_jitter);
        self.phase = Phase::Buffering;
        self.played = false;
        self.pkt_ticks = i64::from(self.cfg.frame_ticks);
        self.anchored_ts = None;
        self.jump = None;
    }

    /// Unwraps a 32-bit timestamp to the one nearest the highest seen (RFC 3550 §5.1 wraps).
    fn unwrap_ts(&self, ts: u32) -> i64 {
        #[allow(clippy::cast_possible_truncation)] // wrapping to 32 bits is the point
        let delta = ts.wrapping_sub(self.high_ts as u32).cast_signed();
        self.high_ts + i64::from(delta)
    }

    /// Detects timestamp jumps from transit (see module docs). `None`: an ordinary packet.
    fn check_jump(&mut self, transit: i64) -> Option<PushOutcome> {
        let limit = self.max_ticks + 2 * self.pkt_ticks;
        let dev = transit - self.est.base();
        if dev.abs() <= limit {
            self.jump = None;
            return None;
        }
        if self
            .jump
            .is_some_and(|prev| (transit - prev).abs() <= 2 * self.pkt_ticks)
        {
            return Some(PushOutcome::Reset);
        }
        self.jump = Some(transit);
        if dev > 0 {
            self.stats.late += 1;
            Some(PushOutcome::TooLate)
        } else {
            self.stats.too_early += 1;
            Some(PushOutcome::TooEarly)
        }
    }

    /// Learns the peer's packet duration from two consecutive packets in one talk spurt.
    fn learn_packet_duration(&mut self, class: SeqClass, marker: bool, ext: i64) {
        if class != (SeqClass::Next { advance: 1 }) || marker || self.est.is_empty() {
            return;
        }
        let d = ext - self.high_ts;
        // Audio packets carry 2.5 ms (the shortest Opus frame) to 120 ms (the longest Opus
        // packet, RFC 6716 §3.2.5); anything else is a gap or a glitch, not a duration.
        let rate = i64::from(self.cfg.clock_rate);
        if d >= (rate / 400).max(1) && d <= rate * 120 / 1_000 {
            self.pkt_ticks = d;
        }
    }

    fn target_ticks(&self) -> i64 {
        (JITTER_MULTIPLE * self.est.jitter()).clamp(self.min_ticks, self.max_ticks)
    }

    fn desired_offset(&self) -> i64 {
        self.est.base() + self.target_ticks()
    }

    fn delay_ticks(&self) -> i64 {
        (self.offset - self.est.base()).max(0)
    }

    /// Starts (or restarts) playout on the oldest buffered packet; `None` if there is none.
    fn start_playout(&mut self) -> Option<()> {
        let head = self.store.front()?;
        let (ts, arrival) = (head.ts, head.arrival);
        self.play_ts = if self.played {
            ts.max(self.play_ts)
        } else {
            ts
        };
        self.offset = self.start_offset(ts, arrival);
        self.anchored_ts = Some(ts);
        self.since_correction = 0;
        self.late_since_correction = false;
        self.phase = Phase::Playing;
        Some(())
    }

    /// Offset to (re)start playout with on a packet: the usual delay, but never less than
    /// `min_delay` after this packet's own arrival (after a stall the first packets are late,
    /// and starting them "on time" would only underrun again), and never more than
    /// `max_delay`.
    fn start_offset(&self, ts: i64, arrival: i64) -> i64 {
        let desired = self.desired_offset();
        (arrival - ts + self.min_ticks)
            .min(self.est.base() + self.max_ticks)
            .max(desired)
    }

    /// Talk-spurt start at `ts`: move to the desired offset, but not so low that `ts` would
    /// already be overdue (that would play several frames at once).
    fn reanchor(&mut self, now_t: i64, ts: i64) {
        let desired = self.desired_offset();
        self.offset = desired.max((now_t - ts).min(self.offset));
        self.anchored_ts = Some(ts);
        self.since_correction = 0;
        self.late_since_correction = false;
    }

    /// A packet is at the head after frames were concealed with nothing buffered: within a
    /// talk spurt those frames were loss; before a marker, the silence before the next spurt.
    fn end_empty_run(&mut self, head_marker: bool) {
        if !head_marker {
            self.stats.lost += u64::from(self.empty_run);
        }
        self.empty_run = 0;
    }

    /// Handles a head that the playout point cannot simply reach: one behind it (overtaken
    /// before anything was played, or left behind by a correction), or the start of a talk
    /// spurt or a discontinuity, where the delay is re-anchored. `true`: look again.
    fn realign(&mut self, now_t: i64, head_ts: i64, head_marker: bool) -> bool {
        if head_ts < self.play_ts {
            if self.played {
                // Stored before the playout point moved past it (a drop or a re-anchor).
                self.store.pop_front();
                self.stats.late += 1;
            } else {
                // Nothing yielded yet: an earlier packet overtaken by the one playout was
                // started on. Start from it instead, no earlier than now (so the two are not
                // both due at once).
                self.play_ts = head_ts;
                self.offset = self.offset.max(now_t - head_ts);
                self.anchored_ts = Some(head_ts);
            }
            return true;
        }
        let discontinuity = head_ts - self.play_ts > self.max_ticks;
        if (head_marker || discontinuity) && self.anchored_ts != Some(head_ts) {
            // RFC 3551 §4.1: a talk spurt starts here; the gap before it is silence, not
            // loss, and the delay may change for free. A gap longer than the largest delay is
            // treated alike (a sender that omits the marker after a pause): concealing seconds
            // of "loss" would only be seconds of fading noise.
            self.play_ts = head_ts;
            self.reanchor(now_t, head_ts);
            return true;
        }
        false
    }

    /// What to do at the due playout point with `head_ts` at or after it: drop a frame (lower
    /// the delay), conceal a gap, insert a frame (raise the delay), or play the head.
    fn next_action(&mut self, head_ts: i64) -> Action {
        let error = self.offset - self.desired_offset();
        let can_correct = self.since_correction >= CORRECTION_SPACING;
        if can_correct && error >= self.pkt_ticks && self.drop_frame(head_ts) {
            return Action::Retry;
        }
        if head_ts > self.play_ts {
            let ticks = (head_ts - self.play_ts).min(self.pkt_ticks);
            let ts = self.play_ts;
            self.play_ts += ticks;
            self.stats.lost += 1;
            self.since_correction = self.since_correction.saturating_add(1);
            return Action::Conceal { ts, ticks };
        }
        if (can_correct || self.late_since_correction)
            && 2 * error <= -self.pkt_ticks
            && self.delay_ticks() + self.pkt_ticks <= self.max_ticks
        {
            self.offset += self.pkt_ticks;
            self.stats.frames_inserted += 1;
            self.since_correction = 0;
            self.late_since_correction = false;
            return Action::Conceal {
                ts: head_ts,
                ticks: self.pkt_ticks,
            };
        }
        Action::Play
    }

    /// The playout point is due and nothing is buffered: conceal a short burst of loss, then
    /// stop (underrun) until packets come again.
    fn on_empty(&mut self) -> Option<Popped<'static>> {
        if self.played && self.empty_run < EMPTY_CONCEAL_FRAMES {
            self.empty_run += 1;
            let ts = self.play_ts;
            self.play_ts += self.pkt_ticks;
            self.since_correction = self.since_correction.saturating_add(1);
            return Some(Popped::Lost {
                ts: wire_ts(ts),
                ticks: u32::try_from(self.pkt_ticks).unwrap_or(u32::MAX),
            });
        }
        self.phase = Phase::Buffering;
        self.empty_run = 0;
        self.stats.underruns += 1;
        None
    }

    /// Skips the frame at the playout point to lower the delay by one frame, if that leaves
    /// something to play; a gap frame is skipped in preference (nothing is lost by it).
    fn drop_frame(&mut self, head_ts: i64) -> bool {
        let gap = head_ts > self.play_ts;
        if !gap && self.store.len() < 2 {
            return false;
        }
        if gap {
            let ticks = (head_ts - self.play_ts).min(self.pkt_ticks);
            self.play_ts += ticks;
            self.offset -= ticks;
        } else {
            self.store.pop_front();
            self.play_ts = head_ts + self.pkt_ticks;
            self.offset -= self.pkt_ticks;
        }
        self.stats.frames_dropped += 1;
        self.since_correction = 0;
        self.late_since_correction = false;
        true
    }
}

/// RTP ticks from `origin` to `now` at `rate` (0 if `now` is earlier).
fn ticks_since(origin: Instant, now: Instant, rate: u32) -> i64 {
    duration_ticks(now.saturating_duration_since(origin), rate)
}

/// `d` in whole ticks of `rate` (rounded down). Split into seconds and nanoseconds so that it is
/// 64-bit arithmetic (a 128-bit division per packet showed in profiles); exact, because the
/// seconds' part is a whole number of ticks.
fn duration_ticks(d: Duration, rate: u32) -> i64 {
    let rate = u64::from(rate);
    // subsec_nanos < 10⁹ and rate < 2³², so the product stays below 2⁶⁴.
    let sub = u64::from(d.subsec_nanos()) * rate / 1_000_000_000;
    d.as_secs()
        .checked_mul(rate)
        .and_then(|t| t.checked_add(sub))
        .and_then(|t| i64::try_from(t).ok())
        .unwrap_or(i64::MAX)
}

fn ticks_duration(ticks: i64, rate: u32) -> Duration {
    let nanos = u128::try_from(ticks.max(0)).unwrap_or(0) * 1_000_000_000 / u128::from(rate);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The 32-bit wire timestamp of an extended one.
fn wire_ts(ext: i64) -> u32 {
    #[allow(clippy::cast_possible_truncation)] // wrapping to 32 bits is the point
    let ts = ext as u32;
    ts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_ticks_is_the_exact_floor() {
        for rate in [8_000_u32, 16_000, 48_000, 90_000, u32::MAX] {
            for nanos in [
                0_u64,
                1,
                124_999,
                125_000,
                999_999_999,
                1_000_000_000,
                20_000_000_123,
                86_400_000_000_007,
            ] {
                let d = Duration::from_nanos(nanos);
                let wide = u128::from(nanos) * u128::from(rate) / 1_000_000_000;
                assert_eq!(
                    duration_ticks(d, rate),
                    i64::try_from(wide).unwrap(),
                    "{nanos} ns at {rate} Hz"
                );
            }
        }
        assert_eq!(duration_ticks(Duration::MAX, 48_000), i64::MAX);
    }
}
