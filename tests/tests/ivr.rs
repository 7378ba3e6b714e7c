//! The live IVR end to end: callers go through the shipped after-sales dialplan on the real
//! binary, press keys the three ways phones do, reach queues whose agents ring, leave
//! voicemail, and a reload under load drops no call.
//!
//! Who plays whom ([`switchboard_tests::phone`]):
//! * **Callers** are SIPp for the signalling; their media is an endpoint of this test (the SDP
//!   names its port), which says the caller's voice (an 1100 Hz tone) with RFC 4733 key presses
//!   and *hears* the prompts and the music on hold. SIPp can replay a pcap but cannot tell
//!   anyone what it received, and the switch latches onto the pcap's source, so a caller whose
//!   ears matter plays its script from here; where only the keys matter, SIPp plays the pcap
//!   itself (RFC 4733 events in one test, in-band tone pairs in another).
//! * **Agents** are SIPp phones registered with digest: one that answers (media here, as in
//!   media.rs), and ones that ring until they are cancelled.
//! * **Keys** are scripted before the call, timed from the lengths of the shipped prompts: a key
//!   pressed during a prompt that cannot be interrupted (welcome, please-hold) is ignored, so
//!   each key comes [`MARGIN`] after such a prompt has ended, into a menu, whose prompt a key
//!   interrupts and which then waits 5 s more.
//! * **What a caller heard** is checked against the shipped WAVs themselves
//!   ([`heard_prompt`]): "the French main menu", not just "not silence".
//!
//! Tests that need the line open run a copy of the shipped dialplan open around the clock; one
//! runs the shipped file unchanged and asks `dialplan simulate` what the clock says. Every wait
//! is bounded and waits for an event (a SIP message, a log line, a file); a caller's `-d` is how
//! long a person stays on the line.

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use switchboard_tests::crm::Crm;
use switchboard_tests::endpoint::{Plan, Received, RtpEndpoint};
use switchboard_tests::ivr::{always_open, heard_prompt, prompt_length, replace_once, rfc3339_utc};
use switchboard_tests::phone::{Caller, answering_agent, ringing_agent};
use switchboard_tests::recording::{self, Recording, wait_for_wav};
use switchboard_tests::rtp::RtpStream;
use switchboard_tests::signal::{
    Dbm0, dominant_frequency, dtmf_tone, goertzel_power, rms, tone, tone_stretches,
};
use switchboard_tests::sip_log::{self, Direction};
use switchboard_tests::{
    Config, Sipp, SippResult, Switchboard, binary, free_port, require_tool, tempdir, workspace,
};

/// The shipped after-sales line.
const IVR: &str = "+33180000000";
/// Every tone's level: normal speech on a telephone line.
const LEVEL: Dbm0 = Dbm0(-10.0);
const RATE: u32 = 8000;
/// The caller's voice (clear of the 1000 Hz voicemail beep and of every DTMF frequency), the
/// answering agent's voice, the music on hold.
const CALLER_HZ: f64 = 1100.0;
const AGENT_HZ: f64 = 600.0;
const MOH_HZ: f64 = 440.0;
const TOLERANCE_HZ: f64 = 10.0;
/// How long a key is held (phones send 100–250 ms).
const KEY_LENGTH: Duration = Duration::from_millis(100);
/// A key comes this long after the uninterruptible prompt before it has ended, and the next
/// one this long into the menu it opened: room for a loaded machine on both sides.
const MARGIN: Duration = Duration::from_secs(2);
/// How long a menu waits for a key once its prompt has played (`timeout=5` in the shipped plan).
const MENU_TIMEOUT: Duration = Duration::from_secs(5);
/// The beep before a voicemail records (`switchboard_media::prompt::BEEP_MS`).
const BEEP: Duration = Duration::from_millis(250);
/// How long agents' SIPp may take to finish once the caller has (a CANCEL or BYE is relayed in
/// milliseconds; this only keeps a failed call from waiting out their -timeout).
const AFTER_CALLER: Duration = Duration::from_secs(5);
/// The least a prompt must correlate with what the caller heard to count as heard (the same
/// prompt through G.711 scores above 0.99, another one below 0.5).
const HEARD: f64 = 0.9;

/// Where a switch's dialplans come from.
enum Dialplans {
    /// The repository's dialplans/ folder, as shipped.
    Shipped,
    /// This text as `dialplans/after-sales.kdl` in the switch's own folder (a test may edit it).
    Copy(String),
}

/// The shipped dialplan, open around the clock.
fn open_copy() -> String {
    let shipped = std::fs::read_to_string(workspace().join("dialplans/after-sales.kdl"))
        .expect("shipped dialplan");
    always_open(&shipped).expect("the shipped dialplan has its hours")
}

/// A switch for IVR tests: its own RTP ports, recordings, voicemail folder and control socket,
/// the shipped prompts, music on hold that is a plain 440 Hz tone (easy to tell from anything
/// else), and no folder watching (reloads happen when a test asks); then `edit`.
fn ivr_switch(dialplans: Dialplans, edit: impl FnOnce(Config) -> Config) -> Switchboard {
    let range = rtp_range();
    let quoted = |p: PathBuf| format!("{:?}", p.display().to_string());
    let config = Config::shipped()
        .set("media", "rtp_port_min", &range.0.to_string())
        .set("media", "rtp_port_max", &range.1.to_string())
        .file("moh/music.wav", music_on_hold())
        .set_path("media", "moh_dir", "moh")
        .set_path("recording", "path", "rec/{call_id}.wav")
        .set_path("recording", "voicemail_dir", "voicemail")
        .set_path("control", "socket", "switchboard.ctl")
        .set("dialplan", "sounds", &quoted(workspace().join("sounds")))
        .set("dialplan", "watch", "false");
    let config = match dialplans {
        Dialplans::Shipped => config.set("dialplan", "dir", &quoted(workspace().join("dialplans"))),
        Dialplans::Copy(text) => {
            config
                .file("dialplans/after-sales.kdl", text)
                .set_path("dialplan", "dir", "dialplans")
        }
    };
    Switchboard::start_config(edit(config))
}

