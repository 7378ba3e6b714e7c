//! In-band DTMF detection against the ITU-T Q.24 limits, on signals from our tone generator:
//! each tolerance tested on both sides of its edge, for all sixteen keys and at many positions
//! of the tone relative to the detector's analysis windows; noise from a seeded generator;
//! G.711 on the way; fast sequences; and frames of any length. Talk-off (speech, music) is in
//! `dtmf_talkoff.rs`.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use switchboard_media::dtmf::inband::{Detector, DetectorConfig, HOP};
use switchboard_media::dtmf::{Digit, DtmfEdge, DtmfEvent, DtmfSource};
use switchboard_media::g711::{alaw, ulaw};
use switchboard_media::tone::{Component, Step, Tone, ToneGenerator};

const RATE: u32 = 8_000;

/// One key tone: frequencies off by `dev` (relative, low and high), levels in dBm0, `ms` long.
#[derive(Debug, Clone, Copy)]
struct Key {
    digit: Digit,
    low_dev: f32,
    high_dev: f32,
    low_db: f32,
    high_db: f32,
    ms: u64,
}

impl Key {
    fn new(digit: Digit) -> Key {
        Key {
            digit,
            low_dev: 0.0,
            high_dev: 0.0,
            low_db: -8.0,
            high_db: -6.0,
            ms: 100,
        }
    }

    fn samples(self) -> Vec<i16> {
        let (low, high) = self.digit.frequencies();
        let tone = Tone::new(
            &[
                Component::new(low * (1.0 + self.low_dev), self.low_db),
                Component::new(high * (1.0 + self.high_dev), self.high_db),
            ],
            &[Step::on(self.ms)],
            false,
        )
        .unwrap();
        let mut g = ToneGenerator::new(&tone, RATE).unwrap();
        let mut x = vec![0_i16; usize::try_from(self.ms * 8).unwrap()];
        g.fill(&mut x);
        x
    }
}

fn silence(ms: u64) -> Vec<i16> {
    vec![0; usize::try_from(ms * 8).unwrap()]
}

fn t0() -> Instant {
    // Any fixed instant will do; a day in, so that dating back never underflows.
    Instant::now() + Duration::from_secs(86_400)
}

/// Runs `signal` (then 300 ms of silence) through a detector in `frame`-sample frames, and
/// returns the completed presses. Checks that every `Begin` is followed by its `End`.
fn detect_with(signal: &[i16], frame: usize, config: DetectorConfig) -> (Vec<DtmfEvent>, Instant) {
    let start = t0();
    let mut det = Detector::new(config);
    let mut x = signal.to_vec();
    x.extend(silence(300));
    let mut events = Vec::new();
    let mut open: Option<(Digit, Instant)> = None;
    for (i, chunk) in x.chunks(frame).enumerate() {
        let at = start + Duration::from_nanos((i * frame) as u64 * 125_000);
        det.handle_frame(at, chunk);
        while let Some(edge) = det.poll_output() {
            match edge {
                DtmfEdge::Begin {
                    digit,
                    source,
                    started,
                } => {
                    assert_eq!(source, DtmfSource::Inband);
                    assert!(open.is_none(), "two begins in a row");
                    open = Some((digit, started));
                }
                DtmfEdge::End(e) => {
                    assert_eq!(
                        open.take(),
                        Some((e.digit, e.started)),
                        "end without its begin"
                    );
                    events.push(e);
                }
            }
        }
    }
    assert!(open.is_none(), "a key left held after 300 ms of silence");
    (events, start)
}

fn detect(signal: &[i16]) -> Vec<DtmfEvent> {
    detect_with(signal, 160, DetectorConfig::default()).0
}

fn digits(events: &[DtmfEvent]) -> String {
    events.iter().map(|e| e.digit.as_char()).collect()
}

/// `key` after `offset` samples of silence, for offsets spread over one hop (the tone then
/// meets the analysis windows at every possible phase, to within 4 samples).
fn at_offsets(key: Key) -> impl Iterator<Item = (usize, Vec<i16>)> {
    (0..HOP).step_by(4).map(move |offset| {
        let mut x = vec![0_i16; 400 + offset];
        x.extend(key.samples());
        (offset, x)
    })
}

