//! One event per key press, whichever sources report it.
//!
//! Many phones send a press two ways at once: RFC 4733 events *and* the tones in the audio
//! (they do not mute the audio while sending events), or RFC 4733 *and* a SIP INFO. The
//! [`Merger`] passes the first complete report of a press and drops the reports of the same
//! press from the other sources, while keeping apart what really are several presses.
//!
//! # Rules
//! * A report is a **copy** of an earlier one if it is for the same key, from another source,
//!   and the two presses overlap in time or began within [`MergerConfig::window`] of each
//!   other. Sources see a press at slightly different times (the in-band detector needs tens of
//!   milliseconds, RTP and signalling take different paths), so a copy is looked for on either
//!   side of the press, not only inside it.
//! * Each passed press absorbs **at most one copy per other source**, and a copy goes to the
//!   press that began nearest to it. So "11" pressed quickly yields two presses even when both
//!   sources report both, and a press one source missed is not swallowed by its neighbour.
//! * Reports from the **same source are never merged**: a source reports each press once (the
//!   RFC 4733 receiver and the in-band detector already fold their own repeats), so two reports
//!   are two presses, however close.
//! * **RFC 4733 is preferred.** Its press is known from its first packet, long before its end,
//!   so when the receiver's `Begin` edges are given to [`Merger::push_edge`], an in-band or INFO
//!   report of the same key arriving while the RFC 4733 press is on is dropped, and the RFC 4733
//!   report passes at its end, with the sender's own duration. (An INFO that arrives before the
//!   RFC 4733 press has begun passes, and the RFC 4733 report is then the dropped copy.)
//!
//! The window defaults to 200 ms: wide enough for an INFO to trail its RTP events through a
//! proxy or two, narrower than the ~250 ms between two presses of a fast human typist, which,
//! by the at-most-one-copy rule, matters only when one source missed one of two presses.

use std::time::{Duration, Instant};

use super::{Digit, DtmfEdge, DtmfEvent, DtmfSource};

/// Merger settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergerConfig {
    /// Largest distance between the starts of two reports of one press that do not overlap.
    pub window: Duration,
    /// How long a passed press is remembered after it ended, to catch late copies.
    pub memory: Duration,
}

impl Default for MergerConfig {
    fn default() -> Self {
        MergerConfig {
            window: Duration::from_millis(200),
            memory: Duration::from_secs(2),
        }
    }
}

/// What the merger did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergerStats {
    /// Presses passed on.
    pub passed: u64,
    /// Copies dropped.
    pub merged: u64,
}

/// Presses remembered; more than a few seconds of fast dialling.
const MEMORY: usize = 16;

/// A press that was passed on.
#[derive(Debug, Clone, Copy)]
struct Passed {
    digit: Digit,
    source: DtmfSource,
    started: Instant,
    ended: Instant,
    /// Sources whose copy of this press was already dropped (`DtmfSource::bit`s).
    absorbed: u8,
}

/// A press in progress (its `Begin` was seen, not yet its end).
#[derive(Debug, Clone, Copy)]
struct Pressing {
    digit: Digit,
    started: Instant,
    absorbed: u8,
}

/// Folds the reports of several sources into one event per press. Sans-IO: owns no clock.
#[derive(Debug)]
pub struct Merger {
    config: MergerConfig,
    passed: [Option<Passed>; MEMORY],
    next: usize,
    /// The press in progress of each source, by `DtmfSource::index`.
    pressing: [Option<Pressing>; 3],
    stats: MergerStats,
}

impl Merger {
    /// A merger that has seen nothing.
    #[must_use]
    pub fn new(config: MergerConfig) -> Merger {
        Merger {
            config,
            passed: [None; MEMORY],
            next: 0,
            pressing: [None; 3],
            stats: MergerStats::default(),
        }
    }

    /// A source's edge: `Begin` is noted (see the module docs), `End` is [`Merger::push`]ed.
    pub fn push_edge(&mut self, now: Instant, edge: DtmfEdge) -> Option<DtmfEvent> {
        match edge {
            DtmfEdge::Begin {
                digit,
                source,
                started,
            } => {
                self.pressing[source.index()] = Some(Pressing {
                    digit,
                    started,
                    absorbed: 0,
                });
                None
            }
            DtmfEdge::End(event) => self.push(now, event),
        }
    }

    /// A complete report received at `now`: the press to pass on, or `None` if it is a copy of
    /// a press already passed (or of an RFC 4733 press in progress).
    pub fn push(&mut self, now: Instant, event: DtmfEvent) -> Option<DtmfEvent> {
        self.forget_before(now);
        let bit = event.source.bit();
        // This source's own press is over.
        let own = &mut self.pressing[event.source.index()];
        let carried = match *own {
            Some(p) if p.digit == event.digit => {
                *own = None;
                p.absorbed
            }
            _ => 0,
        };
        if event.source != DtmfSource::Rfc4733
            && let Some(p) = &mut self.pressing[DtmfSource::Rfc4733.index()]
            && p.digit == event.digit
            && p.absorbed & bit == 0
            && near(self.config.window, p.started, now, &event)
        {
            p.absorbed |= bit;
            self.stats.merged += 1;
            return None;
        }
        if let Some(i) = self.copy_of(&event) {
            if let Some(p) = &mut self.passed[i] {
                p.absorbed |= bit;
            }
            self.stats.merged += 1;
            return None;
        }
        self.passed[self.next] = Some(Passed {
            digit: event.digit,
            source: event.source,
            started: event.started,
            ended: event.ended(),
            absorbed: carried,
        });
        self.next = (self.next + 1) % MEMORY;
        self.stats.passed += 1;
        Some(event)
    }

    /// What was passed and merged so far.
    #[must_use]
    pub fn stats(&self) -> MergerStats {
        self.stats
    }

    /// The passed press `event` is a copy of: nearest start among the candidates.
    fn copy_of(&self, event: &DtmfEvent) -> Option<usize> {
        let bit = event.source.bit();
        self.passed
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|p| (i, p)))
            .filter(|(_, p)| {
                p.digit == event.digit
                    && p.source != event.source
                    && p.absorbed & bit == 0
                    && near(self.config.window, p.started, p.ended, event)
            })
            .min_by_key(|(_, p)| distance(p.started, event.started))
            .map(|(i, _)| i)
    }

    fn forget_before(&mut self, now: Instant) {
        let memory = self.config.memory;
        for slot in &mut self.passed {
            if slot.is_some_and(|p| p.ended + memory < now) {
                *slot = None;
            }
        }
    }
}

/// Does `event` overlap `[started, ended]`, or begin within `window` of `started`?
fn near(window: Duration, started: Instant, ended: Instant, event: &DtmfEvent) -> bool {
    let overlaps = event.started <= ended && started <= event.ended();
    overlaps || distance(started, event.started) <= window
}

fn distance(a: Instant, b: Instant) -> Duration {
    if a > b { a - b } else { b - a }
}
