//! WAV decoding for prompts: `hound` parses, this file converts every accepted layout to mono
//! 16-bit and turns parser errors into [`PromptError`]s an admin can act on.
//!
//! `hound`'s reader was checked for panics on hostile input (3.5.1: header fields are validated
//! with checked arithmetic, unknown chunks are skipped by reading, a short file is an I/O error);
//! `tests/prompt.rs` also feeds it random and mutated files. Two things it does not do, done
//! here: it does not say *which* compressed encoding it refused (we look up the format tag
//! ourselves, first), and it reports the end of the file as a generic I/O error (we know it is a
//! truncation because we count the frames). It also judges the bit depth before the format
//! tag, so a 4-bit ADPCM file would look "damaged"; we read the tag first.

use std::io::{self, Read, Seek, SeekFrom};

use super::{MAX_PROMPT_SECONDS, PromptError, check_rate};

/// Cap on the capacity reserved from the header's announced length: a 40-byte file claiming
/// ten minutes at 192 kHz must not make us allocate 200 MB before we find out it lies.
const MAX_INITIAL_CAPACITY: usize = 1 << 20;

/// `wFormatTag` values hound decodes (the last one if its sub-format is PCM or float).
const PCM: u16 = 0x0001;
const IEEE_FLOAT: u16 = 0x0003;
const EXTENSIBLE: u16 = 0xFFFE;

/// How many chunks we walk looking for `fmt ` when naming a refused encoding.
const MAX_CHUNKS_SCANNED: usize = 64;

/// Mono 16-bit samples at the file's own rate.
#[derive(Debug)]
pub(super) struct Decoded {
    pub(super) samples: Vec<i16>,
    pub(super) sample_rate: u32,
}

/// Human name of a WAV `wFormatTag` (Microsoft `mmreg.h`), for error messages.
pub(super) fn format_name(tag: u16) -> &'static str {
    match tag {
        PCM => "PCM",
        0x0002 => "Microsoft ADPCM",
        IEEE_FLOAT => "IEEE float",
        0x0006 => "A-law (G.711)",
        0x0007 => "µ-law (G.711)",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0055 => "MP3",
        EXTENSIBLE => "an extensible format with a compressed sub-format",
        _ => "an unknown encoding",
    }
}

fn io_error(e: &io::Error) -> PromptError {
    PromptError::Io { kind: e.kind() }
}

/// Decodes a whole WAV file to mono 16-bit.
pub(super) fn decode<R: Read + Seek>(mut reader: R) -> Result<Decoded, PromptError> {
    let start = reader.stream_position().map_err(|e| io_error(&e))?;
    check_riff(&mut reader)?;
    // Name compressed encodings before hound looks at them: it refuses some of them only
    // indirectly (4-bit ADPCM fails its bits-per-sample check, as "damaged").
    if let Some(format_tag) = scan_format_tag(&mut reader, start)
        && !matches!(format_tag, PCM | IEEE_FLOAT | EXTENSIBLE)
    {
        return Err(PromptError::UnsupportedEncoding { format_tag });
    }
    reader
        .seek(SeekFrom::Start(start))
        .map_err(|e| io_error(&e))?;
    let mut wav = match hound::WavReader::new(&mut reader) {
        Ok(wav) => wav,
        Err(hound::Error::Unsupported) => {
            let format_tag = scan_format_tag(&mut reader, start).unwrap_or(0);
            return Err(PromptError::UnsupportedEncoding { format_tag });
        }
        Err(e) => return Err(header_error(e)),
    };
    let spec = wav.spec();
    check_sample_format(spec)?;
    check_rate(spec.sample_rate)?;
    let frames = wav.duration();
    if frames == 0 {
        return Err(PromptError::Empty);
    }
    if u64::from(frames) > u64::from(MAX_PROMPT_SECONDS) * u64::from(spec.sample_rate) {
        return Err(PromptError::TooLong {
            seconds: u64::from(frames).div_ceil(u64::from(spec.sample_rate)),
            max_seconds: MAX_PROMPT_SECONDS,
        });
    }
    let samples = match spec.sample_format {
        hound::SampleFormat::Int => {
            let bits = spec.bits_per_sample;
            let samples = wav.samples::<i32>().map(|s| s.map(|v| int_to_i16(v, bits)));
            downmix(samples, spec, frames)
        }
        hound::SampleFormat::Float => downmix(
            wav.samples::<f32>().map(|s| s.map(float_to_i16)),
            spec,
            frames,
        ),
    }?;
    Ok(Decoded {
        samples,
        sample_rate: spec.sample_rate,
    })
}

/// Refuses anything that does not start with `RIFF<size>WAVE`, including files too short to.
fn check_riff<R: Read>(reader: &mut R) -> Result<(), PromptError> {
    let mut magic = [0_u8; 12];
    let mut got = 0;
    while got < magic.len() {
        match reader.read(&mut magic[got..]) {
            Ok(0) => return Err(PromptError::NotWav),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(&e)),
        }
    }
    if &magic[..4] == b"RIFF" && &magic[8..] == b"WAVE" {
        Ok(())
    } else {
        Err(PromptError::NotWav)
    }
}

/// Maps an error of `hound::WavReader::new` (the header phase).
fn header_error(e: hound::Error) -> PromptError {
    match e {
        hound::Error::FormatError(reason) => PromptError::Malformed { reason },
        // hound reports a short read as `Other`; in the header it means the file stops early.
        hound::Error::IoError(e)
            if matches!(
                e.kind(),
                io::ErrorKind::Other | io::ErrorKind::UnexpectedEof
            ) =>
        {
            PromptError::Malformed {
                reason: "the file ends inside its header",
            }
        }
        hound::Error::IoError(e) => io_error(&e),
        _ => PromptError::Malformed {
            reason: "unexpected header",
        },
    }
}

