//! IVR prompts and music on hold: WAV files decoded once into memory, then played out frame by
//! frame on the 20 ms tick.
//!
//! A [`Prompt`] is an immutable, shared (`Arc`) block of mono 16-bit samples at the rate of the
//! leg that plays it. The binary reads `sounds/{lang}/*.wav` and `sounds/moh/*.wav` and hands
//! the bytes to [`Prompt::from_wav`]; this module stays sans-IO (any `Read + Seek` will do, a
//! `File` in production, a `Cursor` in tests and in `switchboard dialplan check`). Decoding
//! happens at load or reload time, never on the media path: a thousand callers hearing the same
//! welcome message share one copy of it, and playing it is a `memcpy` per frame
//! ([`Playback::fill`]).
//!
//! # What is accepted (and why)
//! Shipped prompts are 8 kHz or 16 kHz mono 16-bit PCM. Admins will also drop in whatever their
//! recording studio or text-to-speech service produced, so the decoder also takes 48 kHz (or
//! any rate from 8 to 192 kHz), several channels (averaged into one), 8-, 24- and 32-bit
//! integer and 32-bit float samples, and converts all of them to 16-bit at the leg's rate with
//! [`crate::resample`]. What it refuses, it names in terms an admin can act on
//! ([`PromptError`]): not a WAV file, a compressed encoding (µ-law, ADPCM, MP3 in WAV), empty,
//! longer than [`MAX_PROMPT_SECONDS`], truncated.
//!
//! ```
//! use std::io::Cursor;
//! use switchboard_media::prompt::{Playback, PlaybackState, Prompt};
//!
//! // A 30 ms, 8 kHz mono 16-bit WAV made in memory (the binary reads files instead).
//! let mut wav = Cursor::new(Vec::new());
//! let spec = hound::WavSpec {
//!     channels: 1,
//!     sample_rate: 8_000,
//!     bits_per_sample: 16,
//!     sample_format: hound::SampleFormat::Int,
//! };
//! let mut writer = hound::WavWriter::new(&mut wav, spec).unwrap();
//! for i in 0..240 {
//!     writer.write_sample(i as i16).unwrap();
//! }
//! writer.finalize().unwrap();
//! wav.set_position(0);
//!
//! let welcome = Prompt::from_wav(wav, 8_000).unwrap();
//! let mut playback = Playback::new(vec![welcome]).unwrap();
//! let mut frame = [0_i16; 160];
//! assert_eq!(playback.fill(&mut frame), PlaybackState::Playing);
//! assert_eq!(playback.fill(&mut frame), PlaybackState::Finished); // 80 samples + silence
//! assert_eq!(frame[79], 239);
//! assert_eq!(frame[80], 0);
//! ```

mod playback;
mod wav;

use std::f64::consts::TAU;
use std::io::{Read, Seek};
use std::sync::Arc;
use std::time::Duration;

pub use playback::{Gain, Playback, PlaybackPosition, PlaybackState};

use crate::resample::{self, MAX_RATE_HZ, MIN_RATE_HZ, ResampleError};

/// Longest prompt accepted, in seconds. Ten minutes covers any announcement or music-on-hold
/// track; anything longer is almost certainly the wrong file (a whole album, a recording), and
/// would hold tens of megabytes in memory per language.
pub const MAX_PROMPT_SECONDS: u32 = 600;

/// Frequency of the beep played before a `record` step, in Hz.
pub const BEEP_HZ: u32 = 1_000;
/// Duration of the beep, in milliseconds.
pub const BEEP_MS: u32 = 250;
/// Peak amplitude of the beep: −10 dBFS, clearly audible without being harsh on a handset.
const BEEP_AMPLITUDE: f64 = 10_362.0;
/// Rise and fall time of the beep, in milliseconds: a raised-cosine ramp so it does not click.
const BEEP_RAMP_MS: u32 = 5;

/// Why a prompt could not be loaded, worded for the admin who has to fix the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// The data does not start with a RIFF/WAVE header.
    #[error("not a WAV file (it does not start with a RIFF/WAVE header)")]
    NotWav,
    /// A WAV header that cannot be parsed.
    #[error("damaged WAV file: {reason}")]
    Malformed {
        /// What is wrong, as the WAV parser reports it.
        reason: &'static str,
    },
    /// A WAV file whose audio is compressed or otherwise not linear PCM.
    #[error(
        "WAV file uses {} (format tag {format_tag:#06x}); prompts must be PCM (8/16/24/32-bit) \
         or 32-bit float, e.g. convert with `sox in.wav -e signed-integer -b 16 out.wav`",
        wav::format_name(*.format_tag)
    )]
    UnsupportedEncoding {
        /// The `wFormatTag` of the file's fmt chunk.
        format_tag: u16,
    },
    /// A PCM sample layout the decoder does not handle (e.g. 64-bit float, 12-bit).
    #[error("WAV file has {bits}-bit {kind} samples; use 8, 16, 24 or 32-bit PCM or 32-bit float")]
    UnsupportedSampleFormat {
        /// Bits per sample declared by the file.
        bits: u16,
        /// `"integer"` or `"float"`.
        kind: &'static str,
    },
    /// A sample rate outside the supported range (of the file, or asked for as target).
    #[error("sample rate {hz} Hz is not supported (use {MIN_RATE_HZ}..={MAX_RATE_HZ} Hz)")]
    UnsupportedRate {
        /// The offending rate.
        hz: u32,
    },
    /// The file holds no audio.
    #[error("WAV file contains no audio")]
    Empty,
    /// The file is longer than [`MAX_PROMPT_SECONDS`].
    #[error("prompt lasts {seconds} s, longer than the {max_seconds} s limit")]
    TooLong {
        /// Duration declared by the file, rounded up.
        seconds: u64,
        /// The limit.
        max_seconds: u32,
    },
    /// The file ends before the length its header announces.
    #[error("WAV file is truncated: header announces {expected} sample frames, file has {found}")]
    Truncated {
        /// Frames announced by the data chunk header.
        expected: u32,
        /// Frames actually present.
        found: u32,
    },
    /// The reader failed.
    #[error("reading the WAV file failed: {kind}")]
    Io {
        /// What the reader reported.
        kind: std::io::ErrorKind,
    },
    /// A playlist mixes prompts decoded for different rates.
    #[error("playlist mixes sample rates {first} Hz and {other} Hz")]
    MixedRates {
        /// Rate of the first prompt.
        first: u32,
        /// A different rate found later in the list.
        other: u32,
    },
    /// The conversion to the target rate failed (not expected for accepted rates).
    #[error("resampling the prompt failed: {0}")]
    Resample(#[from] ResampleError),
}

