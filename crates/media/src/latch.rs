//! Symmetric RTP latching: where a leg's RTP really comes from, and where to send ours.
//!
//! A caller behind NAT announces a private address in its SDP, and its packets arrive from the
//! NAT's public address and port. Like every SBC, we learn that source from the packets
//! themselves ("latching", RFC 7362 §3.2: symmetric RTP) and send our RTP back to it. Learning
//! blindly would let anyone who guesses the port hijack the call, and sending blindly to
//! whatever address an SDP names would let anyone aim our media at a third host. The rules:
//!
//! * **Learning.** A packet from the exact address the SDP named latches at once. Any other
//!   source must first send [`LatchPolicy::probation`] packets in sequence with one SSRC (a
//!   caller behind NAT); a stray or spoofed datagram never latches.
//! * **Locked.** Once latched, packets from any other address are refused — however long the
//!   latched source has been silent (a muted phone, a call on hold). The one exception is
//!   *evidence* that the same stream moved: a packet with the latched stream's SSRC whose
//!   sequence number continues it ([`LatchPolicy::rebind_window`] ahead at most). That is a NAT
//!   that rebound the phone's port, or a phone that roamed; a third party cannot produce it
//!   without seeing the stream (the SSRC is 32 random bits only the two ends see).
//! * **New SDP.** A re-INVITE's new SDP ([`Latch::reset`]) starts learning again.
//! * **No reflection.** Until a source has latched, we send to the SDP's address only if the
//!   signalling vouched for it: its IP is the IP the SIP messages for this leg came from
//!   ([`Latch::reset`]'s `signalling`). Otherwise we send nothing until the remote sends first,
//!   so an INVITE cannot aim our media at a host that never asked for it.
//!
//! The latch has no clock: nothing in it depends on time, so silence can never unlock it.
//! Sans-IO: the driver passes each packet's source, SSRC and sequence number.
//!
//! ```
//! use std::net::SocketAddr;
//! use switchboard_media::latch::{Latch, LatchPolicy, Verdict};
//!
//! let phone: SocketAddr = "192.0.2.10:4000".parse().unwrap();
//! let intruder: SocketAddr = "198.51.100.66:5000".parse().unwrap();
//! let mut latch = Latch::new(LatchPolicy::default());
//! // The SDP names 192.0.2.10:4000 and the INVITE came from 192.0.2.10: we may send at once.
//! latch.reset(phone, Some(phone.ip()));
//! assert_eq!(latch.target(), Some(phone));
//! assert_eq!(latch.check(phone, 0x1234, 7), Verdict::Latched(phone));
//! // Nobody else gets in, whatever they send.
//! assert_eq!(latch.check(intruder, 0x9999, 1), Verdict::Reject);
//! assert_eq!(latch.check(intruder, 0x9999, 2), Verdict::Reject);
//! // The phone's NAT rebinds: same SSRC, the next sequence number, a new port.
//! let moved: SocketAddr = "192.0.2.10:4100".parse().unwrap();
//! assert_eq!(latch.check(moved, 0x1234, 8), Verdict::Relatched(moved));
//! ```

use std::net::{IpAddr, SocketAddr};

/// Tuning of the latching rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatchPolicy {
    /// In-sequence packets of one SSRC a source other than the SDP's address must send before
    /// it is latched (0 or 1: its first packet latches).
    pub probation: u8,
    /// How far ahead of the latched stream's highest sequence number a packet from a new
    /// address may be and still be taken as the same stream moved (1..=`rebind_window`).
    /// Packets lost while a NAT rebinds are the gap; 0 turns rebinding off (only a new SDP
    /// moves the latch).
    pub rebind_window: u16,
}

impl Default for LatchPolicy {
    fn default() -> Self {
        LatchPolicy {
            probation: 2,
            // Two seconds of 20 ms packets lost in the move; RFC 3550 A.1 tolerates far more
            // (3000) for one source, but a move is a short event and a small window keeps a
            // replayed old packet from counting.
            rebind_window: 100,
        }
    }
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From the latched source (or, before anything latched, a source on probation): use it.
    Accept,
    /// This packet latched its source: use it; send there from now on.
    Latched(SocketAddr),
    /// The latched stream moved to this address (same SSRC, continuing sequence numbers): use
    /// it; send there from now on.
    Relatched(SocketAddr),
    /// From a foreign source: drop it and count it.
    Reject,
}

