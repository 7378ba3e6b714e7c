//! Call recording: every bridged call as a stereo 16-bit PCM WAV file, caller on the left
//! channel, agent on the right; voicemail as a mono file.
//!
//! # Requirements, and how they are met
//! * **A crash loses at most the last second.** The file is written incrementally: one 20 ms
//!   frame per tick is encoded into a small buffer (one checkpoint interval, 32 KB at 8 kHz),
//!   and at least every second a *checkpoint* appends the buffer and rewrites the two size
//!   fields of the header. After `kill -9` of the server the file plays, in any player, up to
//!   the last checkpoint.
//! * **Time-aligned.** [`StereoRecorder::write_frame`] takes both sides of one tick together;
//!   a side with nothing to say this tick (`None`: packet loss, a leg not yet answered, a
//!   transfer in progress) is written as silence. Gaps are filled, never closed up, so the two
//!   channels cannot drift apart and the file's timeline is the call's.
//! * **Pause/resume** (PCI-DSS: an agent taking a card number) writes silence while paused, so
//!   the timeline still matches the call; both transitions are returned as a [`PauseMark`]
//!   with their offset in the file, for the CDR.
//! * **One rate per file** (8 or 16 kHz, [`RecordingRate`]), chosen at creation. Each side is
//!   brought to it by a [`RecordingChannel`], which follows the leg's codec rate as it changes
//!   (a PCMA→G.722 re-INVITE): the file stays correct and aligned. Nothing in the recorder is
//!   tied to a leg, so a transfer to another agent just keeps feeding the right channel.
//! * **Disk full never takes the call down.** Nothing here panics on I/O. The first error
//!   moves the recorder to [`RecorderState::Failed`] and is returned once, typed with its
//!   [`std::io::ErrorKind`], so the driver logs and counts it; later frames are counted as
//!   dropped; the call goes on. What was written stays a valid file, its header patched to the
//!   last whole sample frame that reached the file when that is still possible.
//!
//! # Why the header ordering is crash-safe
//! A checkpoint does, in this order: (1) append the buffered samples after the committed ones
//! and flush them to the writer, (2) rewrite the RIFF size (offset 4) for the new total,
//! (3) rewrite the data size (offset 40). A process can die between any two writes; the file
//! is then in one of these states, each of them valid:
//! * before (2): both sizes describe the previous checkpoint; the new samples are trailing
//!   bytes after the RIFF chunk, which every reader ignores;
//! * between (2) and (3): the RIFF chunk claims the new length but the data chunk still its old
//!   one — a RIFF chunk with some unparsed bytes after its last sub-chunk, which readers stop
//!   short of (they play the data chunk's length); the data chunk never extends past the RIFF
//!   chunk nor past the end of the file;
//! * after (3): the new checkpoint.
//!
//! The opposite order — sizes first, samples second — would let a crash leave a header that
//! promises samples the file does not have. Patching the data size before the RIFF size would
//! let the data chunk overrun its parent chunk, which strict readers reject. The model is that
//! of a process kill: the kernel has every `write` the process completed, in order, and a
//! 4-byte `write` is not torn. Surviving a power cut also needs the data on the device: the
//! driver calls `File::sync_data` (through [`StereoRecorder::get_ref`]) after a checkpoint at
//! the cadence it can afford; the ordering above is then what the journal replays.
//!
//! # Why not `hound`'s writer
//! hound 3.5.1 is used to *read* recordings back in the tests, not to write them: its
//! `flush()` patches the header before flushing the samples (safe only when the writer is
//! unbuffered or its `seek` flushes first, as `BufWriter`'s does), it writes one 2-byte
//! `write` per sample
//! unless wrapped in a `BufWriter` (whose buffered bytes then hide how much reached the disk
//! when it fills up), its byte counter is a `u32` incremented unchecked (a panic in debug
//! builds past 4 GiB), and its `Drop` writes the header again, silently, after a failure. The
//! canonical header is 44 bytes; writing it ourselves is simpler than working around those.
//!
//! Use an unbuffered writer (a `File`): the recorder does its own buffering, one `write` per
//! checkpoint.
//!
//! ```
//! use std::io::Cursor;
//! use switchboard_media::recorder::{RecorderConfig, RecordingRate, StereoRecorder, WriteOutcome};
//!
//! let mut rec = StereoRecorder::create(Cursor::new(Vec::new()), RecorderConfig::new(RecordingRate::Narrowband))?;
//! let caller = [100_i16; 160];
//! let agent = [-100_i16; 160];
//! assert_eq!(rec.write_frame(Some(&caller), Some(&agent))?, WriteOutcome::Buffered);
//! rec.write_frame(Some(&caller), None)?; // the agent said nothing this tick: silence
//! let done = rec.finish()?;
//! assert_eq!(done.stats.frames, 2);
//! let bytes = done.writer.into_inner();
//! assert_eq!(bytes.len(), 44 + 2 * 160 * 2 * 2);
//! # Ok::<(), switchboard_media::recorder::RecorderError>(())
//! ```

