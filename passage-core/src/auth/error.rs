//! The auth error family: [`AuthError`] (why a request was not authenticated), with its
//! reasons [`Malformed`] and [`Invalid`], and [`JwksError`] (why signing keys could not be
//! obtained). How each becomes an HTTP answer is in `response.rs`, and only there.

use std::{sync::Arc, time::Duration};

use crate::net::Failure;

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
    /// Fail-closed revocations are out of sync with their shared backend (e.g. Redis is
    /// unreachable), so a revoked token could be missed: every token is refused for now.
    #[error("session revocations are out of sync (fail-closed)")]
    RevocationsUnavailable,
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
    /// The user's sessions were revoked after this token was issued (or it has no `iat`).
    #[error("the user's sessions were revoked after this token was issued")]
    Revoked,
}

impl AuthError {
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

impl From<reqwest::Error> for JwksError {
    fn from(err: reqwest::Error) -> Self {
        match Failure::from(err) {
            Failure::Timeout => Self::Timeout,
            Failure::Other(err) => Self::Transport(err),
        }
    }
}
