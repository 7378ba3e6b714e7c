//! A direct call to an agent's extension: ring every phone the agent has registered, relay
//! their progress (and early media) to the caller, answer the caller when one answers, talk.

use std::time::Duration;

use switchboard_media::codec::CodecKind;
use switchboard_sip::ua::OutboundCall;

use super::Outcome;
use super::bridge;
use super::context::Call;
use super::dial::{DialResult, dial};

/// How long the callee may ring before the caller hears 480 (Asterisk's Dial timeout).
const RING_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) async fn run(call: &mut Call, extension: &str, targets: Vec<OutboundCall>) -> Outcome {
    match dial(call, targets, RING_TIMEOUT, true).await {
        DialResult::Answered(leg) => {
            let prefer: Vec<CodecKind> = call
                .callees
                .get(&leg)
                .and_then(|c| c.codec())
                .into_iter()
                .collect();
            if let Err(code) = call.answer_caller(&prefer).await {
                call.end_callee(leg).await;
                return Outcome::Unanswered(code);
            }
            bridge::talk(call, leg, extension, false).await
        }
        DialResult::Failed(code) => Outcome::Unanswered(code),
        DialResult::NoAnswer => Outcome::Unanswered(480),
        DialResult::CallerGone => Outcome::CallerHungUp,
        DialResult::MediaTimeout => Outcome::MediaTimeout,
    }
}