mod channel;
mod wav;

use std::io::{Seek, Write};
use std::time::Duration;

pub use channel::RecordingChannel;
pub use wav::{HEADER_LEN, MAX_DATA_BYTES, header};

use crate::resample::{ResampleError, samples_per_20ms};
use wav::WavSink;

/// Duration of one tick's frame.
const FRAME: Duration = Duration::from_millis(20);
/// Ticks per second, hence the longest checkpoint interval allowed.
const FRAMES_PER_SECOND: u32 = 50;

/// The sample rate of a recording file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordingRate {
    /// 8 kHz: G.711 calls; 32,000 bytes per second of stereo.
    Narrowband,
    /// 16 kHz: wideband (G.722, Opus) calls; 64,000 bytes per second of stereo.
    Wideband,
}

impl RecordingRate {
    /// The rate in Hz.
    #[must_use]
    pub const fn hz(self) -> u32 {
        match self {
            Self::Narrowband => 8_000,
            Self::Wideband => 16_000,
        }
    }

    /// Samples per channel in one 20 ms tick.
    #[must_use]
    pub const fn frame_samples(self) -> usize {
        samples_per_20ms(self.hz())
    }
}

/// How a recording is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderConfig {
    /// The file's sample rate.
    pub rate: RecordingRate,
    /// Ticks between checkpoints; 0 is taken as 1 and anything above 50 (one second) as 50.
    pub checkpoint_frames: u32,
    /// Longest recording: at that length the recorder stops
    /// ([`WriteOutcome::LimitReached`]); voicemail uses it for its maximum message length.
    /// `None` still stops short of the 2 GiB WAV limit ([`MAX_DATA_BYTES`]).
    pub max_duration: Option<Duration>,
}

impl RecorderConfig {
    /// A checkpoint every second, no length limit but the format's.
    #[must_use]
    pub const fn new(rate: RecordingRate) -> Self {
        Self {
            rate,
            checkpoint_frames: FRAMES_PER_SECOND,
            max_duration: None,
        }
    }
}

/// What the recorder was doing when an I/O error struck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoStage {
    /// Writing the initial header (the recording never started).
    WriteHeader,
    /// Appending samples.
    WriteData,
    /// Flushing appended samples.
    Flush,
    /// Rewriting the size fields.
    PatchHeader,
}

impl std::fmt::Display for IoStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::WriteHeader => "writing the header",
            Self::WriteData => "writing samples",
            Self::Flush => "flushing samples",
            Self::PatchHeader => "updating the header",
        })
    }
}

/// Which side of a stereo recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Left channel: the caller.
    Caller,
    /// Right channel: the agent.
    Agent,
}

