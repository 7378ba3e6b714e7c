//! RFC 4733 telephone-events: the payload format, a [`Receiver`] that turns event packets into
//! one [`DtmfEdge`](super::DtmfEdge) stream, and a [`Sender`] that turns key presses into event
//! packets.
//!
//! The RTP header is not parsed here (that is the RTP layer's job): both sides work with the
//! fields of an already-parsed packet — timestamp, marker bit, sequence number and payload bytes
//! ([`RtpEvent`]) — and the sender hands back payloads with the marker and the timestamp offset
//! for the caller to put on its own RTP stream ([`EventPacket`]).
//!
//! # Payload (§2.3)
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     event     |E|R| volume    |          duration             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! `event` is the code (0–15 for DTMF, §3.2), `E` marks the end of the event, `R` is reserved
//! (sent as 0, ignored on receipt), `volume` is the tone's power in −dBm0 (0–63), `duration` is
//! how long the event has lasted so far, in RTP timestamp units from the packet's timestamp.
//! A packet may carry several 4-byte blocks (§2.5.1.5): consecutive events, each starting where
//! the previous one's duration ends, the packet's timestamp being that of the first.
//!
//! # What a sender does (§2.5.1), and so what we expect
//! * All packets of one event carry the RTP timestamp of the event's start; the first one has
//!   the marker bit; each update repeats the event with a growing duration.
//! * The final packet has the E bit and the final duration and is sent three times (§2.5.1.4),
//!   so the receiver must report the event once whichever copies arrive.
//! * An event longer than the 16-bit duration field can express (65,535 ticks, 8.2 s at 8 kHz)
//!   is cut into segments (§2.5.1.3): each new segment carries a new timestamp, the old one plus
//!   the old segment's duration, and no marker; the receiver must report one event.

mod receiver;
mod sender;

pub use receiver::{Receiver, ReceiverConfig, ReceiverStats, RtpEvent};
pub use sender::{EventPacket, Sender, SenderConfig};

use std::num::NonZeroU32;
use std::time::Duration;

/// Size of one event block in a telephone-event payload (§2.3).
pub const EVENT_BLOCK_LEN: usize = 4;

/// Most event blocks we accept in one packet (§2.5.1.5 allows several). Real senders pack two
/// or three when their update interval is longer than a digit; more is not a phone.
pub const MAX_EVENTS_PER_PACKET: usize = 8;

/// Largest value of the duration field: an event lasting longer is segmented (§2.5.1.3).
pub const MAX_SEGMENT_TICKS: u16 = u16::MAX;

/// Errors of the RFC 4733 layer: malformed payloads from the network, and bad requests to the
/// sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rfc4733Error {
    /// The payload is shorter than one 4-byte event block.
    #[error("telephone-event payload too short: {len} bytes, a block is 4")]
    Truncated {
        /// Length of the payload.
        len: usize,
    },
    /// The payload is not a whole number of 4-byte blocks.
    #[error("telephone-event payload of {len} bytes is not a whole number of 4-byte blocks")]
    TrailingBytes {
        /// Length of the payload.
        len: usize,
    },
    /// More event blocks than [`MAX_EVENTS_PER_PACKET`].
    #[error("{count} events in one telephone-event packet, at most {MAX_EVENTS_PER_PACKET}")]
    TooManyEvents {
        /// Number of blocks in the payload.
        count: usize,
    },
    /// A volume outside 0..=63 (the field has six bits).
    #[error("telephone-event volume {0} is outside 0..=63 (-dBm0)")]
    InvalidVolume(u8),
    /// A key press of zero duration was asked for.
    #[error("a telephone-event needs a duration of at least one timestamp tick")]
    ZeroDuration,
    /// The sender's queue of key presses is full.
    #[error("the telephone-event send queue is full ({capacity} presses)")]
    QueueFull {
        /// Capacity of the queue.
        capacity: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid telephone-event configuration: {field}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
    },
}

/// Power of the tone an event stands for, in −dBm0: 0 is 0 dBm0, 63 is −63 dBm0 (§2.3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Volume(u8);

impl Volume {
    /// −10 dBm0, a usual level for a DTMF tone pair.
    pub const DEFAULT: Volume = Volume(10);

    /// A volume of `-attenuation_db` dBm0.
    ///
    /// # Errors
    /// [`Rfc4733Error::InvalidVolume`] above 63.
    pub const fn new(attenuation_db: u8) -> Result<Volume, Rfc4733Error> {
        if attenuation_db <= 63 {
            Ok(Volume(attenuation_db))
        } else {
            Err(Rfc4733Error::InvalidVolume(attenuation_db))
        }
    }

    /// How many dB below 0 dBm0 the tone is.
    #[must_use]
    pub const fn attenuation_db(self) -> u8 {
        self.0
    }
}

impl Default for Volume {
    fn default() -> Self {
        Volume::DEFAULT
    }
}

/// One 4-byte event block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventBlock {
    /// The event code (§3.2 for DTMF: 0–15; other codes belong to other event sets).
    pub event: u8,
    /// The E bit: this is the final packet of the event.
    pub end: bool,
    /// The tone's power.
    pub volume: Volume,
    /// Duration so far, in RTP timestamp units from the packet's timestamp.
    pub duration: u16,
}

