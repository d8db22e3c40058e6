//! Extractors whose rejections are [`ApiError`]s (JSON, with the status
//! axum chose: 400, 413, ...), so a bad request never gets a plain-text
//! answer.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body, parsed into a value (the handler validates it).
pub(super) struct JsonBody(pub serde_json::Value);

impl<St: Send + Sync> FromRequest<St> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &St) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|r| match r.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the request body is larger than the limit of {} bytes",
                        super::BODY_LIMIT
                    ),
                ),
                status => ApiError::new(status, r.body_text()),
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|err| ApiError::bad_request(format!("the body is not valid JSON: {err}")))
    }
}

impl JsonBody {
    /// The value as `T`: a 400 that names the problem when it does not fit.
    pub(super) fn into_typed<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        serde_json::from_value(self.0)
            .map_err(|err| ApiError::bad_request(format!("invalid request body: {err}")))
    }
}

/// A path parameter.
pub(super) struct PathParam<T>(pub T);

impl<T, St> FromRequestParts<St> for PathParam<T>
where
    T: DeserializeOwned + Send,
    St: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathParam(p.0))
            .map_err(|r| ApiError::new(r.status(), r.body_text()))
    }
}

/// The query string.
pub(super) struct QueryParams<T>(pub T);

impl<T, St> FromRequestParts<St> for QueryParams<T>
where
    T: DeserializeOwned + Send,
    St: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|r| ApiError::new(r.status(), r.body_text()))
    }
}
