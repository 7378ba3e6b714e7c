//! Opus (RFC 6716) behind the codec traits, on the reference libopus code (through
//! `switchboard-opus`, whose docs say why not `opus-rs`), with the RTP conventions of RFC 7587.
//!
//! # Rates: why the PCM rate is a parameter
//! The Opus RTP clock is always 48 kHz (RFC 7587 §4.1) but the codec itself, like libopus, can
//! take and give PCM at 8, 12, 16, 24 or 48 kHz: built at 8 kHz it codes narrowband SILK, at
//! 16 kHz wideband SILK, at 48 kHz SILK/hybrid/CELT full band. We offer three rates
//! ([`OpusRate`]) and the caller picks the one of the *other* leg, so that a PCMA trunk bridged to
//! an Opus agent runs G.711 and Opus at 8 kHz with no resampler in between — and narrowband Opus
//! is also by far the cheapest to run (figures below).
//!
//! # Cost, and the defaults chosen from it
//! `cargo bench -p switchboard-benches --bench codec -- 'opus|transcode'`, release, libopus
//! 1.3.1 (Debian's build), one 20 ms frame of a voiced test signal, measured as thread CPU
//! time on this project's 2-core machine:
//!
//! | PCM rate | default bitrate | encode | decode |
//! |---|---|---|---|
//! | 8 kHz (NB, SILK) | 26 kbit/s | 23.6 µs | 4.7 µs |
//! | 16 kHz (WB, SILK) | 34 kbit/s | 40.1 µs | 8.6 µs |
//! | 48 kHz (FB, hybrid) | 44 kbit/s | 63.5 µs | 23.4 µs |
//!
//! Narrowband encode by complexity: 0 → 20.8 µs, **1 → 23.0 µs**, 2 → 37.0, 3 → 40.5,
//! 5 → 49.5, 10 → 87.1 µs. A transcoded PCMA↔Opus call costs per 20 ms one Opus encode, one
//! Opus decode and two G.711 conversions (0.1 µs): measured as a whole, 25.4 µs trunk→agent
//! plus 4.7 µs agent→trunk = 30.1 µs, so one core (20,000 µs per 20 ms) runs about 660 such
//! calls on codec work, against a target of 300. [`DEFAULT_COMPLEXITY`] is 1: the step from 0
//! costs 10 % and buys about 1 dB of SNR on a tone, the step to 2 costs 60 % more (SILK's
//! delayed-decision quantiser). Full band would cost ~87 µs plus a resampler per call, which is
//! why the PCM rate follows the other leg.
//!
//! # What we honour of the peer's fmtp (RFC 7587 §6.1, §7.1)
//! * `maxplaybackrate`: the encoder runs at the highest of our rates not above it (so at 8 kHz
//!   if the peer plays at most 8 kHz). [`Encoder::sample_rate`] says which: use it.
//! * `maxaveragebitrate` caps our bitrate; `cbr=1` makes it constant.
//! * `useinbandfec=1` turns on in-band FEC (LBRR), planned for
//!   [`CodecParams::opus_expected_loss_pct`].
//! * `stereo`: we always send mono (allowed); stereo packets we receive are downmixed by the
//!   decoder.
//! * `maxptime`/`minptime`: a `ptime` outside them is refused when the encoder is built.
//! * `usedtx=1` is **not** honoured: we send every frame (always allowed: DTX is a
//!   preference), which keeps the peer's NAT binding and media timeout fed. Received DTX —
//!   missing packets, or 1-octet TOC-only packets (RFC 7587 §3.1.3) — is concealed by the
//!   decoder.

use switchboard_opus::{Application, Decoder as LibDecoder, Encoder as LibEncoder};

use super::{CodecError, CodecKind, CodecParams, Decoder, Encoder, MAX_PAYLOAD_BYTES, check_room};

/// Encoder complexity (0–10) used unless [`CodecParams::opus_complexity`] says otherwise; see the
/// module docs for the measurement behind it.
pub const DEFAULT_COMPLEXITY: u8 = 1;

const OPUS: CodecKind = CodecKind::Opus;

/// The PCM rate an Opus encoder or decoder is built for (the RTP clock is 48 kHz regardless).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum OpusRate {
    /// 8 kHz: narrowband SILK; matches G.711.
    Narrowband,
    /// 16 kHz: wideband SILK; matches G.722.
    Wideband,
    /// 48 kHz: full band (hybrid/CELT).
    Fullband,
}

