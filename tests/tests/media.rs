//! Media end to end: what callers and agents *hear* through the real binary, and what it records.
//!
//! The caller is SIPp playing a scripted pcap (a G.711 tone, RFC 4733 digits) from its media
//! port; the agent is SIPp for the signalling, with the SDP of its answer naming an RTP socket
//! of this test process ([`RtpEndpoint`]), which decodes what the switch sends the agent and
//! talks back with a tone of its own. Assertions are about sound (dominant frequency, power at
//! a frequency) rather than bytes, so they hold whether the switch relays or transcodes.
//!
//! Every wait is bounded (SIPp's `-timeout`, the endpoint's `run_for`, explicit timeouts) and
//! waits for an event; the only sleeps pace RTP. Each test starts its own switch with its own
//! RTP port range, recording folder and, where needed, music-on-hold folder.

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use switchboard_tests::endpoint::{Plan, Received, RtpEndpoint, Sender};
use switchboard_tests::recording::{self, Recording};
use switchboard_tests::rtp::RtpStream;
use switchboard_tests::signal::{self, Dbm0, dominant_frequency, goertzel_power, rms};
use switchboard_tests::sip_log::{self, Direction, LoggedMessage};
use switchboard_tests::{
    Config, Sipp, SippResult, SippRunning, Switchboard, free_port, own_rtp_ports, require_tool,
    tempdir,
};

/// The agent every test calls.
const AGENT: &str = "1002";
/// The level of every test tone: a normal speech level on a telephone line.
const LEVEL: Dbm0 = Dbm0(-10.0);
/// G.711's rate, which the recordings use too by default.
const RATE: u32 = 8000;
/// The caller's tone, the agent's tone, the intruder's tone, the music on hold.
const CALLER_HZ: f64 = 1000.0;
const AGENT_HZ: f64 = 600.0;
const INTRUDER_HZ: f64 = 2000.0;
const MOH_HZ: f64 = 440.0;
/// How long the agent's SIPp may take to finish once the caller's has: the BYE is relayed in
/// milliseconds, so this only keeps a failed call from waiting out the agent's -timeout.
const AFTER_CALLER: Duration = Duration::from_secs(5);
/// How close a dominant frequency must be to the tone's (the scan's step is 10 Hz).
const TOLERANCE_HZ: f64 = 10.0;

/// A switch for media tests: its own RTP port range (tests run in parallel), recordings in its
/// own directory as `rec/{call_id}.wav`, then whatever `edit` changes.
fn media_switch(edit: impl FnOnce(Config) -> Config) -> (Switchboard, (u16, u16)) {
    let range = own_rtp_ports();
    let config =
        Config::shipped()
            .rtp_ports(range)
            .set_path("recording", "path", "rec/{call_id}.wav");
    (Switchboard::start_config(edit(config)), range)
}

/// The agent's phone: registered, its SIP played by SIPp, its media by `phone`.
fn agent(sb: &Switchboard, phone: &RtpEndpoint) -> SippRunning {
    switchboard_tests::phone::answering_agent(sb, AGENT, phone)
}

/// The caller's SIPp: `scenario` towards the switch, from its own media port, playing `pcap`
/// for `play` when given.
fn caller(sb: &Switchboard, scenario: &str, pcap: Option<&Path>, play: Option<Duration>) -> Sipp {
    let mut sipp = Sipp::new(scenario, Some(sb.sip), free_port()).arg(&[
        "-s",
        AGENT,
        "-mp",
        &free_port().to_string(),
    ]);
    if let Some(pcap) = pcap {
        sipp = sipp.arg(&["-key", "pcap", &pcap.display().to_string()]);
    }
    if let Some(play) = play {
        sipp = sipp.arg(&["-d", &play.as_millis().to_string()]);
    }
    sipp
}

/// Writes `stream` as the pcap SIPp plays (the addresses are placeholders SIPp replaces).
fn write_pcap(dir: &tempdir::Dir, name: &str, stream: &RtpStream) -> PathBuf {
    let path = dir.path().join(name);
    let placeholder: SocketAddrV4 = "127.0.0.1:6000".parse().expect("address");
    switchboard_tests::pcap::write_rtp_file(&path, stream, placeholder, placeholder)
        .expect("write pcap");
    path
}

