//! Tracked sent messages in SQLite (`migrations/sqlite/0002_tracking.sql`):
//! the bodies of [`crate::store::Store::track`], `tracked` and `tracked_to`.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row, SqliteConnection, SqlitePool};

use super::placeholders;
use crate::store::{Error, TRACKED_TO_LIMIT};
use crate::track::{TrackSource, TrackedMessage, TrackedRecipient, normalise_address};

/// Message-IDs per `IN (...)` query: well under SQLite's 32,766 bound
/// parameters (and PostgreSQL's 65,535).
const IDS_CHUNK: usize = 500;

/// `SELECT ... WHERE account = $1 AND message_id IN ($2, ..., $N)` for `n` ids.
fn in_list(select: &str, n: usize) -> String {
    format!(
        "{select} WHERE account = $1 AND message_id IN ({})",
        placeholders(2, n)
    )
}

/// The address as stored: normalised when it is one, else trimmed.
fn stored_address(address: &str) -> String {
    normalise_address(address).unwrap_or_else(|| address.trim().to_owned())
}

/// The body of `Store::track`: one `BEGIN IMMEDIATE` transaction.
pub(super) async fn track(
    pool: &SqlitePool,
    messages: &[TrackedMessage],
    now: i64,
) -> Result<usize, Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let new = track_in(&mut tx, messages, now).await?;
    tx.commit().await?;
    Ok(new)
}

