//! G.711 behind the codec traits: a thin wrapper over the table-driven [`crate::g711`], adding
//! length checks that report our error type and repeat-and-fade concealment.

use super::pcm::Concealer;
use super::{CodecError, CodecKind, CodecParams, Decoder, Encoder, check_room};
use crate::g711::{alaw, ulaw};

/// PCM rate of G.711 (RFC 3551 §4.5.14).
const RATE: u32 = 8_000;
/// Longest frame the concealer remembers: 60 ms, our longest `ptime`.
const CONCEAL_CAPACITY: usize = 480;

/// Which companding law; the two encoders only differ in their tables.
#[derive(Debug, Clone, Copy)]
enum Law {
    A,
    Mu,
}

impl Law {
    fn of(kind: CodecKind) -> Self {
        if kind == CodecKind::Pcmu {
            Self::Mu
        } else {
            Self::A
        }
    }
}

/// G.711 encoder: one octet per sample.
#[derive(Debug)]
pub(super) struct G711Encoder {
    kind: CodecKind,
    law: Law,
    frame: usize,
}

impl G711Encoder {
    pub(super) fn new(kind: CodecKind, params: &CodecParams) -> Self {
        Self {
            kind,
            law: Law::of(kind),
            frame: params.samples_per_frame(kind),
        }
    }
}

impl Encoder for G711Encoder {
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        if pcm.is_empty() {
            return Err(CodecError::BadFrameLength {
                codec: self.kind,
                samples: 0,
                sample_rate: RATE,
            });
        }
        check_room(self.kind, pcm.len(), out.len())?;
        let out = &mut out[..pcm.len()];
        // Lengths are equal by construction, so the frame functions cannot fail; map anyway
        // rather than unwrap.
        let done = match self.law {
            Law::A => alaw::encode_frame(pcm, out),
            Law::Mu => ulaw::encode_frame(pcm, out),
        };
        done.map(|()| pcm.len())
            .map_err(|_| CodecError::OutputTooSmall {
                codec: self.kind,
                needed: pcm.len(),
                available: out.len(),
            })
    }

    fn sample_rate(&self) -> u32 {
        RATE
    }

    fn samples_per_frame(&self) -> usize {
        self.frame
    }
}

/// G.711 decoder: one sample per octet; conceals by repeat-and-fade.
#[derive(Debug)]
pub(super) struct G711Decoder {
    kind: CodecKind,
    law: Law,
    concealer: Concealer,
}

impl G711Decoder {
    pub(super) fn new(kind: CodecKind, params: &CodecParams) -> Self {
        Self {
            kind,
            law: Law::of(kind),
            concealer: Concealer::new(CONCEAL_CAPACITY, params.samples_per_frame(kind)),
        }
    }
}

impl Decoder for G711Decoder {
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        check_room(self.kind, payload.len(), out.len())?;
        let out = &mut out[..payload.len()];
        let done = match self.law {
            Law::A => alaw::decode_frame(payload, out),
            Law::Mu => ulaw::decode_frame(payload, out),
        };
        done.map_err(|_| CodecError::OutputTooSmall {
            codec: self.kind,
            needed: payload.len(),
            available: out.len(),
        })?;
        // An empty payload decodes to nothing and is not a frame to repeat.
        if !out.is_empty() {
            self.concealer.remember(out);
        }
        Ok(payload.len())
    }

    fn conceal(&mut self, out: &mut [i16]) -> usize {
        self.concealer.conceal(out)
    }

    fn sample_rate(&self) -> u32 {
        RATE
    }
}
