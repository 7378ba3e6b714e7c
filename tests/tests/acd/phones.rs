//! What the ACD tests share beyond ivr/support.rs: their switch, agents' phones that talk,
//! feature-code calls, when a phone sent or received a message, and a short prompt heard.

use std::time::Duration;

use switchboard_tests::acd::wait_for_agent;
use switchboard_tests::endpoint::{Plan, Received, RtpEndpoint, Running};
use switchboard_tests::ivr::prompt;
use switchboard_tests::phone::{PHONE_LIMIT, answering_agent};
use switchboard_tests::rtp::RtpStream;
use switchboard_tests::signal::{Match, find, rms};
use switchboard_tests::sip_log::{self, Direction, Stamp};
use switchboard_tests::{Config, Sipp, SippResult, SippRunning, Switchboard};

use crate::support::{AFTER_CALLER, AGENT_HZ, Dialplans, LEVEL, ivr_switch, open_copy};

/// The IVR tests' switch (the shipped dialplan open around the clock, its own ports and
/// folders) with recordings named for the call and the agent, then `edit`.
pub(crate) fn acd_switch(edit: impl FnOnce(Config) -> Config) -> Switchboard {
    ivr_switch(Dialplans::Copy(open_copy()), |c| {
        edit(c.set_path("recording", "path", "rec/{call_id}-{agent}.wav"))
    })
}

/// A socket for an agent's media.
pub(crate) fn agent_media() -> RtpEndpoint {
    RtpEndpoint::bind().expect("agent RTP socket")
}

/// The agent's voice (600 Hz) from the switch's first packet on.
pub(crate) fn agent_voice() -> Plan {
    let voice = RtpStream::pcma_tone(AGENT_HZ, 40.0, LEVEL).with_ssrc(0xA6E7_1003);
    Plan::reply(voice, PHONE_LIMIT)
}

/// Agent `extension`'s phone, registered and logged in (ready), that answers one call and
/// talks with its media here.
pub(crate) fn talking_agent(sb: &Switchboard, extension: &str) -> (SippRunning, Running) {
    let media = agent_media();
    let phone = answering_agent(sb, extension, &media);
    wait_for_agent(sb, extension, "ready", None, AFTER_CALLER)
        .unwrap_or_else(|e| panic!("{e}\n{}", sb.log_tail(40)));
    (phone, media.start(agent_voice()))
}

/// The phone of an agent registered from `port`, answering its next call with `media`
/// (`media_agent.xml`) and waiting for the BYE.
pub(crate) fn media_phone(port: u16, media: &RtpEndpoint) -> SippRunning {
    let limit = format!("{}s", PHONE_LIMIT.as_secs());
    Sipp::new("media_agent.xml", None, port)
        .arg(&["-key", "rtp_port", &media.port().to_string()])
        .arg(&["-timeout", &limit])
        .spawn()
}

/// Agent `extension`, registered from `port`, dials feature `code` from there
/// (`agent_feature_code.xml`: digest, the switch answers, confirms, hangs up); what SIPp did
/// and what the agent heard.
pub(crate) fn feature_code(
    sb: &Switchboard,
    extension: &str,
    port: u16,
    code: &str,
) -> (SippResult, Received) {
    let media = agent_media();
    let rtp_port = media.port().to_string();
    let ears = media.start(Plan::listen(Duration::from_secs(20)));
    let password = format!("demo-{extension}");
    let run = Sipp::new("agent_feature_code.xml", Some(sb.sip), port)
        .arg(&[
            "-s", code, "-key", "agent", extension, "-key", "rtp_port", &rtp_port,
        ])
        .arg(&["-au", extension, "-ap", &password])
        .run();
    (run, ears.stop())
}

/// The confirmations a feature code may play.
pub(crate) const FEATURE_PROMPTS: [&str; 5] = [
    "agent-paused",
    "agent-ready",
    "agent-logged-in",
    "agent-logged-out",
    "agent-refused",
];

