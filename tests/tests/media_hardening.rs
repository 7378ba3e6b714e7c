//! Media on the open internet (issue 11): a third party cannot take over a leg whose party is
//! silent, our media goes to no address that neither sent media nor was vouched for by the
//! signalling, and SDP we will not use is refused with 488 and a Warning.
//!
//! Both phones' media are RTP sockets of this test process ([`RtpEndpoint`]); SIPp does the
//! signalling. Third parties are more sockets of the test: another port on 127.0.0.1, or
//! 127.0.0.2 for "another host". Every wait is bounded, every flood counted; traffic goes only
//! to 127.0.0.0/8.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use switchboard_tests::endpoint::{Plan, Received, RtpEndpoint, Running};
use switchboard_tests::rtp::RtpStream;
use switchboard_tests::signal::{Dbm0, dominant_frequency, goertzel_power};
use switchboard_tests::sip_log::{self, Direction, LoggedMessage};
use switchboard_tests::{
    Config, Sipp, SippRunning, Switchboard, free_port, own_rtp_ports, phone, require_tool,
    workspace,
};

const AGENT: &str = "1002";
const IVR: &str = "+33180000000";
const LEVEL: Dbm0 = Dbm0(-10.0);
const RATE: u32 = 8000;
const CALLER_HZ: f64 = 1000.0;
const AGENT_HZ: f64 = 600.0;
const INTRUDER_HZ: f64 = 2000.0;
/// How close a dominant frequency must be (the scan's step is 10 Hz).
const TOLERANCE_HZ: f64 = 10.0;

/// A switch with its own RTP ports, recordings in its own folder, and the shipped dialplan and
/// prompts (the IVR answers at once and plays its welcome).
fn switch() -> Switchboard {
    let quoted = |p: std::path::PathBuf| format!("{:?}", p.display().to_string());
    let config = Config::shipped()
        .rtp_ports(own_rtp_ports())
        .set_path("recording", "path", "rec/{call_id}.wav")
        .set_path("recording", "voicemail_dir", "voicemail")
        .set_path("control", "socket", "switchboard.ctl")
        .set("dialplan", "dir", &quoted(workspace().join("dialplans")))
        .set("dialplan", "sounds", &quoted(workspace().join("sounds")))
        .set("dialplan", "watch", "false");
    Switchboard::start_config(config)
}

/// The 200 OK to the INVITE, as the caller's SIPp received it.
fn answer(m: &LoggedMessage) -> bool {
    m.direction == Direction::Received && m.is_response(200) && m.cseq_method() == Some("INVITE")
}

/// The switch's RTP address for the caller's leg, from the SDP of the caller's 200 OK.
fn caller_leg(sb: &Switchboard, sipp: &mut SippRunning) -> SocketAddr {
    let log = sipp
        .wait_for_log(Duration::from_secs(10), |log| {
            sip_log::parse(log).iter().any(answer)
        })
        .unwrap_or_else(|| panic!("the caller was not answered\n{}", sb.log_tail(100)));
    sip_log::parse(&log)
        .into_iter()
        .find(answer)
        .and_then(|m| m.sdp_media())
        .unwrap_or_else(|| panic!("no SDP in the 200 OK:\n{log}"))
        .addr
}

