//! A tiny migrator for numbered SQL files embedded in the binary.
//!
//! sqlx's own migrator is reached through its `migrate!` macro, and the sqlx
//! macros roughly double release build times; what we need is small: apply
//! the files in order, each in its own transaction, and remember what was
//! applied in `schema_migrations` with a checksum of the text, so that an
//! applied migration edited afterwards, or a database written by a newer
//! binary, is refused with a clear error instead of drifting silently.

use sha2::{Digest, Sha256};
use sqlx::SqlitePool;

/// One numbered migration, embedded with `include_str!`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// Its number (the file's `NNNN_` prefix); strictly ascending in a list.
    pub(crate) version: i64,
    /// Its name (the rest of the file name, without `.sql`).
    pub(crate) name: &'static str,
    /// The SQL, one or more statements.
    pub(crate) sql: &'static str,
}

impl Migration {
    /// SHA-256 of the SQL, hex. Line endings are normalised first so that a
    /// checkout with CRLF endings does not count as an edit.
    pub(crate) fn checksum(&self) -> String {
        let normalised = self.sql.replace("\r\n", "\n");
        let digest = Sha256::digest(normalised.as_bytes());
        let mut out = String::with_capacity(64);
        for byte in digest.iter() {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }
}

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The migration bookkeeping table could not be created or read.
    #[error("cannot read the applied migrations from schema_migrations: {0}")]
    Read(#[source] sqlx::Error),
    /// One migration's SQL (or its bookkeeping row) failed; it was rolled back.
    #[error("migration {version} ({name}) failed and was rolled back: {source}")]
    Apply {
        /// The migration's number.
        version: i64,
        /// The migration's name.
        name: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A migration this binary carries was applied with different text or
    /// under another name: someone edited an applied migration.
    #[error(
        "migration {version} ({name}) differs from the one applied to this database \
         ({detail}); applied migrations must never be edited, add a new one instead"
    )]
    Changed {
        /// The migration's number.
        version: i64,
        /// The name this binary has for it.
        name: String,
        /// What differs (name or checksum, both sides).
        detail: String,
    },
    /// The database has a migration applied that this binary does not carry:
    /// it was written by a newer rebound (or by another program).
    #[error(
        "the database has migration {version} ({name}) applied, which this binary does \
         not know (it knows up to {known}): it was written by a newer rebound; run that \
         version or restore a backup"
    )]
    Unknown {
        /// The applied migration's number.
        version: i64,
        /// The applied migration's recorded name.
        name: String,
        /// The highest version this binary knows.
        known: i64,
    },
    /// The embedded list is not strictly ascending (a build mistake).
    #[error("the embedded migrations are not in ascending order at version {version}")]
    Unordered {
        /// The first version out of order.
        version: i64,
    },
}

/// The bookkeeping table. Not a numbered migration itself: it must exist
/// before the numbered ones can be checked.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    checksum   TEXT    NOT NULL,
    applied_at BIGINT  NOT NULL
)";

/// Brings the database up to `migrations` (ascending by version) and returns
/// the versions applied now (empty when it was up to date).
///
/// Applied migrations are checked first, so a database that is newer than
/// the binary or was migrated with edited files is refused before anything
/// is written. Each pending migration then runs in its own `BEGIN IMMEDIATE`
/// transaction that first re-checks the table, so two processes opening a
/// new database at once apply each migration exactly once.
pub(crate) async fn apply(
    pool: &SqlitePool,
    migrations: &[Migration],
    now: i64,
) -> Result<Vec<i64>, MigrateError> {
    let mut previous = None;
    for migration in migrations {
        if previous.is_some_and(|p| migration.version <= p) {
            return Err(MigrateError::Unordered {
                version: migration.version,
            });
        }
        previous = Some(migration.version);
    }
    let known = previous.unwrap_or(0);

    sqlx::raw_sql(CREATE_TABLE)
        .execute(pool)
        .await
        .map_err(MigrateError::Read)?;
    let applied: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
            .fetch_all(pool)
            .await
            .map_err(MigrateError::Read)?;
    for (version, name, checksum) in &applied {
        match migrations.iter().find(|m| m.version == *version) {
            Some(migration) => verify(migration, name, checksum)?,
            None => {
                return Err(MigrateError::Unknown {
                    version: *version,
                    name: name.clone(),
                    known,
                });
            }
        }
    }

    let mut done = Vec::new();
    for migration in migrations {
        if applied
            .iter()
            .any(|(version, _, _)| *version == migration.version)
        {
            continue;
        }
        if apply_one(pool, migration, now).await? {
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applied store migration"
            );
            done.push(migration.version);
        }
    }
    Ok(done)
}

