//! Audio codecs behind one interface: G.711 A-law/µ-law, G.722 and Opus.
//!
//! Every leg of a call speaks one codec on the wire; inside the switch audio is mono 16-bit PCM at
//! the codec's *audio* sample rate. A leg that needs its audio decoded (transcoding between two
//! legs, the recorder, in-band DTMF detection, the mixer) owns one [`Decoder`] and, if it sends
//! audio, one [`Encoder`], both built once per leg with [`new_decoder`] / [`new_encoder`] from the
//! negotiated [`CodecKind`] and [`CodecParams`].
//!
//! # Why this shape
//! * **Allocation only at construction.** `encode` and `decode` write into the caller's buffers,
//!   so the media worker runs a frame of a transcoded call with no allocation, lock or log (the
//!   hot-path rule of `ARCHITECTURE.md`). Decoders keep what they need for concealment (the last
//!   frame, or the Opus state) in buffers sized when they are built.
//! * **Trait objects.** A leg's codec is chosen at run time by SDP negotiation; one virtual call
//!   per 20 ms frame is noise next to the work of any codec but G.711.
//! * **Bad input is an error value, never a panic.** Payloads come from the network: every
//!   decoder accepts any byte string (property-tested with random payloads) and reports
//!   [`CodecError::CorruptPayload`] or conceals.
//! * **The RTP clock is not the audio rate.** G.722 samples at 16 kHz but its RTP clock runs at
//!   8 kHz (RFC 3551 §4.5.2, an error frozen in the original RFC 1890); Opus always uses a
//!   48 kHz RTP clock and `opus/48000/2` in `a=rtpmap` whatever it codes (RFC 7587 §4.1, §7).
//!   [`CodecKind::rtp_clock_rate`] and [`CodecKind::sample_rate`] keep the two apart.
//! * **Opus at the other leg's rate.** An Opus encoder/decoder can be built at 8 or 16 kHz PCM
//!   ([`OpusRate`]): the codec then runs narrowband/wideband internally while the RTP clock stays
//!   48 kHz, so a PCMA trunk bridged to an Opus agent needs no resampler at all, and costs a
//!   fraction of a full-band Opus call (see `benches/benches/codec.rs` and the figures in
//!   [`opus`]).
//!
//! # Packet loss
//! [`Decoder::conceal`] fills one missing frame: Opus runs its own packet-loss concealment; G.711
//! and G.722 repeat the last frame, mirrored, fading out over two frames (see [`pcm`]).
//! [`Decoder::decode_fec`] rebuilds a lost Opus frame from the in-band FEC of the packet after it.
//!
//! ```
//! use switchboard_media::codec::{CodecKind, CodecParams, new_decoder, new_encoder};
//!
//! let kind = CodecKind::from_rtpmap("PCMA", 8000, 1).unwrap();
//! let params = CodecParams::default(); // 20 ms frames
//! let mut enc = new_encoder(kind, &params).unwrap();
//! let mut dec = new_decoder(kind, &params).unwrap();
//!
//! let pcm = [0_i16; 160]; // 20 ms at 8 kHz
//! let mut payload = [0_u8; 160];
//! let n = enc.encode(&pcm, &mut payload).unwrap();
//! let mut out = [0_i16; 160];
//! assert_eq!(dec.decode(&payload[..n], &mut out).unwrap(), 160);
//! assert_eq!(dec.conceal(&mut out), 160); // a lost frame: repeat-and-fade
//! ```

mod fmtp;
mod g711;
mod g722;
pub mod opus;
pub mod pcm;

use std::fmt;

pub use fmtp::{OpusFmtp, parse_opus_fmtp};
pub use opus::OpusRate;

/// Largest number of samples one payload can decode to: 120 ms at 48 kHz, the longest Opus packet
/// (RFC 6716 §3.2.5). A decoder's output buffer of this size never yields
/// [`CodecError::OutputTooSmall`].
pub const MAX_FRAME_SAMPLES: usize = 5_760;

/// Largest payload an encoder writes for one frame of up to 60 ms: a 60 ms G.711 frame at 8 kHz
/// is 480 octets, a 60 ms G.722 frame 480 octets, and our Opus encoder never exceeds this either
/// (RFC 6716 §3.4 caps one Opus frame at 1,275 octets; we pass at most this budget).
pub const MAX_PAYLOAD_BYTES: usize = 1_276;

