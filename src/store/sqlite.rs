//! The embedded SQLite store: one database file, a small connection pool.
//!
//! # Connection settings
//! - `journal_mode=WAL` (set once, on a first connection of its own: it is a
//!   property of the file and switching needs a lock the busy timeout cannot
//!   wait for): readers never block the writer, and a commit is one append.
//! - `synchronous=NORMAL`: in WAL mode a commit survives a process crash; a
//!   power loss may lose the last commits but never corrupts the file. Lost
//!   commits are re-delivered from the server (checkpoints lag behind), so
//!   at-least-once holds.
//! - `foreign_keys=ON`, `busy_timeout=5s`, [`MAX_CONNECTIONS`] pooled
//!   connections. Every write transaction starts with `BEGIN IMMEDIATE`, so
//!   it takes the write lock first (waiting through the busy timeout) rather
//!   than failing with "database is locked" when it upgrades from a read.
//!
//! # Schema (`migrations/sqlite/NNNN_name.sql`, applied by `store/migrate.rs`)
//! - `schema_migrations(version PK, name, checksum, applied_at)`: what was
//!   applied, with a SHA-256 of each file; an edited applied migration or a
//!   version this binary does not know is refused ([`super::MigrateError`]).
//! - `checkpoints(inbox, folder, uidvalidity, last_uid, updated_at)`, primary
//!   key (inbox, folder).
//! - `findings(inbox, identity, folder, uidvalidity, uid, verdict,
//!   raw_sha256, found_at)`, primary key (inbox, identity).
//! - `inbox_health(inbox PK, state, last_error, since, updated_at)`.
//! - `oauth_tokens(inbox PK, refresh_token, origin, updated_at)`; `origin` fingerprints the
//!   config token the stored one was rotated from.
//! - `tracked_messages(account, message_id, inbox, subject, sent_at, metadata
//!   JSON text, source, created_at, updated_at)`, primary key (account,
//!   message_id); `tracked_recipients(account, message_id, address,
//!   contact_id, sent_at)`, primary key (account, message_id, address),
//!   indexed on (account, address, sent_at) for recipient-window lookups
//!   and on (address, account, sent_at) for [`super::PolicyStore::trackers`].
//! - The policy's tables (0003, bodies in `sqlite/policy.rs`): `contacts`
//!   (account, address PK; suppression columns NULL when not suppressed,
//!   soft run as JSON text), `suppression_history` (ordered by (at, seq)),
//!   `pending_delays` (account, address, message_key PK; indexed by
//!   expiry), `global_suppressions` (address PK), `recipient_findings`
//!   (key PK) and `outbox` (id PK, `seq` unique, assigned as MAX + 1 in the
//!   write transaction; payload = the serialised event).
//! - The dispatcher's columns (0004, bodies in `sqlite/dispatch.rs`):
//!   `outbox.dead_at` and `outbox.budget_from`, with partial indexes on
//!   pending rows (by seq, and by lane) and on dead letters.
//!
//! u32 values (UIDVALIDITY, UIDs) are stored as 64-bit integers and checked
//! on the way back; times are Unix seconds. The SQL uses `$N` placeholders
//! and `ON CONFLICT` upserts only, so a PostgreSQL port is mechanical.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row, SqliteConnection, SqlitePool};

mod dispatch;
mod policy;
mod track;

use super::migrate::{self, Migration};
use super::{Error, FindingRecord, Health, HealthState, Store};
use crate::source::Checkpoint;
use crate::track::TrackedMessage;

/// The SQLite migrations, in order. Append only; never edit a released one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "sync",
        sql: include_str!("../../migrations/sqlite/0001_sync.sql"),
    },
    Migration {
        version: 2,
        name: "tracking",
        sql: include_str!("../../migrations/sqlite/0002_tracking.sql"),
    },
    Migration {
        version: 3,
        name: "policy",
        sql: include_str!("../../migrations/sqlite/0003_policy.sql"),
    },
    Migration {
        version: 4,
        name: "dispatch",
        sql: include_str!("../../migrations/sqlite/0004_dispatch.sql"),
    },
];

/// How long a connection waits for another's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Pooled connections. SQLite has one writer at a time, so more only adds
/// readers; a few keep status queries from queueing behind commits.
pub const MAX_CONNECTIONS: u32 = 4;

