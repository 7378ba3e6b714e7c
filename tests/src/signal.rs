//! Just enough signal analysis to say what a listener heard: "1000 Hz", "silence", "no 2000 Hz".
//!
//! The end-to-end tests cannot compare audio sample by sample (the switch may transcode, the
//! jitter buffer may shift it, packets may be lost), so they compare *what it sounds like*:
//! the power at a frequency, the dominant frequency and the level.
//!
//! * [`goertzel_power`] is the power of one frequency component, measured with the Goertzel
//!   recurrence over Hann-windowed 50 ms blocks and averaged over the blocks. Blocks make the
//!   measure tolerate gaps (a lost packet, a DTMF pause) and give it a main lobe about ±40 Hz
//!   wide, so a 10 Hz scan cannot step over a tone; the window keeps a loud tone from leaking
//!   into distant bins. It is normalised so that a sine of amplitude `A` reads `A²/2`, the same
//!   scale as [`rms`] squared: `goertzel_power(f) / rms²` is the share of the power at `f`.
//! * [`dominant_frequency`] scans 200–3400 Hz (the telephone band) in 10 Hz steps. Inside the
//!   main lobe the windowed response falls off monotonically on both sides of the tone, so the
//!   grid point with the most power is the one nearest to the tone: within ±5 Hz.
//!
//! * [`find`] says where a known sound (a prompt the switch plays) is in what was heard, and how
//!   alike they are: the normalised cross-correlation, 1.0 for the same waveform at any gain.
//!   G.711 keeps it above 0.99; a different prompt, or speech in another language, scores far
//!   lower. It compares samples, so it suits audio the switch *generates* (prompts, in step with
//!   its 20 ms packets), not audio it relays from a jittery source.
//! * [`dtmf_tone`] makes a key's ITU-T Q.23 tone pair, for phones that only signal in-band.
//!
//! ```
//! use switchboard_tests::signal::{Dbm0, dominant_frequency, goertzel_power, rms, tone};
//!
//! let pcm = tone(1000.0, Dbm0(-10.0).amplitude(), 8000, 8000);
//! assert_eq!(dominant_frequency(&pcm, 8000), Some(1000.0));
//! let share = goertzel_power(&pcm, 1000.0, 8000) / rms(&pcm).powi(2);
//! assert!((share - 1.0).abs() < 0.01);
//! assert!(goertzel_power(&pcm, 2000.0, 8000) < 1e-6 * goertzel_power(&pcm, 1000.0, 8000));
//! ```

use std::f64::consts::PI;

/// The analysis block: 50 ms at 8 kHz.
const BLOCK_SECONDS: f64 = 0.05;
/// The telephone band scanned by [`dominant_frequency`], and its step.
const SCAN_LOW_HZ: u32 = 200;
const SCAN_HIGH_HZ: u32 = 3400;
const SCAN_STEP_HZ: u32 = 10;

/// G.711's A-law overload point, in dBm0 (the level of a full-scale sine).
#[allow(clippy::approx_constant)] // 3.14 dB is G.711's figure, not an approximation of π
const ALAW_OVERLOAD_DBM0: f64 = 3.14;

/// A level in dBm0, the unit telephone tones are specified in (ITU-T G.711, G.168).
///
/// 0 dBm0 is the sine whose peak sits 3.14 dB below the A-law overload point (G.711 gives
/// +3.14 dBm0 as A-law's maximum; µ-law's +3.17 differs by 0.03 dB, which we ignore). With
/// 16-bit samples whose full scale (32,768) is that overload point, 0 dBm0 is a peak of
/// 22,827 and −10 dBm0 one of 7,219.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Dbm0(pub f64);

impl Dbm0 {
    /// The peak amplitude (16-bit scale) of a sine at this level.
    #[must_use]
    pub fn amplitude(self) -> f64 {
        32_768.0 * 10f64.powf((self.0 - ALAW_OVERLOAD_DBM0) / 20.0)
    }
}

