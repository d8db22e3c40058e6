//! The SQLite side of [`PolicyStore`] (`migrations/sqlite/0003_policy.sql`).
//!
//! # How [`Changes`] are written
//! In one `BEGIN IMMEDIATE` transaction, in the order of its fields:
//! tracked messages exactly as [`crate::store::Store::track`] writes them;
//! per-recipient findings (an existing key is left as it was); contact states
//! (replacing the stored row); history lines (appended, numbered by `seq`);
//! new pending delays (an existing key keeps its first row); resolved pending
//! delays (deleted; an unknown key is ignored); global suppressions
//! (replacing); lifted global suppressions (deleted); events (a new id gets
//! the next `seq`, an existing id is left as it was and gets none). So a key
//! both added and resolved in one step ends up resolved.
//!
//! Any row the schema refuses (an empty key, a delay that expires before it
//! was noticed, ...) fails the whole transaction: nothing is written.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row, SqliteConnection};

use super::{SqliteStore, commit_in, get_u32, placeholders, set_health_in, track, update_ids};
use crate::event::Event;
use crate::policy::{
    Changes, ContactState, GlobalSuppression, HistoryAction, HistoryEntry, PendingDelay,
    RecipientFinding, SoftEntry, SuppressReason, Suppression, Tracker,
};
use crate::source::Checkpoint;
use crate::store::{
    Error, FindingRecord, Health, HealthState, OutboxEntry, OutboxStatus, PolicyStore, Pruned,
};

/// Values per `IN (...)` list: well under SQLite's 32,766 bound parameters
/// (and PostgreSQL's 65,535).
const IN_CHUNK: usize = 500;

/// Rows [`PolicyStore::prune`] deletes per transaction.
const PRUNE_BATCH: i64 = 2000;

/// The columns of a `contacts` row, as [`contact`] reads them.
macro_rules! contact_select {
    () => {
        "SELECT account, address, contact_id, suppression_reason, suppression_since, \
         suppression_event_id, soft, last_certain_hard_at, alive_at, updated_at FROM contacts"
    };
}

/// The columns of a `pending_delays` row, as [`pending_row`] reads them.
macro_rules! pending_select {
    () => {
        "SELECT account, address, message_key, inbox, noticed_at, expires_at, event_id, \
         snapshot FROM pending_delays"
    };
}

/// The columns of an `outbox` row, as [`outbox_row`] reads them.
macro_rules! outbox_select {
    () => {
        "SELECT id, seq, payload, created_at, delivered_at FROM outbox"
    };
}

/// A `limit` as SQL binds it (saturating: "at most" a huge number is all).
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// `value` as JSON text; `what` names it in the error.
fn to_json<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<String, Error> {
    serde_json::to_string(value)
        .map_err(|err| Error::Corrupt(format!("{what} cannot be serialised: {err}")))
}

/// Parses stored JSON text; `what` names the column and row in the error.
fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: impl FnOnce() -> String,
) -> Result<T, Error> {
    serde_json::from_str(text)
        .map_err(|err| Error::Corrupt(format!("{} is not the JSON expected there: {err}", what())))
}

