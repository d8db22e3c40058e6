//! The HTTP client the `oauth2` crate talks through.
//!
//! `oauth2` 5 without default features takes any async function from
//! `http::Request<Vec<u8>>` to `http::Response<Vec<u8>>`; its own reqwest
//! feature pins reqwest 0.12, so this is the small adapter over reqwest 0.13.
//!
//! The adapter also decides what the status line alone says, before `oauth2`
//! reads the body: a redirect is never followed (the `oauth2` docs insist, as a
//! followed redirect turns the token endpoint into an SSRF vector and would
//! re-send the refresh token to wherever `Location` points), and 5xx and 429
//! are "try again later" whatever their body holds. Every other answer goes to
//! `oauth2`, which parses a token response (200) or an RFC 6749 §5.2 error.

use std::error::Error as _;
use std::time::Duration;

use oauth2::{HttpRequest, HttpResponse};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, RETRY_AFTER};

/// The largest token-endpoint answer read; real ones are a few KiB.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long establishing a TCP + TLS connection may take (the per-request
/// timeout still bounds the whole exchange).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why one token-endpoint exchange produced no answer for `oauth2` to read.
///
/// Messages are predicates to "the token endpoint <url> …" and never hold
/// the request or response body (they carry tokens).
#[derive(Debug, thiserror::Error)]
pub(super) enum HttpError {
    /// `oauth2` built a request reqwest cannot send.
    #[error("could not be sent the request: {0}")]
    Build(String),
    /// Connecting, sending or reading failed (refused, reset, TLS, timeout).
    #[error("{0}")]
    Transport(String),
    /// A 3xx answer, deliberately not followed.
    #[error(
        "answered HTTP {status} (redirect to {location}); redirects are not followed, check token_url"
    )]
    Redirect {
        /// The 3xx status.
        status: u16,
        /// Where it pointed (`(none)` without a Location header).
        location: String,
    },
    /// A 5xx or 429 answer.
    #[error("answered HTTP {status}{retry_after}")]
    Unavailable {
        /// The status.
        status: u16,
        /// `", retry after …"` when the server said so, else empty.
        retry_after: String,
    },
    /// The answer exceeded [`MAX_BODY_BYTES`].
    #[error("answered more than {MAX_BODY_BYTES} bytes")]
    TooLarge,
}

/// Builds the one reqwest client a [`super::TokenSource`] uses: redirects
/// off, a connect timeout, rustls (reqwest's `rustls` feature) with the
/// platform's trust store.
pub(super) fn build_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("rebound/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sends one token request and returns the answer for `oauth2` to parse.
pub(super) async fn send(
    client: reqwest::Client,
    request: HttpRequest,
    timeout: Duration,
) -> Result<HttpResponse, HttpError> {
    let mut request =
        reqwest::Request::try_from(request).map_err(|e| HttpError::Build(describe(&e)))?;
    *request.timeout_mut() = Some(timeout);
    let mut response = client
        .execute(request)
        .await
        .map_err(|e| HttpError::Transport(describe(&e)))?;

    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(none)")
            .chars()
            .take(200)
            .collect();
        return Err(HttpError::Redirect {
            status: status.as_u16(),
            location,
        });
    }
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(|v| format!(", retry after {}", v.chars().take(40).collect::<String>()))
            .unwrap_or_default();
        return Err(HttpError::Unavailable {
            status: status.as_u16(),
            retry_after,
        });
    }

    let headers = response.headers().clone();
    let version = response.version();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| HttpError::Transport(describe(&e)))?
    {
        if body.len().saturating_add(chunk.len()) > MAX_BODY_BYTES {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }

    let mut answer = HttpResponse::new(body);
    *answer.status_mut() = status;
    *answer.version_mut() = version;
    *answer.headers_mut() = headers;
    Ok(answer)
}

/// One line for a reqwest error: its kind, then its cause chain (where the
/// real reason — "Connection refused", a TLS alert — lives). The URL is left
/// out; the caller names the endpoint once.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not be reached"
    } else if error.is_body() || error.is_decode() {
        "sent an answer that could not be read"
    } else {
        "could not be asked"
    };
    let mut text = String::from(kind);
    let mut cause = error.source();
    while let Some(c) = cause {
        let part = c.to_string();
        // hyper and reqwest repeat their inner error's text; print each once.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}
