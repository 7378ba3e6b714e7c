//! RTCP sessions: two legs exchanging RTP and reports over a simulated network on a virtual
//! clock (delay, loss, unsynchronised wall clocks), our packets cross-checked with rtc-rtcp, the
//! RFC 3550 interval bounds, and malformed datagrams.

use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use proptest::prelude::*;
use rtc_rtcp::goodbye::Goodbye;
use rtc_rtcp::receiver_report::ReceiverReport;
use rtc_rtcp::sender_report::SenderReport;
use rtc_rtcp::source_description::{SdesType, SourceDescription};
use switchboard_media::rtcp::{NtpTime, RtcpError, RtcpInfo, RtcpSession};
use switchboard_media::rtp::{PayloadType, RtpHeader, Ssrc};
use switchboard_media::stats::{ReceiverStats, SenderStats};

const ONE_WAY: Duration = Duration::from_millis(40);

/// The wall clock of a peer: a fixed date plus the virtual time, plus the peer's own offset.
fn wallclock(elapsed: Duration, offset: Duration) -> NtpTime {
    NtpTime::from(UNIX_EPOCH + Duration::from_secs(1_700_000_000) + offset + elapsed)
}

struct Leg {
    rtcp: RtcpSession,
    tx: SenderStats,
    rx: ReceiverStats,
    clock_offset: Duration,
    /// Every report this leg sent: when and the packet type of its first packet.
    sent: Vec<(Instant, u8)>,
    /// Everything the peer's RTCP told this leg.
    infos: Vec<(Instant, RtcpInfo)>,
}

impl Leg {
    fn new(ssrc: u32, cname: &str, seed: u64, clock_offset: Duration) -> Self {
        Self {
            rtcp: RtcpSession::new(Ssrc(ssrc), cname, 8000, seed),
            tx: SenderStats::new(8000),
            rx: ReceiverStats::new(8000),
            clock_offset,
            sent: Vec::new(),
            infos: Vec::new(),
        }
    }
}

enum Wire {
    Rtp(RtpHeader),
    Rtcp(Vec<u8>),
}

/// A sends 20 ms G.711 packets to B for `secs`, dropping those with `seq % 25 == 7`; B sends
/// nothing but RRs. Returns both legs and the virtual start.
fn run_call(secs: u64) -> (Leg, Leg, Instant) {
    let t0 = Instant::now();
    let mut a = Leg::new(0xAAAA_0001, "a@switchboard.test", 1, Duration::ZERO);
    let mut b = Leg::new(0xBBBB_0002, "b@phone.test", 2, Duration::from_millis(3_700));
    // In flight: (arrival, to_b, what).
    let mut net: Vec<(Instant, bool, Wire)> = Vec::new();
    let seq0: u16 = 65_000; // wraps during the call
    let mut seq = seq0;
    for ms in 0..secs * 1000 {
        let now = t0 + Duration::from_millis(ms);
        // Deliver what has arrived.
        let (due, later): (Vec<_>, Vec<_>) = net.drain(..).partition(|(at, _, _)| *at <= now);
        net = later;
        for (_, to_b, what) in due {
            let leg = if to_b { &mut b } else { &mut a };
            match what {
                Wire::Rtp(h) => {
                    leg.rx.record(now, &h);
                }
                Wire::Rtcp(bytes) => {
                    let info = leg.rtcp.handle_incoming(now, &bytes).unwrap();
                    leg.infos.push((now, info));
                }
            }
        }
        if ms % 20 == 0 {
            let h = RtpHeader {
                marker: ms == 0,
                payload_type: PayloadType::PCMA,
                sequence: seq,
                timestamp: 12_345_u32.wrapping_add(8 * ms as u32),
                ssrc: a.rtcp.local_ssrc(),
            };
            a.tx.record(now, &h, 160);
            if seq % 25 != 7 {
                net.push((now + ONE_WAY, true, Wire::Rtp(h)));
            }
            seq = seq.wrapping_add(1);
        }
        for (leg, to_b) in [(&mut a, true), (&mut b, false)] {
            let ntp = wallclock(now - t0, leg.clock_offset);
            if let Some(bytes) = leg.rtcp.poll_transmit(now, ntp, &leg.tx, &leg.rx) {
                leg.sent.push((now, bytes[1]));
                net.push((now + ONE_WAY, to_b, Wire::Rtcp(bytes)));
            }
        }
    }
    (a, b, t0)
}

