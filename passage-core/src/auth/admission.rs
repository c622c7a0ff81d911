//! Admission: the one decision path every adapter takes, so a tower layer, an actix middleware
//! and the axum and actix extractors can never decide the same request differently.
//!
//! - A layer (or middleware) decides with its [`Admission`] and leaves its verdict in the
//!   request's extensions: the [`PassageClaims`], or [`Anonymous`].
//! - An extractor uses that verdict when a layer of its own client left one, and only otherwise
//!   decides itself, with the client's token source. An extractor without a client of its own
//!   uses whatever layer's verdict it finds; with neither, the app is not configured
//!   ([`Layered::decide`], [`NotConfigured`]).

use std::fmt;

use super::{
    Auth, claims::Authority, credentials, log_outcome, response::NotConfigured, token, validate,
};
use crate::{AuthError, PassageClaims, TokenSource, metrics::Outcome};

/// Whether a request must be authenticated, and where its token is looked for.
///
/// ```
/// use passage_core::{TokenSource, adapter::Admission};
///
/// let admission = Admission::optional(TokenSource::Header);
/// assert!(admission.is_optional());
/// assert_eq!(admission.source(), TokenSource::Header);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    optional: bool,
    source: TokenSource,
}

impl Admission {
    /// Every request needs a valid token.
    #[must_use]
    pub fn required(source: TokenSource) -> Self {
        Self {
            optional: false,
            source,
        }
    }

    /// Requests without any token pass as anonymous; a present but bad token is still refused.
    #[must_use]
    pub fn optional(source: TokenSource) -> Self {
        Self {
            optional: true,
            source,
        }
    }

    /// Whether anonymous requests pass.
    #[must_use]
    pub fn is_optional(self) -> bool {
        self.optional
    }

    /// Where the token is looked for.
    #[must_use]
    pub fn source(self) -> TokenSource {
        self.source
    }
}

/// A layer's verdict that a request is anonymous (optional admission, no token where it looked).
/// Layers put it into the request's extensions, beside where they put [`PassageClaims`] for an
/// authenticated request, so extractors never decide that request again with another policy.
#[derive(Clone)]
pub struct Anonymous {
    authority: Authority,
}

impl fmt::Debug for Anonymous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anonymous").finish_non_exhaustive()
    }
}

/// What a layer left in a request's extensions, as an extractor finds it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Layered<'a> {
    /// The claims of an authenticated request.
    pub claims: Option<&'a PassageClaims>,
    /// The verdict of an anonymous request.
    pub anonymous: Option<&'a Anonymous>,
}

impl Layered<'_> {
    /// The verdict a layer left, read by an extractor of kind `optional`: claims, anonymous
    /// (`Ok(None)`, or [`AuthError::MissingToken`] for a required extractor), or `None` when no
    /// layer of `authority` ran (`None` trusts a layer of any client).
    fn verdict(
        self,
        optional: bool,
        authority: Option<&Authority>,
    ) -> Option<Result<Option<PassageClaims>, AuthError>> {
        let ours = |other: &Authority| authority.is_none_or(|mine| mine.same(other));
        if let Some(claims) = self
            .claims
            .filter(|c| authority.is_none_or(|mine| c.verified_by(mine)))
        {
            return Some(Ok(Some(claims.clone())));
        }
        if self.anonymous.is_some_and(|a| ours(&a.authority)) {
            return Some(if optional {
                Ok(None)
            } else {
                log_outcome(Err(AuthError::MissingToken)).map(Some)
            });
        }
        None
    }

    /// The verdict for an extractor that has no client of its own (the layer was given one, and
    /// the app registered none): it trusts whatever layer ran. `None` when none did.
    #[must_use]
    pub fn without_client(
        self,
        optional: bool,
    ) -> Option<Result<Option<PassageClaims>, AuthError>> {
        self.verdict(optional, None)
    }

    /// An extractor's whole decision, given the client it found for the request, if any:
    ///
    /// - with a client, [`Hooks::extract`]: the verdict of a layer of the same app and auth host,
    ///   else a decision of its own with the client's token source (a layer of another app is
    ///   never trusted);
    /// - without one, the verdict of whichever layer ran ([`without_client`](Self::without_client));
    /// - with neither, [`NotConfigured`]: a mistake in the app's setup, answered 500.
    ///
    /// ```
    /// use passage_core::adapter::Layered;
    ///
    /// // No layer ran and the extractor has no client: nothing can decide the request.
    /// let decision = Layered::default().decide(None, false, [], []);
    /// assert_eq!(decision.unwrap_err().code(), "passage_not_configured");
    /// ```
    ///
    /// # Errors
    /// [`NotConfigured`] when there is neither a client nor a layer's verdict.
    pub fn decide<'a, A, C>(
        self,
        client: Option<&Auth>,
        optional: bool,
        authorization: A,
        cookies: C,
    ) -> Result<Decision, NotConfigured>
    where
        A: IntoIterator<Item = &'a [u8]>,
        C: IntoIterator<Item = &'a [u8]>,
    {
        match client {
            Some(auth) => Ok(auth.extract(optional, self, authorization, cookies)),
            None => self
                .without_client(optional)
                .map(Decision::Ready)
                .ok_or(NotConfigured),
        }
    }

    /// [`decide`](Self::decide) over an `http` 1 header map.
    ///
    /// # Errors
    /// [`NotConfigured`] when there is neither a client nor a layer's verdict.
    pub fn decide_headers(
        self,
        client: Option<&Auth>,
        optional: bool,
        headers: &http::HeaderMap,
    ) -> Result<Decision, NotConfigured> {
        let (authorization, cookies) = credentials(headers);
        self.decide(client, optional, authorization, cookies)
    }
}

