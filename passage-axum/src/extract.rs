//! [`PassageUser`] and its rejection.

use std::ops::Deref;

use axum::{
    body::Body,
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use passage_core::{
    AuthError, Passage, PassageClaims,
    adapter::{Anonymous, Decision, Layered, NotConfigured, rejection_response, required},
};

/// The authenticated Passage user of a request.
///
/// It works with any router state (`Router<AppState>`, `.with_state(AppState)`): it reads the
/// request, never the state.
///
/// - Behind a [`PassageLayer`](crate::PassageLayer), the layer's verdict is final: the claims it
///   verified, or "anonymous" (then `PassageUser` is a 401 and `Option<PassageUser>` is `None`),
///   never a second look with another token source.
/// - Without a layer, it validates the request itself with the [`Passage`] client in the
///   request's extensions — `.layer(Extension(passage))` — and that client's token source.
/// - With both, the layer's verdict is trusted only when it comes from a client of the same app
///   and auth host as the extension's; otherwise the extractor decides itself.
/// - With neither, it answers 500 `passage_not_configured` and logs how to fix it (a mistake in
///   the app's setup, not the caller's).
#[derive(Debug, Clone)]
pub struct PassageUser(PassageClaims);

impl PassageUser {
    /// Every verified claim (also reachable through `Deref`: `user.user_id()`).
    #[must_use]
    pub fn claims(&self) -> &PassageClaims {
        &self.0
    }

    /// The claims, owned.
    #[must_use]
    pub fn into_claims(self) -> PassageClaims {
        self.0
    }
}

impl Deref for PassageUser {
    type Target = PassageClaims;

    fn deref(&self) -> &PassageClaims {
        &self.0
    }
}

/// Why [`PassageUser`] could not be extracted; answers like the layer does.
#[derive(Debug)]
#[non_exhaustive]
pub enum PassageRejection {
    /// The credentials were refused (401) or signing keys were unavailable (503).
    Auth(AuthError),
    /// Neither a [`PassageLayer`](crate::PassageLayer) ran nor a [`Passage`] client was in the
    /// request's extensions: 500 `passage_not_configured`.
    NotConfigured(NotConfigured),
}

impl PassageRejection {
    /// The authentication error, if that is what this is (for logs; clients only see the code).
    #[must_use]
    pub fn auth_error(&self) -> Option<&AuthError> {
        match self {
            Self::Auth(err) => Some(err),
            Self::NotConfigured(_) => None,
        }
    }

    /// 401, 503 when signing keys are unavailable, or 500 when Passage is not configured.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Auth(err) => err.status(),
            Self::NotConfigured(not_configured) => not_configured.status(),
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

impl std::fmt::Display for PassageRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auth(err) => err.fmt(f),
            Self::NotConfigured(not_configured) => not_configured.fmt(f),
        }
    }
}

impl std::error::Error for PassageRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Auth(err) => Some(err),
            Self::NotConfigured(not_configured) => Some(not_configured),
        }
    }
}

impl IntoResponse for PassageRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Auth(err) => rejection_response::<Body>(&err, false),
            Self::NotConfigured(not_configured) => not_configured.response::<Body>(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PassageUser {
    type Rejection = PassageRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let claims = decide(parts, false).await?;
        required(Ok(claims))
            .map(Self)
            .map_err(PassageRejection::Auth)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for PassageUser {
    type Rejection = PassageRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(decide(parts, true).await?.map(Self))
    }
}

/// The layer's verdict, or the extractor's own decision with the client in the request's
/// extensions; awaits only to fetch keys.
async fn decide(parts: &Parts, optional: bool) -> Result<Option<PassageClaims>, PassageRejection> {
    let layered = Layered {
        claims: parts.extensions.get::<PassageClaims>(),
        anonymous: parts.extensions.get::<Anonymous>(),
    };
    let client = parts.extensions.get::<Passage>().map(Passage::auth);
    let verdict = match layered.decide_headers(client, optional, &parts.headers) {
        Ok(Decision::Ready(verdict)) => verdict,
        // Boxed: fetching keys is rare, and its future is large; inline, it would make every
        // handler's future (moved on every request) that much larger.
        Ok(Decision::Pending(pending)) => Box::pin(pending.resolve()).await,
        Err(not_configured) => {
            tracing::error!(
                path = parts.uri.path(),
                "passage: PassageUser found neither a PassageLayer's verdict nor a Passage client \
                 in the request: add `.layer(PassageLayer::new(passage))` (or \
                 `.layer(Extension(passage))`) to the router, after the routes it protects; the \
                 router's state is not read"
            );
            return Err(PassageRejection::NotConfigured(not_configured));
        }
    };
    verdict.map_err(PassageRejection::Auth)
}