#[test]
fn every_key_is_detected_once_with_its_timing() {
    for digit in Digit::ALL {
        for (offset, x) in at_offsets(Key::new(digit)) {
            let (events, start) = detect_with(&x, 160, DetectorConfig::default());
            assert_eq!(digits(&events), digit.to_string(), "offset {offset}");
            let e = events[0];
            let true_start = start + Duration::from_nanos((400 + offset) as u64 * 125_000);
            let early = true_start.saturating_duration_since(e.started);
            let late = e.started.saturating_duration_since(true_start);
            assert!(
                early.max(late) <= Duration::from_millis(7),
                "{digit} offset {offset}: start off by {early:?}/{late:?}"
            );
            let err = e.duration.abs_diff(Duration::from_millis(100));
            assert!(
                err <= Duration::from_millis(10),
                "{digit} offset {offset}: {:?}",
                e.duration
            );
        }
    }
}

#[test]
fn frequency_deviation_up_to_1_4_percent_is_accepted() {
    for digit in Digit::ALL {
        for (low_dev, high_dev) in [
            (0.014, 0.0),
            (-0.014, 0.0),
            (0.0, 0.014),
            (0.0, -0.014),
            (0.014, -0.014),
            (-0.014, 0.014),
            (0.014, 0.014),
        ] {
            let key = Key {
                low_dev,
                high_dev,
                ..Key::new(digit)
            };
            for (offset, x) in at_offsets(key) {
                assert_eq!(
                    digits(&detect(&x)),
                    digit.to_string(),
                    "{key:?} offset {offset}"
                );
            }
        }
    }
}

#[test]
fn frequency_deviation_of_3_6_percent_is_rejected() {
    for digit in Digit::ALL {
        for (low_dev, high_dev) in [
            (0.036, 0.0),
            (-0.036, 0.0),
            (0.0, 0.036),
            (0.0, -0.036),
            (0.036, 0.036),
        ] {
            let key = Key {
                low_dev,
                high_dev,
                ..Key::new(digit)
            };
            for (offset, x) in at_offsets(key) {
                // Off by 3.6 %, a tone is nearer no key at all; nothing may be reported (not even
                // a neighbouring key).
                assert_eq!(digits(&detect(&x)), "", "{key:?} offset {offset}");
            }
        }
    }
}

#[test]
fn twist_at_the_q24_limits_is_accepted_and_beyond_rejected() {
    for digit in Digit::ALL {
        // Normal twist: high group 8 dB below the low group. Reverse: 4 dB above.
        let normal = Key {
            low_db: -6.0,
            high_db: -14.0,
            ..Key::new(digit)
        };
        let reverse = Key {
            low_db: -10.0,
            high_db: -6.0,
            ..Key::new(digit)
        };
        let too_normal = Key {
            low_db: -6.0,
            high_db: -16.0,
            ..Key::new(digit)
        };
        let too_reverse = Key {
            low_db: -12.0,
            high_db: -6.0,
            ..Key::new(digit)
        };
        for (offset, x) in at_offsets(normal) {
            assert_eq!(
                digits(&detect(&x)),
                digit.to_string(),
                "normal 8 dB, offset {offset}"
            );
        }
        for (offset, x) in at_offsets(reverse) {
            assert_eq!(
                digits(&detect(&x)),
                digit.to_string(),
                "reverse 4 dB, offset {offset}"
            );
        }
        for (offset, x) in at_offsets(too_normal) {
            assert_eq!(digits(&detect(&x)), "", "normal 10 dB, offset {offset}");
        }
        for (offset, x) in at_offsets(too_reverse) {
            assert_eq!(digits(&detect(&x)), "", "reverse 6 dB, offset {offset}");
        }
    }
}

#[test]
fn twist_limits_hold_with_the_frequencies_off_too() {
    // The corners: twist at the limit and one tone 1.4 % off, where a detector that measures
    // power at the nominal frequency sees more (or less) twist than there is.
    for digit in Digit::ALL {
        for dev in [0.014, -0.014] {
            let normal = Key {
                low_db: -6.0,
                high_db: -14.0,
                ..Key::new(digit)
            };
            let reverse = Key {
                low_db: -10.0,
                high_db: -6.0,
                ..Key::new(digit)
            };
            for key in [
                Key {
                    high_dev: dev,
                    ..normal
                },
                Key {
                    low_dev: dev,
                    ..normal
                },
                Key {
                    high_dev: dev,
                    ..reverse
                },
                Key {
                    low_dev: dev,
                    ..reverse
                },
            ] {
                for (offset, x) in at_offsets(key) {
                    assert_eq!(
                        digits(&detect(&x)),
                        digit.to_string(),
                        "{key:?} offset {offset}"
                    );
                }
            }
        }
    }
}

