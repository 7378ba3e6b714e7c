//! Signal generation and measurement shared by the codec tests.

#![allow(dead_code)] // each test binary uses a different subset

use std::f64::consts::TAU;

/// `n` samples of a sine of `freq` Hz at `rate` Hz, peak `amp`.
pub fn sine(freq: f64, rate: u32, amp: f64, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let v = amp * (TAU * freq * i as f64 / f64::from(rate)).sin();
            v.round().clamp(-32_768.0, 32_767.0) as i16
        })
        .collect()
}

/// A speech-like test signal: a 140 Hz voiced source (11 harmonics, 1/h amplitude) whose pitch
/// wobbles ±30 Hz at 3 Hz, amplitude-modulated at 4 Hz, peak about `amp`.
pub fn voice(rate: u32, amp: f64, n: usize) -> Vec<i16> {
    let mut phase = 0.0_f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let f0 = 140.0 + 30.0 * (TAU * 3.0 * t).sin();
            phase += TAU * f0 / f64::from(rate);
            let mut s = 0.0;
            for h in 1..=11 {
                if f64::from(h) * f0 < f64::from(rate) / 2.0 {
                    s += (phase * f64::from(h)).sin() / f64::from(h);
                }
            }
            let env = 0.6 + 0.4 * (TAU * 4.0 * t).sin();
            (amp / 2.0 * s * env).round().clamp(-32_768.0, 32_767.0) as i16
        })
        .collect()
}

/// Signal-to-noise ratio in dB of `decoded` against `reference`, at the delay (0..=`max_delay`
/// samples, `decoded` lagging) that maximises it, over `reference[skip..]`. Returns
/// `(delay, snr_db)`.
pub fn aligned_snr(
    reference: &[i16],
    decoded: &[i16],
    skip: usize,
    max_delay: usize,
) -> (usize, f64) {
    let mut best = (0, f64::NEG_INFINITY);
    for delay in 0..=max_delay {
        let end = reference.len().min(decoded.len().saturating_sub(delay));
        if end <= skip {
            continue;
        }
        let (mut sig, mut err) = (0.0_f64, 0.0_f64);
        for i in skip..end {
            let r = f64::from(reference[i]);
            let d = f64::from(decoded[i + delay]);
            sig += r * r;
            err += (r - d) * (r - d);
        }
        let snr = 10.0 * (sig / err.max(1e-9)).log10();
        if snr > best.1 {
            best = (delay, snr);
        }
    }
    best
}

/// Frequency in Hz of a (near) sinusoid, from its rising zero crossings interpolated linearly
/// between samples, over `x[skip..]`.
pub fn frequency(x: &[i16], rate: u32, skip: usize) -> f64 {
    let mut first = None;
    let mut last = 0.0;
    let mut count = 0_u32;
    for i in skip.max(1)..x.len() {
        let (a, b) = (f64::from(x[i - 1]), f64::from(x[i]));
        if a < 0.0 && b >= 0.0 {
            let t = (i - 1) as f64 + a / (a - b);
            if first.is_none() {
                first = Some(t);
            } else {
                count += 1;
            }
            last = t;
        }
    }
    match first {
        Some(f) if count > 0 => f64::from(count) * f64::from(rate) / (last - f),
        _ => 0.0,
    }
}

/// Root-mean-square level of `x`.
pub fn rms(x: &[i16]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Amplitude (peak) of the `freq` Hz component of `x`, by a single-bin DFT over whole periods.
pub fn tone_amplitude(x: &[i16], rate: u32, freq: f64) -> f64 {
    let period = f64::from(rate) / freq;
    let periods = (x.len() as f64 / period).floor();
    let n = (periods * period).round() as usize;
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &s) in x[..n.min(x.len())].iter().enumerate() {
        let w = TAU * freq * i as f64 / f64::from(rate);
        re += f64::from(s) * w.cos();
        im += f64::from(s) * w.sin();
    }
    2.0 * (re * re + im * im).sqrt() / n.max(1) as f64
}
