//! Streaming sample-rate conversion between the rates a call meets: 8 kHz (G.711), 16 kHz
//! (G.722's audio rate, wideband prompts and recordings) and 48 kHz (Opus, WebRTC).
//!
//! A [`Resampler`] converts one fixed-size frame per call (normally the 20 ms of the playout
//! tick) and keeps its filter state from one frame to the next, so a continuous signal stays
//! continuous across frame edges: there is no click every 20 ms. All buffers are allocated by
//! [`Resampler::new`]; [`Resampler::process`] does not allocate, which is what the media hot path
//! requires (transcoding a G.711 leg to a G.722 leg runs this 50 times a second per call).
//!
//! # Design (and why)
//! * The engine is `rubato`'s synchronous FFT resampler ([`rubato::Fft`]) with both sides fixed
//!   ([`rubato::FixedSync::Both`]) and **one FFT block per frame**. The ratios we need are
//!   rational and fixed, so a synchronous resampler is exact (no drift: every call turns
//!   `frame_in` samples into exactly `frame_in × to / from` samples), and a block of one frame
//!   keeps the delay at half a frame (10 ms for 20 ms frames) whatever the pair of rates.
//!   Convolution by FFT with overlap-add is mathematically a plain FIR filter, so block edges
//!   leave no trace in the output.
//! * The anti-aliasing filter has as many taps as the input frame (160 at 8 kHz) with a
//!   Blackman–Harris² window; its cut-off lands at about 0.92 of the lower Nyquist frequency
//!   (≈ 3.66 kHz for 8 kHz audio), above the 3.4 kHz edge of the telephone band.
//! * Samples are converted to `f32` in [−1, 1) on the way in and rounded and clamped back to
//!   `i16` on the way out; a filter overshoot on a full-scale signal saturates rather than wraps.
//! * Equal rates are a pass-through (a copy, latency 0), so callers need not special-case it.
//!
//! ```
//! use switchboard_media::resample::{Resampler, samples_per_20ms};
//!
//! let mut up = Resampler::new(8_000, 16_000, samples_per_20ms(8_000)).unwrap();
//! assert_eq!(up.output_frame_samples(), 320);
//! let narrowband = [0_i16; 160];
//! let mut wideband = [0_i16; 320];
//! up.process(&narrowband, &mut wideband).unwrap();
//! assert_eq!(up.latency(), 160); // half a frame, in output samples: 10 ms
//! ```

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};

/// Lowest sample rate accepted, in Hz (narrowband telephony).
pub const MIN_RATE_HZ: u32 = 8_000;
/// Highest sample rate accepted, in Hz (studio WAV files; RTP never goes above 48 kHz).
pub const MAX_RATE_HZ: u32 = 192_000;

/// Scale between `i16` samples and the `f32` samples the engine works on.
const I16_SCALE: f32 = 32_768.0;

/// Samples in one 20 ms frame at `rate_hz` (the packetisation of almost every RTP peer,
/// RFC 3551 §4.5, and the period of the playout tick).
#[must_use]
pub const fn samples_per_20ms(rate_hz: u32) -> usize {
    (rate_hz / 50) as usize
}

