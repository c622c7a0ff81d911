//! Passage's error body: `{"code": …, "error": …}`, always JSON.

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

/// An error answer of the Management API.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_access_token",
            "Invalid access token.",
        )
    }

    pub(crate) fn app_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "app_not_found", "App not found.")
    }

    pub(crate) fn user_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "user_not_found", "User not found.")
    }

    pub(crate) fn device_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "device_not_found",
            "Device not found.",
        )
    }

    /// An unknown route. The official error models know no "route" code; a wrong base URL is
    /// the usual cause, and `app_not_found` is what the SDKs can show for it.
    pub(crate) fn route_not_found(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "app_not_found",
            format!("No route {method} {path}: Passage's API lives under /v1/apps/{{app_id}}."),
        )
    }

    /// A known route called with the wrong method.
    pub(crate) fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            format!("Method {method} is not allowed on {path}."),
        )
    }

    /// The error a fault answers with `status`: the Passage code the official error models
    /// give that status.
    pub(crate) fn for_status(status: StatusCode, target: crate::dev::faults::Target) -> Self {
        let code = match status.as_u16() {
            401 => "invalid_access_token",
            403 => "operation_not_allowed",
            404 if target == crate::dev::faults::Target::Jwks => "app_not_found",
            404 => "user_not_found",
            500..=599 => "internal_server_error",
            _ => "invalid_request",
        };
        Self::new(status, code, "Emulated failure.")
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::NoSuchUser => Self::user_not_found(),
            StoreError::NoSuchDevice => Self::device_not_found(),
            StoreError::Refused(reason) | StoreError::Limit(reason) => Self::bad_request(reason),
            StoreError::Failed(cause) | StoreError::InUse(cause) => {
                tracing::error!(%cause, "storage failed");
                crate::metrics::store_error("management");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_server_error",
                    "Internal error.",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "error": self.message }).to_string();
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}
