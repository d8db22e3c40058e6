//! `GET /metrics`: the [`crate::telemetry`] counters and histograms, plus
//! gauges computed from the store at scrape time (outbox backlog, each
//! inbox's health), in the Prometheus text format.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::store::{DispatchStore, HealthState};
use crate::telemetry::{self, Exposition};

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
)]
pub(super) async fn metrics<S: DispatchStore>(
    State(state): State<AppState<S>>,
) -> Result<impl IntoResponse, ApiError> {
    let mut out = Exposition::new();
    telemetry::global().render_into(&mut out, telemetry::RECORDED);

    // The same counts as `rebound status`: one COUNT query, not the events.
    let counts = state.store.dispatch_counts().await?;
    let now = crate::sync::unix_now();
    let oldest = counts
        .oldest_pending_at
        .map_or(0, |at| now.saturating_sub(at).max(0));
    gauge(&mut out, &telemetry::OUTBOX_BACKLOG, counts.pending as f64);
    gauge(&mut out, &telemetry::OUTBOX_OLDEST_AGE, oldest as f64);

    let health: HashMap<String, HealthState> = state
        .store
        .health()
        .await?
        .into_iter()
        .map(|h| (h.inbox, h.state))
        .collect();
    out.family(&telemetry::INBOX_UP);
    for inbox in &state.config.inboxes {
        let up = matches!(
            health.get(&inbox.id),
            Some(HealthState::Connected | HealthState::Idle)
        );
        out.sample(
            telemetry::INBOX_UP.name,
            &[("inbox", &inbox.id), ("account", &inbox.account)],
            if up { 1.0 } else { 0.0 },
        );
    }
    out.family(&telemetry::BUILD_INFO);
    out.sample(
        telemetry::BUILD_INFO.name,
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out.finish(),
    ))
}

fn gauge(out: &mut Exposition, metric: &telemetry::Metric, value: f64) {
    out.family(metric);
    out.sample(metric.name, &[], value);
}
