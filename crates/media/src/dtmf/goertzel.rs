//! Goertzel filters: the DFT at one chosen frequency, one multiply-add per sample.
//!
//! For a handful of frequencies this is cheaper than an FFT and, unlike an FFT bin, the
//! frequency need not be a multiple of `rate / N`. The recursion is
//! `s[n] = x[n] + 2·cos(ω)·s[n-1] − s[n-2]`; after `N` samples
//! `y = s[N-1] − e^{-jω}·s[N-2]` equals `Σ x[n]·e^{jω(N-1-n)}`, i.e. the DFT value
//! `X(ω) = Σ x[n]·e^{-jωn}` rotated by `e^{jω(N-1)}`, and `|y|² = |X(ω)|²`.

use std::f32::consts::TAU;

/// A Goertzel filter tuned to one frequency.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Goertzel {
    /// `2·cos(ω)`.
    coeff: f32,
    cos: f32,
    sin: f32,
}

impl Goertzel {
    /// A filter at `freq` Hz for samples at `rate` Hz.
    pub(crate) fn new(freq: f32, rate: f32) -> Goertzel {
        let w = TAU * freq / rate;
        Goertzel {
            coeff: 2.0 * w.cos(),
            cos: w.cos(),
            sin: w.sin(),
        }
    }

    /// `|X(ω)|²` over `x`.
    pub(crate) fn power(&self, x: &[f32]) -> f32 {
        let (s1, s2) = self.run(x.iter().copied());
        s1 * s1 + s2 * s2 - self.coeff * s1 * s2
    }

    /// `X(ω)·e^{jω(N-1)}` over `x` weighted by `window` (same length): the DFT value up to a
    /// rotation that depends only on `N`, so two blocks of the same length compare in phase.
    pub(crate) fn windowed(&self, x: &[f32], window: &[f32]) -> (f32, f32) {
        let (s1, s2) = self.run(x.iter().zip(window).map(|(a, w)| a * w));
        (s1 - self.cos * s2, self.sin * s2)
    }

    fn run(&self, x: impl Iterator<Item = f32>) -> (f32, f32) {
        let (mut s1, mut s2) = (0.0_f32, 0.0_f32);
        for v in x {
            let s = v + self.coeff * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        (s1, s2)
    }
}

/// `|X(ω)|²` of `K` filters over the same samples, in one pass (the compiler keeps the `K`
/// states in vector registers).
pub(crate) fn powers<const K: usize>(filters: &[Goertzel; K], x: &[f32]) -> [f32; K] {
    let coeff: [f32; K] = std::array::from_fn(|i| filters[i].coeff);
    let mut s1 = [0.0_f32; K];
    let mut s2 = [0.0_f32; K];
    for &v in x {
        for i in 0..K {
            let s = v + coeff[i] * s1[i] - s2[i];
            s2[i] = s1[i];
            s1[i] = s;
        }
    }
    std::array::from_fn(|i| s1[i] * s1[i] + s2[i] * s2[i] - coeff[i] * s1[i] * s2[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, amp: f32, n: usize, phase: f32) -> Vec<f32> {
        (0..n)
            .map(|i| amp * (TAU * freq * i as f32 / 8000.0 + phase).cos())
            .collect()
    }

    #[test]
    fn power_of_a_tone_on_its_frequency_is_half_n_amplitude_squared() {
        // |X| = N·A/2 for a tone exactly on the filter's frequency (the image at −f is far).
        for phase in [0.0, 1.0, 2.5] {
            let x = sine(1000.0, 1000.0, 200, phase);
            let p = Goertzel::new(1000.0, 8000.0).power(&x);
            let expected = (200.0 * 1000.0 / 2.0_f32).powi(2);
            assert!((p / expected - 1.0).abs() < 1e-3, "{p} vs {expected}");
        }
    }

    #[test]
    fn batch_matches_single_filters() {
        let x = sine(697.0, 3000.0, 106, 0.3);
        let fs = [Goertzel::new(697.0, 8000.0), Goertzel::new(1209.0, 8000.0)];
        let both = powers(&fs, &x);
        for (f, p) in fs.iter().zip(both) {
            assert!((f.power(&x) - p).abs() <= 1e-3 * p.max(1.0));
        }
    }

    #[test]
    fn windowed_phase_advances_with_the_block_offset() {
        // Two blocks 53 samples apart: for a tone at the filter's frequency the phase of the
        // second is the first's plus ω·53. (A Hann window keeps the tone's image at −f from
        // moving the phase; a rectangular one lets it move by ~0.01 rad.)
        let x = sine(941.0, 1000.0, 200, 0.7);
        let g = Goertzel::new(941.0, 8000.0);
        let w: Vec<f32> = (0..100)
            .map(|n| 0.5 - 0.5 * (TAU * n as f32 / 100.0).cos())
            .collect();
        let a = g.windowed(&x[..100], &w);
        let b = g.windowed(&x[53..153], &w);
        let dphi = (b.1.atan2(b.0) - a.1.atan2(a.0)).rem_euclid(TAU);
        let expected = (TAU * 941.0 * 53.0 / 8000.0).rem_euclid(TAU);
        assert!((dphi - expected).abs() < 1e-3, "{dphi} vs {expected}");
        // Hann's coherent gain is ½: |X| = ½ · N·A/2.
        let mag = (a.0 * a.0 + a.1 * a.1).sqrt();
        assert!(
            (mag / (0.5 * 100.0 * 1000.0 / 2.0) - 1.0).abs() < 0.01,
            "{mag}"
        );
    }
}
