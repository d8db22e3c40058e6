//! An inbox task's view of its health: writes each change to the store and
//! logs it once, so operators see transitions, not a stream of repeats.

use std::sync::Arc;

use crate::event::{Event, EventType};
use crate::store::{Health, HealthState, PolicyStore};

/// The health of one inbox, kept by its task.
#[derive(Debug)]
pub struct Reporter<S> {
    store: Arc<S>,
    inbox: String,
    account: String,
    current: Option<HealthState>,
    /// The status last announced (`inbox.status_changed`); `None` until
    /// the first write, which compares with the stored state instead.
    announced: Option<&'static str>,
}

/// The status a user sees (and `inbox.status_changed` announces) for a
/// state; `None` for the passing `connecting`, which announces nothing.
pub fn public_status(state: HealthState) -> Option<&'static str> {
    match state {
        HealthState::Connecting => None,
        HealthState::Connected | HealthState::Idle => Some("connected"),
        HealthState::BackingOff => Some("disconnected"),
        HealthState::AuthFailed => Some("needs_reauthorization"),
        HealthState::Disabled => Some("disabled"),
    }
}

impl<S: PolicyStore> Reporter<S> {
    /// A reporter for `inbox`.
    pub fn new(store: Arc<S>, inbox: &str, account: &str) -> Reporter<S> {
        Reporter {
            store,
            inbox: inbox.to_string(),
            account: account.to_string(),
            current: None,
            announced: None,
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
        let announced = self.announced;
        let (inbox, account) = (self.inbox.clone(), self.account.clone());
        let event = move |previous: Option<HealthState>, new: HealthState| {
            let before = announced.or_else(|| previous.and_then(public_status));
            let after = public_status(new)?;
            if before == Some(after) {
                return None;
            }
            let key = format!("{inbox}\n{after}\n{now}");
            Some(Event::new(
                EventType::InboxStatusChanged,
                &key,
                now,
                &account,
                Some(&inbox),
                None,
                serde_json::json!({
                    "status": after,
                    "previous_status": before,
                    "state": new.as_str(),
                    "error": error,
                }),
            ))
        };
        match self.store.set_health_with_event(&health, event).await {
            Ok(previous) => {
                if self.announced.is_none() {
                    self.announced = previous.and_then(public_status);
                }
                if let Some(status) = public_status(state) {
                    self.announced = Some(status);
                }
            }
            Err(err) => {
                tracing::warn!(inbox = %self.inbox, error = %err, "cannot persist inbox health");
            }
        }
    }
}
