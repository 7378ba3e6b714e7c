//! RTP packets (RFC 3550 §5): a zero-copy parser, an in-place header rewriter, a writer for the
//! packets we generate, and the RFC 5761 / RFC 7983 demultiplexer that tells RTP from RTCP, STUN
//! and garbage on one port.
//!
//! Every datagram the media engine receives goes through [`classify`] and [`RtpPacket::parse`],
//! and every relayed packet through [`rewrite_header`], so these three run ~50 times a second per
//! call leg and never allocate: the parsed packet borrows the receive buffer, and the rewrite
//! patches the 12 fixed header octets in place. `rtc-rtp` is the reference we test against (it
//! copies the CSRC list, the extensions and the payload into owned `Vec`/`Bytes`, which is what
//! the bench in `benches/benches/rtp.rs` measures against).
//!
//! # What the parser accepts (and why)
//! * Version 2 only (RFC 3550 §5.1); anything else is [`RtpError::BadVersion`].
//! * The CSRC list, the extension header and the extension body must fit in the datagram.
//! * Padding (RFC 3550 §5.1, P bit): the last octet counts the padding octets *including itself*,
//!   so a count of 0 is malformed ([`RtpError::ZeroPadding`]), and the count may not exceed what
//!   follows the header ([`RtpError::PaddingPastEnd`]).
//! * **An empty payload is accepted**, with or without padding. RFC 3550 does not forbid it and
//!   NAT keep-alives (RFC 6263 §4.3) are exactly that; whoever consumes the payload (jitter
//!   buffer, DTMF, recorder) decides what an empty frame means. The stats layer still counts it
//!   as a received packet, as the RFC's receiver algorithm does.
//! * Header extensions are returned raw (`profile`, body): interpreting RFC 8285 elements is left
//!   to whoever negotiated them; the relay forwards them untouched.
//!
//! ```
//! use switchboard_media::rtp::{PayloadType, RtpHeader, RtpPacket, Ssrc, rewrite_header, write_packet};
//!
//! let header = RtpHeader {
//!     marker: true,
//!     payload_type: PayloadType::PCMA,
//!     sequence: 7,
//!     timestamp: 160,
//!     ssrc: Ssrc(0x1234_5678),
//! };
//! let mut buf = [0_u8; 1500];
//! let len = write_packet(&mut buf, &header, &[0xD5; 160]).unwrap();
//! let packet = RtpPacket::parse(&buf[..len]).unwrap();
//! assert_eq!(packet.header, header);
//! assert_eq!(packet.payload.len(), 160);
//!
//! // Relay it to the other leg with that leg's SSRC, sequence and timestamp.
//! rewrite_header(&mut buf[..len], PayloadType::PCMA, 1000, 48_000, Ssrc(0xCAFE_F00D)).unwrap();
//! let relayed = RtpPacket::parse(&buf[..len]).unwrap();
//! assert_eq!(relayed.header.sequence, 1000);
//! assert!(relayed.header.marker); // untouched
//! ```

use std::fmt;

/// Length of the fixed RTP header (RFC 3550 §5.1).
pub const HEADER_LEN: usize = 12;
/// The only RTP version in use (RFC 3550 §5.1).
pub const VERSION: u8 = 2;

/// Errors from parsing, writing or rewriting an RTP packet. Every one is a fault of the datagram
/// (or of a caller-supplied buffer), never a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the 12-octet fixed header.
    #[error("RTP datagram of {len} octets is shorter than the 12-octet header")]
    TooShort {
        /// Length of the datagram.
        len: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {version}, expected 2")]
    BadVersion {
        /// The version found in the first two bits.
        version: u8,
    },
    /// The CSRC list announced by the CC field runs past the end of the datagram.
    #[error("RTP CSRC list of {csrc_count} entries runs past the end of a {len}-octet datagram")]
    CsrcPastEnd {
        /// The CC field.
        csrc_count: u8,
        /// Length of the datagram.
        len: usize,
    },
    /// The X bit is set but the 4-octet extension header does not fit.
    #[error("RTP extension header runs past the end of a {len}-octet datagram")]
    ExtensionHeaderPastEnd {
        /// Length of the datagram.
        len: usize,
    },
    /// The extension body announced by its length field does not fit.
    #[error("RTP extension of {words} words runs past the end of a {len}-octet datagram")]
    ExtensionPastEnd {
        /// The extension length field, in 32-bit words.
        words: u16,
        /// Length of the datagram.
        len: usize,
    },
    /// The P bit is set and the padding count (last octet) is 0; it counts itself, so it is ≥ 1.
    #[error("RTP padding bit set with a padding count of 0")]
    ZeroPadding,
    /// The padding count is larger than what follows the header.
    #[error("RTP padding of {padding} octets exceeds the {available} octets after the header")]
    PaddingPastEnd {
        /// The padding count (last octet).
        padding: u8,
        /// Octets after the header (CSRC list and extension included).
        available: usize,
    },
    /// A payload type outside 0..=127 (it is a 7-bit field).
    #[error("RTP payload type {value} is outside 0..=127")]
    PayloadTypeOutOfRange {
        /// The rejected value.
        value: u8,
    },
    /// The output buffer cannot hold the packet.
    #[error("RTP packet needs {needed} octets, the buffer holds {capacity}")]
    BufferTooSmall {
        /// Octets the packet needs.
        needed: usize,
        /// Octets the buffer holds.
        capacity: usize,
    },
}

