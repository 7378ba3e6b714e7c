//! The recorder under crashes and I/O faults.
//!
//! Crashes: a writer logs every `write` (position and bytes) and accepts data writes in pieces
//! of arbitrary size; replaying any prefix of the log gives the file as a `kill -9` at that
//! moment would leave it. Every such snapshot must parse with hound and hold, exactly, at least
//! the frames of the last checkpoint completed before it. (Writes of 4 bytes into the header
//! are kept whole: a process kill cannot tear a `write` that small.)
//!
//! Faults: a disk that fills up (ENOSPC after a short write), header rewrites that fail, a
//! failing flush, a header that cannot be written at all. None panics; the first error is
//! returned once, typed; later frames are counted as dropped; the file stays valid.

use std::io::{self, Cursor, Seek, SeekFrom, Write};

use proptest::prelude::*;
use switchboard_media::recorder::{
    IoStage, MonoRecorder, RecorderConfig, RecorderError, RecorderState, RecordingRate,
    StereoRecorder, WriteOutcome,
};

const NARROW: RecorderConfig = RecorderConfig::new(RecordingRate::Narrowband);

/// Parses a WAV image with hound, returning its interleaved samples.
fn parse(bytes: &[u8]) -> Result<Vec<i16>, hound::Error> {
    let mut reader = hound::WavReader::new(Cursor::new(bytes))?;
    reader.samples::<i16>().collect()
}

/// Deterministic frame content for tick `t`, so any prefix can be checked exactly.
fn frame(t: usize, side: i16) -> Vec<i16> {
    (0..160)
        .map(|i| i16::try_from((t * 31 + i * 7) % 20_000).unwrap() * side)
        .collect()
}

/// A writer that records every write and accepts data writes `max_chunk` bytes at a time.
#[derive(Debug, Default)]
struct CrashLog {
    ops: Vec<(u64, Vec<u8>)>,
    pos: u64,
    len: u64,
    max_chunk: usize,
}

impl CrashLog {
    fn new(max_chunk: usize) -> Self {
        Self {
            max_chunk,
            ..Self::default()
        }
    }
}

impl Write for CrashLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = if self.pos < 44 {
            buf.len()
        } else {
            buf.len().min(self.max_chunk)
        };
        self.ops.push((self.pos, buf[..n].to_vec()));
        self.pos += n as u64;
        self.len = self.len.max(self.pos);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for CrashLog {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
            SeekFrom::End(d) => self.len.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}

/// Records `ticks` stereo frames into a [`CrashLog`], then checks every snapshot.
fn crash_at_every_write(ticks: usize, checkpoint_frames: u32, max_chunk: usize) {
    let config = RecorderConfig {
        checkpoint_frames,
        ..NARROW
    };
    let mut rec = StereoRecorder::create(CrashLog::new(max_chunk), config).unwrap();
    // (number of logged writes when a checkpoint completed, ticks it covers)
    let mut checkpoints = vec![(rec.get_ref().ops.len(), 0)];
    let mut expected = Vec::new();
    for t in 0..ticks {
        let (l, r) = (frame(t, 1), frame(t, -1));
        expected.extend((0..160).flat_map(|i| [l[i], r[i]]));
        if rec.write_frame(Some(&l), Some(&r)).unwrap() == WriteOutcome::Checkpointed {
            checkpoints.push((rec.get_ref().ops.len(), t + 1));
        }
    }
    let log = rec.finish().unwrap().writer;
    checkpoints.push((log.ops.len(), ticks));

    let mut image = Vec::new();
    for done in 0..=log.ops.len() {
        if done > 0 {
            let (at, bytes) = &log.ops[done - 1];
            let end = *at as usize + bytes.len();
            if image.len() < end {
                image.resize(end, 0);
            }
            image[*at as usize..end].copy_from_slice(bytes);
        }
        if done < checkpoints[0].0 {
            continue; // the header itself is still being written
        }
        let guaranteed = checkpoints
            .iter()
            .filter(|(ops, _)| *ops <= done)
            .map(|&(_, ticks)| ticks)
            .max()
            .unwrap_or(0);
        let samples = parse(&image)
            .unwrap_or_else(|e| panic!("snapshot after {done} writes does not parse: {e}"));
        assert!(
            samples.len() >= guaranteed * 320,
            "snapshot after {done} writes: {} samples, checkpoint promised {}",
            samples.len(),
            guaranteed * 320
        );
        assert_eq!(
            samples,
            expected[..samples.len()],
            "snapshot after {done} writes"
        );
    }
}