/// What `Store::track` writes, inside the caller's write transaction (also
/// `PolicyStore::commit_step`'s tracked messages). Returns how many messages
/// were not tracked before.
pub(super) async fn track_in(
    conn: &mut SqliteConnection,
    messages: &[TrackedMessage],
    now: i64,
) -> Result<usize, Error> {
    let mut new = 0;
    for message in messages {
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM tracked_messages WHERE account = $1 AND message_id = $2",
        )
        .bind(&message.account)
        .bind(&message.message_id)
        .fetch_optional(&mut *conn)
        .await?;
        if exists.is_none() {
            new += 1;
        }
        let metadata = serde_json::to_string(&message.metadata)
            .map_err(|err| Error::Corrupt(format!("metadata cannot be serialised: {err}")))?;
        // The WHERE keeps an unchanged row (and its updated_at) as it is.
        sqlx::query(
            "INSERT INTO tracked_messages \
             (account, message_id, inbox, subject, sent_at, metadata, source, created_at, \
              updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
             ON CONFLICT (account, message_id) DO UPDATE SET \
             inbox = excluded.inbox, subject = excluded.subject, sent_at = excluded.sent_at, \
             metadata = excluded.metadata, source = excluded.source, \
             updated_at = excluded.updated_at \
             WHERE tracked_messages.inbox IS DISTINCT FROM excluded.inbox \
                OR tracked_messages.subject IS DISTINCT FROM excluded.subject \
                OR tracked_messages.sent_at IS DISTINCT FROM excluded.sent_at \
                OR tracked_messages.metadata IS DISTINCT FROM excluded.metadata \
                OR tracked_messages.source IS DISTINCT FROM excluded.source",
        )
        .bind(&message.account)
        .bind(&message.message_id)
        .bind(&message.inbox)
        .bind(message.subject.as_deref())
        .bind(message.sent_at)
        .bind(metadata)
        .bind(message.source.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM tracked_recipients WHERE account = $1 AND message_id = $2")
            .bind(&message.account)
            .bind(&message.message_id)
            .execute(&mut *conn)
            .await?;
        for recipient in &message.recipients {
            // A repeated address keeps the contact id it was given with.
            sqlx::query(
                "INSERT INTO tracked_recipients \
                 (account, message_id, address, contact_id, sent_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (account, message_id, address) DO UPDATE SET \
                 contact_id = COALESCE(tracked_recipients.contact_id, excluded.contact_id)",
            )
            .bind(&message.account)
            .bind(&message.message_id)
            .bind(stored_address(&recipient.address))
            .bind(recipient.contact_id.as_deref())
            .bind(message.sent_at)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(new)
}

/// The body of `Store::tracked`: one read transaction over all chunks.
pub(super) async fn tracked(
    pool: &SqlitePool,
    account: &str,
    message_ids: &[String],
) -> Result<Vec<TrackedMessage>, Error> {
    let mut unique = Vec::new();
    let mut seen = HashSet::new();
    for id in message_ids {
        if seen.insert(id.as_str()) {
            unique.push(id.clone());
        }
    }
    if unique.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = pool.begin().await?;
    let found = load(&mut tx, account, &unique).await?;
    tx.commit().await?;
    let mut by_id: HashMap<String, TrackedMessage> = found
        .into_iter()
        .map(|m| (m.message_id.clone(), m))
        .collect();
    Ok(unique.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// The body of `Store::tracked_to`.
pub(super) async fn tracked_to(
    pool: &SqlitePool,
    account: &str,
    address: &str,
    from: i64,
    until: i64,
) -> Result<Vec<TrackedMessage>, Error> {
    let mut tx = pool.begin().await?;
    let limit = i64::try_from(TRACKED_TO_LIMIT).unwrap_or(i64::MAX);
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT message_id FROM tracked_recipients \
         WHERE account = $1 AND address = $2 AND sent_at BETWEEN $3 AND $4 \
         ORDER BY sent_at DESC, message_id DESC LIMIT $5",
    )
    .bind(account)
    .bind(stored_address(address))
    .bind(from)
    .bind(until)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let found = load(&mut tx, account, &ids).await?;
    tx.commit().await?;
    let mut by_id: HashMap<String, TrackedMessage> = found
        .into_iter()
        .map(|m| (m.message_id.clone(), m))
        .collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// The messages among `ids` (distinct) with their recipients, in no order.
async fn load(
    conn: &mut SqliteConnection,
    account: &str,
    ids: &[String],
) -> Result<Vec<TrackedMessage>, Error> {
    let mut messages = Vec::new();
    let mut recipients: HashMap<String, BTreeMap<String, Option<String>>> = HashMap::new();
    for chunk in ids.chunks(IDS_CHUNK) {
        let sql = in_list(
            "SELECT account, message_id, inbox, subject, sent_at, metadata, source \
             FROM tracked_messages",
            chunk.len(),
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(account);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            messages.push(message(&row)?);
        }
        let sql = in_list(
            "SELECT message_id, address, contact_id FROM tracked_recipients",
            chunk.len(),
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(account);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let id: String = row.try_get("message_id")?;
            recipients
                .entry(id)
                .or_default()
                .insert(row.try_get("address")?, row.try_get("contact_id")?);
        }
    }
    for message in &mut messages {
        if let Some(list) = recipients.remove(&message.message_id) {
            message.recipients = list
                .into_iter()
                .map(|(address, contact_id)| TrackedRecipient {
                    address,
                    contact_id,
                })
                .collect();
        }
    }
    Ok(messages)
}

/// One `tracked_messages` row, without recipients.
fn message(row: &SqliteRow) -> Result<TrackedMessage, Error> {
    let message_id: String = row.try_get("message_id")?;
    let metadata: String = row.try_get("metadata")?;
    let metadata = serde_json::from_str(&metadata).map_err(|err| {
        Error::Corrupt(format!(
            "tracked_messages.metadata of {message_id:?} is not JSON: {err}"
        ))
    })?;
    let source: String = row.try_get("source")?;
    let source = TrackSource::parse(&source).ok_or_else(|| {
        Error::Corrupt(format!(
            "tracked_messages.source of {message_id:?} is {source:?}, not a known source"
        ))
    })?;
    Ok(TrackedMessage {
        account: row.try_get("account")?,
        inbox: row.try_get("inbox")?,
        message_id,
        recipients: Vec::new(),
        subject: row.try_get("subject")?,
        sent_at: row.try_get("sent_at")?,
        metadata,
        source,
    })
}
