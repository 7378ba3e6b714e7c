//! One side of a recording, brought to the file's rate whatever the leg's codec rate is, and
//! whenever it changes.
//!
//! A leg's audio arrives at its codec's rate: 8 kHz for G.711, 16 kHz for G.722, 48 kHz for
//! Opus, and a re-INVITE can change it mid-call. The file has one rate. A [`RecordingChannel`]
//! owns the conversion and keeps two promises:
//! * **one output frame per tick, always** — so the two sides of a stereo file stay aligned
//!   and the file's length is exactly ticks × frame;
//! * **the same delay whatever the input rate** — the resampler delays by half a frame
//!   (10 ms) for every pair of rates, so when input and file rates are equal the channel
//!   delays by the same half frame instead of copying straight through. Both sides of a call
//!   are therefore aligned to the sample even when one leg is G.711 and the other G.722, and a
//!   rate change does not shift a side by 10 ms.
//!
//! On a rate change the old converter is not simply dropped, which would cut the last 10 ms
//! of audio it still holds: for that one tick it is fed silence and its output (the held
//! tail) is added to the new converter's (which starts with 10 ms of its own delay). The
//! pieces meet where they should, with no gap and no overlap. What remains is a short ringing
//! of the filter at the seam (the old side's audio was band-limited, the new side's not yet):
//! on a 400 Hz tone, a few milliseconds at about 3 % of its amplitude, where dropping the old
//! converter would leave a 10 ms hole.
//!
//! Converters are created when the rate changes, the only allocation; steady state is
//! allocation-free.

use super::{RecorderError, RecordingRate, Side};
use crate::resample::{MAX_RATE_HZ, Resampler, samples_per_20ms};

/// Silence to flush a converter with, long enough for 20 ms at the highest rate.
static SILENCE: [i16; samples_per_20ms(MAX_RATE_HZ)] = [0; samples_per_20ms(MAX_RATE_HZ)];

/// How one input rate reaches the file's rate.
#[derive(Debug)]
enum Stage {
    /// Same rate: a half-frame delay line, to match the resampler's delay.
    Delay {
        rate_hz: u32,
        /// The last half frame of the previous input.
        held: Vec<i16>,
    },
    /// Another rate (boxed: the FFT engine is large, and only created on a rate change).
    Resample(Box<Resampler>),
}

impl Stage {
    fn new(rate_hz: u32, target_hz: u32) -> Result<Self, RecorderError> {
        if rate_hz == target_hz {
            Ok(Self::Delay {
                rate_hz,
                held: vec![0; samples_per_20ms(rate_hz) / 2],
            })
        } else {
            Ok(Self::Resample(Box::new(Resampler::per_20ms(
                rate_hz, target_hz,
            )?)))
        }
    }

    fn rate_hz(&self) -> u32 {
        match self {
            Self::Delay { rate_hz, .. } => *rate_hz,
            Self::Resample(r) => r.from_hz(),
        }
    }

    /// Converts one input frame (length checked by the caller) into `out` (one output frame).
    fn process(&mut self, input: &[i16], out: &mut [i16]) -> Result<(), RecorderError> {
        match self {
            Self::Delay { held, .. } => {
                let half = held.len();
                let (head, tail) = out.split_at_mut(half);
                head.copy_from_slice(held);
                tail.copy_from_slice(&input[..input.len() - half]);
                held.copy_from_slice(&input[input.len() - half..]);
                Ok(())
            }
            Self::Resample(r) => Ok(r.process(input, out)?),
        }
    }

    /// Converts 20 ms of silence, i.e. drains what the stage still holds.
    fn flush(&mut self, out: &mut [i16]) -> Result<(), RecorderError> {
        let n = samples_per_20ms(self.rate_hz());
        self.process(&SILENCE[..n], out)
    }
}

