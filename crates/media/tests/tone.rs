//! Tone generation: the frequencies, levels and cadences that come out, measured on the samples
//! (Goertzel power at the expected frequencies against the total energy, zero runs counted
//! sample by sample), at 8, 16 and 48 kHz.

use std::f64::consts::TAU;
use std::time::Duration;

use proptest::prelude::*;
use switchboard_media::dtmf::Digit;
use switchboard_media::tone::{
    Component, Dbm0, DtmfLevels, FULL_SCALE_DBM0, Step, Tone, ToneError, ToneGenerator, TonePlan,
};

/// Mean square of `x` at frequency `f` (sample rate `rate`) as a Goertzel-free direct DFT:
/// `2|X|²/N²`, which is the mean square of a sine of that frequency over whole cycles.
fn tone_power(x: &[i16], f: f64, rate: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (n, &s) in x.iter().enumerate() {
        let w = TAU * f * n as f64 / rate;
        re += f64::from(s) * w.cos();
        im -= f64::from(s) * w.sin();
    }
    let n = x.len() as f64;
    2.0 * (re * re + im * im) / (n * n)
}

fn mean_square(x: &[i16]) -> f64 {
    x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64
}

fn render(tone: &Tone, rate: u32, samples: usize) -> Vec<i16> {
    let mut g = ToneGenerator::new(tone, rate).unwrap();
    let mut out = vec![0_i16; samples];
    // Odd chunk sizes: the cadence must not depend on how the caller slices its buffers.
    for chunk in out.chunks_mut(37) {
        g.fill(chunk);
    }
    out
}

/// Samples of tone per step, `ms` at `rate`.
fn samples(ms: u64, rate: u32) -> usize {
    usize::try_from(ms * u64::from(rate) / 1000).unwrap()
}

#[test]
fn zero_dbm0_is_the_g711_reference_level() {
    // +3.14 dBm0 is full scale, so 0 dBm0 is 3.14 dB below a peak of 32,768.
    assert!(
        (Dbm0(0.0).sine_peak() - 22_827.0).abs() < 1.0,
        "{}",
        Dbm0(0.0).sine_peak()
    );
    assert!((Dbm0(FULL_SCALE_DBM0).sine_peak() - 32_768.0).abs() < 0.5);
    assert!((Dbm0(-20.0).sine_peak() - 2_282.7).abs() < 0.5);
    for level in [-40.0_f32, -13.0, 0.0, 3.0] {
        let back = Dbm0::of_power(Dbm0(level).sine_power()).0;
        assert!((back - level).abs() < 1e-4, "{level} -> {back}");
    }
}

#[test]
fn every_plan_tone_has_its_frequencies_and_levels_and_nothing_else() {
    for plan in TonePlan::all() {
        for (name, tone) in [
            ("dial", plan.dial()),
            ("ringback", plan.ringback()),
            ("busy", plan.busy()),
            ("congestion", plan.congestion()),
        ] {
            for rate in [8_000_u32, 16_000, 48_000] {
                // The first 200 ms are "on" for every tone we have (the shortest burst is
                // the UK's 225 ms); 200 ms is a whole number of cycles of every frequency
                // here (all multiples of 5 Hz), so the DFT sees no leakage.
                let x = render(tone, rate, samples(200, rate));
                let total = mean_square(&x);
                let mut in_tones = 0.0;
                for c in tone.components() {
                    let p = tone_power(&x, f64::from(c.frequency), f64::from(rate));
                    let db = Dbm0::of_power(p as f32).0;
                    assert!(
                        (db - c.level.0).abs() < 0.05,
                        "{} {name} {} Hz at {rate}: {db} dBm0, want {}",
                        plan.country,
                        c.frequency,
                        c.level.0
                    );
                    in_tones += p;
                }
                // The listed sines hold all the energy (quantisation to 16 bits aside).
                assert!(
                    in_tones / total > 0.9999,
                    "{} {name} at {rate}",
                    plan.country
                );
            }
        }
    }
}

