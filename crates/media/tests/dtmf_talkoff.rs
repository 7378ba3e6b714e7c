//! Talk-off: speech and music must never be taken for a key.
//!
//! The speech is synthetic English and French, male and female voices, from
//! `tests/data/make_talkoff_speech.sh` (espeak-ng, resampled to 8 kHz by SoX), played loud,
//! quiet, through A-law and with noise. The music is synthesised here: chords with a piano's
//! harmonics, notes that sit right on two key frequencies, sweeps. Each test also checks that a
//! real key after the same material *is* found, so the detector is not simply deaf.

use std::f64::consts::TAU;
use std::time::{Duration, Instant};

use switchboard_media::dtmf::inband::{Detector, DetectorConfig};
use switchboard_media::dtmf::{Digit, DtmfEdge};
use switchboard_media::g711::alaw;
use switchboard_media::tone::{Dbm0, DtmfLevels, Tone, ToneGenerator};

fn speech(lang: &str) -> Vec<i16> {
    let path = format!(
        "{}/tests/data/talkoff_{lang}.wav",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut reader = hound::WavReader::open(&path).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8_000, 1, 16)
    );
    reader.samples::<i16>().map(Result::unwrap).collect()
}

/// The keys found in `x`, fed as 20 ms frames.
fn keys(x: &[i16]) -> String {
    let mut det = Detector::new(DetectorConfig::default());
    let t0 = Instant::now();
    let mut found = String::new();
    for (i, frame) in x.chunks(160).enumerate() {
        det.handle_frame(t0 + Duration::from_millis(20 * i as u64), frame);
        while let Some(edge) = det.poll_output() {
            if let DtmfEdge::Begin { digit, .. } = edge {
                found.push(digit.as_char());
            }
        }
    }
    found
}

/// `x`, then 200 ms of silence and a 60 ms '5': what a caller pressing a key after the prompt
/// sends. The key must be found, and nothing else.
fn then_a_key(x: &[i16]) -> Vec<i16> {
    let mut out = x.to_vec();
    out.extend(std::iter::repeat_n(0, 1_600));
    let tone = Tone::dtmf(
        Digit::Five,
        DtmfLevels::default(),
        Duration::from_millis(60),
    );
    let mut g = ToneGenerator::new(&tone, 8_000).unwrap();
    let mut key = vec![0_i16; 480 + 800];
    g.fill(&mut key);
    out.extend(key);
    out
}

fn scaled(x: &[i16], db: f64) -> Vec<i16> {
    let g = 10_f64.powf(db / 20.0);
    x.iter()
        .map(|&s| (f64::from(s) * g).round() as i16)
        .collect()
}

#[test]
fn speech_is_not_a_key() {
    for lang in ["en", "fr"] {
        let x = speech(lang);
        assert!(x.len() > 8 * 8_000, "{lang}: at least 8 s of speech");
        assert_eq!(keys(&x), "", "{lang}, loud");
        assert_eq!(keys(&scaled(&x, -20.0)), "", "{lang}, 20 dB quieter");
        let through_alaw: Vec<i16> = x.iter().map(|&s| alaw::decode(alaw::encode(s))).collect();
        assert_eq!(keys(&through_alaw), "", "{lang}, through A-law");
        // Sped up and slowed down by resampling crudely (pitch and formants move with it).
        for (num, den) in [(3_usize, 4_usize), (5, 4)] {
            let resampled: Vec<i16> = (0..x.len() * den / num).map(|i| x[i * num / den]).collect();
            assert_eq!(keys(&resampled), "", "{lang}, resampled {num}/{den}");
        }
        assert_eq!(keys(&then_a_key(&x)), "5", "{lang}: a key after the speech");
    }
}

#[test]
fn speech_in_noise_is_not_a_key() {
    let mut state = 0x00DD_BA11_u64;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f64 / f64::from(1_u32 << 24) - 0.5
    };
    for lang in ["en", "fr"] {
        let x: Vec<i16> = speech(lang)
            .iter()
            .map(|&s| (f64::from(s) + 2_000.0 * noise()).round() as i16)
            .collect();
        assert_eq!(keys(&x), "", "{lang} in noise");
    }
}

/// A note with a piano-like timbre: harmonics 1–5 at falling levels, decaying.
fn note(freq: f64, ms: usize, decay: bool) -> Vec<f64> {
    let n = ms * 8;
    (0..n)
        .map(|i| {
            let t = i as f64 / 8_000.0;
            let env = if decay { (-3.0 * t).exp() } else { 1.0 };
            let mut v = 0.0;
            for (h, a) in [(1.0, 1.0), (2.0, 0.5), (3.0, 0.3), (4.0, 0.15), (5.0, 0.08)] {
                if freq * h < 3_900.0 {
                    v += a * (TAU * freq * h * t).sin();
                }
            }
            env * v
        })
        .collect()
}

fn mix(parts: &[Vec<f64>], peak: f64) -> Vec<i16> {
    let n = parts.iter().map(Vec::len).max().unwrap_or(0);
    let mut sum = vec![0.0; n];
    for p in parts {
        for (s, v) in sum.iter_mut().zip(p) {
            *s += v;
        }
    }
    let max = sum.iter().fold(0.0_f64, |m, v| m.max(v.abs())).max(1e-9);
    sum.iter()
        .map(|v| (v / max * peak).round() as i16)
        .collect()
}

