//! `GET /v1/inboxes`: every configured inbox with its persisted health and
//! checkpoints; `POST /v1/inboxes/{id}/resync`: asks the running inbox task
//! to sync now.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::PathParam;
use super::{AppState, time};
use crate::store::PolicyStore;
use crate::sync::health::public_status;

/// Every configured inbox.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct InboxList {
    /// In configuration order.
    inboxes: Vec<InboxView>,
}

/// One inbox: its configuration and its health.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct InboxView {
    /// The inbox id.
    id: String,
    /// Its account.
    account: String,
    /// `gmail`, `office365`, `imap` or `maildir`.
    provider: &'static str,
    /// The mailbox owner's address, when known.
    address: Option<String>,
    /// Whether it is synced.
    enabled: bool,
    /// `connecting`, `connected`, `idle`, `backing_off`, `auth_failed` or
    /// `disabled`; `null` before its first sync.
    state: Option<&'static str>,
    /// What a user sees: `connected`, `disconnected`,
    /// `needs_reauthorization`, `disabled`; `null` while connecting or
    /// before the first sync.
    status: Option<&'static str>,
    /// The last error of a failure state.
    last_error: Option<String>,
    /// When the state was entered (RFC 3339).
    since: Option<String>,
    /// When the health was last written (RFC 3339).
    updated_at: Option<String>,
    /// Per synced folder, by name.
    checkpoints: Vec<CheckpointView>,
}

/// How far a folder has been processed.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CheckpointView {
    /// The folder's name.
    folder: String,
    /// Its UIDVALIDITY.
    uidvalidity: u32,
    /// The highest UID processed.
    last_uid: u32,
}

/// Health and checkpoints of every configured inbox.
#[utoipa::path(
    get,
    path = "/v1/inboxes",
    tag = "inboxes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every configured inbox", body = InboxList),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
)]
pub(super) async fn inboxes<S: PolicyStore>(
    State(state): State<AppState<S>>,
) -> Result<Json<InboxList>, ApiError> {
    let mut health: HashMap<String, crate::store::Health> = state
        .store
        .health()
        .await?
        .into_iter()
        .map(|h| (h.inbox.clone(), h))
        .collect();
    let mut inboxes = Vec::with_capacity(state.config.inboxes.len());
    for inbox in &state.config.inboxes {
        let checkpoints = state
            .store
            .checkpoints(&inbox.id)
            .await?
            .into_iter()
            .map(|(folder, c)| CheckpointView {
                folder,
                uidvalidity: c.uidvalidity,
                last_uid: c.last_uid,
            })
            .collect();
        let h = health.remove(&inbox.id);
        inboxes.push(InboxView {
            id: inbox.id.clone(),
            account: inbox.account.clone(),
            provider: inbox.provider.as_str(),
            address: inbox.address.clone(),
            enabled: inbox.enabled,
            state: h.as_ref().map(|h| h.state.as_str()),
            status: h.as_ref().and_then(|h| public_status(h.state)),
            last_error: h.as_ref().and_then(|h| h.last_error.clone()),
            since: h.as_ref().map(|h| time(h.since)),
            updated_at: h.as_ref().map(|h| time(h.updated_at)),
            checkpoints,
        });
    }
    Ok(Json(InboxList { inboxes }))
}

/// A resync request taken.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ResyncResult {
    /// The inbox.
    inbox: String,
    /// Always true: the inbox's task will sync every folder now.
    accepted: bool,
}

/// Asks the inbox's task to sync every folder now (cuts its IDLE or poll
/// wait short).
#[utoipa::path(
    post,
    path = "/v1/inboxes/{id}/resync",
    tag = "inboxes",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The inbox id")),
    responses(
        (status = 202, description = "The task will sync now", body = ResyncResult),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No inbox with this id is configured", body = ErrorBody),
        (status = 409, description = "The inbox is disabled, or its task is not running (starting, stopped, or the API runs without the sync loop)", body = ErrorBody),
    ),
)]
pub(super) async fn resync<S: PolicyStore>(
    State(state): State<AppState<S>>,
    PathParam(id): PathParam<String>,
) -> Result<(StatusCode, Json<ResyncResult>), ApiError> {
    let Some(inbox) = state.config.inboxes.iter().find(|i| i.id == id) else {
        return Err(ApiError::not_found(format!(
            "no inbox {id:?} is configured"
        )));
    };
    if !inbox.enabled {
        return Err(ApiError::conflict(format!("inbox {id:?} is disabled")));
    }
    if !(state.resync)(&id) {
        return Err(ApiError::conflict(format!(
            "inbox {id:?} has no running task to resync"
        )));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(ResyncResult {
            inbox: id,
            accepted: true,
        }),
    ))
}
