//! Keeping every configured inbox in sync: one task per inbox under one
//! supervisor, each seeing every new message once and handing it on.
//!
//! - [`Supervisor::run`] starts a task per enabled inbox (IMAP or Maildir),
//!   and stops them all on shutdown: cancel, wait up to the grace period,
//!   then abort and await the rest. One broken inbox never stalls the others:
//!   each task backs off on its own.
//! - A folder step is source-independent ([`batch`]): first fetch step →
//!   envelopes and candidates → whole bodies of candidates → analysis →
//!   sink → one store transaction with the new checkpoint.
//! - `Mode::once` syncs every inbox until it is caught up, then returns
//!   (`rebound run --once`; tests and benchmarks use it).

pub mod backoff;
pub mod batch;
pub mod health;
pub mod imap_inbox;
pub mod maildir_inbox;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Source};
use crate::sink::Sink;
use crate::store::{HealthState, PolicyStore};

/// How the supervisor runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode {
    /// Sync until caught up, then return.
    pub once: bool,
    /// On a folder's first sync, start this far back instead of "now"
    /// (INBOX and Junk; Sent always starts `sync.sent_backfill` back).
    pub backfill: Option<Duration>,
    /// Show a progress bar for backfills (a terminal is attached).
    pub progress: bool,
}

/// What every inbox task shares.
#[derive(Debug)]
pub struct Shared<S> {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The store.
    pub store: Arc<S>,
    /// Where findings go.
    pub sink: Sink,
    /// Bounds how many inboxes connect and log in at the same moment (a
    /// restart of a process with a thousand inboxes must not hit the
    /// servers, or one provider's rate limits, with a thousand logins at
    /// once).
    pub logins: tokio::sync::Semaphore,
    /// Policy and matching settings, and the step lock.
    pub pipeline: crate::ingest::Pipeline,
    /// Resync requests (`POST /v1/inboxes/{id}/resync`).
    pub resync: Resync,
}

/// Lets a caller cut an inbox's wait short (IDLE, the poll interval) so it
/// syncs every folder now. Each inbox task registers the token of its
/// current wait; a request cancels it.
#[derive(Debug, Default)]
pub struct Resync {
    waits: std::sync::Mutex<std::collections::HashMap<String, CancellationToken>>,
}

impl Resync {
    /// A fresh wait token for `inbox` (a child of `stop`, so shutdown ends
    /// the wait too), replacing the previous one.
    pub fn wait_token(&self, inbox: &str, stop: &CancellationToken) -> CancellationToken {
        let token = stop.child_token();
        let mut waits = self.waits.lock().unwrap_or_else(|p| p.into_inner());
        waits.insert(inbox.to_string(), token.clone());
        token
    }

    /// Asks `inbox` to sync now; false when no such inbox task is running.
    pub fn request(&self, inbox: &str) -> bool {
        let waits = self.waits.lock().unwrap_or_else(|p| p.into_inner());
        match waits.get(inbox) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

/// Logins in flight at once, across all inboxes of a process.
pub const CONCURRENT_LOGINS: usize = 32;

/// What one inbox task did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InboxOutcome {
    /// The inbox id.
    pub inbox: String,
    /// New messages handed on.
    pub messages: usize,
    /// Candidates fetched whole.
    pub candidates: usize,
    /// Findings handed on.
    pub findings: usize,
    /// Findings skipped as already handed on.
    pub duplicates: usize,
    /// Events written to the outbox.
    pub events: usize,
    /// Sent messages newly tracked from the Sent folder.
    pub tracked: usize,
    /// The error that ended (`--once`) or last interrupted the task.
    pub error: Option<String>,
    /// The final health state.
    pub state: Option<HealthState>,
}

impl InboxOutcome {
    fn new(inbox: &str) -> InboxOutcome {
        InboxOutcome {
            inbox: inbox.to_string(),
            ..InboxOutcome::default()
        }
    }

    fn add(&mut self, done: batch::Delivered) {
        self.events += done.events;
        self.tracked += done.tracked;
        self.messages += done.messages;
        self.findings += done.findings;
        self.duplicates += done.duplicates;
    }
}

/// Runs one task per enabled inbox.
#[derive(Debug)]
pub struct Supervisor<S> {
    shared: Arc<Shared<S>>,
}

impl<S: PolicyStore> Supervisor<S> {
    /// A supervisor over the given configuration, store and sink.
    pub fn new(config: Arc<Config>, store: Arc<S>, sink: Sink) -> Supervisor<S> {
        Supervisor {
            shared: Arc::new(Shared {
                store,
                sink,
                logins: tokio::sync::Semaphore::new(CONCURRENT_LOGINS),
                pipeline: crate::ingest::Pipeline::new(
                    config.policy.settings(),
                    config.policy.matching(),
                ),
                resync: Resync::default(),
                config,
            }),
        }
    }

