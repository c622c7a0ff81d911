//! The Management API's listener: the JWKS, the Management API, and in development mode the
//! `/__emulator` routes and fault injection in front of everything.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, Request, State},
    http::{Method, Uri, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};

use super::error::ApiError;
use crate::{
    dev::{self, faults::Target},
    state::Shared,
};

/// The whole router; `development` adds the `/__emulator` routes and fault injection.
pub(crate) fn router(
    shared: Arc<Shared>,
    development: bool,
    metrics: Option<crate::server::MetricsRender>,
) -> Router {
    let mut router = Router::new()
        .route("/v1/apps/{app_id}/.well-known/jwks.json", get(jwks))
        .merge(super::routes(&shared));
    if let Some(render) = metrics {
        // Counts only, no user data: a scraper needs no API key (keep this listener private).
        router = router.route(
            "/metrics",
            get(move || {
                let render = Arc::clone(&render);
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        render(),
                    )
                }
            }),
        );
    }
    if development {
        router = router.nest(dev::PREFIX, dev::routes());
    }
    let router = router
        .layer(axum::extract::DefaultBodyLimit::max(super::BODY_LIMIT))
        .layer(middleware::from_fn(json_refusals))
        .fallback(|method: Method, uri: Uri| async move {
            ApiError::route_not_found(method.as_str(), uri.path())
        })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            ApiError::method_not_allowed(method.as_str(), uri.path())
        });
    let router = if development {
        router.layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            dev::faults::faults_and_logs,
        ))
    } else {
        router.layer(middleware::from_fn_with_state(Arc::clone(&shared), logs))
    };
    router.with_state(shared)
}

/// Counts JWKS hits and logs every request (production: no faults).
async fn logs(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if dev::faults::target(&path) == Some(Target::Jwks) {
        shared.count_jwks_hit();
    }
    let response = next.run(request).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), "passage");
    response
}

/// A body over the limit is refused as JSON `{code, error}` (413), like every other refusal,
/// not with axum's plain text.
async fn json_refusals(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_none_or(|ct| !ct.as_bytes().starts_with(b"application/json"))
    {
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "The request body is too large.",
        )
        .into_response();
    }
    response
}

async fn jwks(State(shared): State<Arc<Shared>>, Path(app_id): Path<String>) -> Response {
    if app_id != shared.app_id {
        return ApiError::app_not_found().into_response();
    }
    let (jwks, cache_control) = shared.jwks();
    let body = jwks.to_string();
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CACHE_CONTROL, cache_control),
        ],
        body,
    )
        .into_response()
}