/// `n` samples of a sine of `freq_hz` with peak `amplitude`, sampled at `rate_hz`.
#[must_use]
pub fn tone(freq_hz: f64, amplitude: f64, n: usize, rate_hz: u32) -> Vec<i16> {
    let step = 2.0 * PI * freq_hz / f64::from(rate_hz);
    (0..n)
        .map(|i| {
            #[allow(clippy::cast_precision_loss)] // i < 2^52
            let phase = step * i as f64;
            // Saturating float-to-int conversion: in range by construction.
            #[allow(clippy::cast_possible_truncation)]
            let s = (amplitude * phase.sin()).round().clamp(-32_768.0, 32_767.0) as i16;
            s
        })
        .collect()
}

/// Root-mean-square level of `samples` (0 for none).
#[must_use]
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    #[allow(clippy::cast_precision_loss)]
    let n = samples.len() as f64;
    (sum / n).sqrt()
}

/// The power of the `freq_hz` component of `samples` (see the module docs for the scale),
/// averaged over 50 ms Hann-windowed blocks; a buffer shorter than a block is one block.
#[must_use]
pub fn goertzel_power(samples: &[i16], freq_hz: f64, rate_hz: u32) -> f64 {
    Blocks::new(samples, rate_hz).power(freq_hz)
}

/// The frequency (200–3400 Hz, 10 Hz steps) with the most power, or `None` for a buffer with
/// no power at all (digital silence, or nothing).
#[must_use]
pub fn dominant_frequency(samples: &[i16], rate_hz: u32) -> Option<f64> {
    let blocks = Blocks::new(samples, rate_hz);
    let mut best: Option<(f64, f64)> = None;
    for f in (SCAN_LOW_HZ..=SCAN_HIGH_HZ).step_by(SCAN_STEP_HZ as usize) {
        let f = f64::from(f);
        let p = blocks.power(f);
        if p > 0.0 && best.is_none_or(|(_, bp)| p > bp) {
            best = Some((f, p));
        }
    }
    best.map(|(f, _)| f)
}

/// How many 100 ms stretches of `samples` are clearly a `freq_hz` tone: loud (RMS above 500,
/// about −33 dBm0) and with their dominant frequency within 10 Hz of it. What a listener would
/// count as "the tone was there", whatever else came between.
#[must_use]
pub fn tone_stretches(samples: &[i16], freq_hz: f64, rate_hz: u32) -> usize {
    let stretch = usize::try_from(rate_hz / 10).unwrap_or(usize::MAX).max(1);
    samples
        .chunks_exact(stretch)
        .filter(|c| rms(c) > 500.0)
        .filter(|c| dominant_frequency(c, rate_hz).is_some_and(|f| (f - freq_hz).abs() <= 10.0))
        .count()
}

/// How much of the power of `samples` is at `freq_hz`: 1.0 for that tone alone, near 0 for
/// anything else, 0 for near-silence (RMS under 200). One Goertzel filter, where
/// [`dominant_frequency`] runs 321: for telling "the music" from "not the music" many times.
#[must_use]
pub fn share(samples: &[i16], freq_hz: f64, rate_hz: u32) -> f64 {
    let power = rms(samples).powi(2);
    if power < 200.0 * 200.0 {
        return 0.0;
    }
    goertzel_power(samples, freq_hz, rate_hz) / power
}

/// ITU-T Q.23: the low-group (row) and high-group (column) frequencies of a key, in Hz.
#[must_use]
pub fn dtmf_frequencies(key: char) -> Option<(f64, f64)> {
    const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLUMNS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    const KEYPAD: [&str; 4] = ["123A", "456B", "789C", "*0#D"];
    KEYPAD.iter().zip(ROWS).find_map(|(keys, row)| {
        keys.chars()
            .position(|k| k == key)
            .map(|column| (row, COLUMNS[column]))
    })
}

