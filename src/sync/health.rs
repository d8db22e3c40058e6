//! An inbox task's view of its health: writes each change to the store and
//! logs it once, so operators see transitions, not a stream of repeats.

use std::sync::Arc;

use crate::store::{Health, HealthState, Store};

/// The health of one inbox, kept by its task.
#[derive(Debug)]
pub struct Reporter<S> {
    store: Arc<S>,
    inbox: String,
    current: Option<HealthState>,
}

impl<S: Store> Reporter<S> {
    /// A reporter for `inbox`.
    pub fn new(store: Arc<S>, inbox: &str) -> Reporter<S> {
        Reporter {
            store,
            inbox: inbox.to_string(),
            current: None,
        }
    }

    /// The last state set.
    pub fn state(&self) -> Option<HealthState> {
        self.current
    }

    /// Sets the state (and the last error for failure states). A store
    /// failure here is logged, not fatal: health is advisory, sync goes on.
    pub async fn set(&mut self, state: HealthState, error: Option<String>) {
        let now = crate::sync::unix_now();
        let health = Health {
            inbox: self.inbox.clone(),
            state,
            last_error: error.clone(),
            since: now,
            updated_at: now,
        };
        if self.current != Some(state) {
            match &error {
                Some(err) => {
                    tracing::warn!(inbox = %self.inbox, state = state.as_str(), error = %err, "inbox state changed")
                }
                None => {
                    tracing::info!(inbox = %self.inbox, state = state.as_str(), "inbox state changed")
                }
            }
        }
        self.current = Some(state);
        if let Err(err) = self.store.set_health(&health).await {
            tracing::warn!(inbox = %self.inbox, error = %err, "cannot persist inbox health");
        }
    }
}
