//! WAV files on both sides of the switch: the recordings it writes (stereo, caller left, agent
//! right), and the prompts and music on hold it plays (8 kHz mono 16-bit, like `sounds/`).
//!
//! Reading is strict on purpose: a recording that `hound` cannot parse, or whose header
//! announces samples the file does not hold, is a broken recording, whatever a lenient player
//! would make of it. After a crash the header may announce *fewer* samples than were written
//! (the recorder rewrites it every second); those are the samples that count.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// What is wrong with a WAV file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// `hound` refused it (bad header, truncated data, I/O).
    #[error("{path}: {source}")]
    Hound {
        /// The file.
        path: PathBuf,
        /// Why.
        source: hound::Error,
    },
    /// Not 16-bit integer PCM.
    #[error("{path}: {bits}-bit {format:?}, expected 16-bit integer PCM")]
    Format {
        /// The file.
        path: PathBuf,
        /// Bits per sample.
        bits: u16,
        /// Integer or float.
        format: hound::SampleFormat,
    },
}

/// A recording read back: its format and each channel's samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Samples per second.
    pub sample_rate: u32,
    /// One vector per channel (for our recordings: caller, agent).
    pub channels: Vec<Vec<i16>>,
}

impl Recording {
    /// Reads a 16-bit PCM WAV of any channel count.
    ///
    /// # Errors
    /// [`WavError`] when hound refuses the file or it is not 16-bit PCM.
    pub fn open(path: &Path) -> Result<Recording, WavError> {
        let hound = |source| WavError::Hound {
            path: path.to_owned(),
            source,
        };
        let mut reader = hound::WavReader::open(path).map_err(hound)?;
        let spec = reader.spec();
        if spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
            return Err(WavError::Format {
                path: path.to_owned(),
                bits: spec.bits_per_sample,
                format: spec.sample_format,
            });
        }
        let n = usize::from(spec.channels.max(1));
        let mut channels = vec![Vec::new(); n];
        for (i, sample) in reader.samples::<i16>().enumerate() {
            channels[i % n].push(sample.map_err(hound)?);
        }
        Ok(Recording {
            sample_rate: spec.sample_rate,
            channels,
        })
    }

    /// The left channel (the caller, in our recordings).
    #[must_use]
    pub fn left(&self) -> &[i16] {
        self.channels.first().map_or(&[], Vec::as_slice)
    }

    /// The right channel (the agent), or nothing for a mono file.
    #[must_use]
    pub fn right(&self) -> &[i16] {
        self.channels.get(1).map_or(&[], Vec::as_slice)
    }

    /// How long it plays.
    #[must_use]
    pub fn duration(&self) -> Duration {
        let frames = self.channels.first().map_or(0, Vec::len);
        let frames = u64::try_from(frames).unwrap_or(u64::MAX);
        Duration::from_micros(frames * 1_000_000 / u64::from(self.sample_rate.max(1)))
    }
}

/// Writes `samples` as a mono 16-bit WAV at `rate_hz` (a prompt, music on hold).
///
/// # Errors
/// When the file cannot be written.
pub fn write_mono(path: &Path, samples: &[i16], rate_hz: u32) -> Result<(), hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate_hz,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)?;
    for &s in samples {
        writer.write_sample(s)?;
    }
    writer.finalize()
}

/// Waits (at most `timeout`, polling every 50 ms: nothing says when the switch writes) for the
/// WAV at `path` to read back whole and last at least `at_least`, as a recording or voicemail
/// does once the switch has finalised it after the call; the last problem seen on timeout.
///
/// # Errors
/// What was still wrong at the deadline: no file, a file that does not parse, too short.
pub fn wait_for_wav(
    path: &Path,
    at_least: Duration,
    timeout: Duration,
) -> Result<Recording, String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let state = match Recording::open(path) {
            Ok(rec) if rec.duration() >= at_least => return Ok(rec),
            Ok(rec) => Err(format!(
                "{} lasts only {:?}",
                path.display(),
                rec.duration()
            )),
            Err(e) => Err(e.to_string()),
        };
        if std::time::Instant::now() >= deadline {
            return state;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The WAV files directly inside `dir` (none if it does not exist), sorted by name.
#[must_use]
pub fn wav_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
        .collect();
    files.sort();
    files
}

/// The WAV files under `dir` at any depth (none if it does not exist), each folder's sorted by
/// name: where a switch wrote files, wherever it wrote them.
#[must_use]
pub fn wav_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = wav_files(dir);
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    for folder in folders {
        files.extend(wav_files_under(&folder));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::{dominant_frequency, tone};
    use crate::tempdir::Dir;

    #[test]
    fn a_stereo_recording_reads_back_by_channel() {
        let dir = Dir::new("wav-test");
        let path = dir.path().join("call.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let (left, right) = (
            tone(1000.0, 5000.0, 12_000, 8000),
            tone(600.0, 5000.0, 12_000, 8000),
        );
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for (l, r) in left.iter().zip(&right) {
            w.write_sample(*l).unwrap();
            w.write_sample(*r).unwrap();
        }
        w.finalize().unwrap();
        let rec = Recording::open(&path).unwrap();
        assert_eq!(rec.channels.len(), 2);
        assert_eq!(rec.duration(), Duration::from_millis(1500));
        assert_eq!(dominant_frequency(rec.left(), 8000), Some(1000.0));
        assert_eq!(dominant_frequency(rec.right(), 8000), Some(600.0));
        assert_eq!(wav_files(dir.path()), vec![path]);
    }

    #[test]
    fn a_mono_prompt_round_trips_and_broken_files_are_errors() {
        let dir = Dir::new("wav-test");
        let path = dir.path().join("moh.wav");
        let pcm = tone(440.0, 8000.0, 16_000, 8000);
        write_mono(&path, &pcm, 8000).unwrap();
        let rec = Recording::open(&path).unwrap();
        assert_eq!(rec.left(), pcm.as_slice());
        assert!(rec.right().is_empty());
        // Cut inside the data: the header announces samples that are not there.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1001]).unwrap();
        assert!(matches!(
            Recording::open(&path),
            Err(WavError::Hound { .. })
        ));
        std::fs::write(&path, b"RIFF").unwrap();
        assert!(matches!(
            Recording::open(&path),
            Err(WavError::Hound { .. })
        ));
        assert!(wav_files(&dir.path().join("missing")).is_empty());
        let deep = dir.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        write_mono(&deep.join("deep.wav"), &pcm, 8000).unwrap();
        assert_eq!(wav_files_under(dir.path()), [path, deep.join("deep.wav")]);
    }

    #[test]
    fn waiting_for_a_wav_says_what_is_still_wrong() {
        let dir = Dir::new("wav-test");
        let path = dir.path().join("vm.wav");
        let short = Duration::from_millis(120);
        let missing = wait_for_wav(&path, Duration::ZERO, short).unwrap_err();
        assert!(missing.contains("vm.wav"), "{missing}");
        write_mono(&path, &tone(440.0, 8000.0, 8000, 8000), 8000).unwrap();
        let one_second = wait_for_wav(&path, Duration::from_secs(1), short).unwrap();
        assert_eq!(one_second.duration(), Duration::from_secs(1));
        let too_short = wait_for_wav(&path, Duration::from_secs(2), short).unwrap_err();
        assert!(too_short.contains("lasts only"), "{too_short}");
    }
}