/// Waits (bounded) until `endpoint` has sent `count` packets.
fn wait_sent(endpoint: &Running, count: usize, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let (sent, error) = endpoint.sent();
        assert!(error.is_none(), "sending failed: {error:?}");
        if sent >= count || Instant::now() >= deadline {
            return sent;
        }
        // Polling a counter of the endpoint's own thread: a bounded wait for its last packet.
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn near(found: Option<f64>, want: f64) -> bool {
    found.is_some_and(|f| (f - want).abs() <= TOLERANCE_HZ)
}

/// The largest `foreign=N` of the switch's "leg media" lines (datagrams a leg dropped because
/// they came from a third party).
fn most_foreign(log: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains("leg media"))
        .filter_map(|l| {
            let rest = &l[l.find("foreign=")? + "foreign=".len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn rtp_from_a_third_party_while_the_caller_is_silent_is_dropped() {
    if !require_tool("sipp") {
        return;
    }
    let sb = switch();
    // The agent's phone answers and talks (600 Hz) to whoever sends it audio first.
    let agent_media = RtpEndpoint::bind().expect("agent RTP socket");
    let agent_sipp = phone::answering_agent(&sb, AGENT, &agent_media);
    let agent_voice = RtpStream::pcma_tone(AGENT_HZ, 14.0, LEVEL).with_ssrc(0xA6E7_0001);
    let agent = agent_media.start(Plan::reply(agent_voice, Duration::from_secs(25)));
    // The caller says a word (1 s of 1000 Hz), is muted for 6 s (it sends nothing: three times
    // the 2 s after which a third party could take a silent leg before), then speaks again.
    let caller_media = RtpEndpoint::bind().expect("caller RTP socket");
    let caller_port = caller_media.port().to_string();
    let voice = RtpStream::pcma_tone(CALLER_HZ, 10.0, LEVEL)
        .muted_between(Duration::from_secs(1), Duration::from_secs(7));
    let caller = caller_media.start(Plan::send_when_told(voice, Duration::from_secs(25)));
    let mut caller_sipp = Sipp::new("ivr_caller.xml", Some(sb.sip), free_port())
        .arg(&[
            "-s",
            AGENT,
            "-key",
            "rtp_port",
            &caller_port,
            "-d",
            "11500",
            "-timeout",
            "30s",
        ])
        .spawn();
    let leg = caller_leg(&sb, &mut caller_sipp);
    caller.send_to(leg);
    // The caller's word reaches the agent: the leg has latched onto the caller.
    assert!(
        agent.wait_for(Duration::from_secs(5), |r| r.audio_packets() >= 45),
        "the agent heard no caller audio\n{}",
        sb.log_tail(100)
    );

    // The caller is silent now. A third party on another port of the caller's host sends
    // perfectly sequenced RTP to the caller's leg for 4 s (200 packets), and listens.
    let intruder_media = RtpEndpoint::bind().expect("intruder RTP socket");
    let intruder_stream = RtpStream::pcma_tone(INTRUDER_HZ, 4.0, LEVEL).with_ssrc(0x0BAD_F00D);
    let flood = intruder_stream.packets().len();
    let intruder = intruder_media.start(Plan::send_when_told(
        intruder_stream,
        Duration::from_secs(12),
    ));
    let flood_from = Instant::now();
    intruder.send_to(leg);
    let flooded = wait_sent(&intruder, flood, Duration::from_secs(8));
    let flood_until = Instant::now();
    assert_eq!(flooded, flood, "the flood was not sent whole");

    // The caller speaks again (3 s, 150 packets): the agent hears it.
    assert!(
        agent.wait_for(Duration::from_secs(8), |r| r.audio_packets() >= 45 + 120),
        "the agent did not hear the caller again\n{}",
        sb.log_tail(100)
    );
    let caller_done = caller_sipp.wait();
    let agent_done = agent_sipp.wait_at_most(Duration::from_secs(5));
    let heard_by_agent = agent.stop();
    let heard_by_caller = caller.stop();
    let heard_by_intruder = intruder.stop();
    let log = sb.log();
    let why = || {
        format!(
            "caller: {:?}\n{}\nagent: {:?}\n{}\n{}",
            caller_done.flow(),
            caller_done.errors,
            agent_done.flow(),
            agent_done.errors,
            sb.log_tail(150)
        )
    };
    assert!(
        caller_done.ok() && agent_done.ok(),
        "the call failed\n{}",
        why()
    );

    // Nothing came back to the third party: it did not hear the agent.
    assert!(
        heard_by_intruder.packets().is_empty() && heard_by_intruder.not_rtp() == 0,
        "the intruder received {} packets from {:?}\n{}",
        heard_by_intruder.packets().len(),
        heard_by_intruder.sources(),
        why()
    );
    // The agent never heard the third party, and heard the caller before and after.
    assert_only_from_switch(&heard_by_agent, "agent");
    let all = heard_by_agent.audio();
    let (p_caller, p_intruder) = (
        goertzel_power(&all, CALLER_HZ, RATE),
        goertzel_power(&all, INTRUDER_HZ, RATE),
    );
    assert!(
        p_intruder < 0.01 * p_caller,
        "the intruder's {INTRUDER_HZ} Hz reached the agent: power {p_intruder:.0} against the \
         caller's {p_caller:.0}\n{}",
        why()
    );
    let after = heard_by_agent.audio_between(flood_until, Instant::now());
    assert!(
        after.len() >= 100 * 160 && near(dominant_frequency(&after, RATE), CALLER_HZ),
        "after the flood the agent heard {} samples, dominant {:?} Hz\n{}",
        after.len(),
        dominant_frequency(&after, RATE),
        why()
    );
    // The caller kept hearing the agent during the flood and after it.
    assert_only_from_switch(&heard_by_caller, "caller");
    let during = heard_by_caller.audio_between(flood_from, flood_until);
    assert!(
        during.len() >= 150 * 160 && near(dominant_frequency(&during, RATE), AGENT_HZ),
        "during the flood the caller heard {} samples, dominant {:?} Hz\n{}",
        during.len(),
        dominant_frequency(&during, RATE),
        why()
    );
    let later = heard_by_caller.audio_between(flood_until, Instant::now());
    assert!(
        later.len() >= 100 * 160 && near(dominant_frequency(&later, RATE), AGENT_HZ),
        "after the flood the caller heard {} samples\n{}",
        later.len(),
        why()
    );
    // The drops are counted in the leg's line, and logged once, not once per packet.
    assert!(
        most_foreign(&log) >= u64::try_from(flood * 9 / 10).unwrap_or(u64::MAX),
        "the caller's leg counted {} foreign packets of {flood}\n{}",
        most_foreign(&log),
        why()
    );
    let logged = log
        .lines()
        .filter(|l| l.contains("media from a foreign source dropped"))
        .count();
    assert!(
        (1..=2).contains(&logged),
        "{logged} log lines for {flood} foreign packets\n{}",
        why()
    );
}

fn assert_only_from_switch(heard: &Received, who: &str) {
    assert_eq!(
        heard.sources().len(),
        1,
        "the {who} got RTP from {:?}",
        heard.sources()
    );
}

#[test]
fn no_rtp_goes_to_an_sdp_address_the_signalling_did_not_come_from_until_it_sends() {
    if !require_tool("sipp") {
        return;
    }
    let sb = switch();
    // The "third host": its address is in the caller's SDP, but the INVITE comes from
    // 127.0.0.1. It listens, and will send only when told.
    let elsewhere = IpAddr::from([127, 0, 0, 2]);
    let third = RtpEndpoint::bind_on(elsewhere).expect("an RTP socket on 127.0.0.2");
    let third_port = third.port().to_string();
    let voice = RtpStream::pcma_tone(CALLER_HZ, 4.0, LEVEL);
    // Its RTCP port (SDP port + 1), watched too when this test can have it.
    let third_rtcp = UdpSocket::bind(SocketAddr::new(elsewhere, third.port() + 1)).ok();
    let third = third.start(Plan::send_when_told(voice, Duration::from_secs(20)));
    // The IVR answers at once and starts its welcome prompt.
    let mut caller_sipp = Sipp::new("caller_media_elsewhere.xml", Some(sb.sip), free_port())
        .arg(&[
            "-s",
            IVR,
            "-key",
            "media_host",
            "127.0.0.2",
            "-key",
            "rtp_port",
            &third_port,
            "-d",
            "9000",
            "-timeout",
            "25s",
        ])
        .spawn();
    let leg = caller_leg(&sb, &mut caller_sipp);
    // For 4 s after the answer, while the prompt plays (and the first RTCP report falls due,
    // 1.25-3.75 s in, RFC 3550 §6.2), not one packet reaches the third host.
    let reached = third.wait_for(Duration::from_secs(4), |r| {
        !r.packets().is_empty() || r.not_rtp() > 0
    });
    assert!(
        !reached,
        "the switch sent {} packets to an address the signalling did not vouch for\n{}",
        third.snapshot().packets().len(),
        sb.log_tail(100)
    );
    if let Some(rtcp) = &third_rtcp {
        // Nothing waiting on its RTCP port either.
        rtcp.set_nonblocking(true).expect("non-blocking");
        let mut buf = [0u8; 1500];
        assert!(
            rtcp.recv_from(&mut buf).is_err(),
            "the switch sent RTCP to the unvouched address"
        );
    }
    // Once media comes from that address itself, it has asked for ours: the prompt flows.
    third.send_to(leg);
    assert!(
        third.wait_for(Duration::from_secs(4), |r| r.audio_packets() >= 50),
        "the third host got {} packets after sending media\n{}",
        third.snapshot().audio_packets(),
        sb.log_tail(100)
    );
    let caller_done = caller_sipp.wait();
    let heard = third.stop();
    assert!(
        caller_done.ok(),
        "the call failed: {:?}\n{}\n{}",
        caller_done.flow(),
        caller_done.errors,
        sb.log_tail(100)
    );
    assert_eq!(heard.sources(), [leg].into_iter().collect());
}

/// The first final response to an INVITE carrying `sdp`, as text, and the whole exchange
/// bounded by `wait`; the 4xx is ACKed so the switch stops repeating it.
fn invite_with(sb: &Switchboard, sdp: &str, tag: &str) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("socket");
    let local = socket.local_addr().expect("address");
    let branch = format!("z9hG4bK{tag}{}", std::process::id());
    let head = |method: &str, cseq: &str, to_tag: &str| {
        format!(
            "{method} sip:{IVR}@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+33612345678@{local}>;tag={tag}\r\n\
             To: <sip:{IVR}@{sip}>{to_tag}\r\nCall-ID: {tag}@sdp-sanity\r\nCSeq: {cseq}\r\n\
             Contact: <sip:+33612345678@{local}>\r\n",
            sip = sb.sip
        )
    };
    let invite = format!(
        "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        head("INVITE", "1 INVITE", ""),
        sdp.len()
    );
    socket.send_to(invite.as_bytes(), sb.sip).expect("send");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 65_535];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            break;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let code: u16 = text.get(8..11).and_then(|c| c.parse().ok()).unwrap_or(0);
        if code >= 200 {
            let to_tag = text
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("to:"))
                .and_then(|l| l.split_once(";tag="))
                .map(|(_, t)| format!(";tag={}", t.trim()))
                .unwrap_or_default();
            let ack = format!("{}Content-Length: 0\r\n\r\n", head("ACK", "1 ACK", &to_tag));
            let _ = socket.send_to(ack.as_bytes(), sb.sip);
            return text;
        }
    }
    panic!(
        "no final response to the INVITE ({tag})\n{}",
        sb.log_tail(50)
    );
}

