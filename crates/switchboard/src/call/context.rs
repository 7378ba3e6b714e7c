//! The state every call has, whatever route it takes: its channels to the SIP core and its
//! media worker, the caller's leg, the DTMF merger, and the handling of events that mean the
//! same in every phase (re-INVITEs, SIP INFO digits, media timeouts, recording failures).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ezk_sip_types::uri::NameAddr;
use switchboard_media::codec::CodecKind;
use switchboard_media::dtmf::merge::{Merger, MergerConfig};
use switchboard_media::dtmf::{DtmfEvent, info};
use switchboard_sip::ua::{LegEvent, LegId, OutboundCall};
use tokio::sync::{mpsc, oneshot};

use super::sdp_leg::SdpLeg;
use super::{CallCommand, CallSetup, Outcome};
use crate::config::{QueueConfig, RecordingConfig, TrunkConfig};
use crate::media::{MediaEngine, MediaEvent, MediaLegId, MediaSession, Negotiation, Role};
use crate::sip::core::{self, CoreInput};

/// Capacity of a call's media event channel.
const MEDIA_QUEUE: usize = 64;
/// Capacity of the channel outbound legs report on.
const OUTBOUND_QUEUE: usize = 32;

/// What calls share: the media engine and the parts of the configuration they act on.
#[derive(Debug)]
pub struct Services {
    /// The media engine.
    pub media: Arc<MediaEngine>,
    /// Codec preferences.
    pub negotiation: Negotiation,
    /// `[recording]`.
    pub recording: RecordingConfig,
    /// Queues by name.
    pub queues: HashMap<String, QueueConfig>,
    /// Agents' extensions with their skills (languages).
    pub agent_skills: HashMap<String, Vec<String>>,
    /// Trunks by name.
    pub trunks: HashMap<String, TrunkConfig>,
    /// The dialplans in force (swapped by reloads).
    pub dialplans: Arc<crate::dialplans::DialplanStore>,
    /// Seed for SDP session ids.
    pub seed: u64,
    /// Detect in-band DTMF while the dialplan waits for digits (`[media] inband_dtmf`).
    pub inband_dtmf: bool,
    /// The client for the dialplan's `http` verb.
    pub http: super::http::HttpClient,
}

/// What a phase of a call sees, after the common handling.
#[derive(Debug)]
pub(crate) enum Event {
    /// A key press (merged from RFC 4733, in-band and SIP INFO).
    Digit(DtmfEvent),
    /// A leg event the phase must act on (ringing, answered, hangup…).
    Leg(LegEvent),
    /// A media event the phase must act on (playback done, voicemail done).
    Media(MediaEvent),
    /// A leg sent no RTP for the configured time: the call ends.
    MediaTimeout,
    /// The phase's deadline passed.
    Deadline,
}

/// A call in progress.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) services: Arc<Services>,
    core: mpsc::Sender<CoreInput>,
    pub(crate) call_id: String,
    pub(crate) from: Option<NameAddr>,
    pub(crate) max_forwards: u8,
    inbound_rx: mpsc::Receiver<LegEvent>,
    out_tx: mpsc::Sender<LegEvent>,
    out_rx: mpsc::Receiver<LegEvent>,
    pub(crate) media: MediaSession,
    media_rx: mpsc::Receiver<MediaEvent>,
    /// The caller's leg.
    pub(crate) caller: SdpLeg,
    /// The caller's offer, until answered (None: late offer).
    pub(crate) caller_offer: Option<Bytes>,
    /// The inbound leg got its final response.
    pub(crate) answered: bool,
    /// Callee legs with media, by SIP leg.
    pub(crate) callees: HashMap<LegId, SdpLeg>,
    /// Media legs by SIP leg, to route media events.
    pub(crate) media_of: HashMap<MediaLegId, LegId>,
    dtmf: Merger,
    /// The caller has gone (BYE/CANCEL seen): nothing more is sent to the inbound leg.
    pub(crate) caller_gone: bool,
    pub(crate) started: Instant,
}

