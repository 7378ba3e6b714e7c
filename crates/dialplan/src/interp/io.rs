//! What goes into and comes out of the interpreter: the call's facts, the commands the driver
//! executes, and the events it feeds back.

use std::time::Duration;

pub use crate::ast::Method;

/// What the switch knows about a call when it arrives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallFacts {
    /// The dialled number (request URI user part), `${dnis}`.
    pub dialled: String,
    /// The caller's number, `${caller_id}`.
    pub caller_id: String,
    /// The caller's display name, `${caller_name}`.
    pub caller_name: Option<String>,
    /// The trunk the call came in on; `None` for a call from an agent's phone.
    pub trunk: Option<String>,
    /// The switch's id for the call, `${call_id}` (recording and voicemail file names).
    pub call_id: String,
}

/// No entry point takes the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no dialplan entry for {dialled}{}", trunk.as_ref().map(|t| format!(" on trunk {t}")).unwrap_or_default())]
#[non_exhaustive]
pub struct NoRoute {
    /// The dialled number.
    pub dialled: String,
    /// The trunk.
    pub trunk: Option<String>,
}

/// A prompt to play, resolved: the language it is played in (the caller's, or the default
/// language when the caller's has no such file) and its path relative to the sounds folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptRef {
    /// The prompt's name (`welcome`, `say/42`).
    pub name: String,
    /// The language of the file chosen.
    pub language: String,
    /// `fr/welcome.wav`, relative to the sounds folder.
    pub path: String,
}

/// Who `dial` calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialTarget {
    /// An agent, by extension (through the ACD's view of agents: state, skills).
    Agent(String),
    /// Any extension registered to the switch.
    Extension(String),
    /// A number through a trunk.
    Trunk {
        /// Trunk name (it has an `address`).
        trunk: String,
        /// The number to send.
        number: String,
    },
}

/// What the driver must do next.
///
/// Every command except `Answer`, `Log` and `Hangup` is answered by exactly one event, listed
/// with each; the interpreter emits nothing after such a command until that event comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Answer the call (200 OK) if not already answered. No event needed.
    Answer,
    /// Play the prompts one after the other; answered by `PlaybackDone`. With `barge_in`, a
    /// `Digit` also ends it: the driver stops the playback at the first digit, sends the digit,
    /// and sends no `PlaybackDone` for it.
    Play {
        /// The prompts, resolved.
        prompts: Vec<PromptRef>,
        /// Whether a digit cuts the playback.
        barge_in: bool,
    },
    /// Wait for the next digit; answered by `Digit` or, after `timeout`, by `Timeout`.
    CollectDigits {
        /// How long to wait for it.
        timeout: Duration,
    },
    /// Pause; answered by `Timeout`.
    Wait(Duration),
    /// Hand the caller to a queue; answered by `EnqueueResult`.
    Enqueue {
        /// Queue name.
        queue: String,
        /// Higher is served first.
        priority: i32,
        /// Skills the agent needs.
        skills: Vec<String>,
        /// Overflow after this long.
        max_wait: Option<Duration>,
        /// Keys that take the caller out of the queue: the result is then
        /// `Overflow(OverflowReason::Key(key))`.
        exit_keys: String,
    },
    /// Call someone and bridge the caller to them; answered by `DialResult`.
    Dial {
        /// Who.
        target: DialTarget,
        /// Give up after this.
        ring_timeout: Duration,
    },
    /// Record the caller to a file; answered by `RecordDone`.
    Record {
        /// File path, relative to the driver's recordings folder.
        path: String,
        /// Stop after this.
        max_duration: Duration,
        /// Beep first.
        beep: bool,
        /// Keys that stop the recording.
        terminate_digits: String,
    },
    /// Send an HTTP request; answered by `HttpResult`.
    Http {
        /// GET or POST.
        method: Method,
        /// Absolute `http://` or `https://` URL.
        url: String,
        /// JSON body (POST).
        body: Option<String>,
        /// Give up after this (the driver answers `HttpFailure::Timeout`).
        timeout: Duration,
    },
    /// Write a line to the log. No event needed.
    Log {
        /// The text.
        message: String,
    },
    /// End the call. Always the last command: after it `poll` returns `None` for good.
    Hangup {
        /// Why (`normal`, `closed`, `no-input`, `dialplan-loop`…), for the CDR.
        cause: String,
    },
}

