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
    auth::{Check, rejection_response},
    optional,
};

/// The authenticated Passage user of a request.
///
/// Uses the claims a [`PassageLayer`](crate::PassageLayer) put into the request extensions;
/// without the layer, validates the request itself with the [`Passage`] client from the router
/// state (`Passage: FromRef<S>`).
#[derive(Debug, Clone)]
pub struct PassageUser(PassageClaims);

impl PassageUser {
    /// The Passage user id (`sub`).
    #[must_use]
    pub fn id(&self) -> &str {
        self.0.user_id()
    }

    /// Every verified claim.
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
        self.0.status_code()
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
        if let Some(claims) = parts.extensions.get::<PassageClaims>() {
            return Ok(Self(claims.clone()));
        }
        authenticate(parts, state)
            .await
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
        if let Some(claims) = parts.extensions.get::<PassageClaims>() {
            return Ok(Some(Self(claims.clone())));
        }
        optional(authenticate(parts, state).await)
            .map(|claims| claims.map(Self))
            .map_err(PassageRejection)
    }
}

async fn authenticate<S>(parts: &Parts, state: &S) -> Result<PassageClaims, AuthError>
where
    Passage: FromRef<S>,
{
    let passage = Passage::from_ref(state);
    let auth = passage.auth();
    // Decided at once unless the token's key must be fetched first.
    match auth.check_headers(auth.token_source(), &parts.headers) {
        Check::Done(result) => result,
        Check::NeedsKeys(token) => auth.finish(&token).await,
    }
}
