//! The ACD's view of one agent: a sans-IO state machine with time-in-state accounting.
//!
//! ```text
//!             login                offer               answer
//!  LoggedOut ──────► Ready ◄──────────────► Reserved ─────────► OnCall
//!      ▲              ▲ │ ▲  decline (RONA)                      │ end_call
//!      │ logout       │ │ │ claim / release                      ▼
//!      └── Ready /    │ │ └──────────► Busy    wrap-up deadline WrapUp { until }
//!          Paused /   │ ▼ pause                                   │
//!          WrapUp     Paused { reason } ◄──── pause ───────────── │
//!                     └──── ready ──────────────────────────────── ┘ (or ready: ends it early)
//! ```
//!
//! Every transition takes the current `now: Instant` and returns a typed [`AgentError`] when it
//! is not allowed (offering a call to a paused agent, answering a call that was not offered…),
//! leaving the agent unchanged. Wrap-up ends on its own: [`Agent::poll_timeout`] says when, and
//! [`Agent::handle_timeout`] applies it. Any other input arriving after the deadline applies it
//! first too, so a driver that wakes late only delays the change, it never loses it.
//!
//! Two things ride beside the state:
//! * **Claims**: the non-queue calls the agent is on (a direct call to its extension, a call it
//!   places). A ready agent with a claim is [`AgentState::Busy`]; a paused, wrapping-up or
//!   logged-out agent keeps its state but is still on the phone, so it is never offered a call
//!   and a second direct call to it is refused. Invariant: `Ready` means no claim.
//! * **A pending request**: a pause or logout asked for while reserved or on a call
//!   ([`Agent::request_pause`], [`Agent::request_logout`]) is kept and applied when the agent
//!   would next become ready: when the offer ends unanswered, when the wrap-up after the call
//!   ends (the wrap-up itself is still granted: notes get written), or when the direct call is
//!   released. Refusing it instead would make the agent press the feature code again later.
//!
//! Time spent logged in is split over six totals ([`StateTotals`]) that always add up to the
//! logged-in time, for the wallboard and the CDRs. A wrap-up that expired while nobody looked is
//! counted as wrap-up until its deadline and as ready after it, not up to when it was noticed.
//! `now` values that go backwards are treated as "no time passed", so the totals never shrink.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::config::{Level, SkillReq};
use crate::io::ClaimKind;

mod ids;
mod totals;

pub use ids::{AgentId, CallRef, Extension, PauseReason, Skill};
pub use totals::StateTotals;

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
    /// [`Agent::claim`] as the callee of a direct call.
    Claim,
    /// [`Agent::release`].
    Release,
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
            Self::Claim => "take a direct call",
            Self::Release => "end a direct call",
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
    /// The ACD knows no agent by that name (a feature code dialled from an unknown phone).
    #[error("no agent named {agent}")]
    UnknownAgent {
        /// The name asked for.
        agent: AgentId,
    },
}

/// A pause or logout asked for while the agent was reserved or on a call, applied when the
/// agent would next become ready (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Pause with this reason.
    Pause(PauseReason),
    /// Log out.
    Logout,
}

/// What [`Agent::request_pause`] and [`Agent::request_logout`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The state changed at once.
    Now,
    /// Kept as [`Pending`] until the agent's call is over.
    Pending,
}

