//! RTP packets (RFC 3550) and RFC 4733 telephone-events, as the tests build and parse them.
//!
//! The end-to-end tests play the part of phones and carriers: they must *send* well-formed media
//! (a tone, DTMF) and *read* what the switch relays. This module is that wire format and nothing
//! more; the socket lives in [`crate::endpoint`], the file format SIPp replays in [`crate::pcap`].
//!
//! An [`RtpStream`] is a whole scripted stream, each packet with the offset at which a real phone
//! would send it (20 ms apart, RFC 3551 §4.5.14 `ptime` 20): a G.711 tone, optionally with DTMF
//! digits as RFC 4733 events at chosen times.
//!
//! # DTMF and audio (a choice, documented)
//! While a digit's event is being sent, the stream carries **no audio packets**: the event's
//! packets take the audio's 20 ms slots, as most phones do (they replace the audio with the event
//! rather than mix both). So a receiver sees a short gap in the tone around each digit, and the
//! media clock (RTP timestamp) keeps running through it, because RFC 4733 §2.1 puts events in the
//! same stream, SSRC, sequence space and clock as the audio.
//!
//! ```
//! use std::time::Duration;
//! use switchboard_tests::rtp::{RtpPacket, RtpStream, PCMA};
//! use switchboard_tests::signal::Dbm0;
//!
//! let stream = RtpStream::pcma_tone(1000.0, 1.0, Dbm0(-10.0))
//!     .with_rfc4733_digits("5", Duration::from_millis(400), Duration::from_millis(200),
//!                          Duration::from_millis(100))
//!     .unwrap();
//! let first = RtpPacket::parse(&stream.packets()[0].bytes).unwrap();
//! assert_eq!(first.payload_type, PCMA);
//! assert_eq!(stream.duration(), Duration::from_secs(1));
//! ```

use std::time::Duration;

use switchboard_media::g711::{SAMPLES_PER_20MS, alaw, ulaw};

use crate::signal::{Dbm0, dtmf_tone, tone};

/// RTP payload type 0, PCMU (RFC 3551 §6, Table 4).
pub const PCMU: u8 = 0;
/// RTP payload type 8, PCMA (RFC 3551 §6, Table 4).
pub const PCMA: u8 = 8;
/// The dynamic payload type our scenarios give `telephone-event/8000` (`a=rtpmap:101`).
pub const TELEPHONE_EVENT: u8 = 101;
/// The G.711 sampling rate, which is also the RTP clock rate of PCMA, PCMU and telephone-event.
pub const RATE_HZ: u32 = 8000;
/// One packet's worth of time: 20 ms.
pub const PTIME: Duration = Duration::from_millis(20);
/// One 20 ms packet in RTP timestamp units at 8 kHz.
const TS_PER_PACKET: u32 = 160;

/// What is wrong with a datagram that should be RTP, or with a request to build a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the fixed header plus the CSRCs, extension and padding it announces.
    #[error("RTP packet truncated: {len} bytes, {needed} needed")]
    Truncated {
        /// The datagram's length.
        len: usize,
        /// The length its header announces at least.
        needed: usize,
    },
    /// The version field is not 2 (RFC 3550 §5.1).
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    /// A telephone-event payload is not 4 bytes (RFC 4733 §2.3).
    #[error("telephone-event payload of {0} bytes, expected 4")]
    EventLength(usize),
    /// A character that is not a DTMF digit (0-9, *, #, A-D; RFC 4733 §3.2).
    #[error("{0:?} is not a DTMF digit")]
    NotADigit(char),
    /// Digits were asked for at times that overlap each other or run past the stream's end.
    #[error("digit {digit:?} at {at_ms} ms does not fit the stream ({len_ms} ms)")]
    DigitOutOfRange {
        /// The digit.
        digit: char,
        /// When it was to start.
        at_ms: u128,
        /// The stream's length.
        len_ms: u128,
    },
}

/// An RTP packet: the fixed header fields the tests look at, and the payload (RFC 3550 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// The marker bit: the start of a talkspurt, or of an RFC 4733 event.
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// Media-clock timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The payload, without CSRCs, header extension or padding.
    pub payload: Vec<u8>,
}

