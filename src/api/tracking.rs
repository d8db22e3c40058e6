//! `POST /v1/tracked-messages`: registers sent messages, like `rebound
//! track --file` (docs/tracking.md): the same fields, the same validation
//! ([`crate::track::parse_value`]), one [`crate::store::Store::track`] call, and all or
//! nothing: one invalid item and nothing is tracked.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::JsonBody;
use crate::store::PolicyStore;
use crate::track::{Defaults, TrackError, TrackSource, TrackedMessage, parse_value};

/// At most this many item errors are listed (`details.invalid` counts all).
const SHOWN_ERRORS: usize = 100;

/// What a registration did.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TrackResult {
    /// Items in the request.
    received: usize,
    /// Messages not tracked before.
    new: usize,
    /// Messages already tracked, now updated (or unchanged when the same
    /// input came again). An item repeated in the request counts once.
    updated: usize,
}

/// Registers one tracked message (a JSON object) or many (an array of
/// them). The fields are those of a line of `rebound track --file`
/// (docs/tracking.md); `inbox` must be a configured inbox, whose account
/// the message gets.
#[utoipa::path(
    post,
    path = "/v1/tracked-messages",
    tag = "tracking",
    security(("bearer" = [])),
    request_body(
        content = Object,
        description = "One message object, or an array of them: {inbox, account?, message_id, to?: [address], recipients?: [{address, contact_id?}], subject?, sent_at? (RFC 3339 or Unix seconds), metadata? (object)}",
        content_type = "application/json",
    ),
    responses(
        (status = 200, description = "Registered", body = TrackResult),
        (status = 400, description = "Not JSON, or invalid items (details.errors: [{index, field, message}]); nothing was tracked", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
    ),
)]
pub(super) async fn track<S: PolicyStore>(
    State(state): State<AppState<S>>,
    body: JsonBody,
) -> Result<Json<TrackResult>, ApiError> {
    let items = match body.0 {
        serde_json::Value::Array(items) => items,
        item @ serde_json::Value::Object(_) => vec![item],
        _ => {
            return Err(ApiError::bad_request(
                "the body must be a tracked message (a JSON object) or an array of them",
            ));
        }
    };
    let now = crate::sync::unix_now();
    let defaults = Defaults {
        inbox: None,
        inboxes: state
            .config
            .inboxes
            .iter()
            .map(|i| (i.id.clone(), i.account.clone()))
            .collect::<BTreeMap<_, _>>(),
        now,
        source: TrackSource::Api,
    };
    let mut messages: Vec<TrackedMessage> = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match parse_value(item, &defaults) {
            Ok(message) => messages.push(message),
            Err(err) => errors.push((index, err)),
        }
    }
    if !errors.is_empty() {
        let invalid = errors.len();
        let listed: Vec<serde_json::Value> = errors
            .iter()
            .take(SHOWN_ERRORS)
            .map(|(index, err)| {
                serde_json::json!({
                    "index": index,
                    "field": field(err),
                    "message": err.to_string(),
                })
            })
            .collect();
        return Err(ApiError::bad_request(format!(
            "{invalid} of {} tracked messages are invalid; nothing was tracked",
            items.len()
        ))
        .with_details(serde_json::json!({ "invalid": invalid, "errors": listed })));
    }
    let distinct = messages
        .iter()
        .map(|m| (m.account.as_str(), m.message_id.as_str()))
        .collect::<BTreeSet<_>>()
        .len();
    let new = if messages.is_empty() {
        0
    } else {
        state.store.track(&messages, now).await?
    };
    Ok(Json(TrackResult {
        received: items.len(),
        new,
        updated: distinct.saturating_sub(new),
    }))
}

/// The field a validation error is about; `None` when it is the item as a
/// whole (not an object).
fn field(err: &TrackError) -> Option<&'static str> {
    match err {
        TrackError::Json(_) => None,
        TrackError::Missing(field) if field.starts_with("recipients") => Some("recipients"),
        TrackError::Missing(field) => Some(field),
        TrackError::Invalid { field, .. } => Some(field),
        TrackError::Address(_) => Some("recipients"),
        TrackError::UnknownInbox(_) => Some("inbox"),
        TrackError::AccountMismatch { .. } => Some("account"),
    }
}
