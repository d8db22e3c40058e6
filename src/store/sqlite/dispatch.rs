//! The SQLite side of [`DispatchStore`] (`migrations/sqlite/0004_dispatch.sql`).
//!
//! An outbox row is pending while `delivered_at` and `dead_at` are both
//! NULL. Every outcome is one single-statement update guarded by "still
//! pending", so an event redriven, delivered or dead-lettered meanwhile is
//! left as it is (the caller sees `false`).

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, get_u32, update_ids};
use crate::event::Event;
use crate::store::{DeadLetter, DispatchCounts, DispatchStore, Error, QueuedEvent, Redrive};

/// The first due pending event of each lane, in seq order (`$1` now, `$2`
/// limit). A contact lane is (account, address); an event without a
/// contact shares its lane with the other contact-less events of its
/// account and inbox. Both `NOT EXISTS` probes walk
/// `outbox_pending_by_lane`.
const DUE_HEADS: &str = "\
SELECT o.id, o.seq, o.account, o.inbox, o.address, o.payload, o.created_at, o.attempts, \
       COALESCE(o.budget_from, o.created_at) AS budget_from \
FROM outbox o \
WHERE o.delivered_at IS NULL AND o.dead_at IS NULL \
  AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= $1) \
  AND NOT EXISTS (SELECT 1 FROM outbox e \
      WHERE e.delivered_at IS NULL AND e.dead_at IS NULL \
        AND e.account = o.account AND e.address = o.address AND e.seq < o.seq) \
  AND NOT EXISTS (SELECT 1 FROM outbox e \
      WHERE o.address IS NULL AND e.delivered_at IS NULL AND e.dead_at IS NULL \
        AND e.account = o.account AND e.address IS NULL \
        AND COALESCE(e.inbox, '') = COALESCE(o.inbox, '') AND e.seq < o.seq) \
ORDER BY o.seq LIMIT $2";

/// A `limit` as SQL binds it (saturating).
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A count read back as an unsigned number.
fn count(value: i64, what: &str) -> Result<u64, Error> {
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("{what} is negative ({value})")))
}

/// One [`DUE_HEADS`] row.
fn queued_row(row: &SqliteRow) -> Result<QueuedEvent, Error> {
    Ok(QueuedEvent {
        id: row.try_get("id")?,
        seq: row.try_get("seq")?,
        account: row.try_get("account")?,
        inbox: row.try_get("inbox")?,
        address: row.try_get("address")?,
        payload: row.try_get("payload")?,
        created_at: row.try_get("created_at")?,
        attempts: get_u32(row, "outbox", "attempts")?,
        budget_from: row.try_get("budget_from")?,
    })
}

/// One dead-letter row.
fn dead_row(row: &SqliteRow) -> Result<DeadLetter, Error> {
    let id: String = row.try_get("id")?;
    let payload: String = row.try_get("payload")?;
    let event: Event = serde_json::from_str(&payload).map_err(|err| {
        Error::Corrupt(format!(
            "outbox.payload of event {id:?} is not an event: {err}"
        ))
    })?;
    if event.id != id {
        return Err(Error::Corrupt(format!(
            "outbox.payload of event {id:?} holds event {:?}",
            event.id
        )));
    }
    Ok(DeadLetter {
        seq: row.try_get("seq")?,
        event,
        created_at: row.try_get("created_at")?,
        dead_at: row.try_get("dead_at")?,
        attempts: get_u32(row, "outbox", "attempts")?,
        last_error: row.try_get("last_error")?,
    })
}

impl DispatchStore for SqliteStore {
    async fn due_heads(&self, now: i64, limit: usize) -> Result<Vec<QueuedEvent>, Error> {
        let rows = sqlx::query(DUE_HEADS)
            .bind(now)
            .bind(sql_limit(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(queued_row).collect()
    }

    async fn record_delivered(&self, ids: &[String], now: i64) -> Result<u64, Error> {
        update_ids(
            &self.pool,
            "UPDATE outbox SET delivered_at = $1, next_attempt_at = NULL \
             WHERE delivered_at IS NULL AND dead_at IS NULL",
            now,
            ids,
        )
        .await
    }

    async fn record_retry(
        &self,
        id: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 \
             WHERE id = $1 AND delivered_at IS NULL AND dead_at IS NULL",
        )
        .bind(id)
        .bind(next_attempt_at)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_dead(&self, id: &str, now: i64, error: &str) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, dead_at = $2, last_error = $3, \
             next_attempt_at = NULL \
             WHERE id = $1 AND delivered_at IS NULL AND dead_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn redrive(&self, which: Redrive<'_>, now: i64) -> Result<u64, Error> {
        const SET: &str = "UPDATE outbox SET dead_at = NULL, attempts = 0, \
                           next_attempt_at = NULL, budget_from = $1 WHERE dead_at IS NOT NULL";
        match which {
            Redrive::AllDead => {
                let done = sqlx::query(SET).bind(now).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }
            Redrive::Ids(ids) => update_ids(&self.pool, SET, now, ids).await,
        }
    }

    async fn dispatch_counts(&self) -> Result<DispatchCounts, Error> {
        // One read transaction: both counts from one snapshot.
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS pending, \
                    COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0) AS retrying, \
                    MIN(created_at) AS oldest \
             FROM outbox WHERE delivered_at IS NULL AND dead_at IS NULL",
        )
        .fetch_one(&mut *tx)
        .await?;
        let dead: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE dead_at IS NOT NULL")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DispatchCounts {
            pending: count(row.try_get("pending")?, "the pending count")?,
            retrying: count(row.try_get("retrying")?, "the retrying count")?,
            dead: count(dead, "the dead count")?,
            oldest_pending_at: row.try_get("oldest")?,
        })
    }

    async fn dead_letters(&self, after: i64, limit: usize) -> Result<Vec<DeadLetter>, Error> {
        let rows = sqlx::query(
            "SELECT id, seq, payload, created_at, dead_at, attempts, last_error FROM outbox \
             WHERE dead_at IS NOT NULL AND seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dead_row).collect()
    }
}