/// How a `Dial` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialOutcome {
    /// The target answered, they talked, and the target hung up; the caller is still there.
    AnsweredAndEnded,
    /// Busy (486, 600).
    Busy,
    /// Rang until the ring timeout.
    NoAnswer,
    /// Not registered, logged out, or no route.
    Unavailable,
    /// Any other failure, with its SIP status.
    Failed(u16),
}

/// Why a queue gave the call back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverflowReason {
    /// The caller waited `max_wait`.
    MaxWait,
    /// No agent logged in for the queue's skills.
    NoAgents,
    /// The queue holds as many callers as it may.
    QueueFull,
    /// The caller pressed one of the `enqueue`'s `exit-keys`.
    Key(char),
    /// Anything else the ACD reports.
    Other(String),
}

impl OverflowReason {
    /// `max-wait`, `no-agents`, `full`, `key`, or the text of `Other`: the value of
    /// `${overflow_reason}` (with `key`, `${overflow_key}` holds the key).
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            OverflowReason::MaxWait => "max-wait",
            OverflowReason::NoAgents => "no-agents",
            OverflowReason::QueueFull => "full",
            OverflowReason::Key(_) => "key",
            OverflowReason::Other(s) => s,
        }
    }
}

/// How an `Enqueue` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnqueueOutcome {
    /// The queue gave the call back to the dialplan.
    Overflow(OverflowReason),
    /// An agent took the call and the conversation is over: the call ends.
    BridgedAndEnded,
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body, as text.
    pub body: String,
}

/// Why an HTTP request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpFailure {
    /// The driver has no HTTP client configured.
    #[error("no HTTP client configured")]
    NotConfigured,
    /// No connection (refused, DNS, TLS).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// No answer within the timeout.
    #[error("timed out")]
    Timeout,
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// What happened, fed to [`crate::interp::Interpreter::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The call is answered (optional: the interpreter does not wait for it).
    Answered,
    /// The last `Play` finished.
    PlaybackDone,
    /// The caller pressed a key (`0`-`9`, `*`, `#`), at any time.
    Digit(char),
    /// The last `CollectDigits` or `Wait` ran out.
    Timeout,
    /// The last `Dial` ended.
    DialResult(DialOutcome),
    /// The last `Enqueue` ended.
    EnqueueResult(EnqueueOutcome),
    /// The last `Http` ended.
    HttpResult(Result<HttpResponse, HttpFailure>),
    /// The last `Record` ended.
    RecordDone {
        /// Length recorded.
        duration: Duration,
        /// The key that stopped it, if one did.
        terminated_by: Option<char>,
    },
    /// The caller hung up: the interpreter ends and emits nothing more.
    Hangup,
}

/// What the interpreter did, for the simulator's journey and debug logs (see
/// [`crate::interp::Interpreter::enable_trace`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trace {
    /// Entered a step.
    Step(String),
    /// A command was emitted.
    Command(Command),
    /// An input event was taken into account.
    Event(Event),
    /// A branch was taken: the verb and which branch (`option 2`, `on-timeout`, `else`…).
    Branch {
        /// `menu`, `read`, `if`, `http`, `dial`, `enqueue`.
        verb: &'static str,
        /// Which branch.
        taken: String,
    },
    /// A variable was assigned (`set`, `read`, `http`).
    Var {
        /// Name.
        name: String,
        /// New value.
        value: String,
    },
    /// The language changed.
    Language(String),
}
