//! Comfort noise (RFC 3389): the CN payload, and a generator of low-level noise frames.
//!
//! When a leg is muted, on hold without music, or its peer stops sending during silence
//! (discontinuous transmission, signalled with CN packets, RTP payload type 13 at 8 kHz,
//! RFC 3551 §4.5.3), playing digital zero makes the line sound dead and callers ask "are you
//! still there?". Instead we play noise at the level (and, optionally, the spectral shape)
//! the peer described, or at [`DEFAULT_LEVEL`].
//!
//! # The payload (RFC 3389 §3)
//! One byte of noise level, then optionally one byte per reflection coefficient of an all-pole
//! model of the noise spectrum; the model order is the number of bytes left.
//! * Level (§3.1): the magnitude in −dBov in the low 7 bits (0 to −127 dBov), the top bit
//!   always 0. dBov is relative to the system's overload point: 0 dBov is the power of a
//!   full-scale square wave. In our 16-bit linear domain that is an RMS of 32,767, so level
//!   `L` means an RMS of `32767 × 10^(−L/20)`.
//! * Reflection coefficients (§3.2): each byte `b` stands for `k = (b − 127) / 128`, the
//!   quantisation the deployed decoders use (FFmpeg's, for one), so 127 is `k = 0`. The model is
//!   `1 / A(z)` with `A(z) = 1 + Σ aᵢ z⁻ⁱ` built from the `k`s by the step-up recursion, so
//!   `k₁ = −r₁/r₀`: noise with most of its energy at low frequencies (the usual office hum) has
//!   `k₁ < 0`.
//!
//! # The generator
//! White noise from a seeded xorshift64* generator (randomness is injected, STYLE rule 2: the
//! same seed gives the same noise, which the tests rely on), scaled so that after the all-pole
//! filter the output has the requested RMS: the filter's power gain on white noise is
//! `1 / Π(1 − kᵢ²)`, the prediction-error identity of the Levinson recursion. Coefficients are
//! clamped to |k| ≤ 0.99 so a hostile payload cannot make the filter unstable, and at most
//! [`MAX_ORDER`] are used (§3: a decoder may reduce the order). `fill` allocates nothing.
//!
//! ```
//! use switchboard_media::comfort_noise::{CnPayload, ComfortNoise, NoiseLevel};
//!
//! let sid = CnPayload::parse(&[60]).unwrap(); // −60 dBov, no spectral information
//! assert_eq!(sid.level(), NoiseLevel::from_minus_dbov(60).unwrap());
//! let mut noise = ComfortNoise::new(0x5eed);
//! noise.update(&sid);
//! let mut frame = [0_i16; 160];
//! noise.fill(&mut frame);
//! assert!(frame.iter().any(|&s| s != 0));
//! assert!(frame.iter().all(|&s| s.unsigned_abs() < 500));
//! ```

/// Most reflection coefficients kept from a payload (G.711 Appendix II uses 10; WebRTC 12).
pub const MAX_ORDER: usize = 16;

/// Level used when no CN payload was received: −70 dBov, just audible on a quiet line.
pub const DEFAULT_LEVEL: NoiseLevel = NoiseLevel(70);

/// RMS of 0 dBov in 16-bit linear PCM (a full-scale square wave).
const FULL_SCALE: f32 = 32_767.0;

/// Largest |k| used by the generator, for a stable filter whatever the payload.
const MAX_REFLECTION: f32 = 0.99;

/// Errors of the CN payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CnError {
    /// A CN payload has at least the level byte.
    #[error("empty comfort noise payload")]
    Empty,
    /// The level byte has its top bit set (RFC 3389 §3.1: always 0).
    #[error("comfort noise level byte {0:#04x} has its reserved top bit set")]
    LevelOutOfRange(u8),
    /// More reflection coefficients than [`MAX_ORDER`] were given to build a payload.
    #[error("{got} reflection coefficients, at most {MAX_ORDER} supported")]
    TooManyCoefficients {
        /// Coefficients given.
        got: usize,
    },
    /// The output buffer cannot hold the payload.
    #[error("buffer of {got} bytes, the payload needs {needed}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
}

/// A noise level in −dBov (RFC 3389 §3.1): 0 is full scale, 127 the quietest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NoiseLevel(u8);

