//! Symmetric RTP latching: where a leg's RTP really comes from, and where to send ours.
//!
//! A caller behind NAT announces a private address in its SDP, and its packets arrive from the
//! NAT's public address and port. Like every SBC, we learn that source from the packets
//! themselves ("latching", RFC 7362 §3.2: symmetric RTP) and send our RTP back to it. Learning
//! blindly would let anyone who guesses the port hijack the call, so the policy is strict:
//!
//! * packets from the address the SDP named latch at once (nothing to learn);
//! * any other source must first send [`LatchPolicy::probation`] packets in sequence with one
//!   SSRC — a stray or spoofed datagram never latches;
//! * once latched, other sources are refused, unless the latched one has been silent for
//!   [`LatchPolicy::relatch_after`] (a phone that roamed to another network, a NAT that rebound)
//!   *and* the newcomer passes a longer probation;
//! * a new SDP (re-INVITE) starts over.
//!
//! Sans-IO: the driver passes each packet's source, SSRC and sequence number with `now`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Tuning of the latching rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatchPolicy {
    /// In-sequence packets a source other than the SDP's must send before it is latched.
    pub probation: u8,
    /// How long the latched source must have been silent before another may take over.
    pub relatch_after: Duration,
    /// In-sequence packets a newcomer must send to take over from a silent latched source.
    pub relatch_probation: u8,
}

impl Default for LatchPolicy {
    fn default() -> Self {
        LatchPolicy {
            probation: 2,
            relatch_after: Duration::from_secs(2),
            relatch_probation: 5,
        }
    }
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From the latched source (or a candidate on probation): use it.
    Accept,
    /// This packet latched its source (first time, or taking over): use it; send there now.
    Latched(SocketAddr),
    /// From a foreign source: drop it and count it.
    Reject,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    addr: SocketAddr,
    ssrc: u32,
    last_seq: u16,
    count: u8,
}

/// One leg's latching state.
#[derive(Debug, Clone)]
pub struct Latch {
    policy: LatchPolicy,
    /// The RTP address the remote's SDP named (where we send until latched).
    expected: Option<SocketAddr>,
    latched: Option<SocketAddr>,
    /// When the latched source last sent a packet.
    last_seen: Option<Instant>,
    candidate: Option<Candidate>,
}

impl Latch {
    /// Nothing known yet.
    #[must_use]
    pub fn new(policy: LatchPolicy) -> Self {
        Latch {
            policy,
            expected: None,
            latched: None,
            last_seen: None,
            candidate: None,
        }
    }

    /// A new SDP from the remote: start learning again from its address.
    pub fn reset(&mut self, expected: SocketAddr) {
        self.expected = Some(expected);
        self.latched = None;
        self.last_seen = None;
        self.candidate = None;
    }

    /// Where our RTP goes: the latched source, else the SDP's address.
    #[must_use]
    pub fn target(&self) -> Option<SocketAddr> {
        self.latched.or(self.expected)
    }

    /// The latched source, if any.
    #[must_use]
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// Judges a packet from `from` with this SSRC and sequence number.
    pub fn check(&mut self, now: Instant, from: SocketAddr, ssrc: u32, seq: u16) -> Verdict {
        if self.latched == Some(from) {
            self.last_seen = Some(now);
            self.candidate = None;
            return Verdict::Accept;
        }
        let needed = match self.latched {
            None if self.expected == Some(from) => return self.latch(now, from),
            None => self.policy.probation,
            Some(_) => {
                let silent = self
                    .last_seen
                    .is_none_or(|t| now.saturating_duration_since(t) >= self.policy.relatch_after);
                if !silent {
                    self.candidate = None;
                    return Verdict::Reject;
                }
                self.policy.relatch_probation
            }
        };
        let count = match self.candidate {
            Some(c) if c.addr == from && c.ssrc == ssrc && seq == c.last_seq.wrapping_add(1) => {
                c.count + 1
            }
            _ => 1,
        };
        if count >= needed.max(1) {
            return self.latch(now, from);
        }
        self.candidate = Some(Candidate {
            addr: from,
            ssrc,
            last_seq: seq,
            count,
        });
        // Before anything is latched the candidate's audio is used (the call's first words are
        // not dropped); taking over a latched leg waits for the whole probation.
        if self.latched.is_none() {
            Verdict::Accept
        } else {
            Verdict::Reject
        }
    }

