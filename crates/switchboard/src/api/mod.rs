//! The admin HTTP API (axum): `/api/v1` for agents and queues, `/health`, `/ready`,
//! `/metrics`, and the OpenAPI document at `/api/v1/openapi.json` (docs/api.md).
//!
//! Every answer that is not a success is JSON `{"error": {"code": …, "message": …}}`, the
//! message saying what to do. Admin requests carry `Authorization: Bearer <token>`; a source
//! that keeps presenting wrong tokens is slowed and banned by the same guard policy as SIP
//! password guessing (`[security]`), and every failure is one stable log line.
//!
//! The API owns no state: it asks the ACD task (through its channel, like the control socket)
//! and reads the metrics recorder.

mod auth;
mod error;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use switchboard_acd::io::AgentCommand;
use switchboard_acd::{AgentId, PauseReason};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

pub use error::ApiError;

use crate::acd::View;
use crate::protocol::AcdRequest;

/// How long the API waits for the ACD before answering 503.
const ACD_WAIT: Duration = Duration::from_secs(5);
/// The OpenAPI document.
const OPENAPI: &str = include_str!("openapi.json");

/// What the handlers share.
#[derive(Debug)]
pub struct Api {
    /// The ACD task's channel.
    pub acd: mpsc::Sender<AcdRequest>,
    /// The live calls' table.
    pub live: crate::calls::Updates,
    /// Raised while the switch drains (then `/ready` answers 503).
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// The metrics recorder's handle (`None`: another recorder was installed first, as in
    /// tests that start several switches in one process).
    pub metrics: Option<PrometheusHandle>,
    /// Whether `/metrics` needs a token.
    pub metrics_public: bool,
    /// The SIP transports' counters (drops before the core), read when `/metrics` is.
    pub transport: Arc<crate::sip::transport::TransportStats>,
    /// When the switch started.
    pub started: Instant,
    /// Tokens and the failed-token guard.
    pub auth: auth::Auth,
}

impl Api {
    /// The API over the ACD's channel, with admin `tokens` and failed attempts judged by
    /// `policy`.
    #[must_use]
    pub fn new(
        acd: mpsc::Sender<AcdRequest>,
        live: crate::calls::Updates,
        draining: Arc<std::sync::atomic::AtomicBool>,
        metrics: Option<PrometheusHandle>,
        transport: Arc<crate::sip::transport::TransportStats>,
        config: &crate::config::ApiConfig,
        security: &crate::config::SecurityConfig,
    ) -> Api {
        Api {
            acd,
            live,
            draining,
            metrics,
            metrics_public: config.metrics_public,
            transport,
            started: Instant::now(),
            auth: auth::Auth::new(
                config.admin_tokens(),
                security.guard_policy(),
                security.never_ban.clone(),
            ),
        }
    }
}

/// The routes, over `api`.
pub fn router(api: Arc<Api>) -> Router {
    let admin = Router::new()
        .route("/api/v1/agents", get(agents))
        .route("/api/v1/agents/{agent}", get(agent))
        .route("/api/v1/agents/{agent}/login", post(agent_login))
        .route("/api/v1/agents/{agent}/logout", post(agent_logout))
        .route("/api/v1/agents/{agent}/ready", post(agent_ready))
        .route("/api/v1/agents/{agent}/pause", post(agent_pause))
        .route("/api/v1/queues", get(queues))
        .route("/api/v1/calls", get(calls))
        .route("/api/v1/calls/{call}/hangup", post(hangup))
        .route("/api/v1/queues/{queue}", get(queue))
        .route_layer(middleware::from_fn_with_state(api.clone(), auth::admin));
    let metrics = Router::new().route("/metrics", get(metrics));
    let metrics = if api.metrics_public {
        metrics
    } else {
        metrics.route_layer(middleware::from_fn_with_state(api.clone(), auth::admin))
    };
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/api/v1/openapi.json", get(openapi))
        .merge(admin)
        .merge(metrics)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(count_request))
        .with_state(api)
}

/// Serves the API on `listener` until the process ends.
pub fn spawn(listener: TcpListener, api: Arc<Api>) {
    let app = router(api).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(%err, "the admin API stopped");
        }
    });
}

/// Counts every request by route and status (`switchboard_api_requests_total`).
async fn count_request(
    request: axum::extract::Request,
    next: middleware::Next,
) -> impl IntoResponse {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    metrics::counter!(
        "switchboard_api_requests_total",
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .increment(1);
    response
}

async fn health(State(api): State<Arc<Api>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": api.started.elapsed().as_secs(),
    }))
}

/// Ready when the ACD answers (SIP sockets and the store were opened before the API started)
/// and the switch is not draining.
async fn ready(State(api): State<Arc<Api>>) -> Result<Json<serde_json::Value>, ApiError> {
    if api.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(ApiError::unavailable(
            "the switch is stopping: it takes no new calls; send them to another node",
        ));
    }
    snapshot(&api).await?;
    Ok(Json(serde_json::json!({ "ready": true })))
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}

async fn metrics(State(api): State<Arc<Api>>) -> Result<Response, ApiError> {
    let Some(handle) = &api.metrics else {
        return Err(ApiError::unavailable(
            "metrics are not recorded in this process (another recorder was installed first)",
        ));
    };
    // Gauges that are read, not counted: the ACD's picture at this instant.
    if let Ok(view) = snapshot(&api).await {
        crate::metrics::acd_gauges(&view);
    }
    crate::metrics::transport_counters(&api.transport);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        handle.render(),
    )
        .into_response())
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; the endpoints are listed at /api/v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see /api/v1/openapi.json",
    )
}