/// The stream of the latched source, as far as it has been seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stream {
    ssrc: u32,
    /// The highest sequence number seen (RFC 3550 A.1 order: modulo 2^16, half the space
    /// ahead counts as ahead).
    seq: u16,
}

impl Stream {
    /// How far `seq` is ahead of the highest seen (0 when it is not ahead).
    fn ahead(self, seq: u16) -> u16 {
        let d = seq.wrapping_sub(self.seq);
        if d < 0x8000 { d } else { 0 }
    }

    fn saw(&mut self, ssrc: u32, seq: u16) {
        if ssrc != self.ssrc {
            // The latched source started another stream (a new SSRC): follow it.
            *self = Stream { ssrc, seq };
        } else if self.ahead(seq) > 0 {
            self.seq = seq;
        }
    }
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
    /// The RTP address the remote's SDP named.
    expected: Option<SocketAddr>,
    /// The SDP's address may be sent to before anything latched: its IP is the one the
    /// leg's signalling came from.
    vouched: bool,
    latched: Option<(SocketAddr, Stream)>,
    candidate: Option<Candidate>,
}

/// An IP as compared here: an IPv4-mapped IPv6 address is its IPv4 address (a dual-stack
/// socket reports `::ffff:192.0.2.1` for what an SDP writes `192.0.2.1`).
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

impl Latch {
    /// Nothing known yet: nothing is sent and nothing latches until [`Latch::reset`].
    #[must_use]
    pub fn new(policy: LatchPolicy) -> Self {
        Latch {
            policy,
            expected: None,
            vouched: false,
            latched: None,
            candidate: None,
        }
    }

    /// A new SDP from the remote: start learning again from its address. `signalling` is the IP
    /// the leg's SIP signalling came from (the INVITE's source for a caller; the address we
    /// sent the INVITE to, whose 200 OK named this address, for a callee), when known: only if
    /// it is the SDP address's IP may we send there before the remote has sent us anything.
    pub fn reset(&mut self, expected: SocketAddr, signalling: Option<IpAddr>) {
        self.expected = Some(expected);
        self.vouched = signalling.is_some_and(|ip| canonical(ip) == canonical(expected.ip()));
        self.latched = None;
        self.candidate = None;
    }

    /// Where our RTP goes: the latched source; before one latched, the SDP's address if the
    /// signalling vouched for it; otherwise nowhere (we wait for the remote to send first).
    #[must_use]
    pub fn target(&self) -> Option<SocketAddr> {
        match self.latched {
            Some((addr, _)) => Some(addr),
            None if self.vouched => self.expected,
            None => None,
        }
    }

