//! `rebound status`: each configured inbox's persisted health and folder
//! checkpoints, the outbox backlog and dead letters, and how many contacts
//! are suppressed, read from the store (works while `rebound run` runs).

use std::process::ExitCode;

use crate::config::Config;
use crate::store::{DispatchStore, PolicyStore, Store};

/// Arguments of `rebound status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: super::ConfigArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the command: exit 0, 1 when the store cannot be read, 2 on a bad config.
pub fn run(args: Args) -> ExitCode {
    let (config, runtime) = match super::prepare("status", &args.config) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    match runtime.block_on(report(&config, args.json)) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("rebound status: {err}");
            ExitCode::from(1)
        }
    }
}

async fn report(config: &Config, json: bool) -> Result<String, crate::store::Error> {
    let store = super::open_store(config).await?;
    let health = store.health().await?;
    let mut rows = Vec::new();
    for inbox in &config.inboxes {
        let h = health.iter().find(|h| h.inbox == inbox.id);
        let checkpoints = store.checkpoints(&inbox.id).await?;
        rows.push(serde_json::json!({
            "inbox": inbox.id,
            "account": inbox.account,
            "provider": inbox.provider.as_str(),
            "enabled": inbox.enabled,
            "state": h.map(|h| h.state.as_str()),
            "since": h.map(|h| h.since),
            "updated_at": h.map(|h| h.updated_at),
            "last_error": h.and_then(|h| h.last_error.clone()),
            "folders": checkpoints.iter().map(|(folder, cp)| serde_json::json!({
                "folder": folder, "uidvalidity": cp.uidvalidity, "last_uid": cp.last_uid,
            })).collect::<Vec<_>>(),
        }));
    }
    let counts = store.dispatch_counts().await?;
    let suppressed = store.suppressed(None).await?.len();
    store.close().await;
    if json {
        let report = serde_json::json!({
            "inboxes": rows,
            "outbox": {
                "backlog": counts.pending,
                "retrying": counts.retrying,
                "dead": counts.dead,
                "oldest_pending_at": counts.oldest_pending_at.map(crate::time::rfc3339),
            },
            "suppressed_contacts": suppressed,
        });
        let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
        text.push('\n');
        return Ok(text);
    }
    let mut text = String::new();
    for (inbox, row) in config.inboxes.iter().zip(&rows) {
        let state = row["state"].as_str().unwrap_or("never synced");
        let state = if inbox.enabled { state } else { "disabled" };
        text.push_str(&format!(
            "{} ({}, {}): {state}\n",
            inbox.id,
            inbox.account,
            inbox.provider.as_str()
        ));
        if let Some(err) = row["last_error"].as_str() {
            text.push_str(&format!("  last error: {err}\n"));
        }
        if let Some(folders) = row["folders"].as_array() {
            for f in folders {
                let folder = f["folder"].as_str().unwrap_or("");
                let last = f["last_uid"].as_u64().unwrap_or(0);
                let position = if inbox.provider == crate::config::Provider::Maildir {
                    let secs = u32::try_from(last).unwrap_or(0);
                    format!("files up to {}", crate::maildir::rfc3339(secs))
                } else {
                    format!("uidvalidity {}, last uid {last}", f["uidvalidity"])
                };
                text.push_str(&format!("  {folder}: {position}\n"));
            }
        }
    }
    text.push_str(&format!(
        "outbox: {} undelivered ({} retrying), {} dead letters{}\n",
        counts.pending,
        counts.retrying,
        counts.dead,
        counts
            .oldest_pending_at
            .map(|t| format!(", oldest from {}", crate::time::rfc3339(t)))
            .unwrap_or_default()
    ));
    text.push_str(&format!("suppressed contacts: {suppressed}\n"));
    Ok(text)
}
