//! RTCP from the network: whatever arrives on a leg's RTCP port (or muxed with RTP) goes to
//! the leg's session, which must answer with a value or a typed error, never a panic, and keep
//! producing valid reports afterwards.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use switchboard_media::rtcp::{NtpTime, RtcpSession};
use switchboard_media::rtp::Ssrc;
use switchboard_media::stats::{ReceiverStats, SenderStats};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut session = RtcpSession::new(Ssrc(1), "fuzz@switchboard", 8000, 7);
    let (tx, rx) = (SenderStats::new(8000), ReceiverStats::new(8000));
    let ntp = NtpTime::from_parts(3_900_000_000, 0);
    let _ = session.handle_incoming(now, data);
    // Also split the input in two datagrams, the second arriving later.
    let half = data.len() / 2;
    let _ = session.handle_incoming(now + Duration::from_millis(20), &data[..half]);
    let _ = session.handle_incoming(now + Duration::from_millis(40), &data[half..]);
    let due = session.poll_timeout().unwrap_or(now) + Duration::from_secs(10);
    if let Some(report) = session.poll_transmit(due, ntp, &tx, &rx) {
        let mut peer = RtcpSession::new(Ssrc(2), "peer", 8000, 1);
        peer.handle_incoming(due, &report)
            .expect("our own report is valid RTCP");
    }
});