    /// The latched source, if any.
    #[must_use]
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched.map(|(addr, _)| addr)
    }

    /// Whether the SDP's address is vouched for by the signalling (see [`Latch::reset`]).
    #[must_use]
    pub fn vouched(&self) -> bool {
        self.vouched
    }

    /// Whether RTCP from `ip` belongs to this leg: the latched RTP source's host, or before one
    /// latched the SDP address's host (RFC 3550 §8: no third party may feed us reports). RTCP
    /// ports are not compared: RTCP comes from RTP + 1, the RTP port itself with rtcp-mux, or
    /// any port a NAT chose.
    #[must_use]
    pub fn allows_rtcp_from(&self, ip: IpAddr) -> bool {
        let host = match (self.latched, self.expected) {
            (Some((addr, _)), _) | (None, Some(addr)) => addr.ip(),
            (None, None) => return false,
        };
        canonical(host) == canonical(ip)
    }

    /// Judges an RTP packet from `from` with this SSRC and sequence number.
    pub fn check(&mut self, from: SocketAddr, ssrc: u32, seq: u16) -> Verdict {
        match &mut self.latched {
            Some((addr, stream)) if *addr == from => {
                stream.saw(ssrc, seq);
                Verdict::Accept
            }
            Some((addr, stream)) => {
                // RFC 7362 §3.2 lets the source move; we let it move only with the proof
                // that it is the same stream: its SSRC, its next sequence numbers.
                let ahead = stream.ahead(seq);
                if ssrc == stream.ssrc && ahead >= 1 && ahead <= self.policy.rebind_window {
                    *addr = from;
                    stream.seq = seq;
                    Verdict::Relatched(from)
                } else {
                    Verdict::Reject
                }
            }
            None if self.expected == Some(from) => self.latch(from, ssrc, seq),
            None => self.probation(from, ssrc, seq),
        }
    }

    /// A source other than the SDP's before anything latched.
    fn probation(&mut self, from: SocketAddr, ssrc: u32, seq: u16) -> Verdict {
        let count = match self.candidate {
            Some(c) if c.addr == from && c.ssrc == ssrc && seq == c.last_seq.wrapping_add(1) => {
                c.count.saturating_add(1)
            }
            _ => 1,
        };
        if count >= self.policy.probation.max(1) {
            return self.latch(from, ssrc, seq);
        }
        self.candidate = Some(Candidate {
            addr: from,
            ssrc,
            last_seq: seq,
            count,
        });
        // The candidate's audio is used meanwhile, so the call's first words are not dropped;
        // nothing is sent to it until it latches.
        Verdict::Accept
    }

    fn latch(&mut self, from: SocketAddr, ssrc: u32, seq: u16) -> Verdict {
        self.latched = Some((from, Stream { ssrc, seq }));
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

    fn other_host(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 66], port))
    }

    fn loopback() -> Option<IpAddr> {
        Some(IpAddr::from([127, 0, 0, 1]))
    }

    #[test]
    fn the_sdp_address_latches_at_once() {
        let mut latch = Latch::new(LatchPolicy::default());
        assert_eq!(latch.target(), None);
        latch.reset(addr(4000), loopback());
        assert_eq!(latch.target(), Some(addr(4000)));
        assert_eq!(latch.check(addr(4000), 1, 10), Verdict::Latched(addr(4000)));
        assert_eq!(latch.check(addr(4000), 1, 11), Verdict::Accept);
        // A third party is refused from now on.
        assert_eq!(latch.check(addr(6666), 9, 500), Verdict::Reject);
        assert_eq!(latch.check(addr(6666), 9, 501), Verdict::Reject);
        assert_eq!(latch.target(), Some(addr(4000)));
    }

    #[test]
    fn nothing_is_sent_to_an_sdp_address_the_signalling_did_not_come_from() {
        let mut latch = Latch::new(LatchPolicy::default());
        // The INVITE came from 127.0.0.1; its SDP names a third host.
        latch.reset(other_host(4000), loopback());
        assert!(!latch.vouched());
        assert_eq!(latch.target(), None);
        // Unknown signalling source: the same.
        latch.reset(other_host(4000), None);
        assert_eq!(latch.target(), None);
        // Once the third host itself sends, it has asked for our media.
        assert_eq!(
            latch.check(other_host(4000), 5, 1),
            Verdict::Latched(other_host(4000))
        );
        assert_eq!(latch.target(), Some(other_host(4000)));
    }

    #[test]
    fn an_ipv4_mapped_signalling_source_vouches_for_its_ipv4_address() {
        let mut latch = Latch::new(LatchPolicy::default());
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        latch.reset(addr(4000), Some(mapped));
        assert_eq!(latch.target(), Some(addr(4000)));
    }

    #[test]
    fn a_natted_source_latches_after_probation() {
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000), loopback()); // private address in the SDP; packets from the NAT
        assert_eq!(latch.check(addr(5555), 7, 100), Verdict::Accept);
        assert_eq!(latch.target(), Some(addr(4000)));
        assert_eq!(
            latch.check(addr(5555), 7, 101),
            Verdict::Latched(addr(5555))
        );
        assert_eq!(latch.target(), Some(addr(5555)));
    }

    #[test]
    fn out_of_sequence_or_other_ssrc_restarts_probation() {
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000), loopback());
        assert_eq!(latch.check(addr(5555), 7, 100), Verdict::Accept);
        assert_eq!(latch.check(addr(5555), 7, 150), Verdict::Accept);
        assert_eq!(latch.check(addr(5555), 8, 151), Verdict::Accept);
        assert_eq!(latch.latched(), None);
        assert_eq!(
            latch.check(addr(5555), 8, 152),
            Verdict::Latched(addr(5555))
        );
    }

    #[test]
    fn a_flood_while_the_latched_source_talks_never_takes_over() {
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000), loopback());
        latch.check(addr(4000), 1, 1);
        for i in 0..1000u16 {
            // The real phone keeps talking …
            if i % 20 == 0 {
                assert_eq!(latch.check(addr(4000), 1, 2 + i / 20), Verdict::Accept);
            }
            // … while an attacker sends perfectly sequenced packets.
            assert_eq!(latch.check(addr(6666), 9, i), Verdict::Reject);
        }
        assert_eq!(latch.target(), Some(addr(4000)));
    }

    #[test]
    fn a_silent_latched_source_is_not_taken_over() {
        // The old rule let a newcomer in after 2 s of silence and five sequenced packets; the
        // latch has no clock now, so however long the phone is muted, an intruder stays out.
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000), loopback());
        latch.check(addr(4000), 1, 1);
        for seq in 10..10_000 {
            assert_eq!(latch.check(other_host(7000), 2, seq), Verdict::Reject);
        }
        assert_eq!(latch.check(addr(4000), 1, 2), Verdict::Accept);
        assert_eq!(latch.target(), Some(addr(4000)));
    }

    #[test]
    fn a_rebound_nat_keeps_the_call_with_the_same_ssrc_and_next_sequence() {
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000), loopback());
        latch.check(addr(4000), 0xABCD, 500);
        latch.check(addr(4000), 0xABCD, 501);
        // Three packets lost in the move, then the stream carries on from a new port.
        assert_eq!(
            latch.check(addr(4100), 0xABCD, 505),
            Verdict::Relatched(addr(4100))
        );
        assert_eq!(latch.target(), Some(addr(4100)));
        // A late packet from the old mapping does not move it back.
        assert_eq!(latch.check(addr(4000), 0xABCD, 502), Verdict::Reject);
        assert_eq!(latch.check(addr(4100), 0xABCD, 506), Verdict::Accept);
        assert_eq!(latch.target(), Some(addr(4100)));
    }

    #[test]
    fn the_ssrc_alone_is_not_enough() {
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000), loopback());
        latch.check(addr(4000), 0xABCD, 500);
        // Behind, the same number, or too far ahead: not the stream's continuation.
        for seq in [400, 500, 601, 40_000] {
            assert_eq!(
                latch.check(addr(4100), 0xABCD, seq),
                Verdict::Reject,
                "{seq}"
            );
        }
        assert_eq!(latch.target(), Some(addr(4000)));
    }

    #[test]
    fn the_latched_source_may_change_its_ssrc_and_its_new_stream_is_followed() {
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000), loopback());
        latch.check(addr(4000), 1, 10);
        assert_eq!(latch.check(addr(4000), 2, 9000), Verdict::Accept);
        // The old SSRC no longer proves anything; the new one does.
        assert_eq!(latch.check(addr(4100), 1, 11), Verdict::Reject);
        assert_eq!(
            latch.check(addr(4100), 2, 9001),
            Verdict::Relatched(addr(4100))
        );
    }

    #[test]
    fn a_new_sdp_starts_learning_again() {
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000), loopback());
        latch.check(addr(4000), 1, 1);
        latch.reset(addr(6000), loopback());
        assert_eq!(latch.latched(), None);
        assert_eq!(latch.target(), Some(addr(6000)));
        assert_eq!(latch.check(addr(6000), 3, 1), Verdict::Latched(addr(6000)));
    }

    #[test]
    fn sequence_wrap_counts_as_in_sequence() {
        let mut latch = Latch::new(LatchPolicy::default());
        latch.reset(addr(4000), loopback());
        latch.check(addr(5555), 3, u16::MAX);
        assert_eq!(latch.check(addr(5555), 3, 0), Verdict::Latched(addr(5555)));
        // And for a move.
        assert_eq!(latch.check(addr(5555), 3, u16::MAX - 1), Verdict::Accept);
        assert_eq!(
            latch.check(addr(5566), 3, 2),
            Verdict::Relatched(addr(5566))
        );
    }

    #[test]
    fn rtcp_is_taken_from_the_rtp_host_only() {
        let mut latch = Latch::new(LatchPolicy::default());
        assert!(!latch.allows_rtcp_from(addr(1).ip()));
        latch.reset(other_host(4000), None);
        assert!(latch.allows_rtcp_from(other_host(1).ip()));
        assert!(!latch.allows_rtcp_from(addr(1).ip()));
        latch.check(addr(5000), 1, 1);
        latch.check(addr(5000), 1, 2);
        assert_eq!(latch.latched(), Some(addr(5000)));
        assert!(latch.allows_rtcp_from(addr(1).ip()));
        assert!(!latch.allows_rtcp_from(other_host(1).ip()));
    }

    #[test]
    fn rebinding_can_be_turned_off() {
        let mut latch = Latch::new(LatchPolicy {
            rebind_window: 0,
            ..LatchPolicy::default()
        });
        latch.reset(addr(4000), loopback());
        latch.check(addr(4000), 1, 1);
        assert_eq!(latch.check(addr(4100), 1, 2), Verdict::Reject);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// A packet: from which of a few addresses (0 is the real phone), SSRC, sequence.
        fn packet() -> impl Strategy<Value = (u8, u32, u16)> {
            (0u8..4, any::<u32>(), any::<u16>())
        }

        fn source(i: u8) -> SocketAddr {
            match i {
                0 => addr(4000),
                1 => addr(4002),
                2 => other_host(4000),
                _ => other_host(9999),
            }
        }

        proptest! {
            /// Whatever third parties send, in whatever order and however long the phone is
            /// silent between its packets (time does not exist here), the latch stays on the
            /// phone unless a packet carries the phone's SSRC with its next sequence numbers.
            #[test]
            fn foreign_packets_never_take_a_latched_leg(
                ssrc in any::<u32>(),
                start in any::<u16>(),
                traffic in proptest::collection::vec((packet(), any::<bool>()), 0..300),
            ) {
                let mut latch = Latch::new(LatchPolicy::default());
                latch.reset(addr(4000), loopback());
                prop_assert_eq!(latch.check(addr(4000), ssrc, start), Verdict::Latched(addr(4000)));
                let mut seq = start;
                for ((from, their_ssrc, their_seq), phone_talks) in traffic {
                    if phone_talks {
                        seq = seq.wrapping_add(1);
                        prop_assert_eq!(latch.check(addr(4000), ssrc, seq), Verdict::Accept);
                    }
                    let from = source(from);
                    if from == addr(4000) || their_ssrc == ssrc {
                        continue; // the phone itself, or a forged SSRC (covered below)
                    }
                    prop_assert_eq!(latch.check(from, their_ssrc, their_seq), Verdict::Reject);
                    prop_assert_eq!(latch.target(), Some(addr(4000)));
                }
            }

            /// Even with the phone's SSRC, a packet that does not continue its sequence is
            /// refused.
            #[test]
            fn the_ssrc_without_the_sequence_is_refused(
                ssrc in any::<u32>(),
                start in any::<u16>(),
                offset in 101u16..=u16::MAX,
            ) {
                let mut latch = Latch::new(LatchPolicy::default());
                latch.reset(addr(4000), loopback());
                latch.check(addr(4000), ssrc, start);
                prop_assert_eq!(
                    latch.check(other_host(4000), ssrc, start.wrapping_add(offset)),
                    Verdict::Reject
                );
                prop_assert_eq!(latch.target(), Some(addr(4000)));
            }

            /// The same SSRC continuing its sequence from a new address moves the latch,
            /// wherever the sequence is.
            #[test]
            fn the_same_stream_moving_relatches(
                ssrc in any::<u32>(),
                start in any::<u16>(),
                talked in 0u16..500,
                gap in 1u16..=100,
            ) {
                let mut latch = Latch::new(LatchPolicy::default());
                latch.reset(addr(4000), loopback());
                for i in 0..=talked {
                    latch.check(addr(4000), ssrc, start.wrapping_add(i));
                }
                let next = start.wrapping_add(talked).wrapping_add(gap);
                prop_assert_eq!(
                    latch.check(other_host(5000), ssrc, next),
                    Verdict::Relatched(other_host(5000))
                );
                prop_assert_eq!(latch.target(), Some(other_host(5000)));
            }

            /// No reflection: whatever arrives, we only ever send to an address that sent us
            /// RTP, or to the SDP's address when the signalling came from its IP.
            #[test]
            fn we_only_send_where_media_came_from_or_the_signalling_vouched(
                sdp in 0u8..4,
                signalling in proptest::option::of(0u8..4),
                traffic in proptest::collection::vec(packet(), 0..50),
            ) {
                let mut latch = Latch::new(LatchPolicy::default());
                let expected = source(sdp);
                let signalling = signalling.map(|s| source(s).ip());
                latch.reset(expected, signalling);
                let mut senders = Vec::new();
                let check = |latch: &Latch, senders: &Vec<SocketAddr>| {
                    match latch.target() {
                        None => true,
                        Some(t) => senders.contains(&t)
                            || (t == expected && signalling == Some(expected.ip())),
                    }
                };
                prop_assert!(check(&latch, &senders));
                for (from, ssrc, seq) in traffic {
                    let from = source(from);
                    senders.push(from);
                    latch.check(from, ssrc, seq);
                    prop_assert!(check(&latch, &senders));
                }
            }
        }
    }
}
