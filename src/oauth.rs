//! OAuth2 access tokens for IMAP XOAUTH2 / OAUTHBEARER logins.
//!
//! A [`TokenSource`] turns an inbox's refresh token into short-lived access
//! tokens through the provider's token endpoint (RFC 6749 §6, the
//! `refresh_token` grant), caches the current one, and keeps the refresh token
//! the server rotates in (Microsoft does; the caller persists it). Failures
//! come in two kinds the sync loop branches on: [`Error::Refused`] (the
//! inbox needs re-authorisation; retrying will not help) and
//! [`Error::Transient`] (retry with backoff). See `docs/oauth.md`.
//!
//! The HTTP side is the `oauth2` crate over a reqwest 0.13 adapter
//! (`oauth/http.rs`): one client per source, redirects disabled, a
//! whole-exchange timeout.

mod http;

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::url::{Host, Url};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RefreshToken, RequestTokenError,
    Scope, TokenResponse, TokenUrl,
};
use serde_json::error::Category;

use crate::config::{OAuth2Settings, Secret};

/// A cached token is refreshed when it expires within this margin, so an
/// IMAP login never starts with a token that dies mid-handshake.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// The lifetime assumed when the answer has no `expires_in` (RFC 6749 §5.1
/// makes it RECOMMENDED only); Google and Microsoft issue one-hour tokens.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// How long one whole token exchange may take by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Server-chosen text (error codes, descriptions) is cut to this many
/// characters before it reaches a log line.
const MAX_SERVER_TEXT: usize = 300;

/// The `oauth2` client with only the token endpoint set.
type OAuthClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Why no access token could be had.
///
/// Messages never contain a token or the client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The authorization server refused the refresh token or the client
    /// (invalid_grant, invalid_client, unauthorized_client, consent revoked):
    /// retrying will not help; the inbox needs re-authorisation.
    #[error(
        "the authorization server refused the token refresh ({code}{}): the inbox needs re-authorisation",
        description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
    )]
    Refused {
        /// The RFC 6749 §5.2 `error` code (or the extension code the server sent).
        code: String,
        /// The server's `error_description`, shortened, secrets masked.
        description: Option<String>,
    },
    /// Network trouble, timeouts, 5xx, 429, unparsable answers: retry later
    /// with backoff.
    #[error("the access token could not be refreshed, will retry: {0}")]
    Transient(String),
    /// The settings cannot be used (token URL not a URL, or plain http to a
    /// non-loopback host; empty client id or refresh token). Only
    /// [`TokenSource::new`] returns it; fix the configuration.
    #[error("unusable OAuth2 settings: {0}")]
    Config(String),
}

/// An access token and when it stops being valid.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The bearer token for XOAUTH2 / OAUTHBEARER.
    pub token: Secret,
    /// When the server said it expires (measured from when the request was
    /// sent, so slightly early rather than late).
    pub expires_at: Instant,
}

/// The access-token source of one inbox: a cache in front of the token
/// endpoint. `Send + Sync`; share it behind an `Arc`.
pub struct TokenSource {
    /// The `oauth2` client: client id, optional secret, token endpoint,
    /// credentials in the request body.
    client: OAuthClient,
    /// The client secret again, to mask it should a server echo it.
    client_secret: Option<Secret>,
    /// The HTTP client, built once (connection reuse, redirects off).
    http: reqwest::Client,
    /// Scopes sent on every refresh (Microsoft needs them there).
    scopes: Vec<Scope>,
    /// The token URL without credentials or query, for messages.
    endpoint: String,
    /// Bound on one whole token exchange.
    timeout: Duration,
    /// Held across a refresh so concurrent callers share one.
    refresh_lock: tokio::sync::Mutex<()>,
    /// Tokens and outcomes; locked briefly, never across an await.
    state: Mutex<State>,
}

/// What a [`TokenSource`] remembers between calls.
struct State {
    /// The refresh token sent on the next refresh.
    refresh_token: Secret,
    /// The access token last obtained, until invalidated.
    cached: Option<AccessToken>,
    /// A rotated-in refresh token the caller has not taken yet.
    rotated: Option<Secret>,
    /// Completed refresh attempts; a waiter that sees it move shares the
    /// outcome instead of refreshing again.
    attempts: u64,
    /// The latest attempt's error, `None` after a success.
    last_error: Option<Error>,
}

