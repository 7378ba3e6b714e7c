//! Playing prompts out, one frame per tick: a playlist played once (IVR announcements) or in a
//! loop (music on hold), with a gain.
//!
//! A [`Playback`] is a cursor over shared [`Prompt`]s: filling a frame copies (and scales)
//! samples, it never allocates. Music on hold keeps its place: the call task keeps the
//! caller's `Playback` while the caller is off hold and simply stops calling
//! [`Playback::fill`]; the next hold resumes the music where it stopped rather than restarting
//! the first track, which callers put on hold repeatedly notice and dislike.

use super::{Prompt, PromptError};

/// What a [`Playback::fill`] call left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybackState {
    /// More audio follows: call `fill` again on the next tick.
    Playing,
    /// The frame just filled holds the last samples (padded with silence), or the playback
    /// was already over: the driver sends this frame and reports `PlaybackDone`.
    Finished,
}

/// Where a playback stands: which prompt of the list, and how far into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlaybackPosition {
    /// Index of the current prompt in the playlist (empty prompts removed).
    pub prompt: usize,
    /// Samples of that prompt already played.
    pub offset: usize,
}

/// A gain applied to played samples, in Q12 fixed point (4096 = 0 dB).
///
/// Q12 keeps the product of a sample and the largest gain (+12 dB ≈ 16,305) inside an `i32`;
/// the resolution (1/4096) is far finer than any gain step an admin would set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gain(i32);

impl Gain {
    /// 0 dB: samples are copied unchanged.
    pub const UNITY: Self = Self(1 << Self::SHIFT);
    /// Silence.
    pub const MUTE: Self = Self(0);
    /// Largest gain accepted by [`Gain::from_db`]; louder would clip ordinary prompts.
    pub const MAX_DB: f32 = 12.0;
    /// At or below this, [`Gain::from_db`] mutes.
    pub const MIN_DB: f32 = -72.0;
    const SHIFT: u32 = 12;

    /// The gain of `db` decibels, clamped to [`Gain::MAX_DB`]; at or below [`Gain::MIN_DB`]
    /// (and for −∞) it mutes; NaN is taken as 0 dB.
    #[must_use]
    pub fn from_db(db: f32) -> Self {
        if db.is_nan() {
            return Self::UNITY;
        }
        if db <= Self::MIN_DB {
            return Self::MUTE;
        }
        let linear = 10_f32.powf(db.min(Self::MAX_DB) / 20.0);
        // ≤ 4096 × 3.99, so the cast cannot truncate.
        Self((linear * (1 << Self::SHIFT) as f32).round() as i32)
    }

    /// The gain in decibels (−∞ for [`Gain::MUTE`]).
    #[must_use]
    pub fn as_db(self) -> f32 {
        20.0 * (self.0 as f32 / (1 << Self::SHIFT) as f32).log10()
    }

    /// Scales one sample, rounding to nearest and saturating.
    #[inline]
    #[must_use]
    pub fn apply(self, sample: i16) -> i16 {
        let scaled = (i32::from(sample) * self.0 + (1 << (Self::SHIFT - 1))) >> Self::SHIFT;
        i16::try_from(scaled.clamp(i32::from(i16::MIN), i32::from(i16::MAX))).unwrap_or(0)
    }

    /// Copies `src` into `dst` (same length) with this gain.
    fn copy_scaled(self, src: &[i16], dst: &mut [i16]) {
        if self == Self::UNITY {
            dst.copy_from_slice(src);
        } else {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = self.apply(s);
            }
        }
    }
}

impl Default for Gain {
    fn default() -> Self {
        Self::UNITY
    }
}

/// Plays a list of prompts in order, once or looping, one frame at a time.
#[derive(Debug, Clone)]
pub struct Playback {
    /// Invariant: no empty prompt, all at `sample_rate`.
    prompts: Vec<Prompt>,
    /// Invariant: `prompt < prompts.len()` unless finished; `offset < prompts[prompt].len()`.
    position: PlaybackPosition,
    looping: bool,
    stopped: bool,
    gain: Gain,
    /// Rate of every prompt; `None` for an empty playlist.
    sample_rate: Option<u32>,
}

impl Playback {
    /// Plays `prompts` once, in order (empty prompts are skipped).
    ///
    /// # Errors
    /// [`PromptError::MixedRates`] if the prompts were not all decoded for the same rate.
    pub fn new(prompts: Vec<Prompt>) -> Result<Self, PromptError> {
        Self::build(prompts, false)
    }

