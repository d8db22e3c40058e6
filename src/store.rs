//! Durable state: a small trait the service talks to, with the embedded
//! SQLite implementation ([`sqlite::SqliteStore`]); a PostgreSQL one follows
//! for scale-out, so the trait holds no SQL and no business rules.
//!
//! Issue 3 (the IMAP connector) needs UID checkpoints per (inbox, folder),
//! the identities of findings already handed on (so a rescan after a
//! UIDVALIDITY change emits nothing twice), persisted inbox health, and the
//! rotated OAuth2 refresh token of an inbox. Issue 4 adds tracked sent
//! messages; later steps add contact state and the event outbox.

mod migrate;
pub mod sqlite;

use std::future::Future;

use serde::Serialize;

use crate::event::Event;
use crate::policy::{
    Changes, ContactState, GlobalSuppression, HistoryEntry, PendingDelay, RecipientFinding, Tracker,
};
use crate::source::Checkpoint;
use crate::track::TrackedMessage;

pub use migrate::MigrateError;
pub use sqlite::SqliteStore;

/// What can go wrong talking to the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be opened or created (missing parent
    /// directory, a directory or read-only location, not a database file,
    /// WAL mode refused).
    #[error("cannot open the store at {location}: {source}")]
    Open {
        /// Path or URL (credentials removed).
        location: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date, or the database's
    /// applied migrations do not match this binary's (edited, or newer).
    #[error("cannot migrate the store: {0}")]
    Migrate(#[from] MigrateError),
    /// A query failed.
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value could not be read back.
    #[error("corrupt value in the store: {0}")]
    Corrupt(String),
}

/// The state of one inbox, as an operator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Connecting or logging in.
    Connecting,
    /// Logged in and syncing.
    Connected,
    /// Caught up and waiting for new mail (IDLE or between polls).
    Idle,
    /// The last attempt failed; waiting before the next one.
    BackingOff,
    /// The credentials were refused (wrong password, revoked OAuth2 consent):
    /// no retries until the user re-authorises.
    AuthFailed,
    /// Disabled in the config, or stopped for a reason that needs a person.
    Disabled,
}

impl HealthState {
    /// The stable name stored and shown (`backing_off`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Connecting => "connecting",
            HealthState::Connected => "connected",
            HealthState::Idle => "idle",
            HealthState::BackingOff => "backing_off",
            HealthState::AuthFailed => "auth_failed",
            HealthState::Disabled => "disabled",
        }
    }

    /// The inverse of [`HealthState::as_str`].
    pub fn parse(name: &str) -> Option<HealthState> {
        Some(match name {
            "connecting" => HealthState::Connecting,
            "connected" => HealthState::Connected,
            "idle" => HealthState::Idle,
            "backing_off" => HealthState::BackingOff,
            "auth_failed" => HealthState::AuthFailed,
            "disabled" => HealthState::Disabled,
            _ => return None,
        })
    }
}

/// One inbox's persisted health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// The inbox id.
    pub inbox: String,
    /// Its state.
    pub state: HealthState,
    /// The last error, when the state is a failure (secrets never included).
    pub last_error: Option<String>,
    /// When the state was entered (Unix seconds).
    pub since: i64,
    /// When it was last written (Unix seconds).
    pub updated_at: i64,
}

/// One finding to record when a batch commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRecord {
    /// [`crate::source::identity`] of the notice.
    pub identity: String,
    /// The folder it was found in.
    pub folder: String,
    /// The folder's UIDVALIDITY.
    pub uidvalidity: u32,
    /// Its UID.
    pub uid: u32,
    /// The analysis verdict (`bounce`, `auto_reply`, ...).
    pub verdict: String,
    /// SHA-256 of the raw bytes, hex (to re-read and compare later).
    pub raw_sha256: String,
    /// When it was found (Unix seconds).
    pub found_at: i64,
}

