//! `cargo run -p example-actix` — an actix-web app protected by Passage.
//!
//! Same routes, variables and answers as `example-axum`: `PASSAGE_APP_ID` unset starts an
//! embedded emulator and prints a ready `curl` line; `BIND` sets the address. Ctrl-C stops it.

use std::process::ExitCode;

use example_support::{Setup, bind_addr, init_tracing, shutdown_signal};

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("example-actix: {err}");
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
    setup.print_banner("example-actix", listener.local_addr()?);
    example_actix::serve(listener, setup.passage.clone(), shutdown_signal()).await?;
    Ok(())
}
