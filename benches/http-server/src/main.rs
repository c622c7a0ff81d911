//! `bench-http <framework> <mode> <bind>`: the app `benches/http.sh` loads.
//!
//! - framework: `axum`
//! - mode: `none` (no authentication: the baseline), `auth` (PassageLayer + PassageUser),
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
        eprintln!("usage: bench-http <axum> <none|auth|auth-nocache> <bind>");
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
        "none" | "auth" => 10_000,
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
        other => return Err(format!("unknown framework {other}").into()),
    }
    drop(emulator);
    Ok(())
}

/// The same body in every mode, so only authentication differs.
fn serde_user(id: &str) -> std::collections::BTreeMap<&'static str, String> {
    std::collections::BTreeMap::from([("user_id", id.to_owned())])
}