#[test]
fn two_legs_measure_rtt_loss_and_jitter_exactly() {
    let (a, b, t0) = run_call(60);
    // A sends SRs (it sends RTP), B sends RRs; both sent reports all along.
    assert!(a.sent.len() >= 8, "{} reports", a.sent.len());
    assert!(a.sent.iter().all(|&(_, pt)| pt == 200), "A sends SRs");
    assert!(b.sent.iter().all(|&(_, pt)| pt == 201), "B sends RRs");
    // What B said about A's stream, as A read it.
    let reports: Vec<_> = a
        .infos
        .iter()
        .filter_map(|(at, i)| i.report_about_us.map(|r| (*at, r)))
        .collect();
    assert!(reports.len() >= 8);
    assert!(
        a.infos
            .iter()
            .all(|(_, i)| i.cname.as_deref() == Some("b@phone.test"))
    );
    let mut prev: Option<(u32, i32)> = None;
    let mut with_rtt = 0;
    for (_, r) in &reports {
        // The base is the second packet (65001): the first was probation.
        let base = 65_001_u32;
        let lost = (base..=r.extended_highest)
            .filter(|s| (s % 65_536) % 25 == 7)
            .count() as i32;
        assert_eq!(r.cumulative_lost, lost, "at ext {}", r.extended_highest);
        if let Some((prev_ext, prev_lost)) = prev {
            let expected = i64::from(r.extended_highest - prev_ext);
            let lost_interval = i64::from(lost - prev_lost);
            let fraction = if expected == 0 || lost_interval <= 0 {
                0
            } else {
                (lost_interval << 8) / expected
            };
            assert_eq!(i64::from(r.fraction_lost), fraction);
        }
        prev = Some((r.extended_highest, lost));
        assert_eq!(r.jitter, 0, "constant delay, no jitter");
        if let Some(rtt) = r.rtt {
            with_rtt += 1;
            // Twice the one-way delay, within one DLSR unit (1/65536 s).
            let err = rtt.abs_diff(2 * ONE_WAY);
            assert!(err <= Duration::from_nanos(15_259), "rtt {rtt:?}");
        }
    }
    assert!(
        with_rtt >= reports.len() - 1,
        "every RR after the first SR carries LSR/DLSR"
    );
    assert_eq!(
        a.rtcp
            .rtt()
            .map(|r| r.abs_diff(2 * ONE_WAY) <= Duration::from_nanos(15_259)),
        Some(true)
    );
    // The extended sequence went past the wrap.
    assert!(
        reports
            .last()
            .is_some_and(|(_, r)| r.extended_highest > 65_535)
    );
    // What A's SRs told B.
    let srs: Vec<_> = b
        .infos
        .iter()
        .filter_map(|(at, i)| i.sender_report.map(|s| (*at, s)))
        .collect();
    let end = t0 + Duration::from_millis(60_000 - 1);
    assert_eq!(
        srs.len(),
        a.sent.iter().filter(|(at, _)| *at + ONE_WAY <= end).count()
    );
    for (at, sr) in &srs {
        assert_eq!(sr.ssrc, a.rtcp.local_ssrc());
        assert_eq!(sr.octet_count, sr.packet_count * 160);
        // Sent one-way delay before arrival; one packet per 20 ms since t0, the first at t0.
        let sent_at = (*at - ONE_WAY - t0).as_millis() as u32;
        assert_eq!(sr.packet_count, sent_at / 20 + 1);
        // A's NTP and RTP clocks agree: RTP = 12345 + 8 per ms at the NTP instant.
        assert_eq!(sr.rtp_timestamp, 12_345 + 8 * sent_at);
        assert_eq!(
            sr.ntp,
            wallclock(Duration::from_millis(u64::from(sent_at)), Duration::ZERO)
        );
    }
}

#[test]
fn report_intervals_stay_within_rfc_3550_bounds() {
    let (a, b, t0) = run_call(120);
    for leg in [&a, &b] {
        let first = leg.sent[0].0 - t0;
        assert!(
            first >= Duration::from_millis(1250) && first <= Duration::from_millis(3750),
            "{first:?}"
        );
        for pair in leg.sent.windows(2) {
            let gap = pair[1].0 - pair[0].0;
            // 5 s × [0.5, 1.5], rounded to the 1 ms polling step.
            assert!(
                gap >= Duration::from_millis(2500) && gap <= Duration::from_millis(7501),
                "{gap:?}"
            );
        }
    }
}

