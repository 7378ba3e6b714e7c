//! A dialplan call: the thin driver of `switchboard_dialplan::interp`. The interpreter decides
//! (menus, branches, languages); this executes its commands against the call's SIP legs and
//! media and feeds back what happened — prompts done, key presses, timeouts, dial and queue
//! outcomes, HTTP answers, recordings.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use switchboard_dialplan::DialplanSet;
use switchboard_dialplan::interp::{
    CallFacts, Command, DialOutcome, DialTarget, Event as DpEvent, HttpFailure, HttpResponse,
    Interpreter,
};
use switchboard_sip::ua::LegEvent;

use super::Outcome;
use super::bridge;
use super::context::{Call, Event, after};
use super::dial::{DialResult, dial};
use super::queue;
use crate::media::{MediaEvent, PlaySource, ToneKind, pcm_rate};

/// A dialplan call about to start: the set it runs on (kept for the whole call, whatever
/// reloads happen meanwhile) and the call's facts.
#[derive(Debug)]
pub struct Start {
    pub(crate) set: Arc<DialplanSet>,
    pub(crate) facts: CallFacts,
    pub(crate) sounds: PathBuf,
    pub(crate) voicemail_dir: PathBuf,
}

impl Start {
    /// The dialled number, for the log line that announces the call.
    #[must_use]
    pub fn entry(&self) -> &str {
        &self.facts.dialled
    }
}

/// What the interpreter is told when its call leaves it.
enum Step {
    /// Feed this event and go on.
    Feed(DpEvent),
    /// The call is over.
    End(Outcome),
}

pub(crate) async fn run(call: &mut Call, start: Start) -> Outcome {
    let Start {
        set,
        facts,
        sounds,
        voicemail_dir,
    } = start;
    let mut interp = match Interpreter::new(set, facts) {
        Ok(interp) => interp,
        Err(err) => {
            tracing::info!(%err, "no dialplan entry (any more)");
            return Outcome::Unanswered(404);
        }
    };
    tracing::info!(plan = interp.plan_name(), "dialplan started");
    let _ = call
        .media
        .detect_inband(call.caller.local.leg, call.services.inband_dtmf)
        .await;
    let mut playback = 0u64;
    loop {
        let Some(command) = interp.poll(Timestamp::now()) else {
            let cause = interp.end_cause().unwrap_or("normal").to_owned();
            return Outcome::Dialplan(cause);
        };
        tracing::debug!(?command, "dialplan command");
        let step = match command {
            Command::Answer => match call.answer_caller(&[]).await {
                Ok(()) => Step::Feed(DpEvent::Answered),
                Err(code) => Step::End(Outcome::Unanswered(code)),
            },
            Command::Play { prompts, barge_in } => {
                playback += 1;
                let files: Vec<PathBuf> =
                    prompts.iter().map(|p| inside(&sounds, &p.path)).collect();
                play(call, &files, barge_in, playback).await
            }
            Command::CollectDigits { timeout } | Command::Wait(timeout) => {
                wait_input(call, timeout).await
            }
            Command::Enqueue {
                queue,
                skills,
                max_wait,
                ..
            } => match queue::enqueue(call, &queue, &skills, max_wait).await {
                Ok(outcome) => Step::Feed(DpEvent::EnqueueResult(outcome)),
                Err(outcome) => Step::End(outcome),
            },
            Command::Dial {
                target,
                ring_timeout,
            } => dial_target(call, target, ring_timeout).await,
            Command::Record {
                path,
                max_duration,
                beep,
                terminate_digits,
            } => {
                record(
                    call,
                    inside(&voicemail_dir, &path),
                    max_duration,
                    beep,
                    &terminate_digits,
                )
                .await
            }
            Command::Http {
                method,
                url,
                body,
                timeout,
            } => http(call, method.as_str(), &url, body, timeout).await,
            Command::Log { message } => {
                tracing::info!(plan = interp.plan_name(), "{message}");
                continue;
            }
            Command::Hangup { cause } => {
                tracing::info!(%cause, "dialplan hangs up");
                call.end_caller(cause_status(&cause)).await;
                return Outcome::Dialplan(cause);
            }
        };
        match step {
            Step::Feed(event) => interp.handle(Timestamp::now(), event),
            Step::End(outcome) => {
                interp.handle(Timestamp::now(), DpEvent::Hangup);
                return outcome;
            }
        }
    }
}

/// `relative` under `base`, whatever variables brought into it.
///
/// The interpreter hands over paths with its variables expanded, and some of those come from
/// outside: `voicemail "box"` records to `voicemail/box/${call_id}.wav`, and the Call-ID is
/// the caller's to choose (RFC 3261 §25.1 allows `/` and `.` in it), as are `${caller_id}` and
/// CRM answers. `dialplan check` refuses `..` in what the admin wrote, but a Call-ID of
/// `../../../x` would still have written the voicemail outside its folder (and `play` of such a
/// name would read any WAV, another caller's recording included). So only the plain names of
/// the path are kept: `..`, `.` and a root are dropped, and the file stays under `base`.
fn inside(base: &Path, relative: &str) -> PathBuf {
    let mut path = base.to_path_buf();
    let mut dropped = false;
    for part in Path::new(relative).components() {
        match part {
            Component::Normal(name) => path.push(name),
            _ => dropped = true,
        }
    }
    if dropped {
        // Not the path itself: what its variables hold may be personal data (a number).
        tracing::warn!(base = %base.display(), "a path left its folder; kept inside");
    }
    path
}

