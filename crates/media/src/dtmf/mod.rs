//! DTMF: the keys a caller presses, from whichever of the three ways a phone sends them, as one
//! stream of events for the dialplan.
//!
//! A key press reaches us in one (or, from many phones, two) of three ways:
//! * **RFC 4733 telephone-events** in the RTP stream ([`rfc4733::Receiver`]): the common case on
//!   SIP trunks and softphones; we also send them ([`rfc4733::Sender`]).
//! * **In-band tones** in the audio itself ([`inband::Detector`], Goertzel filters against the
//!   ITU-T Q.24 receiver limits): callers from the PSTN behind gateways that do not convert, or
//!   peers that did not negotiate telephone-event.
//! * **SIP INFO** bodies ([`info::parse`]): `application/dtmf-relay` and `application/dtmf`,
//!   sent by some PBXs and older phones.
//!
//! Each source produces [`DtmfEdge`]s (a press begins, a press ends with its duration) or
//! complete [`DtmfEvent`]s. Phones often report the same press twice (RFC 4733 *and* in-band
//! audio, or RFC 4733 *and* INFO), so the call's events go through one [`merge::Merger`], which
//! passes the first report of each press, drops the copy from the other source and keeps genuine
//! repeats ("11") apart.
//!
//! Everything here is sans-IO, like the rest of the crate: every input carries the `now: Instant`
//! at which it happened, and the machines that keep time expose `poll_timeout()`; after each
//! `handle_*(now, …)` call, drain `poll_*()` until it returns `None`, then call `handle_timeout`
//! no later than `poll_timeout()`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchboard_media::dtmf::{Digit, DtmfEdge, DtmfSource};
//! use switchboard_media::dtmf::merge::{Merger, MergerConfig};
//! use switchboard_media::dtmf::rfc4733::{Receiver, ReceiverConfig, RtpEvent};
//!
//! let t0 = Instant::now();
//! let mut rx = Receiver::new(ReceiverConfig::default());
//! let mut merger = Merger::new(MergerConfig::default());
//! // A '5' pressed for 100 ms: one update, then the end packet (sent three times by the phone).
//! let update = [5, 0x0a, 0x03, 0x20]; // event 5, volume 10, duration 800 ticks (100 ms)
//! let end = [5, 0x8a, 0x03, 0x20]; // the same with the End bit
//! rx.handle_packet(t0, RtpEvent { timestamp: 1_000, marker: true, sequence: 1, payload: &update })
//!     .unwrap();
//! rx.handle_packet(t0 + Duration::from_millis(20),
//!     RtpEvent { timestamp: 1_000, marker: false, sequence: 2, payload: &end }).unwrap();
//! let mut digits = Vec::new();
//! while let Some(edge) = rx.poll_output() {
//!     if let Some(event) = merger.push_edge(t0, edge) {
//!         digits.push(event);
//!     }
//! }
//! assert_eq!(digits.len(), 1);
//! assert_eq!(digits[0].digit, Digit::Five);
//! assert_eq!(digits[0].source, DtmfSource::Rfc4733);
//! assert_eq!(digits[0].duration, Duration::from_millis(100));
//! ```

use std::fmt;
use std::time::{Duration, Instant};

mod goertzel;
pub mod inband;
pub mod info;
pub mod merge;
pub mod rfc4733;

/// One key of the DTMF keypad: 0–9, `*`, `#` and the fourth column A–D (ITU-T Q.23).
///
/// The discriminant is the RFC 4733 event code (§3.2): 0–9 are the digits, 10 is `*`,
/// 11 is `#`, 12–15 are A–D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Digit {
    /// Key 0.
    Zero = 0,
    /// Key 1.
    One = 1,
    /// Key 2.
    Two = 2,
    /// Key 3.
    Three = 3,
    /// Key 4.
    Four = 4,
    /// Key 5.
    Five = 5,
    /// Key 6.
    Six = 6,
    /// Key 7.
    Seven = 7,
    /// Key 8.
    Eight = 8,
    /// Key 9.
    Nine = 9,
    /// Key `*` (event code 10).
    Star = 10,
    /// Key `#` (event code 11).
    Hash = 11,
    /// Key A (event code 12).
    A = 12,
    /// Key B (event code 13).
    B = 13,
    /// Key C (event code 14).
    C = 14,
    /// Key D (event code 15).
    D = 15,
}

