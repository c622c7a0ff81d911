//! [`PassageUser`] and its rejection.

use std::ops::Deref;

use axum::{
    body::Body,
    extract::{FromRef, FromRequestParts, OptionalFromRequestParts},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use passage_core::{
    AuthError, Passage, PassageClaims,
    adapter::{Anonymous, Decision, Hooks as _, Layered, rejection_response, required},
};

/// The authenticated Passage user of a request.
///
/// Behind a [`PassageLayer`](crate::PassageLayer) of the same app, the layer's verdict is final:
/// the claims it verified, or "anonymous" (then `PassageUser` is a 401 and
/// `Option<PassageUser>` is `None`), never a second look with another token source. Without
/// one, the extractor validates the request itself with the [`Passage`] client from the router
/// state (`Passage: FromRef<S>`) and its token source.
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
pub struct PassageRejection(AuthError);

impl PassageRejection {
    /// What went wrong (for logs; clients only see the code).
    #[must_use]
    pub fn error(&self) -> &AuthError {
        &self.0
    }

    /// 401, or 503 when signing keys are unavailable.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.0.status()
    }
}

impl std::fmt::Display for PassageRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for PassageRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl IntoResponse for PassageRejection {
    fn into_response(self) -> Response {
        rejection_response::<Body>(&self.0, false)
    }
}

impl<S> FromRequestParts<S> for PassageUser
where
    Passage: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = PassageRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        required(decide(parts, state, false).await)
            .map(Self)
            .map_err(PassageRejection)
    }
}

impl<S> OptionalFromRequestParts<S> for PassageUser
where
    Passage: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = PassageRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        decide(parts, state, true)
            .await
            .map(|claims| claims.map(Self))
            .map_err(PassageRejection)
    }
}

/// The layer's verdict, or the extractor's own decision; awaits only to fetch keys.
async fn decide<S>(
    parts: &Parts,
    state: &S,
    optional: bool,
) -> Result<Option<PassageClaims>, AuthError>
where
    Passage: FromRef<S>,
{
    let passage = Passage::from_ref(state);
    let layered = Layered {
        claims: parts.extensions.get::<PassageClaims>(),
        anonymous: parts.extensions.get::<Anonymous>(),
    };
    match passage
        .auth()
        .extract_headers(optional, layered, &parts.headers)
    {
        Decision::Ready(verdict) => verdict,
        // Boxed: fetching keys is rare, and its future is large; inline, it would make every
        // handler's future (moved on every request) that much larger.
        Decision::Pending(pending) => Box::pin(pending.resolve()).await,
    }
}
