//! A fake OAuth2 authorization server for tests, on `127.0.0.1:0` (axum).
//!
//! It plays both sides a real provider plays:
//! - `POST /token` — the token endpoint rebound's OAuth client calls
//!   (RFC 6749 §6, `grant_type=refresh_token`, form-encoded, client id and
//!   secret in the body or as HTTP Basic auth). Unknown or revoked refresh
//!   tokens get `400 {"error":"invalid_grant"}`; a good one gets
//!   `{access_token, expires_in, token_type:"Bearer"}` plus a new
//!   `refresh_token` when rotation is on (as Microsoft does).
//! - `GET /tokeninfo?access_token=…` — what Dovecot's `oauth2` passdb calls
//!   (its `tokeninfo_url`, the token appended) to validate a token an IMAP
//!   client presented with XOAUTH2/OAUTHBEARER. A live token answers
//!   `200 {"email": user, "active": "true", …}`; an unknown, expired or
//!   revoked one `401 {"error":"invalid_token"}`, which Dovecot turns into a
//!   failed login.
//!
//! Test code controls it through the methods on [`AuthServer`]. The server
//! task is aborted when the value is dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

/// The client id the token endpoint accepts.
pub const CLIENT_ID: &str = "rebound-test-client";
/// The client secret the token endpoint accepts.
pub const CLIENT_SECRET: &str = "rebound-test-secret";

/// What the token endpoint has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRequests {
    /// Number of `POST /token` requests (good or bad).
    pub count: usize,
    /// The `scope` parameter of the last request, when it had one.
    pub last_scope: Option<String>,
    /// Number of requests refused (`invalid_grant` / `invalid_client`).
    pub refused: usize,
}

#[derive(Debug)]
struct RefreshToken {
    user: String,
    revoked: bool,
}

#[derive(Debug)]
struct AccessToken {
    user: String,
    /// The refresh token it was issued from, if any (revoking that kills it).
    from: Option<String>,
    expires_at: Instant,
}

#[derive(Debug)]
struct Inner {
    refresh: HashMap<String, RefreshToken>,
    access: HashMap<String, AccessToken>,
    rotation: bool,
    lifetime: Duration,
    requests: TokenRequests,
    validations: usize,
}

type Shared = Arc<Mutex<Inner>>;

