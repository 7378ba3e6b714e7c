//! Tone generation: call-progress tones (dial, ringback, busy, congestion) per country, and
//! DTMF key tones.
//!
//! A [`Tone`] is a sum of up to four sines, each at its own level, switched on and off by a
//! cadence that repeats (ringback: 1.5 s on, 3.5 s off …) or plays once (a DTMF key). A
//! [`ToneGenerator`] renders it at 8, 16 or 48 kHz into whatever buffer the 20 ms playout tick
//! hands it; the sines are phase-continuous across calls, and the cadence is counted in samples,
//! so a 1.5 s burst at 8 kHz is exactly 12,000 samples whatever the buffer sizes.
//!
//! # Levels
//! Levels are in dBm0, defined as G.711 defines them: the coder's overload point, a full-scale
//! sine (peak ±32,768 in our 16-bit samples), is +3.14 dBm0 (G.711 A-law; µ-law's +3.17 differs
//! by 0.03 dB, below anything we measure). So 0 dBm0 is a sine of peak 32,768 · 10^(−3.14/20) ≈
//! 22,827, and −10 dBm0 one of peak ≈ 7,218. [`Dbm0`] converts.
//!
//! # Country plans
//! [`TonePlan`] holds the four tones a caller hears while a call is set up, per ITU-T E.180
//! Supplement 2 (the ITU's list of national tones) where it lists them; the source of each
//! figure is next to it. Levels are not in that list: ours are the North American precise-tone
//! levels for the US and −13 dBm0 per frequency elsewhere, loud enough over a mobile leg without
//! being unpleasant.
//!
//! ```
//! use switchboard_media::tone::{TonePlan, ToneGenerator};
//!
//! let plan = TonePlan::by_country("fr").unwrap();
//! let mut ringback = ToneGenerator::new(plan.ringback(), 8_000).unwrap();
//! let mut frame = [0_i16; 160]; // one 20 ms frame
//! ringback.fill(&mut frame);
//! assert!(frame.iter().any(|&s| s != 0)); // the first 1.5 s are tone
//! ```

use std::time::Duration;

use crate::dtmf::Digit;

/// Most sines in one tone (the richest national tones use three; DTMF two).
pub const MAX_COMPONENTS: usize = 4;
/// Most steps in one cadence (the UK's double ring has four).
pub const MAX_STEPS: usize = 8;

/// The A-law coder's overload point in dBm0 (G.711): the level of a full-scale sine.
#[allow(clippy::approx_constant, reason = "G.711's +3.14 dBm0, not π")]
pub const FULL_SCALE_DBM0: f32 = 3.14;

/// Peak of a full-scale sine in our 16-bit samples.
const FULL_SCALE: f32 = 32_768.0;

/// Errors building a tone or a generator.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ToneError {
    /// No sine, or more than [`MAX_COMPONENTS`].
    #[error("a tone has 1 to {MAX_COMPONENTS} frequencies, not {0}")]
    ComponentCount(usize),
    /// More than [`MAX_STEPS`] cadence steps.
    #[error("a cadence has at most {MAX_STEPS} steps, not {0}")]
    StepCount(usize),
    /// A frequency that is not positive and finite.
    #[error("tone frequency {0} Hz is not a positive number")]
    InvalidFrequency(f32),
    /// A frequency not below half the sample rate.
    #[error("frequency {frequency} Hz cannot be played at {sample_rate} Hz")]
    Frequency {
        /// The frequency.
        frequency: f32,
        /// The sample rate asked for.
        sample_rate: u32,
    },
    /// A level that is not a finite number.
    #[error("tone level is not a number")]
    Level,
    /// A sample rate outside 8,000..=192,000 Hz.
    #[error("unsupported sample rate {0} Hz")]
    SampleRate(u32),
    /// A repeating cadence whose steps add up to zero samples.
    #[error("a repeating cadence must last at least one sample")]
    EmptyCadence,
}

/// A level in dBm0 (see the module docs for the reference).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Dbm0(pub f32);

impl Dbm0 {
    /// Peak amplitude, in 16-bit sample units, of a sine at this level.
    #[must_use]
    pub fn sine_peak(self) -> f32 {
        FULL_SCALE * 10_f32.powf((self.0 - FULL_SCALE_DBM0) / 20.0)
    }