impl NoiseLevel {
    /// The level `minus_dbov` dB below overload.
    ///
    /// # Errors
    /// [`CnError::LevelOutOfRange`] above 127.
    pub const fn from_minus_dbov(minus_dbov: u8) -> Result<Self, CnError> {
        if minus_dbov > 127 {
            Err(CnError::LevelOutOfRange(minus_dbov))
        } else {
            Ok(Self(minus_dbov))
        }
    }

    /// The level nearest to `dbov` (a value ≤ 0), clamped to 0..=−127 dBov; NaN is −127.
    #[must_use]
    pub fn from_dbov(dbov: f32) -> Self {
        // Clamped to 0..=127 first, so the cast cannot truncate; NaN casts to 0 → quietest.
        let minus = (-dbov).round().clamp(0.0, 127.0);
        if minus.is_nan() {
            Self(127)
        } else {
            Self(minus as u8)
        }
    }

    /// The level of a frame of samples (its RMS), e.g. to describe a leg's background noise in
    /// the CN packets we send.
    #[must_use]
    pub fn of_frame(samples: &[i16]) -> Self {
        if samples.is_empty() {
            return Self(127);
        }
        let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
        let rms = (energy / samples.len() as f64).sqrt();
        if rms <= 0.0 {
            return Self(127);
        }
        Self::from_dbov((20.0 * (rms / f64::from(FULL_SCALE)).log10()) as f32)
    }

    /// The level in −dBov, the payload byte.
    #[must_use]
    pub const fn minus_dbov(self) -> u8 {
        self.0
    }

    /// The RMS this level stands for, in 16-bit sample units.
    #[must_use]
    pub fn rms(self) -> f32 {
        // RFC 3389 §3.1: 0 dBov is the overload point, a full-scale square wave.
        FULL_SCALE * 10_f32.powf(-f32::from(self.0) / 20.0)
    }
}

/// A parsed (or to-be-sent) CN payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnPayload {
    level: NoiseLevel,
    /// Invariant: `order <= MAX_ORDER`; bytes past `order` are 0.
    order: usize,
    reflection: [u8; MAX_ORDER],
}

impl CnPayload {
    /// A payload with a level and no spectral information (white noise).
    #[must_use]
    pub const fn new(level: NoiseLevel) -> Self {
        Self {
            level,
            order: 0,
            reflection: [0; MAX_ORDER],
        }
    }

    /// A payload with reflection coefficients, given as quantised bytes (`k = (b − 127)/128`).
    ///
    /// # Errors
    /// [`CnError::TooManyCoefficients`] beyond [`MAX_ORDER`].
    pub fn with_reflection(level: NoiseLevel, bytes: &[u8]) -> Result<Self, CnError> {
        if bytes.len() > MAX_ORDER {
            return Err(CnError::TooManyCoefficients { got: bytes.len() });
        }
        let mut reflection = [0; MAX_ORDER];
        reflection[..bytes.len()].copy_from_slice(bytes);
        Ok(Self {
            level,
            order: bytes.len(),
            reflection,
        })
    }

    /// Parses a CN payload (RFC 3389 §3). Coefficients beyond [`MAX_ORDER`] are ignored, as
    /// §3 allows a decoder to reduce the model order.
    ///
    /// # Errors
    /// [`CnError::Empty`]; [`CnError::LevelOutOfRange`] if the reserved bit is set.
    pub fn parse(payload: &[u8]) -> Result<Self, CnError> {
        // RFC 3389 §3: the level byte, then the model order is whatever bytes remain.
        let (&level, coefficients) = payload.split_first().ok_or(CnError::Empty)?;
        // §3.1: the top bit of the level byte is unused and always 0.
        let level = NoiseLevel::from_minus_dbov(level)?;
        // §3: "the decoder may reduce the model order" — we keep the first MAX_ORDER.
        let used = &coefficients[..coefficients.len().min(MAX_ORDER)];
        Self::with_reflection(level, used)
    }

    /// The noise level.
    #[must_use]
    pub const fn level(&self) -> NoiseLevel {
        self.level
    }

    /// The quantised reflection coefficients, one byte each (empty for white noise).
    #[must_use]
    pub fn reflection_bytes(&self) -> &[u8] {
        &self.reflection[..self.order]
    }

