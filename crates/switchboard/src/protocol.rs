//! The messages between the switch's tasks, in one place, so no two of them import each other:
//!
//! ```text
//!  transports ──CoreInput::Message──►  SIP core  ──CallSetup (spawn)──►  call task
//!                                      │  ▲                                │  ▲
//!                         LegEvent ────┘  └──── CoreInput::Call(CallCommand)┘  │
//!  SIP core ──AcdRequest::Input(DeviceUp/Down)──►  ACD task  ◄──AcdRequest──── call task
//!                                                   └──── switchboard_acd::Output ──►┘
//!  call task, ACD task ──StoreWrite──► store writer thread
//! ```
//!
//! Every channel is bounded. The SIP core never awaits a call (it `try_send`s leg events and
//! logs a drop); the ACD never awaits a call either (an offer a call cannot take is released by
//! the offer's deadline). Calls await the core, the ACD and the store: a call is not hot.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ezk_sip_types::uri::NameAddr;
use tokio::sync::{mpsc, oneshot};

pub use switchboard_acd::CallRef;
pub use switchboard_acd::io::AgentCommand;
pub use switchboard_sip::ua::{HangupCause, LegEvent, LegId, OutboundCall};

pub use switchboard_store::{Direction, Disposition, HangupSide, LegRole};

pub use crate::sip::directory::Caller;

/// What reaches the SIP core.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every input is a Message; boxing it costs an allocation each"
)]
pub enum CoreInput {
    /// A checked message from a transport.
    Message {
        /// Where it came from.
        source: switchboard_sip::Peer,
        /// The message.
        msg: switchboard_sip::SipMessage,
    },
    /// A TCP connection is up; messages to `addr` go to `writer`.
    TcpUp {
        /// The peer.
        addr: std::net::SocketAddr,
        /// The connection's write queue.
        writer: mpsc::Sender<Bytes>,
    },
    /// The TCP connection to `addr` closed.
    TcpDown {
        /// The peer.
        addr: std::net::SocketAddr,
    },
    /// A call task asks for something.
    Call(CallCommand),
}

/// What a call task asks of the SIP core.
#[derive(Debug)]
pub enum CallCommand {
    /// Place an outbound leg; the core replies with its id and sends its events to `events`.
    Invite {
        /// What to send (boxed: it dwarfs the other commands).
        call: Box<OutboundCall>,
        /// Where the new leg's events go.
        events: mpsc::Sender<LegEvent>,
        /// The new leg's id.
        reply: oneshot::Sender<LegId>,
    },
    /// The INVITEs that would reach this extension's registered phones (and static contact).
    Lookup {
        /// An agent's extension.
        extension: String,
        /// The caller id the callee should see.
        from: Option<NameAddr>,
        /// Max-Forwards for the new legs.
        max_forwards: u8,
        /// One entry per contact.
        reply: oneshot::Sender<Vec<OutboundCall>>,
    },
    /// 180/183 on the inbound leg.
    Progress {
        /// The leg.
        leg: LegId,
        /// The status code.
        code: u16,
        /// Early-media SDP.
        sdp: Option<Bytes>,
    },
    /// 200 on the inbound leg.
    Answer {
        /// The leg.
        leg: LegId,
        /// The answer SDP.
        sdp: Option<Bytes>,
    },
    /// Final non-2xx on the inbound leg.
    Reject {
        /// The leg.
        leg: LegId,
        /// The status code.
        code: u16,
    },
    /// End a leg from our side (CANCEL or BYE as its state requires).
    Hangup {
        /// The leg.
        leg: LegId,
    },
    /// Answer a re-INVITE the leg's remote side sent.
    AnswerReinvite {
        /// The leg.
        leg: LegId,
        /// The status code.
        code: u16,
        /// The answer SDP on 2xx.
        sdp: Option<Bytes>,
    },
}

/// Where an accepted call goes, as the router decided.
#[derive(Debug)]
pub enum Route {
    /// Ring an agent's phones (one INVITE per contact).
    Extension {
        /// The agent's extension.
        extension: String,
        /// The INVITEs to send.
        targets: Vec<OutboundCall>,
    },
    /// Run the dialplan entry the dialled number matched.
    Dialplan(Box<crate::call::ivr::Start>),
    /// An agent's feature code (`*45` log in, `*46` log out, `*47[N]` pause, `*48` ready).
    Feature {
        /// The agent who dialled it.
        agent: String,
        /// What it asks the ACD.
        command: AgentCommand,
    },
}

/// The router's decision about a new call, with where the INVITE came from as far as the
/// router can vouch for it.
#[derive(Debug)]
pub struct Routing {
    /// Where the call goes.
    pub route: Route,
    /// The IP the INVITE came from: the SIP core sets it from the packet's source (the
    /// router's guess from the stamped top Via,
    /// [`switchboard_sip::Request::stamped_source_ip`], is the fallback). The caller's SDP address may get our
    /// media before the caller sends any only if it is on this IP (no reflection at a third
    /// host).
    pub signalling_ip: Option<IpAddr>,
}

impl From<Route> for Routing {
    /// A route with no signalling source known (nothing is sent before the caller sends).
    fn from(route: Route) -> Self {
        Routing {
            route,
            signalling_ip: None,
        }
    }
}