/// Synchronisation source identifier (RFC 3550 §5.1). Chosen at random per stream (RFC 3550
/// §8.1): ours come from the session's seeded RNG, never from a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ssrc(pub u32);

impl fmt::Display for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// An RTP payload type, 0..=127 (a 7-bit field, RFC 3550 §5.1). Static types come from
/// RFC 3551 §6; dynamic ones (96..=127) are bound by SDP `a=rtpmap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadType(u8);

impl PayloadType {
    /// PCMU, G.711 µ-law at 8 kHz (RFC 3551 §6, Table 4).
    pub const PCMU: Self = Self(0);
    /// PCMA, G.711 A-law at 8 kHz (RFC 3551 §6, Table 4).
    pub const PCMA: Self = Self(8);
    /// G.722 (its RTP clock is 8 kHz although it samples at 16 kHz, RFC 3551 §4.5.2).
    pub const G722: Self = Self(9);
    /// Comfort noise (RFC 3389).
    pub const CN: Self = Self(13);

    /// A payload type from a 7-bit value.
    ///
    /// # Errors
    /// [`RtpError::PayloadTypeOutOfRange`] when `value > 127`.
    pub const fn new(value: u8) -> Result<Self, RtpError> {
        if value <= 0x7F {
            Ok(Self(value))
        } else {
            Err(RtpError::PayloadTypeOutOfRange { value })
        }
    }