impl RtpPacket {
    /// Parses a datagram. CSRCs and a header extension are skipped, padding removed (RFC 3550
    /// §5.1, §5.3.1); a datagram too short for what its header announces is an error.
    ///
    /// # Errors
    /// [`RtpError::Truncated`] or [`RtpError::Version`].
    pub fn parse(datagram: &[u8]) -> Result<RtpPacket, RtpError> {
        let truncated = |needed| RtpError::Truncated {
            len: datagram.len(),
            needed,
        };
        let fixed = datagram.get(..12).ok_or(truncated(12))?;
        let version = fixed[0] >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let padding = fixed[0] & 0x20 != 0;
        let extension = fixed[0] & 0x10 != 0;
        let csrcs = usize::from(fixed[0] & 0x0F);
        let mut start = 12 + 4 * csrcs;
        if extension {
            // RFC 3550 §5.3.1: 16-bit profile word, 16-bit length in 32-bit words.
            let ext = datagram.get(start..start + 4).ok_or(truncated(start + 4))?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        }
        let mut end = datagram.len();
        if padding {
            // RFC 3550 §5.1: the last octet counts the padding octets, itself included.
            let pad = usize::from(datagram.last().copied().unwrap_or(0));
            end = end.checked_sub(pad).ok_or(truncated(start + pad))?;
        }
        let payload = datagram.get(start..end).ok_or(truncated(start.max(end)))?;
        Ok(RtpPacket {
            payload_type: fixed[1] & 0x7F,
            marker: fixed[1] & 0x80 != 0,
            seq: u16::from_be_bytes([fixed[2], fixed[3]]),
            timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
            payload: payload.to_vec(),
        })
    }

    /// The datagram: a 12-byte header (no CSRC, no extension, no padding) and the payload.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.payload.len());
        out.push(0x80); // V=2, P=0, X=0, CC=0
        out.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }
}

/// An RFC 4733 §2.3 telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code (0-15 for DTMF, §3.2).
    pub event: u8,
    /// The E bit: this is (a retransmission of) the event's last packet.
    pub end: bool,
    /// Power level in −dBm0 (0-63).
    pub volume: u8,
    /// Duration so far, in timestamp units, from the event's start (the packet's timestamp).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the 4-byte payload.
    ///
    /// # Errors
    /// [`RtpError::EventLength`] when the payload is not 4 bytes (we send one event per packet).
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, RtpError> {
        let &[event, flags, d0, d1] = payload else {
            return Err(RtpError::EventLength(payload.len()));
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The 4-byte payload (the R bit is always 0).
    #[must_use]
    pub fn to_bytes(self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d0,
            d1,
        ]
    }

    /// The DTMF digit this event stands for, if it is one.
    #[must_use]
    pub fn digit(self) -> Option<char> {
        event_digit(self.event)
    }
}

/// RFC 4733 §3.2, Table 3: the event code of a DTMF digit.
///
/// # Errors
/// [`RtpError::NotADigit`] for anything but 0-9, `*`, `#`, A-D.
pub fn digit_event(digit: char) -> Result<u8, RtpError> {
    match digit {
        '0'..='9' => Ok(digit as u8 - b'0'),
        '*' => Ok(10),
        '#' => Ok(11),
        'A'..='D' => Ok(digit as u8 - b'A' + 12),
        other => Err(RtpError::NotADigit(other)),
    }
}

/// RFC 4733 §3.2, Table 3: the DTMF digit of an event code.
#[must_use]
pub fn event_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// One packet of a scripted stream and when to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedPacket {
    /// Offset from the stream's start.
    pub at: Duration,
    /// The RTP datagram.
    pub bytes: Vec<u8>,
}

/// A scripted RTP stream: one SSRC, packets 20 ms apart, each with its send offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpStream {
    packets: Vec<TimedPacket>,
    /// Samples of the audio, one 160-sample frame per 20 ms slot (kept to re-lay the stream
    /// when digits take some of the slots).
    frames: Vec<Vec<u8>>,
    payload_type: u8,
    ssrc: u32,
    /// The sequence number and RTP timestamp of its first packet.
    first_seq: u16,
    first_ts: u32,
}

