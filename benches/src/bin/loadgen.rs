//! `loadgen`: the media load generator. N concurrent calls through a running switch (SIP + RTP
//! both ways at 50 packets/s per direction), or through a raw UDP relay it starts itself
//! (`--baseline`), or socket to socket (`--direct`); `loadgen sweep` finds the highest clean N
//! per path. See `switchboard_benches::loadgen` for what is measured and how.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use switchboard_benches::loadgen::report::Thresholds;
use switchboard_benches::loadgen::run::{self, RunConfig, Target};
use switchboard_benches::loadgen::sdp::Codec;
use switchboard_benches::loadgen::{relay, sweep};

/// Media load generator: concurrent calls with real RTP through a switch, against a raw UDP
/// relay baseline.
#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  \
        loadgen --baseline --calls 1000 --duration 10\n  \
        loadgen --switch 127.0.0.1:5070 --switch-pid $(pgrep -n switchboard) --calls 500 --duration 30\n  \
        loadgen --switch 127.0.0.1:5070 --agent-codec opus --calls 200 --duration 30 --json\n  \
        loadgen sweep --switch 127.0.0.1:5070 --switch-pid PID --steps 100,200,400,600,800,1000,1200\n\n\
        The switch needs agent EXTENSION (1002) with contact = \"127.0.0.1:AGENT_PORT\" (5090) and a\n\
        trunk allowing 127.0.0.0/8; benches/loadgen.sh writes such a config and runs every mode."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Step the number of calls up per path until it is no longer clean (loss < 0.1 %, p99 <
    /// 5 ms); print each path's highest clean N and its ratio to the baseline.
    Sweep(SweepArgs),
    /// The baseline relay, as a child process of the generator (not for direct use).
    #[command(hide = true)]
    Relay {
        /// Calls to relay (two sockets each).
        #[arg(long)]
        calls: usize,
    },
}

/// Settings shared by a run and a sweep.
#[derive(Debug, Args)]
struct Common {
    /// SIP address of a running switch.
    #[arg(long, value_name = "ADDR")]
    switch: Option<SocketAddr>,
    /// The switch's process id: CPU and RSS are sampled from /proc.
    #[arg(long, value_name = "PID")]
    switch_pid: Option<u32>,
    /// Seconds every call is held once all are up (at most 300).
    #[arg(long, default_value_t = 10.0, value_name = "S")]
    duration: f64,
    /// Calls set up (and hung up) per second.
    #[arg(long, default_value_t = 100, value_name = "CPS")]
    ramp: u32,
    /// Codec of the caller side: PCMA or PCMU.
    #[arg(long, default_value = "PCMA", value_parser = codec)]
    caller_codec: Codec,
    /// Codec of the agent side: PCMA, PCMU or opus (the switch must then transcode).
    #[arg(long, default_value = "PCMA", value_parser = codec)]
    agent_codec: Codec,
    /// The agent's SIP port: its static contact in the switch's config.
    #[arg(long, default_value_t = 5090)]
    agent_port: u16,
    /// The agent's extension, dialled by the caller.
    #[arg(long, default_value = "1002")]
    extension: String,
    /// Milliseconds to keep receiving after the last packet was sent.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    drain_ms: u64,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// A run is clean below this loss, percent, in each direction (the target: 0.1).
    #[arg(long, default_value_t = 0.1, value_name = "PCT")]
    max_loss_pct: f64,
    /// ... and below this p99 added latency, ms (the target: 5). A large value finds
    /// the throughput ceiling (loss only) instead of the latency one.
    #[arg(long, default_value_t = 5.0, value_name = "MS")]
    max_p99_ms: f64,
}

