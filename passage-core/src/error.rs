//! Error types: [`AuthError`] (why a request was not authenticated), [`JwksError`] (why signing
//! keys could not be obtained) and [`ConfigError`] (why a client could not be built).

use std::{fmt, sync::Arc, time::Duration};

/// Why a request's Passage credentials were not accepted.
///
/// Clients see only [`code`](Self::code), [`status`](Self::status) and the challenge; the
/// `Display`/`source` chain (for logs) says exactly what was wrong. No variant ever carries the
/// token itself.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carried no Passage token where the configured [`TokenSource`](crate::TokenSource) looks.
    #[error("no Passage token in the request")]
    MissingToken,
    /// Credentials were present but could not be parsed (rejected before any cryptography).
    #[error("malformed credentials")]
    Malformed(#[source] Malformed),
    /// The token parsed but its signature or claims are not acceptable.
    #[error("invalid token")]
    Invalid(#[source] Invalid),
    /// No signing keys could be obtained from the JWKS endpoint, and none are cached.
    #[error("signing keys are unavailable")]
    KeysUnavailable {
        /// What went wrong the last time the keys were fetched.
        #[source]
        source: JwksError,
        /// How long until the next fetch will be attempted.
        retry_after: Duration,
    },
}

/// Why credentials could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The `Authorization` header holds bytes outside visible ASCII.
    #[error("the Authorization header is not visible ASCII")]
    HeaderEncoding,
    /// The `Authorization` scheme is not `Bearer`, or no token follows it.
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    /// The request carries more than one `Authorization` header.
    #[error("the request has more than one Authorization header")]
    MultipleAuthorizationHeaders,
    /// The request carries several `psg_auth_token` cookies with different values.
    #[error("the request has conflicting psg_auth_token cookies")]
    ConflictingCookies,
    /// The token is empty.
    #[error("the token is empty")]
    Empty,
    /// The token (or the header carrying it) is longer than the configured limit.
    #[error("the token is longer than the configured limit")]
    TooLong,
    /// The token holds characters outside base64url and `.`.
    #[error("the token holds characters outside base64url")]
    Characters,
    /// The token does not have exactly three segments.
    #[error("the token does not have three segments")]
    Segments,
    /// A segment is not valid unpadded base64url.
    #[error("a token segment is not valid base64url")]
    Base64,
    /// The JOSE header is not a JSON object of the expected shape.
    #[error("the token header is not a valid JSON object")]
    HeaderJson,
    /// The claims are not a JSON object.
    #[error("the token claims are not a valid JSON object")]
    ClaimsJson,
}

/// Why a well-formed token is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    /// The header's `alg` is not `RS256`.
    #[error("the algorithm is not RS256")]
    Algorithm,
    /// The header has no `kid`.
    #[error("the header has no kid")]
    MissingKeyId,
    /// No key in the JWKS has the header's `kid`.
    #[error("no signing key has this kid")]
    UnknownKeyId,
    /// The header has a `crit` parameter (no extensions are supported).
    #[error("the header has a crit parameter")]
    CriticalHeader,
    /// The header has a parameter that names or carries a key (`jku`, `jwk`, `x5u`, `x5c`) or
    /// changes how the token is read (`b64`, `enc`, `zip`); none is ever honoured.
    #[error("the header has a {0} parameter, which is not supported")]
    UnsupportedHeader(&'static str),
    /// The signature does not verify under the key named by `kid`.
    #[error("the signature does not verify")]
    Signature,
    /// The token has no `exp` claim.
    #[error("the token has no exp claim")]
    MissingExpiry,
    /// The token has expired.
    #[error("the token has expired")]
    Expired,
    /// The token's `nbf` is in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// A registered claim has the wrong JSON type (e.g. `exp` as a string).
    #[error("the {0} claim has the wrong type")]
    ClaimType(&'static str),
    /// `aud` does not contain this app's id (or another accepted audience).
    #[error("the audience does not contain this app id")]
    Audience,
    /// `sub` is missing or empty.
    #[error("the token has no subject")]
    MissingSubject,
}

impl AuthError {
    /// The HTTP status a server should answer with: 401, or 503 when keys are unavailable.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::KeysUnavailable { .. } => 503,
            _ => 401,
        }
    }

    /// [`status`](Self::status) as an `http` 1 status code.
    #[must_use]
    pub fn status_code(&self) -> http::StatusCode {
        match self {
            Self::KeysUnavailable { .. } => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::UNAUTHORIZED,
        }
    }

    /// A stable, machine-readable code for clients: `missing_token`, `malformed_token`,
    /// `invalid_token` or `keys_unavailable`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::Malformed(_) => "malformed_token",
            Self::Invalid(_) => "invalid_token",
            Self::KeysUnavailable { .. } => "keys_unavailable",
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750) for a 401, `None` for a 503.
    ///
    /// `error="invalid_token"` is added only when a token was presented.
    #[must_use]
    pub fn www_authenticate(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken => Some(r#"Bearer realm="passage""#),
            Self::Malformed(_) | Self::Invalid(_) => {
                Some(r#"Bearer realm="passage", error="invalid_token""#)
            }
            Self::KeysUnavailable { .. } => None,
        }
    }

    /// Seconds for a `Retry-After` header on a 503, `None` otherwise (at least 1).
    #[must_use]
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::KeysUnavailable { retry_after, .. } => {
                Some(retry_after.as_secs_f64().ceil().max(1.0) as u64)
            }
            _ => None,
        }
    }

    /// The small JSON body for clients: `{"code": …, "message": …}`, with no internal detail.
    #[must_use]
    pub fn body(&self) -> &'static str {
        match self {
            Self::MissingToken => {
                r#"{"code":"missing_token","message":"Authentication is required."}"#
            }
            Self::Malformed(_) => {
                r#"{"code":"malformed_token","message":"The access token is malformed."}"#
            }
            Self::Invalid(_) => {
                r#"{"code":"invalid_token","message":"The access token is invalid or expired."}"#
            }
            Self::KeysUnavailable { .. } => {
                r#"{"code":"keys_unavailable","message":"Authentication is temporarily unavailable."}"#
            }
        }
    }

    /// True when no token was presented (optional authentication then yields "anonymous").
    #[must_use]
    pub fn is_missing_token(&self) -> bool {
        matches!(self, Self::MissingToken)
    }

    /// True when signing keys could not be obtained (a 503, not the client's fault).
    #[must_use]
    pub fn is_keys_unavailable(&self) -> bool {
        matches!(self, Self::KeysUnavailable { .. })
    }
}

