//! The apps the HTTP load script (`benches/http.sh`, through the `bench-http` binary) and the
//! in-process bench (`benches/stack.rs`) measure: one `GET /me` route answering the same JSON
//! body in every mode, so only authentication differs.

use std::collections::BTreeMap;

use axum::{Json, Router, routing::get};
use passage_axum::{Passage, PassageLayer, PassageUser};

/// What stands in front of the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No authentication: the baseline.
    None,
    /// axum only: an identity layer, to separate layer plumbing from authentication.
    NoopLayer,
    /// `PassageLayer` (axum) or `PassageAuth` (actix), then the `PassageUser` extractor.
    Auth,
    /// As [`Mode::Auth`], with the verified-token cache off.
    AuthNoCache,
    /// The `PassageUser` extractor alone, validating by itself (in axum with its client from an
    /// `Extension` layer: it reads the request, not the router's state).
    Extractor,
}

impl Mode {
    /// Parses a mode's command-line name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "none" => Self::None,
            "noop-layer" => Self::NoopLayer,
            "auth" => Self::Auth,
            "auth-nocache" => Self::AuthNoCache,
            "extractor" => Self::Extractor,
            _ => return None,
        })
    }

    /// The verified-token cache size the mode's client is built with.
    pub fn token_cache_capacity(self) -> u64 {
        if self == Self::AuthNoCache { 0 } else { 10_000 }
    }
}

/// The response body of every mode.
pub fn body(id: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([("user_id", id.to_owned())])
}

/// The axum app of `mode`.
pub fn axum_app(mode: Mode, passage: &Passage) -> Router {
    let anonymous = || get(|| async { Json(body("bench-user")) });
    let me = || get(|user: PassageUser| async move { Json(body(user.user_id())) });
    match mode {
        Mode::None => Router::new().route("/me", anonymous()),
        // What any layer costs in axum (Router::layer wraps and boxes every route).
        Mode::NoopLayer => Router::new()
            .route("/me", anonymous())
            .layer(tower_layer::Identity::new()),
        Mode::Auth | Mode::AuthNoCache => Router::new()
            .route("/me", me())
            .layer(PassageLayer::new(passage.clone())),
        // The extractor's client from an `Extension` (it reads the request, not the state).
        Mode::Extractor => Router::new()
            .route("/me", me())
            .layer(axum::Extension(passage.clone())),
    }
}

/// The actix app of `mode`, for `App::configure`. Every mode routes through a scope, so only
/// authentication differs.
pub fn actix_app(
    mode: Mode,
    passage: Passage,
) -> impl Fn(&mut actix_web::web::ServiceConfig) + Clone {
    use actix_web::{HttpResponse, web};
    use passage_actix::{PassageAuth, PassageUser};
    move |config| {
        let me = |user: PassageUser| async move { HttpResponse::Ok().json(body(user.user_id())) };
        match mode {
            Mode::Auth | Mode::AuthNoCache => {
                config.service(
                    web::scope("")
                        .wrap(PassageAuth::new(passage.clone()))
                        .route("/me", web::get().to(me)),
                );
            }
            Mode::Extractor => {
                config
                    .app_data(web::Data::new(passage.clone()))
                    .service(web::scope("").route("/me", web::get().to(me)));
            }
            Mode::None | Mode::NoopLayer => {
                config.service(web::scope("").route(
                    "/me",
                    web::get().to(|| async { HttpResponse::Ok().json(body("bench-user")) }),
                ));
            }
        }
    }
}