/// What the switch logged as the ACD's answer to the feature-code call `id`.
pub(crate) fn feature_result(sb: &Switchboard, id: &str) -> String {
    let call = format!("call_id={id} ");
    sb.log()
        .lines()
        .find(|l| l.contains(&call) && l.contains("after the feature code"))
        .and_then(|l| l.split("after the feature code").nth(1))
        .map_or_else(|| "nothing".to_owned(), |s| s.trim().to_owned())
}

/// How many `method` requests a SIPp message log shows received.
pub(crate) fn received(log: &str, method: &str) -> usize {
    sip_log::requests(log, Direction::Received, method).len()
}

/// A message in a SIPp log: a request by method, a response by status.
pub(crate) trait Message {
    /// Whether `m` is it.
    fn is(&self, m: &sip_log::LoggedMessage) -> bool;
}

impl Message for &str {
    fn is(&self, m: &sip_log::LoggedMessage) -> bool {
        m.is_request(self)
    }
}

impl Message for u16 {
    /// A final response to an INVITE (not a 200 to a BYE).
    fn is(&self, m: &sip_log::LoggedMessage) -> bool {
        m.is_response(*self) && m.cseq_method() == Some("INVITE")
    }
}

/// When a SIPp phone first sent `what`.
///
/// # Panics
/// When it never did: the test's flow assumed it.
pub(crate) fn sent_at(log: &str, what: impl Message) -> Stamp {
    stamp(log, Direction::Sent, &what)
}

/// When a SIPp phone first received `what`.
///
/// # Panics
/// When it never did.
pub(crate) fn received_at(log: &str, what: impl Message) -> Stamp {
    stamp(log, Direction::Received, &what)
}

fn stamp(log: &str, direction: Direction, what: &dyn Message) -> Stamp {
    sip_log::parse(log)
        .into_iter()
        .find(|m| m.direction == direction && what.is(m))
        .and_then(|m| m.stamp)
        .unwrap_or_else(|| panic!("no such message {direction:?} in:\n{log}"))
}

/// Where the shipped prompt `language/name`, whole, best matches what a caller heard in
/// `within` (sample offsets), trying every `step`th offset. The whole voiced prompt, not the
/// half-second excerpt of [`switchboard_tests::ivr::heard_prompt`]: a `say` number is shorter
/// than that, and prompts that begin alike ("you are logged in", "you are logged out") differ
/// only in their ends. A prompt played right after another need not start on a packet
/// boundary: search those at `step` 1, over a short stretch.
pub(crate) fn heard_whole_prompt(
    heard: &[i16],
    within: std::ops::Range<usize>,
    step: usize,
    language: &str,
    name: &str,
) -> Option<Match> {
    const PACKET: usize = 160;
    let wav = prompt(language, name);
    let samples = wav.left();
    // The voiced part: from the first to the last packet that is not near-silence.
    let loud: Vec<usize> = samples
        .chunks(PACKET)
        .enumerate()
        .filter(|(_, c)| rms(c) >= 300.0)
        .map(|(i, _)| i)
        .collect();
    let (first, last) = (*loud.first()?, *loud.last()?);
    let needle = &samples[first * PACKET..((last + 1) * PACKET).min(samples.len())];
    let end = (within.end + needle.len()).min(heard.len());
    let found = find(heard.get(within.start..end)?, needle, step)?;
    Some(Match {
        offset: within.start + found.offset,
        ..found
    })
}

/// Of the shipped prompts `names`, the one the agent or caller heard best as a whole (see
/// [`heard_whole_prompt`]), with how well; for a call whose audio starts with it.
pub(crate) fn best_prompt<'a>(heard: &[i16], language: &str, names: &[&'a str]) -> (&'a str, f64) {
    names
        .iter()
        .map(|&name| {
            let score = heard_whole_prompt(heard, 0..heard.len(), 160, language, name)
                .map_or(0.0, |m| m.correlation);
            (name, score)
        })
        .fold(("none", 0.0), |best, x| if x.1 > best.1 { x } else { best })
}