/// Why the JWKS could not be fetched or used.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The fetch did not complete within the configured timeout.
    #[error("fetching the JWKS timed out")]
    Timeout,
    /// The JWKS host could not be reached, or the connection failed.
    #[error("could not fetch the JWKS")]
    Transport(#[source] Arc<reqwest::Error>),
    /// The JWKS host answered with a non-success status.
    #[error("the JWKS endpoint answered HTTP {0}")]
    Status(u16),
    /// The JWKS document exceeded the size limit.
    #[error("the JWKS document is larger than {0} bytes")]
    TooLarge(usize),
    /// The JWKS document is not a JSON object with a `keys` array.
    #[error("the JWKS document is not valid")]
    Parse(#[source] Arc<serde_json::Error>),
    /// No fetch has completed yet.
    #[error("the signing keys have not been loaded yet")]
    NotLoaded,
}

impl JwksError {
    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else {
            Self::Transport(Arc::new(err))
        }
    }
}

/// Why a [`Passage`](crate::Passage) client could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The app id is empty or holds characters that cannot appear in a URL path segment.
    #[error("the Passage app id must be non-empty ASCII letters, digits, '-' or '_'")]
    InvalidAppId,
    /// The API key is empty.
    #[error("the Passage API key is empty")]
    EmptyApiKey,
    /// A host is not an absolute `http(s)` URL.
    #[error("{name} is not an absolute http(s) URL: {reason}")]
    InvalidUrl {
        /// Which setting (e.g. `auth_url`).
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A required environment variable is not set.
    #[error("the environment variable {0} is not set")]
    MissingEnv(&'static str),
    /// An environment variable is not valid Unicode.
    #[error("the environment variable {0} is not valid Unicode")]
    InvalidEnv(&'static str),
    /// A numeric or duration setting is out of range.
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built")]
    HttpClient(#[source] Arc<reqwest::Error>),
}

/// Displays an error and its whole `source` chain on one line, for logs.
#[derive(Debug)]
pub struct Report<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

/// Why a Management API call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
    Api(#[from] ApiError),
    /// The request timed out.
    #[error("the request to Passage timed out")]
    Timeout,
    /// Passage could not be reached.
    #[error("could not reach Passage")]
    Transport(#[source] Arc<reqwest::Error>),
    /// A success response did not have the documented shape.
    #[error("unexpected response from Passage")]
    Decode(#[source] Arc<serde_json::Error>),
    /// The response body was larger than the limit (in bytes).
    #[error("the response from Passage is larger than {0} bytes")]
    ResponseTooLarge(usize),
}

impl Error {
    /// The HTTP status Passage answered with, for [`Error::Api`].
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(api) => Some(api.status),
            _ => None,
        }
    }

    /// The Passage error code, for [`Error::Api`].
    #[must_use]
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Api(api) => Some(&api.code),
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

    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else {
            Self::Transport(Arc::new(err))
        }
    }
}

/// An error answer from Passage: status, code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Passage answered {status} {code}: {message}")]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Passage's error code.
    pub code: ErrorCode,
    /// Passage's message.
    pub message: String,
}

impl ApiError {
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
