//! The example app: its router and handlers, shared by `main.rs` and the end-to-end tests.
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `GET /` | none | the demo page ([`DemoPage`]): `<passage-auth>` (and development shortcuts on an embedded server), then `/me` and `/profile` |
//! | `GET /healthz` | none | 200 |
//! | `GET /metrics` | none | every metric in the Prometheus text format |
//! | `GET /me` | required | `{"user_id": "<sub>"}` |
//! | `GET /maybe` | optional | `{"user_id": "<sub>" or null}` (a bad token is still 401) |
//! | `GET /profile` | required | the user's `email`, `phone`, `status` from the Management API |
//!
//! Around the routes, the stack a production app runs (tower-http): sensitive `Authorization`
//! and `Cookie` headers, a request span, and CORS for front-ends on other origins.

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use example_support::DemoPage;
use passage_axum::{Passage, PassageLayer, PassageUser};
use passage_core::{ApiError, Report};
use serde_json::{Value, json};
use tower::ServiceBuilder;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::{Level, Span};

/// The app: one optional [`PassageLayer`] validates each request once; the extractors then read
/// its verdict (`PassageUser` requires a user, `Option<PassageUser>` does not). Around it, from
/// the outside in:
///
/// - `Authorization` and `Cookie` are marked sensitive before anything can log them (the
///   Passage layer marks them too, for the requests it sees);
/// - one span per request, with the method and the path only: a query string can carry a token;
/// - CORS for the front-ends at `cors_origins` (with credentials, so the browser sends the
///   `psg_auth_token` cookie; never a wildcard). It sits outside the Passage layer: a preflight
///   carries no token, and a front-end can read a 401 only when it has these headers.
pub fn app(passage: Passage, cors_origins: Vec<HeaderValue>, page: DemoPage) -> Router {
    let stack = ServiceBuilder::new()
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
        );
    routes(passage, page).layer(stack)
}

/// The request's span: method and path, not the URI (a query string can carry a token).
fn request_span(request: &Request) -> Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
}

/// The routes and the Passage layer.
fn routes(passage: Passage, page: DemoPage) -> Router {
    // Installed before the first request, so `/metrics` counts every one.
    example_support::metrics();
    Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route("/profile", get(profile))
        .layer(PassageLayer::new(passage.clone()).optional())
        // Added after the layer: not authenticated.
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/metrics", get(metrics))
        .route(
            "/",
            get(move |headers: HeaderMap| async move { demo_page(&page, &headers) }),
        )
        .with_state(passage)
}

/// Serves `app` (see [`app`]) on `listener` until `shutdown` resolves.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// `GET /metrics`: every metric in the Prometheus text format (no authentication: keep the
/// route on a private network, or behind your own check, in production).
async fn metrics() -> Response {
    match example_support::metrics_text() {
        Some(text) => (
            [(header::CONTENT_TYPE, example_support::METRICS_CONTENT_TYPE)],
            text,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn me(user: PassageUser) -> Json<Value> {
    Json(json!({ "user_id": user.user_id() }))
}

async fn maybe(user: Option<PassageUser>) -> Json<Value> {
    Json(json!({ "user_id": user.as_ref().map(|user| user.user_id()) }))
}

/// The signed-in user's record from the Management API.
async fn profile(
    State(passage): State<Passage>,
    user: PassageUser,
) -> Result<Json<Value>, ProfileError> {
    let record = passage.users().get(user.user_id()).await?;
    Ok(Json(json!({
        "user_id": record.id,
        "email": record.email,
        "phone": record.phone,
        "status": record.status,
    })))
}

/// A failed Management API call, as this app answers it: the cause goes to the log, the client
/// gets a status and a code.
struct ProfileError(ApiError);

impl From<ApiError> for ProfileError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl IntoResponse for ProfileError {
    fn into_response(self) -> Response {
        tracing::warn!(error = %Report(&self.0), "/profile: the Management API call failed");
        let (status, code) = if self.0.is_not_found() {
            (StatusCode::NOT_FOUND, "user_not_found")
        } else if matches!(self.0, ApiError::MissingApiKey) {
            (StatusCode::INTERNAL_SERVER_ERROR, "api_key_missing")
        } else {
            (StatusCode::BAD_GATEWAY, "upstream_error")
        };
        (status, Json(json!({ "code": code }))).into_response()
    }
}

fn demo_page(page: &DemoPage, headers: &HeaderMap) -> Html<String> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    Html(page.render(host))
}
