//! The RTP packets the generator sends and reads back, and the 16-byte stamp at the start of
//! their payload that lets the receiver match a packet to its send time.
//!
//! Why a stamp in the payload rather than the RTP header: a media relay in the middle (our
//! switch, or any B2BUA that anchors media) rewrites SSRC, sequence number and timestamp when it
//! bridges two legs, but relays the payload bytes unchanged when both legs use the same codec. So
//! the payload is the only place where the sender's own sequence number and clock survive.
//! When the switch transcodes, the payload does not survive either: such packets carry no valid
//! stamp and are only counted (see [`crate::loadgen::stats`]).

use std::fmt;

/// Length of the fixed RTP header (RFC 3550 §5.1), without CSRCs or extension.
pub const RTP_HEADER_LEN: usize = 12;
/// Length of the stamp at the start of the payload.
pub const STAMP_LEN: usize = 16;
/// First two payload bytes of every stamped packet ("LG").
pub const STAMP_MAGIC: [u8; 2] = *b"LG";
/// Largest datagram the generator reads: RTP over loopback never comes near it.
pub const MAX_PACKET: usize = 2048;

/// Index of one call of a run (0-based), as encoded in the caller's From user `lg-<index>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallIndex(pub u32);

impl fmt::Display for CallIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lg-{}", self.0)
    }
}

/// Which end of a call a socket (and the stream it sends) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The carrier's side: the generator's UAC, which calls the switch.
    Caller,
    /// The agent's phone: the generator's UAS, which the switch calls.
    Agent,
}

/// One RTP socket of the generator, and the stream it sends: call `i` owns streams `2i` (caller)
/// and `2i + 1` (agent). A `u16` is enough for the 5,000-call bound (10,000 streams).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u16);

impl StreamId {
    /// The stream of `call`'s `side`; `None` past the `u16` range.
    #[must_use]
    pub fn of(call: CallIndex, side: Side) -> Option<StreamId> {
        let base = call.0.checked_mul(2)?;
        let id = match side {
            Side::Caller => base,
            Side::Agent => base.checked_add(1)?,
        };
        u16::try_from(id).ok().map(StreamId)
    }

    /// The call this stream belongs to.
    #[must_use]
    pub fn call(self) -> CallIndex {
        CallIndex(u32::from(self.0 / 2))
    }

    /// Which end of the call sends it.
    #[must_use]
    pub fn side(self) -> Side {
        if self.0.is_multiple_of(2) {
            Side::Caller
        } else {
            Side::Agent
        }
    }

    /// The other end of the same call: where this stream's packets should arrive.
    #[must_use]
    pub fn peer(self) -> StreamId {
        StreamId(self.0 ^ 1)
    }

    /// As an index into per-stream tables.
    #[must_use]
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// What the sender wrote at the start of the payload: who sent it, its own sequence number
/// (starting at 0, never rewritten by a relay), and when, in nanoseconds since the run's epoch
/// (one `Instant` shared by the sending and receiving threads of the same process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The sending stream.
    pub stream: StreamId,
    /// The sender's packet count before this packet.
    pub seq: u32,
    /// Send time, ns since the run's epoch.
    pub sent_ns: u64,
}

impl Stamp {
    /// Writes the stamp into the first [`STAMP_LEN`] bytes of `payload` (big-endian fields after
    /// the magic). Returns `false`, writing nothing, if the payload is shorter.
    pub fn write(&self, payload: &mut [u8]) -> bool {
        let Some(out) = payload.get_mut(..STAMP_LEN) else {
            return false;
        };
        out[0..2].copy_from_slice(&STAMP_MAGIC);
        out[2..4].copy_from_slice(&self.stream.0.to_be_bytes());
        out[4..8].copy_from_slice(&self.seq.to_be_bytes());
        out[8..16].copy_from_slice(&self.sent_ns.to_be_bytes());
        true
    }