/// Lengths of the alternating runs (non-silent, silent, …) of `x`, where a silent run is at
/// least `min_zeros` zero samples (a sine crosses zero on a sample now and then).
fn runs(x: &[i16], min_zeros: usize) -> Vec<(bool, usize)> {
    let mut out: Vec<(bool, usize)> = Vec::new();
    let mut i = 0;
    while i < x.len() {
        let zeros = x[i..].iter().take_while(|&&s| s == 0).count();
        let on = zeros < min_zeros;
        let len = if on {
            // Up to the next run of `min_zeros` zeros.
            let mut j = i;
            while j < x.len() && x[j..].iter().take(min_zeros).any(|&s| s != 0) {
                j += 1;
            }
            j - i
        } else {
            zeros
        };
        match out.last_mut() {
            Some((o, l)) if *o == on => *l += len,
            _ => out.push((on, len)),
        }
        i += len;
    }
    out
}

/// What `tone` must produce, built independently of the generator's cadence logic: while a
/// step is on, the next sample of the same sines played continuously (the sines hold their
/// phase while the tone is off); while off, silence.
fn expected_with_cadence(tone: &Tone, rate: u32, n: usize) -> Vec<i16> {
    let continuous = Tone::new(tone.components(), &[], true).unwrap();
    let mut sines = render(&continuous, rate, n).into_iter();
    let pattern: Vec<bool> = tone
        .cadence()
        .iter()
        .flat_map(|s| std::iter::repeat_n(s.on, samples(s.duration.as_millis() as u64, rate)))
        .collect();
    (0..n)
        .map(|i| {
            if pattern[i % pattern.len()] {
                sines.next().unwrap()
            } else {
                0
            }
        })
        .collect()
}

#[test]
fn cadences_are_exact_in_samples() {
    for plan in TonePlan::all() {
        for tone in [plan.ringback(), plan.busy(), plan.congestion()] {
            for rate in [8_000_u32, 16_000, 48_000] {
                let period: u64 = tone
                    .cadence()
                    .iter()
                    .map(|s| s.duration.as_millis() as u64)
                    .sum();
                // Two whole periods and a bit.
                let n = samples(2 * period + 100, rate);
                let x = render(tone, rate, n);
                let expected = expected_with_cadence(tone, rate, n);
                for (i, (a, b)) in x.iter().zip(&expected).enumerate() {
                    // Off samples exactly silent; on samples the sines, to the last bit of
                    // rounding (the phasor is renormalised once per fill call).
                    assert!(
                        (a - b).abs() <= i16::from(*b != 0),
                        "{} at {rate} Hz, sample {i}: {a} vs {b}",
                        plan.country
                    );
                }
            }
        }
    }
    // And the boundaries where the brief puts them, counted in samples at 8 kHz.
    // (440 Hz at 8 kHz is 11 cycles in 200 samples: it is exactly 0 every 100 samples, never
    // twice in a row.)
    let fr = render(TonePlan::france().ringback(), 8_000, 40_002);
    assert!(fr[..12_000].windows(2).all(|w| w != [0, 0]));
    assert!(fr[12_000..40_000].iter().all(|&s| s == 0));
    assert!(fr[40_000..].windows(2).all(|w| w != [0, 0]));
    let uk = render(TonePlan::uk().congestion(), 8_000, 12_000);
    assert!(uk[3_200..6_000].iter().all(|&s| s == 0) && uk[6_000..7_800].iter().any(|&s| s != 0));
    assert!(uk[7_800..12_000].iter().all(|&s| s == 0));
}

#[test]
fn dial_tones_never_stop() {
    for plan in TonePlan::all() {
        assert!(plan.dial().cadence().is_empty());
        let x = render(plan.dial(), 8_000, 80_000);
        assert_eq!(runs(&x, 3), vec![(true, 80_000)], "{}", plan.country);
    }
}

