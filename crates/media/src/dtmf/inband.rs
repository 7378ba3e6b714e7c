//! In-band DTMF detection: Goertzel filters on the decoded audio, against the ITU-T Q.24 limits.
//!
//! Input is 8 kHz mono 16-bit audio in frames of any length (the media worker hands over each
//! 20 ms packet, 160 samples, once decoded); output is a [`DtmfEdge`] when a key tone has been
//! recognised and another when it stops.
//!
//! # What a receiver must do (ITU-T Q.24, reception of Q.23 signals)
//! | criterion | must accept | must reject | what we do |
//! |---|---|---|---|
//! | frequency deviation | ≤ 1.5 % | ≥ 3.5 % | reject beyond 2.5 %, the middle |
//! | signal duration | ≥ 40 ms | < 23 ms | accept ≥ 34 ms, reject ≤ 26 ms |
//! | pause between signals | ≥ 40 ms | — | a pause is seen from 20 ms |
//! | interruption (bridged) | ≤ 10 ms | — | gaps up to 12.75 ms are bridged |
//! | twist, high group weaker ("normal") | ≤ 8 dB | — | accept ≤ 9 dB |
//! | twist, high group stronger ("reverse") | ≤ 4 dB | — | accept ≤ 5 dB |
//! | level per frequency | down to −25 dBm0 | — | down to −38 dBm0 ([`DetectorConfig::min_level`]) |
//!
//! The Q.24 figures are those commonly quoted from its table of national values (the North
//! American column); a network with stricter national values can tighten [`DetectorConfig`].
//! Our figures are measured, not just designed: `tests/dtmf_inband.rs`
//! checks every key on both sides of each edge at every alignment of the tone with our
//! analysis windows, and scanning in 0.1 % and 0.25 dB steps puts the actual edges at
//! 2.5–2.6 % for every frequency, 9.0–9.5 dB and 5.0–5.25 dB of twist. The twist limits get
//! 1 dB over Q.24 to absorb our measurement error, so that a tone at the limit is never refused.
//!
//! # How
//! **Windows.** The last 106 samples (13.25 ms) are analysed every 53 samples (50 % overlap).
//! 106 is chosen within the usual 102–106 because, of all lengths from 98 to 111, it leaks the
//! least between neighbouring frequencies of a group (−16 dB worst case, 697/770 Hz and
//! 1209/1336 Hz; −14.8 dB at 102): a window that long still lets the 53-sample hop time the
//! tone to 6.6 ms, which is what puts the duration decision inside Q.24's 23–40 ms band.
//!
//! **Stage 1, every window** (cheap: a silent window costs one sum of squares). The eight
//! Goertzel powers are compared with the window's energy. A window is a candidate for a key if
//! the strongest row and column tones are each above the level floor, within a loose twist, and
//! together hold at least 75 % of the window's energy. That share is the main defence against
//! talk-off — voice and music spread their energy over many frequencies (our speech samples
//! never put more than 58 % of a window into the best row and column) — and it also times the
//! tone: a window only partly covered by a tone holds at most the covered fraction of its
//! energy in it, so a window is a candidate only when the tone covers three quarters of it.
//! Four candidate windows in a row for one key then need a tone of at least
//! 106·0.5 + 3·53 = 212 samples (26.5 ms), and a tone of 265 samples (33.1 ms) gives four at
//! any alignment (measured over all keys and all 53 alignments: none found up to 26 ms, all
//! from 34 ms). A tone 1.5 % off reads up to 1.6 dB weak at its nominal frequency (the columns'
//! bins are the narrowest relative to their frequency), so when the share falls short, the
//! strongest row and column are read again 1.2 % either side and the best reading counts.
//! (We do not also ask the other tones of a group to be some dB below the strongest, as many
//! detectors do: in a 13 ms window a strong row tone leaks into the column filters at −16 to
//! −28 dB depending on phase, so with 8 dB of twist that test refuses real keys, while the
//! energy share already refuses a third tone of any weight.)
//!
//! **Stage 2, once four windows agree**, on the last 212 samples (26.5 ms), which lie inside
//! the tone for any tone of 40 ms or more:
//! * the frequency of each tone, from how its phase turns between three Hann-windowed
//!   sub-blocks 53 samples apart (unambiguous to ±75 Hz, and precise because the window keeps
//!   the other tone out): more than 2.5 % off → not a key;
//! * the same frequency over each of the two hops: a key tone holds its frequency, a sweep or
//!   a vibrato that passes through a key's frequencies does not (more than 1 % per 6.6 ms);
//! * each tone's power at the measured frequency (so a tone 1.5 % off is not measured weaker):
//!   level floor, twist limits, and the two tones must hold 80 % of the energy;
//! * the second harmonic of each tone must be 12 dB below it: a sung note or an instrument that
//!   happens to sit on two key frequencies has harmonics, a key tone has none. (A row tone's
//!   harmonic within 150 Hz of the key's own column tone — keys 2, 6 and C — cannot be told
//!   apart from that column tone, so it is not checked.)
//!
//! **End.** The key is held while windows keep agreeing; it ends after four windows that do not
//! (26.5 ms), so an interruption of up to 12.75 ms is bridged, and a pause of 20 ms or more
//! separates two presses of the same key. Its duration runs from the first agreeing window's
//! start to the last one's end.