/// Errors of the recording layer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// The writer failed; the recorder is now [`RecorderState::Failed`] (reported once).
    #[error("recording failed while {stage}: {kind}")]
    Io {
        /// The I/O error's kind (`StorageFull` for ENOSPC).
        kind: std::io::ErrorKind,
        /// What was being written.
        stage: IoStage,
    },
    /// A frame of the wrong length was passed; nothing was written for this tick (a caller
    /// bug: pass `None` for a side with no audio).
    #[error("{side:?} frame has {got} samples, expected {expected}")]
    FrameLength {
        /// The side at fault (the caller's side for a mono recording).
        side: Side,
        /// Samples per 20 ms at the rate concerned.
        expected: usize,
        /// Samples passed.
        got: usize,
    },
    /// A [`RecordingChannel`] was fed a rate it cannot convert.
    #[error("recording channel cannot convert: {0}")]
    Resample(#[from] ResampleError),
}

impl RecorderError {
    fn io(e: &std::io::Error, stage: IoStage) -> Self {
        Self::Io {
            kind: e.kind(),
            stage,
        }
    }
}

/// Where a recorder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecorderState {
    /// Writing the call's audio.
    Recording,
    /// Writing silence in place of the call's audio.
    Paused,
    /// The length limit was reached; later frames are dropped.
    Full,
    /// An I/O error occurred (and was returned once); later frames are dropped.
    Failed,
}

/// What happened to a frame handed to the recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Encoded into the buffer.
    Buffered,
    /// Encoded, and a checkpoint made it durable against a crash (a good moment for the
    /// driver's `sync_data`, if it does one).
    Checkpointed,
    /// Encoded and checkpointed, and this was the last frame the length limit allows.
    LimitReached,
    /// Not written: the recorder is full or failed (counted in
    /// [`RecordingStats::dropped_frames`]).
    Dropped,
}

/// A pause or resume, for the CDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PauseMark {
    /// Which transition.
    pub event: PauseEvent,
    /// Position in the recording's timeline where it happened.
    pub offset: Duration,
}

/// A transition of the pause state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseEvent {
    /// Silence written from here on.
    Paused,
    /// Audio written again from here on.
    Resumed,
}

/// Counters of a recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordingStats {
    /// Ticks written to the file (paused ones included).
    pub frames: u64,
    /// Length of the file's timeline, in seconds (`frames` × 20 ms).
    pub seconds: f64,
    /// Of which paused (silence), in seconds.
    pub paused_seconds: f64,
    /// Ticks not written because the recorder was full or failed.
    pub dropped_frames: u64,
    /// Seconds of audio covered by the header on the writer: what survives a crash now.
    pub checkpointed_seconds: f64,
}

/// A finished recording.
#[derive(Debug)]
pub struct Finished<W> {
    /// The writer, positioned anywhere (the file is complete).
    pub writer: W,
    /// Final counters.
    pub stats: RecordingStats,
    /// `false` if an I/O error cut the recording short.
    pub complete: bool,
}

/// A recording with `CHANNELS` channels; use [`StereoRecorder`] or [`MonoRecorder`].
#[derive(Debug)]
pub struct Recorder<W, const CHANNELS: usize> {
    sink: WavSink<W>,
    rate: RecordingRate,
    state: RecorderState,
    /// Invariant: 1..=50.
    checkpoint_frames: u32,
    /// Ticks written since the last checkpoint.
    since_checkpoint: u32,
    /// Ticks allowed in the file, from the configured limit and [`MAX_DATA_BYTES`].
    max_frames: u64,
    frames: u64,
    paused_frames: u64,
    dropped_frames: u64,
}

/// Stereo call recording: caller left, agent right.
pub type StereoRecorder<W> = Recorder<W, 2>;
/// Mono recording of the caller alone: voicemail and the `record` verb.
pub type MonoRecorder<W> = Recorder<W, 1>;

