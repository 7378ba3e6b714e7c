//! The ACD's view of one agent: a sans-IO state machine with time-in-state accounting.
//!
//! ```text
//!             login                offer               answer
//!  LoggedOut ──────► Ready ◄──────────────► Reserved ─────────► OnCall
//!      ▲              ▲ │    decline (RONA)                      │ end_call
//!      │ logout       │ │ pause                                  ▼
//!      └── Ready /    │ ▼                 wrap-up deadline    WrapUp { until }
//!          Paused /   Paused { reason } ◄──── pause ──────────── │
//!          WrapUp     └──── ready ────────────────────────────── ┘ (or ready: ends it early)
//! ```
//!
//! Every transition takes the current `now: Instant` and returns a typed [`AgentError`] when it
//! is not allowed (offering a call to a paused agent, answering a call that was not offered…),
//! leaving the agent unchanged. Wrap-up ends on its own: [`Agent::poll_timeout`] says when, and
//! [`Agent::handle_timeout`] applies it. Any other input arriving after the deadline applies it
//! first too, so a driver that wakes late only delays the change, it never loses it.
//!
//! Time spent logged in is split over six totals ([`StateTotals`]) that always add up to the
//! logged-in time, for the wallboard and the CDRs. A wrap-up that expired while nobody looked is
//! counted as wrap-up until its deadline and as ready after it, not up to when it was noticed.
//! `now` values that go backwards are treated as "no time passed", so the totals never shrink.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

/// An agent's login identity, unique within a switch (e.g. `"alice"`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(String);

impl AgentId {
    /// Wraps an agent's login name.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The login name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The extension an agent's softphone registers as (e.g. `"1001"`); the switch rings this
/// extension's registered contacts when the ACD offers the agent a call.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Extension(String);

impl Extension {
    /// Wraps an extension number or name.
    pub fn new(ext: impl Into<String>) -> Self {
        Self(ext.into())
    }

    /// The extension.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A routing skill, such as a language (`"fr"`, `"en"`) or a product line.
///
/// Invariant: stored in ASCII lowercase, so `"FR"` written in a config file and `"fr"` asked for
/// by a dialplan are the same skill.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Skill(String);

impl Skill {
    /// A skill, normalised to ASCII lowercase.
    pub fn new(name: impl Into<String>) -> Self {
        let mut name = name.into();
        name.make_ascii_lowercase();
        Self(name)
    }

    /// The skill's (lowercase) name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Skill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an agent is paused (`"lunch"`, `"training"`, `"no answer"`), shown on the wallboard.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PauseReason(String);

impl PauseReason {
    /// Wraps a pause reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }

    /// The reason.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An opaque handle for the queued call the ACD offers, chosen by the switch (its call id
/// table index). The ACD only compares handles, so an answer for another call is caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallRef(pub u64);

impl fmt::Display for CallRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where an agent stands, as the ACD sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    /// Not logged in: never offered calls, time not accounted.
    LoggedOut,
    /// Logged in and waiting for a call.
    Ready,
    /// A call has been offered and the agent's phone is ringing.
    Reserved {
        /// The call being offered.
        call: CallRef,
    },
    /// Talking to a caller of a queue.
    OnCall {
        /// The call in progress.
        call: CallRef,
    },
    /// On a call that is not a queue call (direct, outbound) while otherwise ready: offered
    /// nothing until it ends, then ready again (no wrap-up).
    Busy {
        /// The call in progress.
        call: CallRef,
    },
    /// After-call work; the agent becomes ready by itself at `until`.
    WrapUp {
        /// Deadline of the wrap-up.
        until: Instant,
    },
    /// Logged in but not taking calls.
    Paused {
        /// Why, as chosen by the agent or by the ACD (e.g. after a ring-no-answer).
        reason: PauseReason,
    },
}

impl AgentState {
    /// The state without its data, for errors and statistics.
    #[must_use]
    pub fn kind(&self) -> StateKind {
        match self {
            Self::LoggedOut => StateKind::LoggedOut,
            Self::Ready => StateKind::Ready,
            Self::Reserved { .. } => StateKind::Reserved,
            Self::OnCall { .. } => StateKind::OnCall,
            Self::Busy { .. } => StateKind::Busy,
            Self::WrapUp { .. } => StateKind::WrapUp,
            Self::Paused { .. } => StateKind::Paused,
        }
    }
}

/// [`AgentState`] without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StateKind {
    /// See [`AgentState::LoggedOut`].
    LoggedOut,
    /// See [`AgentState::Ready`].
    Ready,
    /// See [`AgentState::Reserved`].
    Reserved,
    /// See [`AgentState::OnCall`].
    OnCall,
    /// See [`AgentState::Busy`].
    Busy,
    /// See [`AgentState::WrapUp`].
    WrapUp,
    /// See [`AgentState::Paused`].
    Paused,
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LoggedOut => "logged out",
            Self::Ready => "ready",
            Self::Reserved => "reserved",
            Self::OnCall => "on a call",
            Self::Busy => "on a direct call",
            Self::WrapUp => "in wrap-up",
            Self::Paused => "paused",
        })
    }
}

