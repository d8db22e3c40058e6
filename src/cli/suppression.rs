//! `rebound suppressed` (list suppressed contacts with their history) and
//! `rebound unsuppress` (lift a suppression, recorded with who and why).

use std::process::ExitCode;

use crate::ingest::{self, Pipeline};
use crate::policy::contact_address;
use crate::sink::Sink;
use crate::store::PolicyStore;

/// Arguments of `rebound suppressed`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    config: super::ConfigArg,
    /// Only this account.
    #[arg(long)]
    account: Option<String>,
    /// Print JSON (one object per contact, with its history) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `rebound unsuppress`.
#[derive(Debug, clap::Args)]
pub struct UnsuppressArgs {
    #[command(flatten)]
    config: super::ConfigArg,
    /// The account whose suppression is lifted (not with --global).
    #[arg(long, required_unless_present = "global")]
    account: Option<String>,
    /// The address.
    #[arg(long)]
    address: String,
    /// Who decides (a person or a system), recorded in the history.
    #[arg(long)]
    actor: String,
    /// Why, recorded in the history.
    #[arg(long)]
    reason: String,
    /// Lift the address's global suppression, and the account suppressions
    /// it caused, instead of one account's.
    #[arg(long, conflicts_with = "account")]
    global: bool,
}

/// Runs `rebound suppressed`: exit 0, 1 when the store cannot be read, 2 on a bad config.
pub fn list(args: ListArgs) -> ExitCode {
    let (config, runtime) = match super::prepare("suppressed", &args.config) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let store = super::open_store(&config).await?;
        let contacts = store.suppressed(args.account.as_deref()).await?;
        let mut rows = Vec::new();
        for c in contacts {
            let history = store.history(&c.account, &c.address).await?;
            rows.push((c, history));
        }
        store.close().await;
        Ok::<_, crate::store::Error>(rows)
    });
    let rows = match result {
        Ok(rows) => rows,
        Err(err) => {
            eprintln!("rebound suppressed: {err}");
            return ExitCode::from(1);
        }
    };
    if args.json {
        for (c, history) in &rows {
            let line = serde_json::json!({
                "account": c.account,
                "address": c.address,
                "contact_id": c.contact_id,
                "reason": c.suppression.as_ref().map(|s| s.reason.as_str()),
                "since": c.suppression.as_ref().map(|s| crate::time::rfc3339(s.since)),
                "history": history.iter().map(|h| serde_json::json!({
                    "action": h.action.as_str(),
                    "reason": h.reason,
                    "actor": h.actor,
                    "at": crate::time::rfc3339(h.at),
                    "event_id": h.event_id,
                })).collect::<Vec<_>>(),
            });
            println!("{line}");
        }
    } else if rows.is_empty() {
        println!("no suppressed contacts");
    } else {
        println!("{:<16} {:<36} {:<22} SINCE", "ACCOUNT", "ADDRESS", "REASON");
        for (c, _) in &rows {
            let (reason, since) = c.suppression.as_ref().map_or(("-", String::new()), |s| {
                (s.reason.as_str(), crate::time::rfc3339(s.since))
            });
            println!("{:<16} {:<36} {:<22} {since}", c.account, c.address, reason);
        }
    }
    ExitCode::SUCCESS
}

/// Runs `rebound unsuppress`: exit 0, 1 when it was not suppressed or the
/// store failed, 2 on a bad config. The `contact.unsuppressed` events go to
/// the configured callback sink (and stay in the outbox when it fails).
pub fn unsuppress(args: UnsuppressArgs) -> ExitCode {
    let (config, runtime) = match super::prepare("unsuppress", &args.config) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let address = contact_address(&args.address);
    let result = runtime.block_on(async {
        let store = super::open_store(&config)
            .await
            .map_err(ingest::UnsuppressError::Store)?;
        let pipeline = Pipeline::new(config.policy.settings(), config.policy.matching());
        let now = crate::sync::unix_now();
        let ids = match &args.account {
            Some(account) if !args.global => vec![
                ingest::unsuppress(
                    &store,
                    &pipeline,
                    account,
                    &address,
                    &args.actor,
                    &args.reason,
                    now,
                )
                .await?,
            ],
            _ => {
                ingest::lift_global(&store, &pipeline, &address, &args.actor, &args.reason, now)
                    .await?
            }
        };
        let sink = match &config.callback {
            crate::config::CallbackConfig::Stdout => Sink::Stdout,
            // The daemon's dispatcher delivers them from the outbox.
            crate::config::CallbackConfig::Http(_) => Sink::Dispatcher,
            crate::config::CallbackConfig::File { path } => match Sink::file(path) {
                Ok(sink) => sink,
                Err(err) => {
                    eprintln!("rebound unsuppress: {err}; the events stay in the outbox");
                    store.close().await;
                    return Ok(ids);
                }
            },
        };
        ingest::drain(&store, &pipeline, &sink).await;
        store.close().await;
        Ok::<_, ingest::UnsuppressError>(ids)
    });
    match result {
        Ok(ids) => {
            let scope = args
                .account
                .as_deref()
                .map_or_else(|| "globally".to_string(), |a| format!("in account {a}"));
            eprintln!(
                "unsuppressed {address} {scope} ({} event{})",
                ids.len(),
                if ids.len() == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("rebound unsuppress: {err}");
            ExitCode::from(1)
        }
    }
}
