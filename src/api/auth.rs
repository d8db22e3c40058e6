//! The bearer token (RFC 6750): every route but [`super::OPEN_PATHS`] needs
//! `Authorization: Bearer <token>`.
//!
//! Both the configured token and the presented one are hashed with SHA-256
//! and the digests compared in constant time (`subtle`), so neither the
//! content nor the length of the token leaks through response timing.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// SHA-256 of the configured token.
pub(super) struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub(super) fn new(token: &str) -> TokenDigest {
        TokenDigest(Sha256::digest(token.as_bytes()).into())
    }

    /// Whether `presented` is the token, in time independent of both.
    fn matches(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest.ct_eq(&self.0).into()
    }
}

/// The token of an `Authorization` header value: scheme `Bearer`
/// (case-insensitive, RFC 7235 §2.1), one space, the token.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = (value.get(..7)?, value.get(7..)?);
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Middleware: lets open paths through, else requires the token.
pub(super) async fn require_token(
    State(token): State<Arc<TokenDigest>>,
    request: Request,
    next: Next,
) -> Response {
    if super::OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| bearer(v.as_bytes()));
    match presented {
        Some(Some(given)) if token.matches(given) => next.run(request).await,
        Some(Some(_)) => unauthorized(
            "the bearer token is not valid",
            "Bearer realm=\"rebound\", error=\"invalid_token\"",
        ),
        Some(None) => unauthorized(
            "the Authorization header must be: Bearer <token>",
            "Bearer realm=\"rebound\", error=\"invalid_request\"",
        ),
        None => unauthorized(
            "this route needs Authorization: Bearer <token> (api.token)",
            "Bearer realm=\"rebound\"",
        ),
    }
}

fn unauthorized(message: &str, challenge: &'static str) -> Response {
    let mut error = ApiError::new(StatusCode::UNAUTHORIZED, message);
    error.challenge = Some(challenge);
    error.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_values_parse() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bear"), None);
        let digest = TokenDigest::new("s3cret");
        assert!(digest.matches(b"s3cret"));
        assert!(!digest.matches(b"s3cret "));
        assert!(!digest.matches(b""));
    }
}