/// The transitions an agent accepts, named in [`AgentError::InvalidTransition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// [`Agent::login`].
    Login,
    /// [`Agent::logout`].
    Logout,
    /// [`Agent::pause`].
    Pause,
    /// [`Agent::ready`].
    Ready,
    /// [`Agent::offer`].
    Offer,
    /// [`Agent::answer`].
    Answer,
    /// [`Agent::decline`].
    Decline,
    /// [`Agent::end_call`].
    EndCall,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Login => "log in",
            Self::Logout => "log out",
            Self::Pause => "pause",
            Self::Ready => "become ready",
            Self::Offer => "be offered a call",
            Self::Answer => "answer",
            Self::Decline => "decline",
            Self::EndCall => "end a call",
        })
    }
}

/// Why an agent transition was refused. The agent is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The action is not allowed in the agent's current state.
    #[error("agent cannot {action} while {state}")]
    InvalidTransition {
        /// The agent's state when the action was attempted.
        state: StateKind,
        /// The refused action.
        action: Action,
    },
    /// The action names a call other than the one the agent is reserved for or talking on.
    #[error("call {got} is not the agent's call {expected}")]
    WrongCall {
        /// The agent's call.
        expected: CallRef,
        /// The call named by the action.
        got: CallRef,
    },
}

/// Time spent in each logged-in state. Invariant: the six totals add up to the time the agent
/// has been logged in (see [`Agent::logged_in_time`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateTotals {
    /// Waiting for a call.
    pub ready: Duration,
    /// Reserved: phone ringing with an offered call.
    pub ringing: Duration,
    /// On a queue call.
    pub talk: Duration,
    /// On a direct or outbound call while otherwise ready.
    pub busy: Duration,
    /// In after-call work.
    pub wrap_up: Duration,
    /// Paused, whatever the reason.
    pub paused: Duration,
}

impl StateTotals {
    /// The sum of all six totals.
    #[must_use]
    pub fn sum(&self) -> Duration {
        self.ready + self.ringing + self.talk + self.busy + self.wrap_up + self.paused
    }

    /// Adds `d` to the total of the state `kind` (logged-out time is not accounted).
    fn add(&mut self, kind: StateKind, d: Duration) {
        let slot = match kind {
            StateKind::LoggedOut => return,
            StateKind::Ready => &mut self.ready,
            StateKind::Reserved => &mut self.ringing,
            StateKind::OnCall => &mut self.talk,
            StateKind::Busy => &mut self.busy,
            StateKind::WrapUp => &mut self.wrap_up,
            StateKind::Paused => &mut self.paused,
        };
        *slot += d;
    }
}

/// One agent: identity, skills, wrap-up policy, current state and accounting.
#[derive(Debug, Clone)]
pub struct Agent {
    id: AgentId,
    extension: Extension,
    skills: BTreeSet<Skill>,
    /// Wrap-up granted after each call; zero sends the agent straight back to ready.
    wrap_up: Duration,
    state: AgentState,
    /// When the current state was entered, as far as the totals are concerned. `None` exactly
    /// when logged out. Never decreases.
    since: Option<Instant>,
    /// Totals of closed intervals (the current state's time is added by [`Agent::totals`]).
    totals: StateTotals,
    /// Start of the current login session; `None` when logged out.
    session_start: Option<Instant>,
    /// Length of the finished login sessions, kept apart from `totals` to check them.
    closed_sessions: Duration,
}