/// Low-group ("row") frequencies of ITU-T Q.23, in Hz.
pub const ROW_FREQUENCIES: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group ("column") frequencies of ITU-T Q.23, in Hz.
pub const COLUMN_FREQUENCIES: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// The keypad as Q.23 lays it out: `KEYPAD[row][column]`.
const KEYPAD: [[Digit; 4]; 4] = [
    [Digit::One, Digit::Two, Digit::Three, Digit::A],
    [Digit::Four, Digit::Five, Digit::Six, Digit::B],
    [Digit::Seven, Digit::Eight, Digit::Nine, Digit::C],
    [Digit::Star, Digit::Zero, Digit::Hash, Digit::D],
];

impl Digit {
    /// All sixteen keys, in event-code order.
    pub const ALL: [Digit; 16] = [
        Digit::Zero,
        Digit::One,
        Digit::Two,
        Digit::Three,
        Digit::Four,
        Digit::Five,
        Digit::Six,
        Digit::Seven,
        Digit::Eight,
        Digit::Nine,
        Digit::Star,
        Digit::Hash,
        Digit::A,
        Digit::B,
        Digit::C,
        Digit::D,
    ];

    /// The RFC 4733 event code of this key (§3.2): 0–15.
    #[must_use]
    pub const fn event_code(self) -> u8 {
        self as u8
    }

    /// The key for an RFC 4733 event code, or `None` for codes that are not DTMF keys (16 is
    /// hook flash, RFC 4734 adds modem and fax tones from 32 on).
    #[must_use]
    pub const fn from_event_code(code: u8) -> Option<Digit> {
        if (code as usize) < Self::ALL.len() {
            Some(Self::ALL[code as usize])
        } else {
            None
        }
    }

    /// The character printed on the key: `'0'`–`'9'`, `'*'`, `'#'`, `'A'`–`'D'`.
    #[must_use]
    pub const fn as_char(self) -> char {
        match self {
            Digit::Star => '*',
            Digit::Hash => '#',
            Digit::A => 'A',
            Digit::B => 'B',
            Digit::C => 'C',
            Digit::D => 'D',
            // 0..=9: the code is the digit's value.
            d => (b'0' + d as u8) as char,
        }
    }

    /// The key for a character; A–D are accepted in either case.
    #[must_use]
    pub const fn from_char(c: char) -> Option<Digit> {
        match c {
            '0'..='9' => Self::from_event_code(c as u8 - b'0'),
            '*' => Some(Digit::Star),
            '#' => Some(Digit::Hash),
            'A' | 'a' => Some(Digit::A),
            'B' | 'b' => Some(Digit::B),
            'C' | 'c' => Some(Digit::C),
            'D' | 'd' => Some(Digit::D),
            _ => None,
        }
    }

    /// Row (0–3, low group) and column (0–3, high group) of the key on the Q.23 keypad.
    #[must_use]
    pub const fn position(self) -> (usize, usize) {
        let mut row = 0;
        while row < 4 {
            let mut col = 0;
            while col < 4 {
                if KEYPAD[row][col] as u8 == self as u8 {
                    return (row, col);
                }
                col += 1;
            }
            row += 1;
        }
        // Unreachable: every Digit is on the keypad (asserted by the tests).
        (0, 0)
    }

    /// The key at a keypad position, `None` outside 0..4.
    #[must_use]
    pub const fn at(row: usize, col: usize) -> Option<Digit> {
        if row < 4 && col < 4 {
            Some(KEYPAD[row][col])
        } else {
            None
        }
    }

