//! The HTTP API (issue 5): what a CRM or an operator asks a running rebound.
//!
//! - `GET /healthz` is open; every other route (`/v1/*`, `/metrics`)
//!   needs `Authorization: Bearer <token>` (`auth.rs`, compared in constant
//!   time). The server listens where `api.listen` says (127.0.0.1:8025 by
//!   default).
//! - Each route is one handler in the file of its resource (`tracking`,
//!   `contacts`, `inboxes`, `events`, `metrics`, `health`), annotated with
//!   its OpenAPI operation. `table` registers every handler at the path
//!   its annotation declares, so the router and the OpenAPI document
//!   ([`openapi`], served at `/v1/openapi.json`, copied to
//!   `docs/openapi.json`) are built from the same list and cannot disagree.
//! - Handlers call the library like the CLI does ([`crate::track::parse_value`]
//!   then [`crate::store::Store::track`], [`crate::ingest::unsuppress`]); nothing here
//!   decides policy.
//! - Errors are JSON `{"error", "details"}` with the status that fits
//!   ([`ApiError`]); bodies are limited to [`BODY_LIMIT`]. Nothing a client
//!   sends can panic the server.
//!
//! `docs/api.md` is the user's reference.

mod auth;
mod contacts;
mod error;
mod events;
mod extract;
mod health;
mod inboxes;
mod metrics;
mod tracking;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter};
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi as _;
use utoipa::openapi::path::{HttpMethod, Paths};

use crate::config::{Config, Secret};
use crate::ingest::Pipeline;
use crate::store::{DispatchStore, PolicyStore, SqliteStore};

pub use error::{ApiError, ErrorBody};
pub use events::{DeadLetter, DeadLetters, PluginError, PluginFuture};

/// The largest request body accepted (1 MiB); larger ones get 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Where the API finds the [`Pipeline`] whose step lock the sync loop
/// holds: an unsuppress must not interleave with a sync step of the same
/// account, so the API and the supervisor must share one pipeline.
pub trait HasPipeline: Send + Sync + 'static {
    /// The shared pipeline.
    fn pipeline(&self) -> &Pipeline;
}

impl HasPipeline for Pipeline {
    fn pipeline(&self) -> &Pipeline {
        self
    }
}

impl<S: Send + Sync + 'static> HasPipeline for crate::sync::Shared<S> {
    fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
}

/// Asks the running supervisor to resync an inbox now; `true` when a task
/// of that inbox took the request.
pub type ResyncFn = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Called after the API wrote events to the outbox (an unsuppress, a
/// re-drive), so whatever delivers the outbox can look now instead of at
/// its next tick.
pub type EventsWrittenFn = Arc<dyn Fn() + Send + Sync>;

/// What every handler shares. Cheap to clone (all `Arc`s).
pub struct AppState<S> {
    /// The store (the daemon's own).
    store: Arc<S>,
    /// The validated configuration: inboxes, their accounts and providers.
    config: Arc<Config>,
    /// The pipeline the sync loop uses (settings and the step lock).
    pipeline: Arc<dyn HasPipeline>,
    /// SHA-256 of the bearer token (compared in constant time).
    token: Arc<auth::TokenDigest>,
    /// `POST /v1/inboxes/{id}/resync`.
    resync: ResyncFn,
    /// Dead letters and re-drive, when an HTTP dispatcher runs.
    dead_letters: Option<Arc<dyn DeadLetters>>,
    /// Called after events were written.
    events_written: Option<EventsWrittenFn>,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            store: self.store.clone(),
            config: self.config.clone(),
            pipeline: self.pipeline.clone(),
            token: self.token.clone(),
            resync: self.resync.clone(),
            dead_letters: self.dead_letters.clone(),
            events_written: self.events_written.clone(),
        }
    }
}

