//! Delivery of outbox events to the CRM's HTTP callback (issue 5): signed
//! POSTs (Standard Webhooks, [`sign`]), retries with backoff until a retry
//! budget is spent ([`schedule`]), dead letters and redrive, strict order
//! per contact. docs/callbacks.md is the receiver's side of the contract.
//!
//! # How it runs
//! The policy writes events into the outbox in the transaction of the step
//! that caused them; the [`Dispatcher`] only reads and updates outbox rows,
//! so ingestion never waits for the CRM. Each event belongs to a lane
//! ([`Lane`]: its contact, or for events without one its account and inbox).
//! A lane's events go out one at a time in seq order: the lane's first
//! pending event is its head, and only a due head is sent; while it waits
//! for a retry, the lane waits. Different lanes go out at once, up to
//! `concurrency` requests in flight.
//!
//! Each outcome is written to the event's row: a failure at once (retry:
//! `attempts`, `next_attempt_at`, `last_error`; dead: `dead_at`, and the
//! lane moves on), deliveries (`delivered_at`) in one transaction per batch,
//! always before the outbox is read for new heads, so a lane's next event is
//! never chosen before its predecessor is recorded. The dispatcher reads
//! several heads per read (`READ_AHEAD` per unit of concurrency) and starts
//! them as slots free up. Nothing is deleted. A crash between a POST and its
//! record sends the event again with the same `webhook-id`: delivery is at
//! least once, receivers de-duplicate.
//!
//! [`Dispatcher::run`] is the daemon's loop; [`Dispatcher::deliver_pending`]
//! is one pass for `rebound run --once` and tests (with a clock of their
//! own). Use one of them at a time per outbox: they share a lock, so a pass
//! started while `run` is running waits for it to stop. One outbox has one
//! dispatcher (one process); sharing an outbox between processes needs row
//! leases, which the PostgreSQL store will bring.

mod http;
pub mod schedule;
pub mod sign;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::HttpCallback;
use crate::store::{self, DeadLetter, DispatchCounts, DispatchStore, Lane, QueuedEvent, Redrive};
pub use http::USER_AGENT;
use schedule::{Attempt, Decision};
pub use sign::{Signer, TIMESTAMP_TOLERANCE_SECS, VerifyError, sign, verify};

/// How often [`Dispatcher::run`] looks at the outbox when nobody pings its
/// [`Dispatcher::notifier`].
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Heads read per outbox read, per unit of concurrency: one read feeds
/// several deliveries per lane slot.
const READ_AHEAD: usize = 4;

/// The clock a dispatcher reads (Unix seconds).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Why the dispatcher could not start or finish a pass.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The callback settings cannot be used (a malformed secret or URL, or
    /// no HTTP client could be built).
    #[error("cannot set up the HTTP callback: {0}")]
    Setup(String),
    /// Reading or updating the outbox failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Events the receiver took (2xx).
    pub delivered: usize,
    /// Events that failed and are scheduled for a retry.
    pub retrying: usize,
    /// Events dead-lettered (refused for good, or their budget spent).
    pub dead: usize,
    /// Attempts whose outcome could not be recorded (the event stays
    /// pending and goes out again: at least once).
    pub unrecorded: usize,
}

/// What one attempt ended as. Failures are recorded by the attempt itself;
/// deliveries are booked by the engine and recorded in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Recorded {
    /// The receiver took this event (to record).
    Delivered(String),
    Retrying,
    Dead,
    /// The row was no longer pending (redriven or changed meanwhile).
    Stale,
    /// The store refused the update.
    Failed,
}

/// What a delivery task needs, shared with every task.
struct Shared<S> {
    store: Arc<S>,
    endpoint: http::Endpoint,
    retry_budget: Duration,
}

