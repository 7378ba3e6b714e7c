//! baresip, a real softphone, driven by its config files: registered to the switch with the
//! shipped demo password, auto-answering, saying a tone (`ausine`) and writing what it decodes
//! to a WAV (`sndfile`), with only the codec modules a test names loaded.
//!
//! Every wait is bounded; the process is killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Switchboard;
use crate::tempdir::Dir;

/// How a phone is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The codec modules baresip loads (`g711`, `g722`, `opus`): its SDP offers and accepts
    /// only these.
    pub codecs: Vec<&'static str>,
    /// The frequency of the tone it says.
    pub tone_hz: u32,
}

impl Default for Options {
    /// G.711 only, saying 440 Hz.
    fn default() -> Options {
        Options {
            codecs: vec!["g711"],
            tone_hz: 440,
        }
    }
}

/// What baresip's tone source runs at (48 kHz stereo, resampled to the codec's rate).
const DEVICE_RATE: u32 = 48_000;

/// A running baresip with its own config folder.
#[derive(Debug)]
pub struct Baresip {
    child: Child,
    dir: Dir,
}

impl Baresip {
    /// Starts baresip registered as `extension` on `sb` (auto-answer), its SIP on `port`, with
    /// G.711 and a 440 Hz tone, and `extra` command-line arguments.
    ///
    /// # Panics
    /// When its config cannot be written or it cannot be started.
    #[must_use]
    pub fn start(sb: &Switchboard, extension: &str, port: u16, extra: &[&str]) -> Baresip {
        Baresip::start_with(sb, extension, port, &Options::default(), extra)
    }

    /// Starts baresip set up as `options` says; see [`Baresip::start`].
    ///
    /// # Panics
    /// When its config cannot be written or it cannot be started.
    #[must_use]
    pub fn start_with(
        sb: &Switchboard,
        extension: &str,
        port: u16,
        options: &Options,
        extra: &[&str],
    ) -> Baresip {
        let dir = Dir::new("baresip");
        let codecs: String = options
            .codecs
            .iter()
            .map(|c| format!("module {c}.so\n"))
            .collect();
        let config = format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{port}\nsip_trans_def udp\n\
             audio_source ausine,{tone}\naudio_alert aufile,/dev/null\n\
             ausrc_srate {DEVICE_RATE}\nauplay_srate {DEVICE_RATE}\nausrc_channels 2\n\
             auplay_channels 2\nsnd_path {dumps}\nmodule_path /usr/lib/baresip/modules\n\
             {codecs}module ausine.so\nmodule aufile.so\nmodule sndfile.so\n\
             module account.so\nmodule menu.so\n",
            dumps = dir.path().display(),
            tone = options.tone_hz,
        );
        std::fs::write(dir.path().join("config"), config).expect("baresip config");
        let account = format!(
            "<sip:{extension}@{}:{};transport=udp>;auth_pass=demo-{extension};answermode=auto;regint=60\n",
            sb.sip.ip(),
            sb.sip.port()
        );
        std::fs::write(dir.path().join("accounts"), account).expect("baresip accounts");
        let log = std::fs::File::create(dir.path().join("baresip.log")).expect("baresip log");
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("baresip log"))
            .stderr(log)
            .spawn()
            .expect("baresip starts");
        Baresip { child, dir }
    }

    /// Its log so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    /// The WAV its `sndfile` filter writes what it decodes to (`dump-{peer}-dec.wav`, at the
    /// codec's rate), once a call has started.
    #[must_use]
    pub fn heard_path(&self) -> Option<PathBuf> {
        std::fs::read_dir(self.dir.path())
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("dump-") && n.ends_with("-dec.wav"))
            })
    }

    /// Waits (at most `limit`) until its log contains `text`.
    #[must_use]
    pub fn wait_for(&self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.log().contains(text) {
                return true;
            }
            // Polling a log file: nothing else says when baresip writes it.
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (at most 10 s) for the switch to log `extension`'s registration.
#[must_use]
pub fn registered(sb: &Switchboard, extension: &str) -> bool {
    let needle = format!("registered user={extension} ");
    sb.wait_for_log(Duration::from_secs(10), |log| {
        strip_ansi(log).contains(&needle)
    })
    .is_some()
}

/// `text` without ANSI colour sequences (the switch colours its log on a terminal).
#[must_use]
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
