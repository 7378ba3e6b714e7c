//! The command line: `serve`, `config check`, `config show`, `dialplan check`,
//! `dialplan simulate`, `--version`, `--help`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

// The dialplan subcommands live in their own file, declared here so the CLI stays one module.
#[path = "dialplan_cli.rs"]
pub mod dialplan;

/// Switchboard: the telephony core of a contact centre. A SIP B2BUA with registrar, IVR
/// (dialplans) and queues, run as one binary.
#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Switchboard: softswitch and IVR engine for contact centres",
    long_about = "Switchboard is the telephony core of a contact centre: agents' softphones \
                  register to it, carriers' trunks send it calls, and it connects them.\n\n\
                  With no configuration at all, `switchboard serve` listens on 127.0.0.1:5060 \
                  (UDP and TCP) with demo agents 1001-1004 (passwords demo-1001...demo-1004).",
    after_help = "Examples:\n  \
                  switchboard serve                          # ./switchboard.toml, else built-in defaults\n  \
                  switchboard serve --config /etc/switchboard/switchboard.toml\n  \
                  switchboard config check --config my.toml  # validate before a restart\n  \
                  switchboard config show > switchboard.toml # start a config from the defaults\n  \
                  switchboard dialplan check                 # check dialplans/ before a reload\n  \
                  switchboard agents                         # who is ready, talking, paused\n  \
                  switchboard queues --json                  # waiting callers and today's figures\n  \
                  switchboard dialplan simulate --to +33180000000 --digits 1,2"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the switch until Ctrl-C or SIGTERM.
    Serve {
        /// Configuration file. Without it: ./switchboard.toml if present, else built-in defaults.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Ask the running server to reload its dialplans (checked first: a dialplan with errors
    /// is refused and the running ones stay). SIGHUP does the same.
    Reload {
        /// Configuration file, to find the server's control socket ([control] socket).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Check the dialplans, or replay calls through them.
    #[command(subcommand)]
    Dialplan(dialplan::DialplanCommand),
    /// The agents of the running server: state and time in it, pause reason, phone, calls
    /// answered and missed today, talk time, occupancy.
    Agents {
        /// Configuration file, to find the server's control socket ([control] socket).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The calls in progress on the running server: state (ivr, queued, talking), duration,
    /// caller, number dialled, queue, agent, IVR path.
    Calls {
        /// Configuration file, to find the server's control socket ([control] socket).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The queues of the running server: callers waiting, longest wait, agents by state, and
    /// today's offered, answered, abandoned, overflowed, service level, ASA and AHT.
    Queues {
        /// Configuration file, to find the server's control socket ([control] socket).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `config …` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration: prints "ok", or each problem with its key, and exits 1.
    Check {
        /// Configuration file (same lookup as `serve` when absent).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print the effective configuration as TOML.
    Show {
        /// Configuration file (same lookup as `serve` when absent).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}
