//! The example app's router, shared by `main.rs` and the end-to-end tests.
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `GET /` | none | the demo page: sign in (emulator) or `<passage-auth>` (real app), then `/me` and `/profile` |
//! | `GET /` | none | the demo page: sign in (emulator) or `<passage-auth>` (real app), then `/me` and `/profile` |
//! | `GET /healthz` | none | 200 |
//! | `GET /me` | required | `{"user_id": "<sub>"}` |
//! | `GET /maybe` | optional | `{"user_id": "<sub>" or null}` (a bad token is still 401) |
//! | `GET /profile` | required | the user's `email`, `phone`, `status` from the Management API |

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use passage_axum::{Passage, PassageLayer, PassageUser};

/// The app: an optional [`PassageLayer`] validates once; the extractors decide per route.
pub fn app(passage: Passage) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route("/profile", get(profile))
        .layer(PassageLayer::new(passage.clone()).optional())
        .route(
            "/healthz",
            get(|| async { Json(example_support::health()) }),
        )
        .route("/", get(page))
        .with_state(passage)
}

/// Serves [`app`] on `listener` until `shutdown` resolves.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    passage: Passage,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(passage))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn page(State(passage): State<Passage>, headers: axum::http::HeaderMap) -> Html<String> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok());
    Html(example_support::demo_page(&passage, host))
}

async fn me(user: PassageUser) -> Json<serde_json::Value> {
    Json(example_support::user_id(Some(user.claims())))
}

async fn maybe(user: Option<PassageUser>) -> Json<serde_json::Value> {
    Json(example_support::user_id(
        user.as_ref().map(PassageUser::claims),
    ))
}

async fn profile(State(passage): State<Passage>, user: PassageUser) -> Response {
    let (status, body) = example_support::profile(&passage, user.id()).await;
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(body),
    )
        .into_response()
}
