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

/// Everything a check needs from the configuration (the prompts are scanned at each load).
#[must_use]
pub fn check_context(config: &Config) -> CheckContext {
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

/// The prompts under `sounds`: `{language}/{name}.wav` → `name` per language (names may have
/// subfolders, like `say/42`). `moh` is music, not a language.
#[must_use]
pub fn scan_prompts(sounds: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    let Ok(languages) = std::fs::read_dir(sounds) else {
        return out;
    };
    for lang in languages.flatten() {
        let path = lang.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if !path.is_dir() || name == "moh" {
            continue;
        }
        let mut names = BTreeSet::new();
        collect_wavs(&path, &path, &mut names);
        out.insert(name, names);
    }
    out
}

fn collect_wavs(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_wavs(root, &path, out);
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
            && let Ok(rel) = path.with_extension("").strip_prefix(root)
        {
            out.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The `*.kdl` files of `dir` except `*.journeys.kdl`, in name order.
///
/// Journeys files (`dialplan simulate --expect`) sit next to the dialplans they test, as the
/// shipped `after-sales.journeys.kdl` does, but are not dialplans: `dialplan check` skips them,
/// and so must the server, or it would refuse to start (or reload) on the shipped folder.
///
/// # Errors
/// When the folder or a file cannot be read.
pub fn read_sources(dir: &Path) -> std::io::Result<Vec<Source>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| is_dialplan_file(p))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)?;
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            Ok(Source { name, text })
        })
        .collect()
}

/// A `*.kdl` file that is not a `*.journeys.kdl`.
fn is_dialplan_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.ends_with(".kdl") && !name.ends_with(".journeys.kdl")
}

/// Loads and checks the dialplans of `dir` with prompts from `sounds`; the error is the
/// rendered report (every problem, with file:line:col).
///
/// # Errors
/// When a file cannot be read or the check finds problems.
pub fn load_set(dir: &Path, sounds: &Path, base: &CheckContext) -> Result<DialplanSet, String> {
    let sources = if dir.is_dir() {
        read_sources(dir).map_err(|e| format!("{}: {e}", dir.display()))?
    } else {
        Vec::new()
    };
    let mut ctx = base.clone();
    ctx.prompts = scan_prompts(sounds);
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
        let base = check_context(config);
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

    #[test]
    fn journeys_files_are_not_read_as_dialplans() {
        let dir = std::env::temp_dir().join(format!("sb-dialplans-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.kdl"), "entry \"1\" start=\"s\"").unwrap();
        std::fs::write(dir.join("a.journeys.kdl"), "journey \"x\" {}").unwrap();
        std::fs::write(dir.join("notes.txt"), "not a dialplan").unwrap();
        let names: Vec<String> = read_sources(&dir)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names, ["b.kdl"]);
    }

    #[test]
    fn the_shipped_folder_loads_as_check_loads_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let config = Config::default_embedded().unwrap();
        let set = load_set(
            &root.join("dialplans"),
            &root.join("sounds"),
            &check_context(&config),
        )
        .unwrap_or_else(|report| panic!("{report}"));
        assert_eq!(set.entry_count(), 1);
    }
}