/// Delivers outbox events to one HTTP callback. Cheap to share behind an
/// `Arc`; every method takes `&self`.
pub struct Dispatcher<S> {
    shared: Arc<Shared<S>>,
    concurrency: usize,
    poll: Duration,
    notify: Arc<Notify>,
    clock: Clock,
    /// Held by `run` and `deliver_pending`: one engine at a time.
    engine: tokio::sync::Mutex<()>,
}

impl<S> std::fmt::Debug for Dispatcher<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("endpoint", &self.shared.endpoint)
            .field("retry_budget", &self.shared.retry_budget)
            .field("concurrency", &self.concurrency)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

impl<S: DispatchStore> Dispatcher<S> {
    /// A dispatcher for `http` over `store`'s outbox, reading the system
    /// clock. Fails when a secret is not `whsec_` + base64, the URL does not
    /// parse, or no HTTP client can be built.
    pub fn new(store: Arc<S>, http: &HttpCallback) -> Result<Dispatcher<S>, Error> {
        let signer = Signer::new(
            http.secret.expose(),
            http.previous_secret.as_ref().map(|s| s.expose()),
        )
        .map_err(Error::Setup)?;
        let concurrency = http.concurrency.max(1);
        let endpoint = http::Endpoint::new(&http.url, signer, http.timeout, concurrency)
            .map_err(Error::Setup)?;
        Ok(Dispatcher {
            shared: Arc::new(Shared {
                store,
                endpoint,
                retry_budget: http.retry_budget,
            }),
            concurrency,
            poll: POLL_INTERVAL,
            notify: Arc::new(Notify::new()),
            clock: Arc::new(crate::sync::unix_now),
            engine: tokio::sync::Mutex::new(()),
        })
    }

    /// The same dispatcher reading `clock` instead of the system clock
    /// (for [`Dispatcher::run`], [`Dispatcher::redrive`] and the signature
    /// timestamps of `run`).
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Dispatcher<S> {
        self.clock = Arc::new(clock);
        self
    }

    /// The same dispatcher looking at the outbox every `poll` when not
    /// pinged (default [`POLL_INTERVAL`]; at least 1 ms).
    pub fn with_poll_interval(mut self, poll: Duration) -> Dispatcher<S> {
        self.poll = poll.max(Duration::from_millis(1));
        self
    }

    /// Ping it (`notify_one`) after writing events, and [`Dispatcher::run`]
    /// looks at the outbox at once instead of at its next poll. A ping while
    /// it is busy is kept for its next wait.
    pub fn notifier(&self) -> Arc<Notify> {
        Arc::clone(&self.notify)
    }