    /// The reflection coefficients `k = (b − 127) / 128`, in −0.992..=1.0.
    pub fn reflection_coefficients(&self) -> impl Iterator<Item = f32> + '_ {
        self.reflection_bytes()
            .iter()
            .map(|&b| (f32::from(b) - 127.0) / 128.0)
    }

    /// Length of the encoded payload.
    #[must_use]
    pub const fn encoded_len(&self) -> usize {
        1 + self.order
    }

    /// Encodes the payload into `out`, returning its length.
    ///
    /// # Errors
    /// [`CnError::BufferTooSmall`] if `out` is shorter than [`CnPayload::encoded_len`].
    pub fn write(&self, out: &mut [u8]) -> Result<usize, CnError> {
        let needed = self.encoded_len();
        let Some(dst) = out.get_mut(..needed) else {
            return Err(CnError::BufferTooSmall {
                needed,
                got: out.len(),
            });
        };
        dst[0] = self.level.0;
        dst[1..].copy_from_slice(self.reflection_bytes());
        Ok(needed)
    }
}

/// xorshift64* (Vigna): tiny, fast, and good enough for noise; not for anything secret.
#[derive(Debug, Clone)]
struct NoiseRng(u64);

impl NoiseRng {
    fn new(seed: u64) -> Self {
        // The all-zero state is a fixed point; any other seed is fine.
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Uniform in [−1, 1).
    fn next_signed(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // The top 24 bits, exactly representable in an f32.
        ((x >> 40) as f32) / ((1_u32 << 23) as f32) - 1.0
    }
}

/// Generates comfort noise frames at a level and spectral shape.
#[derive(Debug, Clone)]
pub struct ComfortNoise {
    rng: NoiseRng,
    /// Direct-form coefficients `a₁..a_order` of `A(z)`.
    lpc: [f32; MAX_ORDER],
    order: usize,
    /// Past outputs, most recent first.
    history: [f32; MAX_ORDER],
    /// `Π(1 − kᵢ²)` of the current model (1 for white noise).
    prediction_error: f32,
    /// Scale of the uniform excitation: level RMS × √prediction_error × √3.
    gain: f32,
}

/// √3: the RMS of a uniform variable on [−1, 1) is 1/√3.
const UNIFORM_TO_UNIT: f32 = 1.732_050_8;

impl ComfortNoise {
    /// White noise at [`DEFAULT_LEVEL`], from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        let mut noise = Self {
            rng: NoiseRng::new(seed),
            lpc: [0.0; MAX_ORDER],
            order: 0,
            history: [0.0; MAX_ORDER],
            prediction_error: 1.0,
            gain: 0.0,
        };
        noise.update(&CnPayload::new(DEFAULT_LEVEL));
        noise
    }

    /// Follows a new CN payload (a SID frame from the peer). The filter's memory is kept, so
    /// the noise does not click when its parameters change.
    pub fn update(&mut self, params: &CnPayload) {
        let mut k = [0.0_f32; MAX_ORDER];
        let mut order = 0;
        for (slot, value) in k.iter_mut().zip(params.reflection_coefficients()) {
            *slot = value.clamp(-MAX_REFLECTION, MAX_REFLECTION);
            order += 1;
        }
        self.lpc = step_up(&k[..order]);
        self.order = order;
        // Power gain of 1/A(z) on white noise is 1 / Π(1 − kᵢ²).
        self.prediction_error = k[..order].iter().map(|k| 1.0 - k * k).product();
        self.set_level(params.level());
    }

    /// Sets the level, keeping the spectral shape.
    pub fn set_level(&mut self, level: NoiseLevel) {
        self.gain = level.rms() * self.prediction_error.sqrt() * UNIFORM_TO_UNIT;
    }

    /// Fills `out` with the next noise samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        let order = self.order;
        for o in out.iter_mut() {
            let excitation = self.gain * self.rng.next_signed();
            let feedback: f32 = self.lpc[..order]
                .iter()
                .zip(&self.history[..order])
                .map(|(a, y)| a * y)
                .sum();
            let y = excitation - feedback;
            if order > 0 {
                self.history.copy_within(..order - 1, 1);
                self.history[0] = y;
            }
            // Clamped to the i16 range first, so the cast cannot truncate.
            *o = y.round().clamp(-32_768.0, 32_767.0) as i16;
        }
    }
}

