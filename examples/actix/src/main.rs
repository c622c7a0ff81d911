//! `cargo run -p example-actix` — an actix-web app protected by Passage.
//!
//! Same routes, variables and answers as `example-axum`: `PASSAGE_APP_ID` unset starts an
//! embedded passage-server (development mode) and prints a ready `curl` line; `BIND` sets the address. Ctrl-C stops it.

use example_support::StartError;
use passage_core::{ConfigError, PassageBuilder};

#[tokio::main]
async fn main() -> Result<(), StartError> {
    example_support::init_tracing();
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
        "example-actix",
        listener.local_addr()?,
        &passage,
        demo.as_ref(),
    );
    example_actix::serve(listener, passage, example_support::shutdown_signal()).await?;
    Ok(())
}