    /// The (low, high) frequency pair of this key in Hz (ITU-T Q.23).
    #[must_use]
    pub const fn frequencies(self) -> (f32, f32) {
        let (row, col) = self.position();
        (ROW_FREQUENCIES[row], COLUMN_FREQUENCIES[col])
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// Which way a key press reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfSource {
    /// An RFC 4733 telephone-event in the RTP stream.
    Rfc4733,
    /// Tones detected in the audio.
    Inband,
    /// A SIP INFO request (`application/dtmf-relay` or `application/dtmf`).
    SipInfo,
}

impl DtmfSource {
    /// A distinct bit per source, for small sets of sources.
    pub(crate) const fn bit(self) -> u8 {
        match self {
            DtmfSource::Rfc4733 => 1,
            DtmfSource::Inband => 2,
            DtmfSource::SipInfo => 4,
        }
    }

    /// Index 0..3, for per-source arrays.
    pub(crate) const fn index(self) -> usize {
        match self {
            DtmfSource::Rfc4733 => 0,
            DtmfSource::Inband => 1,
            DtmfSource::SipInfo => 2,
        }
    }
}

/// One complete key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    /// The key.
    pub digit: Digit,
    /// Which way it reached us.
    pub source: DtmfSource,
    /// When the press began, as well as the source can tell: the RTP timestamp's instant for
    /// RFC 4733 (arrival of the first packet seen, less the duration it reports), the first
    /// sample of the tone for in-band, the arrival of the request for SIP INFO.
    pub started: Instant,
    /// How long the key was held: the sender's figure for RFC 4733 and INFO, the measured tone
    /// length for in-band.
    pub duration: Duration,
}

impl DtmfEvent {
    /// When the press ended (`started + duration`).
    #[must_use]
    pub fn ended(&self) -> Instant {
        self.started + self.duration
    }
}

/// A press beginning or ending, as the RFC 4733 receiver and the in-band detector report them.
///
/// Every `Begin` is followed by exactly one `End` for the same digit and source (the receivers
/// end a press on a timeout if its end never arrives), so a consumer can light a "key down"
/// indication on `Begin` (barge-in over a prompt) and act on the digit at `End`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEdge {
    /// A press has begun (its duration is not known yet).
    Begin {
        /// The key.
        digit: Digit,
        /// Which way it reached us.
        source: DtmfSource,
        /// When it began (see [`DtmfEvent::started`]).
        started: Instant,
    },
    /// A press has ended.
    End(DtmfEvent),
}

impl DtmfEdge {
    /// The key this edge is about.
    #[must_use]
    pub fn digit(&self) -> Digit {
        match self {
            DtmfEdge::Begin { digit, .. } => *digit,
            DtmfEdge::End(e) => e.digit,
        }
    }
}

/// `now - d`, or `now` if that would precede the clock's origin (an `Instant` cannot be negative).
pub(crate) fn instant_before(now: Instant, d: Duration) -> Instant {
    now.checked_sub(d).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_round_trip_and_stop_at_15() {
        for (code, d) in (0_u8..).zip(Digit::ALL) {
            assert_eq!(d.event_code(), code);
            assert_eq!(Digit::from_event_code(code), Some(d));
        }
        for code in 16..=u8::MAX {
            assert_eq!(Digit::from_event_code(code), None);
        }
    }

    #[test]
    fn chars_round_trip() {
        let printed: String = Digit::ALL.iter().map(|d| d.as_char()).collect();
        assert_eq!(printed, "0123456789*#ABCD");
        for d in Digit::ALL {
            assert_eq!(Digit::from_char(d.as_char()), Some(d));
            assert_eq!(d.to_string(), d.as_char().to_string());
        }
        assert_eq!(Digit::from_char('c'), Some(Digit::C));
        for c in ['E', 'e', ' ', '+', 'é', '\0'] {
            assert_eq!(Digit::from_char(c), None, "{c:?}");
        }
    }

    #[test]
    fn keypad_positions_are_a_bijection() {
        let mut seen = [false; 16];
        for d in Digit::ALL {
            let (r, c) = d.position();
            assert_eq!(Digit::at(r, c), Some(d));
            seen[r * 4 + c] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(Digit::at(4, 0), None);
        assert_eq!(Digit::Five.frequencies(), (770.0, 1336.0));
        assert_eq!(Digit::Zero.frequencies(), (941.0, 1336.0));
        assert_eq!(Digit::D.frequencies(), (941.0, 1633.0));
        assert_eq!(Digit::Star.frequencies(), (941.0, 1209.0));
    }
}