#[test]
fn interval_factor_is_uniform_around_five_seconds() {
    let t0 = Instant::now();
    let (tx, rx) = (SenderStats::new(8000), ReceiverStats::new(8000));
    let ntp = wallclock(Duration::ZERO, Duration::ZERO);
    let mut gaps = Vec::new();
    for seed in 0..20 {
        let mut s = RtcpSession::new(Ssrc(seed as u32), "x", 8000, seed);
        assert_eq!(s.poll_timeout(), None, "not anchored yet");
        assert!(s.poll_transmit(t0, ntp, &tx, &rx).is_none());
        let mut last = t0;
        for _ in 0..50 {
            let due = s.poll_timeout().unwrap();
            assert!(
                s.poll_transmit(due - Duration::from_nanos(1), ntp, &tx, &rx)
                    .is_none(),
                "not early"
            );
            assert!(s.poll_transmit(due, ntp, &tx, &rx).is_some());
            if last != t0 {
                gaps.push((due - last).as_secs_f64());
            }
            last = due;
        }
    }
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!(gaps.iter().all(|g| (2.5..=7.5).contains(g)));
    assert!((mean - 5.0).abs() < 0.15, "mean {mean}");
    let below = gaps.iter().filter(|&&g| g < 5.0).count() as f64 / gaps.len() as f64;
    assert!((below - 0.5).abs() < 0.06, "{below}");
}

#[test]
fn sr_only_while_we_send_and_for_one_more_report() {
    let t0 = Instant::now();
    let mut s = RtcpSession::new(Ssrc(1), "x", 8000, 9);
    let mut tx = SenderStats::new(8000);
    let rx = ReceiverStats::new(8000);
    let ntp = wallclock(Duration::ZERO, Duration::ZERO);
    assert!(s.poll_transmit(t0, ntp, &tx, &rx).is_none());
    let mut kinds = Vec::new();
    for round in 0..5 {
        let due = s.poll_timeout().unwrap();
        if round == 1 {
            let h = RtpHeader {
                marker: false,
                payload_type: PayloadType::PCMU,
                sequence: 1,
                timestamp: 1,
                ssrc: Ssrc(1),
            };
            tx.record(due, &h, 160);
        }
        kinds.push(s.poll_transmit(due, ntp, &tx, &rx).unwrap()[1]);
    }
    // Sent during round 1: SR at rounds 1 and 2 (RFC 3550 §6.4: since the last report or the
    // one before), RR otherwise.
    assert_eq!(kinds, [201, 200, 200, 201, 201]);
}

#[test]
fn our_compound_packets_parse_with_rtc_rtcp() {
    let t0 = Instant::now();
    let mut a = RtcpSession::new(Ssrc(0x0102_0304), "alice@example.com", 8000, 3);
    let mut tx = SenderStats::new(8000);
    let mut rx = ReceiverStats::new(8000);
    for i in 0..50_u16 {
        let at = t0 + Duration::from_millis(20 * u64::from(i));
        let h = RtpHeader {
            marker: false,
            payload_type: PayloadType::PCMA,
            sequence: i,
            timestamp: 160 * u32::from(i),
            ssrc: Ssrc(1),
        };
        tx.record(at, &h, 160);
        if i != 30 {
            rx.record(
                at,
                &RtpHeader {
                    ssrc: Ssrc(0x0909_0909),
                    ..h
                },
            );
        }
    }
    let ntp = NtpTime::from_parts(3_900_000_000, 0x4000_0000);
    a.poll_transmit(t0, ntp, &tx, &rx);
    let due = a.poll_timeout().unwrap();
    let bytes = a.poll_transmit(due, ntp, &tx, &rx).unwrap();
    let packets = rtc_rtcp::packet::unmarshal(&mut Bytes::from(bytes)).unwrap();
    assert_eq!(packets.len(), 2);
    let sr = packets[0].as_any().downcast_ref::<SenderReport>().unwrap();
    assert_eq!(sr.ssrc, 0x0102_0304);
    assert_eq!(sr.ntp_time, ntp.0);
    assert_eq!((sr.packet_count, sr.octet_count), (50, 8000));
    assert_eq!(sr.rtp_time, tx.timestamp_at(due).unwrap());
    assert_eq!(sr.reports.len(), 1);
    let block = &sr.reports[0];
    assert_eq!(block.ssrc, 0x0909_0909);
    assert_eq!(block.total_lost, 1);
    assert_eq!(block.last_sequence_number, 49);
    assert_eq!(block.fraction_lost, (256 / 49) as u8);
    assert_eq!(
        (block.last_sender_report, block.delay),
        (0, 0),
        "no SR from them yet"
    );
    let sdes = packets[1]
        .as_any()
        .downcast_ref::<SourceDescription>()
        .unwrap();
    assert_eq!(sdes.chunks[0].source, 0x0102_0304);
    assert_eq!(sdes.chunks[0].items[0].sdes_type, SdesType::SdesCname);
    assert_eq!(&sdes.chunks[0].items[0].text[..], b"alice@example.com");
    // The BYE compound: empty RR, SDES, BYE with the reason.
    let bye = a.bye(due, Some("call ended")).unwrap();
    let packets = rtc_rtcp::packet::unmarshal(&mut Bytes::from(bye)).unwrap();
    assert_eq!(packets.len(), 3);
    let rr = packets[0]
        .as_any()
        .downcast_ref::<ReceiverReport>()
        .unwrap();
    assert!(rr.reports.is_empty());
    let g = packets[2].as_any().downcast_ref::<Goodbye>().unwrap();
    assert_eq!(g.sources, [0x0102_0304]);
    assert_eq!(&g.reason[..], b"call ended");
    // Closed: nothing more to send, nothing to wait for.
    assert_eq!(a.poll_timeout(), None);
    assert!(
        a.poll_transmit(due + Duration::from_secs(60), ntp, &tx, &rx)
            .is_none()
    );
    assert_eq!(a.bye(due, None), Err(RtcpError::Closed));
}

