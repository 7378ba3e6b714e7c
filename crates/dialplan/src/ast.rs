//! The typed form of a dialplan file, as the parser builds it and the interpreter walks it.
//!
//! A file becomes one [`Plan`]: its entry points, its named opening hours and its steps. Blocks
//! of verbs (a step's body, a menu option, an `on-failure` branch…) live in one arena,
//! [`Plan::blocks`], and refer to each other by [`BlockId`]: the interpreter keeps a stack of
//! `(BlockId, index)` frames and so needs no lifetimes into the plan, which it shares behind an
//! `Arc` with every other call.
//!
//! Every verb keeps the byte span of its KDL node in its file, so the checker can point at it
//! and the live driver can log "after-sales.kdl:42" next to a runtime event.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use miette::SourceSpan;

use crate::cond::Cond;
use crate::hours::OpeningHours;
use crate::template::{JsonPath, Template};

/// Index of a block of verbs in [`Plan::blocks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub(crate) u32);

impl BlockId {
    /// Position in the arena.
    #[must_use]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One dialplan file.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The source name (file name) it was read from.
    pub name: String,
    /// Languages declared with `languages "fr" "en"` (the checker adds the ones it sees used).
    pub declared_languages: BTreeSet<String>,
    /// Named opening hours.
    pub hours: BTreeMap<String, HoursDef>,
    /// Entry points, in file order.
    pub entries: Vec<EntryDef>,
    /// Steps, in file order.
    pub steps: Vec<StepDef>,
    /// Step name to its index in `steps` (the first definition when a name repeats).
    pub step_index: HashMap<String, usize>,
    /// Every block of verbs of the file.
    pub blocks: Vec<Vec<Verb>>,
}

impl Plan {
    /// The verbs of `block` (empty for an id from another plan).
    #[must_use]
    pub fn block(&self, block: BlockId) -> &[Verb] {
        self.blocks.get(block.index()).map_or(&[], Vec::as_slice)
    }

    /// The step called `name`.
    #[must_use]
    pub fn step(&self, name: &str) -> Option<&StepDef> {
        self.step_index.get(name).and_then(|&i| self.steps.get(i))
    }
}

/// `hours "name" tz="…" { rule "…"; holidays "FR" }`.
#[derive(Debug, Clone)]
pub struct HoursDef {
    /// Its name, used by `if open="name"`.
    pub name: String,
    /// The rules, built.
    pub hours: OpeningHours,
    /// The `hours` node.
    pub span: SourceSpan,
}

/// How an entry point matches the dialled number.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// The whole number, exactly.
    Exact(String),
    /// Numbers starting with this.
    Prefix(String),
    /// A regular expression; its groups become `${1}`, `${2}`…
    Pattern(regex::Regex),
}

impl Matcher {
    /// A stable text form, for duplicate detection and messages (`exact +331…`).
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Matcher::Exact(n) => format!("\"{n}\""),
            Matcher::Prefix(p) => format!("prefix=\"{p}\""),
            Matcher::Pattern(r) => format!("pattern=\"{}\"", r.as_str()),
        }
    }
}

/// `entry "+33180000000" start="welcome" [trunk="local"] [language="fr"]`.
#[derive(Debug, Clone)]
pub struct EntryDef {
    /// What dialled numbers it takes.
    pub matcher: Matcher,
    /// Only calls arriving on this trunk, when set.
    pub trunk: Option<String>,
    /// Span of the `trunk=` value.
    pub trunk_span: SourceSpan,
    /// The first step.
    pub start: String,
    /// Span of the `start=` value.
    pub start_span: SourceSpan,
    /// The caller's language until a `language` verb changes it (else the default language).
    pub language: Option<String>,
    /// The `entry` node.
    pub span: SourceSpan,
}

/// `step "name" { … }`.
#[derive(Debug, Clone)]
pub struct StepDef {
    /// Its name, the target of `goto`.
    pub name: String,
    /// Its verbs.
    pub body: BlockId,
    /// The `step` node.
    pub span: SourceSpan,
    /// Its name, as written.
    pub name_span: SourceSpan,
}

/// A verb and where it is written.
#[derive(Debug, Clone)]
pub struct Verb {
    /// What it does.
    pub kind: VerbKind,
    /// Its KDL node.
    pub span: SourceSpan,
}

/// A prompt name as written (it may interpolate variables), with its span.
#[derive(Debug, Clone)]
pub struct PromptName {
    /// `welcome`, `menu/orders`, or `product-${product}`.
    pub name: Template,
    /// The value's span.
    pub span: SourceSpan,
}

