//! The router: JWKS, the Management API, dev conveniences, and fault injection in front of them.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::{Path, Request, State},
    http::{Method, StatusCode, Uri, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::{
    api::{self, error::ApiError},
    dev,
    faults::{Fault, Target},
    state::{Shared, lock},
};

/// Paths under this prefix are the emulator's own, never Passage's.
pub(crate) const DEV_PREFIX: &str = "/__emulator";

/// The whole router; `development` adds the `/__emulator` routes and fault injection.
pub(crate) fn router(shared: Arc<Shared>, development: bool) -> Router {
    let mut router = Router::new()
        .route("/v1/apps/{app_id}/.well-known/jwks.json", get(jwks))
        .merge(api::routes(&shared));
    if development {
        router = router.nest(DEV_PREFIX, dev::routes());
    }
    let router = router
        .fallback(|method: Method, uri: Uri| async move {
            ApiError::route_not_found(method.as_str(), uri.path())
        })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            ApiError::method_not_allowed(method.as_str(), uri.path())
        });
    let router = if development {
        router.layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            faults_and_logs,
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
    if target(&path) == Some(Target::Jwks) {
        shared.count_jwks_hit();
    }
    let response = next.run(request).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), "passage");
    response
}

async fn jwks(State(shared): State<Arc<Shared>>, Path(app_id): Path<String>) -> Response {
    if app_id != shared.app_id {
        return ApiError::app_not_found().into_response();
    }
    let body = lock(&shared.keys).jwks().to_string();
    let cache_control = lock(&shared.jwks_cache_control).clone();
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CACHE_CONTROL, cache_control),
        ],
        body,
    )
        .into_response()
}

fn target(path: &str) -> Option<Target> {
    if path.starts_with(DEV_PREFIX) {
        None
    } else if path.ends_with("/.well-known/jwks.json") {
        Some(Target::Jwks)
    } else {
        Some(Target::Api)
    }
}

async fn faults_and_logs(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let target = target(&path);
    if target == Some(Target::Jwks) {
        shared.count_jwks_hit();
    }
    let fault = target.and_then(|t| lock(&shared.faults).take(t));
    let response = match fault {
        None => next.run(request).await,
        Some(Fault::Slow(delay)) => {
            tracing::debug!(%method, %path, ?delay, "emulator: answering slowly");
            let response = next.run(request).await;
            tokio::time::sleep(delay).await;
            response
        }
        Some(Fault::LoseResponse) => {
            tracing::debug!(%method, %path, "emulator: handling, then losing the response");
            let handled = next.run(request).await;
            let status = handled.status();
            let mut lost = broken_body();
            *lost.status_mut() = status;
            lost
        }
        Some(fault) => {
            tracing::debug!(%method, %path, ?fault, "emulator: injecting a fault");
            inject(&shared, fault, target).await
        }
    };
    tracing::info!(%method, %path, status = response.status().as_u16(), "emulator");
    response
}

async fn inject(shared: &Shared, fault: Fault, target: Option<Target>) -> Response {
    match fault {
        Fault::Unavailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "internal_server_error",
            "Service unavailable (emulated).",
        )
        .into_response(),
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response =
                ApiError::for_status(status, target.unwrap_or(Target::Api)).into_response();
            if status == StatusCode::TOO_MANY_REQUESTS {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            }
            response
        }
        Fault::Hang => {
            let mut shutdown = shared.shutdown.clone();
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => {}
                () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            }
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Fault::Garbage => (
            [(header::CONTENT_TYPE, "application/json")],
            "<html><body>502 Bad Gateway</body></html>\u{0}{{{",
        )
            .into_response(),
        Fault::Close | Fault::LoseResponse => broken_body(),
        Fault::Slow(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// A response whose body fails after the headers: the connection is dropped mid-body.
fn broken_body() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::other("emulated connection reset"))
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(failing),
    )
        .into_response()
}
