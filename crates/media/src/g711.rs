//! G.711 A-law and µ-law companding (ITU-T G.711, bit-exact with the G.191 reference software).
//!
//! G.711 is the one codec every SIP trunk and softphone speaks (RTP payload types 8 = PCMA and
//! 0 = PCMU, RFC 3551 §4.5.14), so it sits on the media hot path: transcoding between legs, the
//! recorder, DTMF detection and prompt playout all go through it 50 times a second per call.
//! Everything here is therefore table-driven, allocation-free and sans-IO:
//!
//! * decoding is one lookup in a 256-entry table per law;
//! * encoding is one lookup in a table indexed by the top bits of the sample. The G.711 code of a
//!   16-bit sample only depends on its top 12 bits (A-law, the G.191 encoder drops 4 bits) or top
//!   14 bits (µ-law, drops 2 bits), so the tables hold 4,096 and 16,384 entries;
//! * every table is computed at compile time by a `const fn` that transcribes the G.191
//!   reference algorithm, so there is no lazy initialisation and no hand-typed magic numbers.
//!
//! # Conventions (and why)
//! * Linear samples are 16-bit two's complement (the format of our WAV prompts and recordings).
//! * Negative samples are folded with the one's complement (`!x`, i.e. `-x - 1`), as G.191 does
//!   for both laws: the quantiser is then exactly symmetric around −½ LSB, so `encode(x)` and
//!   `encode(!x)` differ only in the sign bit.
//! * The 16-bit sample is *truncated* to the 13/14-bit uniform code G.711 quantises, as G.191
//!   does. SoX rounds to nearest instead; `tests/g711_reference.rs` compares all 65,536 inputs
//!   with SoX and documents the difference and why G.191 is the reference.
//! * A-law: even-bit inversion, the transmitted octet is the code XOR `0x55` (G.711 Tables
//!   1a/1b, character signals). µ-law: bias of 33 (in 14-bit units; `0x84` in 16-bit units),
//!   magnitude clipped at 32,635 so the biased value fits 15 bits, and the segment and step bits
//!   inverted (XOR `0x7F`, G.711 Tables 2a/2b).
//! * µ-law has two zeros: `0xFF` (+0) and `0x7F` (−0) both decode to 0; the encoder produces
//!   `0xFF` for inputs 0..=3 and `0x7F` for −4..=−1. We do not apply the optional "zero code
//!   suppression" (mapping the all-zero octet to `0x02`) of old T1 equipment; G.191 does not either.
//!
//! ```
//! use switchboard_media::g711::{alaw, ulaw};
//!
//! assert_eq!(alaw::encode(0), 0xD5);
//! assert_eq!(alaw::decode(0xD5), 8);
//! assert_eq!(ulaw::encode(0), 0xFF);
//! assert_eq!(ulaw::decode(0x80), 32_124);
//!
//! let pcm = [0_i16; 160]; // one 20 ms frame at 8 kHz
//! let mut payload = [0_u8; 160];
//! alaw::encode_frame(&pcm, &mut payload).unwrap();
//! assert!(payload.iter().all(|&c| c == 0xD5));
//! ```

/// Samples in one 20 ms frame at 8 kHz, the packetisation almost every peer uses
/// (RFC 3551 §4.5.14, `ptime` 20).
pub const SAMPLES_PER_20MS: usize = 160;

/// Errors from the frame (slice) functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum G711Error {
    /// The input and output slices do not have the same length (G.711 is one octet per sample).
    #[error("G.711 frame length mismatch: {input} input items for {output} output slots")]
    LengthMismatch {
        /// Length of the input slice.
        input: usize,
        /// Length of the output slice.
        output: usize,
    },
}

/// Checks that a frame conversion maps `input` items one-to-one onto `output` slots.
const fn check_lengths(input: usize, output: usize) -> Result<(), G711Error> {
    if input == output {
        Ok(())
    } else {
        Err(G711Error::LengthMismatch { input, output })
    }
}

