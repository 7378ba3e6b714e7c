//! The call task: the thin driver of one [`CallMachine`]. It alone owns the call's channels (its
//! legs' events from the SIP core, its media worker's events, the ACD's decisions, finished
//! HTTP requests) and the clock; it performs the machine's commands and feeds back what
//! happened, following the machine's drain rule.
//!
//! A media command that cannot be delivered (the worker stopped) is not dropped: the machine
//! hears [`Input::MediaFailed`] and ends the call. The record is written, and confirmed
//! durable, before the media session is released (which finalises the recording).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use switchboard_dialplan::interp::{HttpFailure, HttpResponse};
use switchboard_sip::ua::LegEvent;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;

use super::http::{HttpClient, HttpError};
use super::machine::{CallConfig, CallMachine, Command, Input, MediaCommand, ReqId};
use crate::dialplans::DialplanStore;
use crate::media::{MediaEngine, MediaEvent, MediaSession, PlaySource};
use crate::protocol::{AcdRequest, CallCommand, CallSetup, CoreInput};

/// Capacity of a call's media event channel.
const MEDIA_QUEUE: usize = 64;
/// Capacity of the channel the ACD answers on.
const ACD_QUEUE: usize = 64;
/// Capacity of the channel finished background work (HTTP) reports on.
const DONE_QUEUE: usize = 4;

/// What calls share.
#[derive(Debug)]
pub struct Services {
    /// The media engine.
    pub media: Arc<MediaEngine>,
    /// What the call machines need of the configuration.
    pub config: Arc<CallConfig>,
    /// The dialplans in force (swapped by reloads).
    pub dialplans: Arc<DialplanStore>,
    /// The client for the dialplan's `http` verb.
    pub http: HttpClient,
    /// The ACD task.
    pub acd: mpsc::Sender<AcdRequest>,
    /// The call records.
    pub records: crate::records::Records,
    /// The next call id (unique across restarts: it starts past the store's highest).
    pub call_ids: AtomicU64,
    /// The live calls' table.
    pub live: crate::calls::Updates,
    /// Set on SIGTERM: new calls are refused while those in progress end.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

/// Runs one call to its end.
pub async fn run(
    setup: CallSetup,
    services: Arc<Services>,
    core: mpsc::Sender<CoreInput>,
    (legs_tx, legs): (mpsc::Sender<LegEvent>, mpsc::Receiver<LegEvent>),
) {
    let span = tracing::info_span!(
        "call",
        call = setup.call.0,
        call_id = %setup.call_id,
        inbound = %setup.inbound,
        caller = %setup.caller,
    );
    async move {
        let (media_tx, media_rx) = mpsc::channel(MEDIA_QUEUE);
        let session = match services.media.new_session(media_tx).await {
            Ok(session) => Some(session),
            Err(err) => {
                tracing::error!(%err, "no media session for the call");
                None
            }
        };
        let (acd_tx, acd_rx) = mpsc::channel(ACD_QUEUE);
        let call = setup.call;
        let attached = services
            .acd
            .send(AcdRequest::Attach {
                call,
                events: acd_tx,
            })
            .await
            .is_ok();
        // The live table can end the call (an admin, the end of a drain).
        let (hangup_tx, hangup_rx) = mpsc::channel(2);
        let _ = services.live.send(crate::calls::Update::Attach {
            call: call.0,
            hangup: hangup_tx,
        });
        // Outbound legs report on the channel the caller's leg does: one queue for all of a
        // call's SIP events, in the order the core saw them.
        let out_tx = legs_tx;
        let machine = CallMachine::new(
            Instant::now(),
            jiff::Timestamp::now(),
            setup,
            services.config.clone(),
        );
        let mut driver = Driver {
            machine,
            services: services.clone(),
            core,
            session,
            out_tx,
            done: None,
            media_failed: false,
        };
        driver
            .run(Channels {
                legs: Some(legs),
                media: Some(media_rx),
                acd: Some(acd_rx),
                hangup: Some(hangup_rx),
            })
            .await;
        if attached {
            let _ = services.acd.send(AcdRequest::Detach { call }).await;
        }
        // However the call ended (a panicking machine included), it leaves the live table.
        let _ = services.live.send(crate::calls::Update::Ended(call.0));
        // Dropping the session closes it: the worker finalises the recording.
        drop(driver);
    }
    .instrument(span)
    .await;
}

struct Channels {
    legs: Option<mpsc::Receiver<LegEvent>>,
    media: Option<mpsc::Receiver<MediaEvent>>,
    acd: Option<mpsc::Receiver<switchboard_acd::Output>>,
    hangup: Option<mpsc::Receiver<Input>>,
}

struct Driver {
    machine: CallMachine,
    services: Arc<Services>,
    core: mpsc::Sender<CoreInput>,
    session: Option<MediaSession>,
    out_tx: mpsc::Sender<LegEvent>,
    /// Finished background work (HTTP requests), made at the first request: most calls
    /// never need it.
    done: Option<(mpsc::Sender<Input>, mpsc::Receiver<Input>)>,
    media_failed: bool,
}

/// What woke the driver.
enum Wake {
    Input(Input),
    Timer,
    /// A channel closed; nothing to feed.
    Closed,
}

impl Driver {
    async fn run(&mut self, mut ch: Channels) {
        loop {
            if self.drain().await {
                return;
            }
            let deadline = self.machine.poll_timeout();
            let done = self.done.as_mut().map(|(_, rx)| rx);
            let wake = tokio::select! {
                e = recv(&mut ch.legs) => e.map_or(Wake::Closed, |e| Wake::Input(Input::Leg(e))),
                e = recv(&mut ch.media) => e.map_or(Wake::Closed, |e| Wake::Input(Input::Media(e))),
                e = recv(&mut ch.acd) => e.map_or(Wake::Closed, |e| Wake::Input(Input::Acd(e))),
                e = recv(&mut ch.hangup) => e.map_or(Wake::Closed, Wake::Input),
                e = recv_ref(done) => e.map_or(Wake::Closed, Wake::Input),
                () = sleep_until(deadline) => Wake::Timer,
            };
            let now = Instant::now();
            match wake {
                Wake::Input(input) => self.machine.handle(now, input),
                Wake::Timer => self.machine.handle_timeout(now),
                Wake::Closed => {}
            }
        }
    }

