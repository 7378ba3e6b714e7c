//! The Opus `a=fmtp` parameters of RFC 7587 §6.1, parsed leniently and written canonically.
//!
//! Direction matters (RFC 7587 §7.1): the *receive* parameters (`maxplaybackrate`, `stereo`,
//! `useinbandfec`, `usedtx`, `cbr`, `maxaveragebitrate`, `ptime`/`minptime`/`maxptime`) say what
//! the side that wrote them wants to receive, so the peer's values govern our encoder; the
//! `sprop-` parameters describe what that side sends. All of them are preferences: a decoder
//! must decode any Opus packet whatever was signalled, which ours does.
//!
//! Parsing never fails: SDP from the field contains every variation (spaces after `;`, upper
//! case, unknown parameters, junk values), and RFC 7587 §6.1 asks receivers to ignore values
//! outside the allowed ranges. A parameter that is absent or invalid keeps its RFC default.

use std::fmt::Write as _;

/// RFC 7587 §6.1 default and upper bound of `maxplaybackrate` / `sprop-maxcapturerate`.
const MAX_RATE: u32 = 48_000;
/// RFC 7587 §6.1 lower bound of `maxplaybackrate` / `sprop-maxcapturerate`.
const MIN_RATE: u32 = 8_000;
/// RFC 7587 §6.1: `maxaveragebitrate` values outside 6,000–510,000 are ignored.
const BITRATE_RANGE: std::ops::RangeInclusive<u32> = 6_000..=510_000;
/// RFC 7587 §6.1: packet durations up to 120 ms (the default `maxptime`).
const MAX_PTIME: u32 = 120;
/// RFC 7587 §6.1: the default `minptime`, the shortest Opus frame (2.5 ms) rounded up.
const DEFAULT_MINPTIME: u32 = 3;

/// Opus format parameters (RFC 7587 §6.1). Field defaults are the RFC's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusFmtp {
    /// Highest audio rate the writer can play, 8,000–48,000 Hz (default 48,000); the peer should
    /// not code above it.
    pub max_playback_rate: u32,
    /// Highest audio rate the writer is likely to capture, 8,000–48,000 Hz (default 48,000).
    pub sprop_max_capture_rate: u32,
    /// Largest average bitrate the writer wants to receive, 6,000–510,000 bit/s, if given.
    pub max_average_bitrate: Option<u32>,
    /// The writer prefers to receive stereo (`stereo=1`). We always send mono, which RFC 7587
    /// §6.1 allows.
    pub stereo: bool,
    /// The writer is likely to send stereo (`sprop-stereo=1`). We downmix it.
    pub sprop_stereo: bool,
    /// The writer prefers constant bitrate (`cbr=1`).
    pub cbr: bool,
    /// The writer can use in-band FEC (`useinbandfec=1`), so sending it is worthwhile.
    pub use_inband_fec: bool,
    /// The writer prefers discontinuous transmission (`usedtx=1`).
    pub use_dtx: bool,
    /// Preferred packet duration in ms (`ptime`, up to 120), if given.
    pub ptime: Option<u32>,
    /// Shortest packet duration the writer wants, in ms (default 3, i.e. 2.5 ms frames).
    pub min_ptime: u32,
    /// Longest packet duration the writer wants, in ms (default 120).
    pub max_ptime: u32,
}

impl Default for OpusFmtp {
    fn default() -> Self {
        Self {
            max_playback_rate: MAX_RATE,
            sprop_max_capture_rate: MAX_RATE,
            max_average_bitrate: None,
            stereo: false,
            sprop_stereo: false,
            cbr: false,
            use_inband_fec: false,
            use_dtx: false,
            ptime: None,
            min_ptime: DEFAULT_MINPTIME,
            max_ptime: MAX_PTIME,
        }
    }
}

