//! Classic pcap files of an RTP stream, for SIPp's `<exec play_pcap_audio="FILE"/>`.
//!
//! SIPp replays the UDP payloads of a capture with the capture's timing, from its media port to
//! the address in the peer's SDP. That makes a pcap the way to have a *SIP* caller send real
//! audio and DTMF: the test scripts the stream ([`crate::rtp::RtpStream`]), writes it here, and
//! the scenario plays it.
//!
//! What SIPp 3.6 needs from the file (its `prepare_pcap.c`), and so what this writes:
//! * the classic format (not pcapng), link type Ethernet (`DLT_EN10MB`), every packet captured
//!   whole (`caplen == len`, else it refuses the file);
//! * IPv4 with a 20-byte header and protocol UDP; SIPp takes the UDP length from the UDP header,
//!   so that field must be right;
//! * one destination port for every packet: SIPp sends each packet to the SDP port plus the
//!   packet's destination port minus the lowest one in the file.
//!
//! SIPp recomputes the UDP checksum for the ports it substitutes; the file carries correct IPv4
//! and UDP checksums anyway, so `tshark` reads it without complaint. Timestamps start at a fixed
//! instant (2023-11-14T22:13:20Z): the files are byte-for-byte reproducible.
//!
//! ```
//! use std::net::SocketAddrV4;
//! use switchboard_tests::pcap::{read, write_rtp};
//! use switchboard_tests::rtp::RtpStream;
//! use switchboard_tests::signal::Dbm0;
//!
//! let stream = RtpStream::pcma_tone(1000.0, 0.2, Dbm0(-10.0));
//! let (src, dst) = ("10.0.0.1:6000".parse().unwrap(), "10.0.0.2:6000".parse().unwrap());
//! let mut file = Vec::new();
//! write_rtp(&mut file, &stream, src, dst).unwrap();
//! let records = read(&file).unwrap();
//! assert_eq!(records.len(), 10);
//! assert_eq!(records[9].at.as_millis(), 180);
//! assert_eq!(records[0].payload, stream.packets()[0].bytes);
//! ```

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use crate::rtp::RtpStream;

/// The classic pcap magic, microsecond timestamps (written in our, little-endian, byte order).
const MAGIC: u32 = 0xA1B2_C3D4;
/// `LINKTYPE_ETHERNET`.
const LINKTYPE_ETHERNET: u32 = 1;
/// The largest packet the file announces it may hold.
const SNAPLEN: u32 = 65_535;
/// The capture's first timestamp, in seconds since the epoch (fixed, for reproducible files).
const EPOCH_S: u32 = 1_700_000_000;
const ETHERNET_LEN: usize = 14;
const IPV4_LEN: usize = 20;
const UDP_LEN: usize = 8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const PROTO_UDP: u8 = 17;

/// What is wrong with a pcap file we read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PcapError {
    /// The file ends inside a header or a packet.
    #[error("pcap truncated at byte {0}")]
    Truncated(usize),
    /// Not a little-endian microsecond classic pcap, or not Ethernet.
    #[error("not a classic Ethernet pcap (magic {magic:#x}, link type {link})")]
    Format {
        /// The magic number read.
        magic: u32,
        /// The link type read.
        link: u32,
    },
    /// A packet that is not Ethernet/IPv4/UDP with consistent lengths.
    #[error("packet {index} is not a well-formed IPv4/UDP frame: {why}")]
    Packet {
        /// Its index in the file.
        index: usize,
        /// What is wrong.
        why: &'static str,
    },
}

/// One UDP datagram read back from a pcap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapRecord {
    /// Offset from the first packet's timestamp.
    pub at: Duration,
    /// Source address and port.
    pub src: SocketAddrV4,
    /// Destination address and port.
    pub dst: SocketAddrV4,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

/// Writes `stream` as a pcap of UDP datagrams from `src` to `dst`, each at its offset.
///
/// # Errors
/// When writing fails, or a packet is too large for one UDP datagram.
pub fn write_rtp<W: Write>(
    out: &mut W,
    stream: &RtpStream,
    src: SocketAddrV4,
    dst: SocketAddrV4,
) -> io::Result<()> {
    out.write_all(&global_header())?;
    for (i, packet) in stream.packets().iter().enumerate() {
        let id = u16::try_from(i & 0xFFFF).unwrap_or(0);
        let frame = ethernet_frame(src, dst, id, &packet.bytes)?;
        out.write_all(&record_header(packet.at, frame.len())?)?;
        out.write_all(&frame)?;
    }
    Ok(())
}

/// Writes `stream` to the file `path` (see [`write_rtp`]).
///
/// # Errors
/// When the file cannot be written.
pub fn write_rtp_file(
    path: &std::path::Path,
    stream: &RtpStream,
    src: SocketAddrV4,
    dst: SocketAddrV4,
) -> io::Result<()> {
    let mut buf = Vec::new();
    write_rtp(&mut buf, stream, src, dst)?;
    std::fs::write(path, buf)
}

