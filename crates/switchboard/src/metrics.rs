//! Prometheus metrics (`/metrics`, through the `metrics` facade and its Prometheus exporter).
//! Counters are counted where things happen (calls in the call driver and the SIP core, SIP
//! messages in the transports, API requests in the API); gauges that are a picture of the ACD
//! are set from its snapshot when `/metrics` is read. docs/metrics.md lists every metric.

use metrics::{describe_counter, describe_gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::acd::View;

/// Installs the process-wide recorder; `None` when one is installed already (tests that run
/// several switches in one process).
#[must_use]
pub fn install() -> Option<PrometheusHandle> {
    let handle = PrometheusBuilder::new().install_recorder().ok()?;
    describe();
    Some(handle)
}

fn describe() {
    describe_counter!(
        "switchboard_calls_started_total",
        "Calls that reached the switch (an INVITE accepted for routing), by who placed them (trunk, agent)"
    );
    describe_counter!(
        "switchboard_calls_ended_total",
        "Calls that ended, by disposition and hangup cause (as in the call record)"
    );
    describe_gauge!("switchboard_calls_active", "Calls in progress");
    describe_counter!(
        "switchboard_calls_refused_total",
        "Calls from trunks refused before routing (a call limit), by cause"
    );
    describe_counter!(
        "switchboard_sip_requests_total",
        "SIP requests received and parsed, by method"
    );
    describe_counter!(
        "switchboard_sip_responses_total",
        "SIP responses received and parsed, by status code"
    );
    describe_counter!(
        "switchboard_sip_dropped_total",
        "SIP datagrams and messages dropped before the core, by reason"
    );
    describe_counter!(
        "switchboard_sip_auth_failures_total",
        "Refused SIP credentials (digest), by reason"
    );
    describe_counter!(
        "switchboard_sip_bans_total",
        "Sources banned for failed authentications"
    );
    describe_gauge!(
        "switchboard_registrations",
        "Agents with a registered phone (kind=agents) and live bindings (kind=bindings)"
    );
    describe_gauge!("switchboard_agents", "Agents by ACD state");
    describe_gauge!(
        "switchboard_queue_waiting",
        "Callers waiting in the queue now"
    );
    describe_gauge!(
        "switchboard_queue_longest_wait_seconds",
        "The longest current wait in the queue"
    );
    describe_gauge!(
        "switchboard_queue_service_level_ratio",
        "Today's service level (the queue's definition, docs/statistics.md), 0 to 1"
    );
    describe_gauge!(
        "switchboard_queue_calls_today",
        "Today's queue calls by outcome (offered, answered, abandoned, short_abandoned, overflowed)"
    );
    describe_counter!(
        "switchboard_api_requests_total",
        "Admin API requests by method, route and status"
    );
    describe_counter!(
        "switchboard_api_auth_failures_total",
        "Admin API requests refused for a missing or wrong token"
    );
}

/// A call reached the switch, from a trunk or an agent.
pub fn call_started(from: &'static str) {
    metrics::counter!("switchboard_calls_started_total", "from" => from).increment(1);
    metrics::gauge!("switchboard_calls_active").increment(1.0);
}

/// A call ended with `disposition` and `cause` (its record's).
pub fn call_ended(disposition: &str, cause: &str) {
    // A cause carries at most a class and a SIP code ("unanswered-480"): a bounded set.
    metrics::counter!(
        "switchboard_calls_ended_total",
        "disposition" => disposition.to_owned(),
        "cause" => cause.to_owned()
    )
    .increment(1);
    metrics::gauge!("switchboard_calls_active").decrement(1.0);
}

/// Sets the ACD's gauges from its snapshot.
pub fn acd_gauges(view: &View) {
    let mut by_state: std::collections::BTreeMap<&str, u32> = [
        "logged-out",
        "ready",
        "reserved",
        "on-call",
        "busy",
        "wrap-up",
        "paused",
    ]
    .into_iter()
    .map(|s| (s, 0))
    .collect();
    for agent in &view.agents {
        *by_state.entry(agent.state.as_str()).or_default() += 1;
    }
    for (state, n) in by_state {
        metrics::gauge!("switchboard_agents", "state" => state.to_owned()).set(f64::from(n));
    }
    for q in &view.queues {
        let queue = q.queue.clone();
        metrics::gauge!("switchboard_queue_waiting", "queue" => queue.clone())
            .set(f64::from(q.waiting));
        #[allow(clippy::cast_precision_loss, reason = "seconds of a wait")]
        metrics::gauge!("switchboard_queue_longest_wait_seconds", "queue" => queue.clone())
            .set(q.longest_wait_s as f64);
        if let Some(pct) = q.service_level_today_pct {
            metrics::gauge!("switchboard_queue_service_level_ratio", "queue" => queue.clone())
                .set(pct / 100.0);
        }
        for (outcome, n) in [
            ("offered", q.offered_today),
            ("answered", q.answered_today),
            ("abandoned", q.abandoned_today),
            ("short_abandoned", q.short_abandoned_today),
            ("overflowed", q.overflowed_today),
        ] {
            metrics::gauge!(
                "switchboard_queue_calls_today",
                "queue" => queue.clone(),
                "outcome" => outcome
            )
            .set(f64::from(n));
        }
    }
}

/// Copies the transports' counters (kept as atomics on the hot path) into the registry.
pub fn transport_counters(stats: &crate::sip::transport::TransportStats) {
    use std::sync::atomic::Ordering::Relaxed;
    for (reason, value) in [
        ("malformed", &stats.dropped_malformed),
        ("malformed_answered", &stats.rejected_malformed),
        ("overload", &stats.shed_overload),
        ("banned", &stats.dropped_banned),
        ("stranger_rate", &stats.dropped_rate),
        ("known_rate", &stats.dropped_known_rate),
        ("stranger_shed", &stats.shed_strangers),
        ("tcp_refused", &stats.tcp_refused),
        ("tcp_message_timeout", &stats.tcp_message_timeouts),
    ] {
        metrics::counter!("switchboard_sip_dropped_total", "reason" => reason)
            .absolute(value.load(Relaxed));
    }
}