/// RTP payload type 9, G.722 (RFC 3551 §6, Table 4; its RTP clock is 8 kHz though it samples at
/// 16, §4.5.2).
pub const G722: u8 = 9;

/// The SSRC of every scripted stream (fixed: the tests are deterministic).
const STREAM_SSRC: u32 = 0x5B0A_2D01;
/// The first sequence number and timestamp of a scripted stream (RFC 3550 §5.1 asks for random
/// ones; fixed and close to the wrap here, so relays that mishandle the wrap show it).
const FIRST_SEQ: u16 = 65_500;
const FIRST_TS: u32 = 4_294_960_000;

impl RtpStream {
    /// A G.711 A-law sine of `freq_hz` at `level`, lasting `seconds` (rounded down to 20 ms).
    #[must_use]
    pub fn pcma_tone(freq_hz: f64, seconds: f64, level: Dbm0) -> RtpStream {
        RtpStream::tone(PCMA, freq_hz, seconds, level)
    }

    /// A G.711 µ-law sine of `freq_hz` at `level`, lasting `seconds` (rounded down to 20 ms).
    #[must_use]
    pub fn pcmu_tone(freq_hz: f64, seconds: f64, level: Dbm0) -> RtpStream {
        RtpStream::tone(PCMU, freq_hz, seconds, level)
    }

    /// Any 8 kHz audio as G.711 A-law, one packet per 20 ms (a last partial frame is dropped):
    /// in-band DTMF tone pairs, speech-like test signals.
    #[must_use]
    pub fn pcma_samples(pcm: &[i16]) -> RtpStream {
        RtpStream::from_pcm(PCMA, pcm)
    }

    /// `length` of silence with `keys` as in-band Q.23 tone pairs (each tone at `level`, held
    /// `key_length`), as G.711 A-law: a phone that knows no RFC 4733.
    ///
    /// # Errors
    /// [`RtpError::NotADigit`], or [`RtpError::DigitOutOfRange`] when a key runs past the end.
    pub fn pcma_inband_keys(
        keys: &[(char, Duration)],
        key_length: Duration,
        length: Duration,
        level: Dbm0,
    ) -> Result<RtpStream, RtpError> {
        let samples = |d: Duration| usize::try_from(d.as_millis()).unwrap_or(usize::MAX) * 8;
        let mut pcm = vec![0i16; samples(length)];
        for &(key, at) in keys {
            let pair = dtmf_tone(key, level, samples(key_length), RATE_HZ)
                .ok_or(RtpError::NotADigit(key))?;
            let slot = pcm
                .get_mut(samples(at)..samples(at).saturating_add(pair.len()))
                .ok_or(RtpError::DigitOutOfRange {
                    digit: key,
                    at_ms: at.as_millis(),
                    len_ms: length.as_millis(),
                })?;
            slot.copy_from_slice(&pair);
        }
        Ok(RtpStream::pcma_samples(&pcm))
    }

    fn tone(payload_type: u8, freq_hz: f64, seconds: f64, level: Dbm0) -> RtpStream {
        // Truncation wanted: a whole number of 20 ms frames.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let frames = (seconds.max(0.0) * 50.0) as usize;
        let pcm = tone(
            freq_hz,
            level.amplitude(),
            frames * SAMPLES_PER_20MS,
            RATE_HZ,
        );
        RtpStream::from_pcm(payload_type, &pcm)
    }

    fn from_pcm(payload_type: u8, pcm: &[i16]) -> RtpStream {
        let encode = if payload_type == PCMU {
            ulaw::encode
        } else {
            alaw::encode
        };
        let frames = pcm
            .chunks_exact(SAMPLES_PER_20MS)
            .map(|frame| frame.iter().map(|&s| encode(s)).collect())
            .collect();
        let mut stream = RtpStream {
            packets: Vec::new(),
            frames,
            payload_type,
            ssrc: STREAM_SSRC,
            first_seq: FIRST_SEQ,
            first_ts: FIRST_TS,
        };
        stream.lay_out(&[]);
        stream
    }

