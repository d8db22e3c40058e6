//! Command-line interface: argument parsing and the commands.

mod check_config;
mod classify;
mod dead;
mod run;
mod status;
mod suppression;
mod track;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// rebound: recognise bounces in sales inboxes and update the CRM.
#[derive(Debug, Parser)]
#[command(name = "rebound", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse message files offline and print one report per message.
    Classify(classify::Args),
    /// Validate a configuration file and print what it configures.
    CheckConfig(check_config::Args),
    /// Sync the configured inboxes and hand on every notice found.
    Run(run::Args),
    /// Show each inbox's health and folder checkpoints.
    Status(status::Args),
    /// Register sent messages (from arguments or a JSON Lines file) so that
    /// bounces can be matched to them.
    Track(track::Args),
    /// List suppressed contacts and their suppression history.
    Suppressed(suppression::ListArgs),
    /// Lift a suppression (one account's, or a global one), recorded with
    /// an actor and a reason.
    Unsuppress(suppression::UnsuppressArgs),
    /// List the events the HTTP callback gave up on (refused, or retried
    /// past the retry budget).
    DeadLetters(dead::ListArgs),
    /// Queue dead letters for delivery again, with a fresh retry budget.
    Redrive(dead::RedriveArgs),
}

/// Parses the arguments and runs the command; returns the process exit code
/// (0 success, 1 some input could not be read, 2 usage error or invalid
/// configuration).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { 2 } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Classify(args) => classify::run(args),
        Command::CheckConfig(args) => check_config::run(args),
        Command::Run(args) => run::run(args),
        Command::Status(args) => status::run(args),
        Command::Track(args) => track::run(args),
        Command::Suppressed(args) => suppression::list(args),
        Command::Unsuppress(args) => suppression::unsuppress(args),
        Command::DeadLetters(args) => dead::list(args),
        Command::Redrive(args) => dead::redrive(args),
    }
}

/// `-c/--config FILE`, shared by every command that reads a configuration.
#[derive(Debug, clap::Args)]
struct ConfigArg {
    /// The configuration file.
    #[arg(
        id = "config",
        short = 'c',
        long = "config",
        value_name = "FILE",
        default_value = "config.example.yaml"
    )]
    path: std::path::PathBuf,
}

/// Loads the configuration for `command`; on problems prints them and
/// returns exit code 2.
fn load_config(command: &str, path: &std::path::Path) -> Result<crate::config::Config, ExitCode> {
    crate::config::Config::load(path).map_err(|errors| {
        eprintln!(
            "rebound {command}: {} is not valid:\n{errors}",
            path.display()
        );
        ExitCode::from(2)
    })
}

/// The configuration and a current-thread runtime for a short command;
/// the exit code (2 or 1) when either cannot be had.
fn prepare(
    command: &str,
    config: &ConfigArg,
) -> Result<(crate::config::Config, tokio::runtime::Runtime), ExitCode> {
    let config = load_config(command, &config.path)?;
    Ok((config, runtime(command, false)?))
}

/// Opens the configured store.
async fn open_store(
    config: &crate::config::Config,
) -> Result<crate::store::SqliteStore, crate::store::Error> {
    let crate::config::StoreConfig::Sqlite { path } = &config.store;
    crate::store::SqliteStore::open(path).await
}

/// A tokio runtime for `command` (multi-threaded for the daemon); exit code
/// 1 when it cannot start.
fn runtime(command: &str, multi_thread: bool) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().map_err(|err| {
        eprintln!("rebound {command}: cannot start the runtime: {err}");
        ExitCode::from(1)
    })
}