use std::collections::VecDeque;
use std::f32::consts::{PI, TAU};
use std::time::{Duration, Instant};

use super::goertzel::{Goertzel, powers};
use super::{
    COLUMN_FREQUENCIES, Digit, DtmfEdge, DtmfEvent, DtmfSource, ROW_FREQUENCIES, instant_before,
};
use crate::tone::Dbm0;

/// Sample rate of the detector's input.
pub const SAMPLE_RATE: u32 = 8_000;
/// Samples per analysis window (13.25 ms; see the module docs for why 106).
pub const WINDOW: usize = 106;
/// Samples between two windows (half a window).
pub const HOP: usize = WINDOW / 2;
/// The block of stage 2: three windows' worth, 26.5 ms.
const LONG: usize = 2 * WINDOW;
/// Agreeing windows needed before stage 2 is tried.
const CONFIRM_WINDOWS: u32 = 4;
/// Disagreeing windows that end a key.
const END_MISSES: u32 = 4;
/// Stage 1: share of the window's energy the two tones must hold.
const MIN_SHARE: f32 = 0.75;
/// Stage 1: probes this far either side of a nominal frequency (relative).
const PROBE_OFFSET: f32 = 0.012;
/// Stage 1: most the probes can raise a tone's power over its nominal reading (a tone 2.5 % off
/// at 1633 Hz reads 0.33 of its power at 1633 Hz and 0.77 at the nearer probe).
const MAX_PROBE_GAIN: f32 = 2.5;
/// Stage 2: share of the block's energy the two tones must hold.
const MIN_SHARE_LONG: f32 = 0.80;
/// Stage 1 accepts this much more twist than stage 2 (dB): nominal-frequency powers read up to
/// 1.6 dB low for a tone 1.5 % off, and stage 2 measures properly.
const STAGE1_TWIST_SLACK_DB: f32 = 3.0;
/// Stage 2: largest change of a tone's frequency over one hop (6.6 ms), relative to it. A
/// sweep faster than 1 kHz/s (at 697 Hz) moves more; noise at 15 dB SNR moves a key tone's
/// estimate by under a quarter of this.
const MAX_DRIFT: f32 = 0.01;
/// Stage 2: a tone's second harmonic must be this much below it (dB).
const HARMONIC_DB: f32 = 12.0;
/// Stage 2: a row tone's harmonic this close to the column tone is not checked (Hz).
const HARMONIC_GUARD_HZ: f32 = 150.0;

/// Detector settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Weakest tone (each of the two) that is detected. Q.24 asks for −25 dBm0; −38 dBm0 leaves
    /// room for a weak line and a quiet gateway, and is still 17 dB above the −55 dBm0 that
    /// counts as silence.
    pub min_level: Dbm0,
    /// Largest twist with the high-group tone weaker than the low one, in dB.
    pub normal_twist_db: f32,
    /// Largest twist with the high-group tone stronger than the low one, in dB.
    pub reverse_twist_db: f32,
    /// Largest relative deviation of either tone from its nominal frequency (0.025 = 2.5 %).
    pub max_deviation: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            min_level: Dbm0(-38.0),
            normal_twist_db: 9.0,
            reverse_twist_db: 5.0,
            max_deviation: 0.025,
        }
    }
}