/// `n` samples of `key`'s Q.23 tone pair, each of the two tones at `level` (no twist), or
/// `None` for a character that is not a key.
#[must_use]
pub fn dtmf_tone(key: char, level: Dbm0, n: usize, rate_hz: u32) -> Option<Vec<i16>> {
    let (low, high) = dtmf_frequencies(key)?;
    let amplitude = level.amplitude();
    let (a, b) = (
        tone(low, amplitude, n, rate_hz),
        tone(high, amplitude, n, rate_hz),
    );
    Some(
        a.iter()
            .zip(&b)
            .map(|(x, y)| x.saturating_add(*y))
            .collect(),
    )
}

/// Where `needle` best matches `haystack`: the offset and the normalised cross-correlation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    /// The offset in `haystack` of the needle's first sample.
    pub offset: usize,
    /// `Σ h·n / √(Σ h² · Σ n²)` at that offset: 1.0 for the same waveform at any gain, near 0
    /// for unrelated sounds.
    pub correlation: f64,
}

/// The offset (a multiple of `step`) where `needle` is most like `haystack`, with how alike
/// (see [`Match`]); `None` when the needle is longer than the haystack, or either is silent
/// everywhere they could meet. Costs `haystack.len() / step × needle.len()` multiplications:
/// with `step` 160 (one 20 ms packet), seconds of audio take milliseconds.
#[must_use]
pub fn find(haystack: &[i16], needle: &[i16], step: usize) -> Option<Match> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    let energy = |s: &[i16]| s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
    let needle_energy = energy(needle);
    if needle_energy == 0.0 {
        return None;
    }
    let mut best: Option<Match> = None;
    for offset in (0..=haystack.len() - needle.len()).step_by(step.max(1)) {
        let window = &haystack[offset..offset + needle.len()];
        let window_energy = energy(window);
        if window_energy == 0.0 {
            continue;
        }
        let dot: f64 = window
            .iter()
            .zip(needle)
            .map(|(&h, &n)| f64::from(h) * f64::from(n))
            .sum();
        let correlation = dot / (window_energy * needle_energy).sqrt();
        if best.is_none_or(|b| correlation > b.correlation) {
            best = Some(Match {
                offset,
                correlation,
            });
        }
    }
    best
}

/// A buffer cut into analysis blocks, with the window they share (computed once per buffer,
/// not once per frequency of a scan).
struct Blocks<'a> {
    blocks: Vec<&'a [i16]>,
    window: Vec<f64>,
    rate_hz: u32,
}