    /// A G.722 sine of `freq_hz` at `level`, lasting `seconds` (rounded down to 20 ms), coded
    /// by the switch's own G.722 encoder (the `audio-codec` crate): a wideband phone.
    ///
    /// # Errors
    /// When the encoder cannot be built or refuses a frame.
    pub fn g722_tone(
        freq_hz: f64,
        seconds: f64,
        level: Dbm0,
    ) -> Result<RtpStream, switchboard_media::codec::CodecError> {
        use switchboard_media::codec::{CodecKind, CodecParams, MAX_PAYLOAD_BYTES, new_encoder};
        const WIDEBAND_HZ: u32 = 16_000;
        // Truncation wanted: a whole number of 20 ms frames.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let count = (seconds.max(0.0) * 50.0) as usize;
        let per_frame = 2 * SAMPLES_PER_20MS;
        let pcm = tone(freq_hz, level.amplitude(), count * per_frame, WIDEBAND_HZ);
        let mut encoder = new_encoder(CodecKind::G722, &CodecParams::default())?;
        let mut out = vec![0u8; MAX_PAYLOAD_BYTES];
        let mut frames = Vec::with_capacity(count);
        for frame in pcm.chunks_exact(per_frame) {
            let n = encoder.encode(frame, &mut out)?;
            frames.push(out[..n].to_vec());
        }
        let mut stream = RtpStream {
            packets: Vec::new(),
            frames,
            payload_type: G722,
            ssrc: STREAM_SSRC,
            first_seq: FIRST_SEQ,
            first_ts: FIRST_TS,
        };
        stream.lay_out(&[]);
        Ok(stream)
    }

    /// This stream's audio sent right after `before` by the same source: `before`'s SSRC, its
    /// sequence numbers and RTP timestamps carrying on where `before` stopped, as a phone's do
    /// when a re-INVITE changes its codec mid-call (RFC 3550 §5.1: one SSRC, one clock). Any
    /// digits this stream had are dropped.
    #[must_use]
    pub fn continuing(mut self, before: &RtpStream) -> RtpStream {
        let sent = u16::try_from(before.packets.len() % 65_536).unwrap_or(0);
        let frames = u32::try_from(before.frames.len()).unwrap_or(u32::MAX);
        self.ssrc = before.ssrc;
        self.first_seq = before.first_seq.wrapping_add(sent);
        self.first_ts = before
            .first_ts
            .wrapping_add(frames.wrapping_mul(TS_PER_PACKET));
        self.lay_out(&[]);
        self
    }