/// The store as the service uses it. Every method is one transaction.
///
/// Async methods are declared as `fn -> impl Future + Send` so that callers
/// can run them on tokio's multi-threaded runtime; implementations may write
/// them as `async fn`.
pub trait Store: Send + Sync + 'static {
    /// The checkpoint of one folder of one inbox, if any.
    fn checkpoint(
        &self,
        inbox: &str,
        folder: &str,
    ) -> impl Future<Output = Result<Option<Checkpoint>, Error>> + Send;

    /// Which of `identities` have not been recorded for `inbox` yet (same
    /// order and length as the input, `true` = new; a repeated identity gets
    /// the same answer each time). Any number of identities: implementations
    /// split large inputs to stay under their bound-parameter limits.
    fn unseen(
        &self,
        inbox: &str,
        identities: &[String],
    ) -> impl Future<Output = Result<Vec<bool>, Error>> + Send;

    /// In one transaction: records `findings` (an identity already recorded
    /// for the inbox is left as it was) and sets the folder's checkpoint.
    /// Called after the findings were handed on, so a crash in between
    /// re-delivers them with the same identities (at-least-once). The
    /// checkpoint is stored as given, even when it is lower than the stored
    /// one (a UIDVALIDITY change restarts a folder); the caller decides.
    /// Either everything is written or nothing is.
    fn commit(
        &self,
        inbox: &str,
        folder: &str,
        checkpoint: Checkpoint,
        findings: &[FindingRecord],
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Writes an inbox's health; returns the previous state when it changed
    /// (`None` when unchanged, or on the inbox's first write). When the state
    /// is unchanged the stored `since` is kept (the state did not start
    /// again) while `last_error` and `updated_at` are written.
    fn set_health(
        &self,
        health: &Health,
    ) -> impl Future<Output = Result<Option<HealthState>, Error>> + Send;

    /// Every inbox's health, ordered by inbox id (byte order).
    fn health(&self) -> impl Future<Output = Result<Vec<Health>, Error>> + Send;

    /// Every checkpoint of an inbox: (folder, checkpoint), ordered by folder
    /// name (byte order).
    fn checkpoints(
        &self,
        inbox: &str,
    ) -> impl Future<Output = Result<Vec<(String, Checkpoint)>, Error>> + Send;

    /// The rotated OAuth2 refresh token stored for an inbox, when it was
    /// rotated from the refresh token the config holds now: `origin` is a
    /// fingerprint of the config's token. A stored token wins over the
    /// config's; once an operator re-authorises and puts a new token in the
    /// config, its fingerprint differs and the stale rotation is ignored.
    fn refresh_token(
        &self,
        inbox: &str,
        origin: &str,
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send;

    /// Stores a rotated OAuth2 refresh token with the fingerprint of the
    /// config token it descends from.
    fn set_refresh_token(
        &self,
        inbox: &str,
        token: &str,
        origin: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// In one transaction: registers `messages`, keyed by (account,
    /// message_id). A message already tracked gets the new inbox, subject,
    /// sent_at, metadata and source, and its recipients are replaced by the
    /// given ones; the same input twice changes nothing (`updated_at` moves
    /// only when a value differs). Recipient addresses are normalised
    /// ([`crate::track::normalise_address`]; one that is not an address is
    /// kept trimmed), and a repeated address is stored once. Returns how many
    /// of `messages` were not tracked before (a Message-ID repeated within
    /// the slice counts once). `now` is the write time (Unix seconds).
    fn track(
        &self,
        messages: &[TrackedMessage],
        now: i64,
    ) -> impl Future<Output = Result<usize, Error>> + Send;

    /// The tracked messages of `account` among `message_ids` (those that
    /// exist, each once, in the order of their first appearance in the
    /// input), with their recipients ordered by address. Any number of ids:
    /// implementations split large inputs to stay under their bound-parameter
    /// limits.
    fn tracked(
        &self,
        account: &str,
        message_ids: &[String],
    ) -> impl Future<Output = Result<Vec<TrackedMessage>, Error>> + Send;

    /// The messages of `account` sent to `address` (normalised before the
    /// lookup) with `sent_at` in `[from, until]`, newest first (ties by
    /// Message-ID, descending), at most [`TRACKED_TO_LIMIT`]; each with all
    /// its recipients.
    fn tracked_to(
        &self,
        account: &str,
        address: &str,
        from: i64,
        until: i64,
    ) -> impl Future<Output = Result<Vec<TrackedMessage>, Error>> + Send;
}

/// One event in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Its position: events are delivered in this order (per contact).
    pub seq: i64,
    /// The event.
    pub event: Event,
    /// When it was written (Unix seconds).
    pub created_at: i64,
    /// When it was delivered, if it was.
    pub delivered_at: Option<i64>,
}

/// The policy's side of the store (issue 4): contact state, suppression
/// history, pending delays, global suppressions, per-recipient findings and
/// the event outbox. Same conventions as [`Store`]: every method is one
/// transaction, addresses are stored normalised by the caller.
pub trait PolicyStore: Store {
    /// In one transaction: everything [`Store::commit`] does, plus `changes`
    /// (see [`Changes`] for how each part is written). Either everything is
    /// written or nothing is.
    fn commit_step(
        &self,
        inbox: &str,
        folder: &str,
        checkpoint: Checkpoint,
        findings: &[FindingRecord],
        changes: &Changes,
        now: i64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Writes `changes` in one transaction, with no checkpoint (due
    /// transitions, unsuppress).
    fn apply(&self, changes: &Changes, now: i64) -> impl Future<Output = Result<(), Error>> + Send;

    /// The stored states of `addresses` in `account` (those that exist,
    /// ordered by address). Any number of addresses.
    fn contacts(
        &self,
        account: &str,
        addresses: &[String],
    ) -> impl Future<Output = Result<Vec<ContactState>, Error>> + Send;

    /// The states of `address` in every account, ordered by account.
    fn contacts_everywhere(
        &self,
        address: &str,
    ) -> impl Future<Output = Result<Vec<ContactState>, Error>> + Send;

    /// The suppressed contacts of `account` (every account when `None`),
    /// ordered by (account, address).
    fn suppressed(
        &self,
        account: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ContactState>, Error>> + Send;

    /// The active global suppression of `address`, if any.
    fn global_suppression(
        &self,
        address: &str,
    ) -> impl Future<Output = Result<Option<GlobalSuppression>, Error>> + Send;

    /// Every account that tracked a message to `address`, ordered by
    /// account, each with the inbox and contact id of its latest such send.
    fn trackers(&self, address: &str) -> impl Future<Output = Result<Vec<Tracker>, Error>> + Send;

    /// The pending delays of `addresses` in `account`, ordered by (address,
    /// message key).
    fn pending(
        &self,
        account: &str,
        addresses: &[String],
    ) -> impl Future<Output = Result<Vec<PendingDelay>, Error>> + Send;

    /// Pending delays with `expires_at <= now`, earliest first, at most `limit`.
    fn due_pending(
        &self,
        now: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingDelay>, Error>> + Send;

    /// The suppression history of an address in an account, oldest first
    /// (ties in insertion order).
    fn history(
        &self,
        account: &str,
        address: &str,
    ) -> impl Future<Output = Result<Vec<HistoryEntry>, Error>> + Send;

    /// The per-recipient findings of an address in an account, oldest first.
    fn recipient_findings(
        &self,
        account: &str,
        address: &str,
    ) -> impl Future<Output = Result<Vec<RecipientFinding>, Error>> + Send;

    /// Outbox entries with `seq > after`, in seq order, at most `limit`.
    fn outbox(
        &self,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, Error>> + Send;

    /// Like [`PolicyStore::outbox`], only the delivered entries, or only
    /// the undelivered ones that are not dead letters (`status`).
    fn outbox_with(
        &self,
        status: OutboxStatus,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, Error>> + Send;

    /// Undelivered outbox entries that are not dead letters, in seq order,
    /// at most `limit`.
    fn undelivered(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, Error>> + Send;

    /// Writes an inbox's health like [`Store::set_health`] and, in the same
    /// transaction, the event `event` returns when called with the stored
    /// state before the write (`None` on the inbox's first write) and the new
    /// one (the caller decides which changes are worth an event). Returns
    /// what [`Store::set_health`] returns.
    fn set_health_with_event<F>(
        &self,
        health: &Health,
        event: F,
    ) -> impl Future<Output = Result<Option<HealthState>, Error>> + Send
    where
        F: FnOnce(Option<HealthState>, HealthState) -> Option<Event> + Send;

    /// Marks events delivered (unknown ids are ignored; an event already
    /// marked keeps its first time).
    fn mark_delivered(
        &self,
        ids: &[String],
        now: i64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Deletes what retention lets go (`retention:` in the configuration):
    /// events delivered before `delivered_before`, and tracked messages
    /// sent before `sent_before` with their recipients. Never a pending
    /// event, a dead letter, or the event with the highest `seq` (so that
    /// `seq` keeps growing and API cursors stay valid). Works in batches,
    /// each its own short write transaction, so ingestion is not held up.
    fn prune(
        &self,
        delivered_before: i64,
        sent_before: i64,
    ) -> impl Future<Output = Result<Pruned, Error>> + Send;
}

/// Which entries [`PolicyStore::outbox_with`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    /// Delivered.
    Delivered,
    /// Neither delivered nor dead-lettered.
    Undelivered,
}

/// What [`PolicyStore::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Delivered events.
    pub events: u64,
    /// Tracked messages (each with its recipients).
    pub tracked_messages: u64,
}

/// The most messages [`Store::tracked_to`] returns: recipient-window matching
/// needs the few most recent sends, not a contact's whole history.
pub const TRACKED_TO_LIMIT: usize = 50;

/// One outbox event as the HTTP dispatcher ([`crate::outbox`]) delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    /// The event id (also the `webhook-id` header).
    pub id: String,
    /// Its position in the outbox.
    pub seq: i64,
    /// The account (tenant).
    pub account: String,
    /// The inbox, `None` for account-wide events.
    pub inbox: Option<String>,
    /// The contact's normalised address, `None` for events without a contact.
    pub address: Option<String>,
    /// The serialised event exactly as stored: the request body.
    pub payload: String,
    /// When it was written (Unix seconds).
    pub created_at: i64,
    /// Failed delivery attempts so far (reset by a redrive).
    pub attempts: u32,
    /// When the retry budget started: `created_at`, or the last redrive.
    pub budget_from: i64,
}

impl QueuedEvent {
    /// Its ordering lane: events of one lane are delivered strictly in seq
    /// order, one at a time.
    pub fn lane(&self) -> Lane {
        match &self.address {
            Some(address) => Lane::Contact {
                account: self.account.clone(),
                address: address.clone(),
            },
            None => Lane::Inbox {
                account: self.account.clone(),
                inbox: self.inbox.clone(),
            },
        }
    }
}

/// What orders deliveries: events about one contact (account + address)
/// are one lane; events without a contact are one lane per account + inbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    /// Events about one contact of one account.
    Contact {
        /// The account.
        account: String,
        /// The contact's normalised address.
        address: String,
    },
    /// Events without a contact (inbox status changes).
    Inbox {
        /// The account.
        account: String,
        /// The inbox (`None`: account-wide).
        inbox: Option<String>,
    },
}

/// A dead-lettered event: its retries were spent or the receiver refused it
/// for good. It stays in the outbox until redriven.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Its position in the outbox.
    pub seq: i64,
    /// The event.
    pub event: Event,
    /// When it was written (Unix seconds).
    pub created_at: i64,
    /// When it was dead-lettered (Unix seconds).
    pub dead_at: i64,
    /// Failed delivery attempts.
    pub attempts: u32,
    /// The last failure (HTTP status and a short body excerpt, or the
    /// transport error; never a secret).
    pub last_error: Option<String>,
}

/// Counts of the outbox as the dispatcher sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DispatchCounts {
    /// Events neither delivered nor dead (the backlog), retried ones included.
    pub pending: u64,
    /// Pending events that failed at least once and wait for a retry.
    pub retrying: u64,
    /// Dead-lettered events.
    pub dead: u64,
    /// `created_at` of the oldest pending event.
    pub oldest_pending_at: Option<i64>,
}

/// Which dead letters a redrive sends again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redrive<'a> {
    /// These ids (those that are not dead are left as they are).
    Ids(&'a [String]),
    /// Every dead letter.
    AllDead,
}

/// The HTTP dispatcher's side of the store (issue 5): due events by lane,
/// the outcome of each attempt, dead letters and redrive. Same conventions
/// as [`Store`]. The dispatcher only reads and updates outbox rows; it never
/// inserts or deletes, so ingestion never waits on it beyond one short
/// write transaction.
pub trait DispatchStore: PolicyStore {
    /// The first pending event of each lane (neither delivered nor dead, no
    /// pending event of its lane with a lower seq), when it is due (its
    /// `next_attempt_at` is unset or `<= now`); in seq order, at most
    /// `limit`. A lane whose first event waits for a retry yields nothing.
    fn due_heads(
        &self,
        now: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<QueuedEvent>, Error>> + Send;

    /// In one transaction: marks the pending events among `ids` delivered
    /// at `now`; returns how many were pending (an id delivered already,
    /// dead, or unknown is left as it is). Any number of ids.
    fn record_delivered(
        &self,
        ids: &[String],
        now: i64,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Records a failed attempt of a pending event: one more attempt, the
    /// next at `next_attempt_at`, `error` kept as the last error. `false`
    /// when it was not pending.
    fn record_retry(
        &self,
        id: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Records a final failed attempt of a pending event: one more attempt,
    /// dead-lettered at `now` with `error` as the last error. `false` when
    /// it was not pending.
    fn record_dead(
        &self,
        id: &str,
        now: i64,
        error: &str,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Makes dead letters pending again, due at once, with their attempts
    /// reset and a new retry budget starting at `now` (the last error is
    /// kept until the next attempt). Returns how many were redriven.
    fn redrive(
        &self,
        which: Redrive<'_>,
        now: i64,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Backlog, retrying and dead counts.
    fn dispatch_counts(&self) -> impl Future<Output = Result<DispatchCounts, Error>> + Send;

    /// Dead letters with `seq > after`, in seq order, at most `limit`.
    fn dead_letters(
        &self,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, Error>> + Send;
}
