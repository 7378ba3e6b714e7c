//! Recording: the workers tap each recorded call's decoded audio (caller left, callee right,
//! aligned tick by tick) and hand it, a second at a time, to one recorder thread that owns the
//! files. Disk writes never run on a media worker, so a slow or full disk cannot delay anyone's
//! audio; the writer keeps each WAV's header valid at every checkpoint (see
//! `switchboard_media::recorder`), so a crash loses at most the last second or two.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::Duration;

use switchboard_media::recorder::{
    MonoRecorder, RecorderConfig, RecordingChannel, RecordingRate, Side, StereoRecorder,
};
use tokio::sync::mpsc;

use super::leg::{Leg, MonoTap};
use super::stats::MediaStats;
use super::worker::Worker;
use super::{MediaEvent, MediaLegId, SessionId};

/// Messages queued to the recorder thread (each carries about a second of audio at most).
const HUB_QUEUE: usize = 8192;
/// Ticks of audio a worker gathers before handing them over (200 ms: small buffers per call,
/// five messages a second per recording).
const CHUNK_TICKS: u64 = 10;
/// Ticks between two header updates of a file: what a crash can lose at most.
const CHECKPOINT_TICKS: u32 = 25;
/// Audio a tap keeps while the recorder thread is saturated, before it drops (and counts).
const MAX_BACKLOG: Duration = Duration::from_secs(30);

enum HubMsg {
    Open {
        id: u64,
        path: PathBuf,
        rate: u32,
        stereo: bool,
        events: Option<mpsc::Sender<MediaEvent>>,
    },
    Frames {
        id: u64,
        left: Vec<i16>,
        right: Vec<i16>,
    },
    Pause {
        id: u64,
        paused: bool,
    },
    Close {
        id: u64,
    },
}

/// The handle workers use to reach the recorder thread.
#[derive(Debug, Clone)]
pub(crate) struct RecorderHub {
    tx: SyncSender<HubMsg>,
    ids: Arc<AtomicU64>,
    stats: Arc<MediaStats>,
}

impl std::fmt::Debug for HubMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HubMsg")
    }
}

impl RecorderHub {
    /// Starts the recorder thread.
    pub(crate) fn start(stats: Arc<MediaStats>) -> io::Result<RecorderHub> {
        let (tx, rx) = sync_channel(HUB_QUEUE);
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || run(rx, &thread_stats))?;
        Ok(RecorderHub {
            tx,
            ids: Arc::new(AtomicU64::new(1)),
            stats,
        })
    }

    fn open(
        &self,
        path: PathBuf,
        rate: u32,
        stereo: bool,
        events: Option<mpsc::Sender<MediaEvent>>,
    ) -> u64 {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        // Opening is rare; if the queue is full the recording is lost and counted, the call goes on.
        if self
            .tx
            .try_send(HubMsg::Open {
                id,
                path,
                rate,
                stereo,
                events,
            })
            .is_err()
        {
            self.stats
                .recording_failures
                .fetch_add(1, Ordering::Relaxed);
        }
        id
    }

    /// Opens a mono recording (voicemail) at 8 kHz.
    pub(crate) fn open_mono(&self, path: PathBuf, events: Option<mpsc::Sender<MediaEvent>>) -> u64 {
        self.open(path, 8000, false, events)
    }

    /// Hands over audio; gives it back when the recorder thread is saturated.
    fn frames(&self, id: u64, left: Vec<i16>, right: Vec<i16>) -> Result<(), (Vec<i16>, Vec<i16>)> {
        match self.tx.try_send(HubMsg::Frames { id, left, right }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(HubMsg::Frames { left, right, .. })) => Err((left, right)),
            Err(_) => Ok(()),
        }
    }

    /// Asks the recorder thread to finish a file; `false` when its queue is full (the worker
    /// retries at its next tick: a media worker never blocks on the disk).
    pub(crate) fn close(&self, id: u64) -> bool {
        match self.tx.try_send(HubMsg::Close { id }) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => true,
            Err(TrySendError::Full(_)) => false,
        }
    }
}

/// A stereo recording being fed by a worker.
#[derive(Debug)]
pub(crate) struct StereoTap {
    pub(crate) id: u64,
    pub(crate) caller: usize,
    pub(crate) callee: usize,
    left: RecordingChannel,
    right: RecordingChannel,
    lbuf: Vec<i16>,
    rbuf: Vec<i16>,
    paused: bool,
    ticks: u64,
    rate: u32,
}