/// 200 ports of 10000–19999 that no other switch of this test process uses (media.rs uses
/// 20000–29999; the pool skips a port someone else holds anyway).
fn rtp_range() -> (u16, u16) {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let slot = (u16::try_from(std::process::id() % 10).unwrap_or(0) * 5 + n) % 50;
    (10_000 + slot * 200, 10_000 + slot * 200 + 199)
}

/// Two seconds of 440 Hz as an 8 kHz mono WAV.
fn music_on_hold() -> Vec<u8> {
    let dir = tempdir::Dir::new("ivr-moh");
    let path = dir.path().join("music.wav");
    let music = tone(MOH_HZ, LEVEL.amplitude(), 2 * 8000, RATE);
    recording::write_mono(&path, &music, RATE).expect("moh wav");
    std::fs::read(&path).expect("moh bytes")
}

/// A caller's keys, each with when it is pressed from the start of the call's audio.
struct Keys {
    keys: Vec<(char, Duration)>,
    /// When the caller is in the queue (the last prompt before it has played).
    queued: Duration,
}

/// The language key during the language menu, then `choice` during the main menu.
fn to_queue(language: char, choice: char) -> Keys {
    let lang = if language == '2' { "en" } else { "fr" };
    let first = prompt_length("fr", "welcome") + MARGIN;
    let second = first + MARGIN;
    Keys {
        keys: vec![(language, first), (choice, second)],
        queued: second + prompt_length(lang, "please-hold"),
    }
}

/// The caller's voice for `length`, with `keys` as RFC 4733 events.
fn voice(keys: &[(char, Duration)], length: Duration) -> RtpStream {
    RtpStream::pcma_tone(CALLER_HZ, length.as_secs_f64(), LEVEL)
        .with_rfc4733_keys(keys, KEY_LENGTH)
        .expect("keys fit the call")
}

/// Calls the IVR with `ivr_caller.xml`: `keys`, then the caller hangs up at `hold`.
fn ivr_caller(sb: &Switchboard, keys: &[(char, Duration)], hold: Duration) -> Caller {
    let voice = voice(keys, hold + MARGIN);
    Caller::call(sb.sip, "ivr_caller.xml", IVR, voice, Some(hold), &[])
}

/// The end of the switch's log, for assertion messages.
fn tail(sb: &Switchboard) -> String {
    let log = sb.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.contains("RTP source")).collect();
    let from = lines.len().saturating_sub(120);
    format!(
        "--- switch log (last 120 lines) ---\n{}",
        lines[from..].join("\n")
    )
}

/// SIPp runs and the switch's log, for assertion messages.
fn explain(sb: &Switchboard, runs: &[(&str, &SippResult)]) -> String {
    let mut out = String::new();
    for (who, run) in runs {
        out.push_str(&format!("{who}: {:?}\n{}\n", run.flow(), run.errors));
    }
    out + &tail(sb)
}

/// How many `method` requests a SIPp run received.
fn got(run: &SippResult, method: &str) -> usize {
    sip_log::requests(&run.messages, Direction::Received, method).len()
}

/// The Call-ID of a caller's call.
fn call_id(caller: &SippResult) -> String {
    sip_log::call_id(&caller.messages)
        .unwrap_or_else(|| panic!("no INVITE in the caller's log:\n{}", caller.messages))
}

/// Whether the switch logged a line about call `id` that contains `what`.
fn logged(sb: &Switchboard, id: &str, what: &str) -> bool {
    let call = format!("call_id={id} ");
    sb.log()
        .lines()
        .any(|l| l.contains(&call) && l.contains(what))
}

fn queued_in(sb: &Switchboard, id: &str, queue: &str) -> bool {
    logged(sb, id, &format!("caller queued queue=\"{queue}\""))
}

/// How far apart two agents' phones received their INVITEs.
fn invites_apart(a: &SippResult, b: &SippResult) -> Duration {
    let stamp = |r: &SippResult| {
        sip_log::requests(&r.messages, Direction::Received, "INVITE")
            .first()
            .and_then(|m| m.stamp.clone())
            .unwrap_or_else(|| panic!("no INVITE:\n{}", r.messages))
    };
    let (x, y) = (stamp(a), stamp(b));
    x.since(&y).max(y.since(&x))
}

/// Asserts the caller heard the shipped prompt `lang/name`; where in what it heard.
fn assert_heard(heard: &[i16], lang: &str, name: &str, why: &dyn Fn() -> String) -> usize {
    let found = heard_prompt(heard, lang, name);
    assert!(
        found.is_some_and(|m| m.correlation >= HEARD),
        "the caller did not hear {lang}/{name}: best match {found:?}\n{}",
        why()
    );
    found.map_or(0, |m| m.offset)
}

fn is_tone(heard: Option<f64>, hz: f64) -> bool {
    heard.is_some_and(|f| (f - hz).abs() <= TOLERANCE_HZ)
}