    /// Runs every enabled inbox until `stop` is cancelled (or, in `once`
    /// mode, until each is caught up). Returns one outcome per inbox, in
    /// config order.
    pub async fn run(&self, mode: Mode, stop: CancellationToken) -> Vec<InboxOutcome> {
        let mut tasks = JoinSet::new();
        // Events a previous run committed but could not hand on go first.
        crate::ingest::drain(
            &*self.shared.store,
            &self.shared.pipeline,
            &self.shared.sink,
        )
        .await;
        // Disabled inboxes are not started, but show as such in `status`.
        for inbox in self.shared.config.inboxes.iter().filter(|i| !i.enabled) {
            let mut health =
                health::Reporter::new(self.shared.store.clone(), &inbox.id, &inbox.account);
            health.set(HealthState::Disabled, None).await;
        }
        crate::ingest::drain(
            &*self.shared.store,
            &self.shared.pipeline,
            &self.shared.sink,
        )
        .await;
        let due = (!mode.once).then(|| {
            let shared = self.shared.clone();
            let stop = stop.child_token();
            tokio::spawn(due_transitions(shared, stop))
        });
        let inboxes: Vec<_> = self
            .shared
            .config
            .inboxes
            .iter()
            .filter(|i| i.enabled)
            .cloned()
            .collect();
        for inbox in inboxes.iter().cloned() {
            let shared = self.shared.clone();
            let stop = stop.child_token();
            let span = tracing::info_span!("inbox", id = %inbox.id);
            let task = async move {
                match inbox.source.clone() {
                    Source::Maildir(settings) => {
                        maildir_inbox::run(shared, inbox, settings, mode, stop).await
                    }
                    Source::Imap(settings) => {
                        imap_inbox::run(shared, inbox, settings, mode, stop).await
                    }
                }
            };
            tasks.spawn(tracing::Instrument::instrument(task, span));
        }
        let mut outcomes = Vec::new();
        let grace = self.shared.config.sync.shutdown_grace;
        loop {
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    Some(Ok(outcome)) => outcomes.push(outcome),
                    Some(Err(err)) => tracing::error!(error = %err, "an inbox task ended abnormally"),
                    None => break,
                },
                () = stop.cancelled() => {
                    drain(&mut tasks, grace, &mut outcomes).await;
                    break;
                }
            }
        }
        if let Some(due) = due {
            due.abort();
            let _ = due.await;
        }
        // `--once`: the transitions that are due now, then the last events.
        if mode.once
            && let Err(err) = crate::ingest::run_due(
                &*self.shared.store,
                &self.shared.pipeline,
                &self.shared.sink,
                unix_now(),
            )
            .await
        {
            tracing::warn!(error = %err, "cannot evaluate due transitions");
        }
        crate::ingest::drain(
            &*self.shared.store,
            &self.shared.pipeline,
            &self.shared.sink,
        )
        .await;
        outcomes.sort_by_key(|o| inboxes.iter().position(|i| i.id == o.inbox));
        outcomes
    }

    /// What the inbox tasks share (the store, the sink, the pipeline).
    pub fn shared(&self) -> &Arc<Shared<S>> {
        &self.shared
    }
}

/// Evaluates due transitions (pending delays that expired) every
/// `policy.due_interval` until stopped.
async fn due_transitions<S: PolicyStore>(shared: Arc<Shared<S>>, stop: CancellationToken) {
    let interval = shared.config.policy.due_interval;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        match crate::ingest::run_due(&*shared.store, &shared.pipeline, &shared.sink, unix_now())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "pending delays expired into soft bounces"),
            Err(err) => tracing::warn!(error = %err, "cannot evaluate due transitions"),
        }
    }
}

/// Shutdown: the tasks saw the cancellation; wait for them up to `grace`,
/// then abort the rest and await them so nothing outlives the supervisor.
async fn drain(
    tasks: &mut JoinSet<InboxOutcome>,
    grace: Duration,
    outcomes: &mut Vec<InboxOutcome>,
) {
    let deadline = tokio::time::Instant::now() + grace;
    while !tasks.is_empty() {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok(outcome))) => outcomes.push(outcome),
            Ok(Some(Err(err))) => tracing::error!(error = %err, "an inbox task ended abnormally"),
            Ok(None) => break,
            Err(_) => {
                tracing::warn!(
                    remaining = tasks.len(),
                    "inbox tasks did not stop within the grace period; aborting them"
                );
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
    }
}

/// The wall clock in Unix seconds (0 before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