impl StereoTap {
    pub(crate) fn set_paused(&mut self, paused: bool, hub: &RecorderHub) {
        if self.paused != paused {
            self.paused = paused;
            let _ = hub.tx.try_send(HubMsg::Pause {
                id: self.id,
                paused,
            });
        }
    }

    /// One tick: 20 ms of each side (silence where a side said nothing), aligned.
    fn push(
        &mut self,
        left: Option<(&[i16], u32)>,
        right: Option<(&[i16], u32)>,
        hub: &RecorderHub,
    ) {
        let start = self.lbuf.len();
        // A frame the channel cannot take (wrong length) counts as silence: alignment first.
        match self.left.process(left) {
            Ok(frame) => self.lbuf.extend_from_slice(frame),
            Err(_) => self.lbuf.extend_from_slice(self.left.last_output()),
        }
        match self.right.process(right) {
            Ok(frame) => self.rbuf.extend_from_slice(frame),
            Err(_) => self.rbuf.extend_from_slice(self.right.last_output()),
        }
        if self.paused {
            // Card numbers never reach the file, not even buffered: silence replaces them here.
            self.lbuf[start..].fill(0);
            self.rbuf[start..].fill(0);
        }
        self.ticks += 1;
        if self.ticks.is_multiple_of(CHUNK_TICKS) {
            self.flush(hub);
        }
    }

    fn flush(&mut self, hub: &RecorderHub) {
        if self.lbuf.is_empty() {
            return;
        }
        let chunk = self.rate as usize / 50 * CHUNK_TICKS as usize;
        let left = std::mem::replace(&mut self.lbuf, Vec::with_capacity(chunk));
        let right = std::mem::replace(&mut self.rbuf, Vec::with_capacity(chunk));
        if let Err((left, right)) = hub.frames(self.id, left, right) {
            self.lbuf = left;
            self.rbuf = right;
            let cap = self.rate as usize * MAX_BACKLOG.as_secs() as usize;
            if self.lbuf.len() > cap {
                let excess = self.lbuf.len() - cap;
                self.lbuf.drain(..excess);
                self.rbuf.drain(..excess.min(self.rbuf.len()));
                hub.stats.recording_dropped_frames.fetch_add(
                    (excess / (self.rate as usize / 50)) as u64,
                    Ordering::Relaxed,
                );
            }
        }
    }
}

impl MonoTap {
    /// Appends one tick of the leg's audio (`None`: it said nothing) at `rate`.
    pub(crate) fn push(&mut self, pcm: Option<&[i16]>, rate: u32, hub: &RecorderHub) {
        match self.channel.process(pcm.map(|p| (p, rate))) {
            Ok(frame) => self.pending.extend_from_slice(frame),
            Err(_) => self.pending.extend_from_slice(self.channel.last_output()),
        }
        self.written += Duration::from_millis(20);
        if self.pending.len() >= 1600 {
            self.flush(hub);
        }
    }

    pub(crate) fn flush(&mut self, hub: &RecorderHub) {
        if self.pending.is_empty() {
            return;
        }
        let left = std::mem::take(&mut self.pending);
        if let Err((left, _)) = hub.frames(self.id, left, Vec::new()) {
            self.pending = left;
        }
    }
}

impl Worker {
    pub(crate) fn start_recording(
        &mut self,
        session: SessionId,
        caller: MediaLegId,
        callee: MediaLegId,
        path: PathBuf,
    ) {
        let (Some(&s), Some(&a), Some(&b)) = (
            self.session_index.get(&session),
            self.leg_index.get(&caller),
            self.leg_index.get(&callee),
        ) else {
            return;
        };
        let rate = self.settings.recording.sample_rate;
        let events = self.sessions[s].as_ref().map(|x| x.events.clone());
        if let Some(Some(session)) = self.sessions.get_mut(s)
            && session.recording.is_none()
        {
            let id = self.recorder.open(path, rate, true, events);
            session.recording = Some(StereoTap {
                id,
                caller: a,
                callee: b,
                left: RecordingChannel::new(recording_rate(rate), Side::Caller),
                right: RecordingChannel::new(recording_rate(rate), Side::Agent),
                lbuf: Vec::with_capacity(rate as usize / 50 * CHUNK_TICKS as usize),
                rbuf: Vec::with_capacity(rate as usize / 50 * CHUNK_TICKS as usize),
                paused: false,
                ticks: 0,
                rate,
            });
        }
        self.refresh_session(s);
    }