impl OpusRate {
    /// The rate in Hz.
    #[must_use]
    pub const fn hz(self) -> u32 {
        match self {
            Self::Narrowband => 8_000,
            Self::Wideband => 16_000,
            Self::Fullband => 48_000,
        }
    }

    /// The rate that bridges to a leg of `other` without resampling.
    #[must_use]
    pub const fn matching(other: CodecKind) -> Self {
        match other {
            CodecKind::Pcmu | CodecKind::Pcma => Self::Narrowband,
            CodecKind::G722 => Self::Wideband,
            CodecKind::Opus => Self::Fullband,
        }
    }

    /// The highest rate not above `max_hz` (a peer's `maxplaybackrate`), and never below 8 kHz.
    #[must_use]
    pub const fn at_most(max_hz: u32) -> Self {
        if max_hz >= 48_000 {
            Self::Fullband
        } else if max_hz >= 16_000 {
            Self::Wideband
        } else {
            Self::Narrowband
        }
    }

    /// Default target bitrate in bit/s (a VBR target: speech usually takes less).
    ///
    /// RFC 7587 §3.1.1 suggests 8–12 kbit/s for narrowband speech, 16–20 wideband, 28–40 full
    /// band. We go higher because a transcoded call is coded twice (G.711 then Opus), and
    /// because in-band FEC needs it: libopus codes LBRR (FEC) data only when an "equivalent
    /// rate" clears a threshold per bandwidth (`decide_fec` and `compute_equiv_rate` in
    /// libopus's `opus_encoder.c`). At our complexity 1 the equivalent rate is 0.728 × the
    /// bitrate, less a share for the expected loss; at the default 5 % loss FEC starts at about
    /// 24.5 kbit/s narrowband, 32 wideband and 43 full band, hence 26, 34 and 44 (measured:
    /// at 20 kbit/s narrowband libopus sends no LBRR even at 20 % loss).
    #[must_use]
    pub const fn default_bitrate(self) -> u32 {
        match self {
            Self::Narrowband => 26_000,
            Self::Wideband => 34_000,
            Self::Fullband => 44_000,
        }
    }

    /// Samples in one ms at this rate.
    const fn per_ms(self) -> usize {
        self.hz() as usize / 1_000
    }
}

/// Maps a library error to ours.
fn library(e: switchboard_opus::Error) -> CodecError {
    CodecError::Library {
        codec: OPUS,
        reason: reason(e),
    }
}

/// A library error in words, for our `&'static str` reasons.
fn reason(e: switchboard_opus::Error) -> &'static str {
    use switchboard_opus::Error;
    match e {
        Error::BadArgument => "libopus refused an argument",
        Error::BufferTooSmall => "packet longer than the buffer",
        Error::InvalidPacket => "invalid Opus packet",
        Error::Unimplemented => "not implemented by libopus",
        Error::AllocationFailed => "libopus could not allocate",
        _ => "libopus internal error",
    }
}

/// Maps a library error on a received packet to ours.
fn corrupt(e: switchboard_opus::Error) -> CodecError {
    CodecError::CorruptPayload {
        codec: OPUS,
        reason: reason(e),
    }
}

/// The settings an encoder was built with, kept for `Debug` (libopus does not print them).
#[derive(Clone, Copy)]
struct EncoderSettings {
    bitrate_bps: u32,
    complexity: u8,
    cbr: bool,
    fec: bool,
}