/// The agent's voice: a 600 Hz tone long enough for any call here.
fn agent_voice() -> RtpStream {
    RtpStream::pcma_tone(AGENT_HZ, 12.0, LEVEL).with_ssrc(0xA6E7_0001)
}

/// The end of the switch's log, for assertion messages (the whole debug log is too long).
fn tail(sb: &Switchboard) -> String {
    let log = sb.log();
    let lines: Vec<&str> = log.lines().collect();
    let from = lines.len().saturating_sub(150);
    format!(
        "--- switch log (last 150 lines) ---\n{}",
        lines[from..].join("\n")
    )
}

/// Both SIPp runs and the switch's log, for assertion messages.
fn explain(sb: &Switchboard, caller: &SippResult, agent: &SippResult) -> String {
    format!(
        "caller: {:?}\n{}\nagent: {:?}\n{}\n{}",
        caller.flow(),
        caller.errors,
        agent.flow(),
        agent.errors,
        tail(sb)
    )
}

/// One bridged call to the agent: the caller plays `stream` with `scenario` (and `extra` SIPp
/// arguments) for its length, the agent answers with its tone; what each SIPp did and what the
/// agent heard.
fn tone_call(
    sb: &Switchboard,
    stream: &RtpStream,
    scenario: &str,
    extra: &[&str],
) -> (SippResult, SippResult, Received) {
    let data = tempdir::Dir::new("media-data");
    let pcap = write_pcap(&data, "caller.pcap", stream);
    let phone = RtpEndpoint::bind().expect("agent RTP socket");
    let agent_sipp = agent(sb, &phone);
    let phone = phone.start(Plan::reply(agent_voice(), Duration::from_secs(20)));
    let caller = caller(
        sb,
        scenario,
        Some(&pcap),
        Some(stream.duration() + Duration::from_millis(200)),
    )
    .arg(extra)
    .run();
    let agent_sipp = agent_sipp.wait_at_most(AFTER_CALLER);
    (caller, agent_sipp, phone.stop())
}

/// The first message of `log` that `pick` accepts.
fn find(log: &str, pick: impl Fn(&LoggedMessage) -> bool) -> Option<LoggedMessage> {
    sip_log::parse(log).into_iter().find(|m| pick(m))
}

/// The 200 OK to the INVITE a caller received (with the switch's SDP for the caller leg).
fn answer(m: &LoggedMessage) -> bool {
    m.direction == Direction::Received && m.is_response(200) && m.cseq_method() == Some("INVITE")
}

fn assert_near(found: Option<f64>, want: f64, what: &str, context: &dyn Fn() -> String) {
    assert!(
        found.is_some_and(|f| (f - want).abs() <= TOLERANCE_HZ),
        "{what}: dominant frequency {found:?}, expected {want} Hz\n{}",
        context()
    );
}

/// How long the call was bridged, from the caller's side: the 200 OK to the BYE.
fn bridged_time(caller: &SippResult) -> Duration {
    let messages = sip_log::parse(&caller.messages);
    let answered = messages
        .iter()
        .find(|m| answer(m))
        .and_then(|m| m.stamp.clone());
    let bye = messages
        .iter()
        .find(|m| m.is_request("BYE"))
        .and_then(|m| m.stamp.clone());
    match (answered, bye) {
        (Some(a), Some(b)) => b.since(&a),
        _ => panic!(
            "no 200 OK and BYE in the caller's log:\n{}",
            caller.messages
        ),
    }
}