/// The final status for a dialplan `hangup` before the call was answered.
fn cause_status(cause: &str) -> u16 {
    match cause {
        "busy" => 486,
        "rejected" | "declined" => 603,
        "not-found" => 404,
        "congestion" | "failure" => 503,
        _ => 480,
    }
}

/// Plays prompts to the caller; with `barge_in` the first digit cuts them and is fed.
async fn play(call: &mut Call, files: &[PathBuf], barge_in: bool, id: u64) -> Step {
    if let Err(code) = call.answer_caller(&[]).await {
        return Step::End(Outcome::Unanswered(code));
    }
    let rate = call.caller.remote.as_ref().map_or(8000, pcm_rate);
    // Reading and decoding a WAV the first time is blocking work: off the async threads.
    let cache = call.services.media.prompts().clone();
    let wanted = files.to_vec();
    let loaded = tokio::task::spawn_blocking(move || {
        wanted
            .iter()
            .map(|file| cache.get(file, rate))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut prompts = Vec::with_capacity(loaded.len());
    for result in loaded {
        match result {
            Ok(p) => prompts.push(p),
            // `dialplan check` makes this rare (a file deleted since); the caller hears the rest.
            Err(err) => tracing::error!(%err, "prompt not played"),
        }
    }
    if prompts.is_empty() {
        return Step::Feed(DpEvent::PlaybackDone);
    }
    let leg = call.caller.local.leg;
    let _ = call.media.play(leg, id, PlaySource::Prompts(prompts)).await;
    loop {
        let Some(event) = call.next(None).await else {
            return Step::End(Outcome::CallerHungUp);
        };
        match event {
            Event::Media(MediaEvent::PlaybackDone { id: done, .. }) if done == id => {
                return Step::Feed(DpEvent::PlaybackDone);
            }
            Event::Digit(digit) if barge_in => {
                let _ = call.media.stop_play(leg).await;
                return Step::Feed(DpEvent::Digit(digit.digit.as_char()));
            }
            other => {
                if let Some(end) = caller_left(&other) {
                    return Step::End(end);
                }
            }
        }
    }
}

/// Waits for a digit or `timeout` (a `CollectDigits` or a `Wait`: the interpreter tells them
/// apart; a digit during a `Wait` is its type-ahead).
async fn wait_input(call: &mut Call, timeout: Duration) -> Step {
    let deadline = after(timeout);
    loop {
        let Some(event) = call.next(deadline).await else {
            return Step::End(Outcome::CallerHungUp);
        };
        match event {
            Event::Digit(digit) => return Step::Feed(DpEvent::Digit(digit.digit.as_char())),
            Event::Deadline => return Step::Feed(DpEvent::Timeout),
            other => {
                if let Some(end) = caller_left(&other) {
                    return Step::End(end);
                }
            }
        }
    }
}

/// The events that end the call for the interpreter in any wait.
fn caller_left(event: &Event) -> Option<Outcome> {
    match event {
        Event::Leg(LegEvent::Hangup { .. }) => Some(Outcome::CallerHungUp),
        Event::MediaTimeout => Some(Outcome::MediaTimeout),
        _ => None,
    }
}

async fn dial_target(call: &mut Call, target: DialTarget, ring_timeout: Duration) -> Step {
    if let Err(code) = call.answer_caller(&[]).await {
        return Step::End(Outcome::Unanswered(code));
    }
    let (name, targets) = match &target {
        DialTarget::Agent(ext) | DialTarget::Extension(ext) => (
            ext.clone(),
            call.lookup(vec![ext.clone()])
                .await
                .into_iter()
                .map(|(_, t)| t)
                .collect::<Vec<_>>(),
        ),
        DialTarget::Trunk { trunk, number } => (
            number.clone(),
            call.trunk_call(trunk, number).into_iter().collect(),
        ),
    };
    if targets.is_empty() {
        return Step::Feed(DpEvent::DialResult(DialOutcome::Unavailable));
    }
    let leg = call.caller.local.leg;
    let _ = call
        .media
        .play(leg, 0, PlaySource::Tone(ToneKind::Ringback))
        .await;
    let result = dial(call, targets, ring_timeout, false).await;
    let _ = call.media.stop_play(leg).await;
    let outcome = match result {
        DialResult::Answered(callee) => {
            return match bridge::talk(call, callee, &name, false).await {
                Outcome::CalleeHungUp => {
                    Step::Feed(DpEvent::DialResult(DialOutcome::AnsweredAndEnded))
                }
                other => Step::End(other),
            };
        }
        DialResult::Failed(486 | 600) => DialOutcome::Busy,
        DialResult::Failed(404 | 480) => DialOutcome::Unavailable,
        DialResult::Failed(code) => DialOutcome::Failed(code),
        DialResult::NoAnswer => DialOutcome::NoAnswer,
        DialResult::CallerGone => return Step::End(Outcome::CallerHungUp),
        DialResult::MediaTimeout => return Step::End(Outcome::MediaTimeout),
    };
    Step::Feed(DpEvent::DialResult(outcome))
}

/// Records the caller (voicemail) until `max`, a terminating key, or the caller hanging up
/// (the message is kept: most callers end a voicemail by hanging up).
async fn record(
    call: &mut Call,
    path: PathBuf,
    max: Duration,
    beep: bool,
    terminate: &str,
) -> Step {
    if let Err(code) = call.answer_caller(&[]).await {
        return Step::End(Outcome::Unanswered(code));
    }
    let leg = call.caller.local.leg;
    if beep {
        let rate = call.caller.remote.as_ref().map_or(8000, pcm_rate);
        let beep = switchboard_media::prompt::Prompt::beep(rate)
            .ok()
            .map(Arc::new);
        let _ = call
            .media
            .play(
                leg,
                u64::MAX,
                PlaySource::Prompts(beep.into_iter().collect()),
            )
            .await;
        loop {
            match call.next(None).await {
                Some(Event::Media(MediaEvent::PlaybackDone { id: u64::MAX, .. })) => break,
                Some(other) => {
                    if let Some(end) = caller_left(&other) {
                        return Step::End(end);
                    }
                }
                None => return Step::End(Outcome::CallerHungUp),
            }
        }
    }
    tracing::info!(path = %path.display(), "recording the caller");
    let _ = call.media.record_leg(leg, path, max).await;
    let mut terminated_by = None;
    loop {
        let Some(event) = call.next(None).await else {
            return Step::End(Outcome::CallerHungUp);
        };
        match event {
            Event::Media(MediaEvent::RecordDone { duration, .. }) => {
                return Step::Feed(DpEvent::RecordDone {
                    duration,
                    terminated_by,
                });
            }
            Event::Digit(d) if terminate.contains(d.digit.as_char()) && terminated_by.is_none() => {
                terminated_by = Some(d.digit.as_char());
                let _ = call.media.stop_record_leg(leg).await;
            }
            other => {
                if let Some(end) = caller_left(&other) {
                    // The media session finalises the file when the call ends.
                    return Step::End(end);
                }
            }
        }
    }
}

async fn http(
    call: &mut Call,
    method: &str,
    url: &str,
    body: Option<String>,
    timeout: Duration,
) -> Step {
    let client = call.services.http.clone();
    let (method, url_owned) = (method.to_owned(), url.to_owned());
    let mut request =
        tokio::spawn(async move { client.request(&method, &url_owned, body, timeout).await });
    loop {
        // Short waits keep the call's events flowing (a caller hanging up during the lookup)
        // without ever cancelling the handling of one half-way.
        if request.is_finished() {
            let result = match (&mut request).await {
                Ok(Ok(answer)) => Ok(HttpResponse {
                    status: answer.status,
                    body: answer.body,
                }),
                Ok(Err(super::http::HttpError::Timeout(_))) => Err(HttpFailure::Timeout),
                Ok(Err(super::http::HttpError::Transport(e))) => Err(HttpFailure::Connect(e)),
                Ok(Err(other)) => Err(HttpFailure::Other(other.to_string())),
                Err(join) => Err(HttpFailure::Other(join.to_string())),
            };
            if let Err(err) = &result {
                // The query carries the caller's number (personal data): log where, not what.
                let endpoint = url.split(['?', '#']).next().unwrap_or_default();
                tracing::info!(%err, url = endpoint, "http request failed; the dialplan takes its fallback");
            }
            return Step::Feed(DpEvent::HttpResult(result));
        }
        match call.next(after(Duration::from_millis(20))).await {
            None => {
                request.abort();
                return Step::End(Outcome::CallerHungUp);
            }
            Some(other) => {
                if let Some(end) = caller_left(&other) {
                    request.abort();
                    return Step::End(end);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::inside;
    use std::path::Path;

    #[test]
    fn paths_from_variables_stay_inside_their_folder() {
        let base = Path::new("/srv/voicemail");
        let at = |relative: &str| inside(base, relative);
        assert_eq!(
            at("voicemail/box/1-2@host.wav"),
            base.join("voicemail/box/1-2@host.wav")
        );
        assert_eq!(
            at("voicemail/box/../../../escape-1@h.wav"),
            base.join("voicemail/box/escape-1@h.wav")
        );
        assert_eq!(at("/etc/cron.d/x.wav"), base.join("etc/cron.d/x.wav"));
        assert_eq!(at("./fr/./welcome.wav"), base.join("fr/welcome.wav"));
        for hostile in ["..", "../..", "/", "a/../../b/../../../c"] {
            assert!(at(hostile).starts_with(base), "{hostile}");
        }
    }
}