/// Sends the ACD the request `ask` builds around a reply channel, and waits for the answer.
async fn ask_acd<T>(
    api: &Api,
    ask: impl FnOnce(oneshot::Sender<T>) -> AcdRequest,
) -> Result<T, ApiError> {
    let (reply, rx) = oneshot::channel();
    let asked = async {
        api.acd.send(ask(reply)).await.ok()?;
        rx.await.ok()
    };
    match tokio::time::timeout(ACD_WAIT, asked).await {
        Ok(Some(answer)) => Ok(answer),
        _ => Err(ApiError::unavailable(
            "the ACD did not answer in time; the switch is overloaded or stopping, try again",
        )),
    }
}

/// The ACD's live state.
async fn snapshot(api: &Api) -> Result<View, ApiError> {
    ask_acd(api, |reply| AcdRequest::Snapshot { reply }).await
}

async fn agents(State(api): State<Arc<Api>>) -> Result<Json<serde_json::Value>, ApiError> {
    let view = snapshot(&api).await?;
    Ok(Json(
        serde_json::json!({ "at": view.at, "agents": view.agents }),
    ))
}

async fn agent(
    State(api): State<Arc<Api>>,
    Path(agent): Path<String>,
) -> Result<Json<crate::acd::AgentRow>, ApiError> {
    let view = snapshot(&api).await?;
    view.agents
        .into_iter()
        .find(|row| row.agent == agent)
        .map(Json)
        .ok_or_else(|| unknown_agent(&agent))
}

fn unknown_agent(agent: &str) -> ApiError {
    ApiError::not_found(format!(
        "no agent {agent:?}; GET /api/v1/agents lists them (agents are defined in [[agents]])"
    ))
}

async fn queues(State(api): State<Arc<Api>>) -> Result<Json<serde_json::Value>, ApiError> {
    let view = snapshot(&api).await?;
    Ok(Json(
        serde_json::json!({ "at": view.at, "queues": view.queues }),
    ))
}

async fn queue(
    State(api): State<Arc<Api>>,
    Path(queue): Path<String>,
) -> Result<Json<crate::acd::QueueRow>, ApiError> {
    let view = snapshot(&api).await?;
    view.queues
        .into_iter()
        .find(|row| row.queue == queue)
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no queue {queue:?}; GET /api/v1/queues lists them (queues are defined in [[queues]])"
            ))
        })
}

async fn calls(State(api): State<Arc<Api>>) -> Result<Json<crate::calls::LiveCalls>, ApiError> {
    crate::calls::snapshot(&api.live)
        .await
        .map(Json)
        .ok_or_else(|| {
            ApiError::unavailable("the live calls' table is not running; the switch is stopping")
        })
}

/// Ends a call in progress: both legs hung up, its record's cause `switch:admin-hangup`.
async fn hangup(
    State(api): State<Arc<Api>>,
    Path(call): Path<String>,
) -> Result<Response, ApiError> {
    let id: u64 = call.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "{call:?} is not a call number; GET /api/v1/calls lists them (the `call` field)"
        ))
    })?;
    match crate::calls::hangup(&api.live, id, "admin-hangup").await {
        Some(true) => {
            tracing::info!(call = id, "call hung up through the API");
            Ok((
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "call": id, "hangup": "requested" })),
            )
                .into_response())
        }
        Some(false) => Err(ApiError::not_found(format!(
            "no call {id} in progress; GET /api/v1/calls lists them"
        ))),
        None => Err(ApiError::unavailable(
            "the live calls' table is not running; the switch is stopping",
        )),
    }
}

/// `POST /api/v1/agents/{agent}/pause`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    reason: String,
}

async fn agent_login(
    State(api): State<Arc<Api>>,
    Path(agent): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    command(&api, agent, AgentCommand::Login).await
}

async fn agent_logout(
    State(api): State<Arc<Api>>,
    Path(agent): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    command(&api, agent, AgentCommand::Logout).await
}

async fn agent_ready(
    State(api): State<Arc<Api>>,
    Path(agent): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    command(&api, agent, AgentCommand::Ready).await
}

async fn agent_pause(
    State(api): State<Arc<Api>>,
    Path(agent): Path<String>,
    body: Result<Json<PauseBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(body) = body.map_err(|err| {
        ApiError::bad_request(format!(
            "the body must be JSON like {{\"reason\": \"lunch\"}} ({})",
            err.body_text()
        ))
    })?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.len() > 64 {
        return Err(ApiError::bad_request(
            "give a pause reason of 1 to 64 characters (one of [acd.pause_reasons] or free text)",
        ));
    }
    command(&api, agent, AgentCommand::Pause(PauseReason::new(reason))).await
}

/// Asks the ACD to apply `command` to `agent`; its state after, or why not.
async fn command(
    api: &Api,
    agent: String,
    command: AgentCommand,
) -> Result<Json<serde_json::Value>, ApiError> {
    let result = ask_acd(api, |reply| AcdRequest::Command {
        agent: AgentId::new(agent.clone()),
        command: command.clone(),
        reply,
    })
    .await?;
    match result {
        Ok(state) => {
            tracing::info!(
                agent = %crate::redact::number(&agent),
                ?command,
                state = crate::acd::state_name(state),
                "agent state changed through the API"
            );
            Ok(Json(serde_json::json!({
                "agent": agent,
                "state": crate::acd::state_name(state),
            })))
        }
        Err(switchboard_acd::AgentError::UnknownAgent { .. }) => Err(unknown_agent(&agent)),
        Err(err) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "agent_state_conflict",
            format!("the ACD refused: {err}"),
        )),
    }
}
