//! `switchboard dialplan check` and `switchboard dialplan simulate`: the admin's tools for the
//! IVR, thin shells over `switchboard-dialplan`.
//!
//! Both read the configuration with the same lookup as `serve` (`--config FILE`, else
//! `./switchboard.toml`, else the embedded defaults) so references are checked against the
//! queues, agents and trunks the server would run with, and scan the sounds folder for the
//! prompts present in each language. The dialplans are every `*.kdl` file of the folder except
//! journeys files (`*.journeys.kdl`), which hold `simulate --expect` regression tests.
//!
//! All the logic (parsing, checking, interpreting, simulating) lives in the crate; this module
//! only does the IO and the formatting.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use switchboard_dialplan::interp::{
    CallFacts, DialOutcome, EnqueueOutcome, HttpResponse, OverflowReason,
};
use switchboard_dialplan::simulate::expect::{parse_journeys, run_journey};
use switchboard_dialplan::simulate::{Scenario, parse_inputs, simulate};
use switchboard_dialplan::{CheckContext, Diagnostics, DialplanSet, Source};

use crate::config::{Config, ConfigSource};

/// `println!` that does not panic when stdout is gone (`simulate … | head`): the rest of the
/// output is dropped instead.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `dialplan …` subcommands.
#[derive(Debug, Subcommand)]
pub enum DialplanCommand {
    /// Check every dialplan: syntax, arguments, references to steps, queues, hours, prompts
    /// (in every language), agents and trunks, unreachable steps, loops without input,
    /// duplicate entries. Prints every problem with its line; exits 1 if there is any.
    Check {
        /// Folder of dialplans (default: [dialplan] dir of the configuration).
        dir: Option<PathBuf>,
        /// Configuration file (same lookup as `serve` when absent).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Replay a call through the dialplans with scripted keys and print its journey, or run a
    /// file of expected journeys (--expect) and exit 1 if one fails.
    #[command(after_help = "Examples:\n  \
        switchboard dialplan simulate --to +33180000000 --from +33612345678 --digits 1,2\n  \
        switchboard dialplan simulate --to +33180000000 --at 2026-12-24T21:00:00+01:00 --digits 2,1\n  \
        switchboard dialplan simulate --expect dialplans/after-sales.journeys.kdl\n\n\
        Digits: keys 0-9 * #, `.` for silence (a timeout), `!` to hang up; commas are ignored.\n\
        They are used one by one each time the dialplan waits for a key; when they run out, \
        every wait times out.")]
    Simulate(Box<SimulateArgs>),
}

/// `dialplan simulate` arguments.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The dialled number.
    #[arg(long, value_name = "NUMBER", required_unless_present = "expect")]
    to: Option<String>,
    /// The caller's number.
    #[arg(long, value_name = "NUMBER", default_value = "anonymous")]
    from: String,
    /// The trunk the call arrives on (none: an internal call).
    #[arg(long, value_name = "NAME")]
    trunk: Option<String>,
    /// Keys the caller presses, in order.
    #[arg(long, value_name = "KEYS", default_value = "")]
    digits: String,
    /// When the call happens, RFC 3339 with an offset (default: now).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// A JSON file every HTTP request is answered with (200); without it requests fail.
    #[arg(long, value_name = "FILE")]
    http: Option<PathBuf>,
    /// How dials end: answered, busy, no-answer, unavailable, failed.
    #[arg(long, value_name = "OUTCOME", default_value = "answered")]
    dial: String,
    /// How queues end: bridged, or overflow (the dialplan's on-overflow runs).
    #[arg(long, value_name = "OUTCOME", default_value = "bridged")]
    queue: String,
    /// Run this journeys file instead of one call.
    #[arg(long, value_name = "FILE")]
    expect: Option<PathBuf>,
    /// Folder of dialplans (default: [dialplan] dir of the configuration).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Configuration file (same lookup as `serve` when absent).
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Runs a `dialplan` subcommand.
pub fn run(command: DialplanCommand) -> ExitCode {
    let result = match command {
        DialplanCommand::Check { dir, config } => check(dir, config),
        DialplanCommand::Simulate(args) => simulate_command(*args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn simulate_command(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let SimulateArgs {
        to,
        from,
        trunk,
        digits,
        at,
        http,
        dial,
        queue,
        expect,
        dir,
        config,
    } = args;
    load(dir, config).and_then(|(set, _)| match expect {
        Some(file) => run_expect(&set, &file),
        None => {
            let scenario = Scenario {
                inputs: parse_inputs(&digits).map_err(anyhow::Error::msg)?,
                http: http.as_deref().map(read_http).transpose()?,
                dial: dial_outcome(&dial)?,
                queue: queue_outcome(&queue)?,
                ..Scenario::new(
                    CallFacts {
                        dialled: to.unwrap_or_default(),
                        caller_id: from,
                        caller_name: None,
                        trunk,
                        call_id: "simulated".into(),
                    },
                    parse_at(at.as_deref())?,
                )
            };
            let journey = simulate(&set, &scenario)?;
            for line in &journey.lines {
                say!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
    })
}

fn check(dir: Option<PathBuf>, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let (set, dir) = load(dir, config)?;
    say!(
        "ok: {} dialplan{}, {} entr{} ({})",
        set.plans().len(),
        if set.plans().len() == 1 { "" } else { "s" },
        set.entry_count(),
        if set.entry_count() == 1 { "y" } else { "ies" },
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads and checks the dialplans; on problems prints them all and fails.
fn load(
    dir: Option<PathBuf>,
    config: Option<PathBuf>,
) -> anyhow::Result<(Arc<DialplanSet>, PathBuf)> {
    let (config, source) = Config::resolve(config.as_deref())?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(&config.dialplan.dir));
    let sources = read_sources(&dir)?;
    let ctx = context(&config, Path::new(&config.dialplan.sounds))?;
    let files = sources.len();
    match DialplanSet::load(sources, &ctx) {
        Ok(set) => Ok((Arc::new(set), dir)),
        Err(diagnostics) => {
            render(&diagnostics);
            let origin = match source {
                ConfigSource::Embedded => "the embedded configuration".to_owned(),
                other => other.to_string(),
            };
            bail!(
                "{} problem{} in {} (checked against {origin})",
                diagnostics.len(),
                if diagnostics.len() == 1 { "" } else { "s" },
                if files == 1 {
                    "1 dialplan".to_owned()
                } else {
                    format!("{files} dialplans")
                },
            )
        }
    }
}

fn render(diagnostics: &Diagnostics) {
    let theme = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme);
    for d in diagnostics.items() {
        let mut out = String::new();
        if handler.render_report(&mut out, d).is_err() {
            out = d.render_plain();
        }
        eprintln!("{out}");
    }
}

/// What the dialplans may refer to (see [`crate::dialplans::context`]).
///
/// # Errors
/// The sounds folder cannot be read.
pub fn context(config: &Config, sounds: &Path) -> anyhow::Result<CheckContext> {
    Ok(crate::dialplans::context(config, sounds)?)
}

/// Every dialplan of `dir` (see [`crate::dialplans::read_sources`]); none is an error here.
///
/// # Errors
/// The folder or a file cannot be read, or there is no dialplan in it.
pub fn read_sources(dir: &Path) -> anyhow::Result<Vec<Source>> {
    let sources = crate::dialplans::read_sources(dir)?;
    if sources.is_empty() {
        bail!("no dialplan (*.kdl) in {}", dir.display());
    }
    Ok(sources)
}

fn run_expect(set: &Arc<DialplanSet>, file: &Path) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let source = Source {
        name: file.display().to_string(),
        text,
    };
    let specs = match parse_journeys(&source) {
        Ok(specs) => specs,
        Err(diagnostics) => {
            render(&diagnostics);
            bail!("{} problem(s) in {}", diagnostics.len(), file.display());
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for spec in &specs {
        let result = run_journey(set, spec);
        if result.passed() {
            passed += 1;
            say!("PASS {}", result.name);
            continue;
        }
        failed += 1;
        say!("FAIL {}", result.name);
        for failure in &result.failures {
            say!("     {failure}");
        }
        if let Ok(journey) = &result.journey {
            say!("     journey:");
            for line in &journey.lines {
                say!("       {line}");
            }
        }
    }
    say!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn parse_at(at: Option<&str>) -> anyhow::Result<jiff::Timestamp> {
    match at {
        None => Ok(jiff::Timestamp::now()),
        Some(text) => text.parse().with_context(|| {
            format!("--at {text:?}: use an RFC 3339 time with its offset, e.g. 2026-12-24T21:00:00+01:00")
        }),
    }
}

fn read_http(path: &Path) -> anyhow::Result<HttpResponse> {
    let body =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str::<serde_json::Value>(&body)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    Ok(HttpResponse { status: 200, body })
}

fn dial_outcome(text: &str) -> anyhow::Result<DialOutcome> {
    Ok(match text {
        "answered" => DialOutcome::AnsweredAndEnded,
        "busy" => DialOutcome::Busy,
        "no-answer" => DialOutcome::NoAnswer,
        "unavailable" => DialOutcome::Unavailable,
        "failed" => DialOutcome::Failed(503),
        other => bail!("--dial {other}: use answered, busy, no-answer, unavailable or failed"),
    })
}

fn queue_outcome(text: &str) -> anyhow::Result<EnqueueOutcome> {
    Ok(match text {
        "bridged" => EnqueueOutcome::BridgedAndEnded,
        "overflow" => EnqueueOutcome::Overflow(OverflowReason::MaxWait),
        other => bail!("--queue {other}: use bridged or overflow"),
    })
}
