//! The media drivers: every call's audio flows through here.
//!
//! A fixed set of **media workers** (one OS thread each, one per core by default) each runs its
//! own `mio` event loop over the RTP/RTCP sockets of the sessions it owns, and one 20 ms tick
//! for everything that is timed: playout of prompts, music on hold and tones, transcoding,
//! recording, in-band DTMF detection, RTCP reports and media timeouts. A session (one call's
//! media) lives on one worker for its whole life, so relaying a packet from one leg to the other
//! never crosses a thread, takes no lock and allocates nothing.
//!
//! Call tasks talk to a worker through a [`MediaSession`]: commands go down a bounded channel
//! (the worker is woken by a `mio::Waker`), events come back on the call's own bounded channel.
//! The protocol and signal-processing cores (RTP parsing, jitter buffer, codecs, DTMF, recorder)
//! are the sans-IO modules of `switchboard-media`; this module only owns sockets, threads and
//! the clock.

mod leg;
mod negotiate;
mod ports;
mod prompts;
mod record;
mod session;
mod stats;
mod worker;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use switchboard_media::codec::{CodecKind, CodecParams};
use switchboard_media::dtmf::{Digit, DtmfEvent};
use switchboard_media::prompt::Prompt;
use tokio::sync::mpsc;

use crate::config::{MediaConfig, RecordingConfig};

pub use negotiate::{Negotiation, NegotiationError, OfferSent, pcm_rate};
pub use ports::PortPool;
pub use prompts::PromptCache;
pub use stats::MediaStats;

/// Capacity of each worker's command channel.
const WORKER_QUEUE: usize = 4096;

/// Identifies one leg's media for as long as the engine runs (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaLegId(pub u64);

impl std::fmt::Display for MediaLegId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "media-{}", self.0)
    }
}

/// Identifies one call's media session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub u64);

/// Which party a leg is, for the recording's channels and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The caller (recorded on the left channel).
    Caller,
    /// The agent or other callee (recorded on the right channel).
    Callee,
}

/// What the remote end of a leg agreed to, from the SDP offer/answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteMedia {
    /// Where to send RTP until the remote's real address is learnt (symmetric RTP).
    pub rtp: SocketAddr,
    /// Where to send RTCP (a=rtcp, else the RTP port + 1); the RTP address with rtcp-mux.
    pub rtcp: SocketAddr,
    /// RTP and RTCP share the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// The codec both sides use on this leg.
    pub codec: CodecKind,
    /// Its payload type on this leg.
    pub payload_type: u8,
    /// Its fmtp parameters.
    pub params: CodecParams,
    /// The telephone-event payload type, when negotiated.
    pub telephone_event: Option<u8>,
    /// We may send to the remote (it did not say sendonly/inactive).
    pub send: bool,
    /// The remote will send to us (it did not say recvonly/inactive).
    pub recv: bool,
    /// The IP this leg's SIP signalling comes from (the caller's INVITE; for a callee, the
    /// address we sent the INVITE to), when known. Until the remote sends us RTP we send ours
    /// to `rtp` only if it is on this IP: an SDP cannot aim our media at a third host.
    pub signalling: Option<IpAddr>,
}

impl RemoteMedia {
    /// Whether audio from a leg with these terms can be relayed packet by packet to a leg with
    /// `other`'s (same codec, same parameters); otherwise the bridge transcodes.
    #[must_use]
    pub fn relays_to(&self, other: &RemoteMedia) -> bool {
        self.codec == other.codec && self.params == other.params
    }
}

/// What to play to a leg.
#[derive(Debug, Clone)]
pub enum PlaySource {
    /// Prompts in order, already decoded at the leg's audio rate; then `PlaybackDone`.
    Prompts(Vec<Arc<Prompt>>),
    /// Music on hold from `media.moh_dir`, looping, continuing where it last stopped.
    MusicOnHold,
    /// A call-progress tone of the configured country, until stopped.
    Tone(ToneKind),
}

/// Call-progress tones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToneKind {
    /// The callee is being alerted.
    Ringback,
    /// The callee is busy.
    Busy,
    /// No route / network congestion.
    Congestion,
}

