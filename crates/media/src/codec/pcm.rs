//! PCM helpers shared by the codecs: sample format conversion and the repeat-and-fade packet loss
//! concealment of the codecs that have none of their own.
//!
//! # Concealment for G.711 and G.722
//! G.711 Appendix I and G.722 Appendix III/IV describe pitch-based concealment; they are long
//! and we do not need their quality for a contact centre's occasional loss. What we do instead,
//! for one frame at a time:
//!
//! 1. the first lost frame replays the last good frame **time-reversed**, fading from full level
//!    to half; the second replays it forwards, fading from half to silence; from the third on we
//!    play silence (a long loss is better heard as a gap than as a buzz);
//! 2. the mirror is what makes it sound acceptable: a reversed frame starts with the very sample
//!    the good frame ended on, and the forward copy after it starts where the reversed one ended,
//!    so there is no step (click) at either frame boundary, while the short-term spectrum (the
//!    timbre of the voice, the noise floor) is that of the last frame;
//! 3. a decoded frame ends the loss run.
//!
//! The fade is linear, in Q15 integer arithmetic; nothing allocates after construction.

/// Q15 unity gain.
const Q15_ONE: i32 = 1 << 15;

/// Repeat-and-fade concealment state (see the module docs).
#[derive(Debug, Clone)]
pub struct Concealer {
    /// The last decoded frame; only `last[..len]` is meaningful. Sized at construction for the
    /// longest frame we keep.
    last: Box<[i16]>,
    /// Samples of `last` that hold the last frame (0 before any decode).
    len: usize,
    /// Length of a concealed frame before any frame was decoded (the configured `ptime`).
    default_len: usize,
    /// Consecutive frames concealed since the last decoded one.
    run: u32,
}

impl Concealer {
    /// A concealer that remembers frames of up to `capacity` samples and conceals `default_len`
    /// samples of silence until it has seen one.
    #[must_use]
    pub fn new(capacity: usize, default_len: usize) -> Self {
        Self {
            last: vec![0; capacity].into_boxed_slice(),
            len: 0,
            default_len: default_len.min(capacity),
            run: 0,
        }
    }

    /// Records a decoded frame (its last `capacity` samples if it is longer) and ends any loss
    /// run.
    pub fn remember(&mut self, pcm: &[i16]) {
        let keep = pcm.len().min(self.last.len());
        self.last[..keep].copy_from_slice(&pcm[pcm.len() - keep..]);
        self.len = keep;
        self.run = 0;
    }

    /// Length of the frame the next [`Self::conceal`] produces, before clipping to the output.
    #[must_use]
    pub fn frame_len(&self) -> usize {
        if self.len == 0 {
            self.default_len
        } else {
            self.len
        }
    }

    /// Consecutive frames concealed since the last decoded one.
    #[must_use]
    pub fn run(&self) -> u32 {
        self.run
    }

    /// Writes one concealed frame into `out` (at most `out.len()` samples) and returns its length.
    pub fn conceal(&mut self, out: &mut [i16]) -> usize {
        let n = self.frame_len().min(out.len());
        let out = &mut out[..n];
        let run = self.run;
        self.run = self.run.saturating_add(1);
        if self.len == 0 || run >= 2 {
            out.fill(0);
            return n;
        }
        // Gains at the start and end of this frame: 1 → ½ for the first, ½ → 0 for the second.
        let (from, to) = if run == 0 {
            (Q15_ONE, Q15_ONE / 2)
        } else {
            (Q15_ONE / 2, 0)
        };
        let last = &self.last[..self.len];
        let span = i64::try_from(n.max(1)).unwrap_or(i64::MAX);
        for (i, o) in out.iter_mut().enumerate() {
            // Mirror: reversed on the first frame, forwards on the second; a concealed frame
            // longer than the remembered one bounces back and forth within it.
            let period = 2 * self.len;
            let k = i % period;
            let pos = if k < self.len { k } else { period - 1 - k };
            let src = if run == 0 {
                last[self.len - 1 - pos]
            } else {
                last[pos]
            };
            let i = i64::try_from(i).unwrap_or(i64::MAX);
            let gain = i64::from(from) + (i64::from(to) - i64::from(from)) * i / span;
            *o = scale_q15(src, gain);
        }
        n
    }
}

/// `sample × gain / 2¹⁵`, saturated to `i16`.
fn scale_q15(sample: i16, gain_q15: i64) -> i16 {
    let v = (i64::from(sample) * gain_q15) >> 15;
    saturate_i16(v)
}

/// Clamps to the `i16` range.
#[must_use]
pub fn saturate_i16(v: i64) -> i16 {
    i16::try_from(v.clamp(i64::from(i16::MIN), i64::from(i16::MAX))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conceals_silence_before_any_frame() {
        let mut c = Concealer::new(160, 160);
        let mut out = [7_i16; 200];
        assert_eq!(c.conceal(&mut out), 160);
        assert!(out[..160].iter().all(|&s| s == 0));
        assert_eq!(out[160], 7, "nothing written past the frame");
    }

    #[test]
    fn first_frame_is_mirrored_and_continuous_then_fades_to_silence() {
        let mut c = Concealer::new(160, 160);
        let frame: Vec<i16> = (0..160).map(|i| (i * 100) as i16).collect();
        c.remember(&frame);
        let mut a = [0_i16; 160];
        let mut b = [0_i16; 160];
        let mut z = [1_i16; 160];
        assert_eq!(c.conceal(&mut a), 160);
        assert_eq!(c.conceal(&mut b), 160);
        assert_eq!(c.conceal(&mut z), 160);
        // Continuity: the first concealed sample is the last good one, at full gain.
        assert_eq!(a[0], frame[159]);
        // Reversed, fading from 1 to 1/2 (exact Q15 arithmetic).
        for (i, &s) in a.iter().enumerate() {
            let gain = 32_768 - 16_384 * i as i64 / 160;
            assert_eq!(i64::from(s), (i64::from(frame[159 - i]) * gain) >> 15);
        }
        // The forward copy starts where the reversed one ended: frame[0], at half gain.
        assert_eq!(b[0], frame[0] / 2);
        assert!(b[159].abs() < frame[159].abs() / 100 + 1, "faded out");
        assert!(z.iter().all(|&s| s == 0), "third frame is silence");
        assert_eq!(c.run(), 3);
        c.remember(&frame);
        assert_eq!(c.run(), 0);
    }

    #[test]
    fn frame_length_follows_the_last_decoded_frame_and_the_output() {
        let mut c = Concealer::new(480, 160);
        assert_eq!(c.frame_len(), 160);
        c.remember(&[5; 240]);
        assert_eq!(c.frame_len(), 240);
        let mut short = [0_i16; 100];
        assert_eq!(c.conceal(&mut short), 100);
        // Longer than the capacity: the tail is kept.
        let long: Vec<i16> = (0..600).map(|i| i as i16).collect();
        c.remember(&long);
        assert_eq!(c.frame_len(), 480);
        let mut out = [0_i16; 480];
        c.conceal(&mut out);
        assert_eq!(out[0], 599);
    }
}