#[test]
fn a_bye_from_the_peer_is_reported() {
    let t0 = Instant::now();
    let mut a = RtcpSession::new(Ssrc(1), "a", 8000, 1);
    let mut b = RtcpSession::new(Ssrc(2), "b", 8000, 2);
    let info = a
        .handle_incoming(t0, &b.bye(t0, Some("bye now")).unwrap())
        .unwrap();
    assert_eq!(
        info.bye
            .as_ref()
            .map(|b| (b.sources.clone(), b.reason.clone())),
        Some((vec![Ssrc(2)], Some("bye now".into())))
    );
    assert_eq!(info.cname.as_deref(), Some("b"));
    let mut c = RtcpSession::new(Ssrc(3), "c", 8000, 3);
    let info = a.handle_incoming(t0, &c.bye(t0, None).unwrap()).unwrap();
    assert_eq!(info.bye.and_then(|b| b.reason), None);
}

#[test]
fn long_cnames_are_cut_to_255_octets_on_a_char_boundary() {
    let t0 = Instant::now();
    let long = "é".repeat(200); // 400 octets
    let mut a = RtcpSession::new(Ssrc(1), &long, 8000, 1);
    let mut b = RtcpSession::new(Ssrc(2), "b", 8000, 2);
    let info = b
        .handle_incoming(t0, &a.bye(t0, Some(&long)).unwrap())
        .unwrap();
    assert_eq!(info.cname.map(|c| c.len()), Some(254));
    assert_eq!(info.bye.and_then(|b| b.reason).map(|r| r.len()), Some(254));
}