    /// Delivers until `stop` is cancelled, then waits for the requests in
    /// flight (each bounded by the callback timeout) and records their
    /// outcomes. Store errors are logged and retried at the next poll.
    pub async fn run(&self, stop: CancellationToken) {
        let _engine = self.engine.lock().await;
        let mut round = Round::default();
        let mut store_failing = false;
        // One timer for the whole run: a sleep made anew in every loop would
        // never fire while deliveries keep finishing, and the heads read and
        // lanes skipped would never be refreshed under load.
        let mut tick = tokio::time::interval(self.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !stop.is_cancelled() {
            let now = (self.clock)();
            match self.fill(&mut round, now, &self.clock).await {
                Ok(()) => store_failing = false,
                Err(err) => {
                    // Once per outage, not once per poll.
                    if !store_failing {
                        tracing::warn!(error = %err, "cannot read or update the outbox; retrying");
                    }
                    store_failing = true;
                }
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                Some(done) = round.tasks.join_next_with_id(), if !round.tasks.is_empty() => {
                    round.finish(done);
                }
                () = self.notify.notified() => round.refresh(),
                _ = tick.tick() => round.refresh(),
            }
        }
        round.drain().await;
        if let Err(err) = self.flush(&mut round, (self.clock)()).await {
            tracing::warn!(error = %err, "cannot record deliveries; they will be sent again");
        }
    }

    /// One pass as of `now`: every due event is tried once, in lane order
    /// (after a lane's head is delivered or dead-lettered, its next event is
    /// tried in the same pass; after a failure the lane waits for its
    /// retry). Failures stay scheduled. Signature timestamps are `now`.
    pub async fn deliver_pending(&self, now: i64) -> Result<Summary, Error> {
        let _engine = self.engine.lock().await;
        let mut round = Round::default();
        let clock: Clock = Arc::new(move || now);
        loop {
            if let Err(err) = self.fill(&mut round, now, &clock).await {
                round.drain().await;
                // Record what was delivered if the store lets us.
                let _ = self.flush(&mut round, now).await;
                return Err(err);
            }
            match round.tasks.join_next_with_id().await {
                Some(done) => round.finish(done),
                None => break,
            }
        }
        self.flush(&mut round, now).await?;
        Ok(round.summary)
    }

    /// Makes dead letters pending again with a whole new retry budget (from
    /// the clock's now) and wakes [`Dispatcher::run`]. A redriven event goes
    /// before its lane's later pending events (it has the lower seq), but
    /// after those delivered while it was dead. Returns how many.
    pub async fn redrive(&self, which: Redrive<'_>) -> Result<u64, Error> {
        let count = self.shared.store.redrive(which, (self.clock)()).await?;
        if count > 0 {
            self.notify.notify_one();
        }
        Ok(count)
    }

    /// Backlog, retrying and dead counts (for `rebound status`, metrics).
    pub async fn counts(&self) -> Result<DispatchCounts, Error> {
        Ok(self.shared.store.dispatch_counts().await?)
    }

    /// Dead letters with `seq > after`, in seq order, at most `limit` (for
    /// `GET /v1/events?status=dead`).
    pub async fn dead_letters(&self, after: i64, limit: usize) -> Result<Vec<DeadLetter>, Error> {
        Ok(self.shared.store.dead_letters(after, limit).await?)
    }

    /// Starts due lane heads until `concurrency` requests are in flight:
    /// from the heads read last, and when those are used up, from a new read
    /// of the outbox (after recording the deliveries since the last read,
    /// so that read sees their lanes' next events as heads).
    async fn fill(&self, round: &mut Round, now: i64, clock: &Clock) -> Result<(), Error> {
        let free = self.concurrency.saturating_sub(round.tasks.len());
        let mut started = 0;
        let mut read = false;
        while started < free {
            let Some(head) = round.ready.pop_front() else {
                if read {
                    break;
                }
                self.flush(round, now).await?;
                // Busy and skipped lanes' heads come back too: ask for enough.
                let limit = self
                    .concurrency
                    .saturating_mul(READ_AHEAD)
                    .saturating_add(round.busy.len())
                    .saturating_add(round.skip.len());
                let heads = self.shared.store.due_heads(now, limit).await?;
                // A busy lane's head is the event in flight: leave it out
                // here, not only when starting (it may finish before then,
                // and would be sent twice).
                round.ready = heads
                    .into_iter()
                    .filter(|h| {
                        let lane = h.lane();
                        !round.busy.contains(&lane) && !round.skip.contains(&lane)
                    })
                    .collect();
                read = true;
                continue;
            };
            let lane = head.lane();
            let task = round
                .tasks
                .spawn(attempt(Arc::clone(&self.shared), head, clock.clone()));
            round.lanes.insert(task.id(), lane.clone());
            round.busy.insert(lane);
            started += 1;
        }
        Ok(())
    }

    /// Records the deliveries booked since the last flush, in one
    /// transaction. On failure they stay booked (and no new heads are read,
    /// which would send them again) until a flush succeeds.
    async fn flush(&self, round: &mut Round, now: i64) -> Result<(), Error> {
        if round.delivered.is_empty() {
            return Ok(());
        }
        self.shared
            .store
            .record_delivered(&round.delivered, now)
            .await?;
        round.delivered.clear();
        Ok(())
    }
}

/// The requests in flight and what they did.
#[derive(Default)]
struct Round {
    tasks: JoinSet<Recorded>,
    /// Each task's lane.
    lanes: HashMap<tokio::task::Id, Lane>,
    /// Lanes with a request in flight.
    busy: HashSet<Lane>,
    /// Lanes not to try again in this pass (their head failed).
    skip: HashSet<Lane>,
    /// Due heads read from the outbox and not started yet.
    ready: VecDeque<QueuedEvent>,
    /// Events the receiver took, to record at the next flush.
    delivered: Vec<String>,
    summary: Summary,
}

impl Round {
    /// Books one finished task.
    fn finish(&mut self, done: Result<(tokio::task::Id, Recorded), tokio::task::JoinError>) {
        let (task, recorded) = match done {
            Ok((task, recorded)) => (task, recorded),
            Err(err) => {
                tracing::error!(error = %err, "a callback delivery task failed");
                (err.id(), Recorded::Failed)
            }
        };
        let Some(lane) = self.lanes.remove(&task) else {
            return;
        };
        self.busy.remove(&lane);
        match recorded {
            Recorded::Delivered(id) => {
                crate::telemetry::callback_delivered(1);
                self.summary.delivered += 1;
                self.delivered.push(id);
            }
            Recorded::Dead => {
                crate::telemetry::callback_failed("permanent");
                self.summary.dead += 1;
            }
            Recorded::Stale => {}
            Recorded::Retrying => {
                crate::telemetry::callback_failed("retryable");
                self.summary.retrying += 1;
                self.skip.insert(lane);
            }
            Recorded::Failed => {
                self.summary.unrecorded += 1;
                self.skip.insert(lane);
            }
        }
    }