impl<W: Write + Seek> Recorder<W, 2> {
    /// Starts a stereo recording on `out` (its content starts at offset 0).
    ///
    /// # Errors
    /// [`RecorderError::Io`] with [`IoStage::WriteHeader`] if the header cannot be written.
    pub fn create(out: W, config: RecorderConfig) -> Result<Self, RecorderError> {
        Self::create_with_channels(out, config)
    }

    /// Records one tick: `caller` on the left, `agent` on the right, each a 20 ms frame at the
    /// recording's rate or `None` for silence.
    ///
    /// # Errors
    /// [`RecorderError::FrameLength`] (nothing written); [`RecorderError::Io`] the first time
    /// the writer fails (the recorder is then [`RecorderState::Failed`]).
    pub fn write_frame(
        &mut self,
        caller: Option<&[i16]>,
        agent: Option<&[i16]>,
    ) -> Result<WriteOutcome, RecorderError> {
        let n = self.rate.frame_samples();
        check_len(caller, n, Side::Caller)?;
        check_len(agent, n, Side::Agent)?;
        self.tick(|sink| {
            for i in 0..n {
                sink.push(caller.map_or(0, |c| c[i]));
                sink.push(agent.map_or(0, |a| a[i]));
            }
        })
    }
}

impl<W: Write + Seek> Recorder<W, 1> {
    /// Starts a mono recording on `out` (its content starts at offset 0).
    ///
    /// # Errors
    /// As [`StereoRecorder::create`].
    pub fn create(out: W, config: RecorderConfig) -> Result<Self, RecorderError> {
        Self::create_with_channels(out, config)
    }

    /// Records one tick of the caller (`None` for silence).
    ///
    /// # Errors
    /// As [`StereoRecorder::write_frame`].
    pub fn write_frame(&mut self, caller: Option<&[i16]>) -> Result<WriteOutcome, RecorderError> {
        let n = self.rate.frame_samples();
        check_len(caller, n, Side::Caller)?;
        self.tick(|sink| match caller {
            Some(c) => c.iter().for_each(|&s| sink.push(s)),
            None => (0..n).for_each(|_| sink.push(0)),
        })
    }
}

/// Checks a side's frame length.
fn check_len(frame: Option<&[i16]>, expected: usize, side: Side) -> Result<(), RecorderError> {
    match frame {
        Some(f) if f.len() != expected => Err(RecorderError::FrameLength {
            side,
            expected,
            got: f.len(),
        }),
        _ => Ok(()),
    }
}

impl<W: Write + Seek, const CHANNELS: usize> Recorder<W, CHANNELS> {
    fn create_with_channels(out: W, config: RecorderConfig) -> Result<Self, RecorderError> {
        let checkpoint_frames = config.checkpoint_frames.clamp(1, FRAMES_PER_SECOND);
        let frame_bytes = config.rate.frame_samples() * CHANNELS * 2;
        let capacity = frame_bytes * checkpoint_frames as usize;
        let channels = u16::try_from(CHANNELS).unwrap_or(2);
        let sink = WavSink::create(out, channels, config.rate.hz(), capacity)?;
        let format_limit = u64::from(MAX_DATA_BYTES) / frame_bytes as u64;
        let configured = config.max_duration.map_or(u64::MAX, |d| {
            u64::try_from(d.as_millis() / FRAME.as_millis()).unwrap_or(u64::MAX)
        });
        Ok(Self {
            sink,
            rate: config.rate,
            state: RecorderState::Recording,
            checkpoint_frames,
            since_checkpoint: 0,
            max_frames: format_limit.min(configured),
            frames: 0,
            paused_frames: 0,
            dropped_frames: 0,
        })
    }