/// Parses the parameter list of an Opus `a=fmtp` line (what follows the payload type, e.g.
/// `minptime=10;useinbandfec=1`). Names are case-insensitive, whitespace around names, values
/// and `;` is ignored, unknown parameters and invalid values are ignored (RFC 7587 §6.1), and a
/// repeated parameter takes its last valid value. Never fails.
#[must_use]
pub fn parse_opus_fmtp(params: &str) -> OpusFmtp {
    let mut f = OpusFmtp::default();
    for item in params.split(';') {
        let Some((name, value)) = item.split_once('=') else {
            continue;
        };
        let name = name.trim();
        let value = value.trim();
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("maxplaybackrate") {
            set(&mut f.max_playback_rate, rate(value));
        } else if is("sprop-maxcapturerate") {
            set(&mut f.sprop_max_capture_rate, rate(value));
        } else if is("maxaveragebitrate") {
            if let Some(v) = number(value).filter(|v| BITRATE_RANGE.contains(v)) {
                f.max_average_bitrate = Some(v);
            }
        } else if is("stereo") {
            set(&mut f.stereo, flag(value));
        } else if is("sprop-stereo") {
            set(&mut f.sprop_stereo, flag(value));
        } else if is("cbr") {
            set(&mut f.cbr, flag(value));
        } else if is("useinbandfec") {
            set(&mut f.use_inband_fec, flag(value));
        } else if is("usedtx") {
            set(&mut f.use_dtx, flag(value));
        } else if is("ptime") {
            if let Some(v) = ptime(value) {
                f.ptime = Some(v);
            }
        } else if is("minptime") {
            set(&mut f.min_ptime, ptime(value));
        } else if is("maxptime") {
            set(&mut f.max_ptime, ptime(value));
        }
    }
    f
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// A decimal number without sign, as SDP writes them.
fn number(value: &str) -> Option<u32> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn rate(value: &str) -> Option<u32> {
    number(value).filter(|v| (MIN_RATE..=MAX_RATE).contains(v))
}

fn ptime(value: &str) -> Option<u32> {
    number(value).filter(|v| (1..=MAX_PTIME).contains(v))
}

/// RFC 7587 §6.1 flags are `0` or `1`; anything else is ignored.
fn flag(value: &str) -> Option<bool> {
    match value {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

impl OpusFmtp {
    /// What we write in our own offer or answer for an Opus leg whose PCM runs at `rate_hz`:
    /// we play and capture at most that rate, always want in-band FEC, and take 10 ms packets
    /// at least (we never send shorter, and shorter ones cost more per second to decode).
    #[must_use]
    pub fn local(rate_hz: u32) -> Self {
        let rate = rate_hz.clamp(MIN_RATE, MAX_RATE);
        Self {
            max_playback_rate: rate,
            sprop_max_capture_rate: rate,
            use_inband_fec: true,
            min_ptime: 10,
            ..Self::default()
        }
    }

    /// Writes the parameters that differ from the RFC defaults, in a fixed order, as
    /// `name=value` pairs joined by `;` (no spaces: some peers' parsers need that). Parsing the
    /// result gives back `self` (for values inside the RFC ranges). The defaults give `""`, which
    /// means "write no `a=fmtp` line".
    #[must_use]
    pub fn to_fmtp_string(&self) -> String {
        let d = Self::default();
        let mut s = String::new();
        let mut put = |name: &str, value: u32| {
            if !s.is_empty() {
                s.push(';');
            }
            // Writing to a String cannot fail.
            let _ = write!(s, "{name}={value}");
        };
        if self.max_playback_rate != d.max_playback_rate {
            put("maxplaybackrate", self.max_playback_rate);
        }
        if self.sprop_max_capture_rate != d.sprop_max_capture_rate {
            put("sprop-maxcapturerate", self.sprop_max_capture_rate);
        }
        if let Some(b) = self.max_average_bitrate {
            put("maxaveragebitrate", b);
        }
        if let Some(p) = self.ptime {
            put("ptime", p);
        }
        if self.min_ptime != d.min_ptime {
            put("minptime", self.min_ptime);
        }
        if self.max_ptime != d.max_ptime {
            put("maxptime", self.max_ptime);
        }
        for (name, on) in [
            ("stereo", self.stereo),
            ("sprop-stereo", self.sprop_stereo),
            ("cbr", self.cbr),
            ("useinbandfec", self.use_inband_fec),
            ("usedtx", self.use_dtx),
        ] {
            if on {
                put(name, 1);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_browsers_and_softphones_send() {
        // Chrome / Firefox.
        let f = parse_opus_fmtp("minptime=10;useinbandfec=1");
        assert_eq!(f.min_ptime, 10);
        assert!(f.use_inband_fec);
        assert_eq!(f.max_playback_rate, 48_000);
        // Linphone/baresip style, with spaces and upper case.
        let f = parse_opus_fmtp(
            " MaxPlaybackRate=16000; sprop-maxcapturerate = 16000 ;stereo=1; sprop-stereo=1;usedtx=1;cbr=1;maxaveragebitrate=20000;ptime=40;maxptime=60",
        );
        assert_eq!(f.max_playback_rate, 16_000);
        assert_eq!(f.sprop_max_capture_rate, 16_000);
        assert!(f.stereo && f.sprop_stereo && f.use_dtx && f.cbr);
        assert!(!f.use_inband_fec);
        assert_eq!(f.max_average_bitrate, Some(20_000));
        assert_eq!(f.ptime, Some(40));
        assert_eq!(f.max_ptime, 60);
    }

    #[test]
    fn ignores_invalid_values_and_unknown_parameters() {
        let f = parse_opus_fmtp(
            "maxplaybackrate=4000;maxaveragebitrate=1000000;stereo=yes;useinbandfec=2;minptime=-5;\
             ptime=0;foo=bar;;=;maxptime;cbr=1 1;sprop-maxcapturerate=+8000",
        );
        assert_eq!(f, OpusFmtp::default());
        // The last valid value of a repeated parameter wins; an invalid repeat does not erase it.
        let f = parse_opus_fmtp("maxplaybackrate=8000;maxplaybackrate=12000;maxplaybackrate=x");
        assert_eq!(f.max_playback_rate, 12_000);
        assert_eq!(parse_opus_fmtp(""), OpusFmtp::default());
    }

    #[test]
    fn writes_only_what_differs_from_the_defaults() {
        assert_eq!(OpusFmtp::default().to_fmtp_string(), "");
        assert_eq!(
            OpusFmtp::local(8_000).to_fmtp_string(),
            "maxplaybackrate=8000;sprop-maxcapturerate=8000;minptime=10;useinbandfec=1"
        );
        assert_eq!(
            OpusFmtp::local(48_000).to_fmtp_string(),
            "minptime=10;useinbandfec=1"
        );
        let all = OpusFmtp {
            max_playback_rate: 16_000,
            sprop_max_capture_rate: 12_000,
            max_average_bitrate: Some(24_000),
            stereo: true,
            sprop_stereo: true,
            cbr: true,
            use_inband_fec: true,
            use_dtx: true,
            ptime: Some(20),
            min_ptime: 10,
            max_ptime: 60,
        };
        let s = all.to_fmtp_string();
        assert_eq!(
            s,
            "maxplaybackrate=16000;sprop-maxcapturerate=12000;maxaveragebitrate=24000;ptime=20;\
             minptime=10;maxptime=60;stereo=1;sprop-stereo=1;cbr=1;useinbandfec=1;usedtx=1"
        );
        assert_eq!(parse_opus_fmtp(&s), all);
    }
}
