//! The Authentication API's errors: `{code, error}` with a status, as passage-js reads them
//! (it shows the status and the `error` text; the `code` is for people and scripts).

use std::time::Duration;

use crate::store::{StoreError, refusals};
use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// The code of a refusal, left in the response's extensions for the metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal(pub(crate) &'static str);

/// A refusal or failure of the Authentication API.
#[derive(Debug)]
pub(crate) struct AuthApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds for `Retry-After`.
    retry_after: Option<u64>,
}

impl AuthApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 `too_many_requests`, with `Retry-After` (whole seconds, rounded up, at least 1).
    pub(crate) fn too_many_requests(message: impl Into<String>, wait: Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self {
            retry_after: Some(secs.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub(crate) fn app_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "app_not_found", "app not found")
    }

    pub(crate) fn user_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "user_not_found", "user not found")
    }

    pub(crate) fn user_inactive() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "user_inactive",
            "this account is not active",
        )
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_access_token", message)
    }

    /// A WebAuthn ceremony that did not verify; the cause goes to the log, not to the client.
    pub(crate) fn webauthn(cause: impl std::fmt::Display) -> Self {
        tracing::info!(cause = %cause, "passage-server: a WebAuthn response was refused");
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_webauthn_response",
            "the passkey response did not verify",
        )
    }

    pub(crate) fn handshake_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "handshake_not_found",
            "no such handshake, or it was used or has expired",
        )
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server failed; see its log",
        )
    }
}

impl From<StoreError> for AuthApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NoSuchUser => Self::user_not_found(),
            StoreError::NoSuchDevice => Self::new(
                StatusCode::NOT_FOUND,
                "device_not_found",
                "device not found",
            ),
            StoreError::Refused(refusals::USER_INACTIVE) => Self::user_inactive(),
            StoreError::Refused(refusals::PASSKEY_CHANGED) => {
                Self::webauthn(refusals::PASSKEY_CHANGED)
            }
            StoreError::Refused(reason) => Self::new(StatusCode::CONFLICT, "conflict", reason),
            StoreError::Limit(reason) => Self::new(StatusCode::FORBIDDEN, "limit_reached", reason),
            err => {
                tracing::error!(error = %err, "passage-server: the store failed");
                crate::metrics::store_error("authentication");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for AuthApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "code": self.code, "error": self.message })),
        )
            .into_response();
        response.extensions_mut().insert(Refusal(self.code));
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
