//! [`ResponseFuture`]: a state machine, boxed only while fetching signing keys.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::{Request, Response};
use passage_core::{Auth, AuthError, PassageClaims};
use pin_project_lite::pin_project;
use tower_service::Service;

type Validation = Pin<Box<dyn Future<Output = Result<Option<PassageClaims>, AuthError>> + Send>>;
type Reject<B> = Box<dyn FnOnce(&AuthError) -> Response<B> + Send>;

pin_project! {
    /// The future of [`PassageService`](crate::PassageService).
    pub struct ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, ResBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Called { #[pin] future: S::Future },
        Rejected { response: Option<Response<ResBody>> },
        Fetching {
            validation: Validation,
            inner: Option<S>,
            request: Option<Request<ReqBody>>,
            auth: Auth,
            reject: Option<Reject<ResBody>>,
        },
    }
}

impl<S, ReqBody, ResBody> ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn called(future: S::Future) -> Self {
        Self {
            state: State::Called { future },
        }
    }

    pub(crate) fn rejected(response: Response<ResBody>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn fetching(
        validation: Validation,
        inner: S,
        request: Request<ReqBody>,
        auth: Auth,
        reject: impl FnOnce(&AuthError) -> Response<ResBody> + Send + 'static,
    ) -> Self {
        Self {
            state: State::Fetching {
                validation,
                inner: Some(inner),
                request: Some(request),
                auth,
                reject: Some(Box::new(reject)),
            },
        }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Called { future } => return future.poll(cx),
                StateProj::Rejected { response } => {
                    return Poll::Ready(Ok(response
                        .take()
                        .unwrap_or_else(|| polled_after_completion())));
                }
                StateProj::Fetching {
                    validation,
                    inner,
                    request,
                    auth,
                    reject,
                } => {
                    let result = ready!(validation.as_mut().poll(cx));
                    let (Some(mut inner), Some(mut request), Some(reject)) =
                        (inner.take(), request.take(), reject.take())
                    else {
                        polled_after_completion()
                    };
                    match result {
                        Ok(claims) => {
                            crate::service::admitted(&mut request, claims, auth);
                            state.set(State::Called {
                                future: inner.call(request),
                            });
                        }
                        Err(err) => state.set(State::Rejected {
                            response: Some(reject(&err)),
                        }),
                    }
                }
            }
        }
    }
}

/// Polling a future again after it returned `Ready` breaks the `Future` contract.
#[allow(
    clippy::panic,
    reason = "a contract violation by the caller, as in every std future"
)]
fn polled_after_completion() -> ! {
    panic!("ResponseFuture polled after completion")
}

impl<S, ReqBody, ResBody> fmt::Debug for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