/// Why candidates were refused in stage 2, for tuning and for operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectorStats {
    /// Windows analysed.
    pub windows: u64,
    /// Windows that were candidates for a key (stage 1).
    pub candidates: u64,
    /// Keys recognised.
    pub detected: u64,
    /// Stage 2 refusals: a tone too far off its frequency.
    pub off_frequency: u64,
    /// Stage 2 refusals: a tone's frequency moving (a sweep, a vibrato).
    pub unstable: u64,
    /// Stage 2 refusals: a tone below the level floor or a twist beyond the limits.
    pub level_or_twist: u64,
    /// Stage 2 refusals: other signals next to the tones.
    pub impure: u64,
    /// Stage 2 refusals: a second harmonic.
    pub harmonic: u64,
}

/// Consecutive windows agreeing on one key.
#[derive(Debug, Clone, Copy)]
struct Run {
    digit: Option<Digit>,
    windows: u32,
    /// Sample index of the first window's first sample.
    first_start: i64,
}

impl Run {
    const NONE: Run = Run {
        digit: None,
        windows: 0,
        first_start: 0,
    };
}

/// The key being held.
#[derive(Debug, Clone, Copy)]
struct Held {
    digit: Digit,
    /// Sample index where the key began.
    start: i64,
    /// Its instant, as reported in the `Begin` (and so, identically, in the `End`).
    started: Instant,
    /// Sample index just past the last agreeing window.
    end: i64,
    /// Disagreeing windows since the last agreeing one.
    misses: u32,
}

/// One tone measured in stage 2.
#[derive(Debug, Clone, Copy)]
struct Measured {
    frequency: f32,
    /// Change of frequency from the first hop to the second, in Hz.
    drift: f32,
    power: f32,
    harmonic: f32,
}

/// The in-band DTMF detector for one direction of one call. Sans-IO: feed it frames with
/// [`Detector::handle_frame`], then drain [`Detector::poll_output`]. It keeps no timer: time
/// moves with the samples.
#[derive(Debug)]
pub struct Detector {
    config: DetectorConfig,
    /// The four row filters, then the four column filters.
    bank: [Goertzel; 8],
    /// For each of the eight, filters `PROBE_OFFSET` below and above it.
    probes: [Goertzel; 16],
    hann: [f32; WINDOW],
    /// Mean square of a sine at the level floor.
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    stage1_normal_twist: f32,
    stage1_reverse_twist: f32,
    harmonic: f32,
    /// The last `LONG` samples, oldest first.
    buf: [f32; LONG],
    /// Samples received since the last window.
    pending: [f32; HOP],
    pending_len: usize,
    /// Windows completed: `buf` ends at sample `hops × HOP`.
    hops: u64,
    /// The latest frame's `now` and the index of its first sample.
    anchor: Option<(Instant, u64)>,
    run: Run,
    held: Option<Held>,
    out: VecDeque<DtmfEdge>,
    stats: DetectorStats,
}

fn db_to_power_ratio(db: f32) -> f32 {
    10_f32.powf(db / 10.0)
}

impl Detector {
    /// A detector hearing silence so far.
    #[must_use]
    pub fn new(config: DetectorConfig) -> Detector {
        let rate = SAMPLE_RATE as f32;
        let nominal = |i: usize| {
            if i < 4 {
                ROW_FREQUENCIES[i]
            } else {
                COLUMN_FREQUENCIES[i - 4]
            }
        };
        let bank = std::array::from_fn(|i| Goertzel::new(nominal(i), rate));
        let probes = std::array::from_fn(|j| {
            let side = if j % 2 == 0 {
                -PROBE_OFFSET
            } else {
                PROBE_OFFSET
            };
            Goertzel::new(nominal(j / 2) * (1.0 + side), rate)
        });
        let hann = std::array::from_fn(|n| 0.5 - 0.5 * (TAU * n as f32 / WINDOW as f32).cos());
        Detector {
            config,
            bank,
            probes,
            hann,
            min_power: config.min_level.sine_power(),
            normal_twist: db_to_power_ratio(config.normal_twist_db),
            reverse_twist: db_to_power_ratio(config.reverse_twist_db),
            stage1_normal_twist: db_to_power_ratio(config.normal_twist_db + STAGE1_TWIST_SLACK_DB),
            stage1_reverse_twist: db_to_power_ratio(
                config.reverse_twist_db + STAGE1_TWIST_SLACK_DB,
            ),
            harmonic: db_to_power_ratio(-HARMONIC_DB),
            buf: [0.0; LONG],
            pending: [0.0; HOP],
            pending_len: 0,
            hops: 0,
            anchor: None,
            run: Run::NONE,
            held: None,
            out: VecDeque::with_capacity(8),
            stats: DetectorStats::default(),
        }
    }

