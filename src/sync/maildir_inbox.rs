//! The sync loop of a `maildir` inbox: scan every folder, hand on what is
//! newer than its watermark, commit, sleep, repeat.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::batch::{self, FolderCtx, Head, Plan};
use super::health::Reporter;
use super::{InboxOutcome, Mode, Shared, backoff};
use crate::config::{InboxConfig, MaildirSettings};
use crate::maildir::{self, Folder};
use crate::source::Checkpoint;
use crate::store::{HealthState, PolicyStore};

/// Messages per step: a checkpoint is committed after each.
const STEP: usize = 500;

/// Files younger than this (seconds) do not advance the watermark.
const SETTLE_SECS: i64 = 2;

/// Runs one Maildir inbox until it is caught up (`--once`) or stopped.
pub async fn run<S: PolicyStore>(
    shared: Arc<Shared<S>>,
    inbox: InboxConfig,
    settings: MaildirSettings,
    mode: Mode,
    stop: CancellationToken,
) -> InboxOutcome {
    let mut health = Reporter::new(shared.store.clone(), &inbox.id, &inbox.account);
    let mut outcome = InboxOutcome::new(&inbox.id);
    let mut backoff = backoff::Backoff::new(
        shared.config.sync.backoff_initial,
        shared.config.sync.backoff_max,
    );
    loop {
        match scan(&shared, &inbox, &settings, &mut outcome).await {
            Ok(()) => {
                backoff.reset();
                health.set(HealthState::Idle, None).await;
                if mode.once {
                    return outcome;
                }
                let wait = shared.resync.wait_token(&inbox.id, &stop);
                if !backoff::sleep_or_stop(settings.poll_interval, &wait).await
                    && stop.is_cancelled()
                {
                    return outcome;
                }
            }
            Err(err) => {
                let message = format!("{err:#}");
                outcome.error = Some(message.clone());
                if mode.once {
                    health.set(HealthState::BackingOff, Some(message)).await;
                    return outcome;
                }
                health.set(HealthState::BackingOff, Some(message)).await;
                if !backoff::sleep_or_stop(backoff.next_delay(), &stop).await {
                    return outcome;
                }
            }
        }
    }
}

/// One pass over every folder.
async fn scan<S: PolicyStore>(
    shared: &Shared<S>,
    inbox: &InboxConfig,
    settings: &MaildirSettings,
    outcome: &mut InboxOutcome,
) -> anyhow::Result<()> {
    let sent = if inbox.track_sent_folder {
        settings.sent.as_deref()
    } else {
        None
    };
    let folders = maildir::folders(&settings.path, &settings.folders, sent)?;
    for folder in folders {
        scan_folder(shared, inbox, &folder, outcome).await?;
    }
    outcome.error = None;
    Ok(())
}

async fn scan_folder<S: PolicyStore>(
    shared: &Shared<S>,
    inbox: &InboxConfig,
    folder: &Folder,
    outcome: &mut InboxOutcome,
) -> anyhow::Result<()> {
    let store = &shared.store;
    let max_bytes = shared.config.sync.max_message_bytes;
    let watermark = match store.checkpoint(&inbox.id, &folder.name).await? {
        Some(cp) if cp.uidvalidity == maildir::UIDVALIDITY => Some(cp.last_uid),
        _ => None,
    };
    let entries = maildir::list(folder)?;
    let fresh: Vec<_> = entries
        .into_iter()
        .filter(|e| watermark.is_none_or(|w| e.mtime > w))
        .collect();
    // The watermark never enters the last seconds: a file delivered later
    // in the same second as the newest one seen must not fall behind it.
    // Files that recent are read again on the next scan, and their
    // identities keep their findings from being handed on twice.
    let settled = u32::try_from(super::unix_now().saturating_sub(SETTLE_SECS)).unwrap_or(0);
    let ctx = FolderCtx {
        inbox: inbox.id.clone(),
        account: inbox.account.clone(),
        folder: folder.name.clone(),
        role: folder.role,
        uidvalidity: maildir::UIDVALIDITY,
    };
    for chunk in fresh.chunks(STEP) {
        let mut heads = Vec::with_capacity(chunk.len());
        let mut bodies = Vec::new();
        for entry in chunk {
            let Some(raw) = maildir::read(&entry.path, max_bytes) else {
                continue;
            };
            heads.push(Head {
                uid: entry.mtime,
                internal_date: Some(maildir::rfc3339(entry.mtime)),
                size: entry.size,
                header: maildir::header_block(&raw).to_vec(),
                content_types: Vec::new(),
                location: Some(entry.path.display().to_string()),
                force_candidate: false,
            });
            bodies.push((entry.mtime, entry.path.clone(), raw));
        }
        let plan = Plan::new(&ctx, heads);
        let newest = chunk.last().map_or(0, |e| e.mtime);
        let last = newest.min(settled).max(watermark.unwrap_or(0));
        // Locally the whole file is at hand: every message of a watched
        // folder is analysed (the analysis itself leaves ordinary mail after
        // its headers), so the pre-filter's guess is not needed here.
        let (mut batch, _) = plan.analyse(Vec::new(), max_bytes);
        if folder.role.is_watched() {
            let options = crate::bounce::Options { max_bytes };
            // `heads` and `bodies` were filled together, so they line up.
            outcome.candidates += bodies.len();
            for (envelope, (_, _, raw)) in batch.envelopes.iter_mut().zip(bodies) {
                envelope.candidate = true;
                if let Some(found) = batch::finding(envelope, raw, &options) {
                    batch.findings.push(found);
                }
            }
        }
        let checkpoint = Checkpoint {
            uidvalidity: maildir::UIDVALIDITY,
            last_uid: last,
        };
        let done = batch::deliver(
            &**store,
            &shared.sink,
            &shared.pipeline,
            &ctx,
            inbox.track_sent_folder,
            batch,
            checkpoint,
            super::unix_now(),
        )
        .await?;
        outcome.add(done);
    }
    Ok(())
}
