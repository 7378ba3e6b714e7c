//! Who may call the admin API: a bearer token from `[api] tokens` or
//! `SWITCHBOARD_API_TOKEN`, compared in constant time. A source that presents wrong tokens is
//! slowed, then banned, by the same [`Guard`] policy as SIP password guessing, and every
//! failure is one stable log line (docs/api.md gives the fail2ban filter):
//!
//! `api auth failed source=… path=… reason=missing-token|wrong-token failures=N`

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use switchboard_sip::guard::{Admission, Guard, GuardPolicy};

use super::{Api, ApiError};

/// The tokens, and the guard over failed attempts.
#[derive(Debug)]
pub struct Auth {
    tokens: Vec<String>,
    guard: Mutex<Guard>,
    /// `[security] never_ban`: never slowed or banned here either.
    spared: Vec<crate::config::IpNet>,
}

impl Auth {
    /// Accepts `tokens`; failures judged by `policy`.
    #[must_use]
    pub fn new(
        tokens: Vec<String>,
        policy: GuardPolicy,
        spared: Vec<crate::config::IpNet>,
    ) -> Auth {
        Auth {
            tokens,
            guard: Mutex::new(Guard::new(policy)),
            spared,
        }
    }

    /// Whether any token is configured.
    #[must_use]
    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Whether `presented` is one of the tokens (every token compared, in constant time).
    fn accepts(&self, presented: &str) -> bool {
        self.tokens
            .iter()
            .fold(false, |ok, token| ok | constant_time_eq(token, presented))
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, byte) in b.iter().enumerate() {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ byte);
    }
    diff == 0
}

/// The admin check in front of every `/api/v1` route (and `/metrics` unless public).
pub async fn admin(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let now = Instant::now();
    let source = peer.ip();
    let spared = api.auth.spared.iter().any(|net| net.contains(source));
    let banned = !spared && {
        let mut guard = api.auth.guard.lock().unwrap_or_else(|e| e.into_inner());
        matches!(guard.admit(now, source), Admission::Banned { .. })
    };
    if banned {
        return ApiError {
            retry_after: Some(60),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "banned",
                "too many wrong tokens from this address; wait for the ban to end",
            )
        }
        .into_response();
    }
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let reason = match presented {
        Some(token) if api.auth.accepts(token) => return next.run(request).await,
        Some(_) => "wrong-token",
        None => "missing-token",
    };
    let delay = failure(&api.auth, now, source, spared, request.uri().path(), reason);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        if api.auth.tokens.is_empty() {
            "no API token is configured: add one to [api] tokens or set SWITCHBOARD_API_TOKEN, \
             then send it as `Authorization: Bearer <token>`"
        } else {
            "send a valid token as `Authorization: Bearer <token>` ([api] tokens or \
             SWITCHBOARD_API_TOKEN)"
        },
    )
    .into_response()
}

/// Counts and logs a failed attempt; how long to hold the answer back.
fn failure(
    auth: &Auth,
    now: Instant,
    source: IpAddr,
    spared: bool,
    path: &str,
    reason: &str,
) -> Duration {
    let reaction = if spared {
        switchboard_sip::guard::Reaction::default()
    } else {
        let mut guard = auth.guard.lock().unwrap_or_else(|e| e.into_inner());
        guard.sweep(now);
        guard.failure(now, source, "api")
    };
    metrics::counter!("switchboard_api_auth_failures_total", "reason" => reason.to_owned())
        .increment(1);
    let path: String = path.chars().take(80).collect();
    tracing::warn!(
        source = %source,
        path = ?path,
        reason,
        failures = reaction.source_failures,
        "api auth failed"
    );
    if let Some(until) = reaction.banned_until {
        tracing::warn!(
            source = %source,
            failures = reaction.source_failures,
            ban_s = until.saturating_duration_since(now).as_secs(),
            "api source banned"
        );
    }
    reaction.delay
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        let auth = Auth::new(
            vec!["0123456789abcdef".into(), "fedcba9876543210".into()],
            GuardPolicy::default(),
            Vec::new(),
        );
        assert!(auth.accepts("0123456789abcdef"));
        assert!(auth.accepts("fedcba9876543210"));
        assert!(!auth.accepts("0123456789abcde"));
        assert!(!auth.accepts("0123456789abcdefX"));
        assert!(!auth.accepts(""));
        assert!(!Auth::new(Vec::new(), GuardPolicy::default(), Vec::new()).accepts(""));
    }
}