    /// Forgets the heads read and the lanes skipped so far, so the next
    /// fill reads the outbox again (new events, redriven ones, retries now
    /// due).
    fn refresh(&mut self) {
        self.skip.clear();
        self.ready.clear();
    }

    /// Waits for every task in flight.
    async fn drain(&mut self) {
        while let Some(done) = self.tasks.join_next_with_id().await {
            self.finish(done);
        }
    }
}

/// One attempt of one event, recorded.
async fn attempt<S: DispatchStore>(
    shared: Arc<Shared<S>>,
    event: QueuedEvent,
    clock: Clock,
) -> Recorded {
    let sent_at = clock();
    let result = shared
        .endpoint
        .post(&event.id, &event.payload, sent_at)
        .await;
    let now = clock();
    let deadline = schedule::deadline(event.budget_from, shared.retry_budget);
    let decision = schedule::decide(&result, event.attempts, now, deadline, fastrand::f64());
    let error = match &result {
        Attempt::Delivered => "",
        Attempt::Retryable { error, .. } | Attempt::Permanent { error } => error.as_str(),
    };
    let store = &shared.store;
    let attempts = event.attempts.saturating_add(1);
    let (written, recorded) = match decision {
        Decision::Delivered => {
            tracing::debug!(event_id = %event.id, seq = event.seq, "event delivered");
            return Recorded::Delivered(event.id);
        }
        Decision::RetryAt(at) => {
            tracing::warn!(
                event_id = %event.id, attempts, next_attempt_at = at, error,
                "callback delivery failed; will retry"
            );
            (
                store.record_retry(&event.id, at, error).await,
                Recorded::Retrying,
            )
        }
        Decision::Dead => {
            tracing::warn!(
                event_id = %event.id, attempts, error,
                "callback delivery failed for good; dead-lettered"
            );
            (
                store.record_dead(&event.id, now, error).await,
                Recorded::Dead,
            )
        }
    };
    match written {
        Ok(true) => recorded,
        Ok(false) => Recorded::Stale,
        Err(err) => {
            tracing::warn!(
                event_id = %event.id, error = %err,
                "cannot record a callback attempt; the event will be sent again"
            );
            Recorded::Failed
        }
    }
}
