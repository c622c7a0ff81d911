//! [`PassageAuth`]: protect a whole `App` or scope.

use std::{
    future::{Ready, ready},
    rc::Rc,
};

use actix_web::{
    Error, HttpMessage as _, ResponseError as _,
    body::EitherBody,
    dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
};
use futures_util::future::LocalBoxFuture;
use passage_core::{AuthError, Passage, PassageClaims, TokenSource, auth::Check};

use crate::{
    PassageError,
    extract::{check, client},
};

/// Middleware that authenticates every request and stores the claims for [`PassageUser`](crate::PassageUser).
///
/// ```no_run
/// use actix_web::{App, web};
/// use passage_actix::{Passage, PassageAuth};
/// # fn run(passage: Passage) {
/// let required = PassageAuth::new(passage.clone());
/// let optional = PassageAuth::new(passage).optional();
/// let app = App::new().wrap(optional);
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct PassageAuth {
    passage: Option<Passage>,
    optional: bool,
    source: Option<TokenSource>,
}

impl PassageAuth {
    /// Requires a valid token on every request, validated with `passage`.
    pub fn new(passage: Passage) -> Self {
        Self {
            passage: Some(passage),
            optional: false,
            source: None,
        }
    }

    /// Uses the client registered as `web::Data<Passage>` (or `Passage`) in `app_data`.
    pub fn from_app_data() -> Self {
        Self {
            passage: None,
            optional: false,
            source: None,
        }
    }

    /// Lets requests without any token through, unauthenticated.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Where to look for the token (default: the client's setting).
    pub fn token_source(mut self, source: TokenSource) -> Self {
        self.source = Some(source);
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for PassageAuth
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = PassageAuthMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(PassageAuthMiddleware {
            service: Rc::new(service),
            config: self.clone(),
        }))
    }
}

/// The service made by [`PassageAuth`].
#[derive(Debug)]
pub struct PassageAuthMiddleware<S> {
    service: Rc<S>,
    config: PassageAuth,
}

impl<S, B> Service<ServiceRequest> for PassageAuthMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let passage = self
            .config
            .passage
            .clone()
            .or_else(|| client(req.request()));
        let service = Rc::clone(&self.service);
        let Some(passage) = passage else {
            tracing::error!(
                "passage: PassageAuth found no Passage client: pass one to PassageAuth::new or register web::Data<Passage>"
            );
            return Box::pin(async move { Ok(reject(req, &PassageError::NotConfigured)) });
        };
        let optional = self.config.optional;
        let source = self
            .config
            .source
            .unwrap_or_else(|| passage.auth().token_source());
        let check = check(&passage, source, req.headers());
        Box::pin(async move {
            let result = match check {
                Check::Done(result) => result,
                Check::NeedsKeys(token) => passage.auth().finish(&token).await,
            };
            match admit(result, optional) {
                Ok(claims) => {
                    if let Some(claims) = claims {
                        req.extensions_mut().insert(claims);
                    }
                    service
                        .call(req)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                }
                Err(err) => Ok(reject(req, &PassageError::Auth(err))),
            }
        })
    }
}

/// Required: every error refuses. Optional: a missing token passes, anonymous.
fn admit(
    result: Result<PassageClaims, AuthError>,
    optional: bool,
) -> Result<Option<PassageClaims>, AuthError> {
    if optional {
        passage_core::optional(result)
    } else {
        result.map(Some)
    }
}

fn reject<B>(req: ServiceRequest, error: &PassageError) -> ServiceResponse<EitherBody<B>> {
    req.into_response(error.error_response())
        .map_into_right_body()
}