#[test]
fn tones_of_40_and_45_ms_are_accepted_20_and_23_ms_rejected() {
    for digit in Digit::ALL {
        for ms in [40, 45] {
            for (offset, x) in at_offsets(Key {
                ms,
                ..Key::new(digit)
            }) {
                let events = detect(&x);
                assert_eq!(
                    digits(&events),
                    digit.to_string(),
                    "{ms} ms, offset {offset}"
                );
                let err = events[0].duration.abs_diff(Duration::from_millis(ms));
                assert!(
                    err <= Duration::from_millis(10),
                    "{ms} ms measured {:?}",
                    events[0].duration
                );
            }
        }
        for ms in [20, 23] {
            for (offset, x) in at_offsets(Key {
                ms,
                ..Key::new(digit)
            }) {
                assert_eq!(digits(&detect(&x)), "", "{ms} ms, offset {offset}");
            }
        }
    }
}

#[test]
fn levels_from_minus_3_to_minus_30_dbm0_are_detected_and_below_the_floor_ignored() {
    for digit in Digit::ALL {
        for db in [-3.0, -25.0, -30.0] {
            let key = Key {
                low_db: db,
                high_db: db,
                ..Key::new(digit)
            };
            assert_eq!(
                digits(&detect(&key.samples())),
                digit.to_string(),
                "{db} dBm0"
            );
        }
        let quiet = Key {
            low_db: -42.0,
            high_db: -42.0,
            ..Key::new(digit)
        };
        assert_eq!(digits(&detect(&quiet.samples())), "", "-42 dBm0");
    }
}

/// A seeded Gaussian noise source (xorshift64* and Box–Muller): the tests are reproducible.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((r >> 11) as f64 + 0.5) / (1_u64 << 53) as f64
    }

    fn gaussian(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Adds white noise `snr_db` below the signal's own power.
    fn add(&mut self, x: &mut [i16], snr_db: f64) {
        let power = x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64;
        let sigma = (power / 10_f64.powf(snr_db / 10.0)).sqrt();
        for s in x {
            let v = f64::from(*s) + sigma * self.gaussian();
            *s = v.round().clamp(-32_768.0, 32_767.0) as i16;
        }
    }
}

#[test]
fn keys_in_white_noise_at_15_db_snr() {
    let mut noise = Noise(0x5EED_D7F0);
    for digit in Digit::ALL {
        for trial in 0..4 {
            let key = Key {
                low_db: -20.0,
                high_db: -18.0,
                ..Key::new(digit)
            };
            let mut x = silence(100);
            x.extend(key.samples());
            x.extend(silence(100));
            // SNR measured over the tone only (the silences are filled with the same noise).
            let tone_power = key
                .samples()
                .iter()
                .map(|&s| f64::from(s).powi(2))
                .sum::<f64>()
                / (key.ms * 8) as f64;
            let sigma = (tone_power / 10_f64.powf(1.5)).sqrt();
            for s in &mut x {
                *s = (f64::from(*s) + sigma * noise.gaussian()).round() as i16;
            }
            assert_eq!(digits(&detect(&x)), digit.to_string(), "trial {trial}");
        }
    }
    // Noise alone, loud or soft, is never a key.
    for db in [-10.0, -30.0] {
        let mut x = silence(5_000);
        let sigma = f64::from(switchboard_media::tone::Dbm0(db).sine_peak()) / 2_f64.sqrt();
        for s in &mut x {
            *s = (sigma * noise.gaussian())
                .round()
                .clamp(-32_768.0, 32_767.0) as i16;
        }
        assert_eq!(digits(&detect(&x)), "", "noise at {db} dBm0");
    }
    // And the SNR helper itself, used by the talk-off tests, does what it says.
    let mut x = Key::new(Digit::Five).samples();
    let clean = x.clone();
    noise.add(&mut x, 20.0);
    let err: f64 = x
        .iter()
        .zip(&clean)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum();
    let sig: f64 = clean.iter().map(|&s| f64::from(s).powi(2)).sum();
    assert!((10.0 * (sig / err).log10() - 20.0).abs() < 0.5);
}

#[test]
fn fast_sequences_with_40_ms_pauses() {
    let keys = "0123456789*#ABCD1111";
    for tone_ms in [45, 60] {
        let mut x = silence(50);
        for c in keys.chars() {
            x.extend(
                Key {
                    ms: tone_ms,
                    ..Key::new(Digit::from_char(c).unwrap())
                }
                .samples(),
            );
            x.extend(silence(40));
        }
        let events = detect(&x);
        assert_eq!(digits(&events), keys, "{tone_ms} ms tones");
        // Each press dated where it was sent, within a few ms: no drift along the sequence.
        for w in events.windows(2) {
            let spacing = w[1].started - w[0].started;
            assert!(
                spacing.abs_diff(Duration::from_millis(tone_ms + 40)) <= Duration::from_millis(8)
            );
        }
    }
}