    fn latch(&mut self, now: Instant, from: SocketAddr) -> Verdict {
        self.latched = Some(from);
        self.last_seen = Some(now);
        self.candidate = None;
        Verdict::Latched(from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn the_sdp_address_latches_at_once() {
        let t0 = Instant::now();
        let mut latch = Latch::new(LatchPolicy::default());
        assert_eq!(latch.target(), None);
        latch.reset(addr(4000));
        assert_eq!(latch.target(), Some(addr(4000)));
        assert_eq!(
            latch.check(t0, addr(4000), 1, 10),
            Verdict::Latched(addr(4000))
        );
        assert_eq!(latch.check(t0, addr(4000), 1, 11), Verdict::Accept);
        // A third party is refused from now on.
        assert_eq!(latch.check(t0, addr(6666), 9, 500), Verdict::Reject);
        assert_eq!(latch.check(t0, addr(6666), 9, 501), Verdict::Reject);
        assert_eq!(latch.target(), Some(addr(4000)));
    }

    #[test]
    fn a_natted_source_latches_after_probation() {
        let t0 = Instant::now();
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000)); // private address in the SDP; packets come from the NAT
        assert_eq!(latch.check(t0, addr(5555), 7, 100), Verdict::Accept);
        assert_eq!(latch.target(), Some(addr(4000)));
        assert_eq!(
            latch.check(t0, addr(5555), 7, 101),
            Verdict::Latched(addr(5555))
        );
        assert_eq!(latch.target(), Some(addr(5555)));
    }

    #[test]
    fn out_of_sequence_or_other_ssrc_restarts_probation() {
        let t0 = Instant::now();
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000));
        assert_eq!(latch.check(t0, addr(5555), 7, 100), Verdict::Accept);
        assert_eq!(latch.check(t0, addr(5555), 7, 150), Verdict::Accept);
        assert_eq!(latch.check(t0, addr(5555), 8, 151), Verdict::Accept);
        assert_eq!(latch.latched(), None);
        assert_eq!(
            latch.check(t0, addr(5555), 8, 152),
            Verdict::Latched(addr(5555))
        );
    }

    #[test]
    fn a_flood_while_the_latched_source_talks_never_takes_over() {
        let t0 = Instant::now();
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000));
        latch.check(t0, addr(4000), 1, 1);
        for i in 0..1000u16 {
            let now = t0 + Duration::from_millis(u64::from(i));
            // The real phone keeps talking every 20 ms …
            if i % 20 == 0 {
                assert_eq!(latch.check(now, addr(4000), 1, 2 + i / 20), Verdict::Accept);
            }
            // … while an attacker sends perfectly sequenced packets.
            assert_eq!(latch.check(now, addr(6666), 9, i), Verdict::Reject);
        }
        assert_eq!(latch.target(), Some(addr(4000)));
    }

    #[test]
    fn a_roaming_phone_takes_over_after_silence_and_longer_probation() {
        let t0 = Instant::now();
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000));
        latch.check(t0, addr(4000), 1, 1);
        let later = t0 + Duration::from_millis(2500);
        for seq in 10..14 {
            assert_eq!(latch.check(later, addr(7000), 1, seq), Verdict::Reject);
        }
        assert_eq!(
            latch.check(later, addr(7000), 1, 14),
            Verdict::Latched(addr(7000))
        );
        assert_eq!(latch.check(later, addr(4000), 1, 2), Verdict::Reject);
    }

    #[test]
    fn sequence_wrap_counts_as_in_sequence() {
        let t0 = Instant::now();
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000));
        latch.check(t0, addr(5555), 3, u16::MAX);
        assert_eq!(
            latch.check(t0, addr(5555), 3, 0),
            Verdict::Latched(addr(5555))
        );
    }
}
