//! The SQLite side of [`PolicyStore`] (migration 0003).
//! STUB: being implemented on branch `store-policy`.

use super::SqliteStore;
use crate::policy::{
    Changes, ContactState, GlobalSuppression, HistoryEntry, PendingDelay, RecipientFinding, Tracker,
};
use crate::source::Checkpoint;
use crate::store::{Error, FindingRecord, OutboxEntry, PolicyStore};

fn todo() -> Error {
    Error::Corrupt("policy store not implemented yet".into())
}

impl PolicyStore for SqliteStore {
    async fn commit_step(
        &self,
        _inbox: &str,
        _folder: &str,
        _checkpoint: Checkpoint,
        _findings: &[FindingRecord],
        _changes: &Changes,
        _now: i64,
    ) -> Result<(), Error> {
        Err(todo())
    }
    async fn apply(&self, _changes: &Changes, _now: i64) -> Result<(), Error> {
        Err(todo())
    }
    async fn contacts(&self, _a: &str, _b: &[String]) -> Result<Vec<ContactState>, Error> {
        Err(todo())
    }
    async fn contacts_everywhere(&self, _a: &str) -> Result<Vec<ContactState>, Error> {
        Err(todo())
    }
    async fn suppressed(&self, _a: Option<&str>) -> Result<Vec<ContactState>, Error> {
        Err(todo())
    }
    async fn global_suppression(&self, _a: &str) -> Result<Option<GlobalSuppression>, Error> {
        Err(todo())
    }
    async fn trackers(&self, _a: &str) -> Result<Vec<Tracker>, Error> {
        Err(todo())
    }
    async fn pending(&self, _a: &str, _b: &[String]) -> Result<Vec<PendingDelay>, Error> {
        Err(todo())
    }
    async fn due_pending(&self, _now: i64, _limit: usize) -> Result<Vec<PendingDelay>, Error> {
        Err(todo())
    }
    async fn history(&self, _a: &str, _b: &str) -> Result<Vec<HistoryEntry>, Error> {
        Err(todo())
    }
    async fn recipient_findings(&self, _a: &str, _b: &str) -> Result<Vec<RecipientFinding>, Error> {
        Err(todo())
    }
    async fn outbox(&self, _after: i64, _limit: usize) -> Result<Vec<OutboxEntry>, Error> {
        Err(todo())
    }
    async fn undelivered(&self, _limit: usize) -> Result<Vec<OutboxEntry>, Error> {
        Err(todo())
    }
    async fn set_health_with_event<F>(
        &self,
        _health: &crate::store::Health,
        _event: F,
    ) -> Result<Option<crate::store::HealthState>, Error>
    where
        F: FnOnce(
                Option<crate::store::HealthState>,
                crate::store::HealthState,
            ) -> Option<crate::event::Event>
            + Send,
    {
        Err(todo())
    }
    async fn mark_delivered(&self, _ids: &[String], _now: i64) -> Result<(), Error> {
        Err(todo())
    }
}