impl Call {
    pub(crate) async fn new(
        setup: &CallSetup,
        services: Arc<Services>,
        core: mpsc::Sender<CoreInput>,
        inbound_rx: mpsc::Receiver<LegEvent>,
    ) -> std::io::Result<Call> {
        let (media_tx, media_rx) = mpsc::channel(MEDIA_QUEUE);
        let media = services.media.new_session(media_tx).await?;
        let local = media.add_leg(Role::Caller).await?;
        let (out_tx, out_rx) = mpsc::channel(OUTBOUND_QUEUE);
        let session_id = services.seed ^ local.leg.0.wrapping_mul(0x9E37_79B9);
        let mut media_of = HashMap::new();
        media_of.insert(local.leg, setup.inbound);
        Ok(Call {
            caller: SdpLeg::new(setup.inbound, local, session_id),
            services,
            core,
            call_id: setup.call_id.clone(),
            from: setup.from.clone(),
            max_forwards: setup.max_forwards,
            inbound_rx,
            out_tx,
            out_rx,
            media,
            media_rx,
            caller_offer: setup.offer.clone(),
            answered: false,
            callees: HashMap::new(),
            media_of,
            dtmf: Merger::new(MergerConfig::default()),
            caller_gone: false,
            started: Instant::now(),
        })
    }

    /// Sends a command to the SIP core.
    pub(crate) async fn send(&self, command: CallCommand) {
        if self.core.send(CoreInput::Call(command)).await.is_err() {
            tracing::warn!("SIP core gone; call abandoned");
        }
    }

    /// Places an outbound leg with `sdp` as its offer; its events arrive through [`Call::next`].
    pub(crate) async fn invite(&self, mut call: OutboundCall, sdp: Bytes) -> Option<LegId> {
        call.sdp = Some(sdp);
        core::invite(&self.core, call, self.out_tx.clone()).await
    }

    /// The INVITEs that reach these agents' phones now.
    pub(crate) async fn lookup(&self, extensions: Vec<String>) -> Vec<(String, OutboundCall)> {
        let (reply, rx) = oneshot::channel();
        self.send(CallCommand::Lookup {
            extensions,
            from: self.from.clone(),
            max_forwards: self.max_forwards,
            reply,
        })
        .await;
        rx.await.unwrap_or_default()
    }

    /// The INVITE that sends a call out through `trunk` to `number` (None: no such trunk, or
    /// it has no `address`).
    pub(crate) fn trunk_call(&self, trunk: &str, number: &str) -> Option<OutboundCall> {
        use ezk_sip_types::host::HostPort;
        use ezk_sip_types::uri::SipUri;
        let address = self.services.trunks.get(trunk)?.address?;
        let uri = SipUri::new(HostPort::from(address)).user(number.into());
        let from = self.from.clone().unwrap_or_else(|| {
            NameAddr::uri(SipUri::new(HostPort::host_name("switchboard.invalid")))
        });
        Some(OutboundCall {
            dest: switchboard_sip::Peer {
                transport: switchboard_sip::Transport::Udp,
                addr: address,
            },
            request_uri: uri.clone(),
            from,
            to: NameAddr::uri(uri),
            route: Vec::new(),
            sdp: None,
            max_forwards: self.max_forwards,
        })
    }

    /// Answers the caller (200 OK with our SDP), negotiating its offer first if not done yet.
    /// `prefer` lists codecs to pick first (the callee's, to avoid transcoding).
    pub(crate) async fn answer_caller(&mut self, prefer: &[CodecKind]) -> Result<(), u16> {
        if self.answered {
            return Ok(());
        }
        let sdp = self.caller_sdp(prefer, None).await?;
        self.answered = true;
        self.send(CallCommand::Answer {
            leg: self.caller.sip,
            sdp: Some(sdp),
        })
        .await;
        Ok(())
    }

    /// Our SDP for the caller: the answer to its offer (made once, then repeated), or our
    /// offer when it sent none.
    pub(crate) async fn caller_sdp(
        &mut self,
        prefer: &[CodecKind],
        other: Option<CodecKind>,
    ) -> Result<Bytes, u16> {
        if let (Some(sdp), Some(_)) = (&self.caller.last_sdp, &self.caller.remote) {
            return Ok(sdp.clone());
        }
        let negotiation = self.services.negotiation.clone();
        match self.caller_offer.clone() {
            Some(offer) => {
                let sdp = self
                    .caller
                    .answer(&negotiation, &offer, prefer, other)
                    .map_err(|err| {
                        tracing::info!(%err, "caller's offer refused");
                        err.status
                    })?;
                self.push_remote_caller().await;
                Ok(sdp)
            }
            None => Ok(self.caller.offer(&negotiation, prefer)),
        }
    }

    async fn push_remote_caller(&self) {
        if let Some(remote) = self.caller.remote.clone() {
            let _ = self.media.set_remote(self.caller.local.leg, remote).await;
        }
    }

