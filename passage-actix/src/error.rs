//! [`PassageError`]: the core's verdict as an actix response.

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header::HeaderValue},
};
use passage_core::{
    AuthError,
    adapter::{NotConfigured, rejection_response},
};

/// Why a request was not authenticated.
#[derive(Debug)]
#[non_exhaustive]
pub enum PassageError {
    /// The credentials were refused (401) or keys were unavailable (503).
    Auth(AuthError),
    /// No [`Passage`](passage_core::Passage) client was registered and no [`PassageAuth`](crate::PassageAuth)
    /// decided the request: 500 `passage_not_configured`, and a logged hint.
    NotConfigured(NotConfigured),
}

impl PassageError {
    /// The authentication error, if that is what this is.
    #[must_use]
    pub fn auth_error(&self) -> Option<&AuthError> {
        match self {
            Self::Auth(err) => Some(err),
            Self::NotConfigured(_) => None,
        }
    }

    /// The stable code of the answer's body: `missing_token`, `invalid_token`, … or
    /// `passage_not_configured`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth(err) => err.code(),
            Self::NotConfigured(not_configured) => not_configured.code(),
        }
    }
}

impl std::fmt::Display for PassageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auth(err) => write!(f, "{}", passage_core::Report(err)),
            Self::NotConfigured(not_configured) => not_configured.fmt(f),
        }
    }
}

impl std::error::Error for PassageError {}

impl ResponseError for PassageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Auth(err) => {
                StatusCode::from_u16(err.status().as_u16()).unwrap_or(StatusCode::UNAUTHORIZED)
            }
            Self::NotConfigured(not_configured) => {
                StatusCode::from_u16(not_configured.status().as_u16())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        // The core builds the answer once (http 1 types); copy it into actix's (http 0.2) types.
        let core = match self {
            Self::Auth(err) => rejection_response::<&'static str>(err, false),
            Self::NotConfigured(not_configured) => not_configured.response::<&'static str>(),
        };
        let mut response = HttpResponse::build(self.status_code());
        for (name, value) in core.headers() {
            if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
                response.insert_header((name.as_str(), value));
            }
        }
        response.body(*core.body())
    }
}