/// Identities per `unseen` query: well under SQLite's 32,766 bound
/// parameters (and PostgreSQL's 65,535), and one statement shape to cache.
const UNSEEN_CHUNK: usize = 500;

/// `SELECT identity FROM findings WHERE inbox = $1 AND identity IN ($2, ...)`
/// with [`UNSEEN_CHUNK`] identity placeholders.
static UNSEEN_SQL: LazyLock<Arc<str>> = LazyLock::new(|| {
    Arc::from(format!(
        "SELECT identity FROM findings WHERE inbox = $1 AND identity IN ({})",
        placeholders(2, UNSEEN_CHUNK)
    ))
});

/// Ids per `IN (...)` list of [`update_ids`] (well under SQLite's
/// bound-parameter limit).
const IDS_CHUNK: usize = 500;

/// Runs `update` (an UPDATE whose `$1` is `now`, ending in a WHERE clause)
/// restricted to `AND id IN (...)` over `ids`, in lists of [`IDS_CHUNK`],
/// all in one write transaction; returns the rows changed.
async fn update_ids(
    pool: &SqlitePool,
    update: &str,
    now: i64,
    ids: &[String],
) -> Result<u64, Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut total = 0;
    for chunk in ids.chunks(IDS_CHUNK) {
        let sql = format!("{update} AND id IN ({})", placeholders(2, chunk.len()));
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        total += query.execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(total)
}

/// `$first, $first+1, ...`: `n` placeholders, for `IN (...)` lists.
fn placeholders(first: usize, n: usize) -> String {
    let mut list = String::new();
    for k in 0..n {
        if k > 0 {
            list.push_str(", ");
        }
        list.push_str(&format!("${}", first + k));
    }
    list
}

/// The SQLite implementation of [`super::Store`]. Cloning is cheap and
/// shares the pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The connection pool (closed by [`SqliteStore::close`]).
    pool: SqlitePool,
    /// The database file as given to [`SqliteStore::open`].
    location: Arc<Path>,
}

impl SqliteStore {
    /// Opens the database file at `path`, creating the file (not its parent
    /// directory) when missing, and brings its schema up to date.
    ///
    /// Errors: [`Error::Open`] (naming the path) when the file cannot be
    /// opened or created or WAL mode is refused; [`Error::Migrate`] when the
    /// schema cannot be migrated or belongs to a newer binary.
    pub async fn open(path: &Path) -> Result<SqliteStore, Error> {
        let open_error = |source| Error::Open {
            location: path.display().to_string(),
            source,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);

        // Switching a new file to WAL, and the first connection to a WAL
        // file whose last user is just closing it, can be refused with
        // SQLITE_BUSY without SQLite's busy handler being asked: another
        // process opening the same store at the same moment. That passes,
        // so it is retried for as long as the busy timeout.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        let mut pause = Duration::from_millis(10);
        let pool = loop {
            match connect(&options).await {
                Ok(pool) => break pool,
                Err(err) if is_busy(&err) && std::time::Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(err) => return Err(open_error(err)),
            }
        };
        if let Err(err) = migrate::apply(&pool, MIGRATIONS, now()).await {
            pool.close().await;
            return Err(Error::Migrate(err));
        }
        Ok(SqliteStore {
            pool,
            location: Arc::from(path),
        })
    }

    /// The database file this store was opened on.
    pub fn location(&self) -> &Path {
        &self.location
    }

    /// Closes every connection (waiting for those in use to be returned), so
    /// the WAL is checkpointed into the file. Later calls on this store or
    /// its clones fail with [`Error::Query`].
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Puts the file in WAL mode ([`enable_wal`]), then opens the pool.
async fn connect(options: &SqliteConnectOptions) -> Result<SqlitePool, sqlx::Error> {
    enable_wal(options).await?;
    SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options.clone())
        .await
}

/// Opens one connection in WAL mode and checks that the mode took: a file
/// system without shared memory support keeps the old one without an error.
async fn enable_wal(options: &SqliteConnectOptions) -> Result<(), sqlx::Error> {
    let mut first = options
        .clone()
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await?;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut first)
        .await?;
    first.close().await?;
    if mode.eq_ignore_ascii_case("wal") {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            format!("the database stayed in journal mode {mode:?}, WAL is required").into(),
        ))
    }
}

