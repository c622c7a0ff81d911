//! The example app's routes (as in `example-axum`), shared by `main.rs` and the end-to-end tests.

use actix_web::{
    HttpResponse, HttpServer, ResponseError,
    http::StatusCode,
    web::{self, Data},
};
use passage_actix::{Passage, PassageAuth, PassageUser};
use passage_core::{ApiError, Report};
use serde_json::json;

/// Registers the routes: `/healthz` and `/metrics` in front, the rest behind an optional
/// [`PassageAuth`], which validates each request once; the extractors then read its verdict.
pub fn configure(passage: Passage) -> impl FnOnce(&mut web::ServiceConfig) {
    // Installed before the first request, so `/metrics` counts every one.
    example_support::metrics();
    move |cfg| {
        cfg.app_data(Data::new(passage.clone()))
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().json(json!({ "status": "ok" })) }),
            )
            // In front of the middleware too: scraped without a token.
            .route("/metrics", web::get().to(metrics))
            .service(
                web::scope("")
                    .wrap(PassageAuth::new(passage).optional())
                    .route("/me", web::get().to(me))
                    .route("/maybe", web::get().to(maybe))
                    .route("/profile", web::get().to(profile)),
            );
    }
}

/// `GET /metrics`: every metric in the Prometheus text format (no authentication: keep the
/// route on a private network, or behind your own check, in production).
async fn metrics() -> HttpResponse {
    match example_support::metrics_text() {
        Some(text) => HttpResponse::Ok()
            .content_type(example_support::METRICS_CONTENT_TYPE)
            .body(text),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn me(user: PassageUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "user_id": user.user_id() }))
}

/// Behind a `PassageAuth` made with its `optional()` method, `Option<PassageUser>` is exact: bad
/// tokens never get here.
async fn maybe(user: Option<PassageUser>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "user_id": user.as_ref().map(|user| user.user_id()) }))
}

/// The signed-in user's record from the Management API.
async fn profile(passage: Data<Passage>, user: PassageUser) -> Result<HttpResponse, ProfileError> {
    let record = passage.users().get(user.user_id()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "user_id": record.id,
        "email": record.email,
        "phone": record.phone,
        "status": record.status,
    })))
}

/// A failed Management API call, as this app answers it: the cause goes to the log, the client
/// gets a status and a code.
#[derive(Debug)]
struct ProfileError(ApiError);

impl From<ApiError> for ProfileError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Report(&self.0))
    }
}

impl ResponseError for ProfileError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            err if err.is_not_found() => StatusCode::NOT_FOUND,
            ApiError::MissingApiKey => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        tracing::warn!(error = %self, "/profile: the Management API call failed");
        let code = match self.status_code() {
            StatusCode::NOT_FOUND => "user_not_found",
            StatusCode::INTERNAL_SERVER_ERROR => "api_key_missing",
            _ => "upstream_error",
        };
        HttpResponse::build(self.status_code()).json(json!({ "code": code }))
    }
}

/// Serves the app on `listener` until `shutdown` resolves.
///
/// # Errors
/// When the listener cannot be handed to actix, or the server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    passage: Passage,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.into_std()?;
    let server =
        HttpServer::new(move || actix_web::App::new().configure(configure(passage.clone())))
            .workers(2)
            .disable_signals()
            .listen(listener)?
            .run();
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.await;
        handle.stop(true).await;
    });
    server.await
}