/// What `say` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SayKind {
    /// Digit by digit: "zéro six un deux".
    Digits,
    /// A whole number: "quatre-vingt-dix-neuf".
    Number,
    /// A date `YYYY-MM-DD`: "jeudi vingt-quatre décembre".
    Date,
}

/// The verbs. Boxed payloads keep the enum small.
#[derive(Debug, Clone)]
pub enum VerbKind {
    /// Answer the call (200 OK) if not yet answered.
    Answer,
    /// Play prompts one after the other.
    Play {
        /// The prompts.
        prompts: Vec<PromptName>,
        /// Whether a digit cuts the playback (and is kept for the next `menu`/`read`).
        barge_in: bool,
    },
    /// Speak a value from prompt fragments.
    Say {
        /// Digits, number or date.
        what: SayKind,
        /// The value, interpolated at run time.
        value: Template,
        /// As for `play`.
        barge_in: bool,
    },
    /// A voice menu.
    Menu(Box<Menu>),
    /// Read digits into a variable.
    Read(Box<Read>),
    /// Set a variable.
    Set {
        /// Variable name.
        var: String,
        /// New value.
        value: Template,
    },
    /// Branch on a condition.
    If {
        /// The condition.
        cond: Cond,
        /// Run when it holds.
        then: BlockId,
        /// Run when it does not (the following `else` node).
        otherwise: Option<BlockId>,
    },
    /// Switch the caller's language.
    Language(String),
    /// Continue at a step (the current block and its parents are left).
    Goto {
        /// Target step.
        step: String,
    },
    /// Hand the call to a queue.
    Enqueue(Box<Enqueue>),
    /// Call an agent, an extension or a number through a trunk.
    Dial(Box<Dial>),
    /// Record the caller (`record` and `voicemail`).
    Record(Box<Record>),
    /// Ask a web service.
    Http(Box<Http>),
    /// End the call.
    Hangup {
        /// Recorded in the CDR, mapped to a SIP reason by the driver (may interpolate).
        cause: Template,
    },
    /// Pause.
    Wait(Duration),
    /// Write a line to the server log.
    Log(Template),
}

/// `menu "prompt"… timeout=5 retries=2 { option "1" {…}; on-timeout {…}; … }`.
#[derive(Debug, Clone)]
pub struct Menu {
    /// Played with barge-in before each attempt.
    pub prompts: Vec<PromptName>,
    /// How long to wait for a digit after the prompts.
    pub timeout: Duration,
    /// Attempts after the first one.
    pub retries: u32,
    /// Digit to the block it runs.
    pub options: Vec<(char, BlockId)>,
    /// Run when no digit came, before the next attempt.
    pub on_timeout: Option<BlockId>,
    /// Run when the digit matched no option, before the next attempt.
    pub on_invalid: Option<BlockId>,
    /// Run when every attempt failed.
    pub on_failure: Option<BlockId>,
}

/// `read "var" prompt="…" min=1 max=10 terminator="#" timeout=5 inter-digit=3 retries=1`.
#[derive(Debug, Clone)]
pub struct Read {
    /// Variable that receives the digits.
    pub var: String,
    /// Played with barge-in before each attempt.
    pub prompt: Option<PromptName>,
    /// Fewest digits accepted.
    pub min: u32,
    /// Most digits: reading stops at once when reached.
    pub max: u32,
    /// A key that ends the input early (not stored).
    pub terminator: Option<char>,
    /// Wait for the first digit.
    pub timeout: Duration,
    /// Wait for each following digit.
    pub inter_digit: Duration,
    /// Attempts after the first one when the input is too short.
    pub retries: u32,
    /// Run when every attempt failed (the variable is then empty).
    pub on_failure: Option<BlockId>,
}

/// `enqueue "queue" priority=5 max-wait=300 { skills "fr"; on-overflow {…} }`.
#[derive(Debug, Clone)]
pub struct Enqueue {
    /// Queue name (from the configuration); may interpolate `${language}`.
    pub queue: Template,
    /// Span of the queue name.
    pub queue_span: SourceSpan,
    /// Higher is served first.
    pub priority: i32,
    /// Skills an agent needs (interpolated: `${language}`).
    pub skills: Vec<Template>,
    /// Longest wait before overflow.
    pub max_wait: Option<Duration>,
    /// Keys that take the caller out of the queue (overflow with reason `key`); empty: none.
    pub exit_keys: String,
    /// Run when the ACD gives the call back.
    pub on_overflow: Option<BlockId>,
}

