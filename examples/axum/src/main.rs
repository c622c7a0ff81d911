//! `cargo run -p example-axum` — an axum app protected by Passage.
//!
//! With `PASSAGE_APP_ID` unset it starts an embedded Passage emulator with a demo user and prints
//! a ready `curl` line; with `PASSAGE_APP_ID` (and `PASSAGE_API_KEY`) it talks to Passage.
//! `BIND` sets the address (default `127.0.0.1:3000`). Ctrl-C stops it gracefully.

use std::process::ExitCode;

use example_support::{Setup, bind_addr, init_tracing, shutdown_signal};

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("example-axum: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let setup = Setup::from_env().await?;
    let addr = bind_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    setup.print_banner("example-axum", listener.local_addr()?);
    example_axum::serve(listener, setup.passage.clone(), shutdown_signal()).await?;
    Ok(())
}