/// How much of the power of `pcm` is at `hz` (1.0 for that tone alone; 0 for silence): one
/// Goertzel filter, where a dominant-frequency scan would run 321 of them.
fn share(pcm: &[i16], hz: f64) -> f64 {
    let power = rms(pcm).powi(2);
    if power < 200.0 * 200.0 {
        return 0.0;
    }
    goertzel_power(pcm, hz, RATE) / power
}

/// Asserts `path` is a finished mono 8 kHz voicemail of at least 2 s holding the caller's voice.
fn assert_voicemail(path: &std::path::Path, why: &dyn Fn() -> String) -> Recording {
    let rec = wait_for_wav(path, Duration::from_secs(2), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", why()));
    assert_eq!(
        (rec.channels.len(), rec.sample_rate),
        (1, RATE),
        "a voicemail is mono 8 kHz"
    );
    let voice = tone_stretches(rec.left(), CALLER_HZ, RATE);
    let lasts = rec.duration();
    assert!(
        voice >= 15,
        "{voice} × 100 ms of the caller's voice in {lasts:?} of voicemail\n{}",
        why()
    );
    assert!(
        is_tone(dominant_frequency(rec.left(), RATE), CALLER_HZ),
        "{}",
        why()
    );
    rec
}

#[test]
fn shipped_ivr_reaches_a_french_queue_by_phone() {
    if !require_tool("sipp") {
        return;
    }
    let sb = ivr_switch(Dialplans::Copy(open_copy()), |c| c);
    let keys = to_queue('1', '1'); // français, then orders: after-sales-fr
    let ringing = ringing_agent(&sb, "1001", 1);
    let agent_media = RtpEndpoint::bind().expect("agent RTP socket");
    let answering = answering_agent(&sb, "1002", &agent_media);
    let agent_voice = RtpStream::pcma_tone(AGENT_HZ, 30.0, LEVEL).with_ssrc(0xA6E7_0002);
    let agent_media = agent_media.start(Plan::reply(agent_voice, Duration::from_secs(40)));
    // Four seconds of conversation once queued, then the caller hangs up.
    let (caller, heard) =
        ivr_caller(&sb, &keys.keys, keys.queued + Duration::from_secs(4)).finish();
    let answering = answering.wait_at_most(AFTER_CALLER);
    let ringing = ringing.wait_at_most(AFTER_CALLER);
    let agent_heard = agent_media.stop();
    let why = || {
        explain(
            &sb,
            &[
                ("caller", &caller),
                ("1002", &answering),
                ("1001", &ringing),
            ],
        )
    };

    // Answered by the IVR, hung up by the caller with a 200 to its BYE.
    assert!(caller.ok(), "the caller's call failed\n{}", why());
    // Prompts, not silence: the welcome, the main menu in French (not English), please-hold,
    // in that order; then the agent's voice.
    let audio = heard.audio();
    assert!(
        rms(&audio[..audio.len().min(4 * 8000)]) > 300.0,
        "silence\n{}",
        why()
    );
    let welcome = assert_heard(&audio, "fr", "welcome", &why);
    let menu = assert_heard(&audio, "fr", "main-menu", &why);
    let please_hold = assert_heard(&audio, "fr", "please-hold", &why);
    assert!(
        welcome < menu && menu < please_hold,
        "out of order: {welcome} {menu} {please_hold}"
    );
    let english = heard_prompt(&audio, "en", "main-menu").map_or(0.0, |m| m.correlation);
    assert!(
        english < 0.6,
        "the English main menu was played ({english:.2})\n{}",
        why()
    );
    let windows = heard.audio_windows(10);
    let agent_said = windows.iter().filter(|w| share(w, AGENT_HZ) > 0.8).count();
    assert!(
        agent_said >= 10,
        "the caller heard {agent_said} × 200 ms of the agent\n{}",
        why()
    );

    // Both French agents rang at once; 1002 answered and 1001 was cancelled.
    assert!(
        ringing.ok() && answering.ok(),
        "an agent's phone failed\n{}",
        why()
    );
    assert_eq!(
        (got(&ringing, "INVITE"), got(&answering, "INVITE")),
        (1, 1),
        "{}",
        why()
    );
    assert_eq!(
        got(&ringing, "CANCEL"),
        1,
        "1001 was not cancelled\n{}",
        why()
    );
    assert_eq!(got(&answering, "BYE"), 1, "1002 was not hung up\n{}", why());
    let apart = invites_apart(&ringing, &answering);
    assert!(
        apart < Duration::from_millis(500),
        "the agents rang {apart:?} apart\n{}",
        why()
    );
    // The one who answered heard the caller.
    let packets = agent_heard.audio_packets();
    assert!(packets >= 100, "1002 heard {packets} packets\n{}", why());
    let agent_hears = dominant_frequency(&agent_heard.audio(), RATE);
    assert!(
        is_tone(agent_hears, CALLER_HZ),
        "1002 heard {agent_hears:?}\n{}",
        why()
    );
    let id = call_id(&caller);
    assert!(queued_in(&sb, &id, "after-sales-fr"), "{}", why());
    assert!(
        logged(&sb, &id, "call ended cause=caller-hangup"),
        "{}",
        why()
    );
    // The conversation is recorded like any other: caller left, agent right.
    let rec = wait_for_wav(
        &sb.path(&format!("rec/{id}.wav")),
        Duration::from_secs(2),
        AFTER_CALLER,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", why()));
    assert_eq!(rec.channels.len(), 2, "the call's recording is not stereo");
    assert!(
        is_tone(dominant_frequency(rec.left(), RATE), CALLER_HZ),
        "recording, left"
    );
    assert!(
        is_tone(dominant_frequency(rec.right(), RATE), AGENT_HZ),
        "recording, right"
    );
}

/// Whether the shipped dialplan, fed `keys` at `at`, reaches its main menu (open) rather than
/// its closed menu: `dialplan simulate`, the interpreter the server runs.
fn simulated_open(at: SystemTime, keys: &str) -> bool {
    let at = rfc3339_utc(at);
    let out = Command::new(binary())
        .args([
            "dialplan",
            "simulate",
            "--to",
            IVR,
            "--from",
            "+33612345678",
        ])
        .args(["--digits", keys, "--at", &at])
        .current_dir(workspace())
        .output()
        .expect("simulate runs");
    let journey = String::from_utf8_lossy(&out.stdout);
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "simulate failed: {journey}{errors}");
    match (
        journey.contains("\nstep main-menu\n"),
        journey.contains("\nstep closed\n"),
    ) {
        (true, false) => true,
        (false, true) => false,
        _ => panic!("simulate at {at} reached neither the main nor the closed menu:\n{journey}"),
    }
}

#[test]
fn shipped_ivr_follows_the_clock() {
    if !require_tool("sipp") {
        return;
    }
    let sb = ivr_switch(Dialplans::Shipped, |c| c);
    // '1' for French, then '2', late enough for the closed menu and still inside the main
    // menu: returns (after-sales-fr) when open, a voicemail when closed.
    let first = prompt_length("fr", "welcome") + MARGIN;
    let second = first + prompt_length("fr", "closed") + MARGIN;
    assert!(second - first < prompt_length("fr", "main-menu") + MENU_TIMEOUT);
    let keys = [('1', first), ('2', second)];
    let greeting = prompt_length("fr", "voicemail-greeting") + BEEP;
    let hold = second + prompt_length("fr", "please-hold").max(greeting) + Duration::from_secs(3);
    let ringing = ringing_agent(&sb, "1001", 1);
    let before = simulated_open(SystemTime::now(), "1,2");
    let (caller, heard) = ivr_caller(&sb, &keys, hold).finish();
    let after = simulated_open(SystemTime::now(), "1,2");
    let rang =
        !sip_log::requests(&ringing.messages_so_far(), Direction::Received, "INVITE").is_empty();
    // Only an agent who rang has a call to finish.
    let agent = rang.then(|| ringing.wait_at_most(AFTER_CALLER));
    let why = || explain(&sb, &[("caller", &caller)]) + &format!("\nagent 1001: {agent:?}");
    assert!(caller.ok(), "the caller's call failed\n{}", why());
    // A call across an opening or closing time may go either way; the rest must agree.
    let open = if before == after { before } else { rang };
    eprintln!(
        "the shipped line is {} now",
        if open { "open" } else { "closed" }
    );
    let audio = heard.audio();
    let id = call_id(&caller);
    let voicemail = sb.path(&format!("voicemail/voicemail/after-sales-fr/{id}.wav"));
    if open {
        let agent = agent
            .as_ref()
            .unwrap_or_else(|| panic!("open, yet 1001 did not ring\n{}", why()));
        assert!(
            agent.ok() && got(agent, "CANCEL") == 1,
            "1001's phone failed\n{}",
            why()
        );
        assert!(queued_in(&sb, &id, "after-sales-fr"), "{}", why());
        assert_heard(&audio, "fr", "main-menu", &why);
        assert!(!voicemail.exists(), "a voicemail when open\n{}", why());
    } else {
        assert!(!rang, "closed, yet an agent rang\n{}", why());
        assert_heard(&audio, "fr", "closed", &why);
        assert_heard(&audio, "fr", "voicemail-greeting", &why);
        assert_voicemail(&voicemail, &why);
    }
}

/// Writes `stream` as a pcap SIPp replays (its addresses are placeholders SIPp replaces).
fn write_pcap(dir: &tempdir::Dir, name: &str, stream: &RtpStream) -> String {
    let path = dir.path().join(name);
    let placeholder: SocketAddrV4 = "127.0.0.1:6000".parse().expect("address");
    switchboard_tests::pcap::write_rtp_file(&path, stream, placeholder, placeholder)
        .expect("write pcap");
    path.display().to_string()
}

/// A SIPp caller to the IVR playing `pcap` from its own media port, hanging up at `hold`.
fn pcap_caller(sb: &Switchboard, scenario: &str, pcap: &str, hold: Duration) -> Sipp {
    let (media_port, hold) = (free_port().to_string(), hold.as_millis().to_string());
    Sipp::new(scenario, Some(sb.sip), free_port())
        .arg(&["-s", IVR, "-mp", &media_port, "-key", "pcap", pcap])
        .arg(&["-d", &hold, "-timeout", "40s"])
}

#[test]
fn english_caller_reaches_support_and_unknown_number_is_404() {
    if !require_tool("sipp") {
        return;
    }
    let sb = ivr_switch(Dialplans::Copy(open_copy()), |c| c);
    let keys = to_queue('2', '3'); // English, then technical support: support-en
    let french = ringing_agent(&sb, "1001", 1);
    let english = [ringing_agent(&sb, "1003", 1), ringing_agent(&sb, "1004", 1)];
    // This caller's keys are RFC 4733 events in a pcap that SIPp itself plays.
    let hold = keys.queued + Duration::from_secs(3);
    let data = tempdir::Dir::new("ivr-data");
    let pcap = write_pcap(&data, "english.pcap", &voice(&keys.keys, hold + MARGIN));
    let caller = pcap_caller(&sb, "media_caller.xml", &pcap, hold).run();
    let [a, b] = english.map(|agent| agent.wait_at_most(AFTER_CALLER));
    let french = french.messages_so_far();
    let why = || explain(&sb, &[("caller", &caller), ("1003", &a), ("1004", &b)]);
    assert!(caller.ok(), "the caller's call failed\n{}", why());
    for (who, agent) in [("1003", &a), ("1004", &b)] {
        assert!(agent.ok(), "{who}'s phone failed\n{}", why());
        assert_eq!(
            (got(agent, "INVITE"), got(agent, "CANCEL")),
            (1, 1),
            "{who}\n{}",
            why()
        );
    }
    let apart = invites_apart(&a, &b);
    assert!(
        apart < Duration::from_millis(500),
        "1003 and 1004 rang {apart:?} apart"
    );
    let rang_1001 = sip_log::requests(&french, Direction::Received, "INVITE");
    assert!(rang_1001.is_empty(), "1001 (French only) rang:\n{french}");
    assert!(queued_in(&sb, &call_id(&caller), "support-en"), "{}", why());

    let unknown = Sipp::new("caller_expect_404.xml", Some(sb.sip), free_port())
        .arg(&["-s", "+33999999999"])
        .run();
    assert!(unknown.ok(), "{:?}\n{}", unknown.flow(), tail(&sb));
    assert!(
        unknown.flow().iter().any(|l| l == "SIP/2.0 404 Not Found"),
        "{:?}",
        unknown.flow()
    );
}

#[test]
fn queue_overflows_to_voicemail_when_nobody_answers() {
    if !require_tool("sipp") {
        return;
    }
    let plan = replace_once(
        &open_copy(),
        "enqueue \"after-sales-${language}\" priority=0 max-wait=300",
        "enqueue \"after-sales-${language}\" priority=0 max-wait=6",
    )
    .expect("the after-sales queue's max-wait");
    let sb = ivr_switch(Dialplans::Copy(plan), |c| c);
    // No agent is registered: the queue overflows at once, to the all-busy menu, where '2'
    // leaves a message. The caller talks for 3 s after the beep and ends it with '#'; the
    // dialplan thanks and hangs up.
    let mut keys = to_queue('1', '1');
    let busy_key = keys.queued + MARGIN;
    let recording_from = busy_key + prompt_length("fr", "voicemail-greeting") + BEEP;
    let hash_key = recording_from + Duration::from_secs(3);
    keys.keys.extend([('2', busy_key), ('#', hash_key)]);
    let voice = voice(&keys.keys, hash_key + Duration::from_secs(5));
    let caller = Caller::call(sb.sip, "ivr_caller_hung_up.xml", IVR, voice, None, &[]);
    let (caller, heard) = caller.finish();
    let why = || explain(&sb, &[("caller", &caller)]);
    assert!(
        caller.ok(),
        "the caller was not hung up by the dialplan\n{}",
        why()
    );
    let id = call_id(&caller);
    let overflow = "no member of the queue is registered: overflow";
    assert!(logged(&sb, &id, overflow), "{}", why());
    let audio = heard.audio();
    let busy = assert_heard(&audio, "fr", "all-busy", &why);
    let greeting = assert_heard(&audio, "fr", "voicemail-greeting", &why);
    let thanks = assert_heard(&audio, "fr", "thank-you-goodbye", &why);
    assert!(
        busy < greeting && greeting < thanks,
        "prompts out of order\n{}",
        why()
    );
    assert!(
        logged(&sb, &id, "dialplan hangs up cause=voicemail"),
        "{}",
        why()
    );

    let path = sb.path(&format!("voicemail/voicemail/after-sales-fr/{id}.wav"));
    let lasts = assert_voicemail(&path, &why).duration().as_secs_f64();
    assert!(
        (2.0..=4.0).contains(&lasts),
        "{lasts:.2} s of voicemail for 3 s of talk\n{}",
        why()
    );
}

/// A dialplan entry that answers, says goodbye and hangs up with `cause`.
fn goodbye_entry(number: &str, cause: &str) -> String {
    format!(
        "\nentry \"{number}\" start=\"{cause}\"\nstep \"{cause}\" {{\n    answer\n    \
         play \"goodbye\"\n    hangup cause=\"{cause}\"\n}}\n"
    )
}

/// Calls a [`goodbye_entry`]: answered, hears goodbye, hung up by the dialplan with `cause`.
fn assert_goodbye(sb: &Switchboard, number: &str, cause: &str) {
    let voice = RtpStream::pcma_tone(CALLER_HZ, 5.0, LEVEL);
    let (caller, heard) =
        Caller::call(sb.sip, "ivr_caller_hung_up.xml", number, voice, None, &[]).finish();
    let why = || explain(sb, &[(number, &caller)]);
    assert!(caller.ok(), "the call to {number} failed\n{}", why());
    assert_heard(&heard.audio(), "fr", "goodbye", &why);
    let hung_up = format!("dialplan hangs up cause={cause}");
    assert!(
        logged(sb, &call_id(&caller), &hung_up),
        "not the `{cause}` step\n{}",
        why()
    );
}

fn assert_404(sb: &Switchboard, number: &str) {
    let run = Sipp::new("caller_expect_404.xml", Some(sb.sip), free_port())
        .arg(&["-s", number])
        .run();
    assert!(
        run.ok(),
        "{number} is not 404: {:?}\n{}",
        run.flow(),
        tail(sb)
    );
}

/// Asserts a parked caller heard the music on hold from before `from` to the end of its call,
/// without a break.
fn assert_music_throughout(who: usize, heard: &Received, from: Instant, why: &dyn Fn() -> String) {
    // 200 ms at a time: the music's share of the power (1.0 for the music alone).
    let windows: Vec<(Instant, f64)> = heard
        .audio_windows_at(10)
        .iter()
        .map(|(at, pcm)| (*at, share(pcm, MOH_HZ)))
        .collect();
    let music = |w: &(Instant, f64)| w.1 > 0.8;
    // The music starts where a second of it does (speech has moments near 440 Hz too).
    let Some(first) = windows.windows(5).position(|run| run.iter().all(music)) else {
        panic!(
            "parked caller {who} never heard the music: {windows:?}\n{}",
            why()
        );
    };
    let music_from = windows[first].0;
    assert!(
        music_from < from,
        "parked caller {who}'s music started after the first reload"
    );
    // Every window since (but the last, cut by the BYE) is the music.
    let since: Vec<f64> = windows[first..windows.len() - 1]
        .iter()
        .map(|w| w.1)
        .collect();
    assert!(
        since.iter().all(|s| *s > 0.8),
        "{who}'s music broke: {since:?}\n{}",
        why()
    );
    let end = heard.packets().last().map_or(from, |p| p.at);
    let gap = heard.longest_gap(music_from, end + Duration::from_millis(1));
    assert!(
        gap < Duration::from_millis(200),
        "{who}'s audio stopped for {gap:?}\n{}",
        why()
    );
}

#[test]
fn reload_during_live_calls_drops_none() {
    if !require_tool("sipp") {
        return;
    }
    let plan = open_copy();
    let sb = ivr_switch(Dialplans::Copy(plan.clone()), |c| c);
    let file = sb.path("dialplans/after-sales.kdl");
    // 1001 rings for each caller and never answers: they wait in after-sales-fr with music,
    // and hang up 8 s after that, time enough for what follows.
    let mut agent = ringing_agent(&sb, "1001", 3);
    let keys = to_queue('1', '1');
    let hold = keys.queued + Duration::from_secs(8);
    let mut parked: Vec<Caller> = (0..3).map(|_| ivr_caller(&sb, &keys.keys, hold)).collect();
    let all_queued = agent.wait_for_log(keys.queued + Duration::from_secs(10), |log| {
        sip_log::requests(log, Direction::Received, "INVITE").len() == 3
    });
    assert!(
        all_queued.is_some(),
        "the 3 callers did not reach the queue\n{}",
        tail(&sb)
    );
    assert_404(&sb, "+33180000001");

    // A new entry, by `switchboard reload`: the new number is routed by the new set.
    let first_reload = Instant::now();
    let with_new = format!("{plan}{}", goodbye_entry("+33180000001", "new-number"));
    std::fs::write(&file, &with_new).expect("edit the dialplan");
    let ran = sb.reload();
    assert_eq!(ran.code, Some(0), "reload failed: {ran:?}\n{}", tail(&sb));
    assert!(
        ran.stdout.starts_with("ok") && ran.stdout.contains("2 entries"),
        "{ran:?}"
    );
    assert_goodbye(&sb, "+33180000001", "new-number");

    // A syntax error: refused with where it is, and the running set stays.
    let broken = format!("{with_new}\nstep \"broken\" {{\n    play \"goodbye\"\n");
    std::fs::write(&file, broken).expect("break the dialplan");
    let ran = sb.reload();
    assert_eq!(ran.code, Some(1), "a broken dialplan was accepted: {ran:?}");
    let after_name = ran.stdout.split("after-sales.kdl:").nth(1).unwrap_or("");
    let line_col: Vec<bool> = after_name
        .split(':')
        .take(2)
        .map(|n| n.parse::<u32>().is_ok())
        .collect();
    assert_eq!(line_col, [true, true], "no file:line:col in {ran:?}");
    let refused = sb.wait_for_log(Duration::from_secs(2), |l| {
        l.contains("the running dialplans stay")
    });
    assert!(
        refused.is_some(),
        "no log line about the refused reload\n{}",
        tail(&sb)
    );
    assert_goodbye(&sb, "+33180000001", "new-number");

    // SIGHUP reloads too.
    let with_two = format!(
        "{with_new}{}",
        goodbye_entry("+33180000002", "after-sighup")
    );
    std::fs::write(&file, with_two).expect("edit the dialplan");
    sb.sighup();
    let hup = sb.wait_for_log(Duration::from_secs(5), |log| {
        log.lines()
            .any(|l| l.contains("dialplans reloaded") && l.contains("SIGHUP"))
    });
    assert!(hup.is_some(), "SIGHUP did not reload\n{}", tail(&sb));
    assert_goodbye(&sb, "+33180000002", "after-sighup");
    let reloads_done = Instant::now();

    // The parked callers were up through all of it, and end their calls themselves.
    for (i, caller) in parked.iter_mut().enumerate() {
        assert!(
            !caller.sipp.has_exited(),
            "parked caller {i} left before the reloads were done"
        );
    }
    let parked: Vec<(SippResult, Received)> = parked.into_iter().map(Caller::finish).collect();
    let agent = agent.wait_at_most(AFTER_CALLER);
    for (i, (caller, heard)) in parked.iter().enumerate() {
        let why = || explain(&sb, &[("parked caller", caller), ("1001", &agent)]);
        assert!(
            caller.ok(),
            "parked caller {i}'s call failed (a BYE from the switch?)\n{}",
            why()
        );
        assert_eq!(
            got(caller, "BYE"),
            0,
            "the switch hung up parked caller {i}\n{}",
            why()
        );
        assert_music_throughout(i, heard, first_reload, &why);
        assert!(
            heard.packets().last().is_some_and(|p| p.at > reloads_done),
            "{}",
            why()
        );
    }
    assert!(
        agent.ok(),
        "1001's phone: {:?}\n{}",
        agent.flow(),
        agent.errors
    );
    assert_eq!(got(&agent, "CANCEL"), 3, "{:?}", agent.flow());
}

/// Silence with `keys` as Q.23 tone pairs of 120 ms, as PCMA.
fn inband_keys(keys: &[(char, Duration)], length: Duration) -> RtpStream {
    let at = |d: Duration| usize::try_from(d.as_millis()).unwrap_or(usize::MAX) * 8;
    let mut pcm = vec![0i16; at(length)];
    for &(key, when) in keys {
        let pair = dtmf_tone(key, LEVEL, at(Duration::from_millis(120)), RATE).expect("a key");
        pcm[at(when)..at(when) + pair.len()].copy_from_slice(&pair);
    }
    RtpStream::pcma_samples(&pcm)
}

#[test]
fn sip_info_and_inband_digits_drive_the_menu() {
    if !require_tool("sipp") {
        return;
    }
    let sb = ivr_switch(Dialplans::Copy(open_copy()), |c| c);
    let agent = ringing_agent(&sb, "1003", 2);
    let keys = to_queue('2', '1'); // English, orders: after-sales-en
    let hold = keys.queued + Duration::from_secs(3);
    let [(k1, at1), (k2, at2)] = [keys.keys[0], keys.keys[1]];
    // One caller presses with SIP INFO (its voice carries no key)...
    let (first_ms, then_ms) = (
        at1.as_millis().to_string(),
        (at2 - at1).as_millis().to_string(),
    );
    let (digit1, digit2) = (k1.to_string(), k2.to_string());
    let info_keys = [
        "-key", "first_ms", &first_ms, "-key", "digit1", &digit1, "-key", "then_ms", &then_ms,
        "-key", "digit2", &digit2,
    ];
    let voice = RtpStream::pcma_tone(CALLER_HZ, (hold + MARGIN).as_secs_f64(), LEVEL);
    // Its -d runs after its last key.
    let info = Caller::call(
        sb.sip,
        "ivr_caller_info.xml",
        IVR,
        voice,
        Some(hold - at2),
        &info_keys,
    );
    // ...the other has no RFC 4733 at all: tone pairs in the audio of a pcap SIPp plays.
    let data = tempdir::Dir::new("ivr-data");
    let pcap = write_pcap(
        &data,
        "inband.pcap",
        &inband_keys(&keys.keys, hold + MARGIN),
    );
    let inband = pcap_caller(&sb, "ivr_caller_inband.xml", &pcap, hold).spawn();
    let (info, heard) = info.finish();
    let inband = inband.wait();
    let agent = agent.wait_at_most(AFTER_CALLER);
    let why = || {
        explain(
            &sb,
            &[("INFO", &info), ("in-band", &inband), ("1003", &agent)],
        )
    };
    assert!(info.ok() && inband.ok(), "a call failed\n{}", why());
    let infos = sip_log::requests(&info.messages, Direction::Sent, "INFO");
    let dtmf_relay =
        |m: &sip_log::LoggedMessage| m.header("Content-Type") == Some("application/dtmf-relay");
    assert!(
        infos.len() == 2 && infos.iter().all(dtmf_relay),
        "{}",
        why()
    );
    for (who, caller) in [("INFO", &info), ("in-band", &inband)] {
        assert!(
            queued_in(&sb, &call_id(caller), "after-sales-en"),
            "the {who} caller\n{}",
            why()
        );
    }
    assert_heard(&heard.audio(), "en", "main-menu", &why);
    assert!(
        agent.ok() && got(&agent, "INVITE") == 2,
        "1003 did not ring twice\n{}",
        why()
    );
}

/// Every WAV under `dir`, at any depth.
fn wavs_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = recording::wav_files(dir);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            out.extend(wavs_under(&entry.path()));
        }
    }
    out
}