#[test]
fn every_crash_point_leaves_a_valid_file_byte_by_byte() {
    // One byte per write: the crash can land inside any sample of any frame.
    crash_at_every_write(8, 3, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn every_crash_point_leaves_a_valid_file(
        ticks in 1_usize..160,
        checkpoint_frames in 1_u32..=50,
        max_chunk in 256_usize..20_000,
    ) {
        crash_at_every_write(ticks, checkpoint_frames, max_chunk);
    }
}

/// A disk with room for `capacity` bytes of file: writes past it are cut short, then refused
/// with ENOSPC. Overwriting existing bytes needs no room (as on a real filesystem).
#[derive(Debug)]
struct SmallDisk {
    file: Cursor<Vec<u8>>,
    capacity: u64,
}

impl Write for SmallDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let pos = self.file.position();
        let room = self.capacity.saturating_sub(pos);
        if room == 0 {
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        let n = buf.len().min(usize::try_from(room).unwrap());
        self.file.write(&buf[..n])
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for SmallDisk {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.file.seek(to)
    }
}

#[test]
fn a_full_disk_fails_once_drops_later_frames_and_keeps_what_fit() {
    // Room for the header, one second (32,000 bytes) and 10,001 bytes more.
    let disk = SmallDisk {
        file: Cursor::new(Vec::new()),
        capacity: 44 + 32_000 + 10_001,
    };
    let mut rec = StereoRecorder::create(disk, NARROW).unwrap();
    let mut errors = Vec::new();
    let mut dropped = 0;
    let mut expected = Vec::new();
    for t in 0..150 {
        let (l, r) = (frame(t, 1), frame(t, -1));
        expected.extend((0..160).flat_map(|i| [l[i], r[i]]));
        match rec.write_frame(Some(&l), Some(&r)) {
            Ok(WriteOutcome::Dropped) => dropped += 1,
            Ok(_) => {}
            Err(e) => errors.push((t, e)),
        }
    }
    assert_eq!(
        errors,
        [(
            99,
            RecorderError::Io {
                kind: io::ErrorKind::StorageFull,
                stage: IoStage::WriteData
            }
        )],
        "the second checkpoint fails, and is reported once"
    );
    assert_eq!(dropped, 50);
    assert_eq!(rec.state(), RecorderState::Failed);
    assert_eq!(rec.pause(), None);
    let done = rec.finish().unwrap();
    assert!(!done.complete);
    assert_eq!(done.stats.dropped_frames, 50);
    assert_eq!(done.stats.frames, 100);
    // The 10,001 bytes that fit hold 2,500 whole stereo samples: the header was patched to
    // cover them on top of the first second.
    let samples = parse(done.writer.file.get_ref()).unwrap();
    assert_eq!(samples.len(), (32_000 + 10_000) / 2);
    assert_eq!(samples, expected[..samples.len()]);
}

/// A writer that refuses writes into the header after the first `allowed` of them, and
/// fails flushes after the first `flushes` of them.
#[derive(Debug)]
struct StuckHeader {
    file: Cursor<Vec<u8>>,
    allowed: usize,
    flushes: usize,
}

impl Write for StuckHeader {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.position() < 44 {
            if self.allowed == 0 {
                return Err(io::ErrorKind::PermissionDenied.into());
            }
            self.allowed -= 1;
        }
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.flushes == 0 {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.flushes -= 1;
        Ok(())
    }
}

impl Seek for StuckHeader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.file.seek(to)
    }
}

#[test]
fn a_failed_header_update_leaves_the_previous_checkpoint() {
    // Allowed: the initial header, then the RIFF and data sizes of the first checkpoint.
    let writer = StuckHeader {
        file: Cursor::new(Vec::new()),
        allowed: 3,
        flushes: usize::MAX,
    };
    let mut rec = MonoRecorder::create(writer, NARROW).unwrap();
    let mut first_error = None;
    for t in 0..120 {
        if let Err(e) = rec.write_frame(Some(&frame(t, 1))) {
            assert!(first_error.is_none(), "reported twice");
            first_error = Some((t, e));
        }
    }
    assert_eq!(
        first_error,
        Some((
            99,
            RecorderError::Io {
                kind: io::ErrorKind::PermissionDenied,
                stage: IoStage::PatchHeader
            }
        ))
    );
    let done = rec.finish().unwrap();
    assert_eq!(done.stats.dropped_frames, 20);
    let samples = parse(done.writer.file.get_ref()).unwrap();
    let expected: Vec<i16> = (0..50).flat_map(|t| frame(t, 1)).collect();
    assert_eq!(samples, expected, "exactly the first checkpoint");
}

#[test]
fn a_failed_flush_or_header_is_an_error_not_a_panic() {
    let flaky = StuckHeader {
        file: Cursor::new(Vec::new()),
        allowed: usize::MAX,
        flushes: 0,
    };
    assert_eq!(
        MonoRecorder::create(flaky, NARROW).unwrap_err(),
        RecorderError::Io {
            kind: io::ErrorKind::TimedOut,
            stage: IoStage::WriteHeader
        }
    );
    let readonly = StuckHeader {
        file: Cursor::new(Vec::new()),
        allowed: 0,
        flushes: usize::MAX,
    };
    assert_eq!(
        StereoRecorder::create(readonly, NARROW).unwrap_err(),
        RecorderError::Io {
            kind: io::ErrorKind::PermissionDenied,
            stage: IoStage::WriteHeader
        }
    );

    // The header's flush succeeds, the first checkpoint's does not: the samples may not be on
    // storage, so the header is left as it was (an empty, valid file).
    let writer = StuckHeader {
        file: Cursor::new(Vec::new()),
        allowed: usize::MAX,
        flushes: 1,
    };
    let mut rec = MonoRecorder::create(writer, NARROW).unwrap();
    for t in 0..10 {
        rec.write_frame(Some(&frame(t, 1))).unwrap();
    }
    assert_eq!(
        rec.checkpoint(),
        Err(RecorderError::Io {
            kind: io::ErrorKind::TimedOut,
            stage: IoStage::Flush
        })
    );
    assert_eq!(rec.state(), RecorderState::Failed);
    assert_eq!(rec.checkpoint(), Ok(()), "reported once");
    assert_eq!(rec.write_frame(None), Ok(WriteOutcome::Dropped));
    let done = rec.finish().unwrap();
    assert!(!done.complete);
    assert_eq!(
        parse(done.writer.file.get_ref()).unwrap(),
        Vec::<i16>::new()
    );
}