/// A valid RR (one block about SSRC 1) + SDES compound from SSRC 2.
fn valid_compound() -> Vec<u8> {
    let mut p = vec![0x81, 201, 0, 7, 0, 0, 0, 2];
    p.extend_from_slice(&[
        0, 0, 0, 1, 0x10, 0, 0, 5, 0, 0, 1, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    p.extend_from_slice(&[0x81, 202, 0, 2, 0, 0, 0, 2, 1, 1, b'x', 0]);
    p
}

#[test]
fn a_hand_built_receiver_report_is_read() {
    let mut a = RtcpSession::new(Ssrc(1), "a", 8000, 1);
    let info = a
        .handle_incoming(Instant::now(), &valid_compound())
        .unwrap();
    let r = info.report_about_us.unwrap();
    assert_eq!(
        (
            r.fraction_lost,
            r.cumulative_lost,
            r.extended_highest,
            r.jitter,
            r.rtt
        ),
        (16, 5, 256, 9, None)
    );
    assert_eq!(info.cname.as_deref(), Some("x"));
    // A negative cumulative loss (duplicates) is sign-extended from 24 bits.
    let mut p = valid_compound();
    p[13..16].copy_from_slice(&[0xFF, 0xFF, 0xFE]);
    assert_eq!(
        a.handle_incoming(Instant::now(), &p)
            .unwrap()
            .report_about_us
            .map(|r| r.cumulative_lost),
        Some(-2)
    );
}

#[test]
fn malformed_compounds_are_rejected_with_their_reason() {
    let mut s = RtcpSession::new(Ssrc(1), "a", 8000, 1);
    let now = Instant::now();
    let good = valid_compound();
    let mut cases: Vec<(Vec<u8>, RtcpError)> = vec![
        (vec![], RtcpError::TooShort { len: 0 }),
        (good[..7].to_vec(), RtcpError::TooShort { len: 7 }),
        (
            good[..20].to_vec(),
            RtcpError::LengthMismatch { offset: 0, len: 20 },
        ),
        (
            good[..40].to_vec(),
            RtcpError::LengthMismatch {
                offset: 32,
                len: 40,
            },
        ),
        (
            [good.clone(), vec![0, 0]].concat(),
            RtcpError::LengthMismatch {
                offset: 44,
                len: 46,
            },
        ),
    ];
    let mut v1 = good.clone();
    v1[0] = 0x41;
    cases.push((
        v1,
        RtcpError::BadVersion {
            offset: 0,
            version: 1,
        },
    ));
    let mut v3 = good.clone();
    v3[32] = 0xC1;
    cases.push((
        v3,
        RtcpError::BadVersion {
            offset: 32,
            version: 3,
        },
    ));
    let mut sdes_first = good[32..].to_vec();
    sdes_first.extend_from_slice(&good[..32]);
    cases.push((sdes_first, RtcpError::FirstNotReport { packet_type: 202 }));
    let mut padded_first = good.clone();
    padded_first[0] |= 0x20;
    cases.push((padded_first, RtcpError::MisplacedPadding { offset: 0 }));
    // RC says 2 blocks, the length holds one.
    let mut bad_count = good.clone();
    bad_count[0] = 0x82;
    cases.push((bad_count, RtcpError::Malformed { packet_type: 201 }));
    // SDES count says 2 chunks, there is one.
    let mut bad_sdes = good.clone();
    bad_sdes[32] = 0x82;
    cases.push((bad_sdes, RtcpError::Malformed { packet_type: 202 }));
    // An RTP packet is not RTCP.
    cases.push((
        vec![0x80, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
        RtcpError::FirstNotReport { packet_type: 8 },
    ));
    for (bytes, expected) in cases {
        assert_eq!(
            s.handle_incoming(now, &bytes),
            Err(expected),
            "{bytes:02x?}"
        );
    }
    // Padding on the last packet is fine (the SDES here).
    let mut padded_last = good.clone();
    padded_last[32] |= 0x20;
    padded_last[35] = 3;
    padded_last.extend_from_slice(&[0, 0, 0, 4]);
    assert!(s.handle_incoming(now, &padded_last).is_ok());
    // Unknown packet types after the report are skipped.
    let mut with_app = good.clone();
    with_app.extend_from_slice(&[0x80, 204, 0, 2, 0, 0, 0, 2, b'n', b'a', b'm', b'e']);
    assert!(s.handle_incoming(now, &with_app).is_ok());
}

/// A realistic SR + SDES compound from an SSRC 2 peer, one block about SSRC 1.
fn valid_sr() -> Vec<u8> {
    let mut b = RtcpSession::new(Ssrc(2), "peer@example.net", 8000, 5);
    let t0 = Instant::now();
    let mut tx = SenderStats::new(8000);
    let mut rx = ReceiverStats::new(8000);
    for i in 0..10_u16 {
        let h = RtpHeader {
            marker: false,
            payload_type: PayloadType::PCMA,
            sequence: i,
            timestamp: 0,
            ssrc: Ssrc(1),
        };
        tx.record(t0, &RtpHeader { ssrc: Ssrc(2), ..h }, 160);
        rx.record(t0, &h);
    }
    let ntp = wallclock(Duration::ZERO, Duration::ZERO);
    b.poll_transmit(t0, ntp, &tx, &rx);
    let due = b.poll_timeout().unwrap_or(t0);
    b.poll_transmit(due, ntp, &tx, &rx).unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut s = RtcpSession::new(Ssrc(1), "a", 8000, 1);
        let _ = s.handle_incoming(Instant::now(), &bytes);
    }

    #[test]
    fn mutated_reports_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
        let mut bytes = valid_sr();
        for (at, v) in flips {
            let i = at % bytes.len();
            bytes[i] = v;
        }
        bytes.truncate(cut % (bytes.len() + 1) + 4);
        let mut s = RtcpSession::new(Ssrc(1), "a", 8000, 1);
        let _ = s.handle_incoming(Instant::now(), &bytes);
    }
}

#[test]
fn the_unmutated_sr_is_valid() {
    let mut s = RtcpSession::new(Ssrc(1), "a", 8000, 1);
    let info = s.handle_incoming(Instant::now(), &valid_sr()).unwrap();
    assert_eq!(
        info.sender_report.map(|sr| (sr.ssrc, sr.packet_count)),
        Some((Ssrc(2), 10))
    );
    assert_eq!(info.report_about_us.map(|r| r.extended_highest), Some(9));
}