    /// Adds `digits` as RFC 4733 events: the first starting at `first_at`, the next ones `every`
    /// later, each lasting `length` (rounded up to 20 ms), in the 20 ms slots of the audio.
    ///
    /// Each event is a start packet with the marker bit, continuation packets every 20 ms with
    /// the duration so far, and its final packet (E bit) sent three times, all with the event's
    /// start as timestamp (RFC 4733 §2.5.1, §2.5.1.4). No audio is sent in those slots.
    ///
    /// # Errors
    /// [`RtpError::NotADigit`], or [`RtpError::DigitOutOfRange`] when an event would overlap the
    /// next or run past the end of the audio.
    pub fn with_rfc4733_digits(
        self,
        digits: &str,
        first_at: Duration,
        every: Duration,
        length: Duration,
    ) -> Result<RtpStream, RtpError> {
        let keys: Vec<(char, Duration)> = digits
            .chars()
            .enumerate()
            .map(|(i, d)| (d, first_at + every * u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        self.with_rfc4733_keys(&keys, length)
    }

    /// Adds key presses as RFC 4733 events, each `(digit, when)` from the stream's start and
    /// lasting `length`: a caller who presses as the prompts go, not at a steady rate. The
    /// events are laid out as [`RtpStream::with_rfc4733_digits`] lays them out.
    ///
    /// # Errors
    /// [`RtpError::NotADigit`], or [`RtpError::DigitOutOfRange`] when a key starts before the
    /// previous one has ended (keys must be in time order) or runs past the end of the audio.
    pub fn with_rfc4733_keys(
        mut self,
        keys: &[(char, Duration)],
        length: Duration,
    ) -> Result<RtpStream, RtpError> {
        let slot_ms = PTIME.as_millis();
        // Updates while the key is down, then the three final packets (§2.5.1.4).
        let updates = length.as_millis().div_ceil(slot_ms).max(1);
        let slots = usize::try_from(updates + 2).unwrap_or(usize::MAX);
        let mut events = Vec::new();
        let mut next_free = 0;
        for &(digit, at) in keys {
            let first_slot = usize::try_from(at.as_millis() / slot_ms).unwrap_or(usize::MAX);
            if first_slot < next_free || first_slot.saturating_add(slots) > self.frames.len() {
                return Err(RtpError::DigitOutOfRange {
                    digit,
                    at_ms: at.as_millis(),
                    len_ms: self.duration().as_millis(),
                });
            }
            events.push(EventSlots {
                event: digit_event(digit)?,
                first_slot,
                updates: usize::try_from(updates).unwrap_or(usize::MAX),
            });
            next_free = first_slot + slots;
        }
        self.lay_out(&events);
        Ok(self)
    }

    /// Rebuilds the packets from the audio frames, putting `events` in their slots.
    fn lay_out(&mut self, events: &[EventSlots]) {
        let mut packets = Vec::with_capacity(self.frames.len());
        let mut seq = self.first_seq;
        let mut slot = 0;
        let mut events = events.iter().peekable();
        while slot < self.frames.len() {
            let ts = slot_timestamp(self.first_ts, slot);
            let at = PTIME * u32::try_from(slot).unwrap_or(u32::MAX);
            if let Some(ev) = events.next_if(|e| e.first_slot == slot) {
                for (i, payload) in ev.payloads().into_iter().enumerate() {
                    let packet = RtpPacket {
                        payload_type: TELEPHONE_EVENT,
                        marker: i == 0,
                        seq,
                        // §2.5.1: every packet of an event carries the event's start.
                        timestamp: ts,
                        ssrc: self.ssrc,
                        payload: payload.to_vec(),
                    };
                    packets.push(TimedPacket {
                        at: at + PTIME * u32::try_from(i).unwrap_or(u32::MAX),
                        bytes: packet.to_bytes(),
                    });
                    seq = seq.wrapping_add(1);
                }
                slot += ev.updates + 2;
                continue;
            }
            let packet = RtpPacket {
                payload_type: self.payload_type,
                marker: slot == 0, // RFC 3551 §4.1: the first packet of a talkspurt
                seq,
                timestamp: ts,
                ssrc: self.ssrc,
                payload: self.frames[slot].clone(),
            };
            packets.push(TimedPacket {
                at,
                bytes: packet.to_bytes(),
            });
            seq = seq.wrapping_add(1);
            slot += 1;
        }
        self.packets = packets;
    }

    /// The same stream with nothing sent from `from` to `to` (offsets from its start): a phone
    /// muted, or silence suppression. The packets after it carry on with the next sequence
    /// numbers (RFC 3550 counts packets sent) and the timestamps of their time.
    #[must_use]
    pub fn muted_between(mut self, from: Duration, to: Duration) -> RtpStream {
        let mut dropped: u16 = 0;
        self.packets.retain_mut(|p| {
            if p.at >= from && p.at < to {
                dropped = dropped.wrapping_add(1);
                return false;
            }
            if dropped > 0
                && let Some(field) = p.bytes.get_mut(2..4)
            {
                let seq = u16::from_be_bytes([field[0], field[1]]).wrapping_sub(dropped);
                field.copy_from_slice(&seq.to_be_bytes());
            }
            true
        });
        self
    }

    /// The same stream under another SSRC (two streams in one test must not share one).
    #[must_use]
    pub fn with_ssrc(mut self, ssrc: u32) -> RtpStream {
        self.ssrc = ssrc;
        for p in &mut self.packets {
            if let Some(field) = p.bytes.get_mut(8..12) {
                field.copy_from_slice(&ssrc.to_be_bytes());
            }
        }
        self
    }

    /// The packets, in sending order.
    #[must_use]
    pub fn packets(&self) -> &[TimedPacket] {
        &self.packets
    }

    /// The stream's SSRC.
    #[must_use]
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// How long the audio lasts (the last slot's start plus 20 ms).
    #[must_use]
    pub fn duration(&self) -> Duration {
        PTIME * u32::try_from(self.frames.len()).unwrap_or(u32::MAX)
    }
}

/// The RTP timestamp of the 20 ms slot `slot` of a stream starting at `first`, wrapping as
/// RFC 3550 §5.1 says it does.
fn slot_timestamp(first: u32, slot: usize) -> u32 {
    let slot = u32::try_from(slot).unwrap_or(u32::MAX);
    first.wrapping_add(slot.wrapping_mul(TS_PER_PACKET))
}

/// Where one digit's event goes in a stream.
#[derive(Debug, Clone, Copy)]
struct EventSlots {
    event: u8,
    first_slot: usize,
    /// Packets while the key is down (the last of them is the first end packet).
    updates: usize,
}

impl EventSlots {
    /// The event's payloads: `updates` packets with a growing duration, the last of them with the
    /// E bit, then two retransmissions of that last one (RFC 4733 §2.5.1.4: three in all).
    fn payloads(self) -> Vec<[u8; 4]> {
        let mut out = Vec::with_capacity(self.updates + 2);
        for i in 1..=self.updates {
            let duration = u16::try_from(i * 160).unwrap_or(u16::MAX);
            out.push(
                TelephoneEvent {
                    event: self.event,
                    end: i == self.updates,
                    volume: 10,
                    duration,
                }
                .to_bytes(),
            );
        }
        let last = out[out.len() - 1];
        out.push(last);
        out.push(last);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_tone_is_one_packet_per_20_ms_with_consecutive_seq_and_timestamps() {
        let s = RtpStream::pcma_tone(1000.0, 0.1, Dbm0(-10.0));
        assert_eq!(s.packets().len(), 5);
        for (i, p) in s.packets().iter().enumerate() {
            let rtp = RtpPacket::parse(&p.bytes).unwrap();
            assert_eq!(p.at, PTIME * u32::try_from(i).unwrap());
            assert_eq!(rtp.payload_type, PCMA);
            assert_eq!(rtp.marker, i == 0);
            assert_eq!(rtp.payload.len(), 160);
            assert_eq!(rtp.seq, FIRST_SEQ.wrapping_add(u16::try_from(i).unwrap()));
            assert_eq!(rtp.timestamp, slot_timestamp(FIRST_TS, i));
        }
    }

    #[test]
    fn a_g722_stream_continuing_a_pcma_one_keeps_its_ssrc_sequence_and_clock() {
        let first = RtpStream::pcma_tone(1000.0, 0.1, Dbm0(-10.0)).with_ssrc(7);
        let second = RtpStream::g722_tone(1000.0, 0.1, Dbm0(-10.0))
            .unwrap()
            .continuing(&first);
        let last = RtpPacket::parse(&first.packets().last().unwrap().bytes).unwrap();
        let next = RtpPacket::parse(&second.packets()[0].bytes).unwrap();
        assert_eq!(next.payload_type, G722);
        assert_eq!(next.ssrc, 7);
        assert_eq!(next.seq, last.seq.wrapping_add(1));
        assert_eq!(next.timestamp, last.timestamp.wrapping_add(160));
        // 20 ms of G.722 at 64 kbit/s: 160 bytes, and 8 kHz RTP clock ticks.
        assert_eq!(next.payload.len(), 160);
        assert_eq!(second.packets()[0].at, Duration::ZERO);
        assert_eq!(second.duration(), Duration::from_millis(100));
    }

    #[test]
    fn the_timestamp_wraps_during_a_three_second_stream() {
        let s = RtpStream::pcmu_tone(440.0, 3.0, Dbm0(-10.0));
        let ts: Vec<u32> = s
            .packets()
            .iter()
            .map(|p| RtpPacket::parse(&p.bytes).unwrap().timestamp)
            .collect();
        assert!(ts.windows(2).any(|w| w[1] < w[0]), "the clock wraps");
        assert!(ts.windows(2).all(|w| w[1].wrapping_sub(w[0]) == 160));
    }

    #[test]
    fn a_digit_is_start_updates_and_three_end_packets_with_one_timestamp() {
        let s = RtpStream::pcma_tone(1000.0, 1.0, Dbm0(-10.0))
            .with_rfc4733_digits(
                "#",
                Duration::from_millis(200),
                Duration::ZERO,
                Duration::from_millis(100),
            )
            .unwrap();
        let events: Vec<(Duration, RtpPacket)> = s
            .packets()
            .iter()
            .map(|p| (p.at, RtpPacket::parse(&p.bytes).unwrap()))
            .filter(|(_, p)| p.payload_type == TELEPHONE_EVENT)
            .collect();
        // 100 ms = 5 updates (the last with E), then 2 more end packets.
        assert_eq!(events.len(), 7);
        assert!(events[0].1.marker);
        assert!(events[1..].iter().all(|(_, p)| !p.marker));
        assert!(
            events
                .iter()
                .all(|(_, p)| p.timestamp == slot_timestamp(FIRST_TS, 10))
        );
        let payloads: Vec<TelephoneEvent> = events
            .iter()
            .map(|(_, p)| TelephoneEvent::parse(&p.payload).unwrap())
            .collect();
        assert!(payloads.iter().all(|e| e.digit() == Some('#')));
        assert_eq!(payloads.iter().filter(|e| e.end).count(), 3);
        assert_eq!(
            payloads.iter().map(|e| e.duration).collect::<Vec<_>>(),
            [160, 320, 480, 640, 800, 800, 800]
        );
        assert_eq!(events[0].0, Duration::from_millis(200));
        assert_eq!(events[6].0, Duration::from_millis(320));
        // No audio in the event's slots; the packet count still spans the whole second.
        let audio = s.packets().len() - events.len();
        assert_eq!(audio, 50 - 7);
        // Sequence numbers stay consecutive across audio and events.
        let seqs: Vec<u16> = s
            .packets()
            .iter()
            .map(|p| RtpPacket::parse(&p.bytes).unwrap().seq)
            .collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
    }

    #[test]
    fn overlapping_or_late_digits_and_non_digits_are_errors() {
        let s = || RtpStream::pcma_tone(1000.0, 1.0, Dbm0(-10.0));
        let ms = Duration::from_millis;
        assert!(matches!(
            s().with_rfc4733_digits("12", ms(0), ms(60), ms(100)),
            Err(RtpError::DigitOutOfRange { digit: '2', .. })
        ));
        assert!(matches!(
            s().with_rfc4733_digits("1", ms(950), ms(0), ms(100)),
            Err(RtpError::DigitOutOfRange { digit: '1', .. })
        ));
        assert_eq!(
            s().with_rfc4733_digits("x", ms(0), ms(0), ms(100)),
            Err(RtpError::NotADigit('x'))
        );
    }

    #[test]
    fn keys_go_where_they_are_asked_for_in_time_order_only() {
        let ms = Duration::from_millis;
        let s = RtpStream::pcma_tone(1000.0, 2.0, Dbm0(-10.0))
            .with_rfc4733_keys(&[('2', ms(300)), ('9', ms(1500))], ms(60))
            .unwrap();
        let starts: Vec<(Duration, char)> = s
            .packets()
            .iter()
            .map(|p| (p.at, RtpPacket::parse(&p.bytes).unwrap()))
            .filter(|(_, p)| p.payload_type == TELEPHONE_EVENT && p.marker)
            .map(|(at, p)| {
                (
                    at,
                    TelephoneEvent::parse(&p.payload).unwrap().digit().unwrap(),
                )
            })
            .collect();
        assert_eq!(starts, [(ms(300), '2'), (ms(1500), '9')]);
        let late_then_early = RtpStream::pcma_tone(1000.0, 2.0, Dbm0(-10.0))
            .with_rfc4733_keys(&[('1', ms(900)), ('2', ms(100))], ms(60));
        assert!(matches!(
            late_then_early,
            Err(RtpError::DigitOutOfRange { digit: '2', .. })
        ));
    }

    #[test]
    fn inband_keys_are_tone_pairs_where_asked_and_silence_elsewhere() {
        use crate::signal::goertzel_power;
        let ms = Duration::from_millis;
        let s =
            RtpStream::pcma_inband_keys(&[('5', ms(200))], ms(120), ms(1000), Dbm0(-10.0)).unwrap();
        assert_eq!(s.packets().len(), 50);
        let pcm: Vec<i16> = s
            .packets()
            .iter()
            .flat_map(|p| RtpPacket::parse(&p.bytes).unwrap().payload)
            .map(alaw::decode)
            .collect();
        let key = &pcm[1600..2560];
        assert!(
            goertzel_power(key, 770.0, RATE_HZ) > 1e6 && goertzel_power(key, 1336.0, RATE_HZ) > 1e6
        );
        assert!(
            pcm[..1600]
                .iter()
                .chain(&pcm[2560..])
                .all(|&x| x.abs() <= 8)
        );
        assert_eq!(
            RtpStream::pcma_inband_keys(&[('x', ms(0))], ms(100), ms(500), Dbm0(-10.0)),
            Err(RtpError::NotADigit('x'))
        );
        assert!(matches!(
            RtpStream::pcma_inband_keys(&[('1', ms(450))], ms(100), ms(500), Dbm0(-10.0)),
            Err(RtpError::DigitOutOfRange { digit: '1', .. })
        ));
    }

    #[test]
    fn any_audio_becomes_a_pcma_stream_of_whole_frames() {
        let pcm = tone(697.0, 5000.0, 3 * 160 + 17, RATE_HZ);
        let s = RtpStream::pcma_samples(&pcm);
        assert_eq!(s.packets().len(), 3);
        assert_eq!(s.duration(), Duration::from_millis(60));
        let first = RtpPacket::parse(&s.packets()[0].bytes).unwrap();
        assert_eq!(first.payload_type, PCMA);
        let decoded: Vec<i16> = first.payload.iter().map(|&c| alaw::decode(c)).collect();
        let error = decoded
            .iter()
            .zip(&pcm)
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max()
            .unwrap();
        assert!(error < 200, "A-law step near 5000 is 128: {error}");
    }

    #[test]
    fn parse_skips_csrcs_extension_and_padding() {
        let mut d = vec![
            0x80 | 0x20 | 0x10 | 0x01,
            0x88,
            0,
            7,
            0,
            0,
            0,
            9,
            1,
            2,
            3,
            4,
        ];
        d.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        d.extend_from_slice(&[0xBE, 0xDE, 0, 1, 5, 5, 5, 5]); // extension, one word
        d.extend_from_slice(&[0xAA, 0xBB]); // payload
        d.extend_from_slice(&[0, 0, 3]); // padding of 3
        let p = RtpPacket::parse(&d).unwrap();
        assert_eq!(p.payload, [0xAA, 0xBB]);
        assert!(p.marker);
        assert_eq!(p.payload_type, PCMA);
        assert_eq!((p.seq, p.timestamp, p.ssrc), (7, 9, 0x0102_0304));
    }

    #[test]
    fn short_or_foreign_datagrams_are_errors() {
        assert_eq!(
            RtpPacket::parse(&[0x80, 8, 0]),
            Err(RtpError::Truncated { len: 3, needed: 12 })
        );
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::Version(1)));
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(RtpError::EventLength(3))
        );
    }

    #[test]
    fn every_dtmf_digit_maps_both_ways() {
        for d in "0123456789*#ABCD".chars() {
            assert_eq!(event_digit(digit_event(d).unwrap()), Some(d));
        }
        assert_eq!(event_digit(16), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = RtpPacket::parse(&bytes);
            let _ = TelephoneEvent::parse(&bytes);
        }

        #[test]
        fn packets_round_trip(pt in 0u8..128, marker: bool, seq: u16, ts: u32, ssrc: u32,
                              payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let p = RtpPacket { payload_type: pt, marker, seq, timestamp: ts, ssrc, payload };
            prop_assert_eq!(RtpPacket::parse(&p.to_bytes()), Ok(p));
        }

        #[test]
        fn events_round_trip(event: u8, end: bool, volume in 0u8..64, duration: u16) {
            let e = TelephoneEvent { event, end, volume, duration };
            prop_assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Ok(e));
        }
    }
}