/// The call's one recording, once the switch has finalised it: stereo, and lasting the call
/// (the caller's 200 OK to its BYE) within a second.
fn call_recording(sb: &Switchboard, caller: &SippResult, why: &dyn Fn() -> String) -> Recording {
    let call = bridged_time(caller);
    let (path, rec) = wait_for_recording(
        &sb.path("rec"),
        call.saturating_sub(Duration::from_secs(1)),
        Duration::from_secs(5),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", why()));
    assert_eq!(rec.channels.len(), 2, "{} is not stereo", path.display());
    let (lasts, call_s) = (rec.duration().as_secs_f64(), call.as_secs_f64());
    assert!(
        (lasts - call_s).abs() <= 1.0,
        "the recording lasts {lasts:.2} s, the call {call_s:.2} s\n{}",
        why()
    );
    rec
}

/// Waits (at most `timeout`) for the one recording in `dir` to read back whole and to last at
/// least `at_least`: the switch finalises it after the BYE.
fn wait_for_recording(
    dir: &Path,
    at_least: Duration,
    timeout: Duration,
) -> Result<(PathBuf, Recording), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let files = recording::wav_files(dir);
        let state = match files.as_slice() {
            [] => Err(format!("no recording in {}", dir.display())),
            [one] => match Recording::open(one) {
                Ok(rec) if rec.duration() >= at_least => return Ok((one.clone(), rec)),
                Ok(rec) => Err(format!("{} lasts only {:?}", one.display(), rec.duration())),
                Err(e) => Err(e.to_string()),
            },
            many => Err(format!("{} recordings for one call: {many:?}", many.len())),
        };
        if Instant::now() >= deadline {
            return state;
        }
        // Polling a file: nothing tells us when the switch writes it.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How many 100 ms stretches of `samples` are a clear `freq_hz` tone (dominant and loud).
fn tone_stretches(samples: &[i16], freq_hz: f64) -> usize {
    samples
        .chunks_exact(800)
        .filter(|c| rms(c) > 500.0)
        .filter(|c| {
            dominant_frequency(c, RATE).is_some_and(|f| (f - freq_hz).abs() <= TOLERANCE_HZ)
        })
        .count()
}

#[test]
fn tone_and_digits_cross_a_bridged_call_and_land_in_the_recording() {
    if !require_tool("sipp") {
        return;
    }
    let (sb, _) = media_switch(|c| c);
    let stream = RtpStream::pcma_tone(CALLER_HZ, 3.0, LEVEL)
        .with_rfc4733_digits(
            "15#",
            Duration::from_millis(600),
            Duration::from_millis(800),
            Duration::from_millis(100),
        )
        .expect("digits fit");
    let (caller, agent_sipp, heard) = tone_call(&sb, &stream, "media_caller.xml", &[]);
    let why = || explain(&sb, &caller, &agent_sipp);
    assert!(caller.ok() && agent_sipp.ok(), "the call failed\n{}", why());

    // The agent heard the caller's tone and each digit once.
    assert!(
        heard.audio_packets() >= 100,
        "the agent heard {} audio packets\n{}",
        heard.audio_packets(),
        why()
    );
    assert_near(
        dominant_frequency(&heard.audio(), RATE),
        CALLER_HZ,
        "agent",
        &why,
    );
    let presses = heard.key_presses();
    assert_eq!(heard.digits(), "15#", "key presses: {presses:?}\n{}", why());
    assert!(
        presses.iter().all(|k| k.ended),
        "every digit ends: {presses:?}"
    );

    // The recording: stereo 16-bit, caller left, agent right, as long as the call.
    let rec = call_recording(&sb, &caller, &why);
    assert_eq!(rec.sample_rate, RATE);
    assert_near(
        dominant_frequency(rec.left(), RATE),
        CALLER_HZ,
        "recording, left",
        &why,
    );
    assert_near(
        dominant_frequency(rec.right(), RATE),
        AGENT_HZ,
        "recording, right",
        &why,
    );
}

#[test]
fn recording_survives_kill_9() {
    if !require_tool("sipp") {
        return;
    }
    let (mut sb, _) = media_switch(|c| c);
    let data = tempdir::Dir::new("media-data");
    let stream = RtpStream::pcma_tone(CALLER_HZ, 8.0, LEVEL);
    let pcap = write_pcap(&data, "caller.pcap", &stream);
    let phone = RtpEndpoint::bind().expect("agent RTP socket");
    let agent_sipp = agent(&sb, &phone);
    let phone = phone.start(Plan::reply(agent_voice(), Duration::from_secs(15)));
    let caller = caller(
        &sb,
        "media_caller.xml",
        Some(&pcap),
        Some(stream.duration()),
    )
    .spawn();

    // Three seconds of audio both ways, then the switch dies without any clean-up.
    let talked = phone.wait_for(Duration::from_secs(10), |r| r.audio_packets() >= 150);
    let (sent, _) = phone.sent();
    assert!(
        talked,
        "the agent heard no 3 s of audio ({} packets, sent {sent})\n{}",
        phone.snapshot().audio_packets(),
        tail(&sb)
    );
    sb.kill_hard();
    drop((caller, agent_sipp, phone));
    let log = tail(&sb);

    let files = recording::wav_files(&sb.path("rec"));
    let [path] = files.as_slice() else {
        panic!("expected one recording, found {files:?}\n{log}");
    };
    let rec = Recording::open(path)
        .unwrap_or_else(|e| panic!("the recording does not parse after kill -9: {e}\n{log}"));
    assert_eq!(rec.channels.len(), 2, "not stereo");
    // The header is rewritten every second: at least one second of the tone is in it.
    let caller_tone = tone_stretches(rec.left(), CALLER_HZ);
    assert!(
        caller_tone >= 10,
        "only {caller_tone} × 100 ms of the caller's tone in {:?} of recording\n{log}",
        rec.duration()
    );
}

#[test]
fn a_third_party_flood_does_not_hijack_the_call() {
    if !require_tool("sipp") {
        return;
    }
    let (sb, range) = media_switch(|c| c);
    let data = tempdir::Dir::new("media-data");
    let stream = RtpStream::pcma_tone(CALLER_HZ, 5.0, LEVEL);
    let pcap = write_pcap(&data, "caller.pcap", &stream);
    let phone = RtpEndpoint::bind().expect("agent RTP socket");
    let agent_sipp = agent(&sb, &phone);
    let phone = phone.start(Plan::reply(agent_voice(), Duration::from_secs(15)));
    let mut caller_sipp = caller(
        &sb,
        "media_caller.xml",
        Some(&pcap),
        Some(stream.duration()),
    )
    .spawn();

    // The caller leg's RTP address on the switch, from the SDP of the 200 OK the caller got.
    let log = caller_sipp
        .wait_for_log(Duration::from_secs(10), |log| find(log, answer).is_some())
        .unwrap_or_else(|| panic!("the caller was not answered\n{}", tail(&sb)));
    let caller_leg = find(&log, answer)
        .and_then(|m| m.sdp_media())
        .unwrap_or_else(|| panic!("no SDP in the 200 OK:\n{log}"))
        .addr;
    assert!(
        (range.0..=range.1).contains(&caller_leg.port()),
        "the 200 OK names {caller_leg}, not a switch port in {range:?}: media is not anchored\n{log}"
    );
    // The caller's audio flows (so the switch has latched onto the caller), then the flood.
    assert!(
        phone.wait_for(Duration::from_secs(5), |r| r.audio_packets() >= 25),
        "the agent heard no caller audio\n{}",
        tail(&sb)
    );
    let flood_from = Instant::now();
    let intruder = RtpStream::pcma_tone(INTRUDER_HZ, 6.0, LEVEL).with_ssrc(0x0BAD_F00D);
    let flood = Sender::spawn(caller_leg, intruder, Duration::from_millis(5)).expect("flood");
    let flooded = flood.finish().expect("flood sent");
    let flood_until = Instant::now() + Duration::from_millis(100);

    let caller_done = caller_sipp.wait();
    let agent_done = agent_sipp.wait_at_most(AFTER_CALLER);
    let heard = phone.stop();
    let why = || explain(&sb, &caller_done, &agent_done);
    assert!(
        caller_done.ok() && agent_done.ok(),
        "the call failed\n{}",
        why()
    );
    let during = heard.audio_between(flood_from, flood_until);
    assert!(
        during.len() >= 50 * 160,
        "the agent heard only {} samples during the {flooded}-packet flood\n{}",
        during.len(),
        why()
    );
    let (p_caller, p_intruder) = (
        goertzel_power(&during, CALLER_HZ, RATE),
        goertzel_power(&during, INTRUDER_HZ, RATE),
    );
    assert!(
        p_intruder < 0.01 * p_caller,
        "the intruder's 2000 Hz reached the agent: power {p_intruder:.0} against the caller's {p_caller:.0}\n{}",
        why()
    );
    assert_near(
        dominant_frequency(&during, RATE),
        CALLER_HZ,
        "agent during the flood",
        &why,
    );
    assert_eq!(
        heard.sources().len(),
        1,
        "the agent got RTP from {:?}",
        heard.sources()
    );
}

#[test]
fn media_timeout_hangs_up_a_silent_call() {
    if !require_tool("sipp") {
        return;
    }
    let (sb, _) = media_switch(|c| c.set("media", "timeout_s", "2"));
    let phone = RtpEndpoint::bind().expect("agent RTP socket");
    let mut agent_sipp = agent(&sb, &phone);
    let phone = phone.start(Plan::send_when_told(agent_voice(), Duration::from_secs(15)));
    // No pcap: the caller never sends RTP. It waits 8 s at most for the switch's BYE.
    let caller_sipp = caller(&sb, "media_caller_silent.xml", None, None)
        .arg(&["-timeout", "8s"])
        .spawn();
    // The agent talks to where the switch's INVITE told it to.
    let invite = |m: &LoggedMessage| m.direction == Direction::Received && m.is_request("INVITE");
    let log = agent_sipp
        .wait_for_log(Duration::from_secs(10), |log| find(log, invite).is_some())
        .unwrap_or_else(|| panic!("the agent got no INVITE\n{}", tail(&sb)));
    let target = find(&log, invite)
        .and_then(|m| m.sdp_media())
        .unwrap_or_else(|| panic!("no SDP in the agent's INVITE:\n{log}"))
        .addr;
    phone.send_to(target);

    let caller_done = caller_sipp.wait();
    let agent_done = agent_sipp.wait_at_most(AFTER_CALLER);
    let (sent, send_error) = phone.sent();
    let _ = phone.stop();
    let why = || explain(&sb, &caller_done, &agent_done);
    assert!(
        sent > 0 && send_error.is_none(),
        "the agent sent {sent} packets ({send_error:?})"
    );
    assert!(
        caller_done.ok(),
        "the silent caller was not hung up\n{}",
        why()
    );
    assert!(agent_done.ok(), "the agent was not hung up\n{}", why());
    // Both BYEs came from the switch, 2–4 s after the call was up (timeout_s = 2).
    for (who, result, up) in [
        ("caller", &caller_done, answer as fn(&LoggedMessage) -> bool),
        ("agent", &agent_done, |m: &LoggedMessage| {
            m.direction == Direction::Received && m.is_request("ACK")
        }),
    ] {
        let messages = sip_log::parse(&result.messages);
        let up = messages
            .iter()
            .find(|m| up(m))
            .and_then(|m| m.stamp.clone());
        let bye = messages
            .iter()
            .find(|m| m.direction == Direction::Received && m.is_request("BYE"))
            .and_then(|m| m.stamp.clone());
        let (Some(up), Some(bye)) = (up, bye) else {
            panic!("{who}: no call-up and BYE in its log\n{}", result.messages);
        };
        let after = bye.since(&up).as_secs_f64();
        assert!(
            (1.5..=4.5).contains(&after),
            "{who}: BYE {after:.2} s after the call was up, expected 2–4 s\n{}",
            why()
        );
    }
}

#[test]
fn hold_plays_music_and_unhold_restores_the_bridge() {
    if !require_tool("sipp") {
        return;
    }
    // Music on hold: a folder of our own with one 2 s WAV of 440 Hz (8 kHz mono 16-bit).
    let data = tempdir::Dir::new("media-data");
    let moh = data.path().join("moh");
    std::fs::create_dir_all(&moh).expect("moh folder");
    let music = switchboard_tests::signal::tone(MOH_HZ, LEVEL.amplitude(), 2 * 8000, RATE);
    recording::write_mono(&moh.join("music.wav"), &music, RATE).expect("moh wav");
    let moh_value = format!("{:?}", moh.display().to_string());
    let (sb, _) = media_switch(|c| c.set("media", "moh_dir", &moh_value));

    let stream = RtpStream::pcma_tone(CALLER_HZ, 6.0, LEVEL);
    let pcap = write_pcap(&data, "caller.pcap", &stream);
    let phone = RtpEndpoint::bind().expect("agent RTP socket");
    let agent_sipp = agent(&sb, &phone);
    let phone = phone.start(Plan::reply(agent_voice(), Duration::from_secs(15)));
    // The script takes about 5 s; 12 s bounds a switch that never answers a re-INVITE.
    let caller_done = caller(&sb, "media_caller_hold.xml", Some(&pcap), None)
        .arg(&["-timeout", "12s"])
        .run();
    let agent_done = agent_sipp.wait_at_most(AFTER_CALLER);
    let heard = phone.stop();
    let why = || explain(&sb, &caller_done, &agent_done);
    // The caller's scenario requires a=recvonly in the switch's answer to its hold re-INVITE;
    // the agent's fails on any re-INVITE: hold is handled by the switch, not relayed.
    assert!(
        caller_done.ok(),
        "the caller's hold/unhold failed\n{}",
        why()
    );
    assert!(
        agent_done.ok(),
        "the agent's call failed (a re-INVITE reached it?)\n{}",
        why()
    );
    let invites = sip_log::parse(&agent_done.messages)
        .iter()
        .filter(|m| m.direction == Direction::Received && m.is_request("INVITE"))
        .count();
    assert_eq!(invites, 1, "the agent got a re-INVITE\n{}", why());

    // 200 ms (10 packets) at a time: the dominant frequency, or None for silence.
    let heard_over_time = heard.dominant_over_time(10, 200.0);
    let is = |w: &Option<f64>, f: f64| w.is_some_and(|x| (x - f).abs() <= TOLERANCE_HZ);
    let first_moh = heard_over_time.iter().position(|w| is(w, MOH_HZ));
    let last_moh = heard_over_time.iter().rposition(|w| is(w, MOH_HZ));
    let (Some(first), Some(last)) = (first_moh, last_moh) else {
        panic!(
            "the agent never heard the 440 Hz music: {heard_over_time:?}\n{}",
            why()
        );
    };
    assert!(
        heard_over_time[..first].iter().any(|w| is(w, CALLER_HZ)),
        "no caller audio before the hold: {heard_over_time:?}"
    );
    assert!(
        heard_over_time[first..=last].iter().all(|w| is(w, MOH_HZ)),
        "the music on hold was interrupted (or the caller leaked through): {heard_over_time:?}"
    );
    assert!(
        last - first + 1 >= 5,
        "under 1 s of music on hold: {heard_over_time:?}"
    );
    assert!(
        heard_over_time[last + 1..].iter().any(|w| is(w, CALLER_HZ)),
        "the caller was not heard again after unhold: {heard_over_time:?}"
    );
}

#[test]
fn the_recording_stays_whole_and_aligned_when_the_caller_changes_codec_mid_call() {
    if !require_tool("sipp") {
        return;
    }
    // Wideband recording: the A-law half is resampled up, the G.722 half is recorded as is.
    const WIDE: u32 = 16_000;
    let (sb, _) = media_switch(|c| c.set("recording", "sample_rate", &WIDE.to_string()));
    let data = tempdir::Dir::new("media-data");
    // Three seconds of A-law, then (after the re-INVITE) three of G.722 from the same source.
    let alaw = RtpStream::pcma_tone(CALLER_HZ, 3.0, LEVEL);
    let g722 = RtpStream::g722_tone(CALLER_HZ, 3.0, LEVEL)
        .expect("G.722 encoder")
        .continuing(&alaw);
    let pcap2 = write_pcap(&data, "g722.pcap", &g722);
    let pcap2 = pcap2.display().to_string();
    let (caller, agent_sipp, heard) = tone_call(
        &sb,
        &alaw,
        "media_caller_reinvite.xml",
        &["-key", "pcap2", &pcap2],
    );
    let why = || explain(&sb, &caller, &agent_sipp);
    assert!(caller.ok() && agent_sipp.ok(), "the call failed\n{}", why());

    // The switch took the caller's G.722 (answered locally: the agent stays on A-law).
    let reinvite_answer = sip_log::parse(&caller.messages)
        .into_iter()
        .filter(answer)
        .nth(1)
        .unwrap_or_else(|| panic!("no 200 OK to the re-INVITE\n{}", why()));
    let accepted = reinvite_answer.sdp_media().map(|m| m.payload_types);
    assert_eq!(
        accepted.as_ref().and_then(|p| p.first()),
        Some(&9),
        "the re-INVITE's answer: {accepted:?}\n{}",
        why()
    );

    // The agent heard the caller's tone before and after the change (relayed, then transcoded).
    let audio = heard.audio();
    let (before, after) = audio.split_at(audio.len().min(3 * RATE as usize));
    let (tone_before, tone_after) = (
        signal::tone_stretches(before, CALLER_HZ, RATE),
        signal::tone_stretches(after, CALLER_HZ, RATE),
    );
    assert!(
        tone_before >= 27 && tone_after >= 27,
        "the agent heard the caller's tone for {tone_before} × 100 ms of the A-law half and \
         {tone_after} × 100 ms of the G.722 half\n{}",
        why()
    );

    // One recording, as long as the call: the caller's tone on the left in both halves, the
    // agent's on the right throughout, nothing shifted.
    let rec = call_recording(&sb, &caller, &why);
    assert_eq!(rec.sample_rate, WIDE);
    let lasts = rec.duration().as_secs_f64();
    let left = rec.left();
    let (left_before, left_after) = left.split_at(left.len() / 2);
    let (rec_before, rec_after) = (
        signal::tone_stretches(left_before, CALLER_HZ, WIDE),
        signal::tone_stretches(left_after, CALLER_HZ, WIDE),
    );
    let agent_side = signal::tone_stretches(rec.right(), AGENT_HZ, WIDE);
    assert!(
        rec_before >= 27 && rec_after >= 27 && agent_side >= 55,
        "recording of {lasts:.2} s: caller's tone {rec_before} + {rec_after} × 100 ms (first \
         and second half), agent's {agent_side} × 100 ms\n{}",
        why()
    );
    let log = sb.log();
    assert!(
        log.contains("re-INVITE answered") && log.contains("G722"),
        "{}",
        why()
    );
}

#[test]
fn a_recording_that_cannot_be_written_does_not_end_the_call() {
    if !require_tool("sipp") {
        return;
    }
    // The call's recording, rec/{call_id}.wav, is a link to /dev/full: it opens, and every
    // write to it fails with ENOSPC, as on a full disk. The caller's Call-ID is fixed for that.
    let (sb, _) = media_switch(|c| c);
    let rec = sb.path("rec");
    std::fs::create_dir_all(&rec).expect("rec folder");
    std::os::unix::fs::symlink("/dev/full", rec.join("full-disk-1.wav")).expect("link");
    let stream = RtpStream::pcma_tone(CALLER_HZ, 3.0, LEVEL);
    let (caller, agent_sipp, heard) = tone_call(
        &sb,
        &stream,
        "media_caller.xml",
        &["-cid_str", "full-disk-%u"],
    );
    let why = || explain(&sb, &caller, &agent_sipp);
    // The caller, not the switch, ended the call, after all of its tone got through.
    assert!(caller.ok() && agent_sipp.ok(), "the call failed\n{}", why());
    assert!(
        signal::tone_stretches(&heard.audio(), CALLER_HZ, RATE) >= 25,
        "the agent did not hear the caller's 3 s tone\n{}",
        why()
    );
    let logged = sb.wait_for_log(Duration::from_secs(5), |log| {
        log.lines().any(|l| {
            l.contains("recording failed")
                && l.contains("full-disk-1.wav")
                && l.contains("no storage space")
        })
    });
    assert!(logged.is_some(), "no error names the recording\n{}", why());
    assert!(!sb.log().contains("panicked"), "{}", why());
}