    /// Mean square, in 16-bit sample units squared, of a sine at this level.
    #[must_use]
    pub fn sine_power(self) -> f32 {
        let a = self.sine_peak();
        a * a / 2.0
    }

    /// The level of a signal of this mean square (any waveform: dBm0 is a power).
    #[must_use]
    pub fn of_power(mean_square: f32) -> Dbm0 {
        let full = FULL_SCALE * FULL_SCALE / 2.0;
        Dbm0(10.0 * (mean_square / full).log10() + FULL_SCALE_DBM0)
    }
}

/// One sine of a tone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Component {
    /// Frequency in Hz.
    pub frequency: f32,
    /// Level of this sine alone.
    pub level: Dbm0,
}

impl Component {
    /// A sine at `frequency` Hz and `level` dBm0.
    #[must_use]
    pub const fn new(frequency: f32, level: f32) -> Component {
        Component {
            frequency,
            level: Dbm0(level),
        }
    }
}

/// One step of a cadence: the tone on or off for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Tone on (all components) or off (silence).
    pub on: bool,
    /// How long.
    pub duration: Duration,
}

impl Step {
    /// `ms` milliseconds of tone.
    #[must_use]
    pub const fn on(ms: u64) -> Step {
        Step {
            on: true,
            duration: Duration::from_millis(ms),
        }
    }

    /// `ms` milliseconds of silence.
    #[must_use]
    pub const fn off(ms: u64) -> Step {
        Step {
            on: false,
            duration: Duration::from_millis(ms),
        }
    }
}

/// A tone: its sines and its cadence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tone {
    components: [Component; MAX_COMPONENTS],
    component_count: usize,
    steps: [Step; MAX_STEPS],
    step_count: usize,
    repeat: bool,
}

/// Levels of the two DTMF tones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfLevels {
    /// The low-group (row) tone.
    pub low: Dbm0,
    /// The high-group (column) tone.
    pub high: Dbm0,
}

impl Default for DtmfLevels {
    /// −8 and −6 dBm0: the high group 2 dB above the low one, as telephone sets send them to
    /// make up for the line's loss at higher frequencies (ITU-T Q.23).
    fn default() -> Self {
        DtmfLevels {
            low: Dbm0(-8.0),
            high: Dbm0(-6.0),
        }
    }
}

impl Tone {
    /// A tone of `components` switched by `cadence` (an empty cadence: always on), repeating
    /// the cadence forever or playing it once and then silence.
    ///
    /// # Errors
    /// [`ToneError::ComponentCount`], [`ToneError::StepCount`], [`ToneError::Level`] or
    /// [`ToneError::InvalidFrequency`].
    pub fn new(
        components: &[Component],
        cadence: &[Step],
        repeat: bool,
    ) -> Result<Tone, ToneError> {
        if components.is_empty() || components.len() > MAX_COMPONENTS {
            return Err(ToneError::ComponentCount(components.len()));
        }
        if cadence.len() > MAX_STEPS {
            return Err(ToneError::StepCount(cadence.len()));
        }
        for c in components {
            if !c.level.0.is_finite() {
                return Err(ToneError::Level);
            }
            if !(c.frequency.is_finite() && c.frequency > 0.0) {
                return Err(ToneError::InvalidFrequency(c.frequency));
            }
        }
        Ok(Tone::table(components, cadence, repeat))
    }

    /// Builds a tone from a table known to be valid (the country plans; checked by the tests).
    const fn table(components: &[Component], cadence: &[Step], repeat: bool) -> Tone {
        let mut tone = Tone {
            components: [Component::new(0.0, 0.0); MAX_COMPONENTS],
            component_count: 0,
            steps: [Step::off(0); MAX_STEPS],
            step_count: 0,
            repeat,
        };
        let mut i = 0;
        while i < components.len() && i < MAX_COMPONENTS {
            tone.components[i] = components[i];
            i += 1;
        }
        tone.component_count = i;
        let mut j = 0;
        while j < cadence.len() && j < MAX_STEPS {
            tone.steps[j] = cadence[j];
            j += 1;
        }
        tone.step_count = j;
        tone
    }