/// Who `dial` calls.
#[derive(Debug, Clone)]
pub enum DialTargetDef {
    /// An agent of the configuration, by extension.
    Agent(Template),
    /// Any registered extension.
    Extension(Template),
    /// A number through a trunk that has an `address`.
    Trunk {
        /// Trunk name.
        trunk: String,
        /// The number to send.
        number: Template,
    },
}

/// `dial agent="1001" ring-timeout=20 { on-busy {…}; on-no-answer {…}; on-failed {…} }`.
#[derive(Debug, Clone)]
pub struct Dial {
    /// Target.
    pub target: DialTargetDef,
    /// Span of the target value.
    pub target_span: SourceSpan,
    /// Give up ringing after this.
    pub ring_timeout: Duration,
    /// Run after an answered call ends while the caller is still there (else the call ends).
    pub on_answered: Option<BlockId>,
    /// Target busy.
    pub on_busy: Option<BlockId>,
    /// Rang out.
    pub on_no_answer: Option<BlockId>,
    /// Unavailable or failed (not registered, trunk error…).
    pub on_failed: Option<BlockId>,
}

/// `record "path" max=120 beep=#true terminate="#"`, and `voicemail "box" greeting="…"`.
#[derive(Debug, Clone)]
pub struct Record {
    /// File path template (relative to the recordings folder of the driver).
    pub path: Template,
    /// Longest recording.
    pub max: Duration,
    /// Beep before recording.
    pub beep: bool,
    /// Keys that stop the recording.
    pub terminate: String,
    /// Played before the beep (voicemail).
    pub greeting: Option<PromptName>,
}

/// HTTP method of `http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST (the body is sent as `application/json`).
    Post,
}

impl Method {
    /// `GET` or `POST`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// `http "GET" "url" timeout=1.5 body="…" { set "var" "$.path"; on-failure … }`.
#[derive(Debug, Clone)]
pub struct Http {
    /// GET or POST.
    pub method: Method,
    /// URL template.
    pub url: Template,
    /// Body template (POST).
    pub body: Option<Template>,
    /// Give up after this.
    pub timeout: Duration,
    /// Variables filled from the JSON answer.
    pub sets: Vec<(String, JsonPath)>,
    /// Run on any failure (no answer, timeout, non-2xx, bad JSON).
    pub on_failure: Option<BlockId>,
}

impl VerbKind {
    /// The blocks nested in this verb (branches, options, then/else).
    #[must_use]
    pub fn blocks(&self) -> Vec<BlockId> {
        let opt = |b: &[Option<BlockId>]| b.iter().flatten().copied().collect::<Vec<_>>();
        match self {
            VerbKind::Menu(m) => m
                .options
                .iter()
                .map(|(_, b)| *b)
                .chain(opt(&[m.on_timeout, m.on_invalid, m.on_failure]))
                .collect(),
            VerbKind::Read(r) => opt(&[r.on_failure]),
            VerbKind::If {
                then, otherwise, ..
            } => std::iter::once(*then).chain(*otherwise).collect(),
            VerbKind::Enqueue(e) => opt(&[e.on_overflow]),
            VerbKind::Dial(d) => opt(&[d.on_answered, d.on_busy, d.on_no_answer, d.on_failed]),
            VerbKind::Http(h) => opt(&[h.on_failure]),
            _ => Vec::new(),
        }
    }

    /// Whether running this verb waits for the caller or the network of calls (a prompt, a
    /// digit, a pause, a queue, a ringing phone, a recording): what breaks an endless loop.
    #[must_use]
    pub fn waits(&self) -> bool {
        matches!(
            self,
            VerbKind::Play { .. }
                | VerbKind::Say { .. }
                | VerbKind::Menu(_)
                | VerbKind::Read(_)
                | VerbKind::Enqueue(_)
                | VerbKind::Dial(_)
                | VerbKind::Record(_)
        ) || matches!(self, VerbKind::Wait(d) if !d.is_zero())
    }
}

impl Plan {
    /// Calls `f` on every verb of `block` and of the blocks nested in it, depth first.
    pub fn walk<'a>(&'a self, block: BlockId, f: &mut impl FnMut(&'a Verb)) {
        for verb in self.block(block) {
            f(verb);
            for child in verb.kind.blocks() {
                self.walk(child, f);
            }
        }
    }
}