/// Shortest packet duration we send, in milliseconds.
pub const MIN_PTIME_MS: u32 = 10;
/// Longest packet duration we send, in milliseconds.
pub const MAX_PTIME_MS: u32 = 60;

/// A codec we can negotiate, with its RTP and audio properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodecKind {
    /// G.711 µ-law, static payload type 0 (RFC 3551 §4.5.14).
    Pcmu,
    /// G.711 A-law, static payload type 8 (RFC 3551 §4.5.14).
    Pcma,
    /// G.722 at 64 kbit/s, static payload type 9 (RFC 3551 §4.5.2).
    G722,
    /// Opus, dynamic payload type (RFC 7587).
    Opus,
}

impl CodecKind {
    /// Recognises an `a=rtpmap` entry (`encoding/clock_rate[/channels]`, RFC 4566 §6), ignoring
    /// the case of the encoding name as RFC 4855 §3 asks. `channels` is 1 when the rtpmap omits
    /// it.
    ///
    /// Opus is only recognised as `opus/48000/2`: RFC 7587 §7 fixes both numbers whatever the
    /// stream carries. G.722 is `G722/8000` (its RTP clock, RFC 3551 §4.5.2).
    #[must_use]
    pub fn from_rtpmap(encoding: &str, clock_rate: u32, channels: u8) -> Option<Self> {
        let kind = [Self::Pcmu, Self::Pcma, Self::G722, Self::Opus]
            .into_iter()
            .find(|k| k.encoding_name().eq_ignore_ascii_case(encoding))?;
        (clock_rate == kind.rtp_clock_rate() && channels == kind.rtpmap_channels()).then_some(kind)
    }

    /// The encoding name as written in `a=rtpmap` (RFC 3551 §6, RFC 7587 §7).
    #[must_use]
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::G722 => "G722",
            Self::Opus => "opus",
        }
    }

    /// The RTP timestamp clock rate: 8,000 for G.711 and for G.722 (RFC 3551 §4.5.2: G.722's RTP
    /// clock runs at 8 kHz although it samples at 16 kHz), 48,000 for Opus whatever its audio
    /// bandwidth (RFC 7587 §4.1).
    #[must_use]
    pub const fn rtp_clock_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 => 8_000,
            Self::Opus => 48_000,
        }
    }

    /// The channel count written in `a=rtpmap`: 1, except Opus which always says 2 (RFC 7587 §7;
    /// the actual channel count is signalled by `stereo`/`sprop-stereo` and the packets' TOC).
    #[must_use]
    pub const fn rtpmap_channels(self) -> u8 {
        match self {
            Self::Opus => 2,
            _ => 1,
        }
    }

    /// The PCM sample rate we decode to and encode from by default: 8 kHz for G.711, 16 kHz for
    /// G.722, 48 kHz for Opus (which can also be built at 8 or 16 kHz, see
    /// [`CodecParams::opus_rate`]; use [`CodecParams::sample_rate`] for the effective rate).
    #[must_use]
    pub const fn sample_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8_000,
            Self::G722 => 16_000,
            Self::Opus => 48_000,
        }
    }

    /// The static RTP payload type of RFC 3551 Table 4, or `None` for Opus (dynamic, 96–127).
    #[must_use]
    pub const fn static_payload_type(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
            Self::G722 => Some(9),
            Self::Opus => None,
        }
    }

    /// PCM samples in one frame of `ptime_ms` at [`Self::sample_rate`].
    #[must_use]
    pub const fn samples_per_frame(self, ptime_ms: u32) -> usize {
        (self.sample_rate() as usize * ptime_ms as usize) / 1_000
    }

    /// RTP timestamp increment of one frame of `ptime_ms` (RFC 3550 §5.1: the timestamp counts
    /// sampling instants of the RTP clock, which for G.722 and Opus is not the audio rate).
    #[must_use]
    pub const fn rtp_ticks_per_frame(self, ptime_ms: u32) -> u32 {
        self.rtp_clock_rate() / 1_000 * ptime_ms
    }
}

impl fmt::Display for CodecKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encoding_name())
    }
}

