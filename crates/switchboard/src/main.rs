//! The `switchboard` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser as _;
use switchboard::acd::View;
use switchboard::cli::{Cli, Command, ConfigCommand};
use switchboard::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config.as_deref()),
        Command::Dialplan(command) => switchboard::cli::dialplan::run(command),
        Command::Config(ConfigCommand::Check { config }) => {
            match Config::resolve(config.as_deref()) {
                Ok((_, source)) => {
                    println!("ok: {source}");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Reload { config } => reload(config.as_deref()),
        Command::Agents { config, json } => acd(config.as_deref(), json, View::agents_table),
        Command::Queues { config, json } => acd(config.as_deref(), json, View::queues_table),
        Command::Calls { config, json } => calls(config.as_deref(), json),
        Command::Config(ConfigCommand::Show { config }) => {
            match Config::resolve(config.as_deref())
                .map_err(anyhow::Error::from)
                .and_then(|(c, _)| toml::to_string_pretty(&c).map_err(anyhow::Error::from))
            {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The control socket the configuration names, and a runtime to talk to it.
fn control(
    path: Option<&std::path::Path>,
) -> Option<(std::path::PathBuf, tokio::runtime::Runtime)> {
    let socket = match Config::resolve(path) {
        Ok((config, _)) => std::path::PathBuf::from(config.control.socket),
        Err(err) => {
            eprintln!("error: {err}");
            return None;
        }
    };
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some((socket, rt)),
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            None
        }
    }
}

fn acd(path: Option<&std::path::Path>, json: bool, table: fn(&View) -> String) -> ExitCode {
    let Some((socket, runtime)) = control(path) else {
        return ExitCode::FAILURE;
    };
    print(
        runtime.block_on(switchboard::control::request_acd(&socket)),
        json,
        table,
    )
}

fn calls(path: Option<&std::path::Path>, json: bool) -> ExitCode {
    let Some((socket, runtime)) = control(path) else {
        return ExitCode::FAILURE;
    };
    print(
        runtime.block_on(switchboard::control::request_calls(&socket)),
        json,
        switchboard::calls::LiveCalls::table,
    )
}

/// Prints what the server answered, as JSON or as `table` draws it.
fn print<T: serde::Serialize>(
    answer: std::io::Result<T>,
    json: bool,
    table: fn(&T) -> String,
) -> ExitCode {
    let value = match answer {
        Ok(value) => value,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let text = if json {
        match serde_json::to_string_pretty(&value) {
            Ok(text) => text + "\n",
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        table(&value)
    };
    // A reader that went away (`| head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    ExitCode::SUCCESS
}

fn reload(path: Option<&std::path::Path>) -> ExitCode {
    let Some((socket, runtime)) = control(path) else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(switchboard::control::request_reload(&socket)) {
        Ok(answer) => {
            print!("{answer}");
            if answer.starts_with("ok") {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(path: Option<&std::path::Path>) -> ExitCode {
    let (config, source) = match Config::resolve(path) {
        Ok(found) => found,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    switchboard::redact::set_enabled(config.log.redact_numbers);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(switchboard::server::run(config, source)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
