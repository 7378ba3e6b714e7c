//! The call machine on a virtual clock: a harness that plays the machine's surroundings (the
//! SIP core hands out leg ids and contacts, the media engine hands out ports), and tests of
//! each kind of call, step by step. No socket, no task, no real time: thousands of scripted
//! calls run in a second.

mod direct;
mod ivr;
mod props;
mod queue;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ezk_sip_types::host::HostPort;
use ezk_sip_types::uri::{NameAddr, SipUri};
use switchboard_dialplan::interp::CallFacts;
use switchboard_dialplan::{CheckContext, DialplanSet, Source};
use switchboard_sip::ua::{HangupCause, LegEvent, OutboundCall};

use super::{CallConfig, CallMachine, Command, Input, MediaCommand, Start};
use crate::config::{MediaConfig, RecordingConfig};
use crate::media::{LocalMedia, MediaEvent, MediaLegId, Negotiation};
use crate::protocol::{
    AgentCommand, CallCommand, CallRecord, CallRef, CallSetup, Caller, LegId, Route,
};

/// Our call's id in every test.
pub(super) const CALL: CallRef = CallRef(42);
/// The caller's leg.
pub(super) const CALLER: LegId = LegId(1);

/// An SDP offer or answer for PCMA at `port`, with telephone-event.
pub(super) fn sdp(port: u16) -> Bytes {
    Bytes::from(format!(
        "v=0\r\no=- {port} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
    ))
}

/// The same with a direction (hold: `sendonly`).
pub(super) fn sdp_with(port: u16, direction: &str) -> Bytes {
    let text = String::from_utf8_lossy(&sdp(port)).replace("a=sendrecv", direction);
    Bytes::from(text)
}

pub(super) fn config() -> Arc<CallConfig> {
    Arc::new(CallConfig {
        negotiation: Negotiation::new(&MediaConfig::default()),
        recording: RecordingConfig {
            path: "rec/{call_id}-{agent}.wav".into(),
            ..RecordingConfig::default()
        },
        trunks: HashMap::new(),
        inband_dtmf: true,
        seed: 7,
        extension_ring_timeout: Duration::from_secs(60),
        sounds: PathBuf::from("/sounds"),
        default_language: "fr".into(),
        agent_language: [("1001".to_owned(), "en".to_owned())].into_iter().collect(),
        tz: jiff::tz::TimeZone::UTC,
        queue_skill_level: HashMap::new(),
    })
}

/// A contact of an agent's phone, as the SIP core's lookup returns it.
pub(super) fn contact(ext: &str, port: u16) -> OutboundCall {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let uri = SipUri::new(HostPort::from(addr)).user(ext.into());
    OutboundCall {
        dest: switchboard_sip::Peer {
            transport: switchboard_sip::Transport::Udp,
            addr,
        },
        request_uri: uri.clone(),
        from: NameAddr::uri(uri.clone()),
        to: NameAddr::uri(uri),
        route: Vec::new(),
        sdp: None,
        max_forwards: 69,
    }
}

/// The shipped-like test dialplan: a welcome, a menu (1: the queue, 2: agent 1001, 3: a
/// voicemail), a queue with an exit key and an overflow branch.
pub(super) const PLAN: &str = r#"
languages "fr" "en"
entry "100" start="main"
step "main" {
    answer
    play "welcome"
    menu "menu" timeout=5 retries=1 {
        option "1" { language "en"; goto "queue" }
        option "2" {
            dial agent="1001" ring-timeout=10 {
                on-busy { hangup cause="busy" }
                on-no-answer { hangup cause="no-answer" }
            }
        }
        option "3" { goto "voicemail" }
        on-failure { hangup cause="no-input" }
    }
}
step "queue" {
    enqueue "support-en" priority=2 exit-keys="9" {
        skills "en" "vip:50"
        on-overflow "sorry"
    }
}
step "sorry" {
    play "sorry"
    hangup cause="overflow-${overflow_reason}"
}
step "voicemail" {
    voicemail "box" max=60
    hangup cause="voicemail"
}
"#;