    /// Performs every command the machine has; `true` once the call is over.
    async fn drain(&mut self) -> bool {
        while let Some(command) = self.machine.poll_command() {
            if self.perform(command).await {
                return true;
            }
        }
        false
    }

    async fn perform(&mut self, command: Command) -> bool {
        match command {
            Command::Sip(command) => self.sip(command).await,
            Command::Invite { req, call } => {
                let leg = crate::sip::core::invite(&self.core, *call, self.out_tx.clone()).await;
                self.feed(Input::Invited { req, leg });
            }
            Command::Lookup {
                req,
                extension,
                from,
                max_forwards,
            } => {
                let (reply, rx) = oneshot::channel();
                self.sip(CallCommand::Lookup {
                    extension,
                    from,
                    max_forwards,
                    reply,
                })
                .await;
                let targets = rx.await.unwrap_or_default();
                self.feed(Input::Contacts { req, targets });
            }
            Command::Media(command) => self.media(command).await,
            Command::Play {
                leg,
                id,
                files,
                rate,
            } => self.play(leg, id, files, rate).await,
            Command::PlayBeep { leg, id, rate } => {
                let beep = switchboard_media::prompt::Prompt::beep(rate)
                    .ok()
                    .map(Arc::new)
                    .into_iter()
                    .collect();
                self.play_loaded(leg, id, beep).await;
            }
            Command::Acd(input) => {
                if self
                    .services
                    .acd
                    .send(AcdRequest::Input(input))
                    .await
                    .is_err()
                {
                    tracing::error!("the ACD task is gone; queue and agent states are not kept");
                }
            }
            Command::Http {
                req,
                method,
                url,
                body,
                timeout,
            } => self.http(req, method.as_str(), url, body, timeout),
            Command::RecordStarted(record) => {
                let _ = self
                    .services
                    .live
                    .send(crate::calls::Update::Record(record.clone()));
                self.services.records.started(&record);
            }
            Command::RecordProgress(record) => {
                let _ = self
                    .services
                    .live
                    .send(crate::calls::Update::Record(record.clone()));
                self.services.records.progress(&record);
            }
            Command::RecordLeg(leg) => {
                let call = self.machine.call();
                self.services.records.leg(call, &leg);
            }
            Command::Finish(record) => {
                crate::metrics::call_ended(
                    record
                        .disposition
                        .map_or("unknown", crate::protocol::Disposition::as_str),
                    record.hangup_cause.as_deref().unwrap_or("unknown"),
                );
                self.services.records.finished(&record).await;
                return true;
            }
        }
        false
    }

