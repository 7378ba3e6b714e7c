//! Call control: one task per call owns its state and talks to the SIP core and its media
//! worker by message.
//!
//! A call starts from an inbound leg the core accepted. It gets a media session at once (the
//! caller's RTP is anchored on our ports) and then either
//! * rings an agent's extension directly ([`through`]): the caller's INVITE is answered when the
//!   agent answers, with early media relayed; or
//! * runs the dialplan its dialled number matches ([`ivr`]): prompts, menus, queues, dial.
//!
//! Both end in the same talk phase ([`bridge`]) once a callee answers: the two legs' media are
//! bridged (relayed, or transcoded when their codecs differ), the call is recorded in stereo,
//! re-INVITEs (hold, codec changes) are answered on the leg that sent them, and a BYE on either
//! side or a media timeout ends the call.

mod bridge;
mod context;
mod dial;
mod fork;
pub mod http;
pub(crate) mod ivr;
mod queue;
mod sdp_leg;
mod through;

use std::sync::Arc;

use bytes::Bytes;
use ezk_sip_types::uri::NameAddr;
use switchboard_sip::ua::{LegEvent, LegId, OutboundCall};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;

use crate::sip::core::CoreInput;
use crate::sip::directory::Caller;

pub use context::Services;
pub use fork::{fork_targets, select_final};

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
    /// The INVITEs that would reach these extensions' registered phones (and static contacts).
    Lookup {
        /// Agents' extensions.
        extensions: Vec<String>,
        /// The caller id the callees should see.
        from: Option<NameAddr>,
        /// Max-Forwards for the new legs.
        max_forwards: u8,
        /// One entry per contact, each with the extension it reaches.
        reply: oneshot::Sender<Vec<(String, OutboundCall)>>,
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

/// Where an accepted call goes.
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
    Dialplan(Box<ivr::Start>),
}

/// Everything a new call task starts from.
#[derive(Debug)]
pub struct CallSetup {
    /// The caller's leg, accepted but not yet answered.
    pub inbound: LegId,
    /// Who called (trunk or agent).
    pub caller: Caller,
    /// The caller's Call-ID (for logs and the recording's file name).
    pub call_id: String,
    /// The caller's From, shown to the callees.
    pub from: Option<NameAddr>,
    /// The caller's offer (None: a late offer, answered in the ACK).
    pub offer: Option<Bytes>,
    /// The number dialled.
    pub dialled: String,
    /// Max-Forwards left for legs we place.
    pub max_forwards: u8,
    /// Where it goes.
    pub route: Route,
}

/// Runs one call to its end.
pub async fn run(
    setup: CallSetup,
    services: Arc<Services>,
    core: mpsc::Sender<CoreInput>,
    events: mpsc::Receiver<LegEvent>,
) {
    let span = tracing::info_span!(
        "call",
        call_id = %setup.call_id,
        inbound = %setup.inbound,
        caller = %setup.caller,
    );
    async move {
        let inbound = setup.inbound;
        let mut call = match context::Call::new(&setup, services, core.clone(), events).await {
            Ok(call) => call,
            Err(err) => {
                tracing::error!(%err, "no media for the call; refused with 503");
                let _ = core
                    .send(CoreInput::Call(CallCommand::Reject {
                        leg: inbound,
                        code: 503,
                    }))
                    .await;
                return;
            }
        };
        let outcome = match setup.route {
            Route::Extension { extension, targets } => {
                through::run(&mut call, &extension, targets).await
            }
            Route::Dialplan(start) => ivr::run(&mut call, *start).await,
        };
        call.finish(&outcome).await;
    }
    .instrument(span)
    .await;
}

/// How a call ended, for its last log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The caller hung up.
    CallerHungUp,
    /// The callee hung up after talking.
    CalleeHungUp,
    /// Nobody answered; the caller got this status.
    Unanswered(u16),
    /// The dialplan hung up, with its cause.
    Dialplan(String),
    /// No RTP from a leg for the configured time.
    MediaTimeout,
    /// Something of ours failed.
    Failed(String),
}

impl Outcome {
    /// A short stable name for logs and CDRs.
    #[must_use]
    pub fn cause(&self) -> String {
        match self {
            Outcome::CallerHungUp => "caller-hangup".into(),
            Outcome::CalleeHungUp => "callee-hangup".into(),
            Outcome::Unanswered(code) => format!("unanswered-{code}"),
            Outcome::Dialplan(cause) => format!("dialplan:{cause}"),
            Outcome::MediaTimeout => "media-timeout".into(),
            Outcome::Failed(why) => format!("failed:{why}"),
        }
    }
}
