//! Servers with a configurable layer (or middleware) in front of the example routes, for the
//! "one verdict per request" rows: the layer's token source and mode, and the client the
//! extractors are bound to, are the test's to choose.

use std::net::SocketAddr;

use axum::{Extension, Json, Router, response::IntoResponse, routing::get};
use passage_core::{AuthError, Passage, PassageClaims, TokenSource, adapter::rejection_response};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::Adapter;

/// How the layer in front of `/me` (required) and `/maybe` (optional) is set up.
#[derive(Debug, Clone)]
pub struct Layering {
    /// The client the layer validates with.
    pub layer: Passage,
    /// Where the layer looks for the token (the layer runs in optional mode).
    pub source: TokenSource,
    /// The client the extractors are bound to (an `Extension` in axum, `app_data` in actix).
    pub extractor: Passage,
}

/// A running layered server; stops on drop.
#[derive(Debug)]
pub struct LayeredServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for LayeredServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn user_id(claims: Option<&PassageClaims>) -> Json<Value> {
    Json(answer(claims))
}

/// `{"user_id": …}`, as the example servers answer `/me` and `/maybe`.
fn answer(claims: Option<&PassageClaims>) -> Value {
    serde_json::json!({ "user_id": claims.map(PassageClaims::user_id) })
}

/// axum: the extractors behind the layer.
fn axum_app(layering: Layering) -> Router {
    use passage_axum::{PassageLayer, PassageUser};
    Router::new()
        .route(
            "/me",
            get(|user: PassageUser| async move { user_id(Some(user.claims())) }),
        )
        .route(
            "/maybe",
            get(|user: Option<PassageUser>| async move {
                user_id(user.as_ref().map(PassageUser::claims))
            }),
        )
        .layer(
            PassageLayer::new(layering.layer)
                .optional()
                .token_source(layering.source),
        )
        .layer(Extension(layering.extractor))
}

/// tower: handlers read the layer's verdict from the extensions themselves (no extractor).
fn tower_app(layering: Layering) -> Router {
    use passage_tower::PassageLayer;
    let me = |claims: Option<Extension<PassageClaims>>| async move {
        match claims {
            Some(Extension(claims)) => user_id(Some(&claims)).into_response(),
            None => rejection_response::<axum::body::Body>(&AuthError::MissingToken, false)
                .into_response(),
        }
    };
    let maybe = |claims: Option<Extension<PassageClaims>>| async move {
        user_id(claims.as_ref().map(|Extension(claims)| claims))
    };
    Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .layer(
            PassageLayer::new(layering.layer)
                .optional()
                .token_source(layering.source),
        )
}

async fn serve_actix(
    listener: tokio::net::TcpListener,
    layering: Layering,
    shutdown: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use passage_actix::{OptionalPassageUser, PassageAuth, PassageUser};
    let listener = listener.into_std()?;
    let server = HttpServer::new(move || {
        let layering = layering.clone();
        App::new()
            .app_data(web::Data::new(layering.extractor))
            .wrap(
                PassageAuth::new(layering.layer)
                    .optional()
                    .token_source(layering.source),
            )
            .route(
                "/me",
                web::get().to(|user: PassageUser| async move {
                    HttpResponse::Ok().json(answer(Some(user.claims())))
                }),
            )
            .route(
                "/maybe",
                web::get().to(|user: OptionalPassageUser| async move {
                    HttpResponse::Ok().json(answer(user.as_ref().map(PassageUser::claims)))
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        let _ = shutdown.await;
        handle.stop(true).await;
    });
    server.await
}

/// Starts `adapter`'s layered server on a free loopback port.
///
/// # Errors
/// When the listener cannot be bound.
pub async fn start_layered(adapter: Adapter, layering: Layering) -> std::io::Result<LayeredServer> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    match adapter {
        Adapter::Axum | Adapter::Tower => {
            let app = if adapter == Adapter::Axum {
                axum_app(layering)
            } else {
                tower_app(layering)
            };
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
            });
        }
        Adapter::Actix => {
            tokio::spawn(serve_actix(listener, layering, stopped));
        }
    }
    Ok(LayeredServer {
        base,
        stop: Some(stop),
    })
}
