//! Authenticating requests: find the token ([`token`]), validate it against the JWKS
//! ([`Auth::validate_jwt`]), and remember tokens already verified.

pub(crate) mod admission;
pub(crate) mod cache;
pub(crate) mod claims;
pub(crate) mod clock;
pub(crate) mod error;
pub(crate) mod jwks;
pub(crate) mod response;
pub(crate) mod revocation;
pub(crate) mod token;
pub(crate) mod validate;

use std::{fmt, sync::Arc, time::Duration};

use crate::{AuthError, PassageClaims, TokenSource};

pub use self::revocation::{
    DEFAULT_REVOCATION_RETENTION, Revocation, RevocationList, SharedRevocations, WeakRevocationList,
};
use self::{
    cache::TokenCache,
    claims::Authority,
    clock::WallClock,
    jwks::{JwksConfig, KeyStore},
    validate::Validator,
};

/// How a client validates tokens; the [`PassageBuilder`](crate::PassageBuilder) setters fill it
/// and document each default.
#[derive(Debug, Clone)]
pub(crate) struct AuthConfig {
    pub(crate) jwks: JwksConfig,
    pub(crate) token_cache_capacity: u64,
    pub(crate) leeway: Duration,
    pub(crate) max_token_len: usize,
    pub(crate) source: TokenSource,
    pub(crate) clock: WallClock,
    /// Accepted `aud` values; `None`: the app id alone.
    pub(crate) audiences: Option<Vec<String>>,
    pub(crate) revocation_retention: Duration,
    pub(crate) revocations_fail_closed: bool,
    pub(crate) shared_revocations: Option<Arc<dyn revocation::SharedRevocations>>,
    /// Record a revocation when this client deactivates or deletes a user or revokes their
    /// refresh tokens.
    pub(crate) revoke_on_user_changes: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwks: JwksConfig::default(),
            token_cache_capacity: 10_000,
            leeway: Duration::ZERO,
            max_token_len: token::DEFAULT_MAX_TOKEN_LEN,
            source: TokenSource::default(),
            clock: WallClock::default(),
            audiences: None,
            revocation_retention: revocation::DEFAULT_REVOCATION_RETENTION,
            revocations_fail_closed: false,
            shared_revocations: None,
            revoke_on_user_changes: true,
        }
    }
}

/// Token validation for one Passage app; reached through [`Passage::auth`](crate::Passage::auth).
/// Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Auth {
    inner: Arc<AuthInner>,
}

struct AuthInner {
    validator: Validator,
    source: TokenSource,
    revoke_on_user_changes: bool,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("app_id", &self.inner.validator.app_id)
            .field("keys", &self.inner.validator.keys)
            .field("cache", &self.inner.validator.cache)
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Validation for `app_id` against the JWKS at `jwks_url`, fetched with `http`.
    pub(crate) fn new(
        app_id: Arc<str>,
        jwks_url: String,
        http: reqwest::Client,
        config: AuthConfig,
    ) -> Self {
        let authority = Authority::new(&jwks_url);
        let keys = Arc::new(KeyStore::new(
            jwks_url,
            http,
            config.jwks,
            config.clock.clone(),
        ));
        let cache =
            (config.token_cache_capacity > 0).then(|| TokenCache::new(config.token_cache_capacity));
        let audiences = config
            .audiences
            .unwrap_or_else(|| vec![app_id.to_string()])
            .into();
        let revocations = RevocationList::new(
            config.revocation_retention,
            config.revocations_fail_closed,
            config.clock.clone(),
        );
        if let Some(shared) = config.shared_revocations {
            revocations.share(shared);
        }
        Self {
            inner: Arc::new(AuthInner {
                validator: Validator {
                    app_id,
                    audiences,
                    authority,
                    keys,
                    cache,
                    leeway: config.leeway.as_secs(),
                    max_len: config.max_token_len,
                    clock: config.clock,
                    revocations,
                    metrics: std::sync::OnceLock::new(),
                },
                source: config.source,
                revoke_on_user_changes: config.revoke_on_user_changes,
            }),
        }
    }

    fn validator(&self) -> &Validator {
        &self.inner.validator
    }

    /// Validates without waiting: a token whose key is not held is refused as unknown.
    pub(crate) fn validate_offline(&self, token: &str) -> Result<PassageClaims, AuthError> {
        match self.validator().validate_now(token::RawToken::text(token)) {
            validate::Now::Done(result) => result,
            validate::Now::NeedsKeys(_) => Err(AuthError::Invalid(crate::Invalid::UnknownKeyId)),
        }
    }

