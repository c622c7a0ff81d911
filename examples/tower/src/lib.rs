//! The example server: hyper 1 + `tower` + [`PassageLayer`], no web framework.
//! Routes and answers as in `example-axum`, in the same production stack (tower-http).

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use passage_core::{
    ApiError, AuthError, Passage, PassageClaims, Report, adapter::rejection_response,
};
use passage_tower::PassageLayer;
use serde_json::json;
use tower::{Service, ServiceBuilder, ServiceExt as _, service_fn, util::BoxCloneSyncService};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::{Level, Span};

/// The body the handlers answer with.
type Body = Full<Bytes>;

/// The body the app answers with: the handlers' body, wrapped by the trace layer, boxed.
pub type AppBody = UnsyncBoxBody<Bytes, Infallible>;

/// The whole app as one service ([`app`]), as [`serve`] takes it.
pub type App = BoxCloneSyncService<Request<Incoming>, Response<AppBody>, Infallible>;

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// `GET /metrics`: every metric in the Prometheus text format (in front of the layer, so no
/// authentication: keep the route on a private network, or behind your own check, in production).
fn metrics() -> Response<Body> {
    let Some(text) = example_support::metrics_text() else {
        return json(StatusCode::NOT_FOUND, &json!({ "code": "not_found" }));
    };
    let mut response = Response::new(Body::from(text));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(example_support::METRICS_CONTENT_TYPE),
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

/// The whole app as one tower service: `/healthz` and `/metrics` in front of the layer, the rest
/// behind it.
/// Around both, from the outside in:
///
/// - `Authorization` and `Cookie` are marked sensitive before anything can log them (the
///   Passage layer marks them too, for the requests it sees);
/// - one span per request, with the method and the path only: a query string can carry a token;
/// - CORS for the front-ends at `cors_origins` (with credentials, so the browser sends the
///   `psg_auth_token` cookie; never a wildcard). It sits outside the Passage layer: a preflight
///   carries no token, and a front-end can read a 401 only when it has these headers.
pub fn app(passage: Passage, cors_origins: Vec<HeaderValue>) -> App {
    // Installed before the first request, so `/metrics` counts every one.
    example_support::metrics();
    let protected = ServiceBuilder::new()
        .layer(PassageLayer::new(passage.clone()).optional())
        .service(service_fn(move |request| routes(passage.clone(), request)));
    let routes = service_fn(move |request: Request<Incoming>| {
        let mut protected = protected.clone();
        async move {
            if request.uri().path() == "/healthz" {
                return Ok(json(StatusCode::OK, &json!({ "status": "ok" })));
            }
            if request.uri().path() == "/metrics" {
                return Ok(metrics());
            }
            protected.ready().await?.call(request).await
        }
    });
    let stack = ServiceBuilder::new()
        .map_response(|response: Response<_>| response.map(AppBody::new))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(cors_origins))
                .allow_credentials(true)
                .allow_methods([Method::GET])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER]),
        )
        .service(routes);
    BoxCloneSyncService::new(stack)
}

/// The request's span: method and path, not the URI (a query string can carry a token).
fn request_span(request: &Request<Incoming>) -> Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
}

/// Serves `app` (see [`app`]) on `listener` until `shutdown` resolves, then lets the requests
/// in flight finish (and closes idle connections) before returning.
///
/// # Errors
/// When accepting connections fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
