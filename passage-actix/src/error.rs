//! [`PassageError`]: the core's verdict as an actix response.

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header::HeaderValue},
};
use passage_core::{AuthError, adapter::rejection_response};

/// Why a request was not authenticated.
#[derive(Debug)]
#[non_exhaustive]
pub enum PassageError {
    /// The credentials were refused (401) or keys were unavailable (503).
    Auth(AuthError),
    /// No [`Passage`](passage_core::Passage) client was registered: a 500, and a logged hint.
    NotConfigured,
}

impl PassageError {
    /// The authentication error, if that is what this is.
    #[must_use]
    pub fn auth_error(&self) -> Option<&AuthError> {
        match self {
            Self::Auth(err) => Some(err),
            Self::NotConfigured => None,
        }
    }
}

impl std::fmt::Display for PassageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auth(err) => write!(f, "{}", passage_core::Report(err)),
            Self::NotConfigured => f.write_str("no Passage client in app data"),
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
            Self::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let Self::Auth(err) = self else {
            return HttpResponse::InternalServerError()
                .content_type("application/json")
                .body(r#"{"code":"passage_not_configured","message":"Authentication is not configured on this server."}"#);
        };
        // The core builds the answer once (http 1 types); copy it into actix's (http 0.2) types.
        let core = rejection_response::<&'static str>(err, false);
        let mut response = HttpResponse::build(self.status_code());
        for (name, value) in core.headers() {
            if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
                response.insert_header((name.as_str(), value));
            }
        }
        response.body(*core.body())
    }
}