    /// The key tone of `digit` (ITU-T Q.23 frequencies), `on` long, then silence.
    #[must_use]
    pub fn dtmf(digit: Digit, levels: DtmfLevels, on: Duration) -> Tone {
        let (low, high) = digit.frequencies();
        let components = [
            Component {
                frequency: low,
                level: levels.low,
            },
            Component {
                frequency: high,
                level: levels.high,
            },
        ];
        Tone::table(
            &components,
            &[Step {
                on: true,
                duration: on,
            }],
            false,
        )
    }

    /// The sines of the tone.
    #[must_use]
    pub fn components(&self) -> &[Component] {
        &self.components[..self.component_count]
    }

    /// The cadence (empty: always on).
    #[must_use]
    pub fn cadence(&self) -> &[Step] {
        &self.steps[..self.step_count]
    }

    /// Whether the cadence repeats (else it plays once, then silence).
    #[must_use]
    pub fn repeats(&self) -> bool {
        self.repeat
    }
}

/// One phase-continuous sine: a unit phasor turned by `e^{jω}` every sample.
#[derive(Debug, Clone, Copy)]
struct Oscillator {
    re: f64,
    im: f64,
    step_re: f64,
    step_im: f64,
    peak: f64,
}

/// Renders a [`Tone`] at a sample rate. Owns no clock: each [`ToneGenerator::fill`] continues
/// where the previous one stopped.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    oscillators: [Oscillator; MAX_COMPONENTS],
    oscillator_count: usize,
    /// Cadence steps as (tone on, length in samples); none: always on.
    steps: [(bool, u64); MAX_STEPS],
    step_count: usize,
    repeat: bool,
    step: usize,
    /// Samples already played of the current step.
    into_step: u64,
    finished: bool,
}

impl ToneGenerator {
    /// A generator for `tone` at `sample_rate` Hz, at the start of its cadence.
    ///
    /// # Errors
    /// [`ToneError::SampleRate`] outside 8,000..=192,000 Hz, [`ToneError::Frequency`] for a
    /// sine at or above half the sample rate, [`ToneError::EmptyCadence`] for a repeating
    /// cadence of zero samples.
    pub fn new(tone: &Tone, sample_rate: u32) -> Result<ToneGenerator, ToneError> {
        if !(8_000..=192_000).contains(&sample_rate) {
            return Err(ToneError::SampleRate(sample_rate));
        }
        let rate = f64::from(sample_rate);
        let mut oscillators = [Oscillator {
            re: 1.0,
            im: 0.0,
            step_re: 1.0,
            step_im: 0.0,
            peak: 0.0,
        }; MAX_COMPONENTS];
        for (osc, c) in oscillators.iter_mut().zip(tone.components()) {
            if f64::from(c.frequency) >= rate / 2.0 {
                return Err(ToneError::Frequency {
                    frequency: c.frequency,
                    sample_rate,
                });
            }
            let w = std::f64::consts::TAU * f64::from(c.frequency) / rate;
            // Start at sin(0) = 0: no click at the first sample.
            *osc = Oscillator {
                re: 0.0,
                im: -1.0,
                step_re: w.cos(),
                step_im: w.sin(),
                peak: f64::from(c.level.sine_peak()),
            };
        }
        let mut steps = [(false, 0_u64); MAX_STEPS];
        for (s, step) in steps.iter_mut().zip(tone.cadence()) {
            let samples =
                (step.duration.as_nanos() * u128::from(sample_rate) + 500_000_000) / 1_000_000_000;
            *s = (step.on, u64::try_from(samples).unwrap_or(u64::MAX));
        }
        let step_count = tone.cadence().len();
        if tone.repeats() && step_count > 0 && steps[..step_count].iter().all(|s| s.1 == 0) {
            return Err(ToneError::EmptyCadence);
        }
        Ok(ToneGenerator {
            oscillators,
            oscillator_count: tone.components().len(),
            steps,
            step_count,
            repeat: tone.repeats(),
            step: 0,
            into_step: 0,
            finished: false,
        })
    }