/// Accepts the layouts [`int_to_i16`] and [`float_to_i16`] convert.
fn check_sample_format(spec: hound::WavSpec) -> Result<(), PromptError> {
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 8 | 16 | 24 | 32) | (hound::SampleFormat::Float, 32) => Ok(()),
        (hound::SampleFormat::Int, bits) => Err(PromptError::UnsupportedSampleFormat {
            bits,
            kind: "integer",
        }),
        (hound::SampleFormat::Float, bits) => Err(PromptError::UnsupportedSampleFormat {
            bits,
            kind: "float",
        }),
    }
}

/// Averages the channels of each frame of converted `samples` (interleaved, as in the file).
fn downmix(
    mut samples: impl Iterator<Item = hound::Result<i16>>,
    spec: hound::WavSpec,
    frames: u32,
) -> Result<Vec<i16>, PromptError> {
    let channels = i32::from(spec.channels);
    let mut out = Vec::with_capacity((frames as usize).min(MAX_INITIAL_CAPACITY));
    'frames: loop {
        let mut sum = 0_i32;
        for _ in 0..channels {
            match samples.next() {
                Some(Ok(s)) => sum += i32::from(s),
                // The end of the data chunk: hound only announces whole frames.
                None => break 'frames,
                Some(Err(e)) => return Err(sample_error(e, spec, frames, out.len())),
            }
        }
        // The average of `channels` i16 values is always within i16.
        out.push(i16::try_from(sum / channels).unwrap_or(0));
    }
    Ok(out)
}

/// Maps an error met while reading samples.
fn sample_error(e: hound::Error, spec: hound::WavSpec, frames: u32, found: usize) -> PromptError {
    match e {
        hound::Error::IoError(e)
            if matches!(
                e.kind(),
                io::ErrorKind::Other | io::ErrorKind::UnexpectedEof
            ) =>
        {
            PromptError::Truncated {
                expected: frames,
                found: u32::try_from(found).unwrap_or(u32::MAX),
            }
        }
        hound::Error::IoError(e) => io_error(&e),
        hound::Error::FormatError(reason) => PromptError::Malformed { reason },
        _ => PromptError::UnsupportedSampleFormat {
            bits: spec.bits_per_sample,
            kind: match spec.sample_format {
                hound::SampleFormat::Int => "integer",
                hound::SampleFormat::Float => "float",
            },
        },
    }
}

/// An integer sample of `bits` bits (8..=32, as hound returns it: signed, right-aligned) to
/// 16 bits: narrower samples are shifted up (exact), wider ones truncated (drop the low bits,
/// as a plain bit-depth reduction does).
pub(super) fn int_to_i16(v: i32, bits: u16) -> i16 {
    let v = if bits <= 16 {
        v << (16 - bits)
    } else {
        v >> (bits - 16).min(31)
    };
    // In range for every accepted width; clamp rather than trust it.
    i16::try_from(v.clamp(i32::from(i16::MIN), i32::from(i16::MAX))).unwrap_or(0)
}

/// A float sample (full scale ±1.0) to 16 bits: scaled by 32768 so that `i / 32768.0` comes
/// back as `i` exactly, rounded, clamped (+1.0 saturates at 32767), NaN as silence.
pub(super) fn float_to_i16(f: f32) -> i16 {
    // Clamped to the i16 range first, so the cast cannot truncate; NaN casts to 0.
    (f * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
}

/// Walks the chunks after `RIFF....WAVE` to find the fmt chunk's format tag.
fn scan_format_tag<R: Read + Seek>(reader: &mut R, start: u64) -> Option<u16> {
    reader.seek(SeekFrom::Start(start + 12)).ok()?;
    for _ in 0..MAX_CHUNKS_SCANNED {
        let mut header = [0_u8; 8];
        reader.read_exact(&mut header).ok()?;
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if &header[..4] == b"fmt " {
            let mut tag = [0_u8; 2];
            reader.read_exact(&mut tag).ok()?;
            return Some(u16::from_le_bytes(tag));
        }
        // RIFF chunks are padded to an even length.
        let skip = i64::from(len) + i64::from(len & 1);
        reader.seek(SeekFrom::Current(skip)).ok()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_widths_map_to_16_bits() {
        assert_eq!(int_to_i16(-128, 8), i16::MIN);
        assert_eq!(int_to_i16(127, 8), 127 << 8);
        assert_eq!(int_to_i16(-1, 16), -1);
        assert_eq!(int_to_i16(0x7F_FFFF, 24), i16::MAX);
        assert_eq!(int_to_i16(-0x80_0000, 24), i16::MIN);
        assert_eq!(int_to_i16(0x0012_3456, 24), 0x1234);
        assert_eq!(int_to_i16(i32::MIN, 32), i16::MIN);
        assert_eq!(int_to_i16(0x1234_5678, 32), 0x1234);
    }

    #[test]
    fn floats_map_to_16_bits_exactly_and_saturate() {
        assert_eq!(float_to_i16(0.0), 0);
        assert_eq!(float_to_i16(-1.0), i16::MIN);
        assert_eq!(float_to_i16(1.0), i16::MAX);
        assert_eq!(float_to_i16(4.0), i16::MAX);
        assert_eq!(float_to_i16(f32::NAN), 0);
        for i in [-32_768_i16, -12_345, -1, 1, 777, 32_767] {
            assert_eq!(float_to_i16(f32::from(i) / 32_768.0), i);
        }
    }

    #[test]
    fn encodings_have_names() {
        assert_eq!(format_name(7), "µ-law (G.711)");
        assert_eq!(format_name(0x1234), "an unknown encoding");
    }
}