/// Applies one migration in its own transaction; `false` when another
/// process applied it in the meantime (after checking it is the same).
async fn apply_one(
    pool: &SqlitePool,
    migration: &Migration,
    now: i64,
) -> Result<bool, MigrateError> {
    let failed = |source| MigrateError::Apply {
        version: migration.version,
        name: migration.name.to_owned(),
        source,
    };
    // IMMEDIATE takes the write lock up front (waiting through the busy
    // timeout), so the re-check below cannot race another writer.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(failed)?;
    let recorded: Option<(String, String)> =
        sqlx::query_as("SELECT name, checksum FROM schema_migrations WHERE version = $1")
            .bind(migration.version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed)?;
    if let Some((name, checksum)) = recorded {
        verify(migration, &name, &checksum)?;
        return Ok(false);
    }
    sqlx::raw_sql(migration.sql)
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
    sqlx::query(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(migration.version)
    .bind(migration.name)
    .bind(migration.checksum())
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(failed)?;
    tx.commit().await.map_err(failed)?;
    Ok(true)
}

/// Compares an applied migration's record with the embedded one.
fn verify(migration: &Migration, name: &str, checksum: &str) -> Result<(), MigrateError> {
    let expected = migration.checksum();
    let detail = if name != migration.name {
        format!(
            "applied as {name:?}, this binary calls it {:?}",
            migration.name
        )
    } else if checksum != expected {
        format!("applied with checksum {checksum}, this binary's is {expected}")
    } else {
        return Ok(());
    };
    Err(MigrateError::Changed {
        version: migration.version,
        name: migration.name.to_owned(),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    async fn pool(dir: &tempfile::TempDir) -> SqlitePool {
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("m.db"))
            .create_if_missing(true);
        SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .unwrap()
    }

    const ONE: Migration = Migration {
        version: 1,
        name: "one",
        sql: "CREATE TABLE a (x INTEGER);",
    };
    const TWO: Migration = Migration {
        version: 2,
        name: "two",
        sql: "CREATE TABLE b (y INTEGER); INSERT INTO b (y) VALUES (7);",
    };

    async fn tables(pool: &SqlitePool) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'schema_migrations' \
             ORDER BY name",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn applies_in_order_once_and_records_each() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir).await;
        assert_eq!(apply(&pool, &[ONE], 10).await.unwrap(), vec![1]);
        assert_eq!(apply(&pool, &[ONE, TWO], 20).await.unwrap(), vec![2]);
        assert!(apply(&pool, &[ONE, TWO], 30).await.unwrap().is_empty());
        let rows: Vec<(i64, String, i64)> =
            sqlx::query_as("SELECT version, name, applied_at FROM schema_migrations")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(rows, vec![(1, "one".into(), 10), (2, "two".into(), 20)]);
        assert_eq!(tables(&pool).await, vec!["a", "b"]);
    }

    #[tokio::test]
    async fn an_edited_or_renamed_migration_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir).await;
        apply(&pool, &[ONE], 1).await.unwrap();
        let edited = Migration {
            sql: "CREATE TABLE a (x INTEGER, z TEXT);",
            ..ONE
        };
        let err = apply(&pool, &[edited, TWO], 2).await.unwrap_err();
        assert!(
            matches!(&err, MigrateError::Changed { version: 1, detail, .. } if detail.contains("checksum")),
            "{err}"
        );
        let renamed = Migration { name: "uno", ..ONE };
        let err = apply(&pool, &[renamed], 2).await.unwrap_err();
        assert!(err.to_string().contains("\"uno\""), "{err}");
        // Nothing after the refused one was applied.
        assert_eq!(tables(&pool).await, vec!["a"]);
        // CRLF endings are not an edit.
        let crlf = Migration {
            sql: "CREATE TABLE a (x INTEGER);\r\n",
            ..ONE
        };
        let lf = Migration {
            sql: "CREATE TABLE a (x INTEGER);\n",
            ..ONE
        };
        assert_eq!(crlf.checksum(), lf.checksum());
    }

    #[tokio::test]
    async fn a_failing_migration_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir).await;
        let broken = Migration {
            version: 2,
            name: "broken",
            sql: "CREATE TABLE b (y INTEGER); CREATE TABLE oops (;",
        };
        let err = apply(&pool, &[ONE, broken], 1).await.unwrap_err();
        assert!(
            matches!(err, MigrateError::Apply { version: 2, .. }),
            "{err}"
        );
        assert_eq!(tables(&pool).await, vec!["a"]);
        let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(versions, vec![1]);
    }

    #[tokio::test]
    async fn a_newer_database_and_a_misordered_list_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir).await;
        apply(&pool, &[ONE, TWO], 1).await.unwrap();
        let err = apply(&pool, &[ONE], 2).await.unwrap_err();
        assert!(
            matches!(
                err,
                MigrateError::Unknown {
                    version: 2,
                    known: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("newer"), "{err}");
        let err = apply(&pool, &[TWO, ONE], 3).await.unwrap_err();
        assert!(
            matches!(err, MigrateError::Unordered { version: 1 }),
            "{err}"
        );
    }
}