/// One agent: identity, skills, wrap-up policy, current state and accounting.
#[derive(Debug, Clone)]
pub struct Agent {
    id: AgentId,
    extension: Extension,
    skills: BTreeMap<Skill, Level>,
    /// Wrap-up granted after each call; zero sends the agent straight back to ready.
    wrap_up: Duration,
    state: AgentState,
    /// Non-queue calls the agent is on, oldest first. Invariant: empty when `Ready`, and a
    /// `Busy { call }` state names one of them.
    claims: Vec<CallRef>,
    /// A pause or logout waiting for the current call to end. Invariant: `None` unless
    /// `Reserved`, `OnCall`, `Busy` or `WrapUp` (a wrap-up that follows the call it was asked on).
    pending: Option<Pending>,
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
    /// A logged-out agent with these skills and levels.
    pub fn new(
        id: AgentId,
        extension: Extension,
        skills: impl IntoIterator<Item = (Skill, Level)>,
        wrap_up: Duration,
    ) -> Self {
        Self {
            id,
            extension,
            skills: skills.into_iter().collect(),
            wrap_up,
            state: AgentState::LoggedOut,
            claims: Vec::new(),
            pending: None,
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

    /// The agent's skills and their levels.
    #[must_use]
    pub fn skills(&self) -> &BTreeMap<Skill, Level> {
        &self.skills
    }

    /// Replaces the skills (a config reload); the state is untouched.
    pub fn set_skills(&mut self, skills: impl IntoIterator<Item = (Skill, Level)>) {
        self.skills = skills.into_iter().collect();
    }

    /// The wrap-up granted after a call.
    #[must_use]
    pub fn wrap_up(&self) -> Duration {
        self.wrap_up
    }

    /// Sets the wrap-up granted after the next calls (a wrap-up in progress keeps its deadline).
    pub fn set_wrap_up(&mut self, wrap_up: Duration) {
        self.wrap_up = wrap_up;
    }

    /// The current state. Call [`Agent::handle_timeout`] first if a wrap-up deadline may have
    /// passed; this accessor does not take `now`.
    #[must_use]
    pub fn state(&self) -> &AgentState {
        &self.state
    }

    /// Whether the agent is logged in (any state but `LoggedOut`).
    #[must_use]
    pub fn is_logged_in(&self) -> bool {
        self.state != AgentState::LoggedOut
    }

    /// The non-queue calls the agent is on ([`Agent::claim`]), oldest first.
    #[must_use]
    pub fn claims(&self) -> &[CallRef] {
        &self.claims
    }

    /// The pause or logout waiting for the current call to end.
    #[must_use]
    pub fn pending(&self) -> Option<&Pending> {
        self.pending.as_ref()
    }

    /// Whether the agent has every skill in `required`, at any level (an empty requirement
    /// always matches).
    #[must_use]
    pub fn matches(&self, required: &[Skill]) -> bool {
        required.iter().all(|s| self.skills.contains_key(s))
    }

    /// The agent's level in `skill`, if it has it.
    #[must_use]
    pub fn level(&self, skill: &Skill) -> Option<Level> {
        self.skills.get(skill).copied()
    }

    /// Whether the agent meets every requirement; with `any_level`, having the skill at all is
    /// enough (a requirement widened by the caller's wait).
    #[must_use]
    pub fn meets(&self, required: &[SkillReq], any_level: bool) -> bool {
        required.iter().all(|req| {
            self.level(&req.skill)
                .is_some_and(|level| any_level || level >= req.min_level)
        })
    }

    /// When the agent wants [`Agent::handle_timeout`]: the wrap-up deadline, if in wrap-up.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            AgentState::WrapUp { until } => Some(until),
            _ => None,
        }
    }