/// SQLITE_BUSY, plain or extended (its low byte is 5).
fn is_busy(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

/// Now, in Unix seconds (0 if the clock is before 1970).
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Reads a u32 stored as a 64-bit integer.
fn get_u32(row: &SqliteRow, table: &str, column: &str) -> Result<u32, Error> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| {
        Error::Corrupt(format!(
            "{table}.{column} is {value}, not a 32-bit unsigned value"
        ))
    })
}

/// Reads a stored health state name.
fn get_state(name: &str, inbox: &str) -> Result<HealthState, Error> {
    HealthState::parse(name).ok_or_else(|| {
        Error::Corrupt(format!(
            "inbox_health.state of inbox {inbox:?} is {name:?}, not a known state"
        ))
    })
}

/// The body of [`Store::commit`] inside the caller's write transaction:
/// records `findings` (an identity already recorded is left as it was) and
/// sets the folder's checkpoint, written at `now`.
async fn commit_in(
    conn: &mut SqliteConnection,
    inbox: &str,
    folder: &str,
    checkpoint: Checkpoint,
    findings: &[FindingRecord],
    now: i64,
) -> Result<(), Error> {
    for finding in findings {
        sqlx::query(
            "INSERT INTO findings \
             (inbox, identity, folder, uidvalidity, uid, verdict, raw_sha256, found_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (inbox, identity) DO NOTHING",
        )
        .bind(inbox)
        .bind(&finding.identity)
        .bind(&finding.folder)
        .bind(i64::from(finding.uidvalidity))
        .bind(i64::from(finding.uid))
        .bind(&finding.verdict)
        .bind(&finding.raw_sha256)
        .bind(finding.found_at)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "INSERT INTO checkpoints (inbox, folder, uidvalidity, last_uid, updated_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (inbox, folder) DO UPDATE SET \
         uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, \
         updated_at = excluded.updated_at",
    )
    .bind(inbox)
    .bind(folder)
    .bind(i64::from(checkpoint.uidvalidity))
    .bind(i64::from(checkpoint.last_uid))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The body of [`Store::set_health`] inside the caller's write transaction.
/// Returns the stored state before the write (`None` on the inbox's first
/// write), whether or not it differs.
async fn set_health_in(
    conn: &mut SqliteConnection,
    health: &Health,
) -> Result<Option<HealthState>, Error> {
    let previous: Option<String> =
        sqlx::query_scalar("SELECT state FROM inbox_health WHERE inbox = $1")
            .bind(&health.inbox)
            .fetch_optional(&mut *conn)
            .await?;
    let previous = previous
        .map(|name| get_state(&name, &health.inbox))
        .transpose()?;
    // `since` moves only when the state changes.
    sqlx::query(
        "INSERT INTO inbox_health (inbox, state, last_error, since, updated_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (inbox) DO UPDATE SET \
         since = CASE WHEN inbox_health.state = excluded.state \
                      THEN inbox_health.since ELSE excluded.since END, \
         state = excluded.state, last_error = excluded.last_error, \
         updated_at = excluded.updated_at",
    )
    .bind(&health.inbox)
    .bind(health.state.as_str())
    .bind(health.last_error.as_deref())
    .bind(health.since)
    .bind(health.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(previous)
}

impl Store for SqliteStore {
    async fn checkpoint(&self, inbox: &str, folder: &str) -> Result<Option<Checkpoint>, Error> {
        let row = sqlx::query(
            "SELECT uidvalidity, last_uid FROM checkpoints WHERE inbox = $1 AND folder = $2",
        )
        .bind(inbox)
        .bind(folder)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Checkpoint {
                uidvalidity: get_u32(&row, "checkpoints", "uidvalidity")?,
                last_uid: get_u32(&row, "checkpoints", "last_uid")?,
            })
        })
        .transpose()
    }

    async fn unseen(&self, inbox: &str, identities: &[String]) -> Result<Vec<bool>, Error> {
        let mut seen: HashSet<String> = HashSet::new();
        if !identities.is_empty() {
            // One read transaction: every chunk sees the same snapshot (WAL
            // readers never wait for the writer).
            let mut tx = self.pool.begin().await?;
            for chunk in identities.chunks(UNSEEN_CHUNK) {
                // Always bind UNSEEN_CHUNK values (a short last chunk repeats
                // its last identity) so every query reuses one prepared
                // statement. The SQL holds only placeholders.
                let mut query = sqlx::query(AssertSqlSafe(Arc::clone(&UNSEEN_SQL))).bind(inbox);
                let mut last = "";
                for n in 0..UNSEEN_CHUNK {
                    if let Some(identity) = chunk.get(n) {
                        last = identity;
                    }
                    query = query.bind(last);
                }
                let found: Vec<String> = query
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|row| row.try_get("identity"))
                    .collect::<Result<_, _>>()?;
                seen.extend(found);
            }
            tx.commit().await?;
        }
        Ok(identities
            .iter()
            .map(|identity| !seen.contains(identity))
            .collect())
    }

    async fn commit(
        &self,
        inbox: &str,
        folder: &str,
        checkpoint: Checkpoint,
        findings: &[FindingRecord],
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        commit_in(&mut tx, inbox, folder, checkpoint, findings, now()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_health(&self, health: &Health) -> Result<Option<HealthState>, Error> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let previous = set_health_in(&mut tx, health).await?;
        tx.commit().await?;
        Ok(previous.filter(|state| *state != health.state))
    }

    async fn health(&self) -> Result<Vec<Health>, Error> {
        let rows = sqlx::query(
            "SELECT inbox, state, last_error, since, updated_at FROM inbox_health ORDER BY inbox",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let inbox: String = row.try_get("inbox")?;
                let state: String = row.try_get("state")?;
                Ok(Health {
                    state: get_state(&state, &inbox)?,
                    inbox,
                    last_error: row.try_get("last_error")?,
                    since: row.try_get("since")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    async fn checkpoints(&self, inbox: &str) -> Result<Vec<(String, Checkpoint)>, Error> {
        let rows = sqlx::query(
            "SELECT folder, uidvalidity, last_uid FROM checkpoints WHERE inbox = $1 \
             ORDER BY folder",
        )
        .bind(inbox)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("folder")?,
                    Checkpoint {
                        uidvalidity: get_u32(row, "checkpoints", "uidvalidity")?,
                        last_uid: get_u32(row, "checkpoints", "last_uid")?,
                    },
                ))
            })
            .collect()
    }

    async fn refresh_token(&self, inbox: &str, origin: &str) -> Result<Option<String>, Error> {
        Ok(sqlx::query_scalar(
            "SELECT refresh_token FROM oauth_tokens WHERE inbox = $1 AND origin = $2",
        )
        .bind(inbox)
        .bind(origin)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn set_refresh_token(
        &self,
        inbox: &str,
        token: &str,
        origin: &str,
        now: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO oauth_tokens (inbox, refresh_token, origin, updated_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (inbox) DO UPDATE SET refresh_token = excluded.refresh_token, \
             origin = excluded.origin, updated_at = excluded.updated_at",
        )
        .bind(inbox)
        .bind(token)
        .bind(origin)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn track(&self, messages: &[TrackedMessage], now: i64) -> Result<usize, Error> {
        track::track(&self.pool, messages, now).await
    }

    async fn tracked(
        &self,
        account: &str,
        message_ids: &[String],
    ) -> Result<Vec<TrackedMessage>, Error> {
        track::tracked(&self.pool, account, message_ids).await
    }

    async fn tracked_to(
        &self,
        account: &str,
        address: &str,
        from: i64,
        until: i64,
    ) -> Result<Vec<TrackedMessage>, Error> {
        track::tracked_to(&self.pool, account, address, from, until).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (n, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, n as i64 + 1, "{}", migration.name);
        }
    }

    #[test]
    fn placeholders_number_from_the_first() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
        assert_eq!(placeholders(1, 1), "$1");
        assert_eq!(placeholders(2, 0), "");
    }

    #[test]
    fn the_unseen_query_binds_one_inbox_and_a_full_chunk() {
        assert!(UNSEEN_SQL.ends_with(&format!("${})", UNSEEN_CHUNK + 1)));
        assert_eq!(UNSEEN_SQL.matches('$').count(), UNSEEN_CHUNK + 1);
    }

    /// The per-connection settings hold on every pooled connection, not
    /// just the first (they are not stored in the file).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_pooled_connection_has_the_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("p.db")).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            let mut conn = store.pool.acquire().await.unwrap();
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            // synchronous: 1 = NORMAL.
            assert_eq!(
                (mode.as_str(), synchronous, foreign_keys, busy),
                ("wal", 1, 1, 5000)
            );
            held.push(conn);
        }
        assert_eq!(store.pool.size(), MAX_CONNECTIONS);
        drop(held);
        store.close().await;
    }
}