#[test]
fn sdp_we_will_not_use_is_refused_with_488_and_a_warning() {
    let sb = switch();
    let sdp = |connection: &str, media: &str| {
        format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 {connection}\r\nt=0 0\r\n{media}"
        )
    };
    let audio = "m=audio 40000 RTP/AVP 8\r\n";
    let many: String = (0..1000)
        .map(|i| format!("m=audio {} RTP/AVP 8\r\n", 40000 + 2 * i))
        .collect();
    let cases = [
        ("multicast", sdp("224.2.1.1/127", audio), "488", "330"),
        ("broadcast", sdp("255.255.255.255", audio), "488", "301"),
        ("many", sdp("127.0.0.1", &many), "488", "399"),
        (
            "g729",
            sdp("127.0.0.1", "m=audio 40000 RTP/AVP 18\r\n"),
            "488",
            "305",
        ),
    ];
    for (tag, body, status, warn) in cases {
        let response = invite_with(&sb, &body, tag);
        assert!(
            response.starts_with(&format!("SIP/2.0 {status}")),
            "{tag}: {response}"
        );
        let warning = response
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("warning:"))
            .unwrap_or_else(|| panic!("{tag}: no Warning in\n{response}"));
        assert!(
            warning
                .trim_start_matches(|c: char| c != ' ')
                .trim()
                .starts_with(warn),
            "{tag}: {warning}"
        );
    }
    // The hold address is still fine: the IVR answers it.
    let held = invite_with(&sb, &sdp("0.0.0.0", audio), "hold");
    assert!(held.starts_with("SIP/2.0 200"), "{held}");
    // (Ended by the switch's media timeout or at shutdown; nothing more is needed of it.)
}