pub(super) fn dialplan() -> Arc<DialplanSet> {
    let names: BTreeSet<String> = ["welcome", "menu", "sorry", "voicemail-greeting"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let ctx = CheckContext {
        queues: ["support-en".to_owned()].into_iter().collect(),
        agents: ["1001".to_owned(), "1002".to_owned()].into_iter().collect(),
        trunks: BTreeSet::new(),
        outbound_trunks: BTreeSet::new(),
        prompts: [("fr".to_owned(), names.clone()), ("en".to_owned(), names)]
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        default_language: "fr".into(),
    };
    let set = DialplanSet::load(
        vec![Source {
            name: "test.kdl".into(),
            text: PLAN.into(),
        }],
        &ctx,
    )
    .unwrap_or_else(|d| panic!("the test plan does not load: {d:?}"));
    Arc::new(set)
}

/// A dialplan call to 100 from a trunk.
pub(super) fn ivr_route() -> Route {
    Route::Dialplan(Box::new(Start {
        set: dialplan(),
        facts: CallFacts {
            dialled: "100".into(),
            caller_id: "+33612345678".into(),
            caller_name: None,
            trunk: Some("local".into()),
            call_id: String::new(),
        },
        sounds: PathBuf::from("/sounds"),
        voicemail_dir: PathBuf::from("/vm"),
    }))
}

/// The machine and everything around it.
pub(super) struct Harness {
    pub(super) m: CallMachine,
    pub(super) t0: Instant,
    pub(super) now: Instant,
    next_leg: u64,
    next_media: u64,
    /// What each extension's lookup returns.
    pub(super) contacts: HashMap<String, Vec<OutboundCall>>,
    /// Every command, in order, with the instant it came out.
    pub(super) log: Vec<(Instant, Command)>,
    /// Outbound legs: leg → (request URI user, our offer).
    pub(super) invited: Vec<(LegId, String)>,
    /// Media legs handed out.
    pub(super) media_legs: Vec<MediaLegId>,
    /// Fail the next media leg allocation.
    pub(super) no_ports: bool,
    /// Outbound legs their peer ended.
    pub(super) peer_ended: BTreeSet<LegId>,
}

impl Harness {
    pub(super) fn new(route: Route, caller: Caller) -> Harness {
        Harness::with_offer(route, caller, Some(sdp(40000)))
    }

    pub(super) fn with_offer(route: Route, caller: Caller, offer: Option<Bytes>) -> Harness {
        let t0 = Instant::now();
        let setup = CallSetup {
            call: CALL,
            inbound: CALLER,
            caller,
            call_id: "abc@caller".into(),
            from: Some(NameAddr::uri(
                SipUri::new(HostPort::host_name("carrier.example")).user("+33612345678".into()),
            )),
            offer,
            dialled: "100".into(),
            max_forwards: 69,
            route: crate::protocol::Routing {
                route,
                signalling_ip: Some(std::net::IpAddr::from([127, 0, 0, 1])),
            },
            at: t0,
        };
        let m = CallMachine::new(t0, jiff::Timestamp::UNIX_EPOCH, setup, config());
        let mut h = Harness {
            m,
            t0,
            now: t0,
            next_leg: 100,
            next_media: 1,
            contacts: HashMap::new(),
            log: Vec::new(),
            invited: Vec::new(),
            media_legs: Vec::new(),
            no_ports: false,
            peer_ended: BTreeSet::new(),
        };
        h.contacts.insert(
            "1001".into(),
            vec![contact("1001", 5071), contact("1001", 5072)],
        );
        h.contacts
            .insert("1002".into(), vec![contact("1002", 5073)]);
        h
    }

    /// Performs what the machine asks, answering its requests as the SIP core and the media
    /// engine would; returns the commands of this round.
    pub(super) fn drain(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        while let Some(command) = self.m.poll_command() {
            let reply = match &command {
                Command::Invite { req, call } => {
                    self.next_leg += 1;
                    let leg = LegId(self.next_leg);
                    let user = switchboard_sip::uri_user(&call.request_uri).unwrap_or_default();
                    self.invited.push((leg, user));
                    Some(Input::Invited {
                        req: *req,
                        leg: Some(leg),
                    })
                }
                Command::Lookup { req, extension, .. } => Some(Input::Contacts {
                    req: *req,
                    targets: self.contacts.get(extension).cloned().unwrap_or_default(),
                }),
                Command::Media(MediaCommand::AddLeg { req, .. }) => {
                    let result = if std::mem::take(&mut self.no_ports) {
                        Err("no free RTP port pair".into())
                    } else {
                        self.next_media += 1;
                        let leg = MediaLegId(self.next_media);
                        self.media_legs.push(leg);
                        Ok(LocalMedia {
                            leg,
                            addr: SocketAddr::from((
                                [127, 0, 0, 1],
                                20000 + 2 * self.next_media as u16,
                            )),
                        })
                    };
                    Some(Input::MediaLeg { req: *req, result })
                }
                _ => None,
            };
            if let Some(reply) = reply {
                self.m.handle(self.now, reply);
            }
            out.push(command);
        }
        for c in &out {
            self.log.push((self.now, clone_command(c)));
        }
        out
    }

    pub(super) fn input(&mut self, input: Input) -> Vec<Command> {
        self.m.handle(self.now, input);
        self.drain()
    }

    pub(super) fn leg(&mut self, event: LegEvent) -> Vec<Command> {
        if let LegEvent::Hangup { leg, .. } = &event
            && *leg != CALLER
        {
            self.peer_ended.insert(*leg);
        }
        self.input(Input::Leg(event))
    }

    pub(super) fn media(&mut self, event: MediaEvent) -> Vec<Command> {
        self.input(Input::Media(event))
    }

    pub(super) fn acd(&mut self, output: switchboard_acd::Output) -> Vec<Command> {
        self.input(Input::Acd(output))
    }

    /// Moves the clock by `d`, firing the machine's timers on the way.
    pub(super) fn advance(&mut self, d: Duration) -> Vec<Command> {
        let until = self.now + d;
        let mut out = Vec::new();
        while let Some(at) = self.m.poll_timeout() {
            if at > until {
                break;
            }
            self.now = at.max(self.now);
            self.m.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = until;
        out
    }

    /// The media leg of the caller (the first one handed out).
    pub(super) fn caller_media(&self) -> MediaLegId {
        self.media_legs[0]
    }

    /// A key press of the caller, by SIP INFO.
    pub(super) fn key(&mut self, key: char) -> Vec<Command> {
        self.leg(LegEvent::Info {
            leg: CALLER,
            content_type: Some("application/dtmf-relay".into()),
            body: Bytes::from(format!("Signal={key}\r\nDuration=160\r\n")),
        })
    }

    /// The outbound legs to `user` so far.
    pub(super) fn legs_to(&self, user: &str) -> Vec<LegId> {
        self.invited
            .iter()
            .filter(|(_, u)| u == user)
            .map(|(l, _)| *l)
            .collect()
    }

    /// The record the call finished with.
    pub(super) fn record(&self) -> CallRecord {
        self.log
            .iter()
            .find_map(|(_, c)| match c {
                Command::Finish(r) => Some((**r).clone()),
                _ => None,
            })
            .expect("the call finished")
    }
}

/// A copy of a command for the log (commands carry no channels, so all of them copy).
fn clone_command(c: &Command) -> Command {
    match c {
        Command::Sip(s) => Command::Sip(match s {
            CallCommand::Progress { leg, code, sdp } => CallCommand::Progress {
                leg: *leg,
                code: *code,
                sdp: sdp.clone(),
            },
            CallCommand::Answer { leg, sdp } => CallCommand::Answer {
                leg: *leg,
                sdp: sdp.clone(),
            },
            CallCommand::Reject { leg, code } => CallCommand::Reject {
                leg: *leg,
                code: *code,
            },
            CallCommand::Hangup { leg } => CallCommand::Hangup { leg: *leg },
            CallCommand::AnswerReinvite { leg, code, sdp } => CallCommand::AnswerReinvite {
                leg: *leg,
                code: *code,
                sdp: sdp.clone(),
            },
            CallCommand::Invite { .. } | CallCommand::Lookup { .. } => {
                unreachable!("the machine never sends these as Sip commands")
            }
        }),
        Command::Invite { req, call } => Command::Invite {
            req: *req,
            call: call.clone(),
        },
        Command::Lookup {
            req,
            extension,
            from,
            max_forwards,
        } => Command::Lookup {
            req: *req,
            extension: extension.clone(),
            from: from.clone(),
            max_forwards: *max_forwards,
        },
        Command::Media(m) => Command::Media(clone_media(m)),
        Command::Play {
            leg,
            id,
            files,
            rate,
        } => Command::Play {
            leg: *leg,
            id: *id,
            files: files.clone(),
            rate: *rate,
        },
        Command::PlayBeep { leg, id, rate } => Command::PlayBeep {
            leg: *leg,
            id: *id,
            rate: *rate,
        },
        Command::Acd(i) => Command::Acd(i.clone()),
        Command::Http {
            req,
            method,
            url,
            body,
            timeout,
        } => Command::Http {
            req: *req,
            method: *method,
            url: url.clone(),
            body: body.clone(),
            timeout: *timeout,
        },
        Command::RecordStarted(r) => Command::RecordStarted(r.clone()),
        Command::RecordProgress(r) => Command::RecordProgress(r.clone()),
        Command::RecordLeg(l) => Command::RecordLeg(l.clone()),
        Command::Finish(r) => Command::Finish(r.clone()),
    }
}

fn clone_media(m: &MediaCommand) -> MediaCommand {
    match m {
        MediaCommand::AddLeg { req, role } => MediaCommand::AddLeg {
            req: *req,
            role: *role,
        },
        MediaCommand::SetRemote { leg, remote } => MediaCommand::SetRemote {
            leg: *leg,
            remote: remote.clone(),
        },
        MediaCommand::Bridge { a, b } => MediaCommand::Bridge { a: *a, b: *b },
        MediaCommand::Unbridge => MediaCommand::Unbridge,
        MediaCommand::Moh { leg } => MediaCommand::Moh { leg: *leg },
        MediaCommand::Tone { leg, tone } => MediaCommand::Tone {
            leg: *leg,
            tone: *tone,
        },
        MediaCommand::StopPlay { leg } => MediaCommand::StopPlay { leg: *leg },
        MediaCommand::DetectInband { leg, on } => MediaCommand::DetectInband { leg: *leg, on: *on },
        MediaCommand::SendDigits { leg, digits } => MediaCommand::SendDigits {
            leg: *leg,
            digits: digits.clone(),
        },
        MediaCommand::StartRecording {
            caller,
            callee,
            path,
        } => MediaCommand::StartRecording {
            caller: *caller,
            callee: *callee,
            path: path.clone(),
        },
        MediaCommand::RecordLeg { leg, path, max } => MediaCommand::RecordLeg {
            leg: *leg,
            path: path.clone(),
            max: *max,
        },
        MediaCommand::StopRecordLeg { leg } => MediaCommand::StopRecordLeg { leg: *leg },
        MediaCommand::RemoveLeg { leg } => MediaCommand::RemoveLeg { leg: *leg },
    }
}

/// Whether `cmds` holds a SIP command matching `f`.
pub(super) fn sip(cmds: &[Command], f: impl Fn(&CallCommand) -> bool) -> bool {
    cmds.iter().any(|c| matches!(c, Command::Sip(s) if f(s)))
}

/// The ACD inputs among `cmds`.
pub(super) fn acd(cmds: &[Command]) -> Vec<switchboard_acd::Input> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Acd(i) => Some(i.clone()),
            _ => None,
        })
        .collect()
}

/// The media commands among `cmds`.
pub(super) fn media(cmds: &[Command]) -> Vec<&MediaCommand> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Media(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// The playbacks among `cmds`: (id, file names).
pub(super) fn plays(cmds: &[Command]) -> Vec<(u64, Vec<String>)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Play { id, files, .. } => Some((
                *id,
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>(),
            )),
            _ => None,
        })
        .collect()
}

/// A remote BYE on `leg`.
pub(super) fn bye(leg: LegId) -> LegEvent {
    LegEvent::Hangup {
        leg,
        cause: HangupCause::RemoteBye,
    }
}

/// An agent's feature code route.
pub(super) fn feature(command: AgentCommand) -> Route {
    Route::Feature {
        agent: "1001".into(),
        command,
    }
}

pub(super) fn agent(ext: &str) -> Caller {
    Caller::Agent(ext.into())
}

pub(super) fn trunk() -> Caller {
    Caller::Trunk("local".into())
}