/// Number of significant bits in `v` (0 for 0), usable in `const fn`.
const fn bit_length(v: u32) -> u32 {
    u32::BITS - v.leading_zeros()
}

/// Magnitude of a sample folded by one's complement, as G.191 does: 0..=32767.
const fn folded_magnitude(x: i16) -> u32 {
    if x < 0 { (!x) as u32 } else { x as u32 }
}

/// G.711 A-law.
pub mod alaw {
    use super::{G711Error, bit_length, check_lengths, folded_magnitude};

    /// Reference encoder (G.191 `alaw_compress`), used only to build [`ENCODE`] at compile time.
    const fn encode_reference(x: i16) -> u8 {
        // 12-bit magnitude of the 13-bit A-law input: G.191 keeps the top 12 bits (0..=2047).
        let mag = folded_magnitude(x) >> 4;
        let code = if mag < 16 {
            // Segment 0: 16 steps of 1 (same step as segment 1, G.711 Table 1a).
            mag
        } else {
            // Segments 1..=7: the position of the leading one picks the segment, the next four
            // bits are the step inside it.
            let seg = bit_length(mag) - 4;
            (seg << 4) | ((mag >> (seg - 1)) & 0x0F)
        };
        let sign = if x >= 0 { 0x80 } else { 0x00 };
        // G.711 Tables 1a/1b: even bits inverted on the line.
        ((sign | code) ^ 0x55) as u8
    }

    /// Reference decoder (G.191 `alaw_expand`): the middle of the code's quantisation interval.
    const fn decode_reference(code: u8) -> i16 {
        let c = (code ^ 0x55) as i32;
        let seg = (c >> 4) & 0x07;
        let mut mant = c & 0x0F;
        if seg > 0 {
            mant += 16; // implicit leading one
        }
        let mut mag = (mant << 4) + 8; // + half a step: reconstruct at the interval's middle
        if seg > 1 {
            mag <<= seg - 1;
        }
        if c & 0x80 != 0 {
            mag as i16
        } else {
            -mag as i16
        }
    }

    /// Encoder table indexed by the top 12 bits of the sample (`x >> 4`, as an unsigned index).
    static ENCODE: [u8; 1 << 12] = {
        let mut t = [0_u8; 1 << 12];
        let mut i = 0;
        while i < t.len() {
            // The smallest sample with these top bits; all 16 share the same code.
            t[i] = encode_reference(((i as u16) << 4) as i16);
            i += 1;
        }
        t
    };

    /// Decoder table indexed by the A-law octet.
    static DECODE: [i16; 256] = {
        let mut t = [0_i16; 256];
        let mut i = 0;
        while i < t.len() {
            t[i] = decode_reference(i as u8);
            i += 1;
        }
        t
    };

    /// Encodes one 16-bit linear sample to an A-law octet (as sent on the wire).
    #[inline]
    #[must_use]
    pub fn encode(sample: i16) -> u8 {
        ENCODE[((sample as u16) >> 4) as usize]
    }

    /// Decodes one A-law octet to a 16-bit linear sample.
    #[inline]
    #[must_use]
    pub fn decode(code: u8) -> i16 {
        DECODE[code as usize]
    }

    /// Encodes a frame of samples into `out`, one octet per sample.
    ///
    /// # Errors
    /// [`G711Error::LengthMismatch`] if `out.len() != pcm.len()`; `out` is then left untouched.
    pub fn encode_frame(pcm: &[i16], out: &mut [u8]) -> Result<(), G711Error> {
        check_lengths(pcm.len(), out.len())?;
        for (o, &s) in out.iter_mut().zip(pcm) {
            *o = encode(s);
        }
        Ok(())
    }

    /// Decodes a frame of A-law octets into `out`, one sample per octet.
    ///
    /// # Errors
    /// [`G711Error::LengthMismatch`] if `out.len() != codes.len()`; `out` is then left untouched.
    pub fn decode_frame(codes: &[u8], out: &mut [i16]) -> Result<(), G711Error> {
        check_lengths(codes.len(), out.len())?;
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = decode(c);
        }
        Ok(())
    }
}

