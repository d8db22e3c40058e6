//! `rebound run`: sync every configured inbox and hand on what is found.
//!
//! `--once` syncs every inbox until it is caught up and exits (what the demo,
//! the tests and the benchmarks use); without it the inboxes are watched
//! until SIGINT/SIGTERM, then stopped gracefully.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::{CallbackConfig, Config, StoreConfig};
use crate::outbox::Dispatcher;
use crate::sink::Sink;
use crate::store::SqliteStore;
use crate::sync::{InboxOutcome, Mode, Supervisor};

/// Arguments of `rebound run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: super::ConfigArg,
    /// Sync every inbox until caught up, then exit.
    #[arg(long)]
    once: bool,
    /// On a folder's first sync, start this far back instead of "now" (e.g. 30d, 12h).
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    since: Option<Duration>,
    /// Never show progress bars (they only appear on a terminal anyway).
    #[arg(long)]
    no_progress: bool,
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
    /// With `callback: stdout`: `jsonl` (default) prints one JSON line per
    /// event (docs/events.md); `pretty` a readable summary of findings and
    /// events for people.
    #[arg(long, value_enum, default_value_t = Output::Jsonl)]
    format: Output,
}

/// How findings are printed on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    /// One JSON line per finding.
    Jsonl,
    /// A readable summary.
    Pretty,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Parses `30d`, `12h`, `45m`, `90s` or plain seconds (the config's syntax).
fn parse_age(text: &str) -> Result<Duration, String> {
    crate::config::parse_duration(text).map_err(|err| err.to_string())
}

/// Runs the command; exit 0 when every inbox synced, 1 when one failed, 2 on
/// a configuration problem.
pub fn run(args: Args) -> ExitCode {
    let config = match super::load_config("run", &args.config.path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    init_logging(args.log_format, args.once);
    let runtime = match super::runtime("run", true) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(run_async(args, config)) {
        Ok(outcomes) => {
            if outcomes.iter().any(|o| o.error.is_some()) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            eprintln!("rebound run: {err:#}");
            ExitCode::from(1)
        }
    }
}

async fn run_async(args: Args, config: Config) -> anyhow::Result<Vec<InboxOutcome>> {
    let store = match &config.store {
        StoreConfig::Sqlite { path } => SqliteStore::open(path)
            .await
            .with_context(|| format!("opening the store {}", path.display()))?,
    };
    let mut printer = None;
    let sink = match &config.callback {
        CallbackConfig::Stdout if args.format == Output::Pretty => {
            let (sink, rx) = Sink::channel();
            printer = Some(tokio::spawn(print_pretty(rx)));
            sink
        }
        CallbackConfig::Stdout => Sink::Stdout,
        CallbackConfig::File { path } => Sink::file(path)?,
        CallbackConfig::Http(_) => Sink::Dispatcher,
    };
    let store_location = match &config.store {
        StoreConfig::Sqlite { path } => path.display().to_string(),
    };
    let mode = Mode {
        once: args.once,
        backfill: args.since,
        progress: !args.no_progress && std::io::stderr().is_terminal(),
    };
    let store = Arc::new(store);
    let config = Arc::new(config);
    let supervisor = Supervisor::new(config.clone(), store.clone(), sink);
    let shared = supervisor.shared().clone();
    let stop = CancellationToken::new();
    let signals = tokio::spawn(stop_on_signal(stop.clone()));

    // The HTTP callback: its dispatcher runs beside the sync (daemon), or
    // delivers what is due once the sync is done (`--once`).
    let dispatcher = match &config.callback {
        CallbackConfig::Http(http) => {
            let dispatcher = Arc::new(Dispatcher::new(store.clone(), http)?);
            shared.pipeline.notify_dispatcher(dispatcher.notifier());
            Some(dispatcher)
        }
        _ => None,
    };
    let mut background = Vec::new();
    if !args.once {
        background.push(tokio::spawn(crate::retention::run(
            store.clone(),
            config.retention,
            stop.child_token(),
        )));
        if let Some(dispatcher) = &dispatcher {
            let dispatcher = dispatcher.clone();
            let token = stop.child_token();
            background.push(tokio::spawn(async move { dispatcher.run(token).await }));
        }
        if let Some(api) = &config.api {
            let listener = tokio::net::TcpListener::bind(api.listen)
                .await
                .with_context(|| format!("binding the API to {}", api.listen))?;
            let resync = shared.clone();
            let notify_shared = shared.clone();
            let mut state = crate::api::AppState::new(
                store.clone(),
                config.clone(),
                shared.clone(),
                &api.token,
            )
            .with_resync(Arc::new(move |id: &str| resync.resync.request(id)))
            .with_events_written(Arc::new(move || {
                if let Some(notify) = notify_shared.pipeline.dispatcher_notify() {
                    notify.notify_one();
                }
            }));
            if let Some(dispatcher) = &dispatcher {
                state = state.with_dead_letters(Arc::new(DeadLetterAdapter(dispatcher.clone())));
            }
            let token = stop.child_token();
            background.push(tokio::spawn(async move {
                if let Err(err) = crate::api::serve(listener, state, token).await {
                    tracing::error!(error = %err, "the HTTP API stopped");
                }
            }));
        }
    }

    let outcomes = supervisor.run(mode, stop.clone()).await;
    drop(supervisor);
    if let Some(dispatcher) = dispatcher.as_ref().filter(|_| args.once) {
        deliver_once(dispatcher).await;
    }
    if args.once {
        let now = crate::sync::unix_now();
        if let Err(err) = crate::retention::prune_once(&*store, &config.retention, now).await {
            eprintln!("retention: {err}");
        }
    }
    stop.cancel();
    for task in background {
        let _ = tokio::time::timeout(config.sync.shutdown_grace, task).await;
    }
    drop(shared);
    signals.abort();
    let _ = signals.await;
    if let Some(printer) = printer {
        let _ = printer.await;
    }
    store.close().await;
    summarise(&outcomes, args.once, &store_location);
    Ok(outcomes)
}

/// `--once` with an HTTP callback: passes over the outbox until nothing more
/// goes out now; what fails stays scheduled for the next run.
async fn deliver_once(dispatcher: &Dispatcher<SqliteStore>) {
    for _ in 0..1000 {
        match dispatcher.deliver_pending(crate::sync::unix_now()).await {
            Ok(summary) if summary.delivered + summary.dead == 0 => {
                if summary.retrying > 0 {
                    eprintln!(
                        "callback: {} events could not be delivered now; they are retried on the next run",
                        summary.retrying
                    );
                }
                return;
            }
            Ok(_) => {}
            Err(err) => {
                eprintln!("callback: {err}");
                return;
            }
        }
    }
}

/// The dispatcher's dead letters and redrive, as the API asks for them.
struct DeadLetterAdapter(Arc<Dispatcher<SqliteStore>>);

impl crate::api::DeadLetters for DeadLetterAdapter {
    fn dead(
        &self,
        after: i64,
        limit: usize,
    ) -> crate::api::PluginFuture<'_, Vec<crate::api::DeadLetter>> {
        Box::pin(async move {
            let dead = self.0.dead_letters(after, limit).await?;
            Ok(dead
                .into_iter()
                .map(|d| crate::api::DeadLetter {
                    seq: d.seq,
                    event: d.event,
                    created_at: d.created_at,
                    attempts: d.attempts,
                    last_error: d.last_error,
                    dead_at: d.dead_at,
                })
                .collect())
        })
    }

    fn redrive<'a>(&'a self, id: &'a str) -> crate::api::PluginFuture<'a, bool> {
        Box::pin(async move {
            let ids = [id.to_string()];
            Ok(self.0.redrive(crate::store::Redrive::Ids(&ids)).await? > 0)
        })
    }
}

/// Prints every finding readably until the sink is dropped.
async fn print_pretty(mut rx: tokio::sync::mpsc::UnboundedReceiver<crate::sink::Batch>) {
    use std::io::Write;
    while let Some(batch) = rx.recv().await {
        let mut out = std::io::stdout().lock();
        for event in &batch.events {
            let _ = writeln!(out, "{}", event_line(event));
        }
        for f in &batch.findings {
            let e = &f.envelope;
            let label = match &e.location {
                Some(path) => format!("{}/{} {}", e.inbox, e.folder, path),
                None => format!("{}/{} uid {}", e.inbox, e.folder, e.uid),
            };
            let _ = super::classify::pretty(&mut out, &label, &f.report);
        }
        let _ = out.flush();
    }
}

/// One readable line for an event: type, contact, match and what the
/// policy did.
fn event_line(event: &crate::event::Event) -> String {
    let data = &event.data;
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
    let at = |a: &str, b: &str| data.get(a).and_then(|v| v.get(b));
    let mut line = format!("event {} {}", event.kind.as_str(), event.account);
    if let Some(contact) = &event.contact {
        line.push(' ');
        line.push_str(&contact.address);
        if let Some(id) = &contact.contact_id {
            line.push_str(&format!(" (contact {id})"));
        }
    }
    if let Some(method) = text(at("match", "method")) {
        line.push_str(&format!(" match {method}"));
        if let Some(confidence) = text(at("match", "confidence")) {
            line.push_str(&format!("/{confidence}"));
        }
    }
    if let Some(status) = text(data.get("status")).filter(|_| event.contact.is_none()) {
        line.push_str(&format!(" {status}"));
    }
    if let Some(reason) = text(data.get("reason")).filter(|_| data.get("policy").is_none()) {
        line.push_str(&format!(" reason {reason}"));
    }
    if let Some(action) = text(at("policy", "action")) {
        let reason = text(at("policy", "reason")).unwrap_or_default();
        line.push_str(&format!(" policy {action} ({reason})"));
    }
    line
}

/// Cancels `stop` on SIGINT or SIGTERM.
async fn stop_on_signal(stop: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
    stop.cancel();
}

/// One line per inbox on standard error (standard output carries events).
fn summarise(outcomes: &[InboxOutcome], once: bool, store: &str) {
    for o in outcomes {
        let state = o.state.map_or("-", |s| s.as_str());
        match &o.error {
            Some(err) => eprintln!("inbox {}: {state}: {err}", o.inbox),
            None => eprintln!(
                "inbox {}: {} new messages, {} analysed whole, {} findings ({} already handed on), {} events, {} sent messages tracked",
                o.inbox, o.messages, o.candidates, o.findings, o.duplicates, o.events, o.tracked
            ),
        }
    }
    if once
        && outcomes
            .iter()
            .all(|o| o.error.is_none() && o.findings == 0 && o.events == 0 && o.tracked == 0)
    {
        eprintln!(
            "nothing new since the last run (state is kept in {store}; delete it to replay everything)"
        );
    }
}

fn init_logging(format: LogFormat, once: bool) {
    let default = if once { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse() {
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_age("90"), Ok(Duration::from_secs(90)));
        assert!(parse_age("3 fortnights").is_err());
        assert!(parse_age("d").is_err());
    }
}