/// Writes `changes` inside the caller's write transaction (module docs).
async fn write_changes(
    conn: &mut SqliteConnection,
    changes: &Changes,
    now: i64,
) -> Result<(), Error> {
    track::track_in(conn, &changes.tracked, now).await?;
    for finding in &changes.findings {
        insert_recipient_finding(conn, finding).await?;
    }
    for state in &changes.contacts {
        upsert_contact(conn, state).await?;
    }
    append_history(conn, &changes.history).await?;
    for delay in &changes.pending_add {
        sqlx::query(
            "INSERT INTO pending_delays \
             (account, address, message_key, inbox, noticed_at, expires_at, event_id, snapshot) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (account, address, message_key) DO NOTHING",
        )
        .bind(&delay.account)
        .bind(&delay.address)
        .bind(&delay.message_key)
        .bind(&delay.inbox)
        .bind(delay.noticed_at)
        .bind(delay.expires_at)
        .bind(&delay.event_id)
        .bind(to_json(&delay.snapshot, "a pending delay's snapshot")?)
        .execute(&mut *conn)
        .await?;
    }
    for key in &changes.pending_done {
        sqlx::query(
            "DELETE FROM pending_delays \
             WHERE account = $1 AND address = $2 AND message_key = $3",
        )
        .bind(&key.account)
        .bind(&key.address)
        .bind(&key.message_key)
        .execute(&mut *conn)
        .await?;
    }
    for global in &changes.global_add {
        sqlx::query(
            "INSERT INTO global_suppressions (address, since, accounts) VALUES ($1, $2, $3) \
             ON CONFLICT (address) DO UPDATE SET \
             since = excluded.since, accounts = excluded.accounts",
        )
        .bind(&global.address)
        .bind(global.since)
        .bind(to_json(
            &global.accounts,
            "a global suppression's accounts",
        )?)
        .execute(&mut *conn)
        .await?;
    }
    for address in &changes.global_lift {
        sqlx::query("DELETE FROM global_suppressions WHERE address = $1")
            .bind(address)
            .execute(&mut *conn)
            .await?;
    }
    insert_events(conn, &changes.events, now).await
}