    /// Applies timers due at `now`: a wrap-up whose deadline has passed ends (ready, or what
    /// was pending).
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clamp(now);
        if let AgentState::WrapUp { until } = self.state
            && until <= now
        {
            // Wrap-up ended at its deadline, not when we noticed.
            self.settle(until.max(self.since.unwrap_or(until)));
        }
    }

    /// Logs the agent in, ready for calls (busy if it is on a direct call already).
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
        self.state = self.idle_state();
        Ok(())
    }

    /// Logs the agent out; refused while a call is ringing or in progress (see
    /// [`Agent::request_logout`] for the variant that waits for the call to end).
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] if logged out, reserved or on a call.
    pub fn logout(&mut self, now: Instant) -> Result<(), AgentError> {
        let now = self.prepare(now);
        match self.state {
            AgentState::Ready | AgentState::WrapUp { .. } | AgentState::Paused { .. } => {
                self.close_session(now);
                Ok(())
            }
            _ => Err(self.refuse(Action::Logout)),
        }
    }

    /// Pauses the agent (or changes the reason of a pause); refused while a call is ringing or
    /// in progress (see [`Agent::request_pause`]).
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] if logged out, reserved or on a call.
    pub fn pause(&mut self, now: Instant, reason: PauseReason) -> Result<(), AgentError> {
        let now = self.prepare(now);
        match self.state {
            AgentState::Ready | AgentState::WrapUp { .. } | AgentState::Paused { .. } => {
                self.pending = None;
                self.enter(now, AgentState::Paused { reason });
                Ok(())
            }
            _ => Err(self.refuse(Action::Pause)),
        }
    }

    /// Pauses now, or once the current call is over when reserved or on a call.
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] if logged out.
    pub fn request_pause(
        &mut self,
        now: Instant,
        reason: PauseReason,
    ) -> Result<Applied, AgentError> {
        self.request(now, Pending::Pause(reason))
    }

    /// Logs out now, or once the current call is over when reserved or on a call.
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] if logged out.
    pub fn request_logout(&mut self, now: Instant) -> Result<Applied, AgentError> {
        self.request(now, Pending::Logout)
    }

    /// Forgets a pending pause or logout (the agent asked for ready, or to log in again).
    pub fn cancel_pending(&mut self) -> Option<Pending> {
        self.pending.take()
    }

    /// Makes a paused agent ready, or ends a wrap-up early (and forgets what was pending).
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] unless paused or in wrap-up.
    pub fn ready(&mut self, now: Instant) -> Result<(), AgentError> {
        let now = self.prepare(now);
        match self.state {
            AgentState::WrapUp { .. } | AgentState::Paused { .. } => {
                self.pending = None;
                let next = self.idle_state();
                self.enter(now, next);
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

    /// The agent is known to be talking on `call` although no offer of it is open (an answer
    /// that came after the ACD gave up on the offer): on call from ready, reserved (for
    /// another caller, whose offer the ACD ends), wrap-up or pause.
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] if logged out, already on a call or on a direct call.
    pub fn take_call(&mut self, now: Instant, call: CallRef) -> Result<(), AgentError> {
        let now = self.prepare(now);
        match self.state {
            AgentState::Ready
            | AgentState::Reserved { .. }
            | AgentState::WrapUp { .. }
            | AgentState::Paused { .. }
                if self.claims.is_empty() =>
            {
                if !matches!(self.state, AgentState::Reserved { .. }) {
                    self.pending = None;
                }
                self.enter(now, AgentState::OnCall { call });
                Ok(())
            }
            _ => Err(self.refuse(Action::Answer)),
        }
    }

    /// The offer of `call` failed (rejected, ring-no-answer, or the caller left): the agent is
    /// ready again (or busy, or what was pending). A queue that wants ring-no-answer to pause
    /// the agent calls [`Agent::request_pause`] right after.
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] unless reserved; [`AgentError::WrongCall`] if reserved
    /// for another call.
    pub fn decline(&mut self, now: Instant, call: CallRef) -> Result<(), AgentError> {
        let now = self.prepare(now);
        self.check_call(Action::Decline, call, |s| {
            matches!(s, AgentState::Reserved { .. })
        })?;
        self.settle(now);
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
        match now.checked_add(self.wrap_up) {
            Some(until) if !self.wrap_up.is_zero() => {
                self.enter(now, AgentState::WrapUp { until });
            }
            // No wrap-up configured, or a deadline beyond what `Instant` can hold.
            _ => self.settle(now),
        }
        Ok(())
    }

    /// `call` was answered but never connected (the agent left before the bridge was up): the
    /// agent is ready again at once, without wrap-up, since there was no conversation.
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] unless on a call; [`AgentError::WrongCall`] if on
    /// another call.
    pub fn abort_call(&mut self, now: Instant, call: CallRef) -> Result<(), AgentError> {
        let now = self.prepare(now);
        self.check_call(Action::EndCall, call, |s| {
            matches!(s, AgentState::OnCall { .. })
        })?;
        self.settle(now);
        Ok(())
    }

    /// A non-queue call involves the agent. A ready agent becomes [`AgentState::Busy`]; in any
    /// other state the call is recorded beside it. Claiming a call already claimed is a no-op.
    ///
    /// # Errors
    /// As [`ClaimKind::Callee`], [`AgentError::InvalidTransition`] while the agent is reserved
    /// for or talking on a queue call (the switch answers 486 Busy Here); another direct call
    /// does not refuse it (call waiting). As the caller it never fails: the agent chose to
    /// place that call.
    pub fn claim(
        &mut self,
        now: Instant,
        call: CallRef,
        kind: ClaimKind,
    ) -> Result<(), AgentError> {
        let now = self.prepare(now);
        if self.claims.contains(&call) {
            return Ok(());
        }
        // A customer's conversation (or its ringing) is protected; a second direct call while
        // on a direct call rings, as phones' call waiting expects (and a switch under load
        // calling one extension many times must not turn it into 486s).
        let engaged = matches!(
            self.state,
            AgentState::Reserved { .. } | AgentState::OnCall { .. }
        );
        if kind == ClaimKind::Callee && engaged {
            return Err(self.refuse(Action::Claim));
        }
        self.claims.push(call);
        if self.state == AgentState::Ready {
            self.enter(now, AgentState::Busy { call });
        }
        Ok(())
    }

    /// The non-queue `call` no longer involves the agent. A busy agent with no other such call
    /// becomes ready (or what was pending).
    ///
    /// # Errors
    /// [`AgentError::InvalidTransition`] if the agent had no such claim.
    pub fn release(&mut self, now: Instant, call: CallRef) -> Result<(), AgentError> {
        let now = self.prepare(now);
        let Some(i) = self.claims.iter().position(|&c| c == call) else {
            return Err(self.refuse(Action::Release));
        };
        self.claims.remove(i);
        if let AgentState::Busy { call: current } = self.state {
            match self.claims.first() {
                None => self.settle(now),
                // Still busy, on the next call: the state kind does not change.
                Some(&next) if current == call => self.state = AgentState::Busy { call: next },
                Some(_) => {}
            }
        }
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

    /// Applies a pause or logout now, or keeps it for when the call is over.
    fn request(&mut self, now: Instant, what: Pending) -> Result<Applied, AgentError> {
        let now = self.prepare(now);
        let action = match what {
            Pending::Pause(_) => Action::Pause,
            Pending::Logout => Action::Logout,
        };
        match self.state {
            AgentState::LoggedOut => Err(self.refuse(action)),
            AgentState::Reserved { .. } | AgentState::OnCall { .. } | AgentState::Busy { .. } => {
                self.pending = Some(what);
                Ok(Applied::Pending)
            }
            AgentState::Ready | AgentState::WrapUp { .. } | AgentState::Paused { .. } => {
                self.pending = None;
                match what {
                    Pending::Pause(reason) => self.enter(now, AgentState::Paused { reason }),
                    Pending::Logout => self.close_session(now),
                }
                Ok(Applied::Now)
            }
        }
    }

    /// Where the agent goes when a call, offer or wrap-up is over: what was pending, else
    /// busy on its next direct call, else ready.
    fn settle(&mut self, at: Instant) {
        match self.pending.take() {
            Some(Pending::Logout) => self.close_session(at),
            Some(Pending::Pause(reason)) => self.enter(at, AgentState::Paused { reason }),
            None => {
                let next = self.idle_state();
                self.enter(at, next);
            }
        }
    }

    /// Ready, unless a direct call keeps the agent busy.
    fn idle_state(&self) -> AgentState {
        match self.claims.first() {
            Some(&call) => AgentState::Busy { call },
            None => AgentState::Ready,
        }
    }

    /// Ends the login session at `at`.
    fn close_session(&mut self, at: Instant) {
        self.enter(at, AgentState::LoggedOut);
        if let Some(start) = self.session_start.take() {
            self.closed_sessions += at.saturating_duration_since(start);
        }
        self.since = None;
        self.pending = None;
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
