//! `bench-http <framework> <mode> <bind>`: the app `benches/http.sh` loads.
//!
//! - framework: `axum` or `actix` (`ACTIX_WORKERS` workers, default 1)
//! - mode: `none` (no authentication: the baseline), `noop-layer` (axum only: an identity
//!   layer), `auth` (PassageLayer/PassageAuth + PassageUser), `auth-nocache` (the same with the
//!   verified-token cache off), `extractor` (PassageUser alone); see [`bench_http::Mode`].
//!
//! Prints `TOKEN=<jwt>` for the load generator and `ADDR=<address>` (bind `127.0.0.1:0` for a free
//! port), then `READY`, and serves `GET /me` until killed.
//! Signing keys come from an embedded emulator, fetched once at start.
//!
//! `METRICS=1` installs the Prometheus recorder (metrics-exporter-prometheus) first, and renders
//! it every 5 s as a scrape would: every mode then records passage-core's metrics, so the load
//! script's ratios show what they cost.
//!
//! `REVOKED=N` revokes the sessions of N other users first, so every request pays the
//! revocation check's lookup instead of its one-atomic fast path.

use std::process::ExitCode;

use bench_http::{Mode, actix_app, axum_app};
use passage_core::PassageBuilder;
use passage_emulator::Emulator;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(framework), Some(mode), Some(bind)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!(
            "usage: bench-http <axum|actix> <none|noop-layer|auth|auth-nocache|extractor> <bind>"
        );
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
    let mode = Mode::parse(mode).ok_or_else(|| format!("unknown mode {mode}"))?;
    if std::env::var("METRICS").is_ok_and(|v| v == "1") {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
        passage_core::metrics::describe();
        tokio::spawn(async move {
            let mut scrape = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                scrape.tick().await;
                handle.run_upkeep();
                std::hint::black_box(handle.render());
            }
        });
        eprintln!("bench-http: metrics recorder installed");
    }
    let emulator = Emulator::builder().app_id("bench_app").start().await?;
    let passage = PassageBuilder::from_env_vars(emulator.env_vars())?
        .token_cache_capacity(mode.token_cache_capacity())
        .build()?;
    passage.auth().warm_up().await?;
    let revoked: usize = std::env::var("REVOKED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    for i in 0..revoked {
        passage.auth().revoke_sessions(&format!("revoked-user-{i}"));
    }
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("TOKEN={}", emulator.mint_token("bench-user")?);
    println!("ADDR={}", listener.local_addr()?);
    println!("READY");
    match framework {
        "axum" => axum::serve(listener, axum_app(mode, &passage)).await?,
        "actix" => {
            let workers = std::env::var("ACTIX_WORKERS")
                .ok()
                .and_then(|w| w.parse().ok())
                .unwrap_or(1);
            let app = actix_app(mode, passage);
            actix_web::HttpServer::new(move || actix_web::App::new().configure(app.clone()))
                .workers(workers)
                .listen(listener.into_std()?)?
                .run()
                .await?;
        }
        other => return Err(format!("unknown framework {other}").into()),
    }
    drop(emulator);
    Ok(())
}
