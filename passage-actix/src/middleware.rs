//! [`PassageAuth`]: protect a whole `App` or scope.

use std::{
    fmt,
    future::{Future, Ready, ready},
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

use actix_web::{
    Error, HttpMessage as _, ResponseError as _,
    body::EitherBody,
    dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
};
use futures_util::future::LocalBoxFuture;
use passage_core::{
    AuthError, Passage, PassageClaims, TokenSource,
    adapter::{Admission, Decision, Hooks as _, NotConfigured},
};
use pin_project_lite::pin_project;

use crate::{
    PassageError,
    extract::{admit, client},
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
    type Future = PassageAuthFuture<S, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let registered;
        let passage = match &self.config.passage {
            Some(passage) => passage,
            None => match client(req.request()) {
                Some(passage) => {
                    registered = passage;
                    &registered
                }
                None => {
                    tracing::error!(
                        "passage: PassageAuth found no Passage client: pass one to PassageAuth::new or register web::Data<Passage>"
                    );
                    return PassageAuthFuture::done(reject(
                        req,
                        &PassageError::NotConfigured(NotConfigured),
                    ));
                }
            },
        };
        let source = self
            .config
            .source
            .unwrap_or_else(|| passage.auth().token_source());
        let admission = if self.config.optional {
            Admission::optional(source)
        } else {
            Admission::required(source)
        };
        match admit(passage, admission, req.headers()) {
            Decision::Ready(verdict) => proceed(&self.service, req, passage, verdict),
            // Rare (a key not held yet): the one path that allocates a future.
            Decision::Pending(pending) => {
                let passage = passage.clone();
                let service = Rc::clone(&self.service);
                PassageAuthFuture::fetching(Box::pin(async move {
                    let verdict = pending.resolve().await;
                    proceed(&service, req, &passage, verdict).await
                }))
            }
        }
    }
}

/// Leaves the verdict in the request's extensions (the claims, or anonymous) and calls the
/// wrapped service, or refuses the request.
fn proceed<S, B>(
    service: &S,
    req: ServiceRequest,
    passage: &Passage,
    verdict: Result<Option<PassageClaims>, AuthError>,
) -> PassageAuthFuture<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    match verdict {
        Ok(Some(claims)) => {
            req.extensions_mut().insert(claims);
            PassageAuthFuture::called(service.call(req))
        }
        Ok(None) => {
            req.extensions_mut().insert(passage.auth().anonymous());
            PassageAuthFuture::called(service.call(req))
        }
        Err(err) => PassageAuthFuture::done(reject(req, &PassageError::Auth(err))),
    }
}

type Response<B> = Result<ServiceResponse<EitherBody<B>>, Error>;

pin_project! {
    /// The future of [`PassageAuthMiddleware`]: the wrapped service's own future when the request
    /// was decided at once (the usual case), a ready response when refused, and a boxed future
    /// only while signing keys are fetched.
    pub struct PassageAuthFuture<S, B>
    where
        S: Service<ServiceRequest>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<ServiceRequest>,
    {
        Called { #[pin] future: S::Future },
        Done { response: Option<ServiceResponse<EitherBody<B>>> },
        Fetching { future: LocalBoxFuture<'static, Response<B>> },
    }
}

impl<S, B> PassageAuthFuture<S, B>
where
    S: Service<ServiceRequest>,
{
    fn called(future: S::Future) -> Self {
        Self {
            state: State::Called { future },
        }
    }

    fn done(response: ServiceResponse<EitherBody<B>>) -> Self {
        Self {
            state: State::Done {
                response: Some(response),
            },
        }
    }

    fn fetching(future: LocalBoxFuture<'static, Response<B>>) -> Self {
        Self {
            state: State::Fetching { future },
        }
    }
}

impl<S, B> Future for PassageAuthFuture<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Output = Response<B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future } => {
                future.poll(cx).map_ok(ServiceResponse::map_into_left_body)
            }
            StateProj::Done { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => polled_after_completion(),
            },
            StateProj::Fetching { future } => future.as_mut().poll(cx),
        }
    }
}

impl<S, B> fmt::Debug for PassageAuthFuture<S, B>
where
    S: Service<ServiceRequest>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassageAuthFuture").finish_non_exhaustive()
    }
}

/// Polling a future again after it returned `Ready` breaks the `Future` contract.
#[allow(
    clippy::panic,
    reason = "a contract violation by the caller, as in every std future"
)]
fn polled_after_completion() -> ! {
    panic!("PassageAuthFuture polled after completion")
}

fn reject<B>(req: ServiceRequest, error: &PassageError) -> ServiceResponse<EitherBody<B>> {
    req.into_response(error.error_response())
        .map_into_right_body()
}
