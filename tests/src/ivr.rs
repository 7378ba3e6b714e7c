//! Support for the live IVR tests: the shipped prompts (how long each lasts, and whether a
//! caller heard one), copies of the shipped dialplan edited for a test, and the time stamps
//! `switchboard dialplan simulate --at` takes.
//!
//! A caller's key presses are scripted before the call starts, so they are timed from the
//! prompts' lengths: a key pressed during a prompt that does not allow barge-in is ignored, as
//! it would be on any IVR, so the script presses a little after such a prompt has ended and
//! relies on the menu that follows (its prompt can be interrupted, then it waits `timeout`).
//!
//! ```
//! use switchboard_tests::ivr::{always_open, prompt_length};
//!
//! let welcome = prompt_length("fr", "welcome");
//! assert!(welcome > std::time::Duration::from_secs(4));
//! let plan = "hours \"office\" tz=\"Europe/Paris\" {\n    rule \"mon-sat 08:00-20:00\"\n    \
//!             holidays \"FR\"\n}\nentry \"+33180000000\" start=\"welcome\"\n";
//! let open = always_open(plan).unwrap();
//! assert!(open.contains("rule \"mon-sun 00:00-24:00\"") && !open.contains("holidays"));
//! ```

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::recording::Recording;
use crate::signal::{Match, find, rms};
use crate::{binary, workspace};

/// One RTP packet of G.711: prompts are played in steps of it.
const PACKET: usize = 160;
/// How much of a prompt is looked for in what a caller heard: half a second.
const EXCERPT: usize = 4000;
/// Where the excerpt starts: the first packet-aligned stretch this loud (past the lead-in).
const EXCERPT_RMS: f64 = 500.0;

/// The shipped prompt `sounds/{language}/{name}.wav`.
///
/// # Panics
/// When the file does not read: the tests are written against the shipped prompts.
#[must_use]
pub fn prompt(language: &str, name: &str) -> Recording {
    let path = prompt_path(language, name);
    Recording::open(&path).unwrap_or_else(|e| panic!("shipped prompt {}: {e}", path.display()))
}

/// Where the shipped prompt is.
#[must_use]
pub fn prompt_path(language: &str, name: &str) -> PathBuf {
    workspace()
        .join("sounds")
        .join(language)
        .join(format!("{name}.wav"))
}

/// How long the shipped prompt plays.
///
/// # Panics
/// See [`prompt`].
#[must_use]
pub fn prompt_length(language: &str, name: &str) -> Duration {
    prompt(language, name).duration()
}

/// How well a caller who heard `heard` (decoded audio, packet after packet) heard the shipped
/// prompt: where half a second of it best matches, and how well (see [`find`]). `None` when the
/// caller heard less than that excerpt.
///
/// # Panics
/// See [`prompt`].
#[must_use]
pub fn heard_prompt(heard: &[i16], language: &str, name: &str) -> Option<Match> {
    let prompt = prompt(language, name);
    let samples = prompt.left();
    // Packet-aligned, so its samples sit where the switch's packets put them.
    let start = samples
        .chunks_exact(PACKET)
        .position(|c| rms(c) >= EXCERPT_RMS)
        .map_or(0, |i| i * PACKET);
    let excerpt = samples.get(start..start + EXCERPT)?;
    find(heard, excerpt, PACKET)
}

/// The shipped `dialplans/after-sales.kdl`.
///
/// # Panics
/// When it does not read.
#[must_use]
pub fn shipped_dialplan() -> String {
    std::fs::read_to_string(workspace().join("dialplans/after-sales.kdl"))
        .expect("the shipped dialplan reads")
}

/// A caller's keys through the shipped plan's first two menus, each with when it is pressed
/// from the start of the call's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// `(key, when)`, in time order.
    pub keys: Vec<(char, Duration)>,
    /// When the caller is in the queue: the menus answered and please-hold played.
    pub queued: Duration,
}

/// The keys of a caller who picks `language` (`'1'` French, `'2'` English) and then `choice`
/// in the main menu: the first `margin` after the welcome (which a key cannot interrupt) has
/// ended, so into the language menu; the next `margin` later, into the main menu.
#[must_use]
pub fn to_queue(language: char, choice: char, margin: Duration) -> Keys {
    let lang = if language == '2' { "en" } else { "fr" };
    let first = prompt_length("fr", "welcome") + margin;
    let second = first + margin;
    Keys {
        keys: vec![(language, first), (choice, second)],
        queued: second + prompt_length(lang, "please-hold"),
    }
}

/// A dialplan entry for `number` that answers, says goodbye and hangs up with `cause` (also
/// its step's name): an entry whose calls show at once which dialplan set routed them.
#[must_use]
pub fn goodbye_entry(number: &str, cause: &str) -> String {
    format!(
        "\nentry \"{number}\" start=\"{cause}\"\nstep \"{cause}\" {{\n    answer\n    \
         play \"goodbye\"\n    hangup cause=\"{cause}\"\n}}\n"
    )
}