#[test]
fn phase_continuous_across_any_buffer_sizes() {
    let tone = TonePlan::us().dial();
    let mut whole = ToneGenerator::new(tone, 8_000).unwrap();
    let mut reference = vec![0_i16; 4_000];
    whole.fill(&mut reference);
    for chunk in [1_usize, 7, 160, 333] {
        let mut g = ToneGenerator::new(tone, 8_000).unwrap();
        let mut out = vec![0_i16; 4_000];
        for c in out.chunks_mut(chunk) {
            g.fill(c);
        }
        // Identical up to the rounding of the last bit (the phasor is renormalised per call).
        let worst = out
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .max()
            .unwrap();
        assert!(worst <= 1, "chunk {chunk}: {worst}");
    }
    // No jump between samples larger than the steepest slope of the sum of sines allows.
    let peak_slope: f64 = tone
        .components()
        .iter()
        .map(|c| f64::from(c.level.sine_peak()) * TAU * f64::from(c.frequency) / 8_000.0)
        .sum();
    let worst = reference
        .windows(2)
        .map(|w| f64::from((w[1] - w[0]).abs()))
        .fold(0.0, f64::max);
    assert!(worst <= peak_slope + 1.0, "{worst} > {peak_slope}");
    assert_eq!(reference[0], 0, "starts at sin 0: no click");
}

#[test]
fn stays_accurate_over_a_minute() {
    // The phasor is renormalised each call, so the level does not drift over long tones.
    let tone = TonePlan::france().dial();
    let mut g = ToneGenerator::new(tone, 8_000).unwrap();
    let mut frame = [0_i16; 160];
    for _ in 0..3_000 {
        g.fill(&mut frame);
    }
    let mut last = [0_i16; 8_000];
    g.fill(&mut last);
    let db = Dbm0::of_power(tone_power(&last, 440.0, 8_000.0) as f32).0;
    assert!((db + 13.0).abs() < 0.05, "{db}");
}

#[test]
fn dtmf_key_tones() {
    for digit in Digit::ALL {
        let tone = Tone::dtmf(digit, DtmfLevels::default(), Duration::from_millis(45));
        let mut g = ToneGenerator::new(&tone, 8_000).unwrap();
        let mut x = vec![0_i16; 800];
        g.fill(&mut x);
        assert!(g.is_finished());
        // 45 ms = 360 samples of tone, then silence.
        assert!(x[360..].iter().all(|&s| s == 0), "{digit}");
        assert_eq!(runs(&x, 3)[0], (true, 360), "{digit}");
        let (low, high) = digit.frequencies();
        let on = &x[..360];
        let p_low = Dbm0::of_power(tone_power(on, f64::from(low), 8_000.0) as f32).0;
        let p_high = Dbm0::of_power(tone_power(on, f64::from(high), 8_000.0) as f32).0;
        // 45 ms is not a whole number of cycles: allow for a little leakage.
        assert!((p_low + 8.0).abs() < 0.3, "{digit}: low at {p_low} dBm0");
        assert!((p_high + 6.0).abs() < 0.3, "{digit}: high at {p_high} dBm0");
    }
}

#[test]
fn loud_sums_saturate_instead_of_wrapping() {
    let tone = Tone::new(
        &[Component::new(1000.0, 3.0), Component::new(1000.0, 3.0)],
        &[],
        true,
    )
    .unwrap();
    let x = render(&tone, 8_000, 800);
    assert!(x.contains(&i16::MAX) && x.contains(&i16::MIN));
    // Saturated, not wrapped: the sign follows the sine.
    assert!(
        x.windows(2)
            .all(|w| (i32::from(w[1]) - i32::from(w[0])).abs() < 40_000)
    );
}

#[test]
fn country_lookup() {
    assert_eq!(TonePlan::by_country("FR").map(|p| p.country), Some("FR"));
    assert_eq!(TonePlan::by_country("fr").map(|p| p.country), Some("FR"));
    assert_eq!(TonePlan::by_country("UK").map(|p| p.country), Some("GB"));
    assert_eq!(TonePlan::by_country("ca").map(|p| p.country), Some("US"));
    assert_eq!(TonePlan::by_country("de").map(|p| p.country), Some("DE"));
    assert!(TonePlan::by_country("XX").is_none());
    assert!(TonePlan::by_country("").is_none());
    assert!(TonePlan::by_country("FRA").is_none());
    // The frequencies the brief and E.180 Supplement 2 give.
    let fr = TonePlan::france();
    assert_eq!(fr.ringback().cadence(), &[Step::on(1500), Step::off(3500)]);
    assert_eq!(fr.ringback().components()[0].frequency, 440.0);
    let us = TonePlan::us();
    let freqs = |t: &Tone| {
        t.components()
            .iter()
            .map(|c| c.frequency)
            .collect::<Vec<_>>()
    };
    assert_eq!(freqs(us.ringback()), [440.0, 480.0]);
    assert_eq!(freqs(us.busy()), [480.0, 620.0]);
    assert_eq!(freqs(us.congestion()), [480.0, 620.0]);
    assert_eq!(freqs(us.dial()), [350.0, 440.0]);
}