/// Brings one side's 20 ms frames, at any supported rate, to a recording's rate.
#[derive(Debug)]
pub struct RecordingChannel {
    target: RecordingRate,
    /// `None` until the first frame with audio.
    stage: Option<Stage>,
    /// One output frame.
    out: Vec<i16>,
    /// The old stage's tail during a rate change.
    tail: Vec<i16>,
    rate_changes: u32,
    side: Side,
}

impl RecordingChannel {
    /// Delay from input to output, in milliseconds, whatever the input rate.
    pub const LATENCY_MS: u32 = 10;

    /// A channel feeding a file at `target`; `side` only labels errors.
    #[must_use]
    pub fn new(target: RecordingRate, side: Side) -> Self {
        Self {
            target,
            stage: None,
            out: vec![0; target.frame_samples()],
            tail: vec![0; target.frame_samples()],
            rate_changes: 0,
            side,
        }
    }

    /// Converts this tick's frame: `Some((samples, rate_hz))` with 20 ms of audio at
    /// `rate_hz`, or `None` when the side has no audio this tick. Returns exactly one 20 ms
    /// frame at the recording's rate, delayed by [`RecordingChannel::LATENCY_MS`].
    ///
    /// # Errors
    /// [`RecorderError::FrameLength`] if `samples` is not 20 ms at `rate_hz`;
    /// [`RecorderError::Resample`] for a rate that cannot be converted. The tick then goes on
    /// as if no frame had come (what the converter still held, then silence): write
    /// [`RecordingChannel::last_output`] for this side and the file stays aligned.
    pub fn process(&mut self, input: Option<(&[i16], u32)>) -> Result<&[i16], RecorderError> {
        match self.convert(input) {
            Ok(()) => Ok(&self.out[..]),
            Err(e) => {
                // Flushing a stage with silence of its own rate cannot fail.
                if self.convert(None).is_err() {
                    self.out.fill(0);
                }
                Err(e)
            }
        }
    }

    fn convert(&mut self, input: Option<(&[i16], u32)>) -> Result<(), RecorderError> {
        let Some((samples, rate_hz)) = input else {
            return match self.stage.as_mut() {
                Some(stage) => stage.flush(&mut self.out),
                None => {
                    self.out.fill(0);
                    Ok(())
                }
            };
        };
        let expected = samples_per_20ms(rate_hz);
        if samples.len() != expected || expected == 0 {
            return Err(RecorderError::FrameLength {
                side: self.side,
                expected,
                got: samples.len(),
            });
        }
        match self.stage.as_mut() {
            Some(stage) if stage.rate_hz() == rate_hz => stage.process(samples, &mut self.out),
            Some(_) => self.switch(samples, rate_hz),
            None => {
                let mut stage = Stage::new(rate_hz, self.target.hz())?;
                stage.process(samples, &mut self.out)?;
                self.stage = Some(stage);
                Ok(())
            }
        }
    }

    /// A new input rate: the new stage starts, the old one drains its tail into the same tick.
    fn switch(&mut self, samples: &[i16], rate_hz: u32) -> Result<(), RecorderError> {
        let mut stage = Stage::new(rate_hz, self.target.hz())?;
        stage.process(samples, &mut self.out)?;
        if let Some(mut old) = self.stage.replace(stage) {
            old.flush(&mut self.tail)?;
            for (o, &t) in self.out.iter_mut().zip(&self.tail) {
                *o = o.saturating_add(t);
            }
        }
        self.rate_changes += 1;
        Ok(())
    }

    /// The frame produced by the last [`RecordingChannel::process`], also after an error.
    #[must_use]
    pub fn last_output(&self) -> &[i16] {
        &self.out
    }

    /// The input rate currently converted (`None` before the first frame).
    #[must_use]
    pub fn input_rate(&self) -> Option<u32> {
        self.stage.as_ref().map(Stage::rate_hz)
    }

    /// How many times the input rate changed.
    #[must_use]
    pub fn rate_changes(&self) -> u32 {
        self.rate_changes
    }
}