#[test]
fn a_10_ms_interruption_is_bridged() {
    let key = Key::new(Digit::Seven);
    let mut x = key.samples();
    x.extend(silence(10));
    x.extend(key.samples());
    let events = detect(&x);
    assert_eq!(digits(&events), "7");
    assert!(events[0].duration.abs_diff(Duration::from_millis(210)) <= Duration::from_millis(10));
}

#[test]
fn a_key_changing_without_pause_is_two_keys() {
    let mut x = Key::new(Digit::One).samples();
    x.extend(Key::new(Digit::Nine).samples());
    assert_eq!(digits(&detect(&x)), "19");
}

#[test]
fn keys_through_g711_both_laws() {
    for digit in Digit::ALL {
        let x = Key {
            low_db: -25.0,
            high_db: -25.0,
            ..Key::new(digit)
        }
        .samples();
        let a: Vec<i16> = x.iter().map(|&s| alaw::decode(alaw::encode(s))).collect();
        let u: Vec<i16> = x.iter().map(|&s| ulaw::decode(ulaw::encode(s))).collect();
        assert_eq!(digits(&detect(&a)), digit.to_string(), "A-law");
        assert_eq!(digits(&detect(&u)), digit.to_string(), "µ-law");
    }
}

#[test]
fn frames_of_any_length_give_the_same_keys_and_times() {
    let mut x = silence(33);
    for c in "5#0".chars() {
        x.extend(
            Key {
                ms: 70,
                ..Key::new(Digit::from_char(c).unwrap())
            }
            .samples(),
        );
        x.extend(silence(60));
    }
    // Each run has its own start instant: compare times relative to it.
    let relative =
        |(events, start): (Vec<DtmfEvent>, Instant)| -> Vec<(Digit, Duration, Duration)> {
            events
                .iter()
                .map(|e| (e.digit, e.started - start, e.duration))
                .collect()
        };
    let reference = relative(detect_with(&x, 160, DetectorConfig::default()));
    assert_eq!(
        reference.iter().map(|e| e.0.as_char()).collect::<String>(),
        "5#0"
    );
    for frame in [1, 7, 53, 106, 240, 1_000, x.len()] {
        let events = relative(detect_with(&x, frame, DetectorConfig::default()));
        assert_eq!(events, reference, "frame of {frame} samples");
    }
}

#[test]
fn a_jittery_frame_clock_does_not_split_a_press() {
    // A driver's `now` wobbles around the sample clock; the begin and end of a press must
    // still carry the same start, and the start stay near the truth.
    let mut x = silence(200);
    x.extend(Key::new(Digit::Eight).samples());
    x.extend(silence(300));
    let start = t0();
    let mut det = Detector::new(DetectorConfig::default());
    let mut edges = Vec::new();
    for (i, frame) in x.chunks(160).enumerate() {
        let wobble = Duration::from_micros([0, 2_500, 900, 3_000, 1_700][i % 5]);
        det.handle_frame(start + Duration::from_millis(20 * i as u64) + wobble, frame);
        edges.extend(std::iter::from_fn(|| det.poll_output()));
    }
    let [DtmfEdge::Begin { started: begun, .. }, DtmfEdge::End(e)] = edges[..] else {
        panic!("{edges:?}");
    };
    assert_eq!(begun, e.started);
    let truth = start + Duration::from_millis(200);
    assert!(e.started.max(truth) - e.started.min(truth) <= Duration::from_millis(10));
}

#[test]
fn the_level_floor_is_configurable() {
    let key = Key {
        low_db: -30.0,
        high_db: -30.0,
        ..Key::new(Digit::Two)
    };
    let strict = DetectorConfig {
        min_level: switchboard_media::tone::Dbm0(-25.0),
        ..DetectorConfig::default()
    };
    assert_eq!(digits(&detect_with(&key.samples(), 160, strict).0), "");
    assert_eq!(digits(&detect(&key.samples())), "2");
}

proptest! {
    /// Whatever the input, the detector does not panic and its edges pair up.
    #[test]
    fn never_panics_and_edges_pair(samples in prop::collection::vec(any::<i16>(), 0..4_000), frame in 1_usize..400) {
        detect_with(&samples, frame, DetectorConfig::default());
    }

    /// A key embedded at any position in any quiet noise is found once.
    #[test]
    fn a_key_anywhere_is_found_once(pre in 0_usize..800, digit in 0_u8..16, seed in any::<u64>()) {
        let digit = Digit::from_event_code(digit).unwrap();
        let mut x = vec![0_i16; pre];
        x.extend(Key::new(digit).samples());
        Noise(seed | 1).add(&mut x, 25.0);
        prop_assert_eq!(digits(&detect(&x)), digit.to_string());
    }
}