impl Agent {
    /// A logged-out agent.
    pub fn new(
        id: AgentId,
        extension: Extension,
        skills: impl IntoIterator<Item = Skill>,
        wrap_up: Duration,
    ) -> Self {
        Self {
            id,
            extension,
            skills: skills.into_iter().collect(),
            wrap_up,
            state: AgentState::LoggedOut,
            since: None,
            totals: StateTotals::default(),
            session_start: None,
            closed_sessions: Duration::ZERO,
        }
    }

    /// The agent's login identity.
    #[must_use]
    pub fn id(&self) -> &AgentId {
        &self.id
    }

    /// The extension the switch rings for this agent.
    #[must_use]
    pub fn extension(&self) -> &Extension {
        &self.extension
    }

    /// The agent's skills.
    #[must_use]
    pub fn skills(&self) -> &BTreeSet<Skill> {
        &self.skills
    }

    /// The current state. Call [`Agent::handle_timeout`] first if a wrap-up deadline may have
    /// passed; this accessor does not take `now`.
    #[must_use]
    pub fn state(&self) -> &AgentState {
        &self.state
    }

    /// Whether the agent has every skill in `required` (an empty requirement always matches).
    #[must_use]
    pub fn matches(&self, required: &[Skill]) -> bool {
        required.iter().all(|s| self.skills.contains(s))
    }