impl Common {
    fn thresholds(&self) -> Thresholds {
        Thresholds {
            max_loss_pct: self.max_loss_pct,
            max_p99_ms: self.max_p99_ms,
        }
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Concurrent calls (at most 5000).
    #[arg(long, default_value_t = 50, value_name = "N")]
    calls: usize,
    /// Run the raw UDP relay baseline instead of a switch.
    #[arg(long, conflicts_with_all = ["switch", "direct"])]
    baseline: bool,
    /// Send socket to socket: the generator's own ceiling.
    #[arg(long, conflicts_with = "switch")]
    direct: bool,
}

#[derive(Debug, Args)]
struct SweepArgs {
    #[command(flatten)]
    common: Common,
    /// Call counts to try, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = sweep::DEFAULT_STEPS)]
    steps: Vec<usize>,
    /// Paths to sweep: baseline, switch, direct (default: baseline, and switch with --switch).
    #[arg(long, value_delimiter = ',')]
    paths: Vec<String>,
    /// Seconds to wait between runs.
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    settle: f64,
    /// Run an unclean step again this many times before its path stops (for a machine shared
    /// with other work; the report marks steps that needed it).
    #[arg(long, default_value_t = 0)]
    retries: u32,
}

fn codec(name: &str) -> Result<Codec, String> {
    Codec::parse(name).ok_or_else(|| format!("{name:?}: use PCMA, PCMU or opus"))
}

fn seconds(flag: &str, s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| anyhow::anyhow!("--{flag} {s}: not a duration"))
}

fn base_config(common: &Common, target: Target, calls: usize) -> anyhow::Result<RunConfig> {
    Ok(RunConfig {
        target,
        calls,
        duration: seconds("duration", common.duration)?,
        ramp: common.ramp,
        caller_codec: common.caller_codec,
        agent_codec: common.agent_codec,
        agent_port: common.agent_port,
        extension: common.extension.clone(),
        drain: Duration::from_millis(common.drain_ms),
        exe: std::env::current_exe()?,
    })
}

fn switch_target(common: &Common) -> Option<Target> {
    common.switch.map(|sip| Target::Switch {
        sip,
        pid: common.switch_pid,
    })
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

fn run_once(args: &RunArgs) -> anyhow::Result<()> {
    let target = if args.baseline {
        Target::Baseline
    } else if args.direct {
        Target::Direct
    } else {
        switch_target(&args.common).ok_or_else(|| {
            anyhow::anyhow!("say where the calls go: --switch ADDR, --baseline or --direct")
        })?
    };
    let config = base_config(&args.common, target, args.calls)?;
    let report = run::run(&config)?;
    let thresholds = args.common.thresholds();
    if args.common.json {
        println!("{}", report.json(&thresholds));
    } else {
        println!("command: {}\n", command_line());
        print!("{}", report.text(&thresholds));
    }
    Ok(())
}

fn run_sweep(args: &SweepArgs) -> anyhow::Result<()> {
    let mut targets = Vec::new();
    let paths = if args.paths.is_empty() {
        let mut p = vec!["baseline".to_owned()];
        if args.common.switch.is_some() {
            p.push("switch".to_owned());
        }
        p
    } else {
        args.paths.clone()
    };
    for path in &paths {
        targets.push(match path.as_str() {
            "baseline" => Target::Baseline,
            "direct" => Target::Direct,
            "switch" => switch_target(&args.common)
                .ok_or_else(|| anyhow::anyhow!("--paths switch needs --switch ADDR"))?,
            other => anyhow::bail!("--paths {other}: use baseline, switch or direct"),
        });
    }
    anyhow::ensure!(
        args.steps.windows(2).all(|w| w[0] < w[1]),
        "--steps must be ascending"
    );
    let base = base_config(&args.common, Target::Baseline, 1)?;
    let thresholds = args.common.thresholds();
    let json = args.common.json;
    let plan = sweep::SweepPlan {
        steps: args.steps.clone(),
        settle: seconds("settle", args.settle)?,
        retries: args.retries,
        thresholds,
    };
    let report = sweep::sweep(&base, &targets, &plan, |step| {
        let r = &step.report;
        eprintln!(
            "{} {} calls (attempt {}): {} (worst loss {:.3} %, worst p99 {})",
            r.mode,
            r.calls,
            step.retried + 1,
            if step.clean { "clean" } else { "NOT clean" },
            r.worst_loss_pct(),
            r.worst_p99_ms()
                .map_or_else(|| "n/a".to_owned(), |p| format!("{p:.2} ms"))
        );
        if !json {
            println!("{}", r.text(&thresholds));
        }
    })?;
    if json {
        println!("{}", report.json(&thresholds));
    } else {
        println!("command: {}\n", command_line());
        print!("{}", report.text(&thresholds));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        None => run_once(&cli.run),
        Some(Command::Sweep(args)) => run_sweep(args),
        Some(Command::Relay { calls }) => relay::child_main(*calls),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
