//! The Management API error family: [`ApiError`] (why a call failed), [`ErrorResponse`] (an
//! error answer from Passage) and [`ErrorCode`] (Passage's codes).

use std::{fmt, sync::Arc};

use crate::net::Failure;

/// Why a Management API call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The client has no API key; calls other than `app().get()` need one.
    #[error("no Passage API key is configured (set PASSAGE_API_KEY or PassageBuilder::api_key)")]
    MissingApiKey,
    /// An argument was refused before any request was sent.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Passage answered with an error.
    #[error(transparent)]
    Response(#[from] ErrorResponse),
    /// The request timed out.
    #[error("the request to Passage timed out")]
    Timeout,
    /// Passage could not be reached.
    #[error("could not reach Passage")]
    Transport(#[source] Arc<reqwest::Error>),
    /// A success response did not have the documented shape.
    #[error("unexpected response from Passage")]
    Decode(#[source] Arc<serde_json::Error>),
    /// A request body could not be encoded as JSON.
    #[error("the request body could not be encoded")]
    Encode(#[source] Arc<serde_json::Error>),
    /// The response body was larger than the limit (in bytes).
    #[error("the response from Passage is larger than {0} bytes")]
    ResponseTooLarge(usize),
}

impl ApiError {
    /// The HTTP status Passage answered with, for [`ApiError::Response`].
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Response(answer) => Some(answer.status),
            _ => None,
        }
    }

    /// The Passage error code, for [`ApiError::Response`].
    #[must_use]
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Response(answer) => Some(&answer.code),
            _ => None,
        }
    }

    /// A 404 (user, device or app not found).
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// A 401: the API key is wrong.
    #[must_use]
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// A 403: the operation is not allowed.
    #[must_use]
    pub fn is_forbidden(&self) -> bool {
        self.status() == Some(403)
    }

    /// A 400, or an argument refused before sending.
    #[must_use]
    pub fn is_bad_request(&self) -> bool {
        self.status() == Some(400) || matches!(self, Self::InvalidArgument { .. })
    }

    /// A timeout or a transport failure.
    #[must_use]
    pub fn is_transport(&self) -> bool {
        matches!(self, Self::Timeout | Self::Transport(_))
    }
}

impl From<reqwest::Error> for ApiError {
    fn from(err: reqwest::Error) -> Self {
        match Failure::from(err) {
            Failure::Timeout => Self::Timeout,
            Failure::Other(err) => Self::Transport(err),
        }
    }
}

/// An error answer from Passage: status, code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Passage answered {status} {code}: {message}")]
#[non_exhaustive]
pub struct ErrorResponse {
    /// HTTP status.
    pub status: u16,
    /// Passage's error code.
    pub code: ErrorCode,
    /// Passage's message.
    pub message: String,
}

impl ErrorResponse {
    pub(crate) fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

/// Passage's error codes; codes this SDK does not know are kept in [`ErrorCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // the codes are Passage's, named as on the wire
pub enum ErrorCode {
    InvalidRequest,
    CustomProviderRequired,
    InvalidAccessToken,
    InvalidNonce,
    OperationNotAllowed,
    CannotCreateTransaction,
    CannotDeleteAdmin,
    UserNotFound,
    DeviceNotFound,
    AppNotFound,
    ApiKeyNotFound,
    InternalServerError,
    /// Any other code, as sent.
    Other(String),
}

impl ErrorCode {
    /// Parses a wire code.
    #[must_use]
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "custom_provider_required" => Self::CustomProviderRequired,
            "invalid_access_token" => Self::InvalidAccessToken,
            "invalid_nonce" => Self::InvalidNonce,
            "operation_not_allowed" => Self::OperationNotAllowed,
            "cannot_create_transaction" => Self::CannotCreateTransaction,
            "cannot_delete_admin" => Self::CannotDeleteAdmin,
            "user_not_found" => Self::UserNotFound,
            "device_not_found" => Self::DeviceNotFound,
            "app_not_found" => Self::AppNotFound,
            "api_key_not_found" => Self::ApiKeyNotFound,
            "internal_server_error" => Self::InternalServerError,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::CustomProviderRequired => "custom_provider_required",
            Self::InvalidAccessToken => "invalid_access_token",
            Self::InvalidNonce => "invalid_nonce",
            Self::OperationNotAllowed => "operation_not_allowed",
            Self::CannotCreateTransaction => "cannot_create_transaction",
            Self::CannotDeleteAdmin => "cannot_delete_admin",
            Self::UserNotFound => "user_not_found",
            Self::DeviceNotFound => "device_not_found",
            Self::AppNotFound => "app_not_found",
            Self::ApiKeyNotFound => "api_key_not_found",
            Self::InternalServerError => "internal_server_error",
            Self::Other(code) => code,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