/// Everything a new call task starts from.
#[derive(Debug)]
pub struct CallSetup {
    /// The switch's id for the call (unique across restarts: the store's next id).
    pub call: CallRef,
    /// The caller's leg, accepted but not yet answered.
    pub inbound: LegId,
    /// Who called (trunk or agent).
    pub caller: Caller,
    /// The caller's Call-ID (for logs, the record and the recording's file name).
    pub call_id: String,
    /// The caller's From, shown to the callees.
    pub from: Option<NameAddr>,
    /// The caller's offer (None: a late offer, answered in the ACK).
    pub offer: Option<Bytes>,
    /// The number dialled.
    pub dialled: String,
    /// Max-Forwards left for legs we place.
    pub max_forwards: u8,
    /// Where it goes (and where it came from).
    pub route: Routing,
    /// When the INVITE was accepted.
    pub at: Instant,
}

/// What reaches the ACD task.
#[derive(Debug)]
pub enum AcdRequest {
    /// An input for the ACD core (from a call, the SIP core, the control socket).
    Input(switchboard_acd::Input),
    /// Route the ACD's outputs about `call` to `events` (a call attaches before its first
    /// input that can be answered).
    Attach {
        /// The call.
        call: CallRef,
        /// Its ACD channel.
        events: mpsc::Sender<switchboard_acd::Output>,
    },
    /// The call is over: forget its channel.
    Detach {
        /// The call.
        call: CallRef,
    },
    /// An agent's state changed by the admin API (log in, out, pause, ready); the ACD answers
    /// with the agent's state after it, or why it refused.
    Command {
        /// The agent.
        agent: switchboard_acd::AgentId,
        /// What to do.
        command: switchboard_acd::io::AgentCommand,
        /// Where to answer.
        reply: oneshot::Sender<Result<switchboard_acd::StateKind, switchboard_acd::AgentError>>,
    },
    /// The live state and today's figures, for `switchboard agents` / `switchboard queues`.
    Snapshot {
        /// Where to send it.
        reply: oneshot::Sender<crate::acd::View>,
    },
}

/// One SIP leg of a call, for the `legs` table.
#[derive(Debug, Clone, PartialEq)]
pub struct LegRecord {
    /// 0 for the caller's leg, then 1, 2… in the order the call placed them.
    pub index: u32,
    /// The caller's leg, a callee's, or an agent's (a queue offer).
    pub role: LegRole,
    /// Who: the caller's number, the extension, the agent.
    pub party: String,
    /// When it started (INVITE received or sent).
    pub started: Instant,
    /// When it was answered.
    pub answered: Option<Instant>,
    /// When it ended (None while it is up).
    pub ended: Option<Instant>,
    /// The final SIP status when it was not answered (486, 487…).
    pub code: Option<u16>,
    /// Why it ended (`remote-bye`, `cancelled`, `local`…).
    pub cause: String,
    /// The codec it ran.
    pub codec: Option<String>,
}

/// A call's record as the call knows it (the ACD adds the wrap-up later).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    /// The switch's id.
    pub call: CallRef,
    /// The inbound Call-ID.
    pub call_id: String,
    /// When the INVITE arrived.
    pub started: Instant,
    /// When the caller was first connected to a person (an agent, a callee); the IVR's own
    /// answer does not count.
    pub answered: Option<Instant>,
    /// When it ended (None while in progress).
    pub ended: Option<Instant>,
    /// Which way.
    pub direction: Direction,
    /// The trunk it came in on or went out through.
    pub trunk: Option<String>,
    /// The caller's number (or the agent's extension).
    pub caller: String,
    /// The number dialled.
    pub dialled: String,
    /// The IVR steps and menu choices, `welcome > language[2] > main-menu[3] > support`.
    pub ivr_path: String,
    /// The caller's language, as the IVR set it.
    pub language: Option<String>,
    /// The last queue the caller waited in.
    pub queue: Option<String>,
    /// How long it waited there.
    pub wait: Option<Duration>,
    /// The agent (or callee extension) it talked to.
    pub agent: Option<String>,
    /// How long it talked.
    pub talk: Option<Duration>,
    /// How it ended.
    pub disposition: Option<Disposition>,
    /// Who ended it.
    pub hangup_side: Option<HangupSide>,
    /// Why (`caller-hangup`, `dialplan:no-input`, `media-timeout`…).
    pub hangup_cause: Option<String>,
    /// The recording of the conversation.
    pub recording: Option<std::path::PathBuf>,
    /// Its legs.
    pub legs: Vec<LegRecord>,
}

impl CallRecord {
    /// A call that started at `started`, with nothing learnt yet.
    #[must_use]
    pub fn new(
        call: CallRef,
        call_id: String,
        started: Instant,
        direction: Direction,
        trunk: Option<String>,
        caller: String,
        dialled: String,
    ) -> CallRecord {
        CallRecord {
            call,
            call_id,
            started,
            answered: None,
            ended: None,
            direction,
            trunk,
            caller,
            dialled,
            ivr_path: String::new(),
            language: None,
            queue: None,
            wait: None,
            agent: None,
            talk: None,
            disposition: None,
            hangup_side: None,
            hangup_cause: None,
            recording: None,
            legs: Vec::new(),
        }
    }
}
