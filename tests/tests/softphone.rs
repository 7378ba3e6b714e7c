//! A real softphone: baresip registers to the running switch with digest auth and answers calls
//! put through to it; a second baresip calls the first.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_tests::tempdir::Dir;
use switchboard_tests::{Sipp, Switchboard, free_port, require_tool};

/// A baresip instance with its own config folder, killed on drop.
struct Baresip {
    child: Child,
    dir: Dir,
}

impl Baresip {
    /// Starts baresip registered as `extension` (auto-answer), listening on `port`, with extra
    /// command-line arguments.
    fn start(sb: &Switchboard, extension: &str, port: u16, extra: &[&str]) -> Baresip {
        let dir = Dir::new("baresip");
        // ausine makes a 440 Hz tone at 48 kHz stereo; baresip resamples for PCMA/PCMU.
        let config = format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{port}\nsip_trans_def udp\n\
             audio_player aufile,{out}\naudio_source ausine,440\naudio_alert aufile,/dev/null\n\
             ausrc_srate 48000\nauplay_srate 48000\nausrc_channels 2\nauplay_channels 2\n\
             module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule ausine.so\n\
             module aufile.so\nmodule account.so\nmodule menu.so\n",
            out = dir.path().join("heard.wav").display()
        );
        std::fs::write(dir.path().join("config"), config).unwrap();
        let account = format!(
            "<sip:{extension}@{}:{};transport=udp>;auth_pass=demo-{extension};answermode=auto;regint=60\n",
            sb.sip.ip(),
            sb.sip.port()
        );
        std::fs::write(dir.path().join("accounts"), account).unwrap();
        let log = std::fs::File::create(dir.path().join("baresip.log")).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip starts");
        Baresip { child, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    /// Waits (bounded) until its log contains `text`.
    fn wait_for(&self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.log().contains(text) {
                return true;
            }
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

fn registered(sb: &Switchboard, extension: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    let needle = format!("registered user={extension} ");
    while Instant::now() < deadline {
        if strip_ansi(&sb.log()).contains(&needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn strip_ansi(text: &str) -> String {
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

#[test]
fn baresip_registers_and_answers_a_trunk_call() {
    if !require_tool("baresip") || !require_tool("sipp") {
        return;
    }
    let sb = Switchboard::start("");
    let phone = Baresip::start(&sb, "1003", free_port(), &[]);
    assert!(
        registered(&sb, "1003"),
        "baresip did not register:\n{}\n{}",
        phone.log(),
        sb.log()
    );
    let caller = Sipp::new("caller_bye.xml", Some(sb.sip), free_port())
        .arg(&["-s", "1003"])
        .run();
    assert!(
        caller.ok(),
        "{:?}\n{}\nbaresip:\n{}\nswitch:\n{}",
        caller.flow(),
        caller.errors,
        phone.log(),
        sb.log()
    );
    assert!(
        phone.wait_for("Call established", Duration::from_secs(5)),
        "{}",
        phone.log()
    );
    assert!(
        phone.wait_for("session closed", Duration::from_secs(5)),
        "the caller's BYE reached baresip:\n{}",
        phone.log()
    );
}

#[test]
fn baresip_calls_baresip_through_the_switch() {
    if !require_tool("baresip") {
        return;
    }
    let sb = Switchboard::start("");
    let callee = Baresip::start(&sb, "1002", free_port(), &[]);
    assert!(registered(&sb, "1002"), "{}", callee.log());
    let dial = format!("/dial sip:1002@{}", sb.sip);
    // The caller dials at start and quits (hanging up) after 6 s.
    let caller = Baresip::start(&sb, "1001", free_port(), &["-e", &dial, "-t", "6"]);
    assert!(
        caller.wait_for("Call established", Duration::from_secs(10)),
        "caller:\n{}\nswitch:\n{}",
        caller.log(),
        sb.log()
    );
    assert!(
        callee.wait_for("Call established", Duration::from_secs(5)),
        "{}",
        callee.log()
    );
    assert!(
        callee.wait_for("session closed", Duration::from_secs(10)),
        "hang-up reached the callee:\n{}",
        callee.log()
    );
}