    /// Writes the next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        let mut rest = out;
        while !rest.is_empty() {
            let (on, run) = self.current_run(rest.len());
            let (now, later) = rest.split_at_mut(run);
            if on {
                self.render(now);
            } else {
                now.fill(0);
            }
            self.advance(run as u64);
            rest = later;
        }
        self.renormalise();
    }

    /// A one-shot cadence has played to its end (only silence follows).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether the tone is on, and for how many of the next `max` samples that holds.
    fn current_run(&self, max: usize) -> (bool, usize) {
        if self.finished {
            return (false, max);
        }
        if self.step_count == 0 {
            return (true, max);
        }
        let (on, len) = self.steps[self.step];
        let left = len - self.into_step;
        (on, usize::try_from(left).map_or(max, |l| l.min(max)))
    }

    fn advance(&mut self, samples: u64) {
        if self.finished || self.step_count == 0 {
            return;
        }
        self.into_step += samples;
        // Skip to the next step that has samples left (zero-length steps are skipped over).
        while self.into_step >= self.steps[self.step].1 {
            self.into_step -= self.steps[self.step].1;
            self.step += 1;
            if self.step == self.step_count {
                if !self.repeat {
                    self.finished = true;
                    return;
                }
                self.step = 0;
            }
        }
    }

    fn render(&mut self, out: &mut [i16]) {
        let oscs = &mut self.oscillators[..self.oscillator_count];
        for s in out {
            let mut sum = 0.0;
            for o in oscs.iter_mut() {
                // The phasor starts at −j, so after n steps it is −j·e^{jωn} = sin ωn − j·cos ωn:
                // its real part is the sine, starting from sin 0 = 0.
                sum += o.peak * o.re;
                let re = o.re * o.step_re - o.im * o.step_im;
                o.im = o.re * o.step_im + o.im * o.step_re;
                o.re = re;
            }
            // Saturate: a sum of loud sines may exceed the 16-bit range.
            *s = sum.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
        }
    }

    /// Keeps each phasor on the unit circle (rounding would otherwise drift its amplitude).
    fn renormalise(&mut self) {
        for o in &mut self.oscillators[..self.oscillator_count] {
            let m = o.re.hypot(o.im);
            if m > 0.0 {
                o.re /= m;
                o.im /= m;
            }
        }
    }
}

/// The call-progress tones of one country.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TonePlan {
    /// ISO 3166 alpha-2 code of the country.
    pub country: &'static str,
    dial: Tone,
    ringback: Tone,
    busy: Tone,
    congestion: Tone,
}

/// Two-letter codes [`TonePlan::by_country`] knows, with their plan (GB has the alias UK;
/// Canada shares the North American plan).
static PLANS: [(&str, &TonePlan); 6] = [
    ("FR", &FRANCE),
    ("US", &UNITED_STATES),
    ("CA", &UNITED_STATES),
    ("GB", &UNITED_KINGDOM),
    ("UK", &UNITED_KINGDOM),
    ("DE", &GERMANY),
];

/// Level of European single-frequency tones (our choice, see the module docs).
const EU: f32 = -13.0;

/// France, E.180 Supplement 2: 440 Hz; dial continuous, ringback 1.5 s on / 3.5 s off, busy
/// 0.5 / 0.5. The Supplement gives no congestion tone for France; French networks play the
/// busy tone at twice its rate, 0.25 / 0.25, which is what we play.
static FRANCE: TonePlan = TonePlan {
    country: "FR",
    dial: Tone::table(&[Component::new(440.0, EU)], &[], true),
    ringback: Tone::table(
        &[Component::new(440.0, EU)],
        &[Step::on(1500), Step::off(3500)],
        true,
    ),
    busy: Tone::table(
        &[Component::new(440.0, EU)],
        &[Step::on(500), Step::off(500)],
        true,
    ),
    congestion: Tone::table(
        &[Component::new(440.0, EU)],
        &[Step::on(250), Step::off(250)],
        true,
    ),
};

/// United States (North American precise tone plan, as in E.180 Supplement 2): dial 350 + 440 Hz
/// continuous at −13 dBm0 each; ringback 440 + 480 Hz 2 s on / 4 s off at −19 dBm0; busy
/// 480 + 620 Hz 0.5 / 0.5 and reorder (congestion) 480 + 620 Hz 0.25 / 0.25, at −24 dBm0.
static UNITED_STATES: TonePlan = TonePlan {
    country: "US",
    dial: Tone::table(
        &[Component::new(350.0, -13.0), Component::new(440.0, -13.0)],
        &[],
        true,
    ),
    ringback: Tone::table(
        &[Component::new(440.0, -19.0), Component::new(480.0, -19.0)],
        &[Step::on(2000), Step::off(4000)],
        true,
    ),
    busy: Tone::table(
        &[Component::new(480.0, -24.0), Component::new(620.0, -24.0)],
        &[Step::on(500), Step::off(500)],
        true,
    ),
    congestion: Tone::table(
        &[Component::new(480.0, -24.0), Component::new(620.0, -24.0)],
        &[Step::on(250), Step::off(250)],
        true,
    ),
};

