//! One signed POST of one event, and what its answer means
//! ([`super::schedule::classify`]).

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};

use super::schedule::{self, Attempt};
use super::sign::Signer;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("rebound/", env!("CARGO_PKG_VERSION"));

/// How long establishing a connection may take at most (the request timeout
/// bounds the whole exchange and wins when shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of an answer's body read: enough for an excerpt and to let a
/// small answer finish so its connection is reused; a larger one is dropped
/// (and its connection closed).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The most characters of an answer's body kept in `last_error`.
const EXCERPT_CHARS: usize = 200;

/// The receiver and how to sign for it.
#[derive(Clone)]
pub(super) struct Endpoint {
    /// The HTTP client (pooled connections, redirects off).
    client: reqwest::Client,
    /// The receiver's URL.
    url: reqwest::Url,
    /// The signing keys.
    signer: Signer,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Scheme, host and port only: a path or query may carry a token.
        f.debug_struct("Endpoint")
            .field("scheme", &self.url.scheme())
            .field("host", &self.url.host_str())
            .field("port", &self.url.port_or_known_default())
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A client for `url` with a per-request `timeout` and up to `pool` idle
    /// connections kept.
    pub(super) fn new(
        url: &str,
        signer: Signer,
        timeout: Duration,
        pool: usize,
    ) -> Result<Endpoint, String> {
        let url =
            reqwest::Url::parse(url).map_err(|err| format!("callback.url is not a URL: {err}"))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .pool_max_idle_per_host(pool)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {}", describe(&err)))?;
        Ok(Endpoint {
            client,
            url,
            signer,
        })
    }

    /// POSTs `payload` as event `id`, signed at `timestamp` (Unix seconds).
    pub(super) async fn post(&self, id: &str, payload: &str, timestamp: i64) -> Attempt {
        let signature = self.signer.header(id, timestamp, payload.as_bytes());
        let request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(payload.to_owned());
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                return Attempt::Retryable {
                    error: describe(&err),
                    retry_after: None,
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        let mut read_error = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_BODY_BYTES {
                        break;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    read_error = Some(describe(&err));
                    break;
                }
            }
        }
        let attempt =
            schedule::classify(status, retry_after.as_deref(), &excerpt(&body), timestamp);
        match (attempt, read_error) {
            // The status line said it all; a body cut short does not undo a
            // 2xx (the receiver took the event) nor change a refusal.
            (attempt, None) | (attempt @ (Attempt::Delivered | Attempt::Permanent { .. }), _) => {
                attempt
            }
            (Attempt::Retryable { error, retry_after }, Some(read)) => Attempt::Retryable {
                error: format!("{error} (reading the answer {read})"),
                retry_after,
            },
        }
    }
}

/// The start of an answer's body for `last_error`: lossy UTF-8, control
/// characters as spaces, whitespace runs folded, at most [`EXCERPT_CHARS`].
fn excerpt(body: &[u8]) -> String {
    let head = body
        .get(..body.len().min(EXCERPT_CHARS * 4))
        .unwrap_or(body);
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        if out.chars().count() >= EXCERPT_CHARS {
            out.push('…');
            break;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out
}

/// One line for a transport error: its kind and its cause chain. The URL is
/// left out (it may carry a token in its query).
fn describe(error: &reqwest::Error) -> String {
    let mut text = String::from(if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "cannot read the answer"
    } else if error.is_builder() {
        "cannot build the request"
    } else {
        "request failed"
    });
    let mut cause = error.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_and_on_one_line() {
        assert_eq!(excerpt(b""), "");
        assert_eq!(excerpt(b"  gone\r\n\tfor\x00good  "), "gone for good");
        let long = "x".repeat(500);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(b"caf\xc3\xa9 \xff"), "café \u{fffd}");
    }
}