/// Mono Opus encoder.
pub(super) struct OpusEncoder {
    inner: LibEncoder,
    rate: OpusRate,
    frame: usize,
    settings: EncoderSettings,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("rate", &self.rate)
            .field("frame", &self.frame)
            .field("bitrate_bps", &self.settings.bitrate_bps)
            .field("complexity", &self.settings.complexity)
            .field("cbr", &self.settings.cbr)
            .field("fec", &self.settings.fec)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    pub(super) fn new(params: &CodecParams) -> Result<Self, CodecError> {
        let fmtp = &params.opus_fmtp;
        let unsupported = |reason| CodecError::Unsupported {
            codec: OPUS,
            reason,
        };
        if params.ptime_ms < fmtp.min_ptime || params.ptime_ms > fmtp.max_ptime {
            return Err(unsupported("ptime outside the peer's minptime..maxptime"));
        }
        let complexity = params.opus_complexity.unwrap_or(DEFAULT_COMPLEXITY);
        if complexity > 10 {
            return Err(unsupported("complexity must be 0 to 10"));
        }
        // RFC 7587 §6.1: do not code above what the peer can play.
        let rate = params
            .opus_rate
            .min(OpusRate::at_most(fmtp.max_playback_rate));
        let mut bitrate = params.opus_bitrate.unwrap_or(rate.default_bitrate());
        if let Some(max) = fmtp.max_average_bitrate {
            bitrate = bitrate.min(max);
        }
        if !(6_000..=510_000).contains(&bitrate) {
            return Err(unsupported("bitrate must be 6,000 to 510,000 bit/s"));
        }
        // Voip: SILK for speech up to wideband, hybrid at 48 kHz; the right bias for calls.
        let mut inner = LibEncoder::new(rate.hz(), Application::Voip).map_err(library)?;
        inner.set_bitrate(bitrate).map_err(library)?;
        inner.set_complexity(complexity).map_err(library)?;
        inner.set_vbr(!fmtp.cbr).map_err(library)?;
        if fmtp.use_inband_fec {
            inner.set_inband_fec(true).map_err(library)?;
            inner
                .set_packet_loss_perc(params.opus_expected_loss_pct.min(100))
                .map_err(library)?;
        }
        Ok(Self {
            inner,
            rate,
            frame: rate.per_ms() * params.ptime_ms as usize,
            settings: EncoderSettings {
                bitrate_bps: bitrate,
                complexity,
                cbr: fmtp.cbr,
                fec: fmtp.use_inband_fec,
            },
        })
    }
}

impl Encoder for OpusEncoder {
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        let ms = self.rate.per_ms();
        // Opus frames we send: 10, 20, 40 or 60 ms (RFC 6716 §2.1.4; 2.5 and 5 ms are CELT-only
        // and not worth their overhead on a phone call).
        if ![10, 20, 40, 60].iter().any(|&d| pcm.len() == d * ms) {
            return Err(CodecError::BadFrameLength {
                codec: OPUS,
                samples: pcm.len(),
                sample_rate: self.rate.hz(),
            });
        }
        // The TOC octet plus at least one octet of frame: below that there is no packet.
        check_room(OPUS, 2, out.len())?;
        // The encoder spends up to the buffer it is given (VBR); bound it by one Opus frame.
        let budget = out.len().min(MAX_PAYLOAD_BYTES);
        self.inner.encode(pcm, &mut out[..budget]).map_err(library)
    }

    fn sample_rate(&self) -> u32 {
        self.rate.hz()
    }

    fn samples_per_frame(&self) -> usize {
        self.frame
    }
}

/// Mono Opus decoder: stereo packets are downmixed; losses use Opus's own concealment.
pub(super) struct OpusDecoder {
    inner: LibDecoder,
    rate: OpusRate,
    /// Duration of the last decoded packet (what a lost one most likely was), in samples.
    last_len: usize,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("rate", &self.rate)
            .field("last_len", &self.last_len)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    pub(super) fn new(params: &CodecParams) -> Result<Self, CodecError> {
        let rate = params.opus_rate;
        let inner = LibDecoder::new(rate.hz()).map_err(library)?;
        Ok(Self {
            inner,
            rate,
            last_len: rate.per_ms() * params.ptime_ms as usize,
        })
    }

    /// Length of a concealed frame that fits `available`: the last packet's duration, in whole
    /// 2.5 ms units as Opus concealment requires.
    fn conceal_len(&self, available: usize) -> usize {
        let quantum = self.rate.hz() as usize / 400;
        let n = self.last_len.min(available);
        n - n % quantum
    }
}

/// Samples at `rate` that the Opus packet `p` (at least 1 octet) decodes to, from its TOC and
/// frame count (RFC 6716 §3.1, §3.2), or why it is malformed.
pub(crate) fn packet_samples(p: &[u8], rate_hz: u32) -> Result<usize, &'static str> {
    let toc = *p.first().ok_or("empty packet")?;
    let config = usize::from(toc >> 3);
    // Frame duration in units of 2.5 ms (RFC 6716 Table 2): SILK 10/20/40/60 ms, hybrid 10/20,
    // CELT 2.5/5/10/20.
    let units = match config {
        0..=11 => [4, 8, 16, 24][config % 4],
        12..=15 => [4, 8][config % 2],
        _ => [1, 2, 4, 8][config % 4],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => {
            // Code 3: the frame count is in the low 6 bits of the second octet (§3.2.5).
            let count = usize::from(*p.get(1).ok_or("code 3 packet without frame count")? & 0x3F);
            if count == 0 {
                return Err("code 3 packet with zero frames");
            }
            count
        }
    };
    let total_units = units * frames;
    // R5: at most 120 ms of audio in one packet.
    if total_units > 48 {
        return Err("packet longer than 120 ms");
    }
    Ok(total_units * rate_hz as usize / 400)
}