/// United Kingdom (BT SIN 350, as in E.180 Supplement 2): dial 350 + 440 Hz continuous;
/// ringback 400 + 450 Hz 0.4 on, 0.2 off, 0.4 on, 2.0 off; busy (engaged) 400 Hz 0.375 / 0.375;
/// congestion 400 Hz 0.4 on, 0.35 off, 0.225 on, 0.525 off.
static UNITED_KINGDOM: TonePlan = TonePlan {
    country: "GB",
    dial: Tone::table(
        &[Component::new(350.0, EU), Component::new(440.0, EU)],
        &[],
        true,
    ),
    ringback: Tone::table(
        &[Component::new(400.0, EU), Component::new(450.0, EU)],
        &[
            Step::on(400),
            Step::off(200),
            Step::on(400),
            Step::off(2000),
        ],
        true,
    ),
    busy: Tone::table(
        &[Component::new(400.0, EU)],
        &[Step::on(375), Step::off(375)],
        true,
    ),
    congestion: Tone::table(
        &[Component::new(400.0, EU)],
        &[Step::on(400), Step::off(350), Step::on(225), Step::off(525)],
        true,
    ),
};

/// Germany, E.180 Supplement 2: 425 Hz; dial continuous, ringback 1 s on / 4 s off, busy
/// 0.48 / 0.48, congestion 0.24 / 0.24.
static GERMANY: TonePlan = TonePlan {
    country: "DE",
    dial: Tone::table(&[Component::new(425.0, EU)], &[], true),
    ringback: Tone::table(
        &[Component::new(425.0, EU)],
        &[Step::on(1000), Step::off(4000)],
        true,
    ),
    busy: Tone::table(
        &[Component::new(425.0, EU)],
        &[Step::on(480), Step::off(480)],
        true,
    ),
    congestion: Tone::table(
        &[Component::new(425.0, EU)],
        &[Step::on(240), Step::off(240)],
        true,
    ),
};

impl TonePlan {
    /// France.
    #[must_use]
    pub fn france() -> &'static TonePlan {
        &FRANCE
    }

    /// The United States (and the rest of the North American numbering plan).
    #[must_use]
    pub fn us() -> &'static TonePlan {
        &UNITED_STATES
    }

    /// The United Kingdom.
    #[must_use]
    pub fn uk() -> &'static TonePlan {
        &UNITED_KINGDOM
    }

    /// Germany.
    #[must_use]
    pub fn germany() -> &'static TonePlan {
        &GERMANY
    }

    /// The plan of an ISO 3166 alpha-2 country code, in either case (`"FR"`, `"us"`; `"UK"` is
    /// accepted for `"GB"`); `None` for a country we have no plan for.
    #[must_use]
    pub fn by_country(code: &str) -> Option<&'static TonePlan> {
        PLANS
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(code))
            .map(|(_, p)| *p)
    }

    /// Every plan we have, once each.
    #[must_use]
    pub fn all() -> [&'static TonePlan; 4] {
        [&FRANCE, &UNITED_STATES, &UNITED_KINGDOM, &GERMANY]
    }

    /// Dial tone: the network is ready for digits.
    #[must_use]
    pub fn dial(&self) -> &Tone {
        &self.dial
    }

    /// Ringback (ringing tone): the called party is being alerted.
    #[must_use]
    pub fn ringback(&self) -> &Tone {
        &self.ringback
    }

    /// Busy (engaged): the called party is busy.
    #[must_use]
    pub fn busy(&self) -> &Tone {
        &self.busy
    }

    /// Congestion (reorder): the network cannot complete the call.
    #[must_use]
    pub fn congestion(&self) -> &Tone {
        &self.congestion
    }
}