/// Reflection coefficients to `A(z)` coefficients (the step-up recursion):
/// `aᵐₘ = kₘ`, `aᵐᵢ = aᵐ⁻¹ᵢ + kₘ·aᵐ⁻¹ₘ₋ᵢ`.
fn step_up(k: &[f32]) -> [f32; MAX_ORDER] {
    let mut a = [0.0_f32; MAX_ORDER];
    for (m, &km) in k.iter().enumerate() {
        let prev = a;
        for i in 0..m {
            a[i] = prev[i] + km * prev[m - 1 - i];
        }
        a[m] = km;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn level(minus_dbov: u8) -> NoiseLevel {
        NoiseLevel::from_minus_dbov(minus_dbov).unwrap()
    }

    /// One second of noise at 8 kHz after a warm-up second (the filter's transient).
    fn second_of(noise: &mut ComfortNoise) -> Vec<i16> {
        let mut out = vec![0; 8_000];
        noise.fill(&mut out);
        noise.fill(&mut out);
        out
    }

    fn rms_db(samples: &[i16]) -> f64 {
        let energy: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
        20.0 * ((energy / samples.len() as f64).sqrt() / 32_767.0).log10()
    }

    /// Normalised autocorrelation at lag 1.
    fn rho1(samples: &[i16]) -> f64 {
        let x: Vec<f64> = samples.iter().map(|&s| f64::from(s)).collect();
        let r0: f64 = x.iter().map(|v| v * v).sum();
        let r1: f64 = x.windows(2).map(|w| w[0] * w[1]).sum();
        r1 / r0
    }

    #[test]
    fn parses_level_only_and_spectral_payloads_exactly() {
        let p = CnPayload::parse(&[0x40]).unwrap();
        assert_eq!(p.level().minus_dbov(), 64);
        assert!(p.reflection_bytes().is_empty());

        let p = CnPayload::parse(&[0x7F, 0x00, 0x7F, 0xFF, 0xBF]).unwrap();
        assert_eq!(p.level(), level(127));
        assert_eq!(p.reflection_bytes(), &[0x00, 0x7F, 0xFF, 0xBF]);
        let k: Vec<f32> = p.reflection_coefficients().collect();
        assert_eq!(k, [-127.0 / 128.0, 0.0, 1.0, 0.5]);
    }

    #[test]
    fn bad_payloads_are_errors() {
        assert_eq!(CnPayload::parse(&[]), Err(CnError::Empty));
        assert_eq!(
            CnPayload::parse(&[0x80]),
            Err(CnError::LevelOutOfRange(0x80))
        );
        assert_eq!(
            NoiseLevel::from_minus_dbov(128),
            Err(CnError::LevelOutOfRange(128))
        );
        assert_eq!(
            CnPayload::with_reflection(level(40), &[127; MAX_ORDER + 1]),
            Err(CnError::TooManyCoefficients { got: MAX_ORDER + 1 })
        );
    }

    #[test]
    fn long_models_are_reduced_to_max_order() {
        let mut bytes = vec![50];
        bytes.extend(0..40_u8);
        let p = CnPayload::parse(&bytes).unwrap();
        assert_eq!(p.reflection_bytes(), &bytes[1..=MAX_ORDER]);
    }

    #[test]
    fn builds_payloads() {
        let mut buf = [0xAA; 8];
        assert_eq!(CnPayload::new(level(62)).write(&mut buf), Ok(1));
        assert_eq!(buf[0], 62);
        let p = CnPayload::with_reflection(level(45), &[100, 130, 127]).unwrap();
        assert_eq!(p.write(&mut buf), Ok(4));
        assert_eq!(&buf[..4], &[45, 100, 130, 127]);
        assert_eq!(CnPayload::parse(&buf[..4]), Ok(p));
        assert_eq!(
            p.write(&mut buf[..3]),
            Err(CnError::BufferTooSmall { needed: 4, got: 3 })
        );
    }

    #[test]
    fn levels_convert_both_ways() {
        assert_eq!(NoiseLevel::from_dbov(-49.6), level(50));
        assert_eq!(NoiseLevel::from_dbov(3.0), level(0));
        assert_eq!(NoiseLevel::from_dbov(-300.0), level(127));
        assert_eq!(NoiseLevel::from_dbov(f32::NAN), level(127));
        assert!((level(0).rms() - 32_767.0).abs() < 0.01);
        assert!((level(20).rms() - 3_276.7).abs() < 0.01);
        // A full-scale square wave is 0 dBov; a sine of amplitude A is 3 dB below.
        assert_eq!(
            NoiseLevel::of_frame(&[32_767, -32_767, 32_767, -32_767]),
            level(0)
        );
        let sine: Vec<i16> = (0..800)
            .map(|n| (3_276.7 * (std::f64::consts::TAU * n as f64 / 8.0).sin()).round() as i16)
            .collect();
        assert_eq!(NoiseLevel::of_frame(&sine), level(23));
        assert_eq!(NoiseLevel::of_frame(&[0; 160]), level(127));
        assert_eq!(NoiseLevel::of_frame(&[]), level(127));
    }

    #[test]
    fn white_noise_comes_out_at_the_requested_level() {
        for minus in [20, 40, 60, 70] {
            let mut noise = ComfortNoise::new(7);
            noise.update(&CnPayload::new(level(minus)));
            let out = second_of(&mut noise);
            let db = rms_db(&out);
            assert!(
                (db + f64::from(minus)).abs() < 0.3,
                "-{minus} dBov: got {db:.2}"
            );
            assert_eq!(NoiseLevel::of_frame(&out), level(minus));
            // White: no correlation between neighbours.
            assert!(rho1(&out).abs() < 0.05, "-{minus}: rho1 {}", rho1(&out));
        }
    }

    #[test]
    fn reflection_coefficients_shape_the_spectrum_at_the_same_level() {
        // k₁ = −0.5 (byte 63): low-pass, neighbours correlate at +0.5; k₁ = +0.5: high-pass.
        for (byte, expected_rho) in [(63_u8, 0.5), (191, -0.5)] {
            let mut noise = ComfortNoise::new(11);
            noise.update(&CnPayload::with_reflection(level(40), &[byte]).unwrap());
            let out = second_of(&mut noise);
            let rho = rho1(&out);
            assert!(
                (rho - expected_rho).abs() < 0.05,
                "byte {byte}: rho1 {rho:.3}"
            );
            let db = rms_db(&out);
            assert!((db + 40.0).abs() < 0.3, "byte {byte}: {db:.2} dBov");
        }
        // A higher-order model keeps the level too.
        let mut noise = ComfortNoise::new(3);
        let p = CnPayload::with_reflection(level(50), &[40, 180, 90, 150, 110]).unwrap();
        noise.update(&p);
        let db = rms_db(&second_of(&mut noise));
        assert!((db + 50.0).abs() < 0.5, "order 5: {db:.2} dBov");
        // Changing the level keeps the shape.
        noise.set_level(level(30));
        let db = rms_db(&second_of(&mut noise));
        assert!((db + 30.0).abs() < 0.5, "order 5 at -30: {db:.2} dBov");
    }

    #[test]
    fn noise_is_reproducible_from_its_seed() {
        let mut a = ComfortNoise::new(42);
        let mut b = ComfortNoise::new(42);
        let mut c = ComfortNoise::new(43);
        let (mut fa, mut fb, mut fc) = ([0; 160], [0; 160], [0; 160]);
        for n in [&mut a, &mut b, &mut c] {
            n.set_level(level(30));
        }
        a.fill(&mut fa);
        b.fill(&mut fb);
        c.fill(&mut fc);
        assert_eq!(fa, fb);
        assert_ne!(fa, fc);
        // Seed 0 is not the xorshift fixed point.
        let mut z = ComfortNoise::new(0);
        z.set_level(level(30));
        z.fill(&mut fa);
        assert!(fa.iter().any(|&s| s != 0));
    }

    #[test]
    fn the_quietest_level_is_silence_in_16_bits() {
        let mut noise = ComfortNoise::new(1);
        noise.update(&CnPayload::new(level(127)));
        let mut out = [1; 160];
        noise.fill(&mut out);
        assert!(out.iter().all(|&s| s == 0));
    }

    proptest! {
        #[test]
        fn any_payload_parses_or_errs_and_generates_bounded_noise(
            bytes in prop::collection::vec(any::<u8>(), 0..40),
            seed in any::<u64>(),
        ) {
            match CnPayload::parse(&bytes) {
                Ok(p) => {
                    let mut buf = [0; 1 + MAX_ORDER];
                    let n = p.write(&mut buf).unwrap();
                    prop_assert_eq!(CnPayload::parse(&buf[..n]), Ok(p));
                    let mut noise = ComfortNoise::new(seed);
                    noise.update(&p);
                    let mut out = [0; 160];
                    for _ in 0..10 {
                        noise.fill(&mut out);
                    }
                    // A stable filter at −L dBov stays far from full scale at L ≥ 20.
                    if p.level().minus_dbov() >= 20 {
                        prop_assert!(out.iter().all(|&s| s.unsigned_abs() < 32_000));
                    }
                }
                Err(e) => prop_assert!(bytes.is_empty() || bytes[0] > 127, "{e}"),
            }
        }
    }
}
