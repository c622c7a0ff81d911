//! `cargo run -p example-tower` — hyper + the Passage tower layer, no framework.
//!
//! Same routes, variables and answers as `example-axum`: `PASSAGE_APP_ID` unset starts an
//! embedded passage-server (development mode) and prints a ready `curl` line; `BIND` sets the
//! address, `CORS_ORIGINS` the front-ends on other origins that may call it with cookies
//! (comma-separated; default none). Ctrl-C stops it.

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
        "example-tower",
        listener.local_addr()?,
        &passage,
        demo.as_ref(),
    );
    let app = example_tower::app(passage, cors_origins);
    example_tower::serve(listener, app, example_support::shutdown_signal()).await?;
    Ok(())
}
