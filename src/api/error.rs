//! Errors as the API answers them: JSON `{"error": "...", "details": ...}`
//! with the status that fits.

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// Structured details (per-item validation errors, ...); `null` when none.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// An error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: ErrorBody,
    /// The `WWW-Authenticate` challenge of a 401.
    pub challenge: Option<&'static str>,
}

impl ApiError {
    /// An error with this status and message, without details.
    pub fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                details: None,
            },
            challenge: None,
        }
    }

    /// The same error with `details`.
    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.body.details = Some(details);
        self
    }

    /// 400.
    pub fn bad_request(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, error)
    }

    /// 404.
    pub fn not_found(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, error)
    }

    /// 409.
    pub fn conflict(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, error)
    }

    /// 500, logged: the client learns what could not be done, the log why.
    pub fn internal(what: &str, err: &dyn std::error::Error) -> ApiError {
        tracing::error!(error = %err, "API: {what}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{what}: {err}"))
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(err: crate::store::Error) -> ApiError {
        ApiError::internal("the store failed", &err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(challenge) = self.challenge
            && let Ok(value) = header::HeaderValue::from_str(challenge)
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The router's fallback: no route has this path.
pub(super) async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {}", uri.path()))
}

/// The route exists, but not with this method.
pub(super) async fn no_method(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not accept {method}", uri.path()),
    )
}
