//! G.722 (ITU-T G.722, 64 kbit/s mode) behind the codec traits, on the pure-Rust `audio-codec`
//! crate.
//!
//! G.722 is sub-band ADPCM: a QMF filter splits 16 kHz audio into a low and a high band, each
//! coded by ADPCM, and each pair of input samples becomes one octet (6 bits low band, 2 bits high
//! band, mode 1). A 20 ms frame is 320 samples and 160 octets; the RTP clock runs at 8 kHz
//! (RFC 3551 §4.5.2), so the timestamp advances by 160 per frame, one per octet.
//!
//! We always use mode 1 (64 kbit/s, unpacked octets): RFC 3551 §4.5.2 defines the payload as
//! 64 kbit/s octets, and the 56/48 kbit/s modes are for in-band data we never carry.
//!
//! Concealment repeats and fades the last frame ([`super::pcm::Concealer`]); the ADPCM state is
//! left as the last good packet put it, so the first frame after a loss can be slightly off
//! until the adaptive predictors converge again (a few milliseconds).

use audio_codec::g722::{Bitrate, G722Decoder as Lib722Decoder, G722Encoder as Lib722Encoder};
use audio_codec::{Decoder as _, Encoder as _};

use super::pcm::Concealer;
use super::{CodecError, CodecKind, CodecParams, Decoder, Encoder, check_room};

/// PCM rate of G.722.
const RATE: u32 = 16_000;
/// Longest frame the concealer remembers: 60 ms at 16 kHz.
const CONCEAL_CAPACITY: usize = 960;

/// Maps the library's error (only ever "buffer too small" for G.722, which we check first).
fn library_error(e: audio_codec::CodecError) -> CodecError {
    CodecError::Library {
        codec: CodecKind::G722,
        reason: match e {
            audio_codec::CodecError::BufferTooSmall => "output buffer too small",
            _ => "G.722 library failure",
        },
    }
}

/// G.722 encoder, 64 kbit/s.
pub(super) struct G722Encoder {
    inner: Lib722Encoder,
    frame: usize,
}

impl std::fmt::Debug for G722Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("G722Encoder")
            .field("frame", &self.frame)
            .finish_non_exhaustive()
    }
}

impl G722Encoder {
    pub(super) fn new(params: &CodecParams) -> Self {
        Self {
            // Mode 1, 16 kHz input (not the library's 8 kHz low-band-only mode), unpacked octets.
            inner: Lib722Encoder::with_options(Bitrate::Mode1_64000, false, false),
            frame: params.samples_per_frame(CodecKind::G722),
        }
    }
}

impl Encoder for G722Encoder {
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        // Two samples per octet: an odd sample would be padded with zero by the library and
        // shift every later frame by half an octet.
        if pcm.is_empty() || !pcm.len().is_multiple_of(2) {
            return Err(CodecError::BadFrameLength {
                codec: CodecKind::G722,
                samples: pcm.len(),
                sample_rate: RATE,
            });
        }
        let needed = pcm.len() / 2;
        check_room(CodecKind::G722, needed, out.len())?;
        self.inner
            .encode_into(pcm, &mut out[..needed])
            .map_err(library_error)
    }

    fn sample_rate(&self) -> u32 {
        RATE
    }

    fn samples_per_frame(&self) -> usize {
        self.frame
    }
}

/// G.722 decoder, 64 kbit/s; conceals by repeat-and-fade.
pub(super) struct G722Decoder {
    inner: Lib722Decoder,
    concealer: Concealer,
}

impl std::fmt::Debug for G722Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("G722Decoder")
            .field("concealer", &self.concealer)
            .finish_non_exhaustive()
    }
}

impl G722Decoder {
    pub(super) fn new(params: &CodecParams) -> Self {
        Self {
            // Note the library's argument order differs from the encoder's: (rate, packed, 8k).
            inner: Lib722Decoder::with_options(Bitrate::Mode1_64000, false, false),
            concealer: Concealer::new(CONCEAL_CAPACITY, params.samples_per_frame(CodecKind::G722)),
        }
    }
}

impl Decoder for G722Decoder {
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        // Every octet is a valid code (6 + 2 bits), so any payload decodes.
        let needed = payload.len() * 2;
        check_room(CodecKind::G722, needed, out.len())?;
        let n = self
            .inner
            .decode_into(payload, &mut out[..needed])
            .map_err(library_error)?;
        if n > 0 {
            self.concealer.remember(&out[..n]);
        }
        Ok(n)
    }

    fn conceal(&mut self, out: &mut [i16]) -> usize {
        self.concealer.conceal(out)
    }

    fn sample_rate(&self) -> u32 {
        RATE
    }
}
