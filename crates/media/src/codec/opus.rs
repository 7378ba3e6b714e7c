//! Opus (RFC 6716) behind the codec traits, on the pure-Rust `opus-rs` crate, with the RTP
//! conventions of RFC 7587.
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
//! `cargo bench -p switchboard-benches --bench codec`, release, one 20 ms frame of a voiced test
//! signal, measured as thread CPU time on this project's 2-core machine (shared with builds,
//! so caches were contended; a quiet machine does no worse):
//!
//! | PCM rate | default bitrate | encode | decode |
//! |---|---|---|---|
//! | 8 kHz (NB, SILK) | 20 kbit/s | 28.5 µs | 4.4 µs |
//! | 16 kHz (WB, SILK) | 24 kbit/s | 45.0 µs | 9.5 µs |
//! | 48 kHz (FB, hybrid) | 32 kbit/s | 98.9 µs | 40.8 µs |
//!
//! Narrowband encode by complexity: 0 → 25.8 µs, **1 → 29.0 µs**, 2 → 43.4, 3 → 47.2,
//! 5 → 67.0, 10 → 125.3 µs. A transcoded PCMA↔Opus call costs per 20 ms one Opus encode, one
//! Opus decode and two G.711 conversions (0.13 µs): measured as a whole, 30.5 µs trunk→agent
//! plus 5.4 µs agent→trunk = 35.9 µs, so one core (20,000 µs per 20 ms) runs about 550 such
//! calls on codec work, against a target of 300. [`DEFAULT_COMPLEXITY`] is 1: the step from 0
//! costs 12 % and buys about 1 dB of SNR on a tone, the step to 2 costs 50 % more; up to 3 the
//! budget would still hold. Full band would cost ~140 µs plus a resampler per call (~140 calls
//! per core), which is why the PCM rate follows the other leg.
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
//! * `usedtx=1` is **not** honoured: `opus-rs` has no DTX, so we send every frame (always
//!   allowed: DTX is a preference). Received DTX — missing packets, or 1-octet TOC-only packets
//!   (RFC 7587 §3.1.3) — is concealed by the decoder.

use opus_rs::{Application, OpusDecoder as LibDecoder, OpusEncoder as LibEncoder};

use super::pcm::f32_to_i16;
use super::{CodecError, CodecKind, CodecParams, Decoder, Encoder, MAX_PAYLOAD_BYTES, check_room};

/// Encoder complexity (0–10) used unless [`CodecParams::opus_complexity`] says otherwise; see the
/// module docs for the measurement behind it.
pub const DEFAULT_COMPLEXITY: u8 = 1;

/// Longest Opus packet, in ms (RFC 6716 §3.2.5: at most 120 ms of audio per packet).
const MAX_PACKET_MS: usize = 120;

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
    /// because in-band FEC needs it: the SILK encoder only adds LBRR (FEC) data above a rate
    /// threshold that depends on the bandwidth and the expected loss, and measured with
    /// `opus-rs` at 20 % expected loss, narrowband codes no LBRR at all at 16 kbit/s and does
    /// from 18 kbit/s (libopus 1.3 behaves the same: at 16 kbit/s narrowband it sends none
    /// either); wideband does at 24 kbit/s.
    #[must_use]
    pub const fn default_bitrate(self) -> u32 {
        match self {
            Self::Narrowband => 20_000,
            Self::Wideband => 24_000,
            Self::Fullband => 32_000,
        }
    }

    /// Samples in one ms at this rate.
    const fn per_ms(self) -> usize {
        self.hz() as usize / 1_000
    }

    fn hz_i32(self) -> i32 {
        i32::try_from(self.hz()).unwrap_or(48_000)
    }
}

/// Maps an `opus-rs` error to ours.
fn library(reason: &'static str) -> CodecError {
    CodecError::Library {
        codec: OPUS,
        reason,
    }
}

/// Mono Opus encoder.
pub(super) struct OpusEncoder {
    inner: LibEncoder,
    rate: OpusRate,
    frame: usize,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("rate", &self.rate)
            .field("frame", &self.frame)
            .field("bitrate_bps", &self.inner.bitrate_bps)
            .field("complexity", &self.inner.complexity)
            .field("cbr", &self.inner.use_cbr)
            .field("fec", &self.inner.use_inband_fec)
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
        let mut inner = LibEncoder::new(rate.hz_i32(), 1, Application::Voip).map_err(library)?;
        inner.bitrate_bps = i32::try_from(bitrate).unwrap_or(32_000);
        inner.complexity = i32::from(complexity);
        inner.use_cbr = fmtp.cbr;
        if fmtp.use_inband_fec {
            inner.use_inband_fec = true;
            inner.packet_loss_perc = i32::from(params.opus_expected_loss_pct.min(100));
        }
        Ok(Self {
            inner,
            rate,
            frame: rate.per_ms() * params.ptime_ms as usize,
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
        self.inner
            .encode_i16(pcm, pcm.len(), &mut out[..budget])
            .map_err(library)
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
    /// Float output of `opus-rs`, converted into the caller's `i16` buffer; 120 ms long.
    scratch: Box<[f32]>,
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
        let inner = LibDecoder::new(rate.hz_i32(), 1).map_err(library)?;
        Ok(Self {
            inner,
            rate,
            scratch: vec![0.0; rate.per_ms() * MAX_PACKET_MS].into_boxed_slice(),
            last_len: rate.per_ms() * params.ptime_ms as usize,
        })
    }

    /// Converts `n` decoded samples from the scratch buffer into `out`.
    fn emit(&mut self, n: usize, out: &mut [i16]) -> usize {
        f32_to_i16(&self.scratch[..n], &mut out[..n]);
        n
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
            .decode(payload, n, &mut self.scratch[..n])
            .map_err(|reason| CodecError::CorruptPayload {
                codec: OPUS,
                reason,
            })?;
        let got = got.min(n);
        if got > 0 {
            self.last_len = got;
        }
        Ok(self.emit(got, out))
    }

    fn conceal(&mut self, out: &mut [i16]) -> usize {
        let n = self.conceal_len(out.len());
        if n == 0 {
            return 0;
        }
        match self.inner.decode(&[], n, &mut self.scratch[..n]) {
            Ok(got) => self.emit(got.min(n), out),
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
            .decode_fec(next_payload, n, &mut self.scratch[..n])
            .map_err(|reason| CodecError::CorruptPayload {
                codec: OPUS,
                reason,
            })?;
        Ok(self.emit(got.min(n), out))
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
