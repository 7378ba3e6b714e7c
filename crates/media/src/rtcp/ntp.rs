//! The 64-bit NTP timestamp of RTCP sender reports (RFC 3550 §4), and the small seeded RNG that
//! randomises report intervals.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from the NTP era 0 origin (1900-01-01) to the Unix epoch (1970-01-01).
const UNIX_TO_NTP_SECS: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp (RFC 3550 §4): seconds since 1900 in the high 32 bits, the fraction
/// of a second in the low 32 bits. It wraps in 2036 (era 1), which RFC 3550 accepts: only
/// differences and the middle 32 bits ([`NtpTime::middle32`]) are ever compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// From whole seconds since 1900 and a binary fraction of a second.
    #[must_use]
    pub const fn from_parts(seconds: u32, fraction: u32) -> Self {
        Self(((seconds as u64) << 32) | fraction as u64)
    }

    /// Whole seconds since 1900 (modulo 2³²).
    #[must_use]
    pub const fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The fraction of a second, in units of 2⁻³² s.
    #[must_use]
    pub const fn fraction(self) -> u32 {
        (self.0 & 0xFFFF_FFFF) as u32
    }

    /// The middle 32 bits (16 of seconds, 16 of fraction), as carried in the LSR field of a
    /// report block (RFC 3550 §6.4.1).
    #[must_use]
    pub const fn middle32(self) -> u32 {
        ((self.0 >> 16) & 0xFFFF_FFFF) as u32
    }
}

impl From<SystemTime> for NtpTime {
    /// The wall clock as NTP time, for the driver that stamps SRs. Times before 1970 map to the
    /// Unix epoch; the era wrap of 2036 is taken modulo 2³² seconds.
    fn from(t: SystemTime) -> Self {
        let since_unix = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let seconds = (since_unix.as_secs() + UNIX_TO_NTP_SECS) & 0xFFFF_FFFF;
        // nanos < 1e9, so nanos * 2^32 / 1e9 < 2^32.
        let fraction = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
        Self((seconds << 32) | fraction)
    }
}

/// Converts a delay to the 1/65536 s units of the DLSR field (RFC 3550 §6.4.1), saturating.
#[must_use]
pub fn duration_to_dlsr(d: Duration) -> u32 {
    let units = d.as_nanos() * 65_536 / 1_000_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// Converts DLSR units (1/65536 s) to a duration.
#[must_use]
pub fn dlsr_to_duration(units: u32) -> Duration {
    Duration::from_nanos(u64::from(units) * 1_000_000_000 / 65_536)
}

/// SplitMix64: a tiny deterministic generator, enough to spread report times (RFC 3550 §6.3.1
/// asks for a uniform factor in [0.5, 1.5], not for unpredictability). Seeded by the caller so
/// tests replay exactly.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) const fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_unit(&mut self) -> f64 {
        // 53 random bits fill the mantissa of an f64 exactly.
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_epoch_is_ntp_2208988800() {
        assert_eq!(
            NtpTime::from(UNIX_EPOCH),
            NtpTime::from_parts(2_208_988_800, 0)
        );
    }

    #[test]
    fn half_a_second_is_half_the_fraction() {
        let t = NtpTime::from(UNIX_EPOCH + Duration::from_millis(1500));
        assert_eq!(t.seconds(), 2_208_988_801);
        assert_eq!(t.fraction(), 0x8000_0000);
        assert_eq!(t.middle32(), ((2_208_988_801_u32 & 0xFFFF) << 16) | 0x8000);
    }

    #[test]
    fn dlsr_units_round_trip_within_one_unit() {
        assert_eq!(duration_to_dlsr(Duration::from_secs(1)), 65_536);
        assert_eq!(duration_to_dlsr(Duration::from_millis(500)), 32_768);
        assert_eq!(dlsr_to_duration(65_536), Duration::from_secs(1));
        assert_eq!(duration_to_dlsr(Duration::from_secs(1 << 20)), u32::MAX);
    }

    #[test]
    fn unit_draws_stay_in_range_and_replay() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..1000 {
            let x = a.next_unit();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), b.next_unit().to_bits());
        }
    }
}