    fn feed(&mut self, input: Input) {
        self.machine.handle(Instant::now(), input);
    }

    async fn sip(&self, command: CallCommand) {
        if self.core.send(CoreInput::Call(command)).await.is_err() {
            tracing::warn!("SIP core gone; the call cannot signal any more");
        }
    }

    async fn media(&mut self, command: MediaCommand) {
        let Some(session) = &self.session else {
            if let MediaCommand::AddLeg { req, .. } = command {
                self.feed(Input::MediaLeg {
                    req,
                    result: Err("no media session".into()),
                });
            }
            return;
        };
        let result = match command {
            MediaCommand::AddLeg { req, role } => {
                let result = session.add_leg(role).await.map_err(|e| e.to_string());
                self.feed(Input::MediaLeg { req, result });
                return;
            }
            MediaCommand::SetRemote { leg, remote } => session.set_remote(leg, remote).await,
            MediaCommand::Bridge { a, b } => session.bridge(a, b).await,
            MediaCommand::Unbridge => session.unbridge().await,
            MediaCommand::Moh { leg } => session.play(leg, 0, PlaySource::MusicOnHold).await,
            MediaCommand::Tone { leg, tone } => session.play(leg, 0, PlaySource::Tone(tone)).await,
            MediaCommand::StopPlay { leg } => session.stop_play(leg).await,
            MediaCommand::DetectInband { leg, on } => session.detect_inband(leg, on).await,
            MediaCommand::SendDigits { leg, digits } => session.send_digits(leg, digits).await,
            MediaCommand::StartRecording {
                caller,
                callee,
                path,
            } => session.start_recording(caller, callee, path).await,
            MediaCommand::RecordLeg { leg, path, max } => session.record_leg(leg, path, max).await,
            MediaCommand::StopRecordLeg { leg } => session.stop_record_leg(leg).await,
            MediaCommand::RemoveLeg { leg } => session.remove_leg(leg).await,
        };
        if let Err(err) = result
            && !std::mem::replace(&mut self.media_failed, true)
        {
            self.feed(Input::MediaFailed {
                error: err.to_string(),
            });
        }
    }

    async fn play(
        &mut self,
        leg: crate::media::MediaLegId,
        id: u64,
        files: Vec<std::path::PathBuf>,
        rate: u32,
    ) {
        // Reading and decoding a WAV the first time is blocking work: off the async threads.
        let cache = self.services.media.prompts().clone();
        let loaded = tokio::task::spawn_blocking(move || {
            files
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
        self.play_loaded(leg, id, prompts).await;
    }

    async fn play_loaded(
        &mut self,
        leg: crate::media::MediaLegId,
        id: u64,
        prompts: Vec<Arc<switchboard_media::prompt::Prompt>>,
    ) {
        let played = match (&self.session, prompts.is_empty()) {
            (Some(session), false) => session
                .play(leg, id, PlaySource::Prompts(prompts))
                .await
                .is_ok(),
            _ => false,
        };
        if !played {
            // Nothing to hear: the machine goes on as if it had been heard.
            self.feed(Input::Media(MediaEvent::PlaybackDone { leg, id }));
        }
    }

    fn http(
        &mut self,
        req: ReqId,
        method: &str,
        url: String,
        body: Option<String>,
        timeout: std::time::Duration,
    ) {
        let client = self.services.http.clone();
        let done = self
            .done
            .get_or_insert_with(|| mpsc::channel(DONE_QUEUE))
            .0
            .clone();
        let method = method.to_owned();
        tokio::spawn(async move {
            let result = match client.request(&method, &url, body, timeout).await {
                Ok(answer) => Ok(HttpResponse {
                    status: answer.status,
                    body: answer.body,
                }),
                Err(HttpError::Timeout(_)) => Err(HttpFailure::Timeout),
                Err(HttpError::Transport(e)) => Err(HttpFailure::Connect(e)),
                Err(other) => Err(HttpFailure::Other(other.to_string())),
            };
            // The call may have ended meanwhile: then nobody listens.
            let _ = done.send(Input::Http { req, result }).await;
        });
    }
}

async fn recv<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(r) => {
            let got = r.recv().await;
            if got.is_none() {
                // Closed for good: stop listening to it.
                *rx = None;
            }
            got
        }
        None => std::future::pending().await,
    }
}

async fn recv_ref<T>(rx: Option<&mut mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
