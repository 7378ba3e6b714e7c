//! RTCP on the wire: the compound-packet validity check of RFC 3550 A.2, done on the raw octets
//! before anything is handed to `rtc-rtcp`, and the writer for the few packets we send (SR, RR,
//! SDES CNAME, BYE).

use super::RtcpError;
use crate::rtp::Ssrc;
use crate::stats::ReceptionReport;

/// Sender Report (RFC 3550 §6.4.1).
pub(crate) const PT_SR: u8 = 200;
/// Receiver Report (RFC 3550 §6.4.2).
pub(crate) const PT_RR: u8 = 201;
/// Source Description (RFC 3550 §6.5).
pub(crate) const PT_SDES: u8 = 202;
/// Goodbye (RFC 3550 §6.6).
pub(crate) const PT_BYE: u8 = 203;
/// SDES item type CNAME (RFC 3550 §6.5.1).
const SDES_CNAME: u8 = 1;
/// Largest SDES item or BYE reason: its length is one octet.
pub(crate) const MAX_TEXT: usize = 255;

/// One packet of a validated compound: its type and its octets (header included).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubPacket<'a> {
    /// The packet type (second octet).
    pub(crate) packet_type: u8,
    /// Offset of the packet in the datagram.
    pub(crate) offset: usize,
    /// The packet, header to last padding octet.
    pub(crate) bytes: &'a [u8],
}

/// Splits a compound RTCP packet, checking RFC 3550 A.2: version 2 everywhere, the first packet
/// an SR or RR without padding, padding only on the last packet, and lengths that add up to the
/// datagram exactly. Calls `each` for every packet in order.
pub(crate) fn walk<'a>(
    datagram: &'a [u8],
    mut each: impl FnMut(SubPacket<'a>) -> Result<(), RtcpError>,
) -> Result<(), RtcpError> {
    let len = datagram.len();
    if len < 8 {
        return Err(RtcpError::TooShort { len });
    }
    let mut offset = 0;
    while offset < len {
        let Some(header) = datagram.get(offset..offset + 4) else {
            return Err(RtcpError::LengthMismatch { offset, len });
        };
        let version = header[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion { offset, version });
        }
        let padding = header[0] & 0x20 != 0;
        let packet_type = header[1];
        if offset == 0 && packet_type != PT_SR && packet_type != PT_RR {
            return Err(RtcpError::FirstNotReport { packet_type });
        }
        // RFC 3550 §6.4.1: length in 32-bit words minus one, header included.
        let size = 4 * (usize::from(u16::from_be_bytes([header[2], header[3]])) + 1);
        let end = offset + size;
        let Some(bytes) = datagram.get(offset..end) else {
            return Err(RtcpError::LengthMismatch { offset, len });
        };
        if padding && (offset == 0 || end != len) {
            // A.2: padding belongs to the last packet only, never to the first.
            return Err(RtcpError::MisplacedPadding { offset });
        }
        each(SubPacket {
            packet_type,
            offset,
            bytes,
        })?;
        offset = end;
    }
    Ok(())
}

/// Builds a compound packet in a `Vec` (RTCP leaves every ~5 s, so one allocation per report is
/// not a hot-path cost).
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

/// The sender-info block of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SenderInfo {
    pub(crate) ntp: u64,
    pub(crate) rtp_timestamp: u32,
    pub(crate) packets: u32,
    pub(crate) octets: u32,
}

/// A report block with the LSR/DLSR the report statistics do not know.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block {
    pub(crate) report: ReceptionReport,
    pub(crate) lsr: u32,
    pub(crate) dlsr: u32,
}

impl Writer {
    /// Starts a packet: writes its header with a placeholder length; returns its offset.
    fn begin(&mut self, count: u8, packet_type: u8) -> usize {
        let start = self.buf.len();
        self.buf
            .extend_from_slice(&[0x80 | (count & 0x1F), packet_type, 0, 0]);
        start
    }

    /// Pads the packet begun at `start` to a 32-bit boundary with zeros and fills its length.
    fn finish(&mut self, start: usize) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
        let words = (self.buf.len() - start) / 4 - 1;
        let words = u16::try_from(words).unwrap_or(u16::MAX).to_be_bytes();
        self.buf[start + 2] = words[0];
        self.buf[start + 3] = words[1];
    }

    fn put_u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn put_block(&mut self, b: &Block) {
        self.put_u32(b.report.ssrc.0);
        // Fraction lost, then the cumulative loss as a 24-bit two's complement field.
        let lost = (b.report.cumulative_lost as u32) & 0x00FF_FFFF;
        self.put_u32((u32::from(b.report.fraction_lost) << 24) | lost);
        self.put_u32(b.report.extended_highest);
        self.put_u32(b.report.jitter);
        self.put_u32(b.lsr);
        self.put_u32(b.dlsr);
    }

    /// An SR (with sender info) or, without it, an RR; at most one report block here.
    pub(crate) fn report(&mut self, ssrc: Ssrc, sender: Option<SenderInfo>, block: Option<&Block>) {
        let count = u8::from(block.is_some());
        let start = self.begin(count, if sender.is_some() { PT_SR } else { PT_RR });
        self.put_u32(ssrc.0);
        if let Some(s) = sender {
            self.buf.extend_from_slice(&s.ntp.to_be_bytes());
            self.put_u32(s.rtp_timestamp);
            self.put_u32(s.packets);
            self.put_u32(s.octets);
        }
        if let Some(b) = block {
            self.put_block(b);
        }
        self.finish(start);
    }

    /// An SDES packet with one chunk holding the CNAME (RFC 3550 §6.5.1), ended by at least one
    /// null octet and padded to 32 bits (§6.5).
    pub(crate) fn sdes_cname(&mut self, ssrc: Ssrc, cname: &str) {
        let start = self.begin(1, PT_SDES);
        self.put_u32(ssrc.0);
        let text = &cname.as_bytes()[..cname.len().min(MAX_TEXT)];
        self.buf.push(SDES_CNAME);
        self.buf.push(u8::try_from(text.len()).unwrap_or(u8::MAX));
        self.buf.extend_from_slice(text);
        self.buf.push(0); // end of the item list
        self.finish(start);
    }

    /// A BYE for `ssrc` with an optional reason (RFC 3550 §6.6).
    pub(crate) fn bye(&mut self, ssrc: Ssrc, reason: Option<&str>) {
        let start = self.begin(1, PT_BYE);
        self.put_u32(ssrc.0);
        if let Some(reason) = reason {
            let text = &reason.as_bytes()[..reason.len().min(MAX_TEXT)];
            self.buf.push(u8::try_from(text.len()).unwrap_or(u8::MAX));
            self.buf.extend_from_slice(text);
        }
        self.finish(start);
    }

    /// The compound packet.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Truncates `text` to at most [`MAX_TEXT`] octets on a character boundary.
pub(crate) fn truncate_text(text: &str) -> &str {
    let mut end = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