fn global_header() -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&MAGIC.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes()); // thiszone: UTC
    h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    h.extend_from_slice(&SNAPLEN.to_le_bytes());
    h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    h
}

fn record_header(at: Duration, len: usize) -> io::Result<Vec<u8>> {
    let len = u32::try_from(len).map_err(|_| io::Error::other("frame too large"))?;
    let secs = EPOCH_S + u32::try_from(at.as_secs()).map_err(|_| io::Error::other("too long"))?;
    let mut h = Vec::with_capacity(16);
    h.extend_from_slice(&secs.to_le_bytes());
    h.extend_from_slice(&at.subsec_micros().to_le_bytes());
    h.extend_from_slice(&len.to_le_bytes()); // captured: the whole frame
    h.extend_from_slice(&len.to_le_bytes()); // on the wire
    Ok(h)
}

/// Ethernet II + IPv4 (RFC 791) + UDP (RFC 768) around `payload`.
fn ethernet_frame(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    id: u16,
    payload: &[u8],
) -> io::Result<Vec<u8>> {
    let udp_len = u16::try_from(UDP_LEN + payload.len())
        .map_err(|_| io::Error::other("payload too large for UDP"))?;
    let ip_len = u16::try_from(IPV4_LEN + usize::from(udp_len))
        .map_err(|_| io::Error::other("payload too large for IPv4"))?;
    let mut f = Vec::with_capacity(ETHERNET_LEN + usize::from(ip_len));
    // Locally administered MACs; nothing reads them.
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]);
    f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let mut ip = [0u8; IPV4_LEN];
    ip[0] = 0x45; // version 4, IHL 5 words
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[4..6].copy_from_slice(&id.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64; // TTL
    ip[9] = PROTO_UDP;
    ip[12..16].copy_from_slice(&src.ip().octets());
    ip[16..20].copy_from_slice(&dst.ip().octets());
    let sum = !ones_complement_sum(&ip, 0);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut udp = Vec::with_capacity(usize::from(udp_len));
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let sum = udp_checksum(*src.ip(), *dst.ip(), &udp);
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&udp);
    Ok(f)
}

/// The 16-bit one's complement sum of `data` (RFC 1071), folded, starting from `initial`.
fn ones_complement_sum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
        sum += u32::from(word);
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    u16::try_from(sum).unwrap_or(u16::MAX)
}

/// RFC 768: the checksum over the pseudo-header and the datagram; 0 is sent as 0xFFFF.
fn udp_checksum(src: Ipv4Addr, dst: Ipv4Addr, datagram: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, PROTO_UDP]);
    pseudo.extend_from_slice(&u16::try_from(datagram.len()).unwrap_or(0).to_be_bytes());
    let partial = ones_complement_sum(&pseudo, 0);
    match !ones_complement_sum(datagram, u32::from(partial)) {
        0 => 0xFFFF,
        sum => sum,
    }
}

/// Reads back a file [`write_rtp`] wrote (little-endian classic pcap, Ethernet, IPv4/UDP),
/// checking every length and checksum, so a test can prove what SIPp will be given.
///
/// # Errors
/// [`PcapError`] naming the first thing that is wrong.
pub fn read(file: &[u8]) -> Result<Vec<PcapRecord>, PcapError> {
    let header = file.get(..24).ok_or(PcapError::Truncated(file.len()))?;
    let magic = le32(header, 0);
    let link = le32(header, 20);
    if magic != MAGIC || link != LINKTYPE_ETHERNET {
        return Err(PcapError::Format { magic, link });
    }
    let mut records = Vec::new();
    let mut pos = 24;
    let mut first: Option<Duration> = None;
    while pos < file.len() {
        let rec = file
            .get(pos..pos + 16)
            .ok_or(PcapError::Truncated(file.len()))?;
        let ts = Duration::from_secs(u64::from(le32(rec, 0)))
            + Duration::from_micros(u64::from(le32(rec, 4)));
        let (caplen, len) = (le32(rec, 8) as usize, le32(rec, 12) as usize);
        let index = records.len();
        if caplen != len {
            return Err(PcapError::Packet {
                index,
                why: "captured length differs from the length on the wire",
            });
        }
        let frame = file
            .get(pos + 16..pos + 16 + caplen)
            .ok_or(PcapError::Truncated(file.len()))?;
        let (src, dst, payload) =
            parse_frame(frame).map_err(|why| PcapError::Packet { index, why })?;
        let base = *first.get_or_insert(ts);
        records.push(PcapRecord {
            at: ts.saturating_sub(base),
            src,
            dst,
            payload: payload.to_vec(),
        });
        pos += 16 + caplen;
    }
    Ok(records)
}

