//! The embedded SQLite store (being written).

/// The SQLite implementation of [`super::Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    _pool: sqlx::SqlitePool,
}
