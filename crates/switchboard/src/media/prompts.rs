//! Prompts decoded once and kept in memory: every WAV file is read and converted to a leg's
//! audio rate the first time it is played at that rate, then shared (`Arc`) by every call.
//!
//! Call tasks load prompts (file reads happen there, never on a media worker); music on hold is
//! loaded for every rate when the engine starts, so a worker that puts a caller on hold touches
//! no disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use switchboard_media::prompt::{Prompt, PromptError};

/// The rates legs may run at (G.711, G.722 and Opus narrow/wide/full band).
const RATES: [u32; 3] = [8000, 16000, 48000];

/// Decoded prompts by file and rate.
type Cached = HashMap<(PathBuf, u32), Arc<Prompt>>;

/// A shared cache of decoded prompts.
#[derive(Debug, Clone)]
pub struct PromptCache {
    inner: Arc<Mutex<Cached>>,
    moh: Arc<HashMap<u32, Vec<Prompt>>>,
}

/// Why a prompt could not be played.
#[derive(Debug, thiserror::Error)]
pub enum PromptLoadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a usable WAV.
    #[error("{path}: {source}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong with it.
        source: PromptError,
    },
}

impl PromptCache {
    /// A cache with the music on hold from `moh_dir` (every `*.wav`, in name order) loaded.
    #[must_use]
    pub fn new(moh_dir: &Path) -> PromptCache {
        let mut files: Vec<PathBuf> = std::fs::read_dir(moh_dir)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let mut moh = HashMap::new();
        for rate in RATES {
            let list: Vec<Prompt> = files
                .iter()
                .filter_map(|path| match load(path, rate) {
                    Ok(p) => Some(p),
                    Err(err) => {
                        if rate == RATES[0] {
                            tracing::warn!(%err, "music on hold file skipped");
                        }
                        None
                    }
                })
                .collect();
            moh.insert(rate, list);
        }
        if files.is_empty() {
            tracing::warn!(dir = %moh_dir.display(), "no music on hold found (media.moh_dir); callers on hold hear silence");
        }
        PromptCache {
            inner: Arc::new(Mutex::new(HashMap::new())),
            moh: Arc::new(moh),
        }
    }

    /// The prompt at `path`, at `rate`, decoded once.
    ///
    /// # Errors
    /// When the file is missing or not a usable WAV.
    pub fn get(&self, path: &Path, rate: u32) -> Result<Arc<Prompt>, PromptLoadError> {
        let key = (path.to_path_buf(), rate);
        if let Some(hit) = self.lock().get(&key) {
            return Ok(hit.clone());
        }
        let prompt = Arc::new(load(path, rate)?);
        self.lock().insert(key, prompt.clone());
        Ok(prompt)
    }

    /// Forgets every cached prompt (after a reload that may have changed the files).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The music-on-hold playlist at `rate` (empty when there is none).
    #[must_use]
    pub fn moh_playlist(&self, rate: u32) -> Vec<Prompt> {
        self.moh.get(&rate).cloned().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn load(path: &Path, rate: u32) -> Result<Prompt, PromptLoadError> {
    let file = std::fs::File::open(path).map_err(|source| PromptLoadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Prompt::from_wav(std::io::BufReader::new(file), rate).map_err(|source| {
        PromptLoadError::Format {
            path: path.display().to_string(),
            source,
        }
    })
}
