//! The dialplans a running server routes calls with, and their hot reload.
//!
//! A reload (SIGHUP, `switchboard reload`, or a change in the folder when `[dialplan] watch` is
//! on) reads every `*.kdl` file again and checks it exactly as `switchboard dialplan check`
//! does; only a set that passes replaces the running one. Calls keep the `Arc` of the set they
//! started with, so a reload never changes a call half-way and never drops one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use ezk_sip_types::uri::NameAddr;
use switchboard_dialplan::interp::CallFacts;
use switchboard_dialplan::{CheckContext, DialplanSet, Source};

use crate::call::ivr::Start;
use crate::config::Config;
use crate::sip::directory::Caller;

/// The running dialplans.
#[derive(Debug)]
pub struct DialplanStore {
    current: RwLock<Arc<DialplanSet>>,
    dir: PathBuf,
    sounds: PathBuf,
    voicemail_dir: PathBuf,
    base: CheckContext,
    /// What the folder looked like at the last (attempted) load, for the watcher.
    seen: RwLock<Vec<(PathBuf, SystemTime, u64)>>,
}

/// Why the dialplans or prompts could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A folder or file could not be read.
    #[error("cannot read {path} ({what}): {source}")]
    Io {
        /// The folder or file.
        path: String,
        /// What it is, in the admin's terms.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io_error(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> LoadError {
    let path = path.display().to_string();
    move |source| LoadError::Io { path, what, source }
}

/// What the dialplans may refer to: the configuration's queues, agents and trunks, and the
/// prompts found under `sounds/{language}/` (`sounds` is `[dialplan] sounds`). `dialplan check`
/// and a reload build it the same way, so they always agree.
///
/// # Errors
/// The sounds folder cannot be read.
pub fn context(config: &Config, sounds: &Path) -> Result<CheckContext, LoadError> {
    Ok(CheckContext {
        prompts: scan_prompts(sounds)?,
        ..config_context(config)
    })
}

/// The configuration's part of a [`CheckContext`] (no prompts).
fn config_context(config: &Config) -> CheckContext {
    CheckContext {
        queues: config.queues.iter().map(|q| q.name.clone()).collect(),
        agents: config.agents.iter().map(|a| a.extension.clone()).collect(),
        trunks: config.trunks.iter().map(|t| t.name.clone()).collect(),
        outbound_trunks: config
            .trunks
            .iter()
            .filter(|t| t.address.is_some())
            .map(|t| t.name.clone())
            .collect(),
        prompts: BTreeMap::new(),
        default_language: config.dialplan.default_language.clone(),
    }
}

/// `{lang: {name}}` for every `sounds/{lang}/**/{name}.wav`, where `lang` looks like a language
/// code (so `moh/` is not one).
fn scan_prompts(sounds: &Path) -> Result<BTreeMap<String, BTreeSet<String>>, LoadError> {
    let what = "the sounds folder, [dialplan] sounds, relative to the working directory";
    let mut prompts = BTreeMap::new();
    for entry in std::fs::read_dir(sounds).map_err(io_error(sounds, what))? {
        let entry = entry.map_err(io_error(sounds, what))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.path().is_dir() || !looks_like_language(&name) {
            continue;
        }
        let mut names = BTreeSet::new();
        collect_wavs(&entry.path(), "", &mut names, 0)?;
        prompts.insert(name, names);
    }
    Ok(prompts)
}

fn looks_like_language(name: &str) -> bool {
    let (lang, region) = name.split_once('-').unwrap_or((name, "x"));
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && !region.is_empty()
        && region.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn collect_wavs(
    dir: &Path,
    prefix: &str,
    out: &mut BTreeSet<String>,
    depth: usize,
) -> Result<(), LoadError> {
    if depth > 8 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(io_error(dir, "a prompts folder"))? {
        let entry = entry.map_err(io_error(dir, "a prompts folder"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            collect_wavs(&path, &format!("{prefix}{name}/"), out, depth + 1)?;
        } else if let Some(stem) = name.strip_suffix(".wav") {
            out.insert(format!("{prefix}{stem}"));
        }
    }
    Ok(())
}

/// Every `*.kdl` of `dir` except the `*.journeys.kdl` regression files, in name order, named
/// by their path: what [`DialplanSet::load`] takes.
///
/// # Errors
/// The folder or a file cannot be read.
pub fn read_sources(dir: &Path) -> Result<Vec<Source>, LoadError> {
    let what = "the dialplans folder, [dialplan] dir";
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_error(dir, what))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            name.ends_with(".kdl") && !name.ends_with(".journeys.kdl") && p.is_file()
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(io_error(&path, "a dialplan"))?;
            Ok(Source {
                name: path.display().to_string(),
                text,
            })
        })
        .collect()
}

/// Loads and checks the dialplans of `dir` with prompts from `sounds` (a missing folder means no
/// dialplans); the error is the rendered report (every problem, with file:line:col).
///
/// # Errors
/// When a file cannot be read or the check finds problems.
pub fn load_set(dir: &Path, sounds: &Path, base: &CheckContext) -> Result<DialplanSet, String> {
    let sources = if dir.is_dir() {
        read_sources(dir).map_err(|e| e.to_string())?
    } else {
        Vec::new()
    };
    let mut ctx = base.clone();
    ctx.prompts = if sounds.is_dir() {
        scan_prompts(sounds).map_err(|e| e.to_string())?
    } else {
        BTreeMap::new()
    };
    DialplanSet::load(sources, &ctx).map_err(|d| d.to_string())
}