    /// When the agent wants [`Agent::handle_timeout`]: the wrap-up deadline, if in wrap-up.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            AgentState::WrapUp { until } => Some(until),
            _ => None,
        }
    }

    /// Applies timers due at `now`: a wrap-up whose deadline has passed becomes ready.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clamp(now);
        if let AgentState::WrapUp { until } = self.state
            && until <= now
        {
            // Wrap-up ended at its deadline, not when we noticed.
            self.enter(until.max(self.since.unwrap_or(until)), AgentState::Ready);
        }
    }

    /// Logs the agent in, ready for calls.
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] if already logged in.
    pub fn login(&mut self, now: Instant) -> Result<(), AgentError> {
        let now = self.prepare(now);
        if self.state != AgentState::LoggedOut {
            return Err(self.refuse(Action::Login));
        }
        self.session_start = Some(now);
        self.since = Some(now);
        self.state = AgentState::Ready;
        Ok(())
    }

    /// Logs the agent out; refused while a call is ringing or in progress.
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] if logged out, reserved or on a call.
    pub fn logout(&mut self, now: Instant) -> Result<(), AgentError> {
        let now = self.prepare(now);
        match self.state {
            AgentState::Ready | AgentState::WrapUp { .. } | AgentState::Paused { .. } => {
                self.enter(now, AgentState::LoggedOut);
                if let Some(start) = self.session_start.take() {
                    self.closed_sessions += now.saturating_duration_since(start);
                }
                self.since = None;
                Ok(())
            }
            _ => Err(self.refuse(Action::Logout)),
        }
    }

    /// Pauses the agent (or changes the reason of a pause).
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] if logged out, reserved or on a call.
    pub fn pause(&mut self, now: Instant, reason: PauseReason) -> Result<(), AgentError> {
        let now = self.prepare(now);
        match self.state {
            AgentState::Ready | AgentState::WrapUp { .. } | AgentState::Paused { .. } => {
                self.enter(now, AgentState::Paused { reason });
                Ok(())
            }
            _ => Err(self.refuse(Action::Pause)),
        }
    }

    /// Makes a paused agent ready, or ends a wrap-up early.
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] unless paused or in wrap-up.
    pub fn ready(&mut self, now: Instant) -> Result<(), AgentError> {
        let now = self.prepare(now);
        match self.state {
            AgentState::WrapUp { .. } | AgentState::Paused { .. } => {
                self.enter(now, AgentState::Ready);
                Ok(())
            }
            _ => Err(self.refuse(Action::Ready)),
        }
    }

    /// Reserves a ready agent for `call`: the switch now rings the agent's extension.
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] unless ready.
    pub fn offer(&mut self, now: Instant, call: CallRef) -> Result<(), AgentError> {
        let now = self.prepare(now);
        if self.state != AgentState::Ready {
            return Err(self.refuse(Action::Offer));
        }
        self.enter(now, AgentState::Reserved { call });
        Ok(())
    }

    /// The agent answered the offered `call`.
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] unless reserved; [`AgentError::WrongCall`] if reserved
    /// for another call.
    pub fn answer(&mut self, now: Instant, call: CallRef) -> Result<(), AgentError> {
        let now = self.prepare(now);
        self.check_call(Action::Answer, call, |s| {
            matches!(s, AgentState::Reserved { .. })
        })?;
        self.enter(now, AgentState::OnCall { call });
        Ok(())
    }

    /// The offer of `call` failed (rejected, ring-no-answer, or the caller left): the agent is
    /// ready again. A queue that wants ring-no-answer to pause the agent calls [`Agent::pause`]
    /// right after.
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] unless reserved; [`AgentError::WrongCall`] if reserved
    /// for another call.
    pub fn decline(&mut self, now: Instant, call: CallRef) -> Result<(), AgentError> {
        let now = self.prepare(now);
        self.check_call(Action::Decline, call, |s| {
            matches!(s, AgentState::Reserved { .. })
        })?;
        self.enter(now, AgentState::Ready);
        Ok(())
    }

    /// `call` ended: the agent enters wrap-up for its configured time (or ready if that is 0).
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] unless on a call; [`AgentError::WrongCall`] if on
    /// another call.
    pub fn end_call(&mut self, now: Instant, call: CallRef) -> Result<(), AgentError> {
        let now = self.prepare(now);
        self.check_call(Action::EndCall, call, |s| {
            matches!(s, AgentState::OnCall { .. })
        })?;
        let next = match now.checked_add(self.wrap_up) {
            Some(until) if !self.wrap_up.is_zero() => AgentState::WrapUp { until },
            // No wrap-up configured, or a deadline beyond what `Instant` can hold.
            _ => AgentState::Ready,
        };
        self.enter(now, next);
        Ok(())
    }

    /// Time spent in each state while logged in, up to `now` (including the current state).
    #[must_use]
    pub fn totals(&self, now: Instant) -> StateTotals {
        let mut totals = self.totals;
        if let Some(since) = self.since {
            let kind = match self.state {
                // An expired but unnoticed wrap-up: wrap-up until the deadline, ready after.
                AgentState::WrapUp { until } if until < now => {
                    totals.add(StateKind::WrapUp, until.saturating_duration_since(since));
                    totals.add(
                        StateKind::Ready,
                        now.saturating_duration_since(until.max(since)),
                    );
                    return totals;
                }
                ref s => s.kind(),
            };
            totals.add(kind, now.saturating_duration_since(since));
        }
        totals
    }

    /// Total time logged in, over all sessions, up to `now`.
    #[must_use]
    pub fn logged_in_time(&self, now: Instant) -> Duration {
        let current = self
            .session_start
            .map_or(Duration::ZERO, |start| now.saturating_duration_since(start));
        self.closed_sessions + current
    }

    /// Clamps `now` so it never precedes the start of the current state.
    fn clamp(&self, now: Instant) -> Instant {
        self.since.map_or(now, |since| now.max(since))
    }

    /// Clamps `now` and applies an expired wrap-up, as every input does first.
    fn prepare(&mut self, now: Instant) -> Instant {
        let now = self.clamp(now);
        self.handle_timeout(now);
        now
    }

    /// Closes the current state's interval at `at` and enters `next`.
    fn enter(&mut self, at: Instant, next: AgentState) {
        if let Some(since) = self.since {
            self.totals
                .add(self.state.kind(), at.saturating_duration_since(since));
            self.since = Some(at.max(since));
        }
        self.state = next;
    }

    /// The error for `action` in the current state.
    fn refuse(&self, action: Action) -> AgentError {
        AgentError::InvalidTransition {
            state: self.state.kind(),
            action,
        }
    }

    /// Checks the agent is in a state `allowed` for `action` and that it is about `call`.
    fn check_call(
        &self,
        action: Action,
        call: CallRef,
        allowed: impl Fn(&AgentState) -> bool,
    ) -> Result<(), AgentError> {
        if !allowed(&self.state) {
            return Err(self.refuse(action));
        }
        match self.state {
            AgentState::Reserved { call: expected } | AgentState::OnCall { call: expected }
                if expected != call =>
            {
                Err(AgentError::WrongCall {
                    expected,
                    got: call,
                })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