#[test]
fn a_call_id_chosen_by_the_caller_cannot_take_the_voicemail_out_of_its_folder() {
    if !require_tool("sipp") {
        return;
    }
    // Straight to the shipped voicemail step, which records to
    // voicemail/after-sales-fr/${call_id}.wav; the caller's Call-ID climbs out of it.
    let plan = format!(
        "{}\nentry \"+33180000009\" start=\"voicemail\"\n",
        open_copy()
    );
    let sb = ivr_switch(Dialplans::Copy(plan), |c| c);
    let hold = prompt_length("fr", "voicemail-greeting") + BEEP + Duration::from_secs(3);
    let voice = voice(&[], hold + MARGIN);
    let climbing = ["-cid_str", "../../../escape-%u-%p@%s"];
    let caller = Caller::call(
        sb.sip,
        "ivr_caller.xml",
        "+33180000009",
        voice,
        Some(hold),
        &climbing,
    );
    let (caller, _) = caller.finish();
    let why = || explain(&sb, &[("caller", &caller)]);
    assert!(caller.ok(), "the caller's call failed\n{}", why());
    let id = call_id(&caller);
    assert!(id.starts_with("../../../escape-"), "SIPp sent Call-ID {id}");
    let name = id.trim_start_matches("../");
    // The file was created when the recording started, during the call.
    let voicemail_dir = sb.path("voicemail");
    let strays: Vec<PathBuf> = wavs_under(sb.dir.path())
        .into_iter()
        .filter(|p| !p.starts_with(&voicemail_dir) && !p.starts_with(sb.path("moh")))
        .collect();
    assert!(
        strays.is_empty(),
        "voicemail written outside its folder: {strays:?}\n{}",
        why()
    );
    // Its `..` are dropped: it is in the mailbox, under the rest of the caller's Call-ID.
    let inside = sb.path(&format!("voicemail/voicemail/after-sales-fr/{name}.wav"));
    assert_voicemail(&inside, &why);
}

