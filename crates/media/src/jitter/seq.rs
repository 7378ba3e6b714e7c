//! Sequence-number bookkeeping: which packets are new, reordered or duplicates, across the
//! 16-bit wrap (RFC 3550 §5.1, Appendix A.1).

/// How many sequence numbers behind the highest one we remember.
const WINDOW: u16 = 128;
/// A jump of more than this many sequence numbers (either way) is a restart of the numbering
/// (RFC 3550 A.1 uses 3,000 as `MAX_DROPOUT`), not loss or reordering.
const MAX_DROPOUT: u16 = 3_000;

/// Where a sequence number falls relative to what we have seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SeqClass {
    /// Ahead of every earlier packet, by `advance` (0 for the first packet or a restart).
    Next {
        /// Distance from the previous highest sequence number.
        advance: u16,
    },
    /// Behind the highest seen, and not seen before (or too old to tell).
    Reordered,
    /// Seen already.
    Duplicate,
}

/// The highest sequence number seen and a bitmap of the [`WINDOW`] numbers below it.
#[derive(Debug, Clone, Default)]
pub(super) struct SeqWindow {
    highest: Option<u16>,
    /// Bit `i` set: `highest - i` was seen.
    seen: u128,
}

impl SeqWindow {
    /// Forgets everything (SSRC change, resync).
    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Classifies `seq` and records it.
    pub(super) fn classify(&mut self, seq: u16) -> SeqClass {
        let Some(highest) = self.highest else {
            self.restart(seq);
            return SeqClass::Next { advance: 0 };
        };
        let ahead = seq.wrapping_sub(highest);
        let behind = highest.wrapping_sub(seq);
        if ahead == 0 {
            SeqClass::Duplicate
        } else if ahead < 0x8000 {
            if ahead > MAX_DROPOUT {
                self.restart(seq);
                return SeqClass::Next { advance: 0 };
            }
            self.seen = if ahead >= WINDOW {
                1
            } else {
                (self.seen << ahead) | 1
            };
            self.highest = Some(seq);
            SeqClass::Next { advance: ahead }
        } else if behind > MAX_DROPOUT {
            self.restart(seq);
            SeqClass::Next { advance: 0 }
        } else if behind < WINDOW {
            let bit = 1_u128 << behind;
            if self.seen & bit != 0 {
                SeqClass::Duplicate
            } else {
                self.seen |= bit;
                SeqClass::Reordered
            }
        } else {
            SeqClass::Reordered
        }
    }

    fn restart(&mut self, seq: u16) {
        self.highest = Some(seq);
        self.seen = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_reordered_duplicate_across_the_wrap() {
        let mut w = SeqWindow::default();
        assert_eq!(w.classify(65_534), SeqClass::Next { advance: 0 });
        assert_eq!(w.classify(65_535), SeqClass::Next { advance: 1 });
        assert_eq!(w.classify(1), SeqClass::Next { advance: 2 });
        assert_eq!(w.classify(0), SeqClass::Reordered);
        assert_eq!(w.classify(0), SeqClass::Duplicate);
        assert_eq!(w.classify(65_535), SeqClass::Duplicate);
        assert_eq!(w.classify(1), SeqClass::Duplicate);
        // Too old to remember: reported as reordered, not as a duplicate.
        assert_eq!(w.classify(1_u16.wrapping_sub(200)), SeqClass::Reordered);
    }

    #[test]
    fn big_jumps_restart_the_numbering() {
        let mut w = SeqWindow::default();
        w.classify(100);
        assert_eq!(w.classify(20_000), SeqClass::Next { advance: 0 });
        assert_eq!(w.classify(20_001), SeqClass::Next { advance: 1 });
        assert_eq!(w.classify(5), SeqClass::Next { advance: 0 });
        w.clear();
        assert_eq!(w.classify(5), SeqClass::Next { advance: 0 });
    }
}