/// Installs aws-lc-rs as the process-wide rustls crypto provider unless one
/// is installed already. Idempotent; call it at startup.
///
/// reqwest (`rustls` feature) falls back to aws-lc-rs by itself, but
/// `rustls::ClientConfig::builder()` (the IMAP side, through tokio-rustls)
/// panics when a dependency enables a second provider (ring) and none was
/// installed. Installing one here makes both sides use the same provider
/// whatever the dependency tree enables.
pub fn install_crypto_provider() {
    // An error means a provider is installed already (by an earlier call or
    // by the binary); that one stays, which is what is wanted.
    let _already_installed =
        tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
}

impl TokenSource {
    /// Builds the source of one inbox. `stored_refresh_token`: a rotated
    /// token persisted earlier (wins over `settings.refresh_token`).
    ///
    /// Fails with [`Error::Config`] on an unusable token URL (plain `http` is
    /// accepted for loopback hosts only: the request carries the refresh
    /// token and client secret), an empty client id or refresh token.
    pub fn new(
        settings: OAuth2Settings,
        stored_refresh_token: Option<Secret>,
    ) -> Result<TokenSource, Error> {
        install_crypto_provider();
        if settings.client_id.trim().is_empty() {
            return Err(Error::Config("client_id is empty".into()));
        }
        let refresh_token = stored_refresh_token.unwrap_or(settings.refresh_token);
        if refresh_token.expose().trim().is_empty() {
            return Err(Error::Config("the refresh token is empty".into()));
        }
        let token_url = parse_token_url(&settings.token_url)?;
        let endpoint = display_url(token_url.url());

        // RFC 6749 §2.3.1 allows the secret in the body; Google and Microsoft
        // both accept it there, and a public client (no secret) sends only
        // its client_id (§3.2.1).
        let mut client = BasicClient::new(ClientId::new(settings.client_id))
            .set_token_uri(token_url)
            .set_auth_type(AuthType::RequestBody);
        if let Some(secret) = &settings.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        let http = http::build_client().map_err(|e| {
            Error::Config(format!(
                "the HTTP client for {endpoint} cannot be built: {e}"
            ))
        })?;

        Ok(TokenSource {
            client,
            client_secret: settings.client_secret,
            http,
            scopes: settings.scopes.into_iter().map(Scope::new).collect(),
            endpoint,
            timeout: DEFAULT_TIMEOUT,
            refresh_lock: tokio::sync::Mutex::new(()),
            state: Mutex::new(State {
                refresh_token,
                cached: None,
                rotated: None,
                attempts: 0,
                last_error: None,
            }),
        })
    }

    /// Bounds one whole token exchange (connect, send, read) to `timeout`
    /// instead of the default 30 s.
    pub fn with_timeout(mut self, timeout: Duration) -> TokenSource {
        self.timeout = timeout;
        self
    }