#[test]
fn invalid_tones_are_errors() {
    let c = Component::new(440.0, -10.0);
    assert_eq!(Tone::new(&[], &[], true), Err(ToneError::ComponentCount(0)));
    assert_eq!(
        Tone::new(&[c; 5], &[], true),
        Err(ToneError::ComponentCount(5))
    );
    assert_eq!(
        Tone::new(&[c], &[Step::on(1); 9], true),
        Err(ToneError::StepCount(9))
    );
    assert_eq!(
        Tone::new(&[Component::new(440.0, f32::NAN)], &[], true),
        Err(ToneError::Level)
    );
    assert_eq!(
        Tone::new(&[Component::new(-1.0, 0.0)], &[], true),
        Err(ToneError::InvalidFrequency(-1.0))
    );
    let tone = Tone::new(&[Component::new(5_000.0, -10.0)], &[], true).unwrap();
    assert_eq!(
        ToneGenerator::new(&tone, 8_000).err(),
        Some(ToneError::Frequency {
            frequency: 5_000.0,
            sample_rate: 8_000
        })
    );
    assert!(ToneGenerator::new(&tone, 16_000).is_ok());
    assert_eq!(
        ToneGenerator::new(&tone, 4_000).err(),
        Some(ToneError::SampleRate(4_000))
    );
    let empty = Tone::new(&[c], &[Step::on(0), Step::off(0)], true).unwrap();
    assert_eq!(
        ToneGenerator::new(&empty, 8_000).err(),
        Some(ToneError::EmptyCadence)
    );
}

proptest! {
    /// Any valid tone, any buffer sizes: no panic, and silence exactly where the cadence is off.
    #[test]
    fn any_tone_renders_its_cadence(
        freqs in prop::collection::vec(50.0_f32..3_900.0, 1..=4),
        level in -60.0_f32..3.0,
        steps in prop::collection::vec((any::<bool>(), 0_u64..40), 0..=8),
        repeat in any::<bool>(),
        chunks in prop::collection::vec(1_usize..400, 1..20),
    ) {
        let comps: Vec<Component> = freqs.iter().map(|&f| Component::new(f, level)).collect();
        let cadence: Vec<Step> =
            steps.iter().map(|&(on, ms)| if on { Step::on(ms) } else { Step::off(ms) }).collect();
        let tone = Tone::new(&comps, &cadence, repeat).unwrap();
        let Ok(mut g) = ToneGenerator::new(&tone, 8_000) else {
            // Only a repeating all-zero cadence is refused.
            prop_assert!(repeat && !cadence.is_empty() && steps.iter().all(|s| s.1 == 0));
            return Ok(());
        };
        let total: usize = chunks.iter().sum();
        let mut out = vec![1_i16; total];
        let mut at = 0;
        for c in &chunks {
            g.fill(&mut out[at..at + c]);
            at += c;
        }
        // Expected on/off per sample from the cadence, computed independently.
        let pattern: Vec<bool> = steps
            .iter()
            .flat_map(|&(on, ms)| std::iter::repeat_n(on, usize::try_from(ms * 8).unwrap()))
            .collect();
        for (i, &s) in out.iter().enumerate() {
            let on = if cadence.is_empty() {
                true
            } else if repeat {
                pattern[i % pattern.len()]
            } else {
                pattern.get(i).copied().unwrap_or(false)
            };
            if !on {
                prop_assert_eq!(s, 0, "sample {} should be silent", i);
            }
        }
    }
}