/// Equal-tempered note `semitones` from A4 = 440 Hz.
fn pitch(semitones: i32) -> f64 {
    440.0 * 2_f64.powf(f64::from(semitones) / 12.0)
}

#[test]
fn chords_and_melodies_are_not_keys() {
    // I–vi–IV–V in C, two octaves, piano-like, 600 ms each; then the same held like an organ.
    let chords: [[i32; 3]; 4] = [[-9, -5, -2], [0, 3, 7], [-4, 0, 3], [-2, 2, 5]];
    let mut x = Vec::new();
    for decay in [true, false] {
        for chord in chords {
            for octave in [0, 12] {
                let parts: Vec<Vec<f64>> = chord
                    .iter()
                    .map(|&s| note(pitch(s + octave), 600, decay))
                    .collect();
                x.extend(mix(&parts, 20_000.0));
            }
        }
    }
    // A melody in the key frequencies' range (F5 to C7), one note at a time.
    for s in [8, 12, 15, 20, 24, 27, 32, 36, 39, 27, 20, 15] {
        x.extend(mix(&[note(pitch(s), 250, false)], 16_000.0));
    }
    assert_eq!(keys(&x), "");
    assert_eq!(keys(&then_a_key(&x)), "5");
}

#[test]
fn two_notes_right_on_key_frequencies_are_not_a_key_because_of_their_harmonics() {
    // F5 (698.5 Hz) and E6 (1318.5 Hz) are within 0.2 % and 1.3 % of the frequencies of key 2.
    // As instrument notes (with harmonics) they must not be a key…
    let (f5, e6) = (pitch(8), pitch(19));
    assert!((f5 / 697.0 - 1.0).abs() < 0.003 && (e6 / 1336.0 - 1.0).abs() < 0.015);
    for decay in [false, true] {
        let x = mix(&[note(f5, 1_000, decay), note(e6, 1_000, decay)], 20_000.0);
        assert_eq!(keys(&x), "", "decay {decay}");
    }
    // …while the same two frequencies as pure sines are, physically, key 2: the harmonics are
    // what tell the music apart.
    let pure = |f: f64| {
        (0..8_000)
            .map(|i| (TAU * f * i as f64 / 8_000.0).sin())
            .collect::<Vec<_>>()
    };
    let x = mix(&[pure(f5), pure(e6)], 12_000.0);
    assert_eq!(keys(&x), "2");
}

#[test]
fn sweeps_are_not_keys() {
    // A phase-continuous linear sweep from f0 to f1 over `ms`.
    let sweep = |f0: f64, f1: f64, ms: usize| -> Vec<f64> {
        let n = ms * 8;
        let mut phase = 0.0;
        (0..n)
            .map(|i| {
                let f = f0 + (f1 - f0) * i as f64 / n as f64;
                phase += TAU * f / 8_000.0;
                phase.sin()
            })
            .collect()
    };
    let mut x = Vec::new();
    for ms in [500, 1_000, 3_000] {
        x.extend(mix(&[sweep(300.0, 3_400.0, ms)], 16_000.0));
        x.extend(mix(&[sweep(3_400.0, 300.0, ms)], 16_000.0));
    }
    // Two sweeps at once, each through its key group and in step, so that they cross the
    // diagonal keys 1, 5, 9, D together (at 1.75 and 2.75 kHz/s). (Slower, they would hold
    // two key frequencies within 1.5 % for 40 ms: by Q.24's definition, a key.)
    x.extend(mix(
        &[sweep(650.0, 1_000.0, 200), sweep(1_150.0, 1_700.0, 200)],
        20_000.0,
    ));
    x.extend(mix(
        &[sweep(1_000.0, 650.0, 200), sweep(1_150.0, 1_700.0, 200)],
        20_000.0,
    ));
    assert_eq!(keys(&x), "");
    assert_eq!(keys(&then_a_key(&x)), "5");
}

#[test]
fn single_key_frequencies_and_three_at_once_are_not_keys() {
    let pure = |f: f32, db: f32| {
        let peak = f64::from(Dbm0(db).sine_peak());
        (0..4_000).map(move |i| peak * (TAU * f64::from(f) * i as f64 / 8_000.0).sin())
    };
    let (rows, cols) = (
        switchboard_media::dtmf::ROW_FREQUENCIES,
        switchboard_media::dtmf::COLUMN_FREQUENCIES,
    );
    let mut x: Vec<i16> = Vec::new();
    // One frequency alone (a test tone, a whistle).
    for &f in rows.iter().chain(&cols) {
        x.extend(pure(f, -6.0).map(|v| v.round() as i16));
    }
    // Three at once, equally loud: no one key holds enough of the energy.
    for (&r, (&c1, &c2)) in rows.iter().zip(cols.iter().zip(cols.iter().skip(1))) {
        x.extend(
            pure(r, -10.0)
                .zip(pure(c1, -10.0))
                .zip(pure(c2, -10.0))
                .map(|((a, b), c)| (a + b + c).round() as i16),
        );
    }
    assert_eq!(keys(&x), "");
}
