//! [`PassageService`]: the middleware itself.

use std::task::{Context, Poll};

use http::{Request, Response, header};
use passage_core::auth::{Check, is_grpc};
use tower_service::Service;

use crate::{OnRejection, PassageLayer, ResponseFuture};

/// The service made by [`PassageLayer`].
#[derive(Debug, Clone)]
pub struct PassageService<S, R> {
    pub(crate) inner: S,
    pub(crate) layer: PassageLayer<R>,
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for PassageService<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    R: OnRejection<ResBody> + Send + 'static,
    ResBody: 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let headers = request.headers();
        let grpc = |headers: &http::HeaderMap| {
            is_grpc(headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()))
        };
        let check = self
            .layer
            .passage
            .auth()
            .check_headers(self.layer.source, headers);
        match check {
            Check::Done(Ok(claims)) => {
                request.extensions_mut().insert(claims);
                ResponseFuture::called(self.inner.call(request))
            }
            Check::Done(Err(err)) if self.layer.optional && err.is_missing_token() => {
                ResponseFuture::called(self.inner.call(request))
            }
            Check::Done(Err(err)) => {
                ResponseFuture::rejected(self.layer.rejection.reject(&err, grpc(request.headers())))
            }
            Check::NeedsKeys(token) => {
                // Keep the service that was polled ready for this request; leave a clone behind.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                let passage = self.layer.passage.clone();
                let rejection = self.layer.rejection.clone();
                let grpc = grpc(request.headers());
                let validation = Box::pin(async move { passage.auth().finish(&token).await });
                ResponseFuture::fetching(validation, ready, request, move |err| {
                    rejection.reject(err, grpc)
                })
            }
        }
    }
}
