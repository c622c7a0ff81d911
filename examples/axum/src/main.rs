//! `cargo run -p example-axum` — an axum app protected by Passage.
//!
//! With `PASSAGE_APP_ID` (then `PASSAGE_AUTH_URL` and `PASSAGE_API_URL` are required, and
//! `PASSAGE_API_KEY` is needed for `/profile`) it talks to that Passage server (and shares session revocations through Redis when `REDIS_URL` is set); unset, it starts an embedded passage-server (development mode) with a demo user and prints a ready
//! `curl` line. `BIND` sets the address (default `127.0.0.1:3000`), `CORS_ORIGINS` the
//! front-ends on other origins that may call it with cookies (comma-separated; default none).
//! Ctrl-C stops it.

use example_support::StartError;
use passage_core::{ConfigError, PassageBuilder};

#[tokio::main]
async fn main() -> Result<(), StartError> {
    example_support::init_tracing();
    let cors_origins = example_support::cors_origins()?;
    let (passage, demo) = match PassageBuilder::from_env() {
        // With REDIS_URL, revocations (deactivations, sign-outs) are shared with every replica.
        Ok(builder) => (example_support::shared_revocations(builder)?.build()?, None),
        // No PASSAGE_APP_ID: a local Passage server, so this runs without an account.
        Err(ConfigError::MissingEnv("PASSAGE_APP_ID")) => {
            let (passage, server) = example_support::demo().await?;
            (passage, Some(server))
        }
        Err(err) => return Err(err.into()),
    };
    // The signing keys now: a wrong PASSAGE_AUTH_URL (or a server that is down) stops the app
    // here, at start, rather than answering 503 to every request.
    passage.auth().warm_up().await?;
    let listener = tokio::net::TcpListener::bind(example_support::bind_addr()?).await?;
    example_support::print_banner(
        "example-axum",
        listener.local_addr()?,
        &passage,
        demo.as_ref(),
    );
    // The demo page offers development shortcuts only on the server this process started.
    let page = match &demo {
        Some(server) => example_support::DemoPage::embedded(server),
        None => example_support::DemoPage::deployed(&passage),
    };
    let app = example_axum::app(passage, cors_origins, page);
    example_axum::serve(listener, app, example_support::shutdown_signal()).await?;
    Ok(())
}