fn parse_frame(frame: &[u8]) -> Result<(SocketAddrV4, SocketAddrV4, &[u8]), &'static str> {
    let eth = frame.get(..ETHERNET_LEN).ok_or("shorter than Ethernet")?;
    if u16::from_be_bytes([eth[12], eth[13]]) != ETHERTYPE_IPV4 {
        return Err("not IPv4");
    }
    let ip = frame
        .get(ETHERNET_LEN..ETHERNET_LEN + IPV4_LEN)
        .ok_or("shorter than IPv4")?;
    if ip[0] != 0x45 || ip[9] != PROTO_UDP {
        return Err("not a 20-byte IPv4 header carrying UDP");
    }
    if ones_complement_sum(ip, 0) != 0xFFFF {
        return Err("bad IPv4 header checksum");
    }
    let ip_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ETHERNET_LEN + ip_len != frame.len() {
        return Err("IPv4 total length does not match the frame");
    }
    let udp = &frame[ETHERNET_LEN + IPV4_LEN..];
    let head = udp.get(..UDP_LEN).ok_or("shorter than UDP")?;
    if usize::from(u16::from_be_bytes([head[4], head[5]])) != udp.len() {
        return Err("UDP length does not match the IPv4 length");
    }
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let mut zeroed = udp.to_vec();
    zeroed[6..8].fill(0);
    if udp_checksum(src_ip, dst_ip, &zeroed) != u16::from_be_bytes([head[6], head[7]]) {
        return Err("bad UDP checksum");
    }
    let src = SocketAddrV4::new(src_ip, u16::from_be_bytes([head[0], head[1]]));
    let dst = SocketAddrV4::new(dst_ip, u16::from_be_bytes([head[2], head[3]]));
    Ok((src, dst, &udp[UDP_LEN..]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::{RtpPacket, TELEPHONE_EVENT};
    use crate::signal::Dbm0;
    use proptest::prelude::*;

    fn addrs() -> (SocketAddrV4, SocketAddrV4) {
        (
            "192.0.2.1:6000".parse().unwrap(),
            "192.0.2.2:6000".parse().unwrap(),
        )
    }

    #[test]
    fn the_file_round_trips_with_its_timing_and_lengths() {
        let stream = RtpStream::pcma_tone(1000.0, 3.0, Dbm0(-10.0))
            .with_rfc4733_digits(
                "15#",
                Duration::from_millis(500),
                Duration::from_millis(700),
                Duration::from_millis(100),
            )
            .unwrap();
        let (src, dst) = addrs();
        let mut file = Vec::new();
        write_rtp(&mut file, &stream, src, dst).unwrap();
        let records = read(&file).unwrap();
        assert_eq!(records.len(), stream.packets().len());
        for (r, p) in records.iter().zip(stream.packets()) {
            assert_eq!((r.src, r.dst), (src, dst));
            assert_eq!(r.at, p.at);
            assert_eq!(r.payload, p.bytes);
        }
        // 20 ms apart throughout, audio and events alike.
        assert!(
            records
                .windows(2)
                .all(|w| w[1].at - w[0].at == Duration::from_millis(20))
        );
        let events = records
            .iter()
            .filter(|r| RtpPacket::parse(&r.payload).unwrap().payload_type == TELEPHONE_EVENT)
            .count();
        assert_eq!(events, 3 * 7);
        // Each record: 16-byte header + 14 + 20 + 8 + 12 + payload.
        let audio_record = 16 + 14 + 20 + 8 + 12 + 160;
        let event_record = 16 + 14 + 20 + 8 + 12 + 4;
        assert_eq!(
            file.len(),
            24 + (records.len() - events) * audio_record + events * event_record
        );
    }

    #[test]
    fn the_global_header_is_the_classic_little_endian_one() {
        let mut file = Vec::new();
        let (src, dst) = addrs();
        write_rtp(
            &mut file,
            &RtpStream::pcma_tone(1.0, 0.0, Dbm0(0.0)),
            src,
            dst,
        )
        .unwrap();
        assert_eq!(
            file,
            [
                0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 1, 0,
                0, 0
            ]
        );
    }

    #[test]
    fn checksums_are_those_of_rfc_1071() {
        // The RFC 1071 §3 example: the folded sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
        assert_eq!(
            ones_complement_sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7], 0),
            0xDDF2
        );
        let frame = ethernet_frame(addrs().0, addrs().1, 1, b"abc").unwrap();
        assert_eq!(parse_frame(&frame).unwrap().2, b"abc");
        let mut bad = frame.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(parse_frame(&bad), Err("bad UDP checksum"));
    }

    #[test]
    fn damaged_files_are_errors() {
        assert_eq!(read(&[0; 10]), Err(PcapError::Truncated(10)));
        let mut file = Vec::new();
        let (src, dst) = addrs();
        write_rtp(
            &mut file,
            &RtpStream::pcma_tone(1.0, 0.04, Dbm0(0.0)),
            src,
            dst,
        )
        .unwrap();
        assert!(matches!(
            read(&file[..file.len() - 1]),
            Err(PcapError::Truncated(_))
        ));
        let mut other = file.clone();
        other[20] = 113; // Linux cooked capture
        assert!(matches!(
            read(&other),
            Err(PcapError::Format { link: 113, .. })
        ));
    }

    proptest! {
        #[test]
        fn reading_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = read(&bytes);
            let mut file = global_header();
            file.extend_from_slice(&bytes);
            let _ = read(&file);
        }
    }
}