    /// A valid access token: the cached one unless it expires within a
    /// safety margin (60 s), else a refresh through the token endpoint (scope
    /// sent on every refresh — Microsoft needs it). Concurrent callers share
    /// one refresh, and its failure: callers that waited on a failed refresh
    /// get its error rather than each retrying at once.
    ///
    /// Returns [`Error::Refused`] or [`Error::Transient`], never
    /// [`Error::Config`].
    pub async fn access_token(&self) -> Result<AccessToken, Error> {
        let seen = {
            let state = self.lock_state();
            if let Some(token) = state.usable(Instant::now(), EXPIRY_MARGIN) {
                return Ok(token);
            }
            state.attempts
        };

        let _refreshing = self.refresh_lock.lock().await;
        let refresh_token = {
            let state = self.lock_state();
            if state.attempts != seen {
                // Someone refreshed while this caller waited: take that
                // outcome. A token inside the margin is still taken (it is
                // fresh from the server; refreshing again would not help).
                if let Some(token) = state.usable(Instant::now(), Duration::ZERO) {
                    return Ok(token);
                }
                if let Some(error) = &state.last_error {
                    return Err(error.clone());
                }
            }
            state.refresh_token.clone()
        };

        let outcome = self.refresh(&refresh_token).await;

        let mut state = self.lock_state();
        state.attempts = state.attempts.wrapping_add(1);
        match outcome {
            Ok(refreshed) => {
                if let Some(new) = refreshed.rotated {
                    tracing::info!(endpoint = %self.endpoint, "the token endpoint rotated the refresh token");
                    state.refresh_token = new.clone();
                    state.rotated = Some(new);
                }
                state.last_error = None;
                state.cached = Some(refreshed.token.clone());
                Ok(refreshed.token)
            }
            Err(error) => {
                state.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Forget the cached access token (the IMAP server refused it); the next
    /// call refreshes.
    pub fn invalidate(&self) {
        self.lock_state().cached = None;
    }

    /// A refresh token the server rotated in since the last call (Microsoft
    /// rotates them), to be persisted by the caller; `None` when unchanged.
    /// Taking it clears it; the source itself already uses the new token.
    pub fn take_rotated_refresh_token(&self) -> Option<Secret> {
        self.lock_state().rotated.take()
    }

    /// One `refresh_token` grant (RFC 6749 §6) under the whole-exchange
    /// timeout.
    async fn refresh(&self, refresh_token: &Secret) -> Result<Refreshed, Error> {
        // Expiry counts from before the request: the server's clock started
        // no earlier than this.
        let started = Instant::now();
        let grant = RefreshToken::new(refresh_token.expose().to_owned());
        let timeout = self.timeout;
        // The adapter gets its own handle (an Arc inside): a borrowed client
        // in this closure makes the future not `Send` (a higher-ranked
        // lifetime the compiler cannot prove), and the sync loop's task needs it.
        let send = |request| http::send(self.http.clone(), request, timeout);
        let exchange = self
            .client
            .exchange_refresh_token(&grant)
            .add_scopes(self.scopes.iter().cloned())
            .request_async(&send);

        let answer = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => return Err(self.map_error(error, refresh_token)),
            Err(_elapsed) => {
                return Err(Error::Transient(format!(
                    "the token endpoint {} did not answer within {} ms",
                    self.endpoint,
                    timeout.as_millis()
                )));
            }
        };

        let access = answer.access_token().secret();
        if access.is_empty() {
            return Err(Error::Transient(format!(
                "the token endpoint {} answered an empty access_token",
                self.endpoint
            )));
        }
        let expires_at = expiry(started, answer.expires_in());
        tracing::debug!(
            endpoint = %self.endpoint,
            expires_in_s = expires_at.saturating_duration_since(Instant::now()).as_secs(),
            "access token refreshed"
        );
        // RFC 6749 §6: a new refresh token in the answer replaces the old one.
        let rotated = answer
            .refresh_token()
            .map(|r| r.secret().as_str())
            .filter(|r| !r.is_empty() && *r != refresh_token.expose())
            .map(Secret::new);
        Ok(Refreshed {
            token: AccessToken {
                token: Secret::new(access.as_str()),
                expires_at,
            },
            rotated,
        })
    }

    /// Sorts an `oauth2` failure into [`Error`], keeping secrets out of it.
    fn map_error(
        &self,
        error: RequestTokenError<http::HttpError, BasicErrorResponse>,
        refresh_token: &Secret,
    ) -> Error {
        match error {
            RequestTokenError::ServerResponse(answer) => {
                let secrets = [
                    refresh_token.expose(),
                    self.client_secret.as_ref().map_or("", Secret::expose),
                ];
                classify(
                    &self.endpoint,
                    answer.error().as_ref(),
                    answer.error_description().map(String::as_str),
                    &secrets,
                )
            }
            RequestTokenError::Request(e) => {
                Error::Transient(format!("the token endpoint {} {e}", self.endpoint))
            }
            // Only the JSON path and category: serde's message can quote
            // values, and a malformed success answer holds the token.
            RequestTokenError::Parse(e, _body) => {
                let what = match e.inner().classify() {
                    Category::Data => format!("a missing or mistyped field at `{}`", e.path()),
                    Category::Syntax | Category::Eof | Category::Io => "malformed JSON".into(),
                };
                Error::Transient(format!(
                    "the token endpoint {} answered something that is not a token response: {what}",
                    self.endpoint
                ))
            }
            RequestTokenError::Other(message) => {
                Error::Transient(format!("the token endpoint {}: {message}", self.endpoint))
            }
        }
    }

    /// The state, whatever a panicking holder left (every update is a plain
    /// assignment, so the data stays consistent).
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock_state();
        f.debug_struct("TokenSource")
            .field("client_id", &self.client.client_id().as_str())
            .field("client_secret", &self.client_secret)
            .field("endpoint", &self.endpoint)
            .field("scopes", &self.scopes)
            .field("timeout", &self.timeout)
            .field("cached", &state.cached)
            .field("rotated_pending", &state.rotated.is_some())
            .field("last_error", &state.last_error)
            .finish_non_exhaustive()
    }
}

impl State {
    /// The cached token if it lives longer than `margin` from `now`.
    fn usable(&self, now: Instant, margin: Duration) -> Option<AccessToken> {
        self.cached
            .as_ref()
            .filter(|t| {
                t.expires_at
                    .checked_duration_since(now)
                    .is_some_and(|left| left > margin)
            })
            .cloned()
    }
}

/// A successful refresh.
struct Refreshed {
    /// The new access token.
    token: AccessToken,
    /// A new refresh token, when it differs from the one sent.
    rotated: Option<Secret>,
}

/// When a token obtained at `started` expires: `expires_in` later, one hour
/// when the server gave none, and never a panic on an absurd value.
fn expiry(started: Instant, expires_in: Option<Duration>) -> Instant {
    let lifetime = expires_in.unwrap_or(DEFAULT_LIFETIME);
    started
        .checked_add(lifetime)
        .or_else(|| started.checked_add(DEFAULT_LIFETIME))
        .unwrap_or(started)
}

/// Maps a token-endpoint error code (RFC 6749 §5.2) to the caller's choice:
/// codes that say the grant, client or request itself is wrong will fail the
/// same way next time, so they are [`Error::Refused`]; anything else
/// (`temporarily_unavailable`, `server_error`, unknown codes) is
/// [`Error::Transient`].
fn classify(endpoint: &str, code: &str, description: Option<&str>, secrets: &[&str]) -> Error {
    let shown_code = clean_server_text(code, secrets);
    let description = description
        .map(|d| clean_server_text(d, secrets))
        .filter(|d| !d.is_empty());
    match code {
        // RFC 6749 §5.2. invalid_request is here too: a malformed request
        // (missing or garbled refresh token, AADSTS9002313) never heals.
        "invalid_grant" | "invalid_client" | "unauthorized_client" | "unsupported_grant_type"
        | "invalid_scope" | "invalid_request"
        // OpenID Connect Core §3.1.2.6, used by Microsoft Entra when
        // conditional access or consent needs the user again.
        | "interaction_required" | "consent_required" | "login_required" => Error::Refused {
            code: shown_code,
            description,
        },
        _ => Error::Transient(format!(
            "the token endpoint {endpoint} answered error `{shown_code}`{}",
            description.map(|d| format!(": {d}")).unwrap_or_default()
        )),
    }
}

/// Server-chosen text made fit for a log line: shortened, control characters
/// dropped, and any secret the server may have echoed masked.
fn clean_server_text(text: &str, secrets: &[&str]) -> String {
    let mut clean: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_SERVER_TEXT)
        .collect();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        clean = clean.replace(secret, "[redacted]");
    }
    clean
}

/// Parses and vets the token URL: `https`, or `http` to a loopback host
/// (local test endpoints). Anything else would send the refresh token and
/// client secret in clear.
fn parse_token_url(raw: &str) -> Result<TokenUrl, Error> {
    let url = TokenUrl::new(raw.to_owned())
        .map_err(|e| Error::Config(format!("token_url is not a URL: {e}")))?;
    let shown = display_url(url.url());
    match url.url().scheme() {
        "https" => Ok(url),
        "http" if is_loopback(url.url()) => Ok(url),
        "http" => Err(Error::Config(format!(
            "token_url {shown} uses plain http to a non-loopback host; use https"
        ))),
        other => Err(Error::Config(format!(
            "token_url {shown} has scheme `{other}`; use https"
        ))),
    }
}

/// Whether the URL's host is this machine.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The URL without user info, query or fragment, for messages.
fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    // Both fail only for URLs that cannot have credentials, which is fine.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

#[cfg(test)]
mod tests;
