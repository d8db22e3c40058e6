//! Pruning what `retention:` lets go (docs/configuration.md; what grows and
//! what is kept: docs/operations.md): delivered events and old tracked
//! messages. `rebound run` prunes every `retention.interval`, `--once` once
//! before it exits.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::RetentionConfig;
use crate::store::{Error, PolicyStore, Pruned};

/// Prunes once as of `now` (Unix seconds); logs what went.
pub async fn prune_once<S: PolicyStore>(
    store: &S,
    retention: &RetentionConfig,
    now: i64,
) -> Result<Pruned, Error> {
    let (delivered_before, sent_before) = retention.cutoffs(now);
    let pruned = store.prune(delivered_before, sent_before).await?;
    if pruned != Pruned::default() {
        tracing::info!(
            events = pruned.events,
            tracked_messages = pruned.tracked_messages,
            "pruned delivered events and old tracked messages"
        );
    }
    Ok(pruned)
}

/// Prunes at once and then every `retention.interval` until `stop`; a
/// failure is logged and tried again at the next interval.
pub async fn run<S: PolicyStore>(
    store: Arc<S>,
    retention: RetentionConfig,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(retention.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(err) = prune_once(&*store, &retention, crate::sync::unix_now()).await {
            tracing::warn!(error = %err, "pruning failed; tried again at the next interval");
        }
    }
}