    /// Reads a stamp from the start of a payload: `None` if it is too short or lacks the magic.
    #[must_use]
    pub fn read(payload: &[u8]) -> Option<Stamp> {
        let head: &[u8; STAMP_LEN] = payload.get(..STAMP_LEN)?.try_into().ok()?;
        if head[0..2] != STAMP_MAGIC {
            return None;
        }
        Some(Stamp {
            stream: StreamId(u16::from_be_bytes([head[2], head[3]])),
            seq: u32::from_be_bytes([head[4], head[5], head[6], head[7]]),
            sent_ns: u64::from_be_bytes([
                head[8], head[9], head[10], head[11], head[12], head[13], head[14], head[15],
            ]),
        })
    }
}

/// The fields of an RTP header the generator writes and reads (RFC 3550 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// M bit: set on the first packet of a talk spurt (our first packet).
    pub marker: bool,
    /// 7-bit payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub seq: u16,
    /// Media timestamp, in the codec's clock.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// Why a datagram is not an RTP packet we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketError {
    /// Shorter than its own header says (12 bytes, CSRCs, extension, padding).
    Truncated,
    /// Version field other than 2.
    Version(u8),
    /// An RTCP packet (RFC 5761 §4: payload-type byte 200..=206 with the marker bit), which
    /// arrives on the RTP port when the far end multiplexes them.
    Rtcp,
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::Truncated => f.write_str("truncated RTP packet"),
            PacketError::Version(v) => write!(f, "RTP version {v}, expected 2"),
            PacketError::Rtcp => f.write_str("RTCP packet on the RTP port"),
        }
    }
}

impl std::error::Error for PacketError {}