/// Errors of the resampler.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ResampleError {
    /// A sample rate outside [`MIN_RATE_HZ`]..=[`MAX_RATE_HZ`].
    #[error("unsupported sample rate {hz} Hz (supported: {MIN_RATE_HZ}..={MAX_RATE_HZ} Hz)")]
    UnsupportedRate {
        /// The rate that was asked for.
        hz: u32,
    },
    /// The input frame does not map to a whole number of output samples, or is empty.
    #[error(
        "a frame of {frame} samples at {from_hz} Hz is not a whole number of samples at {to_hz} Hz"
    )]
    FrameNotIntegral {
        /// Input rate.
        from_hz: u32,
        /// Output rate.
        to_hz: u32,
        /// Requested input frame length, in samples.
        frame: usize,
    },
    /// [`Resampler::process`] got an input slice of the wrong length.
    #[error("resampler input has {got} samples, expected {expected}")]
    InputLength {
        /// The configured input frame length.
        expected: usize,
        /// The length passed in.
        got: usize,
    },
    /// [`Resampler::process`] got an output slice of the wrong length.
    #[error("resampler output has room for {got} samples, expected {expected}")]
    OutputLength {
        /// The configured output frame length.
        expected: usize,
        /// The length passed in.
        got: usize,
    },
    /// The engine refused its configuration (not expected once our own checks passed).
    #[error("resampler construction failed: {0}")]
    Construction(#[from] rubato::ResamplerConstructionError),
    /// The engine failed on a frame (not expected once our own checks passed).
    #[error("resampler failed: {0}")]
    Engine(#[from] rubato::ResampleError),
}

/// Greatest common divisor (Euclid), for the smallest frame a ratio allows.
const fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Checks that `hz` is a rate we accept.
fn check_rate(hz: u32) -> Result<(), ResampleError> {
    if (MIN_RATE_HZ..=MAX_RATE_HZ).contains(&hz) {
        Ok(())
    } else {
        Err(ResampleError::UnsupportedRate { hz })
    }
}

/// The smallest input block, in samples, that maps to a whole number of output samples.
#[must_use]
pub const fn min_block_in(from_hz: u32, to_hz: u32) -> usize {
    match from_hz.checked_div(gcd(from_hz, to_hz)) {
        Some(block) => block as usize,
        None => 1, // both rates zero; rejected by the callers' rate checks anyway
    }
}

/// The FFT engine and its conversion buffers (absent for a pass-through).
#[derive(Debug)]
struct Engine {
    fft: Fft<f32>,
    /// The input frame as `f32`; its length is the input frame length.
    input: Vec<f32>,
    /// The output frame as `f32`; its length is the output frame length.
    output: Vec<f32>,
}

/// A streaming, allocation-free (after construction) resampler for mono `i16` frames.
///
/// Every call to [`process`](Self::process) consumes exactly
/// [`input_frame_samples`](Self::input_frame_samples) and produces exactly
/// [`output_frame_samples`](Self::output_frame_samples) = `input × to_hz / from_hz`: over any
/// number of frames the output length is the exact ratio of the input length. The output lags
/// the input by [`latency`](Self::latency) output samples.
#[derive(Debug)]
pub struct Resampler {
    from_hz: u32,
    to_hz: u32,
    frame_in: usize,
    frame_out: usize,
    /// `None` when `from_hz == to_hz`.
    engine: Option<Engine>,
}

impl Resampler {
    /// A resampler from `from_hz` to `to_hz` taking frames of `frame_samples_in` samples.
    ///
    /// # Errors
    /// [`ResampleError::UnsupportedRate`] for a rate outside
    /// [`MIN_RATE_HZ`]..=[`MAX_RATE_HZ`]; [`ResampleError::FrameNotIntegral`] if the frame is
    /// empty or `frame_samples_in × to_hz` is not a multiple of `from_hz` (20 ms frames
    /// always qualify between 8, 16 and 48 kHz).
    pub fn new(from_hz: u32, to_hz: u32, frame_samples_in: usize) -> Result<Self, ResampleError> {
        check_rate(from_hz)?;
        check_rate(to_hz)?;
        let not_integral = ResampleError::FrameNotIntegral {
            from_hz,
            to_hz,
            frame: frame_samples_in,
        };
        if frame_samples_in == 0 || !frame_samples_in.is_multiple_of(min_block_in(from_hz, to_hz)) {
            return Err(not_integral);
        }
        let frame_out =
            frame_samples_in / min_block_in(from_hz, to_hz) * min_block_in(to_hz, from_hz);
        let engine = if from_hz == to_hz {
            None
        } else {
            let fft = Fft::<f32>::new(
                from_hz as usize,
                to_hz as usize,
                frame_samples_in,
                1,
                FixedSync::Both,
            )?;
            // One FFT block per frame: rubato must agree on both frame lengths.
            if fft.input_frames_next() != frame_samples_in || fft.output_frames_next() != frame_out
            {
                return Err(not_integral);
            }
            Some(Engine {
                fft,
                input: vec![0.0; frame_samples_in],
                output: vec![0.0; frame_out],
            })
        };
        Ok(Self {
            from_hz,
            to_hz,
            frame_in: frame_samples_in,
            frame_out,
            engine,
        })
    }

    /// A resampler for 20 ms frames, the unit of the media path.
    ///
    /// # Errors
    /// As [`Resampler::new`].
    pub fn per_20ms(from_hz: u32, to_hz: u32) -> Result<Self, ResampleError> {
        Self::new(from_hz, to_hz, samples_per_20ms(from_hz))
    }

    /// Converts one frame: `input` must hold [`input_frame_samples`](Self::input_frame_samples)
    /// samples and `output` room for exactly [`output_frame_samples`](Self::output_frame_samples).
    ///
    /// # Errors
    /// [`ResampleError::InputLength`] / [`ResampleError::OutputLength`] on a length mismatch
    /// (nothing is processed and the state is unchanged).
    pub fn process(&mut self, input: &[i16], output: &mut [i16]) -> Result<(), ResampleError> {
        if input.len() != self.frame_in {
            return Err(ResampleError::InputLength {
                expected: self.frame_in,
                got: input.len(),
            });
        }
        if output.len() != self.frame_out {
            return Err(ResampleError::OutputLength {
                expected: self.frame_out,
                got: output.len(),
            });
        }
        let Some(engine) = self.engine.as_mut() else {
            output.copy_from_slice(input);
            return Ok(());
        };
        for (f, &s) in engine.input.iter_mut().zip(input) {
            *f = f32::from(s) / I16_SCALE;
        }
        let frames_in = engine.input.len();
        let frames_out = engine.output.len();
        // Both wrappers only fail if the slice is shorter than frames × channels, which the
        // lengths above rule out; map it anyway rather than unwrap.
        let wave_in = InterleavedSlice::new(&engine.input[..], 1, frames_in).map_err(|_| {
            ResampleError::InputLength {
                expected: frames_in,
                got: engine.input.len(),
            }
        })?;
        let mut wave_out = InterleavedSlice::new_mut(&mut engine.output[..], 1, frames_out)
            .map_err(|_| ResampleError::OutputLength {
                expected: frames_out,
                got: frames_out,
            })?;
        engine
            .fft
            .process_into_buffer(&wave_in, &mut wave_out, None)?;
        for (o, &f) in output.iter_mut().zip(&engine.output) {
            *o = f32_to_i16(f);
        }
        Ok(())
    }

    /// Delay from input to output, in output samples: half a frame for a real conversion
    /// (10 ms with 20 ms frames, for every pair of rates), 0 for a pass-through.
    #[must_use]
    pub fn latency(&self) -> usize {
        self.engine.as_ref().map_or(0, |e| e.fft.output_delay())
    }

    /// Forgets all history, as if freshly constructed (for a new, unrelated stream).
    pub fn reset(&mut self) {
        if let Some(engine) = self.engine.as_mut() {
            engine.fft.reset();
        }
    }

    /// Input rate, in Hz.
    #[must_use]
    pub fn from_hz(&self) -> u32 {
        self.from_hz
    }

    /// Output rate, in Hz.
    #[must_use]
    pub fn to_hz(&self) -> u32 {
        self.to_hz
    }

    /// Samples consumed per [`process`](Self::process) call.
    #[must_use]
    pub fn input_frame_samples(&self) -> usize {
        self.frame_in
    }

    /// Samples produced per [`process`](Self::process) call.
    #[must_use]
    pub fn output_frame_samples(&self) -> usize {
        self.frame_out
    }

    /// Whether this resampler is a plain copy (equal rates).
    #[must_use]
    pub fn is_passthrough(&self) -> bool {
        self.engine.is_none()
    }
}

/// Rounds an engine sample back to `i16`, saturating on filter overshoot.
#[inline]
fn f32_to_i16(f: f32) -> i16 {
    // The clamp keeps the value in range, so the cast cannot truncate (NaN casts to 0).
    (f * I16_SCALE)
        .round()
        .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

/// Input frame used to convert a whole clip: 20 ms when that is a whole number of output
/// samples, else the smallest block the ratio allows, repeated up to at least 20 ms.
fn clip_frame(from_hz: u32, to_hz: u32) -> usize {
    let unit = min_block_in(from_hz, to_hz);
    samples_per_20ms(from_hz).div_ceil(unit).max(1) * unit
}

/// Converts a whole clip held in memory (a prompt decoded from a WAV file), not for the hot path.
///
/// Unlike the streaming [`Resampler`], the result is aligned with the input (the filter delay
/// is trimmed) and has exactly `ceil(len × to_hz / from_hz)` samples; the end of the clip is
/// flushed through the filter rather than cut.
///
/// # Errors
/// [`ResampleError::UnsupportedRate`] for a rate outside the supported range.
pub fn resample_clip(from_hz: u32, to_hz: u32, clip: &[i16]) -> Result<Vec<i16>, ResampleError> {
    check_rate(from_hz)?;
    check_rate(to_hz)?;
    if from_hz == to_hz {
        return Ok(clip.to_vec());
    }
    let mut resampler = Resampler::new(from_hz, to_hz, clip_frame(from_hz, to_hz))?;
    let wanted = (clip.len() as u64 * u64::from(to_hz)).div_ceil(u64::from(from_hz));
    let wanted = usize::try_from(wanted).unwrap_or(usize::MAX);
    let skip = resampler.latency();
    let mut out = Vec::with_capacity(wanted + resampler.output_frame_samples());
    let mut frame_in = vec![0_i16; resampler.input_frame_samples()];
    let mut frame_out = vec![0_i16; resampler.output_frame_samples()];
    let mut chunks = clip.chunks(resampler.input_frame_samples());
    let mut skipped = 0;
    while out.len() < wanted {
        // The last partial chunk is padded with silence; after the clip, silence flushes
        // the filter until the delayed tail is out.
        frame_in.fill(0);
        if let Some(chunk) = chunks.next() {
            frame_in[..chunk.len()].copy_from_slice(chunk);
        }
        resampler.process(&frame_in, &mut frame_out)?;
        let drop = (skip - skipped).min(frame_out.len());
        skipped += drop;
        out.extend_from_slice(&frame_out[drop..]);
    }
    out.truncate(wanted);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_are_the_exact_ratio_for_the_telephony_rates() {
        for (from, to, out) in [
            (8_000, 16_000, 320),
            (16_000, 8_000, 160),
            (8_000, 48_000, 960),
            (48_000, 8_000, 160),
            (16_000, 48_000, 960),
            (48_000, 16_000, 320),
        ] {
            let r = Resampler::per_20ms(from, to).unwrap();
            assert_eq!(r.output_frame_samples(), out, "{from}->{to}");
            assert_eq!(r.latency(), out / 2, "{from}->{to}: half a frame");
        }
    }

    #[test]
    fn same_rate_is_a_copy_with_no_latency() {
        let mut r = Resampler::per_20ms(16_000, 16_000).unwrap();
        assert!(r.is_passthrough());
        assert_eq!(r.latency(), 0);
        let input: Vec<i16> = (0..320)
            .map(|i| i16::try_from(i * 7 - 1_000).unwrap())
            .collect();
        let mut output = vec![0; 320];
        r.process(&input, &mut output).unwrap();
        assert_eq!(input, output);
    }

    #[test]
    fn bad_configurations_and_lengths_are_errors() {
        assert_eq!(
            Resampler::new(7_999, 8_000, 160).unwrap_err(),
            ResampleError::UnsupportedRate { hz: 7_999 }
        );
        assert_eq!(
            Resampler::new(8_000, 200_000, 160).unwrap_err(),
            ResampleError::UnsupportedRate { hz: 200_000 }
        );
        // 48 kHz → 8 kHz needs input blocks of 6 samples.
        assert_eq!(
            Resampler::new(48_000, 8_000, 100).unwrap_err(),
            ResampleError::FrameNotIntegral {
                from_hz: 48_000,
                to_hz: 8_000,
                frame: 100
            }
        );
        assert!(matches!(
            Resampler::new(8_000, 16_000, 0),
            Err(ResampleError::FrameNotIntegral { .. })
        ));
        let mut r = Resampler::per_20ms(8_000, 16_000).unwrap();
        let mut out = vec![0; 320];
        assert_eq!(
            r.process(&[0; 159], &mut out),
            Err(ResampleError::InputLength {
                expected: 160,
                got: 159
            })
        );
        assert_eq!(
            r.process(&[0; 160], &mut out[..319]),
            Err(ResampleError::OutputLength {
                expected: 320,
                got: 319
            })
        );
    }

    #[test]
    fn full_scale_overshoot_saturates() {
        assert_eq!(f32_to_i16(1.5), i16::MAX);
        assert_eq!(f32_to_i16(-1.5), i16::MIN);
        assert_eq!(f32_to_i16(f32::NAN), 0);
        assert_eq!(f32_to_i16(0.5), 16_384);
    }

    #[test]
    fn clip_frames_cover_at_least_20ms_in_whole_blocks() {
        assert_eq!(clip_frame(8_000, 16_000), 160);
        assert_eq!(clip_frame(44_100, 8_000), 882); // 441-sample blocks
        assert_eq!(clip_frame(11_025, 8_000), 441); // one 40 ms block
        assert_eq!(min_block_in(48_000, 8_000), 6);
    }
}