#[test]
fn a_changed_file_is_reloaded_when_the_folder_is_watched() {
    if !require_tool("sipp") {
        return;
    }
    let plan = open_copy();
    let sb = ivr_switch(Dialplans::Copy(plan.clone()), |c| {
        c.set("dialplan", "watch", "true")
    });
    assert_404(&sb, "+33180000003");
    let with_new = format!("{plan}{}", goodbye_entry("+33180000003", "watched"));
    std::fs::write(sb.path("dialplans/after-sales.kdl"), with_new).expect("edit the dialplan");
    // The folder is looked at every 2 s.
    let reloaded = sb.wait_for_log(Duration::from_secs(10), |log| {
        log.lines()
            .any(|l| l.contains("dialplans reloaded") && l.contains("file change"))
    });
    assert!(
        reloaded.is_some(),
        "the change was not picked up\n{}",
        tail(&sb)
    );
    assert_goodbye(&sb, "+33180000003", "watched");
}

/// An entry that looks the caller up in the CRM, then goes to the shipped callback step.
const CALLBACK_ENTRY: &str = r#"
entry "+33180000008" start="crm-callback"
step "crm-callback" {
    answer
    http "GET" "http://CRM/customers?phone=${caller_id}" timeout="1500ms" {
        set "customer" "$.name"
        set "customer_id" "$.id"
    }
    log "customer ${customer_id} is ${customer}"
    goto "callback"
}
"#;