impl<'a> Blocks<'a> {
    fn new(samples: &'a [i16], rate_hz: u32) -> Blocks<'a> {
        // Truncation wanted: whole samples per block.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let block = ((f64::from(rate_hz) * BLOCK_SECONDS) as usize).max(1);
        let blocks: Vec<&[i16]> = if samples.is_empty() {
            Vec::new()
        } else if samples.len() < block {
            vec![samples]
        } else {
            // A partial last block would need its own window; dropping it loses < 50 ms.
            samples.chunks_exact(block).collect()
        };
        let window = hann(block.min(samples.len()));
        Blocks {
            blocks,
            window,
            rate_hz,
        }
    }

    fn power(&self, freq_hz: f64) -> f64 {
        if self.blocks.is_empty() {
            return 0.0;
        }
        let total: f64 = self
            .blocks
            .iter()
            .map(|b| block_power(b, &self.window, freq_hz, self.rate_hz))
            .sum();
        #[allow(clippy::cast_precision_loss)]
        let n = self.blocks.len() as f64;
        total / n
    }
}

/// A periodic Hann window of `n` points.
fn hann(n: usize) -> Vec<f64> {
    #[allow(clippy::cast_precision_loss)]
    let len = n as f64;
    (0..n)
        .map(|i| {
            #[allow(clippy::cast_precision_loss)]
            let x = i as f64;
            0.5 - 0.5 * (2.0 * PI * x / len).cos()
        })
        .collect()
}

/// Goertzel over one block: `2|X(f)|² / (Σw)²`, so a matched sine of amplitude A gives A²/2.
fn block_power(block: &[i16], window: &[f64], freq_hz: f64, rate_hz: u32) -> f64 {
    let w = 2.0 * PI * freq_hz / f64::from(rate_hz);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0_f64, 0.0_f64);
    for (&x, &win) in block.iter().zip(window) {
        let s = f64::from(x) * win + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    // |X|² from the last two states of the recurrence.
    // Rounding can take it a hair below zero when there is nothing at `freq_hz`.
    let mag2 = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
    let gain: f64 = window.iter().take(block.len()).sum();
    if gain == 0.0 {
        return 0.0;
    }
    2.0 * mag2 / (gain * gain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn minus_ten_dbm0_is_the_g711_reference_level() {
        assert!((Dbm0(0.0).amplitude() - 22_827.0).abs() < 1.0);
        assert!((Dbm0(-10.0).amplitude() - 7_219.0).abs() < 1.0);
        let pcm = tone(1000.0, Dbm0(-10.0).amplitude(), 8000, 8000);
        // RMS of a sine is its peak over √2.
        assert!((rms(&pcm) - 7_219.0 / 2f64.sqrt()).abs() < 2.0);
    }

    #[test]
    fn the_power_at_a_tone_is_its_mean_square_and_elsewhere_almost_nothing() {
        for f in [440.0, 600.0, 1000.0, 2000.0, 3300.0] {
            let pcm = tone(f, 10_000.0, 4000, 8000);
            let p = goertzel_power(&pcm, f, 8000);
            assert!((p / 50_000_000.0 - 1.0).abs() < 0.01, "{f}: {p}");
            for other in [300.0, 1500.0, 2500.0] {
                if (other - f).abs() > 100.0 {
                    assert!(
                        goertzel_power(&pcm, other, 8000) < p * 1e-6,
                        "{f} at {other}"
                    );
                }
            }
        }
    }

    #[test]
    fn two_tones_are_told_apart_by_their_powers() {
        let a = tone(1000.0, 8000.0, 8000, 8000);
        let b = tone(2000.0, 2000.0, 8000, 8000);
        let mix: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        let ratio = goertzel_power(&mix, 2000.0, 8000) / goertzel_power(&mix, 1000.0, 8000);
        assert!((ratio - 1.0 / 16.0).abs() < 0.001, "{ratio}");
        assert_eq!(dominant_frequency(&mix, 8000), Some(1000.0));
    }

    #[test]
    fn silence_has_no_dominant_frequency_and_short_buffers_still_measure() {
        assert_eq!(dominant_frequency(&[0; 800], 8000), None);
        assert_eq!(dominant_frequency(&[], 8000), None);
        assert_eq!(rms(&[]), 0.0);
        let short = tone(1000.0, 5000.0, 160, 8000);
        assert_eq!(dominant_frequency(&short, 8000), Some(1000.0));
    }

    #[test]
    fn gaps_between_blocks_do_not_move_the_peak() {
        // A tone with every other 20 ms silent, like audio around DTMF events or lost packets.
        let mut pcm = tone(600.0, 6000.0, 16_000, 8000);
        for (i, frame) in pcm.chunks_mut(160).enumerate() {
            if i % 2 == 1 {
                frame.fill(0);
            }
        }
        assert_eq!(dominant_frequency(&pcm, 8000), Some(600.0));
    }

    #[test]
    fn stretches_of_a_tone_are_counted_and_quiet_or_other_ones_are_not() {
        let mut pcm = tone(1100.0, 6000.0, 8000, 8000); // 10 stretches
        pcm.extend(tone(1100.0, 300.0, 4000, 8000)); // 5 too quiet
        pcm.extend(tone(600.0, 6000.0, 4000, 8000)); // 5 of another tone
        assert_eq!(tone_stretches(&pcm, 1100.0, 8000), 10);
        assert_eq!(tone_stretches(&pcm, 600.0, 8000), 5);
        assert_eq!(tone_stretches(&[], 600.0, 8000), 0);
    }

    #[test]
    fn the_share_of_a_tone_is_one_alone_and_small_beside_a_louder_one() {
        let a = tone(440.0, 6000.0, 1600, 8000);
        assert!((share(&a, 440.0, 8000) - 1.0).abs() < 0.01);
        assert!(share(&a, 600.0, 8000) < 0.01);
        let b = tone(1100.0, 12_000.0, 1600, 8000);
        let mix: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        assert!(
            (share(&mix, 440.0, 8000) - 0.2).abs() < 0.02,
            "{}",
            share(&mix, 440.0, 8000)
        );
        assert_eq!(share(&tone(440.0, 100.0, 1600, 8000), 440.0, 8000), 0.0);
    }

    #[test]
    fn every_key_is_its_row_and_column_pair() {
        assert_eq!(dtmf_frequencies('1'), Some((697.0, 1209.0)));
        assert_eq!(dtmf_frequencies('0'), Some((941.0, 1336.0)));
        assert_eq!(dtmf_frequencies('#'), Some((941.0, 1477.0)));
        assert_eq!(dtmf_frequencies('D'), Some((941.0, 1633.0)));
        assert_eq!(dtmf_frequencies('x'), None);
        let pair = dtmf_tone('5', Dbm0(-10.0), 800, 8000).unwrap();
        let (p770, p1336) = (
            goertzel_power(&pair, 770.0, 8000),
            goertzel_power(&pair, 1336.0, 8000),
        );
        // Two tones of one level: each holds half the power, and they are equal.
        assert!((p770 / p1336 - 1.0).abs() < 0.05, "{p770} {p1336}");
        assert!((p770 / rms(&pair).powi(2) - 0.5).abs() < 0.02);
        assert_eq!(dtmf_tone('?', Dbm0(-10.0), 800, 8000), None);
    }

    #[test]
    fn a_sound_is_found_where_it_is_and_not_mistaken_for_another() {
        let needle: Vec<i16> = tone(440.0, 3000.0, 800, 8000)
            .iter()
            .zip(tone(1250.0, 2000.0, 800, 8000))
            .map(|(a, b)| a + b)
            .collect();
        let mut haystack = vec![0i16; 8000];
        haystack[3200..4000].copy_from_slice(&needle);
        let found = find(&haystack, &needle, 160).unwrap();
        assert_eq!(found.offset, 3200);
        assert!((found.correlation - 1.0).abs() < 1e-9);
        // Louder or softer, the same sound.
        let loud: Vec<i16> = needle.iter().map(|&x| x * 3).collect();
        assert!(find(&haystack, &loud, 160).unwrap().correlation > 0.999);
        // Another sound in the same place scores low.
        let other = tone(600.0, 3000.0, 800, 8000);
        assert!(find(&haystack, &other, 160).unwrap().correlation < 0.3);
        assert_eq!(find(&haystack[..100], &needle, 160), None);
        assert_eq!(find(&[0; 8000], &needle, 160), None);
        assert_eq!(find(&haystack, &[0; 100], 160), None);
    }

    proptest! {
        // Each case scans 321 frequencies of an unoptimised build: fewer cases than usual.
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_dominant_frequency_of_a_tone_is_within_5_hz(f in 250.0f64..3350.0,
                                                           amp in 300.0f64..20_000.0) {
            let pcm = tone(f, amp, 1600, 8000);
            let found = dominant_frequency(&pcm, 8000).unwrap();
            prop_assert!((found - f).abs() <= 5.0 + 1e-9, "{} for {}", found, f);
        }

        #[test]
        fn find_is_bounded_and_never_panics(
            haystack in proptest::collection::vec(any::<i16>(), 0..1200),
            needle in proptest::collection::vec(any::<i16>(), 0..300),
            step in 0usize..400,
        ) {
            if let Some(m) = find(&haystack, &needle, step) {
                prop_assert!(m.offset + needle.len() <= haystack.len());
                prop_assert!(m.correlation.abs() <= 1.0 + 1e-9);
            }
        }

        #[test]
        fn analysis_never_panics(samples in proptest::collection::vec(any::<i16>(), 0..2000)) {
            let _ = dominant_frequency(&samples, 8000);
            prop_assert!(rms(&samples) >= 0.0);
            prop_assert!(goertzel_power(&samples, 1000.0, 8000) >= 0.0);
        }
    }
}
