//! What every live IVR test shares: the switch it runs against (the shipped configuration
//! with its paths in the test's folder), the timing of a caller's keys, the callers and the
//! assertions on what they heard, and the explanations a failure prints.

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::time::Duration;

use switchboard_tests::ivr::{self, Keys, always_open, heard_prompt, shipped_dialplan};
use switchboard_tests::phone::Caller;
use switchboard_tests::recording::{self, Recording, wait_for_wav};
use switchboard_tests::rtp::RtpStream;
use switchboard_tests::signal::{self, Dbm0, dominant_frequency, tone, tone_stretches};
use switchboard_tests::sip_log::{self, Direction};
use switchboard_tests::{
    Config, Sipp, SippResult, Switchboard, free_port, own_rtp_ports, tempdir, workspace,
};

/// The shipped after-sales line.
pub(crate) const IVR: &str = "+33180000000";
/// Every tone's level: normal speech on a telephone line.
pub(crate) const LEVEL: Dbm0 = Dbm0(-10.0);
/// G.711's rate, which voicemail uses too.
pub(crate) const RATE: u32 = 8000;
/// The caller's voice (clear of the 1000 Hz voicemail beep and of every DTMF frequency), the
/// answering agent's voice, the music on hold.
pub(crate) const CALLER_HZ: f64 = 1100.0;
pub(crate) const AGENT_HZ: f64 = 600.0;
pub(crate) const MOH_HZ: f64 = 440.0;
/// How close a dominant frequency must be to a tone's (the scan's step is 10 Hz).
pub(crate) const TOLERANCE_HZ: f64 = 10.0;
/// How long a key is held (phones send 100–250 ms).
pub(crate) const KEY_LENGTH: Duration = Duration::from_millis(100);
/// A key comes this long after the uninterruptible prompt before it has ended, and the next
/// one this long into the menu it opened: room for a loaded machine on both sides.
pub(crate) const MARGIN: Duration = Duration::from_secs(2);
/// How long a menu waits for a key once its prompt has played (`timeout=5` in the shipped plan).
pub(crate) const MENU_TIMEOUT: Duration = Duration::from_secs(5);
/// The beep before a voicemail records (`switchboard_media::prompt::BEEP_MS`).
pub(crate) const BEEP: Duration = Duration::from_millis(250);
/// How long agents' SIPp may take to finish once the caller has (a CANCEL or BYE is relayed in
/// milliseconds; this only keeps a failed call from waiting out their -timeout).
pub(crate) const AFTER_CALLER: Duration = Duration::from_secs(5);
/// The least a prompt must correlate with what the caller heard to count as heard (the same
/// prompt through G.711 scores above 0.99, another one below 0.5).
pub(crate) const HEARD: f64 = 0.9;

/// Where a switch's dialplans come from.
pub(crate) enum Dialplans {
    /// The repository's dialplans/ folder, as shipped.
    Shipped,
    /// This text as `dialplans/after-sales.kdl` in the switch's own folder (a test may edit it).
    Copy(String),
}

/// The shipped dialplan, open around the clock.
pub(crate) fn open_copy() -> String {
    always_open(&shipped_dialplan()).expect("the shipped dialplan has its hours")
}

/// A switch for IVR tests: its own RTP ports, recordings, voicemail folder and control socket,
/// the shipped prompts, music on hold that is a plain 440 Hz tone (easy to tell from anything
/// else), and no folder watching (reloads happen when a test asks); then `edit`.
pub(crate) fn ivr_switch(dialplans: Dialplans, edit: impl FnOnce(Config) -> Config) -> Switchboard {
    let quoted = |p: PathBuf| format!("{:?}", p.display().to_string());
    let config = Config::shipped()
        .rtp_ports(own_rtp_ports())
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

/// Two seconds of 440 Hz as an 8 kHz mono WAV.
pub(crate) fn music_on_hold() -> Vec<u8> {
    let dir = tempdir::Dir::new("ivr-moh");
    let path = dir.path().join("music.wav");
    let music = tone(MOH_HZ, LEVEL.amplitude(), 2 * 8000, RATE);
    recording::write_mono(&path, &music, RATE).expect("moh wav");
    std::fs::read(&path).expect("moh bytes")
}

/// The language key, then `choice` in the main menu.
pub(crate) fn to_queue(language: char, choice: char) -> Keys {
    ivr::to_queue(language, choice, MARGIN)
}

/// The caller's voice for `length`, with `keys` as RFC 4733 events.
pub(crate) fn voice(keys: &[(char, Duration)], length: Duration) -> RtpStream {
    RtpStream::pcma_tone(CALLER_HZ, length.as_secs_f64(), LEVEL)
        .with_rfc4733_keys(keys, KEY_LENGTH)
        .expect("keys fit the call")
}

/// Calls the IVR with `ivr_caller.xml`: `keys`, then the caller hangs up at `hold`.
pub(crate) fn ivr_caller(sb: &Switchboard, keys: &[(char, Duration)], hold: Duration) -> Caller {
    let voice = voice(keys, hold + MARGIN);
    Caller::call(sb.sip, "ivr_caller.xml", IVR, voice, Some(hold), &[])
}

/// The end of the switch's log, for assertion messages.
pub(crate) fn tail(sb: &Switchboard) -> String {
    let log = sb.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.contains("RTP source")).collect();
    let from = lines.len().saturating_sub(120);
    format!(
        "--- switch log (last 120 lines) ---\n{}",
        lines[from..].join("\n")
    )
}

