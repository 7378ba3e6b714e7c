//! End-to-end test support: start the real `switchboard` binary on free loopback ports with a
//! generated config, and drive it with real SIP peers (SIPp, baresip).
//!
//! Every wait here is bounded and waits for an event (a reply, a process exit), never a fixed
//! sleep standing in for one.
//!
//! Media tooling, for the tests that check what callers and agents *hear*:
//! * [`rtp`]: RTP and RFC 4733 packets, and scripted streams (a G.711 tone with DTMF digits);
//! * [`pcap`]: those streams as pcap files, which SIPp's `play_pcap_audio` replays;
//! * [`endpoint`]: a phone's media in the test process (receive, decode, answer);
//! * [`signal`]: Goertzel power, dominant frequency and level, to say what was heard;
//! * [`sip_log`]: the SIP messages (and their SDP) in a SIPp message log;
//! * [`recording`]: the switch's stereo WAV recordings, and WAV prompts for it to play;
//! * [`phone`]: agents' and callers' phones, SIPp for the signalling and an endpoint for media;
//! * [`ivr`]: the shipped prompts and dialplan, for the tests of the live IVR;
//! * [`baresip`]: a real softphone, with the codecs and tone a test chooses;
//! * [`crm`]: an HTTP server playing the CRM the dialplan's `http` verb talks to.
//! * [`acd`]: the ACD's agents and queues as the CLI prints them, and the store's `cdr` rows.

pub mod acd;
pub mod baresip;
pub mod crm;
pub mod endpoint;
pub mod http;
pub mod ivr;
pub mod pcap;
pub mod phone;
pub mod recording;
pub mod rtp;
pub mod signal;
pub mod sip_log;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
#[must_use]
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The `switchboard` binary, built once per test process (debug profile, like the tests).
///
/// # Panics
/// When the build fails: every end-to-end test needs the binary.
#[must_use]
pub fn binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new(env!("CARGO"))
                .args(["build", "-q", "-p", "switchboard", "--bin", "switchboard"])
                .current_dir(workspace())
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building switchboard failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| workspace().join("target"), PathBuf::from);
            target.join("debug").join("switchboard")
        })
        .clone()
}

/// Whether an external tool is on PATH. When it is not: under `CI=true` the test fails (a
/// missing peer must never pass silently), elsewhere it says so loudly and the test returns.
///
/// # Panics
/// Under `CI=true` when the tool is missing.
#[must_use]
pub fn require_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required for this test (apt-get install -y sip-tester baresip)"
        );
        eprintln!("SKIPPING: {tool} is not installed (apt-get install -y sip-tester baresip)");
    }
    found
}

/// A port free on 127.0.0.1 for both UDP and TCP at the time of asking.
///
/// # Panics
/// When no port can be found after many tries.
#[must_use]
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let Ok(udp) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else { continue };
        if TcpListener::bind(addr).is_ok() {
            return addr.port();
        }
    }
    panic!("no free loopback port");
}

/// The admin API token every test switch gets (through `SWITCHBOARD_API_TOKEN`).
pub const API_TOKEN: &str = "test-api-token-0123456789";

/// A running switchboard, killed on drop.
#[derive(Debug)]
pub struct Switchboard {
    child: Child,
    /// Its SIP address (UDP and TCP).
    pub sip: SocketAddr,
    /// Its admin API's address, when its config has one (the shipped defaults, moved to a free
    /// port by [`Switchboard::start`]); configs without an `[api]` section get the API off.
    pub api: Option<SocketAddr>,
    /// Its working directory (config, logs).
    pub dir: tempdir::Dir,
    /// How many times the binary was started in `dir` (see [`Switchboard::restart`]).
    runs: u32,
}

