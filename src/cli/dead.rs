//! `rebound dead-letters` (list the events the HTTP dispatcher gave up on)
//! and `rebound redrive` (queue them for delivery again, with a fresh retry
//! budget): the CLI side of `GET /v1/events?status=dead` and `POST
//! /v1/events/{id}/redrive` (docs/callbacks.md). Both read the store
//! directly, so they work while `rebound run` runs: its dispatcher picks
//! redriven events up at its next look at the outbox (within a second).

use std::process::ExitCode;

use crate::store::{DeadLetter, DispatchStore, Redrive};

/// Arguments of `rebound dead-letters`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    config: super::ConfigArg,
    /// At most this many, oldest first.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Print JSON Lines (one dead letter per line, the event included)
    /// instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `rebound redrive`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["id", "all"])))]
pub struct RedriveArgs {
    #[command(flatten)]
    config: super::ConfigArg,
    /// A dead letter's event id (`evt_…`); repeat for several.
    #[arg(long)]
    id: Vec<String>,
    /// Every dead letter.
    #[arg(long)]
    all: bool,
}

/// Runs `rebound dead-letters`: exit 0, 1 when the store cannot be read, 2
/// on a bad config.
pub fn list(args: ListArgs) -> ExitCode {
    let (config, runtime) = match super::prepare("dead-letters", &args.config) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let store = super::open_store(&config).await?;
        let dead = store.dead_letters(0, args.limit.max(1)).await;
        store.close().await;
        dead
    });
    let dead = match result {
        Ok(dead) => dead,
        Err(err) => {
            eprintln!("rebound dead-letters: {err}");
            return ExitCode::from(1);
        }
    };
    if args.json {
        for d in &dead {
            println!("{}", json(d));
        }
    } else if dead.is_empty() {
        println!("no dead letters");
    } else {
        print!("{}", table(&dead));
    }
    ExitCode::SUCCESS
}

/// Runs `rebound redrive`: exit 0 when something was queued (or `--all`
/// found nothing), 1 when none of the given ids is a dead letter or the
/// store failed, 2 on a bad config.
pub fn redrive(args: RedriveArgs) -> ExitCode {
    let (config, runtime) = match super::prepare("redrive", &args.config) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let which = if args.all {
        Redrive::AllDead
    } else {
        Redrive::Ids(&args.id)
    };
    let result = runtime.block_on(async {
        let store = super::open_store(&config).await?;
        let count = store.redrive(which, crate::sync::unix_now()).await;
        store.close().await;
        count
    });
    match result {
        Ok(0) if !args.all => {
            eprintln!("rebound redrive: none of the given ids is a dead letter");
            ExitCode::from(1)
        }
        Ok(count) => {
            eprintln!(
                "{count} dead letter{} queued for delivery again, with a fresh retry budget \
                 (a running `rebound run` sends them within a second; else the next run does)",
                if count == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("rebound redrive: {err}");
            ExitCode::from(1)
        }
    }
}

/// One dead letter as a JSON line.
fn json(d: &DeadLetter) -> serde_json::Value {
    serde_json::json!({
        "seq": d.seq,
        "id": d.event.id,
        "type": d.event.kind.as_str(),
        "account": d.event.account,
        "address": d.event.contact.as_ref().map(|c| &c.address),
        "created_at": crate::time::rfc3339(d.created_at),
        "dead_at": crate::time::rfc3339(d.dead_at),
        "attempts": d.attempts,
        "last_error": d.last_error,
        "event": d.event,
    })
}

/// The table `rebound dead-letters` prints.
fn table(dead: &[DeadLetter]) -> String {
    let mut text = format!(
        "{:<38} {:<22} {:<32} {:>8} {:<20} LAST ERROR\n",
        "ID", "TYPE", "ADDRESS", "ATTEMPTS", "DEAD AT"
    );
    for d in dead {
        let address = d.event.contact.as_ref().map_or("-", |c| c.address.as_str());
        text.push_str(&format!(
            "{:<38} {:<22} {:<32} {:>8} {:<20} {}\n",
            d.event.id,
            d.event.kind.as_str(),
            address,
            d.attempts,
            crate::time::rfc3339(d.dead_at),
            d.last_error.as_deref().unwrap_or("-")
        ));
    }
    text
}