/// G.711 µ-law.
pub mod ulaw {
    use super::{G711Error, bit_length, check_lengths, folded_magnitude};

    /// Bias added to the 16-bit magnitude (33 in the 14-bit units of G.711 Table 2a).
    const BIAS: u32 = 0x84;
    /// Largest magnitude before biasing, so that `magnitude + BIAS` fits in 15 bits.
    const CLIP: u32 = 32_635;

    /// Reference encoder (G.191 `ulaw_compress`), used only to build [`ENCODE`] at compile time.
    const fn encode_reference(x: i16) -> u8 {
        let mut mag = folded_magnitude(x);
        if mag > CLIP {
            mag = CLIP;
        }
        let biased = mag + BIAS; // 132..=32767
        // The leading one of the biased value picks the segment (bit 7 → 0 … bit 14 → 7).
        let seg = bit_length(biased) - 8;
        let mant = (biased >> (seg + 3)) & 0x0F;
        let sign = if x >= 0 { 0x80 } else { 0x00 };
        // G.711 Tables 2a/2b: all bits but the sign are inverted on the line.
        (sign | (((seg << 4) | mant) ^ 0x7F)) as u8
    }

    /// Reference decoder (G.191 `ulaw_expand`): the middle of the code's quantisation interval.
    const fn decode_reference(code: u8) -> i16 {
        let c = (!code) as i32;
        let seg = (c >> 4) & 0x07;
        let mant = c & 0x0F;
        // The biased value at the middle of the step (the step is `8 << seg`, half of it the
        // `+ 4` inside `(mant << 3) + BIAS`), minus the bias: G.711 Table 2a decoder output.
        let mag = (((mant << 3) + BIAS as i32) << seg) - BIAS as i32;
        if code & 0x80 != 0 {
            mag as i16
        } else {
            -mag as i16
        }
    }

    /// Encoder table indexed by the top 14 bits of the sample (`x >> 2`, as an unsigned index).
    static ENCODE: [u8; 1 << 14] = {
        let mut t = [0_u8; 1 << 14];
        let mut i = 0;
        while i < t.len() {
            // The smallest sample with these top bits; all 4 share the same code.
            t[i] = encode_reference(((i as u16) << 2) as i16);
            i += 1;
        }
        t
    };

    /// Decoder table indexed by the µ-law octet.
    static DECODE: [i16; 256] = {
        let mut t = [0_i16; 256];
        let mut i = 0;
        while i < t.len() {
            t[i] = decode_reference(i as u8);
            i += 1;
        }
        t
    };

    /// Encodes one 16-bit linear sample to a µ-law octet (as sent on the wire).
    #[inline]
    #[must_use]
    pub fn encode(sample: i16) -> u8 {
        ENCODE[((sample as u16) >> 2) as usize]
    }

    /// Decodes one µ-law octet to a 16-bit linear sample.
    #[inline]
    #[must_use]
    pub fn decode(code: u8) -> i16 {
        DECODE[code as usize]
    }

    /// Encodes a frame of samples into `out`, one octet per sample.
    ///
    /// # Errors
    /// [`G711Error::LengthMismatch`] if `out.len() != pcm.len()`; `out` is then left untouched.
    pub fn encode_frame(pcm: &[i16], out: &mut [u8]) -> Result<(), G711Error> {
        check_lengths(pcm.len(), out.len())?;
        for (o, &s) in out.iter_mut().zip(pcm) {
            *o = encode(s);
        }
        Ok(())
    }

    /// Decodes a frame of µ-law octets into `out`, one sample per octet.
    ///
    /// # Errors
    /// [`G711Error::LengthMismatch`] if `out.len() != codes.len()`; `out` is then left untouched.
    pub fn decode_frame(codes: &[u8], out: &mut [i16]) -> Result<(), G711Error> {
        check_lengths(codes.len(), out.len())?;
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = decode(c);
        }
        Ok(())
    }
}