    /// The 7-bit value.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Whether the type is in the dynamic range 96..=127 (RFC 3551 §3), so its meaning comes
    /// only from the SDP that bound it.
    #[must_use]
    pub const fn is_dynamic(self) -> bool {
        self.0 >= 96
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An extended sequence number: the 16-bit RTP sequence number plus the count of its wraps
/// (RFC 3550 A.1, `cycles` shifted by 16), so ordering and differences survive 65535 → 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SeqNo(pub u64);

impl SeqNo {
    /// The extended number for `seq` after `cycles` wraps.
    #[must_use]
    pub const fn new(cycles: u64, seq: u16) -> Self {
        Self((cycles << 16) | seq as u64)
    }

    /// The 16-bit sequence number as on the wire.
    #[must_use]
    pub const fn seq(self) -> u16 {
        (self.0 & 0xFFFF) as u16
    }

    /// How many times the 16-bit number has wrapped.
    #[must_use]
    pub const fn cycles(self) -> u64 {
        self.0 >> 16
    }

    /// Extends a received 16-bit `seq` to the extended number closest to `self` (the highest
    /// seen so far): a small step forward across 65535 → 0 counts one more cycle, a late packet
    /// from just before a wrap counts one fewer. Saturates at cycle 0 rather than underflowing.
    #[must_use]
    pub const fn extend(self, seq: u16) -> Self {
        let delta = seq_delta(seq, self.seq()) as i64;
        let ext = self.0 as i64 + delta;
        if ext < 0 {
            Self(seq as u64)
        } else {
            Self(ext as u64)
        }
    }
}

/// `a - b` for 16-bit sequence numbers, the short way round the circle: `seq_delta(2, 65535)`
/// is 3 and `seq_delta(65535, 2)` is −3 (serial number arithmetic, RFC 1982).
#[must_use]
pub const fn seq_delta(a: u16, b: u16) -> i32 {
    a.wrapping_sub(b) as i16 as i32
}

/// `a - b` for 32-bit RTP timestamps, the short way round the circle, so that a timestamp just
/// after the 2³² wrap is still "later": `ts_diff(10, u32::MAX)` is 11.
#[must_use]
pub const fn ts_diff(a: u32, b: u32) -> i64 {
    a.wrapping_sub(b) as i32 as i64
}

/// The fields of the fixed header we read and write (RFC 3550 §5.1). The version is always 2;
/// P, X and CC describe the layout and live in [`RtpPacket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// M bit: for audio, the first packet of a talk spurt (RFC 3551 §4.1).
    pub marker: bool,
    /// The payload format, as bound by SDP.
    pub payload_type: PayloadType,
    /// Increments by one per packet (RFC 3550 §5.1); wraps at 65535.
    pub sequence: u16,
    /// Sampling instant of the first octet, in the payload's clock rate; wraps at 2³².
    pub timestamp: u32,
    /// The stream's source.
    pub ssrc: Ssrc,
}

/// A parsed RTP packet borrowing its datagram. Built only by [`RtpPacket::parse`], so its
/// slices always lie inside the datagram and `payload_offset + payload.len() + padding` equals
/// the datagram's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The fixed header fields.
    pub header: RtpHeader,
    /// Number of CSRC identifiers after the fixed header (0..=15); read them with [`Self::csrc`].
    pub csrc_count: u8,
    /// The header extension (RFC 3550 §5.3.1): the 16-bit profile-defined field and the body
    /// (a multiple of 4 octets, possibly empty). `None` when the X bit is clear.
    pub extension: Option<(u16, &'a [u8])>,
    /// The payload, without padding.
    pub payload: &'a [u8],
    /// Padding octets at the end (the count in the last octet), 0 when the P bit is clear.
    pub padding: u8,
    /// Offset of the payload in the datagram (12 + CSRC list + extension).
    pub payload_offset: usize,
    /// The whole datagram, for the CSRC list.
    raw: &'a [u8],
}

/// Reads a big-endian u16 at `at`; the caller has checked `at + 2 <= buf.len()`.
fn be_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Reads a big-endian u32 at `at`; the caller has checked `at + 4 <= buf.len()`.
fn be_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

impl<'a> RtpPacket<'a> {
    /// Parses one RTP datagram without copying it.
    ///
    /// # Errors
    /// An [`RtpError`] naming the first rule of RFC 3550 §5.1/§5.3.1 the datagram breaks.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let len = buf.len();
        if len < HEADER_LEN {
            return Err(RtpError::TooShort { len });
        }
        let b0 = buf[0];
        let version = b0 >> 6;
        if version != VERSION {
            return Err(RtpError::BadVersion { version });
        }
        let csrc_count = b0 & 0x0F;
        let mut offset = HEADER_LEN + 4 * usize::from(csrc_count);
        if offset > len {
            return Err(RtpError::CsrcPastEnd { csrc_count, len });
        }
        let extension = if b0 & 0x10 != 0 {
            // RFC 3550 §5.3.1: 16 bits defined by profile, 16 bits of length in words.
            if offset + 4 > len {
                return Err(RtpError::ExtensionHeaderPastEnd { len });
            }
            let profile = be_u16(buf, offset);
            let words = be_u16(buf, offset + 2);
            let start = offset + 4;
            let end = start + 4 * usize::from(words);
            if end > len {
                return Err(RtpError::ExtensionPastEnd { words, len });
            }
            offset = end;
            Some((profile, &buf[start..end]))
        } else {
            None
        };
        let padding = if b0 & 0x20 != 0 {
            // RFC 3550 §5.1: the last octet counts the padding, itself included.
            let padding = buf[len - 1];
            let available = len - offset;
            if padding == 0 {
                return Err(RtpError::ZeroPadding);
            }
            if usize::from(padding) > available {
                return Err(RtpError::PaddingPastEnd { padding, available });
            }
            padding
        } else {
            0
        };
        let b1 = buf[1];
        Ok(Self {
            header: RtpHeader {
                marker: b1 & 0x80 != 0,
                payload_type: PayloadType(b1 & 0x7F),
                sequence: be_u16(buf, 2),
                timestamp: be_u32(buf, 4),
                ssrc: Ssrc(be_u32(buf, 8)),
            },
            csrc_count,
            extension,
            payload: &buf[offset..len - usize::from(padding)],
            padding,
            payload_offset: offset,
            raw: buf,
        })
    }

    /// The `index`-th CSRC (0-based), `None` past [`Self::csrc_count`].
    #[must_use]
    pub fn csrc(&self, index: usize) -> Option<Ssrc> {
        if index < usize::from(self.csrc_count) {
            Some(Ssrc(be_u32(self.raw, HEADER_LEN + 4 * index)))
        } else {
            None
        }
    }

    /// The whole datagram this packet was parsed from.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
}