/// A running fake authorization server.
pub struct AuthServer {
    addr: SocketAddr,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl AuthServer {
    /// Starts the server on a free port of 127.0.0.1 in the current tokio runtime.
    pub async fn start() -> AuthServer {
        let state: Shared = Arc::new(Mutex::new(Inner {
            refresh: HashMap::new(),
            access: HashMap::new(),
            rotation: false,
            lifetime: Duration::from_secs(3600),
            requests: TokenRequests::default(),
            validations: 0,
        }));
        let app = Router::new()
            .route("/token", post(token))
            .route("/tokeninfo", get(tokeninfo))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake authorization server");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        AuthServer { addr, state, task }
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token endpoint (`POST`).
    pub fn token_url(&self) -> String {
        format!("{}/token", self.url())
    }

    /// The validation URL for Dovecot's `tokeninfo_url` (the token is appended).
    pub fn tokeninfo_url(&self) -> String {
        format!("{}/tokeninfo?access_token=", self.url())
    }

    /// A new refresh token for `user`.
    pub fn issue_refresh_token(&self, user: &str) -> String {
        let token = random_token("rt");
        self.lock().refresh.insert(
            token.clone(),
            RefreshToken {
                user: user.to_string(),
                revoked: false,
            },
        );
        token
    }

    /// A new access token for `user`, as if a refresh had happened (for tests
    /// of the IMAP layer alone).
    pub fn issue_access_token(&self, user: &str) -> String {
        let mut inner = self.lock();
        let lifetime = inner.lifetime;
        let token = random_token("at");
        inner.access.insert(
            token.clone(),
            AccessToken {
                user: user.to_string(),
                from: None,
                expires_at: Instant::now() + lifetime,
            },
        );
        token
    }

    /// Revokes a refresh token and every access token issued from it.
    pub fn revoke(&self, refresh_token: &str) {
        let mut inner = self.lock();
        if let Some(rt) = inner.refresh.get_mut(refresh_token) {
            rt.revoked = true;
        }
        inner
            .access
            .retain(|_, at| at.from.as_deref() != Some(refresh_token));
    }

    /// Makes every access token issued so far expired (Dovecot refuses them).
    pub fn expire_all_access_tokens(&self) {
        let now = Instant::now();
        for at in self.lock().access.values_mut() {
            at.expires_at = now;
        }
    }

    /// Turns refresh-token rotation on or off (off by default).
    pub fn set_rotation(&self, on: bool) {
        self.lock().rotation = on;
    }

    /// Sets the lifetime (`expires_in`) of access tokens issued from now on
    /// (default 1 h).
    pub fn set_access_token_lifetime(&self, lifetime: Duration) {
        self.lock().lifetime = lifetime;
    }

    /// What the token endpoint has seen so far.
    pub fn token_requests(&self) -> TokenRequests {
        self.lock().requests.clone()
    }

    /// How many times a token was validated (Dovecot's tokeninfo calls).
    pub fn validations(&self) -> usize {
        self.lock().validations
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().expect("auth server state")
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn random_token(prefix: &str) -> String {
    let mut s = String::from(prefix);
    s.push('-');
    for _ in 0..32 {
        s.push(fastrand::alphanumeric());
    }
    s
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// `client_id:client_secret` from an HTTP Basic `Authorization` header
/// (RFC 6749 §2.3.1), the form-encoded alternative being the body fields.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

async fn token(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let mut inner = state.lock().expect("auth server state");
    inner.requests.count += 1;
    inner.requests.last_scope = form.scope.clone();

    let (id, secret) = match basic_credentials(&headers) {
        Some(pair) => (Some(pair.0), Some(pair.1)),
        None => (form.client_id.clone(), form.client_secret.clone()),
    };
    if id.as_deref() != Some(CLIENT_ID) || secret.as_deref() != Some(CLIENT_SECRET) {
        inner.requests.refused += 1;
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.grant_type.as_deref() != Some("refresh_token") {
        inner.requests.refused += 1;
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let presented = form.refresh_token.unwrap_or_default();
    let user = match inner.refresh.get(&presented) {
        Some(rt) if !rt.revoked => rt.user.clone(),
        _ => {
            inner.requests.refused += 1;
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        }
    };

    let access = random_token("at");
    let lifetime = inner.lifetime;
    let mut source = presented.clone();
    let mut body = json!({
        "access_token": access,
        "expires_in": lifetime.as_secs(),
        "token_type": "Bearer",
    });
    if inner.rotation {
        // The old refresh token stops working once a new one is handed out.
        let new = random_token("rt");
        if let Some(old) = inner.refresh.get_mut(&presented) {
            old.revoked = true;
        }
        inner.refresh.insert(
            new.clone(),
            RefreshToken {
                user: user.clone(),
                revoked: false,
            },
        );
        body["refresh_token"] = json!(new);
        source = new;
    }
    inner.access.insert(
        access,
        AccessToken {
            user,
            from: Some(source),
            expires_at: Instant::now() + lifetime,
        },
    );
    (StatusCode::OK, Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
struct TokenInfoQuery {
    access_token: Option<String>,
}

async fn tokeninfo(State(state): State<Shared>, Query(q): Query<TokenInfoQuery>) -> Response {
    let mut inner = state.lock().expect("auth server state");
    inner.validations += 1;
    let now = Instant::now();
    let token = q.access_token.unwrap_or_default();
    match inner.access.get(&token) {
        Some(at) if at.expires_at > now => {
            let remaining = at.expires_at.duration_since(now).as_secs().max(1);
            (
                StatusCode::OK,
                Json(json!({
                    "email": at.user,
                    "active": "true",
                    "expires_in": remaining.to_string(),
                })),
            )
                .into_response()
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            Json(json!({
                "error": "invalid_token",
                "error_description": "the access token is unknown, expired or revoked",
            })),
        )
            .into_response(),
    }
}
