//! Phones made of two halves: SIPp for the signalling, and (where the test must hear or speak)
//! an [`RtpEndpoint`] of the test process for the media, named by the SDP SIPp sends.
//!
//! * **Agents** register with digest (the shipped demo passwords, `demo-{extension}`), then a
//!   SIPp scenario on the same port plays their phone: [`ringing_agent`] rings until it is
//!   cancelled, [`answering_agent`] answers with the endpoint's port in its SDP.
//! * **Callers** ([`Caller`]) dial a number with a scenario whose SDP names the endpoint
//!   (`-key rtp_port`); the endpoint answers the switch's first packet with the caller's scripted
//!   voice ([`Plan::reply`]), so the script's times count from when the switch's audio starts.
//!
//! Everything is bounded: SIPp by its `-timeout`, the endpoint by its `run_for`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::endpoint::{Plan, Received, RtpEndpoint, Running};
use crate::rtp::RtpStream;
use crate::{Sipp, SippResult, SippRunning, Switchboard, free_port};

/// The longest any phone here stays up: SIPp's `-timeout`, and the endpoint's `run_for`.
pub const PHONE_LIMIT: Duration = Duration::from_secs(40);

/// Registers `extension` from `port` (where its phone's SIPp then listens) with the shipped
/// demo password.
///
/// # Panics
/// When the registration fails: every later step needs it.
pub fn register(sb: &Switchboard, extension: &str, port: u16) {
    let password = format!("demo-{extension}");
    let result = Sipp::new("register_only.xml", Some(sb.sip), port)
        .arg(&["-s", extension, "-au", extension, "-ap", &password])
        .run();
    assert!(
        result.ok(),
        "REGISTER of {extension} failed: {:?}\n{}\n{}",
        result.flow(),
        result.errors,
        sb.log_tail(100)
    );
}

/// An agent's phone, registered, that rings for each of `calls` calls and never answers
/// (`agent_ring.xml`: each call ends with the switch's CANCEL).
///
/// # Panics
/// See [`register`].
#[must_use]
pub fn ringing_agent(sb: &Switchboard, extension: &str, calls: u32) -> SippRunning {
    let port = free_port();
    register(sb, extension, port);
    Sipp::new("agent_ring.xml", None, port)
        .arg(&["-m", &calls.to_string(), "-timeout", &limit()])
        .spawn()
}

/// An agent's phone, registered, that answers one call with its media at `media`
/// (`media_agent.xml`), then waits for the BYE.
///
/// # Panics
/// See [`register`].
#[must_use]
pub fn answering_agent(sb: &Switchboard, extension: &str, media: &RtpEndpoint) -> SippRunning {
    let port = free_port();
    register(sb, extension, port);
    let rtp_port = media.port().to_string();
    Sipp::new("media_agent.xml", None, port)
        .arg(&["-key", "rtp_port", &rtp_port, "-timeout", &limit()])
        .spawn()
}

fn limit() -> String {
    format!("{}s", PHONE_LIMIT.as_secs())
}

/// A caller whose SIP is SIPp and whose media is in the test.
#[derive(Debug)]
pub struct Caller {
    /// The signalling.
    pub sipp: SippRunning,
    /// The media: what the caller hears, and its voice.
    pub phone: Running,
}

impl Caller {
    /// Calls `number` at `switch` with `scenario` (one whose SDP names `[rtp_port]`), saying
    /// `voice` from the switch's first packet on. `hold` is the scenario's `-d` (how long a
    /// caller who hangs up stays on the line); `extra` are more SIPp arguments.
    ///
    /// # Panics
    /// When no RTP socket can be bound or SIPp cannot start.
    #[must_use]
    pub fn call(
        switch: SocketAddr,
        scenario: &str,
        number: &str,
        voice: RtpStream,
        hold: Option<Duration>,
        extra: &[&str],
    ) -> Caller {
        let phone = RtpEndpoint::bind().expect("caller RTP socket");
        let rtp_port = phone.port().to_string();
        let phone = phone.start(Plan::reply(voice, PHONE_LIMIT));
        let mut sipp = Sipp::new(scenario, Some(switch), free_port()).arg(&[
            "-s",
            number,
            "-key",
            "rtp_port",
            &rtp_port,
            "-timeout",
            &limit(),
        ]);
        if let Some(hold) = hold {
            sipp = sipp.arg(&["-d", &hold.as_millis().to_string()]);
        }
        Caller {
            sipp: sipp.arg(extra).spawn(),
            phone,
        }
    }

    /// Waits for the call to end (SIPp's `-timeout` bounds it); what SIPp did and what the
    /// caller heard.
    ///
    /// # Panics
    /// When waiting for SIPp fails.
    #[must_use]
    pub fn finish(self) -> (SippResult, Received) {
        let result = self.sipp.wait();
        (result, self.phone.stop())
    }
}