    /// Ends the caller's leg: BYE once answered, else the final status `code`.
    pub(crate) async fn end_caller(&mut self, code: u16) {
        if self.caller_gone {
            return;
        }
        self.caller_gone = true;
        let leg = self.caller.sip;
        if self.answered {
            self.send(CallCommand::Hangup { leg }).await;
        } else {
            self.answered = true;
            self.send(CallCommand::Reject { leg, code }).await;
        }
    }

    /// Ends a callee leg (CANCEL or BYE) and frees its media.
    pub(crate) async fn end_callee(&mut self, leg: LegId) {
        self.send(CallCommand::Hangup { leg }).await;
        self.drop_callee(leg).await;
    }

    /// Forgets a callee leg that ended and frees its media.
    pub(crate) async fn drop_callee(&mut self, leg: LegId) {
        if let Some(callee) = self.callees.remove(&leg) {
            // Several forks of one dial share one media leg: free it when the last goes.
            let shared = self
                .callees
                .values()
                .any(|c| c.local.leg == callee.local.leg);
            if !shared {
                self.media_of.remove(&callee.local.leg);
                let _ = self.media.remove_leg(callee.local.leg).await;
            }
        }
    }

    /// The next event for the current phase, handling what every phase handles the same way.
    /// `None` when the call is over for us (channels closed).
    pub(crate) async fn next(&mut self, deadline: Option<tokio::time::Instant>) -> Option<Event> {
        loop {
            let raw = tokio::select! {
                e = self.inbound_rx.recv() => Raw::Leg(e?),
                e = self.out_rx.recv() => Raw::Leg(e?),
                e = self.media_rx.recv() => Raw::Media(e?),
                () = sleep_until(deadline) => return Some(Event::Deadline),
            };
            if let Some(event) = self.common(raw).await {
                return Some(event);
            }
        }
    }

    async fn common(&mut self, raw: Raw) -> Option<Event> {
        match raw {
            Raw::Leg(LegEvent::Reinvite { leg, sdp }) => {
                self.on_reinvite(leg, sdp).await;
                None
            }
            Raw::Leg(LegEvent::Ack { leg, sdp }) => {
                self.on_ack_answer(leg, &sdp).await;
                None
            }
            Raw::Leg(LegEvent::Info {
                leg,
                content_type,
                body,
            }) => {
                if leg != self.caller.sip {
                    return None;
                }
                let digit = info::parse(content_type.as_deref().unwrap_or(""), &body).ok()?;
                let event: DtmfEvent = digit.into_event(Instant::now(), Duration::from_millis(100));
                self.dtmf.push(Instant::now(), event).map(Event::Digit)
            }
            Raw::Leg(LegEvent::Hangup { leg, cause }) if leg == self.caller.sip => {
                self.caller_gone = true;
                self.answered = true;
                Some(Event::Leg(LegEvent::Hangup { leg, cause }))
            }
            Raw::Leg(other) => Some(Event::Leg(other)),
            Raw::Media(MediaEvent::Dtmf { leg, event }) => {
                // Digits count from the caller only; an agent's key presses are not the IVR's.
                if self.media_of.get(&leg) != Some(&self.caller.sip) {
                    return None;
                }
                self.dtmf.push(Instant::now(), event).map(Event::Digit)
            }
            Raw::Media(MediaEvent::Timeout { leg, silent_for }) => {
                tracing::info!(leg = %leg, silent_s = silent_for.as_secs(), "no RTP from the leg: hanging up");
                Some(Event::MediaTimeout)
            }
            Raw::Media(MediaEvent::RecordingFailed { path, error }) => {
                tracing::error!(path = %path.display(), %error, "recording failed; the call goes on");
                None
            }
            Raw::Media(MediaEvent::LegSummary { leg, summary }) => {
                tracing::info!(
                    leg = %leg,
                    packets_in = summary.packets_in,
                    packets_out = summary.packets_out,
                    lost = summary.lost,
                    jitter_ms = summary.jitter_ms,
                    dropped = summary.dropped,
                    "leg media"
                );
                None
            }
            Raw::Media(other) => Some(Event::Media(other)),
        }
    }