/// What a codec needs to know when it is built for a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecParams {
    /// Duration of the frames we encode, in milliseconds (`a=ptime`, RFC 4566 §6). 10 to 60;
    /// Opus only allows 10, 20, 40 and 60 (its frame sizes, RFC 6716 §2.1.4). Decoders accept
    /// packets of any duration whatever this says; it only sets the length of a concealed frame
    /// until the first packet has been decoded.
    pub ptime_ms: u32,
    /// PCM rate of the Opus encoder and decoder. Pick the rate of the other leg
    /// ([`OpusRate::matching`]) so a transcoded call needs no resampler.
    pub opus_rate: OpusRate,
    /// The peer's Opus `a=fmtp` parameters (RFC 7587 §6.1): what it wants to receive governs our
    /// encoder (bandwidth, bitrate, CBR, FEC).
    pub opus_fmtp: OpusFmtp,
    /// Opus encoder complexity 0–10; `None` takes [`opus::DEFAULT_COMPLEXITY`], chosen by
    /// measurement.
    pub opus_complexity: Option<u8>,
    /// Opus target bitrate in bit/s; `None` takes [`OpusRate::default_bitrate`]. Either way it is
    /// capped by the peer's `maxaveragebitrate`.
    pub opus_bitrate: Option<u32>,
    /// Packet loss (percent) the Opus encoder plans its in-band FEC for, when the peer said
    /// `useinbandfec=1`. libopus codes no FEC at 0 %.
    pub opus_expected_loss_pct: u8,
}

impl Default for CodecParams {
    fn default() -> Self {
        Self {
            ptime_ms: 20,
            opus_rate: OpusRate::Fullband,
            opus_fmtp: OpusFmtp::default(),
            opus_complexity: None,
            opus_bitrate: None,
            opus_expected_loss_pct: 5,
        }
    }
}

impl CodecParams {
    /// The PCM rate `kind` will encode from and decode to with these parameters.
    #[must_use]
    pub fn sample_rate(&self, kind: CodecKind) -> u32 {
        match kind {
            CodecKind::Opus => self.opus_rate.hz(),
            other => other.sample_rate(),
        }
    }

    /// PCM samples in one frame of [`Self::ptime_ms`] for `kind`.
    #[must_use]
    pub fn samples_per_frame(&self, kind: CodecKind) -> usize {
        self.sample_rate(kind) as usize * self.ptime_ms as usize / 1_000
    }

    /// Checks the packet duration for `kind`.
    fn check_ptime(&self, kind: CodecKind) -> Result<(), CodecError> {
        let ok = match kind {
            CodecKind::Opus => matches!(self.ptime_ms, 10 | 20 | 40 | 60),
            _ => (MIN_PTIME_MS..=MAX_PTIME_MS).contains(&self.ptime_ms),
        };
        if ok {
            Ok(())
        } else {
            Err(CodecError::Unsupported {
                codec: kind,
                reason: "ptime must be 10 to 60 ms (Opus: 10, 20, 40 or 60)",
            })
        }
    }
}

/// Errors from building, encoding and decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The output buffer cannot hold the result; nothing was written.
    #[error("{codec}: output buffer too small: {needed} needed, {available} available")]
    OutputTooSmall {
        /// The codec.
        codec: CodecKind,
        /// Items (octets or samples) the operation needs.
        needed: usize,
        /// Items the buffer holds.
        available: usize,
    },
    /// The PCM input is not a frame this encoder can code (empty, odd length for G.722, or not
    /// an Opus frame duration).
    #[error("{codec}: cannot encode {samples} samples at {sample_rate} Hz as one frame")]
    BadFrameLength {
        /// The codec.
        codec: CodecKind,
        /// Samples given.
        samples: usize,
        /// The encoder's PCM rate.
        sample_rate: u32,
    },
    /// The payload is not a valid packet of this codec; nothing was decoded. Conceal the frame.
    #[error("{codec}: corrupt payload: {reason}")]
    CorruptPayload {
        /// The codec.
        codec: CodecKind,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The parameters ask for something this codec or implementation cannot do.
    #[error("{codec}: unsupported parameters: {reason}")]
    Unsupported {
        /// The codec.
        codec: CodecKind,
        /// What is not supported.
        reason: &'static str,
    },
    /// The codec library refused the frame for a reason of its own.
    #[error("{codec}: codec library error: {reason}")]
    Library {
        /// The codec.
        codec: CodecKind,
        /// The library's message.
        reason: &'static str,
    },
}