impl DialplanStore {
    /// Loads the configured dialplans; a folder that does not exist means no dialplans.
    ///
    /// # Errors
    /// The rendered problems when the dialplans do not pass the check (the server does not start
    /// on a dialplan that would misroute calls).
    pub fn load(config: &Config) -> Result<DialplanStore, String> {
        let dir = PathBuf::from(&config.dialplan.dir);
        let sounds = PathBuf::from(&config.dialplan.sounds);
        let base = config_context(config);
        if !dir.is_dir() {
            tracing::warn!(dir = %dir.display(), "no dialplan folder: calls reach agents' extensions only");
        }
        let set = load_set(&dir, &sounds, &base)?;
        let store = DialplanStore {
            current: RwLock::new(Arc::new(set)),
            seen: RwLock::new(fingerprint(&dir, &sounds)),
            voicemail_dir: PathBuf::from(&config.recording.voicemail_dir),
            dir,
            sounds,
            base,
        };
        tracing::info!(entries = store.get().entry_count(), dir = %store.dir.display(), "dialplans loaded");
        Ok(store)
    }

    /// A store over an already checked set (tests, benches).
    #[must_use]
    pub fn fixed(set: DialplanSet) -> DialplanStore {
        DialplanStore {
            current: RwLock::new(Arc::new(set)),
            dir: PathBuf::new(),
            sounds: PathBuf::new(),
            voicemail_dir: PathBuf::new(),
            base: CheckContext::default(),
            seen: RwLock::new(Vec::new()),
        }
    }

    /// The set in force.
    #[must_use]
    pub fn get(&self) -> Arc<DialplanSet> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Checks the folder again and swaps the set in if it passes; calls in progress keep theirs.
    ///
    /// # Errors
    /// The rendered problems; the running set stays.
    pub fn reload(&self) -> Result<usize, String> {
        *self.seen.write().unwrap_or_else(PoisonError::into_inner) =
            fingerprint(&self.dir, &self.sounds);
        let set = load_set(&self.dir, &self.sounds, &self.base)?;
        let entries = set.entry_count();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        Ok(entries)
    }

    /// Whether a file in the dialplan or sounds folders changed since the last load.
    #[must_use]
    pub fn changed(&self) -> bool {
        let now = fingerprint(&self.dir, &self.sounds);
        *self.seen.read().unwrap_or_else(PoisonError::into_inner) != now
    }

    /// The dialplan start for a call, when an entry takes it.
    #[must_use]
    pub fn route(
        &self,
        dialled: &str,
        trunk: Option<&str>,
        caller: &Caller,
        from: Option<&NameAddr>,
    ) -> Option<Start> {
        let set = self.get();
        set.route(dialled, trunk)?;
        let caller_id = match (from.and_then(|f| switchboard_sip::uri_user(&f.uri)), caller) {
            (Some(user), _) => user,
            (None, Caller::Agent(ext)) => ext.clone(),
            (None, Caller::Trunk(_)) => String::new(),
        };
        Some(Start {
            set,
            facts: CallFacts {
                dialled: dialled.to_owned(),
                caller_id,
                caller_name: from.and_then(|f| f.name.as_ref().map(ToString::to_string)),
                trunk: trunk.map(str::to_owned),
                call_id: String::new(),
            },
            sounds: self.sounds.clone(),
            voicemail_dir: self.voicemail_dir.clone(),
        })
    }
}

/// Names, modification times and sizes of the `*.kdl` and `*.wav` files, for change detection.
fn fingerprint(dir: &Path, sounds: &Path) -> Vec<(PathBuf, SystemTime, u64)> {
    let mut out = Vec::new();
    let mut walk = vec![dir.to_path_buf(), sounds.to_path_buf()];
    while let Some(d) = walk.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                walk.push(path);
            } else if path.extension().is_some_and(|e| e == "kdl" || e == "wav") {
                out.push((
                    path,
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    meta.len(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn the_shipped_dialplans_load_as_the_server_loads_them_and_journeys_are_not_dialplans() {
        let config = Config::default_embedded().unwrap();
        let base = config_context(&config);
        let set = load_set(&root().join("dialplans"), &root().join("sounds"), &base).unwrap();
        assert_eq!(
            set.plans().len(),
            1,
            "only after-sales.kdl, not its journeys file"
        );
        assert!(set.route("+33180000000", Some("local")).is_some());
        let names: Vec<String> = read_sources(&root().join("dialplans"))
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert!(
            names.iter().all(|n| !n.ends_with(".journeys.kdl")),
            "{names:?}"
        );
    }

    #[test]
    fn no_folder_means_no_dialplans_and_a_broken_file_is_reported_with_its_place() {
        let config = Config::default_embedded().unwrap();
        let base = config_context(&config);
        let missing = root().join("no-such-folder");
        let set = load_set(&missing, &missing, &base).unwrap();
        assert_eq!(set.entry_count(), 0);
        let dir = std::env::temp_dir().join(format!("sb-dialplans-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bad.kdl"), "entry \"100\" start=\"nowhere\"\n").unwrap();
        let report = load_set(&dir, &missing, &base).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(report.contains("bad.kdl:1:"), "{report}");
        assert!(report.contains("nowhere"), "{report}");
    }
}
