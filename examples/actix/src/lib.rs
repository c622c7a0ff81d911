//! The example app's routes (as in `example-axum`), shared by `main.rs` and the end-to-end tests.

use actix_web::{HttpResponse, HttpServer, http::StatusCode, web};
use passage_actix::{Passage, PassageAuth, PassageUser};

/// Registers the routes: `/healthz` in front, the rest behind an optional [`PassageAuth`].
pub fn configure(passage: Passage) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(passage.clone()))
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().json(example_support::health()) }),
            )
            .service(
                web::scope("")
                    .wrap(PassageAuth::new(passage).optional())
                    .route("/me", web::get().to(me))
                    .route("/maybe", web::get().to(maybe))
                    .route("/profile", web::get().to(profile)),
            );
    }
}

async fn me(user: PassageUser) -> HttpResponse {
    HttpResponse::Ok().json(example_support::user_id(Some(user.claims())))
}

/// Behind `PassageAuth::optional()`, `Option<PassageUser>` is exact: bad tokens never get here.
async fn maybe(user: Option<PassageUser>) -> HttpResponse {
    HttpResponse::Ok().json(example_support::user_id(
        user.as_ref().map(PassageUser::claims),
    ))
}

async fn profile(passage: web::Data<Passage>, user: PassageUser) -> HttpResponse {
    let (status, body) = example_support::profile(&passage, user.id()).await;
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .json(body)
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