/// Turns PCM frames into RTP payloads.
pub trait Encoder: Send {
    /// Encodes one frame of mono PCM at [`Self::sample_rate`] into `out` and returns the payload
    /// length. G.711 and G.722 take any length (G.722: even); Opus takes 10, 20, 40 or 60 ms.
    ///
    /// # Errors
    /// [`CodecError::BadFrameLength`] for a frame the codec cannot code,
    /// [`CodecError::OutputTooSmall`] if `out` cannot hold the payload
    /// ([`MAX_PAYLOAD_BYTES`] always can), [`CodecError::Library`] if the codec fails.
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError>;

    /// The PCM rate this encoder takes.
    fn sample_rate(&self) -> u32;

    /// Samples in one frame of the configured `ptime`.
    fn samples_per_frame(&self) -> usize;
}

/// Turns RTP payloads into PCM frames, and conceals the ones that never arrived.
pub trait Decoder: Send {
    /// Decodes one payload into `out` and returns the number of samples written, at
    /// [`Self::sample_rate`]. Payloads of any duration are accepted (the peer chooses its
    /// `ptime`).
    ///
    /// # Errors
    /// [`CodecError::OutputTooSmall`] if `out` is too short ([`MAX_FRAME_SAMPLES`] never is),
    /// [`CodecError::CorruptPayload`] for a payload that is not a valid packet (conceal instead),
    /// [`CodecError::Library`] if the codec fails. `out` is unspecified after an error.
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError>;

    /// Fills one missing frame (the duration of the last decoded payload, or of the configured
    /// `ptime` before any) into `out`, at most `out.len()` samples, and returns how many it wrote.
    /// Opus runs its packet-loss concealment; G.711 and G.722 repeat the last frame mirrored and
    /// fade it out over two frames, then play silence ([`pcm::Concealer`]).
    fn conceal(&mut self, out: &mut [i16]) -> usize;

    /// Rebuilds the missing frame *before* `next_payload` from that packet's in-band FEC
    /// (RFC 7587 §3.1.2; only Opus has any) and returns the samples written; `next_payload`
    /// itself must still be decoded with [`Self::decode`] afterwards. Codecs without FEC, and
    /// packets that carry none, conceal instead.
    ///
    /// # Errors
    /// As [`Self::decode`].
    fn decode_fec(&mut self, next_payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let _ = next_payload;
        Ok(self.conceal(out))
    }

    /// The PCM rate this decoder produces.
    fn sample_rate(&self) -> u32;
}

/// Builds an encoder of `kind` for one leg.
///
/// # Errors
/// [`CodecError::Unsupported`] if `params` ask for a `ptime`, bitrate or complexity the codec
/// cannot do, [`CodecError::Library`] if the codec library fails to initialise.
pub fn new_encoder(kind: CodecKind, params: &CodecParams) -> Result<Box<dyn Encoder>, CodecError> {
    params.check_ptime(kind)?;
    Ok(match kind {
        CodecKind::Pcmu | CodecKind::Pcma => Box::new(g711::G711Encoder::new(kind, params)),
        CodecKind::G722 => Box::new(g722::G722Encoder::new(params)),
        CodecKind::Opus => Box::new(opus::OpusEncoder::new(params)?),
    })
}

/// Builds a decoder of `kind` for one leg.
///
/// # Errors
/// [`CodecError::Unsupported`] for an unsupported `ptime`, [`CodecError::Library`] if the codec
/// library fails to initialise.
pub fn new_decoder(kind: CodecKind, params: &CodecParams) -> Result<Box<dyn Decoder>, CodecError> {
    params.check_ptime(kind)?;
    Ok(match kind {
        CodecKind::Pcmu | CodecKind::Pcma => Box::new(g711::G711Decoder::new(kind, params)),
        CodecKind::G722 => Box::new(g722::G722Decoder::new(params)),
        CodecKind::Opus => Box::new(opus::OpusDecoder::new(params)?),
    })
}