impl Decoder for OpusDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        if payload.is_empty() {
            // Not an Opus packet (those have at least a TOC): treat as lost (RFC 7587 §3.1.3).
            return Ok(self.conceal(out));
        }
        let n = packet_samples(payload, self.rate.hz()).map_err(|reason| {
            CodecError::CorruptPayload {
                codec: OPUS,
                reason,
            }
        })?;
        check_room(OPUS, n, out.len())?;
        let got = self
            .inner
            .decode(payload, &mut out[..n], false)
            .map_err(corrupt)?
            .min(n);
        if got > 0 {
            self.last_len = got;
        }
        Ok(got)
    }

    fn conceal(&mut self, out: &mut [i16]) -> usize {
        let n = self.conceal_len(out.len());
        if n == 0 {
            return 0;
        }
        match self.inner.conceal(&mut out[..n]) {
            Ok(got) => got.min(n),
            Err(_) => {
                // Concealment of a valid length does not fail; if it ever did, play silence.
                out[..n].fill(0);
                n
            }
        }
    }

    fn decode_fec(&mut self, next_payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        if next_payload.len() <= 1 {
            return Ok(self.conceal(out));
        }
        // Validate the packet as decode would before handing it to the library.
        packet_samples(next_payload, self.rate.hz()).map_err(|reason| {
            CodecError::CorruptPayload {
                codec: OPUS,
                reason,
            }
        })?;
        check_room(OPUS, self.last_len, out.len())?;
        let n = self.last_len;
        let got = self
            .inner
            .decode(next_payload, &mut out[..n], true)
            .map_err(corrupt)?;
        Ok(got.min(n))
    }

    fn sample_rate(&self) -> u32 {
        self.rate.hz()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toc_durations_follow_rfc_6716_table_2() {
        // config 1 (SILK NB 20 ms), code 0: 160 samples at 8 kHz, 960 at 48 kHz.
        assert_eq!(packet_samples(&[1 << 3], 8_000), Ok(160));
        assert_eq!(packet_samples(&[1 << 3], 48_000), Ok(960));
        // config 3 (SILK NB 60 ms), code 1 (two frames): 120 ms.
        assert_eq!(packet_samples(&[(3 << 3) | 1, 0], 16_000), Ok(1_920));
        // config 15 (hybrid FB 20 ms), config 16 (CELT NB 2.5 ms).
        assert_eq!(packet_samples(&[15 << 3], 48_000), Ok(960));
        assert_eq!(packet_samples(&[16 << 3], 48_000), Ok(120));
        // Code 3 with 48 frames of 2.5 ms is exactly 120 ms; 49 is too long.
        assert_eq!(packet_samples(&[(16 << 3) | 3, 48], 48_000), Ok(5_760));
        assert!(packet_samples(&[(16 << 3) | 3, 49], 48_000).is_err());
        // Code 3 with 3 frames of 60 ms is 180 ms: invalid.
        assert!(packet_samples(&[(3 << 3) | 3, 3], 48_000).is_err());
        assert!(packet_samples(&[(16 << 3) | 3], 48_000).is_err());
        assert!(packet_samples(&[(16 << 3) | 3, 0], 48_000).is_err());
        assert!(packet_samples(&[], 48_000).is_err());
    }

    #[test]
    fn rate_choice() {
        assert_eq!(OpusRate::matching(CodecKind::Pcma), OpusRate::Narrowband);
        assert_eq!(OpusRate::matching(CodecKind::G722), OpusRate::Wideband);
        assert_eq!(OpusRate::at_most(48_000), OpusRate::Fullband);
        assert_eq!(OpusRate::at_most(24_000), OpusRate::Wideband);
        assert_eq!(OpusRate::at_most(12_000), OpusRate::Narrowband);
        assert_eq!(OpusRate::at_most(0), OpusRate::Narrowband);
    }
}