/// What a worker reports to a call task.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MediaEvent {
    /// A key press (RFC 4733 or in-band), merged with SIP INFO by the call task.
    Dtmf {
        /// The leg that pressed it.
        leg: MediaLegId,
        /// The press.
        event: DtmfEvent,
    },
    /// A `Prompts` playback ran to its end (not sent when stopped or replaced).
    PlaybackDone {
        /// The leg.
        leg: MediaLegId,
        /// The id given to [`MediaSession::play`].
        id: u64,
    },
    /// The leg sent no RTP for the configured time.
    Timeout {
        /// The leg.
        leg: MediaLegId,
        /// How long it has been silent.
        silent_for: Duration,
    },
    /// A single-leg recording (voicemail) ended.
    RecordDone {
        /// The leg.
        leg: MediaLegId,
        /// Audio written.
        duration: Duration,
        /// The maximum length was reached (else it was stopped).
        reached_max: bool,
    },
    /// Writing a recording failed (disk full…); the call goes on.
    RecordingFailed {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        error: String,
    },
    /// A leg's media ended; what it carried.
    LegSummary {
        /// The leg.
        leg: MediaLegId,
        /// Its counters.
        summary: LegSummary,
    },
}

/// What one leg's media carried, for the call's log line and CDR.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LegSummary {
    /// RTP packets received and accepted.
    pub packets_in: u64,
    /// RTP packets sent.
    pub packets_out: u64,
    /// Packets lost on the way to us (RFC 3550 A.3).
    pub lost: i64,
    /// Interarrival jitter at the end, milliseconds (RFC 3550 A.8).
    pub jitter_ms: f64,
    /// Datagrams dropped: malformed, unknown payload type, or from a foreign source.
    pub dropped: u64,
    /// Of those, RTP and RTCP from a source other than the leg's remote (a third party).
    pub foreign: u64,
}

impl LegSummary {
    /// The leg's `leg media` log line.
    pub fn log(&self, leg: MediaLegId) {
        tracing::info!(
            leg = %leg,
            packets_in = self.packets_in,
            packets_out = self.packets_out,
            lost = self.lost,
            jitter_ms = self.jitter_ms,
            dropped = self.dropped,
            foreign = self.foreign,
            "leg media"
        );
    }
}

/// Commands to a worker.
#[derive(Debug)]
pub(crate) enum Command {
    NewSession {
        session: SessionId,
        events: mpsc::Sender<MediaEvent>,
    },
    AddLeg {
        session: SessionId,
        leg: MediaLegId,
        role: Role,
        lease: ports::PortLease,
        ssrc: u32,
    },
    SetRemote {
        leg: MediaLegId,
        remote: RemoteMedia,
    },
    Bridge {
        a: MediaLegId,
        b: MediaLegId,
    },
    Unbridge {
        session: SessionId,
    },
    Play {
        leg: MediaLegId,
        id: u64,
        source: PlaySource,
    },
    StopPlay {
        leg: MediaLegId,
    },
    DetectInband {
        leg: MediaLegId,
        on: bool,
    },
    SendDigits {
        leg: MediaLegId,
        digits: Vec<Digit>,
    },
    StartRecording {
        session: SessionId,
        caller: MediaLegId,
        callee: MediaLegId,
        path: PathBuf,
    },
    PauseRecording {
        session: SessionId,
        paused: bool,
    },
    RecordLeg {
        leg: MediaLegId,
        path: PathBuf,
        max: Duration,
    },
    StopRecordLeg {
        leg: MediaLegId,
    },
    RemoveLeg {
        leg: MediaLegId,
    },
    CloseSession {
        session: SessionId,
    },
}

/// A worker as the engine sees it.
#[derive(Debug, Clone)]
struct WorkerHandle {
    commands: mpsc::Sender<Command>,
    waker: Arc<mio::Waker>,
    sessions: Arc<AtomicUsize>,
}

impl WorkerHandle {
    async fn send(&self, command: Command) -> io::Result<()> {
        self.commands
            .send(command)
            .await
            .map_err(|_| io::Error::other("media worker stopped"))?;
        self.waker.wake()
    }

    fn try_send(&self, command: Command) -> io::Result<()> {
        self.commands
            .try_send(command)
            .map_err(|_| io::Error::other("media worker busy or stopped"))?;
        self.waker.wake()
    }
}

/// Settings the workers share.
#[derive(Debug, Clone)]
pub(crate) struct EngineSettings {
    pub(crate) media: MediaConfig,
    pub(crate) recording: RecordingConfig,
}

/// The media engine: the workers, the port pool and the prompt cache.
#[derive(Debug)]
pub struct MediaEngine {
    workers: Vec<WorkerHandle>,
    pool: Arc<PortPool>,
    ids: AtomicU64,
    ssrc_seed: u64,
    settings: Arc<EngineSettings>,
    prompts: PromptCache,
    stats: Arc<MediaStats>,
}