    /// Feeds the samples of one frame; `now` is the instant of its first sample.
    pub fn handle_frame(&mut self, now: Instant, samples: &[i16]) {
        self.anchor = Some((now, self.hops * HOP as u64 + self.pending_len as u64));
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (HOP - self.pending_len).min(rest.len());
            let (now_part, later) = rest.split_at(take);
            for (p, &s) in self.pending[self.pending_len..].iter_mut().zip(now_part) {
                *p = f32::from(s);
            }
            self.pending_len += take;
            rest = later;
            if self.pending_len == HOP {
                self.buf.copy_within(HOP.., 0);
                self.buf[LONG - HOP..].copy_from_slice(&self.pending);
                self.pending_len = 0;
                self.hops += 1;
                self.analyse_window();
            }
        }
    }

    /// Ends the key being held, if any (end of the call or of the stream).
    pub fn flush(&mut self) {
        if let Some(h) = self.held.take() {
            self.end(h);
        }
        self.run = Run::NONE;
    }

    /// The next edge, oldest first.
    pub fn poll_output(&mut self) -> Option<DtmfEdge> {
        self.out.pop_front()
    }

    /// What the detector saw and refused so far.
    #[must_use]
    pub fn stats(&self) -> DetectorStats {
        self.stats
    }

    fn analyse_window(&mut self) {
        let end = i64::try_from(self.hops * HOP as u64).unwrap_or(i64::MAX);
        let start = end - WINDOW as i64;
        self.stats.windows += 1;
        let candidate = if start >= 0 { self.classify() } else { None };
        if candidate.is_some() {
            self.stats.candidates += 1;
        }
        self.track(start, candidate);
    }

    /// Stage 1 on the last window.
    fn classify(&self) -> Option<Digit> {
        let w = &self.buf[LONG - WINDOW..];
        let n = WINDOW as f32;
        let energy = w.iter().map(|x| x * x).sum::<f32>() / n;
        if energy < 2.0 * self.min_power {
            return None;
        }
        let scale = 2.0 / (n * n);
        let p = powers(&self.bank, w).map(|x| x * scale);
        let (r, mut pr) = strongest(&p[..4]);
        let (c, mut pc) = strongest(&p[4..]);
        if pr + pc < MIN_SHARE * energy {
            // A tone up to 1.5 % off reads up to 1.6 dB low at its nominal frequency (the
            // column tones most, their bins being narrowest in relative terms); the probes just
            // beside it read it at nearly full power. Not worth it if even that cannot help.
            if (pr + pc) * MAX_PROBE_GAIN < MIN_SHARE * energy {
                return None;
            }
            let probe = |i: usize| {
                let [a, b] = powers(&[self.probes[2 * i], self.probes[2 * i + 1]], w);
                a.max(b) * scale
            };
            pr = pr.max(probe(r));
            pc = pc.max(probe(4 + c));
        }
        let ok = pr >= self.min_power
            && pc >= self.min_power
            && pc <= pr * self.stage1_reverse_twist
            && pr <= pc * self.stage1_normal_twist
            && pr + pc >= MIN_SHARE * energy;
        if ok { Digit::at(r, c) } else { None }
    }

    /// Runs the key state machine with one window's verdict.
    fn track(&mut self, start: i64, candidate: Option<Digit>) {
        self.run = match candidate {
            Some(d) if self.run.digit == Some(d) => Run {
                windows: self.run.windows + 1,
                ..self.run
            },
            Some(d) => Run {
                digit: Some(d),
                windows: 1,
                first_start: start,
            },
            None => Run::NONE,
        };
        if let Some(mut h) = self.held {
            if candidate == Some(h.digit) {
                h.misses = 0;
                h.end = start + WINDOW as i64;
                self.held = Some(h);
            } else {
                h.misses += 1;
                self.held = Some(h);
                if h.misses >= END_MISSES {
                    self.held = None;
                    self.end(h);
                }
            }
        }
        if self.held.is_none()
            && self.run.windows >= CONFIRM_WINDOWS
            && let Some(digit) = self.run.digit
            && self.verify(digit)
            && let Some(started) = self.instant_of(self.run.first_start)
        {
            self.held = Some(Held {
                digit,
                start: self.run.first_start,
                started,
                end: start + WINDOW as i64,
                misses: 0,
            });
            self.stats.detected += 1;
            let source = DtmfSource::Inband;
            self.out.push_back(DtmfEdge::Begin {
                digit,
                source,
                started,
            });
        }
    }

    /// Stage 2 on the last `LONG` samples.
    fn verify(&mut self, digit: Digit) -> bool {
        let (row_f, col_f) = digit.frequencies();
        let row = self.measure(row_f);
        let col = self.measure(col_f);
        let dev = self.config.max_deviation;
        if (row.frequency - row_f).abs() > dev * row_f
            || (col.frequency - col_f).abs() > dev * col_f
        {
            self.stats.off_frequency += 1;
            return false;
        }
        if row.drift > MAX_DRIFT * row_f || col.drift > MAX_DRIFT * col_f {
            self.stats.unstable += 1;
            return false;
        }
        if row.power < self.min_power
            || col.power < self.min_power
            || col.power > row.power * self.reverse_twist
            || row.power > col.power * self.normal_twist
        {
            self.stats.level_or_twist += 1;
            return false;
        }
        let energy = self.buf.iter().map(|x| x * x).sum::<f32>() / LONG as f32;
        if row.power + col.power < MIN_SHARE_LONG * energy {
            self.stats.impure += 1;
            return false;
        }
        let row_checked = (2.0 * row.frequency - col.frequency).abs() > HARMONIC_GUARD_HZ;
        if col.harmonic > col.power * self.harmonic
            || (row_checked && row.harmonic > row.power * self.harmonic)
        {
            self.stats.harmonic += 1;
            return false;
        }
        true
    }

    /// Frequency, power and second-harmonic power of the tone near `nominal` in the last
    /// `LONG` samples.
    fn measure(&self, nominal: f32) -> Measured {
        let rate = SAMPLE_RATE as f32;
        let g = Goertzel::new(nominal, rate);
        let y: [(f32, f32); 3] =
            std::array::from_fn(|i| g.windowed(&self.buf[i * HOP..i * HOP + WINDOW], &self.hann));
        // y[i+1]·conj(y[i]): the phase turned over one hop; their sum weights both by magnitude.
        let turn = |a: (f32, f32), b: (f32, f32)| (b.0 * a.0 + b.1 * a.1, b.1 * a.0 - b.0 * a.1);
        let (t1, t2) = (turn(y[0], y[1]), turn(y[1], y[2]));
        let expected = TAU * nominal * HOP as f32 / rate;
        let to_hz = |(re, im): (f32, f32)| {
            let off = (im.atan2(re) - expected + PI).rem_euclid(TAU) - PI;
            off * rate / (TAU * HOP as f32)
        };
        let frequency = nominal + to_hz((t1.0 + t2.0, t1.1 + t2.1));
        // A key tone holds its frequency; a sweep or a vibrato does not.
        let drift = (to_hz(t2) - to_hz(t1)).abs();
        let scale = 2.0 / (LONG as f32 * LONG as f32);
        Measured {
            frequency,
            drift,
            power: Goertzel::new(frequency, rate).power(&self.buf) * scale,
            harmonic: Goertzel::new(2.0 * frequency, rate).power(&self.buf) * scale,
        }
    }

    fn end(&mut self, h: Held) {
        let samples = u64::try_from(h.end - h.start).unwrap_or(0);
        let duration = Duration::from_nanos(samples * 1_000_000_000 / u64::from(SAMPLE_RATE));
        let event = DtmfEvent {
            digit: h.digit,
            source: DtmfSource::Inband,
            started: h.started,
            duration,
        };
        self.out.push_back(DtmfEdge::End(event));
    }

    /// The instant of sample `index`, from the latest frame's anchor (`None` before the first
    /// frame, when there is no sample to date either).
    fn instant_of(&self, index: i64) -> Option<Instant> {
        let (now, at) = self.anchor?;
        let at = i64::try_from(at).unwrap_or(i64::MAX);
        let to_duration = |n: i64| {
            Duration::from_nanos(n.unsigned_abs() * 1_000_000_000 / u64::from(SAMPLE_RATE))
        };
        Some(if index >= at {
            now + to_duration(index - at)
        } else {
            instant_before(now, to_duration(at - index))
        })
    }
}

/// Index and power of the strongest entry.
fn strongest(p: &[f32]) -> (usize, f32) {
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    (best, p[best])
}
