//! How a refused request is answered — the one place: the status, the stable code, the RFC 6750
//! challenge, `Retry-After`, the small JSON body, and the whole response for every http-1
//! adapter (or, for gRPC, a trailers-only status).

use http::{HeaderValue, Response, StatusCode, header};

use crate::AuthError;

/// The code and the message of each kind of refusal; `code()` and `body()` both come from here.
macro_rules! answers {
    ($($kind:pat => $code:literal, $message:literal;)+) => {
        impl AuthError {
            /// A stable, machine-readable code for clients: `missing_token`, `malformed_token`,
            /// `invalid_token`, `keys_unavailable` or `revocations_unavailable`.
            #[must_use]
            pub fn code(&self) -> &'static str {
                match self {
                    $($kind => $code,)+
                }
            }

            /// The small JSON body for clients: `{"code": …, "message": …}`, with no internal
            /// detail.
            #[must_use]
            pub fn body(&self) -> &'static str {
                match self {
                    $($kind => concat!(r#"{"code":""#, $code, r#"","message":""#, $message, r#""}"#),)+
                }
            }
        }
    };
}

answers! {
    AuthError::MissingToken => "missing_token", "Authentication is required.";
    AuthError::Malformed(_) => "malformed_token", "The access token is malformed.";
    AuthError::Invalid(_) => "invalid_token", "The access token is invalid or expired.";
    AuthError::KeysUnavailable { .. } => "keys_unavailable", "Authentication is temporarily unavailable.";
    AuthError::RevocationsUnavailable => "revocations_unavailable", "Authentication is temporarily unavailable.";
}

impl AuthError {
    /// The HTTP status a server should answer with: 401, or 503 when keys (or fail-closed
    /// revocations) are unavailable.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::KeysUnavailable { .. } | Self::RevocationsUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::UNAUTHORIZED,
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
            Self::KeysUnavailable { .. } | Self::RevocationsUnavailable => None,
        }
    }

    /// Seconds for a `Retry-After` header on a 503, `None` otherwise (at least 1).
    #[must_use]
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::KeysUnavailable { retry_after, .. } => {
                Some(retry_after.as_secs_f64().ceil().max(1.0) as u64)
            }
            Self::RevocationsUnavailable => Some(1),
            _ => None,
        }
    }
}

/// An extractor found neither a layer's verdict nor a client of its own, so nothing could decide
/// the request: a mistake in the app's setup (no layer in front of the route, and no client
/// registered where the framework's extractor looks), not the client's fault. Answered 500 with
/// the stable code `passage_not_configured`; the adapter logs how to fix it.
///
/// ```
/// use passage_core::adapter::Layered;
///
/// let not_configured = Layered::default().decide(None, false, [], []).unwrap_err();
/// let response = not_configured.response::<String>();
/// assert_eq!(response.status(), 500);
/// assert_eq!(
///     response.body(),
///     r#"{"code":"passage_not_configured","message":"Authentication is not configured on this server."}"#
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "no Passage client for this request: no Passage layer ran in front of it and none was registered for its extractor"
)]
pub struct NotConfigured;

impl NotConfigured {
    /// The stable code: `passage_not_configured`.
    #[must_use]
    pub fn code(self) -> &'static str {
        "passage_not_configured"
    }

    /// 500: the server, not the request, is at fault.
    #[must_use]
    pub fn status(self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// The small JSON body: `{"code": "passage_not_configured", "message": …}`.
    #[must_use]
    pub fn body(self) -> &'static str {
        r#"{"code":"passage_not_configured","message":"Authentication is not configured on this server."}"#
    }

    /// The whole answer: 500, JSON, `Cache-Control: no-store`.
    pub fn response<B: From<&'static str>>(self) -> Response<B> {
        let mut response = Response::new(B::from(self.body()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// True when the request's `Content-Type` is gRPC (`application/grpc`, `application/grpc+proto`, …).
#[must_use]
pub fn is_grpc(content_type: Option<&[u8]>) -> bool {
    content_type.is_some_and(|ct| {
        ct.len() >= 16
            && ct[..16].eq_ignore_ascii_case(b"application/grpc")
            && matches!(ct.get(16), None | Some(b'+' | b';'))
    })
}

/// The response for `error`: 401 with `WWW-Authenticate` or 503 with `Retry-After`, and the JSON
/// body of [`AuthError::body`]; for gRPC requests, HTTP 200 with `grpc-status` 16
/// (UNAUTHENTICATED) or 14 (UNAVAILABLE) and an empty body.
///
/// ```
/// use passage_core::{AuthError, adapter::rejection_response};
///
/// let response = rejection_response::<String>(&AuthError::MissingToken, false);
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="passage""#);
/// assert!(response.body().contains("missing_token"));
/// ```
pub fn rejection_response<B: From<&'static str>>(error: &AuthError, grpc: bool) -> Response<B> {
    if grpc {
        let mut response = Response::new(B::from(""));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        let status = if error.is_keys_unavailable() {
            "14"
        } else {
            "16"
        };
        headers.insert("grpc-status", HeaderValue::from_static(status));
        headers.insert("grpc-message", HeaderValue::from_static(error.code()));
        return response;
    }
    let mut response = Response::new(B::from(error.body()));
    *response.status_mut() = error.status();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(challenge) = error.www_authenticate() {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    if let Some(secs) = error.retry_after_secs() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Invalid, JwksError};

    #[test]
    fn grpc_is_detected_by_content_type() {
        assert!(is_grpc(Some(b"application/grpc")));
        assert!(is_grpc(Some(b"application/grpc+proto")));
        assert!(is_grpc(Some(b"Application/GRPC; charset=x")));
        assert!(!is_grpc(Some(b"application/grpc-web-text")));
        assert!(!is_grpc(Some(b"application/json")));
        assert!(!is_grpc(None));
    }

    #[test]
    fn responses_follow_rfc_6750() {
        let invalid = rejection_response::<String>(&AuthError::Invalid(Invalid::Expired), false);
        assert_eq!(invalid.status(), 401);
        assert_eq!(
            invalid.headers()["www-authenticate"],
            r#"Bearer realm="passage", error="invalid_token""#
        );
        let other = rejection_response::<String>(&AuthError::Invalid(Invalid::Signature), false);
        assert_eq!(
            invalid.body(),
            other.body(),
            "the body never says which rule failed"
        );

        let down = AuthError::KeysUnavailable {
            source: JwksError::Timeout,
            retry_after: Duration::from_millis(1500),
        };
        let unavailable = rejection_response::<String>(&down, false);
        assert_eq!(unavailable.status(), 503);
        assert_eq!(unavailable.headers()["retry-after"], "2");
        assert!(unavailable.headers().get("www-authenticate").is_none());

        let grpc = rejection_response::<String>(&down, true);
        assert_eq!(grpc.status(), 200);
        assert_eq!(grpc.headers()["grpc-status"], "14");
        let grpc = rejection_response::<String>(&AuthError::MissingToken, true);
        assert_eq!(&grpc.headers()["grpc-status"], "16");
    }
}
