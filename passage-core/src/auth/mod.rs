//! Authenticating requests: find the token ([`token`]), validate it against the JWKS
//! ([`Auth::validate_jwt`]), and remember tokens already verified.

pub(crate) mod cache;
pub(crate) mod claims;
pub(crate) mod jwks;
mod response;
pub mod token;
pub(crate) mod validate;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{AuthError, PassageClaims, TokenSource};

pub use response::{is_grpc, rejection_response};

/// The outcome of [`Auth::check`]: decided at once, or needing the JWKS first.
#[derive(Debug)]
#[must_use]
pub enum Check {
    /// Decided without waiting (the usual case: keys held, or the token refused outright).
    Done(Result<PassageClaims, AuthError>),
    /// The token is signed by a key not held yet: finish with [`Auth::finish`], which may
    /// fetch the JWKS.
    NeedsKeys(String),
}

/// Token validation for one Passage app; reached through [`Passage::auth`](crate::Passage::auth).
#[derive(Debug)]
pub struct Auth {
    pub(crate) validator: validate::Validator,
    pub(crate) source: TokenSource,
}

impl Auth {
    /// Validates a Passage JWT and returns its claims.
    ///
    /// ```no_run
    /// # async fn run(passage: passage_core::Passage, token: &str) -> Result<(), passage_core::AuthError> {
    /// let claims = passage.auth().validate_jwt(token).await?;
    /// println!("signed in as {}", claims.user_id());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`AuthError::Malformed`], [`AuthError::Invalid`], or [`AuthError::KeysUnavailable`]
    /// when the JWKS cannot be fetched and no keys are cached.
    pub async fn validate_jwt(&self, token: &str) -> Result<PassageClaims, AuthError> {
        self.validator.validate(token::RawToken::text(token)).await
    }

    /// Validates a Passage JWT and returns just the user id (`sub`), like the other Passage SDKs.
    ///
    /// # Errors
    /// As [`validate_jwt`](Self::validate_jwt).
    pub async fn user_id(&self, token: &str) -> Result<String, AuthError> {
        Ok(self.validate_jwt(token).await?.user_id().to_owned())
    }

