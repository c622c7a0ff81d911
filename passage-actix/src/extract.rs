//! [`PassageUser`] and [`OptionalPassageUser`].

use std::ops::Deref;

use actix_web::{
    FromRequest, HttpMessage as _, HttpRequest,
    dev::Payload,
    http::header::{self, HeaderMap},
    web,
};
use futures_util::future::{Either, LocalBoxFuture, Ready, ready};
use passage_core::{
    AuthError, Passage, PassageClaims,
    adapter::{Admission, Anonymous, Decision, Hooks as _, Layered, required},
};

use crate::PassageError;

/// The authenticated Passage user of a request.
///
/// Behind [`PassageAuth`](crate::PassageAuth) of the same app, the middleware's verdict is
/// final: the claims it verified, or "anonymous" (a 401 here, `None` for
/// [`OptionalPassageUser`]), never a second look with another token source. Without it, the
/// extractor validates the request itself with the client from `app_data`
/// (`web::Data<Passage>` or `Passage`; the rest of your app data is not read). With neither, it
/// answers 500 `passage_not_configured` and logs how to fix the app. Without a fetch of signing
/// keys, the extraction completes at once.
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

/// The `Authorization` and `Cookie` values of actix's (http 0.2) headers: only the values'
/// bytes cross over, no header map is converted. Cookies are looked up on first use: never,
/// when an Authorization header decided.
fn credentials(
    headers: &HeaderMap,
) -> (
    impl Iterator<Item = &[u8]> + '_,
    impl Iterator<Item = &[u8]> + '_,
) {
    let cookies = std::iter::once(headers).flat_map(|headers| headers.get_all(header::COOKIE));
    (
        headers.get_all(header::AUTHORIZATION).map(|v| v.as_bytes()),
        cookies.map(|v| v.as_bytes()),
    )
}

/// The middleware's decision for a request.
pub(crate) fn admit(passage: &Passage, admission: Admission, headers: &HeaderMap) -> Decision {
    let (authorization, cookies) = credentials(headers);
    passage.auth().admit(admission, authorization, cookies)
}

/// The client registered for this request, if any.
pub(crate) fn client(req: &HttpRequest) -> Option<Passage> {
    req.app_data::<web::Data<Passage>>()
        .map(|data| data.get_ref().clone())
        .or_else(|| req.app_data::<Passage>().cloned())
}

/// The middleware's verdict for `req`, or the extractor's own decision with the client in
/// `app_data`; then `finish` maps it.
fn extract<T: 'static>(
    req: &HttpRequest,
    optional: bool,
    finish: fn(Result<Option<PassageClaims>, AuthError>) -> Result<T, PassageError>,
) -> Extraction<T> {
    let passage = client(req);
    let decision = {
        let extensions = req.extensions();
        let layered = Layered {
            claims: extensions.get::<PassageClaims>(),
            anonymous: extensions.get::<Anonymous>(),
        };
        let (authorization, cookies) = credentials(req.headers());
        // Without a client of our own, the middleware's verdict (it was given a client) is all
        // there is; with neither, the app is not configured.
        layered.decide(
            passage.as_ref().map(Passage::auth),
            optional,
            authorization,
            cookies,
        )
    };
    match decision {
        Ok(Decision::Ready(verdict)) => Either::Left(ready(finish(verdict))),
        Ok(Decision::Pending(pending)) => {
            Either::Right(Box::pin(async move { finish(pending.resolve().await) }))
        }
        Err(not_configured) => {
            tracing::error!(
                path = req.path(),
                "passage: PassageUser found neither a PassageAuth verdict nor a Passage client: \
                 add `.app_data(web::Data::new(passage))` or wrap the scope with \
                 `PassageAuth::new(passage)`"
            );
            Either::Left(ready(Err(PassageError::NotConfigured(not_configured))))
        }
    }
}

impl FromRequest for PassageUser {
    type Error = PassageError;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, false, |verdict| {
            required(verdict).map(Self).map_err(PassageError::Auth)
        })
    }
}

impl FromRequest for OptionalPassageUser {
    type Error = PassageError;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, true, |verdict| {
            verdict
                .map(|claims| Self(claims.map(PassageUser)))
                .map_err(PassageError::Auth)
        })
    }
}