/// The outcome of admitting a request.
#[derive(Debug)]
#[must_use]
pub enum Decision {
    /// Decided without waiting (the usual case): the claims, anonymous (`Ok(None)`, only under
    /// optional admission), or refused.
    Ready(Result<Option<PassageClaims>, AuthError>),
    /// The token is signed by a key not held yet: await [`Pending::resolve`].
    Pending(Pending),
}

/// A decision that waits for the signing keys (the one path an adapter allocates a future for).
#[must_use]
pub struct Pending {
    auth: Auth,
    token: String,
    optional: bool,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("optional", &self.optional)
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// Fetches the keys as the JWKS policy allows, then decides.
    ///
    /// # Errors
    /// As [`Auth::validate_jwt`].
    pub async fn resolve(self) -> Result<Option<PassageClaims>, AuthError> {
        // A token was found, so "missing" cannot happen here: the result is the claims or a refusal.
        log_outcome(self.auth.validate_jwt(&self.token).await).map(Some)
    }
}

/// The hooks framework adapters build on; applications rarely need them.
///
/// passage-tower, passage-axum and passage-actix are written on exactly these items, so a new
/// adapter (another framework, a gRPC server) makes the same decisions as they do:
/// [`Hooks::admit`] for a layer or middleware, [`Hooks::extract`] for an extractor, and
/// [`rejection_response`](super::response::rejection_response) for the answer to a refused request.
pub trait Hooks {
    /// Decides a request as a layer does; see [`Admission`].
    fn admit<'a, A, C>(&self, admission: Admission, authorization: A, cookies: C) -> Decision
    where
        A: IntoIterator<Item = &'a [u8]>,
        C: IntoIterator<Item = &'a [u8]>;

    /// [`admit`](Self::admit) over an `http` 1 header map.
    fn admit_headers(&self, admission: Admission, headers: &http::HeaderMap) -> Decision;

    /// Decides a request as an extractor does: the verdict a layer of the same client (same app
    /// and auth host) left in `layered`, else a decision of its own with the client's token
    /// source. `optional` is the extractor's kind.
    fn extract<'a, A, C>(
        &self,
        optional: bool,
        layered: Layered<'_>,
        authorization: A,
        cookies: C,
    ) -> Decision
    where
        A: IntoIterator<Item = &'a [u8]>,
        C: IntoIterator<Item = &'a [u8]>;

    /// [`extract`](Self::extract) over an `http` 1 header map.
    fn extract_headers(
        &self,
        optional: bool,
        layered: Layered<'_>,
        headers: &http::HeaderMap,
    ) -> Decision;

    /// The verdict a layer leaves in an anonymous request's extensions.
    fn anonymous(&self) -> Anonymous;
}

impl Hooks for Auth {
    fn admit<'a, A, C>(&self, admission: Admission, authorization: A, cookies: C) -> Decision
    where
        A: IntoIterator<Item = &'a [u8]>,
        C: IntoIterator<Item = &'a [u8]>,
    {
        let validator = self.validator();
        let token = match token::locate_token(
            admission.source,
            validator.max_len,
            authorization,
            cookies,
        ) {
            Ok(token) => token,
            Err(AuthError::MissingToken) if admission.optional => {
                validator.metrics().validation(Outcome::Missing);
                return Decision::Ready(Ok(None));
            }
            Err(err) => {
                validator.metrics().validation(Outcome::of_error(&err));
                return Decision::Ready(log_outcome(Err(err)).map(Some));
            }
        };
        match validator.validate_now(token) {
            validate::Now::Done(result) => Decision::Ready(log_outcome(result).map(Some)),
            validate::Now::NeedsKeys(token) => Decision::Pending(Pending {
                auth: self.clone(),
                token: token.to_owned(),
                optional: admission.optional,
            }),
        }
    }

    fn admit_headers(&self, admission: Admission, headers: &http::HeaderMap) -> Decision {
        let (authorization, cookies) = credentials(headers);
        self.admit(admission, authorization, cookies)
    }

    fn extract<'a, A, C>(
        &self,
        optional: bool,
        layered: Layered<'_>,
        authorization: A,
        cookies: C,
    ) -> Decision
    where
        A: IntoIterator<Item = &'a [u8]>,
        C: IntoIterator<Item = &'a [u8]>,
    {
        if let Some(verdict) = layered.verdict(optional, Some(&self.validator().authority)) {
            return Decision::Ready(verdict);
        }
        let admission = Admission {
            optional,
            source: self.token_source(),
        };
        self.admit(admission, authorization, cookies)
    }

    fn extract_headers(
        &self,
        optional: bool,
        layered: Layered<'_>,
        headers: &http::HeaderMap,
    ) -> Decision {
        let (authorization, cookies) = credentials(headers);
        self.extract(optional, layered, authorization, cookies)
    }

    fn anonymous(&self) -> Anonymous {
        Anonymous {
            authority: self.validator().authority.clone(),
        }
    }
}

/// The claims of a required admission: anonymous becomes [`AuthError::MissingToken`].
///
/// # Errors
/// The refusal, or [`AuthError::MissingToken`] for an anonymous request.
pub fn required(
    result: Result<Option<PassageClaims>, AuthError>,
) -> Result<PassageClaims, AuthError> {
    result.and_then(|claims| claims.ok_or(AuthError::MissingToken))
}
