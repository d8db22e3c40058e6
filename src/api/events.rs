//! `GET /v1/events`: the outbox (all, delivered or undelivered events) and
//! the dead letters; `POST /v1/events/{id}/redrive`: puts a dead letter
//! back in the delivery queue.
//!
//! Dead letters belong to the HTTP dispatcher, which plugs in through the
//! [`DeadLetters`] trait; without one those two answer 501.

use std::future::Future;
use std::pin::Pin;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{PathParam, QueryParams};
use super::{AppState, time};
use crate::event::Event;
use crate::store::{OutboxEntry, OutboxStatus, PolicyStore};

/// What a [`DeadLetters`] implementation fails with.
pub type PluginError = Box<dyn std::error::Error + Send + Sync>;

/// A future a [`DeadLetters`] method returns.
pub type PluginFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PluginError>> + Send + 'a>>;

/// An event the dispatcher gave up on (its retry budget ran out, or the
/// receiver refused it for good).
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Its outbox position.
    pub seq: i64,
    /// The event.
    pub event: Event,
    /// When it was written to the outbox (Unix seconds).
    pub created_at: i64,
    /// Delivery attempts made.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When it was dead-lettered (Unix seconds).
    pub dead_at: i64,
}

/// Dead letters and re-drive, as the HTTP dispatcher provides them.
pub trait DeadLetters: Send + Sync + 'static {
    /// Dead letters with `seq > after`, in seq order, at most `limit`.
    fn dead(&self, after: i64, limit: usize) -> PluginFuture<'_, Vec<DeadLetter>>;

    /// Queues the dead letter `id` for delivery again (attempts reset);
    /// `false` when no dead letter has this id.
    fn redrive<'a>(&'a self, id: &'a str) -> PluginFuture<'a, bool>;
}

/// Which events `GET /v1/events` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum EventStatus {
    /// Every event in the outbox.
    #[default]
    All,
    /// Not delivered yet (including those being retried).
    Undelivered,
    /// Delivered.
    Delivered,
    /// Dead-lettered by the HTTP dispatcher.
    Dead,
}

/// The query of `GET /v1/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct EventQuery {
    /// `all` (default), `undelivered`, `delivered` or `dead`.
    #[param(inline)]
    status: Option<EventStatus>,
    /// Only events with `seq` greater than this (default 0): pass the
    /// previous page's `next_after`.
    after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<usize>,
}

/// The default page size.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest page size.
pub const MAX_LIMIT: usize = 1000;

/// One page of events.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventPage {
    /// In seq order.
    events: Vec<EventItem>,
    /// The `after` of the next page; `null` when this page is the last.
    next_after: Option<i64>,
}

/// One outbox entry.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventItem {
    /// Its outbox position.
    seq: i64,
    /// `undelivered`, `delivered` or `dead`.
    status: EventStatus,
    /// When it was written (RFC 3339).
    created_at: String,
    /// When it was delivered (RFC 3339).
    delivered_at: Option<String>,
    /// The event, as the callback receives it (docs/events.md).
    #[schema(value_type = Object)]
    event: Event,
    /// Dead letters only: delivery attempts made.
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<u32>,
    /// Dead letters only: the last attempt's error.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    /// Dead letters only: when it was dead-lettered (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    dead_at: Option<String>,
}

impl EventItem {
    fn from_entry(e: OutboxEntry) -> EventItem {
        EventItem {
            seq: e.seq,
            status: if e.delivered_at.is_some() {
                EventStatus::Delivered
            } else {
                EventStatus::Undelivered
            },
            created_at: time(e.created_at),
            delivered_at: e.delivered_at.map(time),
            event: e.event,
            attempts: None,
            last_error: None,
            dead_at: None,
        }
    }

    fn from_dead(d: DeadLetter) -> EventItem {
        EventItem {
            seq: d.seq,
            status: EventStatus::Dead,
            created_at: time(d.created_at),
            delivered_at: None,
            event: d.event,
            attempts: Some(d.attempts),
            last_error: d.last_error,
            dead_at: Some(time(d.dead_at)),
        }
    }
}

/// Events from the outbox, or the dispatcher's dead letters, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    security(("bearer" = [])),
    params(EventQuery),
    responses(
        (status = 200, description = "One page", body = EventPage),
        (status = 400, description = "A bad status, after or limit", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 501, description = "status=dead without an HTTP dispatcher (callback kind http)", body = ErrorBody),
    ),
)]
pub(super) async fn events<S: PolicyStore>(
    State(state): State<AppState<S>>,
    QueryParams(query): QueryParams<EventQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let after = query.after.unwrap_or(0);
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let store = &*state.store;
    let items: Vec<EventItem> = match query.status.unwrap_or_default() {
        EventStatus::All => store
            .outbox(after, limit)
            .await?
            .into_iter()
            .map(EventItem::from_entry)
            .collect(),
        EventStatus::Delivered => store
            .outbox_with(OutboxStatus::Delivered, after, limit)
            .await?
            .into_iter()
            .map(EventItem::from_entry)
            .collect(),
        EventStatus::Undelivered => store
            .outbox_with(OutboxStatus::Undelivered, after, limit)
            .await?
            .into_iter()
            .map(EventItem::from_entry)
            .collect(),
        EventStatus::Dead => dead_letters(&state)?
            .dead(after, limit)
            .await
            .map_err(|err| ApiError::internal("cannot read the dead letters", &*err))?
            .into_iter()
            .map(EventItem::from_dead)
            .collect(),
    };
    let next_after = (items.len() == limit)
        .then(|| items.last().map(|i| i.seq))
        .flatten();
    Ok(Json(EventPage {
        events: items,
        next_after,
    }))
}

fn dead_letters<S>(state: &AppState<S>) -> Result<&dyn DeadLetters, ApiError> {
    state.dead_letters.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "dead letters need the HTTP dispatcher (callback kind http), which is not running",
        )
    })
}

/// A re-drive taken.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RedriveResult {
    /// The event id.
    id: String,
    /// Always true: the event is queued for delivery again.
    redriven: bool,
}

/// Puts a dead letter back in the delivery queue, its attempts reset.
#[utoipa::path(
    post,
    path = "/v1/events/{id}/redrive",
    tag = "events",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The event id (evt_...)")),
    responses(
        (status = 202, description = "Queued for delivery again", body = RedriveResult),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No dead letter has this id", body = ErrorBody),
        (status = 501, description = "No HTTP dispatcher (callback kind http) is running", body = ErrorBody),
    ),
)]
pub(super) async fn redrive<S: PolicyStore>(
    State(state): State<AppState<S>>,
    PathParam(id): PathParam<String>,
) -> Result<(StatusCode, Json<RedriveResult>), ApiError> {
    let found = dead_letters(&state)?
        .redrive(&id)
        .await
        .map_err(|err| ApiError::internal("cannot re-drive the event", &*err))?;
    if !found {
        return Err(ApiError::not_found(format!("no dead letter {id:?}")));
    }
    state.events_written();
    Ok((
        StatusCode::ACCEPTED,
        Json(RedriveResult { id, redriven: true }),
    ))
}