/// Rewrites payload type, sequence number, timestamp and SSRC of an RTP packet in place, for
/// relaying a received packet into another leg's stream. The marker bit, the CSRC list, the
/// extension, the payload and the padding are left as they are.
///
/// `buf` must be a datagram that [`RtpPacket::parse`] accepted: only the 12 fixed octets are
/// touched, so nothing else is checked (that is what keeps the relay path to a few stores).
///
/// # Errors
/// [`RtpError::TooShort`] if `buf` is shorter than the fixed header (then it is left untouched).
pub fn rewrite_header(
    buf: &mut [u8],
    pt: PayloadType,
    seq: u16,
    ts: u32,
    ssrc: Ssrc,
) -> Result<(), RtpError> {
    let Some(fixed) = buf.get_mut(..HEADER_LEN) else {
        return Err(RtpError::TooShort { len: buf.len() });
    };
    fixed[1] = (fixed[1] & 0x80) | pt.get();
    fixed[2..4].copy_from_slice(&seq.to_be_bytes());
    fixed[4..8].copy_from_slice(&ts.to_be_bytes());
    fixed[8..12].copy_from_slice(&ssrc.0.to_be_bytes());
    Ok(())
}

/// Writes a packet we generate (prompt, tone, transcoded audio, RFC 4733 event): a 12-octet
/// header with no CSRC, extension or padding, then `payload`. Returns the packet's length.
///
/// # Errors
/// [`RtpError::BufferTooSmall`] if `out` cannot hold it (then `out` is left untouched).
pub fn write_packet(out: &mut [u8], header: &RtpHeader, payload: &[u8]) -> Result<usize, RtpError> {
    let needed = HEADER_LEN + payload.len();
    let Some(dst) = out.get_mut(..needed) else {
        return Err(RtpError::BufferTooSmall {
            needed,
            capacity: out.len(),
        });
    };
    dst[0] = VERSION << 6;
    dst[1] = (u8::from(header.marker) << 7) | header.payload_type.get();
    dst[2..4].copy_from_slice(&header.sequence.to_be_bytes());
    dst[4..8].copy_from_slice(&header.timestamp.to_be_bytes());
    dst[8..12].copy_from_slice(&header.ssrc.0.to_be_bytes());
    dst[HEADER_LEN..].copy_from_slice(payload);
    Ok(needed)
}

/// What a datagram arriving on a media port is, before any parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DatagramKind {
    /// Version 2, not an RTCP packet type, at least a fixed header long.
    Rtp,
    /// Version 2 with an RTCP packet type (200..=223 range of RFC 5761 §4) in the second octet.
    Rtcp,
    /// A STUN message (RFC 7983 §7: first octet 0..=3, plus the RFC 5389 magic cookie).
    Stun,
    /// Anything else: DTLS, ZRTP, TURN channel data, old RTP versions, truncated or stray bytes.
    Unknown,
}

/// STUN's magic cookie (RFC 5389 §6), at octets 4..8 of every STUN message.
const STUN_MAGIC_COOKIE: u32 = 0x2112_A442;
/// STUN header length (RFC 5389 §6).
const STUN_HEADER_LEN: usize = 20;
/// Minimum RTCP packet: 4-octet header plus the sender's SSRC (RFC 3550 §6.4).
const RTCP_MIN_LEN: usize = 8;

/// Demultiplexes a datagram from a media port (RFC 7983 §7 first-octet ranges, RFC 5761 §4 for
/// RTP against RTCP on one port with `a=rtcp-mux`).
///
/// RFC 5761 §4: with RTP and RTCP on one port, the second octet of an RTCP packet is its packet
/// type (SR 200, RR 201, SDES 202, BYE 203, APP 204, feedback 205/206, XR 207), which an RTP
/// packet would read as marker + payload type 64..=95; RFC 5761 forbids those payload types for
/// RTP on a muxed port, so octets 192..=223 mean RTCP. STUN is recognised by its first octet
/// *and* its magic cookie, so a stray datagram starting with 0x00 is not taken for STUN.
#[must_use]
pub fn classify(datagram: &[u8]) -> DatagramKind {
    let Some(&first) = datagram.first() else {
        return DatagramKind::Unknown;
    };
    match first {
        0..=3 => {
            if datagram.len() >= STUN_HEADER_LEN && be_u32(datagram, 4) == STUN_MAGIC_COOKIE {
                DatagramKind::Stun
            } else {
                DatagramKind::Unknown
            }
        }
        128..=191 => match datagram.get(1) {
            Some(192..=223) if datagram.len() >= RTCP_MIN_LEN => DatagramKind::Rtcp,
            Some(192..=223) => DatagramKind::Unknown,
            Some(_) if datagram.len() >= HEADER_LEN => DatagramKind::Rtp,
            _ => DatagramKind::Unknown,
        },
        _ => DatagramKind::Unknown,
    }
}
