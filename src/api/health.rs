//! `GET /healthz` (open: is the process up) and `GET /v1/openapi.json`,
//! plus the document's fixed parts (info, security scheme, schemas, tags).

use axum::Json;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::error::ErrorBody;

/// The fixed parts of the OpenAPI document; [`super::openapi`] adds the
/// paths from the route table.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "rebound",
        description = "Bounce detection service: tracked messages in, contact state and events out. Reference: docs/api.md.",
    ),
    components(schemas(
        ErrorBody,
        Healthz,
        super::tracking::TrackResult,
        super::contacts::ContactView,
        super::contacts::AccountView,
        super::contacts::SuppressionView,
        super::contacts::SoftBounceView,
        super::contacts::HistoryView,
        super::contacts::FindingView,
        super::contacts::GlobalView,
        super::contacts::UnsuppressRequest,
        super::contacts::UnsuppressResult,
        super::inboxes::InboxList,
        super::inboxes::InboxView,
        super::inboxes::CheckpointView,
        super::inboxes::ResyncResult,
        super::events::EventStatus,
        super::events::EventPage,
        super::events::EventItem,
        super::events::RedriveResult,
    )),
    modifiers(&BearerScheme),
    tags(
        (name = "health", description = "Liveness and the API description"),
        (name = "tracking", description = "Registering sent messages"),
        (name = "contacts", description = "Contact state and suppression"),
        (name = "inboxes", description = "Inbox health and resync"),
        (name = "events", description = "The event outbox and dead letters"),
        (name = "metrics", description = "Prometheus metrics"),
    ),
)]
pub(super) struct Doc;

/// Declares the `bearer` security scheme the protected routes name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The api.token of the configuration"))
                    .build(),
            ),
        );
    }
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Healthz {
    /// Always `ok`.
    status: &'static str,
    /// The running version.
    version: &'static str,
}

/// Whether the process is up (no token needed).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process is up", body = Healthz)),
)]
pub(super) async fn healthz() -> Json<Healthz> {
    Json(Healthz {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// This API's OpenAPI 3.1 document (the same as docs/openapi.json).
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "health",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
)]
pub(super) async fn openapi_json() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        super::openapi_json(),
    )
}