    /// Finds and validates the token of a request given its `Authorization` and `Cookie` header
    /// values, looking where the client's [`TokenSource`] says.
    ///
    /// ```no_run
    /// # async fn run(passage: passage_core::Passage) {
    /// let authorization: Option<&[u8]> = Some(b"Bearer eyJ...");
    /// let cookies: [&[u8]; 0] = [];
    /// match passage.auth().authenticate(authorization, cookies).await {
    ///     Ok(claims) => println!("user {}", claims.user_id()),
    ///     Err(err) => println!("{} {}", err.status(), err.code()),
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`AuthError::MissingToken`] when there is none, else as [`validate_jwt`](Self::validate_jwt).
    pub async fn authenticate<'a, A, C>(
        &self,
        authorization: A,
        cookies: C,
    ) -> Result<PassageClaims, AuthError>
    where
        A: IntoIterator<Item = &'a [u8]>,
        C: IntoIterator<Item = &'a [u8]>,
    {
        self.authenticate_from(self.source, authorization, cookies)
            .await
    }

    /// As [`authenticate`](Self::authenticate), but looking where `source` says.
    ///
    /// # Errors
    /// As [`authenticate`](Self::authenticate).
    pub async fn authenticate_from<'a, A, C>(
        &self,
        source: TokenSource,
        authorization: A,
        cookies: C,
    ) -> Result<PassageClaims, AuthError>
    where
        A: IntoIterator<Item = &'a [u8]>,
        C: IntoIterator<Item = &'a [u8]>,
    {
        let result =
            match token::locate_token(source, self.validator.max_len, authorization, cookies) {
                Ok(token) => self.validator.validate(token).await,
                Err(err) => Err(err),
            };
        log_outcome(result)
    }

    /// Decides a request without waiting when it can — always, unless the token's key must be
    /// fetched. Adapters use this to avoid allocating a future per request.
    ///
    /// ```no_run
    /// # async fn run(passage: passage_core::Passage) {
    /// use passage_core::{auth::Check, TokenSource};
    /// let authorization: Option<&[u8]> = Some(b"Bearer eyJ...");
    /// let cookies: [&[u8]; 0] = [];
    /// let result = match passage.auth().check(TokenSource::default(), authorization, cookies) {
    ///     Check::Done(result) => result,
    ///     Check::NeedsKeys(token) => passage.auth().finish(&token).await,
    /// };
    /// # }
    /// ```
    pub fn check<'a, A, C>(&self, source: TokenSource, authorization: A, cookies: C) -> Check
    where
        A: IntoIterator<Item = &'a [u8]>,
        C: IntoIterator<Item = &'a [u8]>,
    {
        let token =
            match token::locate_token(source, self.validator.max_len, authorization, cookies) {
                Ok(token) => token,
                Err(err) => return Check::Done(log_outcome(Err(err))),
            };
        match self.validator.validate_now(token) {
            validate::Now::Done(result) => Check::Done(log_outcome(result)),
            validate::Now::NeedsKeys(token) => Check::NeedsKeys(token.to_owned()),
        }
    }

    /// Finishes a [`Check::NeedsKeys`]: validates, fetching keys as needed, and logs the outcome.
    ///
    /// # Errors
    /// As [`validate_jwt`](Self::validate_jwt).
    pub async fn finish(&self, token: &str) -> Result<PassageClaims, AuthError> {
        log_outcome(self.validate_jwt(token).await)
    }

    /// Optional authentication: no token is `Ok(None)`; a present but bad token is still an error.
    ///
    /// # Errors
    /// As [`authenticate`](Self::authenticate), except [`AuthError::MissingToken`].
    pub async fn authenticate_optional<'a, A, C>(
        &self,
        authorization: A,
        cookies: C,
    ) -> Result<Option<PassageClaims>, AuthError>
    where
        A: IntoIterator<Item = &'a [u8]>,
        C: IntoIterator<Item = &'a [u8]>,
    {
        optional(
            self.authenticate_from(self.source, authorization, cookies)
                .await,
        )
    }

    /// [`authenticate_from`](Self::authenticate_from) over an `http` 1 header map.
    ///
    /// # Errors
    /// As [`authenticate`](Self::authenticate).
    pub async fn authenticate_headers(
        &self,
        source: TokenSource,
        headers: &http::HeaderMap,
    ) -> Result<PassageClaims, AuthError> {
        let (authorization, cookies) = credentials(headers);
        self.authenticate_from(source, authorization, cookies).await
    }

    /// [`check`](Self::check) over an `http` 1 header map.
    pub fn check_headers(&self, source: TokenSource, headers: &http::HeaderMap) -> Check {
        let (authorization, cookies) = credentials(headers);
        self.check(source, authorization, cookies)
    }

    /// Where this client looks for tokens by default.
    #[must_use]
    pub fn token_source(&self) -> TokenSource {
        self.source
    }

    /// The JWKS URL keys are fetched from.
    #[must_use]
    pub fn jwks_url(&self) -> &str {
        self.validator.keys.url()
    }

    /// Fetches the signing keys now if none are held yet (e.g. at start-up, to fail fast).
    ///
    /// # Errors
    /// [`AuthError::KeysUnavailable`] when the JWKS cannot be fetched.
    pub async fn warm_up(&self) -> Result<(), AuthError> {
        self.validator.keys.warm_up().await
    }

    /// The number of tokens in the verified-token cache (0 when it is off).
    #[must_use]
    pub fn cached_tokens(&self) -> u64 {
        self.validator
            .cache
            .as_ref()
            .map_or(0, cache::TokenCache::len)
    }
}

/// The `Authorization` and `Cookie` values of an `http` 1 header map, as the plain inputs the
/// token lookup takes.
fn credentials(
    headers: &http::HeaderMap,
) -> (
    impl Iterator<Item = &[u8]> + '_,
    impl Iterator<Item = &[u8]> + '_,
) {
    // Looked up on first use: with an Authorization header present, cookies are never read.
    let values = |name: http::HeaderName| {
        std::iter::once(headers)
            .flat_map(move |headers| headers.get_all(&name))
            .map(http::HeaderValue::as_bytes)
    };
    (
        values(http::header::AUTHORIZATION),
        values(http::header::COOKIE),
    )
}

/// Maps "no token" to `None`, for optional authentication.
///
/// # Errors
/// Every error but [`AuthError::MissingToken`].
pub fn optional(
    result: Result<PassageClaims, AuthError>,
) -> Result<Option<PassageClaims>, AuthError> {
    match result {
        Ok(claims) => Ok(Some(claims)),
        Err(AuthError::MissingToken) => Ok(None),
        Err(err) => Err(err),
    }
}

/// One place decides how rejections are logged: a debug event per request (a warning for 503),
/// with the cause and never the token.
fn log_outcome(result: Result<PassageClaims, AuthError>) -> Result<PassageClaims, AuthError> {
    if let Err(err) = &result {
        log_rejection(err);
    }
    result
}

fn log_rejection(err: &AuthError) {
    match err {
        AuthError::MissingToken => tracing::trace!("passage: no token in the request"),
        AuthError::KeysUnavailable { .. } => {
            tracing::warn!(code = err.code(), error = %crate::error::Report(err), "passage: cannot authenticate");
        }
        _ => {
            tracing::debug!(code = err.code(), error = %crate::error::Report(err), "passage: request not authenticated")
        }
    }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