impl RtpHeader {
    /// Writes the 12-byte header (no CSRC, no extension, no padding) into `out`. Returns `false`,
    /// writing nothing, if `out` is shorter than [`RTP_HEADER_LEN`].
    pub fn write(&self, out: &mut [u8]) -> bool {
        let Some(out) = out.get_mut(..RTP_HEADER_LEN) else {
            return false;
        };
        out[0] = 0x80; // V=2, P=0, X=0, CC=0
        out[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        out[2..4].copy_from_slice(&self.seq.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        true
    }

    /// Parses a datagram into its header and payload, skipping CSRCs and a header extension and
    /// removing padding (RFC 3550 §5.1, §5.3.1).
    ///
    /// # Errors
    /// [`PacketError`] when the datagram is RTCP, not version 2, or shorter than it claims.
    pub fn parse(packet: &[u8]) -> Result<(RtpHeader, &[u8]), PacketError> {
        let fixed: &[u8; RTP_HEADER_LEN] = packet
            .get(..RTP_HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(PacketError::Truncated)?;
        let version = fixed[0] >> 6;
        if version != 2 {
            return Err(PacketError::Version(version));
        }
        if (200..=206).contains(&fixed[1]) {
            return Err(PacketError::Rtcp);
        }
        let csrc_count = usize::from(fixed[0] & 0x0F);
        let mut start = RTP_HEADER_LEN + 4 * csrc_count;
        if fixed[0] & 0x10 != 0 {
            // §5.3.1: 16-bit profile field, 16-bit length in 32-bit words, then the words.
            let ext = packet.get(start..start + 4).ok_or(PacketError::Truncated)?;
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            start += 4 + 4 * words;
        }
        let mut end = packet.len();
        if fixed[0] & 0x20 != 0 {
            // The last octet counts the padding octets, itself included.
            let pad = usize::from(*packet.last().ok_or(PacketError::Truncated)?);
            end = end.checked_sub(pad).ok_or(PacketError::Truncated)?;
        }
        let payload = packet.get(start..end).ok_or(PacketError::Truncated)?;
        let header = RtpHeader {
            marker: fixed[1] & 0x80 != 0,
            payload_type: fixed[1] & 0x7F,
            seq: u16::from_be_bytes([fixed[2], fixed[3]]),
            timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
        };
        Ok((header, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn streams_pair_up_by_call() {
        let caller = StreamId::of(CallIndex(17), Side::Caller);
        let agent = StreamId::of(CallIndex(17), Side::Agent);
        assert_eq!(caller, Some(StreamId(34)));
        assert_eq!(agent, Some(StreamId(35)));
        assert_eq!(StreamId(34).peer(), StreamId(35));
        assert_eq!(StreamId(35).peer(), StreamId(34));
        assert_eq!(StreamId(35).call(), CallIndex(17));
        assert_eq!(StreamId(35).side(), Side::Agent);
        assert_eq!(StreamId::of(CallIndex(40_000), Side::Caller), None);
        assert_eq!(CallIndex(17).to_string(), "lg-17");
    }

    #[test]
    fn header_bytes_are_rfc3550_layout() {
        let mut buf = [0_u8; 12];
        let header = RtpHeader {
            marker: true,
            payload_type: 8,
            seq: 0x0102,
            timestamp: 0x0304_0506,
            ssrc: 0x0708_090A,
        };
        assert!(header.write(&mut buf));
        assert_eq!(buf, [0x80, 0x88, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(RtpHeader::parse(&buf), Ok((header, &[][..])));
        assert!(!header.write(&mut [0_u8; 11]));
    }

    #[test]
    fn parse_skips_csrcs_extension_and_padding() {
        // CC=1, X=1, P=1: header, one CSRC, extension of one word, 3 payload bytes, 2 padding.
        let mut packet = vec![0xB1, 0x08, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
        packet.extend_from_slice(&[0xAA; 4]); // CSRC
        packet.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x11, 0x22, 0x33, 0x44]); // extension
        packet.extend_from_slice(&[1, 2, 3, 0, 2]); // payload + padding (count 2)
        let (header, payload) = RtpHeader::parse(&packet).unwrap();
        assert_eq!(header.seq, 1);
        assert_eq!(header.timestamp, 160);
        assert_eq!(payload, &[1, 2, 3]);
    }

    #[test]
    fn parse_rejects_what_is_not_rtp() {
        assert_eq!(RtpHeader::parse(&[0x80; 5]), Err(PacketError::Truncated));
        assert_eq!(RtpHeader::parse(&[0x40; 12]), Err(PacketError::Version(1)));
        let mut rtcp = [0_u8; 12];
        rtcp[0] = 0x80;
        rtcp[1] = 200; // sender report
        assert_eq!(RtpHeader::parse(&rtcp), Err(PacketError::Rtcp));
        let mut bad_pad = [0_u8; 12];
        bad_pad[0] = 0xA0;
        bad_pad[11] = 50;
        assert_eq!(RtpHeader::parse(&bad_pad), Err(PacketError::Truncated));
    }

    #[test]
    fn stamp_needs_magic_and_room() {
        let stamp = Stamp {
            stream: StreamId(513),
            seq: 7,
            sent_ns: 1_000_000_007,
        };
        let mut payload = [0xD5_u8; 160];
        assert!(stamp.write(&mut payload));
        assert_eq!(&payload[..4], &[b'L', b'G', 2, 1]);
        assert_eq!(payload[16], 0xD5, "bytes after the stamp are untouched");
        assert_eq!(Stamp::read(&payload), Some(stamp));
        assert_eq!(Stamp::read(&payload[..15]), None);
        assert_eq!(Stamp::read(&[0xD5; 160]), None);
        assert!(!stamp.write(&mut [0_u8; 15]));
    }

    proptest! {
        #[test]
        fn stamp_round_trips(stream: u16, seq: u32, sent_ns: u64) {
            let stamp = Stamp { stream: StreamId(stream), seq, sent_ns };
            let mut payload = [0_u8; 16];
            prop_assert!(stamp.write(&mut payload));
            prop_assert_eq!(Stamp::read(&payload), Some(stamp));
        }

        #[test]
        fn header_round_trips(marker: bool, pt in 0_u8..128, seq: u16, timestamp: u32, ssrc: u32) {
            prop_assume!(!(200..=206).contains(&(u8::from(marker) << 7 | pt)));
            let header = RtpHeader { marker, payload_type: pt, seq, timestamp, ssrc };
            let mut buf = [0_u8; 20];
            prop_assert!(header.write(&mut buf));
            let (parsed, payload) = RtpHeader::parse(&buf).unwrap();
            prop_assert_eq!(parsed, header);
            prop_assert_eq!(payload.len(), 8);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = RtpHeader::parse(&bytes);
            let _ = Stamp::read(&bytes);
        }
    }
}
