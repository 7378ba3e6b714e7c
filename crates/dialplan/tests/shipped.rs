//! The shipped example: dialplans/after-sales.kdl checks clean against the shipped
//! configuration and prompts, its journeys file passes, and every `say` fragment has its file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use switchboard_dialplan::simulate::expect::{parse_journeys, run_journey};
use switchboard_dialplan::{CheckContext, DialplanSet, Source};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wavs(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            wavs(&path, &format!("{prefix}{name}/"), out);
        } else if let Some(stem) = name.strip_suffix(".wav") {
            out.insert(format!("{prefix}{stem}"));
        }
    }
}

/// The shipped switchboard.toml's queues, agents and trunks, and the shipped sounds.
fn shipped_context() -> CheckContext {
    let names = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
    let mut prompts = BTreeMap::new();
    for lang in ["fr", "en"] {
        let mut set = BTreeSet::new();
        wavs(&root().join("sounds").join(lang), "", &mut set);
        prompts.insert(lang.to_owned(), set);
    }
    CheckContext {
        queues: names(&[
            "after-sales-fr",
            "after-sales-en",
            "support-fr",
            "support-en",
        ]),
        agents: names(&["1001", "1002", "1003", "1004"]),
        trunks: names(&["local"]),
        outbound_trunks: BTreeSet::new(),
        prompts,
        default_language: "fr".into(),
    }
}

fn shipped_set() -> Arc<DialplanSet> {
    let text = std::fs::read_to_string(root().join("dialplans/after-sales.kdl")).unwrap();
    let source = Source {
        name: "after-sales.kdl".into(),
        text,
    };
    match DialplanSet::load(vec![source], &shipped_context()) {
        Ok(set) => Arc::new(set),
        Err(d) => panic!("{d}"),
    }
}

#[test]
fn the_shipped_dialplan_checks_clean() {
    let set = shipped_set();
    assert_eq!(set.plans().len(), 1);
    assert_eq!(set.entry_count(), 1);
}

#[test]
fn the_shipped_journeys_pass() {
    let set = shipped_set();
    let path = root().join("dialplans/after-sales.journeys.kdl");
    let source = Source {
        name: "after-sales.journeys.kdl".into(),
        text: std::fs::read_to_string(path).unwrap(),
    };
    let specs = parse_journeys(&source).unwrap_or_else(|d| panic!("{d}"));
    assert!(specs.len() >= 15, "{} journeys", specs.len());
    for spec in &specs {
        let result = run_journey(&set, spec);
        let lines = result
            .journey
            .as_ref()
            .map(|j| j.lines.join("\n"))
            .unwrap_or_default();
        assert!(
            result.passed(),
            "{}: {:?}\n{lines}",
            result.name,
            result.failures
        );
    }
}

#[test]
fn every_say_fragment_has_its_prompt_in_both_languages() {
    let ctx = shipped_context();
    for lang in ["fr", "en"] {
        let table = switchboard_dialplan::say::fragments(lang).unwrap();
        for (key, words) in table {
            let name = format!("say/{key}");
            assert!(
                ctx.prompts[lang].contains(&name),
                "sounds/{lang}/{name}.wav ({words}) is missing"
            );
        }
    }
}

#[test]
fn shipped_prompts_are_8khz_mono_16bit_wav() {
    let mut files = BTreeSet::new();
    wavs(&root().join("sounds"), "", &mut files);
    assert!(
        files.contains("beep") && files.contains("moh/soft-chords"),
        "{files:?}"
    );
    for name in files {
        let bytes = std::fs::read(root().join("sounds").join(format!("{name}.wav"))).unwrap();
        assert_eq!(&bytes[0..4], b"RIFF", "{name}");
        assert_eq!(&bytes[8..12], b"WAVE", "{name}");
        let fmt = bytes.windows(4).position(|w| w == b"fmt ").unwrap() + 8;
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let rate = u32::from_le_bytes([
            bytes[fmt + 4],
            bytes[fmt + 5],
            bytes[fmt + 6],
            bytes[fmt + 7],
        ]);
        assert_eq!(
            (u16_at(fmt), u16_at(fmt + 2), rate, u16_at(fmt + 14)),
            (1, 1, 8000, 16),
            "{name}: PCM, mono, 8 kHz, 16-bit"
        );
    }
}