    pub(crate) fn preload_keys(&self, document: &[u8]) -> Result<(), error::JwksError> {
        self.validator().keys.preload(document)
    }

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
        self.validator()
            .validate(token::RawToken::text(token))
            .await
    }

    /// Finds and validates the token of a request, looking where the client's
    /// [`TokenSource`] says (by default the `Authorization: Bearer` header, then the
    /// `psg_auth_token` cookie).
    ///
    /// ```no_run
    /// # async fn run(passage: passage_core::Passage, headers: http::HeaderMap) {
    /// match passage.auth().authenticate(&headers).await {
    ///     Ok(claims) => println!("user {}", claims.user_id()),
    ///     Err(refused) => println!("{} {}", refused.status(), refused.code()),
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`AuthError::MissingToken`] when there is none, else as [`validate_jwt`](Self::validate_jwt).
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<PassageClaims, AuthError> {
        admission::required(self.decide(false, headers).await)
    }

    /// As [`authenticate`](Self::authenticate), but a request without any token is `Ok(None)`;
    /// a present but bad token is still an error.
    ///
    /// # Errors
    /// As [`authenticate`](Self::authenticate), except [`AuthError::MissingToken`].
    pub async fn authenticate_optional(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<Option<PassageClaims>, AuthError> {
        self.decide(true, headers).await
    }

    async fn decide(
        &self,
        optional: bool,
        headers: &http::HeaderMap,
    ) -> Result<Option<PassageClaims>, AuthError> {
        let admission = if optional {
            admission::Admission::optional(self.token_source())
        } else {
            admission::Admission::required(self.token_source())
        };
        match admission::Hooks::admit_headers(self, admission, headers) {
            admission::Decision::Ready(verdict) => verdict,
            admission::Decision::Pending(pending) => pending.resolve().await,
        }
    }

    /// Where this client looks for tokens by default.
    #[must_use]
    pub fn token_source(&self) -> TokenSource {
        self.inner.source
    }

    /// The JWKS URL keys are fetched from.
    #[must_use]
    pub fn jwks_url(&self) -> &str {
        self.validator().keys.url()
    }

    /// Fetches the signing keys now if none are held yet (e.g. at start-up, to fail fast).
    ///
    /// # Errors
    /// [`AuthError::KeysUnavailable`] when the JWKS cannot be fetched.
    pub async fn warm_up(&self) -> Result<(), AuthError> {
        self.validator().keys.warm_up().await
    }

    /// The number of tokens in the verified-token cache (0 when it is off).
    #[must_use]
    pub fn cached_tokens(&self) -> u64 {
        self.validator()
            .cache
            .as_ref()
            .map_or(0, cache::TokenCache::len)
    }

    /// Revokes `user_id`'s sessions now: their tokens issued until now are refused by this
    /// client (and by every replica, with a shared backend), cache hits included. Done for you
    /// when this client deactivates or deletes a user or revokes their refresh tokens; call it
    /// yourself for changes made elsewhere (e.g. in an admin console).
    ///
    /// ```
    /// # fn run(passage: passage_core::Passage) {
    /// let revocation = passage.auth().revoke_sessions("user-1");
    /// assert!(passage.auth().revocations().is_revoked("user-1", Some(revocation.revoked_at())));
    /// # }
    /// ```
    pub fn revoke_sessions(&self, user_id: &str) -> Revocation {
        self.validator().revocations.revoke(user_id)
    }

    /// The revocations this client enforces.
    #[must_use]
    pub fn revocations(&self) -> &RevocationList {
        &self.validator().revocations
    }

    /// The list to record in when the Management API changes a user, unless turned off.
    pub(crate) fn revocations_for_user_changes(&self) -> Option<&RevocationList> {
        self.inner
            .revoke_on_user_changes
            .then(|| &self.validator().revocations)
    }
}

/// The `Authorization` and `Cookie` values of an `http` 1 header map, as the plain inputs the
/// token lookup takes.
pub(crate) fn credentials(
    headers: &http::HeaderMap,
) -> (
    impl Iterator<Item = &[u8]> + '_,
    impl Iterator<Item = &[u8]> + '_,
) {
    // Cookies are looked up on first use: with an Authorization header present, they are never
    // read.
    let cookies = std::iter::once(headers)
        .flat_map(|headers| headers.get_all(http::header::COOKIE))
        .map(http::HeaderValue::as_bytes);
    (
        headers
            .get_all(http::header::AUTHORIZATION)
            .into_iter()
            .map(http::HeaderValue::as_bytes),
        cookies,
    )
}

/// One place decides how rejections are logged: a debug event per request (a warning for 503),
/// with the cause and never the token.
pub(crate) fn log_outcome(
    result: Result<PassageClaims, AuthError>,
) -> Result<PassageClaims, AuthError> {
    if let Err(err) = &result {
        log_rejection(err);
    }
    result
}

fn log_rejection(err: &AuthError) {
    match err {
        AuthError::MissingToken => tracing::trace!("passage: no token in the request"),
        AuthError::KeysUnavailable { .. } | AuthError::RevocationsUnavailable => {
            tracing::warn!(code = err.code(), error = %crate::Report(err), "passage: cannot authenticate");
        }
        _ => {
            tracing::debug!(code = err.code(), error = %crate::Report(err), "passage: request not authenticated")
        }
    }
}