#[test]
fn a_callback_number_is_read_said_back_and_booked_with_the_crm() {
    if !require_tool("sipp") {
        return;
    }
    let crm = Crm::start(r#"{"name":"Dupont","id":"C-42"}"#, Duration::from_secs(40))
        .expect("CRM server");
    let plan = format!("{}{CALLBACK_ENTRY}", open_copy())
        .replace("127.0.0.1:8089", &crm.addr().to_string())
        .replace("http://CRM/", &format!("http://{}/", crm.addr()));
    let sb = ivr_switch(Dialplans::Copy(plan), |c| c);
    // The number is typed over the prompt that asks for it; it is said back digit by digit
    // (short fragments), then '1' confirms.
    let number = "0612345678";
    let typed: Vec<(char, Duration)> = number
        .chars()
        .zip(0u32..)
        .map(|(d, i)| (d, Duration::from_millis(1000 + 250 * u64::from(i))))
        .collect();
    let read_done = typed.last().map_or(Duration::ZERO, |k| k.1) + KEY_LENGTH;
    let said: Duration = number
        .chars()
        .map(|d| prompt_length("fr", &format!("say/{d}")))
        .sum();
    let said_back = prompt_length("fr", "you-entered") + said;
    let confirm = read_done.max(prompt_length("fr", "enter-callback-number")) + said_back + MARGIN;
    let mut keys = typed;
    keys.push(('1', confirm));
    let length = confirm + prompt_length("fr", "callback-confirmed") + Duration::from_secs(4);
    let voice = voice(&keys, length);
    let (caller, heard) = Caller::call(
        sb.sip,
        "ivr_caller_hung_up.xml",
        "+33180000008",
        voice,
        None,
        &[],
    )
    .finish();
    let why = || explain(&sb, &[("caller", &caller)]) + &format!("\nCRM: {:?}", crm.requests());
    assert!(
        caller.ok(),
        "the caller was not hung up by the dialplan\n{}",
        why()
    );
    let id = call_id(&caller);
    assert!(logged(&sb, &id, "customer C-42 is Dupont"), "{}", why());
    assert!(
        logged(&sb, &id, "dialplan hangs up cause=callback"),
        "{}",
        why()
    );

    // What the caller heard: asked, told back the ten digits, asked to confirm, confirmed.
    let audio = heard.audio();
    let entered = assert_heard(&audio, "fr", "you-entered", &why);
    let confirm_menu = assert_heard(&audio, "fr", "confirm-number", &why);
    assert_heard(&audio, "fr", "callback-confirmed", &why);
    let gap = Duration::from_secs_f64(
        f64::from(u32::try_from(confirm_menu.saturating_sub(entered)).unwrap_or(u32::MAX))
            / f64::from(RATE),
    );
    let off = gap.abs_diff(said_back);
    assert!(
        off < Duration::from_millis(300),
        "said back in {gap:?}, not {said_back:?}"
    );

    // What the CRM was told: the lookup, then the booking.
    let requests = crm.requests();
    let [lookup, booking] = requests.as_slice() else {
        panic!("the CRM got {requests:?}\n{}", why());
    };
    assert_eq!(lookup.method, "GET");
    assert!(
        lookup.target.starts_with("/customers?phone=") && lookup.target.ends_with("33612345678")
    );
    assert_eq!(
        (booking.method.as_str(), booking.target.as_str()),
        ("POST", "/callbacks")
    );
    assert_eq!(booking.content_type.as_deref(), Some("application/json"));
    let expected = format!(r#"{{"number":"{number}","language":"fr","caller":"+33612345678"}}"#);
    assert_eq!(booking.body, expected, "{}", why());
}
