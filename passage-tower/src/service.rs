//! [`PassageService`]: the middleware itself.

use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response, header};
use passage_core::{
    Auth, PassageClaims,
    adapter::{Decision, Hooks as _, is_grpc},
};
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
        mark_sensitive(request.headers_mut());
        let grpc =
            |headers: &HeaderMap| is_grpc(headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()));
        let auth = self.layer.passage.auth();
        match auth.admit_headers(self.layer.admission, request.headers()) {
            Decision::Ready(Ok(claims)) => {
                admitted(&mut request, claims, auth);
                ResponseFuture::called(self.inner.call(request))
            }
            Decision::Ready(Err(err)) => {
                ResponseFuture::rejected(self.layer.rejection.reject(&err, grpc(request.headers())))
            }
            Decision::Pending(pending) => {
                // Keep the service that was polled ready for this request; leave a clone behind.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                let rejection = self.layer.rejection.clone();
                let grpc = grpc(request.headers());
                ResponseFuture::fetching(
                    Box::pin(pending.resolve()),
                    ready,
                    request,
                    auth.clone(),
                    move |err| rejection.reject(err, grpc),
                )
            }
        }
    }
}

/// Marks every `Authorization` and `Cookie` value as sensitive, so a layer or handler further in
/// that logs headers (tower-http's `TraceLayer` with headers included, `{:?}` of the request)
/// prints `Sensitive` instead of a token, even when nobody set up `SetSensitiveRequestHeaders`.
///
/// A scan rather than `entry()`: no lookup may grow the map (the layer does not allocate).
fn mark_sensitive(headers: &mut HeaderMap) {
    for (name, value) in headers.iter_mut() {
        if name == header::AUTHORIZATION || name == header::COOKIE {
            value.set_sensitive(true);
        }
    }
}

/// Leaves the layer's verdict in the request's extensions: the claims, or anonymous.
pub(crate) fn admitted<B>(request: &mut Request<B>, claims: Option<PassageClaims>, auth: &Auth) {
    let extensions = request.extensions_mut();
    match claims {
        Some(claims) => {
            extensions.insert(claims);
        }
        None => {
            extensions.insert(auth.anonymous());
        }
    }
}