/// SIPp runs and the switch's log, for assertion messages.
pub(crate) fn explain(sb: &Switchboard, runs: &[(&str, &SippResult)]) -> String {
    let mut out = String::new();
    for (who, run) in runs {
        out.push_str(&format!("{who}: {:?}\n{}\n", run.flow(), run.errors));
    }
    out + &tail(sb)
}

/// How many `method` requests a SIPp run received.
pub(crate) fn got(run: &SippResult, method: &str) -> usize {
    sip_log::requests(&run.messages, Direction::Received, method).len()
}

/// The Call-ID of a caller's call.
pub(crate) fn call_id(caller: &SippResult) -> String {
    sip_log::call_id(&caller.messages)
        .unwrap_or_else(|| panic!("no INVITE in the caller's log:\n{}", caller.messages))
}

/// Whether the switch logged a line about call `id` that contains `what`.
pub(crate) fn logged(sb: &Switchboard, id: &str, what: &str) -> bool {
    let call = format!("call_id={id} ");
    sb.log()
        .lines()
        .any(|l| l.contains(&call) && l.contains(what))
}

/// The number of the first line of the switch's log about call `id` that contains `what`.
pub(crate) fn log_line(sb: &Switchboard, id: &str, what: &str) -> Option<usize> {
    let call = format!("call_id={id} ");
    sb.log()
        .lines()
        .position(|l| l.contains(&call) && l.contains(what))
}

/// Whether the switch logged that call `id` joined `queue`.
pub(crate) fn queued_in(sb: &Switchboard, id: &str, queue: &str) -> bool {
    logged(sb, id, &format!("caller queued queue=\"{queue}\""))
}

/// The agents the ACD offered call `id` to, in the order of the offers (an agent offered the
/// caller twice is named twice).
pub(crate) fn offered_to(sb: &Switchboard, id: &str) -> Vec<String> {
    let call = format!("call_id={id} ");
    sb.log()
        .lines()
        .filter(|l| l.contains(&call) && l.contains("offered to an agent"))
        .filter_map(|l| {
            let (_, agent) = l.rsplit_once(" agent=")?;
            agent.split_whitespace().next().map(str::to_owned)
        })
        .collect()
}

/// The INVITEs and CANCELs an agent's phone received, in order: how its phone rang.
pub(crate) fn rings(agent: &SippResult) -> Vec<&'static str> {
    sip_log::parse(&agent.messages)
        .iter()
        .filter(|m| m.direction == Direction::Received)
        .filter_map(|m| {
            ["INVITE", "CANCEL"]
                .into_iter()
                .find(|&method| m.is_request(method))
        })
        .collect()
}

/// How far apart two agents' phones received their INVITEs.
pub(crate) fn invites_apart(a: &SippResult, b: &SippResult) -> Duration {
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
pub(crate) fn assert_heard(
    heard: &[i16],
    lang: &str,
    name: &str,
    why: &dyn Fn() -> String,
) -> usize {
    let found = heard_prompt(heard, lang, name);
    assert!(
        found.is_some_and(|m| m.correlation >= HEARD),
        "the caller did not hear {lang}/{name}: best match {found:?}\n{}",
        why()
    );
    found.map_or(0, |m| m.offset)
}

/// Whether a dominant frequency is `hz`, within the scan's step.
pub(crate) fn is_tone(heard: Option<f64>, hz: f64) -> bool {
    heard.is_some_and(|f| (f - hz).abs() <= TOLERANCE_HZ)
}

/// How much of the power of `pcm` is at `hz` (see [`signal::share`]).
pub(crate) fn share(pcm: &[i16], hz: f64) -> f64 {
    signal::share(pcm, hz, RATE)
}

/// Asserts `path` is a finished mono 8 kHz voicemail of at least 2 s holding the caller's voice.
pub(crate) fn assert_voicemail(path: &std::path::Path, why: &dyn Fn() -> String) -> Recording {
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

/// Writes `stream` as a pcap SIPp replays (its addresses are placeholders SIPp replaces).
pub(crate) fn write_pcap(dir: &tempdir::Dir, name: &str, stream: &RtpStream) -> String {
    let path = dir.path().join(name);
    let placeholder: SocketAddrV4 = "127.0.0.1:6000".parse().expect("address");
    switchboard_tests::pcap::write_rtp_file(&path, stream, placeholder, placeholder)
        .expect("write pcap");
    path.display().to_string()
}

/// A SIPp caller to the IVR playing `pcap` from its own media port, hanging up at `hold`.
pub(crate) fn pcap_caller(sb: &Switchboard, scenario: &str, pcap: &str, hold: Duration) -> Sipp {
    let (media_port, hold) = (free_port().to_string(), hold.as_millis().to_string());
    Sipp::new(scenario, Some(sb.sip), free_port())
        .arg(&["-s", IVR, "-mp", &media_port, "-key", "pcap", pcap])
        .arg(&["-d", &hold, "-timeout", "40s"])
}
