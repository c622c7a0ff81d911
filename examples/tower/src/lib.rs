//! The example server: hyper 1 + `tower` + [`PassageLayer`], no web framework.
//! Routes and answers as in `example-axum`.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use passage_core::{
    ApiError, AuthError, Passage, PassageClaims, Report, adapter::rejection_response,
};
use passage_tower::PassageLayer;
use serde_json::json;
use tower::{Service, ServiceBuilder, ServiceExt as _, service_fn, util::BoxCloneSyncService};

type Body = Full<Bytes>;

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The routes behind the layer. The layer (optional mode) has put the claims into the
/// extensions when a valid token came, and has already refused bad tokens.
async fn routes(
    passage: Passage,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let claims = request.extensions().get::<PassageClaims>().cloned();
    let response = match (request.method(), request.uri().path(), claims) {
        (&Method::GET, "/me", Some(claims)) => {
            json(StatusCode::OK, &json!({ "user_id": claims.user_id() }))
        }
        (&Method::GET, "/maybe", claims) => json(
            StatusCode::OK,
            &json!({ "user_id": claims.as_ref().map(PassageClaims::user_id) }),
        ),
        (&Method::GET, "/profile", Some(claims)) => profile(&passage, &claims).await,
        // The layer runs in optional mode, so required routes refuse anonymous requests here.
        (&Method::GET, "/me" | "/profile", None) => {
            rejection_response(&AuthError::MissingToken, false)
        }
        _ => json(StatusCode::NOT_FOUND, &json!({ "code": "not_found" })),
    };
    Ok(response)
}

/// The signed-in user's record from the Management API; a failed call is logged, and answered
/// with a status and a code.
async fn profile(passage: &Passage, claims: &PassageClaims) -> Response<Body> {
    match passage.users().get(claims.user_id()).await {
        Ok(record) => json(
            StatusCode::OK,
            &json!({
                "user_id": record.id,
                "email": record.email,
                "phone": record.phone,
                "status": record.status,
            }),
        ),
        Err(err) => {
            tracing::warn!(error = %Report(&err), "/profile: the Management API call failed");
            let (status, code) = match err {
                err if err.is_not_found() => (StatusCode::NOT_FOUND, "user_not_found"),
                ApiError::MissingApiKey => (StatusCode::INTERNAL_SERVER_ERROR, "api_key_missing"),
                _ => (StatusCode::BAD_GATEWAY, "upstream_error"),
            };
            json(status, &json!({ "code": code }))
        }
    }
}

/// The whole app as one tower service: `/healthz` in front of the layer, the rest behind it.
pub fn app(passage: Passage) -> BoxCloneSyncService<Request<Incoming>, Response<Body>, Infallible> {
    let protected = ServiceBuilder::new()
        .layer(PassageLayer::new(passage.clone()).optional())
        .service(service_fn(move |request| routes(passage.clone(), request)));
    BoxCloneSyncService::new(service_fn(move |request: Request<Incoming>| {
        let mut protected = protected.clone();
        async move {
            if request.uri().path() == "/healthz" {
                return Ok(json(StatusCode::OK, &json!({ "status": "ok" })));
            }
            protected.ready().await?.call(request).await
        }
    }))
}

/// Serves [`app`] on `listener` until `shutdown` resolves.
///
/// # Errors
/// When accepting connections fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    passage: Passage,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(passage);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
}