impl Switchboard {
    /// Starts the shipped defaults moved to a free port, with `extra` TOML appended (more
    /// agents, trunks…).
    ///
    /// # Panics
    /// When the server does not come up within 20 s.
    #[must_use]
    pub fn start(extra: &str) -> Switchboard {
        let port = free_port();
        let defaults =
            std::fs::read_to_string(workspace().join("switchboard.toml")).expect("shipped config");
        let api_port = free_port();
        let config = defaults
            .replace("127.0.0.1:5060", &format!("127.0.0.1:{port}"))
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{api_port}"));
        Switchboard::start_with(&format!("rng_seed = 7\n{config}\n{extra}"), port)
    }

    /// Starts with exactly `config` (which must listen on 127.0.0.1:`port`).
    ///
    /// # Panics
    /// When the server does not come up within 20 s.
    #[must_use]
    pub fn start_with(config: &str, port: u16) -> Switchboard {
        Switchboard::launch(tempdir::Dir::new("switchboard-e2e"), config, port)
    }

    /// Starts with `config`, its paths resolved inside the switch's own directory.
    ///
    /// # Panics
    /// When the server does not come up within 20 s.
    #[must_use]
    pub fn start_config(config: Config) -> Switchboard {
        let dir = tempdir::Dir::new("switchboard-e2e");
        for (relative, contents) in &config.files {
            let path = dir.path().join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("folder for a config file");
            }
            std::fs::write(&path, contents).expect("write a file of the switch's folder");
        }
        let text = config.resolve(dir.path());
        Switchboard::launch(dir, &text, config.port)
    }

    fn launch(dir: tempdir::Dir, config: &str, port: u16) -> Switchboard {
        let path = dir.path().join("switchboard.toml");
        // No test switch takes the default API port: an `[api]` section says where, or it is off.
        let api = config.find("[api]").and_then(|at| {
            let section = &config[at..];
            let line = section
                .lines()
                .find(|l| l.trim_start().starts_with("listen"))?;
            line.split('"').nth(1)?.parse::<SocketAddr>().ok()
        });
        let config = if config.contains("[api]") {
            config.to_owned()
        } else {
            format!("{config}\n[api]\nenabled = false\n")
        };
        std::fs::write(&path, config).expect("write config");
        let child = Switchboard::spawn(dir.path());
        let sip = SocketAddr::from(([127, 0, 0, 1], port));
        let mut sb = Switchboard {
            child,
            sip,
            api,
            dir,
            runs: 1,
        };
        sb.wait_ready();
        sb
    }

    /// `switchboard serve` on the `switchboard.toml` of `dir`, logging to a new
    /// `switchboard.log` there.
    fn spawn(dir: &Path) -> Child {
        let log = std::fs::File::create(dir.join("switchboard.log")).expect("log file");
        Command::new(binary())
            .args(["serve", "--config"])
            .arg(dir.join("switchboard.toml"))
            .current_dir(dir)
            .env("RUST_LOG", "debug")
            .env("SWITCHBOARD_API_TOKEN", API_TOKEN)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("switchboard starts")
    }

    /// Starts the server again on the same directory and configuration (so on the same store,
    /// recordings and ports), once it has stopped ([`Switchboard::terminate`],
    /// [`Switchboard::kill_hard`]): what an operator's restart or a supervisor does. The
    /// stopped run's log is kept as `switchboard.log.N` (N = 1 for the first run), so
    /// [`Switchboard::log`] and [`Switchboard::wait_for_log`] see only the new run.
    ///
    /// # Panics
    /// When the server is still running, or does not come up again within 20 s.
    pub fn restart(&mut self) {
        assert!(!self.is_running(), "restart a switch that has stopped");
        let log = self.dir.path().join("switchboard.log");
        let kept = self
            .dir
            .path()
            .join(format!("switchboard.log.{}", self.runs));
        std::fs::rename(&log, &kept).expect("keep the stopped run's log");
        self.child = Switchboard::spawn(self.dir.path());
        self.runs += 1;
        self.wait_ready();
    }

    /// Stops the server as `systemctl stop` does (SIGTERM, with the system's `kill`) and waits
    /// at most `limit` for it to exit (then kills it, and panics: a clean stop must end).
    ///
    /// # Panics
    /// When `kill` fails, or the server is still running after `limit`.
    pub fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed: {status}");
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "switchboard did not stop within {limit:?} of SIGTERM:\n{}",
                    self.log_tail(60)
                );
            }
            // Polling the process: a bounded wait for its exit.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("switchboard exited early ({status}):\n{}", self.log());
            }
            if options(self.sip, Duration::from_millis(200))
                .is_some_and(|r| r.starts_with("SIP/2.0 200"))
            {
                return;
            }
        }
        panic!(
            "switchboard did not answer OPTIONS within 20 s:\n{}",
            self.log()
        );
    }

    /// The server's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("switchboard.log")).unwrap_or_default()
    }

    /// The last `lines` lines of its log, for assertion messages (a whole debug log is long).
    #[must_use]
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Its resident memory in KiB (`VmRSS` of `/proc/PID/status`), if it can be read.
    #[must_use]
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }

    /// Sends SIGTERM (as `systemctl stop` does) without waiting: the switch drains.
    ///
    /// # Panics
    /// When `kill` fails.
    pub fn signal_term(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Whether the server process is still running.
    #[must_use]
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `path` inside the switch's directory (where [`Config::set_path`] paths point).
    #[must_use]
    pub fn path(&self, path: &str) -> PathBuf {
        self.dir.path().join(path)
    }

    /// The configuration file it runs with.
    #[must_use]
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("switchboard.toml")
    }

    /// Its store (`[store] path`'s default, `switchboard.db` beside the configuration file):
    /// the call records and the ACD's events.
    #[must_use]
    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("switchboard.db")
    }

    /// Runs `switchboard reload --config FILE` as an admin would (from another folder: the
    /// config names the control socket), bounded by the command's own 30 s.
    ///
    /// # Panics
    /// When the binary cannot be run.
    #[must_use]
    pub fn reload(&self) -> Ran {
        let output = Command::new(binary())
            .arg("reload")
            .arg("--config")
            .arg(self.config_path())
            .output()
            .expect("switchboard reload runs");
        Ran::new(&output)
    }

    /// Sends the server SIGHUP (what `systemctl reload` does), with the system's `kill`.
    ///
    /// # Panics
    /// When `kill` cannot be run or fails.
    pub fn sighup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -HUP failed: {status}");
    }

    /// Waits until the log satisfies `done`, at most `timeout` (polling the file every 20 ms:
    /// the server tells no one when it writes); the log when it did, `None` on timeout.
    #[must_use]
    pub fn wait_for_log(&self, timeout: Duration, done: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if done(&log) {
                return Some(log);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process with SIGKILL, as a crash or the OOM killer would (no clean-up runs),
    /// and waits for it to be gone.
    ///
    /// # Panics
    /// When the process cannot be killed or reaped.
    pub fn kill_hard(&mut self) {
        // std's `Child::kill` is SIGKILL on Unix.
        self.child.kill().expect("SIGKILL the switch");
        let status = self.child.wait().expect("reap the switch");
        assert!(!status.success(), "killed, not exited: {status}");
    }
}

/// What a run of the binary's command line did.
#[derive(Debug, Clone)]
pub struct Ran {
    /// Its exit code (`None` if a signal ended it).
    pub code: Option<i32>,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl Ran {
    fn new(output: &Output) -> Ran {
        Ran {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The shipped `switchboard.toml` on a free port, edited key by key: its tables already exist
/// (so appending `[media]` again would be a TOML error), and a test changes only what it needs.
#[derive(Debug, Clone)]
pub struct Config {
    text: String,
    port: u16,
    /// `(table, key, relative path)` to resolve inside the switch's directory at start.
    paths: Vec<(String, String, String)>,
    /// Files to write into the switch's directory before it starts (a dialplan to edit later).
    files: Vec<(String, Vec<u8>)>,
}

impl Config {
    /// The shipped defaults, on a free port, with `rng_seed = 7`.
    ///
    /// # Panics
    /// When the shipped file cannot be read.
    #[must_use]
    pub fn shipped() -> Config {
        let port = free_port();
        let defaults =
            std::fs::read_to_string(workspace().join("switchboard.toml")).expect("shipped config");
        let text = defaults.replace("127.0.0.1:5060", &format!("127.0.0.1:{port}"));
        Config {
            text: format!("rng_seed = 7\n{text}"),
            port,
            paths: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Sets `key` of `[table]` to `value` (TOML, e.g. `"2"` or `"\"FR\""`): replaces the key's
    /// line, or its commented-out example, or adds it under the table's header.
    ///
    /// # Panics
    /// When the shipped file has no `[table]`: a test naming a table that does not exist is
    /// wrong, and must say so.
    #[must_use]
    pub fn set(mut self, table: &str, key: &str, value: &str) -> Config {
        self.text = set_key(&self.text, table, key, value);
        self
    }

    /// Sets `key` of the `[[table]]` entry whose `name` is `name` (a queue's `strategy`, say)
    /// to `value` (TOML), as [`Config::set`] does in a table.
    ///
    /// # Panics
    /// When the shipped file has no such entry.
    #[must_use]
    pub fn set_entry(mut self, table: &str, name: &str, key: &str, value: &str) -> Config {
        self.text = set_entry_key(&self.text, table, name, key, value);
        self
    }

    /// Sets `[media]`'s RTP port range to `range` (see [`own_rtp_ports`]).
    #[must_use]
    pub fn rtp_ports(self, range: (u16, u16)) -> Config {
        self.set("media", "rtp_port_min", &range.0.to_string()).set(
            "media",
            "rtp_port_max",
            &range.1.to_string(),
        )
    }

    /// Sets `key` of `[table]` to the absolute path of `relative` inside the switch's own
    /// (temporary) directory, known only at start.
    #[must_use]
    pub fn set_path(mut self, table: &str, key: &str, relative: &str) -> Config {
        self.paths
            .push((table.to_owned(), key.to_owned(), relative.to_owned()));
        self
    }

    /// Writes `contents` to `relative` inside the switch's directory before it starts
    /// (folders created): files the server reads at start and a test edits later, such as a
    /// copy of a dialplan. Point the config at them with [`Config::set_path`].
    #[must_use]
    pub fn file(mut self, relative: &str, contents: impl Into<Vec<u8>>) -> Config {
        self.files.push((relative.to_owned(), contents.into()));
        self
    }

    /// Appends TOML (more agents, trunks…).
    #[must_use]
    pub fn append(mut self, extra: &str) -> Config {
        self.text.push('\n');
        self.text.push_str(extra);
        self
    }

    /// The SIP port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    fn resolve(&self, dir: &Path) -> String {
        let mut text = self.text.clone();
        for (table, key, relative) in &self.paths {
            let path = dir.join(relative).display().to_string();
            let value = format!("{path:?}");
            text = set_key(&text, table, key, &value);
        }
        text
    }
}

/// `text` with `key = value` in `[table]` (see [`Config::set`]).
fn set_key(text: &str, table: &str, key: &str, value: &str) -> String {
    let header = format!("[{table}]");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == header)
        .unwrap_or_else(|| panic!("the config has no {header} table"));
    set_in_block(lines, start, key, value)
}

/// `text` with `key = value` in the `[[table]]` entry named `name` (see [`Config::set_entry`]).
fn set_entry_key(text: &str, table: &str, name: &str, key: &str, value: &str) -> String {
    let header = format!("[[{table}]]");
    let named = format!("name = {name:?}");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let start = (0..lines.len())
        .filter(|&i| lines[i].trim() == header)
        .find(|&i| {
            lines[i + 1..block_end(&lines, i)]
                .iter()
                .any(|l| l.trim() == named)
        })
        .unwrap_or_else(|| panic!("the config has no {header} named {name:?}"));
    set_in_block(lines, start, key, value)
}

/// Where the table whose header is line `start` ends: the next header, or the end.
fn block_end(lines: &[String], start: usize) -> usize {
    lines[start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + 1 + i)
}

/// `lines` with `key = value` in the table whose header is line `start`: replaces the key's
/// line, or its commented-out example, or adds it under the header.
fn set_in_block(mut lines: Vec<String>, start: usize, key: &str, value: &str) -> String {
    let end = block_end(&lines, start);
    let is_key = |l: &str| {
        let l = l.trim_start().trim_start_matches('#').trim_start();
        l.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let line = format!("{key} = {value}");
    let live =
        (start + 1..end).find(|&i| !lines[i].trim_start().starts_with('#') && is_key(&lines[i]));
    let example = (start + 1..end).find(|&i| is_key(&lines[i]));
    match live.or(example) {
        Some(i) => lines[i] = line,
        None => lines.insert(start + 1, line),
    }
    lines.join("\n") + "\n"
}

impl Drop for Switchboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one datagram to `to` and returns the first datagram answered within `wait`.
#[must_use]
pub fn udp_exchange(to: SocketAddr, datagram: &[u8], wait: Duration) -> Option<String> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.set_read_timeout(Some(wait)).ok()?;
    socket.send_to(datagram, to).ok()?;
    let mut buf = vec![0u8; 65_535];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// An OPTIONS ping (what a load balancer's health check sends); the reply text if any.
#[must_use]
pub fn options(to: SocketAddr, wait: Duration) -> Option<String> {
    // Unique per probe: a repeated branch and Call-ID would be a retransmission of an earlier
    // probe, answered to that probe's socket.
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let branch = format!("z9hG4bK{}x{n}", std::process::id());
    let msg = format!(
        "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch={branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag={branch}\r\nTo: <sip:{to}>\r\n\
         Call-ID: {branch}@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    udp_exchange(to, msg.as_bytes(), wait)
}

/// The SIPp scenario file `name` under tests/sipp.
#[must_use]
pub fn scenario(name: &str) -> PathBuf {
    workspace().join("tests").join("sipp").join(name)
}

/// 200 RTP ports of 10000–29999 for one switch: none that another switch of this test process
/// was given, offset by the process id so that two test processes running at once are unlikely
/// to pick the same ones.
#[must_use]
pub fn own_rtp_ports() -> (u16, u16) {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let slot = (u16::try_from(std::process::id() % 20).unwrap_or(0) * 5 + n) % 100;
    let min = 10_000 + slot * 200;
    (min, min + 199)
}

/// A SIPp run: `sipp -sf SCENARIO TARGET -i 127.0.0.1 -p PORT -m 1 …`, bounded by `-timeout`.
#[derive(Debug, Clone)]
pub struct Sipp {
    args: Vec<String>,
}

impl Sipp {
    /// One call of `scenario` towards `target` (None for a UAS that only listens), from `port`.
    #[must_use]
    pub fn new(scenario_name: &str, target: Option<SocketAddr>, port: u16) -> Self {
        let mut args = vec![
            "-sf".to_owned(),
            scenario(scenario_name).display().to_string(),
        ];
        if let Some(target) = target {
            args.push(target.to_string());
        }
        for a in [
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "20s",
            "-timeout_error",
        ] {
            args.push(a.to_owned());
        }
        Sipp { args }
    }

    /// Adds arguments.
    #[must_use]
    pub fn arg(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Runs to completion.
    ///
    /// # Panics
    /// When sipp cannot be started.
    #[must_use]
    pub fn run(&self) -> SippResult {
        let dir = tempdir::Dir::new("sipp");
        let output = self.command(&dir).output().expect("sipp runs");
        SippResult::new(output, &dir)
    }

    /// The sipp command, tracing messages and errors into `dir`.
    fn command(&self, dir: &tempdir::Dir) -> Command {
        let mut command = Command::new("sipp");
        command.args(&self.args).current_dir(dir.path()).args([
            "-trace_err",
            "-trace_msg",
            "-message_file",
            "messages.log",
            "-error_file",
            "errors.log",
        ]);
        command
    }

    /// Starts in the background.
    ///
    /// # Panics
    /// When sipp cannot be started.
    #[must_use]
    pub fn spawn(&self) -> SippRunning {
        let dir = tempdir::Dir::new("sipp");
        let child = self
            .command(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sipp starts");
        SippRunning {
            child: Some(child),
            dir,
        }
    }
}

/// A background SIPp.
#[derive(Debug)]
pub struct SippRunning {
    child: Option<Child>,
    dir: tempdir::Dir,
}

impl SippRunning {
    /// The messages it has logged so far (SIPp writes its message log as it goes).
    #[must_use]
    pub fn messages_so_far(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("messages.log")).unwrap_or_default()
    }

    /// Waits until its message log satisfies `done`, at most `timeout` (polling the file every
    /// 20 ms: SIPp tells no one when it writes); the log when it did, `None` on timeout or when
    /// SIPp exited without it.
    pub fn wait_for_log(
        &mut self,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.messages_so_far();
            if done(&log) {
                return Some(log);
            }
            let exited = self
                .child
                .as_mut()
                .is_none_or(|c| !matches!(c.try_wait(), Ok(None)));
            if exited || Instant::now() >= deadline {
                let log = self.messages_so_far();
                return done(&log).then_some(log);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether it has exited.
    pub fn has_exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| !matches!(c.try_wait(), Ok(None)))
    }

    /// Waits for it to finish, at most `limit` (then kills it): once the other side of a call
    /// is done, this side has seconds, not its whole -timeout, to finish too.
    ///
    /// # Panics
    /// When waiting fails.
    #[must_use]
    pub fn wait_at_most(mut self, limit: Duration) -> SippResult {
        let deadline = Instant::now() + limit;
        while !self.has_exited() && Instant::now() < deadline {
            // Polling the process: a bounded wait for its exit.
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        }
        self.wait()
    }

    /// Waits for it to finish (its own -timeout bounds this).
    ///
    /// # Panics
    /// When waiting fails.
    #[must_use]
    pub fn wait(mut self) -> SippResult {
        let child = self.child.take().expect("running");
        let output = child.wait_with_output().expect("sipp finishes");
        SippResult::new(output, &self.dir)
    }
}

impl Drop for SippRunning {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a SIPp run did.
#[derive(Debug)]
pub struct SippResult {
    /// Exit code: 0 when every call succeeded.
    pub code: Option<i32>,
    /// The SIP messages it sent and received.
    pub messages: String,
    /// Its error log, then what it printed on stderr (where it says why it could not start:
    /// a port taken, a scenario it refuses).
    pub errors: String,
}

impl SippResult {
    fn new(output: Output, dir: &tempdir::Dir) -> Self {
        let mut errors = std::fs::read_to_string(dir.path().join("errors.log")).unwrap_or_default();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !stderr.trim().is_empty() {
            errors.push_str("\n--- sipp stderr ---\n");
            errors.push_str(stderr.trim_end());
        }
        SippResult {
            code: output.status.code(),
            messages: std::fs::read_to_string(dir.path().join("messages.log")).unwrap_or_default(),
            errors,
        }
    }

    /// Whether every call of the scenario succeeded.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// The start lines of the messages, for assertions and failure output.
    #[must_use]
    pub fn flow(&self) -> Vec<String> {
        self.messages
            .lines()
            .filter(|l| l.starts_with("SIP/2.0 ") || l.ends_with(" SIP/2.0"))
            .map(str::to_owned)
            .collect()
    }
}

/// Minimal temporary directories (removed on drop) without another dependency.
pub mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A directory removed on drop.
    #[derive(Debug)]
    pub struct Dir(PathBuf);

    impl Dir {
        /// Creates `$TMPDIR/<prefix>-<pid>-<n>`.
        ///
        /// # Panics
        /// When the directory cannot be created.
        #[must_use]
        pub fn new(prefix: &str) -> Dir {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir(path)
        }

        /// Its path.
        #[must_use]
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            if std::env::var_os("KEEP_TEST_DIRS").is_none() {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}