    /// Plays `prompts` in order, forever: music on hold over the `sounds/moh/*.wav` playlist
    /// (the binary sorts the files by name). An empty playlist finishes at once rather than
    /// spinning.
    ///
    /// # Errors
    /// [`PromptError::MixedRates`] as for [`Playback::new`].
    pub fn looping(prompts: Vec<Prompt>) -> Result<Self, PromptError> {
        Self::build(prompts, true)
    }

    fn build(mut prompts: Vec<Prompt>, looping: bool) -> Result<Self, PromptError> {
        prompts.retain(|p| !p.is_empty());
        let sample_rate = prompts.first().map(Prompt::sample_rate);
        if let Some(first) = sample_rate
            && let Some(other) = prompts.iter().find(|p| p.sample_rate() != first)
        {
            return Err(PromptError::MixedRates {
                first,
                other: other.sample_rate(),
            });
        }
        Ok(Self {
            prompts,
            position: PlaybackPosition::default(),
            looping,
            stopped: false,
            gain: Gain::UNITY,
            sample_rate,
        })
    }

    /// Fills `out` (normally one 20 ms frame at the prompts' rate) with the next samples,
    /// padding with silence once the playlist is over.
    pub fn fill(&mut self, out: &mut [i16]) -> PlaybackState {
        let mut written = 0;
        while written < out.len() && !self.is_finished() {
            let prompt = self.prompts[self.position.prompt].samples();
            let available = &prompt[self.position.offset..];
            let n = available.len().min(out.len() - written);
            self.gain
                .copy_scaled(&available[..n], &mut out[written..written + n]);
            written += n;
            self.position.offset += n;
            if self.position.offset == prompt.len() {
                self.advance();
            }
        }
        out[written..].fill(0);
        if self.is_finished() {
            PlaybackState::Finished
        } else {
            PlaybackState::Playing
        }
    }

    /// Moves to the start of the next prompt, wrapping around when looping.
    fn advance(&mut self) {
        self.position.offset = 0;
        self.position.prompt += 1;
        if self.looping && self.position.prompt == self.prompts.len() {
            self.position.prompt = 0;
        }
    }

    /// Ends the playback for good: later fills are silence and report
    /// [`PlaybackState::Finished`] (a caller pressing a key to skip a prompt, a caller taken off
    /// a queue). To pause music on hold and resume it later, stop calling `fill` instead.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Whether nothing is left to play.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.stopped || self.position.prompt >= self.prompts.len()
    }

    /// Sets the gain applied from the next frame on.
    pub fn set_gain(&mut self, gain: Gain) {
        self.gain = gain;
    }

    /// The current gain.
    #[must_use]
    pub fn gain(&self) -> Gain {
        self.gain
    }

    /// Where the playback stands.
    #[must_use]
    pub fn position(&self) -> PlaybackPosition {
        self.position
    }

    /// Whether the playlist loops.
    #[must_use]
    pub fn is_looping(&self) -> bool {
        self.looping
    }

    /// The rate of the prompts (`None` for an empty playlist).
    #[must_use]
    pub fn sample_rate(&self) -> Option<u32> {
        self.sample_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gains_in_db() {
        assert_eq!(Gain::from_db(0.0), Gain::UNITY);
        assert_eq!(Gain::from_db(f32::NAN), Gain::UNITY);
        assert_eq!(Gain::from_db(f32::NEG_INFINITY), Gain::MUTE);
        assert_eq!(Gain::from_db(-100.0), Gain::MUTE);
        assert_eq!(Gain::from_db(40.0), Gain::from_db(Gain::MAX_DB));
        assert!((Gain::from_db(-6.0).as_db() + 6.0).abs() < 0.01);
        assert_eq!(Gain::from_db(-6.0206).apply(10_000), 5_000);
        assert_eq!(Gain::from_db(6.0206).apply(-10_000), -20_000);
        assert_eq!(Gain::from_db(12.0).apply(20_000), i16::MAX);
        assert_eq!(Gain::from_db(12.0).apply(-20_000), i16::MIN);
        assert_eq!(Gain::MUTE.apply(i16::MIN), 0);
        assert_eq!(Gain::UNITY.apply(i16::MIN), i16::MIN);
    }
}