    /// Writes one tick: `encode` pushes the audio, or silence is pushed while paused.
    fn tick(
        &mut self,
        encode: impl FnOnce(&mut WavSink<W>),
    ) -> Result<WriteOutcome, RecorderError> {
        if self.frames >= self.max_frames && self.state != RecorderState::Failed {
            self.state = RecorderState::Full; // a zero-length limit: not even one frame
        }
        match self.state {
            RecorderState::Failed | RecorderState::Full => {
                self.dropped_frames += 1;
                return Ok(WriteOutcome::Dropped);
            }
            RecorderState::Paused => {
                for _ in 0..self.rate.frame_samples() * CHANNELS {
                    self.sink.push(0);
                }
                self.paused_frames += 1;
            }
            RecorderState::Recording => encode(&mut self.sink),
        }
        self.frames += 1;
        self.since_checkpoint += 1;
        if self.frames >= self.max_frames {
            self.checkpoint()?;
            self.state = RecorderState::Full;
            return Ok(WriteOutcome::LimitReached);
        }
        if self.since_checkpoint >= self.checkpoint_frames {
            self.checkpoint()?;
            return Ok(WriteOutcome::Checkpointed);
        }
        Ok(WriteOutcome::Buffered)
    }

    /// Makes everything written so far survive a crash now (also done automatically at least
    /// every second). A no-op once failed.
    ///
    /// # Errors
    /// [`RecorderError::Io`] if the writer fails (the recorder is then failed).
    pub fn checkpoint(&mut self) -> Result<(), RecorderError> {
        if self.state == RecorderState::Failed {
            return Ok(());
        }
        self.since_checkpoint = 0;
        self.sink.checkpoint().inspect_err(|_| {
            self.state = RecorderState::Failed;
        })
    }

    /// Starts writing silence instead of the call's audio. `None` if already paused (or the
    /// recording is over).
    pub fn pause(&mut self) -> Option<PauseMark> {
        (self.state == RecorderState::Recording).then(|| {
            self.state = RecorderState::Paused;
            self.mark(PauseEvent::Paused)
        })
    }

    /// Writes the call's audio again. `None` if not paused.
    pub fn resume(&mut self) -> Option<PauseMark> {
        (self.state == RecorderState::Paused).then(|| {
            self.state = RecorderState::Recording;
            self.mark(PauseEvent::Resumed)
        })
    }

    fn mark(&self, event: PauseEvent) -> PauseMark {
        PauseMark {
            event,
            offset: frames_to_duration(self.frames),
        }
    }

    /// Current state.
    #[must_use]
    pub fn state(&self) -> RecorderState {
        self.state
    }

    /// The file's sample rate.
    #[must_use]
    pub fn rate(&self) -> RecordingRate {
        self.rate
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> RecordingStats {
        let frame_bytes = (self.rate.frame_samples() * CHANNELS * 2) as u64;
        RecordingStats {
            frames: self.frames,
            seconds: frames_to_duration(self.frames).as_secs_f64(),
            paused_seconds: frames_to_duration(self.paused_frames).as_secs_f64(),
            dropped_frames: self.dropped_frames,
            checkpointed_seconds: u64::from(self.sink.committed()) as f64
                / (frame_bytes * u64::from(FRAMES_PER_SECOND)) as f64,
        }
    }

    /// The writer, e.g. for the driver to `sync_data` a `File` after a checkpoint.
    #[must_use]
    pub fn get_ref(&self) -> &W {
        self.sink.get_ref()
    }

    /// Writes what is buffered and the final header, and returns the writer.
    ///
    /// A recorder that already failed finishes without further I/O (`complete: false`); the
    /// error was returned when it happened.
    ///
    /// # Errors
    /// [`RecorderError::Io`] if the final checkpoint fails; the file then holds what the last
    /// successful checkpoint covered.
    pub fn finish(mut self) -> Result<Finished<W>, RecorderError> {
        let complete = self.state != RecorderState::Failed;
        if complete {
            self.checkpoint()?;
        }
        let stats = self.stats();
        Ok(Finished {
            writer: self.sink.into_inner(),
            stats,
            complete,
        })
    }
}

fn frames_to_duration(frames: u64) -> Duration {
    Duration::from_millis(frames.saturating_mul(FRAME.as_millis() as u64))
}
