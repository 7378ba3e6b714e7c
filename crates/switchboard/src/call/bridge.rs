//! The talk phase: the caller and one callee hear each other through our media (relayed as is
//! when they share a codec, transcoded when not), the call is recorded in stereo (caller left,
//! callee right), and it ends when either side hangs up or a leg's media times out.

use switchboard_sip::ua::{LegEvent, LegId};

use super::context::{Call, Event};
use super::{CallCommand, Outcome};

/// Bridges the caller with `callee` (answered, media negotiated) until one side leaves. When
/// the callee leaves first, the caller is hung up too, unless `keep_caller` (a dialplan `dial`
/// goes on after the conversation).
pub(crate) async fn talk(
    call: &mut Call,
    callee: LegId,
    callee_name: &str,
    keep_caller: bool,
) -> Outcome {
    let Some(callee_media) = call.callees.get(&callee).map(|c| c.local.leg) else {
        return Outcome::Failed("callee without media".into());
    };
    let caller_media = call.caller.local.leg;
    let _ = call.media.stop_play(caller_media).await;
    // Key presses are the IVR's business; while talking, the tones are the agent's to hear.
    let _ = call.media.detect_inband(caller_media, false).await;
    let _ = call.media.bridge(caller_media, callee_media).await;
    if let Some(path) = call.recording_path(callee_name) {
        tracing::debug!(path = %path.display(), "recording the call");
        let _ = call
            .media
            .start_recording(caller_media, callee_media, path)
            .await;
    }
    // What an operator needs to see: whether this call costs a relay or a transcoding.
    let caller_remote = call.caller.remote.as_ref();
    let callee_remote = call.callees.get(&callee).and_then(|l| l.remote.as_ref());
    let name =
        |r: Option<&crate::media::RemoteMedia>| r.map_or("none", |r| r.codec.encoding_name());
    let media = match (caller_remote, callee_remote) {
        (Some(a), Some(b)) if a.relays_to(b) => "relayed",
        (Some(_), Some(_)) => "transcoded",
        _ => "one-way",
    };
    tracing::info!(
        %callee,
        caller_codec = name(caller_remote),
        callee_codec = name(callee_remote),
        media,
        "bridged"
    );
    loop {
        let Some(event) = call.next(None).await else {
            return Outcome::CallerHungUp;
        };
        match event {
            Event::Leg(LegEvent::Hangup { leg, cause }) if leg == call.caller.sip => {
                tracing::info!(cause = cause.as_str(), "caller left");
                call.end_callee(callee).await;
                return Outcome::CallerHungUp;
            }
            Event::Leg(LegEvent::Hangup { leg, cause }) if leg == callee => {
                tracing::info!(cause = cause.as_str(), "callee left");
                call.drop_callee(callee).await;
                if keep_caller {
                    let _ = call.media.unbridge().await;
                    let inband = call.services.inband_dtmf;
                    let _ = call.media.detect_inband(caller_media, inband).await;
                } else {
                    call.end_caller(480).await;
                }
                return Outcome::CalleeHungUp;
            }
            // A second fork answering late: not wanted.
            Event::Leg(LegEvent::Answered { leg, .. }) if leg != callee => {
                call.send(CallCommand::Hangup { leg }).await;
            }
            Event::MediaTimeout => return Outcome::MediaTimeout,
            other => tracing::trace!(?other, "not used while talking"),
        }
    }
}
