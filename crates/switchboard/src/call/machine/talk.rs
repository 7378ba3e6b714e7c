//! The talk phase: the caller and one callee hear each other through our media (relayed as is
//! when they share a codec, transcoded when not), the conversation is recorded in stereo
//! (caller left, callee right), and it ends when either side hangs up or a leg's media times
//! out.

use std::time::Instant;

use switchboard_sip::ua::LegEvent;

use super::MediaCommand;
use super::cx::{Cx, Event};
use crate::media::MediaLegId;
use crate::protocol::{CallCommand, LegId};

/// How a conversation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TalkEnd {
    /// The caller hung up (the callee has been hung up).
    CallerLeft,
    /// The callee hung up (the caller is still up: its owner decides).
    CalleeLeft,
    /// A leg's media timed out.
    MediaTimeout,
}

/// A conversation in progress.
#[derive(Debug)]
pub(crate) struct Talk {
    /// The callee's SIP leg.
    pub(crate) callee: LegId,
    /// The callee's media leg.
    pub(crate) media: MediaLegId,
    /// Who the caller talks to (agent, extension, number), for the record and the recording.
    pub(crate) name: String,
    /// When they were connected.
    pub(crate) since: Instant,
    /// Its length is in the record already.
    counted: bool,
}

impl Talk {
    /// Connects the caller with `callee` (answered, its media negotiated on `media`): stops
    /// what the caller hears, bridges, starts the recording.
    pub(crate) fn connect(
        cx: &mut Cx,
        now: Instant,
        callee: LegId,
        media: MediaLegId,
        name: &str,
    ) -> Talk {
        if let Some(caller) = cx.caller_media() {
            cx.media(MediaCommand::StopPlay { leg: caller });
            // Key presses are the IVR's business; while talking, the tones are the agent's.
            cx.media(MediaCommand::DetectInband {
                leg: caller,
                on: false,
            });
            cx.media(MediaCommand::Bridge {
                a: caller,
                b: media,
            });
            if let Some(path) = cx.recording_path(now, name) {
                tracing::debug!(path = %path.display(), "recording the call");
                cx.rec.recording = Some(path.clone());
                cx.media(MediaCommand::StartRecording {
                    caller,
                    callee: media,
                    path,
                });
            }
        }
        // What an operator needs to see: whether this call costs a relay or a transcoding.
        let caller_remote = cx.caller.media.as_ref().and_then(|m| m.remote.as_ref());
        let callee_remote = cx.callees.get(&callee).and_then(|c| c.sdp.remote.as_ref());
        let codec =
            |r: Option<&crate::media::RemoteMedia>| r.map_or("none", |r| r.codec.encoding_name());
        let kind = match (caller_remote, callee_remote) {
            (Some(a), Some(b)) if a.relays_to(b) => "relayed",
            (Some(_), Some(_)) => "transcoded",
            _ => "one-way",
        };
        tracing::info!(
            %callee,
            caller_codec = codec(caller_remote),
            callee_codec = codec(callee_remote),
            media = kind,
            "bridged"
        );
        cx.bridged_ever = true;
        cx.overflowed = false;
        if cx.rec.answered.is_none() {
            cx.rec.answered = Some(now);
        }
        cx.record_connected_leg(callee);
        cx.rec.agent = Some(name.to_owned());
        cx.progress();
        Talk {
            callee,
            media,
            name: name.to_owned(),
            since: now,
            counted: false,
        }
    }

    /// Takes an event of the conversation; `Some` when it is over.
    pub(crate) fn on_event(&mut self, cx: &mut Cx, now: Instant, event: &Event) -> Option<TalkEnd> {
        match event {
            Event::CallerLeft(cause) => {
                tracing::info!(cause = cause.as_str(), "caller left");
                cx.end_callee(now, self.callee);
                self.count(cx, now);
                Some(TalkEnd::CallerLeft)
            }
            Event::Leg(LegEvent::Hangup { leg, cause }) if *leg == self.callee => {
                tracing::info!(cause = cause.as_str(), "callee left");
                cx.drop_callee(now, *leg, cause.as_str(), None);
                self.count(cx, now);
                Some(TalkEnd::CalleeLeft)
            }
            // A fork answering late (its 200 crossed our CANCEL): not wanted.
            Event::Leg(LegEvent::Answered { leg, .. }) if *leg != self.callee => {
                cx.sip(CallCommand::Hangup { leg: *leg });
                None
            }
            Event::MediaTimeout => {
                self.count(cx, now);
                Some(TalkEnd::MediaTimeout)
            }
            _ => None,
        }
    }

    /// The caller stays (a dialplan `dial` goes on after the conversation): the bridge is
    /// undone and the callee's media freed.
    pub(crate) fn unbridge(&self, cx: &mut Cx) {
        cx.media(MediaCommand::Unbridge);
        cx.media(MediaCommand::RemoveLeg { leg: self.media });
        if let Some(caller) = cx.caller_media() {
            let on = cx.cfg.inband_dtmf;
            cx.media(MediaCommand::DetectInband { leg: caller, on });
        }
    }

    /// Adds this conversation's length to the call's talk time (once).
    pub(crate) fn count(&mut self, cx: &mut Cx, now: Instant) {
        if std::mem::replace(&mut self.counted, true) {
            return;
        }
        let talk = now.saturating_duration_since(self.since);
        cx.rec.talk = Some(cx.rec.talk.unwrap_or_default() + talk);
    }
}
