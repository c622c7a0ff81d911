//! `cargo run -p example-tonic` — a gRPC service (tonic) protected by Passage.
//!
//! With `PASSAGE_APP_ID` (and `PASSAGE_AUTH_URL`, …) it validates that Passage's tokens; unset,
//! it starts an embedded passage-server (development mode) with a demo user and prints a token
//! for it. `BIND` sets the address (default `127.0.0.1:3000`). Ctrl-C stops it.
//!
//! Call `passage.example.WhoAmI/WhoAmI` (an empty request) with the metadata
//! `authorization: Bearer <token>`; the answer is `{ user_id }`, or status `UNAUTHENTICATED`.

use example_support::{DEMO_USER_ID, StartError};
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
    println!(
        "example-tonic: gRPC service passage.example.WhoAmI on http://{}",
        listener.local_addr()?
    );
    match &demo {
        Some(server) => {
            println!(
                "PASSAGE_APP_ID is unset: using an embedded passage-server (development mode) at {}",
                server.auth_url()
            );
            match server.mint_token(DEMO_USER_ID) {
                Ok(token) => println!(
                    "call WhoAmI with the metadata  authorization: Bearer {token}  (user {DEMO_USER_ID})"
                ),
                Err(err) => println!("could not mint a demo token: {err}"),
            }
        }
        None => println!("using Passage app {} (PASSAGE_APP_ID)", passage.app_id()),
    }
    println!("Ctrl-C to stop");
    example_tonic::serve(listener, passage, example_support::shutdown_signal()).await?;
    Ok(())
}