/// The journey `switchboard dialplan simulate` prints for a call from +33612345678 to `to`
/// at `at` pressing `keys` (`"1,2"`), through the shipped configuration and dialplans.
///
/// # Errors
/// What it printed when it failed.
///
/// # Panics
/// When the binary cannot be run.
pub fn simulate(at: SystemTime, to: &str, keys: &str) -> Result<String, String> {
    let out = std::process::Command::new(binary())
        .args(["dialplan", "simulate", "--to", to, "--from", "+33612345678"])
        .args(["--digits", keys, "--at", &rfc3339_utc(at)])
        .current_dir(workspace())
        .output()
        .expect("switchboard dialplan simulate runs");
    let journey = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(journey)
    } else {
        Err(format!("{journey}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// What is wrong with a dialplan a test tried to edit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// The text to replace is not in the dialplan (the shipped one changed; so must the test).
    #[error("the dialplan has no {0:?}")]
    Missing(String),
}

/// The dialplan `kdl` with every `hours` block open around the clock: its rules (holidays and
/// dated exceptions included) replaced by `rule "mon-sun 00:00-24:00"`, so a test of the open
/// line does not depend on when it runs.
///
/// # Errors
/// [`EditError::Missing`] when there is no `hours` block.
pub fn always_open(kdl: &str) -> Result<String, EditError> {
    let mut out = String::with_capacity(kdl.len());
    let mut inside = false;
    let mut found = false;
    for line in kdl.lines() {
        let trimmed = line.trim_start();
        if inside {
            if trimmed.starts_with('}') {
                out.push_str("    rule \"mon-sun 00:00-24:00\"\n");
                out.push_str(line);
                out.push('\n');
                inside = false;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if trimmed.starts_with("hours ") && trimmed.trim_end().ends_with('{') {
            inside = true;
            found = true;
        }
    }
    if found {
        Ok(out)
    } else {
        Err(EditError::Missing("hours block".into()))
    }
}

/// `kdl` with `from` replaced by `to`, exactly once: a test's edit of one verb's argument (a
/// queue's `max-wait`) that fails loudly when the dialplan no longer has it.
///
/// # Errors
/// [`EditError::Missing`] when `from` is not in `kdl`.
pub fn replace_once(kdl: &str, from: &str, to: &str) -> Result<String, EditError> {
    match kdl.find(from) {
        Some(at) => Ok(format!("{}{to}{}", &kdl[..at], &kdl[at + from.len()..])),
        None => Err(EditError::Missing(from.to_owned())),
    }
}

/// `t` as RFC 3339 in UTC to the second (`2026-12-02T03:04:05Z`), what `dialplan simulate
/// --at` takes.
#[must_use]
pub fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (the well-known era-based
/// conversion: 400-year eras of 146,097 days, years starting in March so leap days come last).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365, from March 1st
    let mp = (5 * doy + 2) / 153; // March = 0
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::tone;

    #[test]
    fn utc_stamps_cross_months_leap_days_and_centuries() {
        let at = |s: u64| rfc3339_utc(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(at(1_798_761_600), "2027-01-01T00:00:00Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn the_shipped_plan_opens_around_the_clock_and_edits_fail_loudly() {
        let shipped =
            std::fs::read_to_string(workspace().join("dialplans/after-sales.kdl")).unwrap();
        let open = always_open(&shipped).unwrap();
        assert!(open.contains("rule \"mon-sun 00:00-24:00\""));
        for gone in ["holidays \"FR\"", "rule \"mon-sat", "rule \"2026-12-24"] {
            assert!(!open.contains(gone), "{gone} is still there");
        }
        // Everything else is untouched.
        assert_eq!(
            open.lines().filter(|l| l.starts_with("step ")).count(),
            shipped.lines().filter(|l| l.starts_with("step ")).count()
        );
        assert_eq!(
            always_open("entry \"1\" start=\"s\""),
            Err(EditError::Missing("hours block".into()))
        );
        assert_eq!(
            replace_once("a max=1 b", "max=1", "max=2").unwrap(),
            "a max=2 b"
        );
        assert!(replace_once("a", "max=1", "max=2").is_err());
    }

    #[test]
    fn keys_to_a_queue_follow_the_prompts_and_an_entry_is_a_whole_step() {
        let margin = Duration::from_secs(2);
        let keys = to_queue('2', '3', margin);
        let first = prompt_length("fr", "welcome") + margin;
        assert_eq!(keys.keys, [('2', first), ('3', first + margin)]);
        assert_eq!(
            keys.queued,
            first + margin + prompt_length("en", "please-hold")
        );
        let entry = goodbye_entry("+331", "bye");
        assert!(
            entry.contains("entry \"+331\" start=\"bye\"")
                && entry.contains("hangup cause=\"bye\"")
        );
        assert_eq!(entry.matches('{').count(), entry.matches('}').count());
    }

    #[test]
    fn a_prompt_is_recognised_in_what_a_caller_heard_and_another_is_not() {
        // What a caller hears: silence, then the prompt from a packet boundary on.
        let welcome = prompt("fr", "welcome");
        let mut heard = vec![0i16; 50 * PACKET];
        heard.extend_from_slice(welcome.left());
        let found = heard_prompt(&heard, "fr", "welcome").unwrap();
        assert!(found.correlation > 0.999, "{found:?}");
        assert_eq!(found.offset % PACKET, 0);
        assert!(heard_prompt(&heard, "en", "main-menu").unwrap().correlation < 0.5);
        let beep = tone(1000.0, 5000.0, 16_000, 8000);
        assert!(heard_prompt(&beep, "fr", "welcome").unwrap().correlation < 0.5);
        assert_eq!(heard_prompt(&heard[..100], "fr", "welcome"), None);
    }
}