impl MediaEngine {
    /// Starts the workers.
    ///
    /// # Errors
    /// When a worker thread or its poller cannot be created.
    pub fn start(
        media: &MediaConfig,
        recording: &RecordingConfig,
        seed: u64,
    ) -> io::Result<Arc<MediaEngine>> {
        let settings = Arc::new(EngineSettings {
            media: media.clone(),
            recording: recording.clone(),
        });
        let count = if media.workers == 0 {
            // One per core. Measured on 2 cores shared with the load generator (benches/loadgen.sh,
            // quiet machine): two workers carry 1,400 relayed / 1,200 recorded calls cleanly
            // where one carries 1,200 / 1,000.
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        } else {
            media.workers
        };
        let stats = Arc::new(MediaStats::default());
        let prompts = PromptCache::new(std::path::Path::new(&media.moh_dir));
        let recorder = record::RecorderHub::start(stats.clone())?;
        let mut workers = Vec::with_capacity(count);
        for index in 0..count {
            let (tx, rx) = mpsc::channel(WORKER_QUEUE);
            let sessions = Arc::new(AtomicUsize::new(0));
            let waker = worker::spawn(
                index,
                rx,
                settings.clone(),
                stats.clone(),
                recorder.clone(),
                prompts.clone(),
                sessions.clone(),
            )?;
            workers.push(WorkerHandle {
                commands: tx,
                waker,
                sessions,
            });
        }
        Ok(Arc::new(MediaEngine {
            workers,
            pool: PortPool::new(media.rtp_address, media.rtp_port_min, media.rtp_port_max),
            ids: AtomicU64::new(1),
            ssrc_seed: seed,
            settings,
            prompts,
            stats,
        }))
    }

    /// The prompt cache (prompts are decoded once per file and rate).
    #[must_use]
    pub fn prompts(&self) -> &PromptCache {
        &self.prompts
    }

    /// Counters of what the workers dropped and carried.
    #[must_use]
    pub fn stats(&self) -> &MediaStats {
        &self.stats
    }

    /// The codecs we offer and accept, in preference order.
    #[must_use]
    pub fn negotiation(&self) -> Negotiation {
        Negotiation::new(&self.settings.media)
    }

    /// A new media session for one call, on the least loaded worker; its events go to `events`.
    ///
    /// # Errors
    /// When the worker has stopped.
    pub async fn new_session(
        self: &Arc<Self>,
        events: mpsc::Sender<MediaEvent>,
    ) -> io::Result<MediaSession> {
        let worker = self
            .workers
            .iter()
            .min_by_key(|w| w.sessions.load(Ordering::Relaxed))
            .cloned()
            .ok_or_else(|| io::Error::other("no media worker"))?;
        let id = SessionId(self.ids.fetch_add(1, Ordering::Relaxed));
        worker
            .send(Command::NewSession {
                session: id,
                events,
            })
            .await?;
        Ok(MediaSession {
            id,
            worker,
            engine: self.clone(),
        })
    }

    fn next_leg(&self) -> (MediaLegId, u32) {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        // SplitMix64 of (seed, n): SSRCs unpredictable to others, reproducible with rng_seed.
        let mut z = self.ssrc_seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (MediaLegId(n), (z ^ (z >> 31)) as u32)
    }
}

/// Our side of a leg's media, for the SDP we send.
#[derive(Debug, Clone, Copy)]
pub struct LocalMedia {
    /// The leg.
    pub leg: MediaLegId,
    /// The RTP address to advertise (RTCP is the next port).
    pub addr: SocketAddr,
}

/// One call's media, as its call task holds it. Dropping it closes the session.
#[derive(Debug)]
pub struct MediaSession {
    id: SessionId,
    worker: WorkerHandle,
    engine: Arc<MediaEngine>,
}

impl MediaSession {
    /// Allocates a port pair and adds a leg.
    ///
    /// # Errors
    /// When no RTP port is free or the worker stopped.
    pub async fn add_leg(&self, role: Role) -> io::Result<LocalMedia> {
        let lease = self.engine.pool.allocate()?;
        let port = lease.port();
        let (leg, ssrc) = self.engine.next_leg();
        self.worker
            .send(Command::AddLeg {
                session: self.id,
                leg,
                role,
                lease,
                ssrc,
            })
            .await?;
        let media = &self.engine.settings.media;
        let ip = media.advertised_address.unwrap_or(media.rtp_address);
        Ok(LocalMedia {
            leg,
            addr: SocketAddr::new(ip, port),
        })
    }

