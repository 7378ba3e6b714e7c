//! Transcoding end to end: a trunk caller that speaks only G.711 A-law talks with an agent whose
//! softphone (a real baresip) has only Opus, or only G.722. The legs share no codec, so the switch
//! must decode one and encode the other both ways; the tests check what each side *heard*
//! (the other's tone), what baresip says it negotiated, and the stereo recording.
//!
//! The caller is SIPp for the signalling with its media in the test process (it offers PCMA and
//! PCMU only); the agent is baresip saying a tone (`ausine`) and writing what it hears to a WAV.

use std::time::Duration;

use switchboard_tests::baresip::{self, Baresip, Options, strip_ansi};
use switchboard_tests::phone::Caller;
use switchboard_tests::recording::{self, Recording};
use switchboard_tests::rtp::RtpStream;
use switchboard_tests::signal::{Dbm0, tone_stretches};
use switchboard_tests::{Config, Switchboard, free_port, own_rtp_ports, require_tool};

const AGENT: &str = "1002";
const CALLER_HZ: f64 = 1000.0;
const AGENT_HZ: u32 = 600;
const LEVEL: Dbm0 = Dbm0(-10.0);
/// How long the caller stays on once answered.
const TALK: Duration = Duration::from_secs(6);
/// How much of it (in 100 ms stretches) each side must have heard of the other's tone: all but
/// the first second, which call set-up and the jitter buffers may take.
const HEARD: usize = 50;
/// G.711's rate: what the caller hears and the recording's default rate.
const RATE: u32 = 8000;

/// A switch recording every call as `rec/{call_id}.wav`, on its own RTP ports.
fn switch() -> Switchboard {
    Switchboard::start_config(Config::shipped().rtp_ports(own_rtp_ports()).set_path(
        "recording",
        "path",
        "rec/{call_id}.wav",
    ))
}

/// `samples` at `rate_hz` (a multiple of 8 kHz) brought to 8 kHz by averaging each run of
/// samples (a box filter: enough to keep what is above 4 kHz from folding onto the tones).
fn to_8k(samples: &[i16], rate_hz: u32) -> Vec<i16> {
    let n = usize::try_from(rate_hz / RATE).unwrap_or(1).max(1);
    let n_i32 = i32::try_from(n).unwrap_or(1);
    samples
        .chunks_exact(n)
        .map(|c| {
            let sum: i32 = c.iter().map(|&s| i32::from(s)).sum();
            i16::try_from(sum / n_i32).unwrap_or(0)
        })
        .collect()
}

/// A PCMA caller talks with an agent limited to `codecs` through the switch; `encoder` is what
/// baresip's log says it encodes with.
fn pcma_caller_talks_with(codecs: &[&'static str], encoder: &str, switch_codec: &str) {
    if !require_tool("baresip") || !require_tool("sipp") {
        return;
    }
    let sb = switch();
    let options = Options {
        codecs: codecs.to_vec(),
        tone_hz: AGENT_HZ,
    };
    let agent = Baresip::start_with(&sb, AGENT, free_port(), &options, &[]);
    assert!(
        baresip::registered(&sb, AGENT),
        "baresip did not register:\n{}\n{}",
        agent.log(),
        sb.log_tail(50)
    );

    let voice = RtpStream::pcma_tone(CALLER_HZ, 12.0, LEVEL);
    let caller = Caller::call(sb.sip, "ivr_caller.xml", AGENT, voice, Some(TALK), &[]);
    let (result, heard) = caller.finish();
    let context = || {
        format!(
            "caller: {:?}\n{}\nbaresip:\n{}\nswitch:\n{}",
            result.flow(),
            result.errors,
            agent.log(),
            sb.log_tail(120)
        )
    };
    assert!(result.ok(), "the call failed\n{}", context());
    assert!(
        agent.wait_for("session closed", Duration::from_secs(10)),
        "the caller's hang-up did not reach baresip\n{}",
        context()
    );

    // The legs really were on different codecs, and the switch says it transcodes.
    assert!(
        agent.log().contains(encoder),
        "baresip did not encode with {encoder}\n{}",
        context()
    );
    let log = strip_ansi(&sb.log());
    let bridged = log
        .lines()
        .find(|l| l.contains("bridged"))
        .unwrap_or_else(|| panic!("no bridged line\n{}", context()));
    assert!(
        bridged.contains("caller_codec=\"PCMA\"")
            && bridged.contains(&format!("callee_codec=\"{switch_codec}\""))
            && bridged.contains("media=\"transcoded\""),
        "{bridged}"
    );

    // The caller heard the agent's tone, out of the agent's Opus/G.722, in A-law.
    let agent_tone = tone_stretches(&heard.audio(), f64::from(AGENT_HZ), RATE);
    assert!(
        agent_tone >= HEARD,
        "the caller heard only {agent_tone} × 100 ms of the agent's {AGENT_HZ} Hz in {} packets\n{}",
        heard.audio_packets(),
        context()
    );

    // The agent heard the caller's tone, out of the caller's A-law, in its codec: what baresip
    // decoded, which it writes to a WAV as it goes.
    let heard_path = agent
        .heard_path()
        .unwrap_or_else(|| panic!("baresip wrote no WAV of what it decoded\n{}", context()));
    let agent_heard =
        recording::wait_for_wav(&heard_path, Duration::from_secs(3), Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("baresip's WAV: {e}\n{}", context()));
    let caller_tone = tone_stretches(
        &to_8k(agent_heard.left(), agent_heard.sample_rate),
        CALLER_HZ,
        RATE,
    );
    assert!(
        caller_tone >= HEARD,
        "the agent heard only {caller_tone} × 100 ms of the caller's {CALLER_HZ} Hz in {:?}\n{}",
        agent_heard.duration(),
        context()
    );

    // And the recording has each side on its own channel.
    let files = recording::wav_files(&sb.path("rec"));
    let [path] = files.as_slice() else {
        panic!("expected one recording, found {files:?}\n{}", context());
    };
    let rec: Recording = recording::wait_for_wav(path, TALK / 2, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", context()));
    assert_eq!(rec.channels.len(), 2, "not stereo");
    let left = tone_stretches(rec.left(), CALLER_HZ, rec.sample_rate);
    let right = tone_stretches(rec.right(), f64::from(AGENT_HZ), rec.sample_rate);
    assert!(
        left >= HEARD && right >= HEARD,
        "recording {:?}: caller's tone on the left {left} × 100 ms, agent's on the right \
         {right} × 100 ms\n{}",
        rec.duration(),
        context()
    );
}

#[test]
fn a_pcma_caller_talks_with_an_opus_only_softphone() {
    pcma_caller_talks_with(&["opus"], "opus", "opus");
}

#[test]
fn a_pcma_caller_talks_with_a_g722_only_softphone() {
    pcma_caller_talks_with(&["g722"], "G722", "G722");
}