/// Checks a rate against what the resampler accepts.
fn check_rate(hz: u32) -> Result<(), PromptError> {
    if (MIN_RATE_HZ..=MAX_RATE_HZ).contains(&hz) {
        Ok(())
    } else {
        Err(PromptError::UnsupportedRate { hz })
    }
}

/// A decoded prompt: mono 16-bit samples at one sample rate, shared and immutable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// Invariant: at most [`MAX_PROMPT_SECONDS`] of audio when decoded from a file.
    samples: Arc<[i16]>,
    /// Invariant: within [`MIN_RATE_HZ`]..=[`MAX_RATE_HZ`].
    sample_rate: u32,
}

impl Prompt {
    /// Decodes a WAV file and converts it to mono 16-bit at `target_rate` Hz (the rate of the
    /// leg's codec: 8000 for G.711, 16000 for G.722, 48000 for Opus).
    ///
    /// # Errors
    /// A [`PromptError`] naming what is wrong with the file; see the variants.
    pub fn from_wav<R: Read + Seek>(reader: R, target_rate: u32) -> Result<Self, PromptError> {
        check_rate(target_rate)?;
        let decoded = wav::decode(reader)?;
        let samples = resample::resample_clip(decoded.sample_rate, target_rate, &decoded.samples)?;
        Ok(Self {
            samples: samples.into(),
            sample_rate: target_rate,
        })
    }

    /// A prompt from samples already in memory (text-to-speech output, generated tones).
    ///
    /// # Errors
    /// [`PromptError::UnsupportedRate`] for a rate outside the supported range.
    pub fn from_samples(
        samples: impl Into<Arc<[i16]>>,
        sample_rate: u32,
    ) -> Result<Self, PromptError> {
        check_rate(sample_rate)?;
        Ok(Self {
            samples: samples.into(),
            sample_rate,
        })
    }

    /// Silence of `duration` (rounded down to whole samples), e.g. a pause between prompts of a
    /// playlist.
    ///
    /// # Errors
    /// [`PromptError::UnsupportedRate`]; [`PromptError::TooLong`] beyond [`MAX_PROMPT_SECONDS`].
    pub fn silence(duration: Duration, sample_rate: u32) -> Result<Self, PromptError> {
        check_rate(sample_rate)?;
        if duration > Duration::from_secs(u64::from(MAX_PROMPT_SECONDS)) {
            return Err(PromptError::TooLong {
                seconds: duration.as_secs_f64().ceil() as u64,
                max_seconds: MAX_PROMPT_SECONDS,
            });
        }
        let len = duration.as_micros() * u128::from(sample_rate) / 1_000_000;
        let len = usize::try_from(len).unwrap_or(0);
        Ok(Self {
            samples: vec![0; len].into(),
            sample_rate,
        })
    }

    /// The beep that tells a caller to start speaking after a `record` prompt: [`BEEP_HZ`] for
    /// [`BEEP_MS`] at −10 dBFS, with 5 ms raised-cosine edges so it starts and stops cleanly.
    ///
    /// # Errors
    /// [`PromptError::UnsupportedRate`] for a rate outside the supported range.
    pub fn beep(sample_rate: u32) -> Result<Self, PromptError> {
        check_rate(sample_rate)?;
        let rate = f64::from(sample_rate);
        let len = (sample_rate * BEEP_MS / 1_000) as usize;
        let ramp = (sample_rate * BEEP_RAMP_MS / 1_000) as usize;
        let samples: Vec<i16> = (0..len)
            .map(|n| {
                let edge = n.min(len - 1 - n);
                let envelope = if edge < ramp {
                    0.5 - 0.5 * (TAU / 2.0 * edge as f64 / ramp as f64).cos()
                } else {
                    1.0
                };
                let v =
                    BEEP_AMPLITUDE * envelope * (TAU * f64::from(BEEP_HZ) * n as f64 / rate).sin();
                // |v| ≤ BEEP_AMPLITUDE, well inside i16.
                v.round() as i16
            })
            .collect();
        Ok(Self {
            samples: samples.into(),
            sample_rate,
        })
    }

    /// The samples, mono 16-bit.
    #[must_use]
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// The shared sample buffer (cloning it is a reference-count increment).
    #[must_use]
    pub fn shared_samples(&self) -> Arc<[i16]> {
        Arc::clone(&self.samples)
    }

    /// Sample rate of [`samples`](Self::samples), in Hz.
    #[must_use]
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Number of samples.
    #[must_use]
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the prompt holds no sample.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Playing time.
    #[must_use]
    pub fn duration(&self) -> Duration {
        let micros = self.samples.len() as u64 * 1_000_000 / u64::from(self.sample_rate);
        Duration::from_micros(micros)
    }
}