    /// A re-INVITE is answered on the leg that sent it (hold, unhold, codec change): with an
    /// offer, our answer; without one, our offer (its answer comes in the ACK).
    async fn on_reinvite(&mut self, leg: LegId, sdp: Option<Bytes>) {
        let negotiation = self.services.negotiation.clone();
        let other_codec = |call: &Call, leg: LegId| -> Option<CodecKind> {
            if leg == call.caller.sip {
                call.callees.values().find_map(SdpLeg::codec)
            } else {
                call.caller.codec()
            }
        };
        let other = other_codec(self, leg);
        let Some(state) = self.sdp_leg_mut(leg) else {
            self.send(CallCommand::AnswerReinvite {
                leg,
                code: 481,
                sdp: None,
            })
            .await;
            return;
        };
        let current: Vec<CodecKind> = state.codec().into_iter().collect();
        let (code, answer) = match sdp {
            Some(offer) => match state.answer(&negotiation, &offer, &current, other) {
                Ok(answer) => (200, Some(answer)),
                Err(err) => {
                    tracing::info!(%err, "re-INVITE refused; media unchanged");
                    (err.status, None)
                }
            },
            None => (200, Some(state.offer(&negotiation, &current))),
        };
        let remote = (code == 200).then(|| state.remote.clone()).flatten();
        let media_leg = state.local.leg;
        if let Some(remote) = remote {
            tracing::info!(%leg, send = remote.send, recv = remote.recv, codec = %remote.codec, "re-INVITE answered");
            let _ = self.media.set_remote(media_leg, remote).await;
        }
        self.send(CallCommand::AnswerReinvite {
            leg,
            code,
            sdp: answer,
        })
        .await;
    }

    async fn on_ack_answer(&mut self, leg: LegId, sdp: &[u8]) {
        let negotiation = self.services.negotiation.clone();
        let other = if leg == self.caller.sip {
            self.callees.values().find_map(SdpLeg::codec)
        } else {
            self.caller.codec()
        };
        let Some(state) = self.sdp_leg_mut(leg) else {
            return;
        };
        match state.accept(&negotiation, sdp, other) {
            Ok(()) => {
                let (media_leg, remote) = (state.local.leg, state.remote.clone());
                if let Some(remote) = remote {
                    let _ = self.media.set_remote(media_leg, remote).await;
                }
            }
            // RFC 3261 §13.3.1.4 leaves us only BYE for an unusable answer in an ACK.
            Err(err) => {
                tracing::info!(%err, %leg, "the answer in the ACK is unusable: hanging up");
                if leg == self.caller.sip {
                    self.end_caller(488).await;
                } else {
                    self.end_callee(leg).await;
                }
            }
        }
    }

    fn sdp_leg_mut(&mut self, leg: LegId) -> Option<&mut SdpLeg> {
        if leg == self.caller.sip {
            Some(&mut self.caller)
        } else {
            self.callees.get_mut(&leg)
        }
    }

    /// Where this call's recording goes.
    pub(crate) fn recording_path(&self, callee: &str) -> Option<PathBuf> {
        let rec = &self.services.recording;
        rec.enabled.then(|| {
            let now = jiff::Zoned::now();
            let safe = |s: &str| -> String {
                s.chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "+-_.@".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect()
            };
            let caller = self
                .from
                .as_ref()
                .and_then(|f| switchboard_sip::uri_user(&f.uri))
                .unwrap_or_default();
            PathBuf::from(
                rec.path
                    .replace("{date}", &now.strftime("%Y-%m-%d").to_string())
                    .replace("{time}", &now.strftime("%H%M%S").to_string())
                    .replace("{call_id}", &safe(&self.call_id))
                    .replace("{caller}", &safe(&caller))
                    .replace("{callee}", &safe(callee)),
            )
        })
    }

    /// The call is over: every leg still up is ended, the media session closes (which
    /// finalises the recording), and one line says how it ended.
    pub(crate) async fn finish(mut self, outcome: &Outcome) {
        let code = match outcome {
            Outcome::Unanswered(code) => *code,
            _ => 480,
        };
        for leg in self.callees.keys().copied().collect::<Vec<_>>() {
            self.end_callee(leg).await;
        }
        self.end_caller(code).await;
        tracing::info!(
            cause = %outcome.cause(),
            duration_s = self.started.elapsed().as_secs(),
            "call ended"
        );
    }
}

enum Raw {
    Leg(LegEvent),
    Media(MediaEvent),
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A deadline `d` from now.
pub(crate) fn after(d: Duration) -> Option<tokio::time::Instant> {
    Some(tokio::time::Instant::now() + d)
}