impl EventBlock {
    /// Parses one block from exactly four bytes.
    #[must_use]
    pub const fn from_bytes(b: [u8; EVENT_BLOCK_LEN]) -> EventBlock {
        EventBlock {
            event: b[0],
            end: b[1] & 0x80 != 0,
            // §2.3.3: R is reserved, ignored on receipt.
            volume: Volume(b[1] & 0x3F),
            duration: u16::from_be_bytes([b[2], b[3]]),
        }
    }

    /// The block as sent on the wire (R bit cleared).
    #[must_use]
    pub const fn to_bytes(self) -> [u8; EVENT_BLOCK_LEN] {
        let e = if self.end { 0x80 } else { 0 };
        let d = self.duration.to_be_bytes();
        [self.event, e | (self.volume.0 & 0x3F), d[0], d[1]]
    }
}

/// The event blocks of a telephone-event payload, validated.
///
/// # Errors
/// [`Rfc4733Error::Truncated`], [`Rfc4733Error::TrailingBytes`] or
/// [`Rfc4733Error::TooManyEvents`].
///
/// ```
/// use switchboard_media::dtmf::rfc4733::{parse_payload, EventBlock};
/// let blocks: Vec<EventBlock> = parse_payload(&[11, 0x8a, 0x06, 0x40]).unwrap().collect();
/// assert_eq!(blocks[0].event, 11); // '#'
/// assert!(blocks[0].end);
/// assert_eq!(blocks[0].volume.attenuation_db(), 10);
/// assert_eq!(blocks[0].duration, 1600);
/// ```
pub fn parse_payload(
    payload: &[u8],
) -> Result<impl ExactSizeIterator<Item = EventBlock> + '_, Rfc4733Error> {
    let len = payload.len();
    if len < EVENT_BLOCK_LEN {
        return Err(Rfc4733Error::Truncated { len });
    }
    if !len.is_multiple_of(EVENT_BLOCK_LEN) {
        return Err(Rfc4733Error::TrailingBytes { len });
    }
    let count = len / EVENT_BLOCK_LEN;
    if count > MAX_EVENTS_PER_PACKET {
        return Err(Rfc4733Error::TooManyEvents { count });
    }
    Ok(payload
        .chunks_exact(EVENT_BLOCK_LEN)
        .map(|c| EventBlock::from_bytes([c[0], c[1], c[2], c[3]])))
}

/// Converts a number of RTP timestamp ticks at `rate` Hz into a duration (exact to the
/// nanosecond, rounded down).
pub(crate) fn ticks_to_duration(ticks: u64, rate: NonZeroU32) -> Duration {
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(rate.get());
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Converts a duration into RTP timestamp ticks at `rate` Hz, rounded to the nearest tick.
pub(crate) fn duration_to_ticks(d: Duration, rate: NonZeroU32) -> u64 {
    let ticks = (d.as_nanos() * u128::from(rate.get()) + 500_000_000) / 1_000_000_000;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// 8 kHz, the telephone-event clock unless the SDP says otherwise (the `rate` default of the
/// audio/telephone-event media type that RFC 4733 registers).
pub(crate) const RATE_8K: NonZeroU32 = match NonZeroU32::new(8_000) {
    Some(r) => r,
    None => unreachable!(),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_round_trips_and_ignores_the_reserved_bit() {
        let b = EventBlock {
            event: 15,
            end: true,
            volume: Volume(63),
            duration: 0xABCD,
        };
        assert_eq!(b.to_bytes(), [15, 0xBF, 0xAB, 0xCD]);
        assert_eq!(EventBlock::from_bytes(b.to_bytes()), b);
        // R set on the wire: same block.
        assert_eq!(EventBlock::from_bytes([15, 0xFF, 0xAB, 0xCD]), b);
    }

    #[test]
    fn payload_lengths() {
        assert_eq!(
            parse_payload(&[]).err(),
            Some(Rfc4733Error::Truncated { len: 0 })
        );
        assert_eq!(
            parse_payload(&[1, 2, 3]).err(),
            Some(Rfc4733Error::Truncated { len: 3 })
        );
        assert_eq!(
            parse_payload(&[0; 5]).err(),
            Some(Rfc4733Error::TrailingBytes { len: 5 })
        );
        assert_eq!(
            parse_payload(&[0; 36]).err(),
            Some(Rfc4733Error::TooManyEvents { count: 9 })
        );
        assert_eq!(parse_payload(&[0; 32]).map(|b| b.len()).ok(), Some(8));
    }

    #[test]
    fn volume_range() {
        assert_eq!(Volume::new(63).map(Volume::attenuation_db), Ok(63));
        assert_eq!(Volume::new(64), Err(Rfc4733Error::InvalidVolume(64)));
    }

    #[test]
    fn tick_conversions() {
        assert_eq!(ticks_to_duration(800, RATE_8K), Duration::from_millis(100));
        assert_eq!(duration_to_ticks(Duration::from_millis(100), RATE_8K), 800);
        // Rounded to nearest: 62.5 µs is half a tick at 8 kHz.
        assert_eq!(duration_to_ticks(Duration::from_micros(62), RATE_8K), 0);
        assert_eq!(duration_to_ticks(Duration::from_micros(63), RATE_8K), 1);
    }
}