impl<S> std::fmt::Debug for AppState<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("inboxes", &self.config.inboxes.len())
            .field("dead_letters", &self.dead_letters.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: PolicyStore> AppState<S> {
    /// The state of an API over `store` and `config`, sharing `pipeline`
    /// with the sync loop, guarded by `token` (`api.token`). Resync answers
    /// "not running" and dead letters 501 until set with the methods below.
    pub fn new(
        store: Arc<S>,
        config: Arc<Config>,
        pipeline: Arc<dyn HasPipeline>,
        token: &Secret,
    ) -> AppState<S> {
        AppState {
            store,
            config,
            pipeline,
            token: Arc::new(auth::TokenDigest::new(token.expose())),
            resync: Arc::new(|_| false),
            dead_letters: None,
            events_written: None,
        }
    }

    /// Sets what `POST /v1/inboxes/{id}/resync` calls (e.g. the
    /// supervisor's `Resync::request`).
    pub fn with_resync(mut self, resync: ResyncFn) -> AppState<S> {
        self.resync = resync;
        self
    }

    /// Plugs in dead letters and re-drive (the HTTP dispatcher).
    pub fn with_dead_letters(mut self, dead_letters: Arc<dyn DeadLetters>) -> AppState<S> {
        self.dead_letters = Some(dead_letters);
        self
    }

    /// Sets what is called after the API wrote events to the outbox.
    pub fn with_events_written(mut self, notify: EventsWrittenFn) -> AppState<S> {
        self.events_written = Some(notify);
        self
    }

    fn events_written(&self) {
        if let Some(notify) = &self.events_written {
            notify();
        }
    }
}

/// The paths that need no token.
pub const OPEN_PATHS: &[&str] = &["/healthz"];

/// Every route: the router and the OpenAPI paths, built together.
fn table<S: DispatchStore>() -> Table<AppState<S>> {
    Table::default()
        .add::<health::__path_healthz, _, _>(health::healthz)
        .add::<health::__path_openapi_json, _, _>(health::openapi_json)
        .add::<tracking::__path_track, _, _>(tracking::track::<S>)
        .add::<contacts::__path_contact, _, _>(contacts::contact::<S>)
        .add::<contacts::__path_unsuppress, _, _>(contacts::unsuppress::<S>)
        .add::<inboxes::__path_inboxes, _, _>(inboxes::inboxes::<S>)
        .add::<inboxes::__path_resync, _, _>(inboxes::resync::<S>)
        .add::<events::__path_events, _, _>(events::events::<S>)
        .add::<events::__path_redrive, _, _>(events::redrive::<S>)
        .add::<metrics::__path_metrics, _, _>(metrics::metrics::<S>)
}

/// The API's router, state applied: auth, the body limit, JSON errors for
/// unknown routes and methods.
pub fn router<S: DispatchStore>(state: AppState<S>) -> Router {
    let token = state.token.clone();
    let mut router = Router::new();
    for (path, methods) in table::<S>().methods {
        router = router.route(&path, methods);
    }
    router
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::no_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            token,
            auth::require_token,
        ))
        .with_state(state)
}

/// Serves the API on `listener` until `stop` is cancelled, then lets
/// requests in flight finish (axum's graceful shutdown).
pub async fn serve<S: DispatchStore>(
    listener: tokio::net::TcpListener,
    state: AppState<S>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP API listening");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

/// The OpenAPI 3.1 document of every route (the same for every store).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = health::Doc::openapi();
    doc.paths = table::<SqliteStore>().paths;
    doc
}

/// [`openapi`] as pretty JSON with a final newline (`docs/openapi.json`).
pub fn openapi_json() -> String {
    let mut text = serde_json::to_string_pretty(&openapi()).unwrap_or_default();
    text.push('\n');
    text
}

/// Routes being registered: per path, its method router and its OpenAPI
/// operations.
struct Table<St> {
    methods: BTreeMap<String, MethodRouter<St>>,
    paths: Paths,
}

impl<St> Default for Table<St> {
    fn default() -> Self {
        Table {
            methods: BTreeMap::new(),
            paths: Paths::new(),
        }
    }
}

impl<St: Clone + Send + Sync + 'static> Table<St> {
    /// Registers `handler` at the path and methods of its OpenAPI
    /// annotation `P`, and the operation in the document.
    fn add<P: utoipa::Path, H: Handler<T, St>, T: 'static>(mut self, handler: H) -> Self {
        let path = P::path();
        let methods = P::methods();
        let mut router = self.methods.remove(&path).unwrap_or_default();
        for method in &methods {
            router = router.on(method_filter(method), handler.clone());
        }
        self.methods.insert(path.clone(), router);
        self.paths
            .add_path_operation(&path, methods, P::operation());
        self
    }
}

fn method_filter(method: &HttpMethod) -> MethodFilter {
    match method {
        HttpMethod::Get => MethodFilter::GET,
        HttpMethod::Post => MethodFilter::POST,
        HttpMethod::Put => MethodFilter::PUT,
        HttpMethod::Delete => MethodFilter::DELETE,
        HttpMethod::Options => MethodFilter::OPTIONS,
        HttpMethod::Head => MethodFilter::HEAD,
        HttpMethod::Patch => MethodFilter::PATCH,
        HttpMethod::Trace => MethodFilter::TRACE,
    }
}

/// Unix seconds as RFC 3339 UTC, the way every API response shows times.
fn time(secs: i64) -> String {
    crate::time::rfc3339(secs)
}