    /// A tick of the session's recording, if it has one.
    pub(crate) fn feed_recording(&mut self, s: usize) {
        let Some(Some(session)) = self.sessions.get_mut(s) else {
            return;
        };
        let Some(tap) = session.recording.as_mut() else {
            return;
        };
        let side = |i: usize| {
            self.legs
                .get(i)
                .and_then(Option::as_ref)
                .and_then(|l| l.decode.as_ref())
                .and_then(|d| d.current().map(|f| (f, d.rate)))
        };
        tap.push(side(tap.caller), side(tap.callee), &self.recorder);
    }

    pub(crate) fn stop_recording(&mut self, session: &mut super::session::Session) {
        if let Some(mut tap) = session.recording.take() {
            tap.flush(&self.recorder);
            self.close_recording(tap.id);
        }
    }

    /// A leg leaves: its voicemail ends; a stereo recording through it goes on with silence on
    /// that side (a transfer to another agent continues the same file).
    pub(crate) fn finish_leg_recordings(&mut self, _index: usize, leg: &mut Leg) {
        if let Some(mut tap) = leg.voicemail.take() {
            tap.flush(&self.recorder);
            self.close_recording(tap.id);
        }
    }

    /// Finishes a file now, or at a later tick if the recorder thread is saturated.
    pub(crate) fn close_recording(&mut self, id: u64) {
        if !self.recorder.close(id) {
            self.pending_closes.push(id);
        }
    }

    /// Retries the closes the recorder thread had no room for.
    pub(crate) fn retry_closes(&mut self) {
        let pending = std::mem::take(&mut self.pending_closes);
        for id in pending {
            self.close_recording(id);
        }
    }
}

/// The recorder's rate for a configured sample rate (validated to 8000 or 16000).
pub(crate) fn recording_rate(hz: u32) -> RecordingRate {
    if hz >= 16_000 {
        RecordingRate::Wideband
    } else {
        RecordingRate::Narrowband
    }
}

/// A file being written by the recorder thread. No `BufWriter`: the recorder buffers a
/// checkpoint's worth of samples itself and writes them in one call.
enum Writer {
    Stereo(StereoRecorder<PositionedFile>),
    Mono(MonoRecorder<PositionedFile>),
}

/// A recording file written with positioned writes: `seek` only moves our offset, `write` is
/// one `pwrite` there. A checkpoint (append the samples, patch two header fields) is then three
/// system calls instead of six; with a thousand recorded calls checkpointing twice a second,
/// the seeks were half of the recorder thread's system calls.
#[derive(Debug)]
struct PositionedFile {
    file: File,
    /// Where the next write goes.
    pos: u64,
}

impl io::Write for PositionedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Nothing is buffered here; durability is the page cache's, as with `File`.
        Ok(())
    }
}

impl io::Seek for PositionedFile {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "seek before the start");
        self.pos = match to {
            io::SeekFrom::Start(p) => p,
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d).ok_or_else(invalid)?,
            io::SeekFrom::End(d) => self
                .file
                .metadata()?
                .len()
                .checked_add_signed(d)
                .ok_or_else(invalid)?,
        };
        Ok(self.pos)
    }
}

