//! [`PassageUser`] and [`OptionalPassageUser`].

use std::ops::Deref;

use actix_web::{
    FromRequest, HttpMessage as _, HttpRequest,
    dev::Payload,
    http::header::{self, HeaderMap},
    web,
};
use futures_util::future::{Either, LocalBoxFuture, Ready, ready};
use passage_core::{AuthError, Passage, PassageClaims, TokenSource, auth::Check, optional};

use crate::PassageError;

/// The authenticated Passage user of a request.
///
/// Uses the claims [`PassageAuth`](crate::PassageAuth) stored, else validates the request with
/// the client from `app_data` (`web::Data<Passage>` or `Passage`). Without a fetch of signing
/// keys, the extraction completes at once.
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

/// Optional authentication without the middleware: no token is `None`, a bad token is an error
/// (actix's own `Option<T>` would turn that error into `None`).
#[derive(Debug, Clone)]
pub struct OptionalPassageUser(pub Option<PassageUser>);

impl OptionalPassageUser {
    /// The user, if a valid token came.
    #[must_use]
    pub fn into_inner(self) -> Option<PassageUser> {
        self.0
    }
}

impl Deref for OptionalPassageUser {
    type Target = Option<PassageUser>;

    fn deref(&self) -> &Option<PassageUser> {
        &self.0
    }
}

type Extraction<T> =
    Either<Ready<Result<T, PassageError>>, LocalBoxFuture<'static, Result<T, PassageError>>>;

/// The core's synchronous check over actix's (http 0.2) headers: only the header values'
/// bytes cross over, no header map is converted.
pub(crate) fn check(passage: &Passage, source: TokenSource, headers: &HeaderMap) -> Check {
    // Cookies are looked up on first use: never, when an Authorization header is present.
    let cookies = std::iter::once(headers).flat_map(|headers| headers.get_all(header::COOKIE));
    passage.auth().check(
        source,
        headers.get_all(header::AUTHORIZATION).map(|v| v.as_bytes()),
        cookies.map(|v| v.as_bytes()),
    )
}

/// The client registered for this request, if any.
pub(crate) fn client(req: &HttpRequest) -> Option<Passage> {
    req.app_data::<web::Data<Passage>>()
        .map(|data| data.get_ref().clone())
        .or_else(|| req.app_data::<Passage>().cloned())
}

/// Validates `req` (or reuses what the middleware stored), then maps the outcome with `finish`.
fn extract<T: 'static>(
    req: &HttpRequest,
    finish: fn(Result<PassageClaims, AuthError>) -> Result<T, PassageError>,
) -> Extraction<T> {
    if let Some(claims) = req.extensions().get::<PassageClaims>() {
        return Either::Left(ready(finish(Ok(claims.clone()))));
    }
    let Some(passage) = client(req) else {
        tracing::error!(
            path = req.path(),
            "passage: PassageUser needs a Passage client: add `.app_data(web::Data::new(passage))` or wrap with PassageAuth"
        );
        return Either::Left(ready(Err(PassageError::NotConfigured)));
    };
    match check(&passage, passage.auth().token_source(), req.headers()) {
        Check::Done(result) => Either::Left(ready(finish(result))),
        Check::NeedsKeys(token) => Either::Right(Box::pin(async move {
            finish(passage.auth().finish(&token).await)
        })),
    }
}

impl FromRequest for PassageUser {
    type Error = PassageError;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, |result| result.map(Self).map_err(PassageError::Auth))
    }
}

impl FromRequest for OptionalPassageUser {
    type Error = PassageError;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, |result| {
            optional(result)
                .map(|claims| Self(claims.map(PassageUser)))
                .map_err(PassageError::Auth)
        })
    }
}