    /// Sets (or changes, after a re-INVITE) what the remote end agreed to.
    ///
    /// # Errors
    /// When the worker stopped.
    pub async fn set_remote(&self, leg: MediaLegId, remote: RemoteMedia) -> io::Result<()> {
        self.worker.send(Command::SetRemote { leg, remote }).await
    }

    /// Connects two legs: each hears the other (relayed as is when they share a codec,
    /// transcoded when not).
    ///
    /// # Errors
    /// When the worker stopped.
    pub async fn bridge(&self, a: MediaLegId, b: MediaLegId) -> io::Result<()> {
        self.worker.send(Command::Bridge { a, b }).await
    }

    /// Disconnects the bridged legs (each hears silence until told otherwise).
    ///
    /// # Errors
    /// When the worker stopped.
    pub async fn unbridge(&self) -> io::Result<()> {
        self.worker
            .send(Command::Unbridge { session: self.id })
            .await
    }

    /// Plays to a leg, replacing what it heard (a bridged leg stops hearing its peer until
    /// [`MediaSession::stop_play`]).
    ///
    /// # Errors
    /// When the worker stopped.
    pub async fn play(&self, leg: MediaLegId, id: u64, source: PlaySource) -> io::Result<()> {
        self.worker.send(Command::Play { leg, id, source }).await
    }

    /// Stops what plays to a leg; a bridged leg hears its peer again.
    ///
    /// # Errors
    /// When the worker stopped.
    pub async fn stop_play(&self, leg: MediaLegId) -> io::Result<()> {
        self.worker.send(Command::StopPlay { leg }).await
    }

    /// Turns in-band (Goertzel) DTMF detection on the leg's audio on or off.
    ///
    /// # Errors
    /// When the worker stopped.
    pub async fn detect_inband(&self, leg: MediaLegId, on: bool) -> io::Result<()> {
        self.worker.send(Command::DetectInband { leg, on }).await
    }

    /// Sends digits to a leg as RFC 4733 events (in-band tones when it has no telephone-event).
    ///
    /// # Errors
    /// When the worker stopped.
    pub async fn send_digits(&self, leg: MediaLegId, digits: Vec<Digit>) -> io::Result<()> {
        self.worker.send(Command::SendDigits { leg, digits }).await
    }

    /// Starts the stereo recording of a bridged call: caller left, callee right.
    ///
    /// # Errors
    /// When the worker stopped.
    pub async fn start_recording(
        &self,
        caller: MediaLegId,
        callee: MediaLegId,
        path: PathBuf,
    ) -> io::Result<()> {
        self.worker
            .send(Command::StartRecording {
                session: self.id,
                caller,
                callee,
                path,
            })
            .await
    }

    /// Pauses (silence is written) or resumes the recording.
    ///
    /// # Errors
    /// When the worker stopped.
    pub async fn pause_recording(&self, paused: bool) -> io::Result<()> {
        self.worker
            .send(Command::PauseRecording {
                session: self.id,
                paused,
            })
            .await
    }

    /// Records what one leg says into a mono WAV (voicemail), up to `max`.
    ///
    /// # Errors
    /// When the worker stopped.
    pub async fn record_leg(
        &self,
        leg: MediaLegId,
        path: PathBuf,
        max: Duration,
    ) -> io::Result<()> {
        self.worker
            .send(Command::RecordLeg { leg, path, max })
            .await
    }

    /// Ends a single-leg recording early (the caller pressed `#`).
    ///
    /// # Errors
    /// When the worker stopped.
    pub async fn stop_record_leg(&self, leg: MediaLegId) -> io::Result<()> {
        self.worker.send(Command::StopRecordLeg { leg }).await
    }

    /// Removes a leg (its ports are freed; a bridge through it ends).
    ///
    /// # Errors
    /// When the worker stopped.
    pub async fn remove_leg(&self, leg: MediaLegId) -> io::Result<()> {
        self.worker.send(Command::RemoveLeg { leg }).await
    }

    /// The engine this session belongs to.
    #[must_use]
    pub fn engine(&self) -> &Arc<MediaEngine> {
        &self.engine
    }
}

impl Drop for MediaSession {
    fn drop(&mut self) {
        // If the queue is full the worker still closes the session: it notices the call's
        // event channel closed within a second.
        let _ = self
            .worker
            .try_send(Command::CloseSession { session: self.id });
    }
}
