//! `bench-http <framework> <mode> <bind>`: the app `benches/http.sh` loads.
//!
//! - framework: `axum` or `actix` (`ACTIX_WORKERS` workers, default 1)
//! - mode: `none` (no authentication: the baseline), `noop-layer` (axum only: an identity
//!   layer, to separate layer plumbing from authentication), `auth` (PassageLayer + PassageUser),
//!   `auth-nocache` (the same with the verified-token cache off)
//!
//! Prints `TOKEN=<jwt>` for the load generator, then `READY`, and serves `GET /me` until killed.
//! Signing keys come from an embedded emulator, fetched once at start.

use std::process::ExitCode;

use axum::{Json, Router, routing::get};
use passage_axum::{Passage, PassageLayer, PassageUser};
use passage_emulator::Emulator;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(framework), Some(mode), Some(bind)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: bench-http <axum|actix> <none|auth|auth-nocache> <bind>");
        return ExitCode::FAILURE;
    };
    match run(framework, mode, bind).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench-http: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(framework: &str, mode: &str, bind: &str) -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::builder().app_id("bench_app").start().await?;
    let cache = match mode {
        "none" | "noop-layer" | "auth" => 10_000,
        "auth-nocache" => 0,
        other => return Err(format!("unknown mode {other}").into()),
    };
    let passage = Passage::builder(emulator.app_id())
        .auth_url(emulator.auth_url())
        .token_cache_capacity(cache)
        .build()?;
    passage.auth().warm_up().await?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("TOKEN={}", emulator.mint_token("bench-user")?);
    println!("READY");
    match framework {
        "axum" => {
            let app = if mode == "none" {
                Router::new().route("/me", get(|| async { Json(serde_user("bench-user")) }))
            } else if mode == "noop-layer" {
                // What any layer costs in axum (Router::layer wraps and boxes every route).
                Router::new()
                    .route("/me", get(|| async { Json(serde_user("bench-user")) }))
                    .layer(tower_layer::Identity::new())
            } else {
                Router::new()
                    .route(
                        "/me",
                        get(|user: PassageUser| async move { Json(serde_user(user.id())) }),
                    )
                    .layer(PassageLayer::new(passage.clone()))
                    .with_state(passage)
            };
            axum::serve(listener, app).await?;
        }
        "actix" => {
            let workers = std::env::var("ACTIX_WORKERS")
                .ok()
                .and_then(|w| w.parse().ok())
                .unwrap_or(1);
            let authenticated = mode != "none";
            let server = actix_web::HttpServer::new(move || {
                let app = actix_web::App::new();
                if authenticated {
                    app.service(
                        actix_web::web::scope("")
                            .wrap(passage_actix::PassageAuth::new(passage.clone()))
                            .route(
                                "/me",
                                actix_web::web::get().to(
                                    |user: passage_actix::PassageUser| async move {
                                        actix_web::HttpResponse::Ok().json(serde_user(user.id()))
                                    },
                                ),
                            ),
                    )
                } else {
                    app.service(actix_web::web::scope("").route(
                        "/me",
                        actix_web::web::get().to(|| async {
                            actix_web::HttpResponse::Ok().json(serde_user("bench-user"))
                        }),
                    ))
                }
            })
            .workers(workers)
            .listen(listener.into_std()?)?
            .run();
            server.await?;
        }
        other => return Err(format!("unknown framework {other}").into()),
    }
    drop(emulator);
    Ok(())
}

/// The same body in every mode, so only authentication differs.
fn serde_user(id: &str) -> std::collections::BTreeMap<&'static str, String> {
    std::collections::BTreeMap::from([("user_id", id.to_owned())])
}
