//! `enqueue` until the ACD lands: the caller hears music on hold while every registered member
//! of the queue rings at once (Asterisk's `ringall`); the first to answer is bridged. Nobody
//! answering within the queue's ring timeout starts a new round after a short pause, until the
//! caller has waited `max_wait`; a queue with no member registered overflows at once.

use std::time::Duration;

use switchboard_dialplan::interp::{EnqueueOutcome, OverflowReason};
use tokio::time::Instant;

use super::Outcome;
use super::bridge;
use super::context::{Call, Event, after};
use super::dial::{DialResult, dial};
use crate::media::PlaySource;

/// Between two rounds of ringing.
const RETRY_PAUSE: Duration = Duration::from_secs(3);

/// Runs the queue for the caller. `Err` when the call ended (the caller hung up, or talked to
/// an agent and the agent hung up — then the conversation is the call's end).
pub(crate) async fn enqueue(
    call: &mut Call,
    name: &str,
    skills: &[String],
    max_wait: Option<Duration>,
) -> Result<EnqueueOutcome, Outcome> {
    if let Err(code) = call.answer_caller(&[]).await {
        return Err(Outcome::Unanswered(code));
    }
    let members = members(call, name, skills);
    tracing::info!(queue = name, members = members.len(), "caller queued");
    let leg = call.caller.local.leg;
    let _ = call.media.play(leg, 0, PlaySource::MusicOnHold).await;
    let ring = call
        .services
        .queues
        .get(name)
        .map_or(Duration::from_secs(20), |q| {
            Duration::from_secs(u64::from(q.ring_timeout_s))
        });
    let until = max_wait.map(|d| Instant::now() + d);
    loop {
        let targets: Vec<_> = call
            .lookup(members.clone())
            .await
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        if targets.is_empty() {
            let _ = call.media.stop_play(leg).await;
            tracing::info!(
                queue = name,
                "no member of the queue is registered: overflow"
            );
            return Ok(EnqueueOutcome::Overflow(OverflowReason::NoAgents));
        }
        let left = until.map_or(ring, |u| {
            u.saturating_duration_since(Instant::now()).min(ring)
        });
        match dial(call, targets, left, false).await {
            DialResult::Answered(callee) => {
                let agent = call
                    .callees
                    .get(&callee)
                    .map(|c| c.sip.to_string())
                    .unwrap_or_default();
                tracing::info!(queue = name, "agent answered");
                let outcome = bridge::talk(call, callee, &format!("{name}-{agent}"), false).await;
                return match outcome {
                    Outcome::CalleeHungUp => Ok(EnqueueOutcome::BridgedAndEnded),
                    other => Err(other),
                };
            }
            DialResult::CallerGone => return Err(Outcome::CallerHungUp),
            DialResult::MediaTimeout => return Err(Outcome::MediaTimeout),
            DialResult::Failed(_) | DialResult::NoAnswer => {}
        }
        if until.is_some_and(|u| Instant::now() + RETRY_PAUSE >= u) {
            let _ = call.media.stop_play(leg).await;
            tracing::info!(queue = name, "caller waited the queue's maximum: overflow");
            return Ok(EnqueueOutcome::Overflow(OverflowReason::MaxWait));
        }
        // Keep listening to the caller during the pause (a hang-up ends the wait).
        let pause = after(RETRY_PAUSE);
        loop {
            match call.next(pause).await {
                Some(Event::Deadline) => break,
                Some(Event::Leg(switchboard_sip::ua::LegEvent::Hangup { leg: l, .. }))
                    if l == call.caller.sip =>
                {
                    return Err(Outcome::CallerHungUp);
                }
                Some(Event::MediaTimeout) => return Err(Outcome::MediaTimeout),
                None => return Err(Outcome::CallerHungUp),
                Some(_) => {}
            }
        }
    }
}

/// The queue's members: its listed agents, else every agent with all its skills; and of those,
/// the ones with the skills the dialplan asks for (the caller's language).
fn members(call: &Call, name: &str, skills: &[String]) -> Vec<String> {
    let services = &call.services;
    let Some(queue) = services.queues.get(name) else {
        return Vec::new();
    };
    let has = |ext: &String, needed: &[String]| {
        services.agent_skills.get(ext).is_some_and(|s| {
            needed
                .iter()
                .all(|n| s.iter().any(|k| k.eq_ignore_ascii_case(n)))
        })
    };
    let mut members: Vec<String> = if queue.agents.is_empty() {
        services
            .agent_skills
            .keys()
            .filter(|e| has(e, &queue.skills))
            .cloned()
            .collect()
    } else {
        queue.agents.clone()
    };
    members.retain(|e| has(e, skills));
    members.sort();
    members
}