impl Writer {
    /// Writes a chunk of ticks (the recorder checkpoints every second by itself).
    fn write(&mut self, left: &[i16], right: &[i16], frame: usize) -> Result<(), String> {
        for (i, l) in left.chunks(frame).enumerate() {
            if l.len() != frame {
                break;
            }
            let outcome = match self {
                Writer::Stereo(w) => {
                    let r = right.get(i * frame..(i + 1) * frame);
                    w.write_frame(Some(l), r)
                }
                Writer::Mono(w) => w.write_frame(Some(l)),
            };
            outcome.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(), String> {
        match self {
            Writer::Stereo(w) => w.finish().map(|_| ()),
            Writer::Mono(w) => w.finish().map(|_| ()),
        }
        .map_err(|e| e.to_string())
    }
}

struct Open {
    writer: Option<Writer>,
    frame: usize,
    path: PathBuf,
    events: Option<mpsc::Sender<MediaEvent>>,
}

/// How often the recorder thread takes what the workers queued. It polls rather than sleeping
/// in `recv`: a receiver blocked in `recv` makes every send a futex wake-up, and with a
/// thousand recorded calls (five chunks a second each) those wake-ups — and the recorder thread
/// preempting a media worker each time — cost the workers more than the writing does. Polled,
/// a send is an atomic store. Not longer than 10 ms: at 50 ms the thread woke to a burst of
/// several milliseconds of writing that displaced a worker and pushed p99 latency past 5 ms
/// (1,300 recorded calls: 3 runs of 3 unclean at 50 ms, 3 of 3 clean at 10 ms). A crash still
/// loses only what the last checkpoint did not cover.
const POLL: Duration = Duration::from_millis(10);

fn run(rx: Receiver<HubMsg>, stats: &MediaStats) {
    let mut open: HashMap<u64, Open> = HashMap::new();
    loop {
        let msg = match rx.try_recv() {
            Ok(msg) => msg,
            Err(TryRecvError::Empty) => {
                std::thread::sleep(POLL);
                continue;
            }
            // Every worker is gone (shutdown): what they queued has been written.
            Err(TryRecvError::Disconnected) => break,
        };
        match msg {
            HubMsg::Open {
                id,
                path,
                rate,
                stereo,
                events,
            } => {
                let mut entry = Open {
                    writer: None,
                    frame: recording_rate(rate).frame_samples(),
                    path,
                    events,
                };
                match create(&entry.path, rate, stereo) {
                    Ok(w) => {
                        tracing::info!(path = %entry.path.display(), "recording started");
                        entry.writer = Some(w);
                    }
                    Err(err) => fail(&mut entry, &err, stats),
                }
                open.insert(id, entry);
            }
            HubMsg::Frames { id, left, right } => {
                let Some(entry) = open.get_mut(&id) else {
                    continue;
                };
                let frame = entry.frame;
                let result = match entry.writer.as_mut() {
                    Some(w) => w.write(&left, &right, frame),
                    None => {
                        stats
                            .recording_dropped_frames
                            .fetch_add((left.len() / frame.max(1)) as u64, Ordering::Relaxed);
                        Ok(())
                    }
                };
                if let Err(err) = result {
                    fail(entry, &err, stats);
                }
            }
            HubMsg::Pause { id, paused } => {
                if let Some(Open {
                    writer: Some(Writer::Stereo(w)),
                    ..
                }) = open.get_mut(&id)
                {
                    let mark = if paused { w.pause() } else { w.resume() };
                    if let Some(mark) = mark {
                        tracing::info!(
                            offset_ms = mark.offset.as_millis(),
                            paused,
                            "recording pause changed"
                        );
                    }
                }
            }
            HubMsg::Close { id } => {
                if let Some(entry) = open.remove(&id) {
                    let path = entry.path;
                    match entry.writer.map(Writer::finish) {
                        Some(Ok(())) => {
                            tracing::info!(path = %path.display(), "recording finished")
                        }
                        Some(Err(err)) => {
                            tracing::error!(path = %path.display(), %err, "recording could not be finalised");
                        }
                        None => {}
                    }
                }
            }
        }
    }
}

fn create(path: &std::path::Path, rate: u32, stereo: bool) -> Result<Writer, String> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let file = PositionedFile {
        file: File::create(path).map_err(|e| e.to_string())?,
        pos: 0,
    };
    let config = RecorderConfig {
        checkpoint_frames: CHECKPOINT_TICKS,
        ..RecorderConfig::new(recording_rate(rate))
    };
    if stereo {
        StereoRecorder::create(file, config).map(Writer::Stereo)
    } else {
        MonoRecorder::create(file, config).map(Writer::Mono)
    }
    .map_err(|e| e.to_string())
}

fn fail(entry: &mut Open, err: &str, stats: &MediaStats) {
    tracing::error!(path = %entry.path.display(), %err, "recording failed; the call goes on without it");
    stats.recording_failures.fetch_add(1, Ordering::Relaxed);
    // What was written stays a valid file: the recorder patched its header at the last good size.
    entry.writer = None;
    if let Some(events) = entry.events.as_ref() {
        let _ = events.try_send(MediaEvent::RecordingFailed {
            path: entry.path.clone(),
            error: err.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, SeekFrom, Write};

    use super::*;

    #[test]
    fn positioned_file_writes_where_it_was_seeked() {
        let path = std::env::temp_dir().join(format!("sb-positioned-{}.bin", std::process::id()));
        let mut f = PositionedFile {
            file: File::create(&path).unwrap(),
            pos: 0,
        };
        f.write_all(b"0123456789").unwrap();
        assert_eq!(f.seek(SeekFrom::Start(2)).unwrap(), 2);
        f.write_all(b"ab").unwrap();
        assert_eq!(f.seek(SeekFrom::Current(2)).unwrap(), 6);
        f.write_all(b"c").unwrap();
        assert_eq!(f.seek(SeekFrom::End(-1)).unwrap(), 9);
        f.write_all(b"de").unwrap();
        assert!(f.seek(SeekFrom::Current(-100)).is_err(), "before the start");
        assert_eq!(f.pos, 11, "a refused seek leaves the offset");
        f.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"01ab45c78de");
        std::fs::remove_file(&path).unwrap();
    }
}