/// One per-recipient finding; an existing key keeps its first row.
async fn insert_recipient_finding(
    conn: &mut SqliteConnection,
    finding: &RecipientFinding,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO recipient_findings \
         (key, identity, account, inbox, address, message_id, method, confidence, verdict, \
          kind, reason, status, folder, uidvalidity, uid, raw_sha256, location, noticed_at, \
          event_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                 $18, $19) \
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(&finding.key)
    .bind(&finding.identity)
    .bind(&finding.account)
    .bind(&finding.inbox)
    .bind(&finding.address)
    .bind(finding.message_id.as_deref())
    .bind(&finding.method)
    .bind(finding.confidence.as_deref())
    .bind(&finding.verdict)
    .bind(finding.kind.as_deref())
    .bind(finding.reason.as_deref())
    .bind(finding.status.as_deref())
    .bind(&finding.folder)
    .bind(i64::from(finding.uidvalidity))
    .bind(i64::from(finding.uid))
    .bind(&finding.raw_sha256)
    .bind(finding.location.as_deref())
    .bind(finding.noticed_at)
    .bind(&finding.event_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One contact state, replacing the stored one.
async fn upsert_contact(conn: &mut SqliteConnection, state: &ContactState) -> Result<(), Error> {
    let suppression = state.suppression.as_ref();
    sqlx::query(
        "INSERT INTO contacts \
         (account, address, contact_id, suppression_reason, suppression_since, \
          suppression_event_id, soft, last_certain_hard_at, alive_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (account, address) DO UPDATE SET \
         contact_id = excluded.contact_id, suppression_reason = excluded.suppression_reason, \
         suppression_since = excluded.suppression_since, \
         suppression_event_id = excluded.suppression_event_id, soft = excluded.soft, \
         last_certain_hard_at = excluded.last_certain_hard_at, \
         alive_at = excluded.alive_at, updated_at = excluded.updated_at",
    )
    .bind(&state.account)
    .bind(&state.address)
    .bind(state.contact_id.as_deref())
    .bind(suppression.map(|s| s.reason.as_str()))
    .bind(suppression.map(|s| s.since))
    .bind(suppression.map(|s| s.event_id.as_str()))
    .bind(to_json(&state.soft, "a contact's soft bounces")?)
    .bind(state.last_certain_hard_at)
    .bind(state.alive_at)
    .bind(state.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Appends history lines, numbered after the highest `seq` (the write lock
/// is held, so no other writer can take the same numbers).
async fn append_history(
    conn: &mut SqliteConnection,
    entries: &[HistoryEntry],
) -> Result<(), Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM suppression_history")
        .fetch_one(&mut *conn)
        .await?;
    for entry in entries {
        seq = seq.saturating_add(1);
        sqlx::query(
            "INSERT INTO suppression_history \
             (seq, account, address, action, reason, actor, at, event_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(seq)
        .bind(&entry.account)
        .bind(&entry.address)
        .bind(entry.action.as_str())
        .bind(&entry.reason)
        .bind(&entry.actor)
        .bind(entry.at)
        .bind(&entry.event_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Inserts events written at `now`: a new id gets the next `seq`; an id
/// already in the outbox (or earlier in `events`) is left as it was.
async fn insert_events(
    conn: &mut SqliteConnection,
    events: &[Event],
    now: i64,
) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let mut last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM outbox")
        .fetch_one(&mut *conn)
        .await?;
    for event in events {
        let next = last.saturating_add(1);
        let payload = to_json(event, "an event")?;
        let inserted = sqlx::query(
            "INSERT INTO outbox \
             (id, seq, type, account, inbox, address, occurred_at, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&event.id)
        .bind(next)
        .bind(event.kind.as_str())
        .bind(&event.account)
        .bind(event.inbox.as_deref())
        .bind(event.contact.as_ref().map(|c| c.address.as_str()))
        .bind(&event.occurred_at)
        .bind(payload)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted > 0 {
            last = next;
        }
    }
    Ok(())
}

/// One `contacts` row ([`contact_select`]).
fn contact(row: &SqliteRow) -> Result<ContactState, Error> {
    let account: String = row.try_get("account")?;
    let address: String = row.try_get("address")?;
    let reason: Option<String> = row.try_get("suppression_reason")?;
    let since: Option<i64> = row.try_get("suppression_since")?;
    let event_id: Option<String> = row.try_get("suppression_event_id")?;
    let suppression = match (reason, since, event_id) {
        (None, None, None) => None,
        (Some(reason), Some(since), Some(event_id)) => Some(Suppression {
            reason: SuppressReason::parse(&reason).ok_or_else(|| {
                Error::Corrupt(format!(
                    "contacts.suppression_reason of {address:?} in account {account:?} is \
                     {reason:?}, not a known reason"
                ))
            })?,
            since,
            event_id,
        }),
        _ => {
            return Err(Error::Corrupt(format!(
                "contacts row of {address:?} in account {account:?} has only part of a \
                 suppression (reason, since and event id go together)"
            )));
        }
    };
    let soft: String = row.try_get("soft")?;
    let soft: Vec<SoftEntry> = from_json(&soft, || {
        format!("contacts.soft of {address:?} in account {account:?}")
    })?;
    Ok(ContactState {
        contact_id: row.try_get("contact_id")?,
        suppression,
        soft,
        last_certain_hard_at: row.try_get("last_certain_hard_at")?,
        alive_at: row.try_get("alive_at")?,
        updated_at: row.try_get("updated_at")?,
        account,
        address,
    })
}

/// One `pending_delays` row ([`pending_select`]).
fn pending_row(row: &SqliteRow) -> Result<PendingDelay, Error> {
    let account: String = row.try_get("account")?;
    let address: String = row.try_get("address")?;
    let message_key: String = row.try_get("message_key")?;
    let snapshot: String = row.try_get("snapshot")?;
    let snapshot = from_json(&snapshot, || {
        format!("pending_delays.snapshot of {address:?} / {message_key:?} in account {account:?}")
    })?;
    Ok(PendingDelay {
        inbox: row.try_get("inbox")?,
        noticed_at: row.try_get("noticed_at")?,
        expires_at: row.try_get("expires_at")?,
        event_id: row.try_get("event_id")?,
        snapshot,
        account,
        address,
        message_key,
    })
}

/// One `outbox` row ([`outbox_select`]).
fn outbox_row(row: &SqliteRow) -> Result<OutboxEntry, Error> {
    let id: String = row.try_get("id")?;
    let payload: String = row.try_get("payload")?;
    let event: Event = from_json(&payload, || format!("outbox.payload of event {id:?}"))?;
    if event.id != id {
        return Err(Error::Corrupt(format!(
            "outbox.payload of event {id:?} holds event {:?}",
            event.id
        )));
    }
    Ok(OutboxEntry {
        seq: row.try_get("seq")?,
        event,
        created_at: row.try_get("created_at")?,
        delivered_at: row.try_get("delivered_at")?,
    })
}

/// One `suppression_history` row.
fn history_row(row: &SqliteRow) -> Result<HistoryEntry, Error> {
    let account: String = row.try_get("account")?;
    let address: String = row.try_get("address")?;
    let action: String = row.try_get("action")?;
    let action = HistoryAction::parse(&action).ok_or_else(|| {
        Error::Corrupt(format!(
            "suppression_history.action of {address:?} in account {account:?} is {action:?}, \
             not a known action"
        ))
    })?;
    Ok(HistoryEntry {
        action,
        reason: row.try_get("reason")?,
        actor: row.try_get("actor")?,
        at: row.try_get("at")?,
        event_id: row.try_get("event_id")?,
        account,
        address,
    })
}

/// One `recipient_findings` row.
fn recipient_finding_row(row: &SqliteRow) -> Result<RecipientFinding, Error> {
    Ok(RecipientFinding {
        key: row.try_get("key")?,
        identity: row.try_get("identity")?,
        account: row.try_get("account")?,
        inbox: row.try_get("inbox")?,
        address: row.try_get("address")?,
        message_id: row.try_get("message_id")?,
        method: row.try_get("method")?,
        confidence: row.try_get("confidence")?,
        verdict: row.try_get("verdict")?,
        kind: row.try_get("kind")?,
        reason: row.try_get("reason")?,
        status: row.try_get("status")?,
        folder: row.try_get("folder")?,
        uidvalidity: get_u32(row, "recipient_findings", "uidvalidity")?,
        uid: get_u32(row, "recipient_findings", "uid")?,
        raw_sha256: row.try_get("raw_sha256")?,
        location: row.try_get("location")?,
        noticed_at: row.try_get("noticed_at")?,
        event_id: row.try_get("event_id")?,
    })
}

impl SqliteStore {
    /// The rows of `select` (a `SELECT ... FROM table`) with `account = $1`
    /// and `address` among `addresses`, in `order` (which must start with
    /// `address`). The addresses are de-duplicated and sorted, then split
    /// into lists of [`IN_CHUNK`]; since each chunk's addresses all sort
    /// after the previous chunk's, the chunks' rows concatenate in order.
    /// One read transaction, so every chunk sees the same snapshot.
    async fn by_addresses<T>(
        &self,
        select: &str,
        order: &str,
        account: &str,
        addresses: &[String],
        parse: fn(&SqliteRow) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let unique: Vec<&String> = addresses
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut out = Vec::new();
        if unique.is_empty() {
            return Ok(out);
        }
        let mut tx = self.pool.begin().await?;
        for chunk in unique.chunks(IN_CHUNK) {
            let sql = format!(
                "{select} WHERE account = $1 AND address IN ({}) ORDER BY {order}",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(account);
            for address in chunk {
                query = query.bind(address.as_str());
            }
            for row in query.fetch_all(&mut *tx).await? {
                out.push(parse(&row)?);
            }
        }
        tx.commit().await?;
        Ok(out)
    }
}

impl PolicyStore for SqliteStore {
    async fn commit_step(
        &self,
        inbox: &str,
        folder: &str,
        checkpoint: Checkpoint,
        findings: &[FindingRecord],
        changes: &Changes,
        now: i64,
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        commit_in(&mut tx, inbox, folder, checkpoint, findings, now).await?;
        write_changes(&mut tx, changes, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn apply(&self, changes: &Changes, now: i64) -> Result<(), Error> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        write_changes(&mut tx, changes, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn contacts(
        &self,
        account: &str,
        addresses: &[String],
    ) -> Result<Vec<ContactState>, Error> {
        self.by_addresses(contact_select!(), "address", account, addresses, contact)
            .await
    }

    async fn contacts_everywhere(&self, address: &str) -> Result<Vec<ContactState>, Error> {
        let rows = sqlx::query(concat!(
            contact_select!(),
            " WHERE address = $1 ORDER BY account"
        ))
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(contact).collect()
    }

    async fn suppressed(&self, account: Option<&str>) -> Result<Vec<ContactState>, Error> {
        let rows = match account {
            Some(account) => {
                sqlx::query(concat!(
                    contact_select!(),
                    " WHERE suppression_reason IS NOT NULL AND account = $1 \
                     ORDER BY account, address"
                ))
                .bind(account)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(concat!(
                    contact_select!(),
                    " WHERE suppression_reason IS NOT NULL ORDER BY account, address"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(contact).collect()
    }

    async fn global_suppression(&self, address: &str) -> Result<Option<GlobalSuppression>, Error> {
        let row = sqlx::query(
            "SELECT address, since, accounts FROM global_suppressions WHERE address = $1",
        )
        .bind(address)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let address: String = row.try_get("address")?;
            let accounts: String = row.try_get("accounts")?;
            let accounts = from_json(&accounts, || {
                format!("global_suppressions.accounts of {address:?}")
            })?;
            Ok(GlobalSuppression {
                since: row.try_get("since")?,
                accounts,
                address,
            })
        })
        .transpose()
    }

    async fn trackers(&self, address: &str) -> Result<Vec<Tracker>, Error> {
        // Every send to the address, each account's latest first (ties by
        // Message-ID, descending, as in `tracked_to`); the first row per
        // account wins.
        let rows = sqlx::query(
            "SELECT r.account, m.inbox, r.contact_id FROM tracked_recipients r \
             JOIN tracked_messages m \
               ON m.account = r.account AND m.message_id = r.message_id \
             WHERE r.address = $1 \
             ORDER BY r.account, r.sent_at DESC, r.message_id DESC",
        )
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        let mut latest: BTreeMap<String, Tracker> = BTreeMap::new();
        for row in &rows {
            let account: String = row.try_get("account")?;
            if latest.contains_key(&account) {
                continue;
            }
            let tracker = Tracker {
                account: account.clone(),
                inbox: row.try_get("inbox")?,
                contact_id: row.try_get("contact_id")?,
            };
            latest.insert(account, tracker);
        }
        Ok(latest.into_values().collect())
    }

    async fn pending(
        &self,
        account: &str,
        addresses: &[String],
    ) -> Result<Vec<PendingDelay>, Error> {
        self.by_addresses(
            pending_select!(),
            "address, message_key",
            account,
            addresses,
            pending_row,
        )
        .await
    }

    async fn due_pending(&self, now: i64, limit: usize) -> Result<Vec<PendingDelay>, Error> {
        let rows = sqlx::query(concat!(
            pending_select!(),
            " WHERE expires_at <= $1 \
             ORDER BY expires_at, account, address, message_key LIMIT $2"
        ))
        .bind(now)
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pending_row).collect()
    }

    async fn history(&self, account: &str, address: &str) -> Result<Vec<HistoryEntry>, Error> {
        let rows = sqlx::query(
            "SELECT account, address, action, reason, actor, at, event_id \
             FROM suppression_history WHERE account = $1 AND address = $2 ORDER BY at, seq",
        )
        .bind(account)
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(history_row).collect()
    }

    async fn recipient_findings(
        &self,
        account: &str,
        address: &str,
    ) -> Result<Vec<RecipientFinding>, Error> {
        let rows = sqlx::query(
            "SELECT key, identity, account, inbox, address, message_id, method, confidence, \
             verdict, kind, reason, status, folder, uidvalidity, uid, raw_sha256, location, \
             noticed_at, event_id FROM recipient_findings \
             WHERE account = $1 AND address = $2 ORDER BY noticed_at, key",
        )
        .bind(account)
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(recipient_finding_row).collect()
    }

    async fn outbox(&self, after: i64, limit: usize) -> Result<Vec<OutboxEntry>, Error> {
        let rows = sqlx::query(concat!(
            outbox_select!(),
            " WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after)
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_row).collect()
    }

    async fn outbox_with(
        &self,
        status: OutboxStatus,
        after: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, Error> {
        let sql = match status {
            OutboxStatus::Delivered => concat!(
                outbox_select!(),
                " WHERE seq > $1 AND delivered_at IS NOT NULL ORDER BY seq LIMIT $2"
            ),
            OutboxStatus::Undelivered => concat!(
                outbox_select!(),
                " WHERE seq > $1 AND delivered_at IS NULL AND dead_at IS NULL ORDER BY seq LIMIT $2"
            ),
        };
        let rows = sqlx::query(sql)
            .bind(after)
            .bind(sql_limit(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(outbox_row).collect()
    }

    async fn undelivered(&self, limit: usize) -> Result<Vec<OutboxEntry>, Error> {
        let rows = sqlx::query(concat!(
            outbox_select!(),
            " WHERE delivered_at IS NULL AND dead_at IS NULL ORDER BY seq LIMIT $1"
        ))
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_row).collect()
    }

    async fn set_health_with_event<F>(
        &self,
        health: &Health,
        event: F,
    ) -> Result<Option<HealthState>, Error>
    where
        F: FnOnce(Option<HealthState>, HealthState) -> Option<Event> + Send,
    {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let previous = set_health_in(&mut tx, health).await?;
        if let Some(event) = event(previous, health.state) {
            // Written when the health is: its `updated_at`.
            insert_events(&mut tx, std::slice::from_ref(&event), health.updated_at).await?;
        }
        tx.commit().await?;
        Ok(previous.filter(|state| *state != health.state))
    }

    async fn mark_delivered(&self, ids: &[String], now: i64) -> Result<(), Error> {
        update_ids(
            &self.pool,
            "UPDATE outbox SET delivered_at = $1 WHERE delivered_at IS NULL",
            now,
            ids,
        )
        .await?;
        Ok(())
    }

    async fn prune(&self, delivered_before: i64, sent_before: i64) -> Result<Pruned, Error> {
        let mut pruned = Pruned::default();
        loop {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let done = sqlx::query(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
                 WHERE delivered_at IS NOT NULL AND delivered_at < $1 \
                 AND seq < (SELECT MAX(seq) FROM outbox) LIMIT $2)",
            )
            .bind(delivered_before)
            .bind(PRUNE_BATCH)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            pruned.events += done;
            if done < PRUNE_BATCH as u64 {
                break;
            }
        }
        loop {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            // The same batch for both tables: the first old messages in key
            // order, which both statements pick alike in one transaction.
            const BATCH: &str = "(account, message_id) IN (SELECT account, message_id \
                 FROM tracked_messages WHERE sent_at < $1 ORDER BY account, message_id LIMIT $2)";
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM tracked_recipients WHERE {BATCH}"
            )))
            .bind(sent_before)
            .bind(PRUNE_BATCH)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM tracked_messages WHERE {BATCH}"
            )))
            .bind(sent_before)
            .bind(PRUNE_BATCH)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            pruned.tracked_messages += done;
            if done < PRUNE_BATCH as u64 {
                break;
            }
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_limits_saturate() {
        assert_eq!(sql_limit(usize::MAX), i64::MAX);
        assert_eq!(sql_limit(7), 7);
    }
}