/// Returns `OutputTooSmall` unless `available >= needed`.
fn check_room(codec: CodecKind, needed: usize, available: usize) -> Result<(), CodecError> {
    if available >= needed {
        Ok(())
    } else {
        Err(CodecError::OutputTooSmall {
            codec,
            needed,
            available,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kind, encoding name, RTP clock, rtpmap channels, PCM rate, static payload type.
    type Row = (CodecKind, &'static str, u32, u8, u32, Option<u8>);

    /// RFC 3551 Table 4 and RFC 7587 §4.1/§7, one row per codec.
    const TABLE: [Row; 4] = [
        (CodecKind::Pcmu, "PCMU", 8_000, 1, 8_000, Some(0)),
        (CodecKind::Pcma, "PCMA", 8_000, 1, 8_000, Some(8)),
        (CodecKind::G722, "G722", 8_000, 1, 16_000, Some(9)),
        (CodecKind::Opus, "opus", 48_000, 2, 48_000, None),
    ];

    #[test]
    fn properties_match_the_rfc_tables() {
        for (kind, name, clock, channels, rate, pt) in TABLE {
            assert_eq!(kind.encoding_name(), name);
            assert_eq!(kind.rtp_clock_rate(), clock);
            assert_eq!(kind.rtpmap_channels(), channels);
            assert_eq!(kind.sample_rate(), rate);
            assert_eq!(kind.static_payload_type(), pt);
            assert_eq!(CodecKind::from_rtpmap(name, clock, channels), Some(kind));
        }
    }

    #[test]
    fn rtpmap_is_case_insensitive_and_strict_on_numbers() {
        assert_eq!(
            CodecKind::from_rtpmap("OPUS", 48_000, 2),
            Some(CodecKind::Opus)
        );
        assert_eq!(
            CodecKind::from_rtpmap("pcma", 8_000, 1),
            Some(CodecKind::Pcma)
        );
        assert_eq!(
            CodecKind::from_rtpmap("g722", 8_000, 1),
            Some(CodecKind::G722)
        );
        // G.722 at its audio rate is a common mistake; it is not the RTP clock.
        assert_eq!(CodecKind::from_rtpmap("G722", 16_000, 1), None);
        assert_eq!(CodecKind::from_rtpmap("opus", 48_000, 1), None);
        assert_eq!(CodecKind::from_rtpmap("opus", 16_000, 2), None);
        assert_eq!(CodecKind::from_rtpmap("PCMA", 16_000, 1), None);
        assert_eq!(CodecKind::from_rtpmap("G729", 8_000, 1), None);
        assert_eq!(CodecKind::from_rtpmap("", 8_000, 1), None);
    }

    #[test]
    fn frame_sizes_and_rtp_ticks() {
        assert_eq!(CodecKind::Pcma.samples_per_frame(20), 160);
        assert_eq!(CodecKind::Pcma.rtp_ticks_per_frame(20), 160);
        assert_eq!(CodecKind::G722.samples_per_frame(20), 320);
        assert_eq!(CodecKind::G722.rtp_ticks_per_frame(20), 160);
        assert_eq!(CodecKind::Opus.samples_per_frame(20), 960);
        assert_eq!(CodecKind::Opus.rtp_ticks_per_frame(20), 960);
        assert_eq!(CodecKind::Opus.rtp_ticks_per_frame(60), 2_880);
        assert_eq!(CodecKind::Pcmu.samples_per_frame(30), 240);
        let nb = CodecParams {
            opus_rate: OpusRate::Narrowband,
            ..CodecParams::default()
        };
        assert_eq!(nb.sample_rate(CodecKind::Opus), 8_000);
        assert_eq!(nb.samples_per_frame(CodecKind::Opus), 160);
        assert_eq!(nb.samples_per_frame(CodecKind::G722), 320);
    }

    #[test]
    fn ptime_limits() {
        for (kind, ptime, ok) in [
            (CodecKind::Pcma, 10, true),
            (CodecKind::Pcma, 30, true),
            (CodecKind::Pcma, 60, true),
            (CodecKind::Pcma, 5, false),
            (CodecKind::Pcma, 80, false),
            (CodecKind::G722, 40, true),
            (CodecKind::Opus, 30, false),
            (CodecKind::Opus, 40, true),
            (CodecKind::Opus, 120, false),
        ] {
            let params = CodecParams {
                ptime_ms: ptime,
                ..CodecParams::default()
            };
            assert_eq!(new_encoder(kind, &params).is_ok(), ok, "{kind} {ptime}");
            assert_eq!(new_decoder(kind, &params).is_ok(), ok, "{kind} {ptime}");
        }
    }
}
